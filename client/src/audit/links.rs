//! The links between a bundle's events: who enrolled whom, which listing was bought,
//! who delivered, which purchase the report names, and their ledger order.

use super::bundle::Events;
use super::Report;
use carnet_protocol::ledger::audit::Bundle;
use carnet_protocol::payload::Payload;
use carnet_protocol::{Hash32, PublicKey, SignedEvent};
use std::collections::BTreeSet;

/// `Some((a, b, ...))` of the named events, or a skip naming the first missing one.
macro_rules! need {
    ($r:expr, $name:expr, $($e:ident),+) => {
        match ($($e.as_ref(),)+) {
            ($(Some($e),)+) => ($($e,)+),
            _ => {
                let missing = [$((stringify!($e), $e.is_some())),+]
                    .iter()
                    .find(|(_, ok)| !ok)
                    .map(|(n, _)| *n)
                    .unwrap_or("an event");
                $r.skip($name, format!("needs event.{missing}"));
                return;
            }
        }
    };
}

fn member_of(enroll: &SignedEvent) -> Option<PublicKey> {
    match enroll.payload() {
        Payload::Enroll(e) => Some(e.member),
        _ => None,
    }
}

pub(super) fn verify_links(
    r: &mut Report,
    b: &Bundle,
    ev: &Events,
    orgs: Option<&BTreeSet<PublicKey>>,
) {
    let Events {
        contributor_enrollment,
        reporter_enrollment,
        listing,
        listing_update,
        purchase,
        delivery,
        penalty,
        update_ok,
    } = ev;
    let org_ok = |org: &PublicKey| -> Result<(), String> {
        match orgs {
            Some(o) if o.contains(org) => Ok(()),
            Some(_) => Err(format!("{org} is not an org of the network")),
            None => Err("the org set is unknown: the checkpoint is not final".into()),
        }
    };

    (|| {
        let name = "link.contributor_enrollment";
        let (en, li) = need!(r, name, contributor_enrollment, listing);
        let res = if member_of(en) != Some(li.author()) {
            Err(format!(
                "the Enroll is not of the listing's contributor {}",
                li.author()
            ))
        } else {
            org_ok(&en.author()).map(|_| {
                format!(
                    "contributor {} enrolled by org {}",
                    li.author(),
                    en.author()
                )
            })
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.reporter_enrollment";
        let (en, pe, cen) = need!(
            r,
            name,
            reporter_enrollment,
            penalty,
            contributor_enrollment
        );
        let res = if member_of(en) != Some(pe.author()) {
            Err(format!("the Enroll is not of the reporter {}", pe.author()))
        } else if en.author() == cen.author() {
            Err("the reporter and the contributor belong to the same org".into())
        } else {
            org_ok(&en.author())
                .map(|_| format!("reporter {} enrolled by org {}", pe.author(), en.author()))
        };
        r.add(name, res);
    })();

    if b.listing_update.is_some() {
        (|| {
            let name = "link.listing_update";
            if !update_ok {
                r.skip(name, "needs event.listing_update");
                return;
            }
            let (up, li) = need!(r, name, listing_update, listing);
            let res = match up.payload() {
                Payload::Update(u) if u.listing_id != li.id() => Err(format!(
                    "the Update is of listing {}, not {}",
                    u.listing_id,
                    li.id()
                )),
                _ if up.author() != li.author() => {
                    Err("the Update is not signed by the contributor".into())
                }
                _ if b.listing_update.as_ref().map(|u| u.index) >= Some(b.purchase.index) => {
                    Err("the Update comes after the purchase".into())
                }
                _ => Ok(format!(
                    "listing {} updated by its contributor before the purchase",
                    li.id()
                )),
            };
            r.add(name, res);
        })();
    }

    (|| {
        let name = "link.purchase";
        let (pu, li, pe) = need!(r, name, purchase, listing, penalty);
        let res = match pu.payload() {
            Payload::Purchase(p) if p.listing_id != li.id() => Err(format!(
                "the Purchase is of listing {}, not {}",
                p.listing_id,
                li.id()
            )),
            _ if pu.author() != pe.author() => Err("the Purchase is not the reporter's".into()),
            _ => Ok(format!(
                "reporter {} bought listing {}",
                pe.author(),
                li.id()
            )),
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.delivery";
        let (de, pu, cen) = need!(r, name, delivery, purchase, contributor_enrollment);
        let res = match de.payload() {
            Payload::Deliver(d) if d.purchase_id != pu.id() => Err(format!(
                "the Deliver is of purchase {}, not {}",
                d.purchase_id,
                pu.id()
            )),
            _ if de.author() != cen.author() => Err(format!(
                "delivered by {}, not by the contributor's org {}",
                de.author(),
                cen.author()
            )),
            _ => Ok(format!(
                "purchase {} delivered by the holder org {}",
                pu.id(),
                de.author()
            )),
        };
        r.add(name, res);
    })();

    (|| {
        let name = "link.penalty";
        let (pe, pu) = need!(r, name, penalty, purchase);
        let named = match pe.payload() {
            Payload::BounceReport(x) => x.purchase_id,
            Payload::MobileReport(x) => x.purchase_id,
            _ => Hash32::ZERO,
        };
        let res = if named == pu.id() {
            Ok(format!(
                "the {} names purchase {}",
                pe.payload().kind(),
                pu.id()
            ))
        } else {
            Err(format!(
                "the report names purchase {named}, not {}",
                pu.id()
            ))
        };
        r.add(name, res);
    })();

    let mut order = vec![
        ("contributor_enrollment", b.contributor_enrollment.index),
        ("listing", b.listing.index),
    ];
    if let Some(u) = &b.listing_update {
        order.push(("listing_update", u.index));
    }
    order.extend([
        ("purchase", b.purchase.index),
        ("delivery", b.delivery.index),
        ("penalty", b.penalty.index),
    ]);
    let res = match order.windows(2).find(|w| w[0].1 >= w[1].1) {
        Some(w) => Err(format!(
            "{} (#{}) does not come before {} (#{}) in ledger order",
            w[0].0, w[0].1, w[1].0, w[1].1
        )),
        None if b.reporter_enrollment.index >= b.purchase.index => {
            Err("the reporter's enrollment comes after the purchase".into())
        }
        None => Ok("enrollment, listing, purchase, delivery, report: in ledger order".into()),
    };
    r.add("link.order", res);
}
