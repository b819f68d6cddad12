//! The cards a member bought: the list, one card opened with the member's key, its
//! vCard and CSV downloads, and the bounce and mobile reports against it. The card is
//! opened here, in the node, with the key the member's password opened: it was sealed
//! to a key derived from the member's own, as the CLI derives it.

use super::pages::{failed, member, member_post, page, WebState};
use crate::handle::IngestError;
use axum::extract::{Form, Multipart, Path, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use carnet_api::PurchaseView;
use carnet_protocol::card::Card;
use carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES;
use carnet_protocol::payload::{BounceReport, MobileReport, Payload};
use carnet_protocol::{ContentId, Hash32, SecretKey, SignedEvent};
use maud::html;
use serde::Deserialize;

/// Largest bounce report upload: the message and the form around it.
pub const MAX_REPORT_BODY_BYTES: usize = MAX_EVIDENCE_BYTES + 16 * 1024;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/cards", get(list))
        .route("/card/{id}", get(show))
        .route("/card/{id}/vcard", get(vcard))
        .route("/card/{id}/csv", get(csv))
        .route("/card/{id}/mobile", post(report_mobile))
        .route(
            "/card/{id}/bounce",
            post(report_bounce).layer(axum::extract::DefaultBodyLimit::max(MAX_REPORT_BODY_BYTES)),
        )
}

/// The HTTP status a refused event deserves on a page: the API's.
pub(super) fn ingest_status(e: &IngestError) -> StatusCode {
    crate::api::error::ApiError::from(e.clone()).status
}

/// A bought card, opened and checked against what its contributor signed.
struct Opened {
    purchase: PurchaseView,
    purchase_id: ContentId,
    card: Card,
}

/// Why a bought card cannot be shown, as the page to answer with.
fn not_shown(status: StatusCode, why: &str) -> Response {
    failed(
        "Card not available",
        status,
        why,
        Some(("/cards", "Your cards")),
    )
}

/// Opens the card `key` bought for listing `raw`: the latest purchase, its delivery,
/// the seal, and the commitments of the listing (or of the original contribution).
async fn open_bought(state: &WebState, key: &SecretKey, raw: &str) -> Result<Opened, Response> {
    let id = super::search::listing_id(raw)
        .ok_or_else(|| not_shown(StatusCode::NOT_FOUND, "No such listing."))?;
    let unavailable =
        |e: crate::handle::Closed| not_shown(StatusCode::SERVICE_UNAVAILABLE, &e.to_string());
    let unreadable = |e: crate::store::StoreError| {
        not_shown(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("The node's storage failed: {e}"),
        )
    };
    let purchase = state
        .node
        .purchases(key.public())
        .await
        .map_err(unavailable)?
        .map_err(unreadable)?
        .into_iter()
        .rev()
        .find(|p| p.listing_id == id.to_hex())
        .ok_or_else(|| not_shown(StatusCode::NOT_FOUND, "You have not bought this card."))?;
    let purchase_id = Hash32::from_hex(&purchase.purchase_id).ok_or_else(|| {
        not_shown(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The purchase id is malformed.",
        )
    })?;
    let Some(delivery) = state
        .node
        .delivery(purchase_id)
        .await
        .map_err(unavailable)?
        .map_err(unreadable)?
    else {
        return Err(with_refresh(failed(
            "Waiting for delivery",
            StatusCode::ACCEPTED,
            &format!(
                "Bought (purchase {}, {}). The contributor's org node delivers the card when it is online; this page looks again every few seconds.",
                &purchase.purchase_id[..12],
                purchase.status
            ),
            Some(("/cards", "Your cards")),
        )));
    };
    let recipient = carnet_client::keyfile::recipient_secret(key, &id);
    let card = carnet_client::member::open_delivery(&delivery, recipient, &purchase_id)
        .map_err(|e| not_shown(StatusCode::BAD_GATEWAY, &e.to_string()))?;
    let detail = state
        .node
        .listing(id)
        .await
        .map_err(unavailable)?
        .map_err(unreadable)?
        .ok_or_else(|| {
            not_shown(
                StatusCode::NOT_FOUND,
                "The listing is no longer on this node.",
            )
        })?;
    let current = super::search::listing_of(&detail).ok_or_else(|| {
        not_shown(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The listing is malformed.",
        )
    })?;
    let network = state.network().await;
    let original = match (
        state
            .node
            .event(id)
            .await
            .ok()
            .and_then(Result::ok)
            .flatten(),
        network,
    ) {
        (Some(bytes), Some(network)) => SignedEvent::decode(&bytes, &network).ok(),
        _ => None,
    };
    carnet_client::member::check_delivered(&id, &card, &current, original.as_ref())
        .map_err(|e| not_shown(StatusCode::BAD_GATEWAY, &e.to_string()))?;
    Ok(Opened {
        purchase,
        purchase_id,
        card,
    })
}

