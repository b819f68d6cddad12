//! The id held first at each (author, seq): a map per author, by seq.
//!
//! One hash map keyed by (author, seq) held an entry per event in memory, and a hash
//! map grows by moving every entry at once: in a catch-up of 900,000 events its last
//! doublings stopped the node's loop for 0.2 to 0.55 s each (docs/benchmarks.md).
//! Here the hash map holds one entry per author, and each author's seqs sit in an
//! ordered map that grows a node at a time; an author's key is stored once, not once
//! per event. Nothing iterates over authors, so the hash map's order never shows.

use crate::hash::ContentId;
use crate::keys::PublicKey;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default)]
pub(super) struct Chains {
    by_author: HashMap<PublicKey, BTreeMap<u64, ContentId>>,
}

impl Chains {
    pub(super) fn get(&self, (author, seq): &(PublicKey, u64)) -> Option<&ContentId> {
        self.by_author.get(author)?.get(seq)
    }

    pub(super) fn contains_key(&self, at: &(PublicKey, u64)) -> bool {
        self.get(at).is_some()
    }

    pub(super) fn insert(&mut self, (author, seq): (PublicKey, u64), id: ContentId) {
        self.by_author.entry(author).or_default().insert(seq, id);
    }

    /// Drops an author with its last seq, so that released chains leave no trace.
    pub(super) fn remove(&mut self, (author, seq): &(PublicKey, u64)) -> Option<ContentId> {
        let seqs = self.by_author.get_mut(author)?;
        let id = seqs.remove(seq);
        if seqs.is_empty() {
            self.by_author.remove(author);
        }
        id
    }

    /// Gives back the hash map's room once most authors left it: a start releases
    /// nearly every event at once.
    pub(super) fn shrink(&mut self) {
        if self.by_author.len() < self.by_author.capacity() / 4 {
            self.by_author.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash32;

    fn key(n: u8) -> PublicKey {
        PublicKey([n; 32])
    }

    #[test]
    fn seqs_are_held_per_author_and_an_author_leaves_with_its_last_seq() {
        let mut c = Chains::default();
        c.insert((key(1), 0), Hash32([10; 32]));
        c.insert((key(1), 1), Hash32([11; 32]));
        c.insert((key(2), 0), Hash32([20; 32]));
        assert_eq!(c.get(&(key(1), 1)), Some(&Hash32([11; 32])));
        assert_eq!(c.get(&(key(2), 0)), Some(&Hash32([20; 32])));
        assert!(!c.contains_key(&(key(2), 1)));
        assert!(!c.contains_key(&(key(3), 0)));
        // Another id at a taken seq replaces it, as the map it replaces did.
        c.insert((key(1), 1), Hash32([12; 32]));
        assert_eq!(c.get(&(key(1), 1)), Some(&Hash32([12; 32])));
        assert_eq!(c.remove(&(key(1), 0)), Some(Hash32([10; 32])));
        assert_eq!(c.remove(&(key(1), 0)), None);
        assert_eq!(c.remove(&(key(1), 1)), Some(Hash32([12; 32])));
        assert!(!c.by_author.contains_key(&key(1)));
        assert_eq!(c.remove(&(key(1), 1)), None);
        assert_eq!(c.by_author.len(), 1);
    }
}
