//! The delivery-status body: blank-line-separated blocks of `Name: value` fields
//! (RFC 3464 section 2), the first one about the message, the others one per recipient.
//!
//! Strict where a lenient reading could change a verdict (a field given twice, a
//! status that is not `class.subject.detail`), lenient where servers differ harmlessly
//! (comments, case, folding, field order, a missing per-message block).

use super::DsnError;
use super::{Bounce, RecipientStatus};
use carnet_protocol::payload::DsnStatus;

/// One header block: (lowercased name, unfolded value) in order.
type Block = Vec<(String, String)>;

/// Splits the body into blank-line-separated blocks of RFC 5322-style fields,
/// unfolding continuation lines.
fn blocks(body: &str) -> Result<Vec<Block>, DsnError> {
    let mut out: Vec<Block> = Vec::new();
    let mut current: Block = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.last_mut() else {
                return Err(DsnError::Malformed(format!(
                    "line {} continues a field but no field precedes it",
                    n + 1
                )));
            };
            value.push(' ');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(DsnError::Malformed(format!(
                "line {} is not a \"Name: value\" field: {:?}",
                n + 1,
                line.chars().take(80).collect::<String>()
            )));
        };
        current.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    if !current.is_empty() {
        out.push(current);
    }
    Ok(out)
}

fn field<'a>(block: &'a Block, name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Reads the status body into a [`Bounce`]. Any malformed recipient block refuses the
/// whole message, not just that recipient: a verdict must not depend on which blocks a
/// reader managed to skip.
pub(super) fn parse_status_body(body: &str) -> Result<Bounce, DsnError> {
    let mut blocks = blocks(body)?.into_iter().peekable();
    // RFC 3464 requires the per-message block, but a block with a Final-Recipient is a
    // recipient's whatever its position, so a sender that omits it is still read.
    let per_message = match blocks.peek() {
        Some(b) if field(b, "final-recipient").is_none() => blocks.next(),
        _ => None,
    };
    let reporting_mta = per_message
        .as_ref()
        .and_then(|b| field(b, "reporting-mta"))
        .map(str::to_owned);
    let mut recipients = Vec::new();
    for (i, block) in blocks.enumerate() {
        recipients.push(recipient(&block, i + 1)?);
    }
    if recipients.is_empty() {
        return Err(DsnError::Malformed(
            "the delivery status names no recipient".into(),
        ));
    }
    Ok(Bounce {
        reporting_mta,
        recipients,
    })
}

/// One recipient block. The fields the verdict reads must each appear at most once:
/// with two `Status` fields, which one a reader takes would decide the verdict.
fn recipient(block: &Block, n: usize) -> Result<RecipientStatus, DsnError> {
    let malformed = |what: String| DsnError::Malformed(format!("recipient block {n}{what}"));
    let once = |name: &str, shown: &str| -> Result<Option<&str>, DsnError> {
        let mut values = block.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(malformed(format!(" has more than one {shown} field")));
        }
        Ok(first.map(String::as_str))
    };
    // The structured fields, which RFC 3464 defines with RFC 5322 comments allowed.
    let one = |name: &str, shown: &str| Ok(once(name, shown)?.map(strip_comments));
    let required = |name: &str, shown: &str| {
        one(name, shown)?.ok_or_else(|| malformed(format!(" has no {shown} field")))
    };
    let final_recipient = required("final-recipient", "Final-Recipient")?;
    let final_recipient = address_of(&final_recipient)
        .ok_or_else(|| malformed(": Final-Recipient is not \"type; address\"".into()))?;
    let original_recipient = match one("original-recipient", "Original-Recipient")? {
        None => None,
        Some(v) => Some(
            address_of(&v)
                .ok_or_else(|| malformed(": Original-Recipient is not \"type; address\"".into()))?,
        ),
    };
    let action = required("action", "Action")?
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if !action.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(malformed(format!(
            ": Action {:?} does not start with a word",
            field(block, "action").unwrap_or_default()
        )));
    }
    let status = parse_status_field(&required("status", "Status")?).ok_or_else(|| {
        malformed(format!(
            ": Status {:?} is not class.subject.detail (e.g. 5.1.1)",
            field(block, "status").unwrap_or_default()
        ))
    })?;
    Ok(RecipientStatus {
        final_recipient,
        original_recipient,
        action,
        status,
        diagnostic: once("diagnostic-code", "Diagnostic-Code")?.map(str::to_owned),
    })
}

