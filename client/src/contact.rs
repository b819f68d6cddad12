//! A contact as a member types or imports it, before it becomes a [`Card`].

use serde::{Deserialize, Serialize};

/// One contact as entered (`carnet contact add`) or read from a file
/// (`carnet contact import`): raw text, not yet normalised or checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDraft {
    pub name: String,
    pub title: String,
    pub company: String,
    /// The company's web domain; when absent, the email's domain is used.
    pub company_domain: Option<String>,
    pub email: String,
    /// The direct line as typed (any format); normalised to E.164 by [`crate::phone`].
    pub phone: Option<String>,
    pub city: Option<String>,
    pub postal_address: Option<String>,
}
