//! Together the scenarios of ledger.json apply every payload kind, make every reachable
//! void reason happen and reject an event at every ordering check. The kinds and reasons
//! are enumerated from the decoder (every variant index that decodes), so a variant
//! added later fails this test until a scenario covers it; `produced_by` matches the
//! reasons exhaustively, so a new reason also breaks the build until it says which
//! rule gives it.

use super::{read, scenarios};
use carnet_protocol::encoding::{from_canonical, take_canonical};
use carnet_protocol::ledger::{LedgerError, VoidReason};
use carnet_protocol::{Payload, SignedEvent};
use std::collections::BTreeSet;

/// Which rule of docs/protocol.md ("Ordering an event", "Applying an event") gives a
/// reason, or `Err` with why no valid event set can give it.
fn produced_by(r: VoidReason) -> Result<&'static str, &'static str> {
    use VoidReason::*;
    Ok(match r {
        AuthorNotOrg => "step 2: an Org-role payload by a key that is not an org",
        AuthorNotActiveMember => "step 2: a Member-role payload by a revoked member",
        AuthorEquivocated => "equivocation: a second twin, or a later event of its author",
        NotTheMembersOrg => "Revoke, Grant: another org's member",
        AlreadyEnrolled => "Enroll, Admit, Rotate: a key with an account",
        AlreadyOrg => "Enroll, Admit, Rotate: an org key",
        DuplicateCard => "Contribute, Update: a dedup key a listing holds",
        OptedOut => "Contribute, Update, OptOut: an opted-out dedup key",
        UnknownListing => "Purchase, Update, reports: no such listing",
        NotContributor => "Update: not the contributor",
        ListingNotBuyable => "Purchase: listing not Active; Update: Withdrawn or OptedOut",
        OwnCard => "Purchase: the buyer's own card",
        SameOrg => "Purchase: a card of the buyer's org",
        AlreadyHeld => "Purchase: a card the buyer holds",
        PriceAboveMax => "Purchase, forked Deliver: card_price > max_price",
        InsufficientBalance => "Purchase, Transfer: balance too low",
        PayOrPlay => "Purchase: no recent grant nor enough held contributions",
        UnknownPurchase => "Deliver, reports: no such purchase",
        NotHolder => "Deliver: not the contributor's org",
        NotEscrowed => "Deliver: purchase delivered or refunded",
        NotBuyer => "reports: not the buyer",
        NotDelivered => "reports: purchase not delivered",
        AlreadyReported => "reports: that address or line reported already",
        TemporaryFailure => "BounceReport: status class not 5",
        OpeningMismatch => "MobileReport: the purchase has no phone commitment",
        NotMobile => {
            return Err(
                "no rule of protocol 4 gives it: since protocol 4 the reporter's \
                 org classifies the number before it signs a mobile voucher, and the \
                 ledger checks only the voucher (protocol/src/ledger/apply.rs never \
                 returns it)",
            )
        }
        AlreadyReferred => "Referral: a referrer named already, or a contribution made",
        BadReferrer => "Referral: the author, or not an active member",
        UnknownAccount => "Revoke, Grant, Transfer: no (active) account",
        SelfTransfer => "Transfer: to the author",
        BoundNotBelowClock => "Checkpoint: lamport_bound >= lamport",
        AlreadySigned => "Checkpoint: a second claim at one bound",
        AlreadyVoted => "Admit, Evict, Rotate: the same vote twice",
        BadVoucher => "reports: voucher not by the reporter's org",
        GrantAboveCap => "Grant: above the period's cap",
        NothingHeld => "Hold: no listing could be held",
        CannotDispute => "Dispute: not a disputable bounce report",
        NotAnOrg => "Evict, Rotate: a key that is not an org",
        SelfEviction => "Evict: the author",
    })
}

