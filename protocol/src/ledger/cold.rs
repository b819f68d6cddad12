//! The maps of the state that a node keeps on disk: an overlay in memory on top of
//! rows its archive recorded at the end of a finalized epoch.
//!
//! Some maps are only ever looked up by key, and no state root covers them: which
//! listing holds a dedup key, who holds which card, a card's unsold rewards, the
//! rewards due to vest (whose keys stay in memory, in the order they fall due). At a
//! million events they were a third of the state in memory (dedup 27, holdings 21,
//! unsold 40, vesting 21 MiB), growing with every card. A finalized epoch never changes them again,
//! so what they hold at its end can go to disk, as the events do (see
//! [`super::Index`]); memory keeps only what changed since.
//!
//! A row says what a key's value was at the end of an epoch. Every epoch's end is
//! final, so every row a ledger of this build writes is true, whichever ledger wrote
//! it and whenever (a node rebuilds its ledger after a failed write; the store drops
//! the rows with its other records when the finalized events change, or the build).
//! Each map reads the rows between two epochs, `floor` and `at`: for a key, the row
//! recorded at the highest epoch in that range. That is the value at `at` because the
//! ledger that made the map wrote, at each release from `floor` on, a row for every
//! key that changed since its last one (a removal too); and at `floor`, its first,
//! every key the map held, which is why rows below it (a key since removed) are not
//! read. A copy of the state made at any time reads the same answers for as long as
//! it lives, while the ledger's current state moves on to later rows. Without an
//! archive (tests, tools, audits) nothing goes to disk and the overlay is the whole
//! map.

use super::archive::{ArchiveError, FirstFailure, Index};
use super::state::{ListingBody, PurchaseState, Reward};
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use imbl::OrdMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::sync::Arc;

/// Which map a row belongs to.
pub type ColdTable = u8;
/// [`super::State::dedup`].
pub const DEDUP: ColdTable = 1;
/// [`super::State::holdings`].
pub const HOLDINGS: ColdTable = 2;
/// [`super::State::unsold`].
pub const UNSOLD: ColdTable = 3;
/// [`super::State::vesting`].
pub const VESTING: ColdTable = 4;
/// [`super::State::purchases`].
pub const PURCHASES: ColdTable = 5;
/// [`super::State::listing_bodies`].
pub const LISTINGS: ColdTable = 6;

/// One key's value at the end of an epoch, as an archive records it: canonical
/// encodings of the key and the value (None: not in the map).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColdRow {
    pub table: ColdTable,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A row's key or value, as [`ColdRow`] encodes it (rows come from this node's own
/// archive, so no limit but their length).
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ArchiveError> {
    postcard::from_bytes(bytes)
        .map_err(|e| ArchiveError(format!("a row of the state on disk: {e}")))
}

/// Where a state's cold maps read the rows below their overlays: the ledger's archive,
/// with the first read that failed (a failed read is taken for "no row", so the
/// ledger must be rebuilt: [`super::Ledger::take_archive_error`]).
pub struct ColdStore {
    pub(super) index: Arc<dyn Index>,
    pub(super) failure: FirstFailure,
}

impl ColdStore {
    pub(super) fn new(index: Arc<dyn Index>) -> Arc<ColdStore> {
        Arc::new(ColdStore {
            index,
            failure: FirstFailure::default(),
        })
    }
}

/// A map of the state whose entries as of a finalized epoch may be on disk.
#[derive(Clone)]
pub struct ColdMap<K, V, const TABLE: ColdTable> {
    /// The epoch whose rows lie below the overlay; 0: none (no row is ever recorded
    /// at epoch 0), the overlay is the whole map.
    at: u64,
    /// The first epoch whose rows are read: see the module's doc.
    floor: u64,
    /// What changed since `at`: Some(value), or None for a key removed (none while
    /// `at` is 0).
    overlay: OrdMap<K, Option<V>>,
    store: Option<Arc<ColdStore>>,
}

