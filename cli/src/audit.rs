//! `carnet audit`: export a penalty's bundle from a node, hand an auditor the genesis,
//! and verify bundles offline (docs/audit.md).

use anyhow::{bail, Context};
use carnet_client::audit::{verify, AuditFile, GenesisFile, Status};
use carnet_protocol::ledger::audit::MAX_BUNDLE_FILE_BYTES;
use carnet_protocol::{Genesis, Hash32};
use clap::Subcommand;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Fetch the audit bundle of a penalty (bounce or mobile report) from a node.
    Export {
        /// Content id of the BounceReport or MobileReport.
        event: String,
        /// Where to write the bundle.
        #[arg(long)]
        out: PathBuf,
        /// Include the bounce message this node holds: the org agrees to disclose it
        /// (needs the node's admin token: --data-dir or --admin-token).
        #[arg(long)]
        include_message: bool,
        /// Include the opening (the email or number reported), which this node was
        /// shown by the reporter or holds the card of: the org agrees to disclose it
        /// (needs the admin token). Reports never carry it.
        #[arg(long)]
        include_opening: bool,
        /// Wait up to SECS seconds for the penalty to be settled (a checkpoint a quorum
        /// of orgs signed covers it) instead of failing at once with "not yet settled".
        #[arg(long, value_name = "SECS")]
        wait: Option<u64>,
        #[command(flatten)]
        admin: crate::org::AdminArgs,
    },
    /// Fetch a finalized checkpoint, with a consistency proof from an earlier one.
    Checkpoint {
        /// Where to write the checkpoint file.
        #[arg(long)]
        out: PathBuf,
        /// Bound of the checkpoint [default: the latest finalized].
        #[arg(long)]
        bound: Option<u64>,
        /// Bound of an earlier checkpoint (e.g. a bundle's) to prove consistency from.
        #[arg(long)]
        since: Option<u64>,
    },
    /// Write the node's genesis as the JSON file an auditor pins.
    Genesis {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// The node's data directory [default: the platform data dir + /carnet].
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Verify a bundle (or checkpoint file) offline against a pinned genesis.
    Verify {
        /// The bundle or checkpoint file.
        file: PathBuf,
        /// The pinned genesis file (`carnet audit genesis`).
        #[arg(long)]
        genesis: PathBuf,
        /// A later checkpoint file whose events must extend this file's checkpoint.
        #[arg(long)]
        later: Option<PathBuf>,
    },
}

/// The node `audit export` and `audit checkpoint` ask, and the network its answer
/// must be of: the global `--node`, else the node recorded in the member key file
/// (`--key`, `CARNET_KEY`, or the default one if it exists), else the node running on
/// the data directory, else the default. The network is the key file's or the data
/// directory's, so a node of another network is refused, not believed.
fn source(
    m: &crate::trade::MemberArgs,
    data_dir: &Option<PathBuf>,
) -> anyhow::Result<(String, Option<(Hash32, String)>)> {
    use carnet_client::keyfile::MemberKey;
    let key_path = match (&m.key, data_dir) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(_)) => None,
        (None, None) => carnet_client::keyfile::default_path()
            .ok()
            .filter(|p| p.exists()),
    };
    if let Some(p) = key_path {
        let key = MemberKey::load(&p)?;
        let url = m.api.clone().unwrap_or_else(|| key.api.clone());
        return Ok((
            url,
            Some((key.network, format!("the key file {}", p.display()))),
        ));
    }
    let dir = crate::org::data_dir_path(data_dir)?;
    let network = carnet_node::datadir::DataDir::open(&dir)
        .ok()
        .map(|d| (d.network(), format!("the data directory {}", dir.display())));
    Ok((crate::org::node_url(data_dir, m.api.as_deref())?, network))
}

/// Whether the node refused because no final checkpoint covers the penalty yet.
fn not_settled(e: &anyhow::Error) -> bool {
    refused_with(e, "not_settled")
}

fn refused_with(e: &anyhow::Error, code: &str) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<carnet_client::api::ApiError>()
            .is_some_and(|a| a.code() == Some(code))
    })
}

