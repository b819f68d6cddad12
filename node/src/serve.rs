//! The API's HTTP server: hyper under the axum router, with the limits `axum::serve`
//! has none of.
//!
//! A client that opens connections and never finishes its request headers (slowloris)
//! used to hold a file descriptor each until the process ran out. Here:
//! - request headers must arrive within [`ServeLimits::header_timeout`], and a whole
//!   request (body included) be answered within [`ServeLimits::request_timeout`];
//! - at most [`ServeLimits::max_connections`] connections are open. At the cap, a new
//!   connection closes the oldest one that is not in the middle of a request (a slow
//!   header, an idle keep-alive), so an attacker's pile of slow connections pushes out
//!   its own oldest, and a client that sends its request at once is still answered;
//! - the `Host` header must name this node ([`host_allowed`]), so a web page cannot
//!   reach the API through DNS rebinding.

use axum::extract::{Request, State};
use axum::http::header::HOST;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

/// Default cap on open API connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
/// Default time for a client to send its request headers.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to read a request and answer it. Longer than the wait for the event
/// loop (`api::DEFAULT_REPLY_TIMEOUT`), which answers 504 itself.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stop waits for requests in flight.
const DRAIN_TIME: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct ServeLimits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Host names (besides `localhost` and IP literals) the `Host` header may name.
    pub hosts: Vec<String>,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            hosts: Vec::new(),
        }
    }
}

/// Whether a `Host` header value (with or without a port) names this node: `localhost`,
/// any IP literal (a page can only make a browser send those for its own origin, so
/// DNS rebinding cannot use them), or one of the configured `hosts`.
pub fn host_allowed(host: &str, hosts: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.parse::<std::net::IpAddr>().is_ok()
        || hosts
            .iter()
            .any(|h| h.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

fn refusal(status: StatusCode, code: &str, message: String) -> Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn check_host(State(hosts): State<Arc<Vec<String>>>, req: Request, next: Next) -> Response {
    match req.headers().get(HOST).map(|h| h.to_str()) {
        // HTTP/1.0 clients may send none; browsers always do.
        None => next.run(req).await,
        Some(Ok(h)) if host_allowed(h, &hosts) => next.run(req).await,
        Some(h) => refusal(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "Host {:?} is not a name of this node; add it to api_hosts in the node's \
                 configuration if it is",
                h.unwrap_or("(not text)")
            ),
        ),
    }
}

/// The router with the Host check and the request timeout around it.
pub fn with_limits(router: Router, limits: &ServeLimits) -> Router {
    let request_timeout = limits.request_timeout;
    router
        .layer(from_fn(move |req: Request, next: Next| async move {
            match tokio::time::timeout(request_timeout, next.run(req)).await {
                Ok(r) => r,
                Err(_) => refusal(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request was not read and answered within {} s",
                        request_timeout.as_secs()
                    ),
                ),
            }
        }))
        .layer(from_fn_with_state(
            Arc::new(limits.hosts.clone()),
            check_host,
        ))
}

/// An open connection: whether it is in the middle of a request, and how to close it.
struct Slot {
    busy: Arc<AtomicBool>,
    close: Option<oneshot::Sender<()>>,
}

type Slots = Arc<Mutex<BTreeMap<u64, Slot>>>;

/// Makes room for one more connection: closes the oldest one that is not answering a
/// request. False if every open connection is busy.
fn make_room(slots: &Slots, max: usize) -> bool {
    let Ok(mut slots) = slots.lock() else {
        return false;
    };
    if slots.len() < max {
        return true;
    }
    let oldest_idle = slots
        .iter()
        .find(|(_, s)| !s.busy.load(Ordering::SeqCst))
        .map(|(id, _)| *id);
    match oldest_idle.and_then(|id| slots.remove(&id)) {
        Some(mut slot) => {
            if let Some(close) = slot.close.take() {
                let _ = close.send(());
            }
            true
        }
        None => false,
    }
}

