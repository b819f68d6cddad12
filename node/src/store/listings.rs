//! Which stored events carry which listing, by listing and by dedup key: what an
//! erasure looks up. It used to scan every event in memory; since issue 19 the
//! finalized events are in the store only, and a scan would read them all back.
//! And which Delivers answer which purchase: what a buyer asks for, kept here rather
//! than in a map of every purchase in memory (50 bytes an event at scale).

use super::*;
use carnet_protocol::payload::{Listing, Payload};
use redb::Table;

/// (listing id, event id) → nothing: the Contribute and the Updates of each listing.
pub(super) const LISTING_EVENTS: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("listing_events");
/// (dedup key, listing id) → nothing: the listings an event of which named the key.
pub(super) const KEY_LISTINGS: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("key_listings");
/// (purchase id, Deliver event id) → nothing: the Delivers of each purchase.
pub(super) const PURCHASE_DELIVERIES: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("purchase_deliveries");
/// Meta key set once the tables index every stored event (a store written by an older
/// build is indexed once, when opened). "listing index" before the Delivers were.
const INDEXED_META_KEY: &str = "event index 2";

/// The listing an event carries, with the id of the listing: a Contribute's own, or
/// the one an Update names.
pub fn listing_of(ev: &SignedEvent) -> Option<(ContentId, &Listing)> {
    match ev.payload() {
        Payload::Contribute(c) => Some((ev.id(), &c.listing)),
        Payload::Update(u) => Some((u.listing_id, &u.listing)),
        _ => None,
    }
}

/// The two index tables of a write transaction.
pub(super) struct Index<'t> {
    events: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
    keys: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
    deliveries: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
}

impl<'t> Index<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Index {
            events: txn
                .open_table(LISTING_EVENTS)
                .map_err(db_err("open listing events"))?,
            keys: txn
                .open_table(KEY_LISTINGS)
                .map_err(db_err("open key listings"))?,
            deliveries: txn
                .open_table(PURCHASE_DELIVERIES)
                .map_err(db_err("open purchase deliveries"))?,
        })
    }

    pub(super) fn add(&mut self, ev: &SignedEvent) -> Result<(), StoreError> {
        if let Some((listing, l)) = listing_of(ev) {
            self.events
                .insert((&listing.0, &ev.id().0), ())
                .map_err(db_err("index listing event"))?;
            self.keys
                .insert((&l.dedup_key.0, &listing.0), ())
                .map_err(db_err("index listing key"))?;
        }
        if let Payload::Deliver(d) = ev.payload() {
            self.deliveries
                .insert((&d.purchase_id.0, &ev.id().0), ())
                .map_err(db_err("index delivery"))?;
        }
        Ok(())
    }

    /// Takes out the entry of `ev`. The key's entry stays: another event of the
    /// listing may name the key too, and a lookup reads the events it finds anyway.
    pub(super) fn remove(&mut self, ev: &SignedEvent) -> Result<(), StoreError> {
        if let Some((listing, _)) = listing_of(ev) {
            self.events
                .remove((&listing.0, &ev.id().0))
                .map_err(db_err("unindex listing event"))?;
        }
        if let Payload::Deliver(d) = ev.payload() {
            self.deliveries
                .remove((&d.purchase_id.0, &ev.id().0))
                .map_err(db_err("unindex delivery"))?;
        }
        Ok(())
    }
}

/// Indexes every stored event, once, in a store written before the index existed.
/// Returns whether it did: the one large write leaves the file with much free space
/// (a store of a million events went from 618 to 1,237 MiB), which the caller
/// compacts.
pub(super) fn index_once(db: &Database, network: &NetworkId) -> Result<bool, StoreError> {
    let txn = db.begin_write().map_err(db_err("begin indexing"))?;
    {
        let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
        if meta
            .get(INDEXED_META_KEY)
            .map_err(db_err("read meta"))?
            .is_some()
        {
            return Ok(false);
        }
        let mut index = Index::open(&txn)?;
        let events = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        for entry in events.iter().map_err(db_err("read events"))? {
            let (key, bytes) = entry.map_err(db_err("read events"))?;
            // A corrupt event is named by the load that follows, not here.
            if let Ok(ev) = SignedEvent::decode_unverified(bytes.value(), network) {
                if ev.id().0 == *key.value() {
                    index.add(&ev)?;
                }
            }
        }
        meta.insert(INDEXED_META_KEY, [1u8].as_slice())
            .map_err(db_err("record the event index"))?;
    }
    txn.commit().map_err(db_err("commit indexing"))?;
    Ok(true)
}

impl Store {
    /// Listings some stored event of which named `key` as its dedup key.
    pub fn listings_with_key(&self, key: &Hash32) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(KEY_LISTINGS, key)
    }

    /// The stored events of `listing`: its Contribute and its Updates.
    pub fn listing_events(&self, listing: &ContentId) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(LISTING_EVENTS, listing)
    }

    /// The stored Delivers of `purchase`.
    pub fn deliveries_of(&self, purchase: &ContentId) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(PURCHASE_DELIVERIES, purchase)
    }

    /// The second halves of the pair keys of `def` whose first half is `first`.
    fn seconds(
        &self,
        def: TableDefinition<(&[u8; 32], &[u8; 32]), ()>,
        first: &Hash32,
    ) -> Result<Vec<ContentId>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(def).map_err(db_err("open listing index"))?;
        let range = table
            .range((&first.0, &[0u8; 32])..=(&first.0, &[0xffu8; 32]))
            .map_err(db_err("read listing index"))?;
        let mut out = Vec::new();
        for entry in range {
            let (k, _) = entry.map_err(db_err("read listing index"))?;
            out.push(Hash32(*k.value().1));
        }
        Ok(out)
    }
}
