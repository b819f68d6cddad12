//! The pages the node serves at `/` (docs/web.md): so far sign-in, the member's
//! dashboard and sign-out. Every page is HTML the server renders with maud (which
//! escapes every value), usable without JavaScript; every state-changing request is
//! a POST with the session's CSRF token and, when the browser sends one, an `Origin`
//! of this node.

use super::session::{SessionId, Sessions, SignInLimiter, Who};
use crate::handle::NodeHandle;
use axum::extract::{Form, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN,
    SET_COOKIE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use carnet_api::sealed_key::{open, SealedKey};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;
use std::sync::{Arc, Mutex};

/// Largest form body read: a handle and a password, with room to spare.
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// The cookie that names a session.
pub const COOKIE_NAME: &str = "carnet_session";
const CSS: &str = include_str!("app.css");
/// Nothing from another origin, no framing, no inline script.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

#[derive(Clone)]
pub struct WebState {
    pub(super) node: NodeHandle,
    /// BLAKE3 of the admin token, for the operator's sign-in; None disables it.
    pub(super) admin_token: Option<blake3::Hash>,
    /// DKIM key lookups for the bounce reports' vouchers (as the API's).
    pub(super) dkim: Option<carnet_mail::dkim::DkimVerifier>,
    /// The node's metrics, for the operator's page.
    pub(super) metrics: Arc<crate::api::Metrics>,
    sessions: Arc<Mutex<Sessions>>,
    limiter: Arc<Mutex<SignInLimiter>>,
    /// The web imports, running and finished.
    pub(super) imports: super::import::SharedJobs,
    /// The node's network id, asked of the node once: a status call computes the
    /// state root, too dear to repeat for each card a member contributes or opens.
    network: Arc<std::sync::OnceLock<carnet_protocol::NetworkId>>,
}

impl WebState {
    pub fn new(
        node: NodeHandle,
        admin_token: Option<blake3::Hash>,
        dkim: Option<carnet_mail::dkim::DkimVerifier>,
        metrics: Arc<crate::api::Metrics>,
    ) -> Self {
        WebState {
            node,
            admin_token,
            dkim,
            metrics,
            sessions: Arc::default(),
            limiter: Arc::default(),
            imports: Arc::default(),
            network: Arc::default(),
        }
    }

    /// The node's network id (what a member's signed requests name), or None while
    /// the node does not answer.
    pub(super) async fn network(&self) -> Option<carnet_protocol::NetworkId> {
        if let Some(n) = self.network.get() {
            return Some(*n);
        }
        let status = self.node.status().await.ok()?;
        let n = carnet_protocol::Hash32::from_hex(&status.network)?;
        Some(*self.network.get_or_init(|| n))
    }

    /// The sessions, shared with the API (a new password ends a member's sessions).
    pub fn shared_sessions(&self) -> Arc<Mutex<Sessions>> {
        self.sessions.clone()
    }

    /// The sessions, locked. A panic elsewhere while holding the lock leaves them
    /// consistent (every change is one map operation), so a poisoned lock is used.
    pub(super) fn sessions(&self) -> std::sync::MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The sign-in limiter, locked (as [`WebState::sessions`]).
    pub(super) fn limiter(&self) -> std::sync::MutexGuard<'_, SignInLimiter> {
        self.limiter.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The web app's routes, for the node's HTTP server to merge beside the API.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/sign-in", post(sign_in))
        .route("/sign-out", post(sign_out))
        .merge(super::search::routes())
        .merge(super::operator::routes())
        .merge(super::cards::routes())
        .merge(super::contribute::routes())
        .merge(super::accounts::routes())
        .merge(super::import::routes())
        .route("/assets/app.css", get(css))
        // Every form is small; the two uploads (a bounce message, an import file) set
        // their own, larger limit on their route, which applies after this one.
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(state)
}

/// The member signed in on a request, with the key their password opened.
pub(super) struct Member {
    pub key: carnet_protocol::SecretKey,
    pub csrf: String,
}

/// The member signed in on this request, or the sign-in page to answer with.
pub(super) fn member(state: &WebState, headers: &HeaderMap) -> Result<Member, Response> {
    match signed_in(state, headers) {
        Some((Who::Member { key, .. }, csrf)) => Ok(Member { key: *key, csrf }),
        Some((Who::Operator, _)) => Err(refused(
            "This page is for members: you are signed in as the operator.",
        )),
        None => Err(sign_in_page(None)),
    }
}

/// [`member`] for a state-changing request: it must also come from this node's own
/// page (`Origin`) and carry the session's CSRF token.
pub(super) fn member_post(
    state: &WebState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<Member, Response> {
    let m = member(state, headers)?;
    check_post(state, headers, csrf)?;
    Ok(m)
}

/// Refuses a POST that is not from this node's own page or lacks the session's
/// CSRF token.
pub(super) fn check_post(
    state: &WebState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(), Response> {
    let ok = same_origin(headers)
        && session_id(headers)
            .is_some_and(|id| state.sessions().check_csrf(&id, csrf, carnet_api::now_ms()));
    if ok {
        Ok(())
    } else {
        Err(refused(
            "This request did not come from your session's own page: nothing was done.",
        ))
    }
}

/// A 403 page saying why.
pub(super) fn refused(why: &str) -> Response {
    with_status(
        page(
            "Refused",
            html! { h1 { "Refused" } p.error role="alert" { (why) } },
        ),
        StatusCode::FORBIDDEN,
    )
}

/// A ledger reason as people read it: `BouncePenalty` as "Bounce penalty".
pub(super) fn reason_label(reason: &str) -> String {
    let mut out = String::new();
    for (i, c) in reason.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A page saying what went wrong, with the status the refusal deserves.
pub(super) fn failed(
    title: &str,
    status: StatusCode,
    why: &str,
    back: Option<(&str, &str)>,
) -> Response {
    with_status(
        page(
            title,
            html! {
                h1 { (title) }
                p.error role="alert" { (why) }
                @if let Some((href, label)) = back { p { a href=(href) { (label) } } }
            },
        ),
        status,
    )
}

/// 303 to `to`: a POST answered with the page to see next.
pub(super) fn redirect(to: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(LOCATION, v);
    }
    r
}

/// Which links a page's header carries: a member's pages, the operator's, or none
/// (the sign-in pages).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Nav {
    Member,
    Operator,
    None,
}

/// A member's page (the header links to the member's pages).
pub(super) fn page(title: &str, body: Markup) -> Response {
    page_with(title, Nav::Member, body)
}

pub(super) fn page_with(title: &str, nav: Nav, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Carnet" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                header {
                p.brand { "Carnet" }
                @match nav {
                    Nav::Member => nav aria-label="Main" {
                        a href="/" { "Dashboard" } " "
                        a href="/search" { "Search" } " "
                        a href="/contribute" { "Contribute" } " "
                        a href="/import" { "Import" } " "
                        a href="/cards" { "Your cards" }
                    },
                    Nav::Operator => nav aria-label="Main" {
                        a href="/" { "Operator" } " "
                        a href="/search" { "Search" }
                    },
                    Nav::None => {},
                }
            }
                main { (body) }
            }
        }
    };
    let mut r = (StatusCode::OK, markup.into_string()).into_response();
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

