//! The operator's pages (docs/web.md, "Operators"): sign-in with the admin token, the
//! node, the orgs, peers and members, and the grants the org makes within its cap.

use super::pages::{
    check_post, failed, page_with, redirect, safe_for_passwords, same_origin, signed_in,
    start_session, with_status, Nav, WebState,
};
use super::session::Who;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route(
            "/operator",
            get(operator_sign_in_page).post(operator_sign_in),
        )
        .route("/operator/grant", post(grant))
        .route("/operator/revoke", post(revoke))
}

fn operator_form(error: Option<&str>) -> Response {
    page_with(
        "Operator sign-in",
        Nav::None,
        html! {
            h1 { "Operator sign-in" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/operator" {
                label for="token" { "Admin token" }
                input #token name="token" type="password" autocomplete="off" required;
                button type="submit" { "Sign in" }
            }
            p.hint { "Print it on the node's machine with " code { "carnet node admin-token" } ". It is checked once; the browser keeps only a session." }
        },
    )
}

async fn operator_sign_in_page() -> Response {
    operator_form(None)
}

#[derive(Deserialize)]
struct TokenForm {
    token: String,
}

/// The operator signs in with the admin token; the browser gets an operator session,
/// never the token back (docs/web.md, "Operators").
async fn operator_sign_in(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if !same_origin(&headers) || !safe_for_passwords(&headers) {
        return with_status(
            operator_form(Some(
                "Refused: sign in from this node's own page, over HTTPS or on the node's machine.",
            )),
            StatusCode::FORBIDDEN,
        );
    }
    const WHO: &str = "operator";
    let now = carnet_api::now_ms();
    let wait = state.limiter().wait_ms(WHO, now);
    if let Some(wait) = wait {
        let msg = format!(
            "Too many failed sign-ins: try again in {} s.",
            wait.div_ceil(1000)
        );
        return with_status(operator_form(Some(&msg)), StatusCode::TOO_MANY_REQUESTS);
    }
    // blake3::Hash compares in constant time.
    let ok = state
        .admin_token
        .is_some_and(|t| t == blake3::hash(form.token.trim().as_bytes()));
    if !ok {
        state.limiter().failed(WHO, now);
        return with_status(
            operator_form(Some("Wrong admin token.")),
            StatusCode::UNAUTHORIZED,
        );
    }
    state.limiter().succeeded(WHO);
    start_session(&state, Who::Operator, now)
}

