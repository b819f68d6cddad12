//! The whole trade in Chromium across two org nodes on 127.0.0.1 (issue 18's "Done
//! when"): the operator's grant, a contribution with the live mobile check, a search
//! from the other org, the purchase, the card and its downloads, a bounce reported with
//! the message file, and both balances changed. Writes the screenshots README.md's tour
//! shows: search, card, dashboard, the operator's settlement view.

use super::{Browser, PAGE};
use crate::trading::{wait_for, BOUNCE};
use crate::web_trade::{admin_token, public_of, two_orgs_with};
use std::time::Duration;

/// A delivery crosses both nodes, a settlement needs a quorum's checkpoints.
const SLOW: Duration = Duration::from_secs(60);

fn sign_in(b: &Browser, api: &str, handle: &str, password: &str) {
    b.goto(&format!("{api}/"));
    b.wait_for_text("h1", "Sign in", PAGE);
    b.fill("#handle", handle);
    b.fill("#password", password);
    b.click("form[action='/sign-in'] button[type=submit]");
    b.wait_for_text("h1", &format!("Hello, {handle}"), PAGE);
}

/// Signs out from the dashboard, where the button is.
fn sign_out(b: &Browser) {
    b.click("nav a[href='/']");
    b.click("form[action='/sign-out'] button[type=submit]");
    b.wait_for_text("h1", "Sign in", PAGE);
}

/// Signs in at `api` as the operator, with the admin token, and waits for the
/// operator's view: its grant form, which the sign-in page (whose heading also says
/// "Operator") does not have. Until then the session is not set, and a page asked
/// for meanwhile aborts the sign-in and shows the member's sign-in page instead.
fn operator_sign_in(b: &Browser, api: &str, token: &str) {
    b.goto(&format!("{api}/operator"));
    b.fill("#token", token);
    b.click("form[action='/operator'] button[type=submit]");
    b.wait_for_text(
        "form[action='/operator/grant'] button[type=submit]",
        "",
        PAGE,
    );
}

