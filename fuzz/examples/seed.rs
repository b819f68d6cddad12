//! Writes seed corpora for the fuzz targets: valid encoded events (one of every kind),
//! genesis documents and cards; the bounce messages of `mail/tests/fixtures/dsn/` (and
//! any `mail/tests/fixtures/*.eml`), the contact files of
//! `client/tests/fixtures/import/`, and phone numbers as members write them.
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example seed -- fuzz/corpus`

use carnet_protocol::encoding::to_canonical;
use std::path::{Path, PathBuf};

fn write(dir: &Path, target: &str, items: impl IntoIterator<Item = Vec<u8>>) {
    let dir = dir.join(target);
    std::fs::create_dir_all(&dir).expect("create corpus dir");
    let mut n = 0;
    for bytes in items {
        let name = carnet_protocol::Hash32::of(&bytes).to_hex();
        std::fs::write(dir.join(&name[..16]), &bytes).expect("write seed");
        n += 1;
    }
    println!("{n} seeds in {}", dir.display());
}

/// Every file of `dir` (relative to the workspace root), in name order; none if `dir`
/// does not exist. `ext`: only the files whose name ends so.
fn files(dir: &str, ext: Option<&str>) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries
        .map(|e| e.expect("read fixture dir").path())
        .filter(|p| p.is_file())
        .filter(|p| ext.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| std::fs::read(p).expect("read fixture"))
        .collect()
}

/// Phone numbers in the spellings members type and address books export: national and
/// international forms, trunk prefixes, full-width digits, `tel:` URIs, extensions,
/// mobiles, and numbers whose national number starts with 0.
const PHONES: &[&str] = &[
    "+33 1 42 68 53 00",
    "01 42 68 53 00",
    "+33 (0)1 42 68 53 00",
    "0033142685300",
    "01.42.68.53.00",
    "tel:+33-1-42-68-53-00",
    "06 12 34 56 78",
    "0800 123 456",
    "+225 07 89 88 12 34",
    "+229 01 97 12 34 56",
    "+242 06 612 3456",
    "+39 02 3661 8300",
    "0549 886377",
    "8 800 555 35 35",
    "+7 800 555 35 35",
    "+7 8 800 555 35 35",
    "8 (800) 555-35-35",
    "8 495 123 45 67",
    "\u{FF0B}\u{FF13}\u{FF13} \u{FF11} \u{FF14}\u{FF12} \u{FF16}\u{FF18} \u{FF15}\u{FF13} \u{FF10}\u{FF10}",
    "\u{FF10}\u{FF11}\u{3000}\u{FF14}\u{FF12}\u{3000}\u{FF16}\u{FF18}\u{3000}\u{FF15}\u{FF13}\u{3000}\u{FF10}\u{FF10}",
    "+44 (0)20 7031 3000",
    "020 7946 0958",
    "07911 123456",
    "tel:+1-212-555-0123",
    "+1 212-555-0123",
    "(212) 555-0123",
    "+49 30 901820 ext. 12",
    "+49 30 901820",
    "030 901820",
    "+41 44 668 18 00",
    "+34 912 345 678",
    "+800 1234 5678",
    "+882 34 1234 5678",
];

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/corpus".into()),
    );
    write(
        &dir,
        "decode_event",
        carnet_fuzz::events().iter().map(|e| e.as_bytes().to_vec()),
    );
    let mut one_org = carnet_fuzz::genesis();
    one_org.founding_orgs.truncate(1);
    write(
        &dir,
        "decode_genesis",
        [carnet_fuzz::genesis().to_bytes(), one_org.to_bytes()],
    );
    write(
        &dir,
        "open_card",
        carnet_fuzz::cards().iter().map(to_canonical),
    );
    let mut bounces = files("mail/tests/fixtures/dsn", None);
    bounces.extend(files("mail/tests/fixtures", Some("eml")));
    write(&dir, "bounce_message", bounces);
    write(
        &dir,
        "contact_file",
        files("client/tests/fixtures/import", None),
    );
    write(
        &dir,
        "phone_number",
        PHONES.iter().map(|p| p.as_bytes().to_vec()),
    );
}
