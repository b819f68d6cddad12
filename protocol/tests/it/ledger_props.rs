//! Determinism: the same events in any arrival order give the same state, byte for byte.
//!
//! A random script of actions drives a simulated network to a valid event log; then
//! simulated nodes receive that log shuffled, with duplicates, and with events withheld
//! and released later, looking at their state in between. Every node must end with the
//! state root of the in-order ledger.

use crate::world;

use carnet_protocol::ledger::{
    merkle_root, Inserted, Ledger, Movement, Snapshot, SnapshotError, TAIL,
};
use carnet_protocol::payload::*;
use carnet_protocol::PublicKey;
use proptest::prelude::*;
use world::{Store, World, DAY};

#[derive(Debug, Clone)]
enum Action {
    Enroll(u8),
    Grant(u8, u8),
    Contribute(u8, u8, bool),
    Buy(u8, u8),
    Deliver(u8),
    /// A bounce report; `.2` picks a voucher of another org than the reporter's.
    Bounce(u8, bool, bool),
    /// Org `.0` says it holds card `.1`.
    Hold(u8, u8),
    /// Org `.0` disputes bounce report `.1`.
    Dispute(u8, u8),
    /// Member `.0` buys card `.1`, it is delivered, and the member forks with a twin
    /// of the purchase whose clock is lower (it sorts first).
    ForkAfterDelivery(u8, u8),
    Mobile(u8),
    Vote(u8, u8),
    Transfer(u8, u8, u8),
    Checkpoint(u8),
    AdvanceDays(u8),
    Equivocate(u8),
    OptOut(u8, u8),
    Referral(u8, u8),
    Admit(u8, u8),
    Stranger(u8),
    Sybil(u8, u8),
    Evict(u8, u8),
    Rotate(u8, u8),
    /// A fresh member of org `.0` keeps its chain at the clock of its Enroll; its
    /// events reach the network only at the end of the script.
    LowClock(u8),
    /// A member forks its chain; the twin, with the clock of the fork point, reaches
    /// the network only at the end of the script, below later checkpoints.
    LateFork(u8),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => any::<u8>().prop_map(Action::Enroll),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Grant(a, b)),
        4 => (any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(a, b, c)| Action::Contribute(a, b, c)),
        6 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Buy(a, b)),
        4 => any::<u8>().prop_map(Action::Deliver),
        2 => (any::<u8>(), any::<bool>(), prop::bool::weighted(0.2)).prop_map(|(a, b, c)| Action::Bounce(a, b, c)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Hold(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Dispute(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::ForkAfterDelivery(a, b)),
        2 => any::<u8>().prop_map(Action::Mobile),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Vote(a, b)),
        1 => (any::<u8>(), any::<u8>(), any::<u8>()).prop_map(|(a, b, c)| Action::Transfer(a, b, c)),
        1 => any::<u8>().prop_map(Action::Checkpoint),
        1 => (0u8..40).prop_map(Action::AdvanceDays),
        1 => any::<u8>().prop_map(Action::Equivocate),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::OptOut(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Referral(a, b)),
        1 => (any::<u8>(), 0u8..2).prop_map(|(a, b)| Action::Admit(a, b)),
        1 => any::<u8>().prop_map(Action::Stranger),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Sybil(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Evict(a, b)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Action::Rotate(a, b)),
        1 => any::<u8>().prop_map(Action::LowClock),
        1 => any::<u8>().prop_map(Action::LateFork),
    ]
}

const PHONES: [&str; 3] = ["+447400123456", "+442079460000", "+33612345678"];

