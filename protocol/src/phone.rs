//! What kind of line a phone number is, by libphonenumber's metadata: the rule that
//! decides whether a mobile report stands (docs/protocol.md, "Phone numbers").
//!
//! The `phonenumber` crate carries the metadata (libphonenumber 9.0.33, pinned with the
//! crate) and parses, but its own `number_type` is not libphonenumber's: it matches
//! the national number without its leading zeros, so Côte d'Ivoire's, Benin's and
//! Congo's mobiles (`+225 07…`, `+229 01…`, `+242 06…`) and Italy's fixed lines
//! come out as unknown, and it accepts a pattern matching only a prefix of the
//! number. Classification is part of the ledger's rules, so every node must decide
//! alike: this module applies libphonenumber's algorithm (`getNumberType`) to the
//! same metadata, step by step as the spec writes it.

use phonenumber::metadata::{Descriptor, Metadata, DATABASE};
use phonenumber::PhoneNumber;
use regex::{Regex, RegexBuilder};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The libphonenumber metadata release classification follows; part of the protocol
/// version (a new release can move a number between types).
pub const METADATA_VERSION: &str = "9.0.33";

/// libphonenumber's number types, in the order [`number_type`] tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum NumberType {
    PremiumRate,
    TollFree,
    SharedCost,
    Voip,
    PersonalNumber,
    Pager,
    Uan,
    Voicemail,
    FixedLine,
    /// The plan's fixed-line and mobile patterns both match (the US, Canada, ...):
    /// such a number is not proven mobile.
    FixedLineOrMobile,
    Mobile,
    /// Not a valid number of any region of its country code.
    Unknown,
}

impl NumberType {
    /// libphonenumber's name of the type, as the test vectors write it.
    pub fn name(self) -> &'static str {
        match self {
            NumberType::PremiumRate => "PREMIUM_RATE",
            NumberType::TollFree => "TOLL_FREE",
            NumberType::SharedCost => "SHARED_COST",
            NumberType::Voip => "VOIP",
            NumberType::PersonalNumber => "PERSONAL_NUMBER",
            NumberType::Pager => "PAGER",
            NumberType::Uan => "UAN",
            NumberType::Voicemail => "VOICEMAIL",
            NumberType::FixedLine => "FIXED_LINE",
            NumberType::FixedLineOrMobile => "FIXED_LINE_OR_MOBILE",
            NumberType::Mobile => "MOBILE",
            NumberType::Unknown => "UNKNOWN",
        }
    }
}

/// The descriptors tried before fixed line and mobile, in libphonenumber's order.
fn special(meta: &Metadata) -> [(NumberType, Option<&Descriptor>); 8] {
    let d = meta.descriptors();
    [
        (NumberType::PremiumRate, d.premium_rate()),
        (NumberType::TollFree, d.toll_free()),
        (NumberType::SharedCost, d.shared_cost()),
        (NumberType::Voip, d.voip()),
        (NumberType::PersonalNumber, d.personal_number()),
        (NumberType::Pager, d.pager()),
        (NumberType::Uan, d.uan()),
        (NumberType::Voicemail, d.voicemail()),
    ]
}

/// The type of a parsed number: the region is chosen among those sharing its country
/// code, then the national significant number (leading zeros included) is matched
/// against that region's descriptors.
pub fn number_type(number: &PhoneNumber) -> NumberType {
    let nsn = number.national().to_string();
    match region_of(number.code().value(), &nsn) {
        Some(meta) => type_in(meta, &nsn),
        None => NumberType::Unknown,
    }
}

/// The type of a number in E.164 form as cards carry it: `+` then digits only, at most
/// 15. The country code is the one of 1 to 3 leading digits that is the country code
/// of some territory in the metadata (E.164 codes are prefix-free); every digit after
/// it, leading zeros included, is the national significant number. Anything else is
/// [`NumberType::Unknown`].
///
/// No country code starts with 0, so neither does any such prefix: `+033…` has no
/// country code (read as a number, `033` would be France's 33).
pub fn classify_e164(e164: &str) -> NumberType {
    let Some(digits) = e164.strip_prefix('+') else {
        return NumberType::Unknown;
    };
    if digits.is_empty()
        || digits.len() > 15
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.starts_with('0')
    {
        return NumberType::Unknown;
    }
    let split = (1..=3.min(digits.len() - 1)).find_map(|n| {
        let code: u16 = digits[..n].parse().ok()?;
        DATABASE.by_code(&code).map(|_| (code, &digits[n..]))
    });
    match split.and_then(|(code, nsn)| Some((region_of(code, nsn)?, nsn))) {
        Some((meta, nsn)) => type_in(meta, nsn),
        None => NumberType::Unknown,
    }
}

/// Whether `number`, in E.164 form, is a mobile number ([`classify_e164`]).
pub fn is_mobile_number(number: &str) -> bool {
    classify_e164(number) == NumberType::Mobile
}

/// The metadata a number is classified by (libphonenumber's
/// `getRegionCodeForNumber`): the only region of its country code; else the first,
/// main region first, whose leading digits begin the number or, for a region without
/// leading digits, under which the number has a type.
fn region_of(code: u16, nsn: &str) -> Option<&'static Metadata> {
    let regions = DATABASE.by_code(&code)?;
    if let [only] = regions.as_slice() {
        return Some(only);
    }
    regions
        .into_iter()
        .find(|meta| match meta.leading_digits() {
            Some(lead) => starts_with(lead.as_str(), nsn),
            None => type_in(meta, nsn) != NumberType::Unknown,
        })
}

