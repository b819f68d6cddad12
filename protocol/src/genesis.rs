//! The network genesis: who founded the network and the rules every node applies.
//!
//! The network id is the BLAKE3 hash of the genesis' canonical bytes and every event
//! names it, so an event can never be replayed into a network with other rules.

use crate::encoding::{from_canonical, to_canonical, EncodingError};
use crate::hash::{Hash32, NetworkId};
use crate::keys::PublicKey;
use crate::limits::{MAX_FOUNDING_ORGS, MAX_GENESIS_BYTES, MAX_NAME_BYTES};
use crate::text::{check_text, TextError};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Format version of the genesis document and of every event under it.
pub const PROTOCOL_VERSION: u16 = 7;

/// A founding organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEntry {
    pub key: PublicKey,
    pub name: String,
}

/// The economic rules, fixed for the life of the network. Defaults follow Jigsaw's
/// published point system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    /// Points for a new card whose dedup key is not yet listed. Pending until the
    /// card vests (see `bounce_window_ms`).
    pub contribute_reward: u64,
    /// Points for updating a card, at most once per card per `update_interval_ms`.
    /// Pending like a contribution's reward, until a sale after the update vests.
    pub update_reward: u64,
    pub update_interval_ms: u64,
    /// Price of one card, escrowed at Purchase.
    pub card_price: u64,
    /// Paid to a reporter whose bounce report is confirmed by evidence.
    pub bounce_bounty: u64,
    /// Debited from the contributor of a bounced card.
    pub bounce_penalty: u64,
    /// Debited from the contributor of a card carrying a mobile number.
    pub mobile_penalty: u64,
    /// Mobile reports after which the contributor is excluded.
    pub mobile_strikes_to_exclude: u32,
    /// Paid to the referrer when the referred member's first contribution vests.
    pub referral_bonus: u64,
    /// Points an org Grant gives per dollar of subscription.
    pub points_per_dollar: u64,
    /// The subscription, in dollars per member and `grant_period_ms`: an org grants a
    /// member at most `subscription_dollars * points_per_dollar` points per period of
    /// network time; a Grant above that is void.
    pub subscription_dollars: u64,
    pub grant_period_ms: u64,
    /// Network time a card's rewards wait after a delivered sale before they vest; a
    /// confirmed bounce or mobile number within it forfeits them. Also how long the
    /// contributor's org may dispute a bounce report.
    pub bounce_window_ms: u64,
    /// Pay-or-play: contributions needed in the window to be allowed to buy without a Grant.
    pub play_min_contributions: u32,
    pub play_window_ms: u64,
    /// Host-org commission on each sale, in basis points (1/100 of a percent).
    pub commission_bps: u32,
    /// Checkpoint quorum: strictly more than `num/den` of the orgs must sign.
    pub quorum_num: u32,
    pub quorum_den: u32,
}

const DAY_MS: u64 = 24 * 60 * 60 * 1000;

impl Rules {
    /// Whether `signers` of `orgs` orgs are a quorum: `signers * quorum_den >
    /// quorum_num * orgs` (docs/protocol.md, "Quorum").
    pub fn is_quorum(&self, signers: usize, orgs: usize) -> bool {
        (signers as u128) * (self.quorum_den as u128) > (self.quorum_num as u128) * (orgs as u128)
    }

    /// The fewest signers of `orgs` orgs that are a quorum (`orgs + 1` when even all of
    /// them are not, which a valid genesis rules out for `orgs >= 1`).
    pub fn quorum_size(&self, orgs: usize) -> usize {
        // The smallest k with k * den > num * n is floor(num * n / den) + 1.
        let n = orgs as u128;
        let k = (self.quorum_num as u128 * n) / (self.quorum_den.max(1) as u128) + 1;
        usize::try_from(k).unwrap_or(usize::MAX)
    }

    /// Most points an org may grant one member in one grant period.
    pub fn grant_cap(&self) -> Option<u64> {
        self.subscription_dollars
            .checked_mul(self.points_per_dollar)
    }

    /// How many of `orgs` orgs may be down while the others still settle.
    pub fn orgs_that_may_be_down(&self, orgs: usize) -> usize {
        orgs.saturating_sub(self.quorum_size(orgs))
    }
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            contribute_reward: 10,
            update_reward: 10,
            update_interval_ms: 30 * DAY_MS,
            card_price: 10,
            bounce_bounty: 10,
            bounce_penalty: 10,
            mobile_penalty: 100,
            mobile_strikes_to_exclude: 2,
            referral_bonus: 125,
            points_per_dollar: 5,
            subscription_dollars: 25,
            grant_period_ms: 30 * DAY_MS,
            bounce_window_ms: 14 * DAY_MS,
            play_min_contributions: 25,
            play_window_ms: 30 * DAY_MS,
            commission_bps: 0,
            quorum_num: 2,
            quorum_den: 3,
        }
    }
}

