//! Running an import: each row read from a file (see [`crate::import`]) prepared,
//! checked and contributed, one at a time, with what became of it.
//!
//! An import may be stopped at any point (Ctrl-C, a lost node, a full disk) and run
//! again with the same file: a row whose address this key file already listed is
//! skipped without asking the node, and a contribution signed but never handed over
//! is handed over first. So a rerun resumes, and no card is listed (or rewarded)
//! twice. Each row costs the same whatever the size of the file or of the card book:
//! the book is read once and appended to.

use crate::api::ApiError;
use crate::cardbook::CardBook;
use crate::contact::{ContactError, Salts};
use crate::import::ImportRow;
use crate::member::{MemberError, Session};
use carnet_api::Submitted;
use carnet_protocol::card::fold_email;
use carnet_protocol::ContentId;
use std::collections::HashMap;

/// What became of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Listed now, under this listing id.
    Accepted(ContentId),
    /// Dry run: the node would take it (its address is not listed nor opted out).
    WouldBeAccepted,
    /// This key file listed the address before (an earlier run of the import).
    AlreadyImported(ContentId),
    /// Listed by another member, opted out, or earlier in the same file.
    Duplicate(String),
    /// The row cannot become a card, or the node refused it.
    Rejected(String),
    /// Signed and ordered, but void under the rules: the ledger's reason (e.g.
    /// `AuthorNotActiveMember`).
    Void(String),
}

/// One row of the file and its outcome.
#[derive(Debug, Clone)]
pub struct RowReport {
    /// Where it is in the file ("line 12", "card 3 (Jane Doe)").
    pub source: String,
    pub outcome: Outcome,
    /// Accepted with a change worth a look (a phone left out, a number that may be
    /// a mobile).
    pub warnings: Vec<String>,
}

/// Why an import stopped before its last row: the next rows would fail the same way.
#[derive(Debug)]
pub struct Stopped {
    /// The row it stopped at (not done: a rerun starts there).
    pub at: String,
    pub error: MemberError,
}

#[derive(Debug, Default)]
pub struct Report {
    pub rows: Vec<RowReport>,
    pub stopped: Option<Stopped>,
    /// Rows not reached because of the stop.
    pub not_reached: usize,
}

impl Report {
    pub fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.rows.iter().filter(|r| f(&r.outcome)).count()
    }
}

/// Whether `e` will fail every following row the same way: the node is gone or
/// unwell, the member is not allowed, the key file or the disk is in trouble.
pub fn stops_the_import(e: &MemberError) -> bool {
    match e {
        MemberError::Api(ApiError::Unreachable { .. } | ApiError::Decode { .. }) => true,
        MemberError::Api(ApiError::Refused { status, .. }) => {
            *status >= 500 || *status == 401 || *status == 403
        }
        MemberError::Key(_) | MemberError::Stuck(_) | MemberError::WrongNetwork { .. } => true,
        _ => false,
    }
}

/// Imports `rows` with `session` (or, with `dry_run`, asks the node what it would
/// do, signing nothing). `progress` sees each row as it is done.
pub fn run(
    session: &Session,
    rows: Vec<ImportRow>,
    region: Option<&str>,
    dry_run: bool,
    mut progress: impl FnMut(&RowReport),
) -> Result<Report, MemberError> {
    // First the contribution a stopped run signed and may not have handed over: it
    // then lands in the card book, read next.
    if !dry_run {
        session.flush()?;
    }
    let book = CardBook::new(session.key_path());
    // By address folded as dedup keys fold it: what earlier runs listed, and (in
    // `in_file`) what this run took or would take, and from which row.
    let listed: HashMap<String, ContentId> = book
        .load()?
        .into_iter()
        .map(|(id, card)| (fold_email(&card.email.value), id))
        .collect();
    let mut in_file: HashMap<String, String> = HashMap::new();
    let mut report = Report::default();
    let total = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let source = row.source.clone();
        let step = one_row(session, row, region, dry_run, &listed, &in_file);
        let (outcome, warnings, email) = match step {
            Ok(x) => x,
            Err(error) => {
                report.stopped = Some(Stopped { at: source, error });
                report.not_reached = total - i;
                break;
            }
        };
        if let Some(email) = email {
            if matches!(outcome, Outcome::Accepted(_) | Outcome::WouldBeAccepted) {
                in_file.entry(email).or_insert_with(|| source.clone());
            }
        }
        let r = RowReport {
            source,
            outcome,
            warnings,
        };
        progress(&r);
        report.rows.push(r);
    }
    Ok(report)
}

/// The outcome of one row, its warnings and its folded address; `Err` stops the
/// import.
fn one_row(
    session: &Session,
    row: ImportRow,
    region: Option<&str>,
    dry_run: bool,
    listed: &HashMap<String, ContentId>,
    in_file: &HashMap<String, String>,
) -> Result<(Outcome, Vec<String>, Option<String>), MemberError> {
    let mut draft = match row.draft {
        Ok(d) => d,
        Err(e) => return Ok((Outcome::Rejected(e.to_string()), Vec::new(), None)),
    };
    let salts = Salts::random()?;
    let mut warnings = Vec::new();
    let prepared = match draft.prepare(region, salts) {
        // A card is worth having without its phone: the phone goes, the card stays.
        Err(ContactError::Phone(e)) => {
            warnings.push(format!(
                "phone {} left out: {e}",
                draft.phone.as_deref().unwrap_or_default()
            ));
            draft.phone = None;
            draft.prepare(region, salts)
        }
        other => other,
    };
    let prepared = match prepared {
        Ok(p) => p,
        Err(e) => return Ok((Outcome::Rejected(e.to_string()), warnings, None)),
    };
    warnings.extend(prepared.warnings.iter().cloned());
    let email = fold_email(&prepared.card.email.value);
    if let Some(id) = listed.get(&email) {
        return Ok((Outcome::AlreadyImported(*id), warnings, None));
    }
    if let Some(first) = in_file.get(&email) {
        let why = format!("the same address as {first}");
        return Ok((Outcome::Duplicate(why), warnings, None));
    }
    let outcome = if dry_run {
        match session.dedup_key(&prepared.card.email.value) {
            Ok(_) => Outcome::WouldBeAccepted,
            Err(e) => refusal(e)?,
        }
    } else {
        match session.contribute(&prepared.card) {
            Ok((_, Submitted::Ordered { outcome, .. })) if outcome == "void:DuplicateCard" => {
                Outcome::Duplicate("already listed".into())
            }
            Ok((_, Submitted::Ordered { outcome, .. })) if outcome.starts_with("void:") => {
                Outcome::Void(outcome[5..].to_owned())
            }
            Ok((id, _)) => Outcome::Accepted(id),
            Err(e) => refusal(e)?,
        }
    };
    Ok((outcome, warnings, Some(email)))
}

/// A refusal of one row, or the error that stops the import.
fn refusal(e: MemberError) -> Result<Outcome, MemberError> {
    if stops_the_import(&e) {
        return Err(e);
    }
    Ok(match &e {
        MemberError::Api(a) => match a.code() {
            Some("duplicate_card") => Outcome::Duplicate("already listed by another member".into()),
            Some("opted_out") => Outcome::Duplicate("this person opted out".into()),
            Some("too_many_duplicates") => Outcome::Duplicate(e.to_string()),
            _ => Outcome::Rejected(e.to_string()),
        },
        _ => Outcome::Rejected(e.to_string()),
    })
}
