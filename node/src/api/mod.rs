//! The node's local HTTP API: JSON over HTTP/1.1 for wallets, tools and operators.
//!
//! Every handler turns a request into one [`NodeHandle`] call and the reply into JSON; the
//! event loop stays the only place that reads or writes the ledger. docs/api.md is
//! the reference and docs/openapi.json the machine-readable description; a test keeps
//! the latter and [`route_table`] in step.
//!
//! Errors always have the shape `{"error": {"code": "...", "message": "..."}}` (plus
//! the protocol's `reason` where the refusal is the protocol's) with a status code that
//! says whose fault it was; `error` holds the one table from the node's typed errors to
//! both. Bodies are capped at [`MAX_BODY_BYTES`]
//! before they are parsed, and nothing a client sends can make a handler panic.

use crate::handle::{AuditRefusal, Closed, IngestError, NodeHandle};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use carnet_api::{SearchQuery, Submitted};
use carnet_protocol::card::Card;
use carnet_protocol::encoding::from_canonical;
use carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES;
use carnet_protocol::limits::{MAX_EVENT_BYTES, MAX_SEALED_CARD_BYTES};
use carnet_protocol::payload::{Admit, Enroll, Evict, Grant, OptOut, Revoke, Rotate};
use carnet_protocol::{Hash32, Payload, PublicKey};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

mod admin;
pub(crate) mod error;
mod extract;
mod metrics;
pub(crate) mod reports;
mod trade;

use admin::*;
use error::*;
use extract::*;
pub use metrics::Metrics;
use reports::*;
use trade::*;

/// Largest request body the API reads; anything longer is answered with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body of `POST /v1/evidence`: a 1 MiB message in hex, with room for the
/// JSON around it.
pub const MAX_EVIDENCE_BODY_BYTES: usize = 2 * MAX_EVIDENCE_BYTES + 4096;
/// Most events one `POST /v1/events/batch` takes: the most the event loop orders
/// under one commit.
pub const MAX_BATCH_EVENTS: usize = 256;
/// Largest body of `POST /v1/events/batch`: as many events of the largest size, in
/// hex, with room for the JSON around them.
pub const MAX_BATCH_BODY_BYTES: usize = MAX_BATCH_EVENTS * (2 * MAX_EVENT_BYTES + 8) + 4096;
/// Listings returned by a search when the request names no limit.
pub const DEFAULT_SEARCH_LIMIT: usize = 50;
/// Most listings one search returns; a larger `limit` is lowered to this.
pub const MAX_SEARCH_LIMIT: usize = 500;
/// How long a request waits for the event loop before it is answered with 504.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI 3.1 description of this API, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../../docs/openapi.json");

#[derive(Clone)]
struct AppState {
    node: NodeHandle,
    /// DKIM key lookups for bounce vouchers (the system resolver).
    dkim: Option<carnet_mail::dkim::DkimVerifier>,
    /// BLAKE3 of the admin token, or None when admin calls are disabled (empty token).
    admin_token: Option<blake3::Hash>,
    metrics: Arc<Metrics>,
    reply_timeout: Duration,
    /// The web app's sessions: a new password ends the member's.
    web_sessions: Arc<std::sync::Mutex<crate::web::session::Sessions>>,
}

/// The API's routes around `node`. Admin routes require `admin_token` as a bearer
/// token; an empty token disables them.
pub fn router(node: NodeHandle, admin_token: String, metrics: Arc<Metrics>) -> Router {
    router_with_timeout(node, admin_token, metrics, DEFAULT_REPLY_TIMEOUT)
}

/// [`router`] with a chosen wait for the event loop's replies.
pub fn router_with_timeout(
    node: NodeHandle,
    admin_token: String,
    metrics: Arc<Metrics>,
    reply_timeout: Duration,
) -> Router {
    let dkim = match carnet_mail::dkim::DkimVerifier::system() {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!("bounce vouchers for DKIM-signed messages are unavailable: {e}");
            None
        }
    };
    let admin_hash = (!admin_token.is_empty()).then(|| blake3::hash(admin_token.as_bytes()));
    let web_state =
        crate::web::pages::WebState::new(node.clone(), admin_hash, dkim.clone(), metrics.clone());
    let web_sessions = web_state.shared_sessions();
    let web = crate::web::pages::router(web_state);
    let state = AppState {
        node,
        dkim,
        admin_token: (!admin_token.is_empty()).then(|| blake3::hash(admin_token.as_bytes())),
        metrics,
        reply_timeout,
        web_sessions,
    };
    routes()
        .router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
        .merge(web)
}

