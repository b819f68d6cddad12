//! Author chains: `check_extends` for the first event, the next one, a seq gap, a prev
//! that names the wrong event, and equivocation; and `Author` writing chains it accepts.

use crate::common;

use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::chain::{check_extends, ChainError, ChainHead};
use carnet_protocol::payload::*;
use carnet_protocol::*;
use common::*;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

const SEED: [u8; 32] = [0x33; 32];
const T0: u64 = 1_700_000_000_000;

fn vote(domain: &str) -> Payload {
    Payload::Vote(Vote {
        company_domain: domain.into(),
        employees: EmployeeRange::From11To50,
        revenue: RevenueRange::Under1M,
    })
}

/// An event by the `SEED` author at `seq` naming `prev`, with whatever `payload`.
fn event_at(seq: u64, prev: Option<ContentId>, payload: Payload) -> SignedEvent {
    let body = EventBody {
        network: network(),
        author: SecretKey::from_seed(SEED).public(),
        seq,
        prev,
        lamport: seq + 1,
        deps: vec![],
        timestamp_ms: T0,
        payload,
    };
    SignedEvent::sign(body, &SecretKey::from_seed(SEED)).unwrap()
}

fn head(ev: &SignedEvent) -> Option<ChainHead> {
    Some(ChainHead {
        seq: ev.seq(),
        id: ev.id(),
    })
}

/// A chain of `n` events by one author.
fn chain(n: usize) -> Vec<SignedEvent> {
    let mut author = Author::new(SecretKey::from_seed(SEED), network());
    (0..n)
        .map(|i| {
            author
                .sign(vote(&format!("d{i}.example")), vec![], 0, T0)
                .unwrap()
        })
        .collect()
}

#[test]
fn first_event() {
    let ev = &chain(1)[0];
    assert_eq!(ev.seq(), 0);
    assert_eq!(check_extends(None, ev), Ok(()));
    // Nothing known of the author: only seq 0 can come first.
    let later = event_at(3, Some(Hash32([1; 32])), vote("a.example"));
    let e = check_extends(None, &later).unwrap_err();
    assert_eq!(
        e,
        ChainError::SeqGap {
            head: None,
            expected: 0,
            got: 3
        }
    );
    assert_eq!(e.code(), "seq_gap");
}

#[test]
fn next_event() {
    let c = chain(5);
    let mut h = None;
    for ev in &c {
        assert_eq!(check_extends(h, ev), Ok(()), "seq {}", ev.seq());
        h = head(ev);
    }
    for w in c.windows(2) {
        assert_eq!(w[1].body().prev, Some(w[0].id()));
        assert_eq!(w[1].seq(), w[0].seq() + 1);
    }
}

#[test]
fn seq_gap() {
    let c = chain(4);
    // Skipping ahead: the head is at 0, seq 2 arrives (its prev is fine, just not known).
    let e = check_extends(head(&c[0]), &c[2]).unwrap_err();
    assert_eq!(
        e,
        ChainError::SeqGap {
            head: Some(0),
            expected: 1,
            got: 2
        }
    );
    assert_eq!(e.code(), "seq_gap");
    // Behind the head: an older event is not an extension either.
    let e = check_extends(head(&c[3]), &c[1]).unwrap_err();
    assert_eq!(
        e,
        ChainError::SeqGap {
            head: Some(3),
            expected: 4,
            got: 1
        }
    );
    // The head itself again is not an extension (callers deduplicate by id first).
    let e = check_extends(head(&c[2]), &c[2]).unwrap_err();
    assert_eq!(e.code(), "seq_gap");
}

#[test]
fn prev_mismatch() {
    let c = chain(2);
    // Seq 1, but prev names some other event.
    let wrong = event_at(1, Some(Hash32([9; 32])), vote("x.example"));
    let e = check_extends(head(&c[0]), &wrong).unwrap_err();
    assert_eq!(e, ChainError::PrevMismatch(0));
    assert_eq!(e.code(), "prev_mismatch");
    // A head claimed with another id at the right seq.
    let h = Some(ChainHead {
        seq: 0,
        id: Hash32([9; 32]),
    });
    assert_eq!(check_extends(h, &c[1]), Err(ChainError::PrevMismatch(0)));
    // Further along the chain.
    let c = chain(6);
    let wrong = event_at(5, Some(c[3].id()), vote("x.example"));
    assert_eq!(
        check_extends(head(&c[4]), &wrong),
        Err(ChainError::PrevMismatch(4))
    );
}

