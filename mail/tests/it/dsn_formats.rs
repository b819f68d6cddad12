//! Bounces as real mail servers write them (Postfix, Exim, Sendmail, Exchange and
//! Office 365, Gmail, Yahoo, Amazon SES, qmail, gateways), written by hand from each
//! server's documented format, and the decision rule of docs/audit.md ("How
//! `evidence.dsn` decides") case by case.

use carnet_mail::dsn::{parse, permanent_failure_for, ActionClass, DsnError, StatusCode};
use carnet_protocol::payload::DsnStatus;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/dsn/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/tests/fixtures/dsn", env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "{names:?}");
    names
        .into_iter()
        .map(|n| (n.clone(), fixture(&n)))
        .collect()
}

fn status(class: u8, subject: u16, detail: u16) -> DsnStatus {
    DsnStatus {
        class,
        subject,
        detail,
    }
}

/// A minimal RFC 3464 report around `blocks` (the delivery-status body).
fn report(blocks: &str) -> String {
    format!(
        "From: MAILER-DAEMON@mx.example\nTo: buyer@example.net\nSubject: Undelivered\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee below.\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n{blocks}\n--b--\n"
    )
}

fn temporary(r: Result<DsnStatus, DsnError>) -> bool {
    matches!(r, Err(DsnError::Temporary { .. }))
}

#[test]
fn every_server_format_proves_its_permanent_failure() {
    for (name, email, expected) in [
        (
            "postfix-5.1.1.eml",
            "jane.doe@acme.example",
            status(5, 1, 1),
        ),
        (
            "gmail-5.1.1.eml",
            "hans.mueller@beispiel.example",
            status(5, 1, 1),
        ),
        (
            "exchange-5.1.10-crlf.eml",
            "emma.clarke@northwind.example",
            status(5, 1, 10),
        ),
        (
            "office365-5.1.10-crlf.eml",
            "lukas.weber@fabrikam.example",
            status(5, 1, 10),
        ),
        ("exim-5.1.1.eml", "j.smith@widgets.example", status(5, 0, 0)),
        (
            "sendmail-5.1.1.eml",
            "r.garcia@ventas.example",
            status(5, 1, 1),
        ),
        (
            "sendmail-comments.eml",
            "jane.doe@acme.example",
            status(5, 1, 1),
        ),
        (
            "yahoo-5.1.1.eml",
            "m.rossi@impresa.example",
            status(5, 0, 0),
        ),
        ("ses-5.1.1.eml", "a.novak@firma.example", status(5, 1, 1)),
        (
            "mixed-wrapper-crlf.eml",
            "k.schmidt@handel.example",
            status(5, 1, 1),
        ),
        (
            "report-without-report-type.eml",
            "o.berg@nordic.example",
            status(5, 2, 1),
        ),
        (
            "wrapped-report.eml",
            "s.ito@kaisha.example",
            status(5, 1, 1),
        ),
        (
            "postfix-global-smtputf8.eml",
            "jürgen.groß@bäckerei-müller.example",
            status(5, 1, 1),
        ),
        (
            "postfix-forwarded.eml",
            "jane@acme.example",
            status(5, 1, 1),
        ),
        (
            "postfix-ours-temporary.eml",
            "g.costa@empresa.example",
            status(5, 1, 1),
        ),
        (
            "multi-recipient.eml",
            "p.martin@example.fr",
            status(5, 1, 1),
        ),
    ] {
        assert_eq!(
            permanent_failure_for(&fixture(name), email),
            Ok(expected),
            "{name}"
        );
    }
}

#[test]
fn exim_writes_action_before_final_recipient() {
    let raw = fixture("exim-5.1.1.eml");
    let bounce = parse(&raw).unwrap();
    assert_eq!(
        bounce.reporting_mta.as_deref(),
        Some("dns; mail.sender.example")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.final_recipient, "j.smith@widgets.example");
    assert_eq!(r.original_recipient, None);
    assert_eq!(r.action, "failed");
    // Exim's status is the generic 5.0.0; the reply's 5.1.1 is in Diagnostic-Code.
    assert_eq!(r.status, status(5, 0, 0));
}

