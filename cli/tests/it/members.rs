//! An operator names members as people do (handle, key file or key), lists and
//! revokes them; a member gives points to another, refused before signing when it
//! cannot (issue 16).

use crate::carnet;
use crate::node_run::{start, stop};
use serde_json::Value;

#[test]
fn members_by_handle_or_key_file_list_grant_transfer_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, _) = start(&data, &["--org", "Acme"]);
    let data = data.to_str().unwrap().to_owned();
    let path = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let run = |args: &[&str]| -> std::process::Output {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        carnet(&all)
    };
    let ok = |args: &[&str]| -> Value {
        let out = run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let admin = |args: &[&str]| -> Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--data-dir", &data]);
        ok(&all)
    };
    let failure = |args: &[&str]| -> String {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["error"]["message"].as_str().unwrap().to_owned()
    };
    let (alice, bob) = (path("alice.key"), path("bob.key"));
    let a = admin(&["member", "new", "alice", "--out", &alice])["member"].clone();
    let b = admin(&["member", "new", "bob", "--out", &bob])["member"].clone();

    // By handle, and by key file.
    assert_eq!(admin(&["member", "grant", "alice", "50"])["member"], a);
    assert_eq!(admin(&["member", "grant", &bob, "20"])["member"], b);
    let listed = admin(&["member", "list"]);
    let row = |k: &Value| {
        listed["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["member"] == *k)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (&row(&a)["handle"], &row(&a)["balance"], &row(&a)["status"]),
        (&"alice".into(), &50.into(), &"Active".into())
    );
    assert_eq!(row(&b)["balance"], 20);
    let err = failure(&["member", "grant", "nobody", "5", "--data-dir", &data]);
    assert!(
        err.contains("no member of this org has the handle"),
        "{err}"
    );

    // Alice gives Bob 15; 500 is more than she has, and nothing is signed.
    ok(&["--key", &alice, "transfer", &bob, "15"]);
    let balance = |key: &str| ok(&["--key", key, "balance"])["balance"].clone();
    assert_eq!((balance(&alice), balance(&bob)), (35.into(), 35.into()));
    let err = failure(&["--key", &alice, "transfer", &bob, "500"]);
    assert!(
        err.contains("not enough points: you have 35, you would give 500"),
        "{err}"
    );
    let err = failure(&["--key", &alice, "transfer", &alice, "1"]);
    assert!(err.contains("yourself"), "{err}");
    let history = ok(&["--key", &alice, "history"]);
    assert_eq!(
        history["movements"].as_array().unwrap().len(),
        2,
        "a grant and one transfer, no void event: {history}"
    );

    // Revoked by handle: Bob's key signs nothing more, and Alice cannot pay him.
    admin(&["member", "revoke", "bob", "--reason", "left the company"]);
    assert_eq!(
        ok(&["--key", &bob, "balance"])["status"],
        "Revoked",
        "bob is revoked"
    );
    let err = failure(&["--key", &alice, "transfer", &bob, "1"]);
    assert!(err.contains("not active"), "{err}");
    stop(node, "-TERM");
}
