//! Writes seed corpora for the fuzz targets: valid encoded events (one of every kind),
//! genesis documents and cards.
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
}
