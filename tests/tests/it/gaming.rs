//! Issue 12's attacks on the points, replayed by dishonest members and a generous org
//! against real nodes on 127.0.0.1: grants above the cap, made-up listings, forged
//! bounces and a buyer who forks its chain after delivery. Each ends where the rules
//! say, on every node.

use carnet_api::Submitted;
use carnet_client::api::NodeApi;
use carnet_node::handle::NodeHandle;
use carnet_protocol::author::Author;
use carnet_protocol::card::Card;
use carnet_protocol::payload::*;
use carnet_protocol::{Payload, PublicKey, SignedEvent};
use carnet_tests::{card, enrolled, seed, sign_next, submit, vote, wait_for, TestNet};

/// The outcome string of an ordered event.
fn outcome(s: &Submitted) -> &str {
    match s {
        Submitted::Ordered { outcome, .. } => outcome,
        other => panic!("not ordered: {other:?}"),
    }
}

/// Contributes `c` through the org node's card endpoint: the node keeps the card,
/// delivers it, and says so with a Hold.
async fn contribute_held(client: &NodeHandle, author: &mut Author, c: &Card) -> SignedEvent {
    let listing = c.listing(&carnet_tests::TEST_SECRET).expect("listing");
    let ev = sign_next(client, author, Payload::Contribute(Contribute { listing })).await;
    let r = client
        .contribute(ev.as_bytes().to_vec(), c.clone())
        .await
        .expect("card kept");
    assert_eq!(outcome(&r), "applied");
    ev
}

/// (balance, escrow, pending, status) of `key` on every running node, once they agree.
async fn account_everywhere(net: &TestNet, key: PublicKey, want: (i64, i64, i64)) {
    for n in net.nodes.iter().flatten() {
        let client = n.handle.clone();
        wait_for(&format!("{key:?} at {want:?}"), || {
            let client = client.clone();
            async move {
                let b = client.balance(key).await.ok()??;
                ((b.balance, b.escrow, b.pending) == want).then_some(())
            }
        })
        .await;
    }
}

/// A purchase of `listing` by `buyer` at node `node`, waited for until delivered
/// there.
async fn buy_delivered(net: &TestNet, node: usize, buyer: &mut Author, listing: &SignedEvent) {
    let client = &net.node(node).handle;
    wait_for("the listing at the buyer's node", || async {
        client.event(listing.id()).await.ok()?.ok()?.map(|_| ())
    })
    .await;
    let p = submit(
        net.node(node),
        buyer,
        Payload::Purchase(Purchase {
            listing_id: listing.id(),
            recipient: carnet_protocol::card::recipient_public(seed("recipient", 0)),
            max_price: 10,
        }),
    )
    .await;
    let key = buyer.public();
    wait_for("the delivery", || async {
        let list = client.purchases(key).await.ok()?.ok()?;
        list.iter()
            .any(|v| v.purchase_id == p.id().to_hex() && v.status == "Delivered")
            .then_some(())
    })
    .await;
}

/// The vouch request of `carnet report bounce`, over HTTP to node `node`.
async fn vouch(
    net: &TestNet,
    node: usize,
    reporter: PublicKey,
    purchase: carnet_protocol::ContentId,
    email: Opening,
    message: Vec<u8>,
) -> Result<carnet_client::api::VoucherIssued, carnet_client::api::ApiError> {
    let base = format!("http://{}", net.node(node).api_addr);
    tokio::task::spawn_blocking(move || {
        NodeApi::new(&base)?.vouch(&reporter, &purchase, &email, &message)
    })
    .await
    .expect("vouch task")
}

