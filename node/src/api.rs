//! The node's local HTTP API: JSON over HTTP/1.1 for wallets, tools and operators.
//!
//! Every handler turns a request into one [`NodeHandle`] call and the reply into JSON; the
//! event loop stays the only place that reads or writes the ledger. docs/api.md is
//! the reference and docs/openapi.json the machine-readable description; a test keeps
//! the latter and [`route_table`] in step.
//!
//! Errors always have the shape `{"error": {"code": "...", "message": "..."}}` with a
//! status code that says whose fault it was. Bodies are capped at [`MAX_BODY_BYTES`]
//! before they are parsed, and nothing a client sends can make a handler panic.

use crate::handle::{AuditRefusal, Closed, IngestError, NodeHandle};
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
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

/// Largest request body the API reads; anything longer is answered with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Largest body of `POST /v1/evidence`: a 1 MiB message in hex, with room for the
/// JSON around it.
pub const MAX_EVIDENCE_BODY_BYTES: usize = 2 * MAX_EVIDENCE_BYTES + 4096;
/// Listings returned by a search when the request names no limit.
pub const DEFAULT_SEARCH_LIMIT: usize = 50;
/// Most listings one search returns; a larger `limit` is lowered to this.
pub const MAX_SEARCH_LIMIT: usize = 500;
/// How long a request waits for the event loop before it is answered with 504.
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// The OpenAPI 3.1 description of this API, served at `GET /openapi.json`.
pub const OPENAPI_JSON: &str = include_str!("../../docs/openapi.json");

/// The node's Prometheus metrics. The event loop updates them through the methods
/// below; `GET /metrics` renders them in the OpenMetrics text format.
pub struct Metrics {
    registry: Registry,
    ingested: Counter,
    rejected: Family<RejectReason, Counter>,
    pending: Gauge,
    peers: Gauge,
    gossip: Counter,
    pending_dropped: Family<RejectReason, Counter>,
    peers_banned: Counter,
    peers_refused: Family<RejectReason, Counter>,
    peers_admitted: Gauge,
    peer_offences: Family<RejectReason, Counter>,
    sync_refused: Family<RejectReason, Counter>,
    gossip_refused: Family<RejectReason, Counter>,
    storage_healthy: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectReason {
    reason: String,
}

/// Adds `n` to the counter of `family` labelled `reason`.
fn count(family: &Family<RejectReason, Counter>, reason: &str, n: u64) {
    family
        .get_or_create(&RejectReason {
            reason: reason.to_owned(),
        })
        .inc_by(n);
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("events_ingested", &self.ingested.get())
            .field("events_pending", &self.pending.get())
            .field("peers_connected", &self.peers.get())
            .field("gossip_messages", &self.gossip.get())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let ingested = Counter::default();
        let rejected = Family::<RejectReason, Counter>::default();
        let pending = Gauge::default();
        let peers = Gauge::default();
        let gossip = Counter::default();
        let pending_dropped = Family::<RejectReason, Counter>::default();
        let peers_banned = Counter::default();
        let peers_refused = Family::<RejectReason, Counter>::default();
        let peers_admitted = Gauge::default();
        let peer_offences = Family::<RejectReason, Counter>::default();
        let sync_refused = Family::<RejectReason, Counter>::default();
        let gossip_refused = Family::<RejectReason, Counter>::default();
        let storage_healthy = Gauge::default();
        storage_healthy.set(1);
        registry.register(
            "storage_healthy",
            "1 while the event store takes writes; 0 after a failed one (a full disk) until it takes one again",
            storage_healthy.clone(),
        );
        registry.register(
            "peer_offences",
            "Offences counted against peers, by reason (invalid_event: an event the protocol refuses; bad_sync: a broken sync message); 8 ban a peer",
            peer_offences.clone(),
        );
        registry.register(
            "sync_refused",
            "Sync requests refused, by reason (unproven: from a peer with no valid hello; rate: over the per-peer rate)",
            sync_refused.clone(),
        );
        registry.register(
            "gossip_refused",
            "Gossip messages left unread and not forwarded, by reason (rate: over the per-peer rate; the events come back by sync)",
            gossip_refused.clone(),
        );
        registry.register(
            "peers_refused",
            "Peers refused and disconnected, by reason (other_network, bad_attestation, not_an_org: no valid attestation by a current org of the network; no_hello: none in time)",
            peers_refused.clone(),
        );
        registry.register(
            "peers_admitted",
            "Connected peers that proved they serve an org of the network",
            peers_admitted.clone(),
        );
        registry.register(
            "events_ingested",
            "Events ordered and stored by this node",
            ingested.clone(),
        );
        registry.register(
            "pending_dropped",
            "Pending events given up, by reason (evicted: their sender sent too many; expired: too old; invalid: they failed the ordering checks once complete)",
            pending_dropped.clone(),
        );
        registry.register(
            "peers_banned",
            "Peers disconnected and banned for sending invalid events",
            peers_banned.clone(),
        );
        registry.register(
            "events_rejected",
            "Events refused, by reason",
            rejected.clone(),
        );
        registry.register(
            "events_pending",
            "Events held in memory waiting for missing dependencies (never stored)",
            pending.clone(),
        );
        registry.register(
            "peers_connected",
            "Peers with an open connection",
            peers.clone(),
        );
        registry.register(
            "gossip_messages",
            "Gossip messages received",
            gossip.clone(),
        );
        Metrics {
            registry,
            ingested,
            rejected,
            pending,
            peers,
            gossip,
            pending_dropped,
            peers_banned,
            peers_refused,
            peers_admitted,
            peer_offences,
            sync_refused,
            gossip_refused,
            storage_healthy,
        }
    }

