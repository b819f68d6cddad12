//! vCard 2.1, 3.0 and 4.0 address books.
//!
//! vcard4 (an RFC 6350 parser) reads the properties, but on its own it rejects real
//! files: it refuses vCard 2.1 outright (what Outlook and Android export by default);
//! one 3.0-only property (LABEL, CLASS, MAILER, NAME, AGENT, SORT-STRING), one bare
//! parameter (`TEL;WORK;VOICE:`) or one bad card among thousands fails the whole file;
//! and a `CHARSET` other than UTF-8 silently drops the property. So each card is first
//! cut out of the file here, from its bytes, since a 2.1 file may write each value in
//! the charset its `CHARSET=` names:
//!
//! - lines are unfolded: a line starting with a space or tab continues the previous
//!   one (RFC 6350 §3.2, which drops that one character; in 2.1 it is kept, since
//!   2.1 folds only where there was white space), and a quoted-printable value whose
//!   line ends with `=` (a soft line break) goes on on the next line, indented or not;
//! - each value a draft needs is decoded: quoted-printable undone, then read in its
//!   `CHARSET`, else as UTF-8, else as Windows-1252 (what Outlook writes), which the
//!   caller is told about;
//! - bare parameters are rewritten as `TYPE=`, and those vcard4 would choke on and no
//!   draft needs are dropped;
//!
//! and only then is it given to vcard4, as a 3.0 or 4.0 card, one card at a time, so a
//! bad card is one [`RowError`] and a bad line one warning on its card.
//!
//! vcard4 0.7.3 also splits structured values (ORG, ADR, N) at escaped semicolons
//! (`ORG:AT&T\; Inc` comes out as `AT&T`), so `\;` is swapped for a private-use
//! character before parsing and swapped back after.

use super::{domain_of_url, finish, nonempty, ImportRow, RowError};
use crate::contact::ContactDraft;
use encoding_rs::{Encoding, WINDOWS_1252};
use vcard4::parameter::{Parameters, TypeParameter};
use vcard4::property::{AddressProperty, TextOrUriProperty};
use vcard4::Vcard;

/// Stands in for an escaped semicolon while vcard4 parses (see the module docs).
const SEMICOLON: char = '\u{E000}';

/// The properties a draft is built from; the rest never reach vcard4.
const KEPT: [&str; 7] = ["FN", "N", "TITLE", "ORG", "EMAIL", "TEL", "ADR"];

/// The versions read. 2.1 and 3.0 cards go to vcard4 as 3.0: once decoded and their
/// parameters rewritten, what a draft needs of them reads the same.
const VERSIONS: [&str; 3] = ["2.1", "3.0", "4.0"];

mod lines;
#[cfg(test)]
mod tests;

use lines::*;

/// The contacts of a vCard file, and the lines whose text was read as Windows-1252 for
/// want of a charset (see [`decode_value`]). `utf8`: the file is UTF-8 text (or was
/// transcoded to it from UTF-16).
pub(super) fn read(bytes: &[u8], utf8: bool) -> (Vec<ImportRow>, Vec<usize>) {
    let mut guessed = Vec::new();
    let rows = cards(&physical_lines(bytes))
        .iter()
        .enumerate()
        .map(|(i, card)| read_card(i + 1, card, utf8, &mut guessed))
        .collect();
    (rows, guessed)
}

