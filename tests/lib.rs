//! Helpers shared by the multi-node integration tests: a network of real nodes on
//! 127.0.0.1 with ephemeral ports, each with its own data directory, and waiting on
//! conditions with a deadline.

use carnet_node::config::NodeConfig;
use carnet_node::datadir::DataDir;
use carnet_node::run::{launch, RunningNode};
use carnet_protocol::author::Author;
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::testkit;
use carnet_protocol::{Hash32, SecretKey};
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// How long any condition may take before a test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

pub use carnet_protocol::testkit::{card, seed, TEST_SECRET};

/// Polls `check` until it returns `Some`, or panics with `what` at the deadline.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Where test nodes listen unless told otherwise: loopback TCP, an ephemeral port.
pub const LOOPBACK_TCP: &str = "/ip4/127.0.0.1/tcp/0";
/// Automatic checkpoints every hour at bounds of a million: none within a test that
/// does not ask for them.
const HOURLY_CHECKPOINTS: (u64, u64) = (3_600_000, 1_000_000);

pub struct TestNet {
    pub genesis: Genesis,
    pub org_keys: Vec<SecretKey>,
    pub nodes: Vec<Option<RunningNode>>,
    dirs: Vec<TempDir>,
    /// Multiaddr (with /p2p/) of node 0, which the others bootstrap from.
    pub bootstrap: Option<String>,
    pub sync_interval_ms: u64,
    /// (interval ms, stride) of automatic checkpoints; tests that settle shorten them.
    pub checkpoints: (u64, u64),
    /// libp2p listen address of every node (port 0: ephemeral).
    pub listen: String,
    /// Applied to every node's configuration last.
    pub tweak: fn(&mut NodeConfig),
}

impl TestNet {
    /// The data directory of node `i`.
    pub fn dir(&self, i: usize) -> &std::path::Path {
        self.dirs[i].path()
    }

    /// `n` founding orgs, one node each over TCP; node 0 first, the others dial it.
    pub async fn start(n: usize) -> TestNet {
        Self::start_on(n, LOOPBACK_TCP).await
    }

    /// Like [`TestNet::start`], every node listening on `listen` (e.g. QUIC).
    pub async fn start_on(n: usize, listen: &str) -> TestNet {
        Self::start_with(n, listen, HOURLY_CHECKPOINTS).await
    }

    /// Like [`TestNet::start`], every node's configuration passed through `tweak`.
    pub async fn start_configured(n: usize, tweak: fn(&mut NodeConfig)) -> TestNet {
        Self::start_tweaked(n, LOOPBACK_TCP, HOURLY_CHECKPOINTS, tweak).await
    }

    /// Like [`TestNet::start`], with org nodes signing checkpoints every
    /// `checkpoints.0` ms at bounds that are multiples of `checkpoints.1`.
    pub async fn start_with(n: usize, listen: &str, checkpoints: (u64, u64)) -> TestNet {
        Self::start_tweaked(n, listen, checkpoints, |_| {}).await
    }

    /// Like [`TestNet::start_with`], every node's configuration passed through `tweak`.
    pub async fn start_tweaked(
        n: usize,
        listen: &str,
        checkpoints: (u64, u64),
        tweak: fn(&mut NodeConfig),
    ) -> TestNet {
        let org_keys: Vec<SecretKey> = (0..n).map(testkit::org_key).collect();
        // Created now: network time starts here and follows the org nodes' clocks, so
        // grants and purchases of the test fall in one pay-or-play window.
        let genesis = testkit::genesis(
            "integration",
            &org_keys,
            Rules::default(),
            carnet_api::now_ms(),
        );
        let mut dirs = Vec::new();
        for k in &org_keys {
            let d = tempfile::tempdir().expect("tempdir");
            DataDir::create(d.path(), k, &genesis).expect("data dir");
            // Founders share the network secret from the start, as if the network
            // had been founded by one of them and the others had met it once.
            carnet_node::datadir::save_network_secret(d.path(), &TEST_SECRET)
                .expect("network secret");
            dirs.push(d);
        }
        let mut net = TestNet {
            genesis,
            org_keys,
            nodes: (0..n).map(|_| None).collect(),
            dirs,
            bootstrap: None,
            sync_interval_ms: 300,
            checkpoints,
            listen: listen.to_string(),
            tweak,
        };
        for i in 0..n {
            net.start_node(i).await;
        }
        net
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.dirs[i].path().to_owned()
    }

