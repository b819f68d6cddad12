//! Bounce messages (RFC 3464 delivery status notifications) as evidence that a card's
//! email address is dead.
//!
//! A buyer reports a bounce by publishing the hash of the raw bounce message; the
//! reporter's `carnet report bounce` and the offline auditor both run
//! [`permanent_failure_for`] on the same bytes, so its verdict and its errors must read
//! well on their own, to someone who has only the message and the address. The rule is
//! normative and written out in docs/audit.md ("How `evidence.dsn` decides"); this
//! module is its reference implementation, so the two change together.
//!
//! Real mail servers bend RFC 3464 in a handful of recurring ways (the status part
//! inside `multipart/mixed`, comments in fields, non-standard actions, forwarding that
//! names the address only in `Original-Recipient`), and each is read here. What the
//! rule never bends: only a class-5 status for the address itself, or for the single
//! mailbox it was forwarded to, can pass, and anything that says "temporary" refuses.
//!
//! mail-parser handles the MIME envelope (boundaries, transfer encodings, nesting);
//! `mime` picks the status part out of it. The delivery-status body itself is a
//! sequence of header blocks that no general mail parser exposes field by field, so
//! `body` reads it.

mod body;
mod mime;

use carnet_protocol::card::normalise_email;
use carnet_protocol::payload::DsnStatus;
use mail_parser::MessageParser;
use std::fmt;
use thiserror::Error;

/// Largest bounce message accepted. Real bounces quote at most the original headers or
/// a truncated body, a few tens of kilobytes; the cap bounds parsing time and memory.
pub const MAX_DSN_BYTES: usize = 1 << 20;

/// What the report says about one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientStatus {
    /// The address after `type;` in `Final-Recipient`, comments removed, trimmed and
    /// without angle brackets.
    pub final_recipient: String,
    /// `Original-Recipient`, read the same way: the address the sender used, which a
    /// forwarding server reports next to the mailbox it forwarded to.
    pub original_recipient: Option<String>,
    /// `Action`, comments removed, runs of whitespace made one space, ASCII-lowercased:
    /// `failed`, `delayed`, `delivered`, `relayed`, `expanded`, or a non-standard word
    /// some servers write (`failure`, `bounced`…). [`RecipientStatus::action_class`]
    /// says how the verdict reads it.
    pub action: String,
    pub status: DsnStatus,
    /// The remote server's words (e.g. `smtp; 550 5.1.1 user unknown`), unfolded.
    pub diagnostic: Option<String>,
}

/// How the verdict reads an `Action`, by its first word: the leading run of ASCII
/// letters of [`RecipientStatus::action`]. Reading the first word rather than the
/// whole value is what keeps `delayed; will retry` temporary and `failed, giving up`
/// failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionClass {
    /// `failed`.
    Failed,
    /// `delayed`, or a non-standard word that says the server is still trying
    /// (`delay`, `deferred`, `queued`, `retry`, `retrying`, `transient`, `temporary`,
    /// `warning`). Never a permanent failure, whatever the status says.
    Delayed,
    /// `delivered`, `relayed` or `expanded`: the message went somewhere, so the report
    /// proves nothing dead, whatever the status says.
    NotFailed,
    /// Any other word (`failure`, `bounced`, `undeliverable`…). Some servers write
    /// these for a failure; the status alone decides, and only class 5 passes.
    NonStandard,
}

/// First words read as [`ActionClass::Delayed`]: RFC 3464's own and what servers write
/// for "still trying". A non-standard action passes on its status alone, so any word
/// that may mean "not given up yet" is listed here to keep it from passing.
const DELAYED_WORDS: &[&str] = &[
    "delayed",
    "delay",
    "deferred",
    "queued",
    "retry",
    "retrying",
    "transient",
    "temporary",
    "warning",
];

impl RecipientStatus {
    /// See [`ActionClass`].
    pub fn action_class(&self) -> ActionClass {
        let end = self
            .action
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(self.action.len());
        let word = self.action.get(..end).unwrap_or_default();
        match word {
            "failed" => ActionClass::Failed,
            "delivered" | "relayed" | "expanded" => ActionClass::NotFailed,
            w if DELAYED_WORDS.contains(&w) => ActionClass::Delayed,
            _ => ActionClass::NonStandard,
        }
    }

