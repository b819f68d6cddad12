//! Search over the listings a node holds (issue 16).

use super::*;

/// Issue 16: search folds accents and case, takes several words, ranks, pages, finds
/// a domain by its Unicode form and shows what a buyer decides on.
#[test]
fn search_folds_ranks_pages_and_shows_the_teaser_a_buyer_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 11);
    let mut listed = std::collections::HashMap::new();
    let people = [
        (
            "Élodie Lumière",
            "Head of Procurement",
            "Acme",
            "acme.example",
            "Paris",
        ),
        (
            "Jean Martin",
            "Procurement Officer",
            "Initech",
            "xn--bcher-kva.example",
            "Lyon",
        ),
        ("Paul Proc", "Sales", "Globex", "globex.example", "Paris"),
    ]
    .into_iter()
    .chain((0..5).map(|_| {
        (
            "Filler",
            "Engineer",
            "Filler Co",
            "filler.example",
            "Berlin",
        )
    }));
    for (n, (name, title, company, domain, city)) in people.enumerate() {
        let mut card = crate::test_support::card(&format!("p{n}@{domain}"));
        card.teaser.name = name.into();
        card.teaser.title = title.into();
        card.teaser.company = company.into();
        card.teaser.company_domain = domain.into();
        card.teaser.city = city.into();
        let id = contribute(&mut e, &mut member, card, 1_000 + n as u64);
        listed.insert(id.to_hex(), name);
    }
    let org = e.org().to_hex();
    let mut search = |text: Option<&str>, domain: Option<&str>, limit, offset| {
        e.search(&SearchQuery {
            text: text.map(str::to_owned),
            domain: domain.map(str::to_owned),
            limit: Some(limit),
            offset: Some(offset),
            ..Default::default()
        })
        .expect("the store reads")
    };
    let names =
        |p: &SearchPage| -> Vec<String> { p.listings.iter().map(|l| l.name.clone()).collect() };

    assert_eq!(
        names(&search(Some("lumiere"), None, 50, 0)),
        ["Élodie Lumière"]
    );
    assert_eq!(
        names(&search(Some("PARIS procurement"), None, 50, 0)),
        ["Élodie Lumière"]
    );
    // A name that starts with the word outranks titles that do.
    let proc = search(Some("proc"), None, 50, 0);
    assert_eq!(proc.total, 3);
    assert_eq!(proc.listings[0].name, "Paul Proc");
    let bucher = search(None, Some("Bücher.example"), 50, 0);
    assert_eq!(names(&bucher), ["Jean Martin"]);
    let l = &bucher.listings[0];
    assert_eq!(l.domain_unicode, "bücher.example");
    assert_eq!(l.company_domain, "xn--bcher-kva.example");
    assert_eq!((l.price, l.org_name.as_str()), (10, "Org 0"));
    assert_eq!(l.org, org);
    assert!(l.listed_ms > 0 && l.updated_ms >= l.listed_ms, "{l:?}");

    // Five fillers, two a page: every one once.
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = search(Some("filler"), None, 2, offset);
        assert_eq!((page.total, page.offset), (5, offset));
        seen.extend(page.listings.into_iter().map(|l| l.id));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert!(search(Some("filler"), None, 2, 6).listings.is_empty());
    assert!(listed.len() == 8);
    // Short ids, as git takes them: any number of hex digits, odd ones too.
    for id in listed.keys() {
        for n in [5, 9, 64] {
            let found = e.ids_with_prefix(&id[..n], 5).unwrap();
            assert!(
                found.iter().any(|f| f.to_hex() == *id),
                "{id} by {n} digits"
            );
            assert!(found.iter().all(|f| f.to_hex().starts_with(&id[..n])));
        }
    }
    // An event stored but not ordered (as a pending one is) has no short id.
    let card = crate::test_support::card("stray@acme.example");
    let stray = crate::test_support::contribution_at(&mut e, &mut member, &card, 2_000);
    e.store().put_events(std::slice::from_ref(&stray)).unwrap();
    assert!(e
        .ids_with_prefix(&stray.id().to_hex()[..6], 5)
        .unwrap()
        .is_empty());
    assert!(e.ids_with_prefix("", 5).unwrap().is_empty());
    assert!(e.ids_with_prefix("xyz", 5).unwrap().is_empty());
    // One hex digit matches about one id in 16: the limit caps what comes back.
    assert!(e.ids_with_prefix("0", 2).unwrap().len() <= 2);
}

/// Issue 19: the state holds listings with their teasers erased; search and a
/// listing's page read the teaser in force from the store, found by its hash: after
/// an Update the new one, never the old, once; and so after a restart.
#[test]
fn search_and_a_listing_show_the_teaser_in_force_read_from_the_store() {
    use carnet_protocol::encoding::from_canonical;
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 11);
    let mut old = crate::test_support::card("ada@acme.example");
    old.teaser.name = "Ada Oldname".into();
    let id = contribute(&mut e, &mut member, old, 1_000);
    let mut new = crate::test_support::card("ada@acme.example");
    new.teaser.name = "Ada Newname".into();
    new.email.salt = [7; 32];
    let u = member
        .sign(
            Payload::Update(Update {
                listing_id: id,
                listing: new.listing(&crate::test_support::SECRET).unwrap(),
            }),
            vec![id],
            e.ledger().max_lamport(),
            2_000,
        )
        .unwrap();
    e.contribute(u.as_bytes(), new).unwrap();
    let body = e.ledger().state().listing_bodies.get(&id).unwrap();
    assert!(body.listing.teaser.is_erased());

    let names = |e: &mut Engine, text: &str| -> Vec<String> {
        e.search(&SearchQuery {
            text: Some(text.into()),
            ..Default::default()
        })
        .expect("the store reads")
        .listings
        .into_iter()
        .map(|l| l.name)
        .collect()
    };
    let shown = |e: &mut Engine| -> Option<String> {
        let detail = e.listing(&id).unwrap().expect("the listing");
        let bytes = hex::decode(detail.listing_hex).unwrap();
        let l: Listing = from_canonical(&bytes, 1 << 14).unwrap();
        l.teaser.shown().map(|t| t.name.to_string())
    };
    assert_eq!(
        names(&mut e, "ada"),
        ["Ada Newname"],
        "once, the new teaser"
    );
    assert!(names(&mut e, "oldname").is_empty(), "not the old teaser");
    assert_eq!(shown(&mut e).as_deref(), Some("Ada Newname"));
    e.save_snapshot().unwrap();
    let store = e.store();
    drop(e);
    let (mut again, _) = Engine::reopen(store, genesis, org).unwrap();
    assert_eq!(names(&mut again, "ada"), ["Ada Newname"]);
    assert_eq!(shown(&mut again).as_deref(), Some("Ada Newname"));
}
