//! The org node's check on a bounce message before it vouches for a member's report.
//!
//! Anyone can write a text that looks like a bounce. [`dsn::permanent_failure_for`]
//! only says the text is shaped like one; DKIM (RFC 6376) says which domain's mail
//! server sent it and that nothing was changed on the way. So [`check_bounce`] runs
//! the DSN check, then verifies the message's own `DKIM-Signature` headers with
//! mail-auth:
//!
//! - no `DKIM-Signature` at all: [`Finding::Unsigned`]. Many bounce senders don't sign;
//!   the caller decides what an unsigned bounce is worth.
//! - one or more: at least one must verify, or the bounce is refused
//!   ([`BounceCheckError::DkimFailed`]). A signature that is present but broken means
//!   the message was altered or forged, which is worse than no signature.
//! - the key could not be fetched (DNS down, timeout): [`BounceCheckError::DkimUnavailable`],
//!   "try later", never "forged".
//!
//! Only the bounce's own headers count: a signature inside the returned original
//! message (a `message/rfc822` part) signs the member's outgoing mail, not the bounce.
//!
//! Which domain signed is for the caller to judge: [`Finding::Verified`] names it, and
//! a domain that has nothing to do with the bounced address proves little.

use crate::dsn::{self, DsnError, MAX_DSN_BYTES};
use carnet_protocol::payload::DsnStatus;
use mail_auth::common::cache::NoCache;
use mail_auth::common::crypto::Algorithm;
use mail_auth::common::headers::Header;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::resolver::ToFqdn;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimError;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DnsError, MessageAuthenticator, Parameters,
    ResolverCache, Txt,
};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::Ipv4Addr;
use std::sync::Arc;
use thiserror::Error;

/// Most `DKIM-Signature` headers a bounce may carry. Each one costs a DNS lookup and a
/// signature check; real bounces carry one to three (the sender's, sometimes a relay's).
pub const MAX_DKIM_SIGNATURES: usize = 8;

/// Longest domain quoted in an error: the longest DNS name (RFC 1035 section 2.3.4).
const MAX_SHOWN_DOMAIN: usize = 253;

/// What DKIM says about a bounce that passed the DSN check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// A `DKIM-Signature` of the bounce verified: `domain` (its `d=`, lowercased) sent
    /// this message as it is.
    Verified { domain: String },
    /// The bounce carries no `DKIM-Signature`, or only signatures from a domain whose
    /// key record says `t=y` (testing), which RFC 6376 section 3.6.1 says to treat as
    /// unsigned.
    Unsigned,
}

/// Why [`check_bounce`] refused a bounce. Every message is meant for the member who
/// submitted it: what is wrong, and what to send instead.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BounceCheckError {
    /// The message is not a bounce reporting a permanent failure for this address.
    #[error(transparent)]
    Dsn(#[from] DsnError),
    /// The bounce carries DKIM signatures and none of them verifies: it was changed
    /// after it was sent, or forged (or, checked long after, its `x=` expiry passed or
    /// the domain replaced the key). `domain` is the first failing signature's `d=`
    /// (`(unreadable)` when the header could not be parsed); `reason` is mail-auth's,
    /// followed by the other signatures' when there are several.
    #[error("the bounce message carries a DKIM signature from {domain} that does not verify ({reason}): the message was changed after it was sent, or forged. Submit it exactly as your mail system received it (its raw source, e.g. a saved .eml file), not forwarded or edited")]
    DkimFailed { domain: String, reason: String },
    /// A signing key could not be fetched from DNS now. Says nothing about the message.
    #[error("the bounce message's DKIM signature could not be checked right now ({reason}); try again later")]
    DkimUnavailable { reason: String },
    /// More signatures than [`MAX_DKIM_SIGNATURES`], each a DNS lookup: refused before
    /// any lookup.
    #[error("the bounce message carries {count} DKIM-Signature headers; at most {MAX_DKIM_SIGNATURES} are checked, and a real bounce has one to three")]
    TooManySignatures { count: usize },
}

