//! Membership and points between members: enrolments, revocations, referrals,
//! grants, transfers, opt-outs.

use super::*;

pub(super) fn enroll(state: &mut State, org: PublicKey, e: &Enroll) -> Rule {
    if state.orgs.contains_key(&e.member) {
        return Err(VoidReason::AlreadyOrg);
    }
    if state.accounts.contains_key(&e.member) {
        return Err(VoidReason::AlreadyEnrolled);
    }
    state.accounts.insert(
        e.member,
        Account::new(AccountKind::Member { org }, e.handle.clone()),
    );
    Ok(())
}

pub(super) fn member_of<'a>(
    state: &'a mut State,
    org: PublicKey,
    member: &PublicKey,
) -> Result<&'a mut Account, VoidReason> {
    match state.accounts.get_mut(member) {
        Some(a) if a.org() == Some(org) => Ok(a),
        Some(_) => Err(VoidReason::NotTheMembersOrg),
        None => Err(VoidReason::UnknownAccount),
    }
}

pub(super) fn revoke(state: &mut State, org: PublicKey, v: &Revoke) -> Rule {
    let a = member_of(state, org, &v.member)?;
    if a.status == AccountStatus::Active {
        a.status = AccountStatus::Revoked;
    }
    Ok(())
}

pub(super) fn referral(state: &mut State, author: PublicKey, f: &Referral) -> Rule {
    if f.referrer == author {
        return Err(VoidReason::BadReferrer);
    }
    match state.accounts.get(&f.referrer) {
        Some(a) if a.is_active() && a.org().is_some() => {}
        _ => return Err(VoidReason::BadReferrer),
    }
    let Some(a) = state.accounts.get_mut(&author) else {
        return Err(VoidReason::AuthorNotActiveMember);
    };
    if a.referrer.is_some() || a.contributions > 0 {
        return Err(VoidReason::AlreadyReferred);
    }
    a.referrer = Some(f.referrer);
    Ok(())
}

/// docs/protocol.md, "Applying an event", Grant: at most the subscription cap per
/// member and grant period of network time.
pub(super) fn grant(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    org: PublicKey,
    g: &Grant,
) -> Rule {
    let now = state.now_ms;
    let period = now / r.grant_period_ms.max(1);
    let cap = r.grant_cap().unwrap_or(0);
    let a = member_of(state, org, &g.member)?;
    let used = if a.granted.0 == period {
        a.granted.1
    } else {
        0
    };
    if used.saturating_add(g.points) > cap {
        return Err(VoidReason::GrantAboveCap);
    }
    a.granted = (period, used + g.points);
    a.grant_times.insert((now, id));
    credit(state, id, g.member, g.points as i64, MovementReason::Grant);
    Ok(())
}

pub(super) fn transfer(state: &mut State, id: ContentId, from: PublicKey, t: &Transfer) -> Rule {
    if t.to == from {
        return Err(VoidReason::SelfTransfer);
    }
    if !state.accounts.get(&t.to).is_some_and(Account::is_active) {
        return Err(VoidReason::UnknownAccount);
    }
    if state.accounts.get(&from).map_or(0, |a| a.balance) < t.points as i64 {
        return Err(VoidReason::InsufficientBalance);
    }
    credit(
        state,
        id,
        from,
        -(t.points as i64),
        MovementReason::TransferOut,
    );
    credit(state, id, t.to, t.points as i64, MovementReason::TransferIn);
    Ok(())
}

pub(super) fn opt_out(state: &mut State, o: &OptOut) -> Rule {
    if state.opted_out.insert(o.dedup_key).is_some() {
        return Err(VoidReason::OptedOut);
    }
    // GDPR erasure: the listing's personal data leaves the state; purchases keep
    // their own record so escrow still settles.
    if let Some(listing_id) = state.dedup.remove(&o.dedup_key) {
        forfeit(state, listing_id);
        state.listings.remove(&listing_id);
        state.listing_bodies.remove(&listing_id);
    }
    Ok(())
}
