//! Text folded for search: case and accents dropped, as a buyer types them. Kept
//! beside each stored teaser (`store::listings`), so that a search, which looks at
//! every listing, folds none of them: folding was most of a search's time.

use carnet_protocol::payload::Teaser;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lowercase, compatibility-decomposed, with combining marks dropped: "Lumière" and
/// "LUMIERE" both fold to "lumiere", "ﬁ" to "fi".
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The Unicode form of a stored domain, for display. Only a domain with an A-label
/// (`xn--`) has one to decode.
pub fn unicode_domain(d: &str) -> String {
    if !d.contains("xn--") {
        return d.to_owned();
    }
    let (u, r) = idna::domain_to_unicode(d);
    if r.is_ok() {
        u
    } else {
        d.to_owned()
    }
}

/// One listing's folded fields, as a query sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folded<'a> {
    pub name: &'a str,
    pub title: &'a str,
    pub company: &'a str,
    /// Valid teasers hold lowercase ASCII domains: nothing to fold.
    pub domain: &'a str,
    /// Only for an international domain: the others read the same in Unicode.
    pub domain_unicode: Option<&'a str>,
    pub city: &'a str,
}

impl<'a> Folded<'a> {
    /// Appends the folded fields of `t` to `out`, each as a 2-byte little-endian
    /// length and its bytes (a teaser's fields are at most 253 bytes, their folded
    /// forms a few times that), in the order [`Folded::parse`] reads them.
    pub fn encode(t: &Teaser, out: &mut Vec<u8>) {
        let unicode = if t.company_domain.contains("xn--") {
            fold(&unicode_domain(&t.company_domain))
        } else {
            String::new()
        };
        for field in [
            fold(&t.name).as_str(),
            &fold(&t.title),
            &fold(&t.company),
            &t.company_domain,
            &unicode,
            &fold(&t.city),
        ] {
            let bytes = field.as_bytes();
            let len = bytes.len().min(u16::MAX as usize);
            out.extend_from_slice(&(len as u16).to_le_bytes());
            out.extend_from_slice(&bytes[..len]);
        }
    }

    /// The fields [`Folded::encode`] wrote at the start of `bytes`, or `None` if they
    /// are not there whole.
    pub fn parse(mut bytes: &'a [u8]) -> Option<Folded<'a>> {
        let mut next = || -> Option<&'a str> {
            let len = u16::from_le_bytes(bytes.get(..2)?.try_into().ok()?) as usize;
            let field = std::str::from_utf8(bytes.get(2..2 + len)?).ok()?;
            bytes = &bytes[2 + len..];
            Some(field)
        };
        let (name, title, company, domain) = (next()?, next()?, next()?, next()?);
        let unicode = next()?;
        let city = next()?;
        Some(Folded {
            name,
            title,
            company,
            domain,
            domain_unicode: (!unicode.is_empty()).then_some(unicode),
            city,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("Lumière"), "lumiere");
        assert_eq!(fold("ÉLODIE Müller"), "elodie muller");
        assert_eq!(fold("ﬁnance"), "finance");
    }

    #[test]
    fn folded_fields_read_back_as_written_and_a_cut_is_none() {
        let mut t = carnet_protocol::testkit::card_for(3, "a@b.example").teaser;
        t.name = "Élodie Lumière".into();
        t.company_domain = "xn--bcher-kva.example".into();
        let mut bytes = Vec::new();
        Folded::encode(&t, &mut bytes);
        let f = Folded::parse(&bytes).unwrap();
        assert_eq!(f.name, "elodie lumiere");
        assert_eq!(f.domain, "xn--bcher-kva.example");
        assert_eq!(f.domain_unicode, Some("bucher.example"), "folded too");
        assert_eq!(f.city, "nantes");
        for cut in 0..bytes.len() {
            assert_eq!(Folded::parse(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
