//! docs/test-vectors/audit/: generated from the scenario, and checked as read from disk.

use super::{genesis_file, scenario, DSN};
use carnet_client::audit::{verify, AuditFile, GenesisFile};
use carnet_protocol::ledger::audit::{Bundle, CheckpointFile};
use carnet_protocol::testkit;
use carnet_protocol::Hash32;
use serde_json::{json, Value};
use std::path::PathBuf;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors/audit")
}

fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

/// Flips the lowest bit of byte `i` of the hex string at `pointer`.
fn flip(doc: &Value, pointer: &str, i: usize) -> Value {
    let mut d = doc.clone();
    let s = d
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let mut b = hex::decode(s).unwrap();
    b[i] ^= 0x01;
    *d.pointer_mut(pointer).unwrap() = Value::String(hex::encode(b));
    d
}

/// (file name, content) of every vector file, and the manifest.
fn generate() -> Vec<(String, Value)> {
    let sc = scenario();
    let mut ledger = sc.story.ledger.clone();
    let g = sc.story.genesis.clone();
    let bounce: Bundle = ledger
        .audit_bundle(
            &sc.bounce.id(),
            Some(DSN.as_bytes().to_vec()),
            Some(sc.bounce_opening.clone()),
        )
        .unwrap();
    let mobile: Bundle = ledger
        .audit_bundle(&sc.mobile.id(), None, Some(sc.mobile_opening.clone()))
        .unwrap();
    let later: CheckpointFile = ledger
        .audit_checkpoint(Some(sc.second_bound), Some(sc.first_bound))
        .unwrap();
    let bv = serde_json::to_value(&bounce).unwrap();
    let mv = serde_json::to_value(&mobile).unwrap();
    let lv = serde_json::to_value(&later).unwrap();
    let mut files = vec![
        (
            "genesis.json".to_string(),
            serde_json::to_value(genesis_file(&g)).unwrap(),
        ),
        ("bounce.json".into(), bv.clone()),
        ("mobile.json".into(), mv.clone()),
        ("later-checkpoint.json".into(), lv.clone()),
    ];
    // (file, description, content, later file, first failing check)
    let mut cases: Vec<(String, String, Option<String>, Option<String>)> = vec![
        (
            "bounce.json".into(),
            "a bounce report with the bounce message: every check passes".into(),
            None,
            None,
        ),
        (
            "mobile.json".into(),
            "a mobile report: every check passes".into(),
            None,
            None,
        ),
        (
            "mobile.json".into(),
            "with the later checkpoint: it is final and its events extend the bundle's".into(),
            Some("later-checkpoint.json".into()),
            None,
        ),
    ];
    let mut tamper = |name: &str, desc: &str, doc: Value, later: Option<&str>, check: &str| {
        files.push((name.to_string(), doc));
        cases.push((
            name.to_string(),
            desc.to_string(),
            later.map(str::to_string),
            Some(check.to_string()),
        ));
    };
    tamper(
        "tampered-penalty.json",
        "one bit of the report's body changed (its signature no longer verifies)",
        flip(&bv, "/penalty/event_hex", 80),
        None,
        "event.penalty",
    );
    let sig_at = hex::decode(bv["listing"]["event_hex"].as_str().unwrap())
        .unwrap()
        .len()
        - 1;
    tamper(
        "tampered-listing-signature.json",
        "the last byte of the contributor's signature on the listing changed",
        flip(&bv, "/listing/event_hex", sig_at),
        None,
        "event.listing",
    );
    tamper(
        "tampered-message.json",
        "one byte of the bounce message changed",
        flip(&bv, "/bounce_message_hex", 700),
        None,
        "evidence.hash",
    );
    tamper(
        "tampered-inclusion.json",
        "one byte of the penalty's audit path changed",
        flip(&bv, "/penalty/path_hex/0", 0),
        None,
        "inclusion.penalty",
    );
    tamper(
        "tampered-balance.json",
        "the contributor's account leaf changed (another balance)",
        flip(&bv, "/contributor_account/leaf_hex", 66),
        None,
        "state.contributor_account",
    );
    tamper(
        "tampered-state-proof.json",
        "one byte of a sibling on the purchase leaf's path in the state tree changed",
        flip(&bv, "/purchase_state/siblings_hex/0", 0),
        None,
        "state.purchase",
    );
    tamper(
        "tampered-checkpoint-signature.json",
        "one byte of an org's checkpoint signature changed",
        flip(&bv, "/checkpoint/signatures_hex/1", 100),
        None,
        "checkpoint.signatures",
    );
    let mut no_quorum = bv.clone();
    no_quorum["checkpoint"]["signatures_hex"]
        .as_array_mut()
        .unwrap()
        .pop();
    tamper(
        "no-quorum.json",
        "one checkpoint signature left out: 2 of 4 orgs is not a quorum",
        no_quorum,
        None,
        "checkpoint.quorum",
    );
    let mut root = bv.clone();
    root["checkpoint"]["claim"]["state_root_hex"] = json!(Hash32::of(b"another state").to_hex());
    tamper(
        "tampered-claim.json",
        "the claim's state root replaced: the signatures are for another claim",
        root,
        None,
        "checkpoint.quorum",
    );
    tamper(
        "tampered-consistency.json",
        "a later checkpoint whose consistency proof was altered",
        flip(&lv, "/consistency/path_hex/0", 5),
        None,
        "later.consistency",
    );
    // The consistency case is checked with mobile.json as the earlier checkpoint.
    if let Some(c) = cases.last_mut() {
        c.0 = "mobile.json".into();
        c.2 = Some("tampered-consistency.json".into());
    }
    let manifest: Vec<Value> = cases
        .iter()
        .map(|(file, desc, later, fail)| {
            json!({
                "file": file,
                "description": desc,
                "later": later,
                "valid": fail.is_none(),
                "first_failure": fail,
            })
        })
        .collect();
    files.push((
        "manifest.json".into(),
        json!({
            "description": "Audit bundles of docs/audit.md, all verified against genesis.json. \
                Each case: the file, an optional later checkpoint file, whether it verifies, \
                and the first check that fails.",
            "genesis": "genesis.json",
            "network_id_hex": g.network_id().to_hex(),
            "cases": manifest,
        }),
    ));
    files
}

#[test]
fn vectors() {
    let dir = vectors_dir();
    let files = generate();
    if testkit::regen_vectors() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, v) in &files {
            std::fs::write(dir.join(name), render(v)).unwrap();
        }
    }
    for (name, v) in &files {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(
            on_disk,
            render(v),
            "{name} differs from the generator; run with CARNET_REGEN_VECTORS=1"
        );
    }
    // Check the files as read from disk.
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let genesis = GenesisFile::parse(&read("genesis.json"))
        .unwrap()
        .open()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    assert_eq!(manifest["network_id_hex"], genesis.network_id().to_hex());
    for case in manifest["cases"].as_array().unwrap() {
        let file = AuditFile::parse(&read(case["file"].as_str().unwrap())).unwrap();
        let later = case["later"]
            .as_str()
            .map(|l| match AuditFile::parse(&read(l)) {
                Ok(AuditFile::Checkpoint(c)) => *c,
                other => panic!("{l}: {other:?}"),
            });
        let r = verify(&file, &genesis, later.as_ref());
        assert_eq!(r.ok(), case["valid"].as_bool().unwrap(), "{case}");
        assert_eq!(
            r.first_failure().map(|c| c.name.as_str()),
            case["first_failure"].as_str(),
            "{case}"
        );
    }
}