/// How long to wait when the node is building another audit file (its `Retry-After`),
/// and how many times.
const BUSY_WAIT: Duration = Duration::from_secs(5);
const BUSY_TRIES: u32 = 24;

/// `fetch`, asked again while the node answers `audit_busy`: it builds one audit file
/// at a time, and another may take seconds.
fn patiently(fetch: impl Fn() -> anyhow::Result<String>) -> anyhow::Result<String> {
    let mut tries = 1;
    loop {
        match fetch() {
            Err(e) if refused_with(&e, "audit_busy") && tries < BUSY_TRIES => {
                if tries == 1 {
                    eprintln!("the node is building another audit file; waiting for it");
                }
                tries += 1;
                std::thread::sleep(BUSY_WAIT);
            }
            r => return r,
        }
    }
}

/// A penalty not settled yet will be: say when, rather than only "not yet".
fn settlement_hint(e: anyhow::Error) -> anyhow::Error {
    if not_settled(&e) {
        return e.context(
            "org nodes sign settlement checkpoints every checkpoint_interval_ms (a minute by default) \
             and one is final once a quorum of orgs signed it: try again in a few minutes, or \
             pass --wait SECS (`carnet node status` shows the finalized bound)",
        );
    }
    e
}

/// Refuses a node of another network than `expected`.
fn check_network(api: &str, expected: &Option<(Hash32, String)>) -> anyhow::Result<()> {
    let Some((network, whose)) = expected else {
        return Ok(());
    };
    let status = carnet_client::api::NodeApi::new(api)?.status()?;
    if status.network != network.to_hex() {
        bail!(
            "the node at {api} runs network {}, but {whose} is of network {network}; pass --node with the API of a node of that network",
            status.network
        );
    }
    Ok(())
}

/// Runs an audit command; Ok(false) when verification failed.
pub fn run(cmd: AuditCommand, json: bool, m: &crate::trade::MemberArgs) -> anyhow::Result<bool> {
    match cmd {
        AuditCommand::Export {
            event,
            out,
            include_message,
            include_opening,
            wait,
            admin,
        } => {
            let id =
                Hash32::from_hex(event.trim()).context("the event id must be 64 hex digits")?;
            let (api, network) = source(m, &admin.data_dir)?;
            let api = api.as_str();
            check_network(api, &network)?;
            let mut q = Vec::new();
            if include_message {
                q.push("include_message=true");
            }
            if include_opening {
                q.push("include_opening=true");
            }
            let fetch = || {
                if q.is_empty() {
                    get(api, &format!("/v1/audit/{}", id.to_hex()))
                } else {
                    // Personal data leaves the node only on the org's own authority.
                    let node = admin.api(Some(api))?;
                    node.get_as_admin(&format!("/v1/audit/{}?{}", id.to_hex(), q.join("&")))
                        .map_err(anyhow::Error::from)
                        .and_then(render)
                }
            };
            let deadline = Instant::now() + Duration::from_secs(wait.unwrap_or(0));
            let body = loop {
                match patiently(fetch) {
                    Err(e) if not_settled(&e) && Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(500));
                    }
                    r => break r.map_err(settlement_hint)?,
                }
            };
            match AuditFile::parse(body.as_bytes()) {
                Ok(AuditFile::Bundle(_)) => {}
                Ok(_) => bail!("the node answered with something other than a bundle"),
                Err(e) => bail!("the node answered with an unreadable bundle: {e}"),
            }
            write(&out, body.as_bytes())?;
            report_written(json, &out, "bundle");
            Ok(true)
        }
        AuditCommand::Checkpoint { out, bound, since } => {
            let (api, network) = source(m, &None)?;
            let api = api.as_str();
            check_network(api, &network)?;
            let mut q = Vec::new();
            if let Some(b) = bound {
                q.push(format!("bound={b}"));
            }
            if let Some(s) = since {
                q.push(format!("since={s}"));
            }
            let path = if q.is_empty() {
                "/v1/audit/checkpoint".to_string()
            } else {
                format!("/v1/audit/checkpoint?{}", q.join("&"))
            };
            let body = patiently(|| get(api, &path))?;
            match AuditFile::parse(body.as_bytes()) {
                Ok(AuditFile::Checkpoint(_)) => {}
                Ok(_) => bail!("the node answered with something other than a checkpoint file"),
                Err(e) => bail!("the node answered with an unreadable checkpoint file: {e}"),
            }
            write(&out, body.as_bytes())?;
            report_written(json, &out, "checkpoint");
            Ok(true)
        }
        AuditCommand::Genesis { out, data_dir } => {
            let dir = match data_dir {
                Some(d) => d,
                None => carnet_node::datadir::default_path()?,
            };
            let path = dir.join(carnet_node::datadir::GENESIS_FILE);
            let bytes = std::fs::read(&path)
                .with_context(|| format!("reading the node's genesis {}", path.display()))?;
            let g = Genesis::decode(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: not a valid genesis: {e}", path.display()))?;
            let file = GenesisFile::new(&g);
            let mut text = serde_json::to_string_pretty(&file)?;
            text.push('\n');
            write(&out, text.as_bytes())?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"written": out.display().to_string(), "network": g.network_id().to_hex()})
                );
            } else {
                println!(
                    "genesis of network {} written to {}",
                    g.network_id(),
                    out.display()
                );
            }
            Ok(true)
        }
        AuditCommand::Verify {
            file,
            genesis,
            later,
        } => verify_files(&file, &genesis, later.as_deref(), json),
    }
}

