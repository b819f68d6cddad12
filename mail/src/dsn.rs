//! Bounce messages (RFC 3464 delivery status notifications) as evidence that a card's
//! email address is dead.
//!
//! A buyer reports a bounce by publishing the hash of the raw bounce message; the
//! reporter's `carnet report bounce` and the offline auditor both run
//! [`permanent_failure_for`] on the same bytes, so its verdict and its errors must read
//! well on their own, to someone who has only the message and the address.
//!
//! mail-parser handles the MIME envelope (boundaries, transfer encodings, nesting). The
//! delivery-status body itself is a sequence of header blocks that no general mail
//! parser exposes field by field, so it is read here.

use carnet_protocol::card::normalise_email;
use carnet_protocol::payload::DsnStatus;
use mail_parser::{MessageParser, MimeHeaders};
use std::fmt;
use thiserror::Error;

/// Largest bounce message accepted. Real bounces quote at most the original headers or
/// a truncated body, a few tens of kilobytes; the cap bounds parsing time and memory.
pub const MAX_DSN_BYTES: usize = 1 << 20;

/// What the report says about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// The address after `rfc822;`, trimmed and without angle brackets.
    pub final_recipient: String,
    /// Lowercased: `failed`, `delayed`, `delivered`, `relayed` or `expanded`.
    pub action: String,
    pub status: DsnStatus,
    /// The remote server's words (e.g. `smtp; 550 5.1.1 user unknown`), unfolded.
    pub diagnostic: Option<String>,
}

/// A parsed delivery status notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounce {
    /// The `Reporting-MTA` field as written (e.g. `dns; mx.example.com`).
    pub reporting_mta: Option<String>,
    pub recipients: Vec<RecipientStatus>,
}

/// [`DsnStatus`] as RFC 3463 writes it, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusCode(pub DsnStatus);

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0.class, self.0.subject, self.0.detail)
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DsnError {
    #[error("the bounce message is {len} bytes; at most {MAX_DSN_BYTES} are accepted")]
    TooLarge { len: usize },
    #[error("not an email message (no header could be read)")]
    NotMime,
    #[error("not a bounce message: a bounce is multipart/report with report-type=delivery-status and a message/delivery-status part ({found})")]
    NotReport { found: String },
    #[error("malformed delivery status: {0}")]
    Malformed(String),
    #[error("{email:?} is not a usable email address: {reason}")]
    BadEmail { email: String, reason: String },
    #[error("the bounce message reports nothing about {email}; it names: {}", names.join(", "))]
    NoSuchRecipient { email: String, names: Vec<String> },
    #[error("the bounce message says \"Action: {action}\" for {email}, not \"failed\"; only a failed delivery proves a bad address")]
    NotFailed { email: String, action: String },
    #[error("the bounce message reports a temporary problem for {email} (status {status}{}); only a permanent failure (5.x.x) proves a bad address", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Temporary {
        email: String,
        status: StatusCode,
        reason: Option<String>,
    },
    #[error("the bounce message says \"Action: failed\" for {email} but its status {status} is not a failure")]
    Inconsistent { email: String, status: StatusCode },
}

/// Parses a delivery status notification: the MIME envelope, then its per-message and
/// per-recipient blocks.
pub fn parse(raw: &[u8]) -> Result<Bounce, DsnError> {
    if raw.len() > MAX_DSN_BYTES {
        return Err(DsnError::TooLarge { len: raw.len() });
    }
    let message = MessageParser::default()
        .parse(raw)
        .filter(|m| !m.headers().is_empty())
        .ok_or(DsnError::NotMime)?;
    let root = message.root_part();
    let ctype = root.content_type().ok_or_else(|| DsnError::NotReport {
        found: "no Content-Type: a plain text message".into(),
    })?;
    let found = describe(ctype);
    let is_report = ctype.ctype().eq_ignore_ascii_case("multipart")
        && ctype
            .subtype()
            .is_some_and(|s| s.eq_ignore_ascii_case("report"));
    let report_type = ctype.attributes().and_then(|attrs| {
        attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("report-type"))
            .map(|a| a.value.as_ref())
    });
    if !is_report || !report_type.is_some_and(|t| t.eq_ignore_ascii_case("delivery-status")) {
        return Err(DsnError::NotReport { found });
    }
    let status_part = root
        .sub_parts()
        .unwrap_or_default()
        .iter()
        .filter_map(|id| message.part(*id))
        .find(|part| {
            part.content_type().is_some_and(|ct| {
                ct.ctype().eq_ignore_ascii_case("message")
                    && ct.subtype().is_some_and(|s| {
                        s.eq_ignore_ascii_case("delivery-status")
                            || s.eq_ignore_ascii_case("global-delivery-status")
                    })
            })
        })
        .ok_or_else(|| DsnError::NotReport {
            found: format!("{found} without a message/delivery-status part"),
        })?;
    let body = std::str::from_utf8(status_part.contents()).map_err(|e| {
        DsnError::Malformed(format!(
            "the delivery-status part is not text (invalid UTF-8 at byte {})",
            e.valid_up_to()
        ))
    })?;
    parse_status_body(body)
}

