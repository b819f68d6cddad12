//! Listing search as buyers expect it: accents and case folded, several words, best
//! matches first, a page at a time, and teasers that show what a buyer decides on.
//!
//! Node-local: which listings match and in what order is no part of the protocol, so
//! two nodes may rank alike listings differently; only the listings are shared.

use super::*;
use crate::folding::{fold, unicode_domain, Folded};
use crate::store::Teasers;
use carnet_protocol::ledger::{ListingStatus, State};
use carnet_protocol::Hash32;

/// Weights of the fields a `text` word may match: a name or a title says more about a
/// listing than its city.
const NAME: u32 = 4;
const TITLE: u32 = 3;
const COMPANY: u32 = 3;
const DOMAIN: u32 = 2;
const CITY: u32 = 1;

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

/// The score of the query's words against a listing's folded fields, or `None` if
/// one of them is not found where the query asks for it.
fn score(f: &Folded, q: &Query) -> Option<u32> {
    let mut score = 0;
    for (field, ws, weight) in [
        (f.company, &q.company, COMPANY),
        (f.title, &q.title, TITLE),
        (f.city, &q.city, CITY),
    ] {
        for w in ws {
            score += weight * nonzero(hit(field, w))?;
        }
    }
    if let Some(d) = &q.domain {
        let found = hit(f.domain, d).max(f.domain_unicode.map_or(0, |u| hit(u, d)));
        score += DOMAIN * nonzero(found)?;
    }
    for w in &q.text {
        let best = [
            (f.name, NAME),
            (f.title, TITLE),
            (f.company, COMPANY),
            (f.domain, DOMAIN),
            (f.domain_unicode.unwrap_or(f.domain), DOMAIN),
            (f.city, CITY),
        ]
        .into_iter()
        .map(|(f, weight)| weight * hit(f, w))
        .max()
        .unwrap_or(0);
        score += nonzero(best)?;
    }
    Some(score)
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
    /// Active listings matching `q` (see [`search_in`]), in the state as of now.
    pub fn search(&mut self, q: &SearchQuery) -> Result<SearchPage, StoreError> {
        let (state, store, price) = self.search_view();
        search_in(&state, &store.teasers()?, price, q)
    }

    /// What a search needs, to run it off the event loop: the state as of now (shared
    /// with the ledger's, nothing copied), the store, the price. The search opens its
    /// read of the teasers when it runs, not while it waits its turn: a read
    /// transaction held open keeps redb from reusing the pages freed since. A row
    /// newer than the state is not the teaser in force and is passed over.
    pub fn search_view(&mut self) -> (State, Store, u64) {
        let price = self.ledger.genesis().rules.card_price;
        (self.ledger.state().clone(), self.store.clone(), price)
    }
}

/// Active listings matching `q`, best first (then the most recently changed, then by
/// id), `q.limit` of them from `q.offset`, with how many match in all.
///
/// The teasers are the store's (the state holds listings with their teasers erased):
/// one read of every stored teaser, each listing's in force found by its hash and
/// scored on the fields folded when it was stored; only the page's are decoded.
pub fn search_in(
    state: &State,
    teasers: &Teasers,
    price: u64,
    q: &SearchQuery,
) -> Result<SearchPage, StoreError> {
    let limit = q.limit.unwrap_or(50).min(500);
    let offset = q.offset.unwrap_or(0);
    let query = Query::of(q);
    // (score, last change, listing, teaser hash)
    let mut hits: Vec<(u32, u64, ContentId, Hash32)> = Vec::new();
    // A listing's rows come together; two events may show the same teaser.
    let mut last = None;
    teasers.each(|t| {
        if last == Some(t.listing) {
            return;
        }
        let Some(l) = state.listings.get(&t.listing) else {
            return;
        };
        if l.status != ListingStatus::Active || l.teaser != t.hash {
            return;
        }
        last = Some(t.listing);
        if let Some(score) = t.folded().and_then(|f| score(&f, &query)) {
            hits.push((score, l.last_reward_ms, t.listing, t.hash));
        }
    })?;
    let total = hits.len();
    let order = |a: &(u32, u64, ContentId, Hash32), b: &(u32, u64, ContentId, Hash32)| {
        b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2))
    };
    // Only the pages up to this one are put in order: a word every listing has
    // matches them all.
    let end = offset.saturating_add(limit).min(total);
    if end == 0 {
        hits.clear();
    } else if end < total {
        hits.select_nth_unstable_by(end - 1, order);
        hits.truncate(end);
    }
    hits.sort_unstable_by(order);
    let mut listings = Vec::new();
    for (_, _, id, hash) in hits.into_iter().skip(offset) {
        let (Some(l), Some(slot)) = (state.listings.get(&id), teasers.shown(&id, &hash)?) else {
            continue;
        };
        let Some(t) = slot.shown() else {
            continue;
        };
        let org = state.accounts.get(&l.contributor).and_then(|a| a.org());
        listings.push(ListingView {
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
        });
    }
    Ok(SearchPage {
        listings,
        total,
        offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_is_folded_and_split_into_words() {
        assert_eq!(words("Paris, procurement!"), ["paris", "procurement"]);
        assert_eq!(words("LUMIÈRE"), ["lumiere"]);
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
