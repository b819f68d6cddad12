//! Answering a member's dedup-key request (docs/protocol.md, "Dedup-key requests").
//!
//! Dedup keys are keyed by the network secret, which only org nodes hold, so a teaser
//! does not let anyone test a guess of its address. What is left is the question a
//! contribution asks anyway, "is this address listed already?": a member who asks
//! for a listed address is told so without the key, and each member gets a bounded
//! number of such answers a day, so guessing at scale is slow and attributable (every
//! request is signed by the member's key).

use crate::engine::Engine;
use carnet_protocol::card::{dedup_key, normalise_email, NetworkSecret};
use carnet_protocol::dedup::{verify, DedupRequest};
use carnet_protocol::{Hash32, PublicKey};
use thiserror::Error;

/// How far a request's `at_ms` may be from the node's clock.
pub const MAX_REQUEST_SKEW_MS: u64 = 5 * 60 * 1000;

/// Answers "this address is listed or opted out" a member gets per UTC day. An honest
/// import of an address book meets some duplicates; a member testing guessed
/// addresses of listed people meets them by the thousand.
pub const MAX_DEDUP_MISSES_PER_DAY: u32 = 1000;

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DedupError {
    #[error("the request's signature does not verify under its member key")]
    BadSignature,
    #[error("the request is for another network")]
    OtherNetwork,
    #[error("the request was signed at {at_ms}, more than 5 minutes from this node's clock ({now_ms}); check the clock and sign again")]
    Stale { at_ms: u64, now_ms: u64 },
    #[error("not an email address: {0}")]
    Email(String),
    #[error("{0} is not an active member of this org")]
    NotMember(PublicKey),
    #[error("this node has not received the network secret from another org's node yet; try again once it has peers")]
    NoSecret,
    #[error("this email is already listed by another member")]
    Duplicate,
    #[error("this person opted out; their email cannot be listed")]
    OptedOut,
    #[error("{0} addresses you asked for today were already listed or opted out; the quota resets at 00:00 UTC")]
    Quota(u32),
    /// The store could not say whether the address is listed (a disk that fails to
    /// read): retry once the operator has looked at it.
    #[error("the node could not read its store: {0}")]
    Storage(String),
}

impl DedupError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            DedupError::BadSignature => "bad_signature",
            DedupError::OtherNetwork => "wrong_network",
            DedupError::Stale { .. } => "stale_request",
            DedupError::Email(_) => "invalid_email",
            DedupError::NotMember(_) => "not_member",
            DedupError::NoSecret => "no_network_secret",
            DedupError::Duplicate => "duplicate_card",
            DedupError::OptedOut => "opted_out",
            DedupError::Quota(_) => "too_many_duplicates",
            DedupError::Storage(_) => "storage",
        }
    }
}

/// Per member: the UTC day and how many listed-or-opted-out answers it got that day.
/// Kept in memory: a restart forgives a day's count, which the operator controls.
#[derive(Debug, Default)]
pub struct MissQuota(std::collections::HashMap<PublicKey, (u64, u32)>);

impl MissQuota {
    /// Whether `member` may still be told "listed" today.
    fn allows(&self, member: &PublicKey, now_ms: u64) -> Result<(), DedupError> {
        match self.0.get(member) {
            Some((day, n)) if *day == now_ms / DAY_MS && *n >= MAX_DEDUP_MISSES_PER_DAY => {
                Err(DedupError::Quota(*n))
            }
            _ => Ok(()),
        }
    }

    fn count(&mut self, member: PublicKey, now_ms: u64) {
        let day = now_ms / DAY_MS;
        let e = self.0.entry(member).or_insert((day, 0));
        if e.0 != day {
            *e = (day, 0);
        }
        e.1 += 1;
    }
}

impl Engine {
    /// The network secret, once this node has it.
    pub fn network_secret(&self) -> Option<&NetworkSecret> {
        self.secret.as_ref()
    }

    /// Takes the network secret (from the data directory, or from a peer's welcome).
    /// Returns whether it was new; a secret is never replaced by another.
    pub fn set_network_secret(&mut self, secret: NetworkSecret) -> bool {
        if self.secret.is_some() {
            return false;
        }
        self.secret = Some(secret);
        true
    }

    /// The dedup key of `email` for the org's own use (an opt-out): no quota.
    pub fn org_dedup_key(&self, email: &str) -> Result<Hash32, DedupError> {
        let email = normalise_email(email).map_err(|e| DedupError::Email(e.to_string()))?;
        let secret = self.secret.as_ref().ok_or(DedupError::NoSecret)?;
        Ok(dedup_key(secret, &email))
    }

