//! A synthetic but realistic event log, for benchmarks: members of four orgs enrol,
//! receive grants, contribute cards, buy across orgs, get deliveries, vote and
//! transfer points, in the proportions of a busy network.

use super::{card, key, seed};
use crate::author::Author;
use crate::card::{recipient_public, NetworkSecret};
use crate::genesis::{Genesis, Rules};
use crate::hash::ContentId;
use crate::ledger::{Ledger, MemoryArchive};
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

/// A bench's setting: the environment variable `name` as a number, or `default`.
pub fn bench_env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// How many events a bench generates: `CARNET_BENCH_EVENTS`, or 1,000,000.
pub fn bench_events() -> usize {
    bench_env("CARNET_BENCH_EVENTS", 1_000_000)
}

/// The `k`th of the ingest benches' votes (the propagation bench's and the engine
/// alone's), each on a company of its own: both send the same events.
pub fn bench_vote(k: usize) -> Payload {
    Payload::Vote(Vote {
        company_domain: format!("c{k}.example"),
        employees: EmployeeRange::From11To50,
        revenue: RevenueRange::Under1M,
    })
}

/// A valid log of `n` events in signing order, and its genesis. Deterministic.
pub fn generate(n: usize) -> (Genesis, Vec<SignedEvent>) {
    let (genesis, mut w) = Workload::new();
    let mut log = w.setup();
    log.reserve(n.saturating_sub(log.len()));
    while log.len() < n {
        if let Some(ev) = w.next_event() {
            log.push(ev);
        }
    }
    (genesis, log)
}

/// The workload with settlement as org nodes do it: after every `epoch` events, org 0
/// seals every member chain's tip and all four orgs sign the claim at the tip, which
/// finalizes it. About `n` events in all (seals and checkpoints counted), handed to
/// `sink` an epoch at a time, so a log too big for memory can go straight to a store.
/// Deterministic. Returns the genesis and the number of events.
pub fn generate_settled(
    n: usize,
    epoch: usize,
    mut sink: impl FnMut(&[SignedEvent]),
) -> (Genesis, usize) {
    let (genesis, mut w) = Workload::new();
    let mut ledger = Ledger::new(genesis.clone());
    // The events leave the generator's memory once final, as in a node; their bytes
    // go to `sink`, and only the records the ordering checks read stay here.
    let index = std::sync::Arc::new(MemoryArchive::default());
    ledger.set_archive(index.clone());
    let mut batch = w.setup();
    let mut total = 0;
    while total < n {
        while batch.len() < epoch.max(1) && total + batch.len() < n {
            if let Some(ev) = w.next_event() {
                batch.push(ev);
            }
        }
        for ev in &batch {
            ledger.insert(ev.clone()).expect("a valid workload event");
        }
        let settled = w.settle(&mut ledger);
        batch.extend(settled);
        let released = ledger.releasable();
        index.put_released(&released);
        ledger.release(&released);
        total += batch.len();
        sink(&batch);
        batch.clear();
    }
    (genesis, total)
}

/// The signers of the workload and what they have done so far.
pub struct Workload {
    orgs: Vec<Author>,
    members: Vec<Author>,
    rng: Lcg,
    listings: Vec<(ContentId, usize)>,
    undelivered: std::collections::VecDeque<(ContentId, usize)>,
    cards: usize,
    /// Events signed so far.
    count: usize,
    clock: u64,
    now: u64,
}

impl Workload {
    /// The genesis and its signers, before any event.
    pub fn new() -> (Genesis, Workload) {
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
        let w = Workload {
            orgs: org_keys.into_iter().map(|k| Author::new(k, net)).collect(),
            members: (0..MEMBERS)
                .map(|i| Author::new(key("member", i), net))
                .collect(),
            rng: Lcg(7),
            listings: Vec::new(),
            undelivered: Default::default(),
            cards: 0,
            count: 0,
            clock: 0,
            now: super::T0,
        };
        (genesis, w)
    }

    fn signed(&mut self, ev: SignedEvent) -> SignedEvent {
        self.clock = self.clock.max(ev.lamport());
        self.count += 1;
        ev
    }

    fn org_sign(&mut self, org: usize, payload: Payload, deps: Vec<ContentId>) -> SignedEvent {
        let ev = self.orgs[org]
            .sign(payload, deps, self.clock, self.now)
            .expect("sign");
        self.signed(ev)
    }

