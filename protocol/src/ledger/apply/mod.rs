//! The rules: how one event changes the state, applied in ledger order.
//!
//! Every function here is checked-then-mutated: it either returns a [`VoidReason`]
//! having changed nothing, or applies the whole effect. That keeps a void event from
//! leaving half an effect behind, which would make states depend on failure paths.

mod members;
mod orgs;
mod reports;
mod trade;

pub use crate::phone::is_mobile_number;
use members::*;
use orgs::*;
use reports::*;
use trade::*;
pub(crate) use trade::{play_status, purchase_terms};

use super::state::*;
use crate::event::SignedEvent;
use crate::genesis::Rules;
use crate::hash::ContentId;
use crate::keys::PublicKey;
use crate::payload::*;

/// What the rules need besides the state: fixed parameters.
pub(crate) struct Ctx<'a> {
    pub rules: &'a Rules,
    /// Vouchers sign the network id, so one network's voucher is void in another.
    pub network: crate::hash::NetworkId,
}

type Rule = Result<(), VoidReason>;

pub(crate) fn apply(state: &mut State, ctx: &Ctx, ev: &SignedEvent) {
    state.last_lamport = ev.lamport();
    state.frontier.push(&ev.id());
    tick(state, ctx.rules, ev.author(), ev.body().timestamp_ms);
    if let Err(reason) = apply_event(state, ctx, ev) {
        state.voids.insert(ev.id(), reason);
    }
    state.applied += 1;
}

/// The end of a finalized prefix: the claim becomes the finalized one, and every
/// purchase still in escrow that was applied before the previous settlement is
/// refunded (only events of finalized prefixes are applied at this point: these are
/// the purchases no Deliver reached within a whole epoch after theirs).
pub(crate) fn finalize(state: &mut State, claim: CheckpointClaim) {
    state.finalized = Some(claim);
    state.finalized_claims.insert(claim);
    settle(state, claim.events_root);
    state.fresh = imbl::OrdSet::new();
}

/// docs/protocol.md, "Network time": an event of a current org moves that org's
/// clock; network time is the highest time a quorum of the orgs has reached, so no
/// minority of orgs can move it. When it moves, rewards that fell due vest.
fn tick(state: &mut State, r: &Rules, author: PublicKey, ts: u64) {
    if !state.orgs.contains_key(&author) || state.equivocated.contains(&author) {
        return;
    }
    if state.org_clocks.get(&author).is_some_and(|c| ts <= *c) {
        return;
    }
    state.org_clocks.insert(author, ts);
    let k = r.quorum_size(state.orgs.len());
    if k == 0 || state.org_clocks.len() < k {
        return;
    }
    let mut clocks: Vec<u64> = state
        .orgs
        .keys()
        .filter_map(|k| state.org_clocks.get(k).copied())
        .collect();
    if clocks.len() < k {
        return;
    }
    // The k-th highest: only that one needs to be in place.
    let (_, now, _) = clocks.select_nth_unstable_by(k - 1, |a, b| b.cmp(a));
    let now = *now;
    if now > state.now_ms {
        state.now_ms = now;
        vest_due(state);
    }
}

/// Vests every reward due at or before network time, in (time, listing) order.
fn vest_due(state: &mut State) {
    loop {
        let Some(&(due, listing)) = state.vesting_due.get_min() else {
            return;
        };
        if due > state.now_ms {
            return;
        }
        state.vesting_due.remove(&(due, listing));
        let rewards = state.vesting.remove(&(due, listing)).unwrap_or_default();
        if let Some(mut b) = state.listing_bodies.get(&listing) {
            b.vesting.retain(|d| *d != due);
            state.listing_bodies.insert(listing, b);
        }
        for w in rewards {
            if let Some(a) = state.accounts.get_mut(&w.account) {
                a.pending -= w.points as i64;
            }
            credit(state, w.event, w.account, w.points as i64, w.reason);
        }
    }
}

/// A reward earned on `listing`: pending until a sale of the card vests it. An
/// excluded account earns nothing. `first`: the listing was contributed by this
/// event and has no reward yet, so none is looked up (on disk, once the maps are).
fn earn(state: &mut State, listing: ContentId, w: Reward, first: bool) {
    let Some(a) = state.accounts.get_mut(&w.account) else {
        return;
    };
    if matches!(a.status, AccountStatus::Excluded(_)) {
        return;
    }
    a.pending += w.points as i64;
    let mut rewards = match first {
        true => Vec::new(),
        false => state.unsold.get(&listing).unwrap_or_default(),
    };
    rewards.push(w);
    state.unsold.insert(listing, rewards);
}

/// A delivered sale: the card's unsold rewards become due one bounce window later.
fn schedule(state: &mut State, r: &Rules, listing: ContentId) {
    let Some(rewards) = state.unsold.remove(&listing) else {
        return;
    };
    let key = (state.now_ms.saturating_add(r.bounce_window_ms), listing);
    // `vesting_due` holds every key of `vesting`, in memory: a key it lacks (nearly
    // every sale's) needs no read of the store.
    let mut due_rewards = match state.vesting_due.insert(key) {
        Some(_) => state.vesting.get(&key).unwrap_or_default(),
        None => Vec::new(),
    };
    due_rewards.extend(rewards);
    state.vesting.insert(key, due_rewards);
    let due = key.0;
    if let Some(mut b) = state.listing_bodies.get(&listing) {
        if b.vesting.last() != Some(&due) {
            b.vesting.push(due);
            state.listing_bodies.insert(listing, b);
        }
    }
}

