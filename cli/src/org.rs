//! Commands an org's operator runs: create the org, vote on the network's orgs,
//! dispute a report, record an opt-out. Members are in members.rs.

use crate::out::Out;
use crate::submitted::report;
use anyhow::{bail, Context};
use carnet_api::Submitted;
use carnet_client::api::{NodeApi, DEFAULT_API};
use carnet_node::datadir::DataDir;
use carnet_protocol::card::normalise_email;
use carnet_protocol::{Genesis, Hash32, PublicKey};
use serde_json::json;
use std::path::PathBuf;

/// Where the org's data directory is and how to reach its node as admin.
#[derive(clap::Args, Clone)]
pub struct AdminArgs {
    /// The org node's data directory (its org key yields the admin token)
    /// [default: the platform data dir + /carnet].
    #[arg(long, env = "CARNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Admin token of the node's API, instead of reading it from the data directory.
    #[arg(long, env = "CARNET_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

pub fn data_dir_path(given: &Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(p) => Ok(p.clone()),
        None => Ok(carnet_node::datadir::default_path()?),
    }
}

impl AdminArgs {
    /// The node API (see [`node_url`]), with the admin token. With the token of the
    /// data directory and its recorded (or the default) address, the node answering
    /// there must be the data directory's org: another node may hold the default
    /// address while this one starts (see `node status --wait`), and would only say
    /// "wrong bearer token".
    pub fn api(&self, url: Option<&str>) -> anyhow::Result<NodeApi> {
        let (token, own) = match &self.admin_token {
            Some(t) => (t.clone(), None),
            None => {
                let dir = DataDir::open(&data_dir_path(&self.data_dir)?)
                    .context("reading the admin token; pass --admin-token or --data-dir")?;
                (
                    carnet_node::run::admin_token(&dir),
                    Some(dir.org().to_hex()),
                )
            }
        };
        let api = NodeApi::new(&node_url(&self.data_dir, url)?)?.with_admin_token(token);
        if let (Some(org), None) = (own, url) {
            own_status(&api, &org)?;
        }
        Ok(api)
    }
}

/// The status of the node at `api`, which must be org `org`'s: a data directory
/// whose node never ran has no API address recorded yet, and the default address may
/// be another node's (a script that starts several nodes asks before the new one is
/// up), whose answer is not this node's.
pub fn own_status(api: &NodeApi, org: &str) -> anyhow::Result<carnet_api::NodeStatus> {
    let s = api.status()?;
    if s.org != org {
        bail!(
            "the node answering at {} is org {}, not this data directory's ({org}): its own node is not up yet (or give --url)",
            api.base(),
            s.org
        );
    }
    Ok(s)
}

/// The node's API: `url` (the global `--node`), else the one the node running on the
/// data directory wrote there, else the default.
pub fn node_url(data_dir: &Option<PathBuf>, url: Option<&str>) -> anyhow::Result<String> {
    if let Some(u) = url {
        return Ok(u.to_owned());
    }
    let dir = data_dir_path(data_dir)?;
    Ok(carnet_node::run::api_url(&dir).unwrap_or_else(|| DEFAULT_API.to_owned()))
}

#[derive(clap::Args)]
pub struct InitArgs {
    /// The organisation's name.
    #[arg(long)]
    pub org: String,
    /// Data directory to create [default: the platform data dir + /carnet].
    #[arg(long, env = "CARNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Join an existing network: its genesis file (genesis.bin from a member org's
    /// data directory). Without it, a new network is founded with this org.
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Settlement quorum of a new network, as NUM/DEN: strictly more than NUM/DEN of
    /// the orgs must sign a checkpoint. 2/3 lets 1 of 4 orgs be down; 1/2 lets 1 of 3.
    #[arg(long, value_name = "NUM/DEN", default_value = "2/3", value_parser = parse_quorum)]
    pub quorum: (u32, u32),
}