pub(super) fn with_status(mut r: Response, status: StatusCode) -> Response {
    *r.status_mut() = status;
    r
}

async fn css() -> Response {
    let mut r = CSS.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    r
}

/// The session the request's cookie names, if live.
pub(super) fn session_id(headers: &HeaderMap) -> Option<SessionId> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| SessionId(v.to_owned()))
}

/// Whether a password may be sent on this request: to a loopback name (the node's
/// machine), or through a proxy that says the browser used HTTPS. A password typed to
/// a plain-HTTP address elsewhere would cross the network in clear (docs/web.md,
/// "Transport"); a client that lies in `X-Forwarded-Proto` only exposes itself.
pub(super) fn safe_for_passwords(headers: &HeaderMap) -> bool {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let loopback = name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let https = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    loopback || https
}

/// Whether the request comes from one of this node's own pages: no `Origin` (a browser
/// that sends none is not a cross-site form post under SameSite=Strict), or one whose
/// host is the request's `Host`.
pub(super) fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|o| o.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

pub(super) fn sign_in_page(error: Option<&str>) -> Response {
    page_with(
        "Sign in",
        Nav::None,
        html! {
            h1 { "Sign in" }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form method="post" action="/sign-in" {
                label for="handle" { "Handle" }
                input #handle name="handle" autocomplete="username" required autofocus;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.hint {
                "No password yet? Set one where your key file is: "
                code { "carnet web password" }
            }
        },
    )
}

