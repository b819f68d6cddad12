//! The web app the node serves at `/` for its members and its operator (issue 18;
//! docs/web.md has the design and the threat model). Built in slices: so far the
//! session rules and the members' sealed keys, with the pages to come.

pub mod keys;
pub mod pages;
pub mod session;
