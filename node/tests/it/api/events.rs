//! Submitting events and reading them back by id.

use super::{assert_error, bounded, known_event, last, read, Api, EVENT_BYTES};
use carnet_node::api;
use carnet_node::handle::Command;
use carnet_protocol::Hash32;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn submit_returns_what_the_loop_decided() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let submit = |first: u8| json!({ "event_hex": format!("{first:02x}c0ffee") });

        let (status, body) = api.post_json("/v1/events", &submit(0x01), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["ordered"]["outcome"], "applied");
        match last(&log) {
            Some(Command::Submit { bytes, .. }) => assert_eq!(bytes, [0x01, 0xc0, 0xff, 0xee]),
            other => panic!("unexpected command {other:?}"),
        }

        let (status, body) = api.post_json("/v1/events", &submit(0x02), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["pending"]["missing"][0], known_event().to_hex());

        let (status, body) = api.post_json("/v1/events", &submit(0x03), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["duplicate"]["id"].is_string());

        // Uppercase hex is accepted too.
        let (status, _) = api
            .post_json("/v1/events", &json!({"event_hex": "01C0FFEE"}), None)
            .await;
        assert_eq!(status, StatusCode::OK);

        // The protocol's own code travels with the API's: a script can tell a bad
        // signature from a malformed event, and a clock too low from a broken chain.
        let got = api.post_json("/v1/events", &submit(0xee), None).await;
        assert!(got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature does not verify"));
        assert_eq!(got.1["error"]["reason"], "bad_signature");
        assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let got = api.post_json("/v1/events", &submit(0xef), None).await;
        assert_eq!(got.1["error"]["reason"], "lamport_too_low");
        assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "rejected");
        // Refusals that are not the protocol's carry no reason.
        let got = api.post_json("/v1/events", &submit(0xfd), None).await;
        assert!(got.1["error"].get("reason").is_none(), "{}", got.1);
        assert_error(
            api.post_json("/v1/events", &submit(0xfd), None).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        assert_error(
            api.post_json("/v1/events", &submit(0xfe), None).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_batch_is_answered_event_by_event_in_its_order() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let events = json!({ "events_hex": [
            "01c0ffee", "zz", "02c0ffee", "ee00", "", "03c0ffee", "fd00",
            "aa".repeat(carnet_protocol::limits::MAX_EVENT_BYTES + 1),
        ]});
        let (status, body) = api.post_json("/v1/events/batch", &events, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let results = body["results"].as_array().expect("results");
        assert_eq!(results.len(), 8);
        assert_eq!(results[0]["ordered"]["outcome"], "applied");
        assert_eq!(results[1]["error"]["code"], "invalid_hex");
        assert!(results[1]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("events_hex[1]"));
        assert_eq!(results[2]["pending"]["missing"][0], known_event().to_hex());
        assert_eq!(results[3]["error"]["code"], "invalid");
        assert_eq!(results[3]["error"]["reason"], "bad_signature");
        assert_eq!(results[4]["error"]["code"], "invalid_hex");
        assert!(results[5]["duplicate"]["id"].is_string());
        assert_eq!(results[6]["error"]["code"], "storage");
        assert_eq!(results[7]["error"]["code"], "event_too_large");
        // Only the well-formed ones went to the loop, in one command, in order.
        match last(&log) {
            Some(Command::SubmitMany { events, .. }) => assert_eq!(
                events.iter().map(|e| e[0]).collect::<Vec<_>>(),
                [0x01, 0x02, 0xee, 0x03, 0xfd]
            ),
            other => panic!("unexpected command {other:?}"),
        }
        // The answers decode into the client's types.
        let typed: carnet_api::BatchSubmitted = serde_json::from_value(body).expect("typed");
        assert!(matches!(
            typed.results[0],
            carnet_api::BatchResult::Submitted(carnet_api::Submitted::Ordered { .. })
        ));
        assert!(matches!(
            &typed.results[6],
            carnet_api::BatchResult::Error(e) if e.error.code == "storage"
        ));

        let sent = log.lock().unwrap().len();
        assert_error(
            api.post_json("/v1/events/batch", &json!({ "events_hex": [] }), None)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_batch",
        );
        let too_many = vec!["01c0ffee"; api::MAX_BATCH_EVENTS + 1];
        assert_error(
            api.post_json("/v1/events/batch", &json!({ "events_hex": too_many }), None)
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
        );
        assert_error(
            api.post_json("/v1/events/batch", &json!({ "event_hex": "01" }), None)
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_json",
        );
        // A body over the limit is refused before it is read.
        let huge = format!(
            r#"{{"events_hex": ["{}"]}}"#,
            "a".repeat(api::MAX_BATCH_BODY_BYTES)
        );
        assert_error(
            api.post_raw("/v1/events/batch", huge, None).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
        assert_eq!(
            log.lock().unwrap().len(),
            sent,
            "refused batches reach no loop"
        );
        // The largest batch of the largest events fits the body limit.
        let full =
            vec!["01".repeat(carnet_protocol::limits::MAX_EVENT_BYTES); api::MAX_BATCH_EVENTS];
        let (status, body) = api
            .post_json("/v1/events/batch", &json!({ "events_hex": full }), None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body["results"].as_array().map(Vec::len),
            Some(api::MAX_BATCH_EVENTS)
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn submit_rejects_malformed_requests() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let bad = StatusCode::BAD_REQUEST;
        for hex in ["zz", "abc", "01 02", ""] {
            assert_error(
                api.post_json("/v1/events", &json!({ "event_hex": hex }), None)
                    .await,
                bad,
                "invalid_hex",
            );
        }
        for body in [
            "{",
            "not json",
            "[]",
            "{}",
            r#"{"event_hex": 5}"#,
            r#"{"event_hex": "01", "extra": 1}"#,
        ] {
            assert_error(
                api.post_raw("/v1/events", body.into(), None).await,
                bad,
                "invalid_json",
            );
        }
        // A body that is not declared as JSON.
        let r = api
            .http
            .post(api.url("/v1/events"))
            .header("content-type", "text/plain")
            .body(r#"{"event_hex": "01"}"#)
            .send()
            .await
            .unwrap();
        assert_error(
            read(r).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );

        // Over the 64 KiB body limit.
        let huge = json!({ "event_hex": "01".repeat(40 * 1024) }).to_string();
        assert!(huge.len() > api::MAX_BODY_BYTES);
        assert_error(
            api.post_raw("/v1/events", huge, None).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
        // Within the body limit, but the event is over 16 KiB.
        let big_event = "01".repeat(16 * 1024 + 1);
        assert_error(
            api.post_json("/v1/events", &json!({ "event_hex": big_event }), None)
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
        );
        assert!(
            log.lock().unwrap().is_empty(),
            "nothing malformed reaches the loop"
        );
        // Exactly 16 KiB is fine.
        let (status, _) = api
            .post_json(
                "/v1/events",
                &json!({ "event_hex": "01".repeat(16 * 1024) }),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn events_by_id() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get(&format!("/v1/events/{}", known_event().to_hex()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"], known_event().to_hex());
        assert_eq!(body["event_hex"], hex::encode(EVENT_BYTES));

        assert_error(
            api.get(&format!("/v1/events/{}", Hash32::of(b"nope").to_hex()))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            api.get("/v1/events/xyz").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );
        // A released event the store cannot give back: the node's fault, not "no
        // such event".
        assert_error(
            api.get(&format!("/v1/events/dead{}", "0".repeat(60))).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        api.stop().await;
    })
    .await;
}
