//! A bundle's events: each decoded as the kind its role expects and proven included
//! under the checkpoint; then the links, opening, state and dispute checks on them.

use super::checkpoint::{check_network, verify_checkpoint};
use super::links::verify_links;
use super::opening::verify_opening;
use super::state::verify_state;
use super::Report;
use carnet_protocol::ledger::audit::{Bundle, ProvenEvent, BUNDLE_FORMAT};
use carnet_protocol::ledger::proof::verify_inclusion;
use carnet_protocol::payload::Payload;
use carnet_protocol::{Genesis, SignedEvent};

const ROLES: [&str; 7] = [
    "contributor_enrollment",
    "reporter_enrollment",
    "listing",
    "listing_update",
    "purchase",
    "delivery",
    "penalty",
];

fn decode(
    r: &mut Report,
    name: &str,
    bytes: &[u8],
    genesis: &Genesis,
    kinds: &[&str],
) -> Option<SignedEvent> {
    let res = SignedEvent::decode(bytes, &genesis.network_id())
        .map_err(|e| {
            format!(
                "not a valid signed event of this network ({}): {e}",
                e.code()
            )
        })
        .and_then(|ev| {
            let kind = ev.payload().kind();
            if kinds.contains(&kind) {
                Ok(ev)
            } else {
                Err(format!("a {kind} event, expected {}", kinds.join(" or ")))
            }
        });
    match res {
        Ok(ev) => {
            let detail = format!(
                "{} {} signed by {} (lamport {})",
                ev.payload().kind(),
                ev.id(),
                ev.author(),
                ev.lamport()
            );
            r.add(name, Ok(detail));
            Some(ev)
        }
        Err(e) => {
            r.add(name, Err(e));
            None
        }
    }
}

fn proven<'a>(b: &'a Bundle, role: &str) -> Option<&'a ProvenEvent> {
    match role {
        "contributor_enrollment" => Some(&b.contributor_enrollment),
        "reporter_enrollment" => Some(&b.reporter_enrollment),
        "listing" => Some(&b.listing),
        "listing_update" => b.listing_update.as_ref(),
        "purchase" => Some(&b.purchase),
        "delivery" => Some(&b.delivery),
        "penalty" => Some(&b.penalty),
        _ => None,
    }
}

fn expected_kinds(role: &str) -> &'static [&'static str] {
    match role {
        "contributor_enrollment" | "reporter_enrollment" => &["enroll"],
        "listing" => &["contribute"],
        "listing_update" => &["update"],
        "purchase" => &["purchase"],
        "delivery" => &["deliver"],
        _ => &["bounce_report", "mobile_report"],
    }
}

/// The decoded events of a bundle, by role (None where missing or broken).
#[derive(Default)]
pub(super) struct Events {
    pub(super) contributor_enrollment: Option<SignedEvent>,
    pub(super) reporter_enrollment: Option<SignedEvent>,
    pub(super) listing: Option<SignedEvent>,
    pub(super) listing_update: Option<SignedEvent>,
    pub(super) purchase: Option<SignedEvent>,
    pub(super) delivery: Option<SignedEvent>,
    pub(super) penalty: Option<SignedEvent>,
    /// Whether the optional update decoded (or was absent).
    pub(super) update_ok: bool,
}

pub(super) fn verify_bundle(r: &mut Report, b: &Bundle, genesis: &Genesis) {
    r.add(
        "format",
        if b.format == BUNDLE_FORMAT {
            Ok(b.format.clone())
        } else {
            Err(format!("format {:?}, expected {BUNDLE_FORMAT:?}", b.format))
        },
    );
    check_network(r, "", &b.network_id_hex, genesis);

    let mut ev = Events {
        update_ok: true,
        ..Default::default()
    };
    for role in ROLES {
        let Some(p) = proven(b, role) else {
            continue;
        };
        let d = decode(
            r,
            &format!("event.{role}"),
            &p.event_hex,
            genesis,
            expected_kinds(role),
        );
        match role {
            "contributor_enrollment" => ev.contributor_enrollment = d,
            "reporter_enrollment" => ev.reporter_enrollment = d,
            "listing" => ev.listing = d,
            "listing_update" => {
                ev.update_ok = d.is_some();
                ev.listing_update = d;
            }
            "purchase" => ev.purchase = d,
            "delivery" => ev.delivery = d,
            _ => ev.penalty = d,
        }
    }

    let orgs = verify_checkpoint(r, "", &b.checkpoint, genesis);
    let claim = &b.checkpoint.claim;

    for role in ROLES {
        let Some(p) = proven(b, role) else {
            continue;
        };
        let name = format!("inclusion.{role}");
        let Ok(e) = SignedEvent::decode(&p.event_hex, &genesis.network_id()) else {
            r.skip(&name, format!("needs event.{role}"));
            continue;
        };
        let res = if verify_inclusion(
            e.id().as_bytes(),
            p.index,
            claim.event_count,
            &p.path_hex,
            &claim.events_root_hex,
        ) {
            Ok(format!(
                "event {} is #{} of the {} events under the checkpoint",
                e.id(),
                p.index,
                claim.event_count
            ))
        } else {
            Err(format!(
                "event {} is not at #{} under events root {}",
                e.id(),
                p.index,
                claim.events_root_hex
            ))
        };
        r.add(&name, res);
    }

    verify_links(r, b, &ev, orgs.as_ref());
    verify_opening(r, b, &ev);
    verify_state(r, b, &ev);
    verify_dispute(r, b, &ev, genesis);
}

/// docs/audit.md, `dispute`: the contributor's org's finding, shown beside the report.
/// It changes no balance, so it passes when present and well-formed, and is skipped
/// when absent; a dispute that is not the contributor's org's, or of another report,
/// fails.
fn verify_dispute(r: &mut Report, b: &Bundle, ev: &Events, genesis: &Genesis) {
    let name = "dispute";
    let Some(bytes) = &b.dispute_hex else {
        r.skip(name, "the contributor's org did not dispute the report");
        return;
    };
    let (Some(penalty), Some(enr)) = (&ev.penalty, &ev.contributor_enrollment) else {
        r.skip(name, "needs event.penalty and event.contributor_enrollment");
        return;
    };
    let res = match SignedEvent::decode(bytes, &genesis.network_id()) {
        Err(e) => Err(format!("not a valid signed event of this network: {e}")),
        Ok(d) => match d.payload() {
            Payload::Dispute(x) if x.report_id != penalty.id() => Err(format!(
                "the dispute names report {}, not {}",
                x.report_id,
                penalty.id()
            )),
            Payload::Dispute(_) if d.author() != enr.author() => Err(format!(
                "the dispute is signed by {}, not by the contributor's org {}",
                d.author(),
                enr.author()
            )),
            Payload::Dispute(x) => Ok(format!(
                "the contributor's org disputes the report: {:?} (the penalty stands; weigh both)",
                x.finding
            )),
            other => Err(format!("a {} event, not a Dispute", other.kind())),
        },
    };
    r.add(name, res);
}
