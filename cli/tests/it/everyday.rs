//! The command line's manners (issue 16, polish): what a script or a pipe sees.

use crate::{carnet, carnet_command};
use carnet_client::keyfile::MemberKey;
use carnet_protocol::{Hash32, PublicKey};
use std::process::Stdio;

/// A member key file whose node is `api` (nothing listens there).
fn key_for(dir: &std::path::Path, api: &str) -> String {
    let path = dir.join("m.key");
    MemberKey::generate("m", Hash32([1; 32]), PublicKey([2; 32]), api)
        .expect("randomness")
        .save_new(&path)
        .expect("key file");
    path.to_string_lossy().into_owned()
}

fn json_error(out: &std::process::Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {out:?}"));
    assert!(doc["error"]["message"].is_string(), "{doc}");
    doc
}

#[test]
fn with_json_a_failure_is_one_json_document_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.key");
    let out = carnet(&["--json", "balance", "--key", missing.to_str().unwrap()]);
    let doc = json_error(&out);
    assert_eq!(doc["error"]["code"], "error");
    assert!(doc["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no member key"));

    // Nothing listens on port 9 of loopback (discard, never served in a test box).
    let key = key_for(dir.path(), "http://127.0.0.1:9");
    let out = carnet(&["--json", "balance", "--key", &key]);
    assert_eq!(json_error(&out)["error"]["code"], "unreachable");

    // Without --json, people get one line on stderr and nothing on stdout.
    let out = carnet(&["balance", "--key", &key]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("carnet: "));
}

/// `carnet ... | head -1`: the reader goes away before the command writes; the
/// command stops without a panic (it used to exit 101 with "failed printing to stdout").
#[test]
fn a_closed_pipe_stops_the_command_quietly() {
    let vectors =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors/audit");
    let mut child = carnet_command()
        .current_dir(vectors)
        .args([
            "audit",
            "verify",
            "bounce.json",
            "--genesis",
            "genesis.json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run carnet");
    // Close the read end at once: every write of the child finds no reader.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_ne!(out.status.code(), Some(101), "{stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(13), "stopped by SIGPIPE: {out:?}");
    }
}

/// `carnet node status`, `orgs` and `peers`, and admin votes, on a data directory alone:
/// the commands find the running node's API there (no --node), and a vote says where
/// it stands ("1 of 2 votes") instead of only "applied".
#[test]
fn an_operator_sees_the_network_from_the_data_directory() {
    use crate::node_run::{start, stop};
    let dir = tempfile::tempdir().unwrap();
    let (child, ready) = start(dir.path(), &["--org", "Acme"]);
    let data = dir.path().to_str().unwrap();
    let json = |args: &[&str]| -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data-dir", data]);
        let out = carnet(&all);
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let status = json(&["node", "status"]);
    assert_eq!(status["org"], ready["org"]);
    let orgs = json(&["node", "orgs"]);
    assert_eq!(orgs["orgs"].as_array().unwrap().len(), 1);
    assert_eq!(orgs["orgs"][0]["name"], "Acme");
    assert_eq!(orgs["orgs"][0]["founding"], true);
    assert_eq!(orgs["quorum"], "2/3");
    assert_eq!(json(&["node", "peers"])["peers"], serde_json::json!([]));
    // What another node's --bootstrap takes: each listen address with the peer id.
    let addresses = json(&["node", "address"]);
    let peer = status["peer_id"].as_str().unwrap();
    let listen = status["listen_addrs"].as_array().unwrap();
    assert_eq!(
        addresses["addresses"].as_array().unwrap().len(),
        listen.len()
    );
    assert_eq!(
        addresses["addresses"][0],
        format!("{}/p2p/{peer}", listen[0].as_str().unwrap()),
        "{addresses}"
    );

    // Alone, Acme's vote admits Beta at once; with two orgs, Gamma needs both.
    let beta = carnet_protocol::testkit::key("org to admit", 1)
        .public()
        .to_hex();
    let gamma = carnet_protocol::testkit::key("org to admit", 2)
        .public()
        .to_hex();
    let out = carnet(&[
        "network",
        "admit",
        &beta,
        "--name",
        "Beta",
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("{beta} is now an org of the network")),
        "{said}"
    );
    let out = carnet(&[
        "network",
        "admit",
        &gamma,
        "--name",
        "Gamma",
        "--data-dir",
        data,
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("admission of {gamma}: 1 of 2 votes")),
        "{said}"
    );

    let orgs = json(&["node", "orgs"]);
    assert_eq!(orgs["orgs"].as_array().unwrap().len(), 2);
    let open = &orgs["admissions"][0];
    assert_eq!(
        (open["org"].as_str(), open["votes"].as_u64()),
        (Some(gamma.as_str()), Some(1))
    );
    assert_eq!(open["needed"], 2);
    assert!(stop(child, "-TERM").success());
}

