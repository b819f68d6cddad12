//! Every byte of every signed part flipped must fail the check that names it.

use super::{first_failure, run, scenario, DSN};
use serde_json::{json, Value};

/// Flips one byte of every hex string of `v` in turn (every byte of events,
/// signatures and messages; the first and last byte of each hash and state leaf) and
/// bumps the claim's numbers; calls `f` with the JSON path and the tampered document.
fn tampered(v: &Value, mut f: impl FnMut(&str, Value)) {
    fn walk(root: &Value, at: &Value, path: String, f: &mut dyn FnMut(&str, Value)) {
        match at {
            Value::Object(m) => {
                for (k, x) in m {
                    walk(root, x, format!("{path}/{k}"), f);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(root, x, format!("{path}/{i}"), f);
                }
            }
            Value::String(s) if path != "/format" => {
                let Ok(bytes) = hex::decode(s) else {
                    return;
                };
                let every = path.ends_with("event_hex")
                    || path.contains("signatures_hex")
                    || path.contains("admissions_hex")
                    || path.ends_with("bounce_message_hex");
                let positions: Vec<usize> = if every {
                    (0..bytes.len()).collect()
                } else {
                    vec![0, bytes.len() - 1]
                };
                for i in positions {
                    let mut b = bytes.clone();
                    b[i] ^= 0x01;
                    let mut doc = root.clone();
                    *doc.pointer_mut(&path).unwrap() = Value::String(hex::encode(b));
                    f(&path, doc);
                }
            }
            Value::Number(n) if path.starts_with("/checkpoint/claim/") => {
                let mut doc = root.clone();
                *doc.pointer_mut(&path).unwrap() = json!(n.as_u64().unwrap() + 1);
                f(&path, doc);
            }
            _ => {}
        }
    }
    walk(v, v, String::new(), &mut f);
}

/// The check that must fail first when the part at `path` is changed.
fn expected_check(path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["network_id_hex"] => "network".into(),
        ["bounce_message_hex"] => "evidence.hash".into(),
        ["opening", "salt_hex"] => "opening".into(),
        ["contributor_account", ..] => "state.contributor_account".into(),
        ["purchase_state", ..] => "state.purchase".into(),
        ["checkpoint", "signatures_hex", ..] => "checkpoint.signatures".into(),
        ["checkpoint", "admissions_hex", ..] => "checkpoint.admissions".into(),
        ["checkpoint", "claim", ..] => "checkpoint.quorum".into(),
        [role, "event_hex"] => format!("event.{role}"),
        [role, "path_hex", ..] => format!("inclusion.{role}"),
        _ => panic!("unexpected part {path}"),
    }
}

#[test]
fn every_signed_byte_is_checked() {
    let sc = scenario();
    let mut ledger = sc.story.ledger.clone();
    let g = sc.story.genesis.clone();
    let mut count = 0;
    for (id, msg, opening) in [
        (
            sc.bounce.id(),
            Some(DSN.as_bytes().to_vec()),
            sc.bounce_opening.clone(),
        ),
        (sc.mobile.id(), None, sc.mobile_opening.clone()),
    ] {
        let b =
            serde_json::to_value(ledger.audit_bundle(&id, msg, Some(opening)).unwrap()).unwrap();
        tampered(&b, |path, doc| {
            count += 1;
            let r = run(&doc, &g, None);
            assert_eq!(first_failure(&r), expected_check(path), "{path}");
        });
    }
    assert!(count > 3000, "{count} tampered bundles");

    // The later checkpoint: its signatures, admissions, claim and consistency path.
    let b =
        serde_json::to_value(ledger.audit_bundle(&sc.bounce.id(), None, None).unwrap()).unwrap();
    let later = serde_json::to_value(
        ledger
            .audit_checkpoint(Some(sc.second_bound), Some(sc.first_bound))
            .unwrap(),
    )
    .unwrap();
    tampered(&later, |path, doc| {
        let r = run(&b, &g, Some(&doc));
        let want = match path {
            p if p.starts_with("/consistency/") => "later.consistency".to_string(),
            p => format!("later.{}", expected_check(p)),
        };
        assert_eq!(first_failure(&r), want, "{path}");
    });
}
