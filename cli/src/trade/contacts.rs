//! Contacts: add, update and list the cards you contribute, import a file of them,
//! export the cards you bought.

use super::{card_json, parse_id, resolve_id, MemberArgs};
use crate::out::{table, Out};
use crate::submitted::{explain_void, report};
use anyhow::{bail, Context};
use carnet_client::contact::{ContactDraft, Salts};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::Path;

#[derive(clap::Args)]
pub struct ContactFields {
    #[arg(long)]
    pub name: String,
    #[arg(long)]
    pub title: String,
    #[arg(long)]
    pub company: String,
    /// Work email.
    #[arg(long)]
    pub email: String,
    /// The company's web domain [default: the email's domain].
    #[arg(long)]
    pub domain: Option<String>,
    /// Direct line (never a mobile number).
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub city: Option<String>,
    /// Postal address, one line.
    #[arg(long)]
    pub postal: Option<String>,
    /// Country for numbers written without +country code (ISO 3166 code, e.g. FR).
    #[arg(long)]
    pub region: Option<String>,
}

pub fn contact_add(m: &MemberArgs, f: &ContactFields, out: Out) -> anyhow::Result<()> {
    let draft = ContactDraft {
        name: f.name.clone(),
        title: f.title.clone(),
        company: f.company.clone(),
        company_domain: f.domain.clone(),
        email: f.email.clone(),
        phone: f.phone.clone(),
        city: f.city.clone(),
        postal_address: f.postal.clone(),
    };
    // Checked before anything is signed or sent: a mobile number never leaves here.
    let prepared = draft.prepare(f.region.as_deref(), Salts::random()?)?;
    let s = m.session()?;
    s.check_network()?;
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let (listing, submitted) = s.contribute(&prepared.card)?;
    report(
        out,
        &format!(
            "listed {} (the listing id is the event id)",
            prepared.card.teaser.name
        ),
        &submitted,
        json!({ "listing": listing.to_hex(), "warnings": prepared.warnings }),
    )
}

#[derive(clap::Args)]
pub struct UpdateArgs {
    pub listing: String,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub company: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub city: Option<String>,
    /// A new direct line (never a mobile number).
    #[arg(long, conflicts_with = "no_phone")]
    pub phone: Option<String>,
    /// The card no longer offers a direct line.
    #[arg(long)]
    pub no_phone: bool,
    #[arg(long, conflicts_with = "no_postal")]
    pub postal: Option<String>,
    /// The card no longer offers a postal address.
    #[arg(long)]
    pub no_postal: bool,
    /// Country for numbers written without +country code (ISO 3166, e.g. FR).
    #[arg(long)]
    pub region: Option<String>,
}

pub fn contact_update(m: &MemberArgs, a: &UpdateArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let listing = resolve_id(&s.api, &a.listing, "LISTING")?;
    let (prepared, submitted) = s.update(&listing, a.region.as_deref(), Salts::random()?, |d| {
        let set = |field: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                *field = v.clone();
            }
        };
        set(&mut d.title, &a.title);
        set(&mut d.company, &a.company);
        set(&mut d.email, &a.email);
        if a.city.is_some() {
            d.city = a.city.clone();
        }
        if a.phone.is_some() || a.no_phone {
            d.phone = a.phone.clone();
        }
        if a.postal.is_some() || a.no_postal {
            d.postal_address = a.postal.clone();
        }
    })?;
    for w in &prepared.warnings {
        eprintln!("warning: {w}");
    }
    let av = prepared.card.teaser.availability;
    report(
        out,
        &format!("updated {}", prepared.card.teaser.name),
        &submitted,
        json!({ "listing": listing.to_hex(), "email": av.email, "phone": av.phone, "postal": av.postal }),
    )
}

