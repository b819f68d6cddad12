//! Which stored events carry which listing, by listing and by dedup key: what an
//! erasure looks up. It used to scan every event in memory; since issue 19 the
//! finalized events are in the store only, and a scan would read them all back.
//! And which Delivers answer which purchase: what a buyer asks for, kept here rather
//! than in a map of every purchase in memory (50 bytes an event at scale). And the
//! shown teaser of each stored event: the ledger's state holds listings with their
//! teasers erased (half of a listing's memory), so views and search read them here.

use super::*;
use crate::folding::Folded;
use carnet_protocol::payload::{Listing, Payload, Teaser, TeaserSlot};
use redb::{ReadOnlyTable, Table};

/// (listing id, event id) → the shown teaser the event carries, or nothing (an empty
/// value) if it shows none (erased): a row for each stored Contribute and Update. The
/// teaser as teaser hash (32) || salt (32) || length of the canonical teaser (4,
/// little-endian) || canonical teaser || its fields folded for search
/// ([`Folded::encode`]). The state's listing says which is in force by its teaser
/// hash.
///
/// One table for what were two keyed alike, the listing's events and their teasers:
/// each row is a write at a random place, a page of the tree's, and a listing's event
/// now writes two of them rather than three (with its dedup key's).
pub(super) const LISTING_ROWS: TableDefinition<(&[u8; 32], &[u8; 32]), &[u8]> =
    TableDefinition::new("listing_rows");
/// (dedup key, listing id) → nothing: the listings an event of which named the key.
pub(super) const KEY_LISTINGS: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("key_listings");
/// (purchase id, Deliver event id) → nothing: the Delivers of each purchase.
pub(super) const PURCHASE_DELIVERIES: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("purchase_deliveries");
/// (buyer, Purchase event id) → nothing: the purchases of each member, which the
/// state holds by id only (and on disk, since issue 19), for a member's list.
pub(super) const BUYER_PURCHASES: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("buyer_purchases");
/// The two tables [`LISTING_ROWS`] replaces: (listing id, event id) → nothing, and
/// the same keys → the shown teaser (no row for an erased one).
pub(super) const OLD_LISTING_EVENTS: TableDefinition<(&[u8; 32], &[u8; 32]), ()> =
    TableDefinition::new("listing_events");
pub(super) const OLD_TEASERS: TableDefinition<(&[u8; 32], &[u8; 32]), &[u8]> =
    TableDefinition::new("teasers");
/// Meta key set once the tables index every stored event (a store written by an older
/// build is indexed once, when opened). "listing index" before the Delivers were,
/// "event index 2" before the purchases by buyer, "event index 3" (with "teaser index
/// 1" once its teasers were) before [`LISTING_ROWS`].
const INDEXED_META_KEY: &str = "event index 4";
/// The marks of the build before [`LISTING_ROWS`]: a store with both has every table
/// of its whole, and is moved over from the two it replaces.
const OLD_INDEXED_META_KEY: &str = "event index 3";
const OLD_TEASERS_META_KEY: &str = "teaser index 1";

/// A shown teaser as the store keeps it, its bytes not yet decoded: a search looks at
/// the listing and the hash first, scores the folded fields, and decodes only the
/// teasers it shows.
pub struct StoredTeaser<'a> {
    pub listing: ContentId,
    pub hash: Hash32,
    value: &'a [u8],
}