/// The operator's view: the node, the network's orgs, peers and this org's members,
/// each with an honest empty state.
pub(super) async fn operator(state: &WebState, csrf: &str) -> Response {
    let status = state.node.status().await.ok();
    let orgs = state.node.orgs().await.ok();
    let peers = state.node.peers().await.unwrap_or_default();
    let members = state.node.members().await.unwrap_or_default();
    // The chart is left out while the store cannot be read: the storage line above
    // it says why.
    let settled = state
        .node
        .settlement(SETTLEMENT_POINTS)
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    page_with(
        "Operator",
        Nav::Operator,
        html! {
            h1 { "Operator" }
            h2 { "This node" }
            @match &status {
                Some(s) => dl.balance {
                    dt { "Events" } dd #events { (s.events) }
                    dt { "Settled" } dd #settled { @match s.finalized_bound { Some(b) => { "up to clock " (b) } None => { "nothing yet" } } }
                    dt { "Storage" } dd { @match &s.storage_error { Some(e) => { "refusing writes: " (e) } None => { "healthy" } } }
                    dt { "Network secret" } dd { @if s.network_secret { "held" } @else { "not yet: contributions wait for a peer" } }
                },
                None => p.error { "The node did not answer." },
            }
            h2 { "Activity" }
            @let m = state.metrics.summary();
            dl #metrics {
                dt { "Events ingested since start" } dd { (m.events_ingested) }
                dt { "Events waiting for their past" } dd { (m.events_pending) }
                dt { "Peers connected" } dd { (m.peers_connected) " (" (m.peers_admitted) " proven to serve an org)" }
                dt { "Peers banned since start" } dd { (m.peers_banned) }
                dt { "Gossip messages received" } dd { (m.gossip_messages) }
            }
            p.hint { "All counters: " a href="/metrics" { "/metrics" } " (Prometheus)." }
            h2 { "Settlement" }
            (settlement_chart(&settled))
            h2 { "Orgs" }
            @match &orgs {
                Some(o) => table {
                    thead { tr { th scope="col" { "Org" } th scope="col" { "Key" } } }
                    tbody { @for org in &o.orgs { tr { td { (org.name) } td { code { (org.key.get(..12).unwrap_or(&org.key)) } } } } }
                },
                None => p.error { "The node did not answer." },
            }
            h2 { "Peers" }
            @if peers.is_empty() { p { "No peer connected." } } @else {
                table {
                    thead { tr { th scope="col" { "Org" } th scope="col" { "Peer" } } }
                    tbody {
                        @for p in &peers {
                            tr {
                                td { (org_name(orgs.as_ref(), p.org.as_deref())) }
                                td { code { (p.peer_id) } }
                            }
                        }
                    }
                }
            }
            h2 { "Members" }
            @if members.is_empty() { p { "No member enrolled yet: " code { "carnet member new NAME" } } } @else {
                // Six columns do not fit a phone: the table scrolls within the page.
                div.scroll {
                table {
                    thead { tr { th scope="col" { "Handle" } th scope="col" { "Status" } th scope="col" { "Points" } th scope="col" { "Pending" } th scope="col" { "Cards" } th scope="col" { "Action" } } }
                    tbody {
                        @for m in &members {
                            tr {
                                td { (m.handle) } td { (m.status) } td { (m.balance) } td { (m.pending) } td { (m.contributions) }
                                td {
                                    @if m.status == "Active" {
                                        form.inline method="post" action="/operator/revoke" {
                                            input type="hidden" name="csrf" value=(csrf);
                                            input type="hidden" name="member" value=(m.member);
                                            button type="submit" aria-label={ "Revoke " (m.handle) } { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                }
                h2 { "Grant points" }
                p.hint { "Points the org gives a member, within the cap the network's rules set per org and month. The grant is signed with the org key and gossiped." }
                form method="post" action="/operator/grant" {
                    input type="hidden" name="csrf" value=(csrf);
                    label for="grant-member" { "Member" }
                    select #grant-member name="member" required {
                        @for m in members.iter().filter(|m| m.status == "Active") { option value=(m.member) { (m.handle) } }
                    }
                    label for="grant-points" { "Points" }
                    input #grant-points name="points" type="number" min="1" required inputmode="numeric";
                    label for="grant-memo" { "Memo (optional)" }
                    input #grant-memo name="memo" maxlength="256";
                    button type="submit" { "Grant" }
                }
            }
            h2 { "Enroll a member" }
            p.hint { "For a member who will use the web app only: the node makes their key and keeps it sealed under the first password you choose here. Members who want a key file of their own are enrolled with " code { "carnet member new NAME" } " on this machine instead." }
            form method="post" action="/operator/enroll" {
                input type="hidden" name="csrf" value=(csrf);
                label for="enroll-handle" { "Handle" }
                input #enroll-handle name="handle" required maxlength="64" autocomplete="off";
                label for="enroll-password" { "First password (give it to them; they change it)" }
                input #enroll-password name="password" type="password" required minlength="10" autocomplete="new-password";
                button type="submit" { "Enroll" }
            }
            form method="post" action="/sign-out" {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { "Sign out" }
            }
        },
    )
}

#[derive(Deserialize)]
struct GrantForm {
    csrf: String,
    member: String,
    points: String,
    #[serde(default)]
    memo: String,
}

/// The operator grants points to a member: a Grant signed with the org key, as
/// `carnet member grant` makes it. The ledger voids a grant over the cap; the page
/// says so rather than pretending it counted.
async fn grant(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<GrantForm>,
) -> Response {
    let back = Some(("/", "Back to the operator's page"));
    if let Err(r) = operator_post(&state, &headers, &form.csrf) {
        return r;
    }
    let Some(member) = carnet_protocol::PublicKey::from_hex(form.member.trim()) else {
        return failed(
            "Grant refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a member from the list.",
            back,
        );
    };
    let points = match form.points.trim().parse::<u64>() {
        Ok(p) if p > 0 => p,
        _ => {
            return failed(
                "Grant refused",
                StatusCode::UNPROCESSABLE_ENTITY,
                "Points must be a whole number above zero.",
                back,
            )
        }
    };
    let payload = carnet_protocol::Payload::Grant(carnet_protocol::payload::Grant {
        member,
        points,
        memo: form.memo.trim().to_owned(),
    });
    as_org(&state, "Grant", payload).await
}

/// The operator's session on a state-changing request, or the page refusing it.
pub(super) fn operator_post(
    state: &WebState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(), Response> {
    match signed_in(state, headers) {
        Some((Who::Operator, _)) => check_post(state, headers, csrf),
        _ => Err(failed(
            "Refused",
            StatusCode::FORBIDDEN,
            "Only the operator does this.",
            None,
        )),
    }
}

/// An org event from the operator's page, and the page after it.
async fn as_org(state: &WebState, what: &str, payload: carnet_protocol::Payload) -> Response {
    let back = Some(("/", "Back to the operator's page"));
    match state.node.submit_as_org(payload).await {
        Ok(carnet_api::Submitted::Ordered { outcome, .. }) if outcome.starts_with("void") => {
            failed(
                &format!("{what} void"),
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The ledger made it void ({outcome}): nothing changed."),
                back,
            )
        }
        Ok(_) => redirect("/"),
        Err(e) => failed(
            &format!("{what} refused"),
            super::cards::ingest_status(&e),
            &e.to_string(),
            back,
        ),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
    member: String,
}

async fn revoke(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Err(r) = operator_post(&state, &headers, &form.csrf) {
        return r;
    }
    let Some(member) = carnet_protocol::PublicKey::from_hex(form.member.trim()) else {
        return failed(
            "Revoke refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "No such member.",
            Some(("/", "Back")),
        );
    };
    let payload = carnet_protocol::Payload::Revoke(carnet_protocol::payload::Revoke {
        member,
        reason: "revoked by the operator (web)".into(),
    });
    as_org(&state, "Revoke", payload).await
}

/// Finalized claims the settlement chart draws (the latest ones).
const SETTLEMENT_POINTS: usize = 200;

/// Events settled over the finalized claims, as an inline SVG line (one point per
/// claim, oldest left), with the last claims in a table; an honest empty state before
/// the first.
fn settlement_chart(points: &[crate::engine::Settled]) -> maud::Markup {
    const W: u64 = 360;
    const H: u64 = 140;
    let Some(last) = points.last() else {
        return html! {
            p #settlement-empty { "Nothing settled yet: a checkpoint is final once a quorum of the network's orgs has signed the same claim. Each org node signs one every checkpoint interval, once it has peers." }
        };
    };
    let first = points[0];
    let span_events = (last.events - first.events.min(last.events)).max(1);
    let n = points.len() as u64;
    let x = |i: u64| {
        if n <= 1 {
            W / 2
        } else {
            30 + i * (W - 40) / (n - 1)
        }
    };
    let y = |events: u64| H - 20 - (events - first.events.min(events)) * (H - 40) / span_events;
    let line: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{},{}", x(i as u64), y(p.events)))
        .collect();
    html! {
        figure.chart #settlement-chart {
            svg role="img" aria-labelledby="settlement-title" viewBox={ "0 0 " (W) " " (H) } width=(W) height=(H) xmlns="http://www.w3.org/2000/svg" {
                title #settlement-title { "Events settled, claim by claim: " (first.events) " at epoch " (first.epoch) " to " (last.events) " at epoch " (last.epoch) }
                line x1="30" y1=(H - 20) x2=(W - 10) y2=(H - 20) stroke="#888" {}
                polyline points=(line.join(" ")) fill="none" stroke="#2f5d8a" stroke-width="2" {}
                @for (i, p) in points.iter().enumerate() { circle cx=(x(i as u64)) cy=(y(p.events)) r="3" fill="#2f5d8a" {} }
                text x="30" y=(H - 4) font-size="11" fill="#222" { (axis_label(first.at_ms, last.at_ms)) }
                text x=(W - 10) y=(H - 4) font-size="11" fill="#222" text-anchor="end" { (axis_label(last.at_ms, first.at_ms)) }
                text x="30" y="12" font-size="11" fill="#222" { (last.events) " events settled" }
            }
            figcaption { "Events settled over the last " (points.len()) " finalized claims" }
            table.figures {
                thead { tr { th scope="col" { "Epoch" } th scope="col" { "Bound (clock)" } th scope="col" { "Events settled" } th scope="col" { "Finalized" } } }
                tbody {
                    @for p in points.iter().rev().take(10) {
                        tr { td { (p.epoch) } td { (p.bound) } td { (p.events) } td { (time_of(p.at_ms)) } }
                    }
                }
            }
        }
    }
}

/// A time in ms as `YYYY-MM-DD HH:MM:SS` UTC.
fn time_of(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map(|t| {
            format!(
                "{} {:02}:{:02}:{:02} UTC",
                t.date(),
                t.hour(),
                t.minute(),
                t.second()
            )
        })
        .unwrap_or_default()
}

/// An end of the time axis: the date, or the time of day when both ends share it.
fn axis_label(ms: u64, other_ms: u64) -> String {
    let (day, other) = (super::pages::date(ms), super::pages::date(other_ms));
    if day == other {
        time_of(ms)
            .split(' ')
            .nth(1)
            .map_or(day, |t| format!("{t} UTC"))
    } else {
        day
    }
}

/// The name of the org whose key is `key` (hex), as the ledger has it; the key's start
/// when the org is unknown, and a plain word when the peer proved no org.
fn org_name(orgs: Option<&carnet_api::OrgsView>, key: Option<&str>) -> String {
    let Some(key) = key else {
        return "(not proven yet)".into();
    };
    orgs.and_then(|o| o.orgs.iter().find(|org| org.key == key))
        .map_or_else(
            || format!("{}…", key.get(..12).unwrap_or(key)),
            |org| org.name.clone(),
        )
}