/// The genesis document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genesis {
    pub version: u16,
    pub name: String,
    /// Sorted by key, no key twice.
    pub founding_orgs: Vec<OrgEntry>,
    pub rules: Rules,
    /// Claimed creation time, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum GenesisError {
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    #[error("unsupported protocol version {0}")]
    Version(u16),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("a genesis needs between 1 and {MAX_FOUNDING_ORGS} founding orgs, got {0}")]
    OrgCount(usize),
    #[error("founding orgs must be sorted by key with no key twice")]
    OrgsNotSorted,
    #[error("founding org key {0} is not a valid Ed25519 public key")]
    BadOrgKey(PublicKey),
    #[error("invalid rules: {0}")]
    Rules(&'static str),
}

impl Genesis {
    /// Builds a genesis, sorting the founding orgs into canonical order, and checks it.
    pub fn new(
        name: &str,
        mut founding_orgs: Vec<OrgEntry>,
        rules: Rules,
        created_ms: u64,
    ) -> Result<Self, GenesisError> {
        founding_orgs.sort_by_key(|a| a.key);
        let g = Genesis {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            founding_orgs,
            rules,
            created_ms,
        };
        g.check()?;
        Ok(g)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// Decodes and checks a genesis from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, GenesisError> {
        let g: Genesis = from_canonical(bytes, MAX_GENESIS_BYTES)?;
        g.check()?;
        Ok(g)
    }

    pub fn network_id(&self) -> NetworkId {
        Hash32::of(&self.to_bytes())
    }

    pub fn is_founder(&self, key: &PublicKey) -> bool {
        self.founding_orgs
            .binary_search_by(|o| o.key.cmp(key))
            .is_ok()
    }

    fn check(&self) -> Result<(), GenesisError> {
        if self.version != PROTOCOL_VERSION {
            return Err(GenesisError::Version(self.version));
        }
        check_text("name", &self.name, MAX_NAME_BYTES, true)?;
        let n = self.founding_orgs.len();
        if n == 0 || n > MAX_FOUNDING_ORGS {
            return Err(GenesisError::OrgCount(n));
        }
        if self.founding_orgs.windows(2).any(|w| w[0].key >= w[1].key) {
            return Err(GenesisError::OrgsNotSorted);
        }
        for o in &self.founding_orgs {
            if o.key.verifying_key().is_none() {
                return Err(GenesisError::BadOrgKey(o.key));
            }
            check_text("org name", &o.name, MAX_NAME_BYTES, true)?;
        }
        let r = &self.rules;
        if r.quorum_den == 0 || r.quorum_num >= r.quorum_den {
            return Err(GenesisError::Rules(
                "quorum must be a fraction num/den below 1",
            ));
        }
        if r.commission_bps > 10_000 {
            return Err(GenesisError::Rules("commission above 100%"));
        }
        if r.mobile_strikes_to_exclude == 0 {
            return Err(GenesisError::Rules(
                "mobile_strikes_to_exclude must be at least 1",
            ));
        }
        if r.grant_period_ms == 0 {
            return Err(GenesisError::Rules("grant_period_ms must be at least 1"));
        }
        if r.grant_cap().is_none_or(|c| c > crate::limits::MAX_POINTS) {
            return Err(GenesisError::Rules(
                "subscription_dollars * points_per_dollar is above MAX_POINTS",
            ));
        }
        let amounts = [
            r.contribute_reward,
            r.update_reward,
            r.card_price,
            r.bounce_bounty,
            r.bounce_penalty,
            r.mobile_penalty,
            r.referral_bonus,
            r.points_per_dollar,
        ];
        if amounts.iter().any(|&a| a > crate::limits::MAX_POINTS) {
            return Err(GenesisError::Rules("an amount is above MAX_POINTS"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod quorum_tests {
    use super::Rules;

    #[test]
    fn quorum_size_is_the_smallest_quorum() {
        for (num, den) in [(2, 3), (1, 2), (3, 4), (0, 1), (1, 3), (99, 100)] {
            let rules = Rules {
                quorum_num: num,
                quorum_den: den,
                ..Rules::default()
            };
            for n in 1..40 {
                let k = rules.quorum_size(n);
                assert!(rules.is_quorum(k, n), "{num}/{den} of {n}: {k}");
                assert!(!rules.is_quorum(k - 1, n), "{num}/{den} of {n}: {k}");
                assert!(k <= n);
            }
        }
        // The default: more than two thirds. Four orgs settle with one down.
        let d = Rules::default();
        assert_eq!((d.quorum_size(3), d.quorum_size(4)), (3, 3));
        assert_eq!(
            (d.orgs_that_may_be_down(3), d.orgs_that_may_be_down(4)),
            (0, 1)
        );
    }
}
