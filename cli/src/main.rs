//! `carnet`: parse, call the library, print. Errors are one line on stderr.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "carnet",
    version,
    about = "Federated peer-to-peer exchange of business contacts"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run or inspect this organisation's node.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
}

#[derive(Subcommand)]
enum NodeCommand {
    /// Start the node; on first run, create its org key and a one-org network.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
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
    /// Peer to dial at start, a multiaddr ending in /p2p/<peer id> (repeatable).
    #[arg(long)]
    bootstrap: Vec<String>,
    /// Milliseconds between catch-up reconciliations with a peer.
    #[arg(long)]
    sync_interval_ms: Option<u64>,
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<carnet_node::config::NodeConfig> {
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
        Ok(c)
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("carnet: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Node {
            command: NodeCommand::Run(args),
        } => {
            let config = args.config()?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&config.log)
                        .context("invalid log filter")?,
                )
                .with_writer(std::io::stderr)
                .init();
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(run_node(config, cli.json))
        }
    }
}

async fn run_node(config: carnet_node::config::NodeConfig, json: bool) -> anyhow::Result<()> {
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
    carnet_node::run::shutdown_signal()
        .await
        .context("waiting for a stop signal")?;
    node.stop().await;
    if !json {
        println!("carnet node stopped");
    }
    Ok(())
}
