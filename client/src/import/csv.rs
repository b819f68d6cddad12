//! CSV exports: Salesforce, HubSpot, Google Contacts, Outlook, LinkedIn, and Carnet's
//! own format (what [`crate::export::to_csv`] writes).
//!
//! Columns are recognised by header name, case-insensitively, so one reader serves
//! every CRM. The header is the first of the opening rows that names an email column:
//! LinkedIn puts a "Notes:" paragraph above its header. European Excel writes `;`
//! between fields, so `,`, `;` and tab are each tried.

use super::{domain_of_url, finish, nonempty, ImportError, ImportRow};
use crate::contact::ContactDraft;
use csv::{ReaderBuilder, StringRecord};

/// How far down the file the header row is looked for.
const HEADER_SEARCH_ROWS: usize = 20;

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    FullName,
    First,
    Middle,
    Last,
    /// A job title; "Title" alone ranks after "Job Title", since Outlook uses it for
    /// the honorific (Mr., Ms.) and Salesforce for the job.
    Title(u8),
    Company,
    Website,
    /// An email column; lower ranks are preferred.
    Email(u8),
    /// A direct-line column; lower ranks are preferred.
    Phone(u8),
    City,
    Postal,
    Street,
    Street2,
    PostalCode,
    Region,
    Country,
    /// Google's numbered groups: "E-mail 1 - Value", "Phone 2 - Type", ...
    Numbered(Group, u16, Attr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    Email,
    Phone,
    Address,
    Organization,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attr {
    Value,
    Type,
    Formatted,
    Street,
    City,
    PostalCode,
    Region,
    Country,
    Name,
    Title,
}

/// Header names as the CRMs write them, lowercased with single spaces.
const NAMES: &[(&str, Col)] = &[
    ("name", Col::FullName),
    ("full name", Col::FullName),
    ("display name", Col::FullName),
    ("contact name", Col::FullName),
    ("first name", Col::First),
    ("firstname", Col::First),
    ("given name", Col::First),
    ("middle name", Col::Middle),
    ("additional name", Col::Middle),
    ("last name", Col::Last),
    ("lastname", Col::Last),
    ("family name", Col::Last),
    ("surname", Col::Last),
    ("title", Col::Title(1)),
    ("job title", Col::Title(0)),
    ("position", Col::Title(0)),
    ("organization title", Col::Title(0)),
    ("company", Col::Company),
    ("company name", Col::Company),
    ("account name", Col::Company),
    ("organization", Col::Company),
    ("organisation", Col::Company),
    ("organization name", Col::Company),
    ("company_domain", Col::Website),
    ("company domain", Col::Website),
    ("company domain name", Col::Website),
    ("website", Col::Website),
    ("website url", Col::Website),
    ("company website", Col::Website),
    ("email", Col::Email(0)),
    ("e-mail", Col::Email(0)),
    ("email address", Col::Email(0)),
    ("e-mail address", Col::Email(0)),
    ("work email", Col::Email(0)),
    ("business email", Col::Email(0)),
    ("e-mail 2 address", Col::Email(1)),
    ("e-mail 3 address", Col::Email(2)),
    ("phone", Col::Phone(0)),
    ("phone number", Col::Phone(0)),
    ("business phone", Col::Phone(0)),
    ("work phone", Col::Phone(0)),
    ("direct line", Col::Phone(0)),
    ("office phone", Col::Phone(0)),
    ("business phone 2", Col::Phone(1)),
    ("city", Col::City),
    ("business city", Col::City),
    ("mailing city", Col::City),
    ("postal_address", Col::Postal),
    ("postal address", Col::Postal),
    ("business address", Col::Postal),
    ("street address", Col::Street),
    ("street", Col::Street),
    ("business street", Col::Street),
    ("mailing street", Col::Street),
    ("business street 2", Col::Street2),
    ("postal code", Col::PostalCode),
    ("zip", Col::PostalCode),
    ("zip code", Col::PostalCode),
    ("business postal code", Col::PostalCode),
    ("mailing zip/postal code", Col::PostalCode),
    ("state", Col::Region),
    ("state/region", Col::Region),
    ("business state", Col::Region),
    ("mailing state/province", Col::Region),
    ("country", Col::Country),
    ("country/region", Col::Country),
    ("business country/region", Col::Country),
    ("mailing country", Col::Country),
];

fn column(header: &str) -> Option<Col> {
    let h = header
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if let Some((_, c)) = NAMES.iter().find(|(n, _)| *n == h) {
        return Some(*c);
    }
    // "E-mail 1 - Value", "Organization 1 - Title", "Address 2 - City", ...
    let (left, attr) = h.split_once(" - ")?;
    let (group, n) = left.rsplit_once(' ')?;
    let n: u16 = n.parse().ok()?;
    let group = match group {
        "e-mail" | "email" => Group::Email,
        "phone" => Group::Phone,
        "address" => Group::Address,
        "organization" => Group::Organization,
        _ => return None,
    };
    let attr = match attr {
        "value" => Attr::Value,
        "type" | "label" => Attr::Type,
        "formatted" => Attr::Formatted,
        "street" => Attr::Street,
        "city" => Attr::City,
        "postal code" => Attr::PostalCode,
        "region" => Attr::Region,
        "country" => Attr::Country,
        "name" => Attr::Name,
        "title" => Attr::Title,
        _ => return None,
    };
    Some(Col::Numbered(group, n, attr))
}

fn is_email(c: &Option<Col>) -> bool {
    matches!(
        c,
        Some(Col::Email(_) | Col::Numbered(Group::Email, _, Attr::Value))
    )
}

struct Parsed {
    records: Vec<(u64, StringRecord)>,
    header: Option<usize>,
}

fn parse(text: &str, delimiter: u8) -> Result<Parsed, ImportError> {
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut records = Vec::new();
    // Line numbers are counted here from byte offsets: csv's own count lags by one
    // line after CRLF-terminated records.
    let (mut counted_to, mut line) = (0usize, 1u64);
    let mut line_at = |byte: u64| {
        let mut byte = usize::try_from(byte).unwrap_or(usize::MAX).min(text.len());
        // A record after a CRLF starts, for csv, on the LF that ends the line before.
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        if byte > counted_to {
            let newlines = text.as_bytes().get(counted_to..byte).unwrap_or_default();
            line += newlines.iter().filter(|b| **b == b'\n').count() as u64;
            counted_to = byte;
        }
        line
    };
    for r in reader.records() {
        let r = r.map_err(|e| ImportError::Csv {
            line: e.position().map_or(0, |p| p.line()),
            reason: e.to_string(),
        })?;
        if r.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let line = r.position().map_or(0, |p| line_at(p.byte()));
        records.push((line, r));
    }
    let header = records
        .iter()
        .take(HEADER_SEARCH_ROWS)
        .position(|(_, r)| r.iter().any(|h| is_email(&column(h))));
    Ok(Parsed { records, header })
}

pub(super) fn read(text: &str) -> Result<Vec<ImportRow>, ImportError> {
    let mut first = None;
    for delimiter in [b',', b';', b'\t'] {
        let parsed = parse(text, delimiter)?;
        if let Some(h) = parsed.header {
            return Ok(rows(&parsed.records, h));
        }
        if first.is_none() {
            first = Some(parsed);
        }
    }
    let headers = first
        .and_then(|p| p.records.into_iter().next())
        .map(|(_, r)| r.iter().map(|h| h.trim().to_owned()).collect::<Vec<_>>())
        .ok_or(ImportError::Empty)?;
    Err(ImportError::NoEmailColumn { headers })
}

fn rows(records: &[(u64, StringRecord)], header: usize) -> Vec<ImportRow> {
    let cols: Vec<Option<Col>> = records
        .get(header)
        .map(|(_, r)| r.iter().map(column).collect())
        .unwrap_or_default();
    records
        .iter()
        .skip(header + 1)
        .map(|(line, r)| {
            let (draft, other_phones) = draft(&cols, r);
            let draft = finish(draft);
            ImportRow {
                source: format!("line {line}"),
                other_phones: if draft.is_ok() {
                    other_phones
                } else {
                    Vec::new()
                },
                draft,
                warnings: Vec::new(),
            }
        })
        .collect()
}

/// Google packs several values in one cell as "a ::: b"; the first is taken.
fn first_value(cell: &str) -> &str {
    cell.split(":::").next().unwrap_or_default().trim()
}

#[derive(Default)]
struct Numbered {
    value: String,
    kind: String,
    formatted: String,
    street: String,
    city: String,
    postal_code: String,
    region: String,
    country: String,
    name: String,
    title: String,
}

/// The row's draft, and its other phone numbers, best first.
fn draft(cols: &[Option<Col>], record: &StringRecord) -> (ContactDraft, Vec<String>) {
    let mut full = String::new();
    let (mut first, mut middle, mut last) = (String::new(), String::new(), String::new());
    let mut titles: Vec<(u8, String)> = Vec::new();
    let (mut company, mut website) = (String::new(), String::new());
    let mut emails: Vec<(u8, String)> = Vec::new();
    let mut phones: Vec<(u8, String)> = Vec::new();
    let (mut city, mut postal) = (String::new(), String::new());
    let mut addr = Numbered::default();
    let mut groups: Vec<(Group, u16, Numbered)> = Vec::new();
    let set = |slot: &mut String, v: &str| {
        if slot.is_empty() {
            *slot = v.to_owned();
        }
    };
    let has_job_title = cols.contains(&Some(Col::Title(0)));
    for (col, cell) in cols.iter().zip(record.iter()) {
        let v = first_value(cell);
        if v.is_empty() {
            continue;
        }
        let Some(col) = col else { continue };
        match *col {
            Col::FullName => set(&mut full, v),
            Col::First => set(&mut first, v),
            Col::Middle => set(&mut middle, v),
            Col::Last => set(&mut last, v),
            Col::Title(rank) if rank == 0 || !has_job_title => titles.push((rank, v.to_owned())),
            Col::Title(_) => {}
            Col::Company => set(&mut company, v),
            Col::Website => set(&mut website, v),
            Col::Email(rank) => emails.push((rank, v.to_owned())),
            Col::Phone(rank) => phones.push((rank, v.to_owned())),
            Col::City => set(&mut city, v),
            Col::Postal => set(&mut postal, v),
            Col::Street => set(&mut addr.street, v),
            Col::Street2 => {
                if !addr.street.is_empty() {
                    addr.street.push_str(", ");
                }
                addr.street.push_str(v);
            }
            Col::PostalCode => set(&mut addr.postal_code, v),
            Col::Region => set(&mut addr.region, v),
            Col::Country => set(&mut addr.country, v),
            Col::Numbered(g, n, attr) => {
                let i = match groups.iter().position(|(gg, nn, _)| *gg == g && *nn == n) {
                    Some(i) => i,
                    None => {
                        groups.push((g, n, Numbered::default()));
                        groups.len() - 1
                    }
                };
                if let Some((_, _, e)) = groups.get_mut(i) {
                    let slot = match attr {
                        Attr::Value => &mut e.value,
                        Attr::Type => &mut e.kind,
                        Attr::Formatted => &mut e.formatted,
                        Attr::Street => &mut e.street,
                        Attr::City => &mut e.city,
                        Attr::PostalCode => &mut e.postal_code,
                        Attr::Region => &mut e.region,
                        Attr::Country => &mut e.country,
                        Attr::Name => &mut e.name,
                        Attr::Title => &mut e.title,
                    };
                    set(slot, v);
                }
            }
        }
    }
    groups.sort_by_key(|(_, n, _)| *n);
    let kind = |e: &Numbered| e.kind.trim_start_matches('*').trim().to_lowercase();
    for (g, n, e) in &groups {
        let rank_base = u8::try_from(*n).unwrap_or(u8::MAX).saturating_add(10);
        match g {
            Group::Email if !e.value.is_empty() => {
                let k = kind(e);
                let rank = if k.contains("work") { 3 } else { rank_base };
                emails.push((rank, e.value.clone()));
            }
            Group::Phone if !e.value.is_empty() => {
                let k = kind(e);
                let never = ["mobile", "cell", "fax", "pager"];
                if never.iter().any(|x| k.contains(x)) {
                    continue;
                }
                let rank = if k.contains("work") {
                    3
                } else if k.contains("home") {
                    rank_base.saturating_add(100)
                } else {
                    rank_base
                };
                phones.push((rank, e.value.clone()));
            }
            Group::Organization => {
                set(&mut company, &e.name);
                if !e.title.is_empty() {
                    titles.push((2, e.title.clone()));
                }
            }
            _ => {}
        }
    }
    // Google addresses: the work one, else the first not marked home.
    let address = groups
        .iter()
        .filter(|(g, _, _)| *g == Group::Address)
        .map(|(_, _, e)| e)
        .find(|e| kind(e).contains("work"))
        .or_else(|| {
            groups
                .iter()
                .filter(|(g, _, _)| *g == Group::Address)
                .map(|(_, _, e)| e)
                .find(|e| !kind(e).contains("home"))
        });
    if let Some(a) = address {
        set(&mut city, &a.city);
        set(&mut postal, &a.formatted);
        set(&mut addr.street, &a.street);
        set(&mut addr.postal_code, &a.postal_code);
        set(&mut addr.region, &a.region);
        set(&mut addr.country, &a.country);
    }
    if postal.is_empty() {
        postal = compose_address(&addr, &city);
    }
    let name = if full.is_empty() {
        [first, middle, last]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        full
    };
    let pick = |mut v: Vec<(u8, String)>| {
        v.sort_by_key(|(r, _)| *r);
        v.into_iter().next().map(|(_, s)| s)
    };
    // Stable: of equal rank, the file's order.
    phones.sort_by_key(|(r, _)| *r);
    let (phone, other_phones) = super::phones(phones.into_iter().map(|(_, p)| p));
    let draft = ContactDraft {
        name,
        title: pick(titles).unwrap_or_default(),
        company,
        company_domain: domain_of_url(&website),
        email: pick(emails).unwrap_or_default(),
        phone,
        city: nonempty(&city),
        postal_address: nonempty(&postal).map(|p| {
            p.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(", ")
        }),
    };
    (draft, other_phones)
}

/// Street, "postal-code city", region and country on one line; nothing without a street.
fn compose_address(a: &Numbered, city: &str) -> String {
    if a.street.is_empty() {
        return String::new();
    }
    let town = [a.postal_code.as_str(), city]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    [a.street.as_str(), &town, &a.region, &a.country]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}
