//! Reports: a bounce (with the bounce message) or a mobile number on a bought card.

use super::{resolve_id, MemberArgs};
use crate::out::Out;
use crate::submitted::report;
use anyhow::{bail, Context};
use serde_json::json;
use std::path::Path;

pub fn report_bounce(m: &MemberArgs, listing: &str, dsn: &Path, out: Out) -> anyhow::Result<()> {
    let meta = std::fs::metadata(dsn).with_context(|| format!("reading {}", dsn.display()))?;
    if meta.len() > carnet_client::dsn::MAX_DSN_BYTES as u64 {
        bail!(
            "{} is {} bytes, over the limit of {} for a bounce message",
            dsn.display(),
            meta.len(),
            carnet_client::dsn::MAX_DSN_BYTES
        );
    }
    let raw = std::fs::read(dsn).with_context(|| format!("reading {}", dsn.display()))?;
    let s = m.session()?;
    let listing = resolve_id(&s.api, listing, "LISTING")?;
    let (_, status, finding, submitted) = s.report_bounce(&listing, &raw)?;
    let checked = match finding.strip_prefix("dkim:") {
        Some(domain) => format!("DKIM-signed by {domain}"),
        None => "no DKIM signature".to_owned(),
    };
    report(
        out,
        &format!(
            "bounce reported ({}.{}.{}, vouched for by your org: {checked})",
            status.class, status.subject, status.detail
        ),
        &submitted,
        json!({
            "listing": listing.to_hex(),
            "evidence": carnet_protocol::hash::evidence_hash(&raw).to_hex(),
            "finding": finding,
        }),
    )
}

pub fn report_mobile(m: &MemberArgs, listing: &str, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let listing = resolve_id(&s.api, listing, "LISTING")?;
    let (_, submitted) = s.report_mobile(&listing)?;
    report(
        out,
        "mobile number reported",
        &submitted,
        json!({ "listing": listing.to_hex() }),
    )
}
