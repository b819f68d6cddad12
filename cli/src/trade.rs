//! Commands a member runs: contribute, search, buy, read, report, vote.

use crate::org::{explain_void, report};
use crate::out::{table, Out};
use anyhow::{bail, Context};
use carnet_api::{SearchQuery, Submitted};
use carnet_client::contact::{ContactDraft, Salts};
use carnet_client::member::Session;
use carnet_protocol::card::Card;
use carnet_protocol::{ContentId, Hash32};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

pub fn parse_id(s: &str, what: &str) -> anyhow::Result<ContentId> {
    Hash32::from_hex(s.trim()).with_context(|| format!("{what} must be a 64-hex-digit id"))
}

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

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Words to look for in name, title, company, domain and city.
    pub text: Option<String>,
    #[arg(long)]
    pub company: Option<String>,
    #[arg(long)]
    pub domain: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub city: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn search(m: &MemberArgs, a: &SearchArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let listings = s.api.search(&SearchQuery {
        text: a.text.clone(),
        company: a.company.clone(),
        domain: a.domain.clone(),
        title: a.title.clone(),
        city: a.city.clone(),
        limit: Some(a.limit),
    })?;
    out.emit(json!({ "listings": listings }), || {
        if listings.is_empty() {
            println!("no listings match");
            return;
        }
        let rows = listings
            .iter()
            .map(|l| {
                let mut ch = vec!["email"];
                if l.phone {
                    ch.push("phone");
                }
                if l.postal {
                    ch.push("postal");
                }
                vec![
                    l.id.clone(),
                    l.name.clone(),
                    l.title.clone(),
                    format!("{} ({})", l.company, l.company_domain),
                    l.city.clone(),
                    ch.join("+"),
                ]
            })
            .collect();
        println!(
            "{}",
            table(
                &["listing", "name", "title", "company", "city", "reach"],
                rows
            )
        );
    });
    Ok(())
}

