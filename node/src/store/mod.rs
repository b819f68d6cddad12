//! The node's storage: every accepted event, the cards this org holds, and a little
//! metadata, in one redb file; and the ledger snapshot in a file beside it.
//!
//! The ledger is a pure function of the event set, so the event set is what has to
//! survive a crash; everything else is rebuilt from it at start-up, or resumed from
//! the snapshot where that still matches the events. redb, the embedded
//! ACID key-value store this project chose, commits a batch of events whole or not at
//! all and reopens after a kill at its last commit, with no server to run.
//!
//! Events are kept as their wire bytes, so what this node serves to peers is byte for
//! byte what was signed, in ledger order (Lamport clock, then content id). Keyed by
//! content id, the events a durable commit adds each landed in a leaf of their own and
//! the commit wrote a page per event; in ledger order they land together at the end of
//! the tree (storing a batch of 256 cost 28.1 µs an event at 100,000 events, 14.4 in
//! ledger order: docs/benchmarks.md). No index from id to clock is kept beside them:
//! it was the one write at a random place left, and at a million events it made a
//! batch cost four times what the events did (33 µs an event against 8). Whoever
//! looks an event up by id knows its clock: the ledger holds the events it has not
//! released, and the records of the released ones name their clocks.
//!
//! Disks rot, so loading decodes every event again and re-checks its id, and the
//! engine re-checks the signatures no snapshot vouches for (a snapshot's digest covers
//! the rest). Held cards are the only contact data a node keeps in clear anywhere, so
//! they are encrypted at rest under a key derived from the org key: a copy of the
//! store file alone reveals no email or phone number.

mod faults;
mod layout;
mod listings;
mod lookups;
mod released;
mod salvage;
mod sealed;
mod snapshot;
#[cfg(test)]
pub(crate) mod tests;
pub mod web;

use faults::FaultyFile;
pub use listings::{listing_of, StoredTeaser, Teasers};
pub use salvage::{quietly, salvage, Salvaged};

