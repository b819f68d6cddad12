//! The web app the node serves at `/` for its members and its operator (issue 18;
//! docs/web.md has the design and the threat model): the sealed keys and sessions,
//! the signer that acts for a signed-in member, and the pages, one module per area.

// A page handler's early answer is the page itself (`Result<_, Response>`): it is made
// once per request and returned by value as axum returns every response.
#![allow(clippy::result_large_err)]

mod accounts;
mod cards;
mod contribute;
mod import;
pub mod keys;
mod operator;
pub mod pages;
mod search;
pub mod session;
pub mod signer;