/// The code of an ordering check (docs/protocol.md, "Ordering an event", checks 1-5),
/// or None for an error that is not one (a wrong network fails event validity first:
/// the event files' `wrong_network` vectors cover it).
fn ordering_check(e: &LedgerError) -> Option<&'static str> {
    match e {
        LedgerError::WrongNetwork { .. } => None,
        LedgerError::BrokenChain(_)
        | LedgerError::TimeBackwards
        | LedgerError::LamportTooLow { .. }
        | LedgerError::LamportJump { .. }
        | LedgerError::NoRole => Some(e.code()),
    }
}

/// Every VoidReason: each variant index that decodes (unit variants: the index alone).
fn every_reason() -> Vec<VoidReason> {
    (0u8..0x80)
        .map_while(|i| from_canonical::<VoidReason>(&[i], 1).ok())
        .collect()
}

/// Every payload kind: each variant index that decodes, its fields all zero bytes
/// (an empty string or list, a zero key or number, `None`, the first variant).
fn every_kind() -> Vec<&'static str> {
    let mut kinds = Vec::new();
    for i in 0u8..0x80 {
        let mut bytes = vec![i];
        bytes.resize(4096, 0);
        match take_canonical::<Payload>(&bytes) {
            Ok((p, _)) => kinds.push(p.kind()),
            Err(_) => break,
        }
    }
    kinds
}

#[test]
fn ledger_vectors_cover_every_payload_kind_and_void_reason() {
    let mut applied = BTreeSet::new();
    let mut voids = BTreeSet::new();
    let mut rejections = BTreeSet::new();
    let file = read();
    for (name, v) in scenarios(&file) {
        let net = carnet_protocol::Hash32::from_hex(v["network_id_hex"].as_str().unwrap()).unwrap();
        for h in v["events_in_ledger_order_hex"].as_array().unwrap() {
            let ev = SignedEvent::decode(&hex::decode(h.as_str().unwrap()).unwrap(), &net).unwrap();
            let outcome = v["outcomes"][ev.id().to_hex()].as_str().unwrap();
            match outcome.strip_prefix("void:") {
                Some(reason) => voids.insert(reason.to_owned()),
                None => {
                    assert_eq!(outcome, "applied", "{name}");
                    applied.insert(ev.payload().kind())
                }
            };
        }
        for r in v["rejected"].as_array().unwrap() {
            rejections.insert(r["error"].as_str().unwrap().to_owned());
        }
    }

    let kinds = every_kind();
    // At least variants 0-19 of docs/protocol.md ("Payload"): the zero fields decode.
    assert!(
        kinds.len() >= 20,
        "only {} payload kinds decode",
        kinds.len()
    );
    let missing: Vec<_> = kinds.iter().filter(|k| !applied.contains(*k)).collect();
    assert!(
        missing.is_empty(),
        "payload kinds never applied: {missing:?}"
    );

    let mut uncovered = Vec::new();
    for r in every_reason() {
        let name = format!("{r:?}");
        match produced_by(r) {
            Ok(_) if !voids.contains(&name) => uncovered.push(name),
            Ok(_) => {}
            // Not faked: an unreachable reason must not show up either.
            Err(why) => assert!(!voids.contains(&name), "{name} is unreachable: {why}"),
        }
    }
    assert!(
        uncovered.is_empty(),
        "void reasons never shown: {uncovered:?}"
    );

    let checks = [
        LedgerError::WrongNetwork {
            expected: carnet_protocol::Hash32::ZERO,
            got: carnet_protocol::Hash32::ZERO,
        },
        LedgerError::BrokenChain(0),
        LedgerError::TimeBackwards,
        LedgerError::LamportTooLow { got: 0, floor: 0 },
        LedgerError::LamportJump { got: 0, floor: 0 },
        LedgerError::NoRole,
    ];
    let missing: Vec<_> = checks
        .iter()
        .filter_map(ordering_check)
        .filter(|c| !rejections.contains(*c))
        .collect();
    assert!(
        missing.is_empty(),
        "ordering checks never shown: {missing:?}"
    );
    assert_eq!(rejections.len(), 5, "checks 1-5 and nothing else");
}
