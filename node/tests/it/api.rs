//! The HTTP API end to end: a real server on 127.0.0.1:0, a real HTTP client, and a
//! fake event loop that answers the `Command`s of a real channel with canned replies.

use carnet_api::{
    BalanceView, ChainHeadView, DeliveryView, ListingView, MovementView, NodeStatus, PeerView,
    Submitted,
};
use carnet_node::api::{self, Metrics};
use carnet_node::handle::{AuditRefusal, Command, IngestError, NodeHandle};
use carnet_protocol::ledger::audit::AuditError;
use carnet_protocol::ledger::LedgerError;
use carnet_protocol::{EventError, Hash32, Payload, PublicKey, SecretKey};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const TOKEN: &str = "s3cret-admin-token";
const TEST_BOUND: Duration = Duration::from_secs(60);

fn member() -> PublicKey {
    SecretKey::from_seed([7; 32]).public()
}

fn member2() -> PublicKey {
    SecretKey::from_seed([8; 32]).public()
}

fn known_event() -> Hash32 {
    Hash32::of(b"known event")
}

fn known_purchase() -> Hash32 {
    Hash32::of(b"known purchase")
}

const EVENT_BYTES: &[u8] = b"\x01wire bytes";

/// What the fake loop was asked, for assertions.
type Log = Arc<Mutex<Vec<Command>>>;

/// Answers every command with a canned reply, and logs what it was asked (reply
/// senders already used, so the log holds the requests only).
fn spawn_fake_loop(mut rx: mpsc::Receiver<Command>) -> Log {
    let log: Log = Arc::default();
    let seen = log.clone();
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            let cmd = answer(cmd);
            seen.lock().unwrap().push(cmd);
        }
    });
    log
}