    pub fn set_storage_healthy(&self, healthy: bool) {
        self.storage_healthy.set(i64::from(healthy));
    }

    pub fn inc_peer_offences(&self, reason: &str, n: u64) {
        count(&self.peer_offences, reason, n);
    }

    pub fn inc_sync_refused(&self, reason: &str) {
        count(&self.sync_refused, reason, 1);
    }

    pub fn inc_gossip_refused(&self, reason: &str) {
        count(&self.gossip_refused, reason, 1);
    }

    /// `reason`: a [`crate::peers::Refusal`] label.
    pub fn inc_peers_refused(&self, reason: &str) {
        count(&self.peers_refused, reason, 1);
    }

    pub fn set_peers_admitted(&self, n: u64) {
        self.peers_admitted
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// `reason`: `evicted`, `expired` or `invalid`.
    pub fn inc_pending_dropped(&self, reason: &str, n: u64) {
        count(&self.pending_dropped, reason, n);
    }

    pub fn inc_peers_banned(&self) {
        self.peers_banned.inc();
    }

    pub fn inc_ingested(&self) {
        self.ingested.inc();
    }

    /// `reason` becomes a label value: keep it to a small fixed set (for example
    /// `invalid`, `rejected`, `storage`), never a message with ids in it.
    pub fn inc_rejected(&self, reason: &str) {
        count(&self.rejected, reason, 1);
    }

    pub fn set_pending(&self, n: u64) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_peers(&self, n: u64) {
        self.peers.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn inc_gossip(&self) {
        self.gossip.inc();
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Clone)]
struct AppState {
    node: NodeHandle,
    /// DKIM key lookups for bounce vouchers (the system resolver).
    dkim: Option<carnet_mail::dkim::DkimVerifier>,
    /// BLAKE3 of the admin token, or None when admin calls are disabled (empty token).
    admin_token: Option<blake3::Hash>,
    metrics: Arc<Metrics>,
    reply_timeout: Duration,
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
    let state = AppState {
        node,
        dkim,
        admin_token: (!admin_token.is_empty()).then(|| blake3::hash(admin_token.as_bytes())),
        metrics,
        reply_timeout,
    };
    routes()
        .router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
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
    .get("/v1/events/{id}", get_event)
    .post("/v1/contributions", contribute)
    .post("/v1/dedup-keys", post_dedup_key)
    .get("/v1/listings", search_listings)
    .get("/v1/listings/{id}", listing)
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
    .post("/v1/admin/enroll", admin_enroll)
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

// ---------------------------------------------------------------------------------
// Errors

/// An error response: `{"error": {"code", "message"}}` with its status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_hex(what: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{what} must be 64 hex digits"),
        )
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<Closed> for ApiError {
    fn from(_: Closed) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        )
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let status = match &e {
            IngestError::Invalid(_)
            | IngestError::Rejected(_)
            | IngestError::Card(_)
            | IngestError::OptedOut => StatusCode::UNPROCESSABLE_ENTITY,
            IngestError::NotMember(_) => StatusCode::FORBIDDEN,
            IngestError::DuplicateCard(_) => StatusCode::CONFLICT,
            IngestError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            IngestError::ShuttingDown | IngestError::NoNetworkSecret => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let code = e.code();
        ApiError::new(status, code, e.to_string())
    }
}

impl From<AuditRefusal> for ApiError {
    fn from(e: AuditRefusal) -> Self {
        let (status, code) = match e.code.as_str() {
            "not_found" => (StatusCode::NOT_FOUND, "not_found"),
            "no_checkpoint" => (StatusCode::NOT_FOUND, "no_checkpoint"),
            "not_a_penalty" => (StatusCode::UNPROCESSABLE_ENTITY, "not_a_penalty"),
            "void_penalty" => (StatusCode::UNPROCESSABLE_ENTITY, "void_penalty"),
            "not_settled" => (StatusCode::CONFLICT, "not_settled"),
            "no_message" => (StatusCode::CONFLICT, "no_message"),
            "no_opening" => (StatusCode::CONFLICT, "no_opening"),
            "evidence_too_large" => (StatusCode::PAYLOAD_TOO_LARGE, "evidence_too_large"),
            "storage" => (StatusCode::INTERNAL_SERVER_ERROR, "storage"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "audit_failed"),
        };
        ApiError::new(status, code, e.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(carnet_api::ErrorBody {
            error: carnet_api::ErrorDetail {
                code: self.code.into(),
                message: self.message,
            },
        });
        let mut response = (self.status, body).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

// ---------------------------------------------------------------------------------
// Extractors

/// A JSON body: requires `Content-Type: application/json`, at most [`MAX_BODY_BYTES`].
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is larger than this endpoint accepts",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_body", r.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Proof that the request carried the admin bearer token.
struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.to_owned())
        };
        let Some(expected) = &state.admin_token else {
            return Err(unauthorized("admin calls are disabled on this node"));
        };
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        // blake3::Hash compares in constant time; hashing first also hides the length.
        if blake3::hash(given.trim().as_bytes()) == *expected {
            Ok(Admin)
        } else {
            Err(unauthorized("wrong bearer token"))
        }
    }
}

