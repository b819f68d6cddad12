//! What settlement adds to storing: the engine alone takes the same workload twice,
//! in batches as the API's loop takes submissions (one durable commit each, no
//! verification), once without settlement (nothing finalizes: every event stays in
//! memory and in the held list) and once with it, as org nodes settle (every
//! CARNET_BENCH_EPOCH events, default 10,000, org 0 seals the chains' tips and the
//! four orgs sign the claim at the tip, which finalizes it): then each finalized
//! epoch is released, its records written by id (see `store::released`).
//!
//! `cargo bench -p carnet-node --bench settle` (CARNET_BENCH_EVENTS, default
//! 300,000; CARNET_BENCH_SUBMIT_BATCH, default 1,024, the loop's most submitted events
//! a commit; CARNET_BENCH_ONLY=settled or =without runs only that one). Prints the
//! cost an event of each, by tenths as the store grows.

use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{bench_env, generate, generate_settled};
use carnet_protocol::{Genesis, SecretKey, SignedEvent};
use tenths::Tenths;

#[path = "common/tenths.rs"]
mod tenths;

fn main() {
    let n = bench_env("CARNET_BENCH_EVENTS", 300_000);
    let epoch = bench_env("CARNET_BENCH_EPOCH", 10_000);
    let batch = bench_env("CARNET_BENCH_SUBMIT_BATCH", 1024).max(1);
    let (genesis, plain) = generate(n);
    let mut settled = Vec::with_capacity(n + n / epoch * 8);
    let (genesis_settled, _) = generate_settled(n, epoch, |b| settled.extend_from_slice(b));
    assert_eq!(genesis.network_id(), genesis_settled.network_id());
    // CARNET_BENCH_ONLY=settled (or "without") runs one of the two, e.g. under perf.
    let only = std::env::var("CARNET_BENCH_ONLY").unwrap_or_default();
    for (name, events) in [("without settlement", plain), ("settled", settled)] {
        if !name.starts_with(only.as_str()) {
            continue;
        }
        let (us, marks, held) = store_all(&genesis, &events, batch);
        println!(
            "{name}: {} events, {batch} a durable commit: {us:.1} µs an event ({:.0} events/s); \
             by tenths: {marks} µs; {held} events held in memory at the end",
            events.len(),
            1e6 / us,
        );
    }
}

/// Has a fresh engine take `events` `batch` at a time; the µs an event overall and
/// by tenths, and the events it holds in memory at the end.
fn store_all(genesis: &Genesis, events: &[SignedEvent], batch: usize) -> (f64, String, usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("events.redb"), genesis.network_id()).expect("store");
    let mut engine =
        Engine::open(store, genesis.clone(), SecretKey::from_seed([42; 32])).expect("engine");
    let mut timer = Tenths::new(events.len());
    for chunk in events.chunks(batch) {
        let done = engine.ingest_batch(chunk.to_vec()).expect("stored");
        assert!(done.1.is_empty(), "rejected: {:?}", done.1.first());
        timer.done(chunk.len());
    }
    let (us, marks) = timer.finish();
    (us, marks, engine.events_in_memory())
}