impl StoredTeaser<'_> {
    fn of(listing: ContentId, value: &[u8]) -> Option<StoredTeaser<'_>> {
        let hash = Hash32(value.get(..32)?.try_into().ok()?);
        Some(StoredTeaser {
            listing,
            hash,
            value,
        })
    }

    /// The canonical teaser's bytes and what follows them.
    fn split(&self) -> Option<(&[u8], &[u8])> {
        let len = u32::from_le_bytes(self.value.get(64..68)?.try_into().ok()?) as usize;
        let end = 68usize.checked_add(len)?;
        Some((self.value.get(68..end)?, self.value.get(end..)?))
    }

    /// The teaser, or `None` if the row does not decode (a damaged store).
    pub fn teaser(&self) -> Option<Teaser> {
        from_canonical(self.split()?.0, carnet_protocol::limits::MAX_EVENT_BYTES).ok()
    }

    /// The teaser's fields folded for search, or `None` if the row does not decode.
    pub fn folded(&self) -> Option<Folded<'_>> {
        Folded::parse(self.split()?.1)
    }

    /// The teaser slot as the event carried it (with its salt), or `None` if the row
    /// does not decode.
    pub fn slot(&self) -> Option<TeaserSlot> {
        let salt: [u8; 32] = self.value.get(32..64)?.try_into().ok()?;
        Some(TeaserSlot::Shown {
            teaser: Box::new(self.teaser()?),
            salt,
        })
    }
}

/// The teasers table of one read transaction, which it keeps alive.
pub struct Teasers {
    table: ReadOnlyTable<(&'static [u8; 32], &'static [u8; 32]), &'static [u8]>,
}

impl Teasers {
    /// The shown teaser of `listing` whose hash is `hash`, with its salt.
    pub fn shown(
        &self,
        listing: &ContentId,
        hash: &Hash32,
    ) -> Result<Option<TeaserSlot>, StoreError> {
        let range = self
            .table
            .range((&listing.0, &[0u8; 32])..=(&listing.0, &[0xffu8; 32]))
            .map_err(db_err("read teasers"))?;
        for entry in range {
            let (_, v) = entry.map_err(db_err("read teasers"))?;
            match StoredTeaser::of(*listing, v.value()) {
                Some(t) if t.hash == *hash => return Ok(t.slot()),
                _ => {}
            }
        }
        Ok(None)
    }

    /// Calls `visit` with every stored shown teaser, by listing id (a listing's rows
    /// together): what a search scans.
    pub fn each(&self, mut visit: impl FnMut(StoredTeaser<'_>)) -> Result<(), StoreError> {
        for entry in self.table.iter().map_err(db_err("read teasers"))? {
            let (k, v) = entry.map_err(db_err("read teasers"))?;
            if let Some(t) = StoredTeaser::of(Hash32(*k.value().0), v.value()) {
                visit(t);
            }
        }
        Ok(())
    }
}

/// The value of an event's row with its shown teaser, or `None` for an event that
/// carries no listing or an erased teaser.
pub(super) fn teaser_row(ev: &SignedEvent) -> Option<Vec<u8>> {
    let (_, l) = listing_of(ev)?;
    let TeaserSlot::Shown { teaser, salt } = &l.teaser else {
        return None;
    };
    let bytes = to_canonical(teaser);
    let mut value = Vec::with_capacity(68 + 2 * bytes.len() + 12);
    value.extend_from_slice(&l.teaser.hash().0);
    value.extend_from_slice(salt);
    value.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    value.extend_from_slice(&bytes);
    Folded::encode(teaser, &mut value);
    Some(value)
}

/// The listing an event carries, with the id of the listing: a Contribute's own, or
/// the one an Update names.
pub fn listing_of(ev: &SignedEvent) -> Option<(ContentId, &Listing)> {
    match ev.payload() {
        Payload::Contribute(c) => Some((ev.id(), &c.listing)),
        Payload::Update(u) => Some((u.listing_id, &u.listing)),
        _ => None,
    }
}

/// The index tables of a write transaction.
pub(super) struct Index<'t> {
    keys: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
    deliveries: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
    bought: Table<'t, (&'static [u8; 32], &'static [u8; 32]), ()>,
    rows: Table<'t, (&'static [u8; 32], &'static [u8; 32]), &'static [u8]>,
}

