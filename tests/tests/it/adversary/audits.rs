//! A stranger asking a node for audit files in a loop (issue 19). Building a bundle or
//! a checkpoint file folds the finalized prefix from genesis, reading each event from
//! the store: seconds at a million events, and `/v1/audit/checkpoint` needs no token.
//! Built on the event loop, each request stopped the node for that long.

use carnet_node::config::NodeConfig;
use carnet_node::datadir::DataDir;
use carnet_node::run::{launch, RunningNode, STORE_FILE};
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{generate_settled, org_key, Workload};
use carnet_tests::http;
use std::path::Path;

/// A settled log big enough that one fold outlasts many API calls, in a data dir of
/// the workload's org 0, and that org's node on it.
async fn node_on_a_settled_log(dir: &Path) -> RunningNode {
    let genesis = Workload::new().0;
    DataDir::create(dir, &org_key(0), &genesis).expect("data dir");
    let store = Store::open(&dir.join(STORE_FILE), genesis.network_id()).expect("store");
    generate_settled(20_000, 5_000, |batch| {
        store.put_events(batch).expect("put");
    });
    drop(store);
    launch(&config(dir)).await.expect("node starts")
}

fn config(dir: &Path) -> NodeConfig {
    NodeConfig {
        data_dir: Some(dir.to_owned()),
        org_name: "Org 0".into(),
        listen: vec![carnet_tests::LOOPBACK_TCP.into()],
        api: "127.0.0.1:0".into(),
        log: "warn".into(),
        ..NodeConfig::default()
    }
}

const CHECKPOINT: &str = "/v1/audit/checkpoint";

type Answer = std::io::Result<(u16, String)>;

/// Asks for a checkpoint file until a second request, sent while it is built, is
/// turned away with `audit_busy`; returns the first, still building or just done.
async fn one_being_built(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<Answer> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut rounds = 0;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "in {rounds} rounds, no second audit was refused while one was built"
        );
        rounds += 1;
        let first = tokio::spawn(async move { http(addr, "GET", CHECKPOINT, None, None).await });
        let (status, body) = http(addr, "GET", CHECKPOINT, None, None).await.unwrap();
        if status == 503 {
            assert!(body.contains("audit_busy"), "{body}");
            return first;
        }
        // The first was done, or not yet begun, when the second came: again.
        assert_eq!(status, 200, "{body}");
        let _ = first.await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_asking_for_audits_in_a_loop_does_not_stop_the_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = node_on_a_settled_log(dir.path()).await;
    let addr = node.api_addr;
    let (status, body) = http(addr, "GET", CHECKPOINT, None, None).await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("carnet-audit-checkpoint/1"), "{body}");

    // While one file is being built, a second request is turned away at once, and the
    // node answers everything else. Before the fix the second request waited behind
    // the first, and so did every other call: no request was ever refused.
    for round in 1.. {
        assert!(
            round <= 50,
            "the node never answered while an audit was built"
        );
        let first = one_being_built(addr).await;
        let (status, body) = http(addr, "GET", "/v1/status", None, None).await.unwrap();
        assert_eq!(status, 200, "{body}");
        let answered_while_building = !first.is_finished();
        let (status, body) = first.await.unwrap().unwrap();
        assert_eq!(status, 200, "{body}");
        if answered_while_building {
            break;
        }
    }

    // Stopped while a fold runs, the node lets go of its store: it starts again.
    let running = one_being_built(addr).await;
    node.stop().await;
    let _ = running.await;
    let node = launch(&config(dir.path()))
        .await
        .expect("node starts again");
    let (status, body) = http(node.api_addr, "GET", CHECKPOINT, None, None)
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    node.stop().await;
}
