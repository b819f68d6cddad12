//! The market: listings contributed and updated, purchases, deliveries, holds.

use super::*;

pub(super) fn contribute(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    author: PublicKey,
    ts: u64,
    listing: &Listing,
) -> Rule {
    if state.opted_out.contains(&listing.dedup_key) {
        return Err(VoidReason::OptedOut);
    }
    if state.dedup.contains_key(&listing.dedup_key) {
        return Err(VoidReason::DuplicateCard);
    }
    state.dedup.insert(listing.dedup_key, id);
    state.listings.insert(
        id,
        ListingState {
            contributor: author,
            teaser: listing.teaser.hash(),
            status: ListingStatus::Active,
            created_ms: ts,
            last_reward_ms: ts,
            sales: 0,
            held: false,
        },
    );
    state.listing_bodies.insert(
        id,
        ListingBody {
            listing: listing.erased(),
            vesting: Vec::new(),
        },
    );
    let mut pay_referrer = None;
    if let Some(a) = state.accounts.get_mut(&author) {
        a.contributions += 1;
        if a.contributions == 1 {
            pay_referrer = a.referrer;
        }
    }
    earn(
        state,
        id,
        Reward {
            event: id,
            account: author,
            points: r.contribute_reward,
            reason: MovementReason::ContributeReward,
        },
        true,
    );
    if let Some(referrer) = pay_referrer {
        earn(
            state,
            id,
            Reward {
                event: id,
                account: referrer,
                points: r.referral_bonus,
                reason: MovementReason::ReferralBonus,
            },
            // After the contributor's, which an excluded account does not earn.
            false,
        );
    }
    Ok(())
}

pub(super) fn update(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    author: PublicKey,
    ts: u64,
    u: &Update,
) -> Rule {
    let Some(current) = state.listings.get(&u.listing_id) else {
        return Err(VoidReason::UnknownListing);
    };
    if current.contributor != author {
        return Err(VoidReason::NotContributor);
    }
    if matches!(
        current.status,
        ListingStatus::Withdrawn | ListingStatus::OptedOut
    ) {
        return Err(VoidReason::ListingNotBuyable);
    }
    // Read once the cheap checks pass: on disk, once the listing is final.
    let Some(body) = state.listing_bodies.get(&u.listing_id) else {
        return Err(VoidReason::UnknownListing);
    };
    let old_key = body.listing.dedup_key;
    let new_key = u.listing.dedup_key;
    if new_key != old_key {
        if state.opted_out.contains(&new_key) {
            return Err(VoidReason::OptedOut);
        }
        if state.dedup.contains_key(&new_key) {
            return Err(VoidReason::DuplicateCard);
        }
    }
    let rewarded = ts >= current.last_reward_ms.saturating_add(r.update_interval_ms);
    if new_key != old_key {
        state.dedup.remove(&old_key);
        state.dedup.insert(new_key, u.listing_id);
    }
    if let Some(l) = state.listings.get_mut(&u.listing_id) {
        l.teaser = u.listing.teaser.hash();
        l.status = ListingStatus::Active;
        if rewarded {
            l.last_reward_ms = ts;
        }
    }
    state.listing_bodies.insert(
        u.listing_id,
        ListingBody {
            listing: u.listing.erased(),
            ..body
        },
    );
    if rewarded {
        earn(
            state,
            u.listing_id,
            Reward {
                event: id,
                account: author,
                points: r.update_reward,
                reason: MovementReason::UpdateReward,
            },
            false,
        );
    }
    Ok(())
}

/// Pay-or-play, in network time: enough held contributions or a grant within the
/// window before `now`.
pub(super) fn plays(r: &Rules, a: &Account, now: u64) -> bool {
    play_status(r, a, now).plays
}

