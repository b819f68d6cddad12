//! Read access to the ordered ledger: events, chains, the folded state and its root.

use super::*;

impl Ledger {
    /// The state after applying every ordered event.
    pub fn state(&mut self) -> &State {
        self.catch_up();
        &self.state
    }

    /// Every point movement of `account`, in ledger order: those of the finalized
    /// epochs the archive recorded, those it has not yet, then the tail's (which the
    /// state holds). A failure of the archive is an error here, not a shorter history.
    pub fn history(&mut self, account: &PublicKey) -> Result<Vec<Movement>, ArchiveError> {
        self.catch_up();
        let (recorded, mut out) = match &self.archive {
            Some(archive) => archive.movements(account)?,
            None => (0, Vec::new()),
        };
        for list in self
            .moves
            .range(recorded.saturating_add(1)..)
            .map(|(_, l)| l)
        {
            out.extend(list.iter().filter(|m| m.account == *account).cloned());
        }
        out.extend(self.state.history(account));
        Ok(out)
    }

    /// What a Purchase of `listing` by `buyer`, with `max_price`, would do if it were
    /// ordered now: the price it would escrow, or the reason it would be void. Time
    /// moves between asking and ordering, so this is advice, not a promise.
    pub fn purchase_quote(
        &mut self,
        buyer: PublicKey,
        listing: ContentId,
        max_price: u64,
    ) -> Result<u64, VoidReason> {
        self.catch_up();
        let p = crate::payload::Purchase {
            listing_id: listing,
            recipient: [0; 32],
            max_price,
        };
        apply::purchase_terms(&self.state, &self.genesis.rules, buyer, &p)
    }

    /// Where `account` stands with pay-or-play now (None without an account): what a
    /// member's purchase this month needs.
    pub fn play_status(&mut self, account: &PublicKey) -> Option<PlayStatus> {
        self.catch_up();
        let a = self.state.accounts.get(account)?;
        Some(apply::play_status(
            &self.genesis.rules,
            a,
            self.state.now_ms,
        ))
    }

    pub fn state_root(&mut self) -> Hash32 {
        self.catch_up();
        *self.root_cache.get_or_insert_with(|| self.state.root())
    }

    /// The epoch of `id`: the number of the finalized claim whose prefix first holds
    /// it, if one does.
    pub fn epoch(&self, id: &ContentId) -> Option<u64> {
        match self.epoch_of.get(id) {
            Some(e) => Some(*e),
            None if self.events.contains_key(id) => None,
            None => self.stub_of(id).map(|s| s.epoch),
        }
    }

    /// An ordered or pending event held in memory: not one released to the archive
    /// (see [`Ledger::fetch`]).
    pub fn get(&self, id: &ContentId) -> Option<&SignedEvent> {
        self.events.get(id).or_else(|| self.pending.get(id))
    }

