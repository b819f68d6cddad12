//! What a node holds in memory at scale, and what its start costs (issue 19).
//!
//! `cargo bench -p carnet-node --bench memory` (1,000,000 events; set
//! CARNET_BENCH_EVENTS to change). The log is the replay bench's workload with
//! settlement as org nodes do it: every CARNET_BENCH_EPOCH events (default 10,000)
//! org 0 seals the chains' tips and the four orgs sign the claim at the tip, which
//! finalizes it. It is generated once into a redb store under `target/carnet-bench`
//! (CARNET_BENCH_DIR) and reused by later runs.
//!
//! Each start runs in a child process of its own, so that its peak resident memory
//! is its own: `Engine::reopen` on the store, then the first state root. The first
//! start has no snapshot and replays from genesis, then saves one; the second resumes
//! from it.

use carnet_node::engine::{write_snapshot, Engine};
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{bench_events, generate_settled, Workload};
use carnet_protocol::SecretKey;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Resident and peak resident memory of this process, in MiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kib| kib >> 10)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The store of `n` settled events, built unless a run before built it.
fn store(n: usize, epoch: usize) -> PathBuf {
    let base = std::env::var("CARNET_BENCH_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/carnet-bench"),
        PathBuf::from,
    );
    let dir = base.join(format!("settled-{n}-{epoch}"));
    let path = dir.join("events.redb");
    if dir.join("complete").exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let t = Instant::now();
    let net = Workload::new().0.network_id();
    let store = Store::open(&path, net).expect("store");
    let (_, total) = generate_settled(n, epoch, |batch| {
        for chunk in batch.chunks(4096) {
            store.put_events(chunk).expect("put");
        }
    });
    drop(store);
    std::fs::write(dir.join("complete"), total.to_string()).expect("marker");
    println!(
        "generated and stored {total} events in {:.1}s (once; reused by later runs)",
        t.elapsed().as_secs_f64()
    );
    path
}

/// One start, in this process: prints one line the parent reads.
fn start(path: &Path, save: bool) {
    let genesis = Workload::new().0;
    let org = SecretKey::from_seed([42; 32]);
    let t = Instant::now();
    let store = Store::open(path, genesis.network_id()).expect("store");
    let (mut engine, r) = Engine::reopen(store, genesis, org).expect("reopen");
    let root = engine.state_root_hex();
    let secs = t.elapsed().as_secs_f64();
    let (rss, peak) = memory();
    let held = engine.events_in_memory();
    let events = engine.ledger().len();
    if save {
        let snap = engine.snapshot_to_save().expect("a snapshot to save");
        write_snapshot(&engine.store(), &snap).expect("save");
    }
    println!(
        "RESULT {secs:.2} {rss} {peak} {events} {held} {} {} {root}",
        r.from_snapshot, r.verified
    );
}

fn child(path: &Path, save: bool) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env("CARNET_BENCH_CHILD", if save { "save" } else { "resume" })
        .env("CARNET_BENCH_STORE", path)
        .output()
        .expect("child start");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("the child failed: {}", String::from_utf8_lossy(&out.stderr)));
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

fn main() {
    if let Ok(mode) = std::env::var("CARNET_BENCH_CHILD") {
        let path = PathBuf::from(std::env::var("CARNET_BENCH_STORE").expect("store path"));
        start(&path, mode == "save");
        return;
    }
    let n = bench_events();
    let epoch = env("CARNET_BENCH_EPOCH", 10_000);
    let path = store(n, epoch);
    let snapshot = path.with_extension(carnet_node::store::SNAPSHOT_EXTENSION);
    let _ = std::fs::remove_file(&snapshot);
    let on_disk = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
    println!("store: {} ({on_disk} MiB)", path.display());
    let replay = child(&path, true);
    let resume = child(&path, false);
    assert_eq!(
        replay[7], resume[7],
        "resuming gives the replay's state root"
    );
    println!("| start | time | RSS after | peak RSS | events | held in memory | from snapshot | signatures checked |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, r) in [("from genesis", &replay), ("from the snapshot", &resume)] {
        println!(
            "| {name} | {} s | {} MiB | {} MiB | {} | {} | {} | {} |",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6]
        );
    }
}
