//! Shared proptest strategies for the protocol's integration tests: arbitrary *valid*
//! payloads of every kind, valid events, valid cards, and a few helpers for building
//! bytes that `SignedEvent::sign` would refuse to produce.
#![allow(dead_code)]

pub mod crafted;

use carnet_protocol::card::Card;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::event::signing_message;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::testkit;
use carnet_protocol::*;
use ed25519_dalek::Signer;
use proptest::prelude::*;
use proptest::string::string_regex;

/// The wire order of the payload kinds (the postcard discriminant), as `Payload::kind` names them.
pub const KINDS: [&str; 20] = [
    "enroll",
    "revoke",
    "contribute",
    "update",
    "purchase",
    "deliver",
    "bounce_report",
    "mobile_report",
    "vote",
    "referral",
    "grant",
    "transfer",
    "opt_out",
    "checkpoint",
    "admit",
    "evict",
    "rotate",
    "seal",
    "hold",
    "dispute",
];

/// The genesis every test event belongs to.
pub fn genesis() -> Genesis {
    let org = SecretKey::from_seed([0x11; 32]);
    testkit::genesis(
        "Carnet protocol tests",
        &[org],
        Rules::default(),
        testkit::T0,
    )
}

pub fn network() -> NetworkId {
    genesis().network_id()
}

/// The network secret the tests' org nodes hold (docs/protocol.md, "Network secret").
#[allow(dead_code)]
pub fn secret() -> carnet_protocol::card::NetworkSecret {
    carnet_protocol::card::NetworkSecret([0x4b; 32])
}

// ---------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------

pub fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

/// Any 32 bytes: payloads name keys as raw bytes and never check them.
pub fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

pub fn points() -> impl Strategy<Value = u64> {
    prop_oneof![1..=100u64, Just(1), Just(MAX_POINTS), 1..=MAX_POINTS]
}

// ---------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------

/// Characters text may hold inside (some of them several bytes long in UTF-8).
const INNER: &str = "A-Za-z0-9 '&.,()/éüßøÅçñ日本語—-";
/// Characters text may start and end with (no whitespace).
const EDGE: &str = "A-Za-z0-9éüßøÅçñ日本語";

/// Valid required text of at most `limit` bytes: non-empty, no control characters,
/// no leading or trailing whitespace. Every character is at most 3 bytes.
pub fn text(limit: usize) -> BoxedStrategy<String> {
    let inner = limit / 3 - 2;
    string_regex(&format!("[{EDGE}]([{INNER}]{{0,{inner}}}[{EDGE}])?"))
        .unwrap()
        .boxed()
}

/// Valid optional text: empty or [`text`].
pub fn opt_text(limit: usize) -> BoxedStrategy<String> {
    prop_oneof![1 => Just(String::new()), 4 => text(limit)].boxed()
}

fn label() -> impl Strategy<Value = String> {
    string_regex("[a-z0-9]([a-z0-9-]{0,12}[a-z0-9])?").unwrap()
}

/// A company domain as listings and votes carry it (`check_domain`), IDNA A-labels
/// included.
pub fn domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(label(), 1..=3),
        prop_oneof![
            string_regex("[a-z]{2,6}").unwrap(),
            string_regex("xn--[a-z0-9]{2,10}").unwrap()
        ],
    )
        .prop_map(|(mut labels, tld)| {
            labels.push(tld);
            labels.join(".")
        })
}

/// A domain that IDNA accepts unchanged, for email addresses: plain LDH labels without
/// "--" (a "xn--" label would have to be valid Punycode).
pub fn email_domain() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            string_regex("[a-z0-9]{1,10}(-[a-z0-9]{1,10})?").unwrap(),
            1..=3,
        ),
        string_regex("[a-z]{2,6}").unwrap(),
    )
        .prop_map(|(mut labels, tld)| {
            labels.push(tld);
            labels.join(".")
        })
}

