//! `carnet web password`: a member turns on web sign-in; the node keeps the key sealed
//! under the password only for its own active members; the member signs in to the web
//! app, sees its dashboard and signs out (issue 18, docs/web.md).

use crate::carnet_command;
use crate::node_run::{start, stop};
use serde_json::Value;
use std::io::Write;
use std::process::{Output, Stdio};

/// `carnet --json web password --password-stdin --key KEY`, `password` on stdin.
pub(crate) fn set_password(key: &str, password: &str) -> Output {
    let mut child = carnet_command()
        .args([
            "--json",
            "web",
            "password",
            "--password-stdin",
            "--key",
            key,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{password}").unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn error_code(out: &Output) -> String {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["error"]["code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn a_member_turns_on_web_sign_in_signs_in_and_out_and_a_revoked_one_cannot() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, ready) = start(&data, &["--org", "Acme"]);
    let data = data.to_str().unwrap().to_owned();
    let key = dir.path().join("alice.key").to_str().unwrap().to_owned();
    let out = crate::carnet(&[
        "--json",
        "member",
        "new",
        "alice",
        "--out",
        &key,
        "--data-dir",
        &data,
    ]);
    assert!(out.status.success(), "{out:?}");
    let alice: Value = serde_json::from_slice(&out.stdout).unwrap();

    let out = set_password(&key, "correct horse battery");
    assert!(out.status.success(), "{out:?}");
    let kept: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kept["member"], alice["member"]);
    // A new password replaces it (signed later).
    assert!(set_password(&key, "another good password").status.success());
    // Too short: refused before anything is sent.
    let out = set_password(&key, "short");
    assert_eq!(error_code(&out), "error");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("too short"),
        "{out:?}"
    );

    // The web app: signed out, the sign-in page; a wrong password is refused.
    let api = format!("http://{}", ready["api"].as_str().unwrap());
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let home = http.get(format!("{api}/")).send().unwrap();
    assert_eq!(home.status(), 200);
    assert!(home.text().unwrap().contains("Sign in"));
    let sign_in = |handle: &str, password: &str| {
        http.post(format!("{api}/sign-in"))
            .form(&[("handle", handle), ("password", password)])
            .send()
            .unwrap()
    };
    assert_eq!(
        sign_in("alice", "correct horse battery").status(),
        401,
        "the old password"
    );
    assert_eq!(sign_in("nobody", "another good password").status(), 401);
    // Another site's form: refused whatever the password.
    let cross = http
        .post(format!("{api}/sign-in"))
        .header("Origin", "http://evil.example")
        .form(&[("handle", "alice"), ("password", "another good password")])
        .send()
        .unwrap();
    assert_eq!(cross.status(), 403);

    let ok = sign_in("alice", "another good password");
    assert_eq!(ok.status(), 303);
    let cookie = ok.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let dashboard = http
        .get(format!("{api}/"))
        .header("Cookie", &session)
        .send()
        .unwrap();
    assert_eq!(
        dashboard.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .split(';')
            .next(),
        Some("default-src 'self'")
    );
    let page = dashboard.text().unwrap();
    assert!(page.contains("Hello, alice"), "{page}");
    assert!(page.contains(r#"<dd id="balance">0</dd>"#), "{page}");
    let csrf = page
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    // Search: teasers, values escaped, only for a signed-in member.
    let out = crate::carnet(&[
        "--json",
        "--key",
        &key,
        "contact",
        "add",
        "--name",
        "Jane Doe",
        "--title",
        "R&D <Lead>",
        "--company",
        "Acme",
        "--email",
        "jane.doe@acme.example",
        "--phone",
        "+33 1 42 68 53 00",
        "--city",
        "Paris",
    ]);
    assert!(out.status.success(), "{out:?}");
    let found = http
        .get(format!("{api}/search?company=acme"))
        .header("Cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(found.contains(">Jane Doe</a></h2>"), "{found}");
    assert!(found.contains("R&amp;D &lt;Lead&gt; at Acme"), "{found}");
    assert!(found.contains("email, direct line"), "{found}");
    assert!(found.contains("1–1 of 1"), "{found}");
    let anonymous = http
        .get(format!("{api}/search?company=acme"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(!anonymous.contains("Jane Doe") && anonymous.contains("Sign in"));

    // Sign-out with another token is refused; with the session's own it ends it.
    let sign_out = |token: &str| {
        http.post(format!("{api}/sign-out"))
            .header("Cookie", &session)
            .form(&[("csrf", token)])
            .send()
            .unwrap()
    };
    assert_eq!(sign_out(&"0".repeat(64)).status(), 403);
    assert_eq!(sign_out(&csrf).status(), 303);
    let after = http
        .get(format!("{api}/"))
        .header("Cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        after.contains("Sign in") && !after.contains("Hello"),
        "{after}"
    );

    // A new password signs out whoever signed in with the old one.
    let before = sign_in("alice", "another good password");
    let old_session = before.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    assert!(set_password(&key, "a third good password").status.success());
    let page = http
        .get(format!("{api}/"))
        .header("Cookie", &old_session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("Sign in") && !page.contains("Hello"),
        "{page}"
    );

    // Revoked: a session signed in before is ended, and the node keeps nothing more.
    let again = sign_in("alice", "a third good password");
    let session = again.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let out = crate::carnet(&["member", "revoke", "alice", "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    let page = http
        .get(format!("{api}/"))
        .header("Cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        page.contains("no longer active") && !page.contains("Hello"),
        "{page}"
    );
    assert_eq!(
        error_code(&set_password(&key, "correct horse battery")),
        "not_member"
    );
    assert!(stop(node, "-TERM").success());
}

/// The operator signs in with the admin token (never with a member's session) and sees
/// the node, its orgs, peers and members; a wrong token is refused.
#[test]
fn the_operator_signs_in_with_the_admin_token_and_sees_the_members() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let (node, ready) = start(&data, &["--org", "Acme"]);
    let data = data.to_str().unwrap().to_owned();
    let key = dir.path().join("alice.key").to_str().unwrap().to_owned();
    let out = crate::carnet(&["member", "new", "alice", "--out", &key, "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    let out = crate::carnet(&["node", "admin-token", "--data-dir", &data]);
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(token.len(), 64);

    let api = format!("http://{}", ready["api"].as_str().unwrap());
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |token: &str| {
        http.post(format!("{api}/operator"))
            .form(&[("token", token)])
            .send()
            .unwrap()
    };
    assert_eq!(sign_in(&"0".repeat(64)).status(), 401);
    let ok = sign_in(&token);
    assert_eq!(ok.status(), 303);
    let session = ok.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{api}/"))
        .header("Cookie", &session)
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(page.contains("<h1>Operator</h1>"), "{page}");
    assert!(page.contains("<td>alice</td><td>Active</td>"), "{page}");
    assert!(page.contains("No peer connected."), "{page}");
    assert!(
        !page.contains(&token),
        "the token never goes back to the browser"
    );
    assert!(stop(node, "-TERM").success());
}
