//! Reading contacts from files into drafts: vCard address books and CSV exports of the
//! usual CRMs.
//!
//! Nothing here normalises: fields come out as the file wrote them (trimmed), and the
//! caller normalises and checks each draft, so one rule decides what a card may carry
//! whether it was typed or imported. A bad row never stops the import; it comes back as
//! an [`ImportRow`] with a [`RowError`] naming its place in the file.

mod csv;
mod vcard;

pub(crate) use vcard::encode_caret;

use crate::contact::ContactDraft;
use thiserror::Error;

/// Largest file accepted: far above any real address book (a 100,000-contact CRM
/// export is about 30 MiB of CSV), small enough to hold in memory.
pub const MAX_IMPORT_BYTES: usize = 64 << 20;

/// One contact read from a file, or why it could not be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// Where it is in the file, for the member: "line 12" or "card 3 (Jane Doe)".
    pub source: String,
    pub draft: Result<ContactDraft, RowError>,
}

/// Why one contact was not read; the other contacts are unaffected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The fields a card cannot go without, in the order name, title, company, email.
    #[error("missing {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error("vCard version {0} is not supported; export the address book as vCard 3.0 or 4.0")]
    UnsupportedVersion(String),
    #[error("unreadable {field}: {reason}")]
    Unreadable { field: String, reason: String },
}

/// Why the file as a whole could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ImportError {
    #[error("cannot tell the format of {file_name:?}: name it .vcf (vCard) or .csv")]
    UnknownFormat { file_name: String },
    #[error("the file is {len} bytes; at most {MAX_IMPORT_BYTES} are accepted")]
    TooLarge { len: usize },
    #[error(
        "the file is not UTF-8 text (first bad byte on line {line}); save or export it as UTF-8"
    )]
    NotUtf8 { line: usize },
    #[error("the file holds no contacts")]
    Empty,
    #[error("no column holds email addresses; the header row has: {}", .headers.join(", "))]
    NoEmailColumn { headers: Vec<String> },
    #[error("CSV line {line}: {reason}")]
    Csv { line: u64, reason: String },
}

/// The file formats [`read`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    VCard,
    Csv,
}

/// By extension (.vcf, .vcard, .csv), else by content: a file that starts with
/// `BEGIN:VCARD` is a vCard whatever its name.
pub fn detect(file_name: &str, bytes: &[u8]) -> Result<Format, ImportError> {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "vcf" | "vcard" => return Ok(Format::VCard),
        "csv" => return Ok(Format::Csv),
        _ => {}
    }
    let head = strip_bom(bytes);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let head = head.get(start..).unwrap_or_default();
    let begin = b"BEGIN:VCARD";
    if head
        .get(..begin.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(begin))
    {
        return Ok(Format::VCard);
    }
    Err(ImportError::UnknownFormat {
        file_name: file_name.chars().take(256).collect(),
    })
}

/// Reads every contact in the file, in file order.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Vec<ImportRow>, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge { len: bytes.len() });
    }
    let format = detect(file_name, bytes)?;
    let bytes = strip_bom(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
        line: 1 + bytes
            .get(..e.valid_up_to())
            .unwrap_or_default()
            .iter()
            .filter(|b| **b == b'\n')
            .count(),
    })?;
    let rows = match format {
        Format::VCard => vcard::read(text),
        Format::Csv => csv::read(text)?,
    };
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(rows)
}

/// Excel and Windows tools start UTF-8 files with a byte order mark.
fn strip_bom(bytes: &[u8]) -> &[u8] {
    bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
}

/// The host of a company web address, as written: `https://www.acme.fr/contact` →
/// `acme.fr`. Only the parts that are never a domain go (scheme, `www.`, path, port,
/// user); case and IDNA are the caller's normalisation.
fn domain_of_url(raw: &str) -> Option<String> {
    let s = raw.trim();
    let s = s.split_once("://").map_or(s, |(_, rest)| rest);
    let s = s.split(['/', '?', '#']).next().unwrap_or_default();
    let s = s.rsplit_once('@').map_or(s, |(_, host)| host);
    let s = s.split_once(':').map_or(s, |(host, _)| host);
    let s = s.trim_end_matches('.');
    let s = match s.get(..4) {
        Some(w) if w.eq_ignore_ascii_case("www.") => s.get(4..).unwrap_or_default(),
        _ => s,
    };
    (s.contains('.') && !s.contains(char::is_whitespace)).then(|| s.to_owned())
}

/// Trimmed, and `None` when nothing is left.
fn nonempty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

/// The draft, or which required fields it lacks.
fn finish(draft: ContactDraft) -> Result<ContactDraft, RowError> {
    let missing: Vec<&'static str> = [
        ("name", &draft.name),
        ("title", &draft.title),
        ("company", &draft.company),
        ("email", &draft.email),
    ]
    .into_iter()
    .filter(|(_, v)| v.trim().is_empty())
    .map(|(n, _)| n)
    .collect();
    if missing.is_empty() {
        Ok(draft)
    } else {
        Err(RowError::Missing(missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_from_web_addresses() {
        for (raw, want) in [
            ("https://www.acme.fr/contact?x=1", Some("acme.fr")),
            ("WWW.Acme.fr", Some("Acme.fr")),
            ("acme.fr", Some("acme.fr")),
            ("http://user@shop.acme.co.uk:8080", Some("shop.acme.co.uk")),
            ("https://acme.fr/", Some("acme.fr")),
            ("localhost", None),
            ("", None),
            ("not a url", None),
        ] {
            assert_eq!(domain_of_url(raw).as_deref(), want, "{raw}");
        }
    }

    #[test]
    fn detection() {
        assert_eq!(detect("a.VCF", b""), Ok(Format::VCard));
        assert_eq!(detect("a.vcard", b""), Ok(Format::VCard));
        assert_eq!(detect("a.csv", b"BEGIN:VCARD"), Ok(Format::Csv));
        assert_eq!(
            detect("contacts", b"\xEF\xBB\xBF\r\n begin:vcard\r\n"),
            Ok(Format::VCard)
        );
        assert!(matches!(
            detect("contacts.txt", b"name,email"),
            Err(ImportError::UnknownFormat { .. })
        ));
    }
}
