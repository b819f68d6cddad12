//! The story: three orgs trade, report a bounce and a mobile number, and agree on
//! every balance.

use super::{fails, ok, wait_for, Node, BOUNCE};
use carnet_client::member::Session;
use carnet_protocol::testkit;
use serde_json::Value;
use std::path::{Path, PathBuf};

#[test]
fn three_orgs_trade_report_and_agree_on_balances() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name);
    let s = |path: &PathBuf| path.to_str().unwrap().to_owned();

    // Three orgs: Alpha founds the network, Beta and Gamma join with its genesis.
    let a = ok(&["init", "--org", "Alpha", "--data-dir", &s(&p("alpha"))]);
    assert_eq!(a["founder"], true);
    let genesis = s(&p("alpha").join("genesis.bin"));
    let b = ok(&[
        "init",
        "--org",
        "Beta",
        "--data-dir",
        &s(&p("beta")),
        "--genesis",
        &genesis,
    ]);
    let c = ok(&[
        "init",
        "--org",
        "Gamma",
        "--data-dir",
        &s(&p("gamma")),
        "--genesis",
        &genesis,
    ]);
    assert_eq!(b["network"], a["network"]);
    assert_eq!(c["network"], a["network"]);
    assert_eq!(b["founder"], false);
    assert!(
        fails(&["init", "--org", "Again", "--data-dir", &s(&p("alpha"))])
            .contains("already holds an org")
    );

    let na = Node::start(&p("alpha"), None);
    let nb = Node::start(&p("beta"), Some(&na.listen));
    let nc = Node::start(&p("gamma"), Some(&na.listen));
    let nodes = [&na, &nb, &nc];
    assert_eq!(nb.org, b["org"].as_str().unwrap());
    assert_eq!(nc.org, c["org"].as_str().unwrap());

    // Admission: Alpha alone is a quorum of one; Gamma then needs Alpha and Beta.
    ok(&na.admin(&["network", "admit", &nb.org, "--name", "Beta"]));
    wait_for("Beta admitted on its own node", || {
        nb.balance(&nb.org).is_some()
    });
    ok(&na.admin(&["network", "admit", &nc.org, "--name", "Gamma"]));
    ok(&nb.admin(&["network", "admit", &nc.org, "--name", "Gamma"]));
    wait_for("Gamma admitted everywhere", || {
        nodes.iter().all(|n| n.balance(&nc.org).is_some())
    });

    // Members: key files made by each org's operator.
    let mut members = std::collections::BTreeMap::new();
    for (node, name) in [(&na, "alice"), (&na, "dave"), (&nb, "bob"), (&nc, "carol")] {
        let key = s(&p(&format!("{name}.key")));
        let v = ok(&node.admin(&["member", "new", name, "--out", &key]));
        members.insert(name, (key, v["member"].as_str().unwrap().to_owned()));
    }
    let key = |name: &str| members[name].0.clone();
    let pk = |name: &str| members[name].1.clone();
    ok(&nb.admin(&[
        "member",
        "grant",
        &pk("bob"),
        "100",
        "--memo",
        "subscription",
    ]));
    ok(&nc.admin(&["member", "grant", &pk("carol"), "50"]));
    wait_for("enrollments everywhere", || {
        nodes
            .iter()
            .all(|n| members.values().all(|(_, k)| n.balance(k).is_some()))
    });

    // A mobile number never leaves the CLI.
    let err = fails(&[
        "--key",
        &key("alice"),
        "contact",
        "add",
        "--name",
        "Paul Martin",
        "--title",
        "CFO",
        "--company",
        "Acme",
        "--email",
        "paul@acme.example",
        "--phone",
        "+33 6 12 34 56 78",
    ]);
    assert!(err.contains("mobile"), "{err}");

    // Alice contributes two cards.
    let l1 = ok(&[
        "--key",
        &key("alice"),
        "contact",
        "add",
        "--name",
        "Jane Doe",
        "--title",
        "VP Sales",
        "--company",
        "Acme",
        "--email",
        "Jane.Doe@ACME.example",
        "--phone",
        "+33 1 42 68 53 00",
        "--city",
        "Paris",
    ]);
    let l1 = l1["listing"].as_str().unwrap().to_owned();
    let l2 = ok(&[
        "--key",
        &key("alice"),
        "contact",
        "add",
        "--name",
        "John Roe",
        "--title",
        "CTO",
        "--company",
        "Acme",
        "--email",
        "john.roe@acme.example",
    ]);
    let l2 = carnet_protocol::Hash32::from_hex(l2["listing"].as_str().unwrap()).unwrap();
    wait_for("John's listing at Gamma", || {
        nc.client().listing(&l2).ok().flatten().is_some()
    });

    // Dave's client skips the check: the network, not the CLI, makes him pay for it.
    let dave = Session::open(Path::new(&key("dave")), None).unwrap();
    let mobile_card = testkit::with_phone(
        testkit::card_for(40, "zoe@globex.example"),
        40,
        Some("+33612345678"),
    );
    let (l_mobile, _) = dave.contribute(&mobile_card).unwrap();

    // Carol names Alice as her referrer, then imports a CSV: one new card, one
    // already listed by Alice, one with a mobile number.
    ok(&["--key", &key("carol"), "referral", &pk("alice")]);
    let csv = p("contacts.csv");
    std::fs::write(
        &csv,
        "name,title,company,company_domain,email,phone,city,postal_address\n\
         Mia Wong,Head of IT,Initech,initech.example,mia@initech.example,+44 20 7946 0958,London,\n\
         John Roe,CTO,Acme,acme.example,john.roe@acme.example,,,\n\
         Max Power,CEO,Initech,initech.example,max@initech.example,+44 7911 123456,London,\n",
    )
    .unwrap();
    // A dry run asks the node: it tells the row Alice listed from the new ones.
    let dry = ok(&[
        "--key",
        &key("carol"),
        "contact",
        "import",
        "--dry-run",
        &s(&csv),
    ]);
    assert_eq!(
        (&dry["accepted"], &dry["duplicate"]),
        (&2.into(), &1.into()),
        "{dry}"
    );
    let imported = ok(&["--key", &key("carol"), "contact", "import", &s(&csv)]);
    assert_eq!(imported["accepted"], 2, "{imported}");
    assert_eq!(imported["duplicate"], 1, "{imported}");
    assert_eq!(imported["rejected"], serde_json::json!([]), "{imported}");
    // The mobile number goes; the card stays, without it.
    let warnings = imported["warnings"].to_string();
    assert!(
        warnings.contains("line 4") && warnings.contains("mobile"),
        "{imported}"
    );
    // Run again, nothing is signed: both rows were imported from this key file.
    let again = ok(&["--key", &key("carol"), "contact", "import", &s(&csv)]);
    assert_eq!(
        (&again["accepted"], &again["already_imported"]),
        (&0.into(), &2.into()),
        "{again}"
    );
    // One address twice in a file, in two cases: the second row is a duplicate of
    // the first, not a second card.
    let twice = p("twice.csv");
    std::fs::write(
        &twice,
        "name,title,company,email\n\
         Lia Chen,CFO,Initech,lia.chen@initech.example\n\
         Lia Chen,CFO,Initech,Lia.Chen@INITECH.example\n",
    )
    .unwrap();
    let once = ok(&["--key", &key("carol"), "contact", "import", &s(&twice)]);
    assert_eq!(
        (
            &once["accepted"],
            &once["already_imported"],
            &once["duplicate"]
        ),
        (&1.into(), &0.into(), &1.into()),
        "{once}"
    );

    // Bob (Beta) finds and buys Jane's card; Alpha's node delivers it.
    wait_for("Jane's listing at Beta", || {
        nb.client()
            .listing(&carnet_protocol::Hash32::from_hex(&l1).unwrap())
            .ok()
            .flatten()
            .is_some()
    });
    // A purchase the rules would refuse is refused before anything is signed, with
    // the numbers: Erin (Gamma) has 5 points, Carol will not pay 10.
    wait_for("Jane's listing at Gamma", || {
        nc.client()
            .listing(&carnet_protocol::Hash32::from_hex(&l1).unwrap())
            .ok()
            .flatten()
            .is_some()
    });
    let erin = s(&p("erin.key"));
    let v = ok(&nc.admin(&["member", "new", "erin", "--out", &erin]));
    let erin_pk = v["member"].as_str().unwrap().to_owned();
    ok(&nc.admin(&["member", "grant", &erin_pk, "5"]));
    let err = fails(&["--key", &erin, "buy", "ffffffff0000"]);
    assert!(
        err.contains("no event on this node has an id starting with ffffffff0000"),
        "{err}"
    );
    let err = fails(&["--key", &erin, "buy", "abc"]);
    assert!(err.contains("at least the first 4"), "{err}");
    let err = fails(&["--key", &erin, "buy", &l1]);
    assert!(
        err.contains("not enough points: the card costs 10 and you have 5")
            && err.contains("nothing was signed"),
        "{err}"
    );
    let err = fails(&["--key", &key("carol"), "buy", &l1, "--max-price", "5"]);
    assert!(
        err.contains("the card costs 10, above your --max-price 5"),
        "{err}"
    );
    let head = |k: &str| {
        nc.client()
            .chain_head(&carnet_protocol::PublicKey::from_hex(k).unwrap())
            .unwrap()
            .next_seq
    };
    // Carol signed a referral and three imported cards; Erin nothing.
    assert_eq!(
        (head(&erin_pk), head(&pk("carol"))),
        (0, 4),
        "nothing signed"
    );

    let found = ok(&[
        "--key",
        &key("bob"),
        "search",
        "--company",
        "acme",
        "--title",
        "sales",
    ]);
    assert_eq!(found["listings"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["listings"][0]["id"], l1.as_str());
    assert_eq!(found["listings"][0]["name"], "Jane Doe");
    assert_eq!(
        (
            &found["total"],
            &found["listings"][0]["mine"],
            &found["listings"][0]["price"]
        ),
        (&1.into(), &"".into(), &10.into()),
        "{found}"
    );
    assert_eq!(found["listings"][0]["org_name"], "Alpha");
    // Several words, any case and accents; one's own and one's org's cards marked.
    let own = ok(&["--key", &key("alice"), "search", "JANE doé"]);
    assert_eq!(own["listings"][0]["id"], l1.as_str(), "{own}");
    assert_eq!(own["listings"][0]["mine"], "yours", "{own}");
    let org = ok(&["--key", &key("dave"), "search", "jane doe"]);
    assert_eq!(org["listings"][0]["mine"], "your org", "{org}");
    let bought = ok(&["--key", &key("bob"), "buy", &l1, "--wait", "30"]);
    assert_eq!(bought["delivered"], true, "{bought}");
    // A short id, as git takes them.
    let shown = ok(&["--key", &key("bob"), "show", &l1[..10]]);
    assert_eq!(shown["card"]["email"], "Jane.Doe@acme.example");
    assert_eq!(shown["card"]["phone"], "+33142685300");
    assert_eq!(shown["verified"], true);
    let vcf = p("bought.vcf");
    let exported = ok(&["--key", &key("bob"), "export", "--out", &s(&vcf)]);
    assert_eq!(exported["cards"], 1);
    assert!(std::fs::read_to_string(&vcf)
        .unwrap()
        .contains("Jane.Doe@acme.example"));

    // A temporary failure is refused; the permanent one is reported.
    let temp = p("delayed.eml");
    std::fs::write(
        &temp,
        BOUNCE
            .replace("{STATUS}", "4.2.2")
            .replace("failed", "delayed"),
    )
    .unwrap();
    let err = fails(&[
        "--key",
        &key("bob"),
        "report",
        "bounce",
        &l1,
        "--dsn",
        &s(&temp),
    ]);
    assert!(
        err.to_lowercase().contains("temporary") || err.contains("4.2.2"),
        "{err}"
    );
    let eml = p("bounce.eml");
    std::fs::write(&eml, BOUNCE.replace("{STATUS}", "5.1.1")).unwrap();
    let reported = ok(&[
        "--key",
        &key("bob"),
        "report",
        "bounce",
        &l1,
        "--dsn",
        &s(&eml),
    ]);
    // Bob's org node read the message and vouched for the report (no DKIM on it).
    assert_eq!(reported["outcome"], "applied", "{reported}");
    assert_eq!(reported["finding"], "unsigned", "{reported}");

    // Alice fixes the bounced card: a new address, no direct line any more. It is for
    // sale again, offering email only.
    let fixed = ok(&[
        "--key",
        &key("alice"),
        "contact",
        "update",
        &l1,
        "--email",
        "j.doe@acme.example",
        "--no-phone",
    ]);
    assert_eq!(fixed["outcome"], "applied", "{fixed}");
    assert_eq!(fixed["phone"], false);
    let mine = ok(&["--key", &key("alice"), "contact", "list"]);
    assert_eq!(mine["cards"].as_array().unwrap().len(), 2, "{mine}");
    // The buyer's copy still checks out against what was listed when it was sold.
    let shown = ok(&["--key", &key("bob"), "show", &l1]);
    assert_eq!(shown["verified"], true);

    // Carol (Gamma) buys Dave's card and reports its mobile number.
    let l_mobile = l_mobile.to_hex();
    wait_for("Zoe's listing at Gamma", || {
        nc.client()
            .listing(&carnet_protocol::Hash32::from_hex(&l_mobile).unwrap())
            .ok()
            .flatten()
            .is_some()
    });
    let bought = ok(&["--key", &key("carol"), "buy", &l_mobile, "--wait", "30"]);
    assert_eq!(bought["delivered"], true, "{bought}");
    ok(&["--key", &key("carol"), "report", "mobile", &l_mobile]);

    // Votes: the crowd's median.
    for (who, e, r) in [
        ("alice", "51-200", "10M-50M"),
        ("bob", "201-1000", "10M-50M"),
        ("carol", "51-200", "1M-10M"),
    ] {
        ok(&[
            "--key",
            &key(who),
            "vote",
            "company",
            "acme.example",
            "--employees",
            e,
            "--revenue",
            r,
        ]);
    }

    // Every node converges, and every balance is what the rules give by hand
    // (defaults: price 10, bounty 10, bounce penalty 10, mobile penalty 100). The
    // rewards for new cards (+10) and Carol's referral (+125) are pending: a card's
    // rewards vest 14 days of network time after a clean sale, and the bounced and the
    // mobile card forfeit theirs.
    let expected = [
        ("alice", 10 - 10),     // a sale, a bounce
        ("dave", 10 - 100),     // a sale, a mobile number
        ("bob", 100 - 10 + 10), // grant, a purchase, the bounty
        ("carol", 50 - 10),     // grant, a purchase
    ];
    let pending = [
        ("alice", 10 + 125),
        ("dave", 0),
        ("bob", 0),
        ("carol", 10 + 10 + 10),
    ];
    wait_for("the same state root on every node", || {
        let roots: Vec<String> = nodes
            .iter()
            .filter_map(|n| n.client().status().ok().map(|s| s.state_root))
            .collect();
        roots.len() == 3
            && roots.iter().all(|r| r == &roots[0])
            && nodes.iter().all(|n| {
                expected
                    .iter()
                    .all(|(m, want)| n.balance(&pk(m)) == Some(*want))
            })
    });
    for n in nodes {
        for (m, want) in expected {
            assert_eq!(n.balance(&pk(m)), Some(want), "{m} on {}", n.api);
        }
    }
    for (m, want) in pending {
        let v = ok(&["--key", &key(m), "balance"]);
        assert_eq!(v["pending"], want, "{m}'s pending rewards");
    }
    for (m, want) in expected {
        let v = ok(&["--key", &key(m), "balance"]);
        assert_eq!(v["balance"], want, "{m}");
        let h = ok(&["--key", &key(m), "history"]);
        let sum: i64 = h["movements"]
            .as_array()
            .unwrap()
            .iter()
            .map(|mv| mv["delta"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, want, "{m}'s history adds up to the balance");
    }
    for n in nodes {
        let v = ok(&[
            "--key",
            &key("carol"),
            "--node",
            &n.api,
            "company",
            "acme.example",
        ]);
        assert_eq!(v["votes"], 3);
        assert_eq!(v["employees"], "51-200");
        assert_eq!(v["revenue"], "10M-50M");
    }
    // The bounced and the mobile card are off the market.
    let left = ok(&["--key", &key("bob"), "search", "--company", "acme"]);
    assert_eq!(
        left["listings"].as_array().unwrap().len(),
        2,
        "John Roe and the fixed Jane Doe: {left}"
    );
    let jane = left["listings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["id"] == l1.as_str())
        .expect("Jane is for sale again");
    assert_eq!(
        (jane["email"].clone(), jane["phone"].clone()),
        (Value::Bool(true), Value::Bool(false))
    );

    // GDPR: Alpha erases John Roe; every node drops the listing.
    ok(&na.admin(&["optout", "john.roe@acme.example"]));
    wait_for("the opt-out everywhere", || {
        nodes.iter().all(|n| {
            n.client()
                .search(&carnet_api::SearchQuery {
                    text: Some("john".into()),
                    ..Default::default()
                })
                .map(|l| l.listings.is_empty())
                .unwrap_or(false)
        })
    });
    let err = fails(&[
        "--key",
        &key("carol"),
        "contact",
        "add",
        "--name",
        "John Roe",
        "--title",
        "CTO",
        "--company",
        "Acme",
        "--email",
        "john.roe@acme.example",
    ]);
    assert!(err.contains("opted out"), "{err}");
    // The refused event is in no ledger: Carol's chain goes on from the one before.
    let v = ok(&[
        "--key",
        &key("carol"),
        "vote",
        "company",
        "initech.example",
        "--employees",
        "11-50",
        "--revenue",
        "1M-10M",
    ]);
    assert_eq!(v["outcome"], "applied", "{v}");

    // Issue 13: a bounce and a mobile number were reported, yet no event stored on
    // any node holds a card's email address or phone number in clear. The nodes are
    // stopped so that their stores can be read.
    let network = carnet_protocol::Hash32::from_hex(&na.client().status().unwrap().network)
        .expect("network id");
    let dirs: Vec<PathBuf> = nodes.iter().map(|n| n.dir.clone()).collect();
    drop((na, nb, nc));
    let private = [
        "Jane.Doe@acme.example",
        "jane.doe@acme.example",
        "+33142685300",
        "john.roe@acme.example",
        "zoe@globex.example",
        "+33612345678",
        "mia@initech.example",
        "+442079460958",
    ];
    for dir in &dirs {
        let store = carnet_node::store::Store::open(&dir.join("events.redb"), network)
            .expect("open a stopped node's store");
        let events = store.load_events(&network).expect("events");
        assert!(events.len() > 20, "{} events", events.len());
        for ev in &events {
            let bytes = ev.as_bytes();
            for secret in private {
                assert!(
                    !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                    "a {} event on {} holds {secret}",
                    ev.payload().kind(),
                    dir.display()
                );
            }
        }
    }
}