impl<'t> Index<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, StoreError> {
        Ok(Index {
            keys: txn
                .open_table(KEY_LISTINGS)
                .map_err(db_err("open key listings"))?,
            deliveries: txn
                .open_table(PURCHASE_DELIVERIES)
                .map_err(db_err("open purchase deliveries"))?,
            bought: txn
                .open_table(BUYER_PURCHASES)
                .map_err(db_err("open buyer purchases"))?,
            rows: txn
                .open_table(LISTING_ROWS)
                .map_err(db_err("open listing rows"))?,
        })
    }

    /// Keeps the row of `ev` if it carries a listing, with its shown teaser (if it
    /// shows one), replacing what the row held: also what follows `ev` stored again
    /// in another form of itself (its teaser erased), which empties the row.
    pub(super) fn set_teaser(&mut self, ev: &SignedEvent) -> Result<(), StoreError> {
        let Some((listing, _)) = listing_of(ev) else {
            return Ok(());
        };
        let value = teaser_row(ev).unwrap_or_default();
        self.rows
            .insert((&listing.0, &ev.id().0), value.as_slice())
            .map_err(db_err("index listing event"))?;
        Ok(())
    }

    pub(super) fn add(&mut self, ev: &SignedEvent) -> Result<(), StoreError> {
        if let Some((listing, l)) = listing_of(ev) {
            self.keys
                .insert((&l.dedup_key.0, &listing.0), ())
                .map_err(db_err("index listing key"))?;
            self.set_teaser(ev)?;
        }
        if let Payload::Deliver(d) = ev.payload() {
            self.deliveries
                .insert((&d.purchase_id.0, &ev.id().0), ())
                .map_err(db_err("index delivery"))?;
        }
        if let Payload::Purchase(_) = ev.payload() {
            self.bought
                .insert((&ev.author().0, &ev.id().0), ())
                .map_err(db_err("index purchase"))?;
        }
        Ok(())
    }

    /// Takes out the entry of `ev`. The key's entry stays: another event of the
    /// listing may name the key too, and a lookup reads the events it finds anyway.
    pub(super) fn remove(&mut self, ev: &SignedEvent) -> Result<(), StoreError> {
        if let Some((listing, _)) = listing_of(ev) {
            self.rows
                .remove((&listing.0, &ev.id().0))
                .map_err(db_err("unindex listing event"))?;
        }
        if let Payload::Deliver(d) = ev.payload() {
            self.deliveries
                .remove((&d.purchase_id.0, &ev.id().0))
                .map_err(db_err("unindex delivery"))?;
        }
        if let Payload::Purchase(_) = ev.payload() {
            self.bought
                .remove((&ev.author().0, &ev.id().0))
                .map_err(db_err("unindex purchase"))?;
        }
        Ok(())
    }
}

/// Indexes every stored event, once, in a store written before the index existed, or
/// before one of its tables: what each older build lacks is told by its marks, and
/// every table is written whole again (a row already there is written over). Returns
/// whether it did: the one large write leaves the file with much free space (a store
/// of a million events went from 618 to 1,237 MiB), which the caller compacts. A
/// store of the build just before [`LISTING_ROWS`] is moved over from the two tables
/// it replaces instead, without reading the events ([`merge_rows`]), and so is one
/// that build wrote to after this one, its marks beside this build's.
pub(super) fn index_once(db: &Database, network: &NetworkId) -> Result<bool, StoreError> {
    let txn = db.begin_write().map_err(db_err("begin indexing"))?;
    let whole = {
        let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
        let has = |key: &str| -> Result<bool, StoreError> {
            Ok(meta.get(key).map_err(db_err("read meta"))?.is_some())
        };
        let (old, old_teasers) = (has(OLD_INDEXED_META_KEY)?, has(OLD_TEASERS_META_KEY)?);
        if has(INDEXED_META_KEY)? {
            if !old && !old_teasers {
                return Ok(false);
            }
            // The build before's marks beside this build's: it wrote here after this
            // one (a downgrade, then an upgrade). It kept a listing's events in its own
            // tables, so the rows lack what it stored and still hold what it erased:
            // they are written again.
            txn.delete_table(LISTING_ROWS)
                .map_err(db_err("drop listing rows an older build left behind"))?;
        }
        let merge = old && old_teasers;
        if merge {
            merge_rows(&txn)?;
        } else {
            let mut index = Index::open(&txn)?;
            let events = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            for entry in events.iter().map_err(db_err("read events"))? {
                let (key, bytes) = entry.map_err(db_err("read events"))?;
                // A corrupt event is named by the load that follows, not here.
                if let Ok(ev) = SignedEvent::decode_unverified(bytes.value(), network) {
                    if ev.id().0 == *key.value().1 {
                        index.add(&ev)?;
                    }
                }
            }
        }
        for key in [OLD_INDEXED_META_KEY, OLD_TEASERS_META_KEY] {
            meta.remove(key).map_err(db_err("record the event index"))?;
        }
        meta.insert(INDEXED_META_KEY, [1u8].as_slice())
            .map_err(db_err("record the event index"))?;
        !merge
    };
    let drop = db_err("drop the older listing index");
    txn.delete_table(OLD_LISTING_EVENTS).map_err(drop)?;
    let drop = db_err("drop the older listing index");
    txn.delete_table(OLD_TEASERS).map_err(drop)?;
    txn.commit().map_err(db_err("commit indexing"))?;
    Ok(whole)
}

