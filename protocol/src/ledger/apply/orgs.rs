//! The orgs among themselves: checkpoint signatures and settlement, admissions,
//! evictions, key rotations.

use super::*;

/// A Checkpoint's effect in the fold is only to record its signature; whether its
/// claim is final is decided over the whole set (`Ledger`'s finality pass), and shows
/// in the fold at the end of the prefix it finalizes.
pub(super) fn checkpoint(state: &mut State, lamport: u64, org: PublicKey, c: &Checkpoint) -> Rule {
    if c.lamport_bound >= lamport {
        return Err(VoidReason::BoundNotBelowClock);
    }
    // One claim per org and bound: a second, different claim is ignored.
    if state.signed_bounds.insert((org, c.lamport_bound)).is_some() {
        return Err(VoidReason::AlreadySigned);
    }
    Ok(())
}

/// Refunds every purchase still in escrow but those applied since the last
/// settlement. `event` names the settlement in the movements.
pub(super) fn settle(state: &mut State, event: ContentId) {
    let due: Vec<(u64, ContentId)> = state
        .escrowed
        .iter()
        .filter(|(_, p)| !state.fresh.contains(p))
        .cloned()
        .collect();
    for (lamport, pid) in due {
        state.escrowed.remove(&(lamport, pid));
        let Some(mut p) = state.purchases.get(&pid) else {
            continue;
        };
        p.status = PurchaseStatus::Refunded;
        let (buyer, listing, price) = (p.buyer, p.listing_id, p.price as i64);
        state.purchases.insert(pid, p);
        state.holdings.remove(&(buyer, listing));
        if let Some(b) = state.accounts.get_mut(&buyer) {
            b.escrow -= price;
            // A refund returns the buyer's own points, so it is credited even to an
            // excluded account.
            b.balance += price;
        }
        state.record(Movement {
            event,
            account: buyer,
            delta: price,
            reason: MovementReason::Refund,
        });
    }
}

pub(super) fn admit(state: &mut State, r: &Rules, voter: PublicKey, a: &Admit) -> Rule {
    if state.orgs.contains_key(&a.org) {
        return Err(VoidReason::AlreadyOrg);
    }
    if state.accounts.contains_key(&a.org) {
        return Err(VoidReason::AlreadyEnrolled);
    }
    let votes = cast(&mut state.admit_votes, a.org, voter)?;
    if r.is_quorum(current_orgs(state, &votes), state.orgs.len()) {
        state.admit_votes.remove(&a.org);
        state.orgs.insert(
            a.org,
            OrgState {
                name: a.name.clone(),
                founding: false,
            },
        );
        state
            .accounts
            .insert(a.org, Account::new(AccountKind::Org, a.name.clone()));
    }
    Ok(())
}

/// Records `voter`'s vote about `target` (an admission or an eviction): the voters
/// so far, or `already_voted`.
pub(super) fn cast<K: Ord + Clone>(
    votes: &mut imbl::OrdMap<K, imbl::OrdSet<PublicKey>>,
    target: K,
    voter: PublicKey,
) -> Result<imbl::OrdSet<PublicKey>, VoidReason> {
    let set = votes.entry(target).or_default();
    if set.insert(voter).is_some() {
        return Err(VoidReason::AlreadyVoted);
    }
    Ok(set.clone())
}

/// How many of `keys` (signers or voters) are orgs now: an evicted org's earlier
/// votes and signatures stop counting.
pub(super) fn current_orgs(state: &State, keys: &imbl::OrdSet<PublicKey>) -> usize {
    keys.iter().filter(|k| state.orgs.contains_key(*k)).count()
}

/// docs/protocol.md, "Applying an event", Evict: a vote of the other orgs; on a
/// quorum of them, `org` is an org no more. Its account (and balance) stays; its
/// later org events are void, its earlier votes and signatures stop counting.
pub(super) fn evict(state: &mut State, r: &Rules, voter: PublicKey, e: &Evict) -> Rule {
    if !state.orgs.contains_key(&e.org) {
        return Err(VoidReason::NotAnOrg);
    }
    if voter == e.org {
        return Err(VoidReason::SelfEviction);
    }
    let votes = cast(&mut state.evict_votes, e.org, voter)?;
    let others = state.orgs.len() - 1;
    if r.is_quorum(current_orgs(state, &votes), others) {
        state.evict_votes.remove(&e.org);
        state.orgs.remove(&e.org);
    }
    Ok(())
}

/// docs/protocol.md, "Applying an event", Rotate: a vote of the orgs; on a quorum of
/// them, org key `org` is replaced by `to`: the org (name, founding), its account and
/// its members move to the new key, and votes to evict it follow. The old key's events
/// stay as they were (their signatures still verify); from then on it is no org, so
/// its later org events are void and its votes and signatures stop counting.
pub(super) fn rotate(state: &mut State, r: &Rules, voter: PublicKey, k: &Rotate) -> Rule {
    let Some(org) = state.orgs.get(&k.org).cloned() else {
        return Err(VoidReason::NotAnOrg);
    };
    if state.orgs.contains_key(&k.to) {
        return Err(VoidReason::AlreadyOrg);
    }
    if state.accounts.contains_key(&k.to) {
        return Err(VoidReason::AlreadyEnrolled);
    }
    let votes = cast(&mut state.rotate_votes, (k.org, k.to), voter)?;
    if !r.is_quorum(current_orgs(state, &votes), state.orgs.len()) {
        return Ok(());
    }
    state.rotate_votes.remove(&(k.org, k.to));
    state.orgs.remove(&k.org);
    state.orgs.insert(k.to, org);
    if let Some(account) = state.accounts.remove(&k.org) {
        state.accounts.insert(k.to, account);
    }
    let members: Vec<PublicKey> = state
        .accounts
        .iter()
        .filter(|(_, a)| a.kind == AccountKind::Member { org: k.org })
        .map(|(key, _)| *key)
        .collect();
    for m in members {
        if let Some(a) = state.accounts.get_mut(&m) {
            a.kind = AccountKind::Member { org: k.to };
        }
    }
    if let Some(v) = state.evict_votes.remove(&k.org) {
        state.evict_votes.insert(k.to, v);
    }
    Ok(())
}
