//! A dishonest reporter: a signed 5.1.1 BounceReport whose evidence is the hash of a
//! real message that does not prove the address dead. The ledger accepts it (it sees
//! only the hash and the claimed status); the auditor catches it, with the message.

use super::{assert_passes, run, scenario_with, DSN};
use carnet_client::audit::Status;
use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::Bundle;
use carnet_protocol::testkit::seed;
use carnet_protocol::{Payload, SecretKey};

/// [`DSN`] with every `from` replaced by `to`.
fn dsn_with(replacements: &[(&str, &str)]) -> String {
    replacements.iter().fold(DSN.to_string(), |m, (from, to)| {
        assert!(m.contains(from), "{from:?} not in the DSN");
        m.replace(from, to)
    })
}

/// Builds the scenario with `message` as the report's evidence, exports its bundle
/// (from the ledger and from the reporter's org node) with and without the message,
/// and checks that only `evidence.dsn` fails, for a reason containing every `reason`,
/// and that without the message every check passes and only the two message checks
/// are skipped.
fn dishonest_report_is_caught_only_with_the_message(message: &str, reason: &[&str]) {
    let raw = message.as_bytes();
    let sc = scenario_with(raw);
    let g = sc.story.genesis.clone();
    let mut ledger = sc.story.ledger.clone();
    // The ledger applied the report (Story::put asserts it) and settled it.
    let with = ledger
        .audit_bundle(
            &sc.bounce.id(),
            Some(raw.to_vec()),
            Some(sc.bounce_opening.clone()),
        )
        .unwrap();

    // The reporter's org node holds the message and exports the same bundle.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("events.redb"), g.network_id()).unwrap();
    let mut engine = Engine::open(store, g.clone(), SecretKey::from_seed(seed("org", 1))).unwrap();
    for ev in &sc.story.log {
        engine.ingest_event(ev.clone()).unwrap();
    }
    let Payload::BounceReport(report) = sc.bounce.payload() else {
        unreachable!()
    };
    let vouched = engine
        .vouch(&carnet_node::vouch::VouchRequest {
            reporter: sc.bounce.author(),
            purchase_id: report.purchase_id,
            opening: sc.bounce_opening.clone(),
            status: report.status,
            message: raw.to_vec(),
        })
        .unwrap();
    assert_eq!(vouched.evidence, evidence_hash(raw));
    assert_eq!(
        engine.audit_bundle(&sc.bounce.id(), true, true).unwrap(),
        with
    );

    let r = run(&serde_json::to_value(&with).unwrap(), &g, None).unwrap();
    assert!(!r.ok());
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let f = r.first_failure().unwrap();
    assert_eq!(f.name, "evidence.dsn", "{failed:#?}");
    for w in reason {
        assert!(f.detail.contains(w), "{w:?} not in {:?}", f.detail);
    }
    // The links before it hold: the message is the one the report named, and the
    // report claims a permanent failure.
    for n in ["evidence.hash", "report.status", "opening"] {
        assert!(
            r.checks
                .iter()
                .any(|c| c.name == n && c.status == Status::Pass),
            "{n}"
        );
    }

    // The same bundle without the message: nothing the auditor holds is wrong.
    let without = engine.audit_bundle(&sc.bounce.id(), false, false).unwrap();
    assert_eq!(
        without,
        Bundle {
            bounce_message_hex: None,
            opening: None,
            ..with.clone()
        }
    );
    let r = run(&serde_json::to_value(&without).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    let skipped: Vec<(&str, &str)> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .map(|c| (c.name.as_str(), c.detail.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("opening", "the opening is not included"),
            ("evidence.hash", "the bounce message is not included"),
            ("evidence.dsn", "the bounce message is not included"),
            (
                "dispute",
                "the contributor's org did not dispute the report"
            ),
        ]
    );
}

#[test]
fn a_bounce_for_another_address_is_caught_by_evidence_dsn() {
    // A real bounce, but for eve@acme.example, not the card's ada@acme.example.
    let m = dsn_with(&[("ada@acme.example", "eve@acme.example")]);
    dishonest_report_is_caught_only_with_the_message(
        &m,
        &[
            "reports nothing about ada@acme.example",
            "it names: eve@acme.example",
        ],
    );
}

#[test]
fn a_temporary_failure_is_caught_by_evidence_dsn() {
    // Action: delayed, 4.x.x: the server is still retrying.
    let delayed = dsn_with(&[
        (
            "Action: failed\r\nStatus: 5.1.1",
            "Action: delayed\r\nStatus: 4.2.2",
        ),
        (
            "550 5.1.1 <ada@acme.example>: Recipient address rejected: User unknown",
            "452 4.2.2 <ada@acme.example>: Mailbox full",
        ),
    ]);
    dishonest_report_is_caught_only_with_the_message(
        &delayed,
        &[
            "temporary problem for ada@acme.example",
            "4.2.2",
            "Mailbox full",
        ],
    );
    // Action: failed, but a 4.x.x status: the server gave up on a transient problem.
    let gave_up = dsn_with(&[
        ("Status: 5.1.1", "Status: 4.4.7"),
        (
            "550 5.1.1 <ada@acme.example>: Recipient address rejected: User unknown",
            "421 4.4.7 message expired",
        ),
    ]);
    dishonest_report_is_caught_only_with_the_message(
        &gave_up,
        &["temporary problem for ada@acme.example", "4.4.7"],
    );
}

#[test]
fn a_plain_email_is_caught_by_evidence_dsn() {
    let plain = "From: Ada <ada@acme.example>\r\n\
To: <bob@buyer.example>\r\n\
Subject: Re: meeting\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <20231114221320.9F8E7D@acme.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Tuesday works for me. Ada\r\n";
    dishonest_report_is_caught_only_with_the_message(
        plain,
        &["not a bounce message", "text/plain"],
    );
}
