//! Company size and revenue ranges as people type and read them ("51-200", "10M-50M").

use carnet_protocol::payload::{EmployeeRange, RevenueRange};

/// Every employee range with its label, smallest first.
pub const EMPLOYEES: [(EmployeeRange, &str); 7] = [
    (EmployeeRange::From1To10, "1-10"),
    (EmployeeRange::From11To50, "11-50"),
    (EmployeeRange::From51To200, "51-200"),
    (EmployeeRange::From201To1000, "201-1000"),
    (EmployeeRange::From1001To5000, "1001-5000"),
    (EmployeeRange::From5001To10000, "5001-10000"),
    (EmployeeRange::Over10000, "10001+"),
];

/// Every revenue range with its label, smallest first.
pub const REVENUE: [(RevenueRange, &str); 7] = [
    (RevenueRange::Under1M, "0-1M"),
    (RevenueRange::From1MTo10M, "1M-10M"),
    (RevenueRange::From10MTo50M, "10M-50M"),
    (RevenueRange::From50MTo100M, "50M-100M"),
    (RevenueRange::From100MTo500M, "100M-500M"),
    (RevenueRange::From500MTo1B, "500M-1B"),
    (RevenueRange::Over1B, "1B+"),
];

fn choices<T>(table: &[(T, &str)]) -> String {
    table.iter().map(|(_, s)| *s).collect::<Vec<_>>().join(", ")
}

pub fn parse_employees(s: &str) -> Result<EmployeeRange, String> {
    let s = s.trim().replace([' ', ','], "");
    EMPLOYEES
        .iter()
        .find(|(_, label)| label.eq_ignore_ascii_case(&s))
        .map(|(r, _)| *r)
        .ok_or_else(|| {
            format!(
                "unknown employee range {s:?}; one of {}",
                choices(&EMPLOYEES)
            )
        })
}

pub fn parse_revenue(s: &str) -> Result<RevenueRange, String> {
    let s = s.trim().replace([' ', '$', '€'], "");
    REVENUE
        .iter()
        .find(|(_, label)| label.eq_ignore_ascii_case(&s))
        .map(|(r, _)| *r)
        .ok_or_else(|| format!("unknown revenue range {s:?}; one of {}", choices(&REVENUE)))
}

pub fn employees_label(r: EmployeeRange) -> &'static str {
    EMPLOYEES
        .iter()
        .find(|(x, _)| *x == r)
        .map_or("?", |(_, l)| *l)
}

pub fn revenue_label(r: RevenueRange) -> &'static str {
    REVENUE
        .iter()
        .find(|(x, _)| *x == r)
        .map_or("?", |(_, l)| *l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_round_trips() {
        for (r, l) in EMPLOYEES {
            assert_eq!(parse_employees(l), Ok(r));
            assert_eq!(employees_label(r), l);
        }
        for (r, l) in REVENUE {
            assert_eq!(parse_revenue(l), Ok(r));
            assert_eq!(revenue_label(r), l);
        }
        assert_eq!(parse_revenue("10m-50m"), Ok(RevenueRange::From10MTo50M));
        assert!(parse_employees("12").unwrap_err().contains("51-200"));
    }
}
