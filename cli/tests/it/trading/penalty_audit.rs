//! A bounce penalty exported from a node and verified offline by an auditor.

use super::{ok, wait_for, Node, BOUNCE};
use crate::carnet;
use serde_json::Value;
use std::path::PathBuf;

/// A penalty audited end to end: two orgs settle checkpoints quickly, a bounce is
/// reported, the reporter's org exports the bundle with the message, and an auditor
/// verifies it offline against the pinned genesis; a tampered copy fails.
#[test]
fn a_bounce_penalty_exported_from_a_node_verifies_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let s = |path: &PathBuf| path.to_str().unwrap().to_owned();
    ok(&["init", "--org", "Alpha", "--data-dir", &s(&p("alpha"))]);
    let genesis = s(&p("alpha").join("genesis.bin"));
    ok(&[
        "init",
        "--org",
        "Beta",
        "--data-dir",
        &s(&p("beta")),
        "--genesis",
        &genesis,
    ]);
    // Checkpoints every 100 ms at bounds 4 Lamport ticks apart. A bound covers a
    // purchase only once 4 later events exist; here those come after the delivery
    // (`buy --wait`), so nothing is refunded.
    let config = p("fast.toml");
    std::fs::write(
        &config,
        "checkpoint_interval_ms = 100\ncheckpoint_stride = 4\n",
    )
    .unwrap();
    let na = Node::start_with(&p("alpha"), None, Some(&config));
    let nb = Node::start_with(&p("beta"), Some(&na.listen), Some(&config));
    ok(&na.admin(&["network", "admit", &nb.org, "--name", "Beta"]));
    wait_for("Beta admitted", || nb.balance(&nb.org).is_some());
    let alice = s(&p("alice.key"));
    let bob = s(&p("bob.key"));
    ok(&na.admin(&["member", "new", "alice", "--out", &alice]));
    let b = ok(&nb.admin(&["member", "new", "bob", "--out", &bob]));
    ok(&nb.admin(&["member", "grant", b["member"].as_str().unwrap(), "100"]));
    let l = ok(&[
        "--key",
        &alice,
        "contact",
        "add",
        "--name",
        "Jane Doe",
        "--title",
        "VP Sales",
        "--company",
        "Acme",
        "--email",
        "jane.doe@acme.example",
    ]);
    let l = l["listing"].as_str().unwrap().to_owned();
    let lid = carnet_protocol::Hash32::from_hex(&l).unwrap();
    wait_for("the listing at Beta", || {
        nb.client().listing(&lid).ok().flatten().is_some()
    });
    let bought = ok(&["--key", &bob, "buy", &l, "--wait", "30"]);
    assert_eq!(bought["delivered"], true);
    let eml = p("bounce.eml");
    std::fs::write(&eml, BOUNCE.replace("{STATUS}", "5.1.1")).unwrap();
    let r = ok(&["--key", &bob, "report", "bounce", &l, "--dsn", &s(&eml)]);
    let report = r["event"].as_str().unwrap().to_owned();

    // Until a checkpoint with a quorum covers the report, there is nothing to prove.
    let bundle = p("bundle.json");
    let out_path = s(&bundle);
    let export = || {
        carnet(&[
            "--node",
            &nb.api,
            "audit",
            "export",
            &report,
            "--out",
            &out_path,
            "--include-message",
            "--include-opening",
            "--data-dir",
            nb.dir.to_str().unwrap(),
        ])
    };
    let first = export();
    // Life goes on: later events let a checkpoint's bound pass the report.
    for i in 0..12 {
        let domain = format!("c{i}.example");
        ok(&[
            "--key",
            &alice,
            "vote",
            "company",
            &domain,
            "--employees",
            "1-10",
            "--revenue",
            "0-1M",
        ]);
    }
    assert!(!first.status.success());
    assert!(
        String::from_utf8_lossy(&first.stderr).contains("not yet settled"),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    wait_for("a settled checkpoint covering the report", || {
        export().status.success()
    });

    let pinned = s(&p("genesis.json"));
    ok(&[
        "audit",
        "genesis",
        "--data-dir",
        &s(&p("alpha")),
        "--out",
        &pinned,
    ]);
    let v = ok(&["audit", "verify", &s(&bundle), "--genesis", &pinned]);
    assert_eq!(v["ok"], true, "{v}");
    let checks = v["checks"].as_array().unwrap();
    for name in ["evidence.dsn", "opening", "report.voucher"] {
        assert!(
            checks
                .iter()
                .any(|c| c["name"] == name && c["status"] == "pass"),
            "{name}: {v}"
        );
    }
    // Without the org's data directory the personal parts are refused.
    let out = carnet(&[
        "--node",
        &nb.api,
        "audit",
        "export",
        &report,
        "--out",
        &s(&p("anyone.json")),
        "--include-opening",
        "--admin-token",
        "wrong",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // One byte of the signed penalty changed: the auditor names the broken link.
    let mut doc: Value = serde_json::from_str(&std::fs::read_to_string(&bundle).unwrap()).unwrap();
    let hex = doc["penalty"]["event_hex"].as_str().unwrap().to_owned();
    let mut bytes = hex.into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    doc["penalty"]["event_hex"] = Value::String(String::from_utf8(bytes).unwrap());
    let bad = p("tampered.json");
    std::fs::write(&bad, doc.to_string()).unwrap();
    let out = carnet(&["audit", "verify", &s(&bad), "--genesis", &pinned]);
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("penalty"), "{text}");
}
