//! `carnet node status`, `peers`, `orgs` and `address`: what an operator looks at to
//! see the network from their node.

use crate::org::node_url;
use crate::out::{table, Out};
use carnet_client::api::NodeApi;
use std::path::PathBuf;

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
}

/// The node's dial-able addresses: each listen address with its peer id, so that
/// `--bootstrap "$(carnet node address --data-dir alpha | head -1)"` works in a script.
pub fn address(args: &NodeArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = args.api(url)?.status()?;
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

pub fn status(args: &NodeArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = args.api(url)?.status()?;
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
