//! A vCard file as lines: cut into cards, unfolded, parameters rewritten for vcard4,
//! values decoded from quoted-printable and their charset (see the module docs of
//! `vcard`).

use super::*;

/// One physical line: its number, from 1, and its bytes without the line break.
pub(super) type Line<'a> = (usize, &'a [u8]);

/// One card's physical lines, between BEGIN:VCARD and END:VCARD.
pub(super) struct RawCard<'a> {
    pub(super) first_line: usize,
    pub(super) lines: Vec<Line<'a>>,
    pub(super) terminated: bool,
}

/// A content line once unfolded.
pub(super) struct Logical {
    /// Where it starts.
    pub(super) line: usize,
    pub(super) bytes: Vec<u8>,
    pub(super) quoted_printable: bool,
}

/// How a value is written on the line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Transfer {
    /// As text, in the file's or the value's charset (also 2.1's `8BIT` and `7BIT`).
    Plain,
    /// `ENCODING=QUOTED-PRINTABLE` (2.1, and 3.0 from the same exporters), or the
    /// bare 2.1 `QUOTED-PRINTABLE`.
    QuotedPrintable,
    /// `ENCODING=b` or `BASE64`: photos and sounds, never a field a draft needs.
    Base64,
}

/// The file's lines, broken at CRLF, LF or a lone CR (old Mac exports).
pub(super) fn physical_lines(bytes: &[u8]) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let (mut start, mut after_cr) = (0, false);
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' && after_cr {
            start = i + 1;
            after_cr = false;
            continue;
        }
        after_cr = *b == b'\r';
        if matches!(b, b'\r' | b'\n') {
            lines.push(bytes.get(start..i).unwrap_or_default());
            start = i + 1;
        }
    }
    lines.push(bytes.get(start..).unwrap_or_default());
    lines
        .into_iter()
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .collect()
}

/// Groups lines between BEGIN:VCARD and END:VCARD; a card left open at the next
/// BEGIN or at the end of the file is kept, unterminated, to be reported.
pub(super) fn cards<'a>(lines: &[Line<'a>]) -> Vec<RawCard<'a>> {
    let mut out = Vec::new();
    let mut current: Option<RawCard<'a>> = None;
    for (n, line) in lines {
        let trimmed = line.trim_ascii();
        if trimmed.eq_ignore_ascii_case(b"BEGIN:VCARD") {
            if let Some(open) = current.take() {
                out.push(open);
            }
            current = Some(RawCard {
                first_line: *n,
                lines: Vec::new(),
                terminated: false,
            });
        } else if trimmed.eq_ignore_ascii_case(b"END:VCARD") {
            if let Some(mut card) = current.take() {
                card.terminated = true;
                out.push(card);
            }
        } else if let Some(card) = current.as_mut() {
            card.lines.push((*n, line));
        }
    }
    out.extend(current);
    out
}

/// The card's VERSION, as written.
pub(super) fn version_of(card: &RawCard<'_>) -> Option<String> {
    card.lines.iter().find_map(|(_, line)| {
        let (name, _, value) = split_line(line)?;
        name.eq_ignore_ascii_case("VERSION")
            .then(|| String::from_utf8_lossy(value).trim().to_owned())
    })
}

/// Joins folded lines and quoted-printable soft line breaks (see the module docs).
/// Blank lines go: 2.1 ends a base64 value with one.
pub(super) fn unfold(card: &RawCard<'_>, keep_fold_space: bool) -> Vec<Logical> {
    let mut out: Vec<Logical> = Vec::new();
    let mut soft_break = false;
    for (n, line) in &card.lines {
        match out.last_mut() {
            // The decoder removes the `=` and this line break.
            Some(last) if soft_break => {
                last.bytes.extend_from_slice(b"\r\n");
                last.bytes.extend_from_slice(line);
            }
            _ if line.trim_ascii().is_empty() => {}
            Some(last) if matches!(line.first(), Some(b' ' | b'\t')) => {
                let rest = if keep_fold_space {
                    line
                } else {
                    line.get(1..).unwrap_or_default()
                };
                last.bytes.extend_from_slice(rest);
            }
            _ => out.push(Logical {
                line: *n,
                bytes: line.to_vec(),
                quoted_printable: split_line(line).is_some_and(|(_, params, _)| {
                    transfer_of(&params).0 == Transfer::QuotedPrintable
                }),
            }),
        }
        soft_break = out
            .last()
            .is_some_and(|l| l.quoted_printable && l.bytes.ends_with(b"="));
    }
    out
}

