//! Finding the status part in a bounce's MIME tree, and saying precisely why when
//! there is none.
//!
//! Servers put `message/delivery-status` under `multipart/report` as RFC 6522 says, but
//! also under `multipart/mixed`, under a `multipart/report` without `report-type`, or
//! one multipart deeper when a gateway wraps the report to add a footer. So the part is
//! looked for in the whole multipart tree, with two limits that keep a reporter from
//! planting one:
//!
//! - attached messages (`message/rfc822`, `message/global`) are not entered: a bounce
//!   returns the original message as one, and the reporter wrote that message;
//! - there must be exactly one status part: two would leave a guess as to which one
//!   speaks for the address.
//!
//! mail-parser is given the message with its attached messages made opaque
//! ([`opaque_attached_messages`]): it then reads each as one part, up to the boundary
//! that ends it, and never parses one in place. Types and the status part's content
//! are read from the message as it is, by the parts' offsets, which the two share.

use super::DsnError;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::{ContentType, Encoding, Message, MessageParser, MessagePart, MimeHeaders};
use std::borrow::Cow;

/// How deep [`why_none`] looks into attached messages for a status part, to name a
/// forwarded-as-attachment bounce. A forward of a forward is two levels; the bound keeps
/// a pathological nesting from costing more than the message's own size.
const MAX_ATTACHED_DEPTH: usize = 4;

/// The subtypes that make mail-parser parse a `message/…` part in place.
const ATTACHED_SUBTYPES: [&[u8]; 2] = [b"rfc822", b"global"];

/// `raw`, the same length, with every `rfc822` and `global` (in any case, anywhere)
/// given an `x` for its first letter, so that no part is `message/rfc822` or
/// `message/global` to mail-parser and it reads an attached message as one opaque part,
/// which is all the rule needs of it (attached messages are not entered).
///
/// mail-parser 0.11 parses an attached message in place, and mishandles one whose
/// content is directly another attached message: with debug assertions it panics
/// ("Invalid part ID, could not find multipart"), and without them it loses the parts
/// that follow or files them under the wrong message (found by the `bounce_message`
/// fuzz target, docs/fuzzing.md). In place it also reads an attached message's own
/// multiparts past the boundary that ends it, where RFC 2046 ends the part at that
/// boundary. A part's type and subtype are contiguous bytes of its Content-Type
/// field, so the substitution reaches every spelling mail-parser reads as these
/// types; it is the same wherever a boundary string is written, so boundaries still
/// match, and it changes no header name mail-parser knows. A `multipart/digest` part
/// without a Content-Type is still parsed in place, but its content cannot start
/// another in-place message, since that takes one of these two subtypes.
pub(super) fn opaque_attached_messages(raw: &[u8]) -> Vec<u8> {
    let mut out = raw.to_vec();
    let mut i = 0;
    while let Some(rest) = out.get(i..) {
        let found = ATTACHED_SUBTYPES.iter().find(|w| {
            rest.get(..w.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(w))
        });
        match (found, out.get_mut(i)) {
            (Some(w), Some(first)) => {
                *first = if first.is_ascii_uppercase() {
                    b'X'
                } else {
                    b'x'
                };
                i += w.len();
            }
            (None, Some(_)) => i += 1,
            (_, None) => break,
        }
    }
    out
}

/// The one status part of `message` (mail-parser's reading of
/// [`opaque_attached_messages`]`(raw)`), or why there is none.
pub(super) fn status_part<'a, 'x>(
    message: &'a Message<'x>,
    raw: &[u8],
) -> Result<&'a MessagePart<'x>, DsnError> {
    let found: Vec<&MessagePart<'x>> = tree(message)
        .into_iter()
        .filter(|p| is_status(raw, p))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(why_none(message, raw)),
        many => Err(DsnError::Malformed(format!(
            "the message has {} delivery-status parts; a bounce has exactly one, and which of them speaks for the address would be a guess",
            many.len()
        ))),
    }
}

