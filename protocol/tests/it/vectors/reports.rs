//! bounce_report.json and mobile_report.json: bob reports the email of the card he
//! bought as bounced (bob seq 1) and its direct line as a mobile (bob seq 2), each
//! vouched for by his org.

use super::{event_file, Builder, Story, BOUNCE_MESSAGE, EMAIL_SALT, PHONE_SALT};
use carnet_protocol::card::{commit_email, commit_phone};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::payload::*;
use carnet_protocol::*;

/// Returns the BounceReport's content id, which the Dispute names.
pub(super) fn generate(s: &mut Story, purchase_id: ContentId, deliver_id: ContentId) -> ContentId {
    let Story {
        net,
        card: ref c,
        ref org_a,
        ref mut bob,
        ref mut files,
        ..
    } = *s;

    // -- bounce_report (bob seq 1) -----------------------------------------------
    // bob's org, org_a, vouches for each report it read (docs/protocol.md, "Bounce
    // vouchers"); the voucher's validity is the ledger's concern, not the event's.
    let bounce_p = |class: u8, subject: u16, detail: u16, email: &str| {
        // The report carries no opening (protocol 4): the voucher binds the email
        // commitment the reporter's org checked the opening against.
        let status = DsnStatus {
            class,
            subject,
            detail,
        };
        let opening = Opening {
            value: email.into(),
            salt: EMAIL_SALT,
        };
        let voucher = carnet_protocol::voucher::sign(
            &org_a.key,
            &carnet_protocol::voucher::VoucherBody {
                network: net,
                reporter: bob.key.public(),
                purchase_id,
                evidence: evidence_hash(BOUNCE_MESSAGE),
                status,
                email_commitment: commit_email(&opening),
            },
        );
        Payload::BounceReport(BounceReport {
            purchase_id,
            evidence: evidence_hash(BOUNCE_MESSAGE),
            status,
            voucher,
        })
    };
    let email = c.email.value.clone();
    let bounce = bob.next(
        net,
        7,
        vec![purchase_id, deliver_id],
        bounce_p(5, 1, 1, &email),
    );
    let mut b = Builder::new(bob, bounce.clone());
    b.valid(
        "bob reports that the email bounced with 5.1.1, vouched for by his org",
        bounce.clone(),
        bob.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![deliver_id]
    });
    b.payload(
        "status 4.4.7 (transient, still a valid code)",
        None,
        bounce_p(4, 4, 7, &email),
    );
    b.payload(
        "status class 6",
        Some("invalid_field"),
        bounce_p(6, 1, 1, &email),
    );
    b.payload(
        "status class 1",
        Some("invalid_field"),
        bounce_p(1, 1, 1, &email),
    );
    b.payload(
        "status subject 1000",
        Some("invalid_field"),
        bounce_p(5, 1000, 1, &email),
    );
    b.payload(
        "status detail 1000",
        Some("invalid_field"),
        bounce_p(5, 1, 1000, &email),
    );
    b.payload(
        "status 5.999.999 (largest valid)",
        None,
        bounce_p(5, 999, 999, &email),
    );
    bob.advance(&bounce);
    let bounce_id = bob.head.unwrap().id;
    files.insert(
        "bounce_report".into(),
        event_file("bounce_report", 6, "member", net, b.finish()),
    );

    // -- mobile_report (bob seq 2) -----------------------------------------------
    // Vouched by bob's org, which was shown the opening of the phone commitment and
    // classified the number (docs/protocol.md, "Report vouchers").
    let mobile_p = |value: &str| {
        let voucher = carnet_protocol::voucher::sign_mobile(
            &org_a.key,
            &carnet_protocol::voucher::MobileVoucherBody {
                network: net,
                reporter: bob.key.public(),
                purchase_id,
                phone_commitment: commit_phone(&Opening {
                    value: value.into(),
                    salt: PHONE_SALT,
                }),
            },
        );
        Payload::MobileReport(MobileReport {
            purchase_id,
            voucher,
        })
    };
    let mobile = bob.next(net, 8, vec![purchase_id], mobile_p("+442079460000"));
    let mut b = Builder::new(bob, mobile.clone());
    b.valid(
        "bob reports the direct line as a mobile number, vouched for by his org",
        mobile.clone(),
        bob.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    bob.advance(&mobile);
    files.insert(
        "mobile_report".into(),
        event_file("mobile_report", 7, "member", net, b.finish()),
    );

    bounce_id
}
