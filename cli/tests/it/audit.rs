//! `carnet audit` as an auditor and an operator run it, on docs/test-vectors/audit/.

use std::path::PathBuf;
use std::process::Output;

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors/audit")
}

fn carnet(args: &[&str]) -> Output {
    crate::carnet_command()
        .current_dir(vectors())
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn verify_passes_valid_bundles_and_names_the_broken_link() {
    let out = carnet(&[
        "audit",
        "verify",
        "bounce.json",
        "--genesis",
        "genesis.json",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("pass  evidence.dsn"), "{text}");
    assert!(text.contains("verified: every check passed"), "{text}");

    let out = carnet(&[
        "audit",
        "verify",
        "mobile.json",
        "--genesis",
        "genesis.json",
        "--later",
        "later-checkpoint.json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(vectors().join("manifest.json")).unwrap()).unwrap();
    for case in manifest["cases"].as_array().unwrap() {
        let Some(check) = case["first_failure"].as_str() else {
            continue;
        };
        let mut args = vec![
            "--json",
            "audit",
            "verify",
            case["file"].as_str().unwrap(),
            "--genesis",
            "genesis.json",
        ];
        if let Some(l) = case["later"].as_str() {
            args.extend(["--later", l]);
        }
        let out = carnet(&args);
        assert!(!out.status.success(), "{case}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["first_failure"], check, "{case}");
    }
}

#[test]
fn unreadable_inputs_are_clear_errors() {
    let out = carnet(&[
        "audit",
        "verify",
        "genesis.json",
        "--genesis",
        "genesis.json",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("genesis.json"), "{err}");
    let out = carnet(&["audit", "verify", "bounce.json", "--genesis", "bounce.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a genesis file"));
}

#[test]
fn genesis_export_is_what_an_auditor_pins() {
    let dir = tempfile::tempdir().unwrap();
    let key = carnet_protocol::testkit::org_key(0);
    let g = carnet_protocol::testkit::genesis(
        "audit cli",
        std::slice::from_ref(&key),
        Default::default(),
        1,
    );
    carnet_node::datadir::DataDir::create(&dir.path().join("data"), &key, &g).unwrap();
    let out_path = dir.path().join("genesis.json");
    let out = crate::carnet_command()
        .args(["audit", "genesis", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(&out_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file =
        carnet_client::audit::GenesisFile::parse(&std::fs::read(&out_path).unwrap()).unwrap();
    assert_eq!(file.open().unwrap(), g);
    assert_eq!(file.network_id_hex, g.network_id());
}
