//! Importing a vCard or CSV file on the web: the file is read as `carnet contact
//! import` reads it (the same readers and row rules), then each card is contributed in
//! the background, one after the other, while the member's page shows a progress bar
//! and the report so far (it reloads itself each second while the import runs; no
//! script needed).

use super::contribute::contribute_card;
use super::pages::{failed, member, member_post, page, redirect, WebState};
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use carnet_client::import::read_file;
use carnet_client::importer::prepare_row;
use carnet_protocol::{PublicKey, SecretKey};
use maud::html;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// Largest file the web import takes: some 20,000 cards. `carnet contact import`
/// takes larger ones.
pub const MAX_WEB_IMPORT_BYTES: usize = 8 << 20;
/// Imports kept (running or finished) across all members; the oldest finished one
/// goes first.
const MAX_JOBS: usize = 64;
/// Imports kept per member: a new one drops the member's oldest report.
const MAX_JOBS_PER_MEMBER: usize = 4;

/// What became of one row.
#[derive(Clone)]
struct Done {
    source: String,
    name: String,
    /// The listing id when the card was listed.
    listed: Option<String>,
    /// Why it was skipped, when it was.
    skipped: Option<String>,
    warnings: Vec<String>,
}

/// One import: its rows so far.
pub(super) struct Job {
    member: PublicKey,
    file: String,
    total: usize,
    done: Vec<Done>,
    file_warnings: Vec<String>,
    /// Why it stopped early (the node refused the member, or stopped).
    stopped: Option<String>,
    finished: bool,
    started_ms: u64,
}

/// Every import, by its random id.
#[derive(Default)]
pub(super) struct Jobs(HashMap<String, Job>);

pub(super) type SharedJobs = Arc<Mutex<Jobs>>;

fn lock(jobs: &SharedJobs) -> std::sync::MutexGuard<'_, Jobs> {
    // Every change is one assignment or push: a poisoned lock is still consistent.
    jobs.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn routes() -> Router<WebState> {
    Router::new()
        .route(
            "/import",
            get(form_page)
                .post(start)
                .layer(axum::extract::DefaultBodyLimit::max(
                    MAX_WEB_IMPORT_BYTES + 16 * 1024,
                )),
        )
        .route("/import/{job}", get(progress))
}

fn form(csrf: &str, error: Option<&str>) -> Response {
    page(
        "Import",
        html! {
            h1 { "Import contacts" }
            p.hint { "A vCard (.vcf: 2.1, 3.0 or 4.0, as Outlook, Google and phones export) or CSV file, up to " (MAX_WEB_IMPORT_BYTES >> 20) " MiB. Each contact that makes a card (name, title, company, work email; never a mobile) is contributed; the others are listed with the reason." }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/import" enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(csrf);
                label for="import-file" { "File" }
                input #import-file name="file" type="file" accept=".vcf,.csv,text/vcard,text/csv" required;
                label for="import-region" { "Country of numbers written without +code (e.g. FR)" }
                input #import-region name="region" maxlength="2" size="2";
                button type="submit" { "Import" }
            }
        },
    )
}

async fn form_page(State(state): State<WebState>, headers: HeaderMap) -> Response {
    match member(&state, &headers) {
        Ok(m) => form(&m.csrf, None),
        Err(r) => r,
    }
}