/// A bounce as Postfix writes it, for `email`.
fn dsn_for(email: &str) -> Vec<u8> {
    include_str!("../../../mail/tests/fixtures/dsn/postfix-5.1.1.eml")
        .replace("jane.doe@acme.example", email)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dishonest_members_and_orgs_earn_nothing_they_did_not_earn() {
    let net = TestNet::start(2).await;
    let org = |i: usize| &net.node(i).handle;
    let mut seller = enrolled(&net, 0, 0).await;
    let mut buyer = enrolled(&net, 1, 1).await;
    let status = |b: bool| {
        if b {
            "applied"
        } else {
            "void:GrantAboveCap"
        }
    };

    // Unlimited grants: a month's subscription is 125 points; the second 100 is void.
    for ok in [true, false] {
        let r = org(1)
            .submit_as_org(Payload::Grant(Grant {
                member: buyer.public(),
                points: 100,
                memo: "subscription".into(),
            }))
            .await
            .expect("grant");
        assert_eq!(outcome(&r), status(ok));
    }
    account_everywhere(&net, buyer.public(), (100, 0, 0)).await;

    // Minting: five made-up listings through POST /v1/events, no card held anywhere.
    // They earn nothing spendable: 50 points pending that only a sale could vest.
    for n in 100..105 {
        let listing = card(n).listing(&carnet_tests::TEST_SECRET).unwrap();
        submit(
            net.node(0),
            &mut seller,
            Payload::Contribute(Contribute { listing }),
        )
        .await;
    }
    account_everywhere(&net, seller.public(), (0, 0, 50)).await;

    // Two real cards, kept by the seller's org node.
    let jane = card(1);
    let john = card(2);
    let l1 = contribute_held(org(0), &mut seller, &jane).await;
    let l2 = contribute_held(org(0), &mut seller, &john).await;
    buy_delivered(&net, 1, &mut buyer, &l1).await;
    account_everywhere(&net, seller.public(), (10, 0, 70)).await;
    account_everywhere(&net, buyer.public(), (90, 0, 0)).await;

    // Forged bounces. A hand-written note is refused by the buyer's own org node...
    let purchases = org(1).purchases(buyer.public()).await.unwrap().unwrap();
    let p1 = carnet_protocol::Hash32::from_hex(&purchases[0].purchase_id).unwrap();
    let note = format!(
        "From: postmaster@company1.example\r\nSubject: Undeliverable\r\n\r\n{} does not exist (550 5.1.1)\r\n",
        jane.email.value
    );
    let refused = vouch(
        &net,
        1,
        buyer.public(),
        p1,
        jane.email.clone(),
        note.into_bytes(),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Some("bounce_refused"), "{refused}");
    // ... and by the seller's org node, which is not the buyer's.
    let foreign = vouch(
        &net,
        0,
        buyer.public(),
        p1,
        jane.email.clone(),
        dsn_for(&jane.email.value),
    )
    .await
    .unwrap_err();
    assert_eq!(foreign.code(), Some("not_our_member"), "{foreign}");
    // A report published without the org's voucher is void everywhere.
    let status511 = DsnStatus {
        class: 5,
        subject: 1,
        detail: 1,
    };
    let forged = sign_next(
        org(1),
        &mut buyer,
        Payload::BounceReport(BounceReport {
            purchase_id: p1,
            evidence: carnet_protocol::hash::evidence_hash(b"hand-written"),
            status: status511,
            voucher: Voucher([0; 64]),
        }),
    )
    .await;
    let r = org(1).submit(forged.as_bytes().to_vec()).await.unwrap();
    assert_eq!(outcome(&r), "void:BadVoucher");
    account_everywhere(&net, buyer.public(), (90, 0, 0)).await;
    // The real bounce is vouched for and pays the bounty.
    let issued = vouch(
        &net,
        1,
        buyer.public(),
        p1,
        jane.email.clone(),
        dsn_for(&jane.email.value),
    )
    .await
    .expect("a real bounce is vouched for");
    assert_eq!(
        (issued.status.as_str(), issued.finding.as_str()),
        ("5.1.1", "unsigned")
    );
    // One card cannot fill its buyer's org node: the same message again is free, two
    // more different ones are kept, and a fourth is refused.
    let variant = |n: usize| {
        let mut m = format!("X-Variant: {n}\r\n").into_bytes();
        m.extend(dsn_for(&jane.email.value));
        m
    };
    for message in [dsn_for(&jane.email.value), variant(1), variant(2)] {
        vouch(&net, 1, buyer.public(), p1, jane.email.clone(), message)
            .await
            .expect("within the quota");
    }
    let over = vouch(&net, 1, buyer.public(), p1, jane.email.clone(), variant(3))
        .await
        .unwrap_err();
    assert_eq!(over.code(), Some("too_many_messages"), "{over}");
    let voucher: [u8; 64] = hex::decode(&issued.voucher_hex)
        .unwrap()
        .try_into()
        .unwrap();
    let real = submit(
        net.node(1),
        &mut buyer,
        Payload::BounceReport(BounceReport {
            purchase_id: p1,
            evidence: carnet_protocol::hash::Hash32::from_hex(&issued.evidence).unwrap(),
            status: status511,
            voucher: Voucher(voucher),
        }),
    )
    .await;
    for n in net.nodes.iter().flatten() {
        let client = n.handle.clone();
        let (f, r) = (forged.id(), real.id());
        wait_for("both reports everywhere", || {
            let client = client.clone();
            async move {
                let a = client.event(f).await.ok()?.ok()??;
                let b = client.event(r).await.ok()?.ok()??;
                Some((a, b))
            }
        })
        .await;
    }
    // Bounty +10 for the buyer; the seller's penalty -10 and Jane's reward forfeited.
    account_everywhere(&net, buyer.public(), (100, 0, 0)).await;
    account_everywhere(&net, seller.public(), (0, 0, 60)).await;
    // The seller's org disputes the report with its own finding; the buyer's org
    // cannot. Balances stand: an auditor weighs both.
    let dispute = |finding: &str| {
        Payload::Dispute(Dispute {
            report_id: real.id(),
            finding: finding.into(),
        })
    };
    let theirs = org(1).submit_as_org(dispute("we agree")).await.unwrap();
    assert_eq!(outcome(&theirs), "void:CannotDispute");
    let ours = org(0)
        .submit_as_org(dispute("our MX accepted mail to this address that day"))
        .await
        .unwrap();
    assert_eq!(outcome(&ours), "applied");
    account_everywhere(&net, seller.public(), (0, 0, 60)).await;

    // A buyer who forks after delivery: the twin of its purchase, at the lowest clock
    // its chain allows, sorts before the purchase. The buyer is excluded, the seller
    // is paid all the same, and nothing is refunded.
    let mut twin = buyer.clone();
    let before = org(1)
        .chain_head(buyer.public())
        .await
        .unwrap()
        .unwrap()
        .last_lamport
        .unwrap();
    // Someone else's event first, so that the purchase's clock is above the twin's.
    submit(net.node(1), &mut seller, vote("busy.example")).await;
    buy_delivered(&net, 1, &mut buyer, &l2).await;
    account_everywhere(&net, seller.public(), (10, 0, 60)).await;
    let fork = twin
        .sign(vote("fork.example"), vec![], before, 1_700_000_100_000)
        .unwrap();
    let r = org(0)
        .submit(fork.as_bytes().to_vec())
        .await
        .expect("stored");
    assert_eq!(outcome(&r), "applied", "the twin sorts first");
    for n in net.nodes.iter().flatten() {
        let client = n.handle.clone();
        let key = buyer.public();
        wait_for("the buyer excluded everywhere", || {
            let client = client.clone();
            async move {
                let b = client.balance(key).await.ok()??;
                b.status.contains("Equivocation").then_some(b)
            }
        })
        .await;
    }
    account_everywhere(&net, buyer.public(), (90, 0, 0)).await;
    // John's sale stays paid: his reward stays pending; the made-up cards' too.
    account_everywhere(&net, seller.public(), (10, 0, 60)).await;
    net.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contributions_count_for_pay_or_play_only_once_the_org_node_holds_the_cards() {
    let net = TestNet::start(2).await;
    let org = |i: usize| &net.node(i).handle;
    let mut player = enrolled(&net, 0, 0).await;
    let mut colleague = enrolled(&net, 0, 1).await;
    let mut other = enrolled(&net, 1, 2).await;
    // The player has points (from a subscribed colleague) but no grant of its own.
    org(0)
        .submit_as_org(Payload::Grant(Grant {
            member: colleague.public(),
            points: 50,
            memo: String::new(),
        }))
        .await
        .unwrap();
    submit(
        net.node(0),
        &mut colleague,
        Payload::Transfer(Transfer {
            to: player.public(),
            points: 20,
        }),
    )
    .await;
    account_everywhere(&net, player.public(), (20, 0, 0)).await;
    let wanted = contribute_held(org(1), &mut other, &card(500)).await;
    wait_for("the wanted card at the player's node", || async {
        org(0).event(wanted.id()).await.ok()?.ok()?.map(|_| ())
    })
    .await;
    let buy = |player: &mut Author| {
        let listing_id = wanted.id();
        let mut player = player.clone();
        async move {
            let ev = sign_next(
                org(0),
                &mut player,
                Payload::Purchase(Purchase {
                    listing_id,
                    recipient: carnet_protocol::card::recipient_public(seed("recipient", 9)),
                    max_price: 10,
                }),
            )
            .await;
            let r = org(0).submit(ev.as_bytes().to_vec()).await.unwrap();
            (player, outcome(&r).to_owned())
        }
    };
    // 25 listings through POST /v1/events: no card is held, so they do not count.
    for n in 0..25 {
        let listing = card(n).listing(&carnet_tests::TEST_SECRET).unwrap();
        submit(
            net.node(0),
            &mut player,
            Payload::Contribute(Contribute { listing }),
        )
        .await;
    }
    let (p, outcome_unheld) = buy(&mut player).await;
    player = p;
    assert_eq!(outcome_unheld, "void:PayOrPlay");
    // 25 cards the org node keeps: it says so with Holds, and then they count.
    let mut held = Vec::new();
    for n in 100..125 {
        held.push(contribute_held(org(0), &mut player, &card(n)).await);
    }
    for ev in &held {
        wait_for("the org node's Hold of each card", || async {
            org(0)
                .listing(ev.id())
                .await
                .ok()?
                .ok()??
                .held
                .then_some(())
        })
        .await;
    }
    let (_, outcome_held) = buy(&mut player).await;
    assert_eq!(outcome_held, "applied");
    account_everywhere(&net, player.public(), (10, 0, 500)).await;
    net.stop().await;
}
