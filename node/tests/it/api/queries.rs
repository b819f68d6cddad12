//! The read endpoints: listings, accounts, deliveries, status and peers.

use super::{assert_error, bounded, known_event, known_purchase, last, member, Api};
use carnet_node::api;
use carnet_node::handle::Command;
use carnet_protocol::SecretKey;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn listings_pass_filters_and_bound_the_limit() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get("/v1/listings?text=ada&company=Engines&domain=engines.example&title=cto&city=&limit=5")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["listings"][0]["name"], "Ada Lovelace");
        assert_eq!(body["listings"][0]["phone"], true);
        match last(&log) {
            Some(Command::Search { query, .. }) => {
                assert_eq!(query.text.as_deref(), Some("ada"));
                assert_eq!(query.company.as_deref(), Some("Engines"));
                assert_eq!(query.domain.as_deref(), Some("engines.example"));
                assert_eq!(query.title.as_deref(), Some("cto"));
                assert_eq!(query.city, None, "an empty filter is no filter");
                assert_eq!(query.limit, Some(5));
            }
            other => panic!("unexpected command {other:?}"),
        }

        for (params, limit) in [
            ("", api::DEFAULT_SEARCH_LIMIT),
            ("?limit=100000", api::MAX_SEARCH_LIMIT),
            ("?limit=0", 1),
        ] {
            let (status, _) = api.get(&format!("/v1/listings{params}")).await;
            assert_eq!(status, StatusCode::OK);
            match last(&log) {
                Some(Command::Search { query, .. }) => assert_eq!(query.limit, Some(limit)),
                other => panic!("unexpected command {other:?}"),
            }
        }
        // Teasers the store cannot give back: an error, never fewer listings.
        assert_error(
            api.get("/v1/listings?text=dead").await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        assert_error(
            api.get(&format!("/v1/listings/dead{}", "0".repeat(60)))
                .await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        for params in ["?limit=abc", "?limit=-1", "?colour=red"] {
            assert_error(
                api.get(&format!("/v1/listings{params}")).await,
                StatusCode::BAD_REQUEST,
                "invalid_query",
            );
        }
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn accounts() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let key = member().to_hex();
        let stranger = SecretKey::from_seed([8; 32]).public().to_hex();

        let (status, body) = api.get(&format!("/v1/accounts/{key}/balance")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"account": key, "balance": 120, "escrow": 10, "pending": 30, "status": "active"})
        );
        assert_error(
            api.get(&format!("/v1/accounts/{stranger}/balance")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        let (status, body) = api.get(&format!("/v1/accounts/{key}/history")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["account"], key);
        assert_eq!(body["movements"][0]["delta"], 100);
        let (status, body) = api.get(&format!("/v1/accounts/{stranger}/history")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["movements"], json!([]));
        // A history the store cannot read is an error, never a shorter list.
        assert_error(
            api.get(&format!("/v1/accounts/{}/history", "ee".repeat(32)))
                .await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );

        assert_error(
            api.get(&format!("/v1/accounts/{}/chain", "ee".repeat(32)))
                .await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        let (status, body) = api.get(&format!("/v1/accounts/{key}/chain")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"author": key, "next_seq": 3, "prev": known_event().to_hex(),
                   "last_lamport": 40, "last_timestamp_ms": 1_700_000_000_000u64, "clock": 41,
                   "introduction": null})
        );

        let listing = known_event().to_hex();
        let (status, body) = api.get(&format!("/v1/ids/{}", &listing[..8])).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"ids": [listing]}));
        let (status, body) = api
            .get(&format!("/v1/ids/{}", &listing[..8].to_uppercase()))
            .await;
        assert_eq!((status, &body["ids"][0]), (StatusCode::OK, &json!(listing)));
        for bad in ["abc", "xyzw", &"a".repeat(65)] {
            assert_error(
                api.get(&format!("/v1/ids/{bad}")).await,
                StatusCode::BAD_REQUEST,
                "invalid_hex",
            );
        }
        // A store that cannot be read is said so, not answered from memory alone.
        assert_error(
            api.get("/v1/ids/deadbeef").await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        let (status, body) = api
            .get(&format!(
                "/v1/listings/{listing}/quote?buyer={key}&max_price=12"
            ))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"listing": listing, "buyer": key, "price": 10, "max_price": 12,
                   "balance": 5, "refusal": "InsufficientBalance"})
        );
        for (query, code) in [
            ("".to_string(), "invalid_query"),
            (format!("?buyer={key}&max_price=-1"), "invalid_query"),
            (format!("?buyer={}", &key[..62]), "invalid_hex"),
        ] {
            assert_error(
                api.get(&format!("/v1/listings/{listing}/quote{query}"))
                    .await,
                StatusCode::BAD_REQUEST,
                code,
            );
        }

        for what in ["balance", "history", "chain"] {
            assert_error(
                api.get(&format!("/v1/accounts/{}/{what}", &key[..62]))
                    .await,
                StatusCode::BAD_REQUEST,
                "invalid_hex",
            );
        }
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn deliveries_status_and_peers() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get(&format!("/v1/deliveries/{}", known_purchase().to_hex()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["purchase_id"], known_purchase().to_hex());
        assert_eq!(body["sealed_card_hex"], "abcdef");
        assert_error(
            api.get(&format!("/v1/deliveries/{}", known_event().to_hex()))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            api.get("/v1/deliveries/00").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );
        assert_error(
            api.get(&format!("/v1/deliveries/dead{}", "0".repeat(60)))
                .await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );

        let (status, body) = api.get("/v1/status").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["events"], 10);
        assert_eq!(body["finalized_bound"], Value::Null);
        assert_eq!(body["peer_id"], "12D3KooWfake");

        let (status, body) = api.get("/v1/peers").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["peers"][0]["peer_id"], "12D3KooWpeer");

        let (status, body) = api.get("/v1/orgs").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["orgs"][0]["name"], "Acme");
        assert_eq!(body["admissions"][0]["needed"], 2);
        // A vote that is not a rotation has no `to`.
        assert!(body["admissions"][0].get("to").is_none(), "{body}");
        api.stop().await;
    })
    .await;
}