/// Loads `url` until `needle` is on the page, for what another node has to send.
fn reload_until(b: &Browser, url: &str, needle: &str, deadline: Duration) {
    let end = std::time::Instant::now() + deadline;
    loop {
        b.goto(url);
        if b.page_text().contains(needle) {
            return;
        }
        if std::time::Instant::now() > end {
            b.fail(format!("{needle:?} never showed at {url}"));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn the_whole_trade_in_chromium_across_two_org_nodes() {
    let tmp = tempfile::tempdir().unwrap();
    let (na, nb, alice_key, bob_key) =
        two_orgs_with(tmp.path(), &["--checkpoint-interval-ms", "500"]);
    let (alice, bob) = (public_of(&alice_key), public_of(&bob_key));
    let b = Browser::start();

    // Beta's operator signs in with the admin token and grants bob 100 points.
    let token = admin_token(&nb.dir);
    operator_sign_in(&b, &nb.api, &token);
    b.wait_for_text("h1", "Operator", PAGE);
    if b.page_text().contains(&token) {
        b.fail("the admin token is on the operator's page");
    }
    b.fill("#grant-points", "100");
    b.click("form[action='/operator/grant'] button[type=submit]");
    b.wait_for_text("h1", "Operator", PAGE);
    wait_for("bob's grant", || nb.balance(&bob) == Some(100));

    // Alice (Alpha) contributes a card by form; the direct line is checked as she types.
    sign_in(&b, &na.api, "alice", "alice's long password");
    b.click("nav a[href='/contribute']");
    b.wait_for_text("h1", "Contribute a card", PAGE);
    b.fill("#name", "Jane Doe");
    b.fill("#title", "VP Sales");
    b.fill("#company", "Acme");
    b.fill("#email", "Jane.Doe@ACME.example");
    b.fill("#city", "Paris");
    b.fill("#phone", "+33 6 12 34 56 78");
    b.wait_for_text("#phone-check", "mobile", PAGE);
    b.fill("#phone", "+33 1 42 68 53 00");
    b.wait_for_text("#phone-check", "accepted", PAGE);
    b.click("form[action='/contribute'] button[type=submit]");
    b.wait_for_text("#contributed", "Contributed", PAGE);
    sign_out(&b);

    // Bob (Beta) finds it, buys it and sees the card.
    sign_in(&b, &nb.api, "bob", "bob's long password");
    reload_until(
        &b,
        &format!("{}/search?company=acme", nb.api),
        "Jane Doe",
        SLOW,
    );
    b.wait_for_text("[role=status]", "1–1 of 1", PAGE);
    b.screenshot("search");
    b.click("article.teaser h2 a");
    b.wait_for_text("h1", "Jane Doe", PAGE);
    b.click("form[action$='/buy'] button[type=submit]");
    // "Waiting for delivery" reloads itself until Alpha's node has delivered.
    b.wait_for_text("#card-email", "Jane.Doe@acme.example", SLOW);
    if !b.text("#card-phone").contains("+33142685300") {
        b.fail("the card's direct line");
    }
    b.screenshot("card");

    // Downloads: the vCard and the CSV, as files.
    b.click("#download-vcard");
    let (_, vcf) = b.downloaded(".vcf", PAGE);
    if !vcf.starts_with("BEGIN:VCARD") || !vcf.contains("Jane.Doe@acme.example") {
        b.fail(format!("the downloaded vCard: {vcf:?}"));
    }
    b.click("#download-csv");
    let (_, csv) = b.downloaded(".csv", PAGE);
    if !csv.contains("Jane.Doe@acme.example") {
        b.fail(format!("the downloaded CSV: {csv:?}"));
    }

    // The email bounced: bob uploads the bounce message.
    let eml = tmp.path().join("bounce.eml");
    std::fs::write(&eml, BOUNCE.replace("{STATUS}", "5.1.1")).unwrap();
    let bob_before = nb.balance(&bob).unwrap();
    // Alice's sale proceeds are in once Alpha's node has ordered its own Deliver.
    let mut alice_before = 0;
    wait_for("alice's sale proceeds", || {
        alice_before = na.balance(&alice).unwrap_or(0);
        alice_before > 0
    });
    b.upload("#bounce-message", &eml);
    b.click("form[action$='/bounce'] button[type=submit]");
    b.wait_for_text("#report-outcome", "applied", PAGE);

    // Both balances change: bob's bounty on his dashboard, alice's penalty on hers.
    reload_until(&b, &format!("{}/", nb.api), "Bounce bounty", SLOW);
    let shown: i64 = b.text("#balance").trim().parse().unwrap_or(i64::MIN);
    if shown <= bob_before {
        b.fail(format!(
            "bob's balance {shown} did not grow from {bob_before}"
        ));
    }
    b.screenshot("dashboard");
    sign_out(&b);
    sign_in(&b, &na.api, "alice", "alice's long password");
    reload_until(&b, &format!("{}/", na.api), "Bounce penalty", SLOW);
    let shown: i64 = b.text("#balance").trim().parse().unwrap_or(i64::MAX);
    if shown >= alice_before {
        b.fail(format!(
            "alice's balance {shown} did not fall from {alice_before}"
        ));
    }
    sign_out(&b);

    // The operator's settlement view, once a checkpoint is final.
    operator_sign_in(&b, &nb.api, &token);
    reload_until(&b, &format!("{}/", nb.api), "events settled", SLOW);
    // The settlement section at the top of the view, its heading included.
    b.execute(
        "document.getElementById('settlement-chart').previousElementSibling.scrollIntoView()",
        vec![],
    );
    b.screenshot("operator-settlement");
    // The card and the operator's page fit a phone-sized screen too.
    b.set_window(390, 844);
    let wide = b.overflowing();
    if !wide.is_empty() {
        b.fail(format!(
            "at 390x844 the operator's page scrolls sideways: {wide:?}"
        ));
    }
    sign_out(&b);
    sign_in(&b, &nb.api, "bob", "bob's long password");
    b.goto(&format!("{}/cards", nb.api));
    b.click("table a");
    b.wait_for_text("h1", "Jane Doe", PAGE);
    let wide = b.overflowing();
    if !wide.is_empty() {
        b.fail(format!(
            "at 390x844 the card's page scrolls sideways: {wide:?}"
        ));
    }
}