/// libphonenumber's `getNumberTypeHelper`.
fn type_in(meta: &Metadata, nsn: &str) -> NumberType {
    let d = meta.descriptors();
    if !matches(Some(d.general()), nsn) {
        return NumberType::Unknown;
    }
    if let Some((t, _)) = special(meta).into_iter().find(|(_, d)| matches(*d, nsn)) {
        return t;
    }
    // The same pattern for both: the plan cannot tell a mobile from a fixed line.
    let same = match (d.fixed_line(), d.mobile()) {
        (Some(f), Some(m)) => f.national_number().as_str() == m.national_number().as_str(),
        _ => false,
    };
    if matches(d.fixed_line(), nsn) {
        if same || matches(d.mobile(), nsn) {
            return NumberType::FixedLineOrMobile;
        }
        return NumberType::FixedLine;
    }
    if !same && matches(d.mobile(), nsn) {
        return NumberType::Mobile;
    }
    NumberType::Unknown
}

/// libphonenumber's `isNumberMatchingDesc`: a possible length of the descriptor (when
/// it lists any), and its pattern matching the whole number.
fn matches(desc: Option<&Descriptor>, nsn: &str) -> bool {
    let Some(desc) = desc else {
        return false;
    };
    let lengths = desc.possible_length();
    if !lengths.is_empty() && !lengths.iter().any(|l| usize::from(*l) == nsn.len()) {
        return false;
    }
    whole(desc.national_number().as_str(), nsn)
}

/// Compiled patterns, anchored, by source: the metadata's patterns are fixed, so the
/// cache only ever holds each one once.
fn compiled(source: &str, prefix_only: bool) -> Option<Regex> {
    type Cache = Mutex<HashMap<(String, bool), Option<Regex>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache
        .entry((source.to_owned(), prefix_only))
        .or_insert_with(|| {
            let anchored = if prefix_only {
                format!("^(?:{source})")
            } else {
                format!("^(?:{source})$")
            };
            // The metadata writes its patterns with insignificant white space.
            RegexBuilder::new(&anchored)
                .ignore_whitespace(true)
                .build()
                .ok()
        })
        .clone()
}

/// The pattern matches all of `s` (Java's `Matcher.matches`).
fn whole(pattern: &str, s: &str) -> bool {
    compiled(pattern, false).is_some_and(|r| r.is_match(s))
}

/// The pattern matches a beginning of `s` (Java's `Matcher.lookingAt`).
fn starts_with(pattern: &str, s: &str) -> bool {
    compiled(pattern, true).is_some_and(|r| r.is_match(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(e164: &str) -> NumberType {
        let strict = classify_e164(e164);
        if let Ok(parsed) = phonenumber::parse(None, e164) {
            // Where the crate's parser reads the digits as written, both agree.
            let written = format!("+{}{}", parsed.code().value(), parsed.national());
            if written == e164 {
                assert_eq!(number_type(&parsed), strict, "{e164}");
            }
        }
        strict
    }

    #[test]
    fn leading_zeros_are_part_of_the_number() {
        // Mobiles the crate's own number_type calls unknown.
        assert_eq!(kind("+2250789881234"), NumberType::Mobile);
        assert_eq!(kind("+2290197123456"), NumberType::Mobile);
        assert_eq!(kind("+242066123456"), NumberType::Mobile);
        // Italian fixed lines keep their leading zero.
        assert_eq!(kind("+390236618300"), NumberType::FixedLine);
        assert_eq!(kind("+393123456789"), NumberType::Mobile);
    }

    #[test]
    fn shared_country_codes_pick_their_region() {
        assert_eq!(kind("+12015550123"), NumberType::FixedLineOrMobile);
        assert_eq!(kind("+447400123456"), NumberType::Mobile);
        assert_eq!(kind("+442070313000"), NumberType::FixedLine);
        assert_eq!(kind("+74951234567"), NumberType::FixedLine);
        assert_eq!(kind("+78005553535"), NumberType::TollFree);
    }

    #[test]
    fn only_e164_is_classified() {
        for s in [
            "",
            "+",
            "33142685300",
            "+33 1 42 68 53 00",
            "+0123",
            "+1234567890123456",
            "+３３142685300",
        ] {
            assert_eq!(classify_e164(s), NumberType::Unknown, "{s:?}");
        }
        assert_eq!(classify_e164("+33142685300"), NumberType::FixedLine);
        assert_eq!(classify_e164("+33612345678"), NumberType::Mobile);
    }

    /// Found by the `phone_number` fuzz target (docs/fuzzing.md, "Findings"): the
    /// country code was read as a number, so `033` was France's 33 and `01` the US's 1,
    /// and the member's side accepted `+033-103316812` as `+033103316812`.
    #[test]
    fn a_country_code_never_starts_with_zero() {
        for s in [
            "+033103316812",
            "+0336123456789",
            "+033612345678",
            "+012125550123",
            "+0012125550123",
            "+07800555353",
        ] {
            assert_eq!(classify_e164(s), NumberType::Unknown, "{s}");
        }
        assert_eq!(classify_e164("+33103316812"), NumberType::FixedLine);
        assert_eq!(classify_e164("+12125550123"), NumberType::FixedLineOrMobile);
    }
}