/// "NUM/DEN" with 0 <= NUM < DEN.
fn parse_quorum(s: &str) -> Result<(u32, u32), String> {
    let (n, d) = s
        .split_once('/')
        .ok_or_else(|| format!("{s:?} is not NUM/DEN, e.g. 2/3"))?;
    let parse = |x: &str| {
        x.trim()
            .parse::<u32>()
            .map_err(|e| format!("{x:?} in {s:?}: {e}"))
    };
    let (n, d) = (parse(n)?, parse(d)?);
    if d == 0 || n >= d {
        return Err(format!(
            "{s:?}: the quorum is a fraction below 1 (NUM < DEN, DEN > 0)"
        ));
    }
    Ok((n, d))
}

#[derive(clap::Args)]
pub struct RulesArgs {
    /// The network's genesis file [default: genesis.bin of the data directory].
    #[arg(long)]
    pub genesis: Option<PathBuf>,
    /// Data directory whose genesis to read [default: the platform data dir + /carnet].
    #[arg(long, env = "CARNET_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `carnet network rules`: the genesis' rules, and what its quorum means for
/// settlement (how many orgs may be down), read offline from the genesis.
pub fn rules(args: &RulesArgs, out: Out) -> anyhow::Result<()> {
    let path = match &args.genesis {
        Some(g) => g.clone(),
        None => data_dir_path(&args.data_dir)?.join(carnet_node::datadir::GENESIS_FILE),
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let genesis =
        Genesis::decode(&bytes).with_context(|| format!("{} is not a genesis", path.display()))?;
    let r = &genesis.rules;
    let founders = genesis.founding_orgs.len();
    let sizes: Vec<usize> = (1..=founders.max(7)).collect();
    let quorum: Vec<serde_json::Value> = sizes
        .iter()
        .map(|&n| {
            json!({"orgs": n, "quorum": r.quorum_size(n), "may_be_down": r.orgs_that_may_be_down(n)})
        })
        .collect();
    out.emit(
        json!({
            "network": genesis.network_id().to_hex(),
            "name": genesis.name,
            "founding_orgs": founders,
            "rules": r,
            "quorum": quorum,
        }),
        || {
            println!("network {} ({})", genesis.network_id(), genesis.name);
            println!("founding orgs: {founders}");
            println!(
                "settlement quorum: more than {}/{} of the orgs sign each checkpoint",
                r.quorum_num, r.quorum_den
            );
            let rows = sizes
                .iter()
                .map(|&n| {
                    vec![
                        n.to_string(),
                        r.quorum_size(n).to_string(),
                        r.orgs_that_may_be_down(n).to_string(),
                    ]
                })
                .collect();
            println!(
                "{}",
                crate::out::table(&["orgs", "quorum", "may be down"], rows)
            );
            let rows = [
                (
                    "contribution reward",
                    format!("{} (pending until the card vests)", r.contribute_reward),
                ),
                (
                    "update reward",
                    format!("{} (pending, likewise)", r.update_reward),
                ),
                (
                    "vesting",
                    format!(
                        "{} after a delivered sale with no bounce or mobile report",
                        days(r.bounce_window_ms)
                    ),
                ),
                ("update interval", days(r.update_interval_ms)),
                ("card price", r.card_price.to_string()),
                ("bounce bounty", r.bounce_bounty.to_string()),
                ("bounce penalty", r.bounce_penalty.to_string()),
                ("mobile penalty", r.mobile_penalty.to_string()),
                (
                    "mobile strikes to exclude",
                    r.mobile_strikes_to_exclude.to_string(),
                ),
                ("referral bonus", r.referral_bonus.to_string()),
                ("points per dollar", r.points_per_dollar.to_string()),
                (
                    "grant cap",
                    format!(
                        "{} points per member per {} (a ${} subscription)",
                        r.grant_cap().unwrap_or(0),
                        days(r.grant_period_ms),
                        r.subscription_dollars
                    ),
                ),
                ("bounce dispute window", days(r.bounce_window_ms)),
                (
                    "pay-or-play",
                    format!(
                        "{} contributions in {} (or a grant)",
                        r.play_min_contributions,
                        days(r.play_window_ms)
                    ),
                ),
                (
                    "commission",
                    format!("{}.{:02} %", r.commission_bps / 100, r.commission_bps % 100),
                ),
            ]
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v])
            .collect();
            println!("{}", crate::out::table(&["rule", "value"], rows));
        },
    );
    Ok(())
}

