//! Crash safety: a node killed with SIGKILL at any point loses no acknowledged event,
//! and what it reopens is a ledger a clean replay of its own events reproduces.
//!
//! The node runs in a child process: this test binary re-executed with [`CHILD_ENV`]
//! set, running only [`crash_child_node`], which launches a node on the data directory
//! the parent made and prints `ready <api addr>`. The parent talks to it over the real
//! HTTP API only, and kills it while members are submitting as fast as they can.
#![cfg(unix)]

use carnet_node::config::NodeConfig;
use carnet_node::datadir::DataDir;
use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::ledger::{Inserted, Ledger};
use carnet_protocol::payload::{EmployeeRange, RevenueRange, Vote};
use carnet_protocol::testkit::{self, seed};
use carnet_protocol::{ContentId, Hash32, NetworkId, Payload, PublicKey, SecretKey, SignedEvent};
use carnet_tests::http;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Set in the child's environment to the data directory it must run on.
const CHILD_ENV: &str = "CARNET_CRASH_TEST_CHILD_DIR";
/// Set in the child's environment when its org signs checkpoints, which finalize
/// (one org is a quorum): kills then land around finalizations, the records of the
/// finalized events and starts from them.
const SETTLE_ENV: &str = "CARNET_CRASH_TEST_SETTLE";
/// Set in the child's environment to a node configuration file to run instead (the
/// catch-up test's node, which joins a network of two).
const CONFIG_ENV: &str = "CARNET_CRASH_TEST_CHILD_CONFIG";
/// The test the child runs (by exact name).
const CHILD_TEST: &str = "crash::crash_child_node";
/// How long any one condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(10);
/// Event timestamps (the same for every event: a chain's time may not go backwards).
const TIMESTAMP_MS: u64 = 1_700_000_100_000;
/// Acknowledged member events after which each round kills the node.
const KILL_AFTER: [usize; 3] = [5, 40, 150];
/// Members submitting concurrently.
const MEMBERS: usize = 4;

fn node_config(dir: &Path, settle: bool) -> NodeConfig {
    NodeConfig {
        data_dir: Some(dir.to_owned()),
        org_name: "Crash Org".into(),
        listen: vec![carnet_tests::LOOPBACK_TCP.into()],
        api: "127.0.0.1:0".into(),
        bootstrap: Vec::new(),
        sync_interval_ms: 300,
        // Without `settle` no checkpoint is signed: the org chain holds enrollments
        // only, and a clean stop leaves nothing to fold again.
        checkpoint_interval_ms: if settle { 100 } else { 3_600_000 },
        checkpoint_stride: 1_000_000,
        // Ledger snapshots every few events, so kills also land during and after saves.
        snapshot_min_events: 8,
        log: "warn".into(),
        ..NodeConfig::default()
    }
}

/// The node process. Without [`CHILD_ENV`] (an ordinary test run) it does nothing.
/// It runs until its stdin closes, so it never outlives the parent test.
#[test]
fn crash_child_node() {
    let config = match (std::env::var_os(CHILD_ENV), std::env::var_os(CONFIG_ENV)) {
        (_, Some(file)) => NodeConfig::from_file(Path::new(&file)).expect("a node configuration"),
        (Some(dir), None) => node_config(Path::new(&dir), std::env::var_os(SETTLE_ENV).is_some()),
        (None, None) => return,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let node = carnet_node::run::launch(&config)
            .await
            .expect("node starts on the crashed data directory");
        println!("ready {}", node.api_addr);
        tokio::task::spawn_blocking(|| {
            let mut stdin = std::io::stdin();
            let mut buf = [0u8; 64];
            while !matches!(stdin.read(&mut buf), Ok(0) | Err(_)) {}
        })
        .await
        .unwrap();
        node.stop().await;
    });
}

/// A node child process; dropping it kills and reaps it, on every path.
struct NodeProcess {
    child: std::process::Child,
    api: SocketAddr,
    started_in: Duration,
}

impl NodeProcess {
    fn spawn(dir: &Path, settle: bool) -> NodeProcess {
        let mut command = Command::new(std::env::current_exe().unwrap());
        if settle {
            command.env(SETTLE_ENV, "1");
        }
        command.env(CHILD_ENV, dir);
        Self::spawn_with(command)
    }