/// The verdict for one address: the recipient block whose Final-Recipient,
/// normalised with [`normalise_email`], equals `email` normalised the same way,
/// ignoring ASCII case in the local part too: RFC 5321 lets a local part be
/// case-sensitive, but mail systems fold it, and bounces often report it lowercased. It must say `Action: failed` with a
/// permanent 5.x.x status; a 4.x.x status or `Action: delayed` is refused as
/// [`DsnError::Temporary`].
pub fn permanent_failure_for(raw: &[u8], email: &str) -> Result<DsnStatus, DsnError> {
    let wanted = normalise_email(email).map_err(|e| DsnError::BadEmail {
        email: email.chars().take(256).collect(),
        reason: e.to_string(),
    })?;
    let bounce = parse(raw)?;
    let mine: Vec<&RecipientStatus> = bounce
        .recipients
        .iter()
        .filter(|r| {
            normalise_email(&r.final_recipient).is_ok_and(|n| n.eq_ignore_ascii_case(&wanted))
        })
        .collect();
    if let Some(r) = mine
        .iter()
        .find(|r| r.action == "failed" && r.status.is_permanent())
    {
        return Ok(r.status);
    }
    let Some(r) = mine.first() else {
        return Err(DsnError::NoSuchRecipient {
            email: wanted,
            names: bounce
                .recipients
                .iter()
                .map(|r| r.final_recipient.clone())
                .collect(),
        });
    };
    if r.action == "delayed" || r.status.class == 4 {
        return Err(DsnError::Temporary {
            email: wanted,
            status: StatusCode(r.status),
            reason: r.diagnostic.clone().or_else(|| {
                (r.action == "delayed").then(|| "delivery delayed, still being retried".into())
            }),
        });
    }
    if r.action != "failed" {
        return Err(DsnError::NotFailed {
            email: wanted,
            action: r.action.clone(),
        });
    }
    Err(DsnError::Inconsistent {
        email: wanted,
        status: StatusCode(r.status),
    })
}

fn describe(ct: &mail_parser::ContentType<'_>) -> String {
    let mut s = format!("this one is {}", ct.ctype());
    if let Some(sub) = ct.subtype() {
        s.push('/');
        s.push_str(sub);
    }
    if let Some(attrs) = ct.attributes() {
        if let Some(a) = attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case("report-type"))
        {
            s.push_str("; report-type=");
            s.push_str(&a.value);
        }
    }
    s
}

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

fn parse_status_body(body: &str) -> Result<Bounce, DsnError> {
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
        let n = i + 1;
        let get = |name: &str, shown: &str| {
            field(&block, name).ok_or_else(|| {
                DsnError::Malformed(format!("recipient block {n} has no {shown} field"))
            })
        };
        let final_recipient =
            address_of(get("final-recipient", "Final-Recipient")?).ok_or_else(|| {
                DsnError::Malformed(format!(
                    "recipient block {n}: Final-Recipient is not \"type; address\""
                ))
            })?;
        let action = get("action", "Action")?.to_ascii_lowercase();
        let status = parse_status(get("status", "Status")?).ok_or_else(|| {
            DsnError::Malformed(format!(
                "recipient block {n}: Status {:?} is not class.subject.detail (e.g. 5.1.1)",
                field(&block, "status").unwrap_or_default()
            ))
        })?;
        let diagnostic = field(&block, "diagnostic-code").map(str::to_owned);
        recipients.push(RecipientStatus {
            final_recipient,
            action,
            status,
            diagnostic,
        });
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

/// `rfc822; jane@acme.fr` → `jane@acme.fr`. The address type is not checked: `utf-8`
/// (RFC 6533) carries the same kind of address.
fn address_of(value: &str) -> Option<String> {
    let (_, addr) = value.split_once(';')?;
    let addr = addr.trim();
    let addr = addr
        .strip_prefix('<')
        .and_then(|a| a.strip_suffix('>'))
        .unwrap_or(addr)
        .trim();
    (!addr.is_empty()).then(|| addr.to_owned())
}

/// `5.1.1` or `5.1.1 (user unknown)`, within the bounds the protocol accepts.
fn parse_status(value: &str) -> Option<DsnStatus> {
    let code = value.split_whitespace().next()?;
    let mut parts = code.split('.');
    let class: u8 = parts.next()?.parse().ok()?;
    let subject: u16 = parts.next()?.parse().ok()?;
    let detail: u16 = parts.next()?.parse().ok()?;
    if parts.next().is_some() || ![2, 4, 5].contains(&class) || subject > 999 || detail > 999 {
        return None;
    }
    Some(DsnStatus {
        class,
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
        assert_eq!(parse_status("5.1.1"), s(5, 1, 1));
        assert_eq!(parse_status("4.2.2 (mailbox full)"), s(4, 2, 2));
        assert_eq!(parse_status("5.7.999"), s(5, 7, 999));
        for bad in ["", "5.1", "5.1.1.1", "3.1.1", "5.1000.1", "x.1.1", "550"] {
            assert_eq!(parse_status(bad), None, "{bad}");
        }
    }

    #[test]
    fn final_recipient_forms() {
        assert_eq!(address_of("rfc822; a@b.c").as_deref(), Some("a@b.c"));
        assert_eq!(address_of("RFC822;<a@b.c>").as_deref(), Some("a@b.c"));
        assert_eq!(address_of("a@b.c"), None);
        assert_eq!(address_of("rfc822;  "), None);
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
    }
}
