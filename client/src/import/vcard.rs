//! vCard 3.0 and 4.0 address books.
//!
//! vcard4 (an RFC 6350 parser) reads the properties, but on its own it rejects real
//! vCard 3.0 files: a single 3.0-only property (LABEL, CLASS, MAILER, NAME, AGENT,
//! SORT-STRING) or a bare parameter (`TEL;WORK;VOICE:`) fails the whole file, and so
//! does one bad card among thousands. So each card is first cut out of the file here
//! (lines unfolded, BEGIN/END matched), reduced to the properties a draft needs, its
//! bare parameters rewritten as `TYPE=`, and only then given to vcard4, one card at a
//! time, so a bad card is one [`RowError`].
//!
//! vcard4 0.7.3 also splits structured values (ORG, ADR, N) at escaped semicolons
//! (`ORG:AT&T\; Inc` comes out as `AT&T`), so `\;` is swapped for a private-use
//! character before parsing and swapped back after.

use super::{domain_of_url, finish, nonempty, ImportRow, RowError};
use crate::contact::ContactDraft;
use vcard4::parameter::{Parameters, TypeParameter};
use vcard4::property::{AddressProperty, TextOrUriProperty};
use vcard4::Vcard;

/// Stands in for an escaped semicolon while vcard4 parses (see the module docs).
const SEMICOLON: char = '\u{E000}';

/// The properties a draft is built from; the rest never reach vcard4.
const KEPT: [&str; 7] = ["FN", "N", "TITLE", "ORG", "EMAIL", "TEL", "ADR"];

/// Parameter names vcard4 accepts besides `X-` ones; others are dropped.
const KNOWN_PARAMS: [&str; 12] = [
    "LANGUAGE",
    "VALUE",
    "PREF",
    "ALTID",
    "PID",
    "TYPE",
    "MEDIATYPE",
    "CALSCALE",
    "SORT-AS",
    "CHARSET",
    "LABEL",
    "ENCODING",
];

/// One card's logical lines, unfolded.
struct RawCard {
    first_line: usize,
    lines: Vec<String>,
    terminated: bool,
}

pub(super) fn read(text: &str) -> Vec<ImportRow> {
    cards(text)
        .into_iter()
        .enumerate()
        .map(|(i, card)| read_card(i + 1, &card))
        .collect()
}

/// Unfolds lines (RFC 6350 §3.2: a line starting with a space or tab continues the
/// previous one) and groups them between BEGIN:VCARD and END:VCARD.
fn cards(text: &str) -> Vec<RawCard> {
    let mut logical: Vec<(usize, String)> = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        match (line.strip_prefix([' ', '\t']), logical.last_mut()) {
            (Some(rest), Some((_, prev))) => prev.push_str(rest),
            _ => logical.push((n + 1, line.to_owned())),
        }
    }
    let mut out = Vec::new();
    let mut current: Option<RawCard> = None;
    for (n, line) in logical {
        let trimmed = line.trim();
        if trimmed.eq_ignore_ascii_case("BEGIN:VCARD") {
            if let Some(open) = current.take() {
                out.push(open);
            }
            current = Some(RawCard {
                first_line: n,
                lines: Vec::new(),
                terminated: false,
            });
        } else if trimmed.eq_ignore_ascii_case("END:VCARD") {
            if let Some(mut card) = current.take() {
                card.terminated = true;
                out.push(card);
            }
        } else if let Some(card) = current.as_mut() {
            if !trimmed.is_empty() {
                card.lines.push(line);
            }
        }
    }
    out.extend(current);
    out
}

/// A content line cut at its first colon outside double quotes: (group.name, params
/// with their leading `;`, value).
fn split_line(line: &str) -> Option<(&str, &str, &str)> {
    let mut quoted = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ':' if !quoted => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let head = line.get(..colon)?;
    let value = line.get(colon + 1..)?;
    let name_end = head.find(';').unwrap_or(head.len());
    Some((head.get(..name_end)?, head.get(name_end..)?, value))
}

/// Splits a parameter list at semicolons outside double quotes.
fn split_params(params: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in params.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(params.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(params.get(start..).unwrap_or_default());
    out.into_iter().filter(|p| !p.is_empty()).collect()
}

/// vCard 2.1/3.0 bare parameters (`WORK`) become `TYPE=WORK`; parameters vcard4 does
/// not know are dropped, since none of them matters to a draft, and so is VALUE (see
/// [`read_card`]).
fn rewrite_params(params: &str) -> String {
    let mut out = String::new();
    for p in split_params(params) {
        match p.split_once('=') {
            Some((key, _)) => {
                let key = key.trim().to_ascii_uppercase();
                if key != "VALUE" && (KNOWN_PARAMS.contains(&key.as_str()) || key.starts_with("X-"))
                {
                    out.push(';');
                    out.push_str(p);
                }
            }
            None => {
                out.push_str(";TYPE=");
                out.push_str(p.trim());
            }
        }
    }
    out
}

/// Replaces `\;` with [`SEMICOLON`], leaving every other escape for vcard4.
fn protect_semicolons(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(';') => out.push(SEMICOLON),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Undoes text escapes (`\n`, `\,`, `\;`, `\\`, and Apple's `\:` in URLs).
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(next) => out.push(next),
            None => {}
        }
    }
    out
}

