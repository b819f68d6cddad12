//! The web app's pages that sign (issue 18), over HTTP on two real org nodes: a member
//! contributes by form (a mobile refused, live and on sending), a member of the other
//! org finds the card, buys it, opens and downloads it and reports its bounce; the
//! operator grants points. And the rule that keeps the CLI and the web app from
//! equivocating on one chain (docs/web.md, "Signing for members").

use crate::trading::{ok, wait_for, Node, BOUNCE};
use carnet_client::keyfile::{ChainLock, Journal, MemberKey};
use carnet_protocol::author::Author;
use carnet_protocol::payload::{EmployeeRange, Payload, RevenueRange, Vote};
use std::io::Write;
use std::path::Path;

/// A browser's part, by hand: a session cookie, and the CSRF token of the last page.
pub(crate) struct Web {
    http: reqwest::blocking::Client,
    base: String,
    cookie: String,
    csrf: String,
    /// Where the last upload was redirected.
    last_location: String,
}

/// The CSRF token a page carries in its forms.
fn csrf_of(page: &str) -> Option<String> {
    page.split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned)
}

impl Web {
    /// Signs `handle` in on the node at `base` (http://host:port).
    pub(crate) fn sign_in(base: &str, handle: &str, password: &str) -> Web {
        Self::session(
            base,
            "/sign-in",
            &[("handle", handle), ("password", password)],
        )
    }

    /// Signs the operator in on the node at `base` with the admin token.
    pub(crate) fn operator(base: &str, token: &str) -> Web {
        Self::session(base, "/operator", &[("token", token)])
    }

    /// The session a sign-in form at `path` starts (its redirect's cookie), on the
    /// dashboard.
    fn session(base: &str, path: &str, form: &[(&str, &str)]) -> Web {
        let http = reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let r = http
            .post(format!("{base}{path}"))
            .form(form)
            .send()
            .unwrap();
        assert_eq!(r.status(), 303, "sign-in at {path}: {:?}", r.text());
        let cookie = r.headers()["set-cookie"].to_str().unwrap();
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let mut web = Web {
            http,
            base: base.to_owned(),
            cookie,
            csrf: String::new(),
            last_location: String::new(),
        };
        web.get("/");
        web
    }

    /// GET `path`: the status and the body; remembers the page's CSRF token.
    pub(crate) fn get(&mut self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().unwrap();
        if let Some(t) = csrf_of(&body) {
            self.csrf = t;
        }
        (status, body)
    }

    /// POST a form to `path` with the session's CSRF token: the status, the
    /// `Location` of a redirect and the body.
    pub(crate) fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
        let mut form = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .form(&form)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        let location = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, location, r.text().unwrap())
    }

    /// POST `file` as the multipart field `field`, with the CSRF token.
    pub(crate) fn upload(&mut self, path: &str, field: &str, file: &[u8]) -> (u16, String) {
        self.upload_as(path, field, "bounce.eml", file)
    }

    /// [`Web::upload`] with the file's name; remembers a redirect's `Location`.
    pub(crate) fn upload_as(
        &mut self,
        path: &str,
        field: &str,
        file_name: &str,
        file: &[u8],
    ) -> (u16, String) {
        let boundary = "carnet-test-boundary-7f3a";
        let mut body = Vec::new();
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n",
            self.csrf
        )
        .unwrap();
        write!(
            body,
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(file);
        write!(body, "\r\n--{boundary}--\r\n").unwrap();
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Cookie", &self.cookie)
            .header(
                "Content-Type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body)
            .send()
            .unwrap();
        if let Some(l) = r.headers().get("location") {
            self.last_location = l.to_str().unwrap().to_owned();
        }
        (r.status().as_u16(), r.text().unwrap())
    }
}

/// `carnet web password --password-stdin` for the key file `key`, which must succeed.
fn set_password(key: &str, password: &str) {
    let out = crate::web::set_password(key, password);
    assert!(out.status.success(), "{out:?}");
}

