//! Contributing a card by form, with the direct line checked as the member types (a
//! few lines of script asking `/contribute/phone-check`; without script the same check
//! runs when the form is sent), and a company's page with the crowd's votes.

use super::cards::ingest_status;
use super::pages::{failed, member, member_post, page, WebState};
use axum::extract::{Form, Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use carnet_client::contact::{ContactDraft, Salts};
use carnet_protocol::payload::{Contribute, Payload, Vote};
use maud::{html, Markup};
use serde::Deserialize;

const SCRIPT: &str = include_str!("app.js");

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/contribute", get(form_page).post(contribute))
        .route("/contribute/phone-check", get(phone_check))
        .route("/company/{domain}", get(company).post(vote))
        .route("/assets/app.js", get(script))
}

async fn script() -> Response {
    let mut r = SCRIPT.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    r
}

#[derive(Deserialize, Default, Clone)]
struct ContactForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    company: String,
    #[serde(default)]
    company_domain: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    postal_address: String,
}

impl ContactForm {
    fn draft(&self) -> ContactDraft {
        let opt = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        ContactDraft {
            name: self.name.clone(),
            title: self.title.clone(),
            company: self.company.clone(),
            company_domain: opt(&self.company_domain),
            email: self.email.clone(),
            phone: opt(&self.phone),
            city: opt(&self.city),
            postal_address: opt(&self.postal_address),
        }
    }

    fn region(&self) -> Option<String> {
        Some(self.region.trim().to_ascii_uppercase()).filter(|s| !s.is_empty())
    }
}