/// The member signed in on this request and the card they bought for listing `raw`.
async fn member_card(
    state: &WebState,
    headers: &HeaderMap,
    raw: &str,
) -> Result<(super::pages::Member, Opened), Response> {
    let m = member(state, headers)?;
    let o = open_bought(state, &m.key, raw).await?;
    Ok((m, o))
}

/// Asks the browser to load the page again in a few seconds (no script needed).
fn with_refresh(mut r: Response) -> Response {
    r.headers_mut()
        .insert("refresh", HeaderValue::from_static("3"));
    r
}

/// The member's purchases, newest first.
async fn list(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let m = match member(&state, &headers) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let purchases = match state.node.purchases(m.key.public()).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return not_shown(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("The node's storage failed: {e}"),
            )
        }
        Err(e) => return not_shown(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    page(
        "Your cards",
        html! {
            h1 { "Your cards" }
            @if purchases.is_empty() {
                p { "You have bought no card yet: " a href="/search" { "search" } " for one." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Company" } th scope="col" { "Price" } th scope="col" { "Status" } } }
                    tbody {
                        @for p in purchases.iter().rev() {
                            tr {
                                td { a href={ "/card/" (p.listing_id) } { (p.name) } }
                                td { (p.company) }
                                td { (p.price) }
                                td { (p.status) }
                            }
                        }
                    }
                }
            }
        },
    )
}

/// One bought card, opened, with its downloads and the reports against it.
async fn show(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let (m, o) = match member_card(&state, &headers, &raw).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let c = &o.card;
    let t = &c.teaser;
    page(
        &t.name,
        html! {
            h1 { (t.name) }
            p { (t.title) " at " (t.company) }
            dl.card {
                dt { "Email" } dd #card-email { a href={ "mailto:" (c.email.value) } { (c.email.value) } }
                @if let Some(p) = &c.phone { dt { "Direct line" } dd #card-phone { a href={ "tel:" (p.value) } { (p.value) } } }
                @if !t.city.is_empty() { dt { "City" } dd { (t.city) } }
                @if let Some(a) = &c.postal_address { dt { "Postal address" } dd { (a) } }
                dt { "Company domain" } dd { (t.company_domain) }
                dt { "Purchase" } dd { (o.purchase.status) ", " (o.purchase.price) " points" }
            }
            p {
                a.button #download-vcard href={ "/card/" (raw) "/vcard" } download { "Download vCard" }
                " "
                a.button #download-csv href={ "/card/" (raw) "/csv" } download { "Download CSV" }
            }
            h2 { "Report a bounce" }
            p.hint { "Your email to this address bounced? Upload the bounce message (the .eml your mail program saves). Your org node checks it names this address with a permanent failure and keeps it as evidence; the contributor is debited and you earn the bounty." }
            form method="post" action={ "/card/" (raw) "/bounce" } enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(m.csrf);
                label for="bounce-message" { "Bounce message" }
                input #bounce-message name="message" type="file" accept=".eml,message/rfc822,text/plain" required;
                button type="submit" { "Report the bounce" }
            }
            @if c.phone.is_some() {
                h2 { "Report a mobile number" }
                p.hint { "Cards carry direct lines only. If this number is a mobile, report it: the contributor pays the penalty." }
                form method="post" action={ "/card/" (raw) "/mobile" } {
                    input type="hidden" name="csrf" value=(m.csrf);
                    button type="submit" { "Report the number as a mobile" }
                }
            }
        },
    )
}

/// A download of `body`, named after the card.
fn download(body: String, content_type: &'static str, name: &str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        h.insert(CONTENT_DISPOSITION, v);
    }
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    r
}

fn file_stem(card: &Card) -> String {
    let stem: String = card.teaser.name.chars().take(40).collect();
    if stem.trim().is_empty() {
        "card".into()
    } else {
        stem
    }
}

async fn vcard(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    match member_card(&state, &headers, &raw).await {
        Ok((_, o)) => {
            let name = format!("{}.vcf", file_stem(&o.card));
            download(
                carnet_client::export::to_vcard(std::slice::from_ref(&o.card)),
                "text/vcard; charset=utf-8",
                &name,
            )
        }
        Err(r) => r,
    }
}