use carnet_protocol::card::Card;
use carnet_protocol::encoding::{from_canonical, to_canonical};
use carnet_protocol::event::verify_batch;
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES;
use carnet_protocol::{ContentId, Hash32, NetworkId, SecretKey, SignedEvent};
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::ChaCha20Poly1305;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// (Lamport clock, content id) → the event's wire bytes (canonical body followed by
/// the signature): ledger order, see the module's doc.
const EVENTS: TableDefinition<(u64, &[u8; 32]), &[u8]> = TableDefinition::new("events_in_order");
/// (Lamport clock, content id) → nothing: the keys of [`EVENTS`] alone, so that set
/// reconciliation walks ranges of them and a start lists them all without reading
/// the events.
const ORDER: TableDefinition<(u64, &[u8; 32]), ()> = TableDefinition::new("order");
/// Listing content id → nonce || ChaCha20-Poly1305 ciphertext of the canonical card.
const CARDS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("cards");
/// Evidence hash → the evidence (a bounce message a member of this org posted),
/// ChaCha20-Poly1305-encrypted under the org's at-rest key (no nonce stored: it is
/// derived from the hash), kept so that the org can include it in an audit bundle if
/// it agrees to.
const EVIDENCE: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("evidence");
/// Extension of the file beside the store that holds the last saved ledger snapshot
/// (see [`carnet_protocol::ledger::Snapshot`]): a cache of the state, so a restart
/// applies only the events after it. Not a redb value: replacing a value of hundreds
/// of MiB made redb grow its file for the room while the old one was live, to 2.4 GiB
/// at a million events against 830 MiB for the two files (docs/benchmarks.md).
pub const SNAPSHOT_EXTENSION: &str = "snapshot";
/// Suffix of a snapshot file being written, before it is renamed into place.
const SNAPSHOT_TMP_SUFFIX: &str = ".tmp";
/// Bytes of the store's pages redb keeps in memory. Its default is 1 GiB, which a
/// node serving a store of millions of events fills, half the memory a node at 10M
/// events may take (issue 19); the operating system's page cache holds the file too.
const CACHE_BYTES: usize = 64 << 20;
/// Small named values: the network id and whatever else the node needs to remember.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Meta key holding the network id the store was created for. Reserved: a store must
/// never be reused for another network, whose events it would mix with its own.
pub const NETWORK_META_KEY: &str = "network";
/// BLAKE3 derive-key context of the card-at-rest key.
pub const CARD_AT_REST_CONTEXT: &str = "carnet v1 card at rest";
/// BLAKE3 derive-key contexts of the evidence-at-rest key and of its nonces.
pub const EVIDENCE_AT_REST_CONTEXT: &str = "carnet v3 evidence at rest";
const EVIDENCE_NONCE_CONTEXT: &str = "carnet v3 evidence at rest nonce";
/// ChaCha20-Poly1305 nonce length; a stored card starts with its nonce.
pub const CARD_NONCE_LEN: usize = 12;
/// Poly1305 tag length: the shortest ciphertext there is.
const CARD_TAG_LEN: usize = 16;
/// Events whose signatures are batch-checked together when loading. A chunk that fails
/// is re-checked one event at a time to name the bad one, so this stays small enough
/// for that to be cheap and large enough for batching to pay.
const LOAD_CHECK_CHUNK: usize = 256;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process (a node) holds the store's lock.
    #[error("event store {path} is in use by another process")]
    InUse { path: PathBuf },
    #[error("event store {path}: {source}")]
    Open {
        path: PathBuf,
        source: Box<redb::Error>,
    },
    #[error("event store: {context}: {source}")]
    Db {
        context: &'static str,
        source: Box<redb::Error>,
    },
    /// Something read from disk is not what was written: `id` names the entry.
    #[error("event store entry {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("the event store belongs to network {stored}, not {expected}")]
    WrongNetwork {
        expected: NetworkId,
        stored: NetworkId,
    },
    #[error("event {id} is for network {got}, not this store's {expected}")]
    EventNetwork {
        id: ContentId,
        expected: NetworkId,
        got: NetworkId,
    },
    #[error(
        "the held card of listing {listing} does not decrypt with this org key \
         (a store of another org, or tampered with)"
    )]
    CardKey { listing: ContentId },
    #[error("evidence of {0} bytes is over the limit of {MAX_EVIDENCE_BYTES}")]
    EvidenceTooLarge(usize),
    /// A read of the store failed where the ledger needed the answer.
    #[error("the event store could not be read: {0}")]
    Unreadable(String),
    #[error("ledger snapshot: {0}")]
    Snapshot(String),
    #[error("meta key {0:?} is reserved by the store")]
    ReservedMeta(String),
    /// The database is being opened again after a failed write.
    #[error("the event store is being reopened after a failed write; try again")]
    Reopening,
    /// The store file is damaged beyond what the checks above name: redb itself gave
    /// up reading it.
    #[error(
        "{path} is damaged ({detail}); `carnet node repair` keeps what is intact, and \
         the node fetches the rest from its peers"
    )]
    Damaged { path: PathBuf, detail: String },
}

/// Maps any redb error to [`StoreError::Db`] with what the store was doing.
fn db_err<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db {
        context,
        source: Box::new(e.into()),
    }
}

/// A stored event decoded again and checked against the id it is stored under, but
/// not its signature; anything else is [`StoreError::Corrupt`], naming the entry.
fn decode_stored(
    id: ContentId,
    bytes: &[u8],
    network: &NetworkId,
) -> Result<SignedEvent, StoreError> {
    let ev = SignedEvent::decode_unverified(bytes, network)
        .map_err(|e| corrupt(id, format!("does not decode: {e}")))?;
    if ev.id() != id {
        return Err(corrupt(id, format!("its bytes hash to {}", ev.id())));
    }
    Ok(ev)
}

fn corrupt(id: impl ToString, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        id: id.to_string(),
        reason: reason.to_string(),
    }
}

/// The node's open store. Cheap to clone and share across threads: redb serialises
/// writers and lets readers run alongside them.
#[derive(Clone)]
pub struct Store {
    /// None only while [`Store::reopen`] swaps the database.
    db: std::sync::Arc<std::sync::RwLock<Option<std::sync::Arc<Database>>>>,
    path: PathBuf,
    /// Tests only: when set, every write to the file fails as on a full disk.
    faults: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    network: NetworkId,
    /// Where the ledger snapshot lives: the store's path with [`SNAPSHOT_EXTENSION`].
    snapshot_path: PathBuf,
    /// Write transactions begun, and how many of them the last [`Store::settle`]
    /// covered: see there.
    writes: std::sync::Arc<std::sync::atomic::AtomicU64>,
    settled: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Whether redb checked the whole file when it last opened it: see
    /// [`Store::repaired`].
    repaired: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The record tables the ledger's lookups share (see [`lookups`]).
    lookups: std::sync::Arc<lookups::Lookups>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// A write transaction, counted for [`Store::settle`].
    fn begin_write(&self, context: &'static str) -> Result<redb::WriteTransaction, StoreError> {
        self.lookups.release();
        let txn = self.db()?.begin_write().map_err(db_err(context))?;
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(txn)
    }

