//! The node's storage: every accepted event, the cards this org holds, and a little
//! metadata, in one redb file; and the ledger snapshot in a file beside it.
//!
//! The ledger is a pure function of the event set, so the event set is what has to
//! survive a crash; everything else is rebuilt from it at start-up, or resumed from
//! the snapshot where that still matches the events. redb, the embedded
//! ACID key-value store this project chose, commits a batch of events whole or not at
//! all and reopens after a kill at its last commit, with no server to run.
//!
//! Events are kept as their wire bytes, keyed by content id, so what this node serves
//! to peers is byte for byte what was signed. Disks rot, so loading decodes every event
//! again and re-checks its id, and the engine re-checks the signatures no snapshot
//! vouches for (a snapshot's digest covers the rest). Held cards are the only contact data
//! a node keeps in clear anywhere, so they are encrypted at rest under a key derived
//! from the org key: a copy of the store file alone reveals no email or phone number.

use carnet_protocol::card::Card;
use carnet_protocol::encoding::{from_canonical, take_canonical, to_canonical};
use carnet_protocol::event::batch_check_stored;
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES;
use carnet_protocol::{ContentId, EventBody, Hash32, NetworkId, SecretKey, SignedEvent};
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::ChaCha20Poly1305;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Content id → the event's wire bytes (canonical body followed by the signature).
const EVENTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("events");
/// (Lamport clock, content id) → nothing: ledger order, so a replay reads events in
/// the order the ledger applies them and set reconciliation can walk ranges of it.
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

/// A file backend whose writes fail while `fail` is set, as on a full disk (tests).
#[derive(Debug)]
struct FaultyFile {
    inner: redb::backends::FileBackend,
    fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FaultyFile {
    fn check(&self) -> Result<(), std::io::Error> {
        if self.fail.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                "no space left on device (injected)",
            ));
        }
        Ok(())
    }
}

impl redb::StorageBackend for FaultyFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.check()?;
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }
    fn try_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }
    fn try_lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }
    fn lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }
    fn lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }
    fn unlock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }
}

/// Runs `f`, turning a panic into its message. redb panics on some damaged pages
/// rather than returning an error; the node must name the file instead of dying. The
/// panic hook is silenced meanwhile so the one clear error is all the operator reads.
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unreadable".into())
    })
}

/// What could be read back from a damaged store file.
#[derive(Debug, Default)]
pub struct Salvaged {
    /// Events that decode and match their key (their signatures and order are checked
    /// when the node loads them).
    pub events: Vec<SignedEvent>,
    /// Held cards and evidence as stored (encrypted): keys and values.
    pub cards: Vec<([u8; 32], Vec<u8>)>,
    pub evidence: Vec<([u8; 32], Vec<u8>)>,
    /// What could not be read, in words.
    pub lost: Vec<String>,
}

/// Reads whatever entries of the store at `path` can still be read, table by table,
/// past damaged pages where redb allows it.
pub fn salvage(path: &Path, network: &NetworkId) -> Salvaged {
    let mut out = Salvaged::default();
    let db = match quietly(|| Database::open(path)) {
        Ok(Ok(db)) => db,
        Ok(Err(e)) => {
            out.lost.push(format!("the whole file: {e}"));
            return out;
        }
        Err(p) => {
            out.lost.push(format!("the whole file: {p}"));
            return out;
        }
    };
    type Raw = Vec<([u8; 32], Vec<u8>)>;
    fn read_table(
        db: &Database,
        table: TableDefinition<&[u8; 32], &[u8]>,
        into: &mut Raw,
    ) -> Result<(), String> {
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        let t = txn.open_table(table).map_err(|e| e.to_string())?;
        for (k, v) in t.iter().map_err(|e| e.to_string())?.flatten() {
            into.push((*k.value(), v.value().to_vec()));
        }
        Ok(())
    }
    let mut events = Vec::new();
    for (name, table, into) in [
        ("events", EVENTS, &mut events),
        ("cards", CARDS, &mut out.cards),
        ("evidence", EVIDENCE, &mut out.evidence),
    ] {
        match quietly(|| read_table(&db, table, into)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => out.lost.push(format!("the {name} table: {e}")),
            Err(p) => out.lost.push(format!("part of the {name} table: {p}")),
        }
    }
    let mut bad = 0;
    for (k, v) in events {
        match SignedEvent::decode(&v, network) {
            Ok(ev) if ev.id().0 == k => out.events.push(ev),
            _ => bad += 1,
        }
    }
    if bad > 0 {
        out.lost
            .push(format!("{bad} events whose bytes no longer check out"));
    }
    out
}