/// A confirmed bounce or mobile number, an opt-out or the contributor's exclusion:
/// every reward of the card not yet vested is lost.
fn forfeit(state: &mut State, listing: ContentId) {
    let mut lost = state.unsold.remove(&listing).unwrap_or_default();
    let dues = match state.listing_bodies.get(&listing) {
        Some(mut b) if !b.vesting.is_empty() => {
            let dues = std::mem::take(&mut b.vesting);
            state.listing_bodies.insert(listing, b);
            dues
        }
        _ => Vec::new(),
    };
    for due in dues {
        state.vesting_due.remove(&(due, listing));
        if let Some(rewards) = state.vesting.remove(&(due, listing)) {
            lost.extend(rewards);
        }
    }
    for w in lost {
        if let Some(a) = state.accounts.get_mut(&w.account) {
            a.pending -= w.points as i64;
        }
    }
}

/// Equivocation, decided in ledger order: the first event at a seq stands, the second
/// is void and excludes its author, and so is every event of that author after it.
/// What came before the second twin (a delivered or settled purchase) stays.
fn equivocation(state: &mut State, ev: &SignedEvent) -> Rule {
    let author = ev.author();
    if state.equivocated.contains(&author) {
        return Err(VoidReason::AuthorEquivocated);
    }
    let next = state.next_seq.get(&author).copied().unwrap_or(0);
    if ev.seq() < next {
        state.equivocated.insert(author);
        exclude(state, &author, ExclusionCause::Equivocation);
        return Err(VoidReason::AuthorEquivocated);
    }
    state.next_seq.insert(author, ev.seq() + 1);
    Ok(())
}

fn apply_event(state: &mut State, ctx: &Ctx, ev: &SignedEvent) -> Rule {
    let author = ev.author();
    if let Err(void) = equivocation(state, ev) {
        if let Payload::Purchase(p) = ev.payload() {
            state
                .forked_purchases
                .insert(ev.id(), (author, p.listing_id, p.max_price));
        }
        return Err(void);
    }
    match ev.payload().author_role() {
        AuthorRole::Org => {
            if !state.orgs.contains_key(&author) {
                return Err(VoidReason::AuthorNotOrg);
            }
        }
        AuthorRole::Member => match state.accounts.get(&author) {
            Some(a) if a.is_active() && a.org().is_some() => {}
            _ => return Err(VoidReason::AuthorNotActiveMember),
        },
    }
    let ts = ev.body().timestamp_ms;
    let id = ev.id();
    let r = ctx.rules;
    match ev.payload() {
        Payload::Enroll(e) => enroll(state, author, e),
        Payload::Revoke(v) => revoke(state, author, v),
        Payload::Contribute(c) => contribute(state, r, id, author, ts, &c.listing),
        Payload::Update(u) => update(state, r, id, author, ts, u),
        Payload::Purchase(p) => purchase(state, r, id, ev.lamport(), author, p),
        Payload::Deliver(d) => deliver(state, r, id, author, d),
        Payload::BounceReport(b) => bounce(state, ctx, id, author, b),
        Payload::MobileReport(m) => mobile(state, ctx, id, author, m),
        Payload::Vote(v) => {
            let vote = CompanyVote {
                employees: v.employees,
                revenue: v.revenue,
            };
            state.votes.insert((v.company_domain.clone(), author), vote);
            Ok(())
        }
        Payload::Referral(f) => referral(state, author, f),
        Payload::Grant(g) => grant(state, r, id, author, g),
        Payload::Transfer(t) => transfer(state, id, author, t),
        Payload::OptOut(o) => opt_out(state, o),
        Payload::Checkpoint(c) => checkpoint(state, ev.lamport(), author, c),
        Payload::Seal(_) => Ok(()),
        Payload::Hold(h) => hold(state, author, h),
        Payload::Dispute(d) => dispute(state, r, id, author, d),
        Payload::Admit(a) => admit(state, r, author, a),
        Payload::Evict(e) => evict(state, r, author, e),
        Payload::Rotate(k) => rotate(state, r, author, k),
    }
}

/// Adds `delta` to an account's balance and records the movement. Excluded accounts
/// earn nothing: a positive amount to them is not credited.
fn credit(
    state: &mut State,
    event: ContentId,
    account: PublicKey,
    delta: i64,
    reason: MovementReason,
) {
    let Some(a) = state.accounts.get_mut(&account) else {
        return;
    };
    if delta > 0 && matches!(a.status, AccountStatus::Excluded(_)) {
        return;
    }
    a.balance += delta;
    state.record(Movement {
        event,
        account,
        delta,
        reason,
    });
}

fn exclude(state: &mut State, key: &PublicKey, cause: ExclusionCause) {
    let Some(a) = state.accounts.get_mut(key) else {
        return;
    };
    if matches!(a.status, AccountStatus::Excluded(_)) {
        return;
    }
    a.status = AccountStatus::Excluded(cause);
    let theirs: Vec<ContentId> = state
        .listings
        .iter()
        .filter(|(_, l)| &l.contributor == key && l.status != ListingStatus::OptedOut)
        .map(|(id, _)| *id)
        .collect();
    for id in theirs {
        forfeit(state, id);
        if let Some(l) = state.listings.get_mut(&id) {
            l.status = ListingStatus::Withdrawn;
        }
    }
}
