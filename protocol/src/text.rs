//! Rules for the text fields of events: bounded, no control characters, no padding.
//!
//! Text is compared byte for byte (dedup, votes per domain), so invisible differences
//! such as trailing spaces are rejected rather than silently accepted.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TextError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} bytes, over the limit of {limit}")]
    TooLong {
        field: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("{field} contains a control character")]
    Control { field: &'static str },
    #[error("{field} has leading or trailing whitespace")]
    Padded { field: &'static str },
    #[error("{field} is not a lowercase domain name")]
    Domain { field: &'static str },
    #[error("{field} contains an invisible formatting character (U+{code:04X})")]
    Invisible { field: &'static str, code: u32 },
    #[error("{field} {domain} is a free mail provider, not a company")]
    FreeMail { field: &'static str, domain: String },
}

/// Invisible formatting characters (Unicode general category `Cf`) that no name,
/// title or address needs: a zero-width space or a direction override makes two
/// strings that look the same compare different. The zero-width (non-)joiners U+200C
/// and U+200D are allowed: Persian, Indic scripts and emoji sequences need them.
/// The ranges are normative (docs/protocol.md, "Text rules"), whatever a later Unicode
/// version adds to `Cf`.
pub const INVISIBLE: &[(u32, u32)] = &[
    (0x00AD, 0x00AD),
    (0x0600, 0x0605),
    (0x061C, 0x061C),
    (0x06DD, 0x06DD),
    (0x070F, 0x070F),
    (0x0890, 0x0891),
    (0x08E2, 0x08E2),
    (0x180E, 0x180E),
    (0x200B, 0x200B),
    (0x200E, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x2064),
    (0x2066, 0x206F),
    (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001),
    (0xE0020, 0xE007F),
];

pub fn is_invisible(c: char) -> bool {
    let c = c as u32;
    INVISIBLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// Domains of free mail providers, normative (docs/protocol.md, "Text rules"): an
/// address there is nobody's work email, and the provider is not the contact's
/// company. A subdomain of one counts as it.
pub const FREE_MAIL_DOMAINS: &[&str] = &[
    "126.com",
    "163.com",
    "aol.com",
    "fastmail.com",
    "free.fr",
    "gmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.fr",
    "gmx.net",
    "googlemail.com",
    "hotmail.co.uk",
    "hotmail.com",
    "hotmail.fr",
    "icloud.com",
    "laposte.net",
    "libero.it",
    "live.com",
    "live.fr",
    "mac.com",
    "mail.com",
    "mail.ru",
    "me.com",
    "msn.com",
    "naver.com",
    "orange.fr",
    "outlook.com",
    "outlook.fr",
    "pm.me",
    "proton.me",
    "protonmail.com",
    "qq.com",
    "rediffmail.com",
    "seznam.cz",
    "sfr.fr",
    "t-online.de",
    "tutanota.com",
    "wanadoo.fr",
    "web.de",
    "yahoo.co.uk",
    "yahoo.com",
    "yahoo.de",
    "yahoo.fr",
    "yandex.com",
    "yandex.ru",
    "ymail.com",
    "zoho.com",
];

/// Whether `domain` (lowercase ASCII) is a free mail provider's or a subdomain of one.
pub fn is_free_mail(domain: &str) -> bool {
    FREE_MAIL_DOMAINS.iter().any(|f| {
        domain == *f
            || domain
                .strip_suffix(f)
                .is_some_and(|rest| rest.ends_with('.'))
    })
}

/// A company's domain: a [`check_domain`] domain that is not a free mail provider's.
pub fn check_company_domain(field: &'static str, value: &str) -> Result<(), TextError> {
    check_domain(field, value)?;
    if is_free_mail(value) {
        return Err(TextError::FreeMail {
            field,
            domain: value.to_owned(),
        });
    }
    Ok(())
}

/// Checks a text field. Empty is allowed only when `required` is false.
pub fn check_text(
    field: &'static str,
    value: &str,
    limit: usize,
    required: bool,
) -> Result<(), TextError> {
    if value.is_empty() {
        return if required {
            Err(TextError::Empty { field })
        } else {
            Ok(())
        };
    }
    if value.len() > limit {
        return Err(TextError::TooLong {
            field,
            len: value.len(),
            limit,
        });
    }
    if value.chars().any(char::is_control) {
        return Err(TextError::Control { field });
    }
    if let Some(c) = value.chars().find(|c| is_invisible(*c)) {
        return Err(TextError::Invisible {
            field,
            code: c as u32,
        });
    }
    if value.trim() != value {
        return Err(TextError::Padded { field });
    }
    Ok(())
}

/// A company domain as listings and votes carry it: lowercase ASCII labels
/// (IDNA A-labels for international names) separated by dots.
pub fn check_domain(field: &'static str, value: &str) -> Result<(), TextError> {
    check_text(field, value, crate::limits::MAX_DOMAIN_BYTES, true)?;
    let ok = value.split('.').count() >= 2
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(TextError::Domain { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rules() {
        assert!(check_text("f", "Ada Lovelace", 64, true).is_ok());
        assert_eq!(
            check_text("f", "", 64, true),
            Err(TextError::Empty { field: "f" })
        );
        assert!(check_text("f", "", 64, false).is_ok());
        assert!(matches!(
            check_text("f", " a", 64, true),
            Err(TextError::Padded { .. })
        ));
        assert!(matches!(
            check_text("f", "a\nb", 64, true),
            Err(TextError::Control { .. })
        ));
        assert!(matches!(
            check_text("f", "abcd", 3, true),
            Err(TextError::TooLong { .. })
        ));
    }

    #[test]
    fn invisible_characters_and_free_mail() {
        for bad in [
            "Jo\u{200B}hn",
            "\u{202E}nhoJ",
            "Jo\u{00AD}hn",
            "\u{FEFF}x",
            "a\u{E0041}",
        ] {
            assert!(
                matches!(
                    check_text("f", bad, 64, true),
                    Err(TextError::Invisible { .. })
                ),
                "{bad:?}"
            );
        }
        assert!(check_text("f", "می\u{200C}خواهم", 64, true).is_ok());
        assert!(check_company_domain("d", "acme.example").is_ok());
        assert!(check_company_domain("d", "gmail.com").is_err());
        assert!(check_company_domain("d", "eu.mail.yahoo.com").is_err());
        assert!(check_company_domain("d", "notgmail.com").is_ok());
        let mut sorted = FREE_MAIL_DOMAINS.to_vec();
        sorted.sort();
        assert_eq!(
            sorted, FREE_MAIL_DOMAINS,
            "kept sorted, as the spec lists it"
        );
    }

    #[test]
    fn domain_rules() {
        assert!(check_domain("d", "example.com").is_ok());
        assert!(check_domain("d", "xn--bcher-kva.example").is_ok());
        assert!(check_domain("d", "Example.com").is_err());
        assert!(check_domain("d", "localhost").is_err());
        assert!(check_domain("d", "a..b").is_err());
        assert!(check_domain("d", "-a.b").is_err());
    }
}