/// A content line cut at its first colon outside double quotes: (group.name, params
/// with their leading `;`, value). The name and parameters are ASCII in every version;
/// the value stays bytes until its charset is known.
pub(super) fn split_line(line: &[u8]) -> Option<(String, String, &[u8])> {
    let mut quoted = false;
    let mut colon = None;
    for (i, b) in line.iter().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let head = String::from_utf8_lossy(line.get(..colon)?);
    let value = line.get(colon + 1..)?;
    let name_end = head.find(';').unwrap_or(head.len());
    Some((
        head.get(..name_end)?.trim().to_owned(),
        head.get(name_end..)?.to_owned(),
        value,
    ))
}

/// Splits a parameter list at semicolons outside double quotes.
pub(super) fn split_params(params: &str) -> Vec<&str> {
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

/// A parameter name or bare value vcard4 can take: letters, digits and hyphens.
pub(super) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A transfer encoding by its name (an ENCODING value, or a bare 2.1 parameter).
pub(super) fn transfer_named(v: &str) -> Option<Transfer> {
    match v.trim().trim_matches('"').to_ascii_uppercase().as_str() {
        "QUOTED-PRINTABLE" => Some(Transfer::QuotedPrintable),
        "B" | "BASE64" => Some(Transfer::Base64),
        "8BIT" | "7BIT" => Some(Transfer::Plain),
        _ => None,
    }
}

/// How the value is written, and the charset it names, if any.
pub(super) fn transfer_of(params: &str) -> (Transfer, Option<String>) {
    let mut transfer = Transfer::Plain;
    let mut charset = None;
    for p in split_params(params) {
        match p.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("ENCODING") => {
                transfer = transfer_named(value).unwrap_or(Transfer::Plain);
            }
            Some((key, value)) if key.trim().eq_ignore_ascii_case("CHARSET") => {
                charset = Some(value.trim().trim_matches('"').to_owned());
            }
            Some(_) => {}
            None => {
                if let Some(t) = transfer_named(p) {
                    transfer = t;
                }
            }
        }
    }
    (transfer, charset)
}

/// The parameters vcard4 is given: vCard 2.1/3.0 bare parameters (`WORK`) become
/// `TYPE=WORK`, 4.0's `PREF=1` becomes `TYPE=pref` (as 3.0 writes it, so one test
/// finds both), TYPE, LABEL and well-formed `X-` parameters stay, and the rest go:
/// VALUE (see [`read_card`]), ENCODING and CHARSET (the value is decoded by then),
/// LANGUAGE and the others, which no draft needs and vcard4 may refuse.
pub(super) fn rewrite_params(params: &str) -> String {
    let mut out = String::new();
    for p in split_params(params) {
        match p.split_once('=') {
            Some((key, _)) => {
                let key = key.trim().to_ascii_uppercase();
                if key == "PREF" {
                    out.push_str(";TYPE=pref");
                } else if key == "TYPE"
                    || key == "LABEL"
                    || (key.starts_with("X-") && is_token(&key))
                {
                    out.push(';');
                    out.push_str(p);
                }
            }
            None => {
                let p = p.trim();
                if is_token(p) && transfer_named(p).is_none() {
                    out.push_str(";TYPE=");
                    out.push_str(p);
                }
            }
        }
    }
    out
}