    /// Every member enrolled and granted its points, and the idle members enrolled.
    pub fn setup(&mut self) -> Vec<SignedEvent> {
        let mut out = Vec::new();
        for i in 0..MEMBERS {
            let member = self.members[i].public();
            let enroll = Payload::Enroll(Enroll {
                member,
                handle: format!("m{i}"),
            });
            let ev = self.org_sign(i % ORGS, enroll, vec![]);
            self.members[i] = self.members[i].clone().introduced_by(Some(ev.id()));
            out.push(ev);
            let grant = Payload::Grant(Grant {
                member,
                points: 100_000,
                memo: String::new(),
            });
            out.push(self.org_sign(i % ORGS, grant, vec![]));
        }
        for i in 0..IDLE_MEMBERS {
            let enroll = Payload::Enroll(Enroll {
                member: idle_member(i).public(),
                handle: format!("idle{i}"),
            });
            out.push(self.org_sign(0, enroll, vec![]));
        }
        out
    }

    /// The next event of a busy network: a contribution, a purchase, a delivery, a
    /// vote or a transfer. None when the draw gave nothing to sign (a transfer to
    /// oneself); draw again.
    pub fn next_event(&mut self) -> Option<SignedEvent> {
        self.now += 500;
        let (clock, now) = (self.clock, self.now);
        let m = self.rng.next(MEMBERS);
        let ev = match self.rng.next(10) {
            0..=3 => {
                self.cards += 1;
                let listing = card(self.cards).listing(&WORKLOAD_SECRET).expect("listing");
                let ev = self.members[m]
                    .sign(
                        Payload::Contribute(Contribute { listing }),
                        vec![],
                        clock,
                        now,
                    )
                    .expect("sign");
                self.listings.push((ev.id(), m));
                ev
            }
            4 | 5 if !self.listings.is_empty() => {
                let (listing_id, seller) = self.listings[self.rng.next(self.listings.len())];
                // A buyer from another org than the seller's.
                let buyer = (seller + 1 + self.rng.next(ORGS - 1)) % ORGS
                    + ORGS * self.rng.next(MEMBERS / ORGS);
                let p = Purchase {
                    listing_id,
                    recipient: recipient_public(seed("recipient", buyer)),
                    max_price: 10,
                };
                let ev = self.members[buyer]
                    .sign(Payload::Purchase(p), vec![], clock, now)
                    .expect("sign");
                self.undelivered.push_back((ev.id(), seller % ORGS));
                ev
            }
            6 | 7 if !self.undelivered.is_empty() => {
                let (purchase_id, org) = self.undelivered.pop_front().expect("non-empty");
                let d = Deliver {
                    purchase_id,
                    ephemeral: seed("ephemeral", self.count),
                    sealed_card: vec![0xAB; 300],
                };
                self.orgs[org]
                    .sign(Payload::Deliver(d), vec![], clock, now)
                    .expect("sign")
            }
            8 => {
                let v = Vote {
                    company_domain: format!("company{}.example", self.rng.next(5000)),
                    employees: EmployeeRange::From51To200,
                    revenue: RevenueRange::From1MTo10M,
                };
                self.members[m]
                    .sign(Payload::Vote(v), vec![], clock, now)
                    .expect("sign")
            }
            _ => {
                let to = self.members[self.rng.next(MEMBERS)].public();
                if to == self.members[m].public() {
                    return None;
                }
                self.members[m]
                    .sign(
                        Payload::Transfer(Transfer { to, points: 1 }),
                        vec![],
                        clock,
                        now,
                    )
                    .expect("sign")
            }
        };
        Some(self.signed(ev))
    }

    /// Settlement at the tip of `ledger` (which holds every event signed so far): org
    /// 0 seals the tip of every chain no org event reaches yet, then all four orgs
    /// sign the claim at the tip, which finalizes it. The events, inserted into
    /// `ledger` too; none if there is nothing to claim.
    pub fn settle(&mut self, ledger: &mut Ledger) -> Vec<SignedEvent> {
        let mut out = Vec::new();
        let mut tips = std::collections::BTreeMap::new();
        for e in ledger.unsealed() {
            tips.insert(e.author(), e.id());
        }
        let tips: Vec<ContentId> = tips.into_values().collect();
        for deps in tips.chunks(crate::limits::MAX_DEPS - 1) {
            let seal = self.org_sign(0, Payload::Seal(Seal {}), deps.to_vec());
            ledger.insert(seal.clone()).expect("a valid seal");
            out.push(seal);
        }
        let Some(claim) = ledger.claim_at(ledger.max_lamport()) else {
            return out;
        };
        for o in 0..ORGS {
            let cp = self.org_sign(o, Payload::Checkpoint(claim.clone()), vec![]);
            ledger.insert(cp.clone()).expect("a valid checkpoint");
            out.push(cp);
        }
        out
    }
}
