//! Who gets to talk to a node: strangers, a candidate org before its admission, and
//! a peer flooding sync requests.

use carnet_node::network::{Behaviour, BehaviourEvent, HelloReply, MAX_GOSSIP_BYTES};
use carnet_node::sync::{SyncRequest, SyncResponse};
use carnet_protocol::SecretKey;
use carnet_tests::{metric, seed, submit, vote, wait_for, TestNet};
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::Swarm;

/// What a peer saw of node 0 while it stayed connected.
#[derive(Debug, Default)]
struct Seen {
    gossip: usize,
    events_served: usize,
    sync_refusals: Vec<String>,
    hello_refusal: Option<String>,
}

/// Turns a rogue peer's swarm for up to 50 ms: the sync request node 0 sent it, with
/// the channel to answer on, if one came (other events are dropped). Past `deadline`
/// the test fails with `why`.
async fn sync_request(
    swarm: &mut Swarm<Behaviour>,
    deadline: tokio::time::Instant,
    why: impl FnOnce() -> String,
) -> Option<(SyncRequest, request_response::ResponseChannel<SyncResponse>)> {
    let event = tokio::select! {
        e = swarm.select_next_some() => e,
        _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => return None,
        _ = tokio::time::sleep_until(deadline) => panic!("{}", why()),
    };
    match event {
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message {
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        })) => Some((request, channel)),
        _ => None,
    }
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
                let head = client.chain_head(member.public()).await.unwrap().unwrap();
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
    // The joiner may catch up through node 1 before node 0 lets it in on a redial.
    net.converged(2).await;
    let node0 = net.node(0).handle.clone();
    let joiner = key.public().to_hex();
    wait_for("node 0 to list the joiner's node under its org", || {
        let (node0, joiner) = (node0.clone(), joiner.clone());
        async move {
            let peers = node0.peers().await.ok()?;
            peers
                .iter()
                .any(|p| p.org.as_ref() == Some(&joiner))
                .then_some(())
        }
    })
    .await;
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

/// A rogue's sync store: the events it claims to hold.
struct Claimed(Vec<carnet_protocol::SignedEvent>);

impl carnet_node::sync::Held for Claimed {
    fn generation(&self) -> u64 {
        1
    }
    fn items(&self) -> carnet_protocol::ledger::ItemsView {
        let v = self.0.iter().map(|e| (e.lamport(), e.id())).collect();
        carnet_protocol::ledger::Items::from_items(v).view()
    }
    fn bytes(&self, id: &carnet_protocol::ContentId) -> Option<Vec<u8>> {
        self.0
            .iter()
            .find(|e| e.id() == *id)
            .map(|e| e.as_bytes().to_vec())
    }
    fn holds(&self, id: &carnet_protocol::ContentId) -> bool {
        self.0.iter().any(|e| e.id() == *id)
    }
}

/// Issue 19: a peer that answers node 0's fetch with an event node 0 did not ask for
/// gets it neither ingested nor stored, though it is valid and complete, and is
/// counted as serving an invalid event. What a fetch leaves pending is held under the
/// larger bound of solicited events, so a peer must not choose what goes there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_served_for_an_id_never_asked_is_not_ingested() {
    let net = TestNet::start(2).await;
    let mut a = carnet_tests::enrolled(&net, 0, 0).await;
    let mut b = carnet_tests::enrolled(&net, 0, 1).await;
    net.converged(2).await;
    // Two events node 0 lacks and whose past it holds: signed, never submitted.
    let sign = |m: &mut carnet_protocol::author::Author, head, domain: &str| {
        carnet_tests::introduce(m, &head);
        m.sign(vote(domain), vec![], head.clock, 1_700_000_100_000)
            .expect("sign")
    };
    let head_a = net
        .node(0)
        .handle
        .chain_head(a.public())
        .await
        .unwrap()
        .unwrap();
    let asked = sign(&mut a, head_a, "asked.example");
    let head_b = net
        .node(0)
        .handle
        .chain_head(b.public())
        .await
        .unwrap()
        .unwrap();
    let served = sign(&mut b, head_b, "never-asked.example");

    let org = net.org_keys.last().unwrap();
    let mut rogue = carnet_tests::rogue_swarm(&net, "wrong answers", Some(org), MAX_GOSSIP_BYTES);
    carnet_tests::welcomed(&mut rogue).await;
    // It reconciles honestly, claiming `asked`, and answers the fetch of it with
    // `served`.
    let claimed = Claimed(vec![asked.clone()]);
    let mut server = carnet_node::sync::Sync::<libp2p::PeerId>::new();
    let api = net.node(0).api_addr;
    let offences = |body: &str| metric(body, "peer_offences_total{reason=\"invalid_event\"}");
    let before = offences(&carnet_tests::http_get(api, "/metrics").await).unwrap_or(0.0);
    let deadline = tokio::time::Instant::now() + carnet_tests::DEADLINE;
    let mut fetched = false;
    loop {
        let never = || "node 0 never fetched from the rogue".to_string();
        if let Some((request, channel)) = sync_request(&mut rogue, deadline, never).await {
            let response = match request {
                SyncRequest::Fetch(ids) => {
                    assert_eq!(
                        ids,
                        vec![*asked.id().as_bytes()],
                        "node 0 asks for what it lacks"
                    );
                    fetched = true;
                    SyncResponse::Events(vec![served.as_bytes().to_vec()])
                }
                other => server.answer(other, &claimed),
            };
            let _ = rogue.behaviour_mut().sync.send_response(channel, response);
        }
        if fetched {
            let body = carnet_tests::http_get(api, "/metrics").await;
            if offences(&body).unwrap_or(0.0) > before {
                break;
            }
        }
    }
    let held = net
        .node(0)
        .handle
        .event(served.id())
        .await
        .unwrap()
        .unwrap();
    assert!(held.is_none(), "an event never asked for was ingested");
    // The same event submitted by its author is taken: it was refused for how it
    // came, not for what it is.
    net.node(0)
        .handle
        .submit(served.as_bytes().to_vec())
        .await
        .expect("the event itself is valid");
    net.stop().await;
}