/// A work email already in normalised form (domain lowercase ASCII, local part any case).
pub fn email() -> impl Strategy<Value = String> {
    (
        string_regex("[A-Za-z0-9._%+-]{1,30}").unwrap(),
        email_domain(),
    )
        .prop_map(|(local, domain)| format!("{local}@{domain}"))
}

/// A direct line in E.164.
pub fn phone() -> impl Strategy<Value = String> {
    string_regex(r"\+[1-9][0-9]{6,13}").unwrap()
}

// ---------------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------------

pub fn availability() -> impl Strategy<Value = Availability> {
    (any::<bool>(), any::<bool>()).prop_map(|(postal, phone)| Availability {
        email: true,
        postal,
        phone,
    })
}

pub fn teaser() -> impl Strategy<Value = Teaser> {
    (
        text(MAX_NAME_BYTES),
        text(MAX_NAME_BYTES),
        text(MAX_NAME_BYTES),
        domain(),
        opt_text(MAX_NAME_BYTES),
        availability(),
    )
        .prop_map(
            |(name, title, company, company_domain, city, availability)| Teaser {
                name: name.into(),
                title: title.into(),
                company: company.into(),
                company_domain: company_domain.into(),
                city: city.into(),
                availability,
            },
        )
}

pub fn listing() -> impl Strategy<Value = Listing> {
    (teaser(), hash(), hash(), hash()).prop_map(|(teaser, email_commitment, phone, dedup_key)| {
        let phone_commitment = teaser.availability.phone.then_some(phone);
        Listing {
            teaser: TeaserSlot::Shown {
                teaser: Box::new(teaser),
                salt: email_commitment.0,
            },
            email_commitment,
            phone_commitment,
            dedup_key,
        }
    })
}

pub fn opening(value: impl Strategy<Value = String>) -> impl Strategy<Value = Opening> {
    (value, any::<[u8; 32]>()).prop_map(|(value, salt)| Opening { value, salt })
}

pub fn dsn_status() -> impl Strategy<Value = DsnStatus> {
    (
        prop_oneof![Just(2u8), Just(4), Just(5)],
        0..=999u16,
        0..=999u16,
    )
        .prop_map(|(class, subject, detail)| DsnStatus {
            class,
            subject,
            detail,
        })
}

pub fn employees() -> impl Strategy<Value = EmployeeRange> {
    use EmployeeRange::*;
    prop::sample::select(vec![
        From1To10,
        From11To50,
        From51To200,
        From201To1000,
        From1001To5000,
        From5001To10000,
        Over10000,
    ])
}

pub fn revenue() -> impl Strategy<Value = RevenueRange> {
    use RevenueRange::*;
    prop::sample::select(vec![
        Under1M,
        From1MTo10M,
        From10MTo50M,
        From50MTo100M,
        From100MTo500M,
        From500MTo1B,
        Over1B,
    ])
}

