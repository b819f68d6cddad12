//! The Merkle tree hash of the ledger-order prefix, kept as the fold goes.
//!
//! A Checkpoint claims the count and `events_root` of all events up to its bound. To
//! check a claim without re-hashing the whole prefix, the fold appends each applied
//! event's id to this frontier (amortised one hash per event) and reads the root at
//! every bound some checkpoint names.

use crate::hash::{ContentId, Hash32};

/// The perfect subtrees of an RFC 6962 tree over the ids appended so far: largest
/// (leftmost) first, at most one per height.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventsFrontier {
    count: u64,
    peaks: Vec<(u32, Hash32)>,
}

fn leaf(bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(bytes);
    Hash32(*h.finalize().as_bytes())
}

fn node(l: &Hash32, r: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(l.as_bytes());
    h.update(r.as_bytes());
    Hash32(*h.finalize().as_bytes())
}

impl EventsFrontier {
    pub fn push(&mut self, id: &ContentId) {
        self.push_leaf(id.as_bytes());
    }

    /// Appends one leaf of any bytes.
    pub fn push_leaf(&mut self, bytes: &[u8]) {
        let mut cur = (0u32, leaf(bytes));
        while let Some(&(h, left)) = self.peaks.last() {
            if h != cur.0 {
                break;
            }
            self.peaks.pop();
            cur = (h + 1, node(&left, &cur.1));
        }
        self.peaks.push(cur);
        self.count += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// MTH of the ids so far: the peaks folded from the right.
    pub fn root(&self) -> Hash32 {
        let mut it = self.peaks.iter().rev();
        match it.next() {
            None => Hash32(*blake3::hash(&[]).as_bytes()),
            Some(&(_, last)) => it.fold(last, |acc, (_, p)| node(p, &acc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;

    fn ct_root(leaves: &[Vec<u8>]) -> Hash32 {
        let mut t = MemoryBackedTree::<blake3::Hasher, Vec<u8>>::new();
        for l in leaves {
            t.push(l.clone());
        }
        Hash32((*t.root().as_bytes()).into())
    }

    #[test]
    fn frontier_root_is_the_rfc6962_root_of_every_prefix() {
        let mut f = EventsFrontier::default();
        let mut ids = Vec::new();
        assert_eq!(f.root(), ct_root(&[]));
        for i in 0..70u64 {
            let id = Hash32::of(&i.to_le_bytes());
            f.push(&id);
            ids.push(id.as_bytes().to_vec());
            assert_eq!(f.root(), ct_root(&ids), "prefix of {}", i + 1);
            assert_eq!(f.count(), i + 1);
        }
    }
}