/// A value decoded to text.
pub(super) struct Value {
    pub(super) text: String,
    /// Read as Windows-1252 because it is not UTF-8 and names no charset.
    pub(super) guessed: bool,
    /// What the member should know about how it was read.
    pub(super) note: Option<String>,
}

/// The text of a value: quoted-printable undone, then its bytes read in the charset it
/// names, else as UTF-8, else as Windows-1252 (`guessed`). In a UTF-8 file, text
/// written as it is (not quoted-printable) is UTF-8 whatever it names: a `CHARSET`
/// there is a leftover from a file since converted, and obeying it would garble it.
pub(super) fn decode_value(
    name: &str,
    raw: &[u8],
    transfer: Transfer,
    charset: Option<&str>,
    utf8_file: bool,
) -> Result<Value, String> {
    let bytes = match transfer {
        Transfer::Base64 => return Err("base64-encoded text is not read".into()),
        Transfer::QuotedPrintable => quoted_printable_decode(raw),
        Transfer::Plain if utf8_file => {
            return Ok(Value {
                text: String::from_utf8_lossy(raw).into_owned(),
                guessed: false,
                note: None,
            })
        }
        Transfer::Plain => raw.to_vec(),
    };
    let mut note = None;
    if let Some(label) = charset {
        match Encoding::for_label(label.trim().as_bytes()) {
            Some(encoding) => {
                let (text, had_errors) = encoding.decode_without_bom_handling(&bytes);
                return Ok(Value {
                    text: text.into_owned(),
                    guessed: false,
                    note: had_errors.then(|| {
                        format!(
                            "{name} is not all {label} text as its CHARSET says: unreadable \
                             characters were replaced by \u{FFFD}"
                        )
                    }),
                });
            }
            None => note = Some(format!("{name} names an unknown charset {label:?}")),
        }
    }
    Ok(match String::from_utf8(bytes) {
        Ok(text) => Value {
            text,
            guessed: false,
            note: note.map(|n| format!("{n}; read as UTF-8")),
        },
        Err(e) => Value {
            text: WINDOWS_1252
                .decode_without_bom_handling(e.as_bytes())
                .0
                .into_owned(),
            guessed: true,
            note: note.map(|n| format!("{n}; read as Windows-1252")),
        },
    })
}

/// Undoes quoted-printable, soft line breaks included. The decoder drops bytes that
/// quoted-printable never holds, but some exporters write 8-bit text in a
/// quoted-printable value all the same, so those are escaped first and kept.
pub(super) fn quoted_printable_decode(raw: &[u8]) -> Vec<u8> {
    let mut escaped = Vec::with_capacity(raw.len());
    for b in raw {
        if b.is_ascii() {
            escaped.push(*b);
        } else {
            escaped.extend_from_slice(format!("={b:02X}").as_bytes());
        }
    }
    // Robust mode keeps a malformed escape as written rather than failing.
    quoted_printable::decode(&escaped, quoted_printable::ParseMode::Robust).unwrap_or(escaped)
}

/// A decoded value as a vcard4 content line's value: on one line, with `\;` protected.
pub(super) fn for_vcard4(text: &str) -> String {
    protect_semicolons(text)
        .replace("\r\n", "\\n")
        .replace(['\r', '\n'], "\\n")
}

/// ADR with its seven components: vcard4 refuses fewer, which some exporters write
/// when the last ones are empty.
pub(super) fn pad_address(value: &mut String) {
    let parts = value.matches(';').count();
    for _ in parts..6 {
        value.push(';');
    }
}

/// Replaces `\;` with [`SEMICOLON`], leaving every other escape for vcard4.
pub(super) fn protect_semicolons(value: &str) -> String {
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
pub(super) fn unescape(value: &str) -> String {
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
pub(super) fn restore(value: &str) -> String {
    value
        .replace(SEMICOLON, ";")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}
