//! Bounce messages from real-world senders, written by hand in their style.

use carnet_mail::dsn::{parse, permanent_failure_for, DsnError, MAX_DSN_BYTES};
use carnet_protocol::payload::DsnStatus;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/dsn/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn status(class: u8, subject: u16, detail: u16) -> DsnStatus {
    DsnStatus {
        class,
        subject,
        detail,
    }
}

#[test]
fn postfix_permanent_failure() {
    let raw = fixture("postfix-5.1.1.eml");
    let bounce = parse(&raw).unwrap();
    assert_eq!(
        bounce.reporting_mta.as_deref(),
        Some("dns; mail.carnet-member.example")
    );
    assert_eq!(bounce.recipients.len(), 1);
    let r = &bounce.recipients[0];
    assert_eq!(r.final_recipient, "jane.doe@acme.example");
    assert_eq!(r.action, "failed");
    assert_eq!(r.status, status(5, 1, 1));
    assert_eq!(
        r.diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 <jane.doe@acme.example>: Recipient address rejected: User unknown in virtual mailbox table")
    );
    assert_eq!(
        permanent_failure_for(&raw, "jane.doe@acme.example"),
        Ok(status(5, 1, 1))
    );
    // The domain compares case-insensitively; surrounding space is ignored.
    assert_eq!(
        permanent_failure_for(&raw, " jane.doe@ACME.Example "),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn gmail_permanent_failure_with_folded_fields() {
    let raw = fixture("gmail-5.1.1.eml");
    let bounce = parse(&raw).unwrap();
    assert_eq!(bounce.reporting_mta.as_deref(), Some("dns; googlemail.com"));
    let r = &bounce.recipients[0];
    assert_eq!(r.final_recipient, "Hans.Mueller@Beispiel.example");
    assert_eq!(
        r.diagnostic.as_deref(),
        Some("smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces.")
    );
    // The address on the card is normalised (domain lowercased); the bounce's is not.
    assert_eq!(
        permanent_failure_for(&raw, "Hans.Mueller@beispiel.example"),
        Ok(status(5, 1, 1))
    );
    // Mail systems fold the local part's case, and bounces often report it
    // lowercased: the card's address matches whatever the case.
    assert_eq!(
        permanent_failure_for(&raw, "hans.mueller@beispiel.example"),
        Ok(status(5, 1, 1))
    );
    assert!(matches!(
        permanent_failure_for(&raw, "hans.mueler@beispiel.example"),
        Err(DsnError::NoSuchRecipient { .. })
    ));
}

#[test]
fn exchange_ndr_with_crlf_line_endings() {
    let raw = fixture("exchange-5.1.10-crlf.eml");
    assert!(raw.windows(2).any(|w| w == b"\r\n"), "fixture must be CRLF");
    let bounce = parse(&raw).unwrap();
    assert_eq!(
        bounce.reporting_mta.as_deref(),
        Some("dns;EX01.contoso.example")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.final_recipient, "Emma.Clarke@Northwind.example");
    assert_eq!(r.status, status(5, 1, 10));
    assert_eq!(
        r.diagnostic.as_deref(),
        Some("smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")
    );
    assert_eq!(
        permanent_failure_for(&raw, "Emma.Clarke@northwind.example"),
        Ok(status(5, 1, 10))
    );
}

#[test]
fn delayed_delivery_is_temporary() {
    let raw = fixture("delayed-4.2.2.eml");
    let r = &parse(&raw).unwrap().recipients[0];
    assert_eq!(r.action, "delayed");
    assert_eq!(r.status, status(4, 2, 2));
    let err = permanent_failure_for(&raw, "sales@full.example.org").unwrap_err();
    assert!(matches!(err, DsnError::Temporary { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the bounce message reports a temporary problem for sales@full.example.org (status 4.2.2: SMTP; 452 4.2.2 Mailbox full); only a permanent failure (5.x.x) proves a bad address"
    );
}

#[test]
fn multiple_recipients_each_get_their_own_verdict() {
    let raw = fixture("multi-recipient.eml");
    let bounce = parse(&raw).unwrap();
    let names: Vec<_> = bounce
        .recipients
        .iter()
        .map(|r| (r.final_recipient.as_str(), r.action.as_str(), r.status))
        .collect();
    assert_eq!(
        names,
        [
            ("p.martin@example.fr", "failed", status(5, 1, 1)),
            ("c.dupont@example.fr", "delivered", status(2, 0, 0)),
            ("l.bernard@slow.example.com", "delayed", status(4, 4, 1)),
        ]
    );
    assert_eq!(
        permanent_failure_for(&raw, "p.martin@example.fr"),
        Ok(status(5, 1, 1))
    );
    let delivered = permanent_failure_for(&raw, "c.dupont@example.fr").unwrap_err();
    assert_eq!(
        delivered.to_string(),
        "the bounce message says \"Action: delivered\" for c.dupont@example.fr, not \"failed\"; only a failed delivery proves a bad address"
    );
    assert!(matches!(
        permanent_failure_for(&raw, "l.bernard@slow.example.com"),
        Err(DsnError::Temporary { .. })
    ));
    let absent = permanent_failure_for(&raw, "someone@else.example").unwrap_err();
    assert_eq!(
        absent.to_string(),
        "the bounce message reports nothing about someone@else.example; it names: p.martin@example.fr, c.dupont@example.fr, l.bernard@slow.example.com"
    );
}

#[test]
fn an_ordinary_email_is_not_a_bounce() {
    let raw = fixture("plain.eml");
    let err = parse(&raw).unwrap_err();
    assert!(matches!(err, DsnError::NotReport { .. }), "{err:?}");
    assert!(err.to_string().starts_with("not a bounce message"), "{err}");
    assert!(err.to_string().contains("text/plain"), "{err}");
    assert_eq!(
        permanent_failure_for(&raw, "jane.doe@acme.example"),
        Err(err)
    );
}

#[test]
fn a_read_receipt_is_not_a_bounce() {
    let raw = fixture("mdn-read-receipt.eml");
    let err = parse(&raw).unwrap_err();
    assert!(matches!(err, DsnError::NotReport { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("multipart/report; report-type=disposition-notification"),
        "{err}"
    );
}

#[test]
fn report_without_a_status_part_is_not_a_bounce() {
    let raw = b"From: a@b.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n";
    let err = parse(raw).unwrap_err();
    assert!(
        err.to_string()
            .contains("without a message/delivery-status part"),
        "{err}"
    );
}

#[test]
fn base64_encoded_status_part_is_decoded() {
    // Some gateways encode every part; mail-parser undoes the transfer encoding.
    // base64 of: Reporting-MTA: dns; gw.example / Final-Recipient: rfc822; x@y.example /
    // Action: failed / Status: 5.1.2
    let encoded = "UmVwb3J0aW5nLU1UQTogZG5zOyBndy5leGFtcGxlDQoNCkZpbmFsLVJlY2lwaWVudDogcmZjODIy\r\nOyB4QHkuZXhhbXBsZQ0KQWN0aW9uOiBmYWlsZWQNClN0YXR1czogNS4xLjINCg==";
    let raw = format!("From: gw@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nFailed.\r\n--b\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--b--\r\n");
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Ok(status(5, 1, 2))
    );
}

#[test]
fn malformed_status_is_reported_with_its_place() {
    let raw = "From: gw@example.org\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; gw.example\r\n\r\nFinal-Recipient: rfc822; x@y.example\r\nAction: failed\r\nStatus: 550\r\n\r\n--b--\r\n";
    assert_eq!(
        parse(raw.as_bytes()),
        Err(DsnError::Malformed(
            "recipient block 1: Status \"550\" is not class.subject.detail (e.g. 5.1.1)".into()
        ))
    );
}

#[test]
fn size_and_garbage_limits() {
    let big = vec![b'a'; MAX_DSN_BYTES + 1];
    assert_eq!(
        parse(&big),
        Err(DsnError::TooLarge {
            len: MAX_DSN_BYTES + 1
        })
    );
    assert_eq!(parse(b""), Err(DsnError::NotMime));
    for junk in [
        &b"\x00\xff\xfe garbage"[..],
        b"just some words",
        b"\r\n\r\n",
    ] {
        let err = parse(junk).unwrap_err();
        assert!(
            matches!(err, DsnError::NotMime | DsnError::NotReport { .. }),
            "{junk:?}: {err:?}"
        );
    }
    let raw = fixture("postfix-5.1.1.eml");
    assert!(matches!(
        permanent_failure_for(&raw, "not an address"),
        Err(DsnError::BadEmail { .. })
    ));
}
