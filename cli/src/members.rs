//! `carnet member`: an org operator enrolls members, grants and revokes them, and lists
//! them.

use crate::org::AdminArgs;
use crate::out::Out;
use crate::submitted::{report, report_made};
use anyhow::{bail, Context};
use carnet_client::api::NodeApi;
use carnet_client::keyfile::MemberKey;
use carnet_protocol::{Hash32, PublicKey};
use serde_json::json;
use std::path::{Path, PathBuf};

pub fn member_new(
    admin: &AdminArgs,
    url: Option<&str>,
    handle: &str,
    out_path: Option<&Path>,
    out: Out,
) -> anyhow::Result<()> {
    let api = admin.api(url)?;
    let status = api.status()?;
    let network = Hash32::from_hex(&status.network).context("node reports a bad network id")?;
    let org = PublicKey::from_hex(&status.org).context("node reports a bad org key")?;
    let key = MemberKey::generate(handle, network, org, api.base())?;
    let path = match out_path {
        Some(p) => p.to_owned(),
        None => PathBuf::from(format!("{handle}.key")),
    };
    // Write the key first: an enrolled key nobody holds would be worse than a key
    // file for a failed enrollment, which can simply be deleted.
    key.save_new(&path)?;
    let s = api.admin_enroll(&key.public(), handle).map_err(|e| {
        anyhow::anyhow!("{e}; the unused key file {} can be deleted", path.display())
    })?;
    let member = key.public().to_hex();
    report_made(
        out,
        &format!("enrolled {handle}"),
        &s,
        json!({ "member": member, "key_file": path.display().to_string() }),
        Some(&member),
    )?;
    if out.human() {
        println!("  member key {}", key.public());
        println!(
            "  key file   {} (give it to the member; keep it secret)",
            path.display()
        );
    }
    Ok(())
}

/// A member named as people name them: its key in hex, the path of its key file, or
/// (asking the node, which needs the admin token) its handle in this org.
pub fn resolve_member(api: Option<&NodeApi>, s: &str) -> anyhow::Result<PublicKey> {
    if let Some(k) = PublicKey::from_hex(s.trim()).filter(|k| k.verifying_key().is_some()) {
        return Ok(k);
    }
    let path = Path::new(s);
    if path.is_file() {
        return Ok(MemberKey::load(path)?.public());
    }
    let Some(api) = api else {
        bail!("{s:?} is neither a public key in 64 hex digits nor a key file");
    };
    let found: Vec<_> = api
        .admin_members()?
        .into_iter()
        .filter(|m| m.handle == s.trim())
        .collect();
    match found.as_slice() {
        [one] => PublicKey::from_hex(&one.member).context("the node named a bad member key"),
        [] => bail!(
            "no member of this org has the handle {s:?}, and it is not a key or a key file (see `carnet member list`)"
        ),
        many => bail!(
            "{} members have the handle {s:?}: name one by key ({})",
            many.len(),
            many.iter()
                .map(|m| m.member.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn grant(
    admin: &AdminArgs,
    url: Option<&str>,
    member: &str,
    points: u64,
    memo: &str,
    out: Out,
) -> anyhow::Result<()> {
    let api = admin.api(url)?;
    let member = resolve_member(Some(&api), member)?;
    let s = api.admin_grant(&member, points, memo)?;
    report(
        out,
        &format!("granted {points} points to {member}"),
        &s,
        json!({ "member": member.to_hex() }),
    )
}

pub fn revoke(
    admin: &AdminArgs,
    url: Option<&str>,
    member: &str,
    reason: &str,
    out: Out,
) -> anyhow::Result<()> {
    let api = admin.api(url)?;
    let member = resolve_member(Some(&api), member)?;
    let s = api.admin_revoke(&member, reason)?;
    report(
        out,
        &format!("revoked {member}: its key can sign nothing more"),
        &s,
        json!({ "member": member.to_hex() }),
    )
}

pub fn member_list(admin: &AdminArgs, url: Option<&str>, out: Out) -> anyhow::Result<()> {
    let members = admin.api(url)?.admin_members()?;
    out.emit(json!({ "members": members }), || {
        if members.is_empty() {
            println!("no members yet: `carnet member new NAME` enrolls one");
            return;
        }
        let rows = members
            .iter()
            .map(|m| {
                vec![
                    m.handle.clone(),
                    m.member.clone(),
                    m.status.clone(),
                    m.balance.to_string(),
                    m.pending.to_string(),
                    m.contributions.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            crate::out::table(
                &["handle", "member", "status", "balance", "pending", "cards"],
                rows
            )
        );
    });
    Ok(())
}
