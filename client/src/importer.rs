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
use crate::contact::{ContactError, Prepared, Salts};
use crate::import::{ImportRow, RowError};
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

/// Why a row was not listed, coarse enough to count: what an import's summary line
/// groups its skipped rows by ("3 missing title, 2 duplicate"), each row's own
/// message being in its [`Outcome`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// Required fields the row lacks, in the order name, title, company, email.
    Missing(Vec<&'static str>),
    /// The address does not read as one.
    InvalidEmail,
    /// Another field breaks the card rules (a company domain that is not one, a field
    /// over its length limit).
    InvalidField,
    /// The reader could not make out the row (a card without END:VCARD, a card
    /// vcard4 refuses).
    Unreadable,
    UnsupportedVersion,
    AlreadyImported,
    /// Earlier in the file, or listed by another member.
    Duplicate,
    OptedOut,
    /// The node refused it for another reason.
    Refused,
    /// Ordered but void under the rules.
    Void,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::Missing(fields) => write!(f, "missing {}", fields.join(", ")),
            Skip::InvalidEmail => f.write_str("invalid email"),
            Skip::InvalidField => f.write_str("invalid field"),
            Skip::Unreadable => f.write_str("unreadable"),
            Skip::UnsupportedVersion => f.write_str("unsupported vCard version"),
            Skip::AlreadyImported => f.write_str("already imported"),
            Skip::Duplicate => f.write_str("duplicate"),
            Skip::OptedOut => f.write_str("opted out"),
            Skip::Refused => f.write_str("refused by the node"),
            Skip::Void => f.write_str("void"),
        }
    }
}

impl From<&RowError> for Skip {
    fn from(e: &RowError) -> Self {
        match e {
            RowError::Missing(fields) => Skip::Missing(fields.clone()),
            RowError::UnsupportedVersion(_) => Skip::UnsupportedVersion,
            RowError::Unreadable { .. } => Skip::Unreadable,
        }
    }
}

impl From<&ContactError> for Skip {
    fn from(e: &ContactError) -> Self {
        match e {
            ContactError::Email(_) => Skip::InvalidEmail,
            // A phone is never why a row is refused (see `prepare_row`), but if one
            // were, it is a field like any other.
            ContactError::Phone(_) | ContactError::Field(_) => Skip::InvalidField,
        }
    }
}

/// One row of the file and its outcome.
#[derive(Debug, Clone)]
pub struct RowReport {
    /// Where it is in the file ("line 12", "card 3 (Jane Doe)").
    pub source: String,
    pub outcome: Outcome,
    /// Why it was not listed, for the summary's counts; `None` when it was (or, in a
    /// dry run, would be).
    pub skip: Option<Skip>,
    /// Worth a look, whatever the outcome: what the reader changed or left out (a
    /// value in an unknown charset), a phone left out, a number that may be a mobile.
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

    /// How many rows were skipped for each reason, the most frequent first (ties in
    /// [`Skip`] order): the "skipped" part of an import's summary line.
    pub fn skipped(&self) -> Vec<(Skip, usize)> {
        let mut counts: HashMap<&Skip, usize> = HashMap::new();
        for skip in self.rows.iter().filter_map(|r| r.skip.as_ref()) {
            *counts.entry(skip).or_default() += 1;
        }
        let mut counts: Vec<(Skip, usize)> =
            counts.into_iter().map(|(s, n)| (s.clone(), n)).collect();
        counts.sort_by(|(a, m), (b, n)| n.cmp(m).then_with(|| a.cmp(b)));
        counts
    }

    /// How many rows carry at least one warning.
    pub fn warned(&self) -> usize {
        self.rows.iter().filter(|r| !r.warnings.is_empty()).count()
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
        let (outcome, skip, warnings, email) = match step {
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
            skip,
            warnings,
        };
        progress(&r);
        report.rows.push(r);
    }
    Ok(report)
}