pub fn contact_list(m: &MemberArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let mut rows = Vec::new();
    for (id, card) in s.contributed()? {
        let status = match s.api.listing(&id)? {
            Some(l) => (l.status, l.sales),
            None => ("Gone".to_owned(), 0),
        };
        rows.push((id, card, status));
    }
    out.emit(
        json!({ "cards": rows.iter().map(|(id, c, (st, sales))| json!({
            "listing": id.to_hex(), "status": st, "sales": sales, "card": card_json(c),
        })).collect::<Vec<_>>() }),
        || {
            if rows.is_empty() {
                println!("no cards contributed from this key file yet");
                return;
            }
            let t = rows
                .iter()
                .map(|(id, c, (st, sales))| {
                    vec![
                        id.to_hex()[..12].to_owned(),
                        c.teaser.name.to_string(),
                        c.teaser.company.to_string(),
                        c.email.value.clone(),
                        st.clone(),
                        sales.to_string(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &["listing", "name", "company", "email", "status", "sales"],
                    t
                )
            );
        },
    );
    Ok(())
}

/// Imports a file; false if it stopped before its last row (the summary says where
/// and why, and the exit status is non-zero).
pub fn contact_import(
    m: &MemberArgs,
    file: &Path,
    region: Option<&str>,
    dry_run: bool,
    out: Out,
) -> anyhow::Result<bool> {
    use carnet_client::importer::Outcome;
    let meta = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?;
    if meta.len() > carnet_client::import::MAX_IMPORT_BYTES as u64 {
        bail!(
            "{} is {} bytes, over the import limit of {}",
            file.display(),
            meta.len(),
            carnet_client::import::MAX_IMPORT_BYTES
        );
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let imported = carnet_client::import::read_file(name, &bytes)?;
    let (rows, file_warnings) = (imported.rows, imported.warnings);
    let s = m.session()?;
    s.check_network()?;
    let bar = if !out.human() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(rows.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = carnet_client::importer::run(&s, rows, region, dry_run, |r| {
        bar.set_message(r.source.clone());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let count = |f: fn(&Outcome) -> bool| report.count(f);
    let accepted = count(|o| matches!(o, Outcome::Accepted(_) | Outcome::WouldBeAccepted));
    let already = count(|o| matches!(o, Outcome::AlreadyImported(_)));
    let duplicates = count(|o| matches!(o, Outcome::Duplicate(_)));
    let rejected: Vec<(&str, String)> = report
        .rows
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Rejected(why) => Some((r.source.as_str(), why.clone())),
            Outcome::Void(reason) => Some((r.source.as_str(), explain_void(reason))),
            _ => None,
        })
        .collect();
    let warnings: Vec<String> = report
        .rows
        .iter()
        .flat_map(|r| r.warnings.iter().map(move |w| format!("{}: {w}", r.source)))
        .collect();
    let skipped = report.skipped();
    let skipped_total: usize = skipped.iter().map(|(_, n)| n).sum();
    let stopped = report.stopped.as_ref().map(|st| {
        format!(
            "stopped at {}: {}; {} rows not done. Run the same command again to go on: \
             rows already imported are skipped",
            st.at,
            crate::describe_error(&st.error),
            report.not_reached
        )
    });
    out.emit(
        json!({
            "file": file.display().to_string(),
            "dry_run": dry_run,
            "accepted": accepted,
            "already_imported": already,
            "duplicate": duplicates,
            "rejected": rejected.iter().map(|(s, r)| json!({"row": s, "reason": r})).collect::<Vec<_>>(),
            "skipped": skipped.iter().map(|(why, n)| json!({"reason": why.to_string(), "rows": n})).collect::<Vec<_>>(),
            "file_warnings": file_warnings,
            "warnings": warnings,
            "listings": report.rows.iter().filter_map(|r| match &r.outcome {
                Outcome::Accepted(id) => Some(id.to_hex()),
                _ => None,
            }).collect::<Vec<_>>(),
            "stopped": stopped,
            "not_reached": report.not_reached,
        }),
        || {
            let verb = if dry_run { "would be accepted" } else { "accepted" };
            let why: Vec<String> = skipped.iter().map(|(s, n)| format!("{n} {s}")).collect();
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join(", "))
            };
            println!(
                "{}: {accepted} {verb}, {skipped_total} skipped{why}",
                file.display(),
            );
            for w in &file_warnings {
                println!("  warning  {w}");
            }
            for w in &warnings {
                println!("  warning  {w}");
            }
            for (src, reason) in &rejected {
                println!("  rejected {src}: {reason}");
            }
        },
    );
    if let Some(line) = &stopped {
        if !out.json {
            eprintln!("carnet: {line}");
        }
    }
    Ok(stopped.is_none())
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Vcard,
    Csv,
}

pub fn export(
    m: &MemberArgs,
    format: ExportFormat,
    to: Option<&Path>,
    out: Out,
) -> anyhow::Result<()> {
    let s = m.session()?;
    let mut cards = Vec::new();
    let mut skipped = Vec::new();
    for p in s.api.purchases(&s.public())? {
        if p.status != "Delivered" {
            continue;
        }
        let listing = parse_id(&p.listing_id, "listing")?;
        match s.bought(&listing) {
            Ok(b) => cards.push(b.card),
            Err(e) => skipped.push(format!("{}: {e}", p.listing_id)),
        }
    }
    let text = match format {
        ExportFormat::Vcard => carnet_client::export::to_vcard(&cards),
        ExportFormat::Csv => carnet_client::export::to_csv(&cards)?,
    };
    match to {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None if !out.json => print!("{text}"),
        None => {}
    }
    for sk in &skipped {
        eprintln!("skipped {sk}");
    }
    if out.json || to.is_some() {
        out.emit(
            json!({ "cards": cards.len(), "skipped": skipped, "file": to.map(|p| p.display().to_string()),
                    "content": if to.is_none() { Some(text.clone()) } else { None } }),
            || {
                if let Some(p) = to {
                    println!("exported {} cards to {}", cards.len(), p.display());
                }
            },
        );
    }
    Ok(())
}
