//! Search with teaser cards, and a listing's page with its buy button: what a buyer
//! decides on (who, where, which channels the card has, how fresh, how often sold, the
//! price), never the contact data.

use super::pages::{
    date, failed, member, member_post, page, redirect, sign_in_page, signed_in, WebState,
};
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::html;
use serde::Deserialize;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/search", get(search))
        .route("/listing/{id}", get(listing))
        .route("/listing/{id}/buy", post(buy))
}

/// Results per page of the search page.
pub const SEARCH_PAGE_SIZE: usize = 20;

#[derive(Deserialize, Default)]
struct SearchForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    page: Option<usize>,
}

/// Teasers only: what a buyer decides on (who, where, which channels the card has,
/// how fresh, how often sold, the price), never the contact data.
async fn search(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(form): Query<SearchForm>,
) -> Response {
    if signed_in(&state, &headers).is_none() {
        return sign_in_page(None);
    }
    let opt = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let page_no = form.page.unwrap_or(1).max(1);
    let asked = [&form.text, &form.company, &form.title, &form.city]
        .iter()
        .any(|s| !s.trim().is_empty());
    let results = if asked {
        let query = carnet_api::SearchQuery {
            text: opt(&form.text),
            company: opt(&form.company),
            domain: None,
            title: opt(&form.title),
            city: opt(&form.city),
            limit: Some(SEARCH_PAGE_SIZE),
            offset: Some((page_no - 1).saturating_mul(SEARCH_PAGE_SIZE)),
        };
        state.node.search(query).await.ok().and_then(Result::ok)
    } else {
        None
    };
    let link = |p: usize| {
        let pairs = [
            ("text", form.text.as_str()),
            ("company", form.company.as_str()),
            ("title", form.title.as_str()),
            ("city", form.city.as_str()),
        ];
        let mut q: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        q.push(format!("page={p}"));
        format!("/search?{}", q.join("&"))
    };
    page(
        "Search",
        html! {
            h1 { "Search" }
            form method="get" action="/search" role="search" {
                label for="text" { "Any words" }
                input #text name="text" value=(form.text) placeholder="paris procurement";
                label for="company" { "Company or domain" }
                input #company name="company" value=(form.company);
                label for="title" { "Title" }
                input #title name="title" value=(form.title);
                label for="city" { "City" }
                input #city name="city" value=(form.city);
                button type="submit" { "Search" }
            }
            @match &results {
                None if asked => { p.error role="alert" { "The node could not answer (stopping, or its storage failed): try again." } }
                None => {}
                Some(r) if r.listings.is_empty() => { p role="status" { "No card matches." } }
                Some(r) => {
                    p role="status" {
                        (r.offset + 1) "–" (r.offset + r.listings.len()) " of " (r.total)
                    }
                    @for l in &r.listings {
                        article.teaser {
                            h2 { a href={ "/listing/" (l.id) } { (l.name) } }
                            p { (l.title) " at " (l.company) " (" (if l.domain_unicode.is_empty() { &l.company_domain } else { &l.domain_unicode }) ")" }
                            dl {
                                @if !l.city.is_empty() { dt { "City" } dd { (l.city) } }
                                dt { "Channels" }
                                dd { (channels(l)) }
                                dt { "Org" } dd { (l.org_name) }
                                dt { "Updated" } dd { (date(l.updated_ms)) }
                                dt { "Sales" } dd { (l.sales) }
                                dt { "Price" } dd { (l.price) " points" }
                                @if l.status != "Active" { dt { "Status" } dd { (l.status) } }
                            }
                        }
                    }
                    nav aria-label="Pages" {
                        @if r.offset > 0 { a href=(link(page_no - 1)) rel="prev" { "Previous" } " " }
                        @if r.offset + r.listings.len() < r.total { a href=(link(page_no + 1)) rel="next" { "Next" } }
                    }
                }
            }
        },
    )
}

/// The channels a card has: its availability signal.
fn channels(l: &carnet_api::ListingView) -> String {
    channel_list(l.email, l.phone, l.postal)
}

/// `application/x-www-form-urlencoded` for a query value.
pub(super) fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A listing's teaser, decoded from what the node holds (None once erased).
pub(super) fn teaser_of(
    detail: &carnet_api::ListingDetail,
) -> Option<carnet_protocol::payload::Teaser> {
    use carnet_protocol::payload::TeaserSlot;
    match listing_of(detail)?.teaser {
        TeaserSlot::Shown { teaser, .. } => Some(*teaser),
        TeaserSlot::Erased { .. } => None,
    }
}

/// The listing the node holds now, decoded (None if it does not decode).
pub(super) fn listing_of(
    detail: &carnet_api::ListingDetail,
) -> Option<carnet_protocol::payload::Listing> {
    let bytes = hex::decode(&detail.listing_hex).ok()?;
    carnet_protocol::encoding::from_canonical(&bytes, carnet_protocol::limits::MAX_EVENT_BYTES).ok()
}

/// A listing id from a path: 64 hex digits.
pub(super) fn listing_id(raw: &str) -> Option<carnet_protocol::ContentId> {
    carnet_protocol::Hash32::from_hex(raw.trim())
}

