//! Decoding and verifying a batch of events on every core.
//!
//! Signature verification is most of what ingesting an event costs, and the event
//! loop is one thread: a fetch of 256 events or a batch of queued submissions
//! verified there would leave the other cores idle. So a batch is split across
//! threads, and each part checked with one batch verification (`verify_batch`,
//! which accepts exactly what single checks accept: docs/protocol.md, "Signature
//! verification"), 2.5 to 5 times cheaper than checking its events one by one. A
//! part whose batch fails is checked event by event to say which failed; a peer that
//! slips one bad event into each fetch costs its part that much more, once. The
//! results keep the order of the input.

use carnet_protocol::event::{verify_batch_with, AuthorKeys, EventError};
use carnet_protocol::{NetworkId, SignedEvent};
use std::sync::OnceLock;

/// Fewer events than this per thread are not worth a thread (one costs about as much
/// as verifying one event).
const MIN_PER_THREAD: usize = 4;

fn threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .clamp(1, 8)
    })
}

/// [`SignedEvent::decode`] of each of `wires`, in order.
pub fn decode_all(wires: &[Vec<u8>], network: &NetworkId) -> Vec<Result<SignedEvent, EventError>> {
    let n = threads().min(wires.len() / MIN_PER_THREAD).max(1);
    let decode = |chunk: &[Vec<u8>]| -> Vec<Result<SignedEvent, EventError>> {
        let mut keys = AuthorKeys::default();
        let mut out: Vec<Result<SignedEvent, EventError>> = chunk
            .iter()
            .map(|b| SignedEvent::decode_unverified(b, network))
            .collect();
        let decoded: Vec<&SignedEvent> = out.iter().filter_map(|r| r.as_ref().ok()).collect();
        if verify_batch_with(&decoded, &mut keys).is_err() {
            for r in &mut out {
                if let Ok(ev) = r {
                    if let Err(e) = ev.verify_signature_with(&mut keys) {
                        *r = Err(e);
                    }
                }
            }
        }
        out
    };
    if n == 1 {
        return decode(wires);
    }
    let size = wires.len().div_ceil(n);
    let mut chunks = wires.chunks(size);
    let first = chunks.next().unwrap_or(&[]);
    std::thread::scope(|s| {
        let others: Vec<_> = chunks.map(|c| s.spawn(move || decode(c))).collect();
        let mut out = decode(first);
        for h in others {
            match h.join() {
                Ok(part) => out.extend(part),
                // Decoding does not panic on any input (fuzzed); if it ever did, the
                // panic is the loop's, as it would be without the threads.
                Err(e) => std::panic::resume_unwind(e),
            }
        }
        out
    })
}

/// `n` votes signed by one org of a test network, as wire bytes, and the network.
#[cfg(test)]
pub(crate) fn signed_votes(n: u64) -> (Vec<Vec<u8>>, NetworkId) {
    use carnet_protocol::author::Author;
    use carnet_protocol::payload::{EmployeeRange, RevenueRange, Vote};
    let key = carnet_protocol::SecretKey::from_seed(carnet_protocol::testkit::seed("org", 0));
    let genesis = carnet_protocol::testkit::genesis(
        "decode",
        std::slice::from_ref(&key),
        carnet_protocol::genesis::Rules::default(),
        0,
    );
    let net = genesis.network_id();
    let mut org = Author::new(key, net);
    let wires = (0..n)
        .map(|i| {
            let vote = Vote {
                company_domain: format!("c{i}.example"),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            };
            org.sign(carnet_protocol::Payload::Vote(vote), vec![], i, 1)
                .expect("sign")
                .as_bytes()
                .to_vec()
        })
        .collect();
    (wires, net)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_decodes_in_order_with_each_error_in_its_place() {
        let (mut wires, net) = signed_votes(37);
        wires[5].pop();
        wires[30][3] ^= 0xff;
        // A bad signature in each thread's part: its batch check fails, and the
        // single checks find it.
        for i in [2, 33] {
            let last = wires[i].len() - 1;
            wires[i][last] ^= 0x01;
        }
        let out = decode_all(&wires, &net);
        assert_eq!(out.len(), wires.len());
        for (i, (r, w)) in out.iter().zip(&wires).enumerate() {
            match i {
                2 | 33 => assert_eq!(r.as_ref().err(), Some(&EventError::BadSignature), "{i}"),
                5 | 30 => assert!(r.is_err(), "{i}"),
                _ => assert_eq!(r.as_ref().map(|e| e.as_bytes()), Ok(&w[..]), "{i}"),
            }
        }
    }
}
