//! Reports' helpers: vouchers, dedup keys, mobile vouchers, evidence and audit bundles.

use super::{assert_error, bounded, known_event, member, read, Api, TOKEN};
use carnet_node::handle::Command;
use carnet_protocol::{Hash32, PublicKey};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn vouchers_are_signed_only_for_a_bounce_of_the_cards_address() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let dsn = include_bytes!("../../../../mail/tests/fixtures/dsn/postfix-5.1.1.eml");
        let req = |email: &str, message: &[u8], purchase: u8| {
            json!({
                "reporter": PublicKey([1; 32]).to_hex(),
                "purchase_id": Hash32([purchase; 32]).to_hex(),
                "email": email,
                "salt_hex": hex::encode([2u8; 32]),
                "message_hex": hex::encode(message),
            })
        };
        let (status, body) = api
            .post_json("/v1/vouchers", &req("jane.doe@acme.example", dsn, 1), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["voucher_hex"], hex::encode([7u8; 64]));
        assert_eq!(body["status"], "5.1.1");
        assert_eq!(body["finding"], "unsigned");
        assert_eq!(
            body["evidence"],
            carnet_protocol::hash::evidence_hash(dsn).to_hex()
        );
        // A hand-written note, or a real bounce for another address: refused before
        // the event loop is asked to sign.
        let vouches = || {
            log.lock()
                .unwrap()
                .iter()
                .filter(|c| matches!(c, Command::Vouch { .. }))
                .count()
        };
        let asked = vouches();
        for (email, message) in [
            (
                "jane.doe@acme.example",
                &b"Subject: bounce\r\n\r\njane.doe bounced, 5.1.1\r\n"[..],
            ),
            ("john.roe@acme.example", &dsn[..]),
        ] {
            assert_error(
                api.post_json("/v1/vouchers", &req(email, message, 1), None)
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "bounce_refused",
            );
        }
        assert_eq!(vouches(), asked);
        // A stranger's request is refused by the ledger checks, before the message is
        // read (no DKIM lookup for strangers): even a hand-written note gets 403.
        for message in [&dsn[..], &b"not mail"[..]] {
            assert_error(
                api.post_json(
                    "/v1/vouchers",
                    &req("jane.doe@acme.example", message, 0x66),
                    None,
                )
                .await,
                StatusCode::FORBIDDEN,
                "not_our_member",
            );
        }
        assert_eq!(vouches(), asked);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn dedup_keys_are_asked_with_a_signed_request_and_refusals_keep_the_key() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let req = |email: &str, sig: String| {
            json!({
                "member": member().to_hex(),
                "email": email,
                "at_ms": 1_700_000_000_000u64,
                "signature_hex": sig,
            })
        };
        let sig = hex::encode([5u8; 64]);
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("ada@acme.example", sig.clone()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["dedup_key"], Hash32::of(b"ada@acme.example").to_hex());
        // The loop got the request as signed; the network left zero, for the loop
        // to read as its own (no round trip for it).
        let asked = log
            .lock()
            .unwrap()
            .iter()
            .find_map(|c| match c {
                Command::DedupKey {
                    request, signature, ..
                } => Some((request.clone(), *signature)),
                _ => None,
            })
            .expect("asked the loop");
        assert_eq!(asked.0.member, member());
        assert_eq!(asked.0.network, Hash32::ZERO);
        assert_eq!(asked.0.at_ms, 1_700_000_000_000);
        assert_eq!(asked.1, [5u8; 64]);
        // A listed address: 409 without a key.
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("listed@acme.example", sig.clone()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "duplicate_card");
        assert!(body.get("dedup_key").is_none());
        // Malformed signatures and oversized emails never reach the loop.
        let before = log.lock().unwrap().len();
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("ada@acme.example", "00".into()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let long = format!("{}@acme.example", "a".repeat(300));
        let (status, body) = api
            .post_json("/v1/dedup-keys", &req(&long, sig), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_email");
        assert_eq!(log.lock().unwrap().len(), before);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn mobile_vouchers_are_signed_for_a_mobile_number_only() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let req = |phone: &str| {
            json!({
                "reporter": PublicKey([1; 32]).to_hex(),
                "purchase_id": Hash32([4; 32]).to_hex(),
                "phone": phone,
                "salt_hex": hex::encode([2u8; 32]),
            })
        };
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req("+447400123456"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["voucher_hex"], hex::encode([8u8; 64]));
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::VouchMobile { opening, .. } if opening.value == "+447400123456"
                && opening.salt == [2; 32]
        )));
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req("+442079460000"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "not_mobile");
        let before = log.lock().unwrap().len();
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req(&"4".repeat(40)), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_phone");
        let mut bad = req("+447400123456");
        bad["salt_hex"] = json!("00");
        let (status, _) = api.post_json("/v1/mobile-vouchers", &bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(log.lock().unwrap().len(), before);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn evidence_and_audit_routes() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        // Without the admin token nothing is kept: the endpoint is the operator's.
        assert_error(
            api.post_json("/v1/evidence", &json!({"message_hex": "6869"}), None)
                .await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::PutEvidence { .. })));
        // A message of 1 MiB passes the route's larger body limit.
        let big = vec![b'x'; carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES];
        let (status, body) = api
            .post_json(
                "/v1/evidence",
                &json!({"message_hex": hex::encode(&big)}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["evidence"],
            carnet_protocol::hash::evidence_hash(&big).to_hex()
        );
        assert!(log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::PutEvidence { raw, .. } if raw.len() == big.len())));
        let over = hex::encode(vec![b'x'; big.len() + 1]);
        assert_error(
            api.post_json("/v1/evidence", &json!({"message_hex": over}), Some(TOKEN))
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
        );
        for bad in [json!({"message_hex": "zz"}), json!({"message_hex": ""})] {
            assert_error(
                api.post_json("/v1/evidence", &bad, Some(TOKEN)).await,
                StatusCode::BAD_REQUEST,
                "invalid_hex",
            );
        }
        // Other routes keep the 64 KiB limit.
        let (status, _) = api
            .post_json("/v1/events", &json!({"event_hex": hex::encode(&big)}), None)
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        let id = known_event().to_hex();
        // Personal data (the message, the opening) leaves only with the admin token.
        for q in ["include_message=true", "include_opening=true"] {
            assert_error(
                api.get(&format!("/v1/audit/{id}?{q}")).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::AuditBundle { .. })));
        assert_error(
            api.get(&format!("/v1/audit/{id}")).await,
            StatusCode::CONFLICT,
            "not_settled",
        );
        let r = api
            .http
            .get(api.url(&format!(
                "/v1/audit/{id}?include_message=true&include_opening=true"
            )))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_error(read(r).await, StatusCode::CONFLICT, "not_settled");
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::AuditBundle {
                include_message: true,
                include_opening: true,
                ..
            }
        )));
        assert_error(
            api.get("/v1/audit/zz").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );
        assert_error(
            api.get(&format!("/v1/audit/{id}?include=1")).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        );
        assert_error(
            api.get("/v1/audit/checkpoint?since=3").await,
            StatusCode::NOT_FOUND,
            "no_checkpoint",
        );
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::AuditCheckpoint {
                bound: None,
                since: Some(3),
                ..
            }
        )));
        api.stop().await;
    })
    .await;
}
