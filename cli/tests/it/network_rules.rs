//! `carnet init --quorum` and `carnet network rules`: the genesis chooses the quorum,
//! and the CLI says how many orgs may be down while settlement goes on.

use crate::carnet;

#[test]
fn the_founders_quorum_is_in_the_genesis_and_rules_say_who_may_be_down() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("alpha");
    let data = data.to_str().unwrap();
    let init = carnet(&[
        "init",
        "--org",
        "Alpha",
        "--data-dir",
        data,
        "--quorum",
        "1/2",
    ]);
    assert!(init.status.success(), "{init:?}");
    let out = carnet(&["--json", "network", "rules", "--data-dir", data]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rules"]["quorum_num"], 1);
    assert_eq!(v["rules"]["quorum_den"], 2);
    assert_eq!(v["founding_orgs"], 1);
    // More than half: 3 of 4 sign, so one may be down; 2 of 3 likewise.
    let row = |n: u64| {
        v["quorum"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["orgs"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (row(3)["quorum"].as_u64(), row(3)["may_be_down"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(
        (row(4)["quorum"].as_u64(), row(4)["may_be_down"].as_u64()),
        (Some(3), Some(1))
    );
    // The genesis file itself works too, and people get a table.
    let genesis = dir.path().join("alpha/genesis.bin");
    let out = carnet(&["network", "rules", "--genesis", genesis.to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("more than 1/2 of the orgs"), "{text}");
    assert!(text.contains("may be down"), "{text}");
    // The issuance cap and vesting, from the genesis' rules.
    assert!(
        text.contains("125 points per member per 30 days (a $25 subscription)"),
        "{text}"
    );
    assert!(text.contains("14 days after a delivered sale"), "{text}");
    assert_eq!(v["rules"]["subscription_dollars"], 25);
    assert_eq!(v["rules"]["bounce_window_ms"], 14 * 24 * 3_600_000u64);
    // A quorum of 1 or more is refused before anything is written.
    let bad = carnet(&[
        "init",
        "--org",
        "B",
        "--data-dir",
        &format!("{data}-b"),
        "--quorum",
        "3/3",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("below 1"));
    assert!(!dir.path().join("alpha-b").exists());
    // No genesis: one clear line.
    let none = carnet(&["network", "rules", "--genesis", "/nonexistent/genesis.bin"]);
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).starts_with("carnet: reading"));
}
