//! Penalties: bounce and mobile reports, and disputes of them.

use super::*;

/// The reporter's delivered purchase and the listing's contributor.
pub(super) fn reported_purchase(
    state: &State,
    reporter: PublicKey,
    purchase: &ContentId,
) -> Result<(PurchaseState, PublicKey), VoidReason> {
    let p = state
        .purchases
        .get(purchase)
        .ok_or(VoidReason::UnknownPurchase)?;
    if p.buyer != reporter {
        return Err(VoidReason::NotBuyer);
    }
    if p.status != PurchaseStatus::Delivered {
        return Err(VoidReason::NotDelivered);
    }
    // The listing may have been erased by an opt-out; its contributor is then unknown.
    let contributor = state
        .listings
        .get(&p.listing_id)
        .map(|l| l.contributor)
        .ok_or(VoidReason::UnknownListing)?;
    Ok((p, contributor))
}

pub(super) fn bounce(
    state: &mut State,
    ctx: &Ctx,
    id: ContentId,
    reporter: PublicKey,
    b: &BounceReport,
) -> Rule {
    let r = ctx.rules;
    let (p, contributor) = reported_purchase(state, reporter, &b.purchase_id)?;
    if !b.status.is_permanent() {
        return Err(VoidReason::TemporaryFailure);
    }
    let vouching_org = state.accounts.get(&reporter).and_then(Account::org);
    let body = crate::voucher::VoucherBody {
        network: ctx.network,
        reporter,
        purchase_id: b.purchase_id,
        evidence: b.evidence,
        status: b.status,
        email_commitment: p.email_commitment,
    };
    if !vouching_org.is_some_and(|org| crate::voucher::verify(&org, &body, &b.voucher)) {
        return Err(VoidReason::BadVoucher);
    }
    // One address bounces once: the first confirmed report per listing and email wins.
    if state
        .bounced
        .insert((p.listing_id, p.email_commitment))
        .is_some()
    {
        return Err(VoidReason::AlreadyReported);
    }
    // The body (on disk, once final) only for an active listing.
    let active = state
        .listings
        .get(&p.listing_id)
        .is_some_and(|l| l.status == ListingStatus::Active);
    let in_force = active
        && state
            .listing_bodies
            .get(&p.listing_id)
            .is_some_and(|b| b.listing.email_commitment == p.email_commitment);
    if let (true, Some(l)) = (in_force, state.listings.get_mut(&p.listing_id)) {
        l.status = ListingStatus::Bounced;
    }
    forfeit(state, p.listing_id);
    let org = state.accounts.get(&contributor).and_then(Account::org);
    state.bounce_reports.insert(
        id,
        BounceRecord {
            listing_id: p.listing_id,
            org,
            at_ms: state.now_ms,
            dispute: None,
        },
    );
    credit(
        state,
        id,
        reporter,
        r.bounce_bounty as i64,
        MovementReason::BounceBounty,
    );
    credit(
        state,
        id,
        contributor,
        -(r.bounce_penalty as i64),
        MovementReason::BouncePenalty,
    );
    Ok(())
}

pub(super) fn mobile(
    state: &mut State,
    ctx: &Ctx,
    id: ContentId,
    reporter: PublicKey,
    m: &MobileReport,
) -> Rule {
    let r = ctx.rules;
    let (p, contributor) = reported_purchase(state, reporter, &m.purchase_id)?;
    let Some(commitment) = p.phone_commitment else {
        return Err(VoidReason::OpeningMismatch);
    };
    let vouching_org = state.accounts.get(&reporter).and_then(Account::org);
    let body = crate::voucher::MobileVoucherBody {
        network: ctx.network,
        reporter,
        purchase_id: m.purchase_id,
        phone_commitment: commitment,
    };
    if !vouching_org.is_some_and(|org| crate::voucher::verify_mobile(&org, &body, &m.voucher)) {
        return Err(VoidReason::BadVoucher);
    }
    if state.mobile_reported.contains(&(p.listing_id, commitment)) {
        return Err(VoidReason::AlreadyReported);
    }
    state.mobile_reported.insert((p.listing_id, commitment));
    forfeit(state, p.listing_id);
    if let Some(l) = state.listings.get_mut(&p.listing_id) {
        if l.status != ListingStatus::OptedOut {
            l.status = ListingStatus::Withdrawn;
        }
    }
    credit(
        state,
        id,
        contributor,
        -(r.mobile_penalty as i64),
        MovementReason::MobilePenalty,
    );
    let strikes = state.accounts.get_mut(&contributor).map(|a| {
        a.mobile_strikes += 1;
        a.mobile_strikes
    });
    if strikes.is_some_and(|s| s >= r.mobile_strikes_to_exclude) {
        exclude(state, &contributor, ExclusionCause::MobileNumbers);
    }
    Ok(())
}

/// docs/protocol.md, "Applying an event", Dispute: the contributor's org records its
/// finding against a bounce report within the bounce window; once per report.
pub(super) fn dispute(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    org: PublicKey,
    d: &Dispute,
) -> Rule {
    let now = state.now_ms;
    let Some(rec) = state.bounce_reports.get_mut(&d.report_id) else {
        return Err(VoidReason::CannotDispute);
    };
    if rec.org != Some(org)
        || rec.dispute.is_some()
        || now > rec.at_ms.saturating_add(r.bounce_window_ms)
    {
        return Err(VoidReason::CannotDispute);
    }
    rec.dispute = Some(id);
    Ok(())
}