#[test]
fn a_permanent_status_after_temporary_replies_is_temporary() {
    // Exim gives up after its retry timeout and reports 5.0.0, but the server only
    // ever said 451: the mailbox was never refused for good.
    let raw = fixture("exim-retry-timeout.eml");
    let r = &parse(&raw).unwrap().recipients[0];
    assert_eq!((r.action.as_str(), r.status), ("failed", status(5, 0, 0)));
    assert!(r.temporary_smtp_reply());
    let err = permanent_failure_for(&raw, "k.lee@busy.example").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the bounce message reports a temporary problem for k.lee@busy.example (status 5.0.0: the remote server's reply was a temporary refusal: smtp; 451 4.3.0 Temporary lookup failure); only a permanent failure (5.x.x) proves a bad address"
    );
}

#[test]
fn a_failed_action_with_a_4xx_status_is_temporary() {
    // Sendmail after five days of "mailbox full": Action failed, Status 4.4.7.
    let raw = fixture("sendmail-expired-4.4.7.eml");
    let r = &parse(&raw).unwrap().recipients[0];
    assert_eq!((r.action.as_str(), r.status), ("failed", status(4, 4, 7)));
    let err = permanent_failure_for(&raw, "h.tanaka@overloaded.example").unwrap_err();
    assert_eq!(
        err,
        DsnError::Temporary {
            email: "h.tanaka@overloaded.example".into(),
            status: StatusCode(status(4, 4, 7)),
            reason: Some("SMTP; 452 4.2.2 Mailbox full".into()),
        }
    );
}

#[test]
fn office365_ndr_with_crlf_and_base64_text() {
    let raw = fixture("office365-5.1.10-crlf.eml");
    assert!(raw.windows(2).any(|w| w == b"\r\n"), "fixture must be CRLF");
    let bounce = parse(&raw).unwrap();
    assert_eq!(
        bounce.reporting_mta.as_deref(),
        Some("dns;AM0PR01MB1234.eurprd01.prod.exchangelabs.com")
    );
    let r = &bounce.recipients[0];
    assert_eq!(r.final_recipient, "Lukas.Weber@fabrikam.example");
    assert_eq!(
        r.original_recipient.as_deref(),
        Some("Lukas.Weber@fabrikam.example")
    );
    assert_eq!(
        r.diagnostic.as_deref(),
        Some("smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient Lukas.Weber@fabrikam.example not found by SMTP address lookup")
    );
    // The original message is attached (message/rfc822) and is not read.
    assert_eq!(bounce.recipients.len(), 1);
}

#[test]
fn comments_are_removed_from_every_structured_field() {
    let raw = fixture("sendmail-comments.eml");
    let bounce = parse(&raw).unwrap();
    // Reporting-MTA and Diagnostic-Code are shown as written.
    assert_eq!(
        bounce.reporting_mta.as_deref(),
        Some("dns; mail.sender.example (Sendmail 8.18.1)")
    );
    let jane = &bounce.recipients[0];
    assert_eq!(jane.final_recipient, "jane.doe@acme.example");
    assert_eq!(
        jane.original_recipient.as_deref(),
        Some("jane.doe@acme.example")
    );
    assert_eq!(jane.action, "failed");
    assert_eq!(jane.action_class(), ActionClass::Failed);
    assert_eq!(jane.status, status(5, 1, 1));
    assert_eq!(
        jane.diagnostic.as_deref(),
        Some("SMTP; 550 5.1.1 <jane.doe@acme.example>... User unknown (in reply to RCPT TO)")
    );
    // A folded Final-Recipient with a comment across the fold.
    let slow = &bounce.recipients[1];
    assert_eq!(slow.final_recipient, "p.slow@tardy.example");
    assert_eq!(slow.action, "failed");
    assert_eq!(slow.status, status(4, 4, 1));
    assert!(temporary(permanent_failure_for(
        &raw,
        "p.slow@tardy.example"
    )));
}