impl<K, V, const TABLE: ColdTable> Default for ColdMap<K, V, TABLE>
where
    K: Ord + Clone,
    V: Clone,
{
    fn default() -> Self {
        ColdMap {
            at: 0,
            floor: 0,
            overlay: OrdMap::new(),
            store: None,
        }
    }
}

impl<K, V, const TABLE: ColdTable> std::fmt::Debug for ColdMap<K, V, TABLE>
where
    K: Ord + Clone + std::fmt::Debug,
    V: Clone + std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ColdMap")
            .field("at", &self.at)
            .field("floor", &self.floor)
            .field("overlay", &self.overlay)
            .finish()
    }
}

impl<K, V, const TABLE: ColdTable> ColdMap<K, V, TABLE>
where
    K: Ord + Clone + Serialize + DeserializeOwned,
    V: Clone + PartialEq + Serialize + DeserializeOwned,
{
    /// The value at `key`. A row that cannot be read counts as none, the failure kept
    /// for the ledger: what the rules read, which cannot stop half-way.
    pub fn get(&self, key: &K) -> Option<V> {
        match self.try_get(key) {
            Ok(v) => v,
            Err(e) => {
                if let Some(store) = &self.store {
                    store.failure.record(e);
                }
                None
            }
        }
    }

    /// The value at `key`, or the archive's failure to give it: what a reader outside
    /// the rules calls, which can answer with an error.
    pub fn try_get(&self, key: &K) -> Result<Option<V>, ArchiveError> {
        if let Some(v) = self.overlay.get(key) {
            return Ok(v.clone());
        }
        if self.at == 0 {
            return Ok(None);
        }
        let Some(store) = self.store.as_ref() else {
            return Err(ArchiveError(
                "the state's maps are on disk, and no archive was given to read them".into(),
            ));
        };
        let bytes = crate::encoding::to_canonical(key);
        match store.index.cold(TABLE, &bytes, self.floor, self.at)? {
            None => Ok(None),
            Some(v) => decode::<V>(&v).map(Some),
        }
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.get(key).is_some()
    }

    pub fn insert(&mut self, key: K, value: V) {
        self.overlay.insert(key, Some(value));
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let old = self.get(key);
        match self.at {
            // No row read: nothing to hide.
            0 => {
                self.overlay.remove(key);
            }
            // A row read may hold it: hidden by a removal.
            _ if old.is_some() => {
                self.overlay.insert(key.clone(), None);
            }
            _ => {}
        }
        old
    }

    /// Entries held in memory (changes since the rows below, removals too).
    pub fn len(&self) -> usize {
        self.overlay.len()
    }

    pub fn is_empty(&self) -> bool {
        self.overlay.is_empty()
    }

    /// The entries held in memory, a removal as None: the whole map while nothing
    /// went to disk (a ledger without an archive).
    pub fn memory(&self) -> impl Iterator<Item = (&K, Option<&V>)> {
        self.overlay.iter().map(|(k, v)| (k, v.as_ref()))
    }

    /// Every entry: the rows merged with the overlay, read whole from the archive.
    /// What a state root built from nothing needs, and nothing else (at scale, a read
    /// of every row of the map).
    pub fn whole(&self) -> Result<std::collections::BTreeMap<K, V>, ArchiveError> {
        let mut out = std::collections::BTreeMap::new();
        if self.at > 0 {
            let Some(store) = self.store.as_ref() else {
                return Err(ArchiveError(
                    "the state's maps are on disk, and no archive was given to read them".into(),
                ));
            };
            for (k, v) in store.index.cold_scan(TABLE, self.floor, self.at)? {
                out.insert(decode::<K>(&k)?, decode::<V>(&v)?);
            }
        }
        for (k, v) in &self.overlay {
            match v {
                Some(v) => out.insert(k.clone(), v.clone()),
                None => out.remove(k),
            };
        }
        Ok(out)
    }

    /// [`ColdMap::whole`], a failure recorded for the ledger (and the overlay alone
    /// given): for the state root, which cannot fail half-way.
    pub(super) fn whole_or_record(&self) -> std::collections::BTreeMap<K, V> {
        self.whole().unwrap_or_else(|e| {
            if let Some(store) = &self.store {
                store.failure.record(e);
            }
            self.overlay
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
                .collect()
        })
    }

    /// Whether `self` and `other` read the same rows: then their values differ only
    /// at the keys of [`ColdMap::changed_from`].
    pub(super) fn same_rows(&self, other: &Self) -> bool {
        self.reads() == other.reads()
    }

    /// The keys whose value may differ between `old` and `self`, given that they read
    /// the same rows ([`ColdMap::same_rows`]): those whose entries in memory differ
    /// (imbl's diff skips what the two overlays share).
    pub(super) fn changed_from(&self, old: &Self) -> Vec<K> {
        changed_keys(&old.overlay, &self.overlay)
    }

    /// Every entry in memory as a row: what an archive records at the end of an epoch.
    fn rows(&self, out: &mut Vec<ColdRow>) {
        for (k, v) in &self.overlay {
            out.push(ColdRow {
                table: TABLE,
                key: crate::encoding::to_canonical(k),
                value: v.as_ref().map(crate::encoding::to_canonical),
            });
        }
    }

    /// This map's rows among `rows`, decoded; None if one does not decode (rows are
    /// this node's own encoding: only a broken build could make one).
    fn decode_rows(rows: &[ColdRow]) -> Option<Vec<(K, Option<V>)>> {
        rows.iter()
            .filter(|r| r.table == TABLE)
            .map(|row| {
                let value = row.value.as_deref().map(decode::<V>).transpose()?;
                Ok((decode::<K>(&row.key)?, value))
            })
            .collect::<Result<_, ArchiveError>>()
            .ok()
    }

    /// Reads the rows up to epoch `at` from now on: the overlay keeps only what
    /// differs from `rows` ([`ColdMap::decode_rows`]; None: not followed), which the
    /// archive recorded at `at`, taken from a map that read the rows `since` (its
    /// `at` and `floor`). Valid only for a map that went
    /// through the state those rows were taken from (the ledger's finalized state at
    /// `at`) and read the same rows then: a key it holds no entry for has not changed
    /// since, nor had in the map the rows came from. Any other map keeps reading the
    /// rows it read, which stay true.
    fn rebase(&mut self, at: u64, rows: Option<&[(K, Option<V>)]>, since: (u64, u64)) {
        if at <= self.at || self.store.is_none() || (self.at, self.floor) != since {
            return;
        }
        // All or nothing: a row skipped would leave a key this map removed without
        // its removal, while the floor moved past the row that still holds it. Staying
        // on the rows it reads is always right.
        let Some(decoded) = rows else {
            return;
        };
        // The overlay is the whole map: the rows are the other's whole map, and a key
        // they hold that this one does not was removed since.
        let whole = self.at == 0;
        for (key, value) in decoded {
            match self.overlay.get(key) {
                Some(v) if v == value => {
                    self.overlay.remove(key);
                }
                None if whole && value.is_some() => {
                    self.overlay.insert(key.clone(), None);
                }
                _ => {}
            }
        }
        if whole {
            self.floor = at;
        }
        self.at = at;
    }

    /// The rows this map reads: (`at`, `floor`).
    pub(super) fn reads(&self) -> (u64, u64) {
        (self.at, self.floor)
    }

    fn attach(&mut self, store: &Arc<ColdStore>) {
        self.store = Some(store.clone());
    }
}