/// A valid payload of the kind at wire index `kind` (see [`KINDS`]).
pub fn payload_of_kind(kind: usize) -> BoxedStrategy<Payload> {
    match kind {
        0 => (public_key(), text(MAX_HANDLE_BYTES))
            .prop_map(|(member, handle)| Payload::Enroll(Enroll { member, handle }))
            .boxed(),
        1 => (public_key(), opt_text(MAX_MEMO_BYTES))
            .prop_map(|(member, reason)| Payload::Revoke(Revoke { member, reason }))
            .boxed(),
        2 => listing()
            .prop_map(|listing| Payload::Contribute(Contribute { listing }))
            .boxed(),
        3 => (hash(), listing())
            .prop_map(|(listing_id, listing)| {
                Payload::Update(Update {
                    listing_id,
                    listing,
                })
            })
            .boxed(),
        4 => (hash(), any::<[u8; 32]>(), any::<u64>())
            .prop_map(|(listing_id, recipient, max_price)| {
                Payload::Purchase(Purchase {
                    listing_id,
                    recipient,
                    max_price,
                })
            })
            .boxed(),
        5 => (
            hash(),
            any::<[u8; 32]>(),
            prop_oneof![
                prop::collection::vec(any::<u8>(), 1..=600),
                prop::collection::vec(any::<u8>(), MAX_SEALED_CARD_BYTES..=MAX_SEALED_CARD_BYTES)
            ],
        )
            .prop_map(|(purchase_id, ephemeral, sealed_card)| {
                Payload::Deliver(Deliver {
                    purchase_id,
                    ephemeral,
                    sealed_card,
                })
            })
            .boxed(),
        6 => (
            hash(),
            hash(),
            dsn_status(),
            any::<[u8; 32]>(),
            any::<[u8; 32]>(),
        )
            .prop_map(|(purchase_id, evidence, status, v1, v2)| {
                let mut voucher = [0u8; 64];
                voucher[..32].copy_from_slice(&v1);
                voucher[32..].copy_from_slice(&v2);
                Payload::BounceReport(BounceReport {
                    purchase_id,
                    evidence,
                    status,
                    voucher: Voucher(voucher),
                })
            })
            .boxed(),
        7 => (hash(), any::<[u8; 32]>(), any::<[u8; 32]>())
            .prop_map(|(purchase_id, v1, v2)| {
                let mut voucher = [0u8; 64];
                voucher[..32].copy_from_slice(&v1);
                voucher[32..].copy_from_slice(&v2);
                Payload::MobileReport(MobileReport {
                    purchase_id,
                    voucher: Voucher(voucher),
                })
            })
            .boxed(),
        8 => (domain(), employees(), revenue())
            .prop_map(|(company_domain, employees, revenue)| {
                Payload::Vote(Vote {
                    company_domain,
                    employees,
                    revenue,
                })
            })
            .boxed(),
        9 => public_key()
            .prop_map(|referrer| Payload::Referral(Referral { referrer }))
            .boxed(),
        10 => (public_key(), points(), opt_text(MAX_MEMO_BYTES))
            .prop_map(|(member, points, memo)| {
                Payload::Grant(Grant {
                    member,
                    points,
                    memo,
                })
            })
            .boxed(),
        11 => (public_key(), points())
            .prop_map(|(to, points)| Payload::Transfer(Transfer { to, points }))
            .boxed(),
        12 => hash()
            .prop_map(|dedup_key| Payload::OptOut(OptOut { dedup_key }))
            .boxed(),
        13 => (
            any::<u64>(),
            hash(),
            any::<u64>(),
            hash(),
            hash(),
            prop::collection::btree_set(hash(), 0..8),
        )
            .prop_map(
                |(lamport_bound, source, event_count, events_root, state_root, heads)| {
                    Payload::Checkpoint(Checkpoint {
                        lamport_bound,
                        source,
                        event_count,
                        events_root,
                        state_root,
                        heads: heads.into_iter().collect(),
                    })
                },
            )
            .boxed(),
        14 => (public_key(), text(MAX_NAME_BYTES))
            .prop_map(|(org, name)| Payload::Admit(Admit { org, name }))
            .boxed(),
        15 => (public_key(), opt_text(MAX_MEMO_BYTES))
            .prop_map(|(org, reason)| Payload::Evict(Evict { org, reason }))
            .boxed(),
        16 => (public_key(), public_key())
            .prop_filter("a key rotated to itself", |(org, to)| org != to)
            .prop_map(|(org, to)| Payload::Rotate(Rotate { org, to }))
            .boxed(),
        17 => Just(Payload::Seal(Seal {})).boxed(),
        18 => prop::collection::btree_set(hash(), 1..8)
            .prop_map(|l| {
                Payload::Hold(Hold {
                    listings: l.into_iter().collect(),
                })
            })
            .boxed(),
        19 => (hash(), text(MAX_MEMO_BYTES))
            .prop_map(|(report_id, finding)| Payload::Dispute(Dispute { report_id, finding }))
            .boxed(),
        _ => panic!("there are {} kinds", KINDS.len()),
    }
}

