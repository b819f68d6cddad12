//! The Carnet node: IO around the pure protocol core.
//!
//! One task, the event loop (`event_loop`), owns the swarm (`network`, `peers`,
//! `sync`) and the engine (`engine`: ledger, store, cards); the HTTP API (`api`) and
//! everything else talk to it through a [`handle::NodeHandle`]. `run` puts it together
//! from a data directory (`datadir`) and a configuration (`config`).

pub mod api;
pub mod config;
pub mod datadir;
pub mod decode;
pub mod dedup;
pub mod engine;
pub mod erasure;
pub mod event_loop;
pub mod folding;
pub mod handle;
pub mod holder;
pub mod network;
pub mod peers;
pub mod pending;
pub mod repair;
pub mod run;
pub mod serve;
pub mod store;
pub mod sync;
#[cfg(test)]
mod test_support;
pub mod vouch;
pub mod web;

pub use datadir::{DataDir, DataDirError};