impl<K, V, const TABLE: ColdTable> Serialize for ColdMap<K, V, TABLE>
where
    K: Ord + Clone + Serialize,
    V: Clone + Serialize,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (self.at, self.floor, &self.overlay).serialize(s)
    }
}

impl<'de, K, V, const TABLE: ColdTable> Deserialize<'de> for ColdMap<K, V, TABLE>
where
    K: Ord + Clone + Deserialize<'de>,
    V: Clone + Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(bound(
            deserialize = "K: Ord + Clone + Deserialize<'de>, V: Clone + Deserialize<'de>"
        ))]
        struct Saved<K, V>(
            u64,
            u64,
            #[serde(deserialize_with = "super::packed::map")] OrdMap<K, Option<V>>,
        );
        let Saved(at, floor, overlay) = Saved::deserialize(d)?;
        Ok(ColdMap {
            at,
            floor,
            overlay,
            store: None,
        })
    }
}

/// The keys whose entries differ between two versions of a map, added and removed
/// ones too (imbl's diff skips the subtrees they share).
pub(super) fn changed_keys<K: Ord + Clone, V: PartialEq + Clone>(
    old: &OrdMap<K, V>,
    new: &OrdMap<K, V>,
) -> Vec<K> {
    use imbl::ordmap::DiffItem;
    old.diff(new)
        .map(|d| match d {
            DiffItem::Add(k, _) | DiffItem::Remove(k, _) => k.clone(),
            DiffItem::Update { new: (k, _), .. } => k.clone(),
        })
        .collect()
}

