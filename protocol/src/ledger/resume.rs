//! A start that does not read the finalized events a node let out of memory.
//!
//! Inserting every stored event again would rebuild what the ledger holds of them,
//! and then release nearly all of it: at ten million events, minutes of decoding for
//! a few hundred thousand events kept. The archive already records what the ledger
//! kept of each finalized event (its [`Stub`], which came first at its seq, its
//! epoch's ids), and the snapshot holds the state at the end of the finalized prefix
//! with its claims; what is left to read is the events that stay in memory.

use super::*;

/// What a start from the archive is given: see [`Ledger::resume`].
pub struct Resume {
    /// A snapshot taken at the end of a finalized prefix (one with claims).
    pub snapshot: Snapshot,
    /// Where the finalized events and their records are.
    pub archive: std::sync::Arc<dyn Index>,
    /// The chained digest the archive recorded with the releases ending at the
    /// snapshot's last epoch: the snapshot is of the very prefix the archive holds
    /// only if the two are equal.
    pub digest: Hash32,
    /// The highest recorded seq of each author.
    pub heads: Vec<(PublicKey, u64)>,
    /// (Lamport clock, id) of every ordered event: the set peers reconcile. Built
    /// by the caller ([`Items::from_ordered`]), so that a start builds it on the
    /// thread that reads it while the snapshot decodes (at 10M events 0.4 s, which
    /// came after the snapshot).
    pub items: Items,
    /// The events to hold in memory, in any order: every one not recorded or recorded
    /// as staying, and every one recorded in an epoch above the snapshot's.
    pub events: Vec<SignedEvent>,
}

impl Ledger {
    /// Starts an empty ledger from `r` instead of inserting every event: the
    /// snapshot's claims become the finalized epochs and its state the state after
    /// them, each held event finalized by the snapshot is put in the epoch the archive
    /// recorded for it, the others are ordered as inserted events are, and what is due
    /// is finalized. Returns the events that fail the ordering checks (stored by an
    /// older build): they are left out, and the caller drops them.
    ///
    /// The result is the ledger that inserting every event, restoring the snapshot
    /// and releasing would give, read for read (the archive answering for the events
    /// not given). Refused, changing nothing, for a ledger that holds events, a
    /// snapshot of another network or without claims, or one whose digest is not the
    /// archive's: the caller then inserts every event.
    pub fn resume(&mut self, r: Resume) -> Result<Vec<ContentId>, SnapshotError> {
        let snap = r.snapshot;
        if snap.network != self.network {
            return Err(SnapshotError::WrongNetwork {
                expected: self.network,
                got: snap.network,
            });
        }
        let epochs = snap.finals.len() as u64;
        if !self.is_empty()
            || !self.pending.is_empty()
            || epochs == 0
            || snap.at != mark(epochs)
            || snap.final_digest != r.digest
            || Self::digest_at_mark(snap.final_digest) != snap.prefix_digest
        {
            return Err(SnapshotError::OtherEvents);
        }
        let archive = r.archive;
        self.set_archive(archive.clone());
        let state = self.adopt_state(snap.state)?;
        self.heads = r.heads.into_iter().collect();
        self.items = r.items;
        // Every event the archive answers for counts as released while the held
        // ones go in: a reference to one of them is ordered.
        self.released = self.items.len();
        self.loading = true;
        let mut events = r.events;
        events.sort_unstable_by_key(|e| (e.lamport(), e.id()));
        events.dedup_by_key(|e| e.id());
        let mut bad = Vec::new();
        for ev in events {
            let id = ev.id();
            let at = (ev.lamport(), id);
            if !self.missing(&ev).is_empty() || self.order_complete(ev).is_err() {
                self.items.remove(&at);
                bad.push(id);
            }
        }
        self.released = self.items.len().saturating_sub(self.events.len());
        self.follow_records();
        // Held events of the snapshot's epochs leave the tail for the epoch recorded.
        let mut finalized = Vec::new();
        for id in self.events.ids() {
            let stub = self.recorded(archive.stub(&id)).flatten();
            if let Some(s) = stub.filter(|s| s.epoch <= epochs) {
                finalized.push((id, s));
            }
        }
        for (id, s) in finalized {
            let late = self.late.remove(&id) as u64;
            self.order.remove(&(TAIL, late, s.lamport, id));
            self.order.insert((s.epoch, 0, s.lamport, id));
            self.epoch_of.insert(id, s.epoch);
            // A finalized event is sealed: the claim's heads reach it, though perhaps
            // only through released events, which sealed nothing as they went in.
            self.unsealed.remove(&(s.lamport, id));
        }
        for e in 1..=epochs {
            self.order.insert(mark(e));
        }
        self.finals = snap.finals;
        self.final_digest = snap.final_digest;
        self.redecide_late();
        self.moves = snap.movements.into_iter().collect();
        self.base = state.clone();
        self.state = state;
        self.root_cache = None;
        self.applied_to = Some(mark(epochs));
        self.dirty_from = None;
        self.snapshots.clear();
        self.claims_cache.clear();
        self.last_extended = None;
        self.end_load();
        Ok(bad)
    }

    /// A snapshot of the state at the end of the finalized prefix, with its claims,
    /// whatever waits in the tail: what [`Ledger::resume`] starts from again, and
    /// what a node keeps in memory to roll back to. It may hold a listing an OptOut
    /// in the tail erases, so it is saved only through [`Ledger::snapshot`], which
    /// looks for one first. None before a claim is final.
    pub fn finalized_snapshot(&self) -> Option<Snapshot> {
        if self.finals.is_empty() {
            return None;
        }
        let at = mark(self.finals.len() as u64);
        Some(Snapshot::new(
            self.network,
            at,
            Self::digest_at_mark(self.final_digest),
            self.base.clone(),
            self.finals.clone(),
            self.final_digest,
            self.unrecorded_moves(),
        ))
    }

    /// Makes the event first at each (author, seq) with twins the one the archive
    /// recorded as first. Which twin came first is the order they were inserted in,
    /// and a start inserts by clock, not as they arrived: without this, a start could
    /// release as first a twin the archive recorded as second (and then find no
    /// event first at its seq). Where the archive recorded none of them first, a twin
    /// it did not record comes first. Reads the archive once per twin: equivocations
    /// are rare. A node calls it once the archive is set on a ledger it loaded.
    pub fn follow_records(&mut self) {
        let Some(archive) = self.archive.clone() else {
            return;
        };
        let forked: Vec<(PublicKey, u64)> = self.forks.keys().copied().collect();
        for at in forked {
            let Some(first) = self.chains.get(&at).copied() else {
                continue;
            };
            let recorded_first = self.recorded(archive.first_at(&at.0, at.1)).flatten();
            if recorded_first == Some(first) {
                continue;
            }
            let twins = self.forks.get(&at).cloned().unwrap_or_default();
            let rightful = match recorded_first {
                // Released: no twin in memory is first.
                Some(f) if !twins.contains(&f) => {
                    self.chains.remove(&at);
                    self.forks.entry(at).or_default().push(first);
                    continue;
                }
                Some(f) => twins.iter().position(|t| *t == f),
                None if self.recorded(archive.stub(&first)).flatten().is_none() => None,
                None => twins
                    .iter()
                    .position(|t| self.recorded(archive.stub(t)).flatten().is_none()),
            };
            let Some(pos) = rightful else {
                continue;
            };
            if let Some(twins) = self.forks.get_mut(&at) {
                let new_first = twins.remove(pos);
                twins.push(first);
                self.chains.insert(at, new_first);
            }
        }
    }
}