    /// Commits a write that may have changed the records the ledger's lookups read,
    /// and has the lookups open them again (see [`lookups`]), whether it committed or
    /// not.
    fn commit_records(
        &self,
        txn: redb::WriteTransaction,
        context: &'static str,
    ) -> Result<(), StoreError> {
        let committed = txn.commit().map_err(db_err(context));
        self.lookups.changed();
        committed
    }

    /// Makes the store quick to open after a crash, if anything was written since
    /// the last call: a commit that also saves redb's allocator state (its "quick
    /// repair"). After a kill, redb opens a store whose last commit was such one at
    /// once; any other it checks whole first, about 1 s a GB of file (1.5 s at a
    /// million events, some 17 s at ten million). Every commit could save it, but
    /// that costs more the larger the file (0.49 ms against 0.19 at 1.6 GB, 1.2 ms
    /// at 7.7 GB, docs/benchmarks.md): the node settles its store once a second
    /// while it writes, so a node killed when idle, or a second after its last
    /// write, opens at once. True if it committed.
    pub fn settle(&self) -> Result<bool, StoreError> {
        use std::sync::atomic::Ordering;
        let writes = self.writes.load(Ordering::SeqCst);
        if writes == self.settled.load(Ordering::SeqCst) {
            return Ok(false);
        }
        let mut txn = self.begin_write("begin settle")?;
        txn.set_quick_repair(true);
        txn.commit().map_err(db_err("commit settle"))?;
        // Its own write counted too: nothing else was written after it if the
        // count is one more than it was.
        self.settled.store(writes + 1, Ordering::SeqCst);
        Ok(true)
    }