/// One listing: its teaser, what it costs this member, and the buy button (or the
/// card, once bought).
async fn listing(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let m = match member(&state, &headers) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let not_found = || {
        failed(
            "No such card",
            StatusCode::NOT_FOUND,
            "This node holds no listing with that id: it may not have reached this node yet.",
            Some(("/search", "Search")),
        )
    };
    let Some(id) = listing_id(&raw) else {
        return not_found();
    };
    let unreadable = || {
        failed(
            "Card not available",
            StatusCode::SERVICE_UNAVAILABLE,
            "The node could not read this card (stopping, or its storage failed): try again.",
            Some(("/search", "Search")),
        )
    };
    let detail = match state.node.listing(id).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => return not_found(),
        Ok(Err(_)) | Err(_) => return unreadable(),
    };
    let buyer = m.key.public();
    let rules_price = state.node.quote(buyer, id, u64::MAX).await.ok();
    let Ok(Ok(purchases)) = state.node.purchases(buyer).await else {
        return unreadable();
    };
    let bought = purchases.into_iter().any(|p| p.listing_id == detail.id);
    let teaser = teaser_of(&detail);
    let title = teaser
        .as_ref()
        .map_or("Erased card".to_owned(), |t| t.name.to_string());
    page(
        &title,
        html! {
            @match &teaser {
                Some(t) => {
                    h1 { (t.name) }
                    p { (t.title) " at " (t.company) " (" (t.company_domain) ")" }
                    dl {
                        @if !t.city.is_empty() { dt { "City" } dd { (t.city) } }
                        dt { "Channels" }
                        dd { (channel_list(t.availability.email, t.availability.phone, t.availability.postal)) }
                        dt { "Contributor" } dd { (detail.contributor_handle) }
                        dt { "Sales" } dd { (detail.sales) }
                        dt { "Status" } dd { (detail.status) }
                    }
                    p { a href={ "/company/" (t.company_domain) } { "About " (t.company) } }
                }
                None => { h1 { "Erased card" } p { "The person asked to be forgotten: this card is no longer offered." } }
            }
            @if bought {
                p role="status" { "You bought this card." }
                p { a.button href={ "/card/" (detail.id) } { "See the card" } }
            } @else if teaser.is_some() && detail.status == "Active" {
                @if let Some(q) = &rules_price {
                    form method="post" action={ "/listing/" (detail.id) "/buy" } {
                        input type="hidden" name="csrf" value=(m.csrf);
                        input type="hidden" name="max_price" value=(q.price);
                        p { "Price: " strong #price { (q.price) " points" } ". You have " (q.balance.unwrap_or(0)) " points." }
                        button type="submit" { "Buy for " (q.price) " points" }
                    }
                }
            }
        },
    )
}

/// The channels a card has, for people.
pub(super) fn channel_list(email: bool, phone: bool, postal: bool) -> String {
    let mut c = Vec::new();
    if email {
        c.push("email");
    }
    if phone {
        c.push("direct line");
    }
    if postal {
        c.push("postal address");
    }
    c.join(", ")
}

#[derive(Deserialize)]
struct BuyForm {
    csrf: String,
    max_price: u64,
}

/// Buys a card: checked against the rules first (a purchase they refuse would be
/// published void), then signed for the member, sealed to the key only the member's
/// own key derives (as the CLI's), so either opens the card.
async fn buy(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(raw): Path<String>,
    Form(form): Form<BuyForm>,
) -> Response {
    let m = match member_post(&state, &headers, &form.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let back = format!("/listing/{raw}");
    let fail =
        |status, why: &str| failed("Not bought", status, why, Some((&back, "Back to the card")));
    let Some(id) = listing_id(&raw) else {
        return fail(StatusCode::NOT_FOUND, "No such listing.");
    };
    let buyer = m.key.public();
    let quote = match state.node.quote(buyer, id, form.max_price).await {
        Ok(q) => q,
        Err(e) => return fail(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    if let Some(reason) = quote.refusal {
        let why = format!(
            "The rules would refuse this purchase ({reason}): the card costs {} points, you would pay at most {}, you have {} points. Nothing was signed.",
            quote.price,
            form.max_price,
            quote.balance.unwrap_or(0)
        );
        return fail(StatusCode::UNPROCESSABLE_ENTITY, &why);
    }
    let recipient = carnet_protocol::card::recipient_public(
        carnet_client::keyfile::recipient_secret(&m.key, &id),
    );
    let payload = carnet_protocol::Payload::Purchase(carnet_protocol::payload::Purchase {
        listing_id: id,
        recipient,
        max_price: form.max_price,
    });
    match state.node.sign_as_member(m.key, payload, None).await {
        Ok((_, carnet_api::Submitted::Ordered { outcome, .. })) if outcome.starts_with("void") => {
            fail(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The ledger made this purchase void ({outcome}); no points moved."),
            )
        }
        Ok(_) => redirect(&format!("/card/{}", id.to_hex())),
        Err(e) => fail(super::cards::ingest_status(&e), &e.to_string()),
    }
}
