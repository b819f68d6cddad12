//! A synthetic but realistic event log, for benchmarks: members of four orgs enrol,
//! receive grants, contribute cards, buy across orgs, get deliveries, vote and
//! transfer points, in the proportions of a busy network.

use super::{card, key, seed};
use crate::author::Author;
use crate::card::{recipient_public, NetworkSecret};
use crate::genesis::{Genesis, Rules};
use crate::hash::ContentId;
use crate::payload::*;
use crate::{SecretKey, SignedEvent};

const ORGS: usize = 4;
/// The network secret behind the workload's dedup keys.
pub const WORKLOAD_SECRET: NetworkSecret = NetworkSecret([0x57; 32]);
const MEMBERS: usize = 2000;
/// Members enrolled at the start who never sign: what a bench needs to write a late
/// event (a first event with a clock just above its Enroll, below nearly everything).
pub const IDLE_MEMBERS: usize = 4;

/// The key of idle member `i` (below [`IDLE_MEMBERS`]), enrolled by org 0 at the
/// start of every generated log.
pub fn idle_member(i: usize) -> SecretKey {
    key("idle member", i)
}

/// The key of org `i` (below 4) of every generated log.
pub fn org_key(i: usize) -> SecretKey {
    super::org_key(i)
}

/// The number of orgs of every generated log.
pub const WORKLOAD_ORGS: usize = ORGS;

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

/// How many events a bench generates: `CARNET_BENCH_EVENTS`, or 1,000,000.
pub fn bench_events() -> usize {
    std::env::var("CARNET_BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// A valid log of `n` events in signing order, and its genesis. Deterministic.
pub fn generate(n: usize) -> (Genesis, Vec<SignedEvent>) {
    let org_keys: Vec<SecretKey> = (0..ORGS).map(org_key).collect();
    // Members here buy for the whole run on one grant: the bench network sells a
    // subscription big enough for it (the default cap, 125 points, would void it).
    // Created when the log starts, so network time and grants begin there.
    let rules = Rules {
        subscription_dollars: 20_000,
        ..Rules::default()
    };
    let genesis = super::genesis("bench", &org_keys, rules, super::T0);
    let net = genesis.network_id();
    let mut orgs: Vec<Author> = org_keys.into_iter().map(|k| Author::new(k, net)).collect();
    let mut members: Vec<Author> = (0..MEMBERS)
        .map(|i| Author::new(key("member", i), net))
        .collect();
    let mut log = Vec::with_capacity(n);
    let mut clock = 0u64;
    let mut now = super::T0;
    let push = |ev: SignedEvent, log: &mut Vec<SignedEvent>, clock: &mut u64| {
        *clock = (*clock).max(ev.lamport());
        log.push(ev);
    };
    for (i, m) in members.iter_mut().enumerate() {
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
        *m = m.clone().introduced_by(Some(ev.id()));
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
    for i in 0..IDLE_MEMBERS {
        let ev = orgs[0]
            .sign(
                Payload::Enroll(Enroll {
                    member: idle_member(i).public(),
                    handle: format!("idle{i}"),
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
                let listing = card(cards).listing(&WORKLOAD_SECRET).expect("listing");
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
                    recipient: recipient_public(seed("recipient", buyer)),
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
                    ephemeral: seed("ephemeral", log.len()),
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