    /// Whether redb had to check the whole file when it last opened it: it was not
    /// closed cleanly, and its last commit was not settled ([`Store::settle`]).
    pub fn repaired(&self) -> bool {
        self.repaired.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The open database. redb refuses every transaction after a failed write until
    /// it is opened again ([`Store::reopen`]).
    fn db(&self) -> Result<std::sync::Arc<Database>, StoreError> {
        let guard = self.db.read().unwrap_or_else(|p| p.into_inner());
        guard.clone().ok_or(StoreError::Reopening)
    }

    /// Closes the database and opens it again: what redb needs after a failed write
    /// (a full disk) before it takes writes again. Every clone of this store sees the
    /// new one. Fails if the file cannot be opened (the disk is still full), or while
    /// another thread is inside a transaction of the old one; then try again later.
    pub fn reopen(&self) -> Result<(), StoreError> {
        let mut guard = self.db.write().unwrap_or_else(|p| p.into_inner());
        // redb locks the file per process: the old handle must be gone first, and
        // the tables the lookups share hold it.
        self.lookups.changed();
        drop(guard.take());
        match Self::open_database(&self.path, &self.faults, &self.repaired) {
            Ok(db) => {
                *guard = Some(std::sync::Arc::new(db));
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Opens the store at `path`, creating the file and its tables if missing. A new
    /// store records `network`; an existing one of another network is refused.
    pub fn open(path: &Path, network: NetworkId) -> Result<Store, StoreError> {
        Self::open_with(path, network, None)
    }

    /// [`Store::open`] over a file whose writes fail, as on a full disk, while
    /// `faults` is set: for tests of what a failed write leaves behind.
    #[doc(hidden)]
    pub fn open_with_faults(
        path: &Path,
        network: NetworkId,
        faults: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Store, StoreError> {
        Self::open_with(path, network, Some(faults))
    }

    /// Opens the file; sets `repaired` if redb had to check it whole first.
    fn open_database(
        path: &Path,
        faults: &Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
        repaired: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Database, StoreError> {
        let flag = repaired.clone();
        let on_repair = move |_: &mut redb::RepairSession| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        };
        let open = |e: redb::DatabaseError| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::InUse {
                path: path.to_owned(),
            },
            e => StoreError::Open {
                path: path.to_owned(),
                source: Box::new(e.into()),
            },
        };
        match faults {
            None => redb::Builder::new()
                .set_cache_size(CACHE_BYTES)
                .set_repair_callback(on_repair)
                .create(path)
                .map_err(open),
            Some(fail) => {
                let file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(path)
                    .map_err(|source| StoreError::Io {
                        path: path.to_owned(),
                        source,
                    })?;
                let inner = redb::backends::FileBackend::new(file).map_err(open)?;
                redb::Builder::new()
                    .set_cache_size(CACHE_BYTES)
                    .set_repair_callback(on_repair)
                    .create_with_backend(FaultyFile {
                        inner,
                        fail: fail.clone(),
                    })
                    .map_err(open)
            }
        }
    }

    fn open_with(
        path: &Path,
        network: NetworkId,
        faults: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        private_file(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?;
        let repaired = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let t = std::time::Instant::now();
        let mut db = Self::open_database(path, &faults, &repaired)?;
        if repaired.load(std::sync::atomic::Ordering::SeqCst) {
            tracing::warn!(
                secs = t.elapsed().as_secs_f64(),
                "the event store was not closed cleanly since its last settled write: redb checked it whole"
            );
        }
        let txn = db.begin_write().map_err(db_err("begin opening"))?;
        {
            txn.open_table(EVENTS)
                .map_err(db_err("create events table"))?;
            txn.open_table(ORDER)
                .map_err(db_err("create order table"))?;
            txn.open_table(CARDS)
                .map_err(db_err("create cards table"))?;
            txn.open_table(EVIDENCE)
                .map_err(db_err("create evidence table"))?;
            listings::Index::open(&txn)?;
            released::index_held_once(&txn)?;
            let mut meta = txn.open_table(META).map_err(db_err("create meta table"))?;
            let stored = meta
                .get(NETWORK_META_KEY)
                .map_err(db_err("read network id"))?
                .map(|v| v.value().to_vec());
            match stored {
                None => {
                    meta.insert(NETWORK_META_KEY, network.as_bytes().as_slice())
                        .map_err(db_err("record network id"))?;
                }
                Some(bytes) => {
                    let stored: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                        corrupt(
                            "meta:network",
                            format!("network id is {} bytes, not 32", bytes.len()),
                        )
                    })?;
                    if stored != network.0 {
                        return Err(StoreError::WrongNetwork {
                            expected: network,
                            stored: Hash32(stored),
                        });
                    }
                }
            }
        }
        txn.commit().map_err(db_err("commit opening"))?;
        let moved = layout::move_events_once(&db, &network, layout::MOVE_CHUNK, usize::MAX)?;
        let unindexed = layout::drop_clock_index_once(&db)?;
        if listings::index_once(&db, &network)? || moved || unindexed {
            // Only space is at stake: a store that cannot be compacted still works.
            if let Err(e) = db.compact() {
                tracing::warn!(error = %e, "could not compact the event store after a large write");
            }
        }
        let store = Store {
            db: std::sync::Arc::new(std::sync::RwLock::new(Some(std::sync::Arc::new(db)))),
            path: path.to_owned(),
            faults,
            network,
            snapshot_path: path.with_extension(SNAPSHOT_EXTENSION),
            // Unsettled from the start: opening may have written (a repair, the
            // tables of a new store, the listing index).
            writes: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
            repaired,
            settled: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
            lookups: Default::default(),
        };
        store.remove_stale_snapshot_writes();
        Ok(store)
    }

    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Stores a batch of events in one transaction: all of them or, on error, none.
    /// Events already stored are left as they are.
    pub fn put_events<E: std::borrow::Borrow<SignedEvent>>(
        &self,
        events: &[E],
    ) -> Result<(), StoreError> {
        self.put_events_with(events, true)
    }

    /// [`Store::put_events`] with a commit that is not durable: readable at once, on
    /// disk only with the next durable commit (any other write, or [`Store::settle`],
    /// or closing the store), lost with the process before that, and with the open
    /// database after a failed write. For events that can be fetched again: a
    /// catch-up's. The durable commit is most of what storing a fetch costs.
    pub fn put_events_undurable<E: std::borrow::Borrow<SignedEvent>>(
        &self,
        events: &[E],
    ) -> Result<(), StoreError> {
        self.put_events_with(events, false)
    }

    fn put_events_with<E: std::borrow::Borrow<SignedEvent>>(
        &self,
        events: &[E],
        durable: bool,
    ) -> Result<(), StoreError> {
        if let Some(ev) = events
            .iter()
            .map(|e| e.borrow())
            .find(|e| e.body().network != self.network)
        {
            return Err(StoreError::EventNetwork {
                id: ev.id(),
                expected: self.network,
                got: ev.body().network,
            });
        }
        let mut txn = self.begin_write("begin put")?;
        if !durable {
            txn.set_durability(redb::Durability::None)
                .map_err(db_err("put without a durable commit"))?;
        }
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut order = txn.open_table(ORDER).map_err(db_err("open order"))?;
            let mut held = txn
                .open_table(released::HELD)
                .map_err(db_err("open held"))?;
            let mut index = listings::Index::open(&txn)?;
            for ev in events {
                let ev = ev.borrow();
                let (id, lamport) = (ev.id(), ev.lamport());
                // An event stored before (an id has one clock, so one key) stays as it
                // is, in whatever form it has now (a teaser erased, `replace_events`):
                // its bytes are put back. The ledger orders an id once, so that is
                // rare, and one descent of the tree an event is not paid for it.
                let before = table
                    .insert((lamport, &id.0), ev.as_bytes())
                    .map_err(db_err("insert event"))?
                    .map(|old| old.value().to_vec());
                if let Some(old) = before {
                    table
                        .insert((lamport, &id.0), old.as_slice())
                        .map_err(db_err("keep stored event"))?;
                    continue;
                }
                order
                    .insert((lamport, &id.0), ())
                    .map_err(db_err("insert order key"))?;
                held.insert((lamport, &id.0), ())
                    .map_err(db_err("list held"))?;
                index.add(ev)?;
            }
        }
        txn.commit().map_err(db_err("commit put"))
    }

    /// Overwrites stored events with another form of themselves, in one transaction:
    /// the same ids and clocks, other bytes (a teaser erased). Ids not stored are
    /// left out.
    pub fn replace_events(&self, events: &[SignedEvent]) -> Result<(), StoreError> {
        let txn = self.begin_write("begin replace")?;
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut index = listings::Index::open(&txn)?;
            for ev in events {
                let (id, lamport) = (ev.id(), ev.lamport());
                if table
                    .get((lamport, &id.0))
                    .map_err(db_err("look up event"))?
                    .is_none()
                {
                    continue;
                }
                table
                    .insert((lamport, &id.0), ev.as_bytes())
                    .map_err(db_err("replace event"))?;
                index.set_teaser(ev)?;
            }
        }
        txn.commit().map_err(db_err("commit replace"))
    }

    /// Removes events and their order keys in one transaction (events an older build
    /// stored that a start finds invalid or incomplete). Unknown ids are ignored. The
    /// events are found by one pass over the order index, since no index by id is
    /// kept: some seconds at 10M events, for what a start rarely finds.
    pub fn remove_events(&self, ids: &[ContentId]) -> Result<(), StoreError> {
        let txn = self.begin_write("begin remove")?;
        // An event the ledger had finalized: the records go, all of them, and the
        // next start writes them again from the events that are left. The snapshot
        // goes first: the finalized movements are in the records, not in it, and the
        // next start replays every event to find them again.
        if released::any_recorded(&txn, ids)? {
            self.remove_snapshot()?;
            Self::forget_released(&txn)?;
        }
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut order = txn.open_table(ORDER).map_err(db_err("open order"))?;
            let mut held = txn
                .open_table(released::HELD)
                .map_err(db_err("open held"))?;
            let mut index = listings::Index::open(&txn)?;
            let wanted: HashSet<[u8; 32]> = ids.iter().map(|id| id.0).collect();
            let mut keys = Vec::new();
            if !wanted.is_empty() {
                for entry in order.iter().map_err(db_err("scan order index"))? {
                    let (key, _) = entry.map_err(db_err("scan order index"))?;
                    let (lamport, id) = key.value();
                    if wanted.contains(id) {
                        keys.push((lamport, *id));
                    }
                }
            }
            for (lamport, id) in &keys {
                held.remove((*lamport, id)).map_err(db_err("unlist held"))?;
                order
                    .remove((*lamport, id))
                    .map_err(db_err("remove order key"))?;
                if let Some(bytes) = table
                    .remove((*lamport, id))
                    .map_err(db_err("remove event"))?
                {
                    // Not a whole event (damaged): nothing indexed to undo can be
                    // read from it.
                    if let Ok(ev) = SignedEvent::decode_unverified(bytes.value(), &self.network) {
                        index.remove(&ev)?;
                    }
                }
            }
        }
        self.commit_records(txn, "commit remove")
    }

