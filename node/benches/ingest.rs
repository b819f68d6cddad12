//! The engine alone under the API's concurrent submissions: the ceiling of a node's
//! ingest by API on this machine, and where a batch's time goes.
//!
//! `cargo bench -p carnet-node --bench ingest` (CARNET_BENCH_INGEST events, default
//! 20,000; CARNET_BENCH_WRITERS submitters, default 16). The propagation bench
//! (carnet-tests) sends 16 members' chains through a node's event loop, each member
//! waiting for its answer before sending the next event, so the loop takes them in
//! batches of at most 16. This one hands the engine the same events in batches of one
//! event per member, with no loop, channel or runtime, and times each step of a batch:
//! decoding and verification (a batch check on every core, as the loop does it), then
//! ordering, folding and the durable commit; and ordering and folding alone, on a
//! ledger in memory, for the commit's share. The loop can do no better than the first
//! figure, whatever it overlaps: every event needs its verification and its ordering,
//! and each batch a commit that waits for the disk.

use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::author::Author;
use carnet_protocol::genesis::Rules;
use carnet_protocol::payload::{Enroll, Payload};
use carnet_protocol::testkit::workload::{bench_env, bench_vote};
use carnet_protocol::{testkit, SecretKey, SignedEvent};
use std::time::{Duration, Instant};

fn main() {
    let events = bench_env("CARNET_BENCH_INGEST", 20_000);
    let writers = bench_env("CARNET_BENCH_WRITERS", 16).max(1);
    let org = testkit::org_key(0);
    let genesis = testkit::genesis("ingest", std::slice::from_ref(&org), Rules::default(), 0);
    let net = genesis.network_id();
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("events.redb"), net).expect("store");
    let genesis_copy = genesis.clone();
    let mut engine = Engine::open(store, genesis.clone(), org).expect("engine");
    // Each member's chain, signed ahead, on top of the clock after the enrolments:
    // members sending at once share a clock, as the propagation bench's do.
    let mut authors = Vec::new();
    let mut enrolments = Vec::new();
    for w in 0..writers {
        let key = SecretKey::from_seed([w as u8 + 1; 32]);
        let ev = engine
            .sign_as_org(Payload::Enroll(Enroll {
                member: key.public(),
                handle: format!("w{w}"),
            }))
            .expect("sign");
        authors.push(Author::new(key, net).introduced_by(Some(ev.id())));
        enrolments.push(ev.clone());
        engine.ingest_event(ev).expect("enroll");
    }
    let enrolments_copy = enrolments.clone();
    let clock = engine.ledger().max_lamport();
    let per = events / writers;
    let chains: Vec<Vec<SignedEvent>> = authors
        .iter_mut()
        .enumerate()
        .map(|(w, a)| {
            (0..per)
                .map(|k| {
                    a.sign(bench_vote(w * per + k), vec![], clock, 1_700_000_100_000)
                        .expect("sign")
                })
                .collect()
        })
        .collect();
    let batches: Vec<Vec<Vec<u8>>> = (0..per)
        .map(|k| chains.iter().map(|c| c[k].as_bytes().to_vec()).collect())
        .collect();
    let single = {
        let sample: Vec<&SignedEvent> = chains.iter().flat_map(|c| c.iter().take(500)).collect();
        let t = Instant::now();
        for e in &sample {
            e.verify_signature().expect("valid");
        }
        sample.len() as f64 / t.elapsed().as_secs_f64()
    };

    let (mut verify, mut order) = (Duration::ZERO, Duration::ZERO);
    let all = Instant::now();
    for wires in &batches {
        let t = Instant::now();
        let decoded = carnet_node::decode::decode_all(wires, &net);
        verify += t.elapsed();
        let t = Instant::now();
        for r in engine.ingest_decoded(decoded) {
            r.expect("ordered");
        }
        order += t.elapsed();
    }
    let total = all.elapsed();
    // Ordering and folding alone: the same batches into a ledger in memory, with
    // the fold that gives each submitter its event's outcome.
    let mut ledger = carnet_protocol::ledger::Ledger::new(genesis);
    for ev in enrolments {
        ledger.insert(ev).expect("enroll");
    }
    let mut fold = Duration::ZERO;
    for k in 0..per {
        let mut batch: Vec<SignedEvent> = chains.iter().map(|c| c[k].clone()).collect();
        let t = Instant::now();
        batch.sort_by_key(|e| (e.lamport(), e.id()));
        for ev in batch {
            ledger.insert(ev).expect("ordered");
        }
        let _ = ledger.state();
        fold += t.elapsed();
    }
    let n = (per * writers) as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3 / per as f64;
    let rate = n / total.as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let commit = order.saturating_sub(fold);
    println!(
        "engine alone, {n} events in batches of {writers} (one per member): {rate:.0} events/s; \
         per batch {:.3} ms: decode + batch verification {:.3} ms (on {cores} cores), \
         order + fold + durable commit {:.3} ms (of which ordering and folding, timed \
         alone in memory, {:.3} ms, the rest, the durable commit and the engine's bookkeeping, {:.3} ms)",
        ms(total),
        ms(verify),
        ms(order),
        ms(fold),
        ms(commit),
    );
    let fold_rate = n / fold.as_secs_f64().max(1e-9);
    let commit_rate = n / commit.as_secs_f64().max(1e-9);
    println!(
        "ceilings, each step alone: the durable commit and bookkeeping {commit_rate:.0} events/s ({writers} \
         submitters who each wait for their answer get at most one commit's worth per \
         commit); single verification on {cores} cores {:.0} events/s ({single:.0} sig/s on \
         one); ordering and folding {fold_rate:.0} events/s",
        single * cores as f64,
    );

    // Catch-up, the engine alone: a second node's engine takes the same events as a
    // sync fetch brings them, 256 at a time, decoded and batch-verified (on every
    // core) then ordered and stored with one commit that is not durable
    // (`ingest_fetched_batch`), and one durable commit at the end (the loop settles
    // the store once a second). The loop runs the two steps of successive fetches at
    // once, so the slower bounds it.
    let dir2 = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir2.path().join("events.redb"), net).expect("store");
    let mut second = Engine::open(store, genesis_copy, testkit::org_key(0)).expect("second engine");
    second.ingest_batch(enrolments_copy).expect("enrolments");
    let wires: Vec<Vec<u8>> = batches.into_iter().flatten().collect();
    let (mut verify, mut ingest) = (Duration::ZERO, Duration::ZERO);
    for fetch in wires.chunks(256) {
        let t = Instant::now();
        let decoded: Vec<SignedEvent> = carnet_node::decode::decode_all(fetch, &net)
            .into_iter()
            .map(|r| r.expect("valid"))
            .collect();
        verify += t.elapsed();
        let t = Instant::now();
        let (accepted, rejected) = second.ingest_fetched_batch(decoded).expect("stored");
        assert!(rejected.is_empty() && accepted.len() == fetch.len());
        ingest += t.elapsed();
    }
    // The durable commit the loop's settle makes once a second.
    let t = Instant::now();
    second.settle_store();
    ingest += t.elapsed();
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n;
    println!(
        "catch-up, the engine alone, {n} events in fetches of 256: decode + batch verification \
         {:.1} µs an event (on {cores} cores), ordering + storing (a commit a fetch, one durable) \
         {:.1} µs an event; one after the other {:.0} events/s, the slower alone {:.0} events/s",
        us(verify),
        us(ingest),
        n / (verify + ingest).as_secs_f64(),
        n / verify.max(ingest).as_secs_f64(),
    );
}
