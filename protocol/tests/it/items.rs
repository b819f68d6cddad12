//! The reconciliation set in shared chunks (`Items`) against a plain sorted set: the
//! same items after any inserts and removals, and a copy taken midway keeps what it
//! held however the set changes after it.

use carnet_protocol::ledger::{Items, ItemsView};
use carnet_protocol::Hash32;
use proptest::prelude::*;
use std::collections::BTreeSet;

type Item = (u64, Hash32);

/// Few clocks and ids, so that inserts collide, land in the middle of full chunks
/// and at the end, and removals find what is there.
fn item() -> impl Strategy<Value = Item> {
    (0u64..3000, 0u8..4).prop_map(|(clock, id)| (clock, Hash32([id; 32])))
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Item),
    /// Clocks past every other: how new events arrive.
    Append(u8),
    Remove(Item),
    /// Takes a copy to check at the end.
    View,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => item().prop_map(Op::Insert),
        4 => any::<u8>().prop_map(Op::Append),
        2 => item().prop_map(Op::Remove),
        1 => Just(Op::View),
    ]
}

/// Everything a reconciliation reads of a copy, against the sorted items it should
/// hold.
fn check_view(v: &ItemsView, want: &[Item]) -> Result<(), TestCaseError> {
    prop_assert_eq!(v.len(), want.len());
    prop_assert_eq!(v.is_empty(), want.is_empty());
    for (i, x) in want.iter().enumerate() {
        prop_assert_eq!(v.get(i), Some(x));
    }
    prop_assert_eq!(v.get(want.len()), None);
    let n = want.len();
    for (b, e) in [
        (0, n),
        (n / 3, n / 2),
        (n / 2, n),
        (n, n),
        (1, 0),
        (0, n + 5),
    ] {
        let got: Vec<Item> = v.range(b, e).copied().collect();
        let expect: Vec<Item> = want
            .get(b.min(n)..e.min(n).max(b.min(n)))
            .unwrap_or(&[])
            .to_vec();
        prop_assert_eq!(got, expect, "range {}..{}", b, e);
    }
    for probe in [
        (0, Hash32([0; 32])),
        (1500, Hash32([2; 32])),
        (u64::MAX, Hash32([9; 32])),
    ] {
        let (first, last) = (n / 4, n - n / 4);
        let expect = first + want[first..last].partition_point(|x| *x < probe);
        prop_assert_eq!(v.lower_bound(first, last, |x| *x < probe), expect);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunked_items_are_a_sorted_set(
        start in prop::collection::vec(item(), 0..1500),
        ops in prop::collection::vec(op(), 0..3000),
    ) {
        let mut items = Items::from_items(start.clone());
        // Built as a store's index gives them, ascending, or in any order: the same.
        let mut sorted = start.clone();
        sorted.sort();
        let ordered = Items::from_ordered(sorted);
        prop_assert_eq!(ordered.iter().collect::<Vec<_>>(), items.iter().collect::<Vec<_>>());
        prop_assert_eq!(ordered.len(), items.len());
        let any = Items::from_ordered(start.clone());
        prop_assert_eq!(any.iter().collect::<Vec<_>>(), items.iter().collect::<Vec<_>>());
        prop_assert_eq!(any.len(), items.len());
        let mut model: BTreeSet<Item> = start.into_iter().collect();
        let mut views: Vec<(ItemsView, Vec<Item>)> = Vec::new();
        let mut next = 3000u64;
        for op in ops {
            match op {
                Op::Insert(x) => prop_assert_eq!(items.insert(x), model.insert(x)),
                Op::Append(id) => {
                    let x = (next, Hash32([id; 32]));
                    next += 1;
                    prop_assert_eq!(items.insert(x), model.insert(x));
                }
                Op::Remove(x) => prop_assert_eq!(items.remove(&x), model.remove(&x)),
                Op::View => views.push((items.view(), model.iter().copied().collect())),
            }
        }
        let want: Vec<Item> = model.iter().copied().collect();
        prop_assert_eq!(items.len(), want.len());
        prop_assert_eq!(items.iter().copied().collect::<Vec<_>>(), want.clone());
        prop_assert_eq!(items.last(), want.last());
        for x in want.iter().take(50) {
            prop_assert!(items.contains(x));
        }
        prop_assert!(!items.contains(&(u64::MAX, Hash32([7; 32]))));
        check_view(&items.view(), &want)?;
        // Copies taken before are what the set was then.
        for (v, then) in &views {
            check_view(v, then)?;
        }
    }
}