/// The admin token of the data directory `dir` (`carnet node admin-token`).
pub(crate) fn admin_token(dir: &Path) -> String {
    let out = crate::carnet(&["node", "admin-token", "--data-dir", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Two orgs on loopback, Beta admitted by Alpha, with a member each (alice at Alpha,
/// bob at Beta) whose web password is set. Returns the nodes and the key files.
pub(crate) fn two_orgs(tmp: &Path) -> (Node, Node, String, String) {
    two_orgs_with(tmp, &[])
}

/// [`two_orgs`] with more arguments for both `carnet node run`s.
pub(crate) fn two_orgs_with(tmp: &Path, extra: &[&str]) -> (Node, Node, String, String) {
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    ok(&[
        "init",
        "--org",
        "Alpha",
        "--data-dir",
        &s(&tmp.join("alpha")),
    ]);
    let genesis = s(&tmp.join("alpha").join("genesis.bin"));
    ok(&[
        "init",
        "--org",
        "Beta",
        "--data-dir",
        &s(&tmp.join("beta")),
        "--genesis",
        &genesis,
    ]);
    let na = Node::start_args(&tmp.join("alpha"), None, None, extra);
    let nb = Node::start_args(&tmp.join("beta"), Some(&na.listen), None, extra);
    ok(&na.admin(&["network", "admit", &nb.org, "--name", "Beta"]));
    wait_for("Beta admitted on its own node", || {
        nb.balance(&nb.org).is_some()
    });
    let alice = s(&tmp.join("alice.key"));
    let bob = s(&tmp.join("bob.key"));
    let a = ok(&na.admin(&["member", "new", "alice", "--out", &alice]));
    let b = ok(&nb.admin(&["member", "new", "bob", "--out", &bob]));
    let (a, b) = (
        a["member"].as_str().unwrap().to_owned(),
        b["member"].as_str().unwrap().to_owned(),
    );
    wait_for("both members on both nodes", || {
        [&na, &nb]
            .iter()
            .all(|n| n.balance(&a).is_some() && n.balance(&b).is_some())
    });
    wait_for("Beta's node holds the network secret", || {
        ok(&["node", "status", "--node", &nb.api])["network_secret"] == true
    });
    set_password(&alice, "alice's long password");
    set_password(&bob, "bob's long password");
    (na, nb, alice, bob)
}

pub(crate) fn public_of(key: &str) -> String {
    MemberKey::load(Path::new(key)).unwrap().public().to_hex()
}

#[test]
fn a_card_is_contributed_bought_opened_downloaded_and_its_bounce_reported_on_the_web() {
    let tmp = tempfile::tempdir().unwrap();
    let (na, nb, alice_key, bob_key) = two_orgs(tmp.path());
    let (alice, bob) = (public_of(&alice_key), public_of(&bob_key));

    // Beta's operator grants bob points on the operator's page.
    let mut op = Web::operator(&nb.api, &admin_token(&nb.dir));
    let page = op.get("/").1;
    assert!(page.contains("Grant points"), "{page}");
    let forged = op
        .http
        .post(format!("{}/operator/grant", nb.api))
        .header("Cookie", &op.cookie)
        .form(&[("csrf", "forged"), ("member", &bob), ("points", "100")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403, "no CSRF token, no grant");
    let (status, _, body) = op.post("/operator/grant", &[("member", &bob), ("points", "100")]);
    assert_eq!(status, 303, "{body}");
    wait_for("bob's grant", || nb.balance(&bob) == Some(100));

    // Alice contributes by form. A mobile is refused by the live check and on sending.
    let mut wa = Web::sign_in(&na.api, "alice", "alice's long password");
    let (status, check) = wa.get("/contribute/phone-check?number=%2B33%206%2012%2034%2056%2078");
    assert_eq!(status, 200);
    assert!(
        check.starts_with("Refused") && check.contains("mobile"),
        "{check}"
    );
    let (status, check) = wa.get("/contribute/phone-check?number=01%2042%2068%2053%2000&region=fr");
    assert!(status == 200 && check.contains("+33142685300"), "{check}");
    let card = |phone: &'static str| {
        vec![
            ("name", "Jane Doe"),
            ("title", "VP Sales"),
            ("company", "Acme"),
            ("email", "Jane.Doe@ACME.example"),
            ("phone", phone),
            ("city", "Paris"),
        ]
    };
    wa.get("/contribute");
    let (status, _, body) = wa.post("/contribute", &card("+33 6 12 34 56 78"));
    assert_eq!(status, 422);
    assert!(
        body.contains("mobile") && body.contains("Jane Doe"),
        "the form comes back filled: {body}"
    );
    let (status, _, body) = wa.post("/contribute", &card("+33 1 42 68 53 00"));
    assert_eq!(status, 200, "{body}");
    let listing = body
        .split(r#"href="/listing/"#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    assert_eq!(listing.len(), 64, "{body}");

    // Bob finds it from the other org, and buys it.
    let mut wb = Web::sign_in(&nb.api, "bob", "bob's long password");
    // Pay-or-play on the dashboards: bob's grant lets him buy; alice has neither.
    assert!(wb.get("/").1.contains("You can buy"));
    assert!(wa.get("/").1.contains("You cannot buy yet"));
    wait_for("the listing reaches Beta", || {
        wb.get("/search?company=acme").1.contains(&listing)
    });
    let (status, page) = wb.get(&format!("/listing/{listing}"));
    assert_eq!(status, 200);
    assert!(page.contains("Buy for"), "{page}");
    // Without the session's token (another site's form): refused, nothing signed.
    let forged = wb
        .http
        .post(format!("{}/listing/{listing}/buy", nb.api))
        .header("Cookie", &wb.cookie)
        .form(&[("csrf", "0".repeat(64).as_str()), ("max_price", "100")])
        .send()
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(nb.balance(&bob), Some(100));
    let price = page
        .split(r#"name="max_price" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let (status, location, body) =
        wb.post(&format!("/listing/{listing}/buy"), &[("max_price", &price)]);
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/card/{listing}").as_str()),
        "{body}"
    );

    // The card, once Alpha's node delivers it, opened with bob's key; downloads.
    let mut shown = String::new();
    wait_for("the card delivered", || {
        let (status, body) = wb.get(&format!("/card/{listing}"));
        shown = body;
        status == 200
    });
    assert!(shown.contains("Jane.Doe@acme.example"), "{shown}");
    assert!(shown.contains("+33142685300"), "{shown}");
    let (status, vcf) = wb.get(&format!("/card/{listing}/vcard"));
    assert_eq!(status, 200);
    assert!(
        vcf.starts_with("BEGIN:VCARD") && vcf.contains("Jane.Doe@acme.example"),
        "{vcf}"
    );
    let (status, csv) = wb.get(&format!("/card/{listing}/csv"));
    assert_eq!(status, 200);
    assert!(csv.contains("Jane.Doe@acme.example"), "{csv}");
    // The CLI opens the card the web app bought: the same key derivation.
    let out = ok(&["--key", &bob_key, "show", &listing]);
    assert_eq!(out["card"]["email"], "Jane.Doe@acme.example", "{out}");
    assert_eq!(out["verified"], true, "{out}");

    // A message that is no bounce of this address: refused, nothing signed.
    let (status, body) = wb.upload(
        &format!("/card/{listing}/bounce"),
        "message",
        b"Subject: hello\r\n\r\nhi\r\n",
    );
    assert_eq!(status, 422, "{body}");
    let before = (na.balance(&alice), nb.balance(&bob));
    let bounce = BOUNCE.replace("{STATUS}", "5.1.1");
    let (status, body) = wb.upload(
        &format!("/card/{listing}/bounce"),
        "message",
        bounce.as_bytes(),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Bounce reported") && body.contains("5.1.1"),
        "{body}"
    );
    wait_for("the penalty and the bounty on both nodes", || {
        [&na, &nb]
            .iter()
            .all(|n| n.balance(&alice) < before.0 && n.balance(&bob) > before.1)
    });
    let (_, dashboard) = wb.get("/");
    assert!(dashboard.contains("Bounce bounty"), "{dashboard}");

    // A card with a mobile number (alice's client skips the check): bob reports it on
    // its page; the contributor pays the mobile penalty.
    let alice_client =
        carnet_client::member::Session::open(Path::new(&alice_key), Some(&na.api)).unwrap();
    let mobile_card = carnet_protocol::testkit::with_phone(
        carnet_protocol::testkit::card_for(40, "zoe@globex.example"),
        40,
        Some("+33612345678"),
    );
    let (mobile, _) = alice_client.contribute(&mobile_card).unwrap();
    let mobile = mobile.to_hex();
    wait_for("the mobile card reaches Beta", || {
        wb.get(&format!("/listing/{mobile}")).0 == 200
    });
    let (status, _, body) = wb.post(&format!("/listing/{mobile}/buy"), &[("max_price", "10")]);
    assert_eq!(status, 303, "{body}");
    wait_for("the mobile card delivered", || {
        wb.get(&format!("/card/{mobile}")).0 == 200
    });
    let before = na.balance(&alice).unwrap();
    let (status, _, body) = wb.post(&format!("/card/{mobile}/mobile"), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Mobile number reported"), "{body}");
    wait_for("the mobile penalty at Alpha", || {
        na.balance(&alice).is_some_and(|b| b <= before - 100)
    });
    // The bounced card has a direct line that is not a mobile: refused, nothing signed.
    let (status, _, body) = wb.post(&format!("/card/{listing}/mobile"), &[]);
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("not classified as a mobile"), "{body}");
}

/// The CLI signed an event and never handed it over (its journal holds it); the web
/// app then signed at that position. The CLI's event is refused, not ordered (no
/// equivocation, the member stays active); the CLI says so, drops it, and the next
/// command works.
#[test]
fn an_event_the_cli_never_sent_does_not_fork_the_chain_the_web_app_moved() {
    let tmp = tempfile::tempdir().unwrap();
    let (na, _nb, alice_key, _) = two_orgs(tmp.path());
    let alice = public_of(&alice_key);
    let key = MemberKey::load(Path::new(&alice_key)).unwrap();
    let network = key.network;

    // What an interrupted `carnet vote` leaves: an event at seq 0, journalled only.
    let head = carnet_client::api::NodeApi::new(&na.api)
        .unwrap()
        .chain_head(&key.public())
        .unwrap();
    let intro = carnet_protocol::Hash32::from_hex(head.introduction.as_deref().unwrap()).unwrap();
    let ev = Author::new(key.secret.clone(), network)
        .introduced_by(Some(intro))
        .sign(
            Payload::Vote(Vote {
                company_domain: "cli.example".into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            head.clock,
            carnet_api::now_ms(),
        )
        .unwrap();
    ChainLock::acquire(Path::new(&alice_key))
        .unwrap()
        .record(&Journal {
            seq: ev.seq(),
            id: ev.id().to_hex(),
            lamport: ev.lamport(),
            timestamp_ms: ev.body().timestamp_ms,
            event_hex: hex::encode(ev.as_bytes()),
            card_hex: None,
        })
        .unwrap();

    // The web app signs at seq 0 first.
    let mut wa = Web::sign_in(&na.api, "alice", "alice's long password");
    wa.get("/company/web.example");
    let (status, location, body) = wa.post(
        "/company/web.example",
        &[("employees", "2"), ("revenue", "1")],
    );
    assert_eq!(
        (status, location.as_str()),
        (303, "/company/web.example"),
        "{body}"
    );
    let (_, page) = wa.get("/company/web.example");
    assert!(page.contains("51-200"), "{page}");
    // The crowd's votes, drawn and tabled: one vote for 51-200.
    assert!(page.contains(r#"id="employees-chart""#), "{page}");
    assert!(page.contains("<td>51-200</td><td>1</td>"), "{page}");
    assert!(page.contains("You voted 51-200 employees"), "{page}");

    // Sent now, the CLI's event would be an equivocation: the node refuses it.
    let sent = carnet_client::api::NodeApi::new(&na.api)
        .unwrap()
        .submit(ev.as_bytes());
    match sent {
        Err(carnet_client::api::ApiError::Refused { status, code, .. }) => {
            assert_eq!((status, code.as_str()), (409, "chain_moved"));
        }
        other => panic!("expected chain_moved, got {other:?}"),
    }

    // The CLI's next command finds its journalled event superseded: it says so.
    let vote = [
        "--key",
        &alice_key,
        "vote",
        "company",
        "other.example",
        "--employees",
        "1-10",
        "--revenue",
        "0-1M",
    ];
    let out = crate::carnet(&[&["--json"][..], &vote[..]].concat());
    assert!(!out.status.success());
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(err["error"]["code"], "chain_moved", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run it again"),
        "{err}"
    );
    // Nothing forked: the member is active, and the command works when run again.
    let b = ok(&["--key", &alice_key, "balance"]);
    assert_eq!(b["status"], "Active", "{b}");
    let v = ok(&vote);
    assert!(v.to_string().contains("applied"), "{v}");
    assert_eq!(na.balance(&alice), Some(0));
}

/// The operator's page enrolls a web-only member with a first password, the member
/// changes it (the current one needed), and the operator revokes the member.
#[test]
fn the_operator_enrolls_a_web_member_who_changes_password_and_is_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, ready) =
        crate::node_run::start(&data, &["--org", "Acme", "--checkpoint-interval-ms", "300"]);
    let api = format!("http://{}", ready["api"].as_str().unwrap());
    let mut op = Web::operator(&api, &admin_token(&data));
    let http = op.http.clone();
    // Before the first checkpoint, an honest empty state; then the chart.
    let first = op.get("/").1;
    assert!(
        first.contains("settlement-empty") || first.contains("settlement-chart"),
        "{first}"
    );
    let (status, _, body) = op.post(
        "/operator/enroll",
        &[("handle", "carol"), ("password", "short")],
    );
    assert_eq!(status, 422, "{body}");
    let (status, _, body) = op.post(
        "/operator/enroll",
        &[("handle", "carol"), ("password", "a first password")],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("carol is a member"), "{body}");

    // Carol signs in with it and changes it; the current one is needed.
    let mut carol = Web::sign_in(&api, "carol", "a first password");
    assert!(carol.get("/").1.contains("Hello, carol"));
    carol.get("/password");
    let change = |w: &mut Web, current: &str| {
        w.post(
            "/password",
            &[
                ("current", current),
                ("new", "carol's own password"),
                ("again", "carol's own password"),
            ],
        )
    };
    assert_eq!(change(&mut carol, "a wrong password").0, 401);
    assert_eq!(change(&mut carol, "a first password").0, 303);
    // Every session of hers ended; the old password no longer opens.
    assert!(carol.get("/").1.contains("Sign in"));
    let r = http
        .post(format!("{api}/sign-in"))
        .form(&[("handle", "carol"), ("password", "a first password")])
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    let mut carol = Web::sign_in(&api, "carol", "carol's own password");

    // Carol imports a vCard file: a progress page, then the per-card report.
    let vcf = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Lee\r\nTITLE:CTO\r\nORG:Initech\r\nEMAIL;TYPE=WORK:ann@initech.example\r\nTEL;TYPE=WORK:+33 1 42 68 53 00\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bo Ray\r\nORG:Initech\r\nEMAIL:bo@initech.example\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Again\r\nTITLE:CTO\r\nORG:Initech\r\nEMAIL:ANN@initech.example\r\nEND:VCARD\r\n\
BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Cy Moss\r\nTITLE:CFO\r\nORG:Initech\r\nEMAIL:cy@initech.example\r\nTEL:+33 6 12 34 56 78\r\nEND:VCARD\r\n";
    carol.get("/import");
    let (status, body) = carol.upload_as("/import", "file", "contacts.vcf", vcf.as_bytes());
    assert!(status == 200 || status == 303, "{status}: {body}");
    let mut report = String::new();
    wait_for("the import to finish", || {
        report = carol.get(&carol.last_location.clone()).1;
        report.contains("Done.")
    });
    assert!(
        report.contains("4 of 4 contacts: 2 listed, 2 skipped"),
        "{report}"
    );
    assert!(
        report.contains("title"),
        "the missing title is named: {report}"
    );
    assert!(report.contains("same address"), "{report}");
    assert!(
        report.contains("mobile"),
        "the mobile left out is said: {report}"
    );
    // Forms are small: a 100 KiB one is refused before it is read.
    let big = "x".repeat(100 * 1024);
    let (status, _, _) = carol.post("/contribute", &[("name", big.as_str())]);
    assert_eq!(status, 413);

    // The operator revokes her: she is signed out.
    let page = op.get("/").1;
    let carol_key = page
        .split(r#"name="member" value=""#)
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let (status, _, body) = op.post("/operator/revoke", &[("member", &carol_key)]);
    assert_eq!(status, 303, "{body}");
    let home = carol.get("/").1;
    assert!(home.contains("no longer active"), "{home}");
    // Settlement: the org's checkpoints over these events, drawn once final.
    wait_for("a finalized checkpoint on the operator's page", || {
        op.get("/").1.contains(r#"id="settlement-chart""#)
    });
    crate::node_run::stop(node, "-TERM");
}
