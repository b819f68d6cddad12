//! The org node's bounce check: DSN first, then DKIM. Every verifier here is a closed
//! world of pre-loaded key records (`DkimVerifier::with_records`), so no test sends a
//! DNS query; bounces are signed in the test with a fixed Ed25519 key.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use carnet_mail::dkim::MAX_DKIM_SIGNATURES;
use carnet_mail::dsn::{DsnError, MAX_DSN_BYTES};
use carnet_mail::{check_bounce, BounceCheckError, DkimVerifier, Finding};
use carnet_protocol::payload::DsnStatus;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;

const SIGNER: &str = "mx.sender.example";
const SELECTOR: &str = "bounce";
const KEY_NAME: &str = "bounce._domainkey.mx.sender.example";
const BOUNCED: &str = "jane.doe@acme.example";

/// A Postfix-style bounce for [`BOUNCED`], CRLF line endings as on the wire.
fn bounce() -> String {
    [
        "From: MAILER-DAEMON@mx.sender.example (Mail Delivery System)",
        "To: member@carnet-member.example",
        "Subject: Undelivered Mail Returned to Sender",
        "Date: Tue, 2 Dec 2025 11:22:33 +0100 (CET)",
        "Message-ID: <20251202102233.4F1A2@mx.sender.example>",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        "\tboundary=\"4F1A2.1764670953/mx.sender.example\"",
        "",
        "--4F1A2.1764670953/mx.sender.example",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients.",
        "",
        "--4F1A2.1764670953/mx.sender.example",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.sender.example",
        "",
        "Final-Recipient: rfc822; jane.doe@acme.example",
        "Action: failed",
        "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 <jane.doe@acme.example>: User unknown",
        "",
        "--4F1A2.1764670953/mx.sender.example--",
        "",
    ]
    .join("\r\n")
}

/// A fixed Ed25519 key: PKCS#8 v1 DER is a 16-byte prefix and the 32-byte seed.
fn key(seed: u8) -> Ed25519Key {
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend([seed; 32]);
    Ed25519Key::from_pkcs8_der(&der).expect("a valid Ed25519 PKCS#8 key")
}

/// The TXT record publishing `key(seed)`, with extra tags such as `t=y; `.
fn record(seed: u8, extra: &str) -> String {
    format!(
        "v=DKIM1; k=ed25519; {extra}p={}",
        STANDARD.encode(key(seed).public_key())
    )
}

/// `message` with a DKIM-Signature by `key(seed)` for `domain`, prepended as a
/// signing MTA does.
fn sign(message: &str, seed: u8, domain: &str) -> String {
    let signature = DkimSigner::from_key(key(seed))
        .domain(domain)
        .selector(SELECTOR)
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
        ])
        .sign(message.as_bytes())
        .expect("signing");
    format!("{}{message}", signature.to_header())
}

fn verifier() -> DkimVerifier {
    DkimVerifier::with_records([(KEY_NAME, record(1, ""))]).unwrap()
}

fn failed_511() -> DsnStatus {
    DsnStatus {
        class: 5,
        subject: 1,
        detail: 1,
    }
}

#[tokio::test]
async fn a_signed_bounce_is_verified_for_its_signing_domain() {
    let signed = sign(&bounce(), 1, SIGNER);
    let got = check_bounce(signed.as_bytes(), BOUNCED, &verifier()).await;
    assert_eq!(
        got,
        Ok((
            failed_511(),
            Finding::Verified {
                domain: SIGNER.into()
            }
        ))
    );
    // The record's name is a DNS name: case and a trailing dot don't matter.
    let dotted =
        DkimVerifier::with_records([("Bounce._DomainKey.MX.Sender.Example.", record(1, ""))])
            .unwrap();
    assert!(matches!(
        check_bounce(signed.as_bytes(), BOUNCED, &dotted).await,
        Ok((_, Finding::Verified { .. }))
    ));
}