/// The card a row makes, or why it makes none, and its warnings (the reader's
/// first). A card is worth having without its phone, so a phone the rules refuse (a
/// mobile, an extension, not a number) is left out with a warning and the row's next
/// phone is tried, until one is accepted or none is left: a file rarely says which of
/// its numbers is a mobile, and an untyped mobile must not cost the card its typed
/// work line.
pub fn prepare_row(
    row: ImportRow,
    region: Option<&str>,
    salts: Salts,
) -> (Result<Prepared, (Skip, String)>, Vec<String>) {
    let mut warnings = row.warnings;
    let mut draft = match row.draft {
        Ok(d) => d,
        Err(e) => return (Err((Skip::from(&e), e.to_string())), warnings),
    };
    let mut phones = draft.phone.take().into_iter().chain(row.other_phones);
    let prepared = loop {
        draft.phone = phones.next();
        match draft.prepare(region, salts) {
            Err(ContactError::Phone(e)) if draft.phone.is_some() => {
                warnings.push(format!(
                    "phone {} left out: {e}",
                    draft.phone.as_deref().unwrap_or_default()
                ));
            }
            other => break other,
        }
    };
    match prepared {
        Ok(p) => {
            warnings.extend(p.warnings.iter().cloned());
            (Ok(p), warnings)
        }
        Err(e) => (Err((Skip::from(&e), e.to_string())), warnings),
    }
}

/// The outcome of one row, why it was skipped, its warnings and its folded address;
/// `Err` stops the import.
#[allow(clippy::type_complexity)]
fn one_row(
    session: &Session,
    row: ImportRow,
    region: Option<&str>,
    dry_run: bool,
    listed: &HashMap<String, ContentId>,
    in_file: &HashMap<String, String>,
) -> Result<(Outcome, Option<Skip>, Vec<String>, Option<String>), MemberError> {
    let salts = Salts::random()?;
    let (prepared, warnings) = prepare_row(row, region, salts);
    let prepared = match prepared {
        Ok(p) => p,
        Err((skip, why)) => return Ok((Outcome::Rejected(why), Some(skip), warnings, None)),
    };
    let email = fold_email(&prepared.card.email.value);
    if let Some(id) = listed.get(&email) {
        let outcome = Outcome::AlreadyImported(*id);
        return Ok((outcome, Some(Skip::AlreadyImported), warnings, None));
    }
    if let Some(first) = in_file.get(&email) {
        let why = format!("the same address as {first}");
        return Ok((
            Outcome::Duplicate(why),
            Some(Skip::Duplicate),
            warnings,
            None,
        ));
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
    let skip = skip_of(&outcome);
    Ok((outcome, skip, warnings, Some(email)))
}

/// Why an outcome from the node is a skip.
fn skip_of(outcome: &Outcome) -> Option<Skip> {
    match outcome {
        Outcome::Accepted(_) | Outcome::WouldBeAccepted => None,
        Outcome::AlreadyImported(_) => Some(Skip::AlreadyImported),
        Outcome::Duplicate(why) if why == OPTED_OUT => Some(Skip::OptedOut),
        Outcome::Duplicate(_) => Some(Skip::Duplicate),
        Outcome::Rejected(_) => Some(Skip::Refused),
        Outcome::Void(_) => Some(Skip::Void),
    }
}

/// The node's word for an opted-out address, as the member reads it.
const OPTED_OUT: &str = "this person opted out";

/// A refusal of one row, or the error that stops the import.
fn refusal(e: MemberError) -> Result<Outcome, MemberError> {
    if stops_the_import(&e) {
        return Err(e);
    }
    Ok(match &e {
        MemberError::Api(a) => match a.code() {
            Some("duplicate_card") => Outcome::Duplicate("already listed by another member".into()),
            Some("opted_out") => Outcome::Duplicate(OPTED_OUT.into()),
            Some("too_many_duplicates") => Outcome::Duplicate(e.to_string()),
            _ => Outcome::Rejected(e.to_string()),
        },
        _ => Outcome::Rejected(e.to_string()),
    })
}
