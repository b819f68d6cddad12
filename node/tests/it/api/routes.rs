//! The router itself: unknown routes and methods, metrics, and the OpenAPI document.

use super::{assert_error, bounded, known_event, known_purchase, member, Api, TOKEN};
use carnet_node::api;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;

#[tokio::test]
async fn unknown_routes_and_methods() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        assert_error(
            api.get("/v1/nothing").await,
            StatusCode::NOT_FOUND,
            "no_route",
        );
        assert_error(
            api.get("/v1/events").await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        assert_error(
            api.post_json("/v1/status", &json!({}), None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn metrics_are_rendered_for_prometheus() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        api.metrics.inc_ingested();
        api.metrics.inc_ingested();
        api.metrics.inc_rejected("invalid");
        api.metrics.set_pending(3);
        api.metrics.set_peers(2);
        api.metrics.inc_gossip();
        let r = api.http.get(api.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/openmetrics-text"));
        let text = r.text().await.unwrap();
        for line in [
            "events_ingested_total 2",
            "events_rejected_total{reason=\"invalid\"} 1",
            "events_pending 3",
            "peers_connected 2",
            "gossip_messages_total 1",
            "# TYPE events_ingested counter",
            "# TYPE events_pending gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        api.stop().await;
    })
    .await;
}

/// Every (method, path) of an OpenAPI document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

/// Every `$ref` in `v` names something that exists in `doc`.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r.strip_prefix('#').expect("local ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(items) => items.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_matches_the_router() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let r = api.http.get(api.url("/openapi.json")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        check_refs(&doc, &doc);

        let routed: BTreeSet<(String, String)> = api::route_table()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        let documented = documented_routes(&doc);
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routes missing from docs/openapi.json"
        );
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented routes the router does not have"
        );

        // Every documented route is really served (not the 404/405 fallbacks), and
        // every operation documents its success response.
        let api_md = include_str!("../../../../docs/api.md");
        for (method, path) in &documented {
            let op = &doc["paths"][path][method];
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            assert!(
                api_md.contains(&format!("`{} {path}`", method.to_uppercase())),
                "docs/api.md does not describe {method} {path}"
            );
            let concrete = path
                .replace("{id}", &known_event().to_hex())
                .replace("{pubkey}", &member().to_hex())
                .replace("{purchase_id}", &known_purchase().to_hex());
            let (status, body) = match method.as_str() {
                "get" => api.get(&concrete).await,
                "post" => api.post_json(&concrete, &json!({}), Some(TOKEN)).await,
                other => panic!("unexpected method {other}"),
            };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(body["error"]["code"], "no_route", "{method} {path}");
        }
        api.stop().await;
    })
    .await;
}