    pub fn config(&self, i: usize) -> NodeConfig {
        let mut config = NodeConfig {
            data_dir: Some(self.data_dir(i)),
            org_name: format!("Org {i}"),
            listen: vec![self.listen.clone()],
            api: "127.0.0.1:0".into(),
            bootstrap: self.bootstrap.iter().cloned().collect(),
            sync_interval_ms: self.sync_interval_ms,
            checkpoint_interval_ms: self.checkpoints.0,
            checkpoint_stride: self.checkpoints.1,
            log: "warn".into(),
            ..NodeConfig::default()
        };
        (self.tweak)(&mut config);
        config
    }

    pub async fn start_node(&mut self, i: usize) {
        let config = self.config(i);
        let node = launch(&config).await.expect("node starts");
        if self.bootstrap.is_none() {
            let addrs = wait_for("node 0 to listen", || {
                let client = node.handle.clone();
                async move {
                    let s = client.status().await.ok()?;
                    (!s.listen_addrs.is_empty()).then_some(s.listen_addrs)
                }
            })
            .await;
            self.bootstrap = Some(format!("{}/p2p/{}", addrs[0], node.peer_id));
        }
        self.nodes[i] = Some(node);
    }

    /// Starts the node of an org that is not in the genesis (it has yet to be
    /// admitted), bootstrapping from node 0 like the others. Returns its index.
    pub async fn start_joiner(&mut self, key: SecretKey) -> usize {
        let d = tempfile::tempdir().expect("tempdir");
        DataDir::create(d.path(), &key, &self.genesis).expect("data dir");
        self.dirs.push(d);
        self.org_keys.push(key);
        self.nodes.push(None);
        let i = self.nodes.len() - 1;
        self.start_node(i).await;
        i
    }

    pub async fn stop_node(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].take() {
            n.stop().await;
        }
    }

    pub fn node(&self, i: usize) -> &RunningNode {
        self.nodes[i].as_ref().expect("node is running")
    }

    /// (state root, events) of every running node.
    pub async fn states(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for n in self.nodes.iter().flatten() {
            if let Ok(s) = n.handle.status().await {
                out.push((s.state_root, s.events));
            }
        }
        out
    }

    /// Waits until every running node holds `events` ordered events and one state root.
    pub async fn converged(&self, events: u64) -> String {
        wait_for(
            &format!("all nodes to hold {events} events with one state root"),
            || async {
                let s = self.states().await;
                let running = self.nodes.iter().flatten().count();
                (s.len() == running && s.iter().all(|x| x == &s[0]) && s[0].1 == events)
                    .then(|| s[0].0.clone())
            },
        )
        .await
    }

    /// A member author enrolled (later) by org `org`.
    pub fn member(&self, i: usize) -> Author {
        Author::new(
            SecretKey::from_seed(seed("member", i)),
            self.genesis.network_id(),
        )
    }

    pub async fn stop(mut self) {
        for i in 0..self.nodes.len() {
            self.stop_node(i).await;
        }
    }
}

/// A peer of its own for tests that play an attacker: a fresh transport identity
/// (from `tag`), listening on 127.0.0.1 and dialling node 0. With `org`, it shows node 0
/// the hello of that org key, as a dishonest org's extra peer (or a thief of its key)
/// would; without, it is a stranger that proves nothing.
pub fn rogue_swarm(
    net: &TestNet,
    tag: &str,
    org: Option<&SecretKey>,
    gossip_limit: usize,
) -> libp2p::Swarm<carnet_node::network::Behaviour> {
    use carnet_node::network::{build_swarm_with_identity, Hello};
    let identity = libp2p::identity::Keypair::ed25519_from_bytes(seed(tag, 0)).expect("key");
    let network = net.genesis.network_id();
    let mut swarm = build_swarm_with_identity(identity, &network, gossip_limit).expect("swarm");
    swarm
        .listen_on(LOOPBACK_TCP.parse().expect("addr"))
        .expect("listen");
    let target: libp2p::Multiaddr = net
        .bootstrap
        .clone()
        .expect("node 0")
        .parse()
        .expect("addr");
    let node0 = carnet_node::peers::peer_of(&target).expect("peer id");
    swarm.dial(target).expect("dial");
    if let Some(org) = org {
        let hello = Hello::new(org, &network, swarm.local_peer_id());
        swarm.behaviour_mut().hello.send_request(&node0, hello);
    }
    swarm
}

