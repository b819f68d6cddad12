//! A rogue peer of an org gossiping what honest nodes must not keep: strangers'
//! events at clock 1, and a flood of events whose dependencies nobody has.

use super::{bounds, Rogue};
use carnet_node::network::{BehaviourEvent, MAX_GOSSIP_BYTES};
use carnet_protocol::author::Author;
use carnet_protocol::{ContentId, Hash32, SecretKey, SignedEvent};
use carnet_tests::{metric, seed, submit, vote, wait_for, TestNet};
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use std::sync::atomic::Ordering;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_clock_1_events_are_stored_nowhere_and_settlement_stays_final() {
    // Checkpoints every 200 ms at multiples of 4 Lamport ticks.
    let net = TestNet::start_with(3, carnet_tests::LOOPBACK_TCP, (200, 4)).await;
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
            assert_eq!(n.handle.event(s.id()).await.unwrap().unwrap(), None);
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
    let net = TestNet::start_configured(3, tweak).await;
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
