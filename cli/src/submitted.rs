//! What became of an event the command signed: printed as the user asked, or, when
//! the rules made it void, an error saying why in words.

use crate::out::Out;
use anyhow::bail;
use carnet_api::Submitted;
use serde_json::json;

/// Prints what became of a submitted event; fails if the rules made it void.
pub fn report(out: Out, what: &str, s: &Submitted, extra: serde_json::Value) -> anyhow::Result<()> {
    report_made(out, what, s, extra, None)
}

/// [`report`] for an event that made something other than itself: `--quiet` prints
/// `made` (e.g. the key an enrollment enrolled) instead of the event id.
pub fn report_made(
    out: Out,
    what: &str,
    s: &Submitted,
    extra: serde_json::Value,
    made: Option<&str>,
) -> anyhow::Result<()> {
    let (id, outcome) = match s {
        Submitted::Ordered { id, outcome } => (id.clone(), outcome.clone()),
        Submitted::Pending { id, .. } => (id.clone(), "pending".to_owned()),
        Submitted::Duplicate { id } => (id.clone(), "duplicate".to_owned()),
    };
    if let Some(reason) = outcome.strip_prefix("void:") {
        bail!("{what} was void: {}", explain_void(reason));
    }
    let mut v = json!({ "event": id, "outcome": outcome });
    if let (Some(m), serde_json::Value::Object(e)) = (v.as_object_mut(), extra) {
        m.extend(e);
    }
    out.emit_made(made.unwrap_or(&id), v, || {
        println!("{what}: {outcome} (event {id})")
    });
    Ok(())
}

/// A void reason in words.
pub fn explain_void(reason: &str) -> String {
    let why = match reason {
        "AuthorNotOrg" => "the signing org is not (yet) a member org of the network",
        "AuthorNotActiveMember" => "you are not an active enrolled member",
        "AuthorEquivocated" => "the author signed two events at one position and is excluded",
        "NotTheMembersOrg" => "that member belongs to another org",
        "AlreadyEnrolled" => "that key is already enrolled",
        "AlreadyOrg" => "that org is already a member of the network",
        "DuplicateCard" => "this email is already listed",
        "OptedOut" => "this person opted out; their email cannot be listed",
        "UnknownListing" => "no such listing",
        "NotContributor" => "only the contributor can update a listing",
        "ListingNotBuyable" => "the listing is not for sale (bounced, withdrawn or opted out)",
        "OwnCard" => "you cannot buy your own card",
        "SameOrg" => "cards of your own org are not sold to you",
        "AlreadyHeld" => "you already hold this card",
        "PriceAboveMax" => "the price is above your --max-price",
        "InsufficientBalance" => "not enough points",
        "PayOrPlay" => {
            "contribute cards your org node holds (or get a grant from your org) before buying"
        }
        "GrantAboveCap" => {
            "this member's grants this period would exceed the subscription cap (see carnet network rules)"
        }
        "BadVoucher" => "the report lacks a valid voucher of the reporter's org",
        "NothingHeld" => "none of these cards could be marked as held",
        "CannotDispute" => {
            "only the contributor's org may dispute a bounce report, once, within the bounce window"
        }
        "NotDelivered" => "the card was never delivered",
        "AlreadyReported" => "this card was already reported",
        "TemporaryFailure" => "a temporary failure is not a bounce",
        "OpeningMismatch" => "the opening does not match the listing's commitment",
        "NotMobile" => "the number is not a mobile number",
        "AlreadyReferred" => "you already named a referrer",
        "BadReferrer" => "the referrer is not an active member",
        "AlreadyVoted" => {
            "this vote was already cast (a company vote, or an org's admission or eviction vote)"
        }
        "NotAnOrg" => "that key is not an org of the network",
        "SelfEviction" => "an org cannot vote to evict itself",
        other => return other.to_owned(),
    };
    format!("{why} ({reason})")
}