#[test]
fn equivocation() {
    // Two different events at seq 0.
    let a = event_at(0, None, vote("a.example"));
    let b = event_at(0, None, vote("b.example"));
    assert_ne!(a.id(), b.id());
    let e = check_extends(head(&a), &b).unwrap_err();
    assert_eq!(
        e,
        ChainError::Equivocation {
            seq: 0,
            other: a.id()
        }
    );
    assert_eq!(e.code(), "equivocation");
    // Later in a chain: a fork at seq 3 with the right prev.
    let c = chain(4);
    let fork = event_at(3, Some(c[2].id()), vote("fork.example"));
    assert_eq!(
        check_extends(head(&c[2]), &fork),
        Ok(()),
        "a valid extension on its own"
    );
    assert_eq!(
        check_extends(head(&c[3]), &fork),
        Err(ChainError::Equivocation {
            seq: 3,
            other: c[3].id()
        })
    );
    // Equivocation is reported even when the prev is also wrong.
    let fork = event_at(3, Some(Hash32([9; 32])), vote("fork.example"));
    assert!(matches!(
        check_extends(head(&c[3]), &fork),
        Err(ChainError::Equivocation { seq: 3, .. })
    ));
    // Both halves of the proof verify on their own, so any node can check it.
    for ev in [&a, &b] {
        assert!(SignedEvent::decode(ev.as_bytes(), &network()).is_ok());
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// Any sequence of valid payloads written by `Author` forms a chain `check_extends`
    /// accepts link by link, with a Lamport clock and timestamp that never go back.
    #[test]
    fn author_chains_extend(
        seed in any::<[u8; 32]>(),
        steps in prop::collection::vec((payload(), 0..1_000u64, 0..1_000_000u64), 1..12),
    ) {
        let mut author = Author::new(SecretKey::from_seed(seed), network());
        let mut h: Option<ChainHead> = None;
        let mut last: Option<SignedEvent> = None;
        let mut clock = 0;
        for (payload, bump, ts) in steps {
            clock += bump;
            let ev = author.sign(payload.clone(), vec![], clock, T0 + ts).unwrap();
            prop_assert_eq!(check_extends(h, &ev), Ok(()));
            prop_assert!(ev.lamport() > clock);
            for r in payload.references() {
                prop_assert!(ev.body().deps.contains(r));
            }
            if let Some(l) = &last {
                prop_assert!(ev.lamport() > l.lamport());
                prop_assert!(ev.body().timestamp_ms >= l.body().timestamp_ms);
            }
            prop_assert_eq!(SignedEvent::decode(ev.as_bytes(), &network()), Ok(ev.clone()));
            prop_assert_eq!(author.head().map(|a| (a.seq, a.id)), Some((ev.seq(), ev.id())));
            h = head(&ev);
            last = Some(ev);
        }
    }

    /// Resuming from a stored head continues the same chain.
    #[test]
    fn resumed_author_continues(n in 1..6usize, payload in payload()) {
        let c = chain(n);
        let l = c.last().unwrap();
        let stored = AuthorHead {
            seq: l.seq(),
            id: l.id(),
            lamport: l.lamport(),
            timestamp_ms: l.body().timestamp_ms,
        };
        let mut author = Author::resume(SecretKey::from_seed(SEED), network(), Some(stored));
        let ev = author.sign(payload, vec![], 0, 0).unwrap();
        prop_assert_eq!(check_extends(head(l), &ev), Ok(()));
        prop_assert!(ev.lamport() > l.lamport());
        prop_assert_eq!(ev.body().timestamp_ms, l.body().timestamp_ms);
    }
}

/// Regression: a peer can publish a first event with Lamport clock u64::MAX (valid on
/// its own). `Author::sign` then overflowed `clock + 1`: a panic with overflow checks,
/// otherwise a wrapped clock of 0 that every node rejects. It must be an error.
#[test]
fn author_clock_at_the_maximum_is_an_error_not_an_overflow() {
    let mut author = Author::new(SecretKey::from_seed(SEED), network());
    let e = author
        .sign(vote("a.example"), vec![], u64::MAX, T0)
        .unwrap_err();
    assert_eq!(e.code(), "invalid_field");
    assert_eq!(author.head(), None, "nothing was signed");
    // One below the maximum still works, and then the chain's own clock is exhausted.
    let ev = author
        .sign(vote("a.example"), vec![], u64::MAX - 1, T0)
        .unwrap();
    assert_eq!(ev.lamport(), u64::MAX);
    assert!(author.sign(vote("b.example"), vec![], 0, T0).is_err());
    // Likewise for a resumed head at the last seq.
    let stored = AuthorHead {
        seq: u64::MAX,
        id: Hash32([1; 32]),
        lamport: 5,
        timestamp_ms: T0,
    };
    let mut author = Author::resume(SecretKey::from_seed(SEED), network(), Some(stored));
    assert!(author.sign(vote("a.example"), vec![], 0, T0).is_err());
}