    /// The dedup key of the email in `request`, for a member of this org to sign into
    /// its listing. A listed address (by someone else) or an opted-out one is refused
    /// without the key; an address the member listed itself gets its key (for an
    /// update).
    pub fn answer_dedup(
        &mut self,
        request: &DedupRequest,
        signature: &[u8; 64],
        now_ms: u64,
    ) -> Result<Hash32, DedupError> {
        if request.network != self.network {
            return Err(DedupError::OtherNetwork);
        }
        if !verify(request, signature) {
            return Err(DedupError::BadSignature);
        }
        if request.at_ms.abs_diff(now_ms) > MAX_REQUEST_SKEW_MS {
            return Err(DedupError::Stale {
                at_ms: request.at_ms,
                now_ms,
            });
        }
        let member = request.member;
        let org = self.org.public();
        let state = self.ledger.state();
        if !state
            .accounts
            .get(&member)
            .is_some_and(|a| a.org() == Some(org) && a.is_active())
        {
            return Err(DedupError::NotMember(member));
        }
        let email =
            normalise_email(&request.email).map_err(|e| DedupError::Email(e.to_string()))?;
        let secret = self.secret.as_ref().ok_or(DedupError::NoSecret)?;
        self.dedup_misses.allows(&member, now_ms)?;
        let key = dedup_key(secret, &email);
        let refusal = if state.opted_out.contains(&key) {
            Some(DedupError::OptedOut)
        } else {
            let held = state.dedup.try_get(&key);
            match held.map_err(|e| DedupError::Storage(e.to_string()))? {
                Some(listing)
                    if state
                        .listings
                        .get(&listing)
                        .is_none_or(|l| l.contributor != member) =>
                {
                    Some(DedupError::Duplicate)
                }
                _ => None,
            }
        };
        match refusal {
            Some(e) => {
                self.dedup_misses.count(member, now_ms);
                Err(e)
            }
            None => Ok(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::IngestError;
    use crate::test_support::{card, enroll, one_org_engine, one_org_genesis, SECRET};
    use carnet_protocol::dedup::sign;
    use carnet_protocol::payload::{Contribute, OptOut, Payload};
    use carnet_protocol::{NetworkId, SecretKey};

    const NOW: u64 = 1_700_000_000_000;

    fn ask(
        e: &mut Engine,
        key: &SecretKey,
        network: NetworkId,
        email: &str,
        at_ms: u64,
    ) -> Result<Hash32, DedupError> {
        let request = DedupRequest {
            network,
            member: key.public(),
            email: email.into(),
            at_ms,
        };
        e.answer_dedup(&request, &sign(key, &request), NOW)
    }

    #[test]
    fn a_member_gets_the_key_of_a_new_or_its_own_address_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, _) = one_org_engine(dir.path());
        let net = genesis.network_id();
        let (k1, mut m1) = enroll(&mut e, 10);
        let (k2, _) = enroll(&mut e, 11);
        let stranger = SecretKey::from_seed([12; 32]);

        // A new address: the key under the network secret, usable in a listing the
        // node takes.
        let key = ask(&mut e, &k1, net, "ada@acme.example", NOW).unwrap();
        assert_eq!(key, dedup_key(&SECRET, "ada@acme.example"));
        let ada = card("ada@acme.example");
        let listing = ada.listing_keyed(key).unwrap();
        let ev = m1
            .sign(
                Payload::Contribute(Contribute { listing }),
                vec![],
                e.ledger().max_lamport(),
                5,
            )
            .unwrap();
        e.contribute(ev.as_bytes(), ada).unwrap();

        // Its contributor may ask again (an update keeps its email); another member
        // learns only that it is listed, and it counts.
        assert_eq!(ask(&mut e, &k1, net, "ada@acme.example", NOW), Ok(key));
        assert_eq!(
            ask(&mut e, &k2, net, "ada@acme.example", NOW),
            Err(DedupError::Duplicate)
        );
        assert_eq!(e.dedup_misses.0.get(&k2.public()), Some(&(NOW / DAY_MS, 1)));

        // An opted-out address: refused without the key.
        let gone = e.org_dedup_key("Gone@ACME.example").unwrap();
        assert_eq!(gone, dedup_key(&SECRET, "Gone@acme.example"));
        let ev = e
            .sign_as_org(Payload::OptOut(OptOut { dedup_key: gone }))
            .unwrap();
        e.ingest_event(ev).unwrap();
        assert_eq!(
            ask(&mut e, &k1, net, "Gone@acme.example", NOW),
            Err(DedupError::OptedOut)
        );

        // Strangers, forgeries, replays and other networks get nothing.
        assert_eq!(
            ask(&mut e, &stranger, net, "bob@acme.example", NOW),
            Err(DedupError::NotMember(stranger.public()))
        );
        let request = DedupRequest {
            network: net,
            member: k1.public(),
            email: "bob@acme.example".into(),
            at_ms: NOW,
        };
        assert_eq!(
            e.answer_dedup(&request, &sign(&k2, &request), NOW),
            Err(DedupError::BadSignature)
        );
        let late = NOW - MAX_REQUEST_SKEW_MS - 1;
        assert!(matches!(
            ask(&mut e, &k1, net, "bob@acme.example", late),
            Err(DedupError::Stale { .. })
        ));
        assert_eq!(
            ask(&mut e, &k1, Hash32::of(b"other"), "bob@acme.example", NOW),
            Err(DedupError::OtherNetwork)
        );
        assert!(matches!(
            ask(&mut e, &k1, net, "not an email", NOW),
            Err(DedupError::Email(_))
        ));
    }

    #[test]
    fn a_node_without_the_secret_answers_no_key_and_takes_no_card() {
        let dir = tempfile::tempdir().unwrap();
        let (genesis, org) = one_org_genesis();
        let net = genesis.network_id();
        let store =
            crate::store::Store::open(&dir.path().join("events.redb"), genesis.network_id())
                .unwrap();
        let mut e = Engine::open(store, genesis, org).unwrap();
        let (k1, mut member) = enroll(&mut e, 10);
        assert_eq!(
            ask(&mut e, &k1, net, "ada@acme.example", NOW),
            Err(DedupError::NoSecret)
        );
        assert_eq!(
            e.org_dedup_key("ada@acme.example"),
            Err(DedupError::NoSecret)
        );
        let ada = card("ada@acme.example");
        let ev = crate::test_support::contribution(&mut e, &mut member, &ada);
        assert!(matches!(
            e.contribute(ev.as_bytes(), ada.clone()),
            Err(IngestError::NoNetworkSecret)
        ));
        // Once it has the secret, the same contribution is taken; a secret is never
        // replaced.
        assert!(e.set_network_secret(SECRET));
        assert!(!e.set_network_secret(NetworkSecret([1; 32])));
        assert_eq!(e.network_secret(), Some(&SECRET));
        e.contribute(ev.as_bytes(), ada).unwrap();
    }

    /// The v3 attack, on the node's side: a listing keyed the old way (by the public
    /// network id) is not taken, whatever the card.
    #[test]
    fn a_listing_whose_dedup_key_is_not_under_the_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, _) = one_org_engine(dir.path());
        let net = genesis.network_id();
        let (_, mut member) = enroll(&mut e, 10);
        let ada = card("ada@acme.example");
        let old_key = Hash32::derive(
            "carnet v1 dedup key",
            &[net.as_bytes(), b"ada@acme.example"],
        );
        let ev = member
            .sign(
                Payload::Contribute(Contribute {
                    listing: ada.listing_keyed(old_key).unwrap(),
                }),
                vec![],
                e.ledger().max_lamport(),
                5,
            )
            .unwrap();
        assert!(matches!(
            e.contribute(ev.as_bytes(), ada),
            Err(IngestError::Card(carnet_protocol::card::CardError::Mismatch(m))) if m.contains("dedup key")
        ));
        assert!(e.store.card_ids().unwrap().is_empty());
    }

    #[test]
    fn listed_answers_are_bounded_per_member_and_day() {
        let mut q = MissQuota::default();
        let m = SecretKey::from_seed([10; 32]).public();
        let other = SecretKey::from_seed([11; 32]).public();
        for _ in 0..MAX_DEDUP_MISSES_PER_DAY {
            q.allows(&m, NOW).unwrap();
            q.count(m, NOW);
        }
        assert_eq!(
            q.allows(&m, NOW),
            Err(DedupError::Quota(MAX_DEDUP_MISSES_PER_DAY))
        );
        assert_eq!(q.allows(&other, NOW), Ok(()));
        // The next UTC day starts afresh.
        let tomorrow = (NOW / DAY_MS + 1) * DAY_MS;
        assert_eq!(q.allows(&m, tomorrow), Ok(()));
        q.count(m, tomorrow);
        assert_eq!(q.0.get(&m), Some(&(tomorrow / DAY_MS, 1)));
    }
}
