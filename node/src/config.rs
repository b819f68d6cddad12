//! Node configuration: a TOML file whose every setting a command-line flag overrides.
//!
//! Defaults make `carnet node run` work with no file at all: data in the platform data
//! directory, p2p on port 4710 (TCP and QUIC), the local API on 127.0.0.1:4711 only.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub const DEFAULT_P2P_PORT: u16 = 4710;
pub const DEFAULT_API: &str = "127.0.0.1:4711";
pub const DEFAULT_SYNC_INTERVAL_MS: u64 = 10_000;
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 60_000;
pub const DEFAULT_CHECKPOINT_STRIDE: u64 = 1_000;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Data directory; empty means the platform default.
    pub data_dir: Option<PathBuf>,
    /// Organisation name, used when the data directory is created.
    pub org_name: String,
    /// libp2p listen addresses (multiaddrs).
    pub listen: Vec<String>,
    /// Local HTTP API address. Keep it on loopback unless a proxy guards it.
    pub api: String,
    /// Multiaddrs of peers to dial at start, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// How often to reconcile with a peer, in milliseconds.
    pub sync_interval_ms: u64,
    /// How often the org node considers signing a settlement checkpoint (ms).
    pub checkpoint_interval_ms: u64,
    /// Read for the config files of protocol 1, and ignored: a checkpoint bound is now
    /// the highest clock the org holds, or a bound another org opened
    /// (docs/protocol.md, "Signing checkpoints").
    pub checkpoint_stride: u64,
    /// Ordered events between two saves of the ledger snapshot, at least (a save also
    /// waits for a quarter of the ledger, and one is made at every clean stop).
    pub snapshot_min_events: u64,
    /// How long an event may wait for its missing prev or deps before it is given up
    /// (ms). Pending events are held in memory only, never stored or passed on.
    pub pending_ttl_ms: u64,
    /// Pending events one peer may have this node hold at once; its oldest is given
    /// up beyond that.
    pub max_pending_per_peer: usize,
    /// Host names the API answers to besides `localhost` and IP addresses (the `Host`
    /// header of any other name is refused, against DNS rebinding).
    pub api_hosts: Vec<String>,
    /// Most open API connections; at the cap a new one closes the oldest idle one.
    pub api_max_connections: usize,
    /// Time for an API client to send its request headers (ms).
    pub api_header_timeout_ms: u64,
    /// Time to read an API request and answer it (ms).
    pub api_request_timeout_ms: u64,
    /// Gossip messages one peer may hand this node per second, and in a burst; the
    /// rest are left unread (they come back by sync).
    pub gossip_per_second: u32,
    pub gossip_burst: u32,
    /// tracing filter, e.g. "info" or "carnet_node=debug".
    pub log: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_dir: None,
            org_name: "My Organisation".into(),
            listen: vec![
                format!("/ip4/0.0.0.0/tcp/{DEFAULT_P2P_PORT}"),
                format!("/ip4/0.0.0.0/udp/{DEFAULT_P2P_PORT}/quic-v1"),
            ],
            api: DEFAULT_API.into(),
            bootstrap: Vec::new(),
            sync_interval_ms: DEFAULT_SYNC_INTERVAL_MS,
            checkpoint_interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
            checkpoint_stride: DEFAULT_CHECKPOINT_STRIDE,
            snapshot_min_events: crate::engine::DEFAULT_SNAPSHOT_MIN_EVENTS,
            pending_ttl_ms: crate::pending::PENDING_TTL.as_millis() as u64,
            max_pending_per_peer: crate::pending::MAX_PENDING_PER_SENDER,
            gossip_per_second: crate::peers::GOSSIP_MESSAGES_PER_SECOND,
            gossip_burst: crate::peers::GOSSIP_BURST,
            api_hosts: Vec::new(),
            api_max_connections: crate::serve::DEFAULT_MAX_CONNECTIONS,
            api_header_timeout_ms: crate::serve::DEFAULT_HEADER_TIMEOUT.as_millis() as u64,
            api_request_timeout_ms: crate::serve::DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
            log: "info".into(),
        }
    }
}

impl NodeConfig {
    /// Reads a TOML file; missing settings take their defaults, unknown ones are errors.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_string(),
        })
    }

    pub fn api_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.api
            .parse()
            .map_err(|e: std::net::AddrParseError| ConfigError::Invalid {
                field: "api",
                message: format!("{:?}: {e}", self.api),
            })
    }

    /// The API server's limits.
    pub fn serve_limits(&self) -> crate::serve::ServeLimits {
        crate::serve::ServeLimits {
            max_connections: self.api_max_connections.max(1),
            header_timeout: std::time::Duration::from_millis(self.api_header_timeout_ms.max(100)),
            request_timeout: std::time::Duration::from_millis(self.api_request_timeout_ms.max(100)),
            hosts: self.api_hosts.clone(),
        }
    }

    pub fn listen_addrs(&self) -> Result<Vec<libp2p::Multiaddr>, ConfigError> {
        parse_addrs("listen", &self.listen)
    }

    pub fn bootstrap_addrs(&self) -> Result<Vec<libp2p::Multiaddr>, ConfigError> {
        parse_addrs("bootstrap", &self.bootstrap)
    }
}

fn parse_addrs(
    field: &'static str,
    addrs: &[String],
) -> Result<Vec<libp2p::Multiaddr>, ConfigError> {
    addrs
        .iter()
        .map(|a| {
            a.parse().map_err(|e| ConfigError::Invalid {
                field,
                message: format!("{a:?}: {e}"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_defaults_and_unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("carnet.toml");
        std::fs::write(&p, "").unwrap();
        assert_eq!(NodeConfig::from_file(&p).unwrap(), NodeConfig::default());
        std::fs::write(&p, "api = \"127.0.0.1:9000\"\nsync_interval_ms = 500\n").unwrap();
        let c = NodeConfig::from_file(&p).unwrap();
        assert_eq!(c.api_addr().unwrap().port(), 9000);
        assert_eq!(c.sync_interval_ms, 500);
        std::fs::write(&p, "apii = 1").unwrap();
        assert!(matches!(
            NodeConfig::from_file(&p),
            Err(ConfigError::Parse { .. })
        ));
        let bad = NodeConfig {
            listen: vec!["not an addr".into()],
            ..NodeConfig::default()
        };
        assert!(bad.listen_addrs().is_err());
    }
}