fn days(ms: u64) -> String {
    const DAY: u64 = 24 * 60 * 60 * 1000;
    if ms.is_multiple_of(DAY) {
        format!("{} days", ms / DAY)
    } else {
        format!("{ms} ms")
    }
}

pub fn init(args: &InitArgs, out: Out) -> anyhow::Result<()> {
    let path = data_dir_path(&args.data_dir)?;
    if path.join(carnet_node::datadir::ORG_KEY_FILE).exists() {
        bail!(
            "{} already holds an org; refusing to create another",
            path.display()
        );
    }
    let dir = match &args.genesis {
        Some(g) => {
            let bytes = std::fs::read(g).with_context(|| format!("reading {}", g.display()))?;
            let genesis = Genesis::decode(&bytes)
                .with_context(|| format!("{} is not a genesis", g.display()))?;
            let key = carnet_protocol::SecretKey::from_seed(carnet_client::keyfile::random32()?);
            DataDir::create(&path, &key, &genesis)?
        }
        None => {
            let rules = carnet_protocol::genesis::Rules {
                quorum_num: args.quorum.0,
                quorum_den: args.quorum.1,
                ..Default::default()
            };
            DataDir::open_or_init_with(&path, &args.org, carnet_api::now_ms(), rules)?
        }
    };
    let founder = dir.genesis.is_founder(&dir.org());
    let genesis_file = dir.path.join(carnet_node::datadir::GENESIS_FILE);
    out.emit(
        json!({
            "org": dir.org().to_hex(),
            "name": args.org,
            "network": dir.network().to_hex(),
            "founder": founder,
            "data_dir": dir.path.display().to_string(),
            "genesis": genesis_file.display().to_string(),
        }),
        || {
            println!("created org {} in {}", args.org, dir.path.display());
            println!("  org key   {}", dir.org());
            println!("  network   {} ({})", dir.network(), dir.genesis.name);
            if founder {
                println!("  founded a new network; other orgs join with");
                println!(
                    "    carnet init --org NAME --genesis {}",
                    genesis_file.display()
                );
            } else {
                println!("  joining: ask the network's orgs to run");
                println!(
                    "    carnet network admit {} --name {:?}",
                    dir.org(),
                    args.org
                );
            }
            println!(
                "start the node with: carnet node run --data-dir {}",
                dir.path.display()
            );
        },
    );
    Ok(())
}

pub fn parse_key(s: &str, what: &str) -> anyhow::Result<PublicKey> {
    let k = PublicKey::from_hex(s.trim())
        .filter(|k| k.verifying_key().is_some())
        .with_context(|| format!("{what} must be an Ed25519 public key in 64 hex digits"))?;
    Ok(k)
}

pub fn admit(
    admin: &AdminArgs,
    url: Option<&str>,
    org: &str,
    name: &str,
    out: Out,
) -> anyhow::Result<()> {
    let org = parse_key(org, "ORG_PUBKEY")?;
    let api = admin.api(url)?;
    let s = api.admin_admit(&org, name)?;
    report_vote(out, &api, Vote::Admit, &s, &org, None)
}

#[derive(Clone, Copy)]
enum Vote {
    Admit,
    Evict,
    Rotate,
}

impl Vote {
    fn noun(self) -> &'static str {
        match self {
            Vote::Admit => "admission",
            Vote::Evict => "eviction",
            Vote::Rotate => "rotation",
        }
    }
}

/// [`report`] of this org's vote, with where the vote stands now.
fn report_vote(
    out: Out,
    api: &NodeApi,
    vote: Vote,
    s: &Submitted,
    org: &PublicKey,
    to: Option<&PublicKey>,
) -> anyhow::Result<()> {
    let progress = vote_progress(api, vote, org, to)?;
    let mut extra = json!({ "org": org.to_hex(), "progress": progress });
    if let Some(to) = to {
        extra["to"] = json!(to.to_hex());
    }
    report(out, &format!("{} vote", vote.noun()), s, extra)?;
    if out.human() {
        println!("{progress}");
    }
    Ok(())
}

