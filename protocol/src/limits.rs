//! Every size and count limit of the protocol, in one place.
//!
//! These numbers are part of the normative spec (docs/protocol.md, "Limits"): an
//! event that breaks one is invalid on every node, so changing one is a protocol
//! change, not a tuning knob.

/// Largest encoded event, signature included. Bounds what a peer can make us decode.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;
/// Largest encoded genesis document.
pub const MAX_GENESIS_BYTES: usize = 64 * 1024;
/// Most founding organisations a genesis may name.
pub const MAX_FOUNDING_ORGS: usize = 256;
/// Most dependency hashes one event may carry.
pub const MAX_DEPS: usize = 32;

/// Person's name, job title, company name, city, organisation name (bytes of UTF-8).
pub const MAX_NAME_BYTES: usize = 128;
/// A DNS name is at most 253 characters (RFC 1035).
pub const MAX_DOMAIN_BYTES: usize = 253;
/// An email address is at most 254 octets (RFC 5321 path limit).
pub const MAX_EMAIL_BYTES: usize = 254;
/// E.164 allows 15 digits; with '+' and an extension this is ample.
pub const MAX_PHONE_BYTES: usize = 32;
/// A postal address on a card.
pub const MAX_POSTAL_BYTES: usize = 512;
/// Free text: revocation reasons, grant memos.
pub const MAX_MEMO_BYTES: usize = 256;
/// A member's pseudonymous handle.
pub const MAX_HANDLE_BYTES: usize = 64;
/// Sealed card ciphertext (an encoded card is well under 2 KiB; 16 bytes of tag).
pub const MAX_SEALED_CARD_BYTES: usize = 4096;
/// Largest points amount in one Grant or Transfer; keeps every sum far from u64 overflow.
pub const MAX_POINTS: u64 = 1_000_000_000;
/// Most an event's Lamport clock may exceed the clock of its previous event and
/// dependencies (0 when it has none). Without a bound, one event at `u64::MAX` would
/// leave every author that follows the network's clock unable to sign again; with it,
/// reaching the end of the clock takes 2^32 chained events.
pub const MAX_LAMPORT_STEP: u64 = 1 << 32;
/// Most heads one checkpoint claim names: one per org is what an honest org names, and
/// a genesis holds at most `MAX_FOUNDING_ORGS`. 256 ids keep the event near 8 KiB.
pub const MAX_CLAIM_HEADS: usize = 256;

/// Most listings one Hold names: each is a dep of the event, and an org's first event
/// also names its introduction, so one less than `MAX_DEPS`.
pub const MAX_HOLD_LISTINGS: usize = MAX_DEPS - 1;