/// Turns a [`rogue_swarm`] with an org's hello until node 0 has admitted it (its
/// Welcome arrived): before that, whatever it gossips is ignored unseen.
pub async fn welcomed(swarm: &mut libp2p::Swarm<carnet_node::network::Behaviour>) {
    use carnet_node::network::{BehaviourEvent, HelloReply};
    use futures::StreamExt;
    use libp2p::request_response::{Event, Message};
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let event = tokio::select! {
            e = swarm.select_next_some() => e,
            _ = tokio::time::sleep_until(deadline) => panic!("node 0 never admitted the peer"),
        };
        if let libp2p::swarm::SwarmEvent::Behaviour(BehaviourEvent::Hello(Event::Message {
            message: Message::Response { response, .. },
            ..
        })) = event
        {
            match response {
                // A peer proven to serve a current org is sent the network secret.
                HelloReply::Welcome { secret, .. } => {
                    assert_eq!(secret, Some(TEST_SECRET.0), "welcomed without the secret");
                    return;
                }
                HelloReply::Refused(r) => panic!("node 0 refused the peer: {r}"),
            }
        }
    }
}

/// A business card numbered `n`, as a member would contribute it.
/// Signs `payload` as the next event of `author` (clock taken from `node`) and submits
/// it there; panics unless the node accepts it.
pub async fn submit(
    node: &RunningNode,
    author: &mut Author,
    payload: carnet_protocol::Payload,
) -> carnet_protocol::SignedEvent {
    let ev = sign_next(&node.handle, author, payload).await;
    node.handle
        .submit(ev.as_bytes().to_vec())
        .await
        .expect("event accepted");
    ev
}

/// Names, for an author with no event yet, the introduction the node reports (its
/// Enroll), which its first event must carry among its deps.
pub fn introduce(author: &mut Author, head: &carnet_api::ChainHeadView) {
    if author.head().is_none() {
        let intro = head
            .introduction
            .as_deref()
            .map(|h| Hash32::from_hex(h).expect("introduction id"));
        *author = author.clone().introduced_by(intro);
    }
}

/// One request to a node's API over plain HTTP/1.0, one connection, read to the end:
/// (status, body), or the transport error (refused, reset, closed before a status).
/// Small on purpose: tests that kill nodes need to see exactly what came back.
pub async fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: Option<&str>,
) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: {addr}\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(body) = json {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let bad = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}

/// GET `path` from a node's API; returns the body, whatever the status.
pub async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    http(addr, "GET", path, None, None)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
        .1
}