#[test]
fn the_status_part_is_found_wherever_it_sits() {
    // multipart/mixed (CRLF), multipart/report without report-type, and a report
    // wrapped in multipart/mixed by a gateway that adds a footer.
    let mixed = parse(&fixture("mixed-wrapper-crlf.eml")).unwrap();
    assert_eq!(
        mixed.recipients[0].final_recipient,
        "k.schmidt@handel.example"
    );
    let untyped = parse(&fixture("report-without-report-type.eml")).unwrap();
    assert_eq!(untyped.recipients[0].action, "failed");
    let wrapped = parse(&fixture("wrapped-report.eml")).unwrap();
    assert_eq!(
        wrapped.reporting_mta.as_deref(),
        Some("dns; mx-out.secure-gw.example")
    );
    // A message that is nothing but the status part.
    let bare = "From: MAILER-DAEMON@mx.example\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\nFinal-Recipient: rfc822; a@b.example\r\nAction: failed\r\nStatus: 5.1.1\r\n";
    assert_eq!(
        permanent_failure_for(bare.as_bytes(), "a@b.example"),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn global_delivery_status_with_utf8_addresses() {
    let raw = fixture("postfix-global-smtputf8.eml");
    let r = &parse(&raw).unwrap().recipients[0];
    assert_eq!(r.final_recipient, "jürgen.groß@bäckerei-müller.example");
    // The domain is compared in its ASCII (IDNA) form, and ASCII case is ignored.
    for same in [
        "jürgen.groß@xn--bckerei-mller-bfb28a.example",
        "Jürgen.Groß@BÄCKEREI-MÜLLER.example",
    ] {
        assert_eq!(
            permanent_failure_for(&raw, same),
            Ok(status(5, 1, 1)),
            "{same}"
        );
    }
    // Only ASCII case is folded in the local part, as docs/audit.md says.
    assert!(matches!(
        permanent_failure_for(&raw, "JÜRGEN.groß@bäckerei-müller.example"),
        Err(DsnError::NoSuchRecipient { .. })
    ));
}

#[test]
fn a_forward_is_matched_by_its_original_recipient() {
    let raw = fixture("postfix-forwarded.eml");
    let r = &parse(&raw).unwrap().recipients[0];
    assert_eq!(r.final_recipient, "jane.doe.private@mailbox.example");
    assert_eq!(r.original_recipient.as_deref(), Some("jane@acme.example"));
    // The card's address was forwarded to one mailbox, which is dead.
    assert_eq!(
        permanent_failure_for(&raw, "Jane@ACME.example"),
        Ok(status(5, 1, 1))
    );
    assert_eq!(
        permanent_failure_for(&raw, "jane.doe.private@mailbox.example"),
        Ok(status(5, 1, 1))
    );
    assert_eq!(
        permanent_failure_for(&raw, "john@acme.example"),
        Err(DsnError::NoSuchRecipient {
            email: "john@acme.example".into(),
            names: vec!["jane.doe.private@mailbox.example".into()],
        })
    );
}

#[test]
fn an_alias_expanded_to_several_mailboxes_is_not_proved_dead() {
    let raw = fixture("postfix-expanded-alias.eml");
    let err = permanent_failure_for(&raw, "sales@acme.example").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the bounce message names sales@acme.example only as the original recipient of several addresses (old.rep1@acme.example, old.rep2@acme.example): it was expanded to a list, and a failure of some of them does not prove sales@acme.example dead"
    );
    // Each member's own address is proved dead.
    assert_eq!(
        permanent_failure_for(&raw, "old.rep2@acme.example"),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn ours_temporary_while_another_is_permanent() {
    let raw = fixture("postfix-ours-temporary.eml");
    let err = permanent_failure_for(&raw, "jane.doe@acme.example").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the bounce message reports a temporary problem for jane.doe@acme.example (status 4.4.1: X-Postfix; delivery temporarily suspended: connect to mx1.acme.example[192.0.2.25]:25: Connection timed out); only a permanent failure (5.x.x) proves a bad address"
    );
}

#[test]
fn non_standard_actions_pass_only_with_a_permanent_status() {
    for (action, code, diagnostic, email_ok) in [
        ("failure", "5.1.1", "", Ok(status(5, 1, 1))),
        ("bounced", "5.2.1", "", Ok(status(5, 2, 1))),
        ("FAILED", "5.1.1", "", Ok(status(5, 1, 1))),
        ("Failed (permanent)", "5.1.1", "", Ok(status(5, 1, 1))),
        ("undeliverable", "5.0.0", "", Ok(status(5, 0, 0))),
        ("failed, giving up", "5.1.1", "", Ok(status(5, 1, 1))),
        ("bounced", "4.2.2", "", Err("temporary")),
        (
            "failure",
            "5.0.0",
            "Diagnostic-Code: smtp; 421 4.7.0 try later\n",
            Err("temporary"),
        ),
        ("deferred", "5.0.0", "", Err("temporary")),
        ("delayed", "5.1.1", "", Err("temporary")),
        ("Delayed; will retry", "5.1.1", "", Err("temporary")),
        ("warning", "5.1.1", "", Err("temporary")),
        ("delivered", "5.1.1", "", Err("not failed")),
        (
            "Relayed (to a non-DSN system)",
            "5.1.1",
            "",
            Err("not failed"),
        ),
        ("expanded", "5.1.1", "", Err("not failed")),
        ("delivered", "2.0.0", "", Err("not failed")),
        ("undeliverable", "2.0.0", "", Err("inconsistent")),
        ("failed", "2.0.0", "", Err("inconsistent")),
    ] {
        let raw = report(&format!(
            "Final-Recipient: rfc822; x@y.example\nAction: {action}\nStatus: {code}\n{diagnostic}"
        ));
        let got = permanent_failure_for(raw.as_bytes(), "x@y.example");
        let ok = match (&got, email_ok) {
            (Ok(s), Ok(want)) => *s == want,
            (Err(DsnError::Temporary { .. }), Err("temporary")) => true,
            (Err(DsnError::NotFailed { .. }), Err("not failed")) => true,
            (Err(DsnError::Inconsistent { .. }), Err("inconsistent")) => true,
            _ => false,
        };
        assert!(ok, "Action: {action} / Status: {code}: {got:?}");
    }
    let raw =
        report("Final-Recipient: rfc822; x@y.example\nAction: Undeliverable\nStatus: 2.0.0\n");
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example")
            .unwrap_err()
            .to_string(),
        "the bounce message says \"Action: undeliverable\" for x@y.example but its status 2.0.0 is not a failure"
    );
}

#[test]
fn every_block_for_the_address_must_be_a_permanent_failure() {
    let twice = |second: &str| {
        report(&format!(
            "Final-Recipient: rfc822; x@y.example\nAction: failed\nStatus: 5.1.1\n\nFinal-Recipient: rfc822; X@Y.example\n{second}\n"
        ))
    };
    let raw = twice("Action: delayed\nStatus: 4.4.1");
    assert!(temporary(permanent_failure_for(
        raw.as_bytes(),
        "x@y.example"
    )));
    let raw = twice("Action: delivered\nStatus: 2.0.0");
    assert!(matches!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Err(DsnError::NotFailed { .. })
    ));
    let raw = twice("Action: failed\nStatus: 5.2.1");
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn original_recipient_is_read_only_when_no_final_recipient_matches() {
    // Kept a copy locally (delivered) and forwarded another (failed): the address
    // itself received the message.
    let raw = report(
        "Final-Recipient: rfc822; x@y.example\nAction: delivered\nStatus: 2.0.0\n\nFinal-Recipient: rfc822; x.elsewhere@z.example\nOriginal-Recipient: rfc822; x@y.example\nAction: failed\nStatus: 5.1.1\n",
    );
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Err(DsnError::NotFailed {
            email: "x@y.example".into(),
            action: "delivered".into(),
        })
    );
    // A forward whose target is only delayed is temporary.
    let raw = report(
        "Final-Recipient: rfc822; x.elsewhere@z.example\nOriginal-Recipient: rfc822; x@y.example\nAction: delayed\nStatus: 4.4.1\n",
    );
    assert!(temporary(permanent_failure_for(
        raw.as_bytes(),
        "x@y.example"
    )));
    // Someone else forwarded to this address and it failed: the address is dead,
    // whatever the Original-Recipient says.
    let raw = report(
        "Final-Recipient: rfc822; x@y.example\nOriginal-Recipient: rfc822; old@w.example\nAction: failed\nStatus: 5.1.1\n",
    );
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn a_status_planted_in_the_returned_message_is_not_read() {
    // The reporter wrote the original message, and the bounce returns it whole: a
    // report inside it claiming alive@y.example failed must not count.
    let planted = "From: buyer@example.net\nTo: dead@y.example, alive@y.example\nSubject: hi\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=p\n\n--p\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; forged.example\n\nFinal-Recipient: rfc822; alive@y.example\nAction: failed\nStatus: 5.1.1\n\n--p--\n";
    let raw = format!(
        "From: MAILER-DAEMON@mx.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; dead@y.example\nAction: failed\nStatus: 5.1.1\n\n--b\nContent-Type: message/rfc822\n\n{planted}\n--b--\n"
    );
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "dead@y.example"),
        Ok(status(5, 1, 1))
    );
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "alive@y.example"),
        Err(DsnError::NoSuchRecipient {
            email: "alive@y.example".into(),
            names: vec!["dead@y.example".into()],
        })
    );
}

