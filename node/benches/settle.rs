//! What settlement adds to storing: the engine alone takes the same workload twice,
//! in batches as the API's loop takes submissions (one durable commit each, no
//! verification), once without settlement (nothing finalizes: every event stays in
//! memory and in the held list) and once with it, as org nodes settle (every
//! CARNET_BENCH_EPOCH events, default 10,000, org 0 seals the chains' tips and the
//! four orgs sign the claim at the tip, which finalizes it): then each finalized
//! epoch is released, its records written by id (see `store::released`). The settled
//! workload runs twice: once as the bench alone would (nothing reads the state, so the
//! tail is folded only for the claims), once with the state read after every batch, as
//! a node's loop and API read it (its checkpoint tick, deliveries, balances, status),
//! which folds the tail as it grows. With each tenth's time it prints the heap the
//! engine holds then (glibc only): what an unfinalized tail costs in memory. The
//! engine gets its own copies of the events, decoded from their bytes as a node's loop
//! gets them (not timed), so that figure counts the events it holds too.
//!
//! `cargo bench -p carnet-node --bench settle` (CARNET_BENCH_EVENTS, default
//! 300,000; CARNET_BENCH_SUBMIT_BATCH, default 1,024, the loop's most submitted events
//! a commit; CARNET_BENCH_ONLY=without or =settled runs only those). Prints the
//! cost an event of each, by tenths as the store grows.

use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{bench_env, generate, generate_settled};
use carnet_protocol::{Genesis, SecretKey, SignedEvent};
use std::time::Instant;
use tenths::Tenths;

#[path = "common/heap.rs"]
mod heap;
#[path = "common/tenths.rs"]
mod tenths;

fn main() {
    let n = bench_env("CARNET_BENCH_EVENTS", 300_000);
    let epoch = bench_env("CARNET_BENCH_EPOCH", 10_000);
    let batch = bench_env("CARNET_BENCH_SUBMIT_BATCH", 1024).max(1);
    // CARNET_BENCH_ONLY=settled (both settled runs, "settled and" the second only, or
    // "without") runs those alone, e.g. under perf; a log no run takes is not signed
    // (at a few million events, signing takes minutes).
    let only = std::env::var("CARNET_BENCH_ONLY").unwrap_or_default();
    let runs = |name: &str| name.starts_with(only.as_str());
    let (genesis, plain) = match runs("without settlement") {
        true => generate(n),
        false => (generate_settled(0, epoch, |_| {}).0, Vec::new()),
    };
    let mut settled = Vec::new();
    if runs("settled and read") {
        settled.reserve(n + n / epoch.max(1) * 8);
        let (genesis_settled, _) = generate_settled(n, epoch, |b| settled.extend_from_slice(b));
        assert_eq!(genesis.network_id(), genesis_settled.network_id());
    }
    for (name, events, read) in [
        ("without settlement", &plain, false),
        ("settled", &settled, false),
        ("settled and read", &settled, true),
    ] {
        if !runs(name) {
            continue;
        }
        let (us, marks, held, heap) = store_all(&genesis, events, batch, read);
        println!(
            "{name}: {} events, {batch} a durable commit: {us:.1} µs an event ({:.0} events/s); \
             by tenths: {marks} µs; {held} events held in memory at the end; the engine's \
             heap by tenths: {heap} MiB",
            events.len(),
            1e6 / us,
        );
    }
}

/// Has a fresh engine take `events` `batch` at a time, reading its state after each
/// batch if `read`; the µs an event overall and by tenths, the events it holds in
/// memory at the end, and the heap it holds by tenths (MiB).
fn store_all(
    genesis: &Genesis,
    events: &[SignedEvent],
    batch: usize,
    read: bool,
) -> (f64, String, usize, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("events.redb"), genesis.network_id()).expect("store");
    let mut engine =
        Engine::open(store, genesis.clone(), SecretKey::from_seed([42; 32])).expect("engine");
    let mut timer = Tenths::new(events.len());
    // The heap the engine holds as it goes: what is in use beyond what was before it
    // (the log the bench hands over, whatever the generator left), at each tenth.
    let before = heap::in_use();
    let mut held = Vec::new();
    let network = genesis.network_id();
    for chunk in events.chunks(batch) {
        // Copies the engine alone holds, as a node's loop gets events decoded from a
        // peer or a submission: a clone of the log's would share its memory, and the
        // heap figures would leave out the events themselves (not timed).
        let copying = Instant::now();
        let owned = chunk
            .iter()
            .map(|e| SignedEvent::decode_unverified(e.as_bytes(), &network).expect("decodes"))
            .collect();
        timer.leave_out(copying.elapsed());
        let taken = engine.ingest_batch(owned).expect("stored");
        assert!(taken.1.is_empty(), "rejected: {:?}", taken.1.first());
        if read {
            engine.ledger().state();
        }
        if timer.done(chunk.len()) {
            held.push(format!("{}", heap::in_use().saturating_sub(before) >> 20));
        }
    }
    let (us, marks) = timer.finish();
    (us, marks, engine.events_in_memory(), held.join(" "))
}
