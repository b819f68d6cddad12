//! Fixtures for tests and benchmarks, behind the `testkit` feature (production code
//! never needs it): seeded keys, cards, a genesis, the switch that rewrites test
//! vectors, and the synthetic event log of the benchmarks ([`workload`]).
//!
//! Every test and bench of the workspace takes its fixtures from here, so a change of
//! the card format or of the genesis is made once.

pub mod workload;

use crate::card::{Card, NetworkSecret};
use crate::genesis::{Genesis, OrgEntry, Rules};
use crate::hash::Hash32;
use crate::payload::{Availability, Opening, Teaser};
use crate::SecretKey;

/// When test networks were created, unless a test needs the present.
pub const T0: u64 = 1_700_000_000_000;

/// The network secret of test networks (a real one is drawn at genesis).
pub const TEST_SECRET: NetworkSecret = NetworkSecret([0x5e; 32]);

/// 32 bytes derived from a tag and an index: the one source of test keys and salts,
/// so fixtures are reproducible and no two tags collide.
pub fn seed(tag: &str, i: usize) -> [u8; 32] {
    *Hash32::derive(
        "carnet test seed",
        &[tag.as_bytes(), &(i as u64).to_le_bytes()],
    )
    .as_bytes()
}

/// The key of tag `tag`, number `i`.
pub fn key(tag: &str, i: usize) -> SecretKey {
    SecretKey::from_seed(seed(tag, i))
}

/// The key of org `i` of a test network.
pub fn org_key(i: usize) -> SecretKey {
    key("org", i)
}

/// A genesis named `name` whose founders are `orgs`, named "Org 0", "Org 1", ...
pub fn genesis(name: &str, orgs: &[SecretKey], rules: Rules, created_ms: u64) -> Genesis {
    let entries = orgs
        .iter()
        .enumerate()
        .map(|(i, k)| OrgEntry {
            key: k.public(),
            name: format!("Org {i}"),
        })
        .collect();
    Genesis::new(name, entries, rules, created_ms).expect("a valid test genesis")
}

/// Card number `n`: one of ten companies, an email and nothing else.
pub fn card(n: usize) -> Card {
    card_for(n, &format!("person{n}@company{}.example", n % 10))
}

/// Card number `n` with the email `email` (whose domain need not be the company's).
pub fn card_for(n: usize, email: &str) -> Card {
    Card {
        teaser: Teaser {
            name: format!("Person {n}").into(),
            title: "Head of Sales".into(),
            company: format!("Company {}", n % 10).into(),
            company_domain: format!("company{}.example", n % 10).into(),
            city: "Nantes".into(),
            availability: Availability {
                email: true,
                postal: false,
                phone: false,
            },
        },
        email: Opening {
            value: email.into(),
            salt: seed("email salt", n),
        },
        phone: None,
        postal_address: None,
    }
}

/// `card` with a direct line (salted by `n`), if `phone` is given.
pub fn with_phone(mut card: Card, n: usize, phone: Option<&str>) -> Card {
    card.teaser.availability.phone = phone.is_some();
    card.phone = phone.map(|p| Opening {
        value: p.into(),
        salt: seed("phone salt", n),
    });
    card
}

/// A card with every field, in Unicode and with an internationalised domain: the card
/// of docs/test-vectors/card.json.
pub fn full_card() -> Card {
    Card {
        teaser: Teaser {
            name: "Ada Lovelace".into(),
            title: "Head of Analytical Engines".into(),
            company: "Bücher & Söhne".into(),
            company_domain: "xn--bcher-kva.example".into(),
            city: "London".into(),
            availability: Availability {
                email: true,
                postal: true,
                phone: true,
            },
        },
        email: Opening {
            value: "Ada.Lovelace@xn--bcher-kva.example".into(),
            salt: [0x5A; 32],
        },
        phone: Some(Opening {
            value: "+442079460000".into(),
            salt: [0x5B; 32],
        }),
        postal_address: Some("12 St James's Square, London SW1Y 4LB".into()),
    }
}

/// Whether this run rewrites the test vectors in docs/ instead of checking them:
/// `CARNET_REGEN_VECTORS=1`.
pub fn regen_vectors() -> bool {
    std::env::var("CARNET_REGEN_VECTORS").is_ok_and(|v| v == "1")
}