/// Why a [`DkimVerifier`] could not be built.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum VerifierError {
    /// The system's resolver configuration could not be read or used; hickory's words.
    #[error("cannot set up DNS for DKIM from the system configuration: {0}")]
    SystemDns(String),
    /// The resolver of a closed-world verifier could not be built; hickory's words.
    #[error("cannot set up the DKIM resolver: {0}")]
    Resolver(String),
}

/// Checks that `raw` is a bounce reporting a permanent failure for `email`
/// ([`dsn::permanent_failure_for`]), then what its DKIM signatures say (see the
/// module doc). The DSN check runs first, so a message that is not a bounce for this
/// address costs no DNS lookup. With the system resolver, each signature may wait for
/// the resolver's timeouts: callers that answer a request should bound the whole call.
pub async fn check_bounce(
    raw: &[u8],
    email: &str,
    dkim: &DkimVerifier,
) -> Result<(DsnStatus, Finding), BounceCheckError> {
    if raw.len() > MAX_DSN_BYTES {
        return Err(DsnError::TooLarge { len: raw.len() }.into());
    }
    let status = dsn::permanent_failure_for(raw, email)?;
    let finding = dkim.verify(raw).await?;
    Ok((status, finding))
}

/// Fetches DKIM keys and verifies signatures: mail-auth's [`MessageAuthenticator`]
/// over the system resolver in production ([`DkimVerifier::system`]), or over a fixed
/// set of key records that never touches the network ([`DkimVerifier::with_records`],
/// for tests and for re-checking a bounce offline with keys recorded earlier).
/// Cloning is cheap; clones share the resolver.
#[derive(Clone)]
pub struct DkimVerifier {
    authenticator: MessageAuthenticator,
    /// A closed world: every TXT lookup is answered from here, never from DNS.
    known: Option<Arc<Fixed>>,
}

impl fmt::Debug for DkimVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.known {
            None => f.write_str("DkimVerifier(system DNS)"),
            Some(k) => write!(f, "DkimVerifier({} known key records)", k.records.len()),
        }
    }
}

impl DkimVerifier {
    /// Resolves keys with the system's DNS configuration (`/etc/resolv.conf`).
    pub fn system() -> Result<Self, VerifierError> {
        let authenticator = MessageAuthenticator::new_system_conf()
            .map_err(|e| VerifierError::SystemDns(e.to_string()))?;
        Ok(Self {
            authenticator,
            known: None,
        })
    }