/// Runs the script; every action that cannot apply (no members yet, ...) is skipped.
/// Purchases and reports may still be void by the rules: that is part of the test.
fn build(script: &[Action]) -> World {
    // Pay-or-play at 2 contributions, so scripts buy often without needing 25 cards.
    let rules = carnet_protocol::genesis::Rules {
        play_min_contributions: 2,
        ..Default::default()
    };
    let mut w = World::with_rules(3, rules);
    let mut purchases = Vec::new();
    let mut delivered = Vec::new();
    let mut deferred = Vec::new();
    let mut reports = Vec::new();
    for a in script {
        let members = w.members.len();
        let pick = |x: u8, n: usize| (x as usize) % n;
        match *a {
            Action::Enroll(o) => {
                let m = w.enroll(pick(o, 3));
                w.grant(m, 30);
            }
            // Up to 256 points: grants above the cap (125 a period) are void.
            Action::Grant(m, p) if members > 0 => {
                w.grant(pick(m, members), 1 + p as u64);
            }
            Action::Contribute(m, n, phone) if members > 0 => {
                let phone = phone.then(|| PHONES[n as usize % 3]);
                // Card numbers collide on purpose, to exercise duplicates.
                w.contribute(pick(m, members), n as usize % 40, phone);
            }
            Action::Buy(m, l) if members > 0 && !w.cards.is_empty() => {
                let (listing, _, seller) = w.cards[pick(l, w.cards.len())].clone();
                // Mostly buyers from another org than the seller's, as the market intends.
                let seller_org = w.members[seller].1;
                let others: Vec<usize> = (0..members)
                    .filter(|&b| w.members[b].1 != seller_org)
                    .collect();
                let buyer = if others.is_empty() || m % 8 == 0 {
                    pick(m, members)
                } else {
                    others[pick(m, others.len())]
                };
                purchases.push(w.purchase(buyer, listing));
            }
            Action::Deliver(p) if !purchases.is_empty() => {
                let p = purchases[pick(p, purchases.len())].clone();
                w.deliver(&p);
                delivered.push(p);
            }
            Action::Bounce(p, permanent, foreign) if !delivered.is_empty() => {
                let p = delivered[pick(p, delivered.len())].clone();
                let buyer = w
                    .members
                    .iter()
                    .position(|(a, _)| a.public() == p.author())
                    .unwrap();
                let class = if permanent { 5 } else { 4 };
                let org = w.members[buyer].1;
                let voucher_org = if foreign { (org + 1) % 3 } else { org };
                reports.push(w.bounce_vouched_by(buyer, &p, class, voucher_org));
            }
            Action::ForkAfterDelivery(m, l) if members > 0 && !w.cards.is_empty() => {
                let m = pick(m, members);
                let (listing, _, _) = w.cards[pick(l, w.cards.len())].clone();
                let mut twin = w.members[m].0.clone();
                let low = w.members[m].0.head().map_or(w.clock, |h| h.lamport);
                w.clock += 3;
                let p = w.purchase(m, listing);
                w.deliver(&p);
                let fork = twin
                    .sign(
                        Payload::Vote(Vote {
                            company_domain: "fork-buy.example".into(),
                            employees: EmployeeRange::From1To10,
                            revenue: RevenueRange::Under1M,
                        }),
                        vec![],
                        low,
                        w.now,
                    )
                    .unwrap();
                w.log.push(fork);
            }
            Action::Hold(o, n) if !w.cards.is_empty() => {
                // Mostly the contributor's org, sometimes another (void).
                let (listing, _, contributor) = w.cards[pick(n, w.cards.len())].clone();
                let org = if o % 4 == 0 {
                    pick(o, 3)
                } else {
                    w.members[contributor].1
                };
                w.hold(org, &[listing]);
            }
            Action::Dispute(o, r) if !reports.is_empty() => {
                let report_id = reports[pick(r, reports.len())].id();
                w.org_event(
                    pick(o, 3),
                    Payload::Dispute(Dispute {
                        report_id,
                        finding: "delivered fine".into(),
                    }),
                    vec![],
                );
            }
            Action::Mobile(p) if !delivered.is_empty() => {
                let p = delivered[pick(p, delivered.len())].clone();
                let Payload::Purchase(pp) = p.payload() else {
                    unreachable!()
                };
                if w.card_of(pp.listing_id).phone.is_some() {
                    let buyer = w
                        .members
                        .iter()
                        .position(|(a, _)| a.public() == p.author())
                        .unwrap();
                    w.mobile(buyer, &p);
                }
            }
            Action::Vote(m, r) if members > 0 => {
                w.member_event(
                    pick(m, members),
                    Payload::Vote(Vote {
                        company_domain: format!("c{}.example", r % 3),
                        employees: if r % 2 == 0 {
                            EmployeeRange::From11To50
                        } else {
                            EmployeeRange::Over10000
                        },
                        revenue: RevenueRange::Under1M,
                    }),
                    vec![],
                );
            }
            Action::Transfer(a, b, p) if members > 1 => {
                let to = w.member_key(pick(b, members));
                w.member_event(
                    pick(a, members),
                    Payload::Transfer(Transfer {
                        to,
                        points: 1 + p as u64,
                    }),
                    vec![],
                );
            }
            Action::Checkpoint(o) => {
                // Two or three orgs sign: sometimes a quorum, sometimes not.
                let signers: Vec<usize> = if o % 2 == 0 {
                    vec![0, 1]
                } else {
                    vec![0, 1, 2]
                };
                w.checkpoint(&signers);
            }
            // Every org signs at the new time, so network time follows and due
            // rewards vest.
            Action::AdvanceDays(d) => w.advance(d as u64 * DAY),
            Action::Equivocate(m) if members > 0 && m % 4 == 0 => {
                // Two different events at one seq: the member forks its chain.
                let m = pick(m, members);
                let mut twin = w.members[m].0.clone();
                let vote = |d: &str| {
                    Payload::Vote(Vote {
                        company_domain: d.into(),
                        employees: EmployeeRange::From1To10,
                        revenue: RevenueRange::Under1M,
                    })
                };
                w.member_event(m, vote("fork-a.example"), vec![]);
                let b = twin
                    .sign(vote("fork-b.example"), vec![], w.clock, w.now)
                    .unwrap();
                w.clock = w.clock.max(b.lamport());
                w.log.push(b);
            }
            Action::OptOut(o, n) if !w.cards.is_empty() => {
                let card = w.cards[pick(n, w.cards.len())].1.clone();
                let dedup_key = card.listing(&w.secret).unwrap().dedup_key;
                w.org_event(pick(o, 3), Payload::OptOut(OptOut { dedup_key }), vec![]);
            }
            Action::Referral(a, b) if members > 1 => {
                let referrer = w.member_key(pick(b, members));
                w.member_event(
                    pick(a, members),
                    Payload::Referral(Referral { referrer }),
                    vec![],
                );
            }
            Action::Admit(o, k) => {
                let org = carnet_protocol::SecretKey::from_seed([100 + k; 32]).public();
                w.org_event(
                    pick(o, 3),
                    Payload::Admit(Admit {
                        org,
                        name: format!("Newco {k}"),
                    }),
                    vec![],
                );
            }
            Action::Stranger(k) => {
                w.stranger_vote(k);
            }
            Action::Sybil(m, k) if members > 0 => w.sybil(pick(m, members), k),
            Action::Rotate(o, t) => {
                // Votes to move an org to a fresh key (never used to sign): a quorum
                // moves the org, its account and its members.
                let org = w.org_key(pick(t, 3));
                let to = carnet_protocol::SecretKey::from_seed([200 + t % 4; 32]).public();
                w.org_event(pick(o, 3), Payload::Rotate(Rotate { org, to }), vec![]);
            }
            Action::Evict(o, t) => {
                // Votes of one org against another (some void: a repeat, a former org).
                let org = w.org_key(pick(t, 3));
                w.org_event(
                    pick(o, 3),
                    Payload::Evict(Evict {
                        org,
                        reason: String::new(),
                    }),
                    vec![],
                );
            }
            Action::LowClock(o) => {
                let m = w.enroll(pick(o, 3));
                let enrolled = w.log.last().map_or(0, |e| e.lamport());
                let mut author = w.members[m].0.clone();
                let vote = Payload::Vote(Vote {
                    company_domain: "low.example".into(),
                    employees: EmployeeRange::From1To10,
                    revenue: RevenueRange::Under1M,
                });
                let first = author.sign(vote, vec![], enrolled, w.now).unwrap();
                let second = author
                    .sign(
                        Payload::Vote(Vote {
                            company_domain: "low.example".into(),
                            employees: EmployeeRange::From11To50,
                            revenue: RevenueRange::Under1M,
                        }),
                        vec![],
                        first.lamport(),
                        w.now,
                    )
                    .unwrap();
                // The member's own signer stays unused: nothing else of it is signed.
                deferred.push(first);
                deferred.push(second);
            }
            Action::LateFork(m) if members > 0 => {
                let m = pick(m, members);
                let mut twin = w.members[m].0.clone();
                let clock = w.clock;
                w.member_event(
                    m,
                    Payload::Vote(Vote {
                        company_domain: "fork-a.example".into(),
                        employees: EmployeeRange::From1To10,
                        revenue: RevenueRange::Under1M,
                    }),
                    vec![],
                );
                let b = twin
                    .sign(
                        Payload::Vote(Vote {
                            company_domain: "fork-late.example".into(),
                            employees: EmployeeRange::From1To10,
                            revenue: RevenueRange::Under1M,
                        }),
                        vec![],
                        clock,
                        w.now,
                    )
                    .unwrap();
                deferred.push(b);
            }
            _ => {}
        }
    }
    w.log.extend(deferred);
    w
}

