//! Direct lines: from whatever a member typed or imported to the E.164 form a card
//! carries, refusing mobile numbers before they are ever listed.
//!
//! A buyer's mobile report stands when the number is classified mobile by the
//! protocol's rule ([`carnet_protocol::phone`], libphonenumber's algorithm over its
//! pinned metadata) and fines the contributor, so this module classifies with that
//! same rule and refuses exactly the numbers the protocol calls mobile. The
//! `phonenumber` crate only parses what people type.

use carnet_protocol::phone::{classify_e164, NumberType};
use phonenumber::country::Id;
use phonenumber::PhoneNumber;
use std::str::FromStr;
use thiserror::Error;

/// Longest raw input accepted. Real numbers with spaces, dots and a `tel:` prefix stay
/// well under it; anything longer is not a phone number worth parsing.
pub const MAX_RAW_PHONE_BYTES: usize = 64;

/// What the numbering plan says a number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhoneKind {
    FixedLine,
    /// The plan does not tell fixed lines from mobiles (the US, Canada and a few more).
    FixedLineOrMobile,
    Mobile,
    /// Any other service the plan names: "toll-free", "VoIP", "UAN", ...
    Other(&'static str),
}

/// A normalised direct line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// `+` and digits, as cards carry it and as the phone commitment hashes it.
    pub e164: String,
    pub kind: PhoneKind,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PhoneError {
    #[error("phone number is {len} bytes long; at most {MAX_RAW_PHONE_BYTES} are accepted")]
    TooLong { len: usize },
    #[error("{raw:?} is not a phone number")]
    NotANumber { raw: String },
    #[error("{raw:?} has no +country code; write it as +<country code> <number> or give its region (e.g. FR)")]
    NoCountryCode { raw: String },
    #[error(
        "{region:?} is not a known region; give an ISO 3166 two-letter code such as FR, GB or DE"
    )]
    UnknownRegion { region: String },
    #[error("{raw:?} is not a valid number in its country's numbering plan")]
    Invalid { raw: String },
    #[error(
        "{raw:?} has an extension; a card carries one direct line in E.164, which has no extension"
    )]
    Extension { raw: String },
    #[error(
        "{e164} is a mobile number; Carnet cards carry direct lines only, never mobile numbers"
    )]
    Mobile { e164: String },
}

/// Normalises `raw` to E.164 and refuses mobile numbers.
///
/// `region`: ISO 3166 alpha-2 (e.g. "FR") used when `raw` has no +country code.
pub fn normalise_phone(raw: &str, region: Option<&str>) -> Result<Phone, PhoneError> {
    if raw.len() > MAX_RAW_PHONE_BYTES {
        return Err(PhoneError::TooLong { len: raw.len() });
    }
    let folded = fold_full_width(raw);
    let raw = folded.trim();
    let region = match region {
        None => None,
        Some(r) => Some(parse_region(r)?),
    };
    let number = phonenumber::parse(region, raw).map_err(|e| match e {
        phonenumber::ParseError::InvalidCountryCode
            if region.is_none() && !raw.starts_with('+') =>
        {
            PhoneError::NoCountryCode {
                raw: raw.to_owned(),
            }
        }
        phonenumber::ParseError::InvalidCountryCode => PhoneError::Invalid {
            raw: raw.to_owned(),
        },
        _ => PhoneError::NotANumber {
            raw: raw.to_owned(),
        },
    })?;
    if number.extension().is_some() {
        return Err(PhoneError::Extension {
            raw: raw.to_owned(),
        });
    }
    let (e164, kind) = readings(&number, raw)
        .into_iter()
        .map(|e164| {
            let t = classify_e164(&e164);
            (e164, t)
        })
        .find(|(_, t)| *t != NumberType::Unknown)
        .ok_or_else(|| PhoneError::Invalid {
            raw: raw.to_owned(),
        })?;
    let kind = kind_of(kind);
    if kind == PhoneKind::Mobile {
        return Err(PhoneError::Mobile { e164 });
    }
    Ok(Phone { e164, kind })
}