fn path_value(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(v)| v)
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", r.body_text()))
}

fn parse_id(path: Result<Path<String>, PathRejection>, what: &str) -> ApiResult<Hash32> {
    Hash32::from_hex(&path_value(path)?).ok_or_else(|| ApiError::bad_hex(what))
}

fn parse_key(path: Result<Path<String>, PathRejection>) -> ApiResult<PublicKey> {
    PublicKey::from_hex(&path_value(path)?).ok_or_else(|| ApiError::bad_hex("pubkey"))
}

impl AppState {
    /// Awaits an event-loop reply, giving up after the reply timeout.
    async fn wait<T>(&self, call: impl Future<Output = T>) -> ApiResult<T> {
        tokio::time::timeout(self.reply_timeout, call)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    "the node did not answer in time",
                )
            })
    }
}

// ---------------------------------------------------------------------------------
// Public handlers

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmitBody {
    event_hex: String,
}

async fn submit_event(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SubmitBody>,
) -> ApiResult<Json<Submitted>> {
    let bytes = hex::decode(body.event_hex.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("event_hex: {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            "event_hex is empty",
        ));
    }
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            format!(
                "the event is {} bytes, over the limit of {MAX_EVENT_BYTES}",
                bytes.len()
            ),
        ));
    }
    let submitted = state.wait(state.node.submit(bytes)).await??;
    Ok(Json(submitted))
}