    /// An SMTP reply in `Diagnostic-Code` (`smtp; 451 …` or `smtp; 550 4.2.2 …`) that
    /// says "try again later" while the Status says 5.x.x: servers that give up after
    /// days of temporary refusals report the expiry as a permanent failure, but the
    /// mailbox was never refused for good, so it proves nothing dead.
    pub fn temporary_smtp_reply(&self) -> bool {
        let Some((kind, reply)) = self.diagnostic.as_deref().and_then(|d| d.split_once(';')) else {
            return false;
        };
        if !kind.trim().eq_ignore_ascii_case("smtp") {
            return false;
        }
        let reply = reply.trim_start();
        let Some(code) = reply
            .get(..3)
            .filter(|c| c.bytes().all(|b| b.is_ascii_digit()))
        else {
            return false;
        };
        if code.starts_with('4') {
            return true;
        }
        // `550 4.2.2` and `550-4.2.2`: the enhanced code right after the reply code.
        let rest = reply.get(3..).unwrap_or_default();
        let Some(rest) = rest.strip_prefix([' ', '-']) else {
            return false;
        };
        rest.split_whitespace()
            .next()
            .and_then(body::parse_status)
            .is_some_and(|s| s.class == 4)
    }
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

/// Why a message does not prove the address dead. Each message is a sentence for
/// someone holding only the message and the address, since that is all an auditor
/// has.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DsnError {
    #[error("the bounce message is {len} bytes; at most {MAX_DSN_BYTES} are accepted")]
    TooLarge { len: usize },
    #[error("not an email message (no header could be read)")]
    NotMime,
    #[error("not a bounce message: a bounce carries a message/delivery-status or message/global-delivery-status part (RFC 3464), and none was found outside attached messages ({found})")]
    NotReport { found: String },
    #[error("not a delivery status notification: this is a bounce written for people ({what}), with no message/delivery-status part (RFC 3464), so nothing in it states the recipient's status in a form that can be checked exactly")]
    PlainTextBounce { what: String },
    #[error("the delivery status is inside an attached message ({found}), as when a bounce is forwarded as an attachment; only a bounce's own status part is read, because an attached message can be anything its sender wrote: report the attached bounce itself")]
    InAttachment { found: String },
    #[error("malformed delivery status: {0}")]
    Malformed(String),
    #[error("{email:?} is not a usable email address: {reason}")]
    BadEmail { email: String, reason: String },
    #[error("the bounce message reports nothing about {email}; it names: {}", names.join(", "))]
    NoSuchRecipient { email: String, names: Vec<String> },
    #[error("the bounce message names {email} only as the original recipient of several addresses ({}): it was expanded to a list, and a failure of some of them does not prove {email} dead", names.join(", "))]
    Expanded { email: String, names: Vec<String> },
    #[error("the bounce message says \"Action: {action}\" for {email}, not \"failed\"; only a failed delivery proves a bad address")]
    NotFailed { email: String, action: String },
    #[error("the bounce message reports a temporary problem for {email} (status {status}{}); only a permanent failure (5.x.x) proves a bad address", reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Temporary {
        email: String,
        status: StatusCode,
        reason: Option<String>,
    },
    #[error("the bounce message says \"Action: {action}\" for {email} but its status {status} is not a failure")]
    Inconsistent {
        email: String,
        action: String,
        status: StatusCode,
    },
}

/// Parses a delivery status notification: finds its one status part in the MIME tree,
/// then reads its per-message and per-recipient blocks.
pub fn parse(raw: &[u8]) -> Result<Bounce, DsnError> {
    if raw.len() > MAX_DSN_BYTES {
        return Err(DsnError::TooLarge { len: raw.len() });
    }
    let opaque = mime::opaque_attached_messages(raw);
    let message = MessageParser::default()
        .parse(&opaque)
        .filter(|m| !m.headers().is_empty())
        .ok_or(DsnError::NotMime)?;
    let status_part = mime::status_part(&message, raw)?;
    let contents = mime::contents(raw, status_part)
        .ok_or_else(|| DsnError::Malformed("the delivery-status part could not be read".into()))?;
    let body = std::str::from_utf8(&contents).map_err(|e| {
        DsnError::Malformed(format!(
            "the delivery-status part is not text (invalid UTF-8 at byte {})",
            e.valid_up_to()
        ))
    })?;
    body::parse_status_body(body)
}