async fn home(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let who = signed_in(&state, &headers);
    let Some((who, csrf)) = who else {
        return sign_in_page(None);
    };
    match who {
        Who::Member { key, handle } => {
            let member = key.public();
            // A member revoked or excluded since signing in is signed out.
            let balance = state.node.balance(member).await.ok().flatten();
            if balance.as_ref().is_some_and(|b| b.status != "Active") {
                state.sessions().end_member(&member);
                return sign_in_page(Some("Your membership is no longer active."));
            }
            dashboard(&state, &handle, member, balance, &csrf).await
        }
        Who::Operator => super::operator::operator(&state, &csrf).await,
    }
}

async fn dashboard(
    state: &WebState,
    handle: &str,
    member: carnet_protocol::PublicKey,
    balance: Option<carnet_api::BalanceView>,
    csrf: &str,
) -> Response {
    // A store that cannot be read says so, rather than show no movements.
    let (history, unreadable) = match state.node.history(member).await {
        Ok(Ok(h)) => (h, false),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not read a member's movements");
            (Vec::new(), true)
        }
        Err(_) => (Vec::new(), false),
    };
    page(
        "Dashboard",
        html! {
            h1 { "Hello, " (handle) }
            @match &balance {
                Some(b) => {
                    dl.balance {
                        dt { "Points" } dd #balance { (b.balance) }
                        dt { "Pending" } dd #pending { (b.pending) }
                        dt { "In escrow" } dd { (b.escrow) }
                        dt { "Status" } dd { (b.status) }
                    }
                    p.hint { "Points are vested and yours to spend. Pending points vest once the card's first sale has gone a bounce window without a report." }
                    @if let Some(p) = &b.play {
                        h2 { "Pay or play, this month" }
                        p #play {
                            @if p.plays { "You can buy: " } @else { strong { "You cannot buy yet: " } }
                            (p.contributions) " of " (p.needed) " contributions held in the window"
                            @if p.granted { ", and your org granted you points in it" } @else { ", no grant from your org in it" }
                            "."
                        }
                        @if !p.plays {
                            p.hint { "Contribute " (p.needed - p.contributions.min(p.needed)) " more cards, or ask your org for a grant (its subscription)." }
                        }
                    }
                }
                None => { p { "Your account is not on this node's ledger yet." } }
            }
            h2 { "Recent movements" }
            @if unreadable {
                p.error { "Your movements could not be read from this node's store; try again later." }
            } @else if history.is_empty() {
                p { "No point movements yet: contribute cards to earn points." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Points" } th scope="col" { "Reason" } th scope="col" { "Event" } } }
                    tbody {
                        @for m in history.iter().rev().take(20) {
                            tr {
                                td { @if m.delta > 0 { "+" } (m.delta) }
                                td { (reason_label(&m.reason)) }
                                td { code { (m.event.get(..12).unwrap_or(&m.event)) } }
                            }
                        }
                    }
                }
            }
            h2 { "Referral" }
            p.hint { "Your member key, for a colleague you refer to name: " code #member-key { (member.to_hex()) } }
            form method="post" action="/referral" {
                input type="hidden" name="csrf" value=(csrf);
                label for="referrer" { "Who referred you? Their member key (before your first contribution)" }
                input #referrer name="referrer" required pattern="[0-9a-fA-F]{64}" autocomplete="off";
                button type="submit" { "Name my referrer" }
            }
            p { a href="/password" { "Change your password" } }
            form method="post" action="/sign-out" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}

/// A new session for `who`, as a cookie, and a redirect to the dashboard.
pub(super) fn start_session(state: &WebState, who: Who, now: u64) -> Response {
    let Ok(random) = carnet_api::os::random::<64>() else {
        return with_status(
            sign_in_page(Some("The node has no randomness: try again.")),
            StatusCode::SERVICE_UNAVAILABLE,
        );
    };
    let (id, _) = state.sessions().start(who, now, random);
    let cookie = format!("{COOKIE_NAME}={}; HttpOnly; SameSite=Strict; Path=/", id.0);
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/"));
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(SET_COOKIE, v);
    }
    r
}