fn report_written(json: bool, out: &Path, what: &str) {
    if json {
        println!(
            "{}",
            serde_json::json!({"written": out.display().to_string()})
        );
    } else {
        println!("{what} written to {}", out.display());
    }
}

/// Reads at most `limit` bytes of a file; larger files are refused.
fn read_limited(path: &Path, limit: usize) -> anyhow::Result<Vec<u8>> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .with_context(|| format!("reading {}", path.display()))?;
    if buf.len() > limit {
        bail!("{} is over the limit of {limit} bytes", path.display());
    }
    Ok(buf)
}

fn verify_files(
    file: &Path,
    genesis: &Path,
    later: Option<&Path>,
    json: bool,
) -> anyhow::Result<bool> {
    let g = GenesisFile::parse(&read_limited(
        genesis,
        carnet_client::audit::genesis::MAX_GENESIS_FILE_BYTES,
    )?)
    .and_then(|f| f.open())
    .map_err(|e| anyhow::anyhow!("{}: {e}", genesis.display()))?;
    let f = AuditFile::parse(&read_limited(file, MAX_BUNDLE_FILE_BYTES)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let later = match later {
        None => None,
        Some(p) => match AuditFile::parse(&read_limited(p, MAX_BUNDLE_FILE_BYTES)?) {
            Ok(AuditFile::Checkpoint(c)) => Some(*c),
            Ok(AuditFile::Bundle(_)) => bail!(
                "{}: --later takes a checkpoint file (`carnet audit checkpoint --since BOUND`), not a bundle",
                p.display()
            ),
            Err(e) => bail!("{}: {e}", p.display()),
        },
    };
    let report = verify(&f, &g, later.as_ref());
    if json {
        let v = serde_json::json!({
            "ok": report.ok(),
            "first_failure": report.first_failure().map(|c| &c.name),
            "checks": report.checks,
        });
        println!("{v}");
    } else {
        for c in &report.checks {
            let tag = match c.status {
                Status::Pass => "pass",
                Status::Fail => "FAIL",
                Status::Skip => "skip",
            };
            println!("{tag}  {:<32} {}", c.name, c.detail);
        }
        match report.first_failure() {
            None => println!("verified: every check passed"),
            Some(c) => println!("NOT VERIFIED: first broken link: {}: {}", c.name, c.detail),
        }
    }
    Ok(report.ok())
}

/// GET `path` from the node's API: the JSON answer, pretty-printed for the file.
fn get(api: &str, path: &str) -> anyhow::Result<String> {
    let node = carnet_client::api::NodeApi::new(api)?;
    render(node.get(path)?)
}

fn render(v: serde_json::Value) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(&v)?;
    text.push('\n');
    Ok(text)
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}
