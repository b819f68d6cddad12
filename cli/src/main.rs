//! `carnet`: parse, call the library, print. Errors are one line on stderr.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

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
    Run {
        /// Data directory [default: the platform data dir + /carnet].
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Organisation name used when the data directory is created.
        #[arg(long, default_value = "My Organisation")]
        org: String,
    },
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
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
            command: NodeCommand::Run { data_dir, org },
        } => {
            let data_dir = match data_dir {
                Some(d) => d,
                None => carnet_node::datadir::default_path()?,
            };
            let (_dir, _ledger, info) = carnet_node::run::start(&data_dir, &org, now_ms())?;
            if cli.json {
                let v = serde_json::json!({
                    "status": "ready",
                    "org": info.org,
                    "network": info.network,
                    "state_root": info.state_root,
                    "data_dir": info.data_dir,
                });
                println!("{v}");
            } else {
                println!("carnet node ready");
                println!("  org key     {}", info.org);
                println!("  network     {}", info.network);
                println!("  state root  {}", info.state_root);
                println!("  data dir    {}", info.data_dir);
                println!("Press Ctrl-C to stop.");
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(carnet_node::run::shutdown_signal())
                .context("waiting for a stop signal")?;
            if !cli.json {
                println!("carnet node stopped");
            }
            Ok(())
        }
    }
}