/// One map's rows of a release, decoded (None: one did not decode).
type Rows<K, V> = Option<Vec<(K, Option<V>)>>;

/// The rows a release recorded, decoded once for all the states that follow them (the
/// finalized one, the current one, the tail's snapshots).
pub(super) struct Released {
    dedup: Rows<Hash32, ContentId>,
    holdings: Rows<(PublicKey, ContentId), ContentId>,
    unsold: Rows<ContentId, Vec<Reward>>,
    vesting: Rows<(u64, ContentId), Vec<Reward>>,
    purchases: Rows<ContentId, PurchaseState>,
    listing_bodies: Rows<ContentId, ListingBody>,
}

impl Released {
    pub(super) fn decode(rows: &[ColdRow]) -> Released {
        Released {
            dedup: ColdMap::<_, _, DEDUP>::decode_rows(rows),
            holdings: ColdMap::<_, _, HOLDINGS>::decode_rows(rows),
            unsold: ColdMap::<_, _, UNSOLD>::decode_rows(rows),
            vesting: ColdMap::<_, _, VESTING>::decode_rows(rows),
            purchases: ColdMap::<_, _, PURCHASES>::decode_rows(rows),
            listing_bodies: ColdMap::<_, _, LISTINGS>::decode_rows(rows),
        }
    }
}

impl super::State {
    /// Has the cold maps read their rows from `store`.
    pub(super) fn attach_cold(&mut self, store: &Arc<ColdStore>) {
        self.dedup.attach(store);
        self.holdings.attach(store);
        self.unsold.attach(store);
        self.vesting.attach(store);
        self.purchases.attach(store);
        self.listing_bodies.attach(store);
    }

    /// The epoch whose rows the cold maps read (0: none).
    pub(super) fn cold_at(&self) -> u64 {
        let maps = [
            &self.holdings.at,
            &self.unsold.at,
            &self.vesting.at,
            &self.purchases.at,
            &self.listing_bodies.at,
        ];
        maps.into_iter().fold(self.dedup.at, |a, b| a.max(*b))
    }

    /// The cold maps' entries in memory, as rows for an archive, and the rows the
    /// maps read (they move together: see [`super::State::rebase_cold`]).
    pub(super) fn cold_rows(&self) -> (Vec<ColdRow>, (u64, u64)) {
        let mut out = Vec::new();
        self.dedup.rows(&mut out);
        self.holdings.rows(&mut out);
        self.unsold.rows(&mut out);
        self.vesting.rows(&mut out);
        self.purchases.rows(&mut out);
        self.listing_bodies.rows(&mut out);
        (out, self.dedup.reads())
    }