/// The verdict for one address, as docs/audit.md ("How `evidence.dsn` decides") states
/// it.
///
/// Addresses are compared after [`normalise_email`], ignoring ASCII case in the whole
/// address: RFC 5321 lets a local part be case-sensitive, but mail systems fold it, and
/// bounces often report it lowercased. The blocks whose `Final-Recipient` is the
/// address decide; only when there are none does a block whose `Original-Recipient` is
/// the address decide, and only if it is the one such block, since a forward goes to
/// one mailbox and an alias expanded to several proves nothing by one dead member.
/// Every deciding block must pass ([`ActionClass`], class-5 status, no temporary SMTP
/// reply), so one "temporary" anywhere for the address refuses.
pub fn permanent_failure_for(raw: &[u8], email: &str) -> Result<DsnStatus, DsnError> {
    let wanted = normalise_email(email).map_err(|e| DsnError::BadEmail {
        email: email.chars().take(256).collect(),
        reason: e.to_string(),
    })?;
    let bounce = parse(raw)?;
    let is_wanted =
        |addr: &str| normalise_email(addr).is_ok_and(|n| n.eq_ignore_ascii_case(&wanted));
    let finals = || {
        bounce
            .recipients
            .iter()
            .map(|r| r.final_recipient.clone())
            .collect::<Vec<_>>()
    };
    let mut deciding: Vec<&RecipientStatus> = bounce
        .recipients
        .iter()
        .filter(|r| is_wanted(&r.final_recipient))
        .collect();
    if deciding.is_empty() {
        deciding = bounce
            .recipients
            .iter()
            .filter(|r| r.original_recipient.as_deref().is_some_and(is_wanted))
            .collect();
        if deciding.len() > 1 {
            return Err(DsnError::Expanded {
                email: wanted,
                names: deciding.iter().map(|r| r.final_recipient.clone()).collect(),
            });
        }
    }
    let verdicts = deciding
        .iter()
        .map(|r| verdict(r, &wanted))
        .collect::<Result<Vec<DsnStatus>, DsnError>>()?;
    verdicts
        .first()
        .copied()
        .ok_or_else(|| DsnError::NoSuchRecipient {
            email: wanted,
            names: finals(),
        })
}

/// One deciding block's verdict. The order matters only for which reason a refusal
/// gives: every path but the last refuses.
fn verdict(r: &RecipientStatus, email: &str) -> Result<DsnStatus, DsnError> {
    let class = r.action_class();
    let temporary = |reason: Option<String>| DsnError::Temporary {
        email: email.to_owned(),
        status: StatusCode(r.status),
        reason,
    };
    if class == ActionClass::Delayed {
        return Err(temporary(r.diagnostic.clone().or_else(|| {
            Some(format!(
                "\"Action: {}\": delivery delayed, still being retried",
                r.action
            ))
        })));
    }
    if r.status.class == 4 {
        return Err(temporary(r.diagnostic.clone()));
    }
    if class == ActionClass::NotFailed {
        return Err(DsnError::NotFailed {
            email: email.to_owned(),
            action: r.action.clone(),
        });
    }
    if r.temporary_smtp_reply() {
        return Err(temporary(r.diagnostic.as_ref().map(|d| {
            format!("the remote server's reply was a temporary refusal: {d}")
        })));
    }
    if !r.status.is_permanent() {
        return Err(DsnError::Inconsistent {
            email: email.to_owned(),
            action: r.action.clone(),
            status: StatusCode(r.status),
        });
    }
    Ok(r.status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recipient(action: &str, diagnostic: Option<&str>) -> RecipientStatus {
        RecipientStatus {
            final_recipient: "a@b.example".into(),
            original_recipient: None,
            action: action.into(),
            status: DsnStatus {
                class: 5,
                subject: 0,
                detail: 0,
            },
            diagnostic: diagnostic.map(str::to_owned),
        }
    }

    #[test]
    fn actions_are_classed_by_their_first_word() {
        let class = |a: &str| recipient(a, None).action_class();
        assert_eq!(class("failed"), ActionClass::Failed);
        assert_eq!(class("failed, giving up"), ActionClass::Failed);
        assert_eq!(class("delayed"), ActionClass::Delayed);
        assert_eq!(class("delayed; will retry"), ActionClass::Delayed);
        assert_eq!(class("deferred"), ActionClass::Delayed);
        assert_eq!(class("warning"), ActionClass::Delayed);
        assert_eq!(class("delivered"), ActionClass::NotFailed);
        assert_eq!(class("relayed"), ActionClass::NotFailed);
        assert_eq!(class("expanded"), ActionClass::NotFailed);
        assert_eq!(class("failure"), ActionClass::NonStandard);
        assert_eq!(class("bounced"), ActionClass::NonStandard);
        assert_eq!(class("undeliverable"), ActionClass::NonStandard);
        assert_eq!(class("failedx"), ActionClass::NonStandard);
    }

    #[test]
    fn temporary_smtp_replies() {
        let temp = |d: &str| recipient("failed", Some(d)).temporary_smtp_reply();
        assert!(temp("smtp; 451 4.3.0 Temporary local problem"));
        assert!(temp("SMTP;421 try later"));
        assert!(temp("smtp; 550 4.2.2 mailbox full"));
        assert!(temp(
            "smtp; 552-4.2.2 The recipient's inbox is out of storage space."
        ));
        assert!(!temp("smtp; 550 5.1.1 user unknown"));
        assert!(!temp("smtp; 550-5.1.1 The email account does not exist"));
        assert!(!temp("smtp; 550"));
        assert!(!temp(
            "X-Postfix; 451 looks temporary but is not an SMTP reply"
        ));
        assert!(!temp("smtp; 4"));
        assert!(!temp("smtp; é451"));
        assert!(!temp("no type at all"));
        assert!(!recipient("failed", None).temporary_smtp_reply());
    }
}