/// Maps any redb error to [`StoreError::Db`] with what the store was doing.
fn db_err<E: Into<redb::Error>>(context: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Db {
        context,
        source: Box::new(e.into()),
    }
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
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Store {
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
        // redb locks the file per process: the old handle must be gone first.
        drop(guard.take());
        match Self::open_database(&self.path, &self.faults) {
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

    fn open_database(
        path: &Path,
        faults: &Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Database, StoreError> {
        let open = |e: redb::DatabaseError| StoreError::Open {
            path: path.to_owned(),
            source: Box::new(e.into()),
        };
        match faults {
            None => Database::create(path).map_err(open),
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
        let db = Self::open_database(path, &faults)?;
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
        let store = Store {
            db: std::sync::Arc::new(std::sync::RwLock::new(Some(std::sync::Arc::new(db)))),
            path: path.to_owned(),
            faults,
            network,
            snapshot_path: path.with_extension(SNAPSHOT_EXTENSION),
        };
        store.remove_stale_snapshot_writes();
        Ok(store)
    }

    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Stores a batch of events in one transaction: all of them or, on error, none.
    /// Events already stored are left as they are.
    pub fn put_events(&self, events: &[SignedEvent]) -> Result<(), StoreError> {
        if let Some(ev) = events.iter().find(|e| e.body().network != self.network) {
            return Err(StoreError::EventNetwork {
                id: ev.id(),
                expected: self.network,
                got: ev.body().network,
            });
        }
        let txn = self.db()?.begin_write().map_err(db_err("begin put"))?;
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut order = txn.open_table(ORDER).map_err(db_err("open order"))?;
            for ev in events {
                let id = ev.id();
                if table.get(&id.0).map_err(db_err("look up event"))?.is_some() {
                    continue;
                }
                table
                    .insert(&id.0, ev.as_bytes())
                    .map_err(db_err("insert event"))?;
                order
                    .insert((ev.lamport(), &id.0), ())
                    .map_err(db_err("insert order key"))?;
            }
        }
        txn.commit().map_err(db_err("commit put"))
    }

    /// Overwrites stored events with another form of themselves, in one transaction:
    /// the same ids and clocks, other bytes (a teaser erased). Ids not stored are
    /// left out.
    pub fn replace_events(&self, events: &[SignedEvent]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(db_err("begin replace"))?;
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            for ev in events {
                let id = ev.id();
                if table.get(&id.0).map_err(db_err("look up event"))?.is_none() {
                    continue;
                }
                table
                    .insert(&id.0, ev.as_bytes())
                    .map_err(db_err("replace event"))?;
            }
        }
        txn.commit().map_err(db_err("commit replace"))
    }

    /// Removes events and their order keys in one transaction (for events stored while
    /// pending that proved invalid once complete). Unknown ids are ignored.
    pub fn remove_events(&self, ids: &[ContentId]) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(db_err("begin remove"))?;
        {
            let mut table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut order = txn.open_table(ORDER).map_err(db_err("open order"))?;
            // Ids whose order key could not be found from their bytes (corrupt ones):
            // found by one scan of the index instead.
            let mut unindexed = HashSet::new();
            for id in ids {
                let lamport = match table.remove(&id.0).map_err(db_err("remove event"))? {
                    None => None,
                    Some(bytes) => take_canonical::<EventBody>(bytes.value())
                        .ok()
                        .map(|(body, _)| body.lamport),
                };
                let removed = match lamport {
                    Some(l) => order
                        .remove((l, &id.0))
                        .map_err(db_err("remove order key"))?
                        .is_some(),
                    None => false,
                };
                if !removed {
                    unindexed.insert(id.0);
                }
            }
            if !unindexed.is_empty() {
                order
                    .retain(|(_, id), ()| !unindexed.contains(id))
                    .map_err(db_err("scan order index"))?;
            }
        }
        txn.commit().map_err(db_err("commit remove"))
    }

    /// Every stored event in ledger order (Lamport clock, then content id), decoded again
    /// and checked against its id and order key, but not its signature: the caller
    /// checks those with [`verify_loaded`] for the events no snapshot vouches for.
    /// Anything that does not check out is [`StoreError::Corrupt`], naming the entry.
    pub fn load_events(&self, network: &NetworkId) -> Result<Vec<SignedEvent>, StoreError> {
        if network != &self.network {
            return Err(StoreError::WrongNetwork {
                expected: *network,
                stored: self.network,
            });
        }
        let txn = self.db()?.begin_read().map_err(db_err("begin load"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        let total = table.len().map_err(db_err("count events"))?;
        let mut out: Vec<SignedEvent> = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        // One pass over the events in key order, then a sort, rather than a B-tree
        // descent into the events for every order key.
        for entry in table.iter().map_err(db_err("read events"))? {
            let (key, bytes) = entry.map_err(db_err("read events"))?;
            let id = Hash32(*key.value());
            let ev = SignedEvent::decode_unverified(bytes.value(), network)
                .map_err(|e| corrupt(id, format!("does not decode: {e}")))?;
            if ev.id() != id {
                return Err(corrupt(id, format!("its bytes hash to {}", ev.id())));
            }
            out.push(ev);
        }
        out.sort_unstable_by_key(|e| (e.lamport(), e.id()));
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

    pub fn has_event(&self, id: &ContentId) -> Result<bool, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        Ok(table.get(&id.0).map_err(db_err("read event"))?.is_some())
    }

    /// The wire bytes of a stored event, as they were stored (not re-checked).
    pub fn event_bytes(&self, id: &ContentId) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        Ok(table
            .get(&id.0)
            .map_err(db_err("read event"))?
            .map(|v| v.value().to_vec()))
    }

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

    /// Stores the card behind `listing`, encrypted under the org's at-rest key.
    /// `nonce` must be fresh randomness for every write: a nonce used twice under one
    /// key breaks ChaCha20-Poly1305.
    pub fn put_card(
        &self,
        listing: &ContentId,
        card: &Card,
        org_key: &SecretKey,
        nonce: [u8; CARD_NONCE_LEN],
    ) -> Result<(), StoreError> {
        let plain = to_canonical(card);
        let sealed = card_cipher(org_key)
            .encrypt(
                &nonce.into(),
                AeadPayload {
                    msg: &plain,
                    aad: listing.as_bytes(),
                },
            )
            .map_err(|_| corrupt(listing, "card does not encrypt"))?;
        let mut value = Vec::with_capacity(CARD_NONCE_LEN + sealed.len());
        value.extend_from_slice(&nonce);
        value.extend_from_slice(&sealed);
        let txn = self.db()?.begin_write().map_err(db_err("begin put card"))?;
        {
            let mut cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            cards
                .insert(&listing.0, value.as_slice())
                .map_err(db_err("insert card"))?;
        }
        txn.commit().map_err(db_err("commit put card"))
    }

    /// The card held for `listing`, if any. A key that does not open it is
    /// [`StoreError::CardKey`].
    pub fn get_card(
        &self,
        listing: &ContentId,
        org_key: &SecretKey,
    ) -> Result<Option<Card>, StoreError> {
        let value = {
            let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
            let cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            let Some(v) = cards.get(&listing.0).map_err(db_err("read card"))? else {
                return Ok(None);
            };
            v.value().to_vec()
        };
        if value.len() < CARD_NONCE_LEN + CARD_TAG_LEN {
            return Err(corrupt(
                format!("card:{listing}"),
                format!("{} bytes, shorter than a nonce and a tag", value.len()),
            ));
        }
        let (nonce, sealed) = value.split_at(CARD_NONCE_LEN);
        let nonce: [u8; CARD_NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| corrupt(format!("card:{listing}"), "bad nonce"))?;
        let plain = card_cipher(org_key)
            .decrypt(
                &nonce.into(),
                AeadPayload {
                    msg: sealed,
                    aad: listing.as_bytes(),
                },
            )
            .map_err(|_| StoreError::CardKey { listing: *listing })?;
        let card = from_canonical(&plain, plain.len()).map_err(|e| {
            corrupt(
                format!("card:{listing}"),
                format!("decrypts but does not decode: {e}"),
            )
        })?;
        Ok(Some(card))
    }

    /// Listing ids of every card held: what this node can deliver.
    pub fn card_ids(&self) -> Result<Vec<ContentId>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
        let mut out = Vec::new();
        for entry in cards.iter().map_err(db_err("scan cards"))? {
            let (key, _) = entry.map_err(db_err("read card key"))?;
            out.push(Hash32(*key.value()));
        }
        Ok(out)
    }

    /// Forgets the card behind `listing` (a contribution the ledger refused, or an
    /// opt-out). Absent cards are not an error.
    pub fn remove_card(&self, listing: &ContentId) -> Result<(), StoreError> {
        let txn = self
            .db()?
            .begin_write()
            .map_err(db_err("begin remove card"))?;
        {
            let mut cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            cards.remove(&listing.0).map_err(db_err("remove card"))?;
        }
        txn.commit().map_err(db_err("commit remove card"))
    }

    /// Writes back held cards and evidence exactly as [`salvage`] read them.
    pub fn restore_raw(&self, salvaged: &Salvaged) -> Result<(), StoreError> {
        let txn = self.db()?.begin_write().map_err(db_err("begin restore"))?;
        {
            let mut cards = txn.open_table(CARDS).map_err(db_err("open cards"))?;
            for (k, v) in &salvaged.cards {
                cards
                    .insert(k, v.as_slice())
                    .map_err(db_err("restore card"))?;
            }
            let mut evidence = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
            for (k, v) in &salvaged.evidence {
                evidence
                    .insert(k, v.as_slice())
                    .map_err(db_err("restore evidence"))?;
            }
        }
        txn.commit().map_err(db_err("commit restore"))
    }

    /// Stores a piece of evidence (at most [`MAX_EVIDENCE_BYTES`]) under its
    /// evidence hash, which it returns, encrypted under the org's at-rest key like
    /// cards (a bounce message names the address that bounced). Storing the same
    /// bytes twice is harmless.
    pub fn put_evidence(&self, raw: &[u8], org_key: &SecretKey) -> Result<Hash32, StoreError> {
        if raw.len() > MAX_EVIDENCE_BYTES {
            return Err(StoreError::EvidenceTooLarge(raw.len()));
        }
        let hash = evidence_hash(raw);
        let sealed = evidence_cipher(org_key)
            .encrypt(
                &evidence_nonce(&hash).into(),
                AeadPayload {
                    msg: raw,
                    aad: hash.as_bytes(),
                },
            )
            .map_err(|_| corrupt(format!("evidence:{hash}"), "does not encrypt"))?;
        let txn = self
            .db()?
            .begin_write()
            .map_err(db_err("begin put evidence"))?;
        {
            let mut table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
            table
                .insert(&hash.0, sealed.as_slice())
                .map_err(db_err("insert evidence"))?;
        }
        txn.commit().map_err(db_err("commit put evidence"))?;
        Ok(hash)
    }

    /// The evidence stored under `hash`, decrypted and re-hashed to catch a rotten
    /// disk. Evidence a node of protocol 3 stored in clear is still read.
    pub fn get_evidence(
        &self,
        hash: &Hash32,
        org_key: &SecretKey,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
        let Some(v) = table.get(&hash.0).map_err(db_err("read evidence"))? else {
            return Ok(None);
        };
        let stored = v.value();
        let raw = evidence_cipher(org_key)
            .decrypt(
                &evidence_nonce(hash).into(),
                AeadPayload {
                    msg: stored,
                    aad: hash.as_bytes(),
                },
            )
            .unwrap_or_else(|_| stored.to_vec());
        if evidence_hash(&raw) != *hash {
            return Err(corrupt(
                format!("evidence:{hash}"),
                "the stored bytes no longer hash to their key",
            ));
        }
        Ok(Some(raw))
    }

    /// Replaces the saved ledger snapshot: written to a temporary file beside it,
    /// synced, renamed over it, and the directory synced, so a crash leaves the old
    /// one or the new one, whole.
    pub fn put_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let io = |source| StoreError::Io {
            path: self.snapshot_path.clone(),
            source,
        };
        let dir = self.snapshot_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix(&self.snapshot_tmp_prefix())
            .suffix(SNAPSHOT_TMP_SUFFIX)
            .tempfile_in(&dir)
            .map_err(io)?;
        std::io::Write::write_all(&mut tmp, bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.snapshot_path).map_err(|e| io(e.error))?;
        #[cfg(unix)]
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(())
    }

    fn snapshot_dir(&self) -> PathBuf {
        match self.snapshot_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// Names of snapshot files being written start with this ("events.snapshot.").
    fn snapshot_tmp_prefix(&self) -> String {
        let name = self.snapshot_path.file_name().unwrap_or_default();
        format!("{}.", name.to_string_lossy())
    }

    /// Removes snapshot files a crash left half-written. Called once the database is
    /// open, whose lock keeps a second node off the same store.
    fn remove_stale_snapshot_writes(&self) {
        let dir = self.snapshot_dir();
        let prefix = self.snapshot_tmp_prefix();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(SNAPSHOT_TMP_SUFFIX) {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a half-written snapshot");
                }
            }
        }
    }

    /// The saved ledger snapshot's bytes, if any (checked by its decoder, not here).
    pub fn get_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(&self.snapshot_path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: self.snapshot_path.clone(),
                source,
            }),
        }
    }

    /// Sets a meta value. [`NETWORK_META_KEY`] is the store's own and refused.
    pub fn put_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        if key == NETWORK_META_KEY {
            return Err(StoreError::ReservedMeta(key.to_owned()));
        }
        let txn = self.db()?.begin_write().map_err(db_err("begin put meta"))?;
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

    /// Deletes the evidence stored under `hash`, if any.
    pub fn remove_evidence(&self, hash: &Hash32) -> Result<(), StoreError> {
        let txn = self
            .db()?
            .begin_write()
            .map_err(db_err("begin remove evidence"))?;
        {
            let mut table = txn.open_table(EVIDENCE).map_err(db_err("open evidence"))?;
            table.remove(&hash.0).map_err(db_err("remove evidence"))?;
        }
        txn.commit().map_err(db_err("commit remove evidence"))
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

/// Names the first entry where the order index and the events disagree.
fn order_mismatch(events: &[SignedEvent], index: &[(u64, ContentId)]) -> StoreError {
    let clocks: std::collections::HashMap<ContentId, u64> =
        events.iter().map(|e| (e.id(), e.lamport())).collect();
    for (lamport, id) in index {
        match clocks.get(id) {
            None => return corrupt(id, "in the order index but not among the events"),
            Some(clock) if clock != lamport => {
                return corrupt(
                    id,
                    format!("indexed at Lamport {lamport}, but its clock is {clock}"),
                )
            }
            Some(_) => {}
        }
    }
    let indexed: HashSet<ContentId> = index.iter().map(|(_, id)| *id).collect();
    match events.iter().find(|e| !indexed.contains(&e.id())) {
        Some(ev) => corrupt(ev.id(), "stored but missing from the order index"),
        None => corrupt("order index", "lists an event twice"),
    }
}

/// Checks the signatures of events loaded from the store, in batches; a bad one is
/// [`StoreError::Corrupt`], named.
pub fn verify_loaded(events: &[&SignedEvent]) -> Result<(), StoreError> {
    events
        .chunks(LOAD_CHECK_CHUNK)
        .try_for_each(check_signatures)
}

/// Batch-checks the signatures of events this node stored itself; on failure, finds
/// the first bad one with the strict single check so the error can name it.
fn check_signatures(events: &[&SignedEvent]) -> Result<(), StoreError> {
    if events.is_empty() || batch_check_stored(events.iter().copied()).is_ok() {
        return Ok(());
    }
    for ev in events {
        ev.verify_signature()
            .map_err(|e| corrupt(ev.id(), format!("signature: {e}")))?;
    }
    // The batch failed but every single check passed: should not happen, but the
    // events are then valid by the strict rules, which are what count.
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

/// The cipher for stored evidence: key = BLAKE3 derive-key("carnet v3 evidence at
/// rest", seed).
fn evidence_cipher(org_key: &SecretKey) -> ChaCha20Poly1305 {
    let key = Hash32::derive(EVIDENCE_AT_REST_CONTEXT, &[&org_key.seed()]);
    ChaCha20Poly1305::new(&key.0.into())
}

/// Evidence is stored under its hash, so its nonce is derived from that hash: the
/// same bytes always encrypt alike (a retry rewrites the same value), and two
/// different messages get different nonces.
fn evidence_nonce(hash: &Hash32) -> [u8; CARD_NONCE_LEN] {
    let n = Hash32::derive(EVIDENCE_NONCE_CONTEXT, &[hash.as_bytes()]);
    let mut nonce = [0u8; CARD_NONCE_LEN];
    nonce.copy_from_slice(&n.0[..CARD_NONCE_LEN]);
    nonce
}

/// The cipher for held cards: key = BLAKE3 derive-key("carnet v1 card at rest", seed).
fn card_cipher(org_key: &SecretKey) -> ChaCha20Poly1305 {
    let key = Hash32::derive(CARD_AT_REST_CONTEXT, &[&org_key.seed()]);
    ChaCha20Poly1305::new(&key.0.into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use carnet_protocol::author::Author;
    use carnet_protocol::payload::{Grant, Payload};

    fn network() -> NetworkId {
        Hash32::of(b"store test network")
    }

    fn events(seed: u8, n: usize) -> Vec<SignedEvent> {
        let mut author = Author::new(SecretKey::from_seed([seed; 32]), network());
        let member = SecretKey::from_seed([seed.wrapping_add(1); 32]).public();
        (0..n)
            .map(|i| {
                author
                    .sign(
                        Payload::Grant(Grant {
                            member,
                            points: 1 + i as u64,
                            memo: format!("test {i}"),
                        }),
                        vec![],
                        0,
                        1_000 + i as u64,
                    )
                    .unwrap()
            })
            .collect()
    }

    fn card() -> Card {
        carnet_protocol::testkit::full_card()
    }

    fn ids(evs: &[SignedEvent]) -> Vec<ContentId> {
        evs.iter().map(SignedEvent::id).collect()
    }

    fn sorted(mut evs: Vec<SignedEvent>) -> Vec<SignedEvent> {
        evs.sort_by_key(|e| (e.lamport(), e.id()));
        evs
    }

    #[test]
    fn events_roundtrip_in_ledger_order_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.redb");
        let mut all = events(1, 20);
        all.extend(events(2, 15));
        {
            let store = Store::open(&path, network()).unwrap();
            assert_eq!(store.event_count().unwrap(), 0);
            store.put_events(&all[..10]).unwrap();
            store.put_events(&all[10..]).unwrap();
            assert_eq!(store.event_count().unwrap(), 35);
        }
        let store = Store::open(&path, network()).unwrap();
        let loaded = store.load_events(&network()).unwrap();
        assert_eq!(ids(&loaded), ids(&sorted(all.clone())));
        for ev in &all {
            assert!(store.has_event(&ev.id()).unwrap());
            assert_eq!(
                store.event_bytes(&ev.id()).unwrap().as_deref(),
                Some(ev.as_bytes())
            );
        }
        assert!(!store.has_event(&Hash32::of(b"nothing")).unwrap());
        assert_eq!(store.event_bytes(&Hash32::of(b"nothing")).unwrap(), None);
    }

    #[test]
    fn duplicates_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), network()).unwrap();
        let evs = events(3, 5);
        store.put_events(&evs).unwrap();
        store.put_events(&evs).unwrap();
        let mut twice = evs.clone();
        twice.extend(evs.iter().cloned());
        store.put_events(&twice).unwrap();
        assert_eq!(store.event_count().unwrap(), 5);
        assert_eq!(ids(&store.load_events(&network()).unwrap()), ids(&evs));
        let all = store.ids_between((0, Hash32::ZERO), (u64::MAX, Hash32::ZERO));
        assert_eq!(all.unwrap().len(), 5);
    }

    #[test]
    fn remove_drops_event_and_order_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), network()).unwrap();
        let evs = events(4, 6);
        store.put_events(&evs).unwrap();
        store
            .remove_events(&[evs[1].id(), evs[4].id(), Hash32::of(b"unknown")])
            .unwrap();
        assert_eq!(store.event_count().unwrap(), 4);
        assert!(!store.has_event(&evs[1].id()).unwrap());
        let want: Vec<_> = [0, 2, 3, 5].iter().map(|&i| evs[i].id()).collect();
        assert_eq!(ids(&store.load_events(&network()).unwrap()), want);
        let keys = store
            .ids_between((0, Hash32::ZERO), (u64::MAX, Hash32::ZERO))
            .unwrap();
        assert_eq!(keys.iter().map(|k| k.1).collect::<Vec<_>>(), want);
    }

    #[test]
    fn ids_between_is_half_open() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), network()).unwrap();
        let evs = events(5, 6); // Lamport clocks 1..=6, one author
        store.put_events(&evs).unwrap();
        let key = |i: usize| (evs[i].lamport(), evs[i].id());
        let got = store.ids_between(key(1), key(4)).unwrap();
        assert_eq!(got, vec![key(1), key(2), key(3)]);
        assert_eq!(store.ids_between(key(4), key(1)).unwrap(), vec![]);
        assert_eq!(store.ids_between(key(2), key(2)).unwrap(), vec![]);
    }

    #[test]
    fn another_network_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        drop(Store::open(&path, network()).unwrap());
        let other = Hash32::of(b"another network");
        let e = Store::open(&path, other).unwrap_err();
        assert!(
            matches!(e, StoreError::WrongNetwork { expected, stored }
                if expected == other && stored == network()),
            "{e}"
        );
        let store = Store::open(&path, network()).unwrap();
        assert!(matches!(
            store.load_events(&other),
            Err(StoreError::WrongNetwork { .. })
        ));
        let mut foreign = Author::new(SecretKey::from_seed([9; 32]), other);
        let ev = foreign
            .sign(
                Payload::Grant(Grant {
                    member: SecretKey::from_seed([10; 32]).public(),
                    points: 1,
                    memo: String::new(),
                }),
                vec![],
                0,
                0,
            )
            .unwrap();
        assert!(matches!(
            store.put_events(&[ev]),
            Err(StoreError::EventNetwork { .. })
        ));
        assert!(matches!(
            store.put_meta(NETWORK_META_KEY, b"x"),
            Err(StoreError::ReservedMeta(_))
        ));
    }

    /// Rewrites one stored event through redb with `flip` applied to its bytes.
    /// Changes the stored bytes of event `id` behind the store's back.
    pub(crate) fn tamper(path: &Path, id: &ContentId, flip: impl FnOnce(&mut Vec<u8>)) {
        let db = Database::create(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(EVENTS).unwrap();
            let mut bytes = table.get(&id.0).unwrap().unwrap().value().to_vec();
            flip(&mut bytes);
            table.insert(&id.0, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }

    #[test]
    fn corrupted_event_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let evs = events(6, 300); // more than one signature-check chunk
        let store = Store::open(&path, network()).unwrap();
        store.put_events(&evs).unwrap();
        drop(store);

        // A flipped signature byte: the batch check fails, the single checks name it.
        let victim = evs[270].id();
        tamper(&path, &victim, |b| {
            let n = b.len();
            b[n - 10] ^= 0x01;
        });
        let store = Store::open(&path, network()).unwrap();
        let loaded = store.load_events(&network()).unwrap();
        match verify_loaded(&loaded.iter().collect::<Vec<_>>()) {
            Err(StoreError::Corrupt { id, reason }) => {
                assert_eq!(id, victim.to_hex(), "{reason}");
                assert!(reason.contains("signature"), "{reason}");
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
        drop(store);

        // A flipped body byte: the bytes no longer decode, or hash to another id.
        let victim2 = evs[3].id();
        tamper(&path, &victim2, |b| {
            let n = b.len();
            b[n - 70] ^= 0x01;
        });
        let store = Store::open(&path, network()).unwrap();
        match store.load_events(&network()) {
            Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, victim2.to_hex()),
            other => panic!("expected Corrupt, got {other:?}"),
        }
        // The bad events can be removed, after which the rest loads.
        store.remove_events(&[victim, victim2]).unwrap();
        assert_eq!(store.load_events(&network()).unwrap().len(), 298);
    }

    #[test]
    fn cards_roundtrip_encrypted_and_refuse_another_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let org = SecretKey::from_seed([11; 32]);
        let listing = Hash32::of(b"listing");
        let c = card();
        {
            let store = Store::open(&path, network()).unwrap();
            assert_eq!(store.get_card(&listing, &org).unwrap(), None);
            store.put_card(&listing, &c, &org, [1; 12]).unwrap();
            assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c.clone()));
        }
        // Not in clear on disk.
        let raw = std::fs::read(&path).unwrap();
        let email = c.email.value.as_bytes();
        assert!(!raw.windows(email.len()).any(|w| w == email));

        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c.clone()));
        let other = SecretKey::from_seed([12; 32]);
        let e = store.get_card(&listing, &other).unwrap_err();
        assert!(
            matches!(e, StoreError::CardKey { listing: l } if l == listing),
            "{e}"
        );
        // Bound to its listing: the same value moved under another listing does not open.
        let moved = Hash32::of(b"another listing");
        let txn = store.db().unwrap().begin_write().unwrap();
        {
            let mut cards = txn.open_table(CARDS).unwrap();
            let value = cards.get(&listing.0).unwrap().unwrap().value().to_vec();
            cards.insert(&moved.0, value.as_slice()).unwrap();
        }
        txn.commit().unwrap();
        assert!(matches!(
            store.get_card(&moved, &org),
            Err(StoreError::CardKey { .. })
        ));
        // Overwriting with a fresh nonce replaces the card.
        let mut c2 = c.clone();
        c2.teaser.city = "Paris".into();
        store.put_card(&listing, &c2, &org, [2; 12]).unwrap();
        assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c2));
    }

    #[test]
    fn evidence_roundtrip_keyed_by_hash_encrypted_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let org = SecretKey::from_seed([11; 32]);
        let store = Store::open(&path, network()).unwrap();
        let msg = b"Final-Recipient: rfc822; ada.lovelace@acme.example";
        let h = store.put_evidence(msg, &org).unwrap();
        assert_eq!(h, evidence_hash(msg));
        assert_eq!(store.put_evidence(msg, &org).unwrap(), h);
        assert_eq!(store.get_evidence(&h, &org).unwrap().unwrap(), msg);
        assert_eq!(store.get_evidence(&Hash32::ZERO, &org).unwrap(), None);
        let big = vec![0u8; MAX_EVIDENCE_BYTES + 1];
        assert!(matches!(
            store.put_evidence(&big, &org),
            Err(StoreError::EvidenceTooLarge(_))
        ));
        // Another key reads garbage, which the hash check names.
        let other = SecretKey::from_seed([12; 32]);
        assert!(matches!(
            store.get_evidence(&h, &other),
            Err(StoreError::Corrupt { .. })
        ));
        drop(store);
        // Not in clear on disk.
        let raw = std::fs::read(&path).unwrap();
        let needle = b"ada.lovelace@acme.example";
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_evidence(&h, &org).unwrap().unwrap(), msg);
    }

    #[cfg(unix)]
    #[test]
    fn the_store_and_the_snapshot_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(mode(&path), 0o600);
        store.put_snapshot(b"a snapshot").unwrap();
        assert_eq!(mode(&path.with_extension(SNAPSHOT_EXTENSION)), 0o600);
        drop(store);
        // A store left readable by others is tightened when opened.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Store::open(&path, network()).unwrap();
        assert_eq!(mode(&path), 0o600);
    }

    /// redb panics on some damaged pages (a flipped bit at offset 8192 of this store
    /// does it): [`quietly`] turns that into an error, and [`salvage`] still reads
    /// what it can.
    #[test]
    fn a_store_redb_panics_on_is_an_error_and_salvage_reads_what_it_can() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let evs = events(6, 300);
        let store = Store::open(&path, network()).unwrap();
        store.put_events(&evs).unwrap();
        drop(store);
        let mut b = std::fs::read(&path).unwrap();
        b[8192] ^= 1;
        std::fs::write(&path, &b).unwrap();
        let loaded = quietly(|| Store::open(&path, network())?.load_events(&network()));
        assert!(loaded.is_err(), "redb read the damaged page after all");
        let salvaged = salvage(&path, &network());
        assert!(!salvaged.lost.is_empty());
        assert!(salvaged.events.len() < 300);
        // Whatever it kept is genuine.
        let all: HashSet<ContentId> = evs.iter().map(|e| e.id()).collect();
        assert!(salvaged.events.iter().all(|e| all.contains(&e.id())));
    }

    #[test]
    fn an_order_index_out_of_step_with_the_events_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let evs = sorted(events(7, 5));
        Store::open(&path, network())
            .unwrap()
            .put_events(&evs)
            .unwrap();
        type OrderTable<'t> = redb::Table<'t, (u64, &'static [u8; 32]), ()>;
        let edit_order = |f: &dyn Fn(&mut OrderTable)| {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            f(&mut txn.open_table(ORDER).unwrap());
            txn.commit().unwrap();
        };
        let reason = |want: &ContentId| match Store::open(&path, network())
            .unwrap()
            .load_events(&network())
        {
            Err(StoreError::Corrupt { id, reason }) => {
                assert_eq!(&id, &want.to_hex(), "{reason}");
                reason
            }
            other => panic!("expected Corrupt, got {other:?}"),
        };
        let (l, id) = (evs[2].lamport(), evs[2].id());
        edit_order(&|t| {
            t.remove((l, &id.0)).unwrap();
        });
        assert!(reason(&id).contains("missing from the order index"));
        edit_order(&|t| {
            t.insert((l + 1000, &id.0), ()).unwrap();
        });
        assert!(reason(&id).contains("indexed at Lamport"));
        let ghost = Hash32([0xee; 32]);
        edit_order(&|t| {
            t.remove((l + 1000, &id.0)).unwrap();
            t.insert((l, &id.0), ()).unwrap();
            t.insert((0, &ghost.0), ()).unwrap();
        });
        assert!(reason(&ghost).contains("not among the events"));
    }

    #[test]
    fn snapshot_is_replaced_whole_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_snapshot().unwrap(), None);
        store.put_snapshot(b"first").unwrap();
        store.put_snapshot(&vec![7u8; 3 << 20]).unwrap();
        drop(store);
        // A write a crash cut short is cleared at the next open; the snapshot stays.
        let half = dir.path().join("s.snapshot.abc123.tmp");
        std::fs::write(&half, b"half").unwrap();
        let store = Store::open(&path, network()).unwrap();
        assert!(!half.exists());
        assert_eq!(store.get_snapshot().unwrap(), Some(vec![7u8; 3 << 20]));
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"s.snapshot".to_string()), "{names:?}");
    }

    #[test]
    fn meta_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        {
            let store = Store::open(&path, network()).unwrap();
            assert_eq!(store.get_meta("k").unwrap(), None);
            store.put_meta("k", b"v1").unwrap();
            store.put_meta("k", b"v2").unwrap();
        }
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_meta("k").unwrap().as_deref(), Some(&b"v2"[..]));
        assert_eq!(
            store.get_meta(NETWORK_META_KEY).unwrap().as_deref(),
            Some(&network().0[..])
        );
    }

    #[test]
    fn store_error_is_send_and_sync() {
        fn check<T: Send + Sync + 'static>() {}
        check::<StoreError>();
        check::<Store>();
    }
}
