//! Reading what can still be read from a damaged store file, and writing it back.

use super::*;

/// Runs `f`, turning a panic into its message. redb panics on some damaged pages
/// rather than returning an error; the node must name the file instead of dying. The
/// panic is kept quiet meanwhile so the one clear error is all the operator reads.
///
/// Only panics on this thread are silenced: the process-wide hook is wrapped once,
/// never swapped per call, since swapping it raced with other threads (their panics
/// went unreported, and two overlapping calls could leave the silent hook in place for
/// good, which is how a test failure once lost its message).
pub fn quietly<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static WRAP: std::sync::Once = std::sync::Once::new();
    WRAP.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|q| q.set(was));
    r.map_err(|p| {
        p.downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unreadable".into())
    })
}

thread_local! {
    /// Whether this thread is inside [`quietly`].
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
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
    pub(super) fn read_table(
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
    /// The events of either layout (`layout`): by content id, as an older build kept
    /// them (a store damaged before it was ever opened by this one), or in ledger order.
    fn read_events(db: &Database, into: &mut Raw) -> Result<(), String> {
        let txn = db.begin_read().map_err(|e| e.to_string())?;
        match txn.open_table(layout::OLD_EVENTS) {
            Ok(t) => {
                for (k, v) in t.iter().map_err(|e| e.to_string())?.flatten() {
                    into.push((*k.value(), v.value().to_vec()));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        match txn.open_table(EVENTS) {
            Ok(t) => {
                for (k, v) in t.iter().map_err(|e| e.to_string())?.flatten() {
                    into.push((*k.value().1, v.value().to_vec()));
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(e.to_string()),
        }
        Ok(())
    }
    let mut events = Vec::new();
    match quietly(|| read_events(&db, &mut events)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => out.lost.push(format!("the events table: {e}")),
        Err(p) => out.lost.push(format!("part of the events table: {p}")),
    }
    for (name, table, into) in [
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

impl Store {
    /// Writes back held cards and evidence exactly as [`salvage`] read them.
    pub fn restore_raw(&self, salvaged: &Salvaged) -> Result<(), StoreError> {
        let txn = self.begin_write("begin restore")?;
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
}
