//! Companies: vote on a company's size, read the median of the votes.

use super::MemberArgs;
use crate::out::Out;
use crate::submitted::report;
use serde_json::json;

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