/// How one simulated node receives the log.
#[derive(Debug, Clone)]
struct Delivery {
    /// A permutation seed: the order events arrive in.
    order: Vec<u16>,
    /// Events sent twice.
    duplicates: Vec<u16>,
    /// Events withheld until the end.
    withheld: Vec<u16>,
    /// After how many inserts the node looks at its state (forcing re-application).
    peek_every: u8,
    /// Instead of looking, the node folds its tail ahead after every insert, as a
    /// node's engine does after every batch (`Ledger::fold_ahead`): most of the tail
    /// folded, in steps, with late arrivals landing behind what was folded.
    fold_ahead: bool,
    /// Events this node receives with their teaser erased (a peer served them after
    /// an opt-out): the same events, so the same state.
    erased: Vec<u16>,
}

fn delivery() -> impl Strategy<Value = Delivery> {
    (
        prop::collection::vec(any::<u16>(), 0..400),
        prop::collection::vec(any::<u16>(), 0..20),
        prop::collection::vec(any::<u16>(), 0..20),
        1u8..16,
        any::<bool>(),
        prop::collection::vec(any::<u16>(), 0..40),
    )
        .prop_map(
            |(order, duplicates, withheld, peek_every, fold_ahead, erased)| Delivery {
                order,
                duplicates,
                withheld,
                peek_every,
                fold_ahead,
                erased,
            },
        )
}

