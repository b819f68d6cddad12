//! The events the ledger holds in memory, found by their id.
//!
//! A hash map from id to event held each id twice, in its entry and in the event
//! (40 bytes an entry, its room a million entries for 900,000 events held). Here each
//! entry is the event and its id's hash (16 bytes): a lookup compares the stored
//! hash before it reads an event, and a growth moves the entries by their stored
//! hash without reading any event (a growth of the map holding the tail stops the
//! node's loop while it moves every entry: see `chains.rs`). The hash is keyed per
//! process, as the map's was, so that ids ground to collide slow nobody down.

use crate::event::SignedEvent;
use crate::hash::ContentId;
use hashbrown::HashTable;
use std::hash::{BuildHasher, RandomState};

#[derive(Clone, Default)]
pub(super) struct Held {
    table: HashTable<(u64, SignedEvent)>,
    keys: RandomState,
}

impl Held {
    fn hash(&self, id: &ContentId) -> u64 {
        self.keys.hash_one(id)
    }

    /// Whether an entry holds `id`, whose hash is `h`: the stored hash first, the
    /// event's own id only when it matches.
    fn is(h: u64, id: &ContentId) -> impl Fn(&(u64, SignedEvent)) -> bool + '_ {
        move |(eh, e)| *eh == h && e.id() == *id
    }

    pub(super) fn get(&self, id: &ContentId) -> Option<&SignedEvent> {
        let h = self.hash(id);
        self.table.find(h, Self::is(h, id)).map(|(_, e)| e)
    }

    /// The event held at `id`, to be replaced by or changed into an event of the same
    /// id only (its erased form, or itself without its bytes): the entry stays where
    /// the id's hash put it.
    pub(super) fn get_mut(&mut self, id: &ContentId) -> Option<&mut SignedEvent> {
        let h = self.hash(id);
        self.table.find_mut(h, Self::is(h, id)).map(|(_, e)| e)
    }

    pub(super) fn contains_key(&self, id: &ContentId) -> bool {
        self.get(id).is_some()
    }

    /// Holds `ev`, in place of the event of its id if there is one.
    pub(super) fn insert(&mut self, ev: SignedEvent) {
        let id = ev.id();
        let h = self.hash(&id);
        match self.table.entry(h, Self::is(h, &id), |(eh, _)| *eh) {
            hashbrown::hash_table::Entry::Occupied(mut o) => o.get_mut().1 = ev,
            hashbrown::hash_table::Entry::Vacant(v) => {
                v.insert((h, ev));
            }
        }
    }

    pub(super) fn remove(&mut self, id: &ContentId) -> Option<SignedEvent> {
        let h = self.hash(id);
        self.table
            .find_entry(h, Self::is(h, id))
            .ok()
            .map(|o| o.remove().0 .1)
    }

    pub(super) fn len(&self) -> usize {
        self.table.len()
    }

    /// The ids held, in no particular order.
    pub(super) fn ids(&self) -> impl Iterator<Item = ContentId> + '_ {
        self.table.iter().map(|(_, e)| e.id())
    }

    /// Gives back the table's room once most events left it: a start releases nearly
    /// every event at once, which would leave the room for all of them.
    pub(super) fn shrink(&mut self) {
        if self.table.len() < self.table.capacity() / 4 {
            self.table.shrink_to_fit(|(h, _)| *h);
        }
    }
}

impl std::ops::Index<&ContentId> for Held {
    type Output = SignedEvent;

    /// The event held at `id`, which the caller knows is held (as indexing the map
    /// did).
    fn index(&self, id: &ContentId) -> &SignedEvent {
        match self.get(id) {
            Some(e) => e,
            None => panic!("event {id:?} is not held"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::workload::generate;

    #[test]
    fn an_entry_is_the_event_and_its_hash() {
        assert_eq!(std::mem::size_of::<(u64, SignedEvent)>(), 16);
    }

    #[test]
    fn events_are_found_replaced_and_removed_by_id() {
        let (_, events) = generate(300);
        let mut held = Held::default();
        for e in &events {
            held.insert(e.clone());
        }
        assert_eq!(held.len(), events.len());
        for e in &events {
            assert_eq!(held.get(&e.id()), Some(e));
            assert_eq!(&held[&e.id()], e);
        }
        // Held again: replaced, not added.
        held.insert(events[7].clone());
        assert_eq!(held.len(), events.len());
        let mut ids: Vec<_> = held.ids().collect();
        let mut want: Vec<_> = events.iter().map(|e| e.id()).collect();
        ids.sort_unstable();
        want.sort_unstable();
        assert_eq!(ids, want);
        let kept = events.len() - 20;
        let full = held.table.capacity();
        for e in &events[..kept] {
            assert_eq!(held.remove(&e.id()).as_ref(), Some(e));
            assert!(!held.contains_key(&e.id()));
            assert_eq!(held.remove(&e.id()), None);
        }
        held.shrink();
        assert_eq!(held.len(), 20);
        assert!(held.table.capacity() < full / 4, "room given back");
        for e in &events[kept..] {
            assert_eq!(held.get(&e.id()), Some(e));
        }
        let e = &events[kept + 10];
        assert!(held.get_mut(&e.id()).is_some_and(|h| h == e));
    }
}
