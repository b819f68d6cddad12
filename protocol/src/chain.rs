//! Author chains: each author's events form an append-only chain by seq and prev.
//!
//! Two valid events with one author and one seq but different content ids are an
//! equivocation. The pair is its own proof: both carry the author's signature, so any
//! node can show it to any other.

use crate::event::SignedEvent;
use crate::hash::ContentId;
use thiserror::Error;

/// The last event known in an author's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainHead {
    pub seq: u64,
    pub id: ContentId,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ChainError {
    #[error("seq gap: the chain is at {head:?}, so the next seq is {expected}, not {got}")]
    SeqGap {
        head: Option<u64>,
        expected: u64,
        got: u64,
    },
    #[error("prev does not name the author's event at seq {0}")]
    PrevMismatch(u64),
    #[error("equivocation: a different event already holds seq {seq}")]
    Equivocation { seq: u64, other: ContentId },
}

impl ChainError {
    pub fn code(&self) -> &'static str {
        match self {
            ChainError::SeqGap { .. } => "seq_gap",
            ChainError::PrevMismatch(_) => "prev_mismatch",
            ChainError::Equivocation { .. } => "equivocation",
        }
    }
}

/// Checks that `event` extends the chain whose last known event is `head`
/// (`None`: nothing known of this author yet).
pub fn check_extends(head: Option<ChainHead>, event: &SignedEvent) -> Result<(), ChainError> {
    let seq = event.seq();
    let expected = head.map_or(0, |h| h.seq + 1);
    if let Some(h) = head {
        if seq == h.seq && event.id() != h.id {
            return Err(ChainError::Equivocation { seq, other: h.id });
        }
    }
    if seq != expected {
        return Err(ChainError::SeqGap {
            head: head.map(|h| h.seq),
            expected,
            got: seq,
        });
    }
    if event.body().prev != head.map(|h| h.id) {
        return Err(ChainError::PrevMismatch(expected.saturating_sub(1)));
    }
    Ok(())
}
