//! `SignedEvent::decode` on arbitrary bytes, against a fixed network id.
//!
//! Decoding must never panic; whatever decodes must be exactly the canonical encoding
//! of what it decoded to (body re-encoded, then the signature), and the signed and
//! unsigned decoders must agree; a shown teaser erases to the same event.
#![no_main]

use carnet_protocol::chain::check_extends;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::{Hash32, SignedEvent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let net = carnet_fuzz::network();
    let full = SignedEvent::decode(data, &net);
    match SignedEvent::decode_unverified(data, &net) {
        Ok(ev) => {
            let mut again = to_canonical(ev.body());
            assert_eq!(again, ev.body_bytes());
            again.extend_from_slice(ev.signature());
            assert_eq!(again, data, "decoded event does not re-encode to its bytes");
            assert_eq!(ev.as_bytes(), data);
            // The id is BLAKE3 of the committed body (teaser erased), and the erased
            // form, where there is one, is the same event.
            assert_eq!(ev.id(), ev.body().content_id());
            match ev.body().erased() {
                Some(erased) => {
                    assert_eq!(ev.id(), Hash32::of(&to_canonical(&erased)));
                    let e = ev.erased().expect("a teaser to erase");
                    let back = SignedEvent::decode_unverified(e.as_bytes(), &net)
                        .expect("the erased form decodes");
                    assert_eq!(back.id(), ev.id());
                }
                None => assert_eq!(ev.id(), Hash32::of(ev.body_bytes())),
            }
            assert_eq!(ev.body().check(), Ok(()));
            match ev.verify_signature() {
                Ok(()) => assert_eq!(full.as_ref(), Ok(&ev)),
                Err(e) => assert_eq!(full, Err(e)),
            }
        }
        Err(e) => assert_eq!(full, Err(e)),
    }
    if let Ok(ev) = full {
        let _ = check_extends(None, &ev);
    }
});