/// What a script needs between `carnet node run … &` and trading: `node key` reads the
/// org key from the data directory, and `node status --wait` returns once the node is
/// ready to trade, or fails at its deadline saying what is missing (a joining org not
/// admitted yet).
#[test]
fn node_status_waits_until_the_node_can_trade_and_says_what_is_missing() {
    use crate::node_run::{start, stop};
    let tmp = tempfile::tempdir().unwrap();
    let acme = tmp.path().join("acme");
    let beta = tmp.path().join("beta");
    let (a, ready) = start(&acme, &["--org", "Acme"]);
    let genesis = acme.join("genesis.bin");
    let init = carnet(&[
        "--json",
        "init",
        "--org",
        "Beta",
        "--data-dir",
        beta.to_str().unwrap(),
        "--genesis",
        genesis.to_str().unwrap(),
    ]);
    assert!(init.status.success(), "{init:?}");
    let init: serde_json::Value = serde_json::from_slice(&init.stdout).unwrap();
    let key = |dir: &std::path::Path| {
        let out = carnet(&["node", "key", "--data-dir", dir.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    assert_eq!(key(&acme), ready["org"].as_str().unwrap());
    assert_eq!(key(&beta), init["org"].as_str().unwrap());

    let wait = |dir: &std::path::Path, secs: &str| {
        carnet(&[
            "node",
            "status",
            "--wait",
            secs,
            "--data-dir",
            dir.to_str().unwrap(),
        ])
    };
    let (b, _) = start(&beta, &[]);
    assert!(wait(&acme, "10").status.success());
    let out = wait(&beta, "1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not ready after 1 s") && err.contains("not admitted to the network yet"),
        "{err}"
    );
    assert!(stop(b, "-TERM").success());
    // With no node running there at all, the deadline says so too.
    let out = wait(&beta, "1");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not ready after 1 s"),
        "{out:?}"
    );
    // Another org's node answering where the data directory says its node listens
    // (a node never run there, asked at the default address another node holds, as
    // the README's tour did under load): not this node, so not ready, and no address.
    std::fs::copy(acme.join("api.url"), beta.join("api.url")).unwrap();
    let out = wait(&beta, "1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("not this data directory's"), "{err}");
    let out = carnet(&["node", "address", "--data-dir", beta.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not this data directory's"),
        "{err}"
    );
    // An admin call with this data directory's token is not sent to the other node.
    let beta_key = key(&beta);
    let dir = beta.to_str().unwrap();
    let out = carnet(&[
        "network",
        "admit",
        &beta_key,
        "--name",
        "B",
        "--data-dir",
        dir,
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("not this data directory's"),
        "{err}"
    );
    assert!(stop(a, "-TERM").success());
}

/// `audit export` asks the node recorded in the key file, and refuses one of another
/// network instead of believing its answer (issue 16).
#[test]
fn audit_export_asks_the_key_files_node_and_checks_its_network() {
    use crate::node_run::{start, stop};
    let dir = tempfile::tempdir().unwrap();
    let (node, ready) = start(&dir.path().join("node"), &["--org", "Acme"]);
    let api = format!("http://{}", ready["api"].as_str().unwrap());
    // A key file of another network (all ones) that names this node.
    let key = key_for(dir.path(), &api);
    let out_file = dir.path().join("bundle.json");
    let out = carnet(&[
        "audit",
        "export",
        &"ab".repeat(32),
        "--out",
        out_file.to_str().unwrap(),
        "--key",
        &key,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("the node at {api} runs network"))
            && stderr.contains(&"01".repeat(32)),
        "{stderr}"
    );
    assert!(!out_file.exists());
    stop(node, "-TERM");
}
