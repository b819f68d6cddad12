//! The market: search listings, buy one, read what you bought, list your purchases.

use super::{card_json, resolve_id, MemberArgs};
use crate::out::{table, Out};
use crate::submitted::explain_void;
use anyhow::bail;
use carnet_api::{SearchQuery, Submitted};
use carnet_client::member::MemberError;
use serde_json::json;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// Words to look for in name, title, company, domain and city (all must be
    /// found; case and accents do not matter).
    pub text: Option<String>,
    #[arg(long)]
    pub company: Option<String>,
    /// The company's domain, in Unicode or punycode.
    #[arg(long)]
    pub domain: Option<String>,
    #[arg(long)]
    pub title: Option<String>,
    #[arg(long)]
    pub city: Option<String>,
    /// Results per page.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Which page of results, from 1.
    #[arg(long, default_value_t = 1)]
    pub page: usize,
}

/// A network time in ms as a date (UTC).
fn date(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

pub fn search(m: &MemberArgs, a: &SearchArgs, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let limit = a.limit.clamp(1, 500);
    let offset = a.page.max(1).saturating_sub(1).saturating_mul(limit);
    let page = s.api.search(&SearchQuery {
        text: a.text.clone(),
        company: a.company.clone(),
        domain: a.domain.clone(),
        title: a.title.clone(),
        city: a.city.clone(),
        limit: Some(limit),
        offset: Some(offset),
    })?;
    // Cards this member cannot buy, marked: its own, and its org's.
    let own: std::collections::HashSet<String> = s
        .contributed()
        .unwrap_or_default()
        .into_iter()
        .map(|(id, _)| id.to_hex())
        .collect();
    let org = s.key.org.to_hex();
    let mark = |l: &carnet_api::ListingView| {
        if own.contains(&l.id) {
            "yours"
        } else if l.org == org {
            "your org"
        } else {
            ""
        }
    };
    let listings: Vec<serde_json::Value> = page
        .listings
        .iter()
        .map(|l| {
            let mut v = serde_json::to_value(l).unwrap_or_default();
            v["mine"] = json!(mark(l));
            v
        })
        .collect();
    out.emit(
        json!({ "listings": listings, "total": page.total, "offset": page.offset, "page": a.page.max(1) }),
        || {
            if page.listings.is_empty() {
                if page.total > 0 {
                    println!("no listings on page {} ({} match in all)", a.page, page.total);
                } else {
                    println!("no listings match");
                }
                return;
            }
            let rows = page
                .listings
                .iter()
                .map(|l| {
                    let mut ch = vec!["email"];
                    if l.phone {
                        ch.push("phone");
                    }
                    if l.postal {
                        ch.push("postal");
                    }
                    let domain = if l.domain_unicode.is_empty() {
                        &l.company_domain
                    } else {
                        &l.domain_unicode
                    };
                    vec![
                        // Short, as git shows commits: any command takes it back.
                        l.id.get(..12).unwrap_or(&l.id).to_owned(),
                        l.name.clone(),
                        l.title.clone(),
                        format!("{} ({domain})", l.company),
                        l.city.clone(),
                        ch.join("+"),
                        l.org_name.clone(),
                        date(l.updated_ms),
                        l.sales.to_string(),
                        l.price.to_string(),
                        mark(l).to_owned(),
                    ]
                })
                .collect();
            println!(
                "{}",
                table(
                    &[
                        "listing", "name", "title", "company", "city", "reach", "org",
                        "updated", "sales", "price", "",
                    ],
                    rows
                )
            );
            let last = page.offset + page.listings.len();
            print!("{}-{last} of {}", page.offset + 1, page.total);
            if last < page.total {
                print!("; next: --page {}", a.page.max(1) + 1);
            }
            println!();
        },
    );
    Ok(())
}

pub fn buy(
    m: &MemberArgs,
    listing: &str,
    max_price: u64,
    wait: u64,
    out: Out,
) -> anyhow::Result<()> {
    let s = m.session()?;
    let full_id = listing.trim().len() == 64;
    let listing = resolve_id(&s.api, listing, "LISTING")?;
    // A listing just published elsewhere takes a moment to reach this node: a full id
    // (which a prefix cannot be) is waited for, within the same --wait.
    let deadline = Instant::now() + Duration::from_secs(wait);
    if full_id && s.api.listing(&listing)?.is_none() && wait > 0 {
        if out.human() {
            eprintln!("waiting up to {wait} s for listing {listing} to reach your node");
        }
        while s.api.listing(&listing)?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let (purchase, submitted) = match s.buy(&listing, max_price) {
        Err(MemberError::WouldBeVoid {
            reason,
            price,
            max_price,
            balance,
        }) => {
            let why = match reason.as_str() {
                "InsufficientBalance" => format!(
                    "not enough points: the card costs {price} and you have {}",
                    balance.unwrap_or(0)
                ),
                "PriceAboveMax" => {
                    format!("the card costs {price}, above your --max-price {max_price}")
                }
                other => explain_void(other),
            };
            bail!("{why}; nothing was signed");
        }
        r => r?,
    };
    if let Submitted::Ordered { outcome, .. } = &submitted {
        if let Some(r) = outcome.strip_prefix("void:") {
            bail!("purchase was void: {}", explain_void(r));
        }
    }
    // The contributor's org node delivers; wait a little so `buy` can say so.
    let mut delivered = false;
    while Instant::now() < deadline {
        if s.api.delivery(&purchase)?.is_some() {
            delivered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    out.emit_made(
        &purchase.to_hex(),
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

pub fn show(m: &MemberArgs, listing: &str, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let listing = resolve_id(&s.api, listing, "LISTING")?;
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
                    p.listing_id.get(..12).unwrap_or(&p.listing_id).to_owned(),
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