#[tokio::test]
async fn an_unsigned_bounce_is_unsigned() {
    let got = check_bounce(bounce().as_bytes(), BOUNCED, &verifier()).await;
    assert_eq!(got, Ok((failed_511(), Finding::Unsigned)));
    // A closed world that knows nothing is enough: no key is looked up.
    let empty = DkimVerifier::with_records(Vec::<(String, String)>::new()).unwrap();
    let got = check_bounce(bounce().as_bytes(), BOUNCED, &empty).await;
    assert_eq!(got, Ok((failed_511(), Finding::Unsigned)));
}

#[tokio::test]
async fn a_hand_written_signature_is_refused() {
    let forged = format!(
        "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d={SIGNER}; s={SELECTOR};\r\n\
         \th=From:To:Subject; bh={}; b={}\r\n{}",
        STANDARD.encode([0u8; 32]),
        STANDARD.encode([0u8; 64]),
        bounce()
    );
    let err = check_bounce(forged.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    let BounceCheckError::DkimFailed { domain, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(domain, SIGNER);
    assert!(reason.contains("body hash"), "{reason}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!(
            "the bounce message carries a DKIM signature from {SIGNER} that does not verify"
        )),
        "{shown}"
    );
    assert!(shown.contains("not forwarded or edited"), "{shown}");
}

#[tokio::test]
async fn a_bounce_changed_after_signing_is_refused() {
    let signed = sign(&bounce(), 1, SIGNER);
    // A signed header changed: the body hash still matches, the signature does not.
    let edited = signed.replace(
        "Subject: Undelivered Mail Returned to Sender",
        "Subject: Undelivered Mail",
    );
    let err = check_bounce(edited.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { domain, reason }
            if domain == SIGNER && reason == "Signature verification failed"),
        "{err:?}"
    );
    // The delivery status changed: the body hash no longer matches.
    let edited = signed.replace("User unknown", "No such user");
    let err = check_bounce(edited.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { reason, .. } if reason.contains("body hash")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_signature_by_another_key_or_with_no_key_is_refused() {
    let by_other_key = sign(&bounce(), 2, SIGNER);
    let err = check_bounce(by_other_key.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { domain, .. } if domain == SIGNER),
        "{err:?}"
    );

    // Signed as a domain that publishes no key: NXDOMAIN is permanent, not "try later".
    let unknown = sign(&bounce(), 1, "forger.example");
    let err = check_bounce(unknown.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    let BounceCheckError::DkimFailed { domain, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(domain, "forger.example");
    assert!(
        reason.starts_with("no usable key at bounce._domainkey.forger.example"),
        "{reason}"
    );

    // A key record that does not parse is no key either.
    let garbled = DkimVerifier::with_records([(KEY_NAME, "v=DKIM1; k=ed25519; p=!!")]).unwrap();
    let signed = sign(&bounce(), 1, SIGNER);
    let err = check_bounce(signed.as_bytes(), BOUNCED, &garbled)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { domain, .. } if domain == SIGNER),
        "{err:?}"
    );
}

#[tokio::test]
async fn one_good_signature_among_bad_ones_is_enough() {
    // A relay's broken signature on top of the sender's good one.
    let signed = sign(&bounce(), 1, SIGNER);
    let relayed = sign(&signed, 3, "relay.example");
    let got = check_bounce(relayed.as_bytes(), BOUNCED, &verifier()).await;
    assert_eq!(
        got,
        Ok((
            failed_511(),
            Finding::Verified {
                domain: SIGNER.into()
            }
        ))
    );
}

