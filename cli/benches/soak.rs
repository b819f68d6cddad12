//! Soak: five org nodes run as real `carnet node run` processes on 127.0.0.1 while
//! their members trade (votes, contributions, purchases, deliveries, checkpoints), and
//! at random moments one of them is killed with SIGKILL and restarted (with no
//! `--bootstrap`: it finds its peers in its data directory), or frozen with SIGSTOP
//! and thawed with SIGCONT. At the end every node runs again, and the bench prints:
//! acknowledged events lost (an event some node's API acknowledged as stored that a
//! node does not hold once converged: must be 0), the time to converge, and each
//! node's peak RSS.
//!
//! `cargo bench -p carnet-cli --bench soak` (not in CI). Environment:
//! `CARNET_SOAK_SECS` (default 600), `CARNET_SOAK_SEED` (default 1).

use carnet_api::Submitted;
use carnet_client::api::NodeApi;
use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, Card};
use carnet_protocol::dedup::{sign as sign_dedup, DedupRequest};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::payload::{Contribute, EmployeeRange, Purchase, RevenueRange, Vote};
use carnet_protocol::testkit::{self, seed};
use carnet_protocol::{ContentId, Hash32, Payload, SecretKey, SignedEvent};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NODES: usize = 5;
const MEMBERS_PER_ORG: usize = 2;
/// Nodes down or frozen at once, at most: the rest keep trading and settling.
const MAX_DISRUPTED: usize = 2;
const CONVERGE_DEADLINE: Duration = Duration::from_secs(300);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift64*): the run is repeatable by seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo))
    }
}