/// Where an account stands with pay-or-play at `now`: its held contributions in the
/// window (counted up to the number needed) and whether a grant falls in it.
pub(crate) fn play_status(r: &Rules, a: &Account, now: u64) -> PlayStatus {
    let from = (now.saturating_sub(r.play_window_ms), ContentId::ZERO);
    let to = (now, crate::hash::Hash32([0xff; 32]));
    let contributions = a
        .contribution_times
        .range(from..=to)
        .take(r.play_min_contributions as usize)
        .count() as u32;
    let granted = a.grant_times.range(from..=to).next().is_some();
    PlayStatus {
        contributions,
        needed: r.play_min_contributions,
        granted,
        plays: contributions >= r.play_min_contributions || granted,
    }
}

/// The price `buyer` pays for a Purchase `p` ordered now, or why it is void: every
/// check of [`purchase`], in its order, with nothing changed. A member's client asks
/// for it before signing, so a purchase the rules refuse is never published.
pub(crate) fn purchase_terms(
    state: &State,
    r: &Rules,
    buyer: PublicKey,
    p: &Purchase,
) -> Result<u64, VoidReason> {
    let Some(l) = state.listings.get(&p.listing_id) else {
        return Err(VoidReason::UnknownListing);
    };
    if l.status != ListingStatus::Active {
        return Err(VoidReason::ListingNotBuyable);
    }
    if l.contributor == buyer {
        return Err(VoidReason::OwnCard);
    }
    let seller_org = state.accounts.get(&l.contributor).and_then(Account::org);
    let Some(b) = state.accounts.get(&buyer) else {
        return Err(VoidReason::AuthorNotActiveMember);
    };
    if seller_org == b.org() {
        return Err(VoidReason::SameOrg);
    }
    if state.holdings.contains_key(&(buyer, p.listing_id)) {
        return Err(VoidReason::AlreadyHeld);
    }
    let price = r.card_price;
    if price > p.max_price {
        return Err(VoidReason::PriceAboveMax);
    }
    if !plays(r, b, state.now_ms) {
        return Err(VoidReason::PayOrPlay);
    }
    if b.balance < price as i64 {
        return Err(VoidReason::InsufficientBalance);
    }
    Ok(price)
}

pub(super) fn purchase(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    lamport: u64,
    buyer: PublicKey,
    p: &Purchase,
) -> Rule {
    let price = purchase_terms(state, r, buyer, p)?;
    let Some(body) = state.listing_bodies.get(&p.listing_id) else {
        return Err(VoidReason::UnknownListing);
    };
    let (email_commitment, phone_commitment) =
        (body.listing.email_commitment, body.listing.phone_commitment);
    credit(
        state,
        id,
        buyer,
        -(price as i64),
        MovementReason::PurchaseEscrow,
    );
    if let Some(b) = state.accounts.get_mut(&buyer) {
        b.escrow += price as i64;
    }
    state.purchases.insert(
        id,
        PurchaseState {
            buyer,
            listing_id: p.listing_id,
            price,
            lamport,
            status: PurchaseStatus::Escrowed,
            email_commitment,
            phone_commitment,
        },
    );
    state.holdings.insert((buyer, p.listing_id), id);
    state.escrowed.insert((lamport, id));
    state.fresh.insert(id);
    Ok(())
}

