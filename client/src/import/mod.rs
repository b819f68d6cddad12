//! Reading contacts from files into drafts: vCard address books and CSV exports of the
//! usual CRMs.
//!
//! Nothing here normalises: fields come out as the file wrote them (trimmed), and the
//! caller normalises and checks each draft, so one rule decides what a card may carry
//! whether it was typed or imported. A bad row never stops the import; it comes back as
//! an [`ImportRow`] with a [`RowError`] naming its place in the file.
//!
//! Files come in whatever encoding their exporter used: UTF-8 with or without a byte
//! order mark, UTF-16 with one (Excel's "Unicode text", some Windows tools), and, from
//! older software and Excel's default "CSV", Windows-1252. Rather than refuse a file
//! that is not UTF-8, which the member can rarely fix, it is read as Windows-1252 (a
//! superset of Latin-1, so right for most Western European address books) and the
//! import says so, so the member can check its accented letters (see `text`).

mod csv;
mod text;
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
    /// The contact's other phone numbers, best first, after the draft's own. A file
    /// does not say which number is a mobile (many are untyped) nor which has an
    /// extension, and only the phone rules can tell, so the importer tries each in
    /// turn rather than lose a usable direct line behind a refused one.
    pub other_phones: Vec<String>,
    /// What the reader changed or left out of this contact ("line 14: ..."), for the
    /// member to check; the contact is read all the same.
    pub warnings: Vec<String>,
}

impl ImportRow {
    /// A row with no other phones and nothing to warn about.
    pub fn new(source: impl Into<String>, draft: Result<ContactDraft, RowError>) -> Self {
        ImportRow {
            source: source.into(),
            draft,
            other_phones: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// Everything read from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub format: Format,
    /// The contacts, in file order.
    pub rows: Vec<ImportRow>,
    /// About the file as a whole (e.g. read as Windows-1252 because it is not UTF-8):
    /// shown once, not per row.
    pub warnings: Vec<String>,
}

/// Why one contact was not read; the other contacts are unaffected.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The fields a card cannot go without, in the order name, title, company, email.
    #[error("missing {}", .0.join(", "))]
    Missing(Vec<&'static str>),
    #[error(
        "vCard version {0} is not supported; export the address book as vCard 2.1, 3.0 or 4.0"
    )]
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
/// `BEGIN:VCARD` is a vCard whatever its name (and whatever its byte order mark).
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
    let head = text::head(bytes);
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
///
/// The file's own warnings (see [`Imported::warnings`]) go on its first row, so a
/// caller that shows only row warnings still shows them; [`read_file`] keeps them apart.
pub fn read(file_name: &str, bytes: &[u8]) -> Result<Vec<ImportRow>, ImportError> {
    let Imported {
        mut rows, warnings, ..
    } = read_file(file_name, bytes)?;
    if let Some(first) = rows.first_mut() {
        first.warnings.splice(0..0, warnings);
    }
    Ok(rows)
}

/// Reads every contact in the file, in file order, with what the member should know
/// about the file as a whole.
pub fn read_file(file_name: &str, bytes: &[u8]) -> Result<Imported, ImportError> {
    if bytes.len() > MAX_IMPORT_BYTES {
        return Err(ImportError::TooLarge { len: bytes.len() });
    }
    let format = detect(file_name, bytes)?;
    let text = text::FileText::decode(bytes);
    let mut warnings = text.warnings.clone();
    let rows = match format {
        Format::VCard => {
            let (rows, guessed) = vcard::read(&text.bytes, text.utf8);
            if !guessed.is_empty() {
                let what = if text.utf8 {
                    "some text is neither UTF-8 nor in a charset the card names"
                } else {
                    "the file is not UTF-8 text, and some of it names no charset"
                };
                warnings.push(text::guessed(&guessed, what));
            }
            rows
        }
        Format::Csv => csv::read(&text.whole(&mut warnings))?,
    };
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(Imported {
        format,
        rows,
        warnings,
    })
}

/// Full-width forms (U+FF01 to U+FF5E, and the ideographic space) as their ASCII
/// originals: Japanese, Chinese and Korean address books often hold numbers typed as
/// `＋３３ １ ２３`, which the phone rules, and E.164, only know in ASCII. This is what
/// Unicode compatibility normalisation (NFKC) does to these characters, without its
/// other foldings.
fn fold_fullwidth(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect()
}

/// A draft's phone and the row's other phones from the numbers a reader found, best
/// first: blank ones dropped, full-width digits folded.
fn phones(ranked: impl IntoIterator<Item = String>) -> (Option<String>, Vec<String>) {
    let mut all = ranked
        .into_iter()
        .map(|p| fold_fullwidth(p.trim()))
        .filter(|p| !p.trim().is_empty());
    let first = all.next();
    let mut rest: Vec<String> = Vec::new();
    for p in all {
        if first.as_ref() != Some(&p) && !rest.contains(&p) {
            rest.push(p);
        }
    }
    (first, rest)
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
    fn full_width_phones_folded() {
        assert_eq!(
            fold_fullwidth("＋３３　１　２３　４５　６７　８９（代表）"),
            "+33 1 23 45 67 89(代表)"
        );
        assert_eq!(fold_fullwidth("+33 1 23"), "+33 1 23");
    }

    #[test]
    fn phones_ranked_without_blanks_or_repeats() {
        let p = |v: &[&str]| phones(v.iter().map(|s| s.to_string()));
        assert_eq!(p(&[]), (None, vec![]));
        assert_eq!(
            p(&[" ", "０１ ２３", "01 23", "02", "02"]),
            (Some("01 23".into()), vec!["02".into()])
        );
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
        assert_eq!(
            detect(
                "contacts",
                b"\xFF\xFEB\x00E\x00G\x00I\x00N\x00:\x00V\x00C\x00A\x00R\x00D\x00"
            ),
            Ok(Format::VCard)
        );
        assert!(matches!(
            detect("contacts.txt", b"name,email"),
            Err(ImportError::UnknownFormat { .. })
        ));
    }
}
