//! Storing alone: what a durable commit of a batch of new events costs the store, by
//! batch size, as the store grows. The API's batch of submissions and a sync fetch
//! end in [`Store::put_events`]; this is its ceiling, with no verification, ordering
//! or folding.
//!
//! `cargo bench -p carnet-node --bench store` (CARNET_BENCH_STORE events per batch
//! size, default 100,000; CARNET_BENCH_BATCHES the batch sizes, default 16,256,1024;
//! CARNET_BENCH_RELEASE an epoch size to then release them in such epochs). With CARNET_BENCH_OPEN=<store file> it times opening that
//! store instead: what the first start of this build costs a store an older build
//! wrote, whose events it moves into ledger order (work on a copy: the move is for
//! good).

use carnet_node::store::Store;
use carnet_protocol::author::Author;
use carnet_protocol::ledger::{Records, Release, Stub};
use carnet_protocol::testkit::workload::{bench_env, bench_vote};
use carnet_protocol::{testkit, SecretKey, SignedEvent};
use std::time::Instant;
use tenths::Tenths;

#[path = "common/tenths.rs"]
mod tenths;

fn main() {
    if let Ok(path) = std::env::var("CARNET_BENCH_OPEN") {
        return open(std::path::Path::new(&path));
    }
    let n = bench_env("CARNET_BENCH_STORE", 100_000);
    let genesis = testkit::genesis(
        "store",
        &[testkit::org_key(0)],
        carnet_protocol::genesis::Rules::default(),
        0,
    );
    let net = genesis.network_id();
    // 16 members' chains, interleaved as 16 submitters send them.
    let writers = 16;
    let mut authors: Vec<Author> = (0..writers)
        .map(|w| Author::new(SecretKey::from_seed([w as u8 + 1; 32]), net))
        .collect();
    let per = n / writers;
    let mut events: Vec<SignedEvent> = Vec::with_capacity(n);
    for k in 0..per {
        for (w, a) in authors.iter_mut().enumerate() {
            events.push(
                a.sign(bench_vote(w * per + k), vec![], 0, 1_700_000_100_000)
                    .expect("sign"),
            );
        }
    }
    // CARNET_BENCH_BATCHES=256 (or "16,1024") times those batch sizes alone.
    let batches: Vec<usize> = match std::env::var("CARNET_BENCH_BATCHES") {
        Ok(list) => list
            .split(',')
            .map(|b| {
                b.trim()
                    .parse()
                    .expect("CARNET_BENCH_BATCHES: sizes like 16,256")
            })
            .collect(),
        Err(_) => vec![16, 256, 1024],
    };
    // CARNET_BENCH_RELEASE=10000 then releases them, as finalized epochs of that size.
    let release_epoch = std::env::var("CARNET_BENCH_RELEASE")
        .ok()
        .map(|e| e.parse().expect("CARNET_BENCH_RELEASE: an epoch size"));
    for batch in batches {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = Store::open(&dir.path().join("events.redb"), net).expect("store");
        let mut timer = Tenths::new(events.len());
        for chunk in events.chunks(batch) {
            store.put_events(chunk).expect("put");
            timer.done(chunk.len());
        }
        let (all, marks) = timer.finish();
        println!(
            "store alone, {} events, a durable commit per {batch}: {all:.1} µs an event \
             ({:.0} events/s); by tenths as the store grows: {marks} µs",
            events.len(),
            1e6 / all,
        );
        if let Some(epoch) = release_epoch {
            release(&store, &events, epoch);
        }
    }
}

/// Releases the stored `events` an epoch of `epoch` events at a time, as a node
/// whose orgs finalize every `epoch` events does ([`Store::put_released`], one
/// durable commit each): the records of each event (one keyed by its id, so at a
/// random place), no movements nor state rows. Prints the cost an event, by tenths.
fn release(store: &Store, events: &[SignedEvent], epoch: usize) {
    let mut timer = Tenths::new(events.len());
    for (e, chunk) in (1u64..).zip(events.chunks(epoch)) {
        let records = Records {
            events: chunk
                .iter()
                .map(|ev| Release {
                    id: ev.id(),
                    stub: Stub {
                        lamport: ev.lamport(),
                        timestamp_ms: 1_700_000_100_000,
                        epoch: e,
                        org_line: false,
                    },
                    first_at: Some((ev.author(), ev.seq())),
                    stays: false,
                })
                .collect(),
            at: (e, carnet_protocol::Hash32([e as u8; 32])),
            ..Records::default()
        };
        store.put_released(&records).expect("release");
        timer.done(chunk.len());
    }
    let (all, marks) = timer.finish();
    println!(
        "  released {} events, {epoch} a release: {all:.1} µs an event; by tenths: {marks} µs",
        events.len(),
    );
}

/// Times [`Store::open`] on the store at `path`, for the network it records.
fn open(path: &std::path::Path) {
    let network = {
        let db = redb::Database::open(path).expect("a redb file");
        let txn = redb::ReadableDatabase::begin_read(&db).expect("read");
        let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
        let meta = txn.open_table(meta).expect("meta table");
        let bytes = meta.get("network").expect("read").expect("a network id");
        carnet_protocol::Hash32(bytes.value().try_into().expect("32 bytes"))
    };
    let before = std::fs::metadata(path).map_or(0, |m| m.len() >> 20);
    let t = Instant::now();
    let store = Store::open(path, network).expect("open");
    let secs = t.elapsed().as_secs_f64();
    let events = store.event_count().expect("count");
    drop(store);
    let after = std::fs::metadata(path).map_or(0, |m| m.len() >> 20);
    println!(
        "opened {} ({events} events): {secs:.1} s, file {before} MiB before, {after} MiB after",
        path.display()
    );
}