/// docs/protocol.md, "Equivocation": a Deliver of a purchase that is void because its
/// buyer equivocated still makes the buyer pay. The buyer holds the card; signing a
/// twin must not make it free.
pub(super) fn deliver_forked(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    org: PublicKey,
    d: &Deliver,
) -> Rule {
    let Some(&(buyer, listing_id, max_price)) = state.forked_purchases.get(&d.purchase_id) else {
        return Err(VoidReason::UnknownPurchase);
    };
    let Some(l) = state.listings.get(&listing_id) else {
        return Err(VoidReason::NotHolder);
    };
    let contributor = l.contributor;
    let holder = state.accounts.get(&contributor).and_then(Account::org);
    if holder != Some(org) {
        return Err(VoidReason::NotHolder);
    }
    let price = r.card_price;
    if price > max_price {
        return Err(VoidReason::PriceAboveMax);
    }
    let Some(body) = state.listing_bodies.get(&listing_id) else {
        return Err(VoidReason::NotHolder);
    };
    let (email_commitment, phone_commitment) =
        (body.listing.email_commitment, body.listing.phone_commitment);
    state.forked_purchases.remove(&d.purchase_id);
    state.purchases.insert(
        d.purchase_id,
        PurchaseState {
            buyer,
            listing_id,
            price,
            lamport: 0,
            status: PurchaseStatus::Delivered,
            email_commitment,
            phone_commitment,
        },
    );
    state.holdings.insert((buyer, listing_id), d.purchase_id);
    credit(
        state,
        id,
        buyer,
        -(price as i64),
        MovementReason::PurchaseEscrow,
    );
    pay_sale(state, r, id, org, contributor, listing_id, price as i64);
    Ok(())
}

/// A delivered sale: the listing's sales count, its unsold rewards are scheduled to
/// vest, the contributor is paid the price less the host org's commission.
pub(super) fn pay_sale(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    org: PublicKey,
    contributor: PublicKey,
    listing_id: ContentId,
    price: i64,
) {
    if let Some(l) = state.listings.get_mut(&listing_id) {
        l.sales += 1;
    }
    schedule(state, r, listing_id);
    let commission = price * r.commission_bps as i64 / 10_000;
    credit(
        state,
        id,
        contributor,
        price - commission,
        MovementReason::SaleProceeds,
    );
    if commission > 0 {
        credit(state, id, org, commission, MovementReason::Commission);
    }
}

pub(super) fn deliver(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    org: PublicKey,
    d: &Deliver,
) -> Rule {
    let Some(p) = state.purchases.get(&d.purchase_id) else {
        return deliver_forked(state, r, id, org, d);
    };
    let contributor = state.listings.get(&p.listing_id).map(|l| l.contributor);
    let holder = contributor
        .and_then(|c| state.accounts.get(&c))
        .and_then(Account::org);
    let (Some(contributor), true) = (contributor, holder == Some(org)) else {
        return Err(VoidReason::NotHolder);
    };
    if p.status != PurchaseStatus::Escrowed {
        return Err(VoidReason::NotEscrowed);
    }
    let (buyer, price, lamport, listing_id) = (p.buyer, p.price as i64, p.lamport, p.listing_id);
    state.purchases.insert(
        d.purchase_id,
        PurchaseState {
            status: PurchaseStatus::Delivered,
            ..p
        },
    );
    state.escrowed.remove(&(lamport, d.purchase_id));
    if let Some(b) = state.accounts.get_mut(&buyer) {
        b.escrow -= price;
    }
    pay_sale(state, r, id, org, contributor, listing_id, price);
    Ok(())
}

/// docs/protocol.md, "Applying an event", Hold: each named listing of one of the
/// org's members, not yet held and not withdrawn, counts from now on for its
/// contributor's pay-or-play. The others are skipped; void if none was held.
pub(super) fn hold(state: &mut State, org: PublicKey, h: &Hold) -> Rule {
    let now = state.now_ms;
    let mut any = false;
    for id in &h.listings {
        let Some(l) = state.listings.get(id) else {
            continue;
        };
        let contributor = l.contributor;
        let theirs = state.accounts.get(&contributor).and_then(Account::org) == Some(org);
        if l.held || l.status == ListingStatus::Withdrawn || !theirs {
            continue;
        }
        if let Some(l) = state.listings.get_mut(id) {
            l.held = true;
        }
        if let Some(a) = state.accounts.get_mut(&contributor) {
            a.contribution_times.insert((now, *id));
        }
        any = true;
    }
    if any {
        Ok(())
    } else {
        Err(VoidReason::NothingHeld)
    }
}