    /// A node run on the configuration in `file`.
    fn spawn_config(file: &Path) -> NodeProcess {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command.env(CONFIG_ENV, file);
        Self::spawn_with(command)
    }

    fn spawn_with(mut command: Command) -> NodeProcess {
        let t0 = Instant::now();
        let mut child = command
            .args(["--exact", CHILD_TEST, "--nocapture", "--test-threads=1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut node = NodeProcess {
            child,
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            started_in: Duration::ZERO,
        };
        // The harness prints its own lines too; keep draining so the child never
        // blocks on a full pipe. A child that dies closes stdout and the channel.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // The harness may print "test crash_child_node ... " first, unterminated.
                if let Some((_, addr)) = line.split_once("ready ") {
                    let _ = tx.send(addr.trim().to_owned());
                }
            }
        });
        let ready = tokio::task::block_in_place(|| rx.recv_timeout(DEADLINE));
        match ready {
            Ok(addr) => node.api = addr.parse().unwrap(),
            Err(e) => {
                let status = node.child.try_wait();
                panic!("node did not start ({e}); child status {status:?}");
            }
        }
        node.started_in = t0.elapsed();
        node
    }

    /// A clean stop: closing stdin makes the child stop its node, which saves a ledger
    /// snapshot on the way out.
    fn stop(mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "node stopped with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "node did not stop in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL, then reap.
    fn kill(&mut self) {
        self.child.kill().unwrap();
        let status = self.child.wait().unwrap();
        // Signal 9 and nothing else: a node that died by itself would fail here.
        assert_eq!(status.signal(), Some(9), "node exited with {status}");
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------
// Answers

/// GET that must answer 200 (the node is up while this is called).
async fn get_ok(addr: SocketAddr, path: &str) -> String {
    let (status, body) = http(addr, "GET", path, None, None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// The string `key` of a JSON object answer.
fn field(json: &str, key: &str) -> Option<String> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    v[key].as_str().map(str::to_owned)
}

/// The number `key` of a JSON object answer.
fn num(json: &str, key: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("no number {key} in {json}"))
}

// ---------------------------------------------------------------------------------
// Submissions

/// An event the node answered 200 for; `bytes` when we signed it ourselves.
#[derive(Clone)]
struct Acked {
    id: ContentId,
    bytes: Option<Vec<u8>>,
}

/// Everything acknowledged so far, shared by the submitters; `count` wakes the killer.
struct Acks {
    list: Mutex<Vec<Acked>>,
    count: watch::Sender<usize>,
}

impl Acks {
    fn push(&self, a: Acked) {
        self.list.lock().unwrap().push(a);
        self.count.send_modify(|n| *n += 1);
    }

    fn snapshot(&self) -> Vec<Acked> {
        self.list.lock().unwrap().clone()
    }
}

/// Why a submitter stopped.
#[derive(Debug)]
enum Stop {
    /// The connection failed: expected once the node is killed. Carries the event
    /// that was in flight (signed and sent, never answered), if any.
    Transport(std::io::Error, Option<ContentId>),
    /// The node answered something other than an acceptance: always a failure.
    Refused(String),
}

/// The author's next event position, from `GET /v1/accounts/{key}/chain`.
async fn chain(addr: SocketAddr, key: &PublicKey) -> std::io::Result<(u16, String)> {
    http(
        addr,
        "GET",
        &format!("/v1/accounts/{}/chain", key.to_hex()),
        None,
        None,
    )
    .await
}

/// Signs and submits `member`'s next vote, one at a time, until something fails.
/// Each event resumes from the node's chain head, so the submitter is correct whether
/// the event in flight at the previous kill was persisted or not.
async fn submit_forever(
    addr: SocketAddr,
    network: NetworkId,
    member: (usize, SecretKey),
    acks: Arc<Acks>,
) -> Stop {
    let (m, key) = member;
    loop {
        let body = match chain(addr, &key.public()).await {
            Ok((200, body)) => body,
            Ok((status, body)) => return Stop::Refused(format!("chain {status}: {body}")),
            Err(e) => return Stop::Transport(e, None),
        };
        let next_seq = num(&body, "next_seq");
        let clock = num(&body, "clock");
        let head = field(&body, "prev").map(|prev| AuthorHead {
            seq: next_seq - 1,
            id: Hash32::from_hex(&prev).unwrap(),
            lamport: 0,
            timestamp_ms: TIMESTAMP_MS,
        });
        let intro = field(&body, "introduction").map(|id| Hash32::from_hex(&id).unwrap());
        let mut author = Author::resume(key.clone(), network, head).introduced_by(intro);
        // One vote per (member, domain): the seq makes every domain new.
        let vote = Payload::Vote(Vote {
            company_domain: format!("m{m}-s{next_seq}.example"),
            employees: EmployeeRange::From11To50,
            revenue: RevenueRange::Under1M,
        });
        let ev = author.sign(vote, vec![], clock, TIMESTAMP_MS).unwrap();
        let json = format!("{{\"event_hex\":\"{}\"}}", hex::encode(ev.as_bytes()));
        match http(addr, "POST", "/v1/events", None, Some(&json)).await {
            Ok((200, body)) => {
                acks.push(Acked {
                    id: ev.id(),
                    bytes: Some(ev.as_bytes().to_vec()),
                });
                let id = ev.id().to_hex();
                if !body.contains("\"ordered\"") || !body.contains(&id) {
                    return Stop::Refused(format!("accepted but not ordered: {body}"));
                }
            }
            Ok((status, body)) => return Stop::Refused(format!("submit {status}: {body}")),
            Err(e) => return Stop::Transport(e, Some(ev.id())),
        }
    }
}

// ---------------------------------------------------------------------------------
// Checks after a restart

/// Every event of `author`'s chain, walked back from its head over the API.
async fn chain_events(
    addr: SocketAddr,
    network: &NetworkId,
    author: &PublicKey,
) -> Vec<SignedEvent> {
    let (status, body) = chain(addr, author).await.unwrap();
    assert_eq!(status, 200, "{body}");
    let mut next = field(&body, "prev")
        .filter(|p| *p != "null")
        .map(|p| Hash32::from_hex(&p).unwrap());
    let mut out = Vec::new();
    while let Some(id) = next {
        let body = get_ok(addr, &format!("/v1/events/{}", id.to_hex())).await;
        let ev = SignedEvent::decode(
            &hex::decode(field(&body, "event_hex").unwrap()).unwrap(),
            network,
        )
        .unwrap_or_else(|e| panic!("stored event {id} does not decode: {e}"));
        assert_eq!(ev.id(), id, "event served under another id");
        next = ev.body().prev;
        out.push(ev);
    }
    assert_eq!(
        out.len() as u64,
        num(&body, "next_seq"),
        "chain of {author} has a gap"
    );
    out
}

/// What a restarted node must show: it answers, holds every acknowledged event byte
/// for byte, and its state is exactly what a clean replay of its events gives.
async fn check_restarted(
    node: &NodeProcess,
    genesis: &Genesis,
    authors: &[PublicKey],
    acked: &[Acked],
) -> u64 {
    let addr = node.api;
    let network = genesis.network_id();
    // An org that settles signs while the node is read: the checks hold for a window
    // in which its event count did not move.
    let deadline = Instant::now() + DEADLINE;
    loop {
        let status = get_ok(addr, "/v1/status").await;
        let events = num(&status, "events");
        let all = all_chains(addr, &network, authors).await;
        let again = get_ok(addr, "/v1/status").await;
        if num(&again, "events") == events && all.len() as u64 == events {
            return check_quiet(addr, genesis, acked, &status, all).await;
        }
        assert!(Instant::now() < deadline, "the node never stopped signing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every event of the chains of `authors`.
async fn all_chains(
    addr: SocketAddr,
    network: &NetworkId,
    authors: &[PublicKey],
) -> Vec<SignedEvent> {
    let mut all = Vec::new();
    for author in authors {
        all.extend(chain_events(addr, network, author).await);
    }
    all
}

/// [`check_restarted`] once `status` and `all` were read with no event ordered
/// between them.
async fn check_quiet(
    addr: SocketAddr,
    genesis: &Genesis,
    acked: &[Acked],
    status: &str,
    mut all: Vec<SignedEvent>,
) -> u64 {
    let events = num(status, "events");
    assert!(
        events >= acked.len() as u64,
        "{events} events after restart, {} acknowledged",
        acked.len()
    );
    assert_eq!(num(status, "pending"), 0, "{status}");
    for a in acked {
        let body = get_ok(addr, &format!("/v1/events/{}", a.id.to_hex())).await;
        if let Some(bytes) = &a.bytes {
            assert_eq!(
                field(&body, "event_hex"),
                Some(hex::encode(bytes)),
                "acknowledged event {} changed",
                a.id
            );
        }
    }
    // The ledger is the chains of its authors and nothing else; replaying them from
    // scratch gives the same count and the same state root.
    let ids: HashSet<ContentId> = all.iter().map(SignedEvent::id).collect();
    for a in acked {
        assert!(
            ids.contains(&a.id),
            "acknowledged {} is not in its chain",
            a.id
        );
    }
    assert_eq!(all.len() as u64, events, "events outside the known chains");
    all.sort_by_key(|e| (e.lamport(), e.id()));
    let mut replay = Ledger::new(genesis.clone());
    for ev in all {
        let ins = replay.insert(ev).expect("stored event replays");
        assert_eq!(ins.inserted, Inserted::Ordered);
        assert!(ins.dropped.is_empty());
    }
    assert_eq!(
        field(status, "state_root"),
        Some(replay.state_root().to_hex()),
        "state root after restart differs from a clean replay"
    );
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_event_and_never_corrupts_state() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    kill_and_restart(false).await;
}

/// The same while the org finalizes checkpoints: kills land between storing events,
/// recording what was finalized and saving snapshots, and the restarts start from
/// the snapshot and the records (issue 19), with the state a clean replay gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_settling_never_corrupts_state() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    kill_and_restart(true).await;
}

/// What the node's start did: (events read, whether from the records), from its
/// metrics.
async fn started(addr: SocketAddr) -> (u64, bool) {
    let body = get_ok(addr, "/metrics").await;
    let read = carnet_tests::metric(&body, "start_events_read ").expect("start_events_read");
    let from = carnet_tests::metric(&body, "start_from_records ").expect("start_from_records");
    (read as u64, from == 1.0)
}

/// The finalized bound the node reports, once it reports one above `above`.
async fn finalized_above(addr: SocketAddr, above: u64) -> u64 {
    carnet_tests::wait_for("a claim finalized", || async move {
        let status = get_ok(addr, "/v1/status").await;
        let v: serde_json::Value = serde_json::from_str(&status).ok()?;
        v["finalized_bound"].as_u64().filter(|b| *b > above)
    })
    .await
}

/// Rounds of members submitting and a SIGKILL, each restart checked against a clean
/// replay; then a clean stop and a last restart. With `settle` the org finalizes
/// claims as the members submit, and each kill comes once one more is final.
async fn kill_and_restart(settle: bool) {
    let t0 = Instant::now();
    let org_key = testkit::key("crash org", 0);
    let genesis = testkit::genesis(
        "crash",
        std::slice::from_ref(&org_key),
        Rules::default(),
        testkit::T0,
    );
    let network = genesis.network_id();
    let tmp = tempfile::tempdir().unwrap();
    let dir = DataDir::create(tmp.path(), &org_key, &genesis).unwrap();
    let token = carnet_node::run::admin_token(&dir);
    let members: Vec<SecretKey> = (0..MEMBERS)
        .map(|i| SecretKey::from_seed(seed("crash member", i)))
        .collect();
    let mut authors = vec![org_key.public()];
    authors.extend(members.iter().map(SecretKey::public));
    let (count, _) = watch::channel(0);
    let acks = Arc::new(Acks {
        list: Mutex::new(Vec::new()),
        count,
    });
    // In-flight events at each kill: were they persisted anyway? (Either is allowed.)
    let mut in_flight: BTreeMap<bool, usize> = BTreeMap::new();

    // The events in flight at the last kill: their fate is checked after the restart.
    let mut unanswered: Vec<ContentId> = Vec::new();
    for (round, kill_after) in KILL_AFTER.into_iter().enumerate() {
        // Every start after the first is the restart after a SIGKILL.
        let mut node = NodeProcess::spawn(&dir.path, settle);
        let events = check_restarted(&node, &genesis, &authors, &acks.snapshot()).await;
        count_in_flight(&node, &mut unanswered, &mut in_flight).await;
        let status = get_ok(node.api, "/v1/status").await;
        let status = serde_json::from_str::<serde_json::Value>(&status).unwrap_or_default();
        let (read, from_records) = started(node.api).await;
        eprintln!(
            "round {round}: node up in {:?} with {events} events ({} from the saved \
             snapshot, finalized to {}; {read} read, from the records: {from_records}), \
             {} acknowledged",
            node.started_in,
            status["snapshot_events"],
            status["finalized_bound"],
            acks.snapshot().len()
        );
        let finalized = status["finalized_bound"].as_u64().unwrap_or(0);
        if round == 0 {
            for (i, m) in members.iter().enumerate() {
                let json = format!(
                    "{{\"member\":\"{}\",\"handle\":\"member{i}\"}}",
                    m.public().to_hex()
                );
                let (status, body) = http(
                    node.api,
                    "POST",
                    "/v1/admin/enroll",
                    Some(&token),
                    Some(&json),
                )
                .await
                .unwrap();
                assert_eq!(status, 200, "enroll: {body}");
                assert!(body.contains("\"applied\""), "enroll: {body}");
                let ordered = serde_json::from_str::<serde_json::Value>(&body).unwrap();
                let id = ordered["ordered"]["id"].as_str().unwrap();
                let id = Hash32::from_hex(id).unwrap();
                acks.push(Acked { id, bytes: None });
            }
        }
        let target = *acks.count.borrow() + kill_after;
        let mut rx = acks.count.subscribe();
        let submitters: Vec<_> = members
            .iter()
            .enumerate()
            .map(|(m, key)| {
                tokio::spawn(submit_forever(
                    node.api,
                    network,
                    (m, key.clone()),
                    acks.clone(),
                ))
            })
            .collect();
        let reached = tokio::time::timeout(DEADLINE, rx.wait_for(|n| *n >= target))
            .await
            .is_ok_and(|r| r.is_ok());
        if settle && reached {
            // The members still submit: the kill lands among the writes that follow.
            finalized_above(node.api, finalized).await;
        }
        node.kill();
        let killed_at = *acks.count.borrow();
        let mut stopped_by = Vec::new();
        for s in submitters {
            match tokio::time::timeout(DEADLINE, s).await {
                Ok(Ok(Stop::Transport(e, id))) => {
                    stopped_by.push(e.kind());
                    unanswered.extend(id);
                }
                Ok(Ok(Stop::Refused(why))) => panic!("round {round}: {why}"),
                Ok(Err(e)) => panic!("round {round}: submitter panicked: {e}"),
                Err(_) => panic!("round {round}: submitter still running after the kill"),
            }
        }
        assert!(reached, "round {round}: {target} acknowledgements in time");
        eprintln!(
            "round {round}: SIGKILL at {killed_at} acknowledged (target {target}), \
             {} in total, {} unanswered; submitters stopped by {stopped_by:?}",
            acks.snapshot().len(),
            unanswered.len()
        );
    }
    let node = NodeProcess::spawn(&dir.path, settle);
    let events = check_restarted(&node, &genesis, &authors, &acks.snapshot()).await;
    count_in_flight(&node, &mut unanswered, &mut in_flight).await;
    // A clean stop saves the state whole: the next start resumes from it, with the
    // same state as a replay.
    tokio::task::block_in_place(|| node.stop());
    let node = NodeProcess::spawn(&dir.path, settle);
    let after = check_restarted(&node, &genesis, &authors, &acks.snapshot()).await;
    let status = get_ok(node.api, "/v1/status").await;
    if settle {
        // The org signs on once up: more events, and the snapshot is of the
        // finalized prefix, which claims reached before the last kill.
        assert!(
            after >= events,
            "{after} events after a clean stop, {events} before"
        );
        assert!(num(&status, "finalized_bound") > 0, "{status}");
        // The clean stop saved a snapshot of the finalized prefix the records end
        // at: the start read only the events held in memory.
        let (read, from_records) = started(node.api).await;
        assert!(
            from_records,
            "the start after a clean stop read every event"
        );
        assert!(read < events, "{read} events read of {events}");
    } else {
        assert_eq!(after, events);
        assert_eq!(num(&status, "snapshot_events"), events, "{status}");
    }
    eprintln!(
        "final restart in {:?}: {events} events, {} acknowledged; events in flight at the \
         kills: {} persisted, {} lost; whole test {:?}",
        node.started_in,
        acks.snapshot().len(),
        in_flight.get(&true).unwrap_or(&0),
        in_flight.get(&false).unwrap_or(&0),
        t0.elapsed()
    );
}

/// Tallies whether each event that was sent but never answered survived the kill.
async fn count_in_flight(
    node: &NodeProcess,
    unanswered: &mut Vec<ContentId>,
    tally: &mut BTreeMap<bool, usize>,
) {
    for id in unanswered.drain(..) {
        let path = format!("/v1/events/{}", id.to_hex());
        let (status, body) = http(node.api, "GET", &path, None, None).await.unwrap();
        assert!(status == 200 || status == 404, "{path}: {status} {body}");
        *tally.entry(status == 200).or_default() += 1;
    }
}

/// A node killed in the middle of a catch-up, whose fetched events are stored without
/// a durable commit (the loop makes them durable once a second): what the kill took
/// from its disk is gone from its memory too, and the restarted node fetches it
/// again and ends with its peer's state, event for event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_a_catch_up_loses_nothing_the_restart_cannot_fetch_again() {
    use carnet_tests::TestNet;
    const EVENTS: usize = 40_000;
    let mut net = TestNet::start(2).await;
    net.stop_node(1).await;
    let mut member = carnet_tests::enrolled(&net, 0, 0).await;
    let votes = (0..EVENTS).map(|k| carnet_tests::vote(&format!("k{k}.example")));
    let chain: Vec<Vec<u8>> = carnet_tests::signed_chain(&net, 0, &mut member, votes)
        .await
        .iter()
        .map(|e| e.as_bytes().to_vec())
        .collect();
    for batch in chain.chunks(256) {
        for r in net.node(0).handle.submit_many(batch.to_vec()).await {
            r.expect("ordered");
        }
    }
    let total = net.converged(EVENTS as u64 + 1).await;
    let status = net.node(0).handle.status().await.expect("status");
    assert_eq!(total, status.state_root);

    // Node 1, in a child process, catches up from node 0 and is killed half-way.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("node1.toml");
    let mut config = net.config(1);
    config.sync_interval_ms = 300;
    std::fs::write(&file, toml::to_string(&config).expect("config as TOML")).unwrap();
    let events_of = |json: &str| num(json, "events");
    let mut node = NodeProcess::spawn_config(&file);
    // Once its first range is in: a catch-up orders its events a reconciliation
    // range at a time (about 16,000 here, the first after node 0's Enroll), so that
    // is well before the end, and the kill takes whatever of it was not made durable
    // yet.
    let at_kill = {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let held = events_of(&get_ok(node.api, "/v1/status").await);
            if held > 1000 {
                break held;
            }
            assert!(Instant::now() < deadline, "the catch-up did not start");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    node.kill();
    assert!(
        at_kill < status.events,
        "the catch-up ended before the kill ({at_kill} events): nothing was tested"
    );

    // Restarted, it finishes the catch-up and holds exactly node 0's state.
    let node = NodeProcess::spawn_config(&file);
    let after_restart = events_of(&get_ok(node.api, "/v1/status").await);
    assert!(after_restart <= at_kill, "{after_restart} > {at_kill}");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let json = get_ok(node.api, "/v1/status").await;
        if events_of(&json) == status.events {
            assert_eq!(field(&json, "state_root"), Some(status.state_root.clone()));
            assert_eq!(num(&json, "pending"), 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restarted node did not catch up: {json}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "killed with {at_kill} of {} events held; {after_restart} after the restart",
        status.events
    );
    node.stop();
    net.stop().await;
}
