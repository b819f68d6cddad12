//! The report: every check run, in order, each passing, failing or skipped.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    Fail,
    /// Not run: it needs something that failed, or the bundle leaves it out.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// Every check run, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no check failed.
    pub fn ok(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The first broken link.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| c.status == Status::Fail)
    }

    pub(super) fn add(&mut self, name: &str, r: Result<String, String>) -> bool {
        let (status, detail) = match r {
            Ok(d) => (Status::Pass, d),
            Err(d) => (Status::Fail, d),
        };
        self.checks.push(Check {
            name: name.into(),
            status,
            detail,
        });
        status == Status::Pass
    }

    pub(super) fn skip(&mut self, name: &str, why: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            status: Status::Skip,
            detail: why.into(),
        });
    }
}
