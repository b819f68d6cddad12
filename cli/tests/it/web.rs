//! `carnet web password`: a member turns on web sign-in; the node keeps the key sealed
//! under the password only for its own active members (issue 18, docs/web.md).

use crate::carnet_command;
use crate::node_run::{start, stop};
use serde_json::Value;
use std::io::Write;
use std::process::{Output, Stdio};

/// `carnet --json web password --password-stdin --key KEY`, `password` on stdin.
fn set_password(key: &str, password: &str) -> Output {
    let mut child = carnet_command()
        .args([
            "--json",
            "web",
            "password",
            "--password-stdin",
            "--key",
            key,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn error_code(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_member_turns_on_web_sign_in_and_a_revoked_one_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, _) = start(&data, &["--org", "Acme"]);
    let data = data.to_str().unwrap().to_owned();
    let key = dir.path().join("alice.key").to_str().unwrap().to_owned();
    let out = crate::carnet(&[
        "--json",
        "member",
        "new",
        "alice",
        "--out",
        &key,
        "--data-dir",
        &data,
    ]);
    assert!(out.status.success(), "{out:?}");
    let alice: Value = serde_json::from_slice(&out.stdout).unwrap();

    let out = set_password(&key, "correct horse battery");
    assert!(out.status.success(), "{out:?}");
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kept["member"], alice["member"]);
    // A new password replaces it (signed later).
    assert!(set_password(&key, "another good password").status.success());
    // Too short: refused before anything is sent.
    let out = set_password(&key, "short");
    assert_eq!(error_code(&out), "error");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("too short"),
        "{out:?}"
    );

    // Revoked: the node keeps nothing more for it.
    let out = crate::carnet(&["member", "revoke", "alice", "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        error_code(&set_password(&key, "correct horse battery")),
        "not_member"
    );
    assert!(stop(node, "-TERM").success());
}
