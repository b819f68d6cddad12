//! Catch-up cost: bytes and round trips of negentropy reconciliation between two
//! nodes holding 1,000,000 events that differ by 1% (missing as a recent tail, and
//! spread evenly over the history), with and without the node's frame limit; and, for
//! scale, 0.1% and 10% spread.
//!
//! `cargo bench -p carnet-node --bench sync`. Items are (Lamport clock, content id),
//! exactly what the event loop reconciles; the frame limit is the node's.

use carnet_node::sync::NEGENTROPY_FRAME_BYTES;
use carnet_protocol::Hash32;
use negentropy::{Id, Negentropy, NegentropyStorageVector};
use std::time::Instant;

fn storage(items: &[(u64, [u8; 32])]) -> NegentropyStorageVector {
    let mut s = NegentropyStorageVector::with_capacity(items.len());
    for (t, id) in items {
        s.insert(*t, Id::from_byte_array(*id)).expect("insert");
    }
    s.seal().expect("seal");
    s
}

/// Which events the lagging node misses.
#[derive(Clone, Copy, Debug)]
enum Gap {
    /// Every k-th event: differences spread over the whole history (worst case).
    Spread,
    /// The most recent ones: a node that was down for a while.
    Tail,
}

fn run(total: usize, missing_per_mille: usize, gap: Gap, frame: u64) {
    // Clocks grow with the log, a few events per clock value, as in a real network.
    let all: Vec<(u64, [u8; 32])> = (0..total)
        .map(|i| {
            (
                (i / 3) as u64,
                *Hash32::of(&(i as u64).to_le_bytes()).as_bytes(),
            )
        })
        .collect();
    let stride = 1000 / missing_per_mille.max(1);
    let cut = total - total * missing_per_mille / 1000;
    let lagging: Vec<(u64, [u8; 32])> = all
        .iter()
        .enumerate()
        .filter(|(i, _)| match gap {
            Gap::Spread => i % stride != 0,
            Gap::Tail => *i < cut,
        })
        .map(|(_, x)| *x)
        .collect();
    let diff = total - lagging.len();
    let t = Instant::now();
    let mut client = Negentropy::owned(storage(&lagging), frame).expect("client");
    let server_storage = storage(&all);
    let mut msg = client.initiate().expect("initiate");
    let (mut rounds, mut up, mut down) = (0, msg.len(), 0);
    let (mut have, mut need) = (Vec::new(), Vec::new());
    loop {
        let mut server = Negentropy::borrowed(&server_storage, frame).expect("server");
        let reply = server.reconcile(&msg).expect("reconcile");
        down += reply.len();
        rounds += 1;
        match client
            .reconcile_with_ids(&reply, &mut have, &mut need)
            .expect("client reconcile")
        {
            Some(next) => {
                up += next.len();
                msg = next;
            }
            None => break,
        }
    }
    assert_eq!(need.len(), diff);
    let id_fetch = need.len() * 32;
    let frame = if frame == 0 {
        "none".to_string()
    } else {
        format!("{} KiB", frame / 1024)
    };
    println!(
        "{total} events, {diff} missing ({:.1}%, {gap:?}), frame limit {frame}: {rounds} round trips, \
         {} KiB up + {} KiB down to find them (+{} KiB of ids to fetch them), {:.2}s; \
         a full id list would be {} KiB",
        100.0 * diff as f64 / total as f64,
        up / 1024,
        down / 1024,
        id_fetch / 1024,
        t.elapsed().as_secs_f64(),
        total * 40 / 1024,
    );
}

/// What one answered reconciliation message costs the serving node: rebuilding the
/// sealed index from the held items first (what every request cost before the event
/// loop kept the index between requests), against answering from the kept index.
fn per_request(total: usize) {
    let all: Vec<(u64, [u8; 32])> = (0..total)
        .map(|i| {
            (
                (i / 3) as u64,
                *Hash32::of(&(i as u64).to_le_bytes()).as_bytes(),
            )
        })
        .collect();
    let lagging = &all[..total - total / 100];
    let msg = Negentropy::owned(storage(lagging), NEGENTROPY_FRAME_BYTES)
        .expect("client")
        .initiate()
        .expect("initiate");
    let runs = 5;
    let t = Instant::now();
    for _ in 0..runs {
        let s = storage(&all);
        let mut server = Negentropy::borrowed(&s, NEGENTROPY_FRAME_BYTES).expect("server");
        server.reconcile(&msg).expect("reconcile");
    }
    let rebuild = t.elapsed().as_secs_f64() / runs as f64;
    let kept = storage(&all);
    let t = Instant::now();
    for _ in 0..runs {
        let mut server = Negentropy::borrowed(&kept, NEGENTROPY_FRAME_BYTES).expect("server");
        server.reconcile(&msg).expect("reconcile");
    }
    let cached = t.elapsed().as_secs_f64() / runs as f64;
    println!(
        "{total} events, answering a first reconciliation message: {:.1} ms rebuilding the index, \
         {:.3} ms from the kept index ({:.0}x)",
        rebuild * 1e3,
        cached * 1e3,
        rebuild / cached
    );
}

fn main() {
    let total = carnet_protocol::testkit::workload::bench_events();
    per_request(total);
    for gap in [Gap::Tail, Gap::Spread] {
        for frame in [NEGENTROPY_FRAME_BYTES, 0] {
            run(total, 10, gap, frame);
        }
    }
    // Scale: bytes follow the difference, not the total.
    for per_mille in [1, 100] {
        run(total, per_mille, Gap::Spread, NEGENTROPY_FRAME_BYTES);
    }
}
