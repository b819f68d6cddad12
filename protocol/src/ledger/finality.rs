//! Finality: which checkpoint claims a quorum of orgs made final, the state at each,
//! and what the node needs to sign and seal the next one.

use super::*;

impl Ledger {
    /// Finalizes every claim that is due, in turn, each on top of the one before.
    ///
    /// Due: the claim builds on the last finalized one (`source` is its events root,
    /// zero for the first), its bound is above that one's, and the orgs that signed it
    /// with heads that give it (heads at or below the bound, whose prefix has exactly
    /// the claimed count, events root and state root), and signed no other claim at
    /// that bound, are a quorum of the orgs of the state after that prefix. The lowest
    /// bound is taken first, then the lowest claim.
    pub(super) fn finalize_due(&mut self) {
        while let Some((fin, ids, state)) = self.next_final() {
            self.commit_final(fin, ids, state);
        }
    }

    pub(super) fn next_final(&mut self) -> Option<(Final, Vec<ContentId>, State)> {
        let last = self.finals.last().map(|f| f.claim);
        let source = last.map_or(Hash32::ZERO, |c| c.events_root);
        let from = last.map_or(0, |c| c.lamport_bound.saturating_add(1));
        let rules = self.genesis.rules.clone();
        let bounds: Vec<u64> = self.signatures.range(from..).map(|(b, _)| *b).collect();
        for bound in bounds {
            // (claim, heads) → signers, for orgs that signed one claim at the bound.
            let mut signed: BTreeMap<(CheckpointClaim, Vec<ContentId>), Vec<PublicKey>> =
                BTreeMap::new();
            for (org, ids) in &self.signatures[&bound] {
                let claims: BTreeSet<(CheckpointClaim, &Vec<ContentId>)> = ids
                    .iter()
                    .filter_map(|i| {
                        let ev = &self.events[i];
                        match ev.payload() {
                            Payload::Checkpoint(c) if ev.lamport() > bound => {
                                Some((CheckpointClaim::from(c), &c.heads))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                let distinct: BTreeSet<CheckpointClaim> = claims.iter().map(|c| c.0).collect();
                // An org that signed two claims at one bound counts for neither.
                if distinct.len() != 1 {
                    continue;
                }
                if let Some((claim, heads)) = claims.into_iter().next() {
                    if claim.source == source {
                        signed.entry((claim, heads.clone())).or_default().push(*org);
                    }
                }
            }
            let mut tally: BTreeMap<CheckpointClaim, (usize, Vec<ContentId>, usize)> =
                BTreeMap::new();
            for ((claim, heads), orgs) in signed {
                let Some((computed, prefix_orgs)) = self.computed(bound, &heads) else {
                    continue;
                };
                if computed != claim {
                    continue;
                }
                let valid = orgs.iter().filter(|o| prefix_orgs.contains(*o)).count();
                let t = tally
                    .entry(claim)
                    .or_insert((0, heads.clone(), prefix_orgs.len()));
                t.0 += valid;
            }
            for (claim, (valid, heads, n)) in tally {
                if rules.is_quorum(valid, n) {
                    let (ids, state) = match self.last_extended.take() {
                        Some((k, ids, state)) if k == (bound, heads.clone()) => (ids, state),
                        _ => {
                            let (_, ids, state) = self.extend(&heads, bound)?;
                            (ids, state)
                        }
                    };
                    return Some((Final { claim, heads }, ids, state));
                }
            }
        }
        None
    }

    /// The claim `heads` give at `bound` on top of the finalized prefix, and the orgs
    /// of the state after it; cached until the next finalization.
    pub(super) fn computed(&mut self, bound: u64, heads: &[ContentId]) -> Option<Computed> {
        let key = (bound, heads.to_vec());
        if let Some(c) = self.claims_cache.get(&key) {
            return c.clone();
        }
        let extended = self.extend(heads, bound);
        self.keep_extended(key, extended)
    }

    /// Keeps what [`Ledger::extend`] folded for `key` (bound, heads): the claim and
    /// the orgs after it in the cache, the ids and the state for the finalization
    /// that likely follows (folding a prefix twice would double the cost of the first
    /// claim over a long log). Returns what it cached.
    fn keep_extended(
        &mut self,
        key: (u64, Vec<ContentId>),
        extended: Option<(CheckpointClaim, Vec<ContentId>, State)>,
    ) -> Option<Computed> {
        let c = extended
            .as_ref()
            .map(|(claim, _, state)| (*claim, state.orgs.keys().copied().collect()));
        self.claims_cache.insert(key.clone(), c.clone());
        self.last_extended = extended.map(|(_, ids, state)| (key, ids, state));
        c
    }

    /// The prefix `heads` give on top of the finalized one, as a claim at `bound`: its
    /// new ids in order and the state after them. None when a head is not ordered or
    /// above the bound.
    pub(super) fn extend(
        &self,
        heads: &[ContentId],
        bound: u64,
    ) -> Option<(CheckpointClaim, Vec<ContentId>, State)> {
        let ids = self.prefix_ids(heads, bound, &Default::default())?;
        let (mut state, done) = self.folded_part(&ids);
        self.fold_onto(&mut state, &ids[done..]);
        let source = self
            .finals
            .last()
            .map_or(Hash32::ZERO, |f| f.claim.events_root);
        let claim = CheckpointClaim {
            lamport_bound: bound,
            source,
            event_count: state.frontier.count(),
            events_root: state.frontier.root(),
            state_root: state.root(),
        };
        Some((claim, ids, state))
    }

    /// The state after the first `n` of `ids` folded on top of the finalized prefix,
    /// and `n`: the latest state the tail's own fold kept (a snapshot, or the tip)
    /// where the tail so far is exactly those ids, in the same order; else the base
    /// and 0. An honest claim's prefix is most often the tail up to its bound, which
    /// the tail's fold went through already on a node that reads its state (they all
    /// do): folded again from the base, each epoch cost that node two or three folds.
    pub(super) fn folded_part(&self, ids: &[ContentId]) -> (State, usize) {
        // Every snapshot is at or before the tip: with no tail folded, none is kept
        // (a replay, which never reads the state).
        let Some(tip) = self.applied_to.filter(|a| a.0 == TAIL) else {
            return (self.base.clone(), 0);
        };
        // A state after a position at or past the first one changed since the last
        // catch-up misses what was inserted there.
        let valid = |k: &OrderKey| self.dirty_from.is_none_or(|d| *k < d);
        let mut found: Option<(&State, usize)> = None;
        let tail = self.order.range((TAIL, 0, 0, Hash32::ZERO)..=tip);
        for (n, (key, id)) in tail.zip(ids).enumerate() {
            if key.3 != *id || !valid(key) {
                break;
            }
            if *key == tip {
                found = Some((&self.state, n + 1));
            } else if let Some(s) = self.snapshots.get(key) {
                found = Some((s, n + 1));
            }
        }
        let Some((state, n)) = found else {
            return (self.base.clone(), 0);
        };
        let mut state = state.clone();
        // The tree of the tip's last root differs least from this state's.
        state.adopt_newer_tree(self.state.tree.clone());
        (state, n)
    }

    /// Applies the events `ids` to `state`, in that order.
    fn fold_onto(&self, state: &mut State, ids: &[ContentId]) {
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            network: self.network,
        };
        for id in ids {
            apply::apply(state, &ctx, &self.events[id]);
        }
    }

    /// The ids `heads` reach that no committed epoch (nor `taken`) holds, in (Lamport
    /// clock, id) order: the events a claim with these heads adds. None when a head
    /// is not ordered or above `bound`. Reads only unfinalized events, all in memory.
    pub(super) fn prefix_ids(
        &self,
        heads: &[ContentId],
        bound: u64,
        taken: &std::collections::HashSet<ContentId>,
    ) -> Option<Vec<ContentId>> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = Vec::new();
        for h in heads {
            if self.lamport_of(h)? > bound {
                return None;
            }
            stack.push(*h);
        }
        let mut ids = Vec::new();
        while let Some(x) = stack.pop() {
            if self.epoch_of.contains_key(&x) || taken.contains(&x) || !seen.insert(x) {
                continue;
            }
            let Some(e) = self.events.get(&x) else {
                // A released event is finalized: no new prefix holds it.
                if self.stub_of(&x).is_some() {
                    continue;
                }
                return None;
            };
            ids.push((e.lamport(), x));
            stack.extend(refs(e).copied());
        }
        ids.sort_unstable();
        Some(ids.into_iter().map(|k| k.1).collect())
    }

    /// The digest of the finalized prefix once `ids` are finalized under `claim` on
    /// top of the one whose digest is `before`: see [`Ledger::prefix_digest`].
    pub(super) fn epoch_digest(
        &self,
        before: Hash32,
        ids: &[ContentId],
        claim: &CheckpointClaim,
    ) -> Hash32 {
        let mut digest = Self::digest_after(before);
        for id in ids {
            if let Some(e) = self.events.get(id) {
                digest.update(id.as_bytes());
                digest.update(e.signature());
            }
        }
        digest.update(&crate::encoding::to_canonical(claim));
        Hash32(*digest.finalize().as_bytes())
    }

    /// Makes `fin` the next epoch: its new events move out of the tail, its mark
    /// settles, and the tail is folded again from there.
    pub(super) fn commit_final(&mut self, fin: Final, ids: Vec<ContentId>, mut state: State) {
        apply::finalize(&mut state, fin.claim);
        self.commit_epoch(fin, ids);
        // The epoch's movements leave the state for the archive (see `moves`): the
        // tail folded from here holds only its own.
        let moved: Vec<Movement> = std::mem::take(&mut state.movements)
            .into_iter()
            .flat_map(|(account, list)| list.into_iter().map(move |m| m.of(account)))
            .collect();
        if !moved.is_empty() {
            self.moves.insert(self.finals.len() as u64, moved);
        }
        self.redecide_late();
        self.claims_cache.clear();
        self.last_extended = None;
        // The settlement may touch thousands of accounts and listings (refunds,
        // vesting): rehashed once here, not on every claim folded from the base.
        state.root();
        self.base = state.clone();
        self.state = state;
        self.applied_to = Some(mark(self.finals.len() as u64));
        self.dirty_from = None;
        self.snapshots.clear();
        self.root_cache = None;
    }

    /// The order's side of a finalization: `ids` move out of the tail into the next
    /// epoch, which ends with its mark, and the finalized digest takes them in.
    pub(super) fn commit_epoch(&mut self, fin: Final, ids: Vec<ContentId>) {
        let epoch = self.finals.len() as u64 + 1;
        self.final_digest = self.epoch_digest(self.final_digest, &ids, &fin.claim);
        for id in &ids {
            let lamport = self.lamport_of(id).unwrap_or(0);
            let late = self.late.remove(id) as u64;
            self.order.remove(&(TAIL, late, lamport, *id));
            self.order.insert((epoch, 0, lamport, *id));
            self.epoch_of.insert(*id, epoch);
        }
        self.releasable.extend_from_slice(&ids);
        self.order.insert(mark(epoch));
        self.finals.push(fin);
    }

    /// After the finalized bound rose: which tail events are late is decided again,
    /// in clock order so that a reference is decided before what names it.
    pub(super) fn redecide_late(&mut self) {
        // Keys move within the tail: a digest hashed on from the last snapshot's would
        // miss that.
        self.digest_cache = None;
        let mut tail: Vec<(u64, ContentId)> = self
            .order
            .range((TAIL, 0, 0, Hash32::ZERO)..)
            .map(|k| (k.2, k.3))
            .collect();
        tail.sort_unstable();
        for (lamport, id) in tail {
            let was = self.late.contains(&id);
            let now = self.is_late(&self.events[&id]);
            if was != now {
                self.order.remove(&(TAIL, was as u64, lamport, id));
                self.order.insert((TAIL, now as u64, lamport, id));
                if now {
                    self.late.insert(id);
                } else {
                    self.late.remove(&id);
                }
            }
        }
    }

    /// Digest of every key up to `at` in ledger order, with each event's signature and
    /// each mark's claim: what names the exact prefix a snapshot was folded from.
    /// `at` is at or after the last finalized mark: the finalized prefix enters as its
    /// chained digest (`final_digest`, each epoch hashed over the one before, its ids
    /// and signatures in order, and its claim), then the tail's keys up to `at`.
    pub(super) fn prefix_digest(&self, at: OrderKey) -> Hash32 {
        let mut h = Self::digest_after(self.final_digest);
        self.hash_tail(&mut h, None, at);
        Hash32(*h.finalize().as_bytes())
    }

    /// [`Ledger::prefix_digest`], hashing on from where the last call stopped when
    /// that is a prefix of this one: the same finalized prefix, a key at or before
    /// `at`, and nothing inserted at or before it since (an insert there drops the
    /// cache). blake3 gives the same digest however its input is split.
    pub(super) fn prefix_digest_cached(&mut self, at: OrderKey) -> Hash32 {
        let (mut h, after) = match self.digest_cache.take() {
            Some((fd, last, h)) if fd == self.final_digest && last <= at => (h, Some(last)),
            _ => (Self::digest_after(self.final_digest), None),
        };
        self.hash_tail(&mut h, after, at);
        let digest = Hash32(*h.finalize().as_bytes());
        self.digest_cache = Some((self.final_digest, at, h));
        digest
    }

    /// The prefix digest at the end of the finalized prefix whose chained digest is
    /// `final_digest`: nothing of the tail in it.
    pub(super) fn digest_at_mark(final_digest: Hash32) -> Hash32 {
        Hash32(*Self::digest_after(final_digest).finalize().as_bytes())
    }

    /// A prefix digest begun with the chained digest of its finalized part.
    fn digest_after(final_digest: Hash32) -> blake3::Hasher {
        let mut h = blake3::Hasher::new_derive_key(snapshot::PREFIX_DIGEST_CONTEXT);
        h.update(final_digest.as_bytes());
        h
    }

    /// Hashes the tail's ids and signatures up to `at` into `h`: all of them, or
    /// those after `after`, whose predecessors `h` holds already.
    fn hash_tail(&self, h: &mut blake3::Hasher, after: Option<OrderKey>, at: OrderKey) {
        // Hashed in large pieces: two small updates per event cost more than the rest.
        let mut buf = Vec::with_capacity(96 * 1024);
        let from = match (self.finals.is_empty(), after) {
            (_, Some(after)) => Some(after),
            (false, None) => Some(mark(self.finals.len() as u64)),
            (true, None) => None,
        };
        if from.is_some_and(|from| at <= from) {
            return;
        }
        let range = match from {
            None => self.order.range(..=at),
            Some(from) => self.order.range((
                std::ops::Bound::Excluded(from),
                std::ops::Bound::Included(at),
            )),
        };
        for key in range {
            if is_mark(key) {
                continue;
            }
            buf.extend_from_slice(key.3.as_bytes());
            if let Some(e) = self.events.get(&key.3) {
                buf.extend_from_slice(e.signature());
            }
            if buf.len() >= 64 * 1024 {
                h.update(&buf);
                buf.clear();
            }
        }
        h.update(&buf);
    }

    /// The heads an honest org names for a claim at `bound`: on each chain of an org's
    /// line, the last event at or below the bound that no finalized claim holds yet.
    /// A chain with two events at one seq is followed only up to the seq before.
    pub fn heads_at(&self, bound: u64) -> Vec<ContentId> {
        let mut out = Vec::new();
        for author in &self.line_authors {
            let Some(&top) = self.heads.get(author) else {
                continue;
            };
            let fork = self
                .forks
                .range((*author, 0)..=(*author, u64::MAX))
                .next()
                .map(|((_, s), _)| *s);
            let top = match fork {
                Some(0) => continue,
                Some(s) => top.min(s - 1),
                None => top,
            };
            let mut seq = top;
            // A finalized event ends the walk: all before it on the chain are
            // finalized too, and none is a head. Chains have no gaps, so a seq with
            // no event in memory holds a released one, finalized.
            while let Some(id) = self.chains.get(&(*author, seq)) {
                if self.epoch_of.contains_key(id) {
                    break;
                }
                if self.lamport_of(id).unwrap_or(0) <= bound {
                    out.push(*id);
                    break;
                }
                if seq == 0 {
                    break;
                }
                seq -= 1;
            }
        }
        out.sort_unstable();
        out
    }

    /// What an honest org signs at `bound`: the claim its [`Ledger::heads_at`] give on
    /// top of the finalized prefix. None when the bound is not above the last
    /// finalized one, or the claim would add nothing but Checkpoint events (a quiet
    /// network stops signing).
    pub fn claim_at(&mut self, bound: u64) -> Option<crate::payload::Checkpoint> {
        if self
            .finals
            .last()
            .is_some_and(|f| f.claim.lamport_bound >= bound)
        {
            return None;
        }
        let heads = self.heads_at(bound);
        let extended = self.extend(&heads, bound)?;
        let settles = extended
            .1
            .iter()
            .any(|i| !matches!(self.events[i].payload(), Payload::Checkpoint(_)));
        // Kept as `computed` keeps what it folds: the org's own Checkpoint comes back
        // through `insert`, and finalizing it would fold the same prefix again.
        let (claim, _) = self.keep_extended((bound, heads.clone()), Some(extended))?;
        settles.then(|| claim.payload(heads))
    }

    /// Whether the claims signed at `bound` are settled one way or the other: the
    /// last finalized bound reached it, or no claim there on top of the finalized
    /// prefix can reach a quorum, even if every org that has signed neither at the
    /// bound nor above it signs it. Orgs are those of the current state: an org
    /// evicted since is not waited for. An honest org signs its next bound only then (docs/protocol.md,
    /// "Signing checkpoints").
    pub fn bound_decided(&mut self, bound: u64) -> bool {
        let last = self.finals.last().map(|f| f.claim);
        if last.is_some_and(|c| c.lamport_bound >= bound) {
            return true;
        }
        let source = last.map_or(Hash32::ZERO, |c| c.events_root);
        let orgs: BTreeSet<PublicKey> = self.state().orgs.keys().copied().collect();
        let n = orgs.len();
        let Some(by_org) = self.signatures.get(&bound) else {
            return false;
        };
        let mut tally: BTreeMap<CheckpointClaim, usize> = BTreeMap::new();
        let mut signed = 0;
        for (_, ids) in by_org.iter().filter(|(o, _)| orgs.contains(*o)) {
            signed += 1;
            for i in ids {
                if let Payload::Checkpoint(c) = self.events[i].payload() {
                    let claim = CheckpointClaim::from(c);
                    if claim.source == source {
                        *tally.entry(claim).or_default() += 1;
                    }
                }
            }
        }
        // An org that signed a higher bound will not sign this one: orgs sign bounds
        // in increasing order.
        let moved_on = orgs
            .iter()
            .filter(|o| !by_org.contains_key(*o))
            .filter(|o| {
                self.signatures
                    .range(bound.saturating_add(1)..)
                    .any(|(_, m)| m.contains_key(*o))
            })
            .count();
        let unseen = n.saturating_sub(signed + moved_on);
        let best = tally.values().max().copied().unwrap_or(0);
        !self.genesis.rules.is_quorum(best + unseen, n)
    }

    /// The Checkpoint events signed at `bound`: what an org's next Checkpoint names in
    /// its deps, so that whoever holds it holds why the bound was decided.
    pub fn signatures_at(&self, bound: u64) -> Vec<ContentId> {
        self.signatures
            .get(&bound)
            .map(|m| m.values().flatten().copied().collect())
            .unwrap_or_default()
    }

    /// Bounds above `after` that some Checkpoint names, lowest first.
    pub fn signed_bounds_above(&self, after: u64) -> Vec<u64> {
        self.signatures
            .range(after.saturating_add(1)..)
            .map(|(b, _)| *b)
            .collect()
    }

    /// The last bound `org` signed, if any.
    pub fn last_signed(&self, org: &PublicKey) -> Option<u64> {
        self.signatures
            .iter()
            .rev()
            .find(|(_, m)| m.contains_key(org))
            .map(|(b, _)| *b)
    }

    /// Ordered events that no event on an org's line reaches yet, by (Lamport, id):
    /// what org nodes seal.
    pub fn unsealed(&self) -> impl Iterator<Item = &SignedEvent> {
        // A finalized event is sealed (the claim's heads, on an org's line, reach it),
        // so none was released.
        self.unsealed.iter().filter_map(|k| self.events.get(&k.1))
    }

    /// Claims finalized so far, epoch 1 first.
    pub fn finals(&self) -> &[Final] {
        &self.finals
    }

    /// The state at the end of the finalized prefix (after its settlement).
    pub fn finalized_state(&self) -> &State {
        &self.base
    }
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::testkit::workload::generate_settled;
    use proptest::prelude::*;

    /// The claim `heads` give at `bound`, folded from the base as a node that kept
    /// no state of the tail would: what [`Ledger::extend`] must give.
    fn from_base(l: &Ledger, heads: &[ContentId], bound: u64) -> Option<(Hash32, Vec<Vec<u8>>)> {
        let ids = l.prefix_ids(heads, bound, &Default::default())?;
        let mut state = l.base.clone();
        l.fold_onto(&mut state, &ids);
        Some((state.root_once(), state.leaves()))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Wherever the tail's own fold stands (caught up now and then, its
        /// snapshots dense or sparse, events arriving out of order so that it is
        /// behind a change), a claim folded from the state it kept is the claim
        /// folded from the base: the same state, the same root.
        #[test]
        fn a_claim_folded_from_the_tail_is_the_one_folded_from_the_base(
            n in 60usize..600,
            epoch in 20usize..200,
            interval in 1u64..40,
            peek_every in 1usize..50,
            delays in proptest::collection::vec((any::<u16>(), 1usize..40), 0..24),
            checks in proptest::collection::btree_set(any::<u16>(), 1..8),
            back in 0u64..6,
        ) {
            let mut log = Vec::new();
            let (genesis, _) = generate_settled(n, epoch, |b| log.extend_from_slice(b));
            // The workload's setup enrolls its members: what follows is the trade
            // and its settlement, where the delays and checks go.
            let len = log.len();
            let at = |x: u16| len - 1 - x as usize % len.min(800);
            // Events held back: what names them waits, and they land behind the
            // position the tail's fold reached since.
            for (x, delay) in delays {
                let i = at(x);
                let ev = log.remove(i);
                log.insert((i + delay).min(len - 1), ev);
            }
            let checks: BTreeSet<usize> = checks.into_iter().map(at).collect();
            let mut l = Ledger::with_snapshot_interval(genesis, interval);
            for (k, ev) in log.into_iter().enumerate() {
                l.insert(ev).expect("a valid workload event");
                if k % peek_every == 0 {
                    l.catch_up();
                }
                if !checks.contains(&k) {
                    continue;
                }
                let bound = l.max_lamport().saturating_sub(back);
                let heads = l.heads_at(bound);
                let Some((claim, _, state)) = l.extend(&heads, bound) else {
                    continue;
                };
                let (root, leaves) = from_base(&l, &heads, bound).expect("the same prefix");
                prop_assert_eq!(claim.state_root, root);
                prop_assert_eq!(state.root_once(), root);
                prop_assert_eq!(state.leaves(), leaves);
                prop_assert_eq!(claim.event_count, state.frontier.count());
            }
        }
    }
}
