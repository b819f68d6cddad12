//! Purchased cards out to the member's own tools: vCard 4.0 for address books, CSV in
//! Carnet's plain format for spreadsheets and CRMs. Both read back through
//! [`crate::import::read`] to the drafts the cards came from.

use carnet_protocol::card::Card;
use thiserror::Error;
use vcard4::parameter::{Parameters, TelephoneType, TypeParameter, ValueType};
use vcard4::property::{
    AddressProperty, DeliveryAddress, TextListProperty, TextOrUriProperty, TextProperty,
    UriProperty,
};
use vcard4::{Uri, Vcard};

/// The header of Carnet's CSV format, which [`crate::import`] also reads.
pub const CSV_HEADER: [&str; 10] = [
    "name",
    "first_name",
    "last_name",
    "title",
    "company",
    "company_domain",
    "email",
    "phone",
    "city",
    "postal_address",
];

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("writing CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("writing CSV: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("writing CSV: {0}")]
    Io(#[from] std::io::Error),
}

/// vCard 4.0 (RFC 6350), CRLF line endings, values escaped and long lines folded by
/// vcard4's writer. The postal address travels whole in ADR's LABEL parameter (RFC
/// 6868-escaped, since vcard4 writes the parameter as given) with the city as locality,
/// because a card holds it as one line and splitting it into components would guess.
pub fn to_vcard(cards: &[Card]) -> String {
    cards.iter().map(|c| vcard_of(c).to_string()).collect()
}

fn vcard_of(card: &Card) -> Vcard {
    let t = &card.teaser;
    let mut v = Vcard::new(t.name.to_string());
    // N: address books sort and CRMs match on it; FN stays the name as written.
    let (given, family) = split_name(&t.name);
    v.name = Some(TextListProperty::new_semi_colon(vec![
        family.to_owned(),
        given.to_owned(),
        String::new(),
        String::new(),
        String::new(),
    ]));
    v.title.push(t.title.to_string().into());
    v.org.push(TextListProperty::new_semi_colon(vec![t
        .company
        .to_string()]));
    let work = || Parameters {
        types: Some(vec![TypeParameter::Work]),
        ..Default::default()
    };
    let mut email: TextProperty = card.email.value.clone().into();
    email.parameters = Some(work());
    v.email.push(email);
    if let Some(phone) = &card.phone {
        let types = Some(vec![
            TypeParameter::Work,
            TypeParameter::Telephone(TelephoneType::Voice),
        ]);
        // The card came from another member: only a well-formed E.164 number goes
        // through uriparse (which panics on some malformed URIs); anything else is
        // written as text.
        let uri = Some(phone.value.as_str())
            .filter(|p| is_e164(p))
            .and_then(|p| format!("tel:{p}").parse::<Uri>().ok());
        v.tel.push(match uri {
            Some(uri) => TextOrUriProperty::Uri(UriProperty {
                group: None,
                value: uri,
                parameters: Some(Parameters {
                    value: Some(ValueType::Uri),
                    types,
                    ..Default::default()
                }),
            }),
            None => TextOrUriProperty::Text(TextProperty {
                group: None,
                value: phone.value.clone(),
                parameters: Some(Parameters {
                    types,
                    ..Default::default()
                }),
            }),
        });
    }
    let city = Some(t.city.to_string()).filter(|c| !c.is_empty());
    if city.is_some() || card.postal_address.is_some() {
        v.address.push(AddressProperty {
            group: None,
            value: DeliveryAddress {
                po_box: None,
                extended_address: None,
                street_address: None,
                locality: city,
                region: None,
                postal_code: None,
                country_name: None,
            },
            parameters: Some(Parameters {
                label: card
                    .postal_address
                    .as_deref()
                    .map(crate::import::encode_caret),
                ..work()
            }),
        });
    }
    if let Ok(uri) = format!("https://{}", t.company_domain).parse::<Uri>() {
        v.url.push(UriProperty {
            group: None,
            value: uri,
            parameters: Some(work()),
        });
    }
    v
}

/// (given names, family name) of a name as written: the family name is the last
/// word. A guess for "Ludwig van Beethoven" or "Mao Zedong", which is why the full
/// name travels beside it (FN, the CSV's `name`) and is what an import reads.
pub fn split_name(name: &str) -> (&str, &str) {
    let name = name.trim();
    match name.rsplit_once(char::is_whitespace) {
        Some((given, family)) => (given.trim_end(), family),
        None => ("", name),
    }
}

fn is_e164(p: &str) -> bool {
    p.strip_prefix('+')
        .is_some_and(|d| (1..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Carnet's CSV format: [`CSV_HEADER`], one card a row, empty cells for what a card
/// lacks.
pub fn to_csv(cards: &[Card]) -> Result<String, ExportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_HEADER)?;
    for c in cards {
        let t = &c.teaser;
        let (given, family) = split_name(&t.name);
        w.write_record([
            t.name.as_str(),
            given,
            family,
            &t.title,
            &t.company,
            &t.company_domain,
            &c.email.value,
            c.phone.as_ref().map_or("", |p| p.value.as_str()),
            &t.city,
            c.postal_address.as_deref().unwrap_or(""),
        ])?;
    }
    let bytes = w.into_inner().map_err(|e| e.into_error())?;
    Ok(String::from_utf8(bytes)?)
}