    /// Every stored event in ledger order (Lamport clock, then content id), decoded again
    /// and checked against its id and order key, but not its signature: the caller
    /// checks those with [`verify_loaded`] for the events no snapshot vouches for.
    /// Anything that does not check out is [`StoreError::Corrupt`], naming the entry.
    pub fn load_events(&self, network: &NetworkId) -> Result<Vec<SignedEvent>, StoreError> {
        self.check_network(network)?;
        let txn = self.db()?.begin_read().map_err(db_err("begin load"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        let total = table.len().map_err(db_err("count events"))?;
        let mut out: Vec<SignedEvent> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for entry in table.iter().map_err(db_err("read events"))? {
            let (key, bytes) = entry.map_err(db_err("read events"))?;
            let (lamport, id) = key.value();
            let ev = decode_stored(Hash32(*id), bytes.value(), network)?;
            if let Some(e) = misindexed(&ev.id(), lamport, Some(ev.lamport())) {
                return Err(e);
            }
            out.push(ev);
        }
        // The order index must list exactly these events, at their clocks.
        let mut next = out.iter();
        let mut in_step = true;
        for entry in order.iter().map_err(db_err("read order index"))? {
            let (key, _) = entry.map_err(db_err("read order index"))?;
            let (lamport, id) = key.value();
            if next.next().map(|e| (e.lamport(), e.id().0)) != Some((lamport, *id)) {
                in_step = false;
                break;
            }
        }
        if !in_step || next.next().is_some() {
            let mut index = Vec::new();
            for entry in order.iter().map_err(db_err("read order index"))? {
                let (key, _) = entry.map_err(db_err("read order index"))?;
                let (lamport, id) = key.value();
                index.push((lamport, Hash32(*id)));
            }
            return Err(order_mismatch(&out, &index));
        }
        Ok(out)
    }

    /// Refuses to read this store's events for another network than its own.
    fn check_network(&self, network: &NetworkId) -> Result<(), StoreError> {
        match network == &self.network {
            true => Ok(()),
            false => Err(StoreError::WrongNetwork {
                expected: *network,
                stored: self.network,
            }),
        }
    }

    /// The next `limit` stored events in ledger order after the order key `after`
    /// (from the first with None), each checked as [`Store::load_events`] checks it:
    /// decoded again, against its id and its place in the index. What a start that
    /// replays every event reads, a window at a time, so that the events it has
    /// applied and let go are not all in memory at once. Every order key must name a
    /// stored event at that clock; the caller checks at the end that the windows held
    /// every stored event ([`Store::event_count`], then
    /// [`Store::unindexed_event`]).
    pub fn load_events_after(
        &self,
        network: &NetworkId,
        after: Option<(u64, ContentId)>,
        limit: usize,
    ) -> Result<Vec<SignedEvent>, StoreError> {
        self.check_network(network)?;
        let txn = self.db()?.begin_read().map_err(db_err("begin load"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        let from = after.map(|(lamport, id)| (lamport, id.0));
        let range = match &from {
            Some((lamport, id)) => order.range::<(u64, &[u8; 32])>((
                std::ops::Bound::Excluded((*lamport, id)),
                std::ops::Bound::Unbounded,
            )),
            None => order.range::<(u64, &[u8; 32])>(..),
        };
        let mut out = Vec::with_capacity(limit.min(1 << 16));
        for entry in range.map_err(db_err("read order index"))?.take(limit) {
            let (key, _) = entry.map_err(db_err("read order index"))?;
            let (lamport, id) = key.value();
            let id = Hash32(*id);
            let Some(bytes) = table.get((lamport, &id.0)).map_err(db_err("read event"))? else {
                // Named as a whole load names it: by the clock it is stored at, if
                // another. A damaged store only, so one pass over the events to find
                // it, as no index by id is kept.
                let mut stored = None;
                for entry in table.iter().map_err(db_err("read events"))? {
                    let (key, _) = entry.map_err(db_err("read events"))?;
                    let (clock, other) = key.value();
                    if other == &id.0 {
                        stored = Some(clock);
                        break;
                    }
                }
                return Err(misindexed(&id, lamport, stored).unwrap_or_else(|| unindexed(&id)));
            };
            let ev = decode_stored(id, bytes.value(), network)?;
            if let Some(e) = misindexed(&id, lamport, Some(ev.lamport())) {
                return Err(e);
            }
            out.push(ev);
        }
        Ok(out)
    }

    /// Why the order index and the stored events disagree in number: the first entry
    /// one of them misses, named. Read only once a count says so (see
    /// [`Store::load_events_after`]).
    pub fn unindexed_event(&self) -> Result<StoreError, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        for entry in table.iter().map_err(db_err("read events"))? {
            let (key, _) = entry.map_err(db_err("read events"))?;
            let (lamport, id) = key.value();
            let indexed = order
                .get((lamport, id))
                .map_err(db_err("read order index"))?
                .is_some();
            if !indexed {
                return Ok(unindexed(&Hash32(*id)));
            }
        }
        for entry in order.iter().map_err(db_err("read order index"))? {
            let (key, _) = entry.map_err(db_err("read order index"))?;
            let (lamport, id) = key.value();
            let stored = table
                .get((lamport, id))
                .map_err(db_err("read event"))?
                .is_some();
            if !stored {
                return Ok(not_stored(&Hash32(*id)));
            }
        }
        Ok(corrupt("order index", "does not list the stored events"))
    }

    /// Whether the event `id` is stored at the clock `lamport` (its own: an id has
    /// one). The caller knows the clock: see the module's doc.
    pub fn has_event_at(&self, lamport: u64, id: &ContentId) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        Ok(table
            .get((lamport, &id.0))
            .map_err(db_err("read event"))?
            .is_some())
    }

    /// The wire bytes of the event `id` stored at the clock `lamport`, as they were
    /// stored (not re-checked).
    pub fn event_bytes_at(
        &self,
        lamport: u64,
        id: &ContentId,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        bytes_at(&txn, lamport, id)
    }

    /// [`Store::event_bytes_at`] for a released event, found by its id through the
    /// records, which name its clock; None for an event not released (the ledger
    /// holds it) or not stored.
    pub fn event_bytes(&self, id: &ContentId) -> Result<Option<Vec<u8>>, StoreError> {
        // One read transaction for both: the record and the event it names.
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let Some(stubs) = released::open(&txn, released::STUBS)? else {
            return Ok(None);
        };
        let Some(lamport) = stubs
            .get(&id.0)
            .map_err(db_err("read records"))?
            .map(|v| v.value().0)
        else {
            return Ok(None);
        };
        bytes_at(&txn, lamport, id)
    }

    /// Ids of released events from `lo` to `hi` (as bytes, both included), ascending:
    /// the first `limit` that `keep` accepts. What a lookup by id prefix reads, with
    /// the events the ledger holds.
    pub fn released_ids_from_to(
        &self,
        lo: &[u8; 32],
        hi: &[u8; 32],
        limit: usize,
        mut keep: impl FnMut(&ContentId) -> bool,
    ) -> Result<Vec<ContentId>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let mut out = Vec::new();
        let Some(table) = released::open(&txn, released::STUBS)? else {
            return Ok(out);
        };
        if limit == 0 {
            return Ok(out);
        }
        for entry in table
            .range::<&[u8; 32]>(lo..=hi)
            .map_err(db_err("read event ids"))?
        {
            let id = Hash32(*entry.map_err(db_err("read event ids"))?.0.value());
            if keep(&id) {
                out.push(id);
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// A released event decoded again, not re-verified: it was verified before it was
    /// stored. None if it is not released (the ledger holds it) or not stored; an
    /// error if the store cannot be read, or the entry does not decode to the event
    /// its id names.
    pub fn checked_event(&self, id: &ContentId) -> Result<Option<SignedEvent>, StoreError> {
        match self.event_bytes(id)? {
            Some(bytes) => decode_stored(*id, &bytes, &self.network).map(Some),
            None => Ok(None),
        }
    }

    /// How many events are stored.
    pub fn event_count(&self) -> Result<u64, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        table.len().map_err(db_err("count events"))
    }

    /// The order keys in the half-open range [`from`, `to`), ascending.
    pub fn ids_between(
        &self,
        from: (u64, ContentId),
        to: (u64, ContentId),
    ) -> Result<Vec<(u64, ContentId)>, StoreError> {
        if from >= to {
            return Ok(Vec::new());
        }
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        let mut out = Vec::new();
        let range = order
            .range((from.0, &from.1 .0)..(to.0, &to.1 .0))
            .map_err(db_err("read order range"))?;
        for entry in range {
            let (key, _) = entry.map_err(db_err("read order range"))?;
            let (lamport, id) = key.value();
            out.push((lamport, Hash32(*id)));
        }
        Ok(out)
    }

    /// Sets a meta value. [`NETWORK_META_KEY`] is the store's own and refused.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key == NETWORK_META_KEY {
            return Err(StoreError::ReservedMeta(key.to_owned()));
        }
        let txn = self.begin_write("begin put meta")?;
        {
            let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
            meta.insert(key, value).map_err(db_err("insert meta"))?;
        }
        txn.commit().map_err(db_err("commit put meta"))
    }

    /// Every meta entry whose key starts with `prefix`, in key order.
    pub fn meta_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let meta = txn.open_table(META).map_err(db_err("open meta"))?;
        let mut out = Vec::new();
        for entry in meta.range(prefix..).map_err(db_err("read meta"))? {
            let (k, v) = entry.map_err(db_err("read meta"))?;
            if !k.value().starts_with(prefix) {
                break;
            }
            out.push((k.value().to_owned(), v.value().to_vec()));
        }
        Ok(out)
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let meta = txn.open_table(META).map_err(db_err("open meta"))?;
        Ok(meta
            .get(key)
            .map_err(db_err("read meta"))?
            .map(|v| v.value().to_vec()))
    }
}

