//! What a node holds in memory at scale, and what its start costs (issue 19).
//!
//! `cargo bench -p carnet-node --bench memory` (1,000,000 events; set
//! CARNET_BENCH_EVENTS to change). The log is the replay bench's workload with
//! settlement as org nodes do it: every CARNET_BENCH_EPOCH events (default 10,000)
//! org 0 seals the chains' tips and the four orgs sign the claim at the tip, which
//! finalizes it. It is generated once into a redb store under `target/carnet-bench`
//! (CARNET_BENCH_DIR) and reused by later runs.
//!
//! Each start runs in a child process of its own, so that its peak resident memory
//! is its own: `Engine::reopen` on the store, then the first state root. The first
//! start has no snapshot and replays from genesis (over an earlier run's records if
//! any, as after an upgrade), writes the records of the finalized events, saves a
//! snapshot and starts again from it; the second starts from them, reading only
//! the events held in memory ("events read"). Both close the store as a node that
//! stops does. A third start ends without closing it, as a killed node does, and the
//! fourth is the start after that kill: redb then checks the whole file before it
//! opens it.
//!
//! With CARNET_BENCH_SIZES=50000,300000,1000000 it measures each size in turn and
//! draws how the cost grows, against the goals at 10M, as an SVG (CARNET_BENCH_PLOT,
//! default `target/carnet-bench/growth.svg`). Each size's figures are also kept
//! beside its store (`row`); the sizes in CARNET_BENCH_REUSE are taken from there
//! instead of measured again, for a size whose replay from genesis takes an hour
//! (10M): measure it alone once, then draw it with the others.

use carnet_node::engine::{write_snapshot, Engine};
use carnet_node::store::Store;
use carnet_protocol::testkit::workload::{bench_env, bench_events, generate_settled, Workload};
use carnet_protocol::SecretKey;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "common/heap.rs"]
mod heap;

/// Resident and peak resident memory of this process, in MiB.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kib| kib >> 10)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The heap in use (what is allocated and not freed) and the RSS once the allocator
/// has given back what it holds free, in MiB: what the RSS after a start is made of,
/// beside the garbage the start left. glibc only.
fn heap_and_trimmed() -> (u64, u64) {
    let heap = heap::in_use() as u64 >> 20;
    // SAFETY: only trims the allocator's own bookkeeping.
    unsafe { libc::malloc_trim(0) };
    (heap, memory().0)
}

/// The directory of the store of `n` events.
fn store_dir(n: usize, epoch: usize) -> PathBuf {
    let base = std::env::var("CARNET_BENCH_DIR").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/carnet-bench"),
        PathBuf::from,
    );
    base.join(format!("settled-{n}-{epoch}"))
}

