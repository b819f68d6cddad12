//! Decoding the state's maps with full leaves.
//!
//! imbl's B-tree splits a full leaf in the middle. A map decoded from a snapshot is
//! built by inserting its entries in key order, as they were saved, so every leaf is
//! split once it is full and then never filled again: half of every leaf, which holds
//! its 16 entries inline whether or not they are used, stays empty (the state of 1M
//! events decoded at 463 MiB, two thirds of which were the maps' leaves).
//!
//! Inserting the sorted entries in two passes fills them: first the even blocks of
//! half a leaf (entries 0..8, 16..24, ...), which leaves one block in each leaf, then
//! the odd blocks, each of which lands in the leaf of the block before it and fills
//! it without a split. Only the layout depends on imbl's split: the map is the same
//! whatever the order (entries that come unsorted are inserted as they come, the last
//! of equal keys winning, as imbl's own decoding does).

use imbl::{OrdMap, OrdSet};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Half of imbl's B-tree node (`ORD_CHUNK_SIZE`, 16 without its `small-chunks`
/// feature).
const HALF_LEAF: usize = 8;

/// `sorted` in the order to insert it in so that imbl's leaves end up full: the even
/// half-leaf blocks, then the odd ones.
fn packing_order<T>(sorted: Vec<T>) -> impl Iterator<Item = T> {
    let (mut even, mut odd) = (Vec::new(), Vec::new());
    for (i, t) in sorted.into_iter().enumerate() {
        match (i / HALF_LEAF).is_multiple_of(2) {
            true => even.push(t),
            false => odd.push(t),
        }
    }
    even.into_iter().chain(odd)
}

/// `entries` as a map, leaves full when they come strictly sorted by key.
pub fn map_of<K: Ord + Clone, V: Clone>(entries: Vec<(K, V)>) -> OrdMap<K, V> {
    match entries.windows(2).all(|w| w[0].0 < w[1].0) {
        true => packing_order(entries).collect(),
        false => entries.into_iter().collect(),
    }
}

/// `items` as a set, leaves full when they come strictly sorted.
pub fn set_of<A: Ord + Clone>(items: Vec<A>) -> OrdSet<A> {
    match items.windows(2).all(|w| w[0] < w[1]) {
        true => packing_order(items).collect(),
        false => items.into_iter().collect(),
    }
}

/// `#[serde(deserialize_with)]` for an `OrdMap` saved as imbl saves it (a map).
pub fn map<'de, D, K, V>(d: D) -> Result<OrdMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    struct Entries<K, V>(PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
        type Value = Vec<(K, V)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            // The length comes from the input: it bounds nothing, so it sizes nothing.
            let mut out = Vec::new();
            while let Some(entry) = access.next_entry()? {
                out.push(entry);
            }
            Ok(out)
        }
    }
    Ok(map_of(d.deserialize_map(Entries(PhantomData))?))
}

/// `#[serde(deserialize_with)]` for an `OrdSet` saved as imbl saves it (a sequence).
pub fn set<'de, D, A>(d: D) -> Result<OrdSet<A>, D::Error>
where
    D: Deserializer<'de>,
    A: Deserialize<'de> + Ord + Clone,
{
    Ok(set_of(Vec::<A>::deserialize(d)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_is_inserted_once() {
        for n in [0, 1, 7, 8, 9, 16, 17, 100, 1000] {
            let mut seen: Vec<usize> = packing_order((0..n).collect()).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{n}");
        }
    }

    #[test]
    fn the_map_is_the_same_in_any_order() {
        let sorted: Vec<(u32, u32)> = (0..5000).map(|i| (i * 3, i)).collect();
        let plain: OrdMap<u32, u32> = sorted.iter().copied().collect();
        assert_eq!(map_of(sorted.clone()), plain);
        assert_eq!(
            set_of(sorted.iter().map(|e| e.0).collect()),
            plain.keys().copied().collect()
        );
        // Unsorted, with a repeated key: the last one wins, as in imbl's decoding.
        let mut shuffled = sorted;
        shuffled.reverse();
        shuffled.push((3, 7));
        let mut expected = plain;
        expected.insert(3, 7);
        assert_eq!(map_of(shuffled), expected);
    }
}
