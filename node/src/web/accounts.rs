//! Web accounts: the operator enrolls a member who will use only the web app (the node
//! makes the key and seals it under a first password the operator hands over), and a
//! member changes their password (the current one is needed: a stolen session cookie
//! cannot lock the member out). A member's referral is named here too.

use super::cards::ingest_status;
use super::pages::{failed, member, member_post, page, redirect, WebState};
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use carnet_api::sealed_key::{open, seal, SealedKeyUpload, MIN_PASSWORD_CHARS};
use carnet_protocol::payload::{Enroll, Referral};
use carnet_protocol::{Payload, PublicKey, SecretKey};
use maud::html;
use serde::Deserialize;

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route("/operator/enroll", post(enroll))
        .route("/password", get(password_page).post(change_password))
        .route("/referral", post(referral))
}

/// Seals `key` under `password` (Argon2id, off the async workers) and hands the record
/// to the node as `carnet web password` does, signed by the key. Ends the member's
/// sessions: a new password signs everyone out.
async fn keep_sealed(state: &WebState, key: &SecretKey, password: String) -> Result<(), String> {
    let network = state.network().await.ok_or("the node did not answer")?;
    let salt = carnet_api::os::random::<16>().map_err(|e| e.to_string())?;
    let nonce = carnet_api::os::random::<24>().map_err(|e| e.to_string())?;
    let k = key.clone();
    let record = tokio::task::spawn_blocking(move || seal(&k, &password, salt, nonce))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let upload = SealedKeyUpload::signed(key, &network, record, carnet_api::now_ms());
    match state.node.put_sealed_key(upload).await {
        Ok(Ok(member)) => {
            state.sessions().end_member(&member);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

#[derive(Deserialize)]
struct EnrollForm {
    csrf: String,
    handle: String,
    password: String,
}

/// The operator enrolls a web member: a fresh key made here, an Enroll signed with the
/// org key, and the key sealed under the first password the operator chose.
async fn enroll(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<EnrollForm>,
) -> Response {
    let back = Some(("/", "Back to the operator's page"));
    if let Err(r) = super::operator::operator_post(&state, &headers, &form.csrf) {
        return r;
    }
    let handle = form.handle.trim().to_owned();
    if form.password.chars().count() < MIN_PASSWORD_CHARS {
        return failed(
            "Not enrolled",
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("The first password must have at least {MIN_PASSWORD_CHARS} characters. Nothing was signed."),
            back,
        );
    }
    let key = match carnet_api::os::random::<32>() {
        Ok(seed) => SecretKey::from_seed(seed),
        Err(e) => {
            return failed(
                "Not enrolled",
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("No randomness: {e}"),
                back,
            )
        }
    };
    let payload = Payload::Enroll(Enroll {
        member: key.public(),
        handle: handle.clone(),
    });
    match state.node.submit_as_org(payload).await {
        Ok(carnet_api::Submitted::Ordered { outcome, .. }) if outcome.starts_with("void") => {
            return failed(
                "Not enrolled",
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The ledger made the Enroll void ({outcome}): is the handle taken?"),
                back,
            )
        }
        Ok(_) => {}
        Err(e) => return failed("Not enrolled", ingest_status(&e), &e.to_string(), back),
    }
    if let Err(e) = keep_sealed(&state, &key, form.password).await {
        return failed(
            "Enrolled without a password",
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{handle} is enrolled, but the node could not keep the key ({e}); revoke {handle} and enroll again."),
            back,
        );
    }
    page(
        "Member enrolled",
        html! {
            h1 { "Member enrolled" }
            p role="status" #enrolled {
                (handle) " is a member (key " code { (&key.public().to_hex()[..16]) "…" } "). "
                "Give them the first password, out of band: they sign in with their handle and it, and should change it at once under Password."
            }
            p { a href="/" { "Back to the operator's page" } }
        },
    )
}

fn password_form(csrf: &str, error: Option<&str>) -> Response {
    page(
        "Password",
        html! {
            h1 { "Change your password" }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/password" {
                input type="hidden" name="csrf" value=(csrf);
                label for="current" { "Current password" }
                input #current name="current" type="password" autocomplete="current-password" required;
                label for="new" { "New password (at least " (MIN_PASSWORD_CHARS) " characters)" }
                input #new name="new" type="password" autocomplete="new-password" required minlength=(MIN_PASSWORD_CHARS);
                label for="again" { "The new password again" }
                input #again name="again" type="password" autocomplete="new-password" required;
                button type="submit" { "Change password" }
            }
            p.hint { "Every session of yours ends: sign in again with the new password." }
        },
    )
}

async fn password_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match member(&state, &headers) {
        Ok(m) => password_form(&m.csrf, None),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    csrf: String,
    current: String,
    new: String,
    again: String,
}

async fn change_password(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let m = match member_post(&state, &headers, &form.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let again = |status, why: &str| {
        let mut r = password_form(&m.csrf, Some(why));
        *r.status_mut() = status;
        r
    };
    if form.new != form.again {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The two new passwords differ; nothing was changed.",
        );
    }
    if form.new.chars().count() < MIN_PASSWORD_CHARS {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("The new password is too short: at least {MIN_PASSWORD_CHARS} characters."),
        );
    }
    // The current password must open the record the node keeps, to the same key.
    let Some(stored) = state.node.sealed_key(m.key.public()).await.ok().flatten() else {
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The node did not answer: try again.",
        );
    };
    let current = form.current;
    let opened = tokio::task::spawn_blocking(move || open(&stored.record, &current)).await;
    let same = matches!(&opened, Ok(Ok(k)) if k.public() == m.key.public());
    if !same {
        return again(
            StatusCode::UNAUTHORIZED,
            "The current password is wrong; nothing was changed.",
        );
    }
    match keep_sealed(&state, &m.key, form.new).await {
        Ok(()) => redirect("/"),
        Err(e) => again(StatusCode::INTERNAL_SERVER_ERROR, &e),
    }
}

#[derive(Deserialize)]
struct ReferralForm {
    csrf: String,
    referrer: String,
}

/// Names the member who referred this one: on the member's first contribution, the
/// referrer earns the referral bonus (docs/protocol.md, Contribute).
async fn referral(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<ReferralForm>,
) -> Response {
    let m = match member_post(&state, &headers, &form.csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let back = Some(("/", "Dashboard"));
    let Some(referrer) = PublicKey::from_hex(form.referrer.trim()) else {
        return failed(
            "Referral refused",
            StatusCode::UNPROCESSABLE_ENTITY,
            "The referrer's member key is 64 hex digits (they see it on their dashboard).",
            back,
        );
    };
    match state
        .node
        .sign_as_member(m.key, Payload::Referral(Referral { referrer }), None)
        .await
    {
        Ok((_, carnet_api::Submitted::Ordered { outcome, .. })) if outcome.starts_with("void") => {
            failed(
                "Referral void",
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The ledger made the referral void ({outcome}): nothing changed."),
                back,
            )
        }
        Ok(_) => redirect("/?referred=1"),
        Err(e) => failed("Referral refused", ingest_status(&e), &e.to_string(), back),
    }
}
