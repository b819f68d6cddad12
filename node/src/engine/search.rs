//! Listing search as buyers expect it: accents and case folded, several words, best
//! matches first, a page at a time, and teasers that show what a buyer decides on.
//!
//! Node-local: which listings match and in what order is no part of the protocol, so
//! two nodes may rank alike listings differently; only the listings are shared.

use super::*;
use carnet_protocol::ledger::{ListingState, ListingStatus};
use carnet_protocol::payload::Teaser;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Weights of the fields a `text` word may match: a name or a title says more about a
/// listing than its city.
const NAME: u32 = 4;
const TITLE: u32 = 3;
const COMPANY: u32 = 3;
const DOMAIN: u32 = 2;
const CITY: u32 = 1;

/// Lowercase, compatibility-decomposed, with combining marks dropped: "Lumière" and
/// "LUMIERE" both fold to "lumiere", "ﬁ" to "fi".
pub fn fold(s: &str) -> String {
    s.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The words of a query, folded; punctuation separates words (so "acme.example" is
/// two words, both to be found).
fn words(s: &str) -> Vec<String> {
    fold(s)
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// How well `word` matches a folded field: 2 at the start of one of its words, 1
/// inside one, 0 not at all.
fn hit(field: &str, word: &str) -> u32 {
    let mut best = 0;
    for (at, _) in field.match_indices(word) {
        let starts = field[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_alphanumeric());
        best = best.max(if starts { 2 } else { 1 });
        if best == 2 {
            break;
        }
    }
    best
}

/// A domain as people write it, in the stored (A-label) form, folded: a Unicode
/// domain is converted, anything that is not a domain is left to match as text.
fn ascii_domain(s: &str) -> String {
    let s = s.trim();
    match idna::domain_to_ascii(s) {
        Ok(a) if !a.is_empty() => a,
        _ => fold(s),
    }
}

/// The Unicode form of a stored domain, for display. Only a domain with an A-label
/// (`xn--`) has one to decode: the rest skip IDNA, which search runs per listing.
fn unicode_domain(d: &str) -> String {
    if !d.contains("xn--") {
        return d.to_owned();
    }
    let (u, r) = idna::domain_to_unicode(d);
    if r.is_ok() {
        u
    } else {
        d.to_owned()
    }
}

/// One listing's folded fields, as the query sees them.
struct Folded {
    name: String,
    title: String,
    company: String,
    domain: String,
    /// Only for an international domain: the others read the same in Unicode.
    domain_unicode: Option<String>,
    city: String,
}

impl Folded {
    fn of(t: &Teaser) -> Self {
        Folded {
            name: fold(&t.name),
            title: fold(&t.title),
            company: fold(&t.company),
            // Valid teasers hold lowercase ASCII domains: nothing to fold.
            domain: t.company_domain.to_string(),
            domain_unicode: t
                .company_domain
                .contains("xn--")
                .then(|| fold(&unicode_domain(&t.company_domain))),
            city: fold(&t.city),
        }
    }

    /// The score of the query's words against this listing, or `None` if one of
    /// them is not found where the query asks for it.
    fn score(&self, q: &Query) -> Option<u32> {
        let mut score = 0;
        for (field, ws, weight) in [
            (&self.company, &q.company, COMPANY),
            (&self.title, &q.title, TITLE),
            (&self.city, &q.city, CITY),
        ] {
            for w in ws {
                score += weight * nonzero(hit(field, w))?;
            }
        }
        if let Some(d) = &q.domain {
            let found =
                hit(&self.domain, d).max(self.domain_unicode.as_ref().map_or(0, |u| hit(u, d)));
            score += DOMAIN * nonzero(found)?;
        }
        for w in &q.text {
            let best = [
                (&self.name, NAME),
                (&self.title, TITLE),
                (&self.company, COMPANY),
                (&self.domain, DOMAIN),
                (self.domain_unicode.as_ref().unwrap_or(&self.domain), DOMAIN),
                (&self.city, CITY),
            ]
            .into_iter()
            .map(|(f, weight)| weight * hit(f, w))
            .max()
            .unwrap_or(0);
            score += nonzero(best)?;
        }
        Some(score)
    }
}

fn nonzero(n: u32) -> Option<u32> {
    (n > 0).then_some(n)
}

/// A query's words, folded once.
struct Query {
    text: Vec<String>,
    company: Vec<String>,
    title: Vec<String>,
    city: Vec<String>,
    domain: Option<String>,
}

impl Query {
    fn of(q: &SearchQuery) -> Self {
        let ws = |s: &Option<String>| s.as_deref().map(words).unwrap_or_default();
        Query {
            text: ws(&q.text),
            company: ws(&q.company),
            title: ws(&q.title),
            city: ws(&q.city),
            domain: q
                .domain
                .as_deref()
                .map(|d| fold(&ascii_domain(d)))
                .filter(|d| !d.is_empty()),
        }
    }
}

impl Engine {
    /// Active listings matching `q`, best first (then the most recently changed, then
    /// by id), `q.limit` of them from `q.offset`, with how many match in all.
    ///
    /// The teasers are the store's (the state holds listings with their teasers
    /// erased): one read of every stored teaser, each listing's in force found by its
    /// hash, and only those decoded.
    pub fn search(&mut self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        let limit = q.limit.unwrap_or(50).min(500);
        let offset = q.offset.unwrap_or(0);
        let query = Query::of(q);
        let price = self.ledger.genesis().rules.card_price;
        let state = self.ledger.state();
        let mut hits: Vec<(u32, ContentId, &ListingState, Teaser)> = Vec::new();
        // A listing's rows come together; two events may show the same teaser.
        let mut last = None;
        self.store.each_teaser(|t| {
            if last == Some(t.listing) {
                return;
            }
            let Some(l) = state.listings.get(&t.listing) else {
                return;
            };
            if l.status != ListingStatus::Active || l.listing.teaser.hash() != t.hash {
                return;
            }
            last = Some(t.listing);
            let Some(teaser) = t.teaser() else {
                return;
            };
            if let Some(score) = Folded::of(&teaser).score(&query) {
                hits.push((score, t.listing, &**l, teaser));
            }
        })?;
        let total = hits.len();
        hits.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then(b.2.last_reward_ms.cmp(&a.2.last_reward_ms))
                .then(a.1.cmp(&b.1))
        });
        let listings = hits
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(|(_, id, l, t)| {
                let org = state.accounts.get(&l.contributor).and_then(|a| a.org());
                ListingView {
                    id: id.to_hex(),
                    name: t.name.to_string(),
                    title: t.title.to_string(),
                    company: t.company.to_string(),
                    company_domain: t.company_domain.to_string(),
                    city: t.city.to_string(),
                    email: t.availability.email,
                    postal: t.availability.postal,
                    phone: t.availability.phone,
                    status: format!("{:?}", l.status),
                    sales: l.sales,
                    domain_unicode: unicode_domain(&t.company_domain),
                    listed_ms: l.created_ms,
                    updated_ms: l.last_reward_ms.max(l.created_ms),
                    price,
                    org: org.map(|o| o.to_hex()).unwrap_or_default(),
                    org_name: org
                        .and_then(|o| state.orgs.get(&o))
                        .map(|o| o.name.clone())
                        .unwrap_or_default(),
                }
            })
            .collect();
        Ok(SearchPage {
            listings,
            total,
            offset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_and_accents() {
        assert_eq!(fold("Lumière"), "lumiere");
        assert_eq!(fold("ÉLODIE Müller"), "elodie muller");
        assert_eq!(fold("ﬁnance"), "finance");
        assert_eq!(words("Paris, procurement!"), ["paris", "procurement"]);
    }

    #[test]
    fn a_word_start_beats_a_word_inside() {
        assert_eq!(hit("head of procurement", "proc"), 2);
        assert_eq!(hit("reprocurement", "proc"), 1);
        assert_eq!(hit("sales", "proc"), 0);
        assert_eq!(hit("x-proc", "proc"), 2);
    }

    #[test]
    fn domains_match_in_either_form() {
        assert_eq!(ascii_domain("Bücher.example"), "xn--bcher-kva.example");
        assert_eq!(unicode_domain("xn--bcher-kva.example"), "bücher.example");
        assert_eq!(ascii_domain("acme.example"), "acme.example");
    }
}
