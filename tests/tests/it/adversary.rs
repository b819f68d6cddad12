//! Attacks on settlement and admission, replayed against real nodes on 127.0.0.1
//! (issue 11): a stranger's events, and a flood of events whose dependencies nobody
//! has. Each test plays the attacker with a libp2p swarm of its own and checks what
//! every honest node ends up holding.

use carnet_node::network::{events_topic, Behaviour, BehaviourEvent, HelloReply, MAX_GOSSIP_BYTES};
use carnet_node::sync::{SyncRequest, SyncResponse};
use carnet_protocol::author::Author;
use carnet_protocol::{ContentId, Hash32, SecretKey, SignedEvent};
use carnet_tests::{metric, seed, submit, vote, wait_for, TestNet};
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::Swarm;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A hostile peer: a swarm of its own dialled into node 0 of `net`, proving it serves
/// the last org (a dishonest org's extra peer: strangers get no further than the
/// hello), which answers every sync request with nothing and counts the ids it is
/// asked to fetch.
struct Rogue {
    swarm: Swarm<Behaviour>,
    fetched_ids: Arc<AtomicUsize>,
}

impl Rogue {
    async fn connect(net: &TestNet, tag: &str) -> Rogue {
        let org = net.org_keys.last().unwrap();
        let mut swarm = carnet_tests::rogue_swarm(net, tag, Some(org), MAX_GOSSIP_BYTES);
        carnet_tests::welcomed(&mut swarm).await;
        Rogue {
            swarm,
            fetched_ids: Arc::new(AtomicUsize::new(0)),
        }
    }

    fn on_event(&mut self, event: SwarmEvent<carnet_node::network::BehaviourEvent>) {
        if let SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) = event
        {
            let response = match request {
                SyncRequest::Fetch(ids) => {
                    self.fetched_ids.fetch_add(ids.len(), Ordering::SeqCst);
                    SyncResponse::Events(Vec::new())
                }
                SyncRequest::Reconcile(_) => SyncResponse::Refused("no".into()),
            };
            let _ = self
                .swarm
                .behaviour_mut()
                .sync
                .send_response(channel, response);
        }
    }

    /// Gossips every event, in order, turning the swarm meanwhile.
    async fn gossip(&mut self, net: &TestNet, events: &[SignedEvent]) {
        let topic = events_topic(&net.genesis.network_id());
        let mut sent = 0;
        let deadline = tokio::time::Instant::now() + carnet_tests::DEADLINE;
        while sent < events.len() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the rogue never got a gossip peer"
            );
            // Publish as many as go through, then turn the swarm so they leave.
            while sent < events.len()
                && self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .publish(topic.clone(), events[sent].as_bytes().to_vec())
                    .is_ok()
            {
                sent += 1;
            }
            tokio::select! {
                e = self.swarm.select_next_some() => self.on_event(e),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
        }
    }

    /// Keeps the swarm turning (answering fetches) in the background.
    fn spawn(mut self) -> (tokio::task::JoinHandle<()>, Arc<AtomicUsize>) {
        let fetched = self.fetched_ids.clone();
        let task = tokio::spawn(async move {
            loop {
                let e = self.swarm.select_next_some().await;
                self.on_event(e);
            }
        });
        (task, fetched)
    }
}