/// The E.164 forms `raw` may stand for, most likely first: the parser's reading, then,
/// where the parser strips a national prefix the number does not have (it reads
/// `+7 800 555 35 35` and `8 800 555 35 35` as +7 005 553 535), the digits as written
/// after the country code, and those without one national prefix. The first that is a
/// valid number is the number ([`normalise_phone`]); the ledger classifies cards by
/// the E.164 string alone, so nothing else of the parse matters.
fn readings(number: &PhoneNumber, raw: &str) -> Vec<String> {
    let code = number.code().value();
    let mut out = vec![format!("+{code}{}", number.national())];
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    // The national number as written: after the country code when `raw` has one.
    let national = match raw.strip_prefix('+') {
        Some(_) => {
            out.push(format!("+{digits}"));
            digits.strip_prefix(&code.to_string()).unwrap_or_default()
        }
        None => digits.as_str(),
    };
    // Written with its national prefix (`8 800 …`, or `+7 8 800 …`): without it.
    let prefix = phonenumber::metadata::DATABASE
        .by_code(&code)
        .and_then(|m| {
            m.first()
                .and_then(|m| m.national_prefix().map(str::to_owned))
        });
    if let Some(rest) = prefix.and_then(|p| national.strip_prefix(p.as_str()).map(str::to_owned)) {
        out.push(format!("+{code}{rest}"));
    }
    out
}

/// Full-width forms (U+FF01 to U+FF5E, what East Asian input methods type: `＋３３ １`)
/// and the ideographic space read as their ASCII counterparts.
fn fold_full_width(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

impl Phone {
    /// A caution to show the member before listing, when the plan cannot rule out a
    /// mobile: a buyer who reports it cannot prove it mobile, but the member should know.
    pub fn warning(&self) -> Option<String> {
        match self.kind {
            PhoneKind::FixedLineOrMobile => Some(format!(
                "{} may be a mobile number (the numbering plan does not tell fixed from mobile); list it only if it is a direct line",
                self.e164
            )),
            _ => None,
        }
    }
}

/// Region codes are matched in upper case: members type "fr" as often as "FR".
fn parse_region(region: &str) -> Result<Id, PhoneError> {
    let trimmed = region.trim();
    let unknown = || PhoneError::UnknownRegion {
        region: region.chars().take(MAX_RAW_PHONE_BYTES).collect(),
    };
    if trimmed.len() != 2 || !trimmed.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(unknown());
    }
    Id::from_str(&trimmed.to_ascii_uppercase()).map_err(|_| unknown())
}

