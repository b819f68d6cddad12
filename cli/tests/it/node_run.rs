//! `carnet node run` as a user runs it: start, read the ready line, stop with a signal.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// Starts `carnet --json node run` and returns it with its parsed ready line.
pub(crate) fn start(dir: &Path, extra: &[&str]) -> (Child, serde_json::Value) {
    let mut child = crate::carnet_command()
        .args(["--json", "node", "run"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // The ready line is the first thing printed; a dead node closes stdout instead.
    let line = BufReader::new(stdout).lines().next();
    let line = match line {
        Some(Ok(l)) => l,
        other => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no ready line: {other:?}");
        }
    };
    (child, serde_json::from_str(&line).unwrap())
}

/// Sends `signal` until the node exits, bounded by a deadline; kills it past that.
pub(crate) fn stop(mut child: Child, signal: &str) -> ExitStatus {
    let pid = child.id().to_string();
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        Command::new("kill").args([signal, &pid]).status().unwrap();
        let wait_until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < wait_until {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("node did not stop on {signal}");
}

#[test]
fn node_starts_reports_identity_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, v) = start(dir.path(), &["--org", "Acme"]);
    let mut stderr = child.stderr.take().unwrap();
    assert_eq!(v["status"], "ready");
    assert_eq!(v["org"].as_str().unwrap().len(), 64);
    assert_eq!(v["network"].as_str().unwrap().len(), 64);
    assert!(dir.path().join("org.key").exists());
    assert!(dir.path().join("genesis.bin").exists());
    assert!(stop(child, "-INT").success());
    // Logs written to a pipe or a file are plain text: no terminal colour codes.
    let mut logs = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut logs).unwrap();
    assert!(logs.contains("INFO"), "{logs}");
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in the log: {logs:?}"
    );

    // A second run keeps the same identity, and SIGTERM stops it cleanly too.
    let (child, again) = start(dir.path(), &[]);
    assert_eq!(again["org"], v["org"]);
    assert_eq!(again["network"], v["network"]);
    assert!(stop(child, "-TERM").success());
}

#[test]
fn bad_data_dir_is_a_one_line_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("org.key"), "garbage").unwrap();
    let out = crate::carnet_command()
        .args(["node", "run", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("not a key file"), "{err}");
}

/// A second node on a data directory in use says so in one line, with the pid of the
/// one running, instead of redb's lock error three times over.
#[test]
fn a_second_node_on_the_same_data_directory_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let (child, _) = start(dir.path(), &["--org", "Acme"]);
    let out = crate::carnet_command()
        .args([
            "node",
            "run",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let pid = child.id();
    assert!(stop(child, "-TERM").success());
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!(
            "a node is already running on {}",
            dir.path().display()
        )),
        "{err}"
    );
    assert!(err.contains(&format!("(pid {pid})")), "{err}");
    assert_eq!(
        err.matches("in use").count() + err.matches("lock").count(),
        0,
        "{err}"
    );
}