/// `(finalized bound, events)` of every running node.
async fn bounds(net: &TestNet) -> Vec<(Option<u64>, u64)> {
    let mut out = Vec::new();
    for n in net.nodes.iter().flatten() {
        let s = n.handle.status().await.unwrap();
        out.push((s.finalized_bound, s.events));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_clock_1_events_are_stored_nowhere_and_settlement_stays_final() {
    // Checkpoints every 200 ms at multiples of 4 Lamport ticks.
    let net = TestNet::start_with(3, "/ip4/127.0.0.1/tcp/0", (200, 4)).await;
    let mut member = carnet_tests::enrolled(&net, 0, 0).await;
    for k in 0..10 {
        submit(net.node(k % 3), &mut member, vote(&format!("v{k}.example"))).await;
    }
    let finalized = wait_for("a finalized checkpoint on every node", || async {
        let b = bounds(&net).await;
        b.iter().all(|(f, _)| f.is_some()).then_some(b)
    })
    .await;
    let held = net.node(0).handle.status().await.unwrap().events;

    // Strangers' first events with no deps and clock 1: they sort below every
    // finalized bound. Before admission at the door, each one un-finalized settlement.
    let strangers: Vec<SignedEvent> = (0..12)
        .map(|i| {
            Author::new(
                SecretKey::from_seed(seed("stranger", i)),
                net.genesis.network_id(),
            )
            .sign(vote("stranger.example"), vec![], 0, 1_700_000_100_000)
            .unwrap()
        })
        .collect();
    // Through the API: refused with the reason, nothing stored.
    let err = net
        .node(1)
        .handle
        .submit(strangers[0].as_bytes().to_vec())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        carnet_node::handle::IngestError::Rejected(carnet_protocol::ledger::LedgerError::NoRole)
    );
    // Through gossip, from a peer of its own.
    let mut rogue = Rogue::connect(&net, "rogue").await;
    rogue.gossip(&net, &strangers[1..]).await;
    let (task, _) = rogue.spawn();
    let api = net.node(0).api_addr;
    wait_for("node 0 to ban the rogue", || async move {
        let body = carnet_tests::http_get(api, "/metrics").await;
        (metric(&body, "peers_banned_total")? >= 1.0).then_some(())
    })
    .await;
    task.abort();
    // Banned, it is denied at the handshake: dialling again gets it nowhere.
    let org = net.org_keys.last().unwrap();
    let mut again = carnet_tests::rogue_swarm(&net, "rogue", Some(org), MAX_GOSSIP_BYTES);
    let deadline = tokio::time::Instant::now() + carnet_tests::DEADLINE;
    loop {
        let event = tokio::select! {
            e = again.select_next_some() => e,
            _ = tokio::time::sleep_until(deadline) => panic!("the banned peer was not refused"),
        };
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Hello(request_response::Event::Message {
                message: request_response::Message::Response { .. },
                ..
            })) => panic!("a banned peer was answered"),
            SwarmEvent::OutgoingConnectionError { .. } | SwarmEvent::ConnectionClosed { .. } => {
                break
            }
            _ => {}
        }
    }
    drop(again);
    // Honest traffic goes on, and settles further.
    for k in 10..20 {
        submit(net.node(k % 3), &mut member, vote(&format!("v{k}.example"))).await;
    }
    let before = finalized.iter().map(|b| b.0).max().flatten().unwrap();
    wait_for("a later checkpoint finalized everywhere", || async {
        let b = bounds(&net).await;
        b.iter()
            .all(|(f, _)| f.is_some_and(|f| f > before))
            .then_some(())
    })
    .await;
    // Honest nodes stay converged (checkpoints keep coming, so the count moves on).
    let converged = wait_for("one state everywhere", || async {
        let s = net.states().await;
        (s.len() == 3 && s.iter().all(|x| x == &s[0])).then(|| s[0].1)
    })
    .await;
    assert!(converged > held);
    // No node holds any of the strangers' events, ordered or pending.
    for n in net.nodes.iter().flatten() {
        for s in &strangers {
            assert_eq!(n.handle.event(s.id()).await.unwrap(), None);
        }
        assert_eq!(n.handle.status().await.unwrap().pending, 0);
    }
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_waiting_on_missing_deps_are_bounded_fetched_once_and_never_forwarded() {
    fn tweak(c: &mut carnet_node::config::NodeConfig) {
        c.pending_ttl_ms = 3_000;
        c.max_pending_per_peer = 64;
    }
    let net =
        TestNet::start_tweaked(3, "/ip4/127.0.0.1/tcp/0", (3_600_000, 1_000_000), tweak).await;
    let mut member = carnet_tests::enrolled(&net, 0, 0).await;
    submit(net.node(0), &mut member, vote("honest.example")).await;
    net.converged(2).await;
    // 400 events, each naming one id nobody has: they can never be checked.
    let waiting: Vec<SignedEvent> = (0..400)
        .map(|i| {
            let missing: ContentId = Hash32::derive("missing", &[&(i as u64).to_le_bytes()]);
            Author::new(
                SecretKey::from_seed(seed("waiting", i)),
                net.genesis.network_id(),
            )
            .sign(vote("w.example"), vec![missing], 5, 1_700_000_100_000)
            .unwrap()
        })
        .collect();
    let mut rogue = Rogue::connect(&net, "flooder").await;
    rogue.gossip(&net, &waiting).await;
    let (task, fetched) = rogue.spawn();
    let api = net.node(0).api_addr;
    // Node 0 holds at most its bound of them; the oldest beyond it are given up.
    wait_for("node 0 to hold the events it can", || async move {
        let body = carnet_tests::http_get(api, "/metrics").await;
        let evicted = metric(&body, "pending_dropped_total{reason=\"evicted\"}")?;
        (evicted >= 336.0).then_some(())
    })
    .await;
    let status = net.node(0).handle.status().await.unwrap();
    assert!(status.pending <= 64, "pending {}", status.pending);
    assert_eq!(status.events, 2, "nothing pending is stored");
    // Never forwarded: the other nodes never saw them.
    for i in 1..3 {
        let s = net.node(i).handle.status().await.unwrap();
        assert_eq!((s.events, s.pending), (2, 0));
    }
    // Given up after the time limit; the others were evicted beyond the bound.
    wait_for("node 0 to give the events up", || async move {
        let body = carnet_tests::http_get(api, "/metrics").await;
        let expired = metric(&body, "pending_dropped_total{reason=\"expired\"}").unwrap_or(0.0);
        let evicted = metric(&body, "pending_dropped_total{reason=\"evicted\"}").unwrap_or(0.0);
        (expired + evicted >= 400.0 && metric(&body, "events_pending")? == 0.0).then_some(())
    })
    .await;
    // Node 0 asked for what each event waits for (one id each), and nothing more: not
    // every missing id again for every new pending event (80,200 ids for 400 of them).
    let asked = fetched.load(Ordering::SeqCst);
    assert!(
        (1..=400).contains(&asked),
        "node 0 asked for {asked} ids for 400 events"
    );
    // Waiting is not an offence: the peer is not banned for it.
    let body = carnet_tests::http_get(api, "/metrics").await;
    assert_eq!(metric(&body, "peers_banned_total"), Some(0.0));
    net.converged(2).await;
    task.abort();
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_goes_on_with_one_of_four_orgs_stopped() {
    // The default quorum, more than 2/3: 3 of 4 orgs sign, so one may be down.
    assert_eq!(
        carnet_protocol::genesis::Rules::default().orgs_that_may_be_down(4),
        1
    );
    let mut net = TestNet::start_with(4, "/ip4/127.0.0.1/tcp/0", (200, 4)).await;
    net.stop_node(3).await;
    carnet_tests::an_undelivered_purchase_is_refunded(&net, &[0, 1, 2]).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orgs_evict_a_stopped_third_and_settlement_resumes() {
    // With three orgs and the default quorum every org must sign: one stopped org
    // froze settlement. The other two are a quorum of the orgs other than it.
    let mut net = TestNet::start_with(3, "/ip4/127.0.0.1/tcp/0", (200, 4)).await;
    net.stop_node(2).await;
    let gone = net.org_keys[2].public();
    for i in 0..2 {
        let r = net
            .node(i)
            .handle
            .submit_as_org(carnet_protocol::Payload::Evict(
                carnet_protocol::payload::Evict {
                    org: gone,
                    reason: "down for good".into(),
                },
            ))
            .await
            .unwrap();
        assert!(
            matches!(&r, carnet_api::Submitted::Ordered { outcome, .. } if outcome == "applied"),
            "{r:?}"
        );
    }
    carnet_tests::an_undelivered_purchase_is_refunded(&net, &[0, 1]).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_rotates_its_key_by_quorum_and_its_node_carries_on_with_the_new_one() {
    use carnet_api::Submitted;
    use carnet_protocol::payload::{Grant, Rotate};
    use carnet_protocol::Payload;
    let mut net = TestNet::start_with(2, "/ip4/127.0.0.1/tcp/0", (3_600_000, 1_000_000)).await;
    let member = carnet_tests::enrolled(&net, 0, 0).await;
    let (old, new) = (
        net.org_keys[0].public(),
        SecretKey::from_seed(seed("new org key", 0)),
    );
    let applied =
        |r: Submitted| matches!(&r, Submitted::Ordered { outcome, .. } if outcome == "applied");
    for i in 0..2 {
        let r = net
            .node(i)
            .handle
            .submit_as_org(Payload::Rotate(Rotate {
                org: old,
                to: new.public(),
            }))
            .await
            .unwrap();
        assert!(applied(r));
    }
    net.converged(3).await;
    // The operator moves the new key over org.key and restarts the node; its peer id
    // changes with the key, so it dials the other node.
    net.stop_node(0).await;
    std::fs::write(
        net.data_dir(0).join(carnet_node::datadir::ORG_KEY_FILE),
        hex::encode(new.seed()),
    )
    .unwrap();
    let other = net.node(1).handle.status().await.unwrap();
    net.bootstrap = Some(format!("{}/p2p/{}", other.listen_addrs[0], other.peer_id));
    net.start_node(0).await;
    assert_eq!(
        net.node(0).handle.status().await.unwrap().org,
        new.public().to_hex()
    );
    // The member moved with the org: the new key grants to it, and every node agrees.
    let r = net
        .node(0)
        .handle
        .submit_as_org(Payload::Grant(Grant {
            member: member.public(),
            points: 40,
            memo: String::new(),
        }))
        .await
        .unwrap();
    assert!(applied(r));
    net.converged(4).await;
    for i in 0..2 {
        let b = net
            .node(i)
            .handle
            .balance(member.public())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(b.balance, 40);
    }
    net.stop().await;
}

/// Decodes an event a node holds.
async fn held(net: &TestNet, node: usize, id: ContentId) -> SignedEvent {
    let bytes = net
        .node(node)
        .handle
        .event(id)
        .await
        .unwrap()
        .expect("held");
    SignedEvent::decode(&bytes, &net.genesis.network_id()).unwrap()
}

/// Fails if any node's finalized bound went down since `last`; returns the new ones.
async fn never_down(net: &TestNet, last: &[(Option<u64>, u64)]) -> Vec<(Option<u64>, u64)> {
    let now = bounds(net).await;
    for (a, b) in last.iter().zip(&now) {
        assert!(
            b.0 >= a.0,
            "a finalized bound went down: {:?} -> {:?}",
            a.0,
            b.0
        );
    }
    now
}

/// A member that keeps its chain at low clocks, a member that forks its chain below
/// the finalized bound, and an org that forks its own chain below it: what was
/// settled stays settled on every node, the finalized bound only goes up, settlement
/// goes on, and the honest nodes converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn low_clocks_and_forks_below_a_finalized_bound_change_nothing_settled() {
    use carnet_protocol::payload::{Contribute, Enroll};
    use carnet_protocol::Payload;
    let net = TestNet::start_with(3, "/ip4/127.0.0.1/tcp/0", (200, 4)).await;
    let network = net.genesis.network_id();
    // A member enrolled before anything settles, that stays quiet: its Enroll's clock
    // is far below every bound to come.
    let mut idle = carnet_tests::enrolled(&net, 1, 9).await;
    let idle_head = net.node(1).handle.chain_head(idle.public()).await.unwrap();
    carnet_tests::introduce(&mut idle, &idle_head);
    let intro = Hash32::from_hex(idle_head.introduction.as_deref().unwrap()).unwrap();
    let low = held(&net, 1, intro).await.lamport();
    // The seller's first event will be a Contribute; a twin of it is signed now, from
    // a copy of its signer, to be published once settled.
    let (seller, buyer) = carnet_tests::an_undelivered_purchase_is_refunded(&net, &[0, 1, 2]).await;
    // The seller's first event names its introduction: walk its chain back to it.
    let mut first = held(&net, 0, seller.head().unwrap().id).await;
    while let Some(prev) = first.body().prev {
        first = held(&net, 0, prev).await;
    }
    let seller_intro = first.body().deps.clone();
    let seller_low = held(&net, 0, seller_intro[0]).await.lamport();
    let twin = net.member(0);
    let listing = carnet_tests::card(8)
        .listing(&carnet_tests::TEST_SECRET)
        .unwrap();
    let fork = twin
        .introduced_by(seller_intro.first().copied())
        .sign(
            Payload::Contribute(Contribute { listing }),
            vec![],
            seller_low,
            1_700_000_100_000,
        )
        .unwrap();
    assert_eq!(fork.seq(), 0);
    // Org 2 signs a second event at its chain's seq 0, with clock 1.
    let org_fork = Author::new(net.org_keys[2].clone(), network)
        .sign(
            Payload::Enroll(Enroll {
                member: SecretKey::from_seed(seed("fork member", 0)).public(),
                handle: "forked".into(),
            }),
            vec![],
            0,
            1_700_000_100_000,
        )
        .unwrap();
    let mut last = never_down(&net, &bounds(&net).await).await;
    let settled = last.iter().map(|b| b.0).max().flatten().unwrap();

    // The low-clock chain: five events, each at the lowest clock its chain allows.
    let mut chain = Vec::new();
    for k in 0..5 {
        let ev = idle
            .sign(
                vote(&format!("low{k}.example")),
                vec![],
                low,
                1_700_000_100_000,
            )
            .unwrap();
        assert!(ev.lamport() <= settled, "{} above {settled}", ev.lamport());
        chain.push(ev);
    }
    for (k, ev) in chain.iter().chain([&fork, &org_fork]).enumerate() {
        net.node(k % 3)
            .handle
            .submit(ev.as_bytes().to_vec())
            .await
            .expect("valid events are accepted");
        last = never_down(&net, &last).await;
    }
    // Honest traffic goes on and settles further, past all of it.
    let mut member = carnet_tests::enrolled(&net, 0, 5).await;
    for k in 0..8 {
        submit(
            net.node(k % 3),
            &mut member,
            vote(&format!("after{k}.example")),
        )
        .await;
        last = never_down(&net, &last).await;
    }
    wait_for("a later checkpoint finalized everywhere", || async {
        let b = bounds(&net).await;
        b.iter()
            .all(|(f, _)| f.is_some_and(|f| f > settled))
            .then_some(())
    })
    .await;
    never_down(&net, &last).await;
    // What was settled stands on every node: the refund. The forks are void and
    // exclude their authors from then on.
    wait_for("one state everywhere", || async {
        let s = net.states().await;
        (s.len() == 3 && s.iter().all(|x| x == &s[0])).then_some(())
    })
    .await;
    for n in net.nodes.iter().flatten() {
        let b = n.handle.balance(buyer.public()).await.unwrap().unwrap();
        assert_eq!((b.balance, b.escrow), (100, 0), "the refund stands");
        let s = n.handle.balance(seller.public()).await.unwrap().unwrap();
        // The card never sold, so its reward never vested; the exclusion forfeits it.
        assert_eq!(
            (s.balance, s.pending),
            (0, 0),
            "no reward for an equivocator"
        );
        assert!(s.status.contains("Excluded"), "{}", s.status);
        for ev in &chain {
            assert!(n.handle.event(ev.id()).await.unwrap().is_some());
        }
    }
    net.stop().await;
}

/// What a peer saw of node 0 while it stayed connected.
#[derive(Debug, Default)]
struct Seen {
    gossip: usize,
    events_served: usize,
    sync_refusals: Vec<String>,
    hello_refusal: Option<String>,
}

/// Turns `swarm` until node 0 closes its connection (with a deadline) and a second
/// after (what arrived just before the close may be reported just after it),
/// recording what node 0 sent it.
async fn watch_until_closed(swarm: &mut Swarm<Behaviour>, seen: &mut Seen) {
    let deadline = tokio::time::Instant::now() + carnet_tests::DEADLINE;
    let mut closed: Option<tokio::time::Instant> = None;
    loop {
        let until = closed.map_or(deadline, |t| t + std::time::Duration::from_secs(1));
        let event = tokio::select! {
            e = swarm.select_next_some() => e,
            _ = tokio::time::sleep_until(until) => {
                assert!(closed.is_some(), "node 0 never closed the connection: {seen:?}");
                return;
            }
        };
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(
                libp2p::gossipsub::Event::Message { .. },
            )) => seen.gossip += 1,
            SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                message: request_response::Message::Response { response, .. },
                ..
            })) => match response {
                SyncResponse::Events(e) => seen.events_served += e.len(),
                SyncResponse::Refused(r) => seen.sync_refusals.push(r),
                SyncResponse::Reconcile(_) => seen.events_served += 1,
            },
            SwarmEvent::Behaviour(BehaviourEvent::Hello(request_response::Event::Message {
                message:
                    request_response::Message::Response {
                        response: HelloReply::Refused(r),
                        ..
                    },
                ..
            })) => seen.hello_refusal = Some(r),
            SwarmEvent::ConnectionClosed {
                num_established: 0, ..
            } if closed.is_none() => closed = Some(tokio::time::Instant::now()),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_get_no_gossip_no_sync_and_are_disconnected_with_a_reason() {
    let net = TestNet::start(2).await;
    let mut member = carnet_tests::enrolled(&net, 0, 0).await;
    let first = submit(net.node(0), &mut member, vote("first.example")).await;
    let node0: libp2p::PeerId =
        carnet_node::peers::peer_of(&net.bootstrap.clone().unwrap().parse().unwrap()).unwrap();

    // A silent stranger: connected, subscribed to the topic, asking for a
    // reconciliation and for an event by id, while honest events are gossiped.
    let mut silent = carnet_tests::rogue_swarm(&net, "silent stranger", None, MAX_GOSSIP_BYTES);
    let sync = &mut silent.behaviour_mut().sync;
    sync.send_request(&node0, SyncRequest::Reconcile(vec![0x61]));
    sync.send_request(&node0, SyncRequest::Fetch(vec![*first.id().as_bytes()]));
    let gossiping = {
        let client = net.node(0).handle.clone();
        let mut member = member.clone();
        tokio::spawn(async move {
            for k in 0..5 {
                let head = client.chain_head(member.public()).await.unwrap();
                carnet_tests::introduce(&mut member, &head);
                let ev = member
                    .sign(
                        vote(&format!("during{k}.example")),
                        vec![],
                        head.clock,
                        1_700_000_100_000,
                    )
                    .unwrap();
                client.submit(ev.as_bytes().to_vec()).await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            }
        })
    };
    let mut seen = Seen::default();
    watch_until_closed(&mut silent, &mut seen).await;
    gossiping.await.unwrap();
    assert_eq!(seen.gossip, 0, "{seen:?}");
    assert_eq!(seen.events_served, 0, "{seen:?}");
    assert_eq!(seen.sync_refusals.len(), 2, "{seen:?}");
    assert!(
        seen.sync_refusals[0].contains("org of the network"),
        "{seen:?}"
    );

    // A stranger with a key and a valid attestation of it, but no org.
    let key = SecretKey::from_seed(seed("stranger org", 0));
    let mut talker =
        carnet_tests::rogue_swarm(&net, "talking stranger", Some(&key), MAX_GOSSIP_BYTES);
    let mut seen = Seen::default();
    watch_until_closed(&mut talker, &mut seen).await;
    let reason = seen.hello_refusal.clone().expect("a refusal with a reason");
    assert!(reason.contains("not an org of this network"), "{reason}");
    assert_eq!((seen.gossip, seen.events_served), (0, 0), "{seen:?}");

    // Both counted by reason; the honest node is still admitted and in step.
    let api = net.node(0).api_addr;
    let body = carnet_tests::http_get(api, "/metrics").await;
    assert_eq!(
        metric(&body, "peers_refused_total{reason=\"no_hello\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(
        metric(&body, "peers_refused_total{reason=\"not_an_org\"}"),
        Some(1.0),
        "{body}"
    );
    assert_eq!(metric(&body, "peers_admitted"), Some(1.0), "{body}");
    // (A stranger that dials again is unproven again until refused again.)
    drop((silent, talker));
    let peers = net.node(0).handle.peers().await.unwrap();
    let orgs: Vec<_> = peers.iter().filter_map(|p| p.org.clone()).collect();
    assert_eq!(orgs, vec![net.org_keys[1].public().to_hex()], "{peers:?}");
    net.converged(net.node(0).handle.status().await.unwrap().events)
        .await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_orgs_node_is_refused_until_its_admission_then_joins() {
    use carnet_protocol::payload::Admit;
    use carnet_protocol::Payload;
    let mut net = TestNet::start(2).await;
    let key = SecretKey::from_seed(seed("joining org", 0));
    let j = net.start_joiner(key.clone()).await;
    let api = net.node(0).api_addr;
    wait_for("node 0 to refuse the candidate's node", || async move {
        let body = carnet_tests::http_get(api, "/metrics").await;
        (metric(&body, "peers_refused_total{reason=\"not_an_org\"}")? >= 1.0).then_some(())
    })
    .await;
    let status = net.node(j).handle.status().await.unwrap();
    assert_eq!(status.events, 0);
    assert!(
        !status.network_secret,
        "a refused node got the network secret"
    );
    for i in 0..2 {
        net.node(i)
            .handle
            .submit_as_org(Payload::Admit(Admit {
                org: key.public(),
                name: "Joiner".into(),
            }))
            .await
            .unwrap();
    }
    // Let in on one of its redials, it catches up with the votes that admitted it.
    net.converged(2).await;
    let peers = net.node(0).handle.peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.org == Some(key.public().to_hex())),
        "{peers:?}"
    );
    // Admitted, it received the network secret with a welcome and kept it, so it
    // takes contributions and computes the network's dedup keys.
    let client = net.node(j).handle.clone();
    wait_for("the network secret at the new org's node", || {
        let client = client.clone();
        async move { client.status().await.ok()?.network_secret.then_some(()) }
    })
    .await;
    let kept = carnet_node::datadir::read_network_secret(net.dir(j)).unwrap();
    assert_eq!(kept, Some(carnet_tests::TEST_SECRET));
    net.stop().await;
}

