//! The market: search listings, buy one, read what you bought, list your purchases.

use super::{card_json, parse_id, MemberArgs};
use crate::org::explain_void;
use crate::out::{table, Out};
use anyhow::bail;
use carnet_api::{SearchQuery, Submitted};
use carnet_client::member::MemberError;
use serde_json::json;
use std::time::{Duration, Instant};

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
