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
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// Half of imbl's B-tree node (`ORD_CHUNK_SIZE`, 16 without its `small-chunks`
/// feature).
const HALF_LEAF: usize = 8;

/// Entries decoded into a block of their own. Each block is freed once its entries
/// are in the map, so that the entries are never held twice: decoded into one list
/// and moved into a list of the even and one of the odd half-leaf blocks, the
/// listings at ten million events took 537 MB beside the 537 MB of their list, at a
/// start's peak (docs/benchmarks.md).
const BLOCK: usize = 4096;

/// Entries as decoded, in blocks, and whether they came strictly sorted.
struct Blocks<T> {
    blocks: Vec<Vec<T>>,
    sorted: bool,
}

impl<T> Blocks<T> {
    fn new() -> Self {
        Blocks {
            blocks: Vec::new(),
            sorted: true,
        }
    }

    /// Adds `t`; `above(last, t)` says whether it sorts strictly after the last.
    fn push(&mut self, t: T, above: impl Fn(&T, &T) -> bool) {
        if let Some(last) = self.blocks.last().and_then(|b| b.last()) {
            self.sorted &= above(last, &t);
        }
        match self.blocks.last_mut() {
            Some(block) if block.len() < BLOCK => block.push(t),
            _ => {
                let mut block = Vec::with_capacity(BLOCK);
                block.push(t);
                self.blocks.push(block);
            }
        }
    }

    /// Gives every entry to `insert`: in the order that leaves imbl's leaves full
    /// when they came sorted (the even half-leaf blocks, then the odd ones), else as
    /// they came. A block is freed as soon as it is gone through.
    fn insert_all(self, mut insert: impl FnMut(T)) {
        if !self.sorted {
            self.blocks.into_iter().flatten().for_each(insert);
            return;
        }
        let mut odd = Vec::new();
        let mut i = 0usize;
        for block in self.blocks {
            for t in block {
                match (i / HALF_LEAF).is_multiple_of(2) {
                    true => insert(t),
                    false => odd.push(t),
                }
                i += 1;
            }
        }
        odd.into_iter().for_each(insert);
    }
}

fn map_of_blocks<K: Ord + Clone, V: Clone>(blocks: Blocks<(K, V)>) -> OrdMap<K, V> {
    let mut map = OrdMap::new();
    // Of equal keys, the last one wins, as in imbl's own decoding.
    blocks.insert_all(|(k, v)| {
        map.insert(k, v);
    });
    map
}

fn set_of_blocks<A: Ord + Clone>(blocks: Blocks<A>) -> OrdSet<A> {
    let mut set = OrdSet::new();
    blocks.insert_all(|a| {
        set.insert(a);
    });
    set
}

/// `#[serde(deserialize_with)]` for an `OrdMap` saved as imbl saves it (a map).
pub fn map<'de, D, K, V>(d: D) -> Result<OrdMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + Clone,
    V: Deserialize<'de> + Clone,
{
    struct Entries<K, V>(PhantomData<(K, V)>);
    impl<'de, K: Deserialize<'de> + Ord, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
        type Value = Blocks<(K, V)>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a map")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            // The length comes from the input: it bounds nothing, so it sizes nothing.
            let mut out = Blocks::new();
            while let Some(entry) = access.next_entry()? {
                out.push(entry, |a: &(K, V), b: &(K, V)| a.0 < b.0);
            }
            Ok(out)
        }
    }
    Ok(map_of_blocks(d.deserialize_map(Entries(PhantomData))?))
}

/// `#[serde(deserialize_with)]` for an `OrdSet` saved as imbl saves it (a sequence).
pub fn set<'de, D, A>(d: D) -> Result<OrdSet<A>, D::Error>
where
    D: Deserializer<'de>,
    A: Deserialize<'de> + Ord + Clone,
{
    struct Elements<A>(PhantomData<A>);
    impl<'de, A: Deserialize<'de> + Ord> Visitor<'de> for Elements<A> {
        type Value = Blocks<A>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a sequence")
        }
        fn visit_seq<S: SeqAccess<'de>>(self, mut access: S) -> Result<Self::Value, S::Error> {
            let mut out = Blocks::new();
            while let Some(item) = access.next_element()? {
                out.push(item, |a: &A, b: &A| a < b);
            }
            Ok(out)
        }
    }
    Ok(set_of_blocks(d.deserialize_seq(Elements(PhantomData))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `entries` as a map, leaves full when they come strictly sorted by key.
    fn map_of<K: Ord + Clone, V: Clone>(entries: Vec<(K, V)>) -> OrdMap<K, V> {
        let mut blocks = Blocks::new();
        for entry in entries {
            blocks.push(entry, |a, b| a.0 < b.0);
        }
        map_of_blocks(blocks)
    }

    /// `items` as a set, leaves full when they come strictly sorted.
    fn set_of<A: Ord + Clone>(items: Vec<A>) -> OrdSet<A> {
        let mut blocks = Blocks::new();
        for item in items {
            blocks.push(item, |a, b| a < b);
        }
        set_of_blocks(blocks)
    }

    #[test]
    fn every_entry_is_inserted_once_even_blocks_first() {
        for n in [0, 1, 7, 8, 9, 16, 17, 100, 1000, BLOCK + 9, 3 * BLOCK + 17] {
            let mut blocks = Blocks::new();
            (0..n).for_each(|i| blocks.push(i, |a, b| a < b));
            let mut seen = Vec::new();
            blocks.insert_all(|i| seen.push(i));
            let even = (0..n).filter(|i| (i / HALF_LEAF).is_multiple_of(2)).count();
            let firsts = &seen[..even];
            assert!(
                firsts.iter().all(|i| (i / HALF_LEAF).is_multiple_of(2)),
                "{n}"
            );
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{n}");
        }
    }

    #[test]
    fn the_map_is_the_same_in_any_order() {
        let sorted: Vec<(u32, u32)> = (0..(2 * BLOCK as u32 + 5000)).map(|i| (i * 3, i)).collect();
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