/// The value of a Prometheus sample line starting with `prefix`, if present.
pub fn metric(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// The Enroll of `member` with handle `member{i}`.
pub fn enroll(member: carnet_protocol::PublicKey, i: usize) -> carnet_protocol::Payload {
    carnet_protocol::Payload::Enroll(carnet_protocol::payload::Enroll {
        member,
        handle: format!("member{i}"),
    })
}

/// Member `i`, enrolled by the org of node `node`.
pub async fn enrolled(net: &TestNet, node: usize, i: usize) -> Author {
    let member = net.member(i);
    net.node(node)
        .handle
        .submit_as_org(enroll(member.public(), i))
        .await
        .expect("enroll");
    member
}

/// `payloads` signed by `author` as a chain on top of what node `node` holds of it
/// (its head, its introduction, the clock), each building on the one before: events
/// to submit later, in order, or all at once.
pub async fn signed_chain(
    net: &TestNet,
    node: usize,
    author: &mut Author,
    payloads: impl IntoIterator<Item = carnet_protocol::Payload>,
) -> Vec<carnet_protocol::SignedEvent> {
    signed_on(&net.node(node).handle, author, payloads).await
}

/// `payload` signed as the next event of `author` on top of what `client` holds of
/// it, not submitted.
pub async fn sign_next(
    client: &carnet_node::handle::NodeHandle,
    author: &mut Author,
    payload: carnet_protocol::Payload,
) -> carnet_protocol::SignedEvent {
    let mut one = signed_on(client, author, [payload]).await;
    one.pop().expect("one payload, one event")
}

/// [`signed_chain`] on top of what `client` holds.
async fn signed_on(
    client: &carnet_node::handle::NodeHandle,
    author: &mut Author,
    payloads: impl IntoIterator<Item = carnet_protocol::Payload>,
) -> Vec<carnet_protocol::SignedEvent> {
    let head = client
        .chain_head(author.public())
        .await
        .expect("chain head")
        .expect("the store reads");
    introduce(author, &head);
    payloads
        .into_iter()
        .map(|p| {
            author
                .sign(p, vec![], head.clock, 1_700_000_100_000)
                .expect("sign")
        })
        .collect()
}

/// A company vote for `domain`: the cheapest member event to sign.
pub fn vote(domain: &str) -> carnet_protocol::Payload {
    use carnet_protocol::payload::{EmployeeRange, RevenueRange, Vote};
    carnet_protocol::Payload::Vote(Vote {
        company_domain: domain.into(),
        employees: EmployeeRange::From1To10,
        revenue: RevenueRange::Under1M,
    })
}

/// Settlement end to end on the running nodes `nodes` (at least two; checkpoints
/// must be short, see [`TestNet::start_with`]): a seller of `nodes[0]`'s org lists a
/// card nobody delivers, a buyer of `nodes[1]`'s org (granted 100 points) buys it, the
/// members' votes push the clock past checkpoint bounds, and every node in `nodes`
/// finalizes a checkpoint that refunds the buyer. Returns (seller, buyer).
pub async fn an_undelivered_purchase_is_refunded(
    net: &TestNet,
    nodes: &[usize],
) -> (Author, Author) {
    use carnet_protocol::payload::{Contribute, Grant, Purchase};
    use carnet_protocol::Payload;
    let (s, b) = (nodes[0], nodes[1]);
    let mut seller = enrolled(net, s, s).await;
    let mut buyer = enrolled(net, b, b).await;
    let org = |i: usize| &net.node(i).handle;
    org(b)
        .submit_as_org(Payload::Grant(Grant {
            member: buyer.public(),
            points: 100,
            memo: String::new(),
        }))
        .await
        .expect("grant");
    wait_for("the grant on every node", || async {
        for &i in nodes {
            let balance = org(i).balance(buyer.public()).await.ok()??;
            if balance.balance != 100 {
                return None;
            }
        }
        Some(())
    })
    .await;
    let listing = card(7).listing(&TEST_SECRET).expect("listing");
    let c = submit(
        net.node(s),
        &mut seller,
        Payload::Contribute(Contribute { listing }),
    )
    .await;
    wait_for("the listing at the buyer's node", || async {
        org(b).event(c.id()).await.ok()?.ok()?.map(|_| ())
    })
    .await;
    let purchase = submit(
        net.node(b),
        &mut buyer,
        Payload::Purchase(Purchase {
            listing_id: c.id(),
            recipient: carnet_protocol::card::recipient_public(seed("recipient", 1)),
            max_price: 10,
        }),
    )
    .await;
    // Nobody delivers. Later events push the clock past a checkpoint bound; a quorum
    // of orgs signs, the claim that holds the purchase is final. A purchase gets a
    // whole epoch to be delivered: once that claim is final, more business makes the
    // next epoch, at whose settlement the escrow is refunded.
    for k in 0..12 {
        let (author, node) = if k % 2 == 0 {
            (&mut seller, s)
        } else {
            (&mut buyer, b)
        };
        submit(net.node(node), author, vote(&format!("v{k}.example"))).await;
    }
    let bought_at = purchase.lamport();
    for &i in nodes {
        let client = org(i).clone();
        wait_for("a claim holding the purchase final on every node", || {
            let client = client.clone();
            async move {
                let s = client.status().await.ok()?;
                s.finalized_bound
                    .is_some_and(|f| f >= bought_at)
                    .then_some(())
            }
        })
        .await;
    }
    for k in 0..4 {
        submit(net.node(s), &mut seller, vote(&format!("w{k}.example"))).await;
    }
    for &i in nodes {
        let client = org(i).clone();
        let key = buyer.public();
        wait_for("settlement refunding the buyer on every node", || {
            let client = client.clone();
            async move {
                let s = client.status().await.ok()?;
                let b = client.balance(key).await.ok()??;
                let refunded = client
                    .history(key)
                    .await
                    .ok()?
                    .ok()?
                    .iter()
                    .any(|m| m.reason == "Refund");
                (s.finalized_bound.is_some() && refunded && b.balance == 100 && b.escrow == 0)
                    .then_some(())
            }
        })
        .await;
    }
    (seller, buyer)
}
