//! The Carnet node: IO around the pure protocol core.
//!
//! Today it holds an organisation's identity and network genesis in a data directory
//! and runs until told to stop; gossip, sync, storage and the local API build on this
//! (issue 4).

pub mod api;
pub mod client;
pub mod config;
pub mod datadir;
pub mod dedup;
pub mod engine;
pub mod erasure;
pub mod event_loop;
pub mod holder;
pub mod network;
pub mod os;
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

pub use datadir::{DataDir, DataDirError};

/// Wall-clock milliseconds since the Unix epoch (0 before it): the only clock of the
/// node and of the member's client, used for the claimed timestamps of the events
/// they sign and of a new genesis.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
