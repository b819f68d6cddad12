//! The API when the loop or the connections misbehave: hung up, stuck, shut down, slow.

use super::{assert_error, bounded, known_event, known_purchase, member, read, Api, TOKEN};
use carnet_node::api;
use carnet_node::handle::{Command, NodeHandle};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use tokio::sync::mpsc;

#[tokio::test]
async fn a_hung_up_loop_gives_503() {
    bounded(async {
        // The loop is gone: nobody receives commands.
        let (tx, rx) = mpsc::channel::<Command>(1);
        drop(rx);
        let api = Api::start(NodeHandle::new(tx), TOKEN, api::DEFAULT_REPLY_TIMEOUT).await;
        let key = member().to_hex();
        for path in [
            format!("/v1/events/{}", known_event().to_hex()),
            "/v1/listings?text=a".into(),
            format!("/v1/accounts/{key}/balance"),
            format!("/v1/accounts/{key}/history"),
            format!("/v1/accounts/{key}/chain"),
            format!("/v1/deliveries/{}", known_purchase().to_hex()),
            "/v1/status".into(),
            "/v1/peers".into(),
            "/v1/orgs".into(),
        ] {
            assert_error(
                api.get(&path).await,
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
            );
        }
        assert_error(
            api.post_json("/v1/events", &json!({"event_hex": "01"}), None)
                .await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        assert_error(
            api.post_json(
                "/v1/admin/enroll",
                &json!({"member": key, "handle": "h"}),
                Some(TOKEN),
            )
            .await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        // Metrics and the document do not need the loop.
        let (status, _) = api.get("/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        api.stop().await;

        // The loop takes the command but drops it without replying.
        let (tx, mut rx) = mpsc::channel::<Command>(1);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        let api = Api::start(NodeHandle::new(tx), TOKEN, api::DEFAULT_REPLY_TIMEOUT).await;
        assert_error(
            api.get("/v1/status").await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        assert_error(
            api.post_json("/v1/events", &json!({"event_hex": "01"}), None)
                .await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn a_stuck_loop_gives_504() {
    bounded(async {
        // The loop takes commands and keeps them without ever replying.
        let (tx, mut rx) = mpsc::channel::<Command>(4);
        let held = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(cmd) = rx.recv().await {
                held.push(cmd);
            }
            held.len()
        });
        let api = Api::start(NodeHandle::new(tx), TOKEN, Duration::from_millis(200)).await;
        assert_error(
            api.get("/v1/status").await,
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
        );
        assert_error(
            api.post_json("/v1/events", &json!({"event_hex": "01"}), None)
                .await,
            StatusCode::GATEWAY_TIMEOUT,
            "timeout",
        );
        api.stop().await;
        // The server has dropped its client, so the loop sees the channel close.
        assert_eq!(held.await.unwrap(), 2);
    })
    .await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_server() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let (status, _) = api.get("/v1/status").await;
        assert_eq!(status, StatusCode::OK);
        let base = api.base.clone();
        api.stop().await;
        // Nothing listens any more.
        let fresh = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        assert!(fresh.get(format!("{base}/v1/status")).send().await.is_err());
    })
    .await;
}

/// Issue 14: a real node's API under slow and piled-up connections. `/v1/status`
/// stays answerable while 300 connections sit on unfinished headers (the cap is 32:
/// each new one closes the oldest idle), a connection that never finishes its headers
/// is closed after the header timeout, a trickled body is answered 408, and a Host
/// that is not this node's is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_stays_answerable_under_slow_and_piled_up_connections() {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let config = carnet_node::config::NodeConfig {
        data_dir: Some(dir.path().to_owned()),
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        api: "127.0.0.1:0".into(),
        api_max_connections: 32,
        api_header_timeout_ms: 1_000,
        api_request_timeout_ms: 1_000,
        log: "warn".into(),
        ..Default::default()
    };
    let node = carnet_node::run::launch(&config).await.unwrap();
    let addr = node.api_addr;
    // Blocking sockets on the blocking pool: the node's workers stay free.
    let blocking = |f: Box<dyn FnOnce() + Send>| tokio::task::spawn_blocking(f);
    let slow: Vec<TcpStream> = tokio::task::spawn_blocking(move || {
        (0..300)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /v1/status HTTP/1.1\r\nHost: localhost\r\n")
                    .unwrap();
                s
            })
            .collect()
    })
    .await
    .unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let status = http
        .get(format!("http://{addr}/v1/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), StatusCode::OK);
    // Every slow connection is closed: most to make room, the rest by the timeout.
    blocking(Box::new(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        for mut s in slow {
            s.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut buf = [0u8; 512];
            loop {
                assert!(
                    std::time::Instant::now() < deadline,
                    "a slow connection stayed open"
                );
                match s.read(&mut buf) {
                    // Closed, or answered 408 and then closed.
                    Ok(0) => break,
                    Ok(n) => assert!(buf[..n].starts_with(b"HTTP/1.1 408"), "{:?}", &buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(_) => {}
                }
            }
        }
    }))
    .await
    .unwrap();
    // A body trickled slower than the request timeout is answered 408.
    let trickled = blocking(Box::new(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(
            b"POST /v1/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"event\"",
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        assert!(
            answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        assert!(String::from_utf8_lossy(&answer).contains("request_timeout"));
    }));
    trickled.await.unwrap();
    // DNS rebinding: a page on another name cannot use the API.
    let rebound = http
        .get(format!("http://{addr}/v1/status"))
        .header("Host", format!("evil.example:{}", addr.port()))
        .send()
        .await
        .unwrap();
    assert_error(
        read(rebound).await,
        StatusCode::MISDIRECTED_REQUEST,
        "host_not_allowed",
    );
    node.stop().await;
}