#[test]
fn two_status_parts_are_refused() {
    let part = |who: &str| {
        format!("--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; {who}\nAction: failed\nStatus: 5.1.1\n\n")
    };
    let raw = format!(
        "From: MAILER-DAEMON@mx.example\nContent-Type: multipart/mixed; boundary=b\n\n{}{}--b--\n",
        part("a@y.example"),
        part("b@y.example")
    );
    assert_eq!(
        parse(raw.as_bytes()),
        Err(DsnError::Malformed(
            "the message has 2 delivery-status parts; a bounce has exactly one, and which of them speaks for the address would be a guess".into()
        ))
    );
}

#[test]
fn a_bounce_forwarded_as_an_attachment_is_named() {
    let raw = fixture("forwarded-as-attachment.eml");
    let err = parse(&raw).unwrap_err();
    assert_eq!(
        err,
        DsnError::InAttachment {
            found: "message/rfc822 › message/delivery-status".into()
        }
    );
    assert!(
        err.to_string()
            .contains("report the attached bounce itself"),
        "{err}"
    );
}

#[test]
fn plain_text_bounces_are_not_delivery_status_notifications() {
    let qmail = fixture("qmail-plain.eml");
    let err = permanent_failure_for(&qmail, "t.nguyen@dead.example").unwrap_err();
    assert_eq!(
        err,
        DsnError::PlainTextBounce {
            what: "qmail's plain-text bounce format (QSBMF), which begins \"Hi. This is the qmail-send program at mail.sender.example.\"".into()
        }
    );
    assert!(
        err.to_string().starts_with(
            "not a delivery status notification: this is a bounce written for people (qmail's"
        ),
        "{err}"
    );
    let yahoo = fixture("yahoo-legacy-plain.eml");
    assert_eq!(
        parse(&yahoo),
        Err(DsnError::PlainTextBounce {
            what: "from MAILER-DAEMON@yahoo.com".into()
        })
    );
    // A person's message that quotes a bounce is still just not a bounce.
    let err = parse(b"From: jane@acme.example\r\nSubject: your bounce\r\n\r\nHi. This is the thing you asked for.\r\n").unwrap_err();
    assert!(matches!(err, DsnError::NotReport { .. }), "{err:?}");
    let err = parse(b"From: jane@acme.example\r\nSubject: your bounce\r\n\r\nAction: failed\r\n")
        .unwrap_err();
    assert!(matches!(err, DsnError::NotReport { .. }), "{err:?}");
    let err = parse(b"From: jane@acme.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "not a bounce message: a bounce carries a message/delivery-status or message/global-delivery-status part (RFC 3464), and none was found outside attached messages (this one is multipart/mixed without a message/delivery-status part)"
    );
}

