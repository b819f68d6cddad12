//! Where finalized events go once the ledger lets them out of memory.
//!
//! A finalized event never changes the state again: the fold starts after the last
//! finalized prefix. All that the ordering checks still need from it is its clock and
//! timestamp (kept as a [`Stub`]), and what a Checkpoint, Enroll, Admit or Rotate
//! says (those stay in memory). Its bytes are needed again only to serve it, to audit
//! its prefix, or to prove an equivocation: the node reads them from its store,
//! through [`Archive`].

use crate::event::SignedEvent;
use crate::hash::ContentId;

/// Finalized events held outside the ledger: a node's store.
///
/// The ledger lets an event out of memory only when told the archive holds it
/// ([`super::Ledger::release_finalized`]), and asks for it back by id. An archive that
/// loses an event it was told it holds makes audits and proofs that need it fail;
/// the state and the order never depend on it.
pub trait Archive: Send + Sync {
    /// The event `id`, if held.
    fn event(&self, id: &ContentId) -> Option<SignedEvent>;
}

/// What the ordering checks need of an event no longer held in memory: the clock a
/// reference to it must exceed and the timestamp the next event of its chain must not
/// go below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Stub {
    pub lamport: u64,
    pub timestamp_ms: u64,
}
