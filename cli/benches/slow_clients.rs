//! A node's API under 20,000 slow clients: a `carnet node run` process, and four
//! helper processes (a process may hold at most `ulimit -n` sockets) that each open
//! 5,000 connections to its API and send an unfinished request header. Meanwhile the
//! bench times `GET /v1/status` on a fresh connection, and does the same before the
//! flood for comparison.
//!
//! `cargo bench -p carnet-cli --bench slow_clients` (not in CI). Environment:
//! `CARNET_SLOW_CLIENTS` (default 20000), `CARNET_SLOW_HELPERS` (default 4).

use carnet_protocol::testkit::workload::bench_env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One full status request on a new connection: (latency, status line).
fn status(addr: SocketAddr) -> (Duration, String) {
    let start = Instant::now();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(30)) else {
        return (start.elapsed(), "connect failed".into());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let req = "GET /v1/status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return (start.elapsed(), "write failed".into());
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let line = String::from_utf8_lossy(&buf)
        .lines()
        .next()
        .unwrap_or("no answer")
        .to_owned();
    (start.elapsed(), line)
}

fn timings(addr: SocketAddr, n: usize) -> (Vec<Duration>, usize) {
    let mut out = Vec::new();
    let mut ok = 0;
    for _ in 0..n {
        let (d, line) = status(addr);
        if line.contains(" 200 ") {
            ok += 1;
        }
        out.push(d);
    }
    out.sort();
    (out, ok)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Helper mode: opens `n` slow connections to `addr`, says how many, holds them until
/// stdin closes, then says how many the server had closed.
fn hold(addr: SocketAddr, n: usize) {
    let mut held = Vec::with_capacity(n);
    let mut failed = 0;
    for _ in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ");
                held.push(s);
            }
            Err(_) => failed += 1,
        }
    }
    println!("held {} failed {failed}", held.len());
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    let mut closed = 0;
    for s in &mut held {
        let _ = s.set_nonblocking(true);
        let mut b = [0u8; 512];
        match s.read(&mut b) {
            Ok(_) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => closed += 1,
        }
    }
    println!("closed {closed}");
}

fn main() {
    if let (Ok(addr), Ok(n)) = (
        std::env::var("CARNET_HOLD_ADDR"),
        std::env::var("CARNET_HOLD"),
    ) {
        let addr: SocketAddr = addr.parse().expect("address");
        hold(addr, n.parse().expect("count"));
        return;
    }
    let total = bench_env("CARNET_SLOW_CLIENTS", 20_000);
    let helpers = bench_env("CARNET_SLOW_HELPERS", 4).max(1);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("node");
    let mut node = Command::new(env!("CARGO_BIN_EXE_carnet"))
        .args(["--json", "node", "run", "--org", "Bench"])
        .args(["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(&dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start node");
    let ready = BufReader::new(node.stdout.take().expect("stdout"))
        .lines()
        .next()
        .and_then(|l| l.ok())
        .expect("ready line");
    let v: serde_json::Value = serde_json::from_str(&ready).expect("ready json");
    let addr: SocketAddr = v["api"]
        .as_str()
        .expect("api")
        .parse()
        .expect("api address");

    let (before, ok_before) = timings(addr, 50);
    let flood_start = Instant::now();
    let mut children: Vec<_> = (0..helpers)
        .map(|_| {
            Command::new(std::env::current_exe().expect("bench binary"))
                .env("CARNET_HOLD_ADDR", addr.to_string())
                .env("CARNET_HOLD", (total / helpers).to_string())
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .expect("helper")
        })
        .collect();
    let readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("helper stdout")).lines())
        .collect();
    let counting = std::thread::spawn(move || {
        let mut readers = readers;
        let (mut held, mut failed) = (0usize, 0usize);
        for r in &mut readers {
            let line = r.next().and_then(|l| l.ok()).unwrap_or_default();
            let mut w = line.split_whitespace();
            held += w.nth(1).and_then(|x| x.parse::<usize>().ok()).unwrap_or(0);
            failed += w.nth(1).and_then(|x| x.parse::<usize>().ok()).unwrap_or(0);
        }
        (held, failed, readers, flood_start.elapsed())
    });
    // Status, over and over, for as long as the helpers open their connections.
    let (mut during, mut ok_during) = (Vec::new(), 0);
    while !counting.is_finished() {
        let (d, line) = status(addr);
        ok_during += usize::from(line.contains(" 200 "));
        during.push(d);
        std::thread::sleep(Duration::from_millis(20));
    }
    during.sort();
    let (held, failed, mut readers, flood) = counting.join().expect("helper output");
    let (after, ok_after) = timings(addr, 50);
    let mut closed = 0usize;
    for (c, r) in children.iter_mut().zip(&mut readers) {
        drop(c.stdin.take());
        let line = r.next().and_then(|l| l.ok()).unwrap_or_default();
        closed += line
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse::<usize>().ok())
            .unwrap_or(0);
        let _ = c.wait();
    }
    let _ = Command::new("kill")
        .args(["-TERM", &node.id().to_string()])
        .status();
    let _ = node.wait();

    let row = |what: &str, d: &[Duration], ok: usize| {
        println!(
            "| `GET /v1/status` {what} | p50 {:.1} ms, max {:.1} ms, {ok}/{} answered 200 |",
            ms(d[d.len() / 2]),
            ms(d[d.len() - 1]),
            d.len()
        );
    };
    println!("| figure | value |");
    println!("| --- | --- |");
    println!(
        "| slow clients (unfinished headers), {helpers} processes | {held} connected in {:.1} s, {failed} refused; {closed} closed by the node by the end |",
        flood.as_secs_f64()
    );
    row("before", &before, ok_before);
    row("while they connect", &during, ok_during);
    row("with them all connected", &after, ok_after);
}