#[test]
fn line_endings_do_not_change_anything() {
    for (name, raw) in fixtures() {
        let text = String::from_utf8(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        let lf = text.replace("\r\n", "\n");
        let crlf = lf.replace('\n', "\r\n");
        let (a, b) = (parse(lf.as_bytes()), parse(crlf.as_bytes()));
        assert_eq!(a, b, "{name}");
        if let Ok(bounce) = a {
            for r in &bounce.recipients {
                assert_eq!(
                    permanent_failure_for(lf.as_bytes(), &r.final_recipient),
                    permanent_failure_for(crlf.as_bytes(), &r.final_recipient),
                    "{name}: {}",
                    r.final_recipient
                );
            }
        }
    }
}

#[test]
fn no_input_derived_from_the_fixtures_panics() {
    // Truncations and byte flips of every fixture: whatever the verdict, it is an
    // answer, not a panic. (The fuzz crate goes further; this runs with the tests.)
    let mut seed: u32 = 0x9e37_79b9;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed as usize
    };
    const NASTY: &[u8] = b"\r\n:;()\"\\<> -.5\xff";
    for (_, raw) in fixtures() {
        for cut in (0..raw.len()).step_by(97) {
            let _ = permanent_failure_for(&raw[..cut], "jane.doe@acme.example");
        }
        for _ in 0..40 {
            let mut bytes = raw.clone();
            for _ in 0..1 + next() % 8 {
                let i = next() % bytes.len();
                bytes[i] = NASTY[next() % NASTY.len()];
            }
            let _ = permanent_failure_for(&bytes, "jane.doe@acme.example");
        }
    }
}