/// Writes [`LISTING_ROWS`] from the two tables it replaces, in `txn`: a row for each
/// listing event, with its teaser where one was kept. Reads no event: at ten million
/// events, some three million rows in key order. The tables the rows leave go with
/// the transaction; the pages they free are written over by what follows, so the file
/// is not compacted.
fn merge_rows(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let events = txn
        .open_table(OLD_LISTING_EVENTS)
        .map_err(db_err("open the older listing index"))?;
    let teasers = txn
        .open_table(OLD_TEASERS)
        .map_err(db_err("open the older teasers"))?;
    let mut rows = txn
        .open_table(LISTING_ROWS)
        .map_err(db_err("open listing rows"))?;
    let read = db_err("read the older listing index");
    for entry in events.iter().map_err(read)? {
        let (key, _) = entry.map_err(db_err("read the older listing index"))?;
        let (listing, id) = key.value();
        let teaser = teasers
            .get((listing, id))
            .map_err(db_err("read the older teasers"))?;
        let value = teaser.as_ref().map_or(&[][..], |t| t.value());
        rows.insert((listing, id), value)
            .map_err(db_err("index listing event"))?;
    }
    Ok(())
}

impl Store {
    /// Listings some stored event of which named `key` as its dedup key.
    pub fn listings_with_key(&self, key: &Hash32) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(KEY_LISTINGS, key)
    }

    /// The stored events of `listing`: its Contribute and its Updates.
    pub fn listing_events(&self, listing: &ContentId) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(LISTING_ROWS, listing)
    }

    /// The stored Purchases `buyer` signed: its purchases, and those of its
    /// Purchases the rules made void.
    pub fn purchases_of(
        &self,
        buyer: &carnet_protocol::PublicKey,
    ) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(BUYER_PURCHASES, &Hash32(buyer.0))
    }

    /// The stored Delivers of `purchase`.
    pub fn deliveries_of(&self, purchase: &ContentId) -> Result<Vec<ContentId>, StoreError> {
        self.seconds(PURCHASE_DELIVERIES, purchase)
    }

    /// The shown teaser of `listing` whose hash is `hash` (the one in force, when
    /// `hash` is the state's), with its salt; `None` if no stored event shows it (all
    /// erased, or the store does not hold the listing's events).
    pub fn shown_teaser(
        &self,
        listing: &ContentId,
        hash: &Hash32,
    ) -> Result<Option<TeaserSlot>, StoreError> {
        self.teasers()?.shown(listing, hash)
    }

    /// The stored teasers as of now, to read more than once from the same version
    /// (a search scans them, then reads those it shows).
    pub fn teasers(&self) -> Result<Teasers, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn
            .open_table(LISTING_ROWS)
            .map_err(db_err("open teasers"))?;
        Ok(Teasers { table })
    }

    /// The second halves of the pair keys of `def` whose first half is `first`.
    fn seconds<V: redb::Value + 'static>(
        &self,
        def: TableDefinition<(&[u8; 32], &[u8; 32]), V>,
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