/// The store of `n` settled events, built unless a run before built it.
fn store(n: usize, epoch: usize) -> PathBuf {
    let dir = store_dir(n, epoch);
    let path = dir.join("events.redb");
    if dir.join("complete").exists() {
        return path;
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench directory");
    let t = Instant::now();
    let net = Workload::new().0.network_id();
    let store = Store::open(&path, net).expect("store");
    let (_, total) = generate_settled(n, epoch, |batch| {
        for chunk in batch.chunks(4096) {
            store.put_events(chunk).expect("put");
        }
    });
    drop(store);
    std::fs::write(dir.join("complete"), total.to_string()).expect("marker");
    println!(
        "generated and stored {total} events in {:.1}s (once; reused by later runs)",
        t.elapsed().as_secs_f64()
    );
    // What generating freed stays with glibc's malloc (some 11 GB after 10M events)
    // while the children run, and the page cache the store's file is read through is
    // that much smaller for them: give it back.
    let before = memory().0;
    let (_, trimmed) = heap_and_trimmed();
    println!("this process: {before} MiB resident after generating, {trimmed} MiB once trimmed");
    path
}

/// One start, in this process: prints one line the parent reads.
/// How a child start ends: `save` saves a snapshot, `kill` leaves the store open.
fn start(path: &Path, mode: &str) {
    let save = mode == "save";
    let genesis = Workload::new().0;
    let org = SecretKey::from_seed([42; 32]);
    let t = Instant::now();
    let store = Store::open(path, genesis.network_id()).expect("store");
    let (mut engine, r) = Engine::reopen(store, genesis, org).expect("reopen");
    let root = engine.state_root_hex();
    let secs = t.elapsed().as_secs_f64();
    let (rss, peak) = memory();
    let (heap, trimmed) = heap_and_trimmed();
    let held = engine.events_in_memory();
    let events = engine.ledger().len();
    if save {
        let mut snap = engine.snapshot_to_save().unwrap_or_else(|| {
            // Started from a snapshot of every event: save it again all the same, to
            // measure what a save costs.
            engine.snapshot_saved(0);
            engine.snapshot_to_save().expect("a snapshot to save")
        });
        write_snapshot(&engine.store(), &mut snap).expect("save");
    }
    // With a save, the peak is the higher of the start's and the save's.
    let (_, peak_saved) = memory();
    println!(
        "RESULT {secs:.2} {rss} {peak} {events} {held} {} {} {root} {heap} {trimmed} {} {} {peak_saved}",
        r.from_snapshot, r.verified, r.events, r.from_records
    );
    if mode == "kill" || mode == "settled-kill" {
        // As a running node does within a second of its last write.
        if mode == "settled-kill" {
            engine.store().settle().expect("settle");
        }
        // Not freed, the store not closed: the process ends here as a killed node's
        // would, and under heaptrack what is still allocated at the end is what the
        // node holds after a start, by where it was made.
        std::mem::forget(engine);
    } else {
        drop(engine);
    }
}

/// What each of the state's maps holds after a start, in this process: the heap each
/// frees when dropped alone from a copy of the state (the engine dropped first, so the
/// copy shares nothing), and its entries. Run by hand
/// (`CARNET_BENCH_CHILD=maps CARNET_BENCH_STORE=...`): it says which map to move first.
fn maps(path: &Path) {
    let genesis = Workload::new().0;
    let org = SecretKey::from_seed([42; 32]);
    let store = Store::open(path, genesis.network_id()).expect("store");
    let (mut engine, _) = Engine::reopen(store, genesis, org).expect("reopen");
    // Through its encoding: a decoded state has no tree (which shares the maps the
    // root covers) and shares nothing with the engine's.
    let bytes = postcard::to_allocvec(engine.ledger().state()).expect("encode");
    drop(engine);
    let mut state: carnet_protocol::ledger::State = postcard::from_bytes(&bytes).expect("decode");
    drop(bytes);
    let mut before = heap_bytes();
    println!(
        "the state alone: {:.1} MiB of heap",
        before / (1 << 20) as f64
    );
    println!("| map | entries | MiB | bytes per entry |");
    println!("| --- | --- | --- | --- |");
    macro_rules! drop_map {
        ($($field:ident),*) => {$(
            let entries = state.$field.len();
            state.$field = Default::default();
            let now = heap_bytes();
            let freed = before - now;
            before = now;
            println!(
                "| {} | {entries} | {:.1} | {:.0} |",
                stringify!($field),
                freed / (1 << 20) as f64,
                freed / entries.max(1) as f64
            );
        )*};
    }
    drop_map!(
        listings,
        listing_bodies,
        accounts,
        dedup,
        opted_out,
        purchases,
        holdings,
        escrowed,
        fresh,
        votes,
        bounced,
        mobile_reported,
        signed_bounds,
        next_seq,
        unsold,
        vesting,
        vesting_due,
        bounce_reports,
        voids,
        movements,
        finalized_claims,
        org_clocks,
        forked_purchases
    );
    println!(
        "left (the state tree, the rest): {:.1} MiB",
        before / (1 << 20) as f64
    );
}

/// The heap in use, in bytes.
fn heap_bytes() -> f64 {
    heap::in_use() as f64
}

fn child(path: &Path, mode: &str) -> Vec<String> {
    let out = std::process::Command::new(std::env::current_exe().expect("this bench"))
        .env("CARNET_BENCH_CHILD", mode)
        .env("CARNET_BENCH_STORE", path)
        .output()
        .expect("child start");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("the child failed: {}", String::from_utf8_lossy(&out.stderr)));
    line.split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect()
}

/// One start: seconds, RSS after it and peak RSS (MiB).
#[derive(Debug, Clone, Copy)]
struct Start {
    secs: f64,
    rss: f64,
    peak: f64,
}

impl Start {
    fn of(r: &[String]) -> Start {
        let num = |i: usize| r.get(i).and_then(|v| v.parse().ok()).unwrap_or(f64::NAN);
        Start {
            secs: num(0),
            rss: num(1),
            peak: num(2),
        }
    }
}

/// Both starts at one size.
struct Row {
    events: f64,
    replay: Start,
    resume: Start,
}

impl Row {
    fn to_line(&self) -> String {
        let (r, s) = (&self.replay, &self.resume);
        format!(
            "{} {} {} {} {} {} {}\n",
            self.events, r.secs, r.rss, r.peak, s.secs, s.rss, s.peak
        )
    }
}

