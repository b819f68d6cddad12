//! Purchased cards out, and back in through the importer unchanged.

use carnet_client::contact::ContactDraft;
use carnet_client::export::{to_csv, to_vcard};
use carnet_client::import::read;
use carnet_protocol::card::Card;
use carnet_protocol::payload::{Availability, Opening, Teaser};

#[allow(clippy::too_many_arguments)]
fn card(
    name: &str,
    title: &str,
    company: &str,
    domain: &str,
    email: &str,
    phone: Option<&str>,
    city: &str,
    postal: Option<&str>,
) -> Card {
    let card = Card {
        teaser: Teaser {
            name: name.into(),
            title: title.into(),
            company: company.into(),
            company_domain: domain.into(),
            city: city.into(),
            availability: Availability {
                email: true,
                postal: postal.is_some(),
                phone: phone.is_some(),
            },
        },
        email: Opening {
            value: email.into(),
            salt: [1; 32],
        },
        phone: phone.map(|p| Opening {
            value: p.into(),
            salt: [2; 32],
        }),
        postal_address: postal.map(Into::into),
    };
    card.check().unwrap();
    card
}

fn cards() -> Vec<Card> {
    vec![
        card(
            "Jane Doe",
            "Head of Procurement",
            "Acme SA",
            "acme.example",
            "jane.doe@acme.example",
            Some("+33142685300"),
            "Paris",
            Some("12 rue de la Paix, 75002 Paris"),
        ),
        // Everything that needs escaping in vCard or CSV, and lines long enough to fold.
        card(
            "Doe, Jane \"JD\"",
            "R&D lead; ops \\ infra",
            "AT&T; Labs, Inc.",
            "xn--bcher-kva.example",
            "Zoë.Ångström@xn--bcher-kva.example",
            None,
            "Saint-Étienne",
            Some(
                "Bât. \"Le Phare\" ^ 3, quai: Nord; porte 7 — 42000 Saint-Étienne, France, Europe",
            ),
        ),
        card(
            "Kenji Tanaka",
            "Engineer",
            "Fabrikam",
            "fabrikam.example",
            "kenji@fabrikam.example",
            None,
            "",
            None,
        ),
    ]
}

fn drafts_of(cards: &[Card]) -> Vec<ContactDraft> {
    cards.iter().map(ContactDraft::from).collect()
}

fn read_back(file: &str, text: &str) -> Vec<ContactDraft> {
    read(file, text.as_bytes())
        .unwrap()
        .into_iter()
        .map(|r| r.draft.unwrap_or_else(|e| panic!("{}: {e}", r.source)))
        .collect()
}

#[test]
fn vcard_round_trip() {
    let cards = cards();
    let text = to_vcard(&cards);
    assert_eq!(read_back("out.vcf", &text), drafts_of(&cards));
}

#[test]
fn vcard_is_4_0_with_crlf_and_a_work_tel_uri() {
    let text = to_vcard(&cards()[..1]);
    assert!(
        text.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Jane Doe\r\n"),
        "{text}"
    );
    assert!(text.ends_with("END:VCARD\r\n"), "{text}");
    // Issue 16: N (family; given; ...) beside FN, for address books that sort on it.
    assert!(text.contains("\r\nN:Doe;Jane;;;\r\n"), "{text}");
    assert!(
        text.contains("\r\nTEL;VALUE=uri;TYPE=work,voice:tel:+33142685300\r\n"),
        "{text}"
    );
    assert!(
        text.contains("\r\nEMAIL;TYPE=work:jane.doe@acme.example\r\n"),
        "{text}"
    );
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "bare LF in {text}"
    );
    assert_eq!(to_vcard(&[]), "");
}

#[test]
fn vcard_escapes_values() {
    let text = to_vcard(&cards()[1..2]);
    let unfolded = text.replace("\r\n ", "");
    assert!(
        unfolded.contains("\r\nFN:Doe\\, Jane \"JD\"\r\n"),
        "{unfolded}"
    );
    assert!(
        unfolded.contains("\r\nORG:AT&T\\; Labs\\, Inc.\r\n"),
        "{unfolded}"
    );
    assert!(
        unfolded.contains("LABEL=\"Bât. ^'Le Phare^' ^^ 3"),
        "{unfolded}"
    );
    assert!(
        text.lines().all(|l| l.len() <= 76 * 4),
        "lines are folded: {text}"
    );
}

#[test]
fn names_split_at_the_last_word() {
    use carnet_client::export::split_name;
    assert_eq!(split_name("Jane Doe"), ("Jane", "Doe"));
    assert_eq!(
        split_name(" Anne  Marie Dupont "),
        ("Anne  Marie", "Dupont")
    );
    assert_eq!(split_name("Madonna"), ("", "Madonna"));
    assert_eq!(split_name(""), ("", ""));
}

#[test]
fn csv_round_trip() {
    let cards = cards();
    let text = to_csv(&cards).unwrap();
    assert!(
        text.starts_with(
            "name,first_name,last_name,title,company,company_domain,email,phone,city,postal_address\n"
        ),
        "{text}"
    );
    // Issue 16: a CRM matches on the name's parts.
    assert!(
        text.lines()
            .nth(1)
            .unwrap()
            .starts_with("Jane Doe,Jane,Doe,"),
        "{text}"
    );
    assert_eq!(read_back("out.csv", &text), drafts_of(&cards));
}