pub fn buy(
    m: &MemberArgs,
    listing: &str,
    max_price: u64,
    wait: u64,
    out: Out,
) -> anyhow::Result<()> {
    let listing = parse_id(listing, "LISTING")?;
    let s = m.session()?;
    let (purchase, submitted) = s.buy(&listing, max_price)?;
    if let Submitted::Ordered { outcome, .. } = &submitted {
        if let Some(r) = outcome.strip_prefix("void:") {
            bail!("purchase was void: {}", explain_void(r));
        }
    }
    // The contributor's org node delivers; wait a little so `buy` can say so.
    let deadline = Instant::now() + Duration::from_secs(wait);
    let mut delivered = false;
    while Instant::now() < deadline {
        if s.api.delivery(&purchase)?.is_some() {
            delivered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    out.emit(
        json!({ "purchase": purchase.to_hex(), "listing": listing.to_hex(), "delivered": delivered }),
        || {
            println!("bought {listing} (purchase {purchase})");
            if delivered {
                println!("delivered: read it with `carnet show {listing}`");
            } else {
                println!("not delivered yet: the contributor's org node delivers when it is online; points are refunded at settlement otherwise");
            }
        },
    );
    Ok(())
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

pub fn show(m: &MemberArgs, listing: &str, out: Out) -> anyhow::Result<()> {
    let listing = parse_id(listing, "LISTING")?;
    let s = m.session()?;
    let b = s.bought(&listing)?;
    let c = &b.card;
    out.emit(
        json!({ "listing": listing.to_hex(), "purchase": b.purchase_id.to_hex(), "verified": true, "card": card_json(c) }),
        || {
            println!("{}", c.teaser.name);
            println!("  {} at {} ({})", c.teaser.title, c.teaser.company, c.teaser.company_domain);
            println!("  email   {}", c.email.value);
            if let Some(p) = &c.phone {
                println!("  direct  {}", p.value);
            }
            if !c.teaser.city.is_empty() {
                println!("  city    {}", c.teaser.city);
            }
            if let Some(a) = &c.postal_address {
                println!("  postal  {a}");
            }
            println!("  (checked against the listing's commitments)");
        },
    );
    Ok(())
}

pub fn purchases(m: &MemberArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let list = s.api.purchases(&s.public())?;
    out.emit(json!({ "purchases": list }), || {
        if list.is_empty() {
            println!("no purchases yet");
            return;
        }
        let rows = list
            .iter()
            .map(|p| {
                vec![
                    p.listing_id.clone(),
                    p.name.clone(),
                    p.company.clone(),
                    p.status.clone(),
                    p.price.to_string(),
                ]
            })
            .collect();
        println!(
            "{}",
            table(&["listing", "name", "company", "status", "price"], rows)
        );
    });
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

pub fn report_bounce(m: &MemberArgs, listing: &str, dsn: &Path, out: Out) -> anyhow::Result<()> {
    let listing = parse_id(listing, "LISTING")?;
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
    let listing = parse_id(listing, "LISTING")?;
    let s = m.session()?;
    let (_, submitted) = s.report_mobile(&listing)?;
    report(
        out,
        "mobile number reported",
        &submitted,
        json!({ "listing": listing.to_hex() }),
    )
}

pub fn vote(
    m: &MemberArgs,
    domain: &str,
    employees: &str,
    revenue: &str,
    out: Out,
) -> anyhow::Result<()> {
    let e = carnet_client::ranges::parse_employees(employees).map_err(anyhow::Error::msg)?;
    let r = carnet_client::ranges::parse_revenue(revenue).map_err(anyhow::Error::msg)?;
    let domain = carnet_client::contact::normalise_domain(domain)?;
    let s = m.session()?;
    let (_, submitted) = s.vote(&domain, e, r)?;
    report(
        out,
        &format!("voted for {domain}"),
        &submitted,
        json!({ "domain": domain }),
    )
}

pub fn company(m: &MemberArgs, domain: &str, out: Out) -> anyhow::Result<()> {
    let domain = carnet_client::contact::normalise_domain(domain)?;
    let s = m.session()?;
    let info = s.api.company(&domain)?;
    match info {
        None => out.emit(json!({ "domain": domain, "votes": 0 }), || {
            println!("{domain}: no votes yet")
        }),
        Some(c) => {
            let (e, r) = (
                carnet_client::ranges::employees_label(c.employees),
                carnet_client::ranges::revenue_label(c.revenue),
            );
            out.emit(
                json!({ "domain": c.domain, "votes": c.votes, "employees": e, "revenue": r }),
                || {
                    println!("{}", c.domain);
                    println!("  employees  {e} (median of {} votes)", c.votes);
                    println!("  revenue    {r} (median of {} votes)", c.votes);
                },
            )
        }
    }
    Ok(())
}

fn account_arg(s: &Session, who: Option<&str>) -> anyhow::Result<carnet_protocol::PublicKey> {
    match who {
        Some(k) => crate::org::parse_key(k, "ACCOUNT"),
        None => Ok(s.public()),
    }
}

pub fn balance(m: &MemberArgs, who: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let account = account_arg(&s, who)?;
    let Some(b) = s.api.balance(&account)? else {
        bail!("no account {account} on this node (not enrolled yet, or not synced)");
    };
    out.emit(json!(b), || {
        println!(
            "{} points ({} in escrow, {} pending until their cards vest), {}",
            b.balance,
            b.escrow,
            b.pending,
            b.status.to_lowercase()
        );
    });
    Ok(())
}

pub fn history(m: &MemberArgs, who: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let account = account_arg(&s, who)?;
    let list = s.api.history(&account)?;
    out.emit(
        json!({ "account": account.to_hex(), "movements": list }),
        || {
            if list.is_empty() {
                println!("no point movements yet");
                return;
            }
            let mut total = 0i64;
            let rows = list
                .iter()
                .map(|mv| {
                    total += mv.delta;
                    vec![
                        format!("{:+}", mv.delta),
                        total.to_string(),
                        mv.reason.clone(),
                        mv.event.clone(),
                    ]
                })
                .collect();
            println!("{}", table(&["points", "balance", "reason", "event"], rows));
        },
    );
    Ok(())
}

pub fn referral(m: &MemberArgs, referrer: Option<&str>, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    match referrer {
        None => {
            let code = s.public().to_hex();
            out.emit(json!({ "referral_code": code }), || {
                println!("your referral code: {code}");
                println!("a new member names you with `carnet referral {code}`; you earn the referral bonus when their first card lands");
            });
            Ok(())
        }
        Some(r) => {
            let r = crate::org::parse_key(r, "REFERRER")?;
            let (_, submitted) = s.referral(r)?;
            report(
                out,
                "referral recorded",
                &submitted,
                json!({ "referrer": r.to_hex() }),
            )
        }
    }
}

pub fn whoami(m: &MemberArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    out.emit(
        json!({ "member": s.public().to_hex(), "handle": s.key.handle, "org": s.key.org.to_hex(), "network": s.key.network.to_hex(), "api": s.api.base() }),
        || {
            println!("{} ({})", s.key.handle, s.public());
            println!("  org      {}", s.key.org);
            println!("  network  {}", s.key.network);
            println!("  node     {}", s.api.base());
        },
    );
    Ok(())
}
