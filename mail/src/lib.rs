//! The checks an org node runs on a bounce message before it vouches for a member's
//! bounce report, and that members and auditors run on the same bytes.
//!
//! # Layout
//!
//! - [`dsn`]: is the message a delivery status notification (RFC 3464) that reports a
//!   permanent failure for this address? Pure parsing, no IO; the member's client and
//!   the offline auditor use it too.
//! - [`dkim`]: did a mail server really send it? The DKIM check (RFC 6376) that turns a
//!   well-formed bounce into one the org node can vouch for. It resolves keys in DNS.

pub mod dkim;
pub mod dsn;

pub use dkim::{check_bounce, BounceCheckError, DkimVerifier, Finding, VerifierError};