    /// See [`ColdMap::rebase`]: `rows` decoded once ([`Released::decode`]) for every
    /// state that follows them. The state tree keeps up: a map the root covers
    /// (`purchases`, `listing_bodies`) finds what changed since the last root by
    /// comparing its overlay with the tree's copy, which only works while both read
    /// the same rows. So the
    /// tree is brought up to date first, and its copy takes the rebased map (the same
    /// values, as a rebase changes no value). A tree on other rows is left as it is:
    /// the next root is built whole.
    pub(super) fn rebase_cold(&mut self, at: u64, rows: &Released, since: (u64, u64)) {
        let follows = self.purchases.reads() == since && at > self.purchases.at;
        let tree = match self.tree.as_ref() {
            Some(t) if follows && t.cold_rows_match(self) => {
                self.root();
                true
            }
            _ => false,
        };
        self.dedup.rebase(at, rows.dedup.as_deref(), since);
        self.holdings.rebase(at, rows.holdings.as_deref(), since);
        self.unsold.rebase(at, rows.unsold.as_deref(), since);
        self.vesting.rebase(at, rows.vesting.as_deref(), since);
        self.purchases.rebase(at, rows.purchases.as_deref(), since);
        self.listing_bodies
            .rebase(at, rows.listing_bodies.as_deref(), since);
        if tree {
            if let Some(mut t) = self.tree.take() {
                Arc::make_mut(&mut t).follow_cold(self);
                self.tree = Some(t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{ContentId, Hash32};
    use crate::ledger::{MemoryArchive, Records};

    type Map = ColdMap<Hash32, ContentId, DEDUP>;

    fn h(n: u8) -> Hash32 {
        Hash32([n; 32])
    }

    /// Records `map`'s rows at epoch `at`, as a node's release does, and rebases each
    /// of `maps` on them.
    fn release(archive: &MemoryArchive, from: &Map, at: u64, maps: &mut [&mut Map]) {
        let mut cold = Vec::new();
        from.rows(&mut cold);
        let records = Records {
            cold,
            cold_since: from.reads(),
            at: (at, Hash32::ZERO),
            ..Records::default()
        };
        archive.put_released(&records);
        for m in maps {
            m.rebase(
                at,
                Map::decode_rows(&records.cold).as_deref(),
                records.cold_since,
            );
        }
    }

    /// An archive, and a map on it holding 1 → 10 and 2 → 20.
    fn two_keys() -> (Arc<MemoryArchive>, Arc<ColdStore>, Map) {
        let archive = Arc::new(MemoryArchive::default());
        let store = ColdStore::new(archive.clone());
        let mut base = Map::default();
        base.attach(&store);
        base.insert(h(1), h(10));
        base.insert(h(2), h(20));
        (archive, store, base)
    }

    #[test]
    fn a_map_reads_its_rows_below_what_changed_since() {
        let (archive, _, mut base) = two_keys();
        base.insert(h(3), h(30));
        base.remove(&h(3));
        let mut copy = base.clone();
        release(&archive, &base.clone(), 1, &mut [&mut base]);
        // Nothing left in memory; every key read from the rows.
        assert!(base.is_empty());
        assert_eq!(base.get(&h(1)), Some(h(10)));
        assert_eq!(base.get(&h(3)), None);
        // A removal hides the row; the copy taken before still reads its own.
        base.remove(&h(1));
        base.insert(h(2), h(21));
        assert_eq!(base.get(&h(1)), None);
        assert_eq!(base.len(), 2);
        release(&archive, &base.clone(), 2, &mut [&mut base]);
        assert!(base.is_empty());
        assert_eq!((base.get(&h(1)), base.get(&h(2))), (None, Some(h(21))));
        assert_eq!(copy.get(&h(1)), Some(h(10)));
        // Rows taken from a map that read other rows are not this one's to follow.
        copy.rebase(2, Some(&[]), (1, 1));
        assert_eq!(copy.reads(), (0, 0));
        assert_eq!(copy.get(&h(2)), Some(h(20)));
    }

    /// A map that was whole in memory (a claim folded before the last release) and
    /// becomes the finalized one: its first rows hold every key it has, and a key it
    /// removed, which earlier rows still hold, stays removed.
    #[test]
    fn a_map_whole_in_memory_reads_no_row_below_its_first() {
        let (archive, store, mut base) = two_keys();
        // Folded from the base before its release: whole in memory.
        let mut claim = base.clone();
        claim.remove(&h(1));
        release(&archive, &base.clone(), 1, &mut [&mut base]);
        assert_eq!(claim.reads(), (0, 0));
        assert_eq!(claim.get(&h(1)), None);
        // The claim is final: its rows go at epoch 2, and it reads from there.
        release(&archive, &claim.clone(), 2, &mut [&mut claim]);
        assert_eq!(claim.reads(), (2, 2));
        assert!(claim.is_empty());
        assert_eq!(
            claim.get(&h(1)),
            None,
            "the row of epoch 1 is below its floor"
        );
        assert_eq!(claim.get(&h(2)), Some(h(20)));
        // A map whole in memory rebased on another's whole rows keeps what it
        // removed removed.
        let mut other = Map::default();
        other.attach(&store);
        other.insert(h(2), h(20));
        let mut tail = other.clone();
        tail.remove(&h(2));
        tail.insert(h(4), h(40));
        release(&archive, &other.clone(), 3, &mut [&mut other, &mut tail]);
        assert_eq!(tail.reads(), (3, 3));
        assert_eq!((tail.get(&h(2)), tail.get(&h(4))), (None, Some(h(40))));
        assert_eq!(other.get(&h(2)), Some(h(20)));
    }

    /// Rows one of which does not decode are not followed at all: a map whole in
    /// memory that skipped one would lose the removal of its key.
    #[test]
    fn rows_that_do_not_all_decode_leave_the_map_on_its_rows() {
        let (_, _, mut map) = two_keys();
        map.remove(&h(1));
        let mut rows = Vec::new();
        two_keys().2.rows(&mut rows);
        rows.push(ColdRow {
            table: DEDUP,
            key: vec![1, 2, 3],
            value: None,
        });
        assert!(Map::decode_rows(&rows).is_none());
        map.rebase(1, Map::decode_rows(&rows).as_deref(), (0, 0));
        assert_eq!(map.reads(), (0, 0));
        assert_eq!((map.get(&h(1)), map.get(&h(2))), (None, Some(h(20))));
    }

    /// The state root finds what changed since its last computation by the overlays;
    /// a release takes changes out of the overlay, so a tree kept across it must have
    /// seen them first.
    #[test]
    fn a_state_root_kept_across_a_release_sees_what_the_release_took_out_of_memory() {
        use crate::ledger::{ListingBody, ListingState, ListingStatus};
        use crate::ledger::{PurchaseState, PurchaseStatus, State};
        use crate::payload::{Listing, TeaserSlot};
        let archive = Arc::new(MemoryArchive::default());
        let store = ColdStore::new(archive.clone());
        let mut s = State::default();
        s.attach_cold(&store);
        let p = |status| PurchaseState {
            buyer: crate::keys::PublicKey([1; 32]),
            listing_id: h(2),
            price: 10,
            lamport: 1,
            status,
            email_commitment: h(3),
            phone_commitment: None,
        };
        let whole = |s: &State| {
            let mut fresh = s.clone();
            fresh.tree = None;
            fresh.root()
        };
        let body = |key: u8| ListingBody {
            listing: Listing {
                teaser: TeaserSlot::Erased { hash: h(9) },
                email_commitment: h(8),
                phone_commitment: None,
                dedup_key: h(key),
            },
            vesting: vec![],
        };
        s.purchases.insert(h(1), p(PurchaseStatus::Escrowed));
        s.purchases.insert(h(5), p(PurchaseStatus::Escrowed));
        let listing = ListingState {
            contributor: crate::keys::PublicKey([2; 32]),
            teaser: h(9),
            status: ListingStatus::Active,
            created_ms: 1,
            last_reward_ms: 1,
            sales: 0,
            held: false,
        };
        s.listings.insert(h(7), listing);
        s.listing_bodies.insert(h(7), body(1));
        s.root();
        s.purchases.insert(h(1), p(PurchaseStatus::Delivered));
        s.purchases.insert(h(4), p(PurchaseStatus::Escrowed));
        s.purchases.remove(&h(5));
        // An Update: the listing's body only.
        s.listing_bodies.insert(h(7), body(2));
        for at in 1..=2 {
            let (cold, since) = s.cold_rows();
            let records = Records {
                cold,
                cold_since: since,
                at: (at, Hash32::ZERO),
                ..Records::default()
            };
            archive.put_released(&records);
            s.rebase_cold(at, &Released::decode(&records.cold), since);
            assert!(s.purchases.is_empty() && s.listing_bodies.is_empty());
            assert_eq!(s.root(), whole(&s));
            // A change after the release, and one more release on top.
            s.purchases.insert(h(4), p(PurchaseStatus::Refunded));
            s.listing_bodies.insert(h(7), body(3 + at as u8));
            assert_eq!(s.root(), whole(&s));
            s.purchases.insert(h(6), p(PurchaseStatus::Escrowed));
        }
        assert_eq!(
            s.purchases
                .whole()
                .map(|m| m.into_keys().collect::<Vec<_>>()),
            Ok(vec![h(1), h(4), h(6)])
        );
        assert!(store.failure.take().is_none());
    }

    #[test]
    fn a_row_that_cannot_be_read_is_an_error_and_is_kept_for_the_ledger() {
        struct Broken;
        impl crate::ledger::Archive for Broken {
            fn event(
                &self,
                _: &ContentId,
            ) -> Result<Option<crate::event::SignedEvent>, ArchiveError> {
                Ok(None)
            }
        }
        impl Index for Broken {
            fn stub(&self, _: &ContentId) -> Result<Option<crate::ledger::Stub>, ArchiveError> {
                Ok(None)
            }
            fn first_at(
                &self,
                _: &crate::keys::PublicKey,
                _: u64,
            ) -> Result<Option<ContentId>, ArchiveError> {
                Ok(None)
            }
            fn epoch_ids(&self, _: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError> {
                Ok(Vec::new())
            }
            fn movements(
                &self,
                _: &crate::keys::PublicKey,
            ) -> Result<(u64, Vec<crate::ledger::Movement>), ArchiveError> {
                Ok((0, Vec::new()))
            }
            fn cold(
                &self,
                _: u8,
                _: &[u8],
                _: u64,
                _: u64,
            ) -> Result<Option<Vec<u8>>, ArchiveError> {
                Err(ArchiveError("disk".into()))
            }
            fn cold_scan(
                &self,
                _: u8,
                _: u64,
                _: u64,
            ) -> Result<crate::ledger::ColdEntries, ArchiveError> {
                Err(ArchiveError("disk".into()))
            }
        }
        let store = ColdStore::new(Arc::new(Broken));
        let mut map = Map::default();
        map.attach(&store);
        map.insert(h(1), h(10));
        map.rebase(1, Some(&[]), (0, 0));
        assert_eq!(map.get(&h(1)), Some(h(10)), "in memory: not read");
        assert!(store.failure.take().is_none());
        assert_eq!(map.try_get(&h(2)), Err(ArchiveError("disk".into())));
        assert_eq!(map.get(&h(2)), None);
        assert_eq!(store.failure.take(), Some(ArchiveError("disk".into())));
        // Rows on disk and no archive to read them: an error, not "none".
        let mut alone = map.clone();
        alone.store = None;
        assert!(alone.try_get(&h(2)).is_err());
    }
}