    /// Knows exactly the given DKIM key records, as (`selector._domainkey.domain`,
    /// TXT value) pairs such as `("s1._domainkey.example.org", "v=DKIM1; k=ed25519;
    /// p=...")`; every other name does not exist (NXDOMAIN). No query leaves the
    /// process. A value that is not a valid key record is kept as mail-auth's parse
    /// error, the way a real lookup would return it.
    pub fn with_records<N, V>(
        records: impl IntoIterator<Item = (N, V)>,
    ) -> Result<Self, VerifierError>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let records = records
            .into_iter()
            .map(|(name, value)| {
                let key = name.as_ref().to_fqdn().into_owned().into_boxed_str();
                let record = Txt::from(DomainKey::parse(value.as_ref().as_bytes()));
                (key, record)
            })
            .collect();
        let absent = Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
            ResponseCode::NXDomain,
        )));
        Self::closed(records, absent)
    }

    /// Every key lookup fails as if DNS were unreachable: what [`check_bounce`] does
    /// when it cannot check now (for tests of the try-later path). No query is sent.
    pub fn unreachable() -> Result<Self, VerifierError> {
        let down = Txt::Error(mail_auth::Error::Dns(DnsError::Resolver(
            "no DNS server answered".into(),
        )));
        Self::closed(HashMap::new(), down)
    }

    fn closed(records: HashMap<Box<str>, Txt>, otherwise: Txt) -> Result<Self, VerifierError> {
        // DKIM looks up only TXT records and `known` answers all of them, so the
        // resolver is never asked; it points at loopback in case that ever changes.
        let config = ResolverConfig::from_name_servers(vec![NameServerConfig::udp(
            Ipv4Addr::LOCALHOST.into(),
        )]);
        let authenticator = MessageAuthenticator::new(config, ResolverOpts::default())
            .map_err(|e| VerifierError::Resolver(e.to_string()))?;
        Ok(Self {
            authenticator,
            known: Some(Arc::new(Fixed { records, otherwise })),
        })
    }

    /// The DKIM half of [`check_bounce`], on a message the DSN check accepted.
    async fn verify(&self, raw: &[u8]) -> Result<Finding, BounceCheckError> {
        let Some(mut message) = AuthenticatedMessage::parse(raw) else {
            // The DSN parser read headers here; if mail-auth cannot, a signature may
            // hide among them, so "unsigned" would be a guess.
            return Err(BounceCheckError::DkimFailed {
                domain: UNREADABLE.into(),
                reason: "mail-auth could not read the message's headers".into(),
            });
        };
        let count = message
            .headers
            .iter()
            .filter(|(name, _)| is_dkim_signature(name))
            .count();
        if count == 0 {
            return Ok(Finding::Unsigned);
        }
        if count > MAX_DKIM_SIGNATURES {
            return Err(BounceCheckError::TooManySignatures { count });
        }
        reject_rsa_sha1(&mut message);
        let outputs = match &self.known {
            Some(known) => {
                self.authenticator
                    .verify_dkim(Parameters::new(&message).with_txt_cache(known.as_ref()))
                    .await
            }
            None => self.authenticator.verify_dkim(&message).await,
        };

        let mut testing_only = false;
        for output in &outputs {
            let (DkimResult::Pass, Some(signature)) = (output.result(), output.signature()) else {
                continue;
            };
            if self.is_testing(&signature.s, &signature.d).await? {
                testing_only = true;
                continue;
            }
            return Ok(Finding::Verified {
                domain: shown(&signature.d).to_ascii_lowercase(),
            });
        }
        if testing_only {
            return Ok(Finding::Unsigned);
        }
        if let Some((domain, err)) = outputs.iter().find_map(|o| match o.result() {
            DkimResult::TempError(err) => Some((domain_of(o), err)),
            _ => None,
        }) {
            return Err(BounceCheckError::DkimUnavailable {
                reason: format!("looking up {domain}'s DKIM key: {err}"),
            });
        }

        let mut failures: Vec<(String, String)> = outputs
            .iter()
            .filter(|o| o.signature().is_some())
            .map(|o| (domain_of(o), reason_of(o)))
            .collect();
        // Headers mail-auth could not parse or that `reject_rsa_sha1` set aside; the
        // former produce no output at all.
        failures.extend(
            message
                .errors
                .iter()
                .filter(|h| is_dkim_signature(h.name))
                .map(|h| (raw_domain(h.value), h.header.to_string())),
        );
        let mut failures = failures.into_iter();
        let Some((domain, mut reason)) = failures.next() else {
            return Err(BounceCheckError::DkimFailed {
                domain: UNREADABLE.into(),
                reason: "no DKIM-Signature header could be read".into(),
            });
        };
        for (other, why) in failures {
            reason.push_str(&format!("; the signature from {other}: {why}"));
        }
        Err(BounceCheckError::DkimFailed { domain, reason })
    }

    /// Whether the key record at `selector._domainkey.domain` says `t=y`. The lookup
    /// that verified the signature just fetched it, so this one hits a cache (ours or
    /// the resolver's).
    async fn is_testing(&self, selector: &str, domain: &str) -> Result<bool, BounceCheckError> {
        let name = format!("{selector}._domainkey.{domain}");
        let key = match &self.known {
            Some(known) => {
                self.authenticator
                    .txt_lookup::<DomainKey>(name, Some(known.as_ref()))
                    .await
            }
            None => {
                self.authenticator
                    .txt_lookup::<DomainKey>(name, None::<&NoCache<Box<str>, Txt>>)
                    .await
            }
        };
        match key {
            Ok(key) => Ok(key.f & KEY_FLAG_TESTING != 0),
            Err(mail_auth::Error::Dns(DnsError::Resolver(e))) => {
                Err(BounceCheckError::DkimUnavailable {
                    reason: format!("looking up {}'s DKIM key: {e}", shown(domain)),
                })
            }
            // The signature verified with this very record a moment ago.
            Err(_) => Ok(false),
        }
    }
}