/// A bounce whose returned message is `returned` (the content of its message/rfc822
/// part), with the status part before it or, with `status_last`, after it.
fn bounce_returning(returned: &str, status_last: bool) -> String {
    let status = "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\nFinal-Recipient: rfc822; x@y.example\nAction: failed\nStatus: 5.1.1\n\n";
    let attached = format!("--b\nContent-Type: message/rfc822\n\n{returned}\n");
    let (first, second) = if status_last {
        (attached.as_str(), status)
    } else {
        (status, attached.as_str())
    };
    format!(
        "From: MAILER-DAEMON@mx.example\nTo: buyer@example.net\nSubject: Undelivered\nMIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: text/plain\n\nSee below.\n\n{first}{second}--b--\n"
    )
}

/// Found by the `bounce_message` fuzz target (docs/fuzzing.md, "Findings"): mail-parser
/// 0.11.9 parses an attached message in place, and one whose content is directly
/// another attached message made it panic with debug assertions on ("Invalid part ID,
/// could not find multipart") and, without them, lose the parts after it. Attached
/// messages are now read as one opaque part each, which is all the rule reads of them.
#[test]
fn a_message_attached_directly_inside_another_is_read_as_one_part() {
    let inner = "Content-Type: message/rfc822\n\nFrom: buyer@example.net\nTo: x@y.example\nSubject: hello\n\nHello.\n";
    let digest = format!("Content-Type: multipart/digest; boundary=d\n\n--d\n\n{inner}\n--d--\n");
    for returned in [
        inner,
        "CONTENT-TYPE: Message/Global\n\nContent-Type: message/RFC822\n\nSubject: hi\n\nHello.\n",
        "Content-Type: message/rfc822\n\n",
        &digest,
    ] {
        // The returned message last, before the closing boundary (the panic), and the
        // status part after it (the part mail-parser lost), with LF and CRLF.
        for status_last in [false, true] {
            for crlf in [false, true] {
                let mut raw = bounce_returning(returned, status_last);
                if crlf {
                    raw = raw.replace('\n', "\r\n");
                }
                assert_eq!(
                    permanent_failure_for(raw.as_bytes(), "x@y.example"),
                    Ok(status(5, 1, 1)),
                    "{raw}"
                );
            }
        }
    }
    // An attached message with no content, then another part: the same panic.
    let raw = "From: MAILER-DAEMON@mx.example\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; x@y.example\nAction: failed\nStatus: 5.1.1\n\n--b\nContent-Type: message/rfc822\n\n--b\nContent-Type: message/rfc822\n\nSubject: hi\n\nHello.\n--b--\n";
    assert_eq!(
        permanent_failure_for(raw.as_bytes(), "x@y.example"),
        Ok(status(5, 1, 1))
    );
}

