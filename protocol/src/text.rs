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
    fn domain_rules() {
        assert!(check_domain("d", "example.com").is_ok());
        assert!(check_domain("d", "xn--bcher-kva.example").is_ok());
        assert!(check_domain("d", "Example.com").is_err());
        assert!(check_domain("d", "localhost").is_err());
        assert!(check_domain("d", "a..b").is_err());
        assert!(check_domain("d", "-a.b").is_err());
    }
}