#[tokio::test]
async fn every_failure_is_named() {
    let twice = sign(&sign(&bounce(), 2, SIGNER), 3, "relay.example");
    let err = check_bounce(twice.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    let BounceCheckError::DkimFailed { domain, reason } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(domain, "relay.example");
    assert!(
        reason.contains(&format!("; the signature from {SIGNER}: ")),
        "{reason}"
    );
}

#[tokio::test]
async fn dns_trouble_means_try_later() {
    let signed = sign(&bounce(), 1, SIGNER);
    let err = check_bounce(
        signed.as_bytes(),
        BOUNCED,
        &DkimVerifier::unreachable().unwrap(),
    )
    .await
    .unwrap_err();
    let BounceCheckError::DkimUnavailable { reason } = &err else {
        panic!("{err:?}");
    };
    assert!(reason.contains(SIGNER), "{reason}");
    assert!(err.to_string().ends_with("try again later"), "{err}");
    // An unsigned bounce needs no lookup, so it is checked even then.
    let got = check_bounce(
        bounce().as_bytes(),
        BOUNCED,
        &DkimVerifier::unreachable().unwrap(),
    )
    .await;
    assert_eq!(got, Ok((failed_511(), Finding::Unsigned)));
}

#[tokio::test]
async fn a_testing_key_counts_as_unsigned() {
    // RFC 6376 section 3.6.1: t=y means "treat as unsigned".
    let testing = DkimVerifier::with_records([(KEY_NAME, record(1, "t=y; "))]).unwrap();
    let signed = sign(&bounce(), 1, SIGNER);
    let got = check_bounce(signed.as_bytes(), BOUNCED, &testing).await;
    assert_eq!(got, Ok((failed_511(), Finding::Unsigned)));
}

#[tokio::test]
async fn rsa_sha1_is_not_accepted() {
    // RFC 8301: whatever its bytes, an rsa-sha1 signature is never valid.
    let sha1 = format!(
        "DKIM-Signature: v=1; a=rsa-sha1; d={SIGNER}; s={SELECTOR}; h=From; bh={}; b={}\r\n{}",
        STANDARD.encode([0u8; 20]),
        STANDARD.encode([0u8; 128]),
        bounce()
    );
    let err = check_bounce(sha1.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { domain, reason }
            if domain == SIGNER && reason.contains("Unsupported algorithm")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreadable_signature_is_not_unsigned() {
    // A DKIM-Signature mail-auth cannot parse (no b=) is a failed signature, not none.
    let broken = format!(
        "DKIM-Signature: v=1; a=ed25519-sha256; d={SIGNER}\r\n{}",
        bounce()
    );
    let err = check_bounce(broken.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::DkimFailed { domain, .. } if domain == SIGNER),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_plain_text_message_is_not_a_bounce() {
    let handmade = "From: jane.doe@acme.example\r\nTo: member@carnet-member.example\r\n\
                    Subject: Undelivered Mail Returned to Sender\r\n\r\n\
                    Final-Recipient: rfc822; jane.doe@acme.example\r\nAction: failed\r\n\
                    Status: 5.1.1\r\n";
    let err = check_bounce(handmade.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::Dsn(DsnError::NotReport { .. })),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("not a bounce message"), "{err}");
    // Signing it does not make it one.
    let signed = sign(handmade, 1, SIGNER);
    let err = check_bounce(signed.as_bytes(), BOUNCED, &verifier())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BounceCheckError::Dsn(DsnError::NotReport { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bounce_for_someone_else_is_refused() {
    let signed = sign(&bounce(), 1, SIGNER);
    let err = check_bounce(signed.as_bytes(), "john.roe@acme.example", &verifier())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BounceCheckError::Dsn(DsnError::NoSuchRecipient {
            email: "john.roe@acme.example".into(),
            names: vec![BOUNCED.into()],
        })
    );
}

#[tokio::test]
async fn limits_come_before_any_work() {
    let big = vec![b'a'; MAX_DSN_BYTES + 1];
    assert_eq!(
        check_bounce(&big, BOUNCED, &verifier()).await,
        Err(BounceCheckError::Dsn(DsnError::TooLarge {
            len: MAX_DSN_BYTES + 1
        }))
    );

    let mut many = bounce();
    for i in 0..=MAX_DKIM_SIGNATURES {
        many = sign(&many, 1, &format!("relay{i}.example"));
    }
    assert_eq!(
        check_bounce(many.as_bytes(), BOUNCED, &verifier()).await,
        Err(BounceCheckError::TooManySignatures {
            count: MAX_DKIM_SIGNATURES + 1
        })
    );
    // At the limit, they are all checked.
    let mut enough = sign(&bounce(), 1, SIGNER);
    for i in 1..MAX_DKIM_SIGNATURES {
        enough = sign(&enough, 1, &format!("relay{i}.example"));
    }
    assert!(matches!(
        check_bounce(enough.as_bytes(), BOUNCED, &verifier()).await,
        Ok((_, Finding::Verified { .. }))
    ));
}