/// The contribution form, filled with `f` (after a refusal) and an error or a notice.
fn form(csrf: &str, f: &ContactForm, error: Option<&str>, notice: Option<Markup>) -> Response {
    page(
        "Contribute",
        html! {
            h1 { "Contribute a card" }
            p.hint { "A business card of a decision maker you know: work email, direct line (never a mobile), title. You earn points when it sells; bounces and mobiles cost you." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(n) = notice { div role="status" { (n) } }
            form method="post" action="/contribute" {
                input type="hidden" name="csrf" value=(csrf);
                label for="name" { "Name" }
                input #name name="name" value=(f.name) required autocomplete="off";
                label for="title" { "Title" }
                input #title name="title" value=(f.title) required;
                label for="company" { "Company" }
                input #company name="company" value=(f.company) required;
                label for="company_domain" { "Company web domain (optional: the email's domain otherwise)" }
                input #company_domain name="company_domain" value=(f.company_domain);
                label for="email" { "Work email" }
                input #email name="email" type="email" value=(f.email) required;
                label for="phone" { "Direct line (optional, never a mobile)" }
                input #phone name="phone" type="tel" value=(f.phone) aria-describedby="phone-check";
                label for="region" { "Country of the number, when it has no +code (e.g. FR)" }
                input #region name="region" value=(f.region) maxlength="2" size="2";
                output #phone-check for="phone region" aria-live="polite" {}
                label for="city" { "City (optional)" }
                input #city name="city" value=(f.city);
                label for="postal_address" { "Postal address (optional)" }
                input #postal_address name="postal_address" value=(f.postal_address);
                button type="submit" { "Contribute" }
            }
            script src="/assets/app.js" {}
        },
    )
}

async fn form_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match member(&state, &headers) {
        Ok(m) => form(&m.csrf, &ContactForm::default(), None, None),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct PhoneQuery {
    #[serde(default)]
    number: String,
    #[serde(default)]
    region: String,
}

/// What the rules make of a direct line, in one sentence: the live check's answer.
async fn phone_check(
    State(state): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<PhoneQuery>,
) -> Response {
    if let Err(r) = member(&state, &headers) {
        return r;
    }
    let region = Some(q.region.trim().to_ascii_uppercase()).filter(|s| !s.is_empty());
    let text = if q.number.trim().is_empty() {
        String::new()
    } else {
        match carnet_client::phone::normalise_phone(q.number.trim(), region.as_deref()) {
            Ok(p) => match p.warning() {
                Some(w) => format!("{}: accepted. {w}", p.e164),
                None => format!("{}: a direct line, accepted.", p.e164),
            },
            Err(e) => format!("Refused: {e}."),
        }
    };
    let mut r = text.into_response();
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Prepares the card (fresh salts, the phone rule), asks the org node for the email's
/// dedup key as the member (so the member's request limits apply, as for the CLI),
/// and signs the Contribute for the member, the card going to the org node only.
async fn contribute(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<ContactForm>,
) -> Response {
    let m = match member_post(&state, &headers, &f.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let again = |status: StatusCode, why: &str| {
        let mut r = form(&m.csrf, &f, Some(why), None);
        *r.status_mut() = status;
        r
    };
    let salts = match Salts::random() {
        Ok(s) => s,
        Err(e) => return again(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let prepared = match f.draft().prepare(f.region().as_deref(), salts) {
        Ok(p) => p,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    match contribute_card(&state, &m.key, prepared.card).await {
        Ok(id) => {
            let id = id.to_hex();
            let notice = html! {
                p #contributed { "Contributed: " a href={ "/listing/" (id) } { (f.name.trim()) } "." }
                @for w in &prepared.warnings { p.hint { (w) } }
            };
            form(&m.csrf, &ContactForm::default(), None, Some(notice))
        }
        Err(Refusal { status, why, .. }) => again(status, &why),
    }
}

/// Why a card was not contributed: the status for a page, the member's words, and
/// the node's code where it gave one (`duplicate_card`, `opted_out`, ...).
pub(super) struct Refusal {
    pub status: StatusCode,
    pub why: String,
    pub code: Option<&'static str>,
}

impl Refusal {
    fn new(status: StatusCode, why: impl Into<String>) -> Self {
        Refusal {
            status,
            why: why.into(),
            code: None,
        }
    }
}

/// Contributes a prepared card as `key`: the email's dedup key asked for as the member
/// (so the member's request limits apply, as for the CLI), the listing built, and the
/// Contribute signed for the member, the card going to the org node only. The
/// contribution form and the import both come here.
pub(super) async fn contribute_card(
    state: &WebState,
    key: &carnet_protocol::SecretKey,
    card: carnet_protocol::card::Card,
) -> Result<carnet_protocol::ContentId, Refusal> {
    card.check()
        .map_err(|e| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let network = state.network().await.ok_or_else(|| {
        Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The node did not answer: try again.",
        )
    })?;
    let request = carnet_protocol::dedup::DedupRequest {
        network,
        member: key.public(),
        email: card.email.value.clone(),
        at_ms: carnet_api::now_ms(),
    };
    let signature = carnet_protocol::dedup::sign(key, &request);
    let dedup = match state.node.dedup_key(request, signature).await {
        Ok(Ok(k)) => k,
        Ok(Err(e)) => {
            return Err(Refusal {
                status: StatusCode::UNPROCESSABLE_ENTITY,
                why: e.to_string(),
                code: Some(e.code()),
            })
        }
        Err(e) => return Err(Refusal::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    };
    let listing = card
        .listing_keyed(dedup)
        .map_err(|e| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    let payload = Payload::Contribute(Contribute { listing });
    match state
        .node
        .sign_as_member(key.clone(), payload, Some(card))
        .await
    {
        Ok((id, carnet_api::Submitted::Ordered { outcome, .. })) if outcome.starts_with("void") => {
            Err(Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "The ledger made this contribution void ({outcome}); listing {} earns nothing.",
                    id.to_hex()
                ),
            ))
        }
        Ok((id, _)) => Ok(id),
        Err(e) => Err(Refusal {
            status: ingest_status(&e),
            why: e.to_string(),
            code: Some(e.code()),
        }),
    }
}

use carnet_client::ranges::{employees_label, revenue_label, EMPLOYEES, REVENUE};

/// A company: the crowd's size and revenue (medians of the members' votes), and the
/// member's own vote.
async fn company(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(domain): Path<String>,
) -> Response {
    let m = match member(&state, &headers) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let domain = domain.trim().to_ascii_lowercase();
    let info = state.node.company(domain.clone()).await.ok().flatten();
    let mine = state
        .node
        .vote_of(domain.clone(), m.key.public())
        .await
        .ok()
        .flatten();
    page(
        &domain,
        html! {
            h1 { (domain) }
            @match &info {
                Some(i) => {
                    dl {
                        dt { "Employees" } dd #employees { (employees_label(i.employees)) }
                        dt { "Revenue" } dd #revenue { (revenue_label(i.revenue)) }
                        dt { "Votes" } dd { (i.votes) }
                    }
                    (bar_chart("employees-chart", "Employees: the members' votes", &EMPLOYEES.iter().map(|(r, l)| (*l, count_of(&i.employee_votes, r))).collect::<Vec<_>>()))
                    (bar_chart("revenue-chart", "Revenue: the members' votes", &REVENUE.iter().map(|(r, l)| (*l, count_of(&i.revenue_votes, r))).collect::<Vec<_>>()))
                },
                None => p { "No member has voted on this company yet." },
            }
            h2 { "Your vote" }
            @match &mine {
                Some(v) => p #your-vote { "You voted " (employees_label(v.employees)) " employees, " (revenue_label(v.revenue)) " revenue. A new vote replaces it." },
                None => p { "You have not voted on this company." },
            }
            form method="post" action={ "/company/" (domain) } {
                input type="hidden" name="csrf" value=(m.csrf);
                label for="employees-vote" { "Employees" }
                select #employees-vote name="employees" {
                    @for (i, (r, l)) in EMPLOYEES.iter().enumerate() { option value=(i) selected[mine.is_some_and(|v| v.employees == *r)] { (l) } }
                }
                label for="revenue-vote" { "Revenue" }
                select #revenue-vote name="revenue" {
                    @for (i, (r, l)) in REVENUE.iter().enumerate() { option value=(i) selected[mine.is_some_and(|v| v.revenue == *r)] { (l) } }
                }
                button type="submit" { "Vote" }
            }
        },
    )
}

fn count_of<T: PartialEq>(votes: &[(T, u64)], range: &T) -> u64 {
    votes
        .iter()
        .find(|(r, _)| r == range)
        .map_or(0, |(_, n)| *n)
}

/// A horizontal bar chart of `rows` (label, count) as inline SVG, drawn by the server
/// (no script, no chart library), with the same figures as a table for screen readers
/// and for reading exact numbers.
pub(super) fn bar_chart(id: &str, title: &str, rows: &[(&str, u64)]) -> Markup {
    const BAR_W: u64 = 220;
    const ROW_H: u64 = 22;
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = ROW_H * rows.len() as u64 + 4;
    let title_id = format!("{id}-title");
    html! {
        figure.chart #(id) {
            svg role="img" aria-labelledby=(title_id) viewBox={ "0 0 360 " (height) } width="360" height=(height) xmlns="http://www.w3.org/2000/svg" {
                title #(title_id) { (title) }
                @for (i, (label, n)) in rows.iter().enumerate() {
                    @let y = ROW_H * i as u64 + 2;
                    text x="0" y=(y + 15) font-size="12" fill="#222" { (label) }
                    rect x="100" y=(y + 3) width=(BAR_W * n / max) height="14" fill="#2f5d8a" {}
                    text x=(104 + BAR_W * n / max) y=(y + 15) font-size="12" fill="#222" { (n) }
                }
            }
            figcaption { (title) }
            table.figures {
                thead { tr { th scope="col" { "Range" } th scope="col" { "Votes" } } }
                tbody { @for (label, n) in rows { tr { td { (label) } td { (n) } } } }
            }
        }
    }
}

#[derive(Deserialize)]
struct VoteForm {
    csrf: String,
    employees: usize,
    revenue: usize,
}

async fn vote(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Form(f): Form<VoteForm>,
) -> Response {
    let m = match member_post(&state, &headers, &f.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let domain = domain.trim().to_ascii_lowercase();
    let back = format!("/company/{domain}");
    let (Some((employees, _)), Some((revenue, _))) =
        (EMPLOYEES.get(f.employees), REVENUE.get(f.revenue))
    else {
        return failed(
            "Vote refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "Choose a range from the lists.",
            Some((&back, "Back")),
        );
    };
    let payload = Payload::Vote(Vote {
        company_domain: domain.clone(),
        employees: *employees,
        revenue: *revenue,
    });
    match state.node.sign_as_member(m.key, payload, None).await {
        Ok(_) => super::pages::redirect(&back),
        Err(e) => failed(
            "Vote refused",
            ingest_status(&e),
            &e.to_string(),
            Some((&back, "Back")),
        ),
    }
}
