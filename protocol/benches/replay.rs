//! Replays a large event log through full validation and the ledger, and prints the
//! rate next to raw Ed25519 verification measured in the same run.
//!
//! `cargo bench -p carnet-protocol --bench replay` (1,000,000 events; set
//! CARNET_BENCH_EVENTS to change). Replay is what a node does with its own store at
//! start-up: canonical decode + network/structure checks + batch signature check
//! (`batch_check_stored`) + ordering + rules + final state root. Network ingest
//! verifies strictly, one by one; its rate is the single-signature figure.

use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, Card};
use carnet_protocol::event::batch_check_stored;
use carnet_protocol::genesis::{Genesis, OrgEntry, Rules};
use carnet_protocol::hash::{ContentId, Hash32};
use carnet_protocol::ledger::Ledger;
use carnet_protocol::payload::*;
use carnet_protocol::{SecretKey, SignedEvent};
use std::time::Instant;

const ORGS: usize = 4;
const MEMBERS: usize = 2000;
const BATCH: usize = 256;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

fn seed(tag: u8, i: usize) -> [u8; 32] {
    *Hash32::derive("carnet bench seed", &[&[tag], &(i as u64).to_le_bytes()]).as_bytes()
}

fn card(n: usize) -> Card {
    Card {
        teaser: Teaser {
            name: format!("Person {n}"),
            title: "Head of Procurement".into(),
            company: format!("Company {}", n % 5000),
            company_domain: format!("company{}.example", n % 5000),
            city: "Lyon".into(),
            availability: Availability {
                email: true,
                postal: false,
                phone: false,
            },
        },
        email: Opening {
            value: format!("p{n}@company{}.example", n % 5000),
            salt: seed(3, n),
        },
        phone: None,
        postal_address: None,
    }
}

fn generate(n: usize) -> (Genesis, Vec<SignedEvent>) {
    let org_keys: Vec<SecretKey> = (0..ORGS)
        .map(|i| SecretKey::from_seed(seed(1, i)))
        .collect();
    let genesis = Genesis::new(
        "bench",
        org_keys
            .iter()
            .enumerate()
            .map(|(i, k)| OrgEntry {
                key: k.public(),
                name: format!("Org {i}"),
            })
            .collect(),
        Rules::default(),
        0,
    )
    .expect("genesis");
    let net = genesis.network_id();
    let mut orgs: Vec<Author> = org_keys.into_iter().map(|k| Author::new(k, net)).collect();
    let mut members: Vec<Author> = (0..MEMBERS)
        .map(|i| Author::new(SecretKey::from_seed(seed(2, i)), net))
        .collect();
    let mut log = Vec::with_capacity(n);
    let mut clock = 0u64;
    let mut now = 1_700_000_000_000u64;
    let push = |ev: SignedEvent, log: &mut Vec<SignedEvent>, clock: &mut u64| {
        *clock = (*clock).max(ev.lamport());
        log.push(ev);
    };
    for (i, m) in members.iter().enumerate() {
        let member = m.public();
        let ev = orgs[i % ORGS]
            .sign(
                Payload::Enroll(Enroll {
                    member,
                    handle: format!("m{i}"),
                }),
                vec![],
                clock,
                now,
            )
            .expect("sign");
        push(ev, &mut log, &mut clock);
        let ev = orgs[i % ORGS]
            .sign(
                Payload::Grant(Grant {
                    member,
                    points: 100_000,
                    memo: String::new(),
                }),
                vec![],
                clock,
                now,
            )
            .expect("sign");
        push(ev, &mut log, &mut clock);
    }
    let mut rng = Lcg(7);
    let mut listings: Vec<(ContentId, usize)> = Vec::new();
    let mut undelivered: std::collections::VecDeque<(ContentId, usize)> = Default::default();
    let mut cards = 0usize;
    while log.len() < n {
        now += 500;
        let m = rng.next(MEMBERS);
        let ev = match rng.next(10) {
            0..=3 => {
                cards += 1;
                let listing = card(cards).listing(&net).expect("listing");
                let ev = members[m]
                    .sign(
                        Payload::Contribute(Contribute { listing }),
                        vec![],
                        clock,
                        now,
                    )
                    .expect("sign");
                listings.push((ev.id(), m));
                ev
            }
            4 | 5 if !listings.is_empty() => {
                let (listing_id, seller) = listings[rng.next(listings.len())];
                // A buyer from another org than the seller's.
                let buyer =
                    (seller + 1 + rng.next(ORGS - 1)) % ORGS + ORGS * rng.next(MEMBERS / ORGS);
                let p = Purchase {
                    listing_id,
                    recipient: recipient_public(seed(5, buyer)),
                    max_price: 10,
                };
                let ev = members[buyer]
                    .sign(Payload::Purchase(p), vec![], clock, now)
                    .expect("sign");
                undelivered.push_back((ev.id(), seller % ORGS));
                ev
            }
            6 | 7 if !undelivered.is_empty() => {
                let (purchase_id, org) = undelivered.pop_front().expect("non-empty");
                let d = Deliver {
                    purchase_id,
                    ephemeral: seed(6, log.len()),
                    sealed_card: vec![0xAB; 300],
                };
                orgs[org]
                    .sign(Payload::Deliver(d), vec![], clock, now)
                    .expect("sign")
            }
            8 => {
                let v = Vote {
                    company_domain: format!("company{}.example", rng.next(5000)),
                    employees: EmployeeRange::From51To200,
                    revenue: RevenueRange::From1MTo10M,
                };
                members[m]
                    .sign(Payload::Vote(v), vec![], clock, now)
                    .expect("sign")
            }
            _ => {
                let to = members[rng.next(MEMBERS)].public();
                if to == members[m].public() {
                    continue;
                }
                members[m]
                    .sign(
                        Payload::Transfer(Transfer { to, points: 1 }),
                        vec![],
                        clock,
                        now,
                    )
                    .expect("sign")
            }
        };
        push(ev, &mut log, &mut clock);
    }
    (genesis, log)
}

fn main() {
    let n: usize = std::env::var("CARNET_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
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
}
