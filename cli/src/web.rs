//! `carnet web`: a member's access to the web app its org node serves (docs/web.md).

use crate::out::Out;
use crate::trade::MemberArgs;
use anyhow::{bail, Context};
use carnet_api::sealed_key::{seal, SealedKeyUpload, MIN_PASSWORD_CHARS};
use serde_json::json;
use std::io::BufRead;

/// `carnet web password`: seals the member's key under a new password, here where the
/// key file is, and hands the sealed key to the org node, signed by the key: the node
/// never receives the password from this command.
pub fn password(m: &MemberArgs, from_stdin: bool, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    s.check_network()?;
    // An event this key file signed but never handed over goes first: once the web
    // app signs, it would find its position taken (docs/web.md, "Signing for
    // members").
    if s.flush()? && out.human() {
        eprintln!("handed your last signed event over to the node first");
    }
    let password = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password(format!(
            "New web password for {} (at least {MIN_PASSWORD_CHARS} characters): ",
            s.key.handle
        ))
        .context("reading the password from the terminal (or pass --password-stdin)")?;
        let again = rpassword::prompt_password("The same again: ")
            .context("reading the password from the terminal")?;
        if first != again {
            bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    let salt = carnet_api::os::random::<16>().context("no randomness for the salt")?;
    let nonce = carnet_api::os::random::<24>().context("no randomness for the nonce")?;
    let record = seal(&s.key.secret, &password, salt, nonce)?;
    let upload =
        SealedKeyUpload::signed(&s.key.secret, &s.key.network, record, carnet_api::now_ms());
    let member = s.api.put_sealed_key(&upload)?;
    out.emit(json!({ "member": member, "handle": s.key.handle }), || {
        println!(
            "web sign-in is on for {}: your org node keeps your key sealed under this password",
            s.key.handle
        );
    });
    Ok(())
}
