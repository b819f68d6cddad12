//! vote.json, referral.json, grant.json, transfer.json and opt_out.json: a member's
//! company vote (alice seq 2), a referral (carol seq 0), points granted (org_b seq 1) and
//! transferred (alice seq 3), and an org's record of an erasure request (org_b seq 2).

use super::{event_file, Builder, Story};
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;

pub(super) fn generate(s: &mut Story) {
    let Story {
        net,
        listing: ref l,
        ref mut org_b,
        ref mut alice,
        ref bob,
        ref mut carol,
        ref mut files,
        ..
    } = *s;

    // -- vote (alice seq 2) --------------------------------------------------------
    let vote_p = |d: &str| {
        Payload::Vote(Vote {
            company_domain: d.into(),
            employees: EmployeeRange::From201To1000,
            revenue: RevenueRange::From10MTo50M,
        })
    };
    let vote = alice.next(net, 9, vec![], vote_p("xn--bcher-kva.example"));
    let mut b = Builder::new(alice, vote.clone());
    b.valid(
        "alice votes 201-1000 employees (index 3) and 10M-50M revenue (index 2)",
        vote.clone(),
        alice.head,
    );
    b.common();
    b.payload(
        "domain with a trailing dot",
        Some("invalid_field"),
        vote_p("example.com."),
    );
    b.payload(
        "domain with a label of 64 bytes",
        Some("invalid_field"),
        vote_p(&format!("{}.example", "a".repeat(64))),
    );
    b.payload(
        "domain with a label of 63 bytes",
        None,
        vote_p(&format!("{}.example", "a".repeat(63))),
    );
    b.payload(
        "domain with an underscore",
        Some("invalid_field"),
        vote_p("my_company.example"),
    );
    b.mangle(
        "employees variant index 7 (the last is 6)",
        "malformed",
        |bytes| {
            let n = bytes.len();
            assert_eq!(bytes[n - 2], 3);
            bytes[n - 2] = 7;
        },
    );
    b.mangle(
        "revenue variant index as the over-long varint 0x82 0x00",
        "non_canonical",
        |bytes| {
            assert_eq!(bytes.pop(), Some(2));
            bytes.extend_from_slice(&[0x82, 0x00]);
        },
    );
    alice.advance(&vote);
    files.insert(
        "vote".into(),
        event_file("vote", 8, "member", net, b.finish()),
    );

    // -- referral (carol seq 0) ------------------------------------------------------
    let referral = carol.next(
        net,
        3,
        vec![],
        Payload::Referral(Referral {
            referrer: alice.key.public(),
        }),
    );
    let mut b = Builder::new(carol, referral.clone());
    b.valid(
        "carol names alice as the member who referred her",
        referral.clone(),
        None,
    );
    b.common();
    carol.advance(&referral);
    files.insert(
        "referral".into(),
        event_file("referral", 9, "member", net, b.finish()),
    );

    // -- grant (org_b seq 1) -------------------------------------------------------
    let grant_p = |points: u64, memo: &str| {
        Payload::Grant(Grant {
            member: alice.key.public(),
            points,
            memo: memo.into(),
        })
    };
    let grant = org_b.next(net, 4, vec![], grant_p(500, "subscription: 100 USD"));
    let mut b = Builder::new(org_b, grant.clone());
    b.valid("org_b grants alice 500 points", grant.clone(), org_b.head);
    b.common();
    b.payload("zero points", Some("invalid_field"), grant_p(0, "x"));
    b.payload(
        &format!("{MAX_POINTS} points (the limit)"),
        None,
        grant_p(MAX_POINTS, ""),
    );
    b.payload(
        &format!("{} points (limit {MAX_POINTS})", MAX_POINTS + 1),
        Some("invalid_field"),
        grant_p(MAX_POINTS + 1, ""),
    );
    b.payload(
        "memo of 257 bytes (limit 256)",
        Some("invalid_field"),
        grant_p(1, &"m".repeat(MAX_MEMO_BYTES + 1)),
    );
    org_b.advance(&grant);
    files.insert(
        "grant".into(),
        event_file("grant", 10, "org", net, b.finish()),
    );

    // -- transfer (alice seq 3) -----------------------------------------------------
    let transfer_p = |points: u64| {
        Payload::Transfer(Transfer {
            to: bob.key.public(),
            points,
        })
    };
    let transfer = alice.next(net, 10, vec![], transfer_p(25));
    let mut b = Builder::new(alice, transfer.clone());
    b.valid(
        "alice transfers 25 points to bob",
        transfer.clone(),
        alice.head,
    );
    b.common();
    b.payload("zero points", Some("invalid_field"), transfer_p(0));
    b.payload(
        &format!("{} points (limit {MAX_POINTS})", MAX_POINTS + 1),
        Some("invalid_field"),
        transfer_p(MAX_POINTS + 1),
    );
    alice.advance(&transfer);
    files.insert(
        "transfer".into(),
        event_file("transfer", 11, "member", net, b.finish()),
    );

    // -- opt_out (org_b seq 2) --------------------------------------------------------
    let opt_out = org_b.next(
        net,
        11,
        vec![],
        Payload::OptOut(OptOut {
            dedup_key: l.dedup_key,
        }),
    );
    let mut b = Builder::new(org_b, opt_out.clone());
    b.valid(
        "org_b records the erasure request for the email of card.json (its dedup key)",
        opt_out.clone(),
        org_b.head,
    );
    b.common();
    org_b.advance(&opt_out);
    files.insert(
        "opt_out".into(),
        event_file("opt_out", 12, "org", net, b.finish()),
    );
}