async fn csv(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let (_, o) = match member_card(&state, &headers, &raw).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match carnet_client::export::to_csv(std::slice::from_ref(&o.card)) {
        Ok(body) => {
            let name = format!("{}.csv", file_stem(&o.card));
            download(body, "text/csv; charset=utf-8", &name)
        }
        Err(e) => not_shown(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// What became of a report: the page after it.
fn reported(kind: &str, raw: &str, submitted: &carnet_api::Submitted, detail: &str) -> Response {
    let (id, outcome) = match submitted {
        carnet_api::Submitted::Ordered { id, outcome } => (id.clone(), outcome.clone()),
        carnet_api::Submitted::Pending { id, .. } => (id.clone(), "pending".into()),
        carnet_api::Submitted::Duplicate { id } => (id.clone(), "already reported".into()),
    };
    let void = outcome.starts_with("void");
    page(
        &format!("{kind} reported"),
        html! {
            h1 { (kind) " reported" }
            @if void {
                p.error role="alert" { "The ledger made the report void (" (outcome) "): nothing changed." }
            } @else {
                p role="status" #report-outcome { "Report " code { (id.get(..12).unwrap_or(&id)) } ": " (outcome) ". " (detail) }
            }
            p { a href={ "/card/" (raw) } { "Back to the card" } " · " a href="/" { "Dashboard" } }
        },
    )
}

/// A bounce report: the uploaded message is checked (permanent failure for the
/// card's address, DKIM where signed) and kept by the org node, which vouches; the
/// report is signed for the member with the message's hash and the voucher.
async fn report_bounce(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    mut form: Multipart,
) -> Response {
    let back = format!("/card/{raw}");
    let fail = |status, why: &str| {
        failed(
            "Bounce not reported",
            status,
            why,
            Some((&back, "Back to the card")),
        )
    };
    let mut csrf = String::new();
    let mut message = Vec::new();
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return fail(StatusCode::BAD_REQUEST, "The upload was cut short or is too large.");
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "message" => message = bytes.to_vec(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return fail(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("The upload could not be read ({e}); a bounce message is at most {MAX_EVIDENCE_BYTES} bytes."),
                )
            }
        }
    }
    let m = match member_post(&state, &headers, &csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    if message.is_empty() || message.len() > MAX_EVIDENCE_BYTES {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Choose the bounce message file (1 to {MAX_EVIDENCE_BYTES} bytes)."),
        );
    }
    let o = match open_bought(&state, &m.key, &raw).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    // The member's side of the check first, for a clear answer before the node's.
    if let Err(e) = carnet_mail::dsn::permanent_failure_for(&message, &o.card.email.value) {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!(
                "This message does not prove a bounce of {}: {e}",
                o.card.email.value
            ),
        );
    }
    let vouched = crate::api::reports::check_and_vouch(
        &state.node,
        state.dkim.as_ref(),
        m.key.public(),
        o.purchase_id,
        o.card.email.clone(),
        message,
    )
    .await;
    let (vouched, status, finding) = match vouched {
        Ok(v) => v,
        Err(e) => return fail(e.status, &e.message),
    };
    let payload = Payload::BounceReport(BounceReport {
        purchase_id: o.purchase_id,
        evidence: vouched.evidence,
        status,
        voucher: vouched.voucher,
    });
    match state.node.sign_as_member(m.key, payload, None).await {
        Ok((_, s)) => reported(
            "Bounce",
            &raw,
            &s,
            &format!(
                "Status {}.{}.{}, {}.",
                status.class,
                status.subject,
                status.detail,
                if finding == "unsigned" {
                    "the message was not DKIM-signed".to_owned()
                } else {
                    format!("DKIM verified ({finding})")
                }
            ),
        ),
        Err(e) => fail(ingest_status(&e), &e.to_string()),
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

/// A mobile report: the number goes to the org node only, which checks it is a
/// mobile and vouches; the report on the log carries the voucher, not the number.
async fn report_mobile(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let back = format!("/card/{raw}");
    let fail = |status, why: &str| {
        failed(
            "Mobile not reported",
            status,
            why,
            Some((&back, "Back to the card")),
        )
    };
    let m = match member_post(&state, &headers, &form.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let o = match open_bought(&state, &m.key, &raw).await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let Some(phone) = o.card.phone.clone() else {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This card has no direct line to report.",
        );
    };
    if !carnet_protocol::ledger::is_mobile_number(&phone.value) {
        return fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("{} is not classified as a mobile number, so a report would be void. Nothing was signed.", phone.value),
        );
    }
    let voucher = match state
        .node
        .vouch_mobile(m.key.public(), o.purchase_id, phone)
        .await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return fail(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
        Err(e) => return fail(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let payload = Payload::MobileReport(MobileReport {
        purchase_id: o.purchase_id,
        voucher,
    });
    match state.node.sign_as_member(m.key, payload, None).await {
        Ok((_, s)) => reported(
            "Mobile number",
            &raw,
            &s,
            "The contributor pays the penalty once it is settled.",
        ),
        Err(e) => fail(ingest_status(&e), &e.to_string()),
    }
}
