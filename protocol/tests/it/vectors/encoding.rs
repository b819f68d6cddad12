//! The encoding claims of docs/protocol.md, "Wire encoding", checked on postcard.

use carnet_protocol::encoding::{from_canonical, to_canonical, EncodingError};
use carnet_protocol::genesis::PROTOCOL_VERSION;
use carnet_protocol::payload::*;
use carnet_protocol::*;

fn enc<T: serde::Serialize>(v: &T) -> String {
    hex::encode(to_canonical(v))
}

#[test]
fn encoding_rules() {
    // Unsigned integers: u8 is one raw byte, wider ones are minimal LEB128 varints.
    assert_eq!(enc(&200u8), "c8");
    assert_eq!(enc(&127u64), "7f");
    assert_eq!(enc(&128u64), "8001");
    assert_eq!(enc(&300u16), "ac02");
    assert_eq!(enc(&u16::MAX), "ffff03");
    assert_eq!(enc(&u32::MAX), "ffffffff0f");
    assert_eq!(enc(&u64::MAX), "ffffffffffffffffff01");
    // bool, Option.
    assert_eq!(enc(&false), "00");
    assert_eq!(enc(&true), "01");
    assert_eq!(enc(&None::<u64>), "00");
    assert_eq!(enc(&Some(5u64)), "0105");
    // String and Vec: varint length, then the UTF-8 bytes / the elements.
    assert_eq!(enc(&"hé".to_string()), "0368c3a9");
    assert_eq!(&enc(&"a".repeat(200))[..8], "c8016161");
    assert_eq!(enc(&vec![1u8, 2, 3]), "03010203");
    assert_eq!(
        enc(&vec![Hash32([7; 32])]),
        format!("01{}", "07".repeat(32))
    );
    // Fixed arrays and newtypes: the raw bytes, no length.
    assert_eq!(enc(&[7u8; 32]), "07".repeat(32));
    assert_eq!(enc(&Hash32([7; 32])), "07".repeat(32));
    assert_eq!(enc(&PublicKey([7; 32])), "07".repeat(32));
    // Structs: fields in order, no tags. A tuple of the same fields encodes the same.
    let dsn = DsnStatus {
        class: 5,
        subject: 1,
        detail: 300,
    };
    assert_eq!(enc(&dsn), "0501ac02");
    assert_eq!(enc(&(5u8, 1u16, 300u16)), "0501ac02");
    // Enums: varint variant index, then the variant's fields.
    assert_eq!(enc(&EmployeeRange::From1To10), "00");
    assert_eq!(enc(&RevenueRange::Over1B), "06");
    assert_eq!(
        enc(&Payload::Admit(Admit {
            org: PublicKey([9; 32]),
            name: "x".into()
        })),
        format!("0e{}0178", "09".repeat(32))
    );

    // Decoding: what postcard rejects is malformed; what it accepts but does not
    // re-encode to the same bytes is non_canonical.
    let malformed = |r: Result<(), EncodingError>| matches!(r, Err(EncodingError::Malformed(_)));
    let u64_of = |b: &[u8]| from_canonical::<u64>(b, 64).map(|_| ());
    let u16_of = |b: &[u8]| from_canonical::<u16>(b, 64).map(|_| ());
    let u32_of = |b: &[u8]| from_canonical::<u32>(b, 64).map(|_| ());
    assert_eq!(u64_of(&[0x80, 0x00]), Err(EncodingError::NonCanonical));
    assert_eq!(
        u64_of(&[0x81, 0x80, 0x00]),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        u64_of(&[0xff; 9].iter().chain(&[0x01]).copied().collect::<Vec<_>>()),
        Ok(())
    );
    assert!(malformed(u64_of(
        &[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>()
    )));
    assert!(malformed(u64_of(
        &[0x80; 10]
            .iter()
            .chain(&[0x00])
            .copied()
            .collect::<Vec<_>>()
    )));
    assert!(malformed(u64_of(&[0x80])));
    assert!(malformed(u64_of(&[])));
    assert_eq!(u16_of(&[0xff, 0xff, 0x03]), Ok(()));
    assert!(malformed(u16_of(&[0xff, 0xff, 0x04])));
    assert_eq!(
        u16_of(&[0x80, 0x80, 0x00]),
        Err(EncodingError::NonCanonical)
    );
    assert!(malformed(u16_of(&[0x80, 0x80, 0x80, 0x00])));
    assert_eq!(u32_of(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok(()));
    assert!(malformed(u32_of(&[0xff, 0xff, 0xff, 0xff, 0x10])));
    assert!(malformed(from_canonical::<bool>(&[2], 8).map(|_| ())));
    assert!(malformed(from_canonical::<Option<u8>>(&[2], 8).map(|_| ())));
    assert!(malformed(
        from_canonical::<String>(&[2, 0xff, 0xfe], 8).map(|_| ())
    ));
    assert!(malformed(
        from_canonical::<String>(&[5, 0x61], 8).map(|_| ())
    ));
    assert!(malformed(
        from_canonical::<EmployeeRange>(&[7], 8).map(|_| ())
    ));
    assert!(malformed(from_canonical::<Payload>(&[15], 8).map(|_| ())));
    assert_eq!(
        from_canonical::<EmployeeRange>(&[0x80, 0x00], 8),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        from_canonical::<String>(&[0x81, 0x00, 0x61], 8),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        from_canonical::<u8>(&[1, 2], 8),
        Err(EncodingError::TrailingBytes(1))
    );
    // A malformed field after a non-minimal one: malformed wins.
    assert!(malformed(
        from_canonical::<(u64, bool)>(&[0x80, 0x00, 0x02], 8).map(|_| ())
    ));

    // Genesis layout and defaults.
    assert_eq!(PROTOCOL_VERSION, 7);
    let r = Rules::default();
    assert_eq!(
        enc(&r),
        // Two tuples (serde stops at 16 fields): a tuple has no length prefix, so
        // the bytes are the eighteen fields in order.
        enc(&(
            (
                10u64,
                10u64,
                2_592_000_000u64,
                10u64,
                10u64,
                10u64,
                100u64,
                2u32,
                125u64,
            ),
            (
                5u64,
                25u64,
                2_592_000_000u64,
                1_209_600_000u64,
                25u32,
                2_592_000_000u64,
                0u32,
                2u32,
                3u32
            )
        ))
    );
}
