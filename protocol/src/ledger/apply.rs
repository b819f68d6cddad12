//! The rules: how one event changes the state, applied in ledger order.
//!
//! Every function here is checked-then-mutated: it either returns a [`VoidReason`]
//! having changed nothing, or applies the whole effect. That keeps a void event from
//! leaving half an effect behind, which would make states depend on failure paths.

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
        let Some(&((due, listing), _)) = state.vesting.get_min() else {
            return;
        };
        if due > state.now_ms {
            return;
        }
        let rewards = state.vesting.remove(&(due, listing)).unwrap_or_default();
        if let Some(l) = state.listings.get_mut(&listing) {
            l.vesting.retain(|d| *d != due);
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
/// excluded account earns nothing.
fn earn(state: &mut State, listing: ContentId, w: Reward) {
    let Some(a) = state.accounts.get_mut(&w.account) else {
        return;
    };
    if matches!(a.status, AccountStatus::Excluded(_)) {
        return;
    }
    a.pending += w.points as i64;
    state.unsold.entry(listing).or_default().push(w);
}

/// A delivered sale: the card's unsold rewards become due one bounce window later.
fn schedule(state: &mut State, r: &Rules, listing: ContentId) {
    let Some(rewards) = state.unsold.remove(&listing) else {
        return;
    };
    let due = state.now_ms.saturating_add(r.bounce_window_ms);
    state
        .vesting
        .entry((due, listing))
        .or_default()
        .extend(rewards);
    if let Some(l) = state.listings.get_mut(&listing) {
        if l.vesting.last() != Some(&due) {
            l.vesting.push(due);
        }
    }
}

/// A confirmed bounce or mobile number, an opt-out or the contributor's exclusion:
/// every reward of the card not yet vested is lost.
fn forfeit(state: &mut State, listing: ContentId) {
    let mut lost = state.unsold.remove(&listing).unwrap_or_default();
    let dues = state
        .listings
        .get_mut(&listing)
        .map(|l| std::mem::take(&mut l.vesting))
        .unwrap_or_default();
    for due in dues {
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
    state.movements.push_back(Movement {
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

fn enroll(state: &mut State, org: PublicKey, e: &Enroll) -> Rule {
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

fn member_of<'a>(
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

fn revoke(state: &mut State, org: PublicKey, v: &Revoke) -> Rule {
    let a = member_of(state, org, &v.member)?;
    if a.status == AccountStatus::Active {
        a.status = AccountStatus::Revoked;
    }
    Ok(())
}

fn contribute(
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
            listing: listing.clone(),
            status: ListingStatus::Active,
            created_ms: ts,
            last_reward_ms: ts,
            sales: 0,
            held: false,
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
        );
    }
    Ok(())
}

fn update(
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
    let old_key = current.listing.dedup_key;
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
        l.listing = u.listing.clone();
        l.status = ListingStatus::Active;
        if rewarded {
            l.last_reward_ms = ts;
        }
    }
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
        );
    }
    Ok(())
}

/// Pay-or-play, in network time: enough held contributions or a grant within the
/// window before `now`.
fn plays(r: &Rules, a: &Account, now: u64) -> bool {
    let from = (now.saturating_sub(r.play_window_ms), ContentId::ZERO);
    let to = (now, crate::hash::Hash32([0xff; 32]));
    let recent = a
        .contribution_times
        .range(from..=to)
        .take(r.play_min_contributions as usize)
        .count();
    recent >= r.play_min_contributions as usize || a.grant_times.range(from..=to).next().is_some()
}

fn purchase(
    state: &mut State,
    r: &Rules,
    id: ContentId,
    lamport: u64,
    buyer: PublicKey,
    p: &Purchase,
) -> Rule {
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
    let (email_commitment, phone_commitment) =
        (l.listing.email_commitment, l.listing.phone_commitment);
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
fn deliver_forked(
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
    let (email_commitment, phone_commitment) =
        (l.listing.email_commitment, l.listing.phone_commitment);
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
fn pay_sale(
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

fn deliver(state: &mut State, r: &Rules, id: ContentId, org: PublicKey, d: &Deliver) -> Rule {
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
    if let Some(p) = state.purchases.get_mut(&d.purchase_id) {
        p.status = PurchaseStatus::Delivered;
    }
    state.escrowed.remove(&(lamport, d.purchase_id));
    if let Some(b) = state.accounts.get_mut(&buyer) {
        b.escrow -= price;
    }
    pay_sale(state, r, id, org, contributor, listing_id, price);
    Ok(())
}

/// The reporter's delivered purchase and the listing's contributor.
fn reported_purchase(
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
    Ok((p.clone(), contributor))
}

fn bounce(
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
    if let Some(l) = state.listings.get_mut(&p.listing_id) {
        if l.status == ListingStatus::Active && l.listing.email_commitment == p.email_commitment {
            l.status = ListingStatus::Bounced;
        }
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

/// Whether `number` is a mobile number by libphonenumber's metadata. The number must
/// be in E.164 form (`+` and country code), as cards carry it.
pub fn is_mobile_number(number: &str) -> bool {
    match phonenumber::parse(None, number) {
        Ok(n) => n.number_type(&phonenumber::metadata::DATABASE) == phonenumber::Type::Mobile,
        Err(_) => false,
    }
}

fn mobile(
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

fn referral(state: &mut State, author: PublicKey, f: &Referral) -> Rule {
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
fn grant(state: &mut State, r: &Rules, id: ContentId, org: PublicKey, g: &Grant) -> Rule {
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

/// docs/protocol.md, "Applying an event", Hold: each named listing of one of the
/// org's members, not yet held and not withdrawn, counts from now on for its
/// contributor's pay-or-play. The others are skipped; void if none was held.
fn hold(state: &mut State, org: PublicKey, h: &Hold) -> Rule {
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

/// docs/protocol.md, "Applying an event", Dispute: the contributor's org records its
/// finding against a bounce report within the bounce window; once per report.
fn dispute(state: &mut State, r: &Rules, id: ContentId, org: PublicKey, d: &Dispute) -> Rule {
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

fn transfer(state: &mut State, id: ContentId, from: PublicKey, t: &Transfer) -> Rule {
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

fn opt_out(state: &mut State, o: &OptOut) -> Rule {
    if state.opted_out.insert(o.dedup_key).is_some() {
        return Err(VoidReason::OptedOut);
    }
    // GDPR erasure: the listing's personal data leaves the state; purchases keep
    // their own record so escrow still settles.
    if let Some(listing_id) = state.dedup.remove(&o.dedup_key) {
        forfeit(state, listing_id);
        state.listings.remove(&listing_id);
    }
    Ok(())
}

/// A Checkpoint's effect in the fold is only to record its signature; whether its
/// claim is final is decided over the whole set (`Ledger`'s finality pass), and shows
/// in the fold at the end of the prefix it finalizes.
fn checkpoint(state: &mut State, lamport: u64, org: PublicKey, c: &Checkpoint) -> Rule {
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
fn settle(state: &mut State, event: ContentId) {
    let due: Vec<(u64, ContentId)> = state
        .escrowed
        .iter()
        .filter(|(_, p)| !state.fresh.contains(p))
        .cloned()
        .collect();
    for (lamport, pid) in due {
        state.escrowed.remove(&(lamport, pid));
        let Some(p) = state.purchases.get_mut(&pid) else {
            continue;
        };
        p.status = PurchaseStatus::Refunded;
        let (buyer, listing, price) = (p.buyer, p.listing_id, p.price as i64);
        state.holdings.remove(&(buyer, listing));
        if let Some(b) = state.accounts.get_mut(&buyer) {
            b.escrow -= price;
            // A refund returns the buyer's own points, so it is credited even to an
            // excluded account.
            b.balance += price;
        }
        state.movements.push_back(Movement {
            event,
            account: buyer,
            delta: price,
            reason: MovementReason::Refund,
        });
    }
}

fn admit(state: &mut State, r: &Rules, voter: PublicKey, a: &Admit) -> Rule {
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
fn cast<K: Ord + Clone>(
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
fn current_orgs(state: &State, keys: &imbl::OrdSet<PublicKey>) -> usize {
    keys.iter().filter(|k| state.orgs.contains_key(*k)).count()
}

/// docs/protocol.md, "Applying an event", Evict: a vote of the other orgs; on a
/// quorum of them, `org` is an org no more. Its account (and balance) stays; its
/// later org events are void, its earlier votes and signatures stop counting.
fn evict(state: &mut State, r: &Rules, voter: PublicKey, e: &Evict) -> Rule {
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
fn rotate(state: &mut State, r: &Rules, voter: PublicKey, k: &Rotate) -> Rule {
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