/// The bit mail-auth 0.13 sets in [`DomainKey::f`] for `t=y` (its `R_FLAG_TESTING`,
/// not exported); the `testing_key_counts_as_unsigned` test notices if it moves.
const KEY_FLAG_TESTING: u64 = 0x10;

const UNREADABLE: &str = "(unreadable)";

/// RFC 8301 section 3.1: verifiers must not consider rsa-sha1 signatures valid.
/// mail-auth 0.13 still verifies them, so they are moved to the message's errors,
/// where `verify_dkim` reports them as neutral.
fn reject_rsa_sha1(message: &mut AuthenticatedMessage<'_>) {
    let (sha1, kept) = std::mem::take(&mut message.dkim_headers)
        .into_iter()
        .partition::<Vec<_>, _>(|h| h.header.a == Algorithm::RsaSha1);
    message.dkim_headers = kept;
    for h in sha1 {
        message.has_dkim_errors = true;
        message.errors.push(Header {
            name: h.name,
            value: h.value,
            header: mail_auth::Error::Dkim(DkimError::UnsupportedAlgorithm),
        });
    }
}

fn is_dkim_signature(name: &[u8]) -> bool {
    name.trim_ascii().eq_ignore_ascii_case(b"DKIM-Signature")
}

fn shown(domain: &str) -> String {
    domain.chars().take(MAX_SHOWN_DOMAIN).collect()
}

fn domain_of(output: &DkimOutput<'_>) -> String {
    output
        .signature()
        .map(|s| shown(&s.d))
        .unwrap_or_else(|| UNREADABLE.into())
}

fn reason_of(output: &DkimOutput<'_>) -> String {
    match (output.result(), output.signature()) {
        (DkimResult::PermError(e), Some(s)) => {
            format!(
                "no usable key at {}._domainkey.{}: {e}",
                shown(&s.s),
                shown(&s.d)
            )
        }
        (
            DkimResult::Neutral(e)
            | DkimResult::Fail(e)
            | DkimResult::PermError(e)
            | DkimResult::TempError(e),
            _,
        ) => e.to_string(),
        (DkimResult::Pass | DkimResult::None, _) => "not checked".into(),
    }
}

/// The `d=` tag of a `DKIM-Signature` value mail-auth could not parse, for the error
/// message only.
fn raw_domain(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    text.split(';')
        .filter_map(|tag| tag.split_once('='))
        .find(|(name, _)| name.trim() == "d")
        .map(|(_, d)| shown(&d.split_whitespace().collect::<String>()))
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| UNREADABLE.into())
}

/// The closed world of [`DkimVerifier::with_records`]: a TXT cache that answers every
/// name, listed or not, so mail-auth never queries. Never changes: what mail-auth
/// would cache after a query is dropped (there are no queries).
struct Fixed {
    records: HashMap<Box<str>, Txt>,
    /// The answer for every name not in `records`.
    otherwise: Txt,
}

impl ResolverCache<Box<str>, Txt> for Fixed {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Some(self.records.get(name).unwrap_or(&self.otherwise).clone())
    }

    fn remove<Q>(&self, _: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        None
    }

    fn insert(&self, _: Box<str>, _: Txt, _: std::time::Instant) {}
}
