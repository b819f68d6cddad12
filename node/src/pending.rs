//! Who sent each pending event, and when: the bounds on what a peer can make this node
//! hold without it ever becoming valid.
//!
//! A pending event waits for its prev or deps. It cannot be checked until they arrive,
//! so a peer could otherwise fill memory with events that name ids nobody has. Each
//! sender gets its own bounded queue (its oldest event is given up when it sends one
//! too many), and every pending event is given up after a time limit. Given-up events
//! were never stored or passed on; if they were genuine, sync brings them back once
//! they are complete somewhere.
//!
//! The pool is generic over the sender and takes the time as an argument, so it is
//! tested without a network or a clock.

use carnet_protocol::ContentId;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Pending events one sender may have this node hold at once.
pub const MAX_PENDING_PER_SENDER: usize = 256;
/// Pending events this node may hold from one peer's answers to its own fetches.
/// Larger: a catch-up asks for ids in the order reconciliation gives them, which is
/// not clock order, so most of a fetch waits for events of later fetches, and a
/// bound of 256 gave them up faster than they completed (a node catching up 10,000
/// events ingested 100 to 400 a second, each round refetching what it gave up). The
/// peer only answers ids this node asked for, and each one is a signed event of a
/// known member: at about 1 KiB held per event, 64 MiB per peer at most.
pub const MAX_FETCHED_PENDING_PER_PEER: usize = 65_536;
/// How long a pending event may wait for its causal past.
pub const PENDING_TTL: Duration = Duration::from_secs(60);

/// One pending event's sender and arrival, with what the sender attached (the gossip
/// message id, to accept or reject the message once the event is decided).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<S, T> {
    pub sender: S,
    pub since: Instant,
    pub tag: T,
}

#[derive(Debug)]
pub struct PendingPool<S, T> {
    entries: HashMap<ContentId, Entry<S, T>>,
    /// Each sender's events, oldest first (may hold ids already forgotten).
    queues: HashMap<S, VecDeque<ContentId>>,
    /// How many of `entries` each sender has: asked of a catch-up's peer after
    /// every fetch, where a count over the entries would cost a pass over 65,536.
    counts: HashMap<S, usize>,
    per_sender: usize,
    ttl: Duration,
}

impl<S: Clone + Eq + Hash, T> PendingPool<S, T> {
    pub fn new(per_sender: usize, ttl: Duration) -> Self {
        PendingPool {
            entries: HashMap::new(),
            queues: HashMap::new(),
            counts: HashMap::new(),
            per_sender: per_sender.max(1),
            ttl,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every pending event held, with its entry, in no order.
    pub fn iter(&self) -> impl Iterator<Item = (&ContentId, &Entry<S, T>)> {
        self.entries.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records that `sender` made this node hold pending event `id`. Returns the
    /// entries given up to make room: the sender's oldest, beyond its bound. An id
    /// already recorded keeps its first sender.
    pub fn add(
        &mut self,
        id: ContentId,
        sender: S,
        tag: T,
        now: Instant,
    ) -> Vec<(ContentId, Entry<S, T>)> {
        if self.entries.contains_key(&id) {
            return Vec::new();
        }
        self.entries.insert(
            id,
            Entry {
                sender: sender.clone(),
                since: now,
                tag,
            },
        );
        *self.counts.entry(sender.clone()).or_default() += 1;
        let queue = self.queues.entry(sender.clone()).or_default();
        queue.push_back(id);
        let entries = &mut self.entries;
        if queue.len() > self.per_sender {
            // Ids forgotten since (completed or dropped) no longer count. Swept only
            // when over the bound: a sweep per add would make a large bound quadratic.
            queue.retain(|i| entries.contains_key(i));
        }
        let mut evicted = Vec::new();
        while queue.len() > self.per_sender {
            let Some(oldest) = queue.pop_front() else {
                break;
            };
            if let Some(e) = entries.remove(&oldest) {
                evicted.push((oldest, e));
            }
        }
        if !evicted.is_empty() {
            self.uncount(&sender, evicted.len());
        }
        evicted
    }

    /// Forgets `id` (it became ordered, or was dropped): its entry, if recorded.
    pub fn forget(&mut self, id: &ContentId) -> Option<Entry<S, T>> {
        let e = self.entries.remove(id)?;
        self.uncount(&e.sender, 1);
        if let Some(q) = self.queues.get_mut(&e.sender) {
            if q.front() == Some(id) {
                q.pop_front();
            }
            if q.is_empty() {
                self.queues.remove(&e.sender);
            }
        }
        Some(e)
    }

    /// Gives up every event that waited longer than the time limit.
    pub fn expire(&mut self, now: Instant) -> Vec<(ContentId, Entry<S, T>)> {
        let old: Vec<ContentId> = self
            .entries
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.since) >= self.ttl)
            .map(|(id, _)| *id)
            .collect();
        old.into_iter()
            .filter_map(|id| self.forget(&id).map(|e| (id, e)))
            .collect()
    }

    /// Pending events `sender` has this node hold.
    pub fn of(&self, sender: &S) -> usize {
        self.counts.get(sender).copied().unwrap_or(0)
    }

    fn uncount(&mut self, sender: &S, n: usize) {
        if let Some(c) = self.counts.get_mut(sender) {
            *c = c.saturating_sub(n);
            if *c == 0 {
                self.counts.remove(sender);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_protocol::Hash32;

    fn id(i: u8) -> ContentId {
        Hash32([i; 32])
    }

    #[test]
    fn a_sender_holds_at_most_its_bound_and_loses_its_oldest() {
        let t = Instant::now();
        let mut pool = PendingPool::new(3, PENDING_TTL);
        for i in 0..3 {
            assert!(pool.add(id(i), "rogue", (), t).is_empty());
        }
        assert!(pool.add(id(10), "honest", (), t).is_empty());
        let evicted = pool.add(id(3), "rogue", (), t);
        assert_eq!(evicted.len(), 1);
        assert_eq!(evicted[0].0, id(0));
        assert_eq!((pool.of(&"rogue"), pool.of(&"honest")), (3, 1));
        // Forgotten ids make room without evicting anyone.
        pool.forget(&id(2));
        assert_eq!(pool.of(&"rogue"), 2);
        assert!(pool.add(id(4), "rogue", (), t).is_empty());
        assert_eq!(pool.len(), 4);
        assert_eq!((pool.of(&"rogue"), pool.of(&"honest")), (3, 1));
    }

    #[test]
    fn events_expire_after_the_time_limit_and_a_repeat_keeps_its_first_sender() {
        let t = Instant::now();
        let mut pool = PendingPool::new(10, Duration::from_secs(5));
        pool.add(id(1), "a", 1, t);
        pool.add(id(2), "a", 2, t + Duration::from_secs(3));
        assert!(pool.add(id(1), "b", 3, t).is_empty());
        assert_eq!(pool.of(&"b"), 0);
        assert!(pool.expire(t + Duration::from_secs(4)).is_empty());
        let gone = pool.expire(t + Duration::from_secs(5));
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].0, gone[0].1.tag), (id(1), 1));
        assert_eq!(pool.of(&"a"), 1);
        assert_eq!(pool.expire(t + Duration::from_secs(8)).len(), 1);
        assert!(pool.is_empty());
        assert_eq!(pool.of(&"a"), 0);
        assert!(pool.forget(&id(1)).is_none());
    }
}
