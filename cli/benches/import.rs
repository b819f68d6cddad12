//! `carnet contact import` of a large CSV: does each card cost the same at row 50,000
//! as at row 1? A `carnet node run` process (a founding org, so it holds the network
//! secret and takes contributions at once), one member, and the import run through
//! the same library call the CLI makes, timed per block of rows.
//!
//! `cargo bench -p carnet-cli --bench import` (not in CI). Environment:
//! `CARNET_IMPORT_ROWS` (default 50000), `CARNET_IMPORT_BLOCKS` (default 10).

use carnet_client::importer::{self, Outcome};
use carnet_client::member::Session;
use carnet_protocol::testkit::workload::bench_env;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let rows = bench_env("CARNET_IMPORT_ROWS", 50_000);
    let blocks = bench_env("CARNET_IMPORT_BLOCKS", 10).clamp(1, rows.max(1));
    let dir = tempfile::tempdir().expect("temporary directory");
    let data = dir.path().join("node");
    let mut node = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["--json", "node", "run", "--org", "Benchco"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the node");
    let ready = BufReader::new(node.stdout.take().expect("stdout"))
        .lines()
        .next()
        .and_then(Result::ok)
        .expect("the node's ready line");
    let ready: serde_json::Value = serde_json::from_str(&ready).expect("ready line");
    let api = format!("http://{}", ready["api"].as_str().expect("api address"));
    let key = dir.path().join("bench.key");
    let made = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["--json", "member", "new", "bench", "--out"])
        .arg(&key)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .expect("member new");
    assert!(made.status.success(), "{made:?}");

    let mut csv = String::from("name,title,company,email,phone,city\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "Person {i},Head of Purchasing,Company {c},person.{i}@company{c}.example,,Lyon\n",
            c = i % 997
        ));
    }
    let parse = Instant::now();
    let read = carnet_client::import::read("bench.csv", csv.as_bytes()).expect("the CSV reads");
    let parse = parse.elapsed();
    let session = Session::open(&key, Some(&api)).expect("session");

    let per_block = rows.div_ceil(blocks);
    let mut marks = vec![Instant::now()];
    let mut done = 0usize;
    let start = Instant::now();
    let report = importer::run(&session, read, None, false, |_| {
        done += 1;
        if done.is_multiple_of(per_block) || done == rows {
            marks.push(Instant::now());
        }
    })
    .expect("the import runs");
    let total = start.elapsed();
    let accepted = report.count(|o| matches!(o, Outcome::Accepted(_)));
    assert_eq!(accepted, rows, "every row accepted: {:?}", report.stopped);

    // Rerun: every row is already imported, nothing is signed.
    let again = Instant::now();
    let read = carnet_client::import::read("bench.csv", csv.as_bytes()).expect("the CSV reads");
    let second = importer::run(&session, read, None, false, |_| {}).expect("the rerun");
    let again = again.elapsed();
    let skipped = second.count(|o| matches!(o, Outcome::AlreadyImported(_)));
    let book = std::fs::metadata(format!("{}.cards", key.display()))
        .map(|m| m.len())
        .unwrap_or(0);
    let _ = node.kill();
    let _ = node.wait();

    let ms = |d: Duration, n: usize| d.as_secs_f64() * 1000.0 / n.max(1) as f64;
    println!("import of {rows} CSV rows, one member, a node on 127.0.0.1");
    println!("  parsing the file: {:.1} ms", parse.as_secs_f64() * 1000.0);
    println!(
        "  whole import: {:.1} s, {:.0} cards/s, {:.2} ms per card",
        total.as_secs_f64(),
        rows as f64 / total.as_secs_f64(),
        ms(total, rows)
    );
    let costs: Vec<f64> = marks
        .windows(2)
        .enumerate()
        .map(|(b, w)| {
            let n = per_block.min(rows - b * per_block);
            ms(w[1] - w[0], n)
        })
        .collect();
    for (b, c) in costs.iter().enumerate() {
        println!(
            "  rows {:>6}..{:<6} {c:.2} ms per card",
            b * per_block + 1,
            ((b + 1) * per_block).min(rows)
        );
    }
    if let (Some(first), Some(last)) = (costs.first(), costs.last()) {
        println!("  last block against the first: {:.2}x", last / first);
    }
    println!(
        "  rerun of the same file: {:.1} s, {skipped} rows already imported, nothing signed",
        again.as_secs_f64()
    );
    println!("  card book: {:.1} MiB", book as f64 / (1 << 20) as f64);
}
