//! `Genesis::decode` on arbitrary bytes: never panics; whatever decodes re-encodes to
//! the same bytes and is what `Genesis::new` builds from its parts.
#![no_main]

use carnet_protocol::{Genesis, Hash32};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Genesis::decode(data) {
        assert_eq!(
            g.to_bytes(),
            data,
            "decoded genesis does not re-encode to its bytes"
        );
        assert_eq!(g.network_id(), Hash32::of(data));
        let again = Genesis::new(
            &g.name,
            g.founding_orgs.clone(),
            g.rules.clone(),
            g.created_ms,
        )
        .expect("a decoded genesis is valid");
        assert_eq!(again, g);
        for o in &g.founding_orgs {
            assert!(g.is_founder(&o.key));
        }
    }
});