/// The indices into the log, in the order one node receives them.
fn arrivals(w: &World, d: &Delivery) -> Vec<usize> {
    let n = w.log.len();
    let mut idx: Vec<usize> = (0..n).collect();
    // Fisher-Yates driven by the seed values.
    for (i, s) in d.order.iter().enumerate().take(n) {
        let j = i + (*s as usize) % (n - i);
        idx.swap(i, j);
    }
    let withheld: Vec<usize> = d.withheld.iter().map(|&x| x as usize % n).collect();
    let mut sends: Vec<usize> = idx.into_iter().filter(|i| !withheld.contains(i)).collect();
    for (k, &dup) in d.duplicates.iter().enumerate() {
        let pos = (k * 7919) % (sends.len() + 1);
        sends.insert(pos, dup as usize % n);
    }
    sends.extend(withheld);
    sends
}

/// Inserts `sends` into `l`, looking at the state root every `peek_every` inserts
/// (or folding ahead after each, with `fold_ahead`),
/// with the strangers' events of `w.rejected` slipped in among them: each is rejected
/// (`no_role`) when it is complete, at once or when its dependency arrives, and never
/// ordered.
///
/// Finality holds throughout: what was finalized stays finalized, with the same
/// claims, in the same order, and the finalized state never changes but to grow by a
/// new epoch.
fn feed(l: &mut Ledger, w: &World, sends: &[usize], d: &Delivery, store: Option<&Store>) {
    let peek_every = d.peek_every;
    let n = w.log.len().max(1);
    let erased: std::collections::HashSet<usize> =
        d.erased.iter().map(|&x| x as usize % n).collect();
    let mut strangers = w.rejected.iter();
    let mut finals = l.finals().to_vec();
    let mut base = l.finalized_state().root_once();
    for (k, &i) in sends.iter().enumerate() {
        if k % 3 == 0 {
            if let Some(bad) = strangers.next() {
                insert_rejected(l, bad);
            }
        }
        let ev = match erased.contains(&i) {
            true => w.log[i].erased().unwrap_or_else(|| w.log[i].clone()),
            false => w.log[i].clone(),
        };
        let r = l.insert(ev).expect("valid events are never rejected");
        if let Some(store) = store {
            store.keep(l);
        }
        for (id, e) in &r.dropped {
            assert_eq!(e.code(), "no_role");
            assert!(w.rejected.iter().any(|x| x.id() == *id));
        }
        if d.fold_ahead {
            l.fold_ahead();
        } else if k % peek_every as usize == 0 {
            // The root too, which the ledger caches while the state is unchanged.
            let _ = l.state_root();
        }
        assert!(
            l.finals().starts_with(&finals),
            "a finalized claim was rewritten"
        );
        if l.finals().len() == finals.len() {
            assert_eq!(
                l.finalized_state().root_once(),
                base,
                "the finalized state changed"
            );
        } else {
            finals = l.finals().to_vec();
            base = l.finalized_state().root_once();
        }
    }
    for bad in strangers {
        insert_rejected(l, bad);
    }
}

