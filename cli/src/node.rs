//! `carnet node status`, `peers`, `orgs` and `address`: what an operator looks at to
//! see the network from their node.

use crate::org::node_url;
use crate::out::{table, Out};
use anyhow::Context;
use carnet_client::api::NodeApi;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which node to ask: the global `--node`, else the one running on the data directory.
#[derive(clap::Args, Clone)]
pub struct NodeArgs {
    /// The node's data directory, where a running node says where its API listens
    /// [default: the platform data dir + /carnet].
    #[arg(long, env = "CARNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn api(&self, url: Option<&str>) -> anyhow::Result<NodeApi> {
        Ok(NodeApi::new(&node_url(&self.data_dir, url)?)?)
    }

    /// The status of the data directory's node ([`crate::org::own_status`]); with
    /// `--url`, of whoever answers there.
    fn own_status(&self, url: Option<&str>) -> anyhow::Result<carnet_api::NodeStatus> {
        let api = self.api(url)?;
        if url.is_some() {
            return Ok(api.status()?);
        }
        let dir = crate::org::data_dir_path(&self.data_dir)?;
        let org = carnet_node::DataDir::open(&dir)?.org().to_hex();
        crate::org::own_status(&api, &org)
    }
}

/// The node's dial-able addresses: each listen address with its peer id, so that
/// `--bootstrap "$(carnet node address --data-dir alpha | head -1)"` works in a script.
pub fn address(args: &NodeArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = args.own_status(url)?;
    let addresses: Vec<String> = s
        .listen_addrs
        .iter()
        .map(|a| {
            if a.contains("/p2p/") {
                a.clone()
            } else {
                format!("{a}/p2p/{}", s.peer_id)
            }
        })
        .collect();
    if addresses.is_empty() {
        anyhow::bail!("the node listens on no address yet");
    }
    out.emit(serde_json::json!({ "addresses": addresses }), || {
        for a in &addresses {
            println!("{a}");
        }
    });
    Ok(())
}

#[derive(clap::Args, Clone)]
pub struct StatusArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Wait up to SECS seconds for the node to be ready to trade: answering, its org
    /// admitted to the network, the network secret held. For scripts, after
    /// `carnet node run … &`; exits non-zero, saying what is missing, at the deadline.
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
}

/// The org key in the data directory (`org.key`): what another org's `carnet network
/// admit` takes. Read from the file, so the node need not run.
pub fn key(args: &NodeArgs, out: Out) -> anyhow::Result<()> {
    let dir = crate::org::data_dir_path(&args.data_dir)?;
    let org = carnet_node::DataDir::open(&dir)?.org().to_hex();
    out.emit(serde_json::json!({ "org": org }), || println!("{org}"));
    Ok(())
}

/// The admin token of a data directory (derived from the org key): what the web app's
/// operator sign-in and `--admin-token` take. Read from the file, so the node need not
/// run.
pub fn admin_token(args: &NodeArgs, out: Out) -> anyhow::Result<()> {
    let dir = crate::org::data_dir_path(&args.data_dir)?;
    let token = carnet_node::run::admin_token(&carnet_node::DataDir::open(&dir)?);
    out.emit(serde_json::json!({ "admin_token": token }), || {
        println!("{token}")
    });
    Ok(())
}

/// What the node still lacks to trade, asked afresh (the API address is re-read from
/// the data directory: a node just started writes it there).
fn not_ready(args: &NodeArgs, url: Option<&str>) -> Option<String> {
    let api = match args.api(url) {
        Ok(api) => api,
        Err(e) => return Some(crate::describe(&e)),
    };
    let s = match args.own_status(url) {
        Ok(s) => s,
        Err(e) => return Some(crate::describe(&e)),
    };
    match api.orgs() {
        Ok(v) if v.orgs.iter().any(|o| o.key == s.org) => {}
        Ok(_) => return Some(format!("the org {} is not admitted to the network yet (a quorum of its orgs runs `carnet network admit {}`)", s.org, s.org)),
        Err(e) => return Some(crate::describe_error(&e)),
    }
    (!s.network_secret).then(|| {
        "the node does not hold the network secret yet (an org node of the network hands it over once connected)".to_owned()
    })
}

