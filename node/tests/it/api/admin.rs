//! The admin calls: payloads signed as the org, behind the token, validated first.

use super::{assert_error, bounded, last, member, member2, read, spawn_fake_loop, Api, TOKEN};
use carnet_node::api;
use carnet_node::handle::{Command, NodeHandle};
use carnet_protocol::{Hash32, Payload, PublicKey};
use reqwest::StatusCode;
use serde_json::json;
use tokio::sync::mpsc;

#[tokio::test]
async fn admin_calls_sign_payloads_as_the_org() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let key = member();
        let dedup = Hash32::of(b"someone@example.com");
        let cases = [
            (
                "/v1/admin/enroll",
                json!({"member": key.to_hex(), "handle": "blue-heron"}),
                Payload::Enroll(carnet_protocol::payload::Enroll {
                    member: key,
                    handle: "blue-heron".into(),
                }),
            ),
            (
                "/v1/admin/grant",
                json!({"member": key.to_hex(), "points": 100, "memo": "welcome"}),
                Payload::Grant(carnet_protocol::payload::Grant {
                    member: key,
                    points: 100,
                    memo: "welcome".into(),
                }),
            ),
            (
                "/v1/admin/revoke",
                json!({"member": key.to_hex(), "reason": "left"}),
                Payload::Revoke(carnet_protocol::payload::Revoke {
                    member: key,
                    reason: "left".into(),
                }),
            ),
            (
                "/v1/admin/optout",
                json!({"dedup_key": dedup.to_hex()}),
                Payload::OptOut(carnet_protocol::payload::OptOut { dedup_key: dedup }),
            ),
            (
                "/v1/admin/optout",
                json!({"email": "jane@acme.example"}),
                Payload::OptOut(carnet_protocol::payload::OptOut {
                    dedup_key: Hash32::of(b"jane@acme.example"),
                }),
            ),
            (
                "/v1/admin/dispute",
                json!({"report_id": dedup.to_hex(), "finding": "the MX accepted mail"}),
                Payload::Dispute(carnet_protocol::payload::Dispute {
                    report_id: dedup,
                    finding: "the MX accepted mail".into(),
                }),
            ),
            (
                "/v1/admin/rotate",
                json!({"org": key.to_hex(), "to": member2().to_hex()}),
                Payload::Rotate(carnet_protocol::payload::Rotate {
                    org: key,
                    to: member2(),
                }),
            ),
            (
                "/v1/admin/evict",
                json!({"org": key.to_hex(), "reason": "stopped delivering"}),
                Payload::Evict(carnet_protocol::payload::Evict {
                    org: key,
                    reason: "stopped delivering".into(),
                }),
            ),
        ];
        for (path, body, expected) in cases {
            let (status, reply) = api.post_json(path, &body, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {reply}");
            assert_eq!(reply["ordered"]["outcome"], expected.kind());
            match last(&log) {
                Some(Command::SubmitAsOrg { payload, .. }) => assert_eq!(payload, expected),
                other => panic!("unexpected command {other:?}"),
            }
        }
        // Optional text fields default to empty.
        let (status, _) = api
            .post_json(
                "/v1/admin/grant",
                &json!({"member": key.to_hex(), "points": 5}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        // The scheme name is case-insensitive.
        let r = api
            .http
            .post(api.url("/v1/admin/optout"))
            .header("content-type", "application/json")
            .header("authorization", format!("bearer {TOKEN}"))
            .body(json!({"dedup_key": dedup.to_hex()}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admin_calls_need_the_token() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let body = json!({"member": member().to_hex(), "handle": "h"});
        for path in [
            "/v1/admin/enroll",
            "/v1/admin/grant",
            "/v1/admin/revoke",
            "/v1/admin/optout",
        ] {
            let r = api
                .http
                .post(api.url(path))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
            assert_error(read(r).await, StatusCode::UNAUTHORIZED, "unauthorized");
            for token in ["wrong", "", &TOKEN[..TOKEN.len() - 1], &format!("{TOKEN}x")] {
                assert_error(
                    api.post_json(path, &body, Some(token)).await,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                );
            }
            // The token is checked before the body is even parsed.
            assert_error(
                api.post_raw(path, "{".into(), Some("wrong")).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
            // Not a bearer scheme.
            let r = api
                .http
                .post(api.url(path))
                .header("content-type", "application/json")
                .header("authorization", format!("Basic {TOKEN}"))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_error(read(r).await, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        assert!(log.lock().unwrap().is_empty());
        api.stop().await;

        // An empty token disables admin calls altogether.
        let (tx, rx) = mpsc::channel(16);
        let _log = spawn_fake_loop(rx);
        let api = Api::start(NodeHandle::new(tx), "", api::DEFAULT_REPLY_TIMEOUT).await;
        assert_error(
            api.post_json("/v1/admin/enroll", &body, Some("")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admin_calls_validate_their_input() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let key = member().to_hex();
        let not_a_point = (0u8..=255)
            .map(|i| PublicKey([i; 32]))
            .find(|k| k.verifying_key().is_none())
            .expect("some 32-byte strings are not curve points");
        let bad = StatusCode::BAD_REQUEST;
        let cases = [
            (
                "/v1/admin/enroll",
                json!({"member": "12", "handle": "h"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": not_a_point.to_hex(), "handle": "h"}),
                bad,
                "invalid_key",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": key}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": key, "handle": ""}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": -1}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": 0}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": 1, "memo": "x".repeat(257)}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/revoke",
                json!({"member": "zz"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/optout",
                json!({"dedup_key": "00"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/optout",
                json!({"dedup": key}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/optout",
                json!({"email": "jane@acme.example", "dedup_key": key}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                "/v1/admin/optout",
                json!({}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
        ];
        for (path, body, status, code) in cases {
            assert_error(api.post_json(path, &body, Some(TOKEN)).await, status, code);
        }
        assert_error(
            api.post_raw("/v1/admin/revoke", "{".into(), Some(TOKEN))
                .await,
            bad,
            "invalid_json",
        );
        assert_error(
            api.post_raw(
                "/v1/admin/revoke",
                format!(
                    r#"{{"member": "{key}", "reason": "{}"}}"#,
                    "x".repeat(70_000)
                ),
                Some(TOKEN),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
        assert!(log.lock().unwrap().is_empty(), "nothing invalid is signed");
        api.stop().await;
    })
    .await;
}