/// A stranger's event: rejected if complete, else pending (and rejected later).
/// Every account's history: the movements recorded by the archive, finalized in
/// memory and in the tail, which the ledger puts together.
fn histories(l: &mut Ledger) -> Vec<(PublicKey, Vec<Movement>)> {
    let keys: Vec<PublicKey> = l.state().accounts.keys().copied().collect();
    keys.into_iter()
        .map(|k| {
            let h = l.history(&k).expect("the archive answers");
            (k, h)
        })
        .collect()
}

/// The state's maps on disk below memory (see `ledger::cold`) read as `reference`'s,
/// a ledger without an archive, whose maps are whole in memory: each map read whole
/// (every row below the overlay), and key by key.
fn cold_maps_agree(l: &mut Ledger, reference: &carnet_protocol::ledger::State) -> bool {
    let s = l.state().clone();
    let whole = s.dedup.whole() == reference.dedup.whole()
        && s.holdings.whole() == reference.holdings.whole()
        && s.unsold.whole() == reference.unsold.whole()
        && s.vesting.whole() == reference.vesting.whole()
        && s.purchases.whole() == reference.purchases.whole()
        && s.listing_bodies.whole() == reference.listing_bodies.whole();
    let Ok(purchases) = reference.purchases.whole() else {
        return false;
    };
    whole
        && purchases
            .iter()
            .all(|(k, v)| s.purchases.get(k).as_ref() == Some(v))
        && s.vesting_due == reference.vesting_due
        && s.vesting_due.iter().all(|k| s.vesting.get(k).is_some())
        && l.take_archive_error().is_none()
}

fn insert_rejected(l: &mut Ledger, bad: &carnet_protocol::SignedEvent) {
    match l.insert(bad.clone()) {
        Err(e) => assert_eq!(e.code(), "no_role"),
        Ok(r) => assert!(
            matches!(r.inserted, Inserted::Pending(_) | Inserted::Duplicate),
            "a stranger's event was ordered: {r:?}"
        ),
    }
}

/// The state root as docs/protocol.md ("State root") defines it, from the leaves
/// alone: each at the derive-key hash of its key, in a trie split by path bits.
fn spec_root(leaves: &[Vec<u8>]) -> carnet_protocol::Hash32 {
    use carnet_protocol::encoding::{from_canonical, to_canonical};
    use carnet_protocol::ledger::{StateLeaf, PATH_CONTEXT};
    fn h(parts: &[&[u8]]) -> [u8; 32] {
        let mut x = blake3::Hasher::new();
        for p in parts {
            x.update(p);
        }
        *x.finalize().as_bytes()
    }
    fn t(items: &[([u8; 32], [u8; 32])], d: usize) -> [u8; 32] {
        match items {
            [] => [0; 32],
            [(_, leaf)] => *leaf,
            _ => {
                let bit = |p: &[u8; 32]| (p[d / 8] >> (7 - d % 8)) & 1;
                let (l, r): (Vec<_>, Vec<_>) = items.iter().partition(|(p, _)| bit(p) == 0);
                h(&[&[1], &t(&l, d + 1), &t(&r, d + 1)])
            }
        }
    }
    let items: Vec<([u8; 32], [u8; 32])> = leaves
        .iter()
        .map(|bytes| {
            let leaf: StateLeaf = from_canonical(bytes, 4096).expect("a state leaf");
            let key = to_canonical(&leaf.key());
            let mut path = blake3::Hasher::new_derive_key(PATH_CONTEXT);
            path.update(&key);
            (*path.finalize().as_bytes(), h(&[&[0], bytes]))
        })
        .collect();
    carnet_protocol::Hash32(t(&items, 0))
}

