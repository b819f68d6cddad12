//! Writing events: an author's key and the head of its chain.
//!
//! Every event must name the right seq, prev and a Lamport clock above everything it
//! depends on; getting that wrong makes a node reject it. `Author` is the one place
//! that gets it right, for members (in the CLI), org nodes and tests alike.

use crate::event::{EventBody, EventError, SignedEvent};
use crate::hash::{ContentId, NetworkId};
use crate::keys::{PublicKey, SecretKey};
use crate::payload::Payload;

/// What an author needs to know of its own last event to write the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorHead {
    pub seq: u64,
    pub id: ContentId,
    pub lamport: u64,
    pub timestamp_ms: u64,
}

#[derive(Debug, Clone)]
pub struct Author {
    key: SecretKey,
    network: NetworkId,
    head: Option<AuthorHead>,
    /// The event that gives this key its role (its Enroll, or an Admit or Rotate naming
    /// it), named among the deps of its first event: without it the first event has no
    /// role in its causal past and every node rejects it (docs/protocol.md, "Ordering
    /// an event", check 5). Founding orgs need none.
    introduction: Option<ContentId>,
}

impl Author {
    /// An author with no event yet.
    pub fn new(key: SecretKey, network: NetworkId) -> Self {
        Author {
            key,
            network,
            head: None,
            introduction: None,
        }
    }

    /// An author resuming after `head`, its last event.
    pub fn resume(key: SecretKey, network: NetworkId, head: Option<AuthorHead>) -> Self {
        Author {
            key,
            network,
            head,
            introduction: None,
        }
    }

    /// Names the event that introduces this key (its Enroll, or an Admit or Rotate
    /// naming it): a dep of its first event. Ignored once the chain has an event, whose `prev`
    /// carries the role on.
    pub fn introduced_by(mut self, introduction: Option<ContentId>) -> Self {
        self.introduction = introduction;
        self
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    pub fn key(&self) -> &SecretKey {
        &self.key
    }

    pub fn head(&self) -> Option<AuthorHead> {
        self.head
    }

    /// Signs the next event of this chain. `clock` is the highest Lamport clock the
    /// author has seen (at least that of every dep); `deps` may be unsorted and hold
    /// duplicates. The timestamp never goes backwards along the chain.
    pub fn sign(
        &mut self,
        payload: Payload,
        mut deps: Vec<ContentId>,
        clock: u64,
        timestamp_ms: u64,
    ) -> Result<SignedEvent, EventError> {
        deps.extend_from_slice(payload.references());
        if self.head.is_none() {
            deps.extend(self.introduction);
        }
        deps.sort_unstable();
        deps.dedup();
        let (seq, prev, lamport, timestamp_ms) = match self.head {
            None => (Some(0), None, clock.checked_add(1), timestamp_ms),
            Some(h) => (
                h.seq.checked_add(1),
                Some(h.id),
                clock.max(h.lamport).checked_add(1),
                timestamp_ms.max(h.timestamp_ms),
            ),
        };
        // A peer may publish a clock of u64::MAX; nothing can follow it.
        let (Some(seq), Some(lamport)) = (seq, lamport) else {
            return Err(EventError::Field("seq or Lamport clock would overflow"));
        };
        let body = EventBody {
            network: self.network,
            author: self.key.public(),
            seq,
            prev,
            lamport,
            deps,
            timestamp_ms,
            payload,
        };
        let ev = SignedEvent::sign(body, &self.key)?;
        self.head = Some(AuthorHead {
            seq,
            id: ev.id(),
            lamport,
            timestamp_ms,
        });
        Ok(ev)
    }
}