    /// An ordered or pending event, from memory or else from the archive. An archive
    /// that cannot answer is an error, never "not there": a reader that took it so
    /// would skip an erasure, refuse an audit for an event it has, or show a shorter
    /// history. Not recorded for [`Ledger::take_archive_error`]: a failed read orders
    /// nothing wrongly.
    pub fn fetch(&self, id: &ContentId) -> Result<Option<Cow<'_, SignedEvent>>, ArchiveError> {
        if let Some(e) = self.get(id) {
            return Ok(Some(Cow::Borrowed(e)));
        }
        let Some(archive) = self.released_to() else {
            return Ok(None);
        };
        if archive.stub(id)?.is_none() {
            return Ok(None);
        }
        Ok(archive.event(id)?.map(Cow::Owned))
    }

    /// The Lamport clock of an ordered event, whether held or released.
    pub(super) fn lamport_of(&self, id: &ContentId) -> Option<u64> {
        match self.events.get(id) {
            Some(e) => Some(e.lamport()),
            None => self.stub_of(id).map(|s| s.lamport),
        }
    }

    /// How many ordered events are held in memory (the rest were released to the
    /// archive).
    pub fn held_len(&self) -> usize {
        self.events.len()
    }

    /// Ids of the ordered events held in memory (see [`Ledger::held_len`]), in no
    /// particular order.
    pub fn held_ids(&self) -> Vec<ContentId> {
        self.events.ids().collect()
    }

    /// Replaces an ordered event by its form with the teaser erased (docs/protocol.md,
    /// "Erasure"): the same id and signature, so nothing derived from the event
    /// changes. Returns the erased event, or `None` if `id` is not ordered or carries
    /// no shown teaser, or was released to the archive (whose copy the node erases).
    pub fn erase_teaser(&mut self, id: &ContentId) -> Option<SignedEvent> {
        let held = self.events.get_mut(id)?;
        let erased = held.erased()?;
        *held = erased.clone();
        Some(erased)
    }

    /// Ordered events, in ledger order, released ones read back from the archive
    /// (one it no longer holds is left out, one it cannot read too, with the failure
    /// recorded for [`Ledger::take_archive_error`]). For tests and tools.
    pub fn events(&self) -> impl Iterator<Item = Cow<'_, SignedEvent>> {
        let epochs = 1..=self.finals.len() as u64;
        epochs
            .flat_map(|e| self.epoch_ids(e).unwrap_or_default())
            .chain(self.ids_after(mark(self.finals.len() as u64)))
            .filter_map(|id| self.recorded(self.fetch(&id)).flatten())
    }

    /// The ids of epoch `epoch` in ledger order: those held in memory and those
    /// released to the archive, merged. None if the archive failed to answer (the
    /// failure is recorded, see [`Ledger::take_archive_error`]).
    pub(super) fn epoch_ids(&self, epoch: u64) -> Option<Vec<ContentId>> {
        let held = self
            .order
            .range((epoch, 0, 0, Hash32::ZERO)..mark(epoch))
            .map(|k| (k.2, k.3));
        let released = match self.released_to() {
            Some(a) => self.recorded(a.epoch_ids(epoch))?,
            None => Vec::new(),
        };
        let mut keys: Vec<(u64, ContentId)> = held.chain(released).collect();
        keys.sort_unstable();
        keys.dedup();
        Some(keys.into_iter().map(|k| k.1).collect())
    }

    /// Ordered events (pending ones not counted).
    pub fn len(&self) -> usize {
        self.events.len() + self.released
    }

    /// Whether `id` is ordered (held with its whole causal past).
    pub fn is_ordered(&self, id: &ContentId) -> bool {
        self.events.contains_key(id) || self.stub_of(id).is_some()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` waits in the pending pool for its causal past.
    pub fn is_pending(&self, id: &ContentId) -> bool {
        self.pending.contains_key(id)
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The highest seq and its id for `author`, if any event of theirs is ordered.
    pub fn chain_head(&self, author: &PublicKey) -> Option<(u64, ContentId)> {
        let seq = *self.heads.get(author)?;
        self.ids_at(author, seq).first().map(|id| (seq, *id))
    }

    /// Every ordered id at (author, seq): one, or more after an equivocation.
    pub(super) fn ids_at(&self, author: &PublicKey, seq: u64) -> Vec<ContentId> {
        let mut ids: Vec<ContentId> = self.first_at(author, seq).into_iter().collect();
        if let Some(more) = self.forks.get(&(*author, seq)) {
            ids.extend(more);
        }
        ids
    }

    /// The event ordered first at (author, seq), held or released.
    fn first_at(&self, author: &PublicKey, seq: u64) -> Option<ContentId> {
        match self.chains.get(&(*author, seq)) {
            Some(id) => Some(*id),
            None => self.archived_first_at(author, seq),
        }
    }

    /// (Lamport clock, id) of every ordered event, sorted: the set a node reconciles
    /// with its peers. Pending events are left out: an event is passed on only once
    /// its causal past is present and it passed the ordering checks.
    pub fn all_items(&self) -> Vec<(u64, ContentId)> {
        self.items.iter().copied().collect()
    }

    /// The same set as [`Ledger::all_items`], as a copy that shares its chunks with
    /// the ledger's: a pointer per 512 events, not 40 bytes per event.
    pub fn items(&self) -> Items {
        self.items.clone()
    }

    /// Ordered events after `at` in ledger order (marks left out): what a snapshot
    /// taken at `at` has not applied.
    pub fn ids_after(&self, at: OrderKey) -> Vec<ContentId> {
        self.order
            .range((std::ops::Bound::Excluded(at), std::ops::Bound::Unbounded))
            .filter(|k| !is_mark(k))
            .map(|k| k.3)
            .collect()
    }

    /// Ids of the pending events.
    pub fn pending_ids(&self) -> Vec<ContentId> {
        self.pending.keys().copied().collect()
    }

    /// The event that introduces `key` (the first by clock and id): what a new
    /// member's (or an admitted or rotated org key's) first event names among its deps.
    pub fn introduction(&self, key: &PublicKey) -> Option<ContentId> {
        self.introductions.get(key).map(|k| k.1)
    }

    /// Highest Lamport clock among ordered events.
    pub fn max_lamport(&self) -> u64 {
        self.items.last().map_or(0, |k| k.0)
    }

    /// The event `author` holds at `seq`, ordered or waiting for its past (the first
    /// one ordered, after an equivocation). A node asks before it takes a member's
    /// event from its own API, so that two signers of one key (the CLI and the web
    /// app) cannot put two events at one position through it.
    pub fn held_at(&self, author: &PublicKey, seq: u64) -> Option<ContentId> {
        if let Some(id) = self.first_at(author, seq) {
            return Some(id);
        }
        self.pending
            .iter()
            .find(|(_, e)| e.author() == *author && e.seq() == seq)
            .map(|(id, _)| *id)
    }

    /// Whether an event of `author` waits for its past: its chain's head is not
    /// known yet, so nothing may be signed on top of it.
    pub fn has_pending_of(&self, author: &PublicKey) -> bool {
        self.pending.values().any(|e| e.author() == *author)
    }

    /// Two events by one author at one seq, if the author equivocated: the proof (none
    /// if the archive cannot read them back, with the failure recorded for
    /// [`Ledger::take_archive_error`]).
    pub fn equivocation(
        &self,
        author: &PublicKey,
    ) -> Option<(Cow<'_, SignedEvent>, Cow<'_, SignedEvent>)> {
        let ((_, seq), more) = self
            .forks
            .range((*author, 0)..=(*author, u64::MAX))
            .next()?;
        let first = self.first_at(author, *seq)?;
        // An archive that cannot read one gives no proof (the failure recorded).
        let read = |id: &ContentId| self.recorded(self.fetch(id)).flatten();
        Some((read(&first)?, read(more.first()?)?))
    }
}
