//! Replays a large event log through full validation and the ledger, and prints the
//! rate next to raw Ed25519 verification measured in the same run.
//!
//! `cargo bench -p carnet-protocol --bench replay` (1,000,000 events; set
//! CARNET_BENCH_EVENTS to change). Replay is what a node does with its own store at
//! start-up: canonical decode + network/structure checks + batch signature check
//! (`batch_check_stored`) + ordering + rules + final state root. Network ingest
//! verifies strictly, one by one; its rate is the single-signature figure.

use carnet_protocol::author::Author;
use carnet_protocol::event::batch_check_stored;
use carnet_protocol::ledger::{Ledger, Snapshot};
use carnet_protocol::payload::*;
use carnet_protocol::workload::{bench_events, generate, idle_member};
use carnet_protocol::{Payload, SignedEvent};
use std::time::Instant;

const BATCH: usize = 256;

fn main() {
    let n = bench_events();
    let t = Instant::now();
    let (genesis, log) = generate(n);
    let net = genesis.network_id();
    let wire: Vec<Vec<u8>> = log.iter().map(|e| e.as_bytes().to_vec()).collect();
    let bytes: usize = wire.iter().map(Vec::len).sum();
    println!(
        "generated {} events ({} MiB) in {:.1}s",
        n,
        bytes >> 20,
        t.elapsed().as_secs_f64()
    );
    drop(log);

    // Raw verification over a sample of the same events.
    let sample: Vec<SignedEvent> = wire
        .iter()
        .take(100_000)
        .map(|b| SignedEvent::decode_unverified(b, &net).expect("decode"))
        .collect();
    let t = Instant::now();
    for e in &sample {
        e.verify_signature().expect("valid");
    }
    let single = sample.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in sample.chunks(BATCH) {
        batch_check_stored(chunk).expect("valid");
    }
    let batch = sample.len() as f64 / t.elapsed().as_secs_f64();
    drop(sample);

    // Full validated replay.
    let t = Instant::now();
    let mut ledger = Ledger::new(genesis);
    let mut pending = Vec::with_capacity(BATCH);
    let (mut t_decode, mut t_verify, mut t_insert) = (0.0, 0.0, 0.0);
    for chunk in wire.chunks(BATCH) {
        let t0 = Instant::now();
        pending.extend(
            chunk
                .iter()
                .map(|b| SignedEvent::decode_unverified(b, &net).expect("decode")),
        );
        let t1 = Instant::now();
        batch_check_stored(&pending).expect("valid batch");
        let t2 = Instant::now();
        for e in pending.drain(..) {
            ledger.insert(e).expect("insert");
        }
        t_decode += (t1 - t0).as_secs_f64();
        t_verify += (t2 - t1).as_secs_f64();
        t_insert += t2.elapsed().as_secs_f64();
    }
    let t0 = Instant::now();
    ledger.state();
    let t_apply = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let root = ledger.state_root();
    let t_root = t0.elapsed().as_secs_f64();
    println!(
        "phases: decode {t_decode:.2}s, batch verify {t_verify:.2}s, order {t_insert:.2}s, apply {t_apply:.2}s, state root {t_root:.2}s"
    );
    let secs = t.elapsed().as_secs_f64();
    let replay = n as f64 / secs;
    let applied = n - ledger.state().voids.len();
    println!("replayed {n} events in {secs:.2}s, {applied} applied, root {root}");
    println!("single-signature verification: {single:>10.0} sig/s");
    println!("batch verification ({BATCH}):       {batch:>10.0} sig/s");
    println!("validated replay:              {replay:>10.0} events/s");
    println!(
        "replay / batch = {:.0}%   replay / single = {:.0}%",
        100.0 * replay / batch,
        100.0 * replay / single
    );

    // A checkpoint claim a stride (1000 ticks) behind the tip, as an org node signs
    // one: the prefix its heads reach beyond the finalized one, folded from there.
    let bound = ledger.max_lamport().saturating_sub(1000);
    let t0 = Instant::now();
    let claim = ledger.claim_at(bound);
    let t_claim = t0.elapsed().as_secs_f64();
    println!(
        "checkpoint claim 1000 ticks behind the tip ({} finalized epochs): {t_claim:.3}s, {} events",
        ledger.finals().len(),
        claim.map_or(0, |c| c.event_count)
    );

    // What a node saves instead of replaying, and what reading it back costs.
    let t0 = Instant::now();
    let snap = ledger.snapshot().expect("events are ordered");
    let t_take = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let bytes = snap.encode().expect("encode");
    let t_encode = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let back = Snapshot::decode(&bytes, &net).expect("decode");
    let t_decode_snap = t0.elapsed().as_secs_f64();
    assert_eq!(back.state().root(), root);
    println!(
        "snapshot of {n} events: {} MiB; take {t_take:.2}s, encode {t_encode:.2}s, decode {t_decode_snap:.2}s",
        bytes.len() >> 20
    );

    // A late event against one at the tip: a member that was enrolled at the start
    // and never signed writes its first event with the clock of its Enroll, so it
    // sorts before nearly every event. Until settlement is final (issue 11), the
    // ledger re-applies everything after it.
    let vote = |d: &str| {
        Payload::Vote(Vote {
            company_domain: d.into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        })
    };
    let intro = |ledger: &Ledger, i: usize| {
        let key = idle_member(i).public();
        let enroll = ledger
            .events()
            .find(|e| matches!(e.payload(), Payload::Enroll(x) if x.member == key))
            .expect("idle members are enrolled");
        (enroll.id(), enroll.lamport())
    };
    let (tip_intro, _) = intro(&ledger, 0);
    let tip = Author::new(idle_member(0), net)
        .introduced_by(Some(tip_intro))
        .sign(
            vote("tip.example"),
            vec![],
            ledger.max_lamport(),
            1_800_000_000_000,
        )
        .expect("sign");
    let t0 = Instant::now();
    ledger.insert(tip).expect("insert");
    ledger.state();
    let t_tip = t0.elapsed().as_secs_f64();
    let (late_intro, late_clock) = intro(&ledger, 1);
    let late = Author::new(idle_member(1), net)
        .introduced_by(Some(late_intro))
        .sign(vote("late.example"), vec![], late_clock, 1_800_000_000_000)
        .expect("sign");
    let t0 = Instant::now();
    ledger.insert(late).expect("insert");
    ledger.state();
    let t_late = t0.elapsed().as_secs_f64();
    println!(
        "one event at the tip: {:.2} ms; one late event (clock {late_clock} of {}): {:.0} ms, {:.0}x",
        t_tip * 1e3,
        ledger.max_lamport(),
        t_late * 1e3,
        t_late / t_tip
    );
}
