//! A phone number as a member types or imports it, and as the protocol classifies a
//! card's: arbitrary text through `normalise_phone` (with and without a region) and
//! `classify_e164`. Never panics; what the member's side accepts is a valid number the
//! protocol does not call mobile, so a buyer can never prove it mobile; and its E.164
//! form, typed back in (as an exported card is imported again), is accepted as itself.
#![no_main]

use carnet_client::phone::normalise_phone;
use carnet_protocol::phone::{classify_e164, NumberType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = classify_e164(text);
    for region in [None, Some("FR"), Some("RU"), Some("US")] {
        if let Ok(phone) = normalise_phone(text, region) {
            let t = classify_e164(&phone.e164);
            assert_ne!(t, NumberType::Unknown, "{text:?} accepted as {}", phone.e164);
            assert_ne!(t, NumberType::Mobile, "{text:?} accepted as {}", phone.e164);
            assert_eq!(
                normalise_phone(&phone.e164, None).as_ref(),
                Ok(&phone),
                "{text:?} accepted as {}, which does not read back as itself",
                phone.e164
            );
        }
    }
});
