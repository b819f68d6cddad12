//! phone.json: the classification of libphonenumber's example numbers, every region and
//! every number type, and the numbers the crate's own classification got wrong.

use carnet_protocol::phone::classify_e164;
use phonenumber::metadata::{Descriptor, DATABASE};
use serde_json::{json, Value};

/// The example numbers the metadata gives each type of each region, sorted by region.
fn examples() -> Vec<(String, &'static str, String)> {
    let mut metas: Vec<_> = DATABASE.iter().collect();
    metas.sort_by_key(|m| (m.id().to_owned(), m.country_code()));
    let mut out = Vec::new();
    for m in metas {
        let d = m.descriptors();
        let typed: [(&str, Option<&Descriptor>); 10] = [
            ("FIXED_LINE", d.fixed_line()),
            ("MOBILE", d.mobile()),
            ("TOLL_FREE", d.toll_free()),
            ("PREMIUM_RATE", d.premium_rate()),
            ("SHARED_COST", d.shared_cost()),
            ("PERSONAL_NUMBER", d.personal_number()),
            ("VOIP", d.voip()),
            ("PAGER", d.pager()),
            ("UAN", d.uan()),
            ("VOICEMAIL", d.voicemail()),
        ];
        for (name, desc) in typed {
            if let Some(ex) = desc.and_then(|x| x.example()) {
                out.push((
                    m.id().to_owned(),
                    name,
                    format!("+{}{}", m.country_code(), ex),
                ));
            }
        }
    }
    out
}

/// Numbers stated by hand: those the `phonenumber` crate's own `number_type` classified
/// wrongly (leading zeros dropped), regions sharing a country code, and strings that are
/// not E.164.
const CASES: [(&str, &str, &str); 19] = [
    (
        "+2250789881234",
        "MOBILE",
        "Côte d'Ivoire, 07 89 88 12 34: the leading 0 is part of the number",
    ),
    ("+2290197123456", "MOBILE", "Benin, 01 97 12 34 56"),
    ("+242066123456", "MOBILE", "Congo, 06 612 3456"),
    (
        "+390236618300",
        "FIXED_LINE",
        "Italy, 02 3661 8300: a fixed line keeps its leading 0",
    ),
    ("+393123456789", "MOBILE", "Italy, 312 345 6789"),
    ("+3780549886377", "FIXED_LINE", "San Marino, 0549 886377"),
    ("+24101441234", "FIXED_LINE", "Gabon, 01 44 12 34"),
    (
        "+78005553535",
        "TOLL_FREE",
        "Russia, 8 800 555 35 35 (the national prefix 8 is not part of it)",
    ),
    (
        "+74951234567",
        "FIXED_LINE",
        "Russia (+7 is shared with Kazakhstan; RU's leading digits match)",
    ),
    (
        "+77012345678",
        "MOBILE",
        "Kazakhstan (+7; KZ's leading digits 7 match)",
    ),
    (
        "+447400123456",
        "MOBILE",
        "United Kingdom (+44 is shared with GG, IM, JE)",
    ),
    ("+442070313000", "FIXED_LINE", "United Kingdom"),
    (
        "+12015550123",
        "FIXED_LINE_OR_MOBILE",
        "United States: fixed and mobile patterns are the same; not Mobile",
    ),
    ("+33142685300", "FIXED_LINE", "France"),
    ("+33612345678", "MOBILE", "France"),
    ("+33 1 42 68 53 00", "UNKNOWN", "not E.164: spaces"),
    ("33142685300", "UNKNOWN", "not E.164: no +"),
    ("+1234567890123456", "UNKNOWN", "not E.164: 16 digits"),
    (
        "+033612345678",
        "UNKNOWN",
        "no country code starts with 0: not France's 33",
    ),
];

/// Every example number of the metadata with the type it classifies as (its own
/// type, or FIXED_LINE_OR_MOBILE where the region's fixed-line and mobile patterns
/// both match it), then the hand-stated cases.
pub(super) fn phone_file() -> Value {
    let examples: Vec<Value> = examples()
        .into_iter()
        .map(|(region, descriptor, e164)| {
            json!({
                "region": region,
                "example_of": descriptor,
                "e164": e164,
                "type": classify_e164(&e164).name(),
            })
        })
        .collect();
    let cases: Vec<Value> = CASES
        .iter()
        .map(|(e164, ty, note)| json!({ "e164": e164, "type": ty, "note": note }))
        .collect();
    json!({
        "description": "Number types as docs/protocol.md (Phone numbers) classifies them: \
                        `examples` has the example number of every type of every region in \
                        libphonenumber's metadata, `cases` numbers stated by hand. A number \
                        is mobile exactly when its type is MOBILE.",
        "metadata_version": carnet_protocol::phone::METADATA_VERSION,
        "examples": examples,
        "cases": cases,
    })
}

/// Each number classifies as the file says; each example's type is the type it is an
/// example of (the metadata's own claim), or FIXED_LINE_OR_MOBILE for a fixed-line or
/// mobile example where the plan cannot tell them apart.
pub(super) fn check_phone_file(f: &Value) {
    assert_eq!(
        f["metadata_version"],
        carnet_protocol::phone::METADATA_VERSION
    );
    let examples = f["examples"].as_array().unwrap();
    assert!(examples.len() > 1000, "{} examples", examples.len());
    for v in examples {
        let (e164, ty, of) = (
            v["e164"].as_str().unwrap(),
            v["type"].as_str().unwrap(),
            v["example_of"].as_str().unwrap(),
        );
        assert_eq!(classify_e164(e164).name(), ty, "{v}");
        let either = ty == "FIXED_LINE_OR_MOBILE" && (of == "FIXED_LINE" || of == "MOBILE");
        assert!(ty == of || either, "{v}");
    }
    for v in f["cases"].as_array().unwrap() {
        let (e164, ty) = (v["e164"].as_str().unwrap(), v["type"].as_str().unwrap());
        assert_eq!(classify_e164(e164).name(), ty, "{v}");
        assert_eq!(
            carnet_protocol::phone::is_mobile_number(e164),
            ty == "MOBILE",
            "{v}"
        );
    }
}
