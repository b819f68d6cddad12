//! checkpoint.json, admit.json, evict.json, rotate.json, seal.json, hold.json and
//! dispute.json: the org-only events, all by org_a (org_a seq 3 to 9).

use super::{event_file, h, key, Builder, Story};
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;

pub(super) fn generate(
    s: &mut Story,
    contribute_id: ContentId,
    deliver_id: ContentId,
    bounce_id: ContentId,
) {
    let Story {
        net,
        ref mut org_a,
        ref mut files,
        ..
    } = *s;

    // -- checkpoint (org_a seq 3) -----------------------------------------------------
    let cp = |heads: Vec<ContentId>| {
        Payload::Checkpoint(Checkpoint {
            lamport_bound: 11,
            source: Hash32::ZERO,
            event_count: 14,
            events_root: h("events root (placeholder)"),
            state_root: h("state root (placeholder)"),
            heads,
        })
    };
    let checkpoint = org_a.next(net, 12, vec![deliver_id], cp(vec![deliver_id]));
    let mut b = Builder::new(org_a, checkpoint.clone());
    b.valid(
        "org_a checkpoints (roots are placeholders: their meaning belongs to the ledger)",
        checkpoint.clone(),
        org_a.head,
    );
    b.common();
    let (x, y) = (h("head x"), h("head y"));
    let (lo, hi) = if x < y { (x, y) } else { (y, x) };
    b.payload(
        "heads not in ascending order",
        Some("invalid_field"),
        cp(vec![hi, lo]),
    );
    b.payload(
        "a head named twice",
        Some("invalid_field"),
        cp(vec![lo, lo]),
    );
    b.payload(
        "257 heads (limit 256)",
        Some("invalid_field"),
        cp((0..=MAX_CLAIM_HEADS)
            .map(|i| h(&format!("head {i:03}")))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()),
    );
    org_a.advance(&checkpoint);
    files.insert(
        "checkpoint".into(),
        event_file("checkpoint", 13, "org", net, b.finish()),
    );

    // -- admit (org_a seq 4) ----------------------------------------------------------
    let admit_p = |name: &str| {
        Payload::Admit(Admit {
            org: key("org_c").public(),
            name: name.into(),
        })
    };
    let admit = org_a.next(net, 13, vec![], admit_p("Org C SARL"));
    let mut b = Builder::new(org_a, admit.clone());
    b.valid("org_a votes to admit org_c", admit.clone(), org_a.head);
    b.common();
    b.payload("empty org name", Some("invalid_field"), admit_p(""));
    b.payload(
        "org name of 129 bytes (limit 128)",
        Some("invalid_field"),
        admit_p(&"o".repeat(MAX_NAME_BYTES + 1)),
    );
    org_a.advance(&admit);
    files.insert(
        "admit".into(),
        event_file("admit", 14, "org", net, b.finish()),
    );

    // -- evict (org_a seq 5) ----------------------------------------------------------
    let evict_p = |reason: &str| {
        Payload::Evict(Evict {
            org: key("org_b").public(),
            reason: reason.into(),
        })
    };
    let evict = org_a.next(net, 14, vec![], evict_p("stopped delivering cards"));
    let mut b = Builder::new(org_a, evict.clone());
    b.valid("org_a votes to evict org_b", evict.clone(), org_a.head);
    b.common();
    b.payload("empty reason is allowed", None, evict_p(""));
    b.payload(
        "reason of 257 bytes (limit 256)",
        Some("invalid_field"),
        evict_p(&"r".repeat(MAX_MEMO_BYTES + 1)),
    );
    b.payload(
        "reason with a trailing space",
        Some("invalid_field"),
        evict_p("late "),
    );
    org_a.advance(&evict);
    files.insert(
        "evict".into(),
        event_file("evict", 15, "org", net, b.finish()),
    );

    // -- rotate (org_a seq 6) ---------------------------------------------------------
    let rotate_p = |to: PublicKey| {
        Payload::Rotate(Rotate {
            org: key("org_a").public(),
            to,
        })
    };
    let rotate = org_a.next(net, 15, vec![], rotate_p(key("org_c").public()));
    let mut b = Builder::new(org_a, rotate.clone());
    b.valid(
        "org_a votes to replace its own key by org_c's",
        rotate.clone(),
        org_a.head,
    );
    b.common();
    b.payload(
        "a key rotated to itself",
        Some("invalid_field"),
        rotate_p(key("org_a").public()),
    );
    org_a.advance(&rotate);
    files.insert(
        "rotate".into(),
        event_file("rotate", 16, "org", net, b.finish()),
    );

    // -- seal (org_a seq 7) -----------------------------------------------------------
    let seal = org_a.next(net, 16, vec![deliver_id], Payload::Seal(Seal {}));
    let mut b = Builder::new(org_a, seal.clone());
    b.valid(
        "org_a seals an event (its deps enter org_a's line; no effect on the state)",
        seal.clone(),
        org_a.head,
    );
    b.common();
    org_a.advance(&seal);
    files.insert(
        "seal".into(),
        event_file("seal", 17, "org", net, b.finish()),
    );

    // -- hold (org_a seq 8) -----------------------------------------------------------
    let hold_p = |listings: Vec<Hash32>| Payload::Hold(Hold { listings });
    let hold = org_a.next(net, 17, vec![contribute_id], hold_p(vec![contribute_id]));
    let mut b = Builder::new(org_a, hold.clone());
    b.valid("org_a says it holds alice's card", hold.clone(), org_a.head);
    b.common();
    b.with("the listing is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload("no listing", Some("invalid_field"), hold_p(vec![]));
    b.payload(
        "the same listing twice",
        Some("invalid_field"),
        hold_p(vec![contribute_id, contribute_id]),
    );
    // Every listing among the deps too (so only the count is wrong): 32 deps is the
    // most an event may name.
    let mut many: Vec<Hash32> = (0..=MAX_HOLD_LISTINGS as u32)
        .map(|i| h(&i.to_string()))
        .collect();
    many.sort();
    b.with(
        &format!(
            "{} listings (limit {MAX_HOLD_LISTINGS}), each among the deps",
            MAX_HOLD_LISTINGS + 1
        ),
        "invalid_field",
        |b| {
            b.payload = hold_p(many.clone());
            b.deps = many;
        },
    );
    org_a.advance(&hold);
    files.insert(
        "hold".into(),
        event_file("hold", 18, "org", net, b.finish()),
    );

    // -- dispute (org_a seq 9) --------------------------------------------------------
    let dispute_p = |finding: &str| {
        Payload::Dispute(Dispute {
            report_id: bounce_id,
            finding: finding.into(),
        })
    };
    let dispute = org_a.next(
        net,
        18,
        vec![bounce_id],
        dispute_p("our MX accepted a test message to this address on the same day"),
    );
    let mut b = Builder::new(org_a, dispute.clone());
    b.valid(
        "org_a disputes bob's bounce report with its own finding",
        dispute.clone(),
        org_a.head,
    );
    b.common();
    b.with("report_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload("empty finding", Some("invalid_field"), dispute_p(""));
    b.payload(
        &format!(
            "finding of {} bytes (limit {MAX_MEMO_BYTES})",
            MAX_MEMO_BYTES + 1
        ),
        Some("invalid_field"),
        dispute_p(&"f".repeat(MAX_MEMO_BYTES + 1)),
    );
    org_a.advance(&dispute);
    files.insert(
        "dispute".into(),
        event_file("dispute", 19, "org", net, b.finish()),
    );
}
