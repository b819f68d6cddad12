//! Your account: balance, point history, referral code, and who you are.

use super::MemberArgs;
use crate::out::{table, Out};
use crate::submitted::report;
use anyhow::bail;
use carnet_client::member::Session;
use serde_json::json;

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
        if let Some(p) = &b.play {
            println!(
                "pay-or-play: {} ({} of {} contributions held in the window, {})",
                if p.plays {
                    "you can buy"
                } else {
                    "you cannot buy yet"
                },
                p.contributions,
                p.needed,
                if p.granted {
                    "a grant in it"
                } else {
                    "no grant in it"
                }
            );
        }
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

pub fn transfer(m: &MemberArgs, to: &str, points: u64, out: Out) -> anyhow::Result<()> {
    let s = m.session()?;
    let to = crate::members::resolve_member(None, to)?;
    let (_, submitted) = s.transfer(to, points)?;
    report(
        out,
        &format!("gave {points} points to {to}"),
        &submitted,
        json!({ "to": to.to_hex(), "points": points }),
    )
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