/// Where a vote stands after this org's: "2 of 3 votes", or done.
fn vote_progress(
    api: &NodeApi,
    vote: Vote,
    org: &PublicKey,
    to: Option<&PublicKey>,
) -> anyhow::Result<String> {
    let view = api.orgs()?;
    let (key, to_hex) = (org.to_hex(), to.map(PublicKey::to_hex));
    let open = match vote {
        Vote::Admit => &view.admissions,
        Vote::Evict => &view.evictions,
        Vote::Rotate => &view.rotations,
    }
    .iter()
    .find(|v| v.org == key && v.to == to_hex);
    let is_org = |k: &str| view.orgs.iter().any(|o| o.key == k);
    Ok(match (open, vote) {
        (Some(v), _) => format!(
            "{} of {key}: {} of {} votes",
            vote.noun(),
            v.votes,
            v.needed
        ),
        (None, Vote::Admit) if is_org(&key) => format!("{key} is now an org of the network"),
        (None, Vote::Evict) if !is_org(&key) => format!("{key} is no longer an org of the network"),
        (None, Vote::Rotate) if to_hex.as_deref().is_some_and(is_org) => {
            format!("{key} is replaced by {}", to_hex.unwrap_or_default())
        }
        (None, _) => "the vote is not counted yet (the node has not ordered it)".to_owned(),
    })
}

pub fn evict(
    admin: &AdminArgs,
    url: Option<&str>,
    org: &str,
    reason: &str,
    out: Out,
) -> anyhow::Result<()> {
    let org = parse_key(org, "ORG_PUBKEY")?;
    let api = admin.api(url)?;
    let s = api.admin_evict(&org, reason)?;
    report_vote(out, &api, Vote::Evict, &s, &org, None)
}

/// `carnet network rotate`: this org's vote to replace org key `org` by `to`; with
/// neither, its own key by a new one kept in the data directory until the operator
/// switches to it (docs/operator.md, "Rotating the org key").
pub fn rotate(
    admin: &AdminArgs,
    url: Option<&str>,
    keys: Option<(&str, &str)>,
    out: Out,
) -> anyhow::Result<()> {
    let (org, to, next) = match keys {
        Some((org, to)) => (
            parse_key(org, "ORG_PUBKEY")?,
            parse_key(to, "NEW_PUBKEY")?,
            None,
        ),
        None => {
            let dir = DataDir::open(&data_dir_path(&admin.data_dir)?)
                .context("rotating this org's own key needs its --data-dir")?;
            let to = dir.next_org_key()?;
            let path = dir.path.join(carnet_node::datadir::NEXT_ORG_KEY_FILE);
            (dir.org(), to, Some(path))
        }
    };
    let api = admin.api(url)?;
    let s = api.admin_rotate(&org, &to)?;
    report_vote(out, &api, Vote::Rotate, &s, &org, Some(&to))?;
    if let (Some(path), true) = (next, out.human()) {
        println!(
            "the new key is in {}; once a quorum of orgs has voted for",
            path.display()
        );
        println!("  carnet network rotate {org} {to}");
        println!("stop the node, move it over org.key and start the node again");
    }
    Ok(())
}

pub fn dispute(
    admin: &AdminArgs,
    url: Option<&str>,
    report_id: &str,
    finding: &str,
    out: Out,
) -> anyhow::Result<()> {
    let id = Hash32::from_hex(report_id.trim())
        .with_context(|| format!("REPORT_ID {report_id:?} is not 64 hex digits"))?;
    let api = admin.api(url)?;
    let s = api.admin_dispute(&id, finding)?;
    report(
        out,
        "dispute recorded beside the report; auditors are shown both",
        &s,
        json!({ "report_id": id.to_hex() }),
    )
}

pub fn optout(admin: &AdminArgs, url: Option<&str>, email: &str, out: Out) -> anyhow::Result<()> {
    let api = admin.api(url)?;
    let email = normalise_email(email)?;
    // The node computes the dedup key: only org nodes hold the network secret.
    let s = api.admin_optout(&email)?;
    report(
        out,
        "opt-out recorded; every node drops the listing and refuses the address",
        &s,
        json!({}),
    )
}