/// Generates (once) and starts a node on `n` events, from genesis then from the
/// snapshot the first start saved; prints both.
fn measure(n: usize, epoch: usize) -> Row {
    let path = store(n, epoch);
    let snapshot = path.with_extension(carnet_node::store::SNAPSHOT_EXTENSION);
    let _ = std::fs::remove_file(&snapshot);
    let on_disk = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
    println!("store: {} ({on_disk} MiB)", path.display());
    let replay = child(&path, "save");
    let resume = child(&path, "resume");
    child(&path, "kill");
    let after_kill = child(&path, "resume");
    child(&path, "settled-kill");
    let after_settled_kill = child(&path, "resume");
    for r in [&resume, &after_kill, &after_settled_kill] {
        assert_eq!(replay[7], r[7], "resuming gives the replay's state root");
    }
    println!("| start | time | RSS after | peak RSS | heap in use | RSS once trimmed | events | events read | held in memory | from snapshot | signatures checked |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (name, r) in [
        ("from genesis", &replay),
        ("from the snapshot", &resume),
        ("from the snapshot, after a kill", &after_kill),
        (
            "after a kill a second after the last write",
            &after_settled_kill,
        ),
    ] {
        println!(
            "| {name} | {} s | {} MiB | {} MiB | {} MiB | {} MiB | {} | {} | {} | {} | {} |",
            r[0], r[1], r[2], r[8], r[9], r[3], r[10], r[4], r[5], r[6]
        );
    }
    let row = Row {
        events: replay[3].parse().unwrap_or(n as f64),
        replay: Start::of(&replay),
        resume: Start::of(&resume),
    };
    let kept = row_path(n, epoch);
    if let Err(e) = std::fs::write(&kept, row.to_line()) {
        println!("could not keep the figures in {}: {e}", kept.display());
    }
    row
}

/// Where a size's figures are kept, beside its store.
fn row_path(n: usize, epoch: usize) -> PathBuf {
    store_dir(n, epoch).join("row")
}

/// The figures an earlier run kept for this size, if any.
fn kept_row(n: usize, epoch: usize) -> Option<Row> {
    let text = std::fs::read_to_string(row_path(n, epoch)).ok()?;
    let v: Vec<f64> = text
        .split_whitespace()
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [events, a, b, c, d, e, f] = v[..] else {
        return None;
    };
    Some(Row {
        events,
        replay: Start {
            secs: a,
            rss: b,
            peak: c,
        },
        resume: Start {
            secs: d,
            rss: e,
            peak: f,
        },
    })
}

/// Where the growth plot goes: CARNET_BENCH_PLOT, or beside the stores.
fn plot_path() -> PathBuf {
    std::env::var("CARNET_BENCH_PLOT").map_or_else(
        |_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/carnet-bench/growth.svg"),
        PathBuf::from,
    )
}

/// The scale and goals: 10M events, a start under 10 s, under 2 GiB.
const GOAL_EVENTS: f64 = 10_000_000.0;
const GOAL_SECS: f64 = 10.0;
const GOAL_GIB: f64 = 2.0;

/// Straight on from the last two measured points to [`GOAL_EVENTS`]: what the
/// present design would cost, if it kept growing as it did between them.
fn extrapolate(points: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    let [.., (x0, y0), (x1, y1)] = points else {
        return None;
    };
    let slope = (y1 - y0) / (x1 - x0);
    let at = |x: f64| y1 + slope * (x - x1);
    let end = GOAL_EVENTS / 1e6;
    Some(vec![(*x1, *y1), (end, at(end))])
}