/// Decodes a hex field, refusing empty and oversized values with a clear error.
fn decode_hex_field(field: &str, value: &str, limit: usize) -> ApiResult<Vec<u8>> {
    let bytes = hex::decode(value.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field}: {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field} is empty"),
        ));
    }
    if bytes.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{field} is {} bytes, over the limit of {limit}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ContributeBody {
    event_hex: String,
    /// The canonical bytes of the card behind the listing.
    card_hex: String,
}

async fn contribute(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ContributeBody>,
) -> ApiResult<Json<Submitted>> {
    let bytes = decode_hex_field("event_hex", &body.event_hex, MAX_EVENT_BYTES)?;
    let card_bytes = decode_hex_field("card_hex", &body.card_hex, MAX_SEALED_CARD_BYTES)?;
    let card: Card = from_canonical(&card_bytes, MAX_SEALED_CARD_BYTES).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_card",
            format!("card_hex is not a canonical card: {e}"),
        )
    })?;
    let submitted = state.wait(state.node.contribute(bytes, card)).await??;
    Ok(Json(submitted))
}

async fn listing(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::ListingDetail>> {
    let id = parse_id(id, "id")?;
    state
        .wait(state.node.listing(id))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no listing {id}")))
}

async fn company(
    State(state): State<AppState>,
    domain: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::CompanyInfo>> {
    let domain = path_value(domain)?;
    state
        .wait(state.node.company(domain.clone()))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no votes for {domain}")))
}

#[derive(Serialize)]
struct Purchases {
    buyer: String,
    purchases: Vec<carnet_api::PurchaseView>,
}

async fn purchases(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Purchases>> {
    let key = parse_key(key)?;
    let purchases = state.wait(state.node.purchases(key)).await??;
    Ok(Json(Purchases {
        buyer: key.to_hex(),
        purchases,
    }))
}

#[derive(Serialize)]
struct EventHex {
    id: String,
    event_hex: String,
}

async fn get_event(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<EventHex>> {
    let id = parse_id(id, "id")?;
    match state.wait(state.node.event(id)).await?? {
        Some(bytes) => Ok(Json(EventHex {
            id: id.to_hex(),
            event_hex: hex::encode(bytes),
        })),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListingParams {
    text: Option<String>,
    company: Option<String>,
    domain: Option<String>,
    title: Option<String>,
    city: Option<String>,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct Listings {
    listings: Vec<carnet_api::ListingView>,
}

async fn search_listings(
    State(state): State<AppState>,
    params: Result<Query<ListingParams>, QueryRejection>,
) -> ApiResult<Json<Listings>> {
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let query = SearchQuery {
        text: nonempty(p.text),
        company: nonempty(p.company),
        domain: nonempty(p.domain),
        title: nonempty(p.title),
        city: nonempty(p.city),
        limit: Some(
            p.limit
                .unwrap_or(DEFAULT_SEARCH_LIMIT)
                .clamp(1, MAX_SEARCH_LIMIT),
        ),
    };
    let listings = state.wait(state.node.search(query)).await??;
    Ok(Json(Listings { listings }))
}

async fn balance(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::BalanceView>> {
    let key = parse_key(key)?;
    state
        .wait(state.node.balance(key))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no account {key}")))
}

#[derive(Serialize)]
struct History {
    account: String,
    movements: Vec<carnet_api::MovementView>,
}

async fn history(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<History>> {
    let key = parse_key(key)?;
    let movements = state.wait(state.node.history(key)).await??;
    Ok(Json(History {
        account: key.to_hex(),
        movements,
    }))
}

async fn chain_head(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::ChainHeadView>> {
    let key = parse_key(key)?;
    Ok(Json(state.wait(state.node.chain_head(key)).await??))
}

async fn delivery(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::DeliveryView>> {
    let id = parse_id(id, "purchase_id")?;
    state
        .wait(state.node.delivery(id))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no delivery for purchase {id}")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvidenceBody {
    message_hex: String,
}

#[derive(Serialize)]
struct EvidenceStored {
    evidence: String,
}

/// Admin only: anyone who can reach the API could otherwise fill the disk with
/// arbitrary bytes. Members hand in bounce messages through `POST /v1/vouchers`,
/// which first checks them against a delivered purchase of theirs.
async fn post_evidence(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EvidenceBody>,
) -> ApiResult<Json<EvidenceStored>> {
    let raw = hex::decode(body.message_hex.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("message_hex: {e}"),
        )
    })?;
    if raw.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            "message_hex is empty",
        ));
    }
    if raw.len() > MAX_EVIDENCE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
            format!(
                "the message is {} bytes, over the limit of {MAX_EVIDENCE_BYTES}",
                raw.len()
            ),
        ));
    }
    let hash = state.wait(state.node.put_evidence(raw)).await???;
    Ok(Json(EvidenceStored {
        evidence: hash.to_hex(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VoucherRequest {
    reporter: String,
    purchase_id: String,
    email: String,
    salt_hex: String,
    message_hex: String,
}

#[derive(Serialize)]
struct VoucherIssued {
    voucher_hex: String,
    evidence: String,
    /// The status the message gives, as RFC 3463 writes it.
    status: String,
    /// `dkim:<domain>` when a DKIM signature of the message verified, else `unsigned`.
    finding: String,
}

/// docs/api.md, `POST /v1/vouchers`: the org node checks a member's bounce message
/// and, when it proves a permanent failure for the card the member bought, signs the
/// voucher its BounceReport must carry.
async fn post_voucher(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VoucherRequest>,
) -> ApiResult<Json<VoucherIssued>> {
    let bad = |field: &str, e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field}: {e}"),
        )
    };
    let reporter = PublicKey::from_hex(body.reporter.trim())
        .ok_or_else(|| bad("reporter", "not 64 hex digits".into()))?;
    let purchase_id = carnet_protocol::Hash32::from_hex(body.purchase_id.trim())
        .ok_or_else(|| bad("purchase_id", "not 64 hex digits".into()))?;
    let salt: [u8; 32] = hex::decode(body.salt_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("salt_hex", "not 64 hex digits".into()))?;
    let raw =
        hex::decode(body.message_hex.trim()).map_err(|e| bad("message_hex", e.to_string()))?;
    if raw.is_empty() || raw.len() > MAX_EVIDENCE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
            format!(
                "the message is {} bytes; it must be 1 to {MAX_EVIDENCE_BYTES}",
                raw.len()
            ),
        ));
    }
    let opening = carnet_protocol::payload::Opening {
        value: body.email.clone(),
        salt,
    };
    state
        .wait(
            state
                .node
                .vouch_precheck(reporter, purchase_id, opening.clone()),
        )
        .await??
        .map_err(vouch_error)?;
    let Some(dkim) = state.dkim.as_ref() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dkim_unavailable",
            "this node has no DNS resolver for DKIM keys; try again later",
        ));
    };
    use carnet_mail::dkim::{check_bounce, BounceCheckError, Finding};
    let (status, finding) = check_bounce(&raw, &body.email, dkim)
        .await
        .map_err(|e| match e {
            BounceCheckError::DkimUnavailable { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "dkim_unavailable",
                e.to_string(),
            ),
            e => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bounce_refused",
                e.to_string(),
            ),
        })?;
    let req = crate::vouch::VouchRequest {
        reporter,
        purchase_id,
        opening,
        status,
        message: raw,
    };
    let vouched = state
        .wait(state.node.vouch(req))
        .await??
        .map_err(vouch_error)?;
    Ok(Json(VoucherIssued {
        voucher_hex: hex::encode(vouched.voucher.0),
        evidence: vouched.evidence.to_hex(),
        status: format!("{}.{}.{}", status.class, status.subject, status.detail),
        finding: match finding {
            Finding::Verified { domain } => format!("dkim:{domain}"),
            Finding::Unsigned => "unsigned".into(),
        },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MobileVoucherRequest {
    reporter: String,
    purchase_id: String,
    phone: String,
    salt_hex: String,
}

#[derive(Serialize)]
struct MobileVoucherIssued {
    voucher_hex: String,
}

/// docs/api.md, `POST /v1/mobile-vouchers`: the org node checks that the number a
/// member shows opens the phone commitment of a card it bought and is a mobile, and
/// signs the voucher its MobileReport must carry; the number stays off the log.
async fn post_mobile_voucher(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MobileVoucherRequest>,
) -> ApiResult<Json<MobileVoucherIssued>> {
    let reporter = parse_member(&body.reporter)?;
    let purchase_id = carnet_protocol::Hash32::from_hex(body.purchase_id.trim())
        .ok_or_else(|| ApiError::bad_hex("purchase_id"))?;
    let salt: [u8; 32] = hex::decode(body.salt_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_hex("salt_hex"))?;
    if body.phone.len() > carnet_protocol::limits::MAX_PHONE_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
            "the number is longer than a direct line can be",
        ));
    }
    let opening = carnet_protocol::payload::Opening {
        value: body.phone,
        salt,
    };
    let voucher = state
        .wait(state.node.vouch_mobile(reporter, purchase_id, opening))
        .await??
        .map_err(vouch_error)?;
    Ok(Json(MobileVoucherIssued {
        voucher_hex: hex::encode(voucher.0),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupKeyBody {
    member: String,
    email: String,
    at_ms: u64,
    signature_hex: String,
    /// The network the member signed for; this node's when left out.
    #[serde(default)]
    network: Option<String>,
}

#[derive(Serialize)]
struct DedupKeyIssued {
    dedup_key: String,
}

/// A member asks for the dedup key of an email to sign into its listing; the request
/// is signed by the member key (docs/protocol.md, "Dedup-key requests").
async fn post_dedup_key(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DedupKeyBody>,
) -> ApiResult<Json<DedupKeyIssued>> {
    let member = parse_member(&body.member)?;
    let signature: [u8; 64] = hex::decode(body.signature_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_hex("signature_hex"))?;
    if body.email.len() > carnet_protocol::limits::MAX_EMAIL_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "the email is longer than an email can be",
        ));
    }
    // Zero stands for this node's network (see `Command::DedupKey`): a request
    // signed for another one is refused as such by the engine, with no round trip.
    let network = match body.network.as_deref() {
        None => Hash32::ZERO,
        Some(hex) => Hash32::from_hex(hex.trim()).ok_or_else(|| ApiError::bad_hex("network"))?,
    };
    let request = carnet_protocol::dedup::DedupRequest {
        network,
        member,
        email: body.email,
        at_ms: body.at_ms,
    };
    let key = state
        .wait(state.node.dedup_key(request, signature))
        .await??
        .map_err(dedup_error)?;
    Ok(Json(DedupKeyIssued {
        dedup_key: key.to_hex(),
    }))
}

fn dedup_error(e: crate::dedup::DedupError) -> ApiError {
    use crate::dedup::DedupError as E;
    let status = match &e {
        E::BadSignature => StatusCode::UNAUTHORIZED,
        E::NotMember(_) => StatusCode::FORBIDDEN,
        E::OtherNetwork | E::Stale { .. } | E::Email(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::NoSecret => StatusCode::SERVICE_UNAVAILABLE,
        E::Duplicate | E::OptedOut => StatusCode::CONFLICT,
        E::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
    };
    ApiError::new(status, e.code(), e.to_string())
}

fn vouch_error(e: crate::vouch::VouchError) -> ApiError {
    use crate::vouch::VouchError as E;
    let status = match &e {
        E::UnknownPurchase(_) => StatusCode::NOT_FOUND,
        E::NotOurMember | E::NotBuyer(_) => StatusCode::FORBIDDEN,
        E::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        E::NotDelivered(_) | E::OpeningMismatch | E::NoPhone => StatusCode::CONFLICT,
        E::NotMobile(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::TooManyMessages(_) => StatusCode::TOO_MANY_REQUESTS,
    };
    ApiError::new(status, e.code(), e.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    include_message: bool,
    #[serde(default)]
    include_opening: bool,
}

/// A bundle with personal data in it (the bounce message, the opening) is the org's
/// explicit export: it needs the admin token. Without them, anyone may fetch it.
async fn audit_bundle(
    admin: Result<Admin, ApiError>,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Json<carnet_protocol::ledger::audit::Bundle>> {
    let id = parse_id(id, "event_id")?;
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    if p.include_message || p.include_opening {
        admin?;
    }
    let bundle = state
        .wait(
            state
                .node
                .audit_bundle(id, p.include_message, p.include_opening),
        )
        .await???;
    Ok(Json(bundle))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointParams {
    bound: Option<u64>,
    since: Option<u64>,
}

async fn audit_checkpoint(
    State(state): State<AppState>,
    params: Result<Query<CheckpointParams>, QueryRejection>,
) -> ApiResult<Json<carnet_protocol::ledger::audit::CheckpointFile>> {
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    let file = state
        .wait(state.node.audit_checkpoint(p.bound, p.since))
        .await???;
    Ok(Json(file))
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

// ---------------------------------------------------------------------------------
// Admin handlers: each builds one org-signed payload.

fn parse_member(hex: &str) -> ApiResult<PublicKey> {
    let key = PublicKey::from_hex(hex.trim()).ok_or_else(|| ApiError::bad_hex("member"))?;
    if key.verifying_key().is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_key",
            "member is not an Ed25519 public key",
        ));
    }
    Ok(key)
}

async fn submit_as_org(state: &AppState, payload: Payload) -> ApiResult<Json<Submitted>> {
    payload
        .check()
        .map_err(|e| ApiError::from(IngestError::Invalid(format!("{}: {e}", payload.kind()))))?;
    Ok(Json(state.wait(state.node.submit_as_org(payload)).await??))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrollBody {
    member: String,
    handle: String,
}

async fn admin_enroll(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EnrollBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Enroll(Enroll {
        member: parse_member(&body.member)?,
        handle: body.handle,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    member: String,
    points: u64,
    #[serde(default)]
    memo: String,
}

async fn admin_grant(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<GrantBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Grant(Grant {
        member: parse_member(&body.member)?,
        points: body.points,
        memo: body.memo,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    member: String,
    #[serde(default)]
    reason: String,
}

async fn admin_revoke(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Revoke(Revoke {
        member: parse_member(&body.member)?,
        reason: body.reason,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptOutBody {
    /// The person's email: the node computes its dedup key with the network secret.
    #[serde(default)]
    email: Option<String>,
    /// Or the dedup key itself, as the listing shows it.
    #[serde(default)]
    dedup_key: Option<String>,
}

async fn admin_optout(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OptOutBody>,
) -> ApiResult<Json<Submitted>> {
    let dedup_key = match (body.email, body.dedup_key) {
        (Some(email), None) => state
            .wait(state.node.org_dedup_key(email))
            .await??
            .map_err(dedup_error)?,
        (None, Some(key)) => {
            Hash32::from_hex(key.trim()).ok_or_else(|| ApiError::bad_hex("dedup_key"))?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "give exactly one of email and dedup_key",
            ))
        }
    };
    submit_as_org(&state, Payload::OptOut(OptOut { dedup_key })).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DisputeBody {
    report_id: String,
    finding: String,
}

/// This org's finding against a bounce report on one of its members' cards, within
/// the bounce window (docs/protocol.md, "Applying an event", Dispute).
async fn admin_dispute(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DisputeBody>,
) -> ApiResult<Json<Submitted>> {
    let report_id =
        Hash32::from_hex(body.report_id.trim()).ok_or_else(|| ApiError::bad_hex("report_id"))?;
    let payload = Payload::Dispute(carnet_protocol::payload::Dispute {
        report_id,
        finding: body.finding,
    });
    payload
        .check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string()))?;
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdmitBody {
    org: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvictBody {
    org: String,
    #[serde(default)]
    reason: String,
}

/// This org's vote to evict another org; a quorum of the other orgs evicts it.
async fn admin_evict(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EvictBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Evict(Evict {
        org: parse_member(&body.org)?,
        reason: body.reason,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    org: String,
    to: String,
}

/// This org's vote to replace org key `org` (its own or another org's) by `to`.
async fn admin_rotate(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RotateBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Rotate(Rotate {
        org: parse_member(&body.org)?,
        to: parse_member(&body.to)?,
    });
    submit_as_org(&state, payload).await
}

/// This org's vote to admit another org; a quorum of votes admits it.
async fn admin_admit(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AdmitBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Admit(Admit {
        org: parse_member(&body.org)?,
        name: body.name,
    });
    submit_as_org(&state, payload).await
}
