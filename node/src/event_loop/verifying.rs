//! Signature checks off the loop, in the order the batches came.
//!
//! Signature verification is most of what ingesting an event costs (about 60 µs of
//! 80 on the project machine, checked one by one), and done on the loop it held up
//! everything else: a catch-up fetch of 256 events kept the loop 8 ms from gossip and
//! the API, and submitters waited for the verification of the batch before theirs as
//! well as for its commit.
//! A batch is now decoded and verified on a blocking thread (split across the cores,
//! `crate::decode`) while the loop orders and commits the batch before it; the loop
//! takes the results back oldest first, so events are ordered as they came.

use crate::handle::IngestError;
use carnet_api::Submitted;
use carnet_protocol::event::EventError;
use carnet_protocol::{ContentId, NetworkId, SignedEvent};
use libp2p::PeerId;
use std::collections::VecDeque;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(super) type Decoded = Vec<Result<SignedEvent, EventError>>;

/// Where the answers to submissions go: one event's, or a submission of several.
pub(super) enum Answer {
    One(oneshot::Sender<Result<Submitted, IngestError>>),
    /// The answers to this many events, in their order.
    Many(usize, oneshot::Sender<Vec<Result<Submitted, IngestError>>>),
}

/// What the loop does with a batch once it is verified.
pub(super) enum Then {
    /// Submissions from the API, answered in order.
    Submits(Vec<Answer>),
    /// Events a fetch of this node's brought from `peer`, which asked for `asked`.
    Fetched { peer: PeerId, asked: Vec<ContentId> },
}

/// Batches being verified, oldest first.
#[derive(Default)]
pub(super) struct Verifying {
    queue: VecDeque<(JoinHandle<Decoded>, Then)>,
}

impl Verifying {
    /// Starts verifying `wires` on a blocking thread.
    pub fn start(&mut self, wires: Vec<Vec<u8>>, network: NetworkId, then: Then) {
        let job = tokio::task::spawn_blocking(move || crate::decode::decode_all(&wires, &network));
        self.queue.push_back((job, then));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The oldest batch, once verified. Cancel-safe: the batch stays queued until its
    /// result is returned.
    pub async fn next(&mut self) -> Option<(Decoded, Then)> {
        let (job, _) = self.queue.front_mut()?;
        let done = job.await;
        let (_, then) = self.queue.pop_front()?;
        match done {
            Ok(decoded) => Some((decoded, then)),
            // Decoding does not panic on any input (fuzzed); if it ever did, the panic
            // is the loop's, as it was when the loop decoded.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down.
            Err(_) => None,
        }
    }
}