/// Every (method, path) the router answers, in OpenAPI path syntax.
pub fn route_table() -> Vec<(&'static str, &'static str)> {
    routes().list
}

/// The router and the list of its routes, built together so they cannot disagree.
struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H: Handler<T, AppState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.list.push(("get", path));
        self.router = self.router.route(path, get(h));
        self
    }

    fn post<H: Handler<T, AppState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.list.push(("post", path));
        self.router = self.router.route(path, post(h));
        self
    }

    /// A POST route whose bodies may be up to `limit` bytes instead of the default.
    fn post_large<H: Handler<T, AppState>, T: 'static>(
        mut self,
        path: &'static str,
        limit: usize,
        h: H,
    ) -> Self {
        self.list.push(("post", path));
        self.router = self
            .router
            .route(path, post(h).layer(DefaultBodyLimit::max(limit)));
        self
    }
}

fn routes() -> Routes {
    Routes {
        router: Router::new(),
        list: Vec::new(),
    }
    .post("/v1/events", submit_event)
    .post_large("/v1/events/batch", MAX_BATCH_BODY_BYTES, submit_events)
    .get("/v1/events/{id}", get_event)
    .get("/v1/ids/{prefix}", ids_with_prefix)
    .post("/v1/contributions", contribute)
    .post("/v1/dedup-keys", post_dedup_key)
    .post("/v1/web/sealed-key", post_sealed_key)
    .get("/v1/listings", search_listings)
    .get("/v1/listings/{id}", listing)
    .get("/v1/listings/{id}/quote", quote)
    .get("/v1/companies/{domain}", company)
    .get("/v1/accounts/{pubkey}/balance", balance)
    .get("/v1/accounts/{pubkey}/history", history)
    .get("/v1/accounts/{pubkey}/chain", chain_head)
    .get("/v1/accounts/{pubkey}/purchases", purchases)
    .get("/v1/deliveries/{purchase_id}", delivery)
    .post_large("/v1/evidence", MAX_EVIDENCE_BODY_BYTES, post_evidence)
    .post_large("/v1/vouchers", MAX_EVIDENCE_BODY_BYTES, post_voucher)
    .post("/v1/mobile-vouchers", post_mobile_voucher)
    .get("/v1/audit/checkpoint", audit_checkpoint)
    .get("/v1/audit/{event_id}", audit_bundle)
    .get("/v1/status", status)
    .get("/v1/peers", peers)
    .get("/v1/orgs", orgs)
    .post("/v1/admin/enroll", admin_enroll)
    .get("/v1/admin/members", admin_members)
    .post("/v1/admin/grant", admin_grant)
    .post("/v1/admin/revoke", admin_revoke)
    .post("/v1/admin/optout", admin_optout)
    .post("/v1/admin/dispute", admin_dispute)
    .post("/v1/admin/admit", admin_admit)
    .post("/v1/admin/evict", admin_evict)
    .post("/v1/admin/rotate", admin_rotate)
    .get("/metrics", metrics)
    .get("/openapi.json", openapi)
}

async fn status(State(state): State<AppState>) -> ApiResult<Json<carnet_api::NodeStatus>> {
    Ok(Json(state.wait(state.node.status()).await??))
}

#[derive(Serialize)]
struct Peers {
    peers: Vec<carnet_api::PeerView>,
}

async fn peers(State(state): State<AppState>) -> ApiResult<Json<Peers>> {
    let peers = state.wait(state.node.peers()).await??;
    Ok(Json(Peers { peers }))
}

async fn orgs(State(state): State<AppState>) -> ApiResult<Json<carnet_api::OrgsView>> {
    Ok(Json(state.wait(state.node.orgs()).await??))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI_JSON).into_response()
}