/// Text as it was before [`protect_semicolons`], on one line.
fn restore(value: &str) -> String {
    value
        .replace(SEMICOLON, ";")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_card(index: usize, raw: &RawCard) -> ImportRow {
    let mut version = None;
    let mut has_fn = false;
    let mut kept = String::new();
    let mut urls = Vec::new();
    for line in &raw.lines {
        let Some((name, params, value)) = split_line(line) else {
            continue;
        };
        let bare = name.rsplit('.').next().unwrap_or(name).to_ascii_uppercase();
        if bare == "VERSION" {
            version = Some(value.trim().to_owned());
        } else if bare == "URL" {
            urls.push(unescape(value));
        } else if KEPT.contains(&bare.as_str()) && !value.trim().is_empty() {
            has_fn |= bare == "FN";
            kept.push_str(&bare);
            kept.push_str(&rewrite_params(params));
            if bare == "TEL" {
                // Read as text: vcard4 hands URI values to uriparse, which panics on
                // some malformed ones; the `tel:` prefix is stripped here instead.
                kept.push_str(";VALUE=text");
            }
            kept.push(':');
            kept.push_str(&protect_semicolons(value));
            kept.push_str("\r\n");
        }
    }
    let fail = |name: Option<&str>, error: RowError| ImportRow {
        source: source(index, name),
        draft: Err(error),
    };
    if !raw.terminated {
        return fail(
            None,
            RowError::Unreadable {
                field: format!("card starting on line {}", raw.first_line),
                reason: "no END:VCARD before the end of the file".into(),
            },
        );
    }
    let version = version.unwrap_or_else(|| "4.0".into());
    if version != "3.0" && version != "4.0" {
        return fail(None, RowError::UnsupportedVersion(version));
    }
    // vcard4 refuses a card without FN; a 3.0 card may have only N, read below.
    let placeholder_fn = if has_fn { "" } else { "FN:-\r\n" };
    let text = format!("BEGIN:VCARD\r\nVERSION:{version}\r\n{placeholder_fn}{kept}END:VCARD\r\n");
    let card = match vcard4::parse_loose(&text) {
        Ok(mut cards) if !cards.is_empty() => cards.swap_remove(0),
        Ok(_) => {
            return fail(
                None,
                RowError::Unreadable {
                    field: "card".into(),
                    reason: "empty".into(),
                },
            )
        }
        Err(e) => {
            return fail(
                None,
                RowError::Unreadable {
                    field: format!("card starting on line {}", raw.first_line),
                    reason: e.to_string(),
                },
            )
        }
    };
    let draft = draft_of(&card, has_fn, &urls);
    ImportRow {
        source: source(index, nonempty(&draft.name).as_deref()),
        draft: finish(draft),
    }
}

fn source(index: usize, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("card {index} ({n})"),
        None => format!("card {index}"),
    }
}

fn draft_of(card: &Vcard, has_fn: bool, urls: &[String]) -> ContactDraft {
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
    let email = best(
        card.email
            .iter()
            .map(|p| (restore(&p.value), types(&p.parameters))),
        |t| if has(t, "work") { Some(0) } else { Some(1) },
    )
    .unwrap_or_default();
    let phone = best(card.tel.iter().map(tel), phone_rank);
    let address = best_address(&card.address);
    ContactDraft {
        name,
        title,
        company,
        company_domain: urls.iter().find_map(|u| domain_of_url(u)),
        email,
        phone,
        city: address
            .and_then(|a| a.value.locality.as_deref())
            .and_then(|c| nonempty(&restore(c))),
        postal_address: address.and_then(postal),
    }
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

/// The first value of the lowest rank; `rank` returns `None` for values never chosen.
fn best(
    values: impl Iterator<Item = (String, Vec<String>)>,
    rank: impl Fn(&[String]) -> Option<u8>,
) -> Option<String> {
    values
        .filter(|(v, _)| !v.trim().is_empty())
        .filter_map(|(v, t)| rank(&t).map(|r| (r, v)))
        .min_by_key(|(r, _)| *r)
        .map(|(_, v)| v.trim().to_owned())
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

/// A card carries a direct line: never a mobile, fax or pager; a work line first, a
/// home line only when nothing else is left.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_round_trip() {
        let s = "12 \"Le Phare\" ^ quai\nParis";
        assert_eq!(decode_caret(&encode_caret(s)), s);
    }

    #[test]
    fn params_rewritten() {
        assert_eq!(rewrite_params(";WORK;VOICE"), ";TYPE=WORK;TYPE=VOICE");
        assert_eq!(rewrite_params(";VALUE=uri;TYPE=work"), ";TYPE=work");
        assert_eq!(
            rewrite_params(";type=WORK;INDEX=2;X-ABLabel=x;LABEL=\"a;b\""),
            ";type=WORK;X-ABLabel=x;LABEL=\"a;b\""
        );
    }

    #[test]
    fn semicolons_protected() {
        assert_eq!(protect_semicolons(r"A\;B;C\\;D"), "A\u{E000}B;C\\\\;D");
    }
}
