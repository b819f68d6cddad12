//! README.md's tour, run as written: its shell block, extracted from the README, runs
//! in an empty directory with this build's `carnet` first on the PATH. Three nodes on
//! the ports the README names, an admission vote, a trade, a bounce report,
//! settlement and an offline audit: if a command or a flag the README shows changes,
//! this fails.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The mark the block follows in README.md.
const MARK: &str = "<!-- tour: run as written by cli/tests/it/readme_tour.rs -->";
/// The tour waits 120 s at most for settlement; the rest takes seconds.
const DEADLINE: Duration = Duration::from_secs(240);

/// The shell block after the mark.
fn tour() -> String {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let after = &text[text.find(MARK).expect("the tour's mark in README.md")..];
    let start = after.find("```sh\n").expect("a ```sh block after the mark") + 6;
    let len = after[start..].find("```\n").expect("the end of the block");
    after[start..start + len].to_owned()
}

/// Kills what is left of the tour's process group (its nodes, on a failure) on drop.
struct Group(i32);

impl Drop for Group {
    fn drop(&mut self) {
        // SAFETY: kill(2) with a negative pid signals that process group; it touches
        // no memory of ours.
        unsafe {
            libc::kill(-self.0, libc::SIGKILL);
        }
    }
}

#[test]
fn the_readme_tour_runs_as_written() {
    let script = tour();
    for port in [4710, 4711, 4720, 4721, 4730, 4731] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port}, which the README's tour uses, is taken: stop what listens there"
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tour.sh"), &script).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_carnet")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = tmp.path().join("out.txt");
    let err = tmp.path().join("err.txt");
    let mut cmd = Command::new("bash");
    cmd.arg("tour.sh")
        .current_dir(tmp.path())
        .env("PATH", path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .process_group(0);
    crate::clean_env(&mut cmd);
    let mut child = cmd.spawn().expect("bash");
    let _group = Group(child.id() as i32);
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > end {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let logs: String = ["alpha", "beta", "gamma"]
        .iter()
        .map(|n| {
            let log = std::fs::read_to_string(tmp.path().join(format!("{n}.log")));
            format!("--- {n}.log\n{}\n", log.unwrap_or_default())
        })
        .collect();
    let context = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}\n{logs}");
    let Some(status) = status else {
        panic!("the tour did not finish within {DEADLINE:?}\n{context}");
    };
    assert!(status.success(), "the tour failed ({status})\n{context}");

    // What the tour says it shows, it shows.
    assert!(stdout.contains("is now an org of the network"), "{context}");
    assert!(
        stdout.contains("email   jane.doe@acme.example"),
        "{context}"
    );
    assert!(stdout.contains("BouncePenalty"), "{context}");
    for check in ["evidence.dsn", "checkpoint.quorum", "opening"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("pass") && l.contains(check)),
            "{check} not passed\n{context}"
        );
    }
    assert!(stdout.contains("verified: every check passed"), "{context}");
    // The nodes were stopped by the tour itself, each saving its snapshot.
    for n in ["alpha", "beta", "gamma"] {
        assert!(
            tmp.path().join(n).join("events.snapshot").exists(),
            "{n} saved no snapshot\n{context}"
        );
    }
}
