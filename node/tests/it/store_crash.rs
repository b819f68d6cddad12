//! Crash safety of the event store: a writer killed with SIGKILL at any point must
//! leave a store that opens, loads and still holds every batch it acknowledged.
//!
//! The test re-executes its own binary as the writer, so the kill hits a real process
//! in the middle of real commits, not a simulated failure.

use carnet_node::store::Store;
use carnet_protocol::author::Author;
use carnet_protocol::payload::{Grant, Payload};
use carnet_protocol::{ContentId, Hash32, NetworkId, SecretKey, SignedEvent};
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Set (to the store path) in the writer child; its absence makes the test the parent.
const CHILD_ENV: &str = "CARNET_STORE_CRASH_CHILD";
/// Which round the child writes: picks its author key, so rounds do not collide.
const ROUND_ENV: &str = "CARNET_STORE_CRASH_ROUND";
/// This test's name, for `--exact` when re-executing the binary.
const TEST_NAME: &str = "store_crash::writer_killed_mid_write_keeps_every_acked_batch";
const BATCH: usize = 25;
/// Acked batches to wait for before the kill, one number per round.
const KILL_AFTER: [u64; 3] = [3, 7, 12];
/// The child stops by itself after this long, should the parent be gone.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);

fn network() -> NetworkId {
    Hash32::of(b"store crash test network")
}

fn author(round: u64) -> Author {
    let mut seed = [0x40; 32];
    seed[..8].copy_from_slice(&round.to_le_bytes());
    Author::new(SecretKey::from_seed(seed), network())
}

/// The next batch of `author`'s chain; the same calls give the same events.
fn next_batch(author: &mut Author, batch: u64) -> Vec<SignedEvent> {
    let member = SecretKey::from_seed([0x41; 32]).public();
    (0..BATCH as u64)
        .map(|i| {
            let n = batch * BATCH as u64 + i;
            author
                .sign(
                    Payload::Grant(Grant {
                        member,
                        points: 1 + n % 100,
                        memo: format!("crash test event {n}"),
                    }),
                    vec![],
                    0,
                    1_700_000_000_000 + n,
                )
                .expect("test events are valid")
        })
        .collect()
}

/// This test binary run again as a child writing to `path`, running only `test`
/// (which takes the child's part when it finds [`CHILD_ENV`] set), with `var` set
/// too; and its standard output.
fn spawn_child(
    test: &str,
    path: &Path,
    var: (&str, &str),
) -> (std::process::Child, std::process::ChildStdout) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, path)
        .env(var.0, var.1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("piped stdout");
    (child, stdout)
}

/// The ids of the first `batches` batches written in `round`.
fn acked_ids(round: u64, batches: u64) -> Vec<ContentId> {
    let mut a = author(round);
    (0..batches)
        .flat_map(|b| next_batch(&mut a, b))
        .map(|e| e.id())
        .collect()
}

/// The writer: appends batches and reports each one only after its commit returned.
fn run_child(path: &Path, round: u64) {
    let store = Store::open(path, network()).expect("child opens the store");
    let mut a = author(round);
    let started = Instant::now();
    let mut out = std::io::stdout();
    let mut batch = 0;
    while started.elapsed() < CHILD_LIFETIME {
        store
            .put_events(&next_batch(&mut a, batch))
            .expect("child writes a batch");
        batch += 1;
        writeln!(out, "acked {batch}").expect("stdout");
        out.flush().expect("stdout");
    }
}

/// Runs one writer until it acked at least `kill_after` batches, kills it with SIGKILL
/// and returns how many batches it acked in all.
fn write_and_kill(path: &Path, round: u64, kill_after: u64) -> u64 {
    let (mut child, stdout) = spawn_child(TEST_NAME, path, (ROUND_ENV, &round.to_string()));
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                let n: u64 = n.trim().parse().expect("acked count");
                if tx.send(n).is_err() {
                    break;
                }
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut acked = 0;
    while acked < kill_after {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(n) => acked = acked.max(n),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("round {round}: writer acked {acked} batches, then {e:?}");
            }
        }
    }
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().expect("reap the writer");
    assert!(!status.success(), "the writer was killed, not finished");
    // Lines the writer printed before it died are acks too.
    reader.join().expect("reader thread");
    while let Ok(n) = rx.try_recv() {
        acked = acked.max(n);
    }
    acked
}

