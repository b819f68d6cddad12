//! `carnet contact import` interrupted, as it is in real life: Ctrl-C, or the node
//! going away. A rerun resumes; every card the node listed is in the member's card
//! book, none is listed or rewarded twice.

use crate::node_run::{start, stop};
use crate::{carnet, carnet_command};
use carnet_client::api::NodeApi;
use carnet_client::cardbook::CardBook;
use carnet_protocol::PublicKey;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const ROWS: usize = 240;
/// What one card earns its contributor, pending until it vests.
const REWARD: i64 = 10;

fn csv(dir: &Path) -> String {
    let mut text = String::from("name,title,company,email\n");
    for i in 0..ROWS {
        text.push_str(&format!(
            "Person {i},Buyer,Importco,p{i}@importco.example\n"
        ));
    }
    let path = dir.join("contacts.csv");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// A member of the node whose data directory is `data`, and its public key.
fn member(data: &str, dir: &Path) -> (String, PublicKey) {
    let key = dir.join("m.key").to_str().unwrap().to_owned();
    let out = carnet(&[
        "--json",
        "member",
        "new",
        "mia",
        "--out",
        &key,
        "--data-dir",
        data,
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pk = PublicKey::from_hex(v["member"].as_str().unwrap()).unwrap();
    (key, pk)
}

fn book_len(key: &str) -> usize {
    std::fs::read_to_string(format!("{key}.cards"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Starts the import in the background.
fn importing(key: &str, file: &str, node: &str) -> Child {
    carnet_command()
        .args(["contact", "import", file, "--key", key, "--node", node])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until the card book holds `n` lines, or the import ended.
fn until_book_holds(key: &str, n: usize, import: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while book_len(key) < n && import.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the import made no progress");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The import ran to its end: every row imported now or before, nothing else.
fn finish(key: &str, file: &str, node: &str) -> serde_json::Value {
    let out = carnet(&[
        "--json", "contact", "import", file, "--key", key, "--node", node,
    ]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let done = v["accepted"].as_u64().unwrap() + v["already_imported"].as_u64().unwrap();
    assert_eq!(done, ROWS as u64, "{v}");
    assert_eq!(v["duplicate"], 0, "{v}");
    assert_eq!(v["rejected"], serde_json::json!([]), "{v}");
    v
}

/// Every listing the node holds for the member is in its card book, once, and the
/// member earned exactly one reward per card.
fn no_orphan_no_double_reward(key: &str, member: &PublicKey, node: &str) {
    let book = CardBook::new(Path::new(key)).load().unwrap();
    let emails: BTreeSet<String> = book.iter().map(|(_, c)| c.email.value.clone()).collect();
    assert_eq!((book.len(), emails.len()), (ROWS, ROWS));
    let in_book: BTreeSet<String> = book.iter().map(|(id, _)| id.to_hex()).collect();
    let api = NodeApi::new(node).unwrap();
    let listed: BTreeSet<String> = api
        .search(&carnet_api::SearchQuery {
            company: Some("Importco".into()),
            limit: Some(500),
            ..Default::default()
        })
        .unwrap()
        .listings
        .into_iter()
        .map(|l| l.id)
        .collect();
    let orphans: Vec<_> = listed.difference(&in_book).collect();
    let unlisted: Vec<_> = in_book.difference(&listed).collect();
    assert!(
        orphans.is_empty() && unlisted.is_empty(),
        "listed but not in the card book: {orphans:?}; in the book, not listed: {unlisted:?}"
    );
    let balance = api.balance(member).unwrap().unwrap();
    assert_eq!(balance.pending, ROWS as i64 * REWARD, "{balance:?}");
}

/// A node of one org, a member of it, and the CSV to import.
struct Setup {
    dir: tempfile::TempDir,
    data: std::path::PathBuf,
    node: Child,
    api: String,
    key: String,
    pk: PublicKey,
    file: String,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, ready) = start(&data, &["--org", "Importco Trading"]);
    let api = format!("http://{}", ready["api"].as_str().unwrap());
    let (key, pk) = member(data.to_str().unwrap(), dir.path());
    let file = csv(dir.path());
    Setup {
        dir,
        data,
        node,
        api,
        key,
        pk,
        file,
    }
}

#[test]
fn an_import_stopped_twice_by_ctrl_c_resumes_with_no_orphan_and_no_double_reward() {
    let Setup {
        dir: _dir,
        data: _,
        node,
        api,
        key,
        pk,
        file,
    } = setup();
    for at in [ROWS / 5, ROWS / 2] {
        let mut import = importing(&key, &file, &api);
        until_book_holds(&key, at, &mut import);
        // SIGINT, as Ctrl-C sends it: the process dies wherever it is.
        std::process::Command::new("kill")
            .args(["-INT", &import.id().to_string()])
            .status()
            .unwrap();
        let _ = import.wait();
    }
    let v = finish(&key, &file, &api);
    assert!(
        v["already_imported"].as_u64().unwrap() > (ROWS / 4) as u64,
        "{v}"
    );
    no_orphan_no_double_reward(&key, &pk, &api);
    // Run once more, for people: one summary line, the skips counted by reason.
    let out = carnet(&["contact", "import", &file, "--key", &key, "--node", &api]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        said.lines().next(),
        Some(format!("{file}: 0 accepted, {ROWS} skipped ({ROWS} already imported)").as_str()),
        "{said}"
    );
    stop(node, "-TERM");
}

#[test]
fn an_import_stops_at_the_first_lost_connection_with_one_line_and_resumes() {
    let Setup {
        dir: _dir,
        data,
        node,
        api,
        key,
        pk,
        file,
    } = setup();
    let mut import = importing(&key, &file, &api);
    until_book_holds(&key, ROWS / 4, &mut import);
    stop(node, "-KILL");
    let out = import.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("stopped at line") && stderr.contains("Run the same command again"),
        "{stderr}"
    );
    assert!(stderr.contains("reach the node"), "{stderr}");

    let (node, ready) = start(&data, &[]);
    let api = format!("http://{}", ready["api"].as_str().unwrap());
    finish(&key, &file, &api);
    no_orphan_no_double_reward(&key, &pk, &api);
    stop(node, "-TERM");
}