/// Reads the upload and starts the import in the background; answers with its
/// progress page.
async fn start(
    State(state): State<WebState>,
    headers: HeaderMap,
    mut upload: Multipart,
) -> Response {
    let (mut csrf, mut region, mut file, mut name) =
        (String::new(), String::new(), Vec::new(), String::new());
    loop {
        match upload.next_field().await {
            Ok(Some(field)) => {
                let field_name = field.name().unwrap_or_default().to_owned();
                let file_name = field.file_name().unwrap_or_default().to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return failed(
                        "Not imported",
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!(
                            "The upload was cut short or is over {} MiB.",
                            MAX_WEB_IMPORT_BYTES >> 20
                        ),
                        Some(("/import", "Back")),
                    );
                };
                match field_name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "region" => {
                        region = String::from_utf8_lossy(&bytes).trim().to_ascii_uppercase()
                    }
                    "file" => {
                        file = bytes.to_vec();
                        name = file_name;
                    }
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(e) => {
                return failed(
                    "Not imported",
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!(
                        "The upload could not be read ({e}); the file must be at most {} MiB.",
                        MAX_WEB_IMPORT_BYTES >> 20
                    ),
                    Some(("/import", "Back")),
                );
            }
        }
    }
    let m = match member_post(&state, &headers, &csrf) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let again = |status, why: &str| {
        let mut r = form(&m.csrf, Some(why));
        *r.status_mut() = status;
        r
    };
    if file.is_empty() {
        return again(StatusCode::UNPROCESSABLE_ENTITY, "Choose a file to import.");
    }
    if file.len() > MAX_WEB_IMPORT_BYTES {
        return again(
            StatusCode::PAYLOAD_TOO_LARGE,
            "The file is too large for the web import; use carnet contact import.",
        );
    }
    let imported = match read_file(&name, &file) {
        Ok(i) => i,
        Err(e) => return again(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    };
    let member_key = m.key.public();
    let Ok(random) = carnet_api::os::random::<16>() else {
        return again(
            StatusCode::SERVICE_UNAVAILABLE,
            "The node has no randomness: try again.",
        );
    };
    let id = hex::encode(random);
    {
        // One lock for the check and the insert: two uploads at once start one import.
        let mut jobs = lock(&state.imports);
        if jobs
            .0
            .values()
            .any(|j| j.member == member_key && !j.finished)
        {
            drop(jobs);
            return again(
                StatusCode::CONFLICT,
                "An import of yours is still running: wait for it to finish.",
            );
        }
        // A member's finished reports beyond the last few, then anyone's oldest.
        let mine: Vec<(String, u64)> = jobs
            .0
            .iter()
            .filter(|(_, j)| j.member == member_key)
            .map(|(k, j)| (k.clone(), j.started_ms))
            .collect();
        if mine.len() >= MAX_JOBS_PER_MEMBER {
            if let Some((k, _)) = mine.iter().min_by_key(|(_, t)| *t) {
                jobs.0.remove(k);
            }
        }
        if jobs.0.len() >= MAX_JOBS {
            let oldest = jobs
                .0
                .iter()
                .filter(|(_, j)| j.finished)
                .min_by_key(|(_, j)| j.started_ms)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => {
                    jobs.0.remove(&k);
                }
                None => {
                    drop(jobs);
                    return again(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Too many imports are running on this node: try again in a minute.",
                    );
                }
            }
        }
        jobs.0.insert(
            id.clone(),
            Job {
                member: member_key,
                file: name,
                total: imported.rows.len(),
                done: Vec::new(),
                file_warnings: imported.warnings.clone(),
                stopped: None,
                finished: imported.rows.is_empty(),
                started_ms: carnet_api::now_ms(),
            },
        );
    }
    let region = Some(region).filter(|r| !r.is_empty());
    tokio::spawn(run(state.clone(), id.clone(), m.key, imported.rows, region));
    redirect(&format!("/import/{id}"))
}