/// Issue 14: a peer flooding sync requests gets its burst, then refusals that say
/// why, counted by reason; honest sync goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_flooding_sync_requests_is_rate_limited() {
    let net = TestNet::start(2).await;
    let org = net.org_keys.last().unwrap();
    let mut rogue = carnet_tests::rogue_swarm(&net, "sync flooder", Some(org), MAX_GOSSIP_BYTES);
    carnet_tests::welcomed(&mut rogue).await;
    let node0 =
        carnet_node::peers::peer_of(&net.bootstrap.clone().unwrap().parse().unwrap()).unwrap();
    let deadline = tokio::time::Instant::now() + carnet_tests::DEADLINE;
    let (mut answered, mut failed, mut limited) = (0usize, 0usize, None);
    while limited.is_none() {
        // Waves of 100, each answered before the next, so none is dropped for want
        // of streams: only the rate limit refuses.
        for i in 0..100u32 {
            let id = *carnet_protocol::Hash32::of(&i.to_le_bytes()).as_bytes();
            rogue
                .behaviour_mut()
                .sync
                .send_request(&node0, SyncRequest::Fetch(vec![id]));
        }
        let mut wave = 0;
        while wave < 100 {
            let event = tokio::select! {
                e = rogue.select_next_some() => e,
                _ = tokio::time::sleep_until(deadline) => panic!("never rate limited after {answered}"),
            };
            match event {
                SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                })) => {
                    wave += 1;
                    answered += 1;
                    if let SyncResponse::Refused(r) = response {
                        limited = Some(r);
                    }
                }
                // A second connection between the two (both ends dial) may be
                // closed with requests on it: those are simply not answered.
                SwarmEvent::Behaviour(BehaviourEvent::Sync(
                    request_response::Event::OutboundFailure { .. },
                )) => {
                    wave += 1;
                    failed += 1;
                }
                _ => {}
            }
        }
    }
    let reason = limited.unwrap();
    assert!(reason.contains("rate limited"), "{reason}");
    assert!(
        answered + failed >= 2000,
        "the burst is 2000: {answered} + {failed}"
    );
    let body = carnet_tests::http_get(net.node(0).api_addr, "/metrics").await;
    assert!(
        metric(&body, "sync_refused_total{reason=\"rate\"}").unwrap_or(0.0) >= 1.0,
        "{body}"
    );
    // Honest nodes still sync with each other.
    let mut member = carnet_tests::enrolled(&net, 1, 0).await;
    submit(net.node(1), &mut member, vote("after-the-flood.example")).await;
    net.converged(2).await;
    net.stop().await;
}
