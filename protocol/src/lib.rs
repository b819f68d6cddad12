//! Carnet's protocol core: pure and deterministic.
//!
//! No IO, no clock, no randomness it was not handed. Everything that decides what is
//! valid and what a set of events means lives here, so that it can be tested without a
//! socket or a disk and reimplemented from docs/protocol.md alone.

pub mod author;
pub mod card;
pub mod chain;
pub mod dedup;
pub mod encoding;
pub mod event;
pub mod genesis;
pub mod hash;
pub mod keys;
pub mod limits;
pub mod payload;
pub mod peer;
pub mod phone;
pub mod text;
pub mod voucher;

pub use event::{EventBody, EventError, SignedEvent};
pub use genesis::{Genesis, Rules};
pub use hash::{ContentId, Hash32, NetworkId};
pub use keys::{PublicKey, SecretKey};
pub use payload::Payload;

pub mod ledger;

#[cfg(feature = "testkit")]
pub mod testkit;
