//! The set peers reconcile: (Lamport clock, id) of every ordered event, sorted. Kept
//! in chunks that its copies share, so that the copy a reconciliation reads costs a
//! pointer per chunk rather than 40 bytes an event (400 MB at ten million events),
//! and one sorted set serves as both the ledger's and the sync's index.

use crate::hash::ContentId;
use std::sync::Arc;

/// An item of the set: (Lamport clock, id).
pub type Item = (u64, ContentId);

/// Most items in a chunk. A write to a chunk that a copy still shares copies it
/// (20 KiB); a position is found in a chunk by binary search.
const CHUNK: usize = 512;

/// A sorted set of items, in chunks shared with its copies.
#[derive(Clone, Debug, Default)]
pub struct Items {
    chunks: Vec<Arc<Vec<Item>>>,
    len: usize,
}

impl Items {
    /// The set of `items`, in any order, duplicates ignored.
    pub fn from_items(mut items: Vec<Item>) -> Self {
        items.sort_unstable();
        items.dedup();
        Self::from_ordered(items)
    }

    /// The set of `items` as they come, built chunk by chunk: given ascending (as a
    /// store's index gives them), never held twice (at ten million events, the
    /// 400 MB of a list beside the set's own, at the peak of a start). An item not
    /// above the one before is inserted as [`Items::insert`] does, so any order
    /// gives the same set.
    pub fn from_ordered(items: impl IntoIterator<Item = Item>) -> Self {
        let mut set = Items::default();
        let mut chunk: Vec<Item> = Vec::with_capacity(CHUNK);
        let mut other = Vec::new();
        for item in items {
            let last = chunk.last().or_else(|| set.last());
            if last.is_some_and(|last| *last >= item) {
                other.push(item);
                continue;
            }
            chunk.push(item);
            if chunk.len() == CHUNK {
                set.len += CHUNK;
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                set.chunks.push(Arc::new(full));
            }
        }
        if !chunk.is_empty() {
            set.len += chunk.len();
            set.chunks.push(Arc::new(chunk));
        }
        for item in other {
            set.insert(item);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk that holds `item`, or would: the first whose last item is not below
    /// it, else the last.
    fn chunk_of(&self, item: &Item) -> usize {
        let i = self
            .chunks
            .partition_point(|c| c.last().is_some_and(|last| last < item));
        i.min(self.chunks.len().saturating_sub(1))
    }

    pub fn contains(&self, item: &Item) -> bool {
        self.chunks
            .get(self.chunk_of(item))
            .is_some_and(|c| c.binary_search(item).is_ok())
    }

    /// Adds `item`; false if it was there. A full chunk passes an item to a
    /// neighbour with room before it splits, so that chunks stay nearly full (a late
    /// event lands among the last few hundred, in a chunk already full).
    pub fn insert(&mut self, item: Item) -> bool {
        if self.chunks.is_empty() {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let c = self.chunk_of(&item);
        let Err(at) = self.chunks[c].binary_search(&item) else {
            return false;
        };
        let len = self.chunks[c].len();
        if len < CHUNK {
            self.chunk_mut(c).insert(at, item);
        } else if at == len {
            // Past the end of the last chunk (a chunk whose last item is greater
            // would have been found first), where new clocks go: a new chunk.
            let mut next = Vec::with_capacity(CHUNK);
            next.push(item);
            self.chunks.push(Arc::new(next));
        } else if self.room(c + 1) {
            let chunk = self.chunk_mut(c);
            let moved = chunk.pop();
            chunk.insert(at, item);
            if let Some(moved) = moved {
                self.chunk_mut(c + 1).insert(0, moved);
            }
        } else if c > 0 && self.room(c - 1) {
            if at == 0 {
                self.chunk_mut(c - 1).push(item);
            } else {
                let chunk = self.chunk_mut(c);
                let moved = chunk.remove(0);
                chunk.insert(at - 1, item);
                self.chunk_mut(c - 1).push(moved);
            }
        } else {
            let chunk = self.chunk_mut(c);
            let mut right = Vec::with_capacity(CHUNK);
            right.extend(chunk.drain(len / 2..));
            match at > len / 2 {
                true => right.insert(at - len / 2, item),
                false => chunk.insert(at, item),
            }
            self.chunks.insert(c + 1, Arc::new(right));
        }
        self.len += 1;
        true
    }

    /// Whether chunk `c` exists and has room for one more.
    fn room(&self, c: usize) -> bool {
        self.chunks.get(c).is_some_and(|n| n.len() < CHUNK)
    }

    /// Chunk `c` to write: copied first if a copy of the set shares it, with room for
    /// a whole chunk (a copy has only what it holds, and growing it would double it).
    fn chunk_mut(&mut self, c: usize) -> &mut Vec<Item> {
        let chunk = Arc::make_mut(&mut self.chunks[c]);
        if chunk.capacity() < CHUNK {
            chunk.reserve_exact(CHUNK - chunk.len());
        }
        chunk
    }

    /// Takes `item` out; false if it was not there.
    pub fn remove(&mut self, item: &Item) -> bool {
        let c = self.chunk_of(item);
        let Some(Ok(at)) = self.chunks.get(c).map(|chunk| chunk.binary_search(item)) else {
            return false;
        };
        let chunk = Arc::make_mut(&mut self.chunks[c]);
        chunk.remove(at);
        if chunk.is_empty() {
            self.chunks.remove(c);
        }
        self.len -= 1;
        true
    }

    /// Every item, ascending.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Item> + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The greatest item.
    pub fn last(&self) -> Option<&Item> {
        self.chunks.iter().rev().find_map(|c| c.last())
    }

    /// A copy read by position: what a reconciliation walks. Costs a pointer and a
    /// count per chunk.
    pub fn view(&self) -> ItemsView {
        let chunks: Vec<Arc<Vec<Item>>> = self
            .chunks
            .iter()
            .filter(|c| !c.is_empty())
            .cloned()
            .collect();
        let mut starts = Vec::with_capacity(chunks.len());
        let mut at = 0;
        for c in &chunks {
            starts.push(at);
            at += c.len();
        }
        ItemsView {
            chunks,
            starts,
            len: at,
        }
    }
}

/// A frozen copy of [`Items`], read by position.
#[derive(Clone, Debug, Default)]
pub struct ItemsView {
    chunks: Vec<Arc<Vec<Item>>>,
    /// Position of each chunk's first item.
    starts: Vec<usize>,
    len: usize,
}

impl ItemsView {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunk holding position `i` (which must be below `len`), and where in it.
    fn locate(&self, i: usize) -> (usize, usize) {
        let c = self.starts.partition_point(|s| *s <= i).saturating_sub(1);
        (c, i - self.starts[c])
    }

    /// The item at position `i`.
    pub fn get(&self, i: usize) -> Option<&Item> {
        if i >= self.len {
            return None;
        }
        let (c, at) = self.locate(i);
        self.chunks[c].get(at)
    }

    /// The items at positions `begin..end` (clamped to the set), ascending.
    pub fn range(&self, begin: usize, end: usize) -> impl Iterator<Item = &Item> + '_ {
        let end = end.min(self.len);
        let (c, at) = match begin < end {
            true => self.locate(begin),
            false => (self.chunks.len(), 0),
        };
        self.chunks
            .iter()
            .skip(c)
            .flat_map(|chunk| chunk.iter())
            .skip(at)
            .take(end.saturating_sub(begin))
    }

    /// The first position in `first..last` whose item is not `below` (a predicate
    /// that holds for a prefix of the set), or `last`.
    pub fn lower_bound(&self, first: usize, last: usize, below: impl Fn(&Item) -> bool) -> usize {
        let (mut lo, mut hi) = (first, last.min(self.len));
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.get(mid).is_some_and(&below) {
                true => lo = mid + 1,
                false => hi = mid,
            }
        }
        lo
    }
}
