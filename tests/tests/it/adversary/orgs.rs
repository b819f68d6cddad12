//! Orgs that go down for good, are evicted, or rotate their key: settlement goes on.

use carnet_protocol::SecretKey;
use carnet_tests::{seed, TestNet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settlement_goes_on_with_one_of_four_orgs_stopped() {
    // The default quorum, more than 2/3: 3 of 4 orgs sign, so one may be down.
    assert_eq!(
        carnet_protocol::genesis::Rules::default().orgs_that_may_be_down(4),
        1
    );
    let mut net = TestNet::start_with(4, carnet_tests::LOOPBACK_TCP, (200, 4)).await;
    net.stop_node(3).await;
    carnet_tests::an_undelivered_purchase_is_refunded(&net, &[0, 1, 2]).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_orgs_evict_a_stopped_third_and_settlement_resumes() {
    // With three orgs and the default quorum every org must sign: one stopped org
    // froze settlement. The other two are a quorum of the orgs other than it.
    let mut net = TestNet::start_with(3, carnet_tests::LOOPBACK_TCP, (200, 4)).await;
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
    let mut net = TestNet::start(2).await;
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