/// Issue 19: a peer that leaves an event out of its answers, twice, leaves what builds
/// on it waiting, and refuses every reconciliation after the first, so that nothing
/// else finds the event missing again. Node 0 asks for it again by itself (the second
/// time once a second, while its pending events stop completing) and orders the
/// chain, instead of holding it until the pending events' time limit gives it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_left_out_of_answers_is_asked_for_again_until_served() {
    let net = TestNet::start(2).await;
    let mut a = carnet_tests::enrolled(&net, 0, 0).await;
    net.converged(1).await;
    let votes = ["one.example", "two.example", "three.example"].map(vote);
    let chain = carnet_tests::signed_chain(&net, 0, &mut a, votes).await;
    let first = chain[0].id();

    let org = net.org_keys.last().unwrap();
    let mut rogue = carnet_tests::rogue_swarm(&net, "holes", Some(org), MAX_GOSSIP_BYTES);
    carnet_tests::welcomed(&mut rogue).await;
    let claimed = Claimed(chain.clone());
    let mut server = carnet_node::sync::Sync::<libp2p::PeerId>::new();
    let (mut reconciled, mut left_out, mut asked_after) = (false, 0, Vec::new());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let never = || {
            format!(
                "node 0 never ordered the chain: {left_out} answers left the first out, \
                 then it asked for {asked_after:?}"
            )
        };
        if let Some((request, channel)) = sync_request(&mut rogue, deadline, never).await {
            let response = match request {
                SyncRequest::Reconcile(_) if reconciled => SyncResponse::Refused("busy".into()),
                SyncRequest::Reconcile(msg) => {
                    // A few events: one round tells node 0 all it lacks.
                    reconciled = true;
                    server.answer(SyncRequest::Reconcile(msg), &claimed)
                }
                SyncRequest::Fetch(ids) if left_out < 2 => {
                    if ids.contains(first.as_bytes()) {
                        left_out += 1;
                    }
                    let served = ids.iter().filter(|i| **i != *first.as_bytes());
                    SyncResponse::Events(
                        served
                            .filter_map(|i| {
                                carnet_node::sync::Held::bytes(
                                    &claimed,
                                    &carnet_protocol::Hash32(*i),
                                )
                            })
                            .collect(),
                    )
                }
                SyncRequest::Fetch(ids) => {
                    asked_after.push(ids.len());
                    server.answer(SyncRequest::Fetch(ids), &claimed)
                }
            };
            let _ = rogue.behaviour_mut().sync.send_response(channel, response);
        }
        let last = net
            .node(0)
            .handle
            .event(chain[2].id())
            .await
            .unwrap()
            .unwrap();
        if last.is_some() {
            break;
        }
    }
    assert_eq!(
        left_out, 2,
        "the first was asked for twice before it was served"
    );
    assert!(
        net.node(0)
            .handle
            .event(first)
            .await
            .unwrap()
            .unwrap()
            .is_some(),
        "the event left out is held"
    );
    net.stop().await;
}
