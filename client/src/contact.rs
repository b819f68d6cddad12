//! A contact as a member types or imports it, before it becomes a [`Card`](carnet_protocol::card::Card).

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

impl From<&carnet_protocol::card::Card> for ContactDraft {
    /// The draft a card came from (normalised), for editing it.
    fn from(c: &carnet_protocol::card::Card) -> Self {
        ContactDraft {
            name: c.teaser.name.to_string(),
            title: c.teaser.title.to_string(),
            company: c.teaser.company.to_string(),
            company_domain: Some(c.teaser.company_domain.to_string()),
            email: c.email.value.clone(),
            phone: c.phone.as_ref().map(|p| p.value.clone()),
            city: Some(c.teaser.city.to_string()).filter(|s| !s.is_empty()),
            postal_address: c.postal_address.clone(),
        }
    }
}

/// A draft turned into a card, with what the member should know about it.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub card: carnet_protocol::card::Card,
    /// Accepted but worth a look (e.g. a number that may be a mobile).
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContactError {
    #[error("email: {0}")]
    Email(carnet_protocol::card::CardError),
    #[error("phone: {0}")]
    Phone(#[from] crate::phone::PhoneError),
    #[error("{0}")]
    Field(String),
}

/// Normalises a company web address or domain: scheme, `www.`, path and port go,
/// the rest is lowercased and converted to IDNA A-labels.
pub fn normalise_domain(raw: &str) -> Result<String, ContactError> {
    let mut d = raw.trim();
    for scheme in ["https://", "http://"] {
        if d.len() >= scheme.len() && d[..scheme.len()].eq_ignore_ascii_case(scheme) {
            d = &d[scheme.len()..];
        }
    }
    let d = d.split(['/', '?', '#']).next().unwrap_or_default();
    let d = d.rsplit_once(':').map_or(d, |(host, _)| host);
    let d = d.trim_end_matches('.').to_lowercase();
    let d = d.strip_prefix("www.").unwrap_or(&d);
    let ascii = carnet_protocol::card::normalise_email(&format!("x@{d}"))
        .map_err(|_| ContactError::Field(format!("company domain {raw:?} is not a domain")))?;
    Ok(ascii.trim_start_matches("x@").to_owned())
}

/// The commitment salts of one card. They must be fresh and unguessable: a listing
/// publishes salted hashes of the email and direct line, and a guessable salt would
/// let anyone test candidate addresses against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salts {
    pub email: [u8; 32],
    pub phone: [u8; 32],
}

impl Salts {
    /// Fresh salts from the operating system; no fallback, since a weak salt would
    /// quietly expose the card.
    pub fn random() -> Result<Self, crate::keyfile::KeyFileError> {
        Ok(Salts {
            email: crate::keyfile::random32()?,
            phone: crate::keyfile::random32()?,
        })
    }
}

impl ContactDraft {
    /// Builds the card: email and domain normalised, the phone in E.164 and refused
    /// if it is a mobile number, committed under `salts`.
    pub fn prepare(&self, region: Option<&str>, salts: Salts) -> Result<Prepared, ContactError> {
        use carnet_protocol::card::{normalise_email, Card};
        use carnet_protocol::payload::{Availability, Opening, Teaser};
        let mut warnings = Vec::new();
        let email = normalise_email(&self.email).map_err(ContactError::Email)?;
        let company_domain = match self.company_domain.as_deref().map(str::trim) {
            Some(d) if !d.is_empty() => normalise_domain(d)?,
            _ => email
                .rsplit_once('@')
                .map(|(_, d)| d.to_owned())
                .unwrap_or_default(),
        };
        let phone = match self.phone.as_deref().map(str::trim) {
            Some(p) if !p.is_empty() => {
                let phone = crate::phone::normalise_phone(p, region)?;
                if let Some(w) = phone.warning() {
                    warnings.push(w);
                }
                Some(Opening {
                    value: phone.e164,
                    salt: salts.phone,
                })
            }
            _ => None,
        };
        let nonempty = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let postal_address = nonempty(&self.postal_address);
        let card = Card {
            teaser: Teaser {
                name: self.name.trim().into(),
                title: self.title.trim().into(),
                company: self.company.trim().into(),
                company_domain: company_domain.into(),
                city: nonempty(&self.city).unwrap_or_default().into(),
                availability: Availability {
                    email: true,
                    postal: postal_address.is_some(),
                    phone: phone.is_some(),
                },
            },
            email: Opening {
                value: email,
                salt: salts.email,
            },
            phone,
            postal_address,
        };
        card.check()
            .map_err(|e| ContactError::Field(e.to_string()))?;
        Ok(Prepared { card, warnings })
    }
}