/// The content of `part` as `raw` has it, as mail-parser would have read it there:
/// the part cut out of `raw` by its offsets and parsed on its own, which undoes its
/// transfer encoding; or, when mail-parser could not decode it in place and kept its
/// bytes as text instead, those bytes of `raw` read the same way. `part` is a status
/// part, which mail-parser never parses in place, so both are safe on `raw`.
pub(super) fn contents(raw: &[u8], part: &MessagePart<'_>) -> Option<Vec<u8>> {
    if part.is_encoding_problem {
        let bytes = raw.get(part.offset_body as usize..part.offset_end as usize)?;
        let charset = headers(raw, part).and_then(|h| {
            h.content_type()
                .and_then(|ct| ct.attribute("charset"))
                .and_then(|c| charset_decoder(c.as_bytes()))
        });
        let text = match charset {
            Some(decode) => decode(bytes),
            None => String::from_utf8_lossy(bytes).into_owned(),
        };
        return Some(text.into_bytes());
    }
    let bytes = raw.get(part.offset_header as usize..part.offset_end as usize)?;
    let alone = MessageParser::default().parse(bytes)?;
    Some(alone.root_part().contents().to_vec())
}

/// `part`'s header block as `raw` has it (the offsets are the same in both).
fn headers<'r>(raw: &'r [u8], part: &MessagePart<'_>) -> Option<Message<'r>> {
    MessageParser::default().parse_headers(raw.get(part.offset_header as usize..)?)
}

/// The message's own parts, depth first from the root, descending into multiparts
/// only. Iterative, and visiting at most as many parts as the parser produced, so no
/// input can make it loop or recurse deeply.
fn tree<'a, 'x>(message: &'a Message<'x>) -> Vec<&'a MessagePart<'x>> {
    let mut out = Vec::new();
    let mut stack = vec![0u32];
    while let Some(id) = stack.pop() {
        if out.len() >= message.parts.len() {
            break;
        }
        let Some(part) = message.part(id) else {
            continue;
        };
        out.push(part);
        if let Some(children) = part.sub_parts() {
            stack.extend(children.iter().rev());
        }
    }
    out
}

fn type_is(ct: Option<&ContentType<'_>>, ctype: &str, subtypes: &[&str]) -> bool {
    ct.is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|w| s.eq_ignore_ascii_case(w)))
    })
}

fn is_status(raw: &[u8], part: &MessagePart<'_>) -> bool {
    headers(raw, part).is_some_and(|h| {
        type_is(
            h.content_type(),
            "message",
            &["delivery-status", "global-delivery-status"],
        )
    })
}

/// The most specific reason a message with no status part of its own is refused:
/// a bounce forwarded as an attachment, a bounce written only for people, or not a
/// bounce at all.
fn why_none(message: &Message<'_>, raw: &[u8]) -> DsnError {
    if let Some(found) = attached_status(message, raw) {
        return DsnError::InAttachment { found };
    }
    if let Some(what) = plain_text_bounce(message, raw) {
        return DsnError::PlainTextBounce { what };
    }
    let root = message.root_part();
    let top = MessageParser::default().parse_headers(raw);
    let found = match top.as_ref().and_then(|t| t.content_type()) {
        None => "no Content-Type: a plain text message".to_owned(),
        Some(ct) if root.sub_parts().is_some() => {
            format!("{} without a message/delivery-status part", describe(ct))
        }
        Some(ct) => describe(ct),
    };
    DsnError::NotReport { found }
}

/// The content of `part` if it is an attached message (`message/rfc822` or
/// `message/global` in `raw`, or a `multipart/digest` part without a Content-Type,
/// which mail-parser parses in place), transfer encoding undone.
fn attached<'r>(raw: &'r [u8], part: &MessagePart<'_>) -> Option<Cow<'r, [u8]>> {
    let typed = headers(raw, part)
        .is_some_and(|h| type_is(h.content_type(), "message", &["rfc822", "global"]));
    if !typed && part.message().is_none() {
        return None;
    }
    let body = raw.get(part.offset_body as usize..part.offset_end as usize)?;
    let encoding = match part.encoding {
        Encoding::None => return Some(Cow::Borrowed(body)),
        Encoding::Base64 => "base64",
        Encoding::QuotedPrintable => "quoted-printable",
    };
    // Decoded as a lone opaque part, by the decoder mail-parser used for it.
    let alone = [
        format!("Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n")
            .as_bytes(),
        body,
    ]
    .concat();
    let decoded = MessageParser::default().parse(&alone)?;
    Some(Cow::Owned(decoded.root_part().contents().to_vec()))
}

/// Where a status part sits inside an attached message, if one does, e.g.
/// `message/rfc822 › message/delivery-status`.
fn attached_status(message: &Message<'_>, raw: &[u8]) -> Option<String> {
    let mut stack: Vec<(Vec<u8>, usize, String)> = Vec::new();
    if let Some(found) = attached_status_in(message, raw, 0, "", &mut stack) {
        return Some(found);
    }
    while let Some((bytes, depth, path)) = stack.pop() {
        let opaque = opaque_attached_messages(&bytes);
        let Some(m) = MessageParser::default().parse(&opaque) else {
            continue;
        };
        if let Some(found) = attached_status_in(&m, &bytes, depth, &path, &mut stack) {
            return Some(found);
        }
    }
    None
}

