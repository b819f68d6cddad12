//! Low clocks and forks below a finalized bound: what was settled stays settled.

use super::bounds;
use carnet_protocol::author::Author;
use carnet_protocol::{ContentId, Hash32, SecretKey, SignedEvent};
use carnet_tests::{seed, submit, vote, wait_for, TestNet};

/// Decodes an event a node holds.
async fn held(net: &TestNet, node: usize, id: ContentId) -> SignedEvent {
    let bytes = net
        .node(node)
        .handle
        .event(id)
        .await
        .unwrap()
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
    let net = TestNet::start_with(3, carnet_tests::LOOPBACK_TCP, (200, 4)).await;
    let network = net.genesis.network_id();
    // A member enrolled before anything settles, that stays quiet: its Enroll's clock
    // is far below every bound to come.
    let mut idle = carnet_tests::enrolled(&net, 1, 9).await;
    let idle_head = net
        .node(1)
        .handle
        .chain_head(idle.public())
        .await
        .unwrap()
        .unwrap();
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
            assert!(n.handle.event(ev.id()).await.unwrap().unwrap().is_some());
        }
    }
    net.stop().await;
}