/// A node receiving `w`'s log as `d` says; with `archive`, it lets finalized
/// events out of memory as a node does.
fn receive(w: &World, d: &Delivery, archive: bool) -> Ledger {
    let (mut l, store) = match archive {
        true => {
            let (l, store) = Store::ledger(w.genesis.clone());
            (l, Some(store))
        }
        // Snapshots closer together when folding ahead: it leaves the last 16
        // intervals to the next read, and folds ahead only past them.
        false => {
            let interval = if d.fold_ahead { 1 } else { 4 };
            (
                Ledger::with_snapshot_interval(w.genesis.clone(), interval),
                None,
            )
        }
    };
    feed(&mut l, w, &arrivals(w, d), d, store.as_deref());
    l
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn any_arrival_order_gives_the_same_state(
        script in prop::collection::vec(action(), 20..120),
        nodes in prop::collection::vec(delivery(), 3),
    ) {
        let w = build(&script);
        prop_assume!(!w.log.is_empty());
        let mut reference = w.ledger();
        let root = reference.state_root();
        let ref_state = reference.state().clone();
        // The root the ledger keeps up to date is the one docs/protocol.md defines.
        prop_assert_eq!(spec_root(&ref_state.leaves()), root);
        let finals = reference.finals().to_vec();
        for (n, d) in nodes.iter().enumerate() {
            // Every other node lets finalized events out of memory.
            let mut l = receive(&w, d, n % 2 == 1);
            // The same claims finalized, each over the prefix it claims.
            prop_assert_eq!(l.finals(), &finals[..]);
            for epoch in 1..=finals.len() {
                let mut prefix = l.finalized_prefix(epoch).expect("finalized");
                prop_assert_eq!(prefix.state.root(), prefix.claim.state_root);
                prop_assert_eq!(prefix.ids.len() as u64, prefix.claim.event_count);
                prop_assert_eq!(
                    merkle_root(prefix.ids.iter().map(|id| id.as_bytes().to_vec()).collect()),
                    prefix.claim.events_root
                );
            }
            prop_assert_eq!(l.pending_len(), 0);
            prop_assert_eq!(l.len(), w.log.len());
            // Every event is still there to serve, from memory or the archive, in
            // the same epoch and the same ledger order.
            for e in &w.log {
                prop_assert!(l.fetch(&e.id()).unwrap().is_some_and(|x| x.id() == e.id()));
                prop_assert_eq!(l.epoch(&e.id()), reference.epoch(&e.id()));
            }
            let order: Vec<_> = l.events().map(|e| e.id()).collect();
            let ref_order: Vec<_> = reference.events().map(|e| e.id()).collect();
            prop_assert_eq!(order, ref_order);
            prop_assert!(l.take_archive_error().is_none());
            if n % 2 == 0 {
                prop_assert_eq!(l.held_len(), l.len());
            }
            prop_assert_eq!(l.state_root(), root);
            // Not only the root: the derived views agree too.
            prop_assert_eq!(l.state().leaves(), ref_state.leaves());
            prop_assert_eq!(&l.state().voids, &ref_state.voids);
            prop_assert!(cold_maps_agree(&mut l, &ref_state));
            prop_assert_eq!(histories(&mut l), histories(&mut reference));
        }
    }

    /// A node that saved a snapshot, stopped, and restarted with more events stored
    /// than the snapshot saw, then received the rest, ends where a node that never
    /// stopped does: restoring is refused exactly when the events stored since would
    /// have folded the snapshot's prefix differently, and either way the state is the
    /// replay's.
    #[test]
    fn resuming_from_a_snapshot_gives_the_same_state(
        script in prop::collection::vec(action(), 20..120),
        d in delivery(),
        saved in any::<u16>(),
        stored in any::<u16>(),
        recorded in any::<bool>(),
    ) {
        let w = build(&script);
        prop_assume!(!w.log.is_empty());
        let mut reference = w.ledger();
        let root = reference.state_root();
        let ref_state = reference.state().clone();
        let sends = arrivals(&w, &d);
        let saved = saved as usize % (sends.len() + 1);
        let stored = saved + stored as usize % (sends.len() - saved + 1);

        // Not recorded: the records could not be written (a full disk), and the
        // finalized movements are the snapshot's to give back.
        let (mut before, before_store) = Store::ledger(w.genesis.clone());
        feed(&mut before, &w, &sends[..saved], &d, recorded.then_some(&*before_store));
        before_store.keep_events(&before);
        let Some(snap) = before.snapshot() else {
            return Ok(());
        };
        let bytes = snap.encode().expect("a snapshot encodes");
        let snap = Snapshot::decode(&bytes, &w.genesis.network_id()).expect("and decodes");
        // Once a claim is final, the snapshot is of the state at its end.
        let expected = match snap.at().0 == carnet_protocol::ledger::TAIL {
            true => before.state_root(),
            false => before.finalized_state().root_once(),
        };
        prop_assert_eq!(snap.state().root_once(), expected);

        // Started as a node starts, on its own store: the stored events loaded, the
        // snapshot restored, then what is due and not in the snapshot finalized.
        let after_store = before_store;
        let mut after = after_store.reopen(w.genesis.clone());
        after.begin_load();
        for &i in &sends[..stored] {
            after.insert(w.log[i].clone()).expect("valid events are never rejected");
        }
        match after.restore(snap) {
            Ok(()) => {}
            Err(SnapshotError::OtherEvents) => {
                prop_assert!(stored > saved, "the very events it was taken from refuse it");
            }
            Err(e) => prop_assert!(false, "unexpected refusal: {e}"),
        }
        after.end_load();
        after_store.keep(&mut after);
        feed(&mut after, &w, &sends[stored..], &d, Some(&after_store));
        prop_assert_eq!(after.state_root(), root);
        prop_assert_eq!(after.state().leaves(), ref_state.leaves());
        prop_assert_eq!(&after.state().voids, &ref_state.voids);
        prop_assert!(cold_maps_agree(&mut after, &ref_state));
        prop_assert_eq!(histories(&mut after), histories(&mut reference));
        prop_assert_eq!(after.finals(), reference.finals());
    }
}

