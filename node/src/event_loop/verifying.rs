//! Signature checks off the loop, in the order the batches came.
//!
//! Signature verification is most of what ingesting an event costs (about 60 µs of
//! 80 on the project machine, checked one by one), and done on the loop it held up
//! everything else: a catch-up fetch of 256 events kept the loop 8 ms from gossip and
//! the API, and submitters waited for the verification of the batch before theirs as
//! well as for its commit.
//! A batch is now decoded and verified on a thread of its own (split across the
//! cores, `crate::decode`) while the loop orders and commits the batch before it; the
//! loop takes the results back oldest first, so events are ordered as they came.
//!
//! The batches are verified one after another, each as soon as the one before is
//! done, not when the loop has taken it. Started at once on the blocking pool, they
//! stretched each other (each already splits over every core) and a batch done early
//! waited behind an older one; started only once the loop took the one before, the
//! verifier idled whenever the loop was busy. Both left a catch-up at 900k events at
//! about half the cores' worth (docs/benchmarks.md, "A catch-up at 900k").

use crate::handle::IngestError;
use carnet_api::Submitted;
use carnet_protocol::event::EventError;
use carnet_protocol::{ContentId, NetworkId, SignedEvent};
use libp2p::PeerId;
use std::collections::VecDeque;
use std::sync::mpsc;
use tokio::sync::oneshot;

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

/// A batch's result from the verifier's thread: a panic goes back as such, to be
/// resumed on the loop.
type Verified = std::thread::Result<Decoded>;

/// What the verifier's thread is handed: a batch, and where its result goes.
type Job = (Vec<Vec<u8>>, NetworkId, oneshot::Sender<Verified>);

/// Batches being verified or waiting to be, oldest first.
#[derive(Default)]
pub(super) struct Verifying {
    /// To the verifier's thread, started with the first batch; it ends once this is
    /// dropped.
    jobs: Option<mpsc::Sender<Job>>,
    queue: VecDeque<(oneshot::Receiver<Verified>, Then)>,
}

impl Verifying {
    /// Queues `wires` to be verified after the batches queued before.
    pub fn start(&mut self, wires: Vec<Vec<u8>>, network: NetworkId, then: Then) {
        let (tx, rx) = oneshot::channel();
        self.queue.push_back((rx, then));
        if self.jobs.is_none() {
            match verifier() {
                Ok(jobs) => self.jobs = Some(jobs),
                Err(e) => tracing::warn!(error = %e, "cannot start the verifier's thread"),
            }
        }
        let job = (wires, network, tx);
        // The thread outlives its sender (a panic is caught, the batch answered); a
        // thread that could not be started leaves the batch to be verified here.
        let job = match &self.jobs {
            Some(jobs) => match jobs.send(job) {
                Ok(()) => return,
                Err(mpsc::SendError(job)) => job,
            },
            None => job,
        };
        let (wires, network, tx) = job;
        let _ = tx.send(Ok(crate::decode::decode_all(&wires, &network)));
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// The oldest batch, once verified. Cancel-safe: the batch stays queued until its
    /// result is returned.
    pub async fn next(&mut self) -> Option<(Decoded, Then)> {
        let (result, _) = self.queue.front_mut()?;
        let done = result.await;
        let (_, then) = self.queue.pop_front()?;
        match done {
            Ok(Ok(decoded)) => Some((decoded, then)),
            // Decoding does not panic on any input (fuzzed); if it ever did, the panic
            // is the loop's, as it was when the loop decoded.
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            // The verifier's thread is gone without an answer: the process is ending.
            Err(_) => None,
        }
    }
}

/// Starts the thread that verifies the batches it is handed, one after another.
fn verifier() -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("carnet-verify".into())
        .spawn(move || {
            while let Ok((wires, network, reply)) = rx.recv() {
                let decoded =
                    std::panic::catch_unwind(|| crate::decode::decode_all(&wires, &network));
                let _ = reply.send(decoded);
            }
        })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Batches come back in the order they were queued, each with its own results,
    /// a bad event's error in its place, however their sizes differ.
    #[tokio::test]
    async fn batches_come_back_in_the_order_they_were_queued() {
        let (mut wires, net) = crate::decode::signed_votes(600);
        let last = wires[300].len() - 1;
        wires[300][last] ^= 0x01;
        let mut verifying = Verifying::default();
        let mut sent = Vec::new();
        let mut at = 0;
        // A large batch first, small ones after it: verified in turn all the same.
        for size in [400, 3, 1, 120, 76] {
            let batch = wires[at..at + size].to_vec();
            let peer = PeerId::random();
            verifying.start(
                batch.clone(),
                net,
                Then::Fetched {
                    peer,
                    asked: vec![],
                },
            );
            sent.push((peer, at, batch));
            at += size;
        }
        for (peer, from, batch) in sent {
            let (decoded, then) = verifying.next().await.expect("verified");
            match then {
                Then::Fetched { peer: p, .. } => assert_eq!(p, peer),
                Then::Submits(_) => panic!("not a submission"),
            }
            assert_eq!(decoded.len(), batch.len());
            for (i, (r, w)) in decoded.iter().zip(&batch).enumerate() {
                match from + i {
                    300 => assert_eq!(r.as_ref().err(), Some(&EventError::BadSignature)),
                    _ => assert_eq!(r.as_ref().map(|e| e.as_bytes()), Ok(&w[..])),
                }
            }
        }
        assert!(verifying.is_empty());
        assert!(verifying.next().await.is_none());
    }
}
