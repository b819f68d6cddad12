//! Running a node: open the data directory, build the ledger, wait for a stop signal.

use crate::datadir::{DataDir, DataDirError};
use carnet_protocol::ledger::Ledger;
use std::path::Path;

/// What a running node reports about itself at start.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub org: String,
    pub network: String,
    pub state_root: String,
    pub data_dir: String,
}

/// Opens (or initialises) the data directory and returns the node's identity.
pub fn start(
    data_dir: &Path,
    org_name: &str,
    now_ms: u64,
) -> Result<(DataDir, Ledger, NodeInfo), DataDirError> {
    let dir = DataDir::open_or_init(data_dir, org_name, now_ms)?;
    let mut ledger = Ledger::new(dir.genesis.clone());
    let info = NodeInfo {
        org: dir.org().to_hex(),
        network: dir.network().to_hex(),
        state_root: ledger.state_root().to_hex(),
        data_dir: dir.path.display().to_string(),
    };
    Ok((dir, ledger, info))
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