/// One level of [`attached_status`]: `message` is mail-parser's reading of `raw` made
/// opaque, at `depth` attached messages down, under `path`. The attached messages with
/// no status part of their own go on `stack`, while under [`MAX_ATTACHED_DEPTH`].
fn attached_status_in(
    message: &Message<'_>,
    raw: &[u8],
    depth: usize,
    path: &str,
    stack: &mut Vec<(Vec<u8>, usize, String)>,
) -> Option<String> {
    for part in tree(message) {
        let Some(inner) = attached(raw, part) else {
            continue;
        };
        let path = format!("{path}{} › ", short_type(raw, part));
        let opaque = opaque_attached_messages(&inner);
        if let Some(inner_message) = MessageParser::default().parse(&opaque) {
            if tree(&inner_message)
                .into_iter()
                .any(|p| is_status(&inner, p))
            {
                return Some(format!("{path}message/delivery-status"));
            }
        }
        if depth + 1 < MAX_ATTACHED_DEPTH {
            stack.push((inner.into_owned(), depth + 1, path));
        }
    }
    None
}

/// Bounces with no status part at all: qmail's QSBMF, whose first line is "Hi. This is
/// the <program> program at <host>.", and any message from `MAILER-DAEMON` or
/// `postmaster`, the
/// addresses mail servers send bounces from. They get their own error so the reporter
/// learns the message is a bounce this check cannot read, not that it is no bounce.
fn plain_text_bounce(message: &Message<'_>, raw: &[u8]) -> Option<String> {
    let top = MessageParser::default().parse_headers(raw)?;
    let root = message.root_part();
    // A single part that is not an attached message: mail-parser parses nothing in
    // place, so the message as it is can be parsed for its text.
    let single = root.sub_parts().is_none()
        && !type_is(top.content_type(), "message", &["rfc822", "global"]);
    if let Some(whole) = single
        .then(|| MessageParser::default().parse(raw))
        .flatten()
    {
        let first_line = whole
            .root_part()
            .text_contents()
            .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()));
        if let Some(line) =
            first_line.filter(|l| l.starts_with("Hi. This is the ") && l.contains(" program at "))
        {
            let line: String = line.chars().take(80).collect();
            return Some(format!(
                "qmail's plain-text bounce format (QSBMF), which begins \"{line}\""
            ));
        }
    }
    let from = top.from()?.first()?.address()?;
    let (local, _) = from.rsplit_once('@').unwrap_or((from, ""));
    (local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster"))
        .then(|| format!("from {from}"))
}

fn short_type(raw: &[u8], part: &MessagePart<'_>) -> String {
    headers(raw, part)
        .and_then(|h| {
            h.content_type()
                .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("?")))
        })
        .unwrap_or_else(|| "message/rfc822".to_owned())
}

/// `this one is multipart/report; report-type=…`, naming the parameter the old rule
/// required because its presence or value is what people check first.
fn describe(ct: &ContentType<'_>) -> String {
    let mut s = format!("this one is {}", ct.ctype());
    if let Some(sub) = ct.subtype() {
        s.push('/');
        s.push_str(sub);
    }
    if let Some(a) = ct.attributes().and_then(|attrs| {
        attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("report-type"))
    }) {
        s.push_str("; report-type=");
        s.push_str(&a.value);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attached_message_types_are_made_opaque_in_place() {
        let raw = b"Content-Type: message/RFC822; boundary=\"x-global-1\"\n\n--x-global-1\nContent-Type: Message/Global\n\nrfc822rfc822 Globalx globa\n--x-global-1--";
        let opaque = opaque_attached_messages(raw);
        assert_eq!(opaque.len(), raw.len());
        assert_eq!(
            String::from_utf8(opaque).unwrap(),
            "Content-Type: message/XFC822; boundary=\"x-xlobal-1\"\n\n--x-xlobal-1\nContent-Type: Message/Xlobal\n\nxfc822xfc822 Xlobalx globa\n--x-xlobal-1--"
        );
        assert_eq!(opaque_attached_messages(b""), b"");
        assert_eq!(opaque_attached_messages(b"rfc82"), b"rfc82");
    }
}