/// The wire bytes of the event `id` stored at `lamport`, read in `txn`.
fn bytes_at(
    txn: &redb::ReadTransaction,
    lamport: u64,
    id: &ContentId,
) -> Result<Option<Vec<u8>>, StoreError> {
    let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
    Ok(table
        .get((lamport, &id.0))
        .map_err(db_err("read event"))?
        .map(|v| v.value().to_vec()))
}

/// Names the first entry where the order index and the events disagree.
fn order_mismatch(events: &[SignedEvent], index: &[(u64, ContentId)]) -> StoreError {
    let clocks: std::collections::HashMap<ContentId, u64> =
        events.iter().map(|e| (e.id(), e.lamport())).collect();
    for (lamport, id) in index {
        if let Some(e) = misindexed(id, *lamport, clocks.get(id).copied()) {
            return e;
        }
    }
    let indexed: HashSet<ContentId> = index.iter().map(|(_, id)| *id).collect();
    match events.iter().find(|e| !indexed.contains(&e.id())) {
        Some(ev) => unindexed(&ev.id()),
        None => corrupt("order index", "lists an event twice"),
    }
}

/// The order index lists `id` at `lamport`: what is wrong with that, given the clock
/// of the event stored under `id` (None if there is none). Both readers of every
/// event ([`Store::load_events`], [`Store::load_events_after`]) name damage alike.
fn misindexed(id: &ContentId, lamport: u64, stored: Option<u64>) -> Option<StoreError> {
    match stored {
        None => Some(not_stored(id)),
        Some(clock) if clock != lamport => Some(corrupt(
            id,
            format!("indexed at Lamport {lamport}, but its clock is {clock}"),
        )),
        Some(_) => None,
    }
}

