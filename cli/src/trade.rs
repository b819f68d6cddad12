//! Commands a member runs: contribute, search, buy, read, report, vote.
//!
//! By family: [`contacts`] (add, update, list, import, export), [`market`] (search,
//! buy, show, purchases), [`reports`] (bounce, mobile), [`companies`] (votes) and
//! [`account`] (balance, history, referral, whoami). The key, node and id helpers they
//! share are here.

mod account;
mod companies;
mod contacts;
mod market;
mod reports;

use anyhow::{bail, Context};
use carnet_client::member::Session;
use carnet_protocol::card::Card;
use carnet_protocol::{ContentId, Hash32};
use serde_json::json;
use std::path::PathBuf;

pub use account::{balance, history, referral, transfer, whoami};
pub use companies::{company, vote};
pub use contacts::{
    contact_add, contact_import, contact_list, contact_update, export, ContactFields, ExportFormat,
    UpdateArgs,
};
pub use market::{buy, purchases, search, show, SearchArgs};
pub use reports::{report_bounce, report_mobile};

/// Which key signs and which node to talk to.
#[derive(clap::Args, Clone)]
pub struct MemberArgs {
    /// The member key file [default: the platform config dir + /carnet/member.key].
    #[arg(long, env = "CARNET_KEY", global = true)]
    pub key: Option<PathBuf>,
    /// The org node's API URL [default: the one recorded in the key file, else
    /// http://127.0.0.1:4711].
    #[arg(long = "node", env = "CARNET_NODE", global = true, value_name = "URL")]
    pub api: Option<String>,
}

impl MemberArgs {
    pub fn session(&self) -> anyhow::Result<Session> {
        let path = match &self.key {
            Some(p) => p.clone(),
            None => carnet_client::keyfile::default_path()?,
        };
        if !path.exists() {
            bail!(
                "no member key at {}; your org's operator creates one with `carnet member new NAME`, pass it with --key",
                path.display()
            );
        }
        Ok(Session::open(&path, self.api.as_deref())?)
    }
}

/// An id as people type it: all 64 hex digits, or (as git takes commits) a prefix of
/// at least 4 that names one event the node holds.
pub fn resolve_id(
    api: &carnet_client::api::NodeApi,
    s: &str,
    what: &str,
) -> anyhow::Result<ContentId> {
    let s = s.trim();
    if s.len() == 64 {
        return parse_id(s, what);
    }
    if s.len() < 4 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("{what} must be an id: 64 hex digits, or at least the first 4 of them");
    }
    match api.ids_with_prefix(s)?.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no event on this node has an id starting with {s}"),
        many => bail!(
            "{what} {s} is ambiguous: {}{}; give more digits",
            many.iter()
                .map(|id| id.to_hex()[..16].to_owned())
                .collect::<Vec<_>>()
                .join(", "),
            if many.len() >= 5 { ", ..." } else { "" }
        ),
    }
}

pub fn parse_id(s: &str, what: &str) -> anyhow::Result<ContentId> {
    Hash32::from_hex(s.trim()).with_context(|| format!("{what} must be a 64-hex-digit id"))
}

fn card_json(c: &Card) -> serde_json::Value {
    json!({
        "name": c.teaser.name,
        "title": c.teaser.title,
        "company": c.teaser.company,
        "company_domain": c.teaser.company_domain,
        "city": c.teaser.city,
        "email": c.email.value,
        "phone": c.phone.as_ref().map(|p| p.value.clone()),
        "postal_address": c.postal_address,
    })
}
