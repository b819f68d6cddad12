//! Trading across organisations, end to end, as people do it: three orgs each run
//! `carnet node run`, their members use the `carnet` command. Members contribute,
//! import, buy across orgs, one bounce and one mobile number get reported, and every
//! node ends with the same balances, each equal to what the rules give by hand.

use crate::carnet;
use carnet_client::api::NodeApi;
use carnet_protocol::PublicKey;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

mod penalty_audit;
mod story;

const DEADLINE: Duration = Duration::from_secs(60);

/// Runs `carnet --json ARGS`, asserts success, returns the JSON it printed.
pub(crate) fn ok(args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = carnet(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "carnet {args:?} failed: {stderr}\n{stdout}"
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("carnet {args:?}: {e}: {stdout}"))
}

/// Runs `carnet ARGS`, asserts failure with a one-line cause, returns it.
fn fails(args: &[&str]) -> String {
    let out = carnet(args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "carnet {args:?} should fail");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    stderr
}

pub(crate) fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A `carnet node run` child, killed when dropped.
pub(crate) struct Node {
    child: Child,
    pub(crate) api: String,
    pub(crate) listen: String,
    pub(crate) org: String,
    pub(crate) dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Node {
    pub(crate) fn start(dir: &Path, bootstrap: Option<&str>) -> Node {
        Self::start_with(dir, bootstrap, None)
    }

    /// With a TOML config file (e.g. fast settlement checkpoints).
    fn start_with(dir: &Path, bootstrap: Option<&str>, config: Option<&Path>) -> Node {
        Self::start_args(dir, bootstrap, config, &[])
    }

    /// With more arguments for `carnet node run`.
    pub(crate) fn start_args(
        dir: &Path,
        bootstrap: Option<&str>,
        config: Option<&Path>,
        extra: &[&str],
    ) -> Node {
        let mut cmd = crate::carnet_command();
        cmd.args(["--json", "node", "run", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .args(["--api", "127.0.0.1:0", "--sync-interval-ms", "500"])
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(b) = bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        cmd.args(extra);
        let mut child = cmd.spawn().expect("start node");
        let stdout = child.stdout.take().expect("stdout");
        let line = BufReader::new(stdout).lines().next();
        let Some(Ok(line)) = line else {
            let _ = child.kill();
            panic!("node did not start");
        };
        let v: Value = serde_json::from_str(&line).expect("ready line");
        Node {
            child,
            api: format!("http://{}", v["api"].as_str().unwrap()),
            listen: v["listen"][0].as_str().unwrap().to_owned(),
            org: v["org"].as_str().unwrap().to_owned(),
            dir: dir.to_owned(),
        }
    }

    fn client(&self) -> NodeApi {
        NodeApi::new(&self.api).unwrap()
    }

    pub(crate) fn balance(&self, key: &str) -> Option<i64> {
        let k = PublicKey::from_hex(key).unwrap();
        self.client().balance(&k).ok().flatten().map(|b| b.balance)
    }

    pub(crate) fn admin<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut v = args.to_vec();
        v.extend([
            "--data-dir",
            self.dir.to_str().unwrap(),
            "--node",
            &self.api,
        ]);
        v
    }
}

pub(crate) const BOUNCE: &str = "From: MAILER-DAEMON@mx.acme.example\r\n\
To: bob@beta.example\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
Message-ID: <bounce-1@mx.acme.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status; boundary=\"BOUNDARY\"\r\n\
\r\n\
--BOUNDARY\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Your message could not be delivered to one or more recipients.\r\n\
\r\n\
--BOUNDARY\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.acme.example\r\n\
Arrival-Date: Mon, 23 Nov 2026 09:59:58 +0000\r\n\
\r\n\
Final-Recipient: rfc822; jane.doe@acme.example\r\n\
Action: failed\r\n\
Status: {STATUS}\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <jane.doe@acme.example>: Recipient address rejected\r\n\
\r\n\
--BOUNDARY--\r\n";
