//! Contacts: add, update and list the cards you contribute, import a file of them,
//! export the cards you bought.

use super::{card_json, parse_id, MemberArgs};
use crate::org::{explain_void, report};
use crate::out::{table, Out};
use anyhow::{bail, Context};
use carnet_api::Submitted;
use carnet_client::contact::{ContactDraft, Salts};
use carnet_protocol::{ContentId, Hash32};
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
    let listing = parse_id(&a.listing, "LISTING")?;
    let s = m.session()?;
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
                        id.to_hex(),
                        c.teaser.name.clone(),
                        c.teaser.company.clone(),
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

/// What became of one imported row.
enum RowOutcome {
    Accepted(ContentId),
    Duplicate,
    Rejected(String),
}

pub fn contact_import(
    m: &MemberArgs,
    file: &Path,
    region: Option<&str>,
    dry_run: bool,
    out: Out,
) -> anyhow::Result<()> {
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
    let rows = carnet_client::import::read(name, &bytes)?;
    let session = if dry_run { None } else { Some(m.session()?) };
    if let Some(s) = &session {
        s.check_network()?;
    }
    let bar = if out.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(rows.len() as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut results = Vec::new();
    let mut warnings = Vec::new();
    for row in rows {
        bar.set_message(row.source.clone());
        let outcome = match row.draft {
            Err(e) => RowOutcome::Rejected(e.to_string()),
            Ok(draft) => match Salts::random()
                .map_err(anyhow::Error::from)
                .and_then(|x| Ok(draft.prepare(region, x)?))
            {
                Err(e) => RowOutcome::Rejected(e.to_string()),
                Ok(p) => {
                    warnings.extend(p.warnings.iter().map(|w| format!("{}: {w}", row.source)));
                    match &session {
                        None => RowOutcome::Accepted(Hash32([0; 32])),
                        Some(s) => match s.contribute(&p.card) {
                            Ok((id, Submitted::Ordered { outcome, .. }))
                                if outcome == "void:DuplicateCard" =>
                            {
                                let _ = id;
                                RowOutcome::Duplicate
                            }
                            Ok((_, Submitted::Ordered { outcome, .. }))
                                if outcome.starts_with("void:") =>
                            {
                                RowOutcome::Rejected(explain_void(&outcome[5..]))
                            }
                            Ok((_, Submitted::Duplicate { .. })) => RowOutcome::Duplicate,
                            Ok((id, _)) => RowOutcome::Accepted(id),
                            Err(carnet_client::member::MemberError::Api(e))
                                if e.code() == Some("duplicate_card") =>
                            {
                                RowOutcome::Duplicate
                            }
                            Err(e) => RowOutcome::Rejected(e.to_string()),
                        },
                    }
                }
            },
        };
        results.push((row.source, outcome));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let accepted = results
        .iter()
        .filter(|(_, o)| matches!(o, RowOutcome::Accepted(_)))
        .count();
    let duplicates = results
        .iter()
        .filter(|(_, o)| matches!(o, RowOutcome::Duplicate))
        .count();
    let rejected: Vec<(&String, &String)> = results
        .iter()
        .filter_map(|(src, o)| match o {
            RowOutcome::Rejected(r) => Some((src, r)),
            _ => None,
        })
        .collect();
    out.emit(
        json!({
            "file": file.display().to_string(),
            "dry_run": dry_run,
            "accepted": accepted,
            "duplicate": duplicates,
            "rejected": rejected.iter().map(|(s, r)| json!({"row": s, "reason": r})).collect::<Vec<_>>(),
            "warnings": warnings,
            "listings": results.iter().filter_map(|(_, o)| match o {
                RowOutcome::Accepted(id) if !dry_run => Some(id.to_hex()),
                _ => None,
            }).collect::<Vec<_>>(),
        }),
        || {
            let verb = if dry_run { "would be accepted" } else { "accepted" };
            println!(
                "{}: {accepted} {verb}, {duplicates} duplicate, {} rejected",
                file.display(),
                rejected.len()
            );
            for w in &warnings {
                println!("  warning  {w}");
            }
            for (src, reason) in &rejected {
                println!("  rejected {src}: {reason}");
            }
        },
    );
    Ok(())
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