proptest! {
    // One script in eight finalizes a claim early enough to start from: many cases.
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// A node that stopped and started from its store without reading the events it
    /// released (only those that stay in memory, and those recorded in epochs above
    /// its snapshot's, which a crash may leave) holds what it held before, read for
    /// read, and then ends where a node that never stopped does.
    #[test]
    fn starting_from_the_records_gives_the_same_ledger(
        script in prop::collection::vec(action(), 20..120),
        d in delivery(),
        saved in any::<u16>(),
        stored in any::<u16>(),
        unrecorded in any::<u16>(),
    ) {
        let w = build(&script);
        prop_assume!(!w.log.is_empty());
        let mut reference = w.ledger();
        let root = reference.state_root();
        let ref_state = reference.state().clone();
        let sends = arrivals(&w, &d);
        // Late in the log, where claims are final.
        let half = sends.len() / 2;
        let saved = half + saved as usize % (sends.len() - half + 1);
        let stored = saved + stored as usize % (sends.len() - saved + 1);
        let unrecorded = stored + unrecorded as usize % (sends.len() - stored + 1);

        let (mut before, store) = Store::ledger(w.genesis.clone());
        feed(&mut before, &w, &sends[..saved], &d, Some(&store));
        let final_snapshot = |l: &mut Ledger| l.snapshot().filter(|s| s.at().0 != TAIL);
        let early = final_snapshot(&mut before);
        // Stored and finalized after the snapshot: the records run ahead of it.
        feed(&mut before, &w, &sends[saved..stored], &d, Some(&store));
        let Some(snap) = early.or_else(|| final_snapshot(&mut before)) else {
            return Ok(());
        };
        // Stored, and perhaps finalized, but no record written (the node stopped
        // between the two writes, or the second failed): still held.
        feed(&mut before, &w, &sends[stored..unrecorded], &d, None);
        store.keep_events(&before);
        let mut after = Ledger::with_snapshot_interval(w.genesis.clone(), 4);
        // A snapshot of another prefix than the records' is refused, and leaves the
        // ledger empty.
        let mut other = store.resume(&before, snap.clone());
        other.digest = carnet_protocol::Hash32([7; 32]);
        prop_assert_eq!(after.resume(other).unwrap_err(), SnapshotError::OtherEvents);
        prop_assert!(after.is_empty() && after.finals().is_empty());
        let inputs = store.resume(&before, snap);
        let bad = after.resume(inputs).expect("the records and the snapshot agree");
        prop_assert!(bad.is_empty());
        store.keep(&mut before);
        store.keep(&mut after);
        prop_assert!(after.take_archive_error().is_none());

        // Read for read, what the node held before it stopped.
        prop_assert_eq!(after.finals(), before.finals());
        prop_assert_eq!(after.len(), before.len());
        // The same events held in memory. Of two twins that went in before either
        // was recorded, the first is the one inserted first, which a start does by
        // clock, not by arrival; the other stays in memory as the proof.
        for (_, id) in before.all_items() {
            let ev = before.fetch(&id).unwrap().expect("ordered");
            if before.equivocation(&ev.author()).is_none() {
                prop_assert_eq!(after.get(&id).is_some(), before.get(&id).is_some());
            }
        }
        prop_assert_eq!(after.all_items(), before.all_items());
        let order: Vec<_> = after.events().map(|e| e.id()).collect();
        let before_order: Vec<_> = before.events().map(|e| e.id()).collect();
        prop_assert_eq!(order, before_order);
        for (_, id) in before.all_items() {
            prop_assert_eq!(after.epoch(&id), before.epoch(&id));
        }
        prop_assert_eq!(after.state_root(), before.state_root());
        prop_assert_eq!(
            after.finalized_state().root_once(),
            before.finalized_state().root_once()
        );
        let unsealed: Vec<_> = after.unsealed().map(|e| e.id()).collect();
        let before_unsealed: Vec<_> = before.unsealed().map(|e| e.id()).collect();
        prop_assert_eq!(unsealed, before_unsealed);
        let top = before.max_lamport();
        for bound in [top / 3, top / 2, top.saturating_sub(1), top, top + 1] {
            prop_assert_eq!(after.heads_at(bound), before.heads_at(bound));
            prop_assert_eq!(after.claim_at(bound), before.claim_at(bound));
        }
        for e in &w.log {
            let author = e.author();
            // Which of two events at one seq came first is the order they went in: a
            // start puts held ones in again by clock, as a replay does.
            match before.equivocation(&author) {
                None => prop_assert_eq!(after.chain_head(&author), before.chain_head(&author)),
                Some(_) => prop_assert_eq!(
                    after.chain_head(&author).map(|h| h.0),
                    before.chain_head(&author).map(|h| h.0)
                ),
            }
            prop_assert_eq!(after.introduction(&author), before.introduction(&author));
            prop_assert_eq!(
                after.equivocation(&author).is_some(),
                before.equivocation(&author).is_some()
            );
        }

        // Then the rest arrives, and what waited for its past when the node stopped
        // comes again (a node keeps nothing pending across a restart).
        for id in before.pending_ids() {
            let ev = before.get(&id).expect("pending").clone();
            after.insert(ev).expect("valid events are never rejected");
        }
        feed(&mut after, &w, &sends[unrecorded..], &d, Some(&store));
        prop_assert_eq!(after.finals(), reference.finals());
        prop_assert_eq!(after.len(), w.log.len());
        let order: Vec<_> = after.events().map(|e| e.id()).collect();
        let ref_order: Vec<_> = reference.events().map(|e| e.id()).collect();
        prop_assert_eq!(order, ref_order);
        prop_assert_eq!(after.state_root(), root);
        prop_assert_eq!(after.state().leaves(), ref_state.leaves());
        prop_assert!(cold_maps_agree(&mut after, &ref_state));
        prop_assert_eq!(histories(&mut after), histories(&mut reference));
        prop_assert!(after.take_archive_error().is_none());
    }
}
