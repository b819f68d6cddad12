//! Start-up of a node holding a large store: replaying every event from genesis
//! against resuming from the saved ledger snapshot, in one run, and what saving the
//! snapshot costs (the event loop only takes it; a blocking thread writes it).
//!
//! `cargo bench -p carnet-node --bench restart` (1,000,000 events of the replay
//! bench's workload; set CARNET_BENCH_EVENTS to change). Each start is
//! `Engine::reopen` on the redb store (load, decode, id checks, ordering, signature
//! checks of what no snapshot vouches for) followed by the first state root, which
//! forces the fold.

use carnet_node::engine::{write_snapshot, Engine};
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{bench_events, generate};
use carnet_protocol::SecretKey;
use std::time::Instant;

fn main() {
    let n = bench_events();
    let t = Instant::now();
    let (genesis, log) = generate(n);
    let net = genesis.network_id();
    println!("generated {n} events in {:.1}s", t.elapsed().as_secs_f64());

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.redb");
    let t = Instant::now();
    let store = Store::open(&path, net).expect("store");
    for chunk in log.chunks(4096) {
        store.put_events(chunk).expect("put");
    }
    drop(store);
    drop(log);
    println!("stored in {:.1}s", t.elapsed().as_secs_f64());
    // Any key: the org only matters for signing and held cards, neither used here.
    let org = SecretKey::from_seed([42; 32]);
    let start = || {
        let t = Instant::now();
        let store = Store::open(&path, net).expect("store");
        let (mut engine, reopened) =
            Engine::reopen(store, genesis.clone(), org.clone()).expect("reopen");
        let root = engine.state_root_hex();
        (engine, reopened, root, t.elapsed().as_secs_f64())
    };

    let (mut engine, r, root, t_replay) = start();
    assert_eq!(r.from_snapshot, 0);
    println!(
        "start from genesis: {t_replay:.2}s ({:.0} events/s), {} signatures checked",
        n as f64 / t_replay,
        r.verified
    );
    let t = Instant::now();
    let mut snap = engine.snapshot_to_save().expect("a snapshot to save");
    let t_take = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let saved = write_snapshot(&engine.store(), &mut snap).expect("save");
    let t_write = t.elapsed().as_secs_f64();
    println!(
        "saving the snapshot: {t_take:.2}s taking it in the event loop, then {t_write:.2}s \
         encoding and writing {} MiB on a blocking thread",
        saved.bytes >> 20
    );
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len() >> 20);
    let snapshot_file = path.with_extension(carnet_node::store::SNAPSHOT_EXTENSION);
    let once = size(&path);
    for _ in 0..3 {
        write_snapshot(&engine.store(), &mut snap).expect("save again");
    }
    println!(
        "on disk: events.redb {once} MiB ({} MiB after three more saves), snapshot file {} MiB",
        size(&path),
        size(&snapshot_file)
    );
    drop(engine);

    let (_, r, resumed_root, t_resume) = start();
    assert_eq!(r.from_snapshot, n as u64);
    assert_eq!(resumed_root, root, "resuming gives the replay's state");
    println!(
        "start from the snapshot: {t_resume:.2}s, {} signatures checked",
        r.verified
    );
    println!(
        "resume / replay = {:.0}% ({:.1}x faster)",
        100.0 * t_resume / t_replay,
        t_replay / t_resume
    );
}