/// The row of the card `index` (from 1); the lines of its text read as Windows-1252
/// for want of a charset go on `guessed`. A line it cannot decode is left out with a
/// warning rather than costing the card.
fn read_card(index: usize, raw: &RawCard<'_>, utf8: bool, guessed: &mut Vec<usize>) -> ImportRow {
    let fail = |error: RowError, warnings: Vec<String>| ImportRow {
        source: source(index, None),
        draft: Err(error),
        other_phones: Vec::new(),
        warnings,
    };
    if !raw.terminated {
        return fail(
            RowError::Unreadable {
                field: format!("card starting on line {}", raw.first_line),
                reason: "no END:VCARD before the end of the file".into(),
            },
            Vec::new(),
        );
    }
    let version = version_of(raw).unwrap_or_else(|| "4.0".into());
    if !VERSIONS.contains(&version.as_str()) {
        return fail(RowError::UnsupportedVersion(version), Vec::new());
    }
    let lines = unfold(raw, version == "2.1");
    let mut warnings = Vec::new();
    let mut has_fn = false;
    let mut kept = String::new();
    let mut urls = Vec::new();
    for logical in &lines {
        let Some((name, params, value)) = split_line(&logical.bytes) else {
            // No colon: a 2.1 base64 line written without indent, or garbage; neither
            // is a field a draft needs.
            continue;
        };
        let bare = name
            .rsplit('.')
            .next()
            .unwrap_or(&name)
            .to_ascii_uppercase();
        if !(KEPT.contains(&bare.as_str()) || bare == "URL") || value.trim_ascii().is_empty() {
            continue;
        }
        let (transfer, charset) = transfer_of(&params);
        let value = match decode_value(&bare, value, transfer, charset.as_deref(), utf8) {
            Ok(v) => v,
            Err(reason) => {
                warnings.push(format!("line {}: {bare} left out: {reason}", logical.line));
                continue;
            }
        };
        if let Some(note) = value.note {
            warnings.push(format!("line {}: {note}", logical.line));
        }
        if value.guessed {
            guessed.push(logical.line);
        }
        if bare == "URL" {
            urls.push(unescape(&value.text));
            continue;
        }
        if value.text.trim().is_empty() {
            continue;
        }
        has_fn |= bare == "FN";
        kept.push_str(&bare);
        kept.push_str(&rewrite_params(&params));
        if bare == "TEL" {
            // Read as text: vcard4 hands URI values to uriparse, which panics on
            // some malformed ones; the `tel:` prefix is stripped here instead.
            kept.push_str(";VALUE=text");
        }
        kept.push(':');
        let mut text = for_vcard4(&value.text);
        if bare == "ADR" {
            pad_address(&mut text);
        }
        kept.push_str(&text);
        kept.push_str("\r\n");
    }
    let parse_as = if version == "4.0" { "4.0" } else { "3.0" };
    // vcard4 refuses a card without FN; a 3.0 card may have only N, read below.
    let placeholder_fn = if has_fn { "" } else { "FN:-\r\n" };
    let text = format!("BEGIN:VCARD\r\nVERSION:{parse_as}\r\n{placeholder_fn}{kept}END:VCARD\r\n");
    let card = match vcard4::parse_loose(&text) {
        Ok(mut cards) if !cards.is_empty() => cards.swap_remove(0),
        Ok(_) => {
            return fail(
                RowError::Unreadable {
                    field: format!("card starting on line {}", raw.first_line),
                    reason: "empty".into(),
                },
                warnings,
            )
        }
        Err(e) => {
            return fail(
                RowError::Unreadable {
                    field: format!("card starting on line {}", raw.first_line),
                    reason: e.to_string(),
                },
                warnings,
            )
        }
    };
    let (draft, phones) = draft_of(&card, has_fn, &urls);
    let name = nonempty(&draft.name);
    let (phone, other_phones) = super::phones(phones);
    let draft = finish(ContactDraft { phone, ..draft });
    ImportRow {
        source: source(index, name.as_deref()),
        other_phones: if draft.is_ok() {
            other_phones
        } else {
            Vec::new()
        },
        draft,
        warnings,
    }
}

fn source(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("card {index} ({n})"),
        None => format!("card {index}"),
    }
}

