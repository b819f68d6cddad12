//! Attacks on settlement and admission, replayed against real nodes on 127.0.0.1
//! (issue 11): a stranger's events, and a flood of events whose dependencies nobody
//! has. Each test plays the attacker with a libp2p swarm of its own and checks what
//! every honest node ends up holding.

use carnet_node::network::{events_topic, Behaviour, BehaviourEvent, MAX_GOSSIP_BYTES};
use carnet_node::sync::{SyncRequest, SyncResponse};
use carnet_protocol::SignedEvent;
use carnet_tests::TestNet;
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::SwarmEvent;
use libp2p::Swarm;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

mod audits;
mod forks;
mod gossip;
mod orgs;
mod peering;

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