/// Removes RFC 5322 comments: `(`…`)`, nested, with `\` quoting the next character,
/// outside quoted strings (`"jo (x)"@a.example` keeps its parentheses). Each comment
/// becomes one space, as RFC 5322 makes a comment part of the whitespace around
/// tokens; a comment left open runs to the end of the value.
pub(super) fn strip_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if depth > 0 {
            match c {
                '\\' => {
                    chars.next();
                }
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        out.push(' ');
                    }
                }
                _ => {}
            }
        } else if in_quote {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_quote = false,
                _ => {}
            }
        } else {
            match c {
                '(' => depth = 1,
                '"' => {
                    in_quote = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
    }
    out
}

/// `rfc822; jane@acme.fr` → `jane@acme.fr`, comments already removed. The address type
/// is not checked: `utf-8` (RFC 6533) carries the same kind of address, and an address
/// of another kind does not normalise as an email, so it matches nothing.
pub(super) fn address_of(value: &str) -> Option<String> {
    let (_, addr) = value.split_once(';')?;
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr)
        .trim();
    (!addr.is_empty()).then(|| addr.to_owned())
}

/// The `Status` field, comments already removed: its first word is the code, and what
/// follows (free text some servers add without parentheses) is ignored.
fn parse_status_field(value: &str) -> Option<DsnStatus> {
    parse_status(value.split_whitespace().next()?)
}