/// The draft, without its phone, and the card's phone numbers that may be a direct
/// line, best first.
fn draft_of(card: &Vcard, has_fn: bool, urls: &[String]) -> (ContactDraft, Vec<String>) {
    let name = if has_fn {
        card.formatted_name
            .iter()
            .map(|p| restore(&p.value))
            .find(|v| !v.is_empty())
            .unwrap_or_default()
    } else {
        // N is family;given;additional;prefix;suffix.
        card.name
            .as_ref()
            .map(|n| {
                [1, 2, 0]
                    .iter()
                    .filter_map(|i| n.value.get(*i))
                    .map(|s| restore(s))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let title = card
        .title
        .iter()
        .map(|p| restore(&p.value))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let company = card
        .org
        .iter()
        .filter_map(|p| p.value.first())
        .map(|v| restore(v))
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    let email = ranked(
        card.email
            .iter()
            .map(|p| (restore(&p.value), types(&p.parameters))),
        |t| if has(t, "work") { Some(0) } else { Some(1) },
    )
    .into_iter()
    .next()
    .unwrap_or_default();
    let phones = ranked(card.tel.iter().map(tel), phone_rank);
    let address = best_address(&card.address);
    let draft = ContactDraft {
        name,
        title,
        company,
        company_domain: urls.iter().find_map(|u| domain_of_url(u)),
        email,
        phone: None,
        city: address
            .and_then(|a| a.value.locality.as_deref())
            .and_then(|c| nonempty(&restore(c))),
        postal_address: address.and_then(postal),
    };
    (draft, phones)
}

/// The lowercased TYPE values of a property; vcard4 keeps unknown and upper-case
/// 3.0 types (`WORK`) as extensions, so they are compared by name.
fn types(params: &Option<Parameters>) -> Vec<String> {
    params
        .as_ref()
        .and_then(|p| p.types.as_ref())
        .map(|ts| {
            ts.iter()
                .map(|t| match t {
                    TypeParameter::Extension(s) => s.to_ascii_lowercase(),
                    other => other.to_string().to_ascii_lowercase(),
                })
                // A quoted list (`TYPE="work,voice"`) may arrive as one value.
                .flat_map(|t| {
                    t.split(',')
                        .map(|x| x.trim().to_owned())
                        .collect::<Vec<_>>()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn has(types: &[String], wanted: &str) -> bool {
    types.iter().any(|t| t == wanted)
}

/// The values by rank, lowest first, and of one rank the preferred (`TYPE=pref`, or
/// 4.0's `PREF`) first, else in card order; `rank` returns `None` for values never
/// chosen.
fn ranked(
    values: impl Iterator<Item = (String, Vec<String>)>,
    rank: impl Fn(&[String]) -> Option<u8>,
) -> Vec<String> {
    let mut out: Vec<((u8, bool), String)> = values
        .filter(|(v, _)| !v.trim().is_empty())
        .filter_map(|(v, t)| rank(&t).map(|r| ((r, !has(&t, "pref")), v.trim().to_owned())))
        .collect();
    out.sort_by_key(|(r, _)| *r);
    out.into_iter().map(|(_, v)| v).collect()
}

fn tel(p: &TextOrUriProperty) -> (String, Vec<String>) {
    let (v, params) = match p {
        TextOrUriProperty::Text(t) => (restore(&t.value), &t.parameters),
        TextOrUriProperty::Uri(u) => (u.value.to_string(), &u.parameters),
    };
    let v = match v.get(..4) {
        Some(s) if s.eq_ignore_ascii_case("tel:") => v.get(4..).unwrap_or_default(),
        _ => v.as_str(),
    };
    (v.trim().to_owned(), types(params))
}

/// A card carries a direct line: never one typed mobile, fax or pager; a work line
/// first, a home line only when nothing else is left. An untyped number ranks above a
/// home line though it may be a mobile: the importer then falls back to the next (see
/// [`ImportRow::other_phones`]).
fn phone_rank(t: &[String]) -> Option<u8> {
    let never = ["cell", "mobile", "iphone", "fax", "pager", "textphone"];
    if t.iter().any(|x| never.contains(&x.as_str())) {
        None
    } else if has(t, "work") {
        Some(0)
    } else if has(t, "home") {
        Some(2)
    } else {
        Some(1)
    }
}

/// The work address, else the first one not marked home.
fn best_address(addresses: &[AddressProperty]) -> Option<&AddressProperty> {
    addresses
        .iter()
        .find(|a| has(&types(&a.parameters), "work"))
        .or_else(|| {
            addresses
                .iter()
                .find(|a| !has(&types(&a.parameters), "home"))
        })
}

/// The postal address on one line: the LABEL parameter when there is one (RFC 6350's
/// formatted address, with RFC 6868 `^` escapes), else the components joined.
fn postal(a: &AddressProperty) -> Option<String> {
    if let Some(label) = a.parameters.as_ref().and_then(|p| p.label.as_deref()) {
        let label = restore(&decode_caret(label).replace("\\n", "\n"));
        if !label.is_empty() {
            return Some(label);
        }
    }
    let v = &a.value;
    let part = |s: &Option<String>| s.as_deref().map(restore).filter(|s| !s.is_empty());
    let town = [part(&v.postal_code), part(&v.locality)]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let parts: Vec<String> = [
        part(&v.po_box),
        part(&v.extended_address),
        part(&v.street_address),
        nonempty(&town),
        part(&v.region),
        part(&v.country_name),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// RFC 6868 parameter escapes: `^n` newline, `^'` double quote, `^^` caret.
fn decode_caret(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '^' {
            match chars.peek() {
                Some('n' | 'N') => {
                    out.push('\n');
                    chars.next();
                }
                Some('\'') => {
                    out.push('"');
                    chars.next();
                }
                Some('^') => {
                    out.push('^');
                    chars.next();
                }
                _ => out.push('^'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// RFC 6868 encoding, for the export's LABEL parameter.
pub(crate) fn encode_caret(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '^' => out.push_str("^^"),
            '"' => out.push_str("^'"),
            '\n' => out.push_str("^n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}