/// Contributes the rows one after the other, recording each outcome. Stops when the
/// member's sessions are all gone (signed out, revoked, new password) or the node
/// refuses the member itself.
async fn run(
    state: WebState,
    id: String,
    key: SecretKey,
    rows: Vec<carnet_client::import::ImportRow>,
    region: Option<String>,
) {
    let mut seen = HashSet::new();
    for row in rows {
        if !state
            .sessions()
            .has_member(&key.public(), carnet_api::now_ms())
        {
            stop(
                &state,
                &id,
                "you signed out (or your sessions ended): the rest of the file was not imported",
            );
            return;
        }
        let source = row.source.clone();
        let name = row
            .draft
            .as_ref()
            .map(|d| d.name.clone())
            .unwrap_or_default();
        let salts = match carnet_client::contact::Salts::random() {
            Ok(s) => s,
            Err(e) => {
                stop(&state, &id, &e.to_string());
                return;
            }
        };
        let (prepared, warnings) = prepare_row(row, region.as_deref(), salts);
        let mut done = Done {
            source,
            name,
            listed: None,
            skipped: None,
            warnings,
        };
        match prepared {
            Err((_, why)) => done.skipped = Some(why),
            Ok(p) => {
                let email = p.card.email.value.to_lowercase();
                if !seen.insert(email) {
                    done.skipped =
                        Some("the same address as an earlier contact of this file".into());
                } else {
                    match contribute_card(&state, &key, p.card).await {
                        Ok(listing) => done.listed = Some(listing.to_hex()),
                        Err(r) => {
                            let fatal =
                                matches!(r.code, Some("not_member" | "shutting_down" | "storage"));
                            done.skipped = Some(r.why.clone());
                            record(&state, &id, done);
                            if fatal {
                                stop(&state, &id, &r.why);
                                return;
                            }
                            continue;
                        }
                    }
                }
            }
        }
        record(&state, &id, done);
    }
    if let Some(j) = lock(&state.imports).0.get_mut(&id) {
        j.finished = true;
    }
}

fn record(state: &WebState, id: &str, done: Done) {
    if let Some(j) = lock(&state.imports).0.get_mut(id) {
        j.done.push(done);
    }
}

fn stop(state: &WebState, id: &str, why: &str) {
    if let Some(j) = lock(&state.imports).0.get_mut(id) {
        j.stopped = Some(why.to_owned());
        j.finished = true;
    }
}

/// The import's progress and its per-card report.
async fn progress(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let m = match member(&state, &headers) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let jobs = lock(&state.imports);
    // Another member's import is as unknown as a missing one.
    let Some(j) = jobs.0.get(&id).filter(|j| j.member == m.key.public()) else {
        drop(jobs);
        return failed(
            "No such import",
            StatusCode::NOT_FOUND,
            "This import is not yours, or it ended long ago.",
            Some(("/import", "Import a file")),
        );
    };
    let listed = j.done.iter().filter(|d| d.listed.is_some()).count();
    let skipped = j.done.len() - listed;
    let mut r = page(
        "Import",
        html! {
            h1 { "Importing " (j.file) }
            progress #import-progress value=(j.done.len()) max=(j.total.max(1)) aria-label="Import progress" { (j.done.len()) " of " (j.total) }
            p role="status" #import-summary {
                (j.done.len()) " of " (j.total) " contacts: " (listed) " listed, " (skipped) " skipped"
                @if j.finished { ". Done." } @else { "…" }
            }
            @if let Some(why) = &j.stopped { p.error role="alert" { "Stopped: " (why) } }
            @for w in &j.file_warnings { p.hint { (w) } }
            @if !j.done.is_empty() {
                table #import-report {
                    thead { tr { th scope="col" { "Where" } th scope="col" { "Name" } th scope="col" { "Result" } } }
                    tbody {
                        @for d in &j.done {
                            tr {
                                td { (d.source) }
                                td { (d.name) }
                                td {
                                    @match (&d.listed, &d.skipped) {
                                        (Some(id), _) => { a href={ "/listing/" (id) } { "listed" } }
                                        (None, Some(why)) => { "skipped: " (why) }
                                        (None, None) => {}
                                    }
                                    @for w in &d.warnings { br; span.hint { (w) } }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/import" { "Import another file" } }
        },
    );
    if !j.finished {
        r.headers_mut()
            .insert("refresh", HeaderValue::from_static("1"));
    }
    r
}