pub fn status(args: &StatusArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    if let Some(secs) = args.wait {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while let Some(missing) = not_ready(&args.node, url) {
            if Instant::now() >= deadline {
                anyhow::bail!("the node was not ready after {secs} s: {missing}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let s = args.node.own_status(url)?;
    out.emit(serde_json::to_value(&s)?, || {
        let settled = s
            .finalized_bound
            .map_or("nothing yet".to_owned(), |b| format!("up to clock {b}"));
        let rows = vec![
            vec!["org".into(), s.org.clone()],
            vec!["network".into(), s.network.clone()],
            vec!["peer id".into(), s.peer_id.clone()],
            vec!["listening on".into(), s.listen_addrs.join("\n")],
            vec![
                "events".into(),
                format!("{} ({} waiting for their past)", s.events, s.pending),
            ],
            vec!["settled".into(), settled],
            vec!["state root".into(), s.state_root.clone()],
            vec![
                "network secret".into(),
                if s.network_secret {
                    "held"
                } else {
                    "not yet: contributions wait for a peer"
                }
                .into(),
            ],
            vec![
                "storage".into(),
                s.storage_error
                    .clone()
                    .map_or("healthy".into(), |e| format!("refusing writes: {e}")),
            ],
        ];
        println!("{}", table(&["", ""], rows));
    });
    Ok(())
}

pub fn peers(args: &NodeArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let peers = args.api(url)?.peers()?;
    out.emit(serde_json::json!({ "peers": peers }), || {
        if peers.is_empty() {
            println!("no peer connected");
            return;
        }
        let rows = peers
            .iter()
            .map(|p| {
                vec![
                    p.peer_id.clone(),
                    p.org.clone().unwrap_or_else(|| "(not proven yet)".into()),
                ]
            })
            .collect();
        println!("{}", table(&["peer", "org"], rows));
    });
    Ok(())
}

pub fn orgs(args: &NodeArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let v = args.api(url)?.orgs()?;
    out.emit(serde_json::to_value(&v)?, || {
        let rows = v
            .orgs
            .iter()
            .map(|o| {
                let how = if o.founding { "founder" } else { "admitted" };
                vec![o.name.clone(), o.key.clone(), how.into()]
            })
            .collect();
        println!("{}", table(&["org", "key", ""], rows));
        println!("settlement quorum: more than {} of the orgs", v.quorum);
        let votes = [
            ("admission of", &v.admissions),
            ("eviction of", &v.evictions),
            ("rotation of", &v.rotations),
        ];
        for (what, list) in votes {
            for vote in list.iter() {
                let to = vote
                    .to
                    .as_ref()
                    .map(|t| format!(" to {t}"))
                    .unwrap_or_default();
                println!(
                    "{what} {}{to}: {} of {} votes",
                    vote.org, vote.votes, vote.needed
                );
            }
        }
    });
    Ok(())
}

#[derive(clap::Args)]
pub struct RunArgs {
    /// TOML configuration file; flags override its settings.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory [default: the platform data dir + /carnet].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Organisation name used when the data directory is created.
    #[arg(long)]
    org: Option<String>,
    /// libp2p listen address (repeatable) [default: TCP and QUIC on port 4710].
    #[arg(long)]
    listen: Vec<String>,
    /// Local HTTP API address [default: 127.0.0.1:4711].
    #[arg(long)]
    api: Option<String>,
    /// Peer to dial at start, a multiaddr ending in /p2p/PEER_ID (repeatable).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Milliseconds between catch-up reconciliations with a peer.
    #[arg(long)]
    sync_interval_ms: Option<u64>,
    /// Milliseconds between two considerations of a settlement checkpoint [default:
    /// 60000]: a penalty can be audited once a checkpoint a quorum of orgs signed
    /// covers it, a few of these intervals after it.
    #[arg(long)]
    checkpoint_interval_ms: Option<u64>,
}

impl RunArgs {
    pub fn config(&self) -> anyhow::Result<carnet_node::config::NodeConfig> {
        let mut c = match &self.config {
            Some(p) => carnet_node::config::NodeConfig::from_file(p)?,
            None => Default::default(),
        };
        if let Some(d) = &self.data_dir {
            c.data_dir = Some(d.clone());
        }
        if let Some(o) = &self.org {
            c.org_name = o.clone();
        }
        if !self.listen.is_empty() {
            c.listen = self.listen.clone();
        }
        if let Some(a) = &self.api {
            c.api = a.clone();
        }
        if !self.bootstrap.is_empty() {
            c.bootstrap = self.bootstrap.clone();
        }
        if let Some(i) = self.sync_interval_ms {
            c.sync_interval_ms = i;
        }
        if let Some(i) = self.checkpoint_interval_ms {
            c.checkpoint_interval_ms = i;
        }
        Ok(c)
    }
}

/// `carnet node run`: logs to stderr (plain text unless it is a terminal), then the
/// node on a multi-threaded runtime until a stop signal.
pub fn run(args: &RunArgs, json: bool) -> anyhow::Result<()> {
    let config = args.config()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).context("invalid log filter")?,
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: a log file or journald gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(run_node(config, json))
}

pub fn repair_node(data_dir: &Option<PathBuf>, json: bool) -> anyhow::Result<()> {
    let path = crate::org::data_dir_path(data_dir)?;
    let dir = carnet_node::DataDir::open(&path)?;
    let r = carnet_node::repair::repair(&dir)?;
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "kept {} events, {} held cards and {} bounce messages",
            r.events, r.cards, r.evidence
        );
        for lost in &r.lost {
            println!("  lost: {lost}");
        }
        println!("  the damaged store is kept as {}", r.damaged.display());
        println!("Start the node: it fetches the missing events from its peers.");
    }
    Ok(())
}

pub async fn run_node(config: carnet_node::config::NodeConfig, json: bool) -> anyhow::Result<()> {
    // Listen for stop signals before saying "ready": a signal sent right after the
    // ready line must stop the node cleanly, not kill it.
    let stop_signal = carnet_node::run::shutdown_signal().context("listening for stop signals")?;
    let node = carnet_node::run::launch(&config).await?;
    // Report the addresses the swarm actually listens on (ports may be ephemeral).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut listen = node.listen_addrs().await;
    while listen.is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        listen = node.listen_addrs().await;
    }
    let listen: Vec<String> = listen
        .iter()
        .map(|a| format!("{a}/p2p/{}", node.peer_id))
        .collect();
    if json {
        let v = serde_json::json!({
            "status": "ready",
            "org": node.org,
            "network": node.network,
            "peer_id": node.peer_id.to_string(),
            "api": node.api_addr.to_string(),
            "listen": listen,
            "data_dir": node.data_dir.display().to_string(),
        });
        println!("{v}");
    } else {
        println!("carnet node ready");
        println!("  org key     {}", node.org);
        println!("  network     {}", node.network);
        println!("  peer id     {}", node.peer_id);
        println!("  api         http://{}", node.api_addr);
        for a in &listen {
            println!("  listening   {a}");
        }
        println!("  data dir    {}", node.data_dir.display());
        println!("Press Ctrl-C to stop.");
    }
    tokio::select! {
        _ = stop_signal => {}
        why = node.failed() => {
            node.stop().await;
            anyhow::bail!(why);
        }
    }
    node.stop().await;
    if !json {
        println!("carnet node stopped");
    }
    Ok(())
}