#[test]
fn writer_killed_mid_write_keeps_every_acked_batch() {
    if std::env::var_os(SETTLE_ENV).is_some() {
        return;
    }
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let round = std::env::var(ROUND_ENV)
            .ok()
            .and_then(|r| r.parse().ok())
            .expect("round number");
        run_child(&PathBuf::from(path), round);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("events.redb");
    let mut expected: Vec<ContentId> = Vec::new();
    for (round, kill_after) in KILL_AFTER.iter().enumerate() {
        let round = round as u64;
        let acked = write_and_kill(&path, round, *kill_after);
        expected.extend(acked_ids(round, acked));

        let store = Store::open(&path, network()).expect("store opens after the kill");
        let loaded = store
            .load_events(&network())
            .expect("every stored event loads after the kill");
        let have: HashSet<ContentId> = loaded.iter().map(SignedEvent::id).collect();
        let lost = expected.iter().filter(|id| !have.contains(id)).count();
        assert_eq!(lost, 0, "round {round}: {lost} acked events lost");
        assert_eq!(store.event_count().expect("count") as usize, loaded.len());
        // Whole batches only: a commit is all or nothing.
        assert_eq!(loaded.len() % BATCH, 0, "round {round}: a partial batch");
        eprintln!(
            "round {round}: killed after {acked} acked batches; {} events stored, {} acked",
            loaded.len(),
            expected.len()
        );
    }
}

/// Set in the settling child: "settle" or "write", what it does before it waits.
const SETTLE_ENV: &str = "CARNET_STORE_SETTLE_CHILD";
const SETTLE_TEST: &str =
    "store_crash::a_store_settled_before_a_kill_opens_without_checking_the_whole_file";

/// Writes a batch, settles the store if told to, says "ready", and waits to be killed.
fn run_settling_child(path: &Path, settle: bool) {
    let store = Store::open(path, network()).expect("child opens the store");
    store
        .put_events(&next_batch(&mut author(9), 0))
        .expect("child writes a batch");
    if settle {
        assert!(store.settle().expect("child settles"), "a write to settle");
        assert!(
            !store.settle().expect("child settles"),
            "nothing new to settle"
        );
    }
    println!("ready");
    std::thread::sleep(CHILD_LIFETIME);
}

/// Issue 19: after a kill, redb checks the whole store file before it opens it (1 s
/// a GB) unless the last commit saved its allocator state, which `Store::settle`
/// does. The node settles once a second while it writes.
#[test]
fn a_store_settled_before_a_kill_opens_without_checking_the_whole_file() {
    if let (Some(path), Ok(what)) = (std::env::var_os(CHILD_ENV), std::env::var(SETTLE_ENV)) {
        run_settling_child(&PathBuf::from(path), what == "settle");
        return;
    }
    for settle in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("events.redb");
        let what = if settle { "settle" } else { "write" };
        let (mut child, stdout) = spawn_child(SETTLE_TEST, &path, (SETTLE_ENV, what));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // After the harness's "test … ... " on the same line.
                if line.ends_with("ready") && tx.send(()).is_err() {
                    break;
                }
            }
        });
        let ready = rx.recv_timeout(Duration::from_secs(20));
        child.kill().expect("SIGKILL the writer");
        child.wait().expect("reap the writer");
        ready.expect("the writer got ready");

        let store = Store::open(&path, network()).expect("store opens after the kill");
        assert_eq!(store.repaired(), !settle, "settled: {settle}");
        assert_eq!(store.event_count().expect("count") as usize, BATCH);
        drop(store);
        // Closed cleanly this time: the next open checks nothing.
        let store = Store::open(&path, network()).expect("store opens again");
        assert!(!store.repaired());
    }
}