#[test]
fn attached_messages_are_read_up_to_the_boundary_that_ends_them() {
    // In place, mail-parser read a returned multipart message past the bounce's own
    // boundary, looking for its own, and the status part after it was lost; RFC 2046
    // ends the attached message at the bounce's boundary.
    let unterminated =
        "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: text/plain\n\nHello.\n";
    let encoded = "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogaGkKCkhlbGxvLgo=\n";
    let in_multipart = "Content-Type: multipart/mixed; boundary=m\n\n--m\nContent-Type: message/rfc822\n\nSubject: hi\n\nHello.\n\n--m--\n";
    let plain = "From: buyer@example.net\nContent-Type: text/plain\n\nContent-Type: message/rfc822 is only text here.\n";
    for returned in [unterminated, encoded, in_multipart, plain] {
        for status_last in [false, true] {
            let raw = bounce_returning(returned, status_last);
            assert_eq!(
                permanent_failure_for(raw.as_bytes(), "x@y.example"),
                Ok(status(5, 1, 1)),
                "{raw}"
            );
        }
    }
}

#[test]
fn a_status_part_in_an_attached_message_is_named_at_any_nesting() {
    // What is not read is still looked into to name a forwarded bounce, with the same
    // care: directly nested, and base64-encoded.
    let bounce = bounce_returning("Subject: hi\n\nHello.\n", false);
    let forwarded = |wrapped: &str| {
        format!("From: buyer@example.net\nContent-Type: multipart/mixed; boundary=f\n\n--f\nContent-Type: text/plain\n\nSee attached.\n\n--f\n{wrapped}\n--f--\n")
    };
    let direct = forwarded(&format!(
        "Content-Type: message/rfc822\n\nContent-Type: message/rfc822\n\n{bounce}"
    ));
    let b64 = {
        // Base64 of the bounce, in lines of 76.
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bounce.as_bytes().chunks(3) {
            let n =
                chunk.iter().fold(0u32, |n, b| n << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
            for i in 0..4 {
                out.push(if i <= chunk.len() {
                    ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char
                } else {
                    '='
                });
            }
        }
        let lines: Vec<&str> = out
            .as_bytes()
            .chunks(76)
            .map(|l| std::str::from_utf8(l).unwrap())
            .collect();
        forwarded(&format!(
            "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{}\n",
            lines.join("\n")
        ))
    };
    for (raw, found) in [
        (
            direct,
            "message/rfc822 › message/rfc822 › message/delivery-status",
        ),
        (b64, "message/rfc822 › message/delivery-status"),
    ] {
        assert_eq!(
            parse(raw.as_bytes()),
            Err(DsnError::InAttachment {
                found: found.into()
            }),
            "{raw}"
        );
    }
}