/// One curve of a panel: its name, colour and points (millions of events, value).
type Curve = (&'static str, plotters::style::RGBColor, Vec<(f64, f64)>);
/// One panel: title, unit, goal (if the issue sets one) and curves.
type Panel = (&'static str, &'static str, Option<f64>, Vec<Curve>);

/// Start time and memory against the events, measured and extrapolated, beside the
/// goals: an SVG, so that docs/ can show how cost grows. The start from genesis has
/// a panel of its own: it takes minutes where a restart takes seconds, and on one
/// scale the restart and its goal were a flat line at the bottom.
fn plot(rows: &[Row], path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let m = |r: &Row| r.events / 1e6;
    let panels: [Panel; 3] = [
        (
            "Start from the snapshot",
            "seconds",
            Some(GOAL_SECS),
            vec![(
                "from the snapshot",
                RGBColor(30, 90, 200),
                rows.iter().map(|r| (m(r), r.resume.secs)).collect(),
            )],
        ),
        (
            "Start from genesis (once per upgrade)",
            "seconds",
            None,
            vec![(
                "from genesis",
                RGBColor(200, 90, 30),
                rows.iter().map(|r| (m(r), r.replay.secs)).collect(),
            )],
        ),
        (
            "Memory at start",
            "GiB",
            Some(GOAL_GIB),
            vec![
                (
                    "peak RSS from genesis",
                    RGBColor(200, 90, 30),
                    rows.iter()
                        .map(|r| (m(r), r.replay.peak / 1024.0))
                        .collect(),
                ),
                (
                    "RSS after, from the snapshot",
                    RGBColor(30, 90, 200),
                    rows.iter().map(|r| (m(r), r.resume.rss / 1024.0)).collect(),
                ),
                (
                    "peak RSS from the snapshot",
                    RGBColor(120, 60, 160),
                    rows.iter()
                        .map(|r| (m(r), r.resume.peak / 1024.0))
                        .collect(),
                ),
            ],
        ),
    ];
    let root = SVGBackend::new(path, (1400, 440)).into_drawing_area();
    root.fill(&WHITE)?;
    let below = root.titled(
        "Dashed: straight on from the last two sizes measured",
        ("sans-serif", 12),
    )?;
    let thirds = below.split_evenly((1, 3));
    for (area, (title, unit, goal, series)) in thirds.iter().zip(panels) {
        let top = series
            .iter()
            .flat_map(|(_, _, p)| {
                p.iter()
                    .copied()
                    .chain(extrapolate(p).into_iter().flatten())
            })
            .map(|(_, y)| y)
            .fold(goal.unwrap_or(0.0), f64::max)
            * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0f64..10.5f64, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("events (millions)")
            .y_desc(unit)
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let red = RGBColor(200, 30, 30);
        if let Some(goal) = goal {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, goal), (10.5, goal)],
                    6,
                    4,
                    red.stroke_width(1),
                ))?
                .label(format!("goal at 10M: under {goal} {unit}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], red));
        }
        for (name, color, points) in series {
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?
                .label(format!("{name} (measured)"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            if let Some(line) = extrapolate(&points) {
                chart.draw_series(DashedLineSeries::new(line, 4, 4, color.stroke_width(1)))?;
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Searches after a start, in this process (`CARNET_BENCH_CHILD=search`): one line
/// per query with its seconds (best of three) and how many listings matched. A search
/// reads every stored teaser (the state holds none), so it grows with the listings.
fn search(path: &Path) {
    let genesis = Workload::new().0;
    let store = Store::open(path, genesis.network_id()).expect("store");
    let (mut engine, _) =
        Engine::reopen(store, genesis, SecretKey::from_seed([42; 32])).expect("reopen");
    let queries = [
        ("one listing", Some("person 4242"), None),
        ("a tenth", None, Some("company3.example")),
        ("every listing", Some("sales"), None),
    ];
    for (what, text, domain) in queries {
        let q = carnet_api::SearchQuery {
            text: text.map(str::to_owned),
            domain: domain.map(str::to_owned),
            ..Default::default()
        };
        let mut best = f64::MAX;
        let mut total = 0;
        for _ in 0..3 {
            let t = Instant::now();
            total = engine.search(&q).expect("search").total;
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("SEARCH {what}: {best:.3} s, {total} listings");
    }
    let (rss, _) = memory();
    println!("SEARCH rss {rss}");
}

fn main() {
    if let Ok(mode) = std::env::var("CARNET_BENCH_CHILD") {
        let path = PathBuf::from(std::env::var("CARNET_BENCH_STORE").expect("store path"));
        match mode.as_str() {
            "maps" => maps(&path),
            "search" => search(&path),
            _ => start(&path, &mode),
        }
        return;
    }
    let epoch = bench_env("CARNET_BENCH_EPOCH", 10_000);
    let sizes: Vec<usize> = match std::env::var("CARNET_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        Err(_) => vec![bench_events()],
    };
    let reuse: Vec<usize> = std::env::var("CARNET_BENCH_REUSE")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let rows: Vec<Row> = sizes
        .iter()
        .map(
            |&n| match kept_row(n, epoch).filter(|_| reuse.contains(&n)) {
                Some(row) => {
                    println!("{n} events: the figures kept by an earlier run");
                    row
                }
                None => measure(n, epoch),
            },
        )
        .collect();
    if rows.len() < 2 {
        return;
    }
    println!("| events | from genesis | its peak RSS | from the snapshot | RSS after | peak RSS |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in &rows {
        println!(
            "| {} | {:.2} s | {:.0} MiB | {:.2} s | {:.0} MiB | {:.0} MiB |",
            r.events, r.replay.secs, r.replay.peak, r.resume.secs, r.resume.rss, r.resume.peak
        );
    }
    let path = plot_path();
    match plot(&rows, &path) {
        Ok(()) => println!("growth plot: {}", path.display()),
        Err(e) => println!("no growth plot: {e}"),
    }
}