/// A valid payload of any kind.
pub fn payload() -> BoxedStrategy<Payload> {
    (0..KINDS.len()).prop_flat_map(payload_of_kind).boxed()
}

// ---------------------------------------------------------------------------------
// Events
// ---------------------------------------------------------------------------------

/// A valid event body for `payload`, by the author with secret `seed`: chain link,
/// sorted deps that include the payload's reference.
pub fn body_for(
    payload: impl Strategy<Value = Payload>,
) -> impl Strategy<Value = (EventBody, [u8; 32])> {
    (
        any::<[u8; 32]>(),
        payload,
        prop_oneof![Just(0u64), Just(1), any::<u64>()],
        hash(),
        any::<u64>(),
        prop_oneof![
            4 => prop::collection::vec(hash(), 0..4),
            1 => prop::collection::vec(hash(), 0..MAX_DEPS),
        ],
        any::<u64>(),
    )
        .prop_map(
            |(seed, payload, seq, prev, lamport, mut deps, timestamp_ms)| {
                let refs = payload.references();
                deps.retain(|d| !refs.contains(d));
                deps.truncate(MAX_DEPS - refs.len());
                deps.extend_from_slice(refs);
                deps.sort_unstable();
                deps.dedup();
                let body = EventBody {
                    network: network(),
                    author: SecretKey::from_seed(seed).public(),
                    seq,
                    prev: (seq != 0).then_some(prev),
                    lamport,
                    deps,
                    timestamp_ms,
                    payload,
                };
                (body, seed)
            },
        )
}

/// A valid signed event with the payload from `payload`.
pub fn event_with(payload: impl Strategy<Value = Payload>) -> impl Strategy<Value = SignedEvent> {
    body_for(payload).prop_map(|(body, seed)| {
        SignedEvent::sign(body, &SecretKey::from_seed(seed)).expect("strategy makes valid events")
    })
}

/// A valid signed event of any kind.
pub fn event() -> impl Strategy<Value = SignedEvent> {
    event_with(payload())
}

/// A valid signed event of the kind at wire index `kind`.
pub fn event_of_kind(kind: usize) -> impl Strategy<Value = SignedEvent> {
    event_with(payload_of_kind(kind))
}

/// Wire bytes for `body`, correctly signed by `seed` but without any of the checks of
/// `SignedEvent::sign`: how a misbehaving author would write an invalid event.
pub fn forge(body: &EventBody, seed: [u8; 32]) -> Vec<u8> {
    let body_bytes = to_canonical(body);
    let id = body.content_id();
    let sig = ed25519_dalek::SigningKey::from_bytes(&seed).sign(&signing_message(&id));
    let mut bytes = body_bytes;
    bytes.extend_from_slice(&sig.to_bytes());
    bytes
}

/// Wire bytes for `body` followed by the 64 bytes `sig`, unchecked.
pub fn with_signature(body: &EventBody, sig: [u8; 64]) -> Vec<u8> {
    let mut bytes = to_canonical(body);
    bytes.extend_from_slice(&sig);
    bytes
}

// ---------------------------------------------------------------------------------
// Cards
// ---------------------------------------------------------------------------------

/// A valid card: normalised email, phone and postal address exactly as the teaser says.
pub fn card() -> impl Strategy<Value = Card> {
    (
        teaser(),
        opening(email()),
        opening(phone()),
        text(MAX_POSTAL_BYTES),
    )
        .prop_map(|(teaser, email, phone, postal)| {
            let phone = teaser.availability.phone.then_some(phone);
            let postal_address = teaser.availability.postal.then_some(postal);
            Card {
                teaser,
                email,
                phone,
                postal_address,
            }
        })
}