fn now_ms() -> u64 {
    carnet_api::now_ms()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// What a node process is doing now.
enum Life {
    Running(Child),
    Frozen(Child, Instant),
    Dead(Instant),
}

struct Node {
    dir: PathBuf,
    p2p: u16,
    api: u16,
    config: PathBuf,
    life: Life,
    api_client: NodeApi,
    admin: NodeApi,
    peak_rss_kib: u64,
    kills: u32,
    freezes: u32,
}

impl Node {
    fn spawn(&self, bootstrap: Option<&str>) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_carnet"));
        cmd.args(["--json", "node", "run"])
            .args(["--listen", &format!("/ip4/127.0.0.1/tcp/{}", self.p2p)])
            .args(["--api", &format!("127.0.0.1:{}", self.api)])
            .args(["--sync-interval-ms", "1000"])
            .arg("--config")
            .arg(&self.config)
            .arg("--data-dir")
            .arg(&self.dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(b) = bootstrap {
            cmd.args(["--bootstrap", b]);
        }
        let mut child = cmd.spawn().expect("start carnet node run");
        let stdout = child.stdout.take().expect("stdout");
        match BufReader::new(stdout).lines().next() {
            Some(Ok(_ready)) => child,
            other => {
                let _ = child.kill();
                panic!("node in {} did not start: {other:?}", self.dir.display())
            }
        }
    }

    fn pid(&self) -> Option<u32> {
        match &self.life {
            Life::Running(c) | Life::Frozen(c, _) => Some(c.id()),
            Life::Dead(_) => None,
        }
    }

    fn running(&self) -> bool {
        matches!(self.life, Life::Running(_))
    }

    /// Reads the process's high-water mark of resident memory.
    fn sample_rss(&mut self) {
        let Some(pid) = self.pid() else { return };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return;
        };
        if let Some(kib) = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
        {
            self.peak_rss_kib = self.peak_rss_kib.max(kib);
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

struct Member {
    org: usize,
    author: Author,
    key: SecretKey,
    /// Signed and not yet acknowledged: resubmitted as is, never re-signed (a second
    /// event at the same seq would be an equivocation).
    unacked: Option<(SignedEvent, Option<Card>)>,
    votes: u64,
    cards: u64,
}

struct Soak {
    rng: Rng,
    nodes: Vec<Node>,
    members: Vec<Member>,
    network: Hash32,
    /// Acknowledged as stored by some node's API.
    acked: BTreeSet<ContentId>,
    /// Listings applied, with the contributor's org: what members of other orgs buy.
    listings: Vec<(ContentId, usize)>,
    submit_errors: u64,
}

impl Soak {
    fn disrupted(&self) -> usize {
        self.nodes.iter().filter(|n| !n.running()).count()
    }

    /// Kills or freezes a random running node, if few enough are disrupted.
    fn chaos(&mut self) {
        if self.disrupted() >= MAX_DISRUPTED {
            return;
        }
        let i = self.rng.below(NODES as u64) as usize;
        let kill = self.rng.below(2) == 0;
        let back = Instant::now() + self.rng.millis(1000, 5000);
        let node = &mut self.nodes[i];
        node.sample_rss();
        let life = std::mem::replace(&mut node.life, Life::Dead(back));
        node.life = match life {
            Life::Running(mut c) if kill => {
                signal(c.id(), "-KILL");
                let _ = c.wait();
                node.kills += 1;
                Life::Dead(back)
            }
            Life::Running(c) => {
                signal(c.id(), "-STOP");
                node.freezes += 1;
                Life::Frozen(c, back)
            }
            other => other,
        };
    }

    /// Restarts and thaws the nodes whose time has come (`all`: every one now).
    fn revive(&mut self, all: bool) {
        let now = Instant::now();
        for node in &mut self.nodes {
            let life = std::mem::replace(&mut node.life, Life::Dead(now));
            node.life = match life {
                Life::Frozen(c, at) if all || at <= now => {
                    signal(c.id(), "-CONT");
                    Life::Running(c)
                }
                // No --bootstrap: the node finds its peers in its data directory.
                Life::Dead(at) if all || at <= now => Life::Running(node.spawn(None)),
                other => other,
            };
        }
    }

    /// One member does one thing on its own org's node, if that node is running.
    fn trade(&mut self) {
        let m = self.rng.below(self.members.len() as u64) as usize;
        let org = self.members[m].org;
        if !self.nodes[org].running() {
            return;
        }
        if self.members[m].unacked.is_none() {
            let Some(next) = self.next_event(m) else {
                return;
            };
            self.members[m].unacked = Some(next);
        }
        let Some((ev, card)) = self.members[m].unacked.clone() else {
            return;
        };
        let api = &self.nodes[org].api_client;
        let r = match &card {
            Some(c) => api.contribute(ev.as_bytes(), c),
            None => api.submit(ev.as_bytes()),
        };
        match r {
            Ok(Submitted::Ordered { outcome, .. }) => {
                self.acked.insert(ev.id());
                if card.is_some() && outcome == "applied" {
                    self.listings.push((ev.id(), org));
                }
                self.members[m].unacked = None;
            }
            Ok(Submitted::Duplicate { .. }) => {
                self.acked.insert(ev.id());
                self.members[m].unacked = None;
            }
            // Not stored: tried again later, as is.
            Ok(Submitted::Pending { .. }) | Err(_) => self.submit_errors += 1,
        }
    }

    /// The member's next event: mostly votes, some cards, some purchases of other
    /// orgs' cards.
    fn next_event(&mut self, m: usize) -> Option<(SignedEvent, Option<Card>)> {
        let org = self.members[m].org;
        let api = &self.nodes[org].api_client;
        let head = api.chain_head(&self.members[m].author.public()).ok()?;
        let roll = self.rng.below(10);
        let ts = now_ms();
        let member = &mut self.members[m];
        if member.author.head().is_none() {
            let intro = head.introduction.as_deref().and_then(Hash32::from_hex);
            member.author = member.author.clone().introduced_by(intro);
        }
        let others: Vec<ContentId> = self
            .listings
            .iter()
            .filter(|(_, o)| *o != org)
            .map(|(id, _)| *id)
            .collect();
        if roll < 2 && !others.is_empty() {
            let listing_id = others[self.rng.below(others.len() as u64) as usize];
            let payload = Payload::Purchase(Purchase {
                listing_id,
                recipient: recipient_public(seed("recipient", m)),
                max_price: 1000,
            });
            let ev = member
                .author
                .sign(payload, vec![listing_id], head.clock, ts)
                .ok()?;
            return Some((ev, None));
        }
        if roll < 4 {
            member.cards += 1;
            let n = m * 1_000_000 + member.cards as usize;
            let card = testkit::card(n);
            let request = DedupRequest {
                network: self.network,
                member: member.key.public(),
                email: card.email.value.clone(),
                at_ms: ts,
            };
            let key = api
                .dedup_key(&request, &sign_dedup(&member.key, &request))
                .ok()?;
            let listing = card.listing_keyed(key).ok()?;
            let ev = member
                .author
                .sign(
                    Payload::Contribute(Contribute { listing }),
                    vec![],
                    head.clock,
                    ts,
                )
                .ok()?;
            return Some((ev, Some(card)));
        }
        member.votes += 1;
        let payload = Payload::Vote(Vote {
            company_domain: format!("m{m}-v{}.example", member.votes),
            employees: EmployeeRange::From11To50,
            revenue: RevenueRange::Under1M,
        });
        let ev = member.author.sign(payload, vec![], head.clock, ts).ok()?;
        Some((ev, None))
    }

    fn sample_rss(&mut self) {
        for n in &mut self.nodes {
            n.sample_rss();
        }
    }

    /// Every node's (state root, events), if all answer.
    fn states(&self) -> Option<Vec<(String, u64)>> {
        self.nodes
            .iter()
            .map(|n| n.api_client.status().ok().map(|s| (s.state_root, s.events)))
            .collect()
    }

    /// Acknowledged events some node does not hold.
    fn missing(&self) -> Vec<(usize, ContentId)> {
        let mut out = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for id in &self.acked {
                if !matches!(n.api_client.event(id), Ok(Some(_))) {
                    out.push((i, *id));
                }
            }
        }
        out
    }
}

fn setup(tmp: &Path) -> (Vec<Node>, Genesis) {
    let keys: Vec<SecretKey> = (0..NODES).map(testkit::org_key).collect();
    let genesis = testkit::genesis("soak", &keys, Rules::default(), now_ms());
    let secret = carnet_protocol::card::NetworkSecret(seed("secret", 0));
    let mut nodes = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let dir = tmp.join(format!("org{i}"));
        let data = carnet_node::datadir::DataDir::create(&dir, k, &genesis).expect("data dir");
        carnet_node::datadir::save_network_secret(&dir, &secret).expect("secret");
        let config = tmp.join(format!("org{i}.toml"));
        std::fs::write(&config, "checkpoint_interval_ms = 2000\n").expect("config");
        let api = free_port();
        let base = format!("http://127.0.0.1:{api}");
        nodes.push(Node {
            dir,
            p2p: free_port(),
            api,
            config,
            life: Life::Dead(Instant::now()),
            api_client: NodeApi::new(&base).expect("client"),
            admin: NodeApi::new(&base)
                .expect("client")
                .with_admin_token(carnet_node::run::admin_token(&data)),
            peak_rss_kib: 0,
            kills: 0,
            freezes: 0,
        });
    }
    (nodes, genesis)
}

fn wait(what: &str, deadline: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

fn main() {
    let secs = env("CARNET_SOAK_SECS", 600);
    let tmp = tempfile::tempdir().expect("tempdir");
    let (mut nodes, genesis) = setup(tmp.path());
    // Node 0 first; the others bootstrap from it once, then only from peers.txt.
    let first = nodes[0].spawn(None);
    nodes[0].life = Life::Running(first);
    let peer0 = wait_status(&nodes[0]).peer_id;
    let boot = format!("/ip4/127.0.0.1/tcp/{}/p2p/{peer0}", nodes[0].p2p);
    for n in nodes.iter_mut().skip(1) {
        let c = n.spawn(Some(&boot));
        n.life = Life::Running(c);
    }
    let mut members = Vec::new();
    for (org, node) in nodes.iter().enumerate() {
        for j in 0..MEMBERS_PER_ORG {
            let key = testkit::key("member", org * 100 + j);
            node.admin
                .admin_enroll(&key.public(), &format!("m{org}-{j}"))
                .expect("enroll");
            node.admin
                .admin_grant(&key.public(), 200, "soak")
                .expect("grant");
            members.push(Member {
                org,
                author: Author::new(key.clone(), genesis.network_id()),
                key,
                unacked: None,
                votes: 0,
                cards: 0,
            });
        }
    }
    let mut soak = Soak {
        rng: Rng(env("CARNET_SOAK_SEED", 1).max(1)),
        nodes,
        members,
        network: genesis.network_id(),
        acked: BTreeSet::new(),
        listings: Vec::new(),
        submit_errors: 0,
    };
    println!(
        "soak: {NODES} nodes, {} members, {secs} s",
        soak.members.len()
    );
    let start = Instant::now();
    let mut next_chaos = Instant::now() + soak.rng.millis(2000, 6000);
    let mut next_sample = Instant::now();
    let mut next_report = Instant::now() + Duration::from_secs(30);
    while start.elapsed() < Duration::from_secs(secs) {
        soak.revive(false);
        if Instant::now() >= next_chaos {
            soak.chaos();
            next_chaos = Instant::now() + soak.rng.millis(2000, 8000);
        }
        if Instant::now() >= next_sample {
            soak.sample_rss();
            next_sample = Instant::now() + Duration::from_secs(1);
        }
        if Instant::now() >= next_report {
            println!(
                "  {:>4} s: {} events acknowledged, {} down or frozen",
                start.elapsed().as_secs(),
                soak.acked.len(),
                soak.disrupted()
            );
            next_report = Instant::now() + Duration::from_secs(30);
        }
        soak.trade();
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everyone back; members finish what they signed.
    soak.revive(true);
    let end = Instant::now();
    for m in 0..soak.members.len() {
        let mut tries = 0;
        while soak.members[m].unacked.is_some() && tries < 100 {
            let org = soak.members[m].org;
            let (ev, card) = soak.members[m].unacked.clone().expect("unacked");
            let api = &soak.nodes[org].api_client;
            let r = match &card {
                Some(c) => api.contribute(ev.as_bytes(), c),
                None => api.submit(ev.as_bytes()),
            };
            if let Ok(Submitted::Ordered { .. } | Submitted::Duplicate { .. }) = r {
                soak.acked.insert(ev.id());
                soak.members[m].unacked = None;
            } else {
                tries += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    let mut last = Vec::new();
    let converged = wait(
        "one state root on every node",
        CONVERGE_DEADLINE,
        || match soak.states() {
            Some(s) if s.iter().all(|x| x == &s[0]) && s[0].1 > 0 => {
                last = s;
                true
            }
            _ => false,
        },
    );
    let since_end = end.elapsed();
    soak.sample_rss();
    let missing = soak.missing();
    let kills: u32 = soak.nodes.iter().map(|n| n.kills).sum();
    let freezes: u32 = soak.nodes.iter().map(|n| n.freezes).sum();
    let finalized = soak.nodes[0]
        .api_client
        .status()
        .ok()
        .and_then(|s| s.finalized_bound);
    println!();
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| run | {secs} s, {NODES} nodes, {} members |",
        soak.members.len()
    );
    println!("| kill -9 and restart / SIGSTOP and SIGCONT | {kills} / {freezes} |");
    println!("| events acknowledged by an API | {} |", soak.acked.len());
    println!("| events held at the end (each node) | {} |", last[0].1);
    println!("| listings applied | {} |", soak.listings.len());
    println!(
        "| submissions refused or unreachable (retried as is) | {} |",
        soak.submit_errors
    );
    println!("| **acknowledged events lost** | **{}** |", missing.len());
    println!(
        "| convergence once every node runs again | {:.1} s to one state root on all {NODES} ({:.1} s with the members' last submissions) |",
        converged.as_secs_f64(),
        since_end.as_secs_f64()
    );
    println!("| finalized bound at the end | {finalized:?} |");
    for (i, n) in soak.nodes.iter().enumerate() {
        println!(
            "| peak RSS, node {i} | {:.0} MiB ({} kills, {} freezes) |",
            n.peak_rss_kib as f64 / 1024.0,
            n.kills,
            n.freezes
        );
    }
    for (i, id) in missing.iter().take(10) {
        println!("missing on node {i}: {id}");
    }
    for n in &mut soak.nodes {
        if let Some(pid) = n.pid() {
            signal(pid, "-TERM");
        }
        if let Life::Running(c) | Life::Frozen(c, _) = &mut n.life {
            let _ = c.wait();
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost",
        missing.len()
    );
}

/// The node's status once its API answers.
fn wait_status(node: &Node) -> carnet_api::NodeStatus {
    let mut out = None;
    wait("the node's API", Duration::from_secs(30), || {
        out = node.api_client.status().ok();
        out.is_some()
    });
    out.expect("status")
}
