//! The protocol crate's integration tests, in one test binary: one link of the crate
//! and its dependencies instead of one per file.

mod card;
mod chain;
mod common;
mod events;
mod items;
mod ledger;
mod ledger_props;
mod ledger_vectors;
mod vectors;
mod world;
