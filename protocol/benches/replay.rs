//! Replays a large event log through full validation and the ledger, and prints the
//! rate next to raw Ed25519 verification measured in the same run.
//!
//! `cargo bench -p carnet-protocol --bench replay` (1,000,000 events; set
//! CARNET_BENCH_EVENTS to change). Replay is what a node does with its own store at
//! start-up: canonical decode + network/structure checks + batch signature check
//! (`verify_batch`) + ordering + rules + final state root.

use carnet_protocol::author::Author;
use carnet_protocol::event::verify_batch;
use carnet_protocol::ledger::{Ledger, Snapshot};
use carnet_protocol::payload::*;
use carnet_protocol::testkit::workload::{
    bench_events, generate, idle_member, org_key, WORKLOAD_ORGS,
};
use carnet_protocol::{Payload, SignedEvent};
use std::time::Instant;

const BATCH: usize = 256;

/// Org `org` seals `deps`: the Seal that brings member events into the next claim.
fn seal(org: &mut Author, ledger: &mut Ledger, deps: Vec<carnet_protocol::ContentId>) {
    let seal = org
        .sign(
            Payload::Seal(Seal {}),
            deps,
            ledger.max_lamport(),
            1_800_000_000_000,
        )
        .expect("sign");
    ledger.insert(seal).expect("insert");
}

/// Every org signs the claim at the tip, which finalizes it; returns the claim.
fn finalize_tip(orgs: &mut [Author], ledger: &mut Ledger) -> Checkpoint {
    let claim = ledger.claim_at(ledger.max_lamport()).expect("a claim");
    for o in orgs.iter_mut() {
        let cp = o
            .sign(
                Payload::Checkpoint(claim.clone()),
                vec![],
                ledger.max_lamport(),
                1_800_000_000_000,
            )
            .expect("sign");
        ledger.insert(cp).expect("insert");
    }
    ledger.state();
    claim
}

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
        verify_batch(chunk).expect("valid");
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
        verify_batch(&pending).expect("valid batch");
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
    let t0 = Instant::now();
    assert_eq!(back.state().root_once(), root);
    let t_whole_root = t0.elapsed().as_secs_f64();
    println!(
        "state root built whole (a state just decoded, {} leaves): {t_whole_root:.2}s",
        back.state().leaves().len()
    );
    println!(
        "snapshot of {n} events: {} MiB; take {t_take:.2}s, encode {t_encode:.2}s, decode {t_decode_snap:.2}s",
        bytes.len() >> 20
    );

    // Settlement as the orgs do it: org 0 seals every member event, then all four
    // orgs sign the claim at the tip, which finalizes the whole log.
    let t0 = Instant::now();
    let mut orgs: Vec<Author> = (0..WORKLOAD_ORGS)
        .map(|i| {
            let key = org_key(i);
            let head = ledger.chain_head(&key.public()).map(|(seq, id)| {
                let e = ledger.get(&id).expect("head");
                carnet_protocol::author::AuthorHead {
                    seq,
                    id,
                    lamport: e.lamport(),
                    timestamp_ms: e.body().timestamp_ms,
                }
            });
            Author::resume(key, net, head)
        })
        .collect();
    let mut latest = std::collections::BTreeMap::new();
    for e in ledger.unsealed() {
        latest.insert(e.author(), e.id());
    }
    let tips: Vec<_> = latest.into_values().collect();
    for chunk in tips.chunks(31) {
        seal(&mut orgs[0], &mut ledger, chunk.to_vec());
    }
    let claim = finalize_tip(&mut orgs, &mut ledger);
    let t_final = t0.elapsed().as_secs_f64();
    assert_eq!(ledger.finals().len(), 1, "the claim is final");
    println!(
        "sealing and finalizing {} events: {t_final:.2}s ({} seals)",
        claim.event_count,
        tips.len().div_ceil(31)
    );

    // A late event against one at the tip: a member that was enrolled at the start
    // and never signed writes its first event with the clock of its Enroll, far below
    // the finalized bound. It is ordered after every timely event, so applying it
    // costs about what an event at the tip costs.
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
    // Medians of single events, each timed from insert to an up-to-date state: 25 at
    // the tip (idle member 0's chain), 25 late (idle member 1's chain, kept at the
    // clock of its Enroll).
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (tip_intro, _) = intro(&ledger, 0);
    let mut tipper = Author::new(idle_member(0), net).introduced_by(Some(tip_intro));
    let mut tips = Vec::new();
    for k in 0..25 {
        let ev = tipper
            .sign(
                vote(&format!("tip{k}.example")),
                vec![],
                ledger.max_lamport(),
                1_800_000_000_000,
            )
            .expect("sign");
        let t0 = Instant::now();
        ledger.insert(ev).expect("insert");
        ledger.state();
        tips.push(t0.elapsed().as_secs_f64());
    }
    // The state root and a checkpoint claim after one new event (and org 0's seal of
    // it), as a status call and an org's next tick ask them: the claim folds the
    // events since the last finalized one, and both rehash a few paths of the state
    // tree, not the state. First the orgs finalize what came since their last claim
    // (their own Checkpoints, which move the network time and vest every pending
    // reward, and the tip events), as they do on every tick, so that the claims below
    // fold the new events only.
    let (_, tip_head) = ledger
        .chain_head(&idle_member(0).public())
        .expect("the tip events are ordered");
    seal(&mut orgs[0], &mut ledger, vec![tip_head]);
    finalize_tip(&mut orgs, &mut ledger);
    assert_eq!(ledger.finals().len(), 2, "the tip claim is final");
    ledger.state_root();
    let (mut roots, mut claims) = (Vec::new(), Vec::new());
    for k in 0..25 {
        let ev = tipper
            .sign(
                vote(&format!("root{k}.example")),
                vec![],
                ledger.max_lamport(),
                1_800_000_000_000,
            )
            .expect("sign");
        // Sealed by org 0, so that the next claim reaches it.
        let id = ev.id();
        ledger.insert(ev).expect("insert");
        seal(&mut orgs[0], &mut ledger, vec![id]);
        ledger.state();
        let t0 = Instant::now();
        ledger.state_root();
        roots.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        ledger.claim_at(ledger.max_lamport()).expect("a claim");
        claims.push(t0.elapsed().as_secs_f64());
    }

    let (late_intro, late_clock) = intro(&ledger, 1);
    let mut latecomer = Author::new(idle_member(1), net).introduced_by(Some(late_intro));
    let mut lates = Vec::new();
    for k in 0..25 {
        let ev = latecomer
            .sign(
                vote(&format!("late{k}.example")),
                vec![],
                late_clock,
                1_800_000_000_000,
            )
            .expect("sign");
        let t0 = Instant::now();
        ledger.insert(ev).expect("insert");
        ledger.state();
        lates.push(t0.elapsed().as_secs_f64());
    }
    let (t_tip, t_late) = (median(tips), median(lates));
    println!(
        "one event at the tip: {:.3} ms; one late event (clock {late_clock} of {}, below the finalized bound): {:.3} ms, {:.1}x",
        t_tip * 1e3,
        ledger.max_lamport(),
        t_late * 1e3,
        t_late / t_tip
    );
    let (t_root1, t_claim1) = (median(roots), median(claims));
    println!(
        "state root after one new event and its seal: {:.3} ms ({:.0}x faster than built whole); checkpoint claim at the tip then: {:.3} ms",
        t_root1 * 1e3,
        t_whole_root / t_root1,
        t_claim1 * 1e3
    );
}