/// Serves `router` (already wrapped by [`with_limits`]) on `listener` until `shutdown`
/// resolves, then lets requests in flight finish (for up to 10 s).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots: Slots = Arc::new(Mutex::new(BTreeMap::new()));
    let next_id = AtomicU64::new(0);
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept:
                    // wait a moment rather than spin.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if !make_room(&slots, limits.max_connections.max(1)) {
            // Every connection is answering a request: this one waits for none.
            drop(stream);
            continue;
        }
        let id = next_id.fetch_add(1, Ordering::SeqCst);
        let busy = Arc::new(AtomicBool::new(false));
        let (close_tx, close_rx) = oneshot::channel();
        if let Ok(mut s) = slots.lock() {
            s.insert(
                id,
                Slot {
                    busy: busy.clone(),
                    close: Some(close_tx),
                },
            );
        }
        let conn = Connection {
            id,
            slots: slots.clone(),
            busy,
            router: router.clone(),
            header_timeout: limits.header_timeout,
            close: close_rx,
            stop: stop_rx.clone(),
        };
        tokio::spawn(conn.run(stream));
    }
    let _ = stop_tx.send(true);
    let deadline = tokio::time::Instant::now() + DRAIN_TIME;
    while slots.lock().map(|s| !s.is_empty()).unwrap_or(false)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

struct Connection {
    id: u64,
    slots: Slots,
    busy: Arc<AtomicBool>,
    router: Router,
    header_timeout: Duration,
    close: oneshot::Receiver<()>,
    stop: watch::Receiver<bool>,
}

impl Connection {
    async fn run(mut self, stream: tokio::net::TcpStream) {
        let busy = self.busy.clone();
        let router = self.router.clone();
        let service =
            hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let router = router.clone();
                let busy = busy.clone();
                busy.store(true, Ordering::SeqCst);
                async move {
                    let response = router.oneshot(req.map(axum::body::Body::new)).await;
                    busy.store(false, Ordering::SeqCst);
                    response
                }
            });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::pin!(conn);
        let mut stop = self.stop.clone();
        let stopping = async move {
            // The guard wait_for returns must not live across the drain below.
            let _ = stop.wait_for(|s| *s).await.map(|_| ());
        };
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "API connection ended");
                }
            }
            // Evicted to make room: dropping the connection closes it.
            _ = &mut self.close => {}
            _ = stopping => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
        if let Ok(mut s) = self.slots.lock() {
            s.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_nodes_names_pass_the_host_check() {
        let hosts = vec!["carnet.acme.internal".to_string()];
        for ok in [
            "localhost",
            "localhost:4711",
            "LOCALHOST.",
            "127.0.0.1:4711",
            "10.1.2.3",
            "[::1]:4711",
            "carnet.acme.internal:443",
            "Carnet.Acme.Internal",
        ] {
            assert!(host_allowed(ok, &hosts), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4711",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
            "[::1",
            "[evil]:80",
            "",
        ] {
            assert!(!host_allowed(bad, &hosts), "{bad}");
        }
    }

    #[test]
    fn room_is_made_by_closing_the_oldest_idle_connection_never_a_busy_one() {
        let slots: Slots = Arc::new(Mutex::new(BTreeMap::new()));
        let mut closed = Vec::new();
        for (id, busy) in [(0, true), (1, false), (2, false)] {
            let (tx, rx) = oneshot::channel();
            closed.push(rx);
            slots.lock().unwrap().insert(
                id,
                Slot {
                    busy: Arc::new(AtomicBool::new(busy)),
                    close: Some(tx),
                },
            );
        }
        assert!(make_room(&slots, 4));
        assert!(make_room(&slots, 3));
        assert!(closed[1].try_recv().is_ok());
        assert!(closed[0].try_recv().is_err());
        assert!(make_room(&slots, 2));
        assert!(closed[2].try_recv().is_ok());
        // Only the busy one is left, and it is never closed to make room.
        assert!(!make_room(&slots, 1));
        assert!(closed[0].try_recv().is_err());
    }
}
