//! Running a node: wire the data directory, store, engine, swarm, event loop and API
//! together, and take them down again in order on a stop signal.

use crate::config::{ConfigError, NodeConfig};
use crate::datadir::{DataDir, DataDirError};
use crate::engine::Engine;
use crate::event_loop::{EventLoop, Observers, Peering, Timing};
use crate::handle::NodeHandle;
use crate::network::{build_swarm, Hello, NetworkError};
use crate::peers::{peer_of, AddressBook, PEERS_FILE};
use crate::store::{Store, StoreError};
use crate::sync::SyncStats;
use carnet_protocol::Hash32;
use libp2p::{Multiaddr, PeerId};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// File name of the event store inside the data directory.
pub const STORE_FILE: &str = "events.redb";
/// Commands queued to the event loop before senders wait.
const COMMAND_QUEUE: usize = 1024;
/// Ingest notifications buffered per observer.
const INGESTED_QUEUE: usize = 65_536;

#[derive(Debug, Error)]
pub enum NodeError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Network(#[from] NetworkError),
    #[error("API address {addr}: {source}")]
    Api {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no data directory: {0}")]
    NoDataDir(String),
    /// The data directory's event store is locked by a running node.
    #[error(
        "a node is already running on {}{}: stop it first, or give this one another --data-dir",
        data_dir.display(),
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    AlreadyRunning { data_dir: PathBuf, pid: Option<u32> },
}

/// Where a running node writes its process id, for the message a second one gives.
pub const PID_FILE: &str = "node.pid";
/// Where a running node writes the URL of its API, for the commands run on its data
/// directory.
pub const API_URL_FILE: &str = "api.url";

/// The API of the node that last ran on data directory `dir`, if one wrote it.
pub fn api_url(dir: &std::path::Path) -> Option<String> {
    let url = std::fs::read_to_string(dir.join(API_URL_FILE)).ok()?;
    let url = url.trim();
    url.starts_with("http://").then(|| url.to_owned())
}

/// A node that is up: its handles, and how to stop it.
pub struct RunningNode {
    pub handle: NodeHandle,
    pub api_addr: SocketAddr,
    pub peer_id: PeerId,
    pub org: String,
    pub network: String,
    pub data_dir: PathBuf,
    /// Token for the admin API calls.
    pub admin_token: String,
    pub sync_stats: watch::Receiver<SyncStats>,
    ingested: broadcast::Sender<carnet_protocol::ContentId>,
    shutdown: watch::Sender<bool>,
    /// Why the event loop died, if it did (a panic: a store page damaged while
    /// running, a bug). The API stays up without it but can do nothing.
    failure: watch::Receiver<Option<String>>,
    tasks: Vec<JoinHandle<()>>,
}

/// The admin API token: derived from the org key, so the operator (who holds the data
/// directory) can always recompute it and nothing more is kept on disk.
pub fn admin_token(dir: &DataDir) -> String {
    Hash32::derive("carnet v1 admin token", &[&dir.org_key.seed()]).to_hex()
}

impl RunningNode {
    /// Listen addresses the swarm reported so far.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        match self.handle.status().await {
            Ok(s) => s
                .listen_addrs
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Content ids of events as this node ingests them (new ones only). A slow
    /// receiver misses ids (it sees `Lagged`) rather than slowing the node.
    pub fn subscribe_ingested(&self) -> broadcast::Receiver<carnet_protocol::ContentId> {
        self.ingested.subscribe()
    }

    /// Stops the API and the event loop and waits for both.
    /// Resolves, with the reason, if the event loop dies while the node runs: the
    /// process should then stop with that error (a supervisor restarts it, and the
    /// start names a damaged store) rather than serve an API that can do nothing.
    pub async fn failed(&self) -> String {
        let mut failure = self.failure.clone();
        loop {
            if let Some(why) = failure.borrow_and_update().clone() {
                return why;
            }
            if failure.changed().await.is_err() {
                // The loop's task is gone without a word: it stopped as asked.
                return std::future::pending().await;
            }
        }
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Starts a node from `config`. Returns once it listens (API bound, swarm listening).
pub async fn launch(config: &NodeConfig) -> Result<RunningNode, NodeError> {
    let data_dir = match &config.data_dir {
        Some(d) => d.clone(),
        None => crate::datadir::default_path()?,
    };
    let dir = DataDir::open_or_init(&data_dir, &config.org_name, carnet_api::now_ms())?;
    let network = dir.network();
    let started = std::time::Instant::now();
    let store_path = dir.path.join(STORE_FILE);
    // redb panics on some damaged pages: name the file instead of dying.
    let (mut engine, reopened) = crate::store::quietly(|| {
        let store = Store::open(&store_path, network)?;
        Engine::reopen(store, dir.genesis.clone(), dir.org_key.clone())
    })
    .map_err(|detail| StoreError::Damaged {
        path: store_path.clone(),
        detail,
    })?
    .map_err(|e| match e {
        StoreError::Corrupt { id, reason } => StoreError::Damaged {
            path: store_path.clone(),
            detail: format!("entry {id}: {reason}"),
        },
        e => e,
    })
    .map_err(|e| match e {
        StoreError::InUse { .. } => NodeError::AlreadyRunning {
            pid: std::fs::read_to_string(dir.path.join(PID_FILE))
                .ok()
                .and_then(|p| p.trim().parse().ok()),
            data_dir: dir.path.clone(),
        },
        e => NodeError::Store(e),
    })?;
    // The store's lock is ours: say who holds it, for a second node started here.
    if let Err(e) = std::fs::write(dir.path.join(PID_FILE), std::process::id().to_string()) {
        tracing::warn!(error = %e, "cannot write {PID_FILE}");
    }
    engine.snapshot_min_events = config.snapshot_min_events.max(1);
    match dir.network_secret.clone() {
        Some(secret) => {
            engine.set_network_secret(secret);
        }
        None => tracing::warn!(
            "no network secret yet: contributions wait until an admitted peer sends it"
        ),
    }
    tracing::info!(
        events_read = reopened.events,
        events = engine.ledger().len(),
        from_snapshot = reopened.from_snapshot,
        from_records = reopened.from_records,
        started_again = reopened.started_again,
        signatures_checked = reopened.verified,
        ms = started.elapsed().as_millis() as u64,
        "loaded the event store"
    );
    let mut swarm = build_swarm(&dir.org_key, &network)?;
    for addr in config.listen_addrs()? {
        swarm
            .listen_on(addr.clone())
            .map_err(|e| NetworkError::Listen {
                addr: addr.to_string(),
                reason: e.to_string(),
            })?;
    }
    // Known peers from earlier runs, and the bootstrap peers: the loop dials them on
    // its first tick and keeps redialling those it cannot reach.
    let mut book = AddressBook::load(&dir.path.join(PEERS_FILE));
    let remembered = book.len();
    for addr in config.bootstrap_addrs()? {
        if let Some(peer) = peer_of(&addr) {
            swarm
                .behaviour_mut()
                .kademlia
                .add_address(&peer, addr.clone());
            book.add(addr);
        } else if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
        }
    }
    if remembered > 0 {
        tracing::info!(
            peers = remembered,
            "redialling the peers known from earlier runs"
        );
    }
    let peer_id = *swarm.local_peer_id();
    let hello = Hello::new(&dir.org_key, &network, &peer_id);
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let metrics = std::sync::Arc::new(crate::api::Metrics::default());
    metrics.set_start(reopened.events as u64, reopened.from_records);
    let (ingested, _) = broadcast::channel(INGESTED_QUEUE);
    let (event_loop, sync_stats) = EventLoop::new(
        swarm,
        engine,
        rx,
        shutdown_rx.clone(),
        Timing {
            sync_interval: Duration::from_millis(config.sync_interval_ms.max(100)),
            checkpoint_interval: Duration::from_millis(config.checkpoint_interval_ms.max(100)),
            pending_ttl: Duration::from_millis(config.pending_ttl_ms.max(100)),
            max_pending_per_peer: config.max_pending_per_peer.max(1),
            gossip_rate: (config.gossip_per_second.max(1), config.gossip_burst.max(1)),
        },
        Peering {
            hello,
            book,
            data_dir: dir.path.clone(),
        },
        Observers {
            metrics: metrics.clone(),
            ingested: ingested.clone(),
        },
    );
    let handle = NodeHandle::new(tx);
    let api_addr = config.api_addr()?;
    let listener = tokio::net::TcpListener::bind(api_addr)
        .await
        .map_err(|source| NodeError::Api {
            addr: api_addr,
            source,
        })?;
    let api_addr = listener.local_addr().map_err(|source| NodeError::Api {
        addr: api_addr,
        source,
    })?;
    // Where the admin commands run on this data directory find this node's API.
    let url = format!("http://{api_addr}");
    if let Err(e) = std::fs::write(dir.path.join(API_URL_FILE), &url) {
        tracing::warn!(error = %e, "cannot write {API_URL_FILE}");
    }
    let token = admin_token(&dir);
    let router = crate::api::router(handle.clone(), token.clone(), metrics);
    let mut api_shutdown = shutdown_rx.clone();
    let limits = config.serve_limits();
    let api = tokio::spawn(async move {
        let stop = async move {
            let _ = api_shutdown.changed().await;
        };
        let router = crate::serve::with_limits(router, &limits);
        if let Err(e) = crate::serve::serve(listener, router, limits, stop).await {
            tracing::error!(error = %e, "API server stopped");
        }
    });
    let (failure_tx, failure) = watch::channel(None);
    let looper = tokio::spawn(async move {
        use futures::FutureExt;
        if let Err(panic) = std::panic::AssertUnwindSafe(event_loop.run())
            .catch_unwind()
            .await
        {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            let why = format!(
                "the event loop stopped: {why}; if it names the store, stop the node and run `carnet node repair`"
            );
            tracing::error!(error = %why);
            let _ = failure_tx.send(Some(why));
        }
    });
    Ok(RunningNode {
        handle,
        api_addr,
        peer_id,
        org: dir.org().to_hex(),
        network: network.to_hex(),
        data_dir: dir.path.clone(),
        admin_token: token,
        sync_stats,
        ingested,
        shutdown,
        failure,
        tasks: vec![api, looper],
    })
}

/// Listens for SIGINT and SIGTERM from the moment it is called (so a signal that
/// arrives before the returned future is first polled is not lost to the default
/// action, which would kill the process without a clean stop), and returns a future
/// that resolves on the first of them.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