/// `5.1.1` as RFC 3463 writes it: a class digit (2, 4 or 5) and two numbers of one to
/// three ASCII digits. Written out digit by digit because `u16::from_str` would also
/// take `+1`.
pub(super) fn parse_status(code: &str) -> Option<DsnStatus> {
    let number = |s: &str| -> Option<u16> {
        if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let mut parts = code.split('.');
    let class = parts.next().filter(|c| c.len() == 1).and_then(number)?;
    let subject = parts.next().and_then(number)?;
    let detail = parts.next().and_then(number)?;
    if parts.next().is_some() || ![2, 4, 5].contains(&class) {
        return None;
    }
    Some(DsnStatus {
        class: u8::try_from(class).ok()?,
        subject,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes() {
        let s = |class, subject, detail| {
            Some(DsnStatus {
                class,
                subject,
                detail,
            })
        };
        assert_eq!(parse_status_field("5.1.1"), s(5, 1, 1));
        assert_eq!(parse_status_field("4.2.2 (mailbox full)"), s(4, 2, 2));
        assert_eq!(parse_status_field("5.7.999"), s(5, 7, 999));
        assert_eq!(parse_status_field("5.1.1 Mailbox unavailable"), s(5, 1, 1));
        assert_eq!(
            parse_status_field(&strip_comments("(x)5.1.10(y)")),
            s(5, 1, 10)
        );
        for bad in [
            "", "5.1", "5.1.1.1", "3.1.1", "5.1000.1", "x.1.1", "550", "5.+1.1", "05.1.1", "5..1",
            "5.1.1.", "５.1.1", "5.0001.1",
        ] {
            assert_eq!(parse_status_field(bad), None, "{bad}");
        }
    }

    #[test]
    fn final_recipient_forms() {
        assert_eq!(address_of("rfc822; a@b.c").as_deref(), Some("a@b.c"));
        assert_eq!(address_of("RFC822;<a@b.c>").as_deref(), Some("a@b.c"));
        assert_eq!(address_of("a@b.c"), None);
        assert_eq!(address_of("rfc822;  "), None);
        let stripped = |v: &str| address_of(&strip_comments(v));
        assert_eq!(
            stripped("rfc822; a@b.c (Jane Doe)").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(stripped("(orcpt) rfc822;<a@b.c>").as_deref(), Some("a@b.c"));
        assert_eq!(
            stripped("rfc822; (x) <a@b.c> (y)").as_deref(),
            Some("a@b.c")
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            strip_comments("failed (bad destination mailbox address)").trim(),
            "failed"
        );
        assert_eq!(strip_comments("failed(a (nested) one)x"), "failed x");
        assert_eq!(strip_comments(r"a (with \) escaped) b"), "a   b");
        assert_eq!(
            strip_comments(r#""jo (x)"@a.example"#),
            r#""jo (x)"@a.example"#
        );
        assert_eq!(strip_comments(r#""a\"(b)"(c)"#), r#""a\"(b)" "#);
        assert_eq!(strip_comments("5.1.1 (never closed"), "5.1.1 ");
        assert_eq!(strip_comments("a) b"), "a) b");
        assert_eq!(strip_comments("é (ü) ß"), "é   ß");
        assert_eq!(strip_comments(r"trailing \"), r"trailing \");
    }

    #[test]
    fn folded_fields_and_crlf() {
        let body = "Reporting-MTA: dns;\r\n mx.example.com\r\n\r\nFinal-Recipient: rfc822; a@b.c\r\nACTION: Failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1\r\n\tno such user\r\n";
        let b = parse_status_body(body).unwrap();
        assert_eq!(b.reporting_mta.as_deref(), Some("dns; mx.example.com"));
        assert_eq!(b.recipients[0].action, "failed");
        assert_eq!(
            b.recipients[0].diagnostic.as_deref(),
            Some("smtp; 550 5.1.1 no such user")
        );
    }

    #[test]
    fn actions_keep_their_words() {
        let body = "Final-Recipient: rfc822; a@b.c\nAction:  Failed\t(bad  destination)  now \nStatus: 5.1.1\n";
        let b = parse_status_body(body).unwrap();
        assert_eq!(b.recipients[0].action, "failed now");
    }

    #[test]
    fn malformed_blocks_are_named() {
        let e = parse_status_body(
            "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; a@b.c\nStatus: 5.1.1\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            DsnError::Malformed("recipient block 1 has no Action field".into())
        );
        let e = parse_status_body(" folded first\n").unwrap_err();
        assert!(matches!(e, DsnError::Malformed(m) if m.contains("line 1")));
        let e = parse_status_body("Reporting-MTA: dns; x\n").unwrap_err();
        assert!(matches!(e, DsnError::Malformed(m) if m.contains("no recipient")));
        let e = parse_status_body(
            "Final-Recipient: rfc822; a@b.c\nAction: failed\nStatus: 4.2.2\nStatus: 5.1.1\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            DsnError::Malformed("recipient block 1 has more than one Status field".into())
        );
        let e = parse_status_body(
            "Final-Recipient: rfc822; a@b.c\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1\nDiagnostic-Code: smtp; 451 4.3.0\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            DsnError::Malformed("recipient block 1 has more than one Diagnostic-Code field".into())
        );
        let e =
            parse_status_body("Final-Recipient: rfc822; a@b.c\nAction: (nothing)\nStatus: 5.1.1\n")
                .unwrap_err();
        assert_eq!(
            e,
            DsnError::Malformed(
                "recipient block 1: Action \"(nothing)\" does not start with a word".into()
            )
        );
        let e = parse_status_body(
            "Final-Recipient: rfc822; a@b.c\nOriginal-Recipient: a@b.c\nAction: failed\nStatus: 5.1.1\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            DsnError::Malformed(
                "recipient block 1: Original-Recipient is not \"type; address\"".into()
            )
        );
    }
}