/// A network time in ms as a date (UTC).
pub(super) fn date(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// Who is signed in on this request, and their session's CSRF token, if any.
pub(super) fn signed_in(state: &WebState, headers: &HeaderMap) -> Option<(Who, String)> {
    let id = session_id(headers)?;
    state
        .sessions()
        .touch(&id, carnet_api::now_ms())
        .map(|s| (s.who.clone(), s.csrf.clone()))
}

#[derive(Deserialize)]
struct SignInForm {
    handle: String,
    password: String,
}

/// A record to spend the same Argon2id work on when the handle has no key here, so
/// the answer's timing does not tell which handles exist.
fn decoy() -> SealedKey {
    SealedKey {
        version: carnet_api::sealed_key::SEALED_KEY_VERSION,
        member: carnet_protocol::SecretKey::from_seed([0; 32])
            .public()
            .to_hex(),
        m_cost_kib: carnet_api::sealed_key::DEFAULT_M_COST_KIB,
        t_cost: carnet_api::sealed_key::DEFAULT_T_COST,
        p_cost: carnet_api::sealed_key::DEFAULT_P_COST,
        salt_hex: "00".repeat(16),
        nonce_hex: "00".repeat(24),
        sealed_hex: "00".repeat(48),
    }
}

async fn sign_in(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Response {
    if !same_origin(&headers) {
        return with_status(
            sign_in_page(Some("This form must be sent from this node's own page.")),
            StatusCode::FORBIDDEN,
        );
    }
    if !safe_for_passwords(&headers) {
        return with_status(
            sign_in_page(Some("This address is plain HTTP on the network: your password would travel in clear. Ask your operator for the HTTPS address.")),
            StatusCode::FORBIDDEN,
        );
    }
    let now = carnet_api::now_ms();
    let handle = form.handle.trim().to_owned();
    {
        let limiter = state.limiter();
        if let Some(wait) = limiter.wait_ms(&handle, now) {
            let msg = format!(
                "Too many failed sign-ins: try again in {} s.",
                wait.div_ceil(1000)
            );
            return with_status(sign_in_page(Some(&msg)), StatusCode::TOO_MANY_REQUESTS);
        }
    }
    let record = match state.node.members().await {
        Ok(members) => match members
            .iter()
            .find(|m| m.handle == handle && m.status == "Active")
        {
            Some(m) => match carnet_protocol::PublicKey::from_hex(&m.member) {
                Some(pk) => state.node.sealed_key(pk).await.ok().flatten(),
                None => None,
            },
            None => None,
        },
        Err(_) => None,
    };
    let known = record.is_some();
    let record = record.map(|r| r.record).unwrap_or_else(decoy);
    let password = form.password;
    // Argon2id takes a tenth of a second of CPU: off the async workers.
    let opened = tokio::task::spawn_blocking(move || open(&record, &password)).await;
    let key = match opened {
        Ok(Ok(key)) if known => key,
        _ => {
            state.limiter().failed(&handle, now);
            return with_status(
                sign_in_page(Some("Wrong handle or password.")),
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    state.limiter().succeeded(&handle);
    start_session(
        &state,
        Who::Member {
            key: Box::new(key),
            handle,
        },
        now,
    )
}

#[derive(Deserialize)]
pub(super) struct CsrfForm {
    pub csrf: String,
}

async fn sign_out(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let now = carnet_api::now_ms();
    let Some(id) = session_id(&headers) else {
        return sign_in_page(None);
    };
    let mut sessions = state.sessions();
    if !same_origin(&headers) || !sessions.check_csrf(&id, &form.csrf, now) {
        drop(sessions);
        return refused("This request did not come from your session's own page.");
    }
    sessions.end(&id);
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static("/"));
    r.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("carnet_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn passwords_go_only_to_loopback_or_over_https() {
        for host in [
            "127.0.0.1:4711",
            "localhost:4711",
            "[::1]:4711",
            "localhost",
        ] {
            assert!(safe_for_passwords(&headers(&[("host", host)])), "{host}");
        }
        assert!(!safe_for_passwords(&headers(&[(
            "host",
            "carnet.acme.internal:4711"
        )])));
        assert!(!safe_for_passwords(&headers(&[("host", "10.0.0.5:4711")])));
        assert!(safe_for_passwords(&headers(&[
            ("host", "carnet.acme.internal"),
            ("x-forwarded-proto", "https")
        ])));
    }

    #[test]
    fn only_this_nodes_pages_may_post() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:4711")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:4711"),
            ("origin", "http://127.0.0.1:4711")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:4711"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:4711"),
            ("origin", "null")
        ])));
    }
}