/// An event the order index lists and the events table does not hold.
fn not_stored(id: &ContentId) -> StoreError {
    corrupt(id, "in the order index but not among the events")
}

/// A stored event the order index does not list.
fn unindexed(id: &ContentId) -> StoreError {
    corrupt(id, "stored but missing from the order index")
}

/// Checks the signatures of events loaded from the store, in batches; a bad one is
/// [`StoreError::Corrupt`], named.
pub fn verify_loaded(events: &[&SignedEvent]) -> Result<(), StoreError> {
    events
        .chunks(LOAD_CHECK_CHUNK)
        .try_for_each(check_signatures)
}

/// Batch-checks the signatures of events this node stored itself; on failure, finds
/// the first bad one with the single check so the error can name it.
fn check_signatures(events: &[&SignedEvent]) -> Result<(), StoreError> {
    if events.is_empty() || verify_batch(events).is_ok() {
        return Ok(());
    }
    for ev in events {
        ev.verify_signature()
            .map_err(|e| corrupt(ev.id(), format!("signature: {e}")))?;
    }
    // The batch failed but every single check passed: the batch and single checks
    // agree (`verify_batch`) but for a chance of about 2^-128.
    Ok(())
}

/// Creates `path` owner-only (0600) if it does not exist, and makes it so if it does:
/// the store holds held cards and bounce messages (encrypted), and who bought what.
fn private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600);
        opts.open(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    opts.open(path)?;
    Ok(())
}

/// The ledger lets its finalized events out of memory into the store, and reads them
/// back from it to serve, audit or prove.
impl carnet_protocol::ledger::Archive for Store {
    fn event(
        &self,
        id: &ContentId,
    ) -> Result<Option<SignedEvent>, carnet_protocol::ledger::ArchiveError> {
        self.checked_event(id)
            .map_err(|e| carnet_protocol::ledger::ArchiveError(e.to_string()))
    }
}

/// A read of a released event that failed, as the ledger reports it.
impl From<carnet_protocol::ledger::ArchiveError> for StoreError {
    fn from(e: carnet_protocol::ledger::ArchiveError) -> Self {
        StoreError::Unreadable(e.0)
    }
}