/// The protocol's classification ([`carnet_protocol::phone`]) in the member's words.
fn kind_of(t: NumberType) -> PhoneKind {
    match t {
        NumberType::FixedLine => PhoneKind::FixedLine,
        NumberType::FixedLineOrMobile => PhoneKind::FixedLineOrMobile,
        NumberType::Mobile => PhoneKind::Mobile,
        NumberType::TollFree => PhoneKind::Other("toll-free"),
        NumberType::PremiumRate => PhoneKind::Other("premium-rate"),
        NumberType::SharedCost => PhoneKind::Other("shared-cost"),
        NumberType::PersonalNumber => PhoneKind::Other("personal number"),
        NumberType::Voip => PhoneKind::Other("VoIP"),
        NumberType::Pager => PhoneKind::Other("pager"),
        NumberType::Uan => PhoneKind::Other("UAN"),
        NumberType::Voicemail => PhoneKind::Other("voicemail"),
        NumberType::Unknown => PhoneKind::Other("unknown"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_protocol::ledger::is_mobile_number;

    fn ok(raw: &str, region: Option<&str>) -> Phone {
        match normalise_phone(raw, region) {
            Ok(p) => p,
            Err(e) => panic!("{raw}: {e}"),
        }
    }

    #[test]
    fn french_fixed_line_in_every_common_spelling() {
        for (raw, region) in [
            ("+33 1 42 68 53 00", None),
            ("+33 (0)1 42 68 53 00", None),
            ("0033142685300", Some("FR")),
            ("01 42 68 53 00", Some("FR")),
        ] {
            let p = ok(raw, region);
            assert_eq!(p.e164, "+33142685300", "{raw}");
            assert_eq!(p.kind, PhoneKind::FixedLine);
            assert_eq!(p.warning(), None);
        }
        assert_eq!(ok("01.42.68.53.00", Some("fr")).e164, "+33142685300");
        assert_eq!(ok("tel:+33-1-42-68-53-00", None).e164, "+33142685300");
    }

    #[test]
    fn uk_and_german_fixed_lines() {
        let uk = ok("020 7946 0958", Some("GB"));
        assert_eq!(uk.e164, "+442079460958");
        assert_eq!(uk.kind, PhoneKind::FixedLine);
        let de = ok("+49 30 901820", None);
        assert_eq!(de.e164, "+4930901820");
        assert_eq!(de.kind, PhoneKind::FixedLine);
        assert_eq!(ok("030 901820", Some("DE")).e164, "+4930901820");
    }

    #[test]
    fn mobiles_are_refused_with_their_e164() {
        let err = normalise_phone("06 12 34 56 78", Some("FR")).unwrap_err();
        assert_eq!(
            err,
            PhoneError::Mobile {
                e164: "+33612345678".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "+33612345678 is a mobile number; Carnet cards carry direct lines only, never mobile numbers"
        );
        assert_eq!(
            normalise_phone("07911 123456", Some("GB")),
            Err(PhoneError::Mobile {
                e164: "+447911123456".into()
            })
        );
    }

    #[test]
    fn us_number_passes_with_a_warning() {
        let us = ok("+1 212-555-0123", None);
        assert_eq!(us.e164, "+12125550123");
        assert_eq!(us.kind, PhoneKind::FixedLineOrMobile);
        let w = us.warning().unwrap_or_default();
        assert!(w.contains("+12125550123 may be a mobile number"), "{w}");
    }

    #[test]
    fn other_services_are_named() {
        let free = ok("0800 123 456", Some("FR"));
        assert_eq!(free.kind, PhoneKind::Other("toll-free"));
    }

    #[test]
    fn bad_input_gets_a_clear_error() {
        assert!(matches!(
            normalise_phone("call me maybe", None),
            Err(PhoneError::NotANumber { .. })
        ));
        assert!(matches!(
            normalise_phone("", Some("FR")),
            Err(PhoneError::NotANumber { .. })
        ));
        assert_eq!(
            normalise_phone("01 42 68 53 00", None),
            Err(PhoneError::NoCountryCode {
                raw: "01 42 68 53 00".into()
            })
        );
        assert_eq!(
            normalise_phone("01 42 68 53 00", Some("France")),
            Err(PhoneError::UnknownRegion {
                region: "France".into()
            })
        );
        assert!(matches!(
            normalise_phone("01 42 68 53 00", Some("QQ")),
            Err(PhoneError::UnknownRegion { .. })
        ));
        assert!(matches!(
            normalise_phone("+33 1 42", None),
            Err(PhoneError::Invalid { .. } | PhoneError::NotANumber { .. })
        ));
        assert!(matches!(
            normalise_phone("+33 1 42 68 53 00 ext. 12", None),
            Err(PhoneError::Extension { .. })
        ));
        let long = "1".repeat(MAX_RAW_PHONE_BYTES + 1);
        assert_eq!(
            normalise_phone(&long, None),
            Err(PhoneError::TooLong {
                len: MAX_RAW_PHONE_BYTES + 1
            })
        );
    }

    #[test]
    fn never_accepts_what_the_ledger_calls_mobile() {
        let numbers = [
            ("+33 1 42 68 53 00", None),
            ("+33 6 12 34 56 78", None),
            ("+33 7 81 23 45 67", None),
            ("020 7946 0958", Some("GB")),
            ("07911 123456", Some("GB")),
            ("+49 30 901820", None),
            ("+49 151 23456789", None),
            ("+1 212 555 0123", None),
            ("+41 44 668 18 00", None),
            ("+41 79 123 45 67", None),
            ("+34 912 345 678", None),
            ("+34 612 345 678", None),
            ("+225 07 89 88 12 34", None),
            ("07 89 88 12 34", Some("CI")),
            ("+229 01 97 12 34 56", None),
            ("01 97 12 34 56", Some("BJ")),
            ("+242 06 612 3456", None),
            ("06 612 3456", Some("CG")),
            ("02 3661 8300", Some("IT")),
            ("0549 886377", Some("SM")),
            ("01 44 12 34", Some("GA")),
            ("8 800 555 35 35", Some("RU")),
        ];
        for (raw, region) in numbers {
            match normalise_phone(raw, region) {
                Ok(p) => assert!(!is_mobile_number(&p.e164), "{raw} accepted but mobile"),
                Err(PhoneError::Mobile { e164 }) => {
                    assert!(is_mobile_number(&e164), "{raw} refused but not mobile")
                }
                Err(e) => panic!("{raw}: {e}"),
            }
        }
    }

    /// The numbers the `phonenumber` crate's own classification got wrong (issue 17):
    /// mobiles whose national number starts with 0 were "unknown", so accepted.
    #[test]
    fn mobiles_with_a_leading_zero_are_refused() {
        for (raw, region, e164) in [
            ("+225 07 89 88 12 34", None, "+2250789881234"),
            ("07 89 88 12 34", Some("CI"), "+2250789881234"),
            ("+229 01 97 12 34 56", None, "+2290197123456"),
            ("+242 06 612 3456", None, "+242066123456"),
            ("06 612 3456", Some("CG"), "+242066123456"),
        ] {
            assert_eq!(
                normalise_phone(raw, region),
                Err(PhoneError::Mobile { e164: e164.into() }),
                "{raw}"
            );
        }
    }

    #[test]
    fn fixed_lines_with_a_leading_zero_are_accepted() {
        for (raw, region, e164) in [
            ("02 3661 8300", Some("IT"), "+390236618300"),
            ("+39 02 3661 8300", None, "+390236618300"),
            ("0549 886377", Some("SM"), "+3780549886377"),
            ("01 44 12 34", Some("GA"), "+24101441234"),
        ] {
            let p = ok(raw, region);
            assert_eq!(
                (p.e164.as_str(), p.kind),
                (e164, PhoneKind::FixedLine),
                "{raw}"
            );
        }
    }

    /// Found by the `phone_number` fuzz target (docs/fuzzing.md, "Findings"): the digits
    /// as written after `+` were tried as a number, and the protocol read the country
    /// code `033` as France's 33, so `+033-103316812` was accepted as `+033103316812`,
    /// which is not E.164 and does not read back. What is accepted reads back as itself.
    #[test]
    fn an_accepted_number_reads_back_as_itself() {
        for raw in [
            "+033-103316812",
            "+033 1 03 31 68 12",
            "+01-212-555-0123",
            "+0033 1 42 68 53 00",
            "+33 1 42 68 53 00",
            "8 800 555 35 35",
        ] {
            for region in [None, Some("FR"), Some("RU"), Some("US")] {
                if let Ok(p) = normalise_phone(raw, region) {
                    assert!(!p.e164.starts_with("+0"), "{raw} {region:?}: {}", p.e164);
                    assert_eq!(
                        normalise_phone(&p.e164, None).as_ref(),
                        Ok(&p),
                        "{raw} {region:?}"
                    );
                }
            }
        }
    }

    /// The parser strips Russia's national prefix 8 from 8 800 numbers (twice, from the
    /// national form); the digits as written are the number.
    #[test]
    fn russian_800_numbers_and_full_width_digits() {
        for (raw, region) in [
            ("8 800 555 35 35", Some("RU")),
            ("+7 800 555 35 35", None),
            ("+7 8 800 555 35 35", None),
            ("8 (800) 555-35-35", Some("ru")),
        ] {
            let p = ok(raw, region);
            assert_eq!(p.e164, "+78005553535", "{raw}");
            assert_eq!(p.kind, PhoneKind::Other("toll-free"));
        }
        assert_eq!(ok("8 495 123 45 67", Some("RU")).e164, "+74951234567");
        let p = ok("＋３３ １ ４２ ６８ ５３ ００", None);
        assert_eq!(p.e164, "+33142685300");
        assert_eq!(
            ok("０１　４２　６８　５３　００", Some("FR")).e164,
            "+33142685300"
        );
    }
}