/// Replies to `cmd` and returns it with a fresh (unused) reply channel in its place.
fn answer(cmd: Command) -> Command {
    fn used<T>() -> oneshot::Sender<T> {
        oneshot::channel().0
    }
    match cmd {
        Command::Submit { bytes, reply } => {
            let id = Hash32::of(&bytes).to_hex();
            let result = match bytes[0] {
                0x01 => Ok(Submitted::Ordered {
                    id,
                    outcome: "applied".into(),
                }),
                0x02 => Ok(Submitted::Pending {
                    id,
                    missing: vec![known_event().to_hex()],
                }),
                0x03 => Ok(Submitted::Duplicate { id }),
                0xee => Err(IngestError::Invalid(EventError::BadSignature)),
                0xef => Err(IngestError::Rejected(LedgerError::LamportTooLow {
                    got: 3,
                    floor: 7,
                })),
                0xfd => Err(IngestError::Storage("disk full".into())),
                _ => Err(IngestError::ShuttingDown),
            };
            let _ = reply.send(result);
            Command::Submit {
                bytes,
                reply: used(),
            }
        }
        Command::SubmitAsOrg { payload, reply } => {
            let _ = reply.send(Ok(Submitted::Ordered {
                id: Hash32::of(payload.kind().as_bytes()).to_hex(),
                outcome: payload.kind().into(),
            }));
            Command::SubmitAsOrg {
                payload,
                reply: used(),
            }
        }
        Command::Search { query, reply } => {
            let _ = reply.send(vec![ListingView {
                id: known_event().to_hex(),
                name: "Ada Lovelace".into(),
                title: "CTO".into(),
                company: "Analytical Engines".into(),
                company_domain: "engines.example".into(),
                city: "London".into(),
                email: true,
                postal: false,
                phone: true,
                status: "active".into(),
                sales: 2,
            }]);
            Command::Search {
                query,
                reply: used(),
            }
        }
        Command::Balance { account, reply } => {
            let _ = reply.send((account == member()).then(|| BalanceView {
                account: account.to_hex(),
                balance: 120,
                escrow: 10,
                pending: 30,
                status: "active".into(),
            }));
            Command::Balance {
                account,
                reply: used(),
            }
        }
        Command::History { account, reply } => {
            let movements = if account == member() {
                vec![MovementView {
                    event: known_event().to_hex(),
                    delta: 100,
                    reason: "grant".into(),
                }]
            } else {
                vec![]
            };
            let _ = reply.send(movements);
            Command::History {
                account,
                reply: used(),
            }
        }
        Command::Delivery { purchase, reply } => {
            let _ = reply.send((purchase == known_purchase()).then(|| DeliveryView {
                purchase_id: purchase.to_hex(),
                deliver_event: known_event().to_hex(),
                ephemeral_hex: "11".repeat(32),
                sealed_card_hex: "abcdef".into(),
            }));
            Command::Delivery {
                purchase,
                reply: used(),
            }
        }
        Command::ChainHead { author, reply } => {
            let _ = reply.send(ChainHeadView {
                author: author.to_hex(),
                next_seq: 3,
                prev: Some(known_event().to_hex()),
                last_lamport: Some(40),
                last_timestamp_ms: Some(1_700_000_000_000),
                clock: 41,
                introduction: None,
            });
            Command::ChainHead {
                author,
                reply: used(),
            }
        }
        Command::Event { id, reply } => {
            let _ = reply.send((id == known_event()).then(|| EVENT_BYTES.to_vec()));
            Command::Event { id, reply: used() }
        }
        Command::Status { reply } => {
            let _ = reply.send(NodeStatus {
                org: member().to_hex(),
                network: Hash32::of(b"net").to_hex(),
                peer_id: "12D3KooWfake".into(),
                listen_addrs: vec!["/ip4/127.0.0.1/tcp/4001".into()],
                events: 10,
                pending: 1,
                state_root: Hash32::of(b"root").to_hex(),
                max_lamport: 41,
                finalized_bound: None,
                snapshot_events: Some(8),
                storage_error: None,
                network_secret: true,
            });
            Command::Status { reply: used() }
        }
        Command::Contribute { bytes, card, reply } => {
            let _ = reply.send(Err(IngestError::NotMember {
                member: PublicKey([9; 32]),
                why: "fake".into(),
            }));
            Command::Contribute {
                bytes,
                card,
                reply: used(),
            }
        }
        Command::Listing { id, reply } => {
            let _ = reply.send(None);
            Command::Listing { id, reply: used() }
        }
        Command::Purchases { buyer, reply } => {
            let _ = reply.send(Vec::new());
            Command::Purchases {
                buyer,
                reply: used(),
            }
        }
        Command::Company { domain, reply } => {
            let _ = reply.send(None);
            Command::Company {
                domain,
                reply: used(),
            }
        }
        Command::Peers { reply } => {
            let _ = reply.send(vec![PeerView {
                peer_id: "12D3KooWpeer".into(),
                addrs: vec!["/ip4/127.0.0.1/tcp/4002".into()],
                org: Some("ab".repeat(32)),
            }]);
            Command::Peers { reply: used() }
        }
        Command::PutEvidence { raw, reply } => {
            let _ = reply.send(Ok(carnet_protocol::hash::evidence_hash(&raw)));
            Command::PutEvidence { raw, reply: used() }
        }
        // Purchase 0x66.. is not this org's member's; any other is vouched for.
        Command::DedupKey {
            request,
            signature,
            reply,
        } => {
            let result = if request.email == "listed@acme.example" {
                Err(carnet_node::dedup::DedupError::Duplicate)
            } else {
                Ok(Hash32::of(request.email.as_bytes()))
            };
            let _ = reply.send(result);
            Command::DedupKey {
                request,
                signature,
                reply: used(),
            }
        }
        Command::OrgDedupKey { email, reply } => {
            let _ = reply.send(Ok(Hash32::of(email.as_bytes())));
            Command::OrgDedupKey {
                email,
                reply: used(),
            }
        }
        Command::VouchPrecheck {
            reporter,
            purchase_id,
            opening,
            reply,
        } => {
            let result = if purchase_id == Hash32([0x66; 32]) {
                Err(carnet_node::vouch::VouchError::NotOurMember)
            } else {
                Ok(Hash32([3; 32]))
            };
            let _ = reply.send(result);
            Command::VouchPrecheck {
                reporter,
                purchase_id,
                opening,
                reply: used(),
            }
        }
        Command::VouchMobile {
            reporter,
            purchase_id,
            opening,
            reply,
        } => {
            let result = if opening.value == "+442079460000" {
                Err(carnet_node::vouch::VouchError::NotMobile(
                    opening.value.clone(),
                ))
            } else {
                Ok(carnet_protocol::payload::Voucher([8; 64]))
            };
            let _ = reply.send(result);
            Command::VouchMobile {
                reporter,
                purchase_id,
                opening,
                reply: used(),
            }
        }
        Command::Vouch { req, reply } => {
            let result = if req.purchase_id == Hash32([0x66; 32]) {
                Err(carnet_node::vouch::VouchError::NotOurMember)
            } else {
                Ok(carnet_node::vouch::Vouched {
                    voucher: carnet_protocol::payload::Voucher([7; 64]),
                    evidence: carnet_protocol::hash::evidence_hash(&req.message),
                })
            };
            let _ = reply.send(result);
            Command::Vouch { req, reply: used() }
        }
        Command::AuditBundle {
            event,
            include_message,
            include_opening,
            reply,
        } => {
            let _ = reply.send(Err(AuditRefusal::Audit(AuditError::NotSettled(12))));
            Command::AuditBundle {
                event,
                include_message,
                include_opening,
                reply: used(),
            }
        }
        Command::AuditCheckpoint {
            bound,
            since,
            reply,
        } => {
            let _ = reply.send(Err(AuditRefusal::Audit(AuditError::NoCheckpoint(0))));
            Command::AuditCheckpoint {
                bound,
                since,
                reply: used(),
            }
        }
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Api {
    async fn start(node: NodeHandle, token: &str, reply_timeout: Duration) -> Api {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let metrics = Arc::new(Metrics::default());
        let router =
            api::router_with_timeout(node, token.to_owned(), metrics.clone(), reply_timeout);
        let (stop, stopped) = oneshot::channel::<()>();
        let limits = carnet_node::serve::ServeLimits::default();
        let router = carnet_node::serve::with_limits(router, &limits);
        let server = tokio::spawn(carnet_node::serve::serve(listener, router, limits, async {
            let _ = stopped.await;
        }));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        Api {
            base: format!("http://{addr}"),
            http,
            metrics,
            stop: Some(stop),
            server,
        }
    }

    /// A server in front of the canned event loop.
    async fn with_fake_loop() -> (Api, Log) {
        let (tx, rx) = mpsc::channel(16);
        let log = spawn_fake_loop(rx);
        (
            Api::start(NodeHandle::new(tx), TOKEN, api::DEFAULT_REPLY_TIMEOUT).await,
            log,
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        read(r).await
    }

    async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        self.post_raw(path, body.to_string(), token).await
    }

    async fn post_raw(&self, path: &str, body: String, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        read(req.send().await.unwrap()).await
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.server.await.unwrap().unwrap();
    }
}

async fn read(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[track_caller]
fn assert_error(got: (StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(error_code(&got.1), code, "body: {}", got.1);
    assert!(got.1["error"]["message"].is_string(), "body: {}", got.1);
}

/// Runs a test body under a hard time bound.
async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .expect("test exceeded its time bound");
}

fn last(log: &Log) -> Option<Command> {
    log.lock().unwrap().pop()
}

#[tokio::test]
async fn submit_returns_what_the_loop_decided() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let submit = |first: u8| json!({ "event_hex": format!("{first:02x}c0ffee") });

        let (status, body) = api.post_json("/v1/events", &submit(0x01), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["ordered"]["outcome"], "applied");
        match last(&log) {
            Some(Command::Submit { bytes, .. }) => assert_eq!(bytes, [0x01, 0xc0, 0xff, 0xee]),
            other => panic!("unexpected command {other:?}"),
        }

        let (status, body) = api.post_json("/v1/events", &submit(0x02), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["pending"]["missing"][0], known_event().to_hex());

        let (status, body) = api.post_json("/v1/events", &submit(0x03), None).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body["duplicate"]["id"].is_string());

        // Uppercase hex is accepted too.
        let (status, _) = api
            .post_json("/v1/events", &json!({"event_hex": "01C0FFEE"}), None)
            .await;
        assert_eq!(status, StatusCode::OK);

        // The protocol's own code travels with the API's: a script can tell a bad
        // signature from a malformed event, and a clock too low from a broken chain.
        let got = api.post_json("/v1/events", &submit(0xee), None).await;
        assert!(got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("signature does not verify"));
        assert_eq!(got.1["error"]["reason"], "bad_signature");
        assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "invalid");
        let got = api.post_json("/v1/events", &submit(0xef), None).await;
        assert_eq!(got.1["error"]["reason"], "lamport_too_low");
        assert_error(got, StatusCode::UNPROCESSABLE_ENTITY, "rejected");
        // Refusals that are not the protocol's carry no reason.
        let got = api.post_json("/v1/events", &submit(0xfd), None).await;
        assert!(got.1["error"].get("reason").is_none(), "{}", got.1);
        assert_error(
            api.post_json("/v1/events", &submit(0xfd), None).await,
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
        );
        assert_error(
            api.post_json("/v1/events", &submit(0xfe), None).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn submit_rejects_malformed_requests() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let bad = StatusCode::BAD_REQUEST;
        for hex in ["zz", "abc", "01 02", ""] {
            assert_error(
                api.post_json("/v1/events", &json!({ "event_hex": hex }), None)
                    .await,
                bad,
                "invalid_hex",
            );
        }
        for body in [
            "{",
            "not json",
            "[]",
            "{}",
            r#"{"event_hex": 5}"#,
            r#"{"event_hex": "01", "extra": 1}"#,
        ] {
            assert_error(
                api.post_raw("/v1/events", body.into(), None).await,
                bad,
                "invalid_json",
            );
        }
        // A body that is not declared as JSON.
        let r = api
            .http
            .post(api.url("/v1/events"))
            .header("content-type", "text/plain")
            .body(r#"{"event_hex": "01"}"#)
            .send()
            .await
            .unwrap();
        assert_error(
            read(r).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );

        // Over the 64 KiB body limit.
        let huge = json!({ "event_hex": "01".repeat(40 * 1024) }).to_string();
        assert!(huge.len() > api::MAX_BODY_BYTES);
        assert_error(
            api.post_raw("/v1/events", huge, None).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
        // Within the body limit, but the event is over 16 KiB.
        let big_event = "01".repeat(16 * 1024 + 1);
        assert_error(
            api.post_json("/v1/events", &json!({ "event_hex": big_event }), None)
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
        );
        assert!(
            log.lock().unwrap().is_empty(),
            "nothing malformed reaches the loop"
        );
        // Exactly 16 KiB is fine.
        let (status, _) = api
            .post_json(
                "/v1/events",
                &json!({ "event_hex": "01".repeat(16 * 1024) }),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn events_by_id() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get(&format!("/v1/events/{}", known_event().to_hex()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["id"], known_event().to_hex());
        assert_eq!(body["event_hex"], hex::encode(EVENT_BYTES));

        assert_error(
            api.get(&format!("/v1/events/{}", Hash32::of(b"nope").to_hex()))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            api.get("/v1/events/xyz").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn listings_pass_filters_and_bound_the_limit() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get("/v1/listings?text=ada&company=Engines&domain=engines.example&title=cto&city=&limit=5")
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["listings"][0]["name"], "Ada Lovelace");
        assert_eq!(body["listings"][0]["phone"], true);
        match last(&log) {
            Some(Command::Search { query, .. }) => {
                assert_eq!(query.text.as_deref(), Some("ada"));
                assert_eq!(query.company.as_deref(), Some("Engines"));
                assert_eq!(query.domain.as_deref(), Some("engines.example"));
                assert_eq!(query.title.as_deref(), Some("cto"));
                assert_eq!(query.city, None, "an empty filter is no filter");
                assert_eq!(query.limit, Some(5));
            }
            other => panic!("unexpected command {other:?}"),
        }

        for (params, limit) in [
            ("", api::DEFAULT_SEARCH_LIMIT),
            ("?limit=100000", api::MAX_SEARCH_LIMIT),
            ("?limit=0", 1),
        ] {
            let (status, _) = api.get(&format!("/v1/listings{params}")).await;
            assert_eq!(status, StatusCode::OK);
            match last(&log) {
                Some(Command::Search { query, .. }) => assert_eq!(query.limit, Some(limit)),
                other => panic!("unexpected command {other:?}"),
            }
        }
        for params in ["?limit=abc", "?limit=-1", "?colour=red"] {
            assert_error(
                api.get(&format!("/v1/listings{params}")).await,
                StatusCode::BAD_REQUEST,
                "invalid_query",
            );
        }
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn accounts() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let key = member().to_hex();
        let stranger = SecretKey::from_seed([8; 32]).public().to_hex();

        let (status, body) = api.get(&format!("/v1/accounts/{key}/balance")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"account": key, "balance": 120, "escrow": 10, "pending": 30, "status": "active"})
        );
        assert_error(
            api.get(&format!("/v1/accounts/{stranger}/balance")).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );

        let (status, body) = api.get(&format!("/v1/accounts/{key}/history")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["account"], key);
        assert_eq!(body["movements"][0]["delta"], 100);
        let (status, body) = api.get(&format!("/v1/accounts/{stranger}/history")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["movements"], json!([]));

        let (status, body) = api.get(&format!("/v1/accounts/{key}/chain")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"author": key, "next_seq": 3, "prev": known_event().to_hex(),
                   "last_lamport": 40, "last_timestamp_ms": 1_700_000_000_000u64, "clock": 41,
                   "introduction": null})
        );

        for what in ["balance", "history", "chain"] {
            assert_error(
                api.get(&format!("/v1/accounts/{}/{what}", &key[..62]))
                    .await,
                StatusCode::BAD_REQUEST,
                "invalid_hex",
            );
        }
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn deliveries_status_and_peers() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let (status, body) = api
            .get(&format!("/v1/deliveries/{}", known_purchase().to_hex()))
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["purchase_id"], known_purchase().to_hex());
        assert_eq!(body["sealed_card_hex"], "abcdef");
        assert_error(
            api.get(&format!("/v1/deliveries/{}", known_event().to_hex()))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
        assert_error(
            api.get("/v1/deliveries/00").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );

        let (status, body) = api.get("/v1/status").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["events"], 10);
        assert_eq!(body["finalized_bound"], Value::Null);
        assert_eq!(body["peer_id"], "12D3KooWfake");

        let (status, body) = api.get("/v1/peers").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["peers"][0]["peer_id"], "12D3KooWpeer");
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn vouchers_are_signed_only_for_a_bounce_of_the_cards_address() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let dsn = include_bytes!("../../../mail/tests/fixtures/dsn/postfix-5.1.1.eml");
        let req = |email: &str, message: &[u8], purchase: u8| {
            json!({
                "reporter": PublicKey([1; 32]).to_hex(),
                "purchase_id": Hash32([purchase; 32]).to_hex(),
                "email": email,
                "salt_hex": hex::encode([2u8; 32]),
                "message_hex": hex::encode(message),
            })
        };
        let (status, body) = api
            .post_json("/v1/vouchers", &req("jane.doe@acme.example", dsn, 1), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["voucher_hex"], hex::encode([7u8; 64]));
        assert_eq!(body["status"], "5.1.1");
        assert_eq!(body["finding"], "unsigned");
        assert_eq!(
            body["evidence"],
            carnet_protocol::hash::evidence_hash(dsn).to_hex()
        );
        // A hand-written note, or a real bounce for another address: refused before
        // the event loop is asked to sign.
        let vouches = || {
            log.lock()
                .unwrap()
                .iter()
                .filter(|c| matches!(c, Command::Vouch { .. }))
                .count()
        };
        let asked = vouches();
        for (email, message) in [
            (
                "jane.doe@acme.example",
                &b"Subject: bounce\r\n\r\njane.doe bounced, 5.1.1\r\n"[..],
            ),
            ("john.roe@acme.example", &dsn[..]),
        ] {
            assert_error(
                api.post_json("/v1/vouchers", &req(email, message, 1), None)
                    .await,
                StatusCode::UNPROCESSABLE_ENTITY,
                "bounce_refused",
            );
        }
        assert_eq!(vouches(), asked);
        // A stranger's request is refused by the ledger checks, before the message is
        // read (no DKIM lookup for strangers): even a hand-written note gets 403.
        for message in [&dsn[..], &b"not mail"[..]] {
            assert_error(
                api.post_json(
                    "/v1/vouchers",
                    &req("jane.doe@acme.example", message, 0x66),
                    None,
                )
                .await,
                StatusCode::FORBIDDEN,
                "not_our_member",
            );
        }
        assert_eq!(vouches(), asked);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn dedup_keys_are_asked_with_a_signed_request_and_refusals_keep_the_key() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let req = |email: &str, sig: String| {
            json!({
                "member": member().to_hex(),
                "email": email,
                "at_ms": 1_700_000_000_000u64,
                "signature_hex": sig,
            })
        };
        let sig = hex::encode([5u8; 64]);
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("ada@acme.example", sig.clone()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["dedup_key"], Hash32::of(b"ada@acme.example").to_hex());
        // The loop got the request as signed; the network left zero, for the loop
        // to read as its own (no round trip for it).
        let asked = log
            .lock()
            .unwrap()
            .iter()
            .find_map(|c| match c {
                Command::DedupKey {
                    request, signature, ..
                } => Some((request.clone(), *signature)),
                _ => None,
            })
            .expect("asked the loop");
        assert_eq!(asked.0.member, member());
        assert_eq!(asked.0.network, Hash32::ZERO);
        assert_eq!(asked.0.at_ms, 1_700_000_000_000);
        assert_eq!(asked.1, [5u8; 64]);
        // A listed address: 409 without a key.
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("listed@acme.example", sig.clone()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["error"]["code"], "duplicate_card");
        assert!(body.get("dedup_key").is_none());
        // Malformed signatures and oversized emails never reach the loop.
        let before = log.lock().unwrap().len();
        let (status, body) = api
            .post_json(
                "/v1/dedup-keys",
                &req("ada@acme.example", "00".into()),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let long = format!("{}@acme.example", "a".repeat(300));
        let (status, body) = api
            .post_json("/v1/dedup-keys", &req(&long, sig), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_email");
        assert_eq!(log.lock().unwrap().len(), before);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn mobile_vouchers_are_signed_for_a_mobile_number_only() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let req = |phone: &str| {
            json!({
                "reporter": PublicKey([1; 32]).to_hex(),
                "purchase_id": Hash32([4; 32]).to_hex(),
                "phone": phone,
                "salt_hex": hex::encode([2u8; 32]),
            })
        };
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req("+447400123456"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["voucher_hex"], hex::encode([8u8; 64]));
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::VouchMobile { opening, .. } if opening.value == "+447400123456"
                && opening.salt == [2; 32]
        )));
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req("+442079460000"), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "not_mobile");
        let before = log.lock().unwrap().len();
        let (status, body) = api
            .post_json("/v1/mobile-vouchers", &req(&"4".repeat(40)), None)
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["error"]["code"], "invalid_phone");
        let mut bad = req("+447400123456");
        bad["salt_hex"] = json!("00");
        let (status, _) = api.post_json("/v1/mobile-vouchers", &bad, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(log.lock().unwrap().len(), before);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn evidence_and_audit_routes() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        // Without the admin token nothing is kept: the endpoint is the operator's.
        assert_error(
            api.post_json("/v1/evidence", &json!({"message_hex": "6869"}), None)
                .await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::PutEvidence { .. })));
        // A message of 1 MiB passes the route's larger body limit.
        let big = vec![b'x'; carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES];
        let (status, body) = api
            .post_json(
                "/v1/evidence",
                &json!({"message_hex": hex::encode(&big)}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            body["evidence"],
            carnet_protocol::hash::evidence_hash(&big).to_hex()
        );
        assert!(log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::PutEvidence { raw, .. } if raw.len() == big.len())));
        let over = hex::encode(vec![b'x'; big.len() + 1]);
        assert_error(
            api.post_json("/v1/evidence", &json!({"message_hex": over}), Some(TOKEN))
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
        );
        for bad in [json!({"message_hex": "zz"}), json!({"message_hex": ""})] {
            assert_error(
                api.post_json("/v1/evidence", &bad, Some(TOKEN)).await,
                StatusCode::BAD_REQUEST,
                "invalid_hex",
            );
        }
        // Other routes keep the 64 KiB limit.
        let (status, _) = api
            .post_json("/v1/events", &json!({"event_hex": hex::encode(&big)}), None)
            .await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

        let id = known_event().to_hex();
        // Personal data (the message, the opening) leaves only with the admin token.
        for q in ["include_message=true", "include_opening=true"] {
            assert_error(
                api.get(&format!("/v1/audit/{id}?{q}")).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
        }
        assert!(!log
            .lock()
            .unwrap()
            .iter()
            .any(|c| matches!(c, Command::AuditBundle { .. })));
        assert_error(
            api.get(&format!("/v1/audit/{id}")).await,
            StatusCode::CONFLICT,
            "not_settled",
        );
        let r = api
            .http
            .get(api.url(&format!(
                "/v1/audit/{id}?include_message=true&include_opening=true"
            )))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_error(read(r).await, StatusCode::CONFLICT, "not_settled");
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::AuditBundle {
                include_message: true,
                include_opening: true,
                ..
            }
        )));
        assert_error(
            api.get("/v1/audit/zz").await,
            StatusCode::BAD_REQUEST,
            "invalid_hex",
        );
        assert_error(
            api.get(&format!("/v1/audit/{id}?include=1")).await,
            StatusCode::BAD_REQUEST,
            "invalid_query",
        );
        assert_error(
            api.get("/v1/audit/checkpoint?since=3").await,
            StatusCode::NOT_FOUND,
            "no_checkpoint",
        );
        assert!(log.lock().unwrap().iter().any(|c| matches!(
            c,
            Command::AuditCheckpoint {
                bound: None,
                since: Some(3),
                ..
            }
        )));
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admin_calls_sign_payloads_as_the_org() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let key = member();
        let dedup = Hash32::of(b"someone@example.com");
        let cases = [
            (
                "/v1/admin/enroll",
                json!({"member": key.to_hex(), "handle": "blue-heron"}),
                Payload::Enroll(carnet_protocol::payload::Enroll {
                    member: key,
                    handle: "blue-heron".into(),
                }),
            ),
            (
                "/v1/admin/grant",
                json!({"member": key.to_hex(), "points": 100, "memo": "welcome"}),
                Payload::Grant(carnet_protocol::payload::Grant {
                    member: key,
                    points: 100,
                    memo: "welcome".into(),
                }),
            ),
            (
                "/v1/admin/revoke",
                json!({"member": key.to_hex(), "reason": "left"}),
                Payload::Revoke(carnet_protocol::payload::Revoke {
                    member: key,
                    reason: "left".into(),
                }),
            ),
            (
                "/v1/admin/optout",
                json!({"dedup_key": dedup.to_hex()}),
                Payload::OptOut(carnet_protocol::payload::OptOut { dedup_key: dedup }),
            ),
            (
                "/v1/admin/optout",
                json!({"email": "jane@acme.example"}),
                Payload::OptOut(carnet_protocol::payload::OptOut {
                    dedup_key: Hash32::of(b"jane@acme.example"),
                }),
            ),
            (
                "/v1/admin/dispute",
                json!({"report_id": dedup.to_hex(), "finding": "the MX accepted mail"}),
                Payload::Dispute(carnet_protocol::payload::Dispute {
                    report_id: dedup,
                    finding: "the MX accepted mail".into(),
                }),
            ),
            (
                "/v1/admin/rotate",
                json!({"org": key.to_hex(), "to": member2().to_hex()}),
                Payload::Rotate(carnet_protocol::payload::Rotate {
                    org: key,
                    to: member2(),
                }),
            ),
            (
                "/v1/admin/evict",
                json!({"org": key.to_hex(), "reason": "stopped delivering"}),
                Payload::Evict(carnet_protocol::payload::Evict {
                    org: key,
                    reason: "stopped delivering".into(),
                }),
            ),
        ];
        for (path, body, expected) in cases {
            let (status, reply) = api.post_json(path, &body, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {reply}");
            assert_eq!(reply["ordered"]["outcome"], expected.kind());
            match last(&log) {
                Some(Command::SubmitAsOrg { payload, .. }) => assert_eq!(payload, expected),
                other => panic!("unexpected command {other:?}"),
            }
        }
        // Optional text fields default to empty.
        let (status, _) = api
            .post_json(
                "/v1/admin/grant",
                &json!({"member": key.to_hex(), "points": 5}),
                Some(TOKEN),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        // The scheme name is case-insensitive.
        let r = api
            .http
            .post(api.url("/v1/admin/optout"))
            .header("content-type", "application/json")
            .header("authorization", format!("bearer {TOKEN}"))
            .body(json!({"dedup_key": dedup.to_hex()}).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admin_calls_need_the_token() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let body = json!({"member": member().to_hex(), "handle": "h"});
        for path in [
            "/v1/admin/enroll",
            "/v1/admin/grant",
            "/v1/admin/revoke",
            "/v1/admin/optout",
        ] {
            let r = api
                .http
                .post(api.url(path))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer")
            );
            assert_error(read(r).await, StatusCode::UNAUTHORIZED, "unauthorized");
            for token in ["wrong", "", &TOKEN[..TOKEN.len() - 1], &format!("{TOKEN}x")] {
                assert_error(
                    api.post_json(path, &body, Some(token)).await,
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                );
            }
            // The token is checked before the body is even parsed.
            assert_error(
                api.post_raw(path, "{".into(), Some("wrong")).await,
                StatusCode::UNAUTHORIZED,
                "unauthorized",
            );
            // Not a bearer scheme.
            let r = api
                .http
                .post(api.url(path))
                .header("content-type", "application/json")
                .header("authorization", format!("Basic {TOKEN}"))
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            assert_error(read(r).await, StatusCode::UNAUTHORIZED, "unauthorized");
        }
        assert!(log.lock().unwrap().is_empty());
        api.stop().await;

        // An empty token disables admin calls altogether.
        let (tx, rx) = mpsc::channel(16);
        let _log = spawn_fake_loop(rx);
        let api = Api::start(NodeHandle::new(tx), "", api::DEFAULT_REPLY_TIMEOUT).await;
        assert_error(
            api.post_json("/v1/admin/enroll", &body, Some("")).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn admin_calls_validate_their_input() {
    bounded(async {
        let (api, log) = Api::with_fake_loop().await;
        let key = member().to_hex();
        let not_a_point = (0u8..=255)
            .map(|i| PublicKey([i; 32]))
            .find(|k| k.verifying_key().is_none())
            .expect("some 32-byte strings are not curve points");
        let bad = StatusCode::BAD_REQUEST;
        let cases = [
            (
                "/v1/admin/enroll",
                json!({"member": "12", "handle": "h"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": not_a_point.to_hex(), "handle": "h"}),
                bad,
                "invalid_key",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": key}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/enroll",
                json!({"member": key, "handle": ""}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": -1}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": 0}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/grant",
                json!({"member": key, "points": 1, "memo": "x".repeat(257)}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
            ),
            (
                "/v1/admin/revoke",
                json!({"member": "zz"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/optout",
                json!({"dedup_key": "00"}),
                bad,
                "invalid_hex",
            ),
            (
                "/v1/admin/optout",
                json!({"dedup": key}),
                bad,
                "invalid_json",
            ),
            (
                "/v1/admin/optout",
                json!({"email": "jane@acme.example", "dedup_key": key}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
            (
                "/v1/admin/optout",
                json!({}),
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
            ),
        ];
        for (path, body, status, code) in cases {
            assert_error(api.post_json(path, &body, Some(TOKEN)).await, status, code);
        }
        assert_error(
            api.post_raw("/v1/admin/revoke", "{".into(), Some(TOKEN))
                .await,
            bad,
            "invalid_json",
        );
        assert_error(
            api.post_raw(
                "/v1/admin/revoke",
                format!(
                    r#"{{"member": "{key}", "reason": "{}"}}"#,
                    "x".repeat(70_000)
                ),
                Some(TOKEN),
            )
            .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        );
        assert!(log.lock().unwrap().is_empty(), "nothing invalid is signed");
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        assert_error(
            api.get("/v1/nothing").await,
            StatusCode::NOT_FOUND,
            "no_route",
        );
        assert_error(
            api.get("/v1/events").await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        assert_error(
            api.post_json("/v1/status", &json!({}), None).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        );
        api.stop().await;
    })
    .await;
}

#[tokio::test]
async fn metrics_are_rendered_for_prometheus() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        api.metrics.inc_ingested();
        api.metrics.inc_ingested();
        api.metrics.inc_rejected("invalid");
        api.metrics.set_pending(3);
        api.metrics.set_peers(2);
        api.metrics.inc_gossip();
        let r = api.http.get(api.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("application/openmetrics-text"));
        let text = r.text().await.unwrap();
        for line in [
            "events_ingested_total 2",
            "events_rejected_total{reason=\"invalid\"} 1",
            "events_pending 3",
            "peers_connected 2",
            "gossip_messages_total 1",
            "# TYPE events_ingested counter",
            "# TYPE events_pending gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        api.stop().await;
    })
    .await;
}

/// Every (method, path) of an OpenAPI document.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.insert((method.clone(), path.clone()));
        }
    }
    out
}

/// Every `$ref` in `v` names something that exists in `doc`.
fn check_refs(doc: &Value, v: &Value) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let pointer = r.strip_prefix('#').expect("local ref");
                assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
            }
            map.values().for_each(|x| check_refs(doc, x));
        }
        Value::Array(items) => items.iter().for_each(|x| check_refs(doc, x)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_matches_the_router() {
    bounded(async {
        let (api, _log) = Api::with_fake_loop().await;
        let r = api.http.get(api.url("/openapi.json")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], "application/json");
        let doc: Value = r.json().await.unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        check_refs(&doc, &doc);

        let routed: BTreeSet<(String, String)> = api::route_table()
            .into_iter()
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        let documented = documented_routes(&doc);
        assert_eq!(
            routed.difference(&documented).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "routes missing from docs/openapi.json"
        );
        assert_eq!(
            documented.difference(&routed).collect::<Vec<_>>(),
            Vec::<&(String, String)>::new(),
            "documented routes the router does not have"
        );

        // Every documented route is really served (not the 404/405 fallbacks), and
        // every operation documents its success response.
        let api_md = include_str!("../../../docs/api.md");
        for (method, path) in &documented {
            let op = &doc["paths"][path][method];
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            assert!(
                api_md.contains(&format!("`{} {path}`", method.to_uppercase())),
                "docs/api.md does not describe {method} {path}"
            );
            let concrete = path
                .replace("{id}", &known_event().to_hex())
                .replace("{pubkey}", &member().to_hex())
                .replace("{purchase_id}", &known_purchase().to_hex());
            let (status, body) = match method.as_str() {
                "get" => api.get(&concrete).await,
                "post" => api.post_json(&concrete, &json!({}), Some(TOKEN)).await,
                other => panic!("unexpected method {other}"),
            };
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(body["error"]["code"], "no_route", "{method} {path}");
        }
        api.stop().await;
    })
    .await;
}

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
