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

use super::DsnError;
use mail_parser::{ContentType, Message, MessagePart, MimeHeaders};

/// How deep [`why_none`] looks into attached messages for a status part, to name a
/// forwarded-as-attachment bounce. A forward of a forward is two levels; the bound keeps
/// a pathological nesting from costing more than the message's own size.
const MAX_ATTACHED_DEPTH: usize = 4;

/// The one status part of the message, or why there is none.
pub(super) fn status_part<'a, 'x>(
    message: &'a Message<'x>,
) -> Result<&'a MessagePart<'x>, DsnError> {
    let found: Vec<&MessagePart<'x>> = tree(message).into_iter().filter(|p| is_status(p)).collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(why_none(message)),
        many => Err(DsnError::Malformed(format!(
            "the message has {} delivery-status parts; a bounce has exactly one, and which of them speaks for the address would be a guess",
            many.len()
        ))),
    }
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

fn type_is(part: &MessagePart<'_>, ctype: &str, subtypes: &[&str]) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case(ctype)
            && ct
                .subtype()
                .is_some_and(|s| subtypes.iter().any(|w| s.eq_ignore_ascii_case(w)))
    })
}

fn is_status(part: &MessagePart<'_>) -> bool {
    type_is(
        part,
        "message",
        &["delivery-status", "global-delivery-status"],
    )
}

/// The most specific reason a message with no status part of its own is refused:
/// a bounce forwarded as an attachment, a bounce written only for people, or not a
/// bounce at all.
fn why_none(message: &Message<'_>) -> DsnError {
    if let Some(found) = attached_status(message) {
        return DsnError::InAttachment { found };
    }
    if let Some(what) = plain_text_bounce(message) {
        return DsnError::PlainTextBounce { what };
    }
    let root = message.root_part();
    let found = match root.content_type() {
        None => "no Content-Type: a plain text message".to_owned(),
        Some(ct) if root.sub_parts().is_some() => {
            format!("{} without a message/delivery-status part", describe(ct))
        }
        Some(ct) => describe(ct),
    };
    DsnError::NotReport { found }
}

/// Where a status part sits inside an attached message, if one does, e.g.
/// `message/rfc822 › message/delivery-status`.
fn attached_status(message: &Message<'_>) -> Option<String> {
    let mut stack: Vec<(&Message<'_>, usize, String)> = vec![(message, 0, String::new())];
    while let Some((m, depth, path)) = stack.pop() {
        for part in tree(m) {
            let Some(inner) = part.message() else {
                continue;
            };
            let path = format!("{path}{} › ", short_type(part));
            if tree(inner).into_iter().any(is_status) {
                return Some(format!("{path}message/delivery-status"));
            }
            if depth + 1 < MAX_ATTACHED_DEPTH {
                stack.push((inner, depth + 1, path));
            }
        }
    }
    None
}

/// Bounces with no status part at all: qmail's QSBMF, whose first line is "Hi. This is
/// the <program> program at <host>.", and any message from `MAILER-DAEMON` or
/// `postmaster`, the
/// addresses mail servers send bounces from. They get their own error so the reporter
/// learns the message is a bounce this check cannot read, not that it is no bounce.
fn plain_text_bounce(message: &Message<'_>) -> Option<String> {
    let root = message.root_part();
    if root.sub_parts().is_none() {
        let first_line = root
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
    let from = message.from()?.first()?.address()?;
    let (local, _) = from.rsplit_once('@').unwrap_or((from, ""));
    (local.eq_ignore_ascii_case("mailer-daemon") || local.eq_ignore_ascii_case("postmaster"))
        .then(|| format!("from {from}"))
}

fn short_type(part: &MessagePart<'_>) -> String {
    part.content_type()
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("?")))
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
