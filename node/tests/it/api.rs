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
use carnet_protocol::{EventError, Hash32, PublicKey, SecretKey};
use reqwest::StatusCode;
use serde_json::Value;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod admin;
mod events;
mod limits;
mod queries;
mod reports;
mod routes;

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
    /// The canned answer to an event, by its first byte.
    fn submitted(bytes: &[u8]) -> Result<Submitted, IngestError> {
        let id = Hash32::of(bytes).to_hex();
        match bytes[0] {
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
        }
    }
    match cmd {
        Command::Submit { bytes, reply } => {
            let _ = reply.send(submitted(&bytes));
            Command::Submit {
                bytes,
                reply: used(),
            }
        }
        Command::SubmitMany { events, reply } => {
            let _ = reply.send(events.iter().map(|e| submitted(e)).collect());
            Command::SubmitMany {
                events,
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
        // The text "dead" stands for a store whose teasers cannot be read.
        Command::Search { query, reply } if query.text.as_deref() == Some("dead") => {
            let _ = reply.send(Err(carnet_node::store::StoreError::Reopening));
            Command::Search {
                query,
                reply: used(),
            }
        }
        Command::Search { query, reply } => {
            let _ = reply.send(Ok(carnet_api::SearchPage {
                total: 1,
                offset: query.offset.unwrap_or(0),
                listings: vec![ListingView {
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
                    domain_unicode: "engines.example".into(),
                    listed_ms: 1_700_000_000_000,
                    updated_ms: 1_700_000_000_000,
                    price: 10,
                    org: member().to_hex(),
                    org_name: "Analytical Org".into(),
                }],
            }));
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
                play: None,
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
            // This account's records cannot be read: the store's failure, not a history.
            let answer = match account == PublicKey([0xee; 32]) {
                true => Err(carnet_node::store::StoreError::Unreadable(
                    "read error".into(),
                )),
                false => Ok(movements),
            };
            let _ = reply.send(answer);
            Command::History {
                account,
                reply: used(),
            }
        }
        // "dead…" stands for a purchase whose Deliver the store cannot give back.
        Command::Delivery { purchase, reply } if purchase.to_hex().starts_with("dead") => {
            let _ = reply.send(Err(carnet_node::store::StoreError::Reopening));
            Command::Delivery {
                purchase,
                reply: used(),
            }
        }
        Command::Delivery { purchase, reply } => {
            let _ = reply.send(Ok((purchase == known_purchase()).then(|| DeliveryView {
                purchase_id: purchase.to_hex(),
                deliver_event: known_event().to_hex(),
                ephemeral_hex: "11".repeat(32),
                sealed_card_hex: "abcdef".into(),
            })));
            Command::Delivery {
                purchase,
                reply: used(),
            }
        }
        // Account 0xee… stands for one whose chain head the store cannot give back.
        Command::ChainHead { author, reply } if author == PublicKey([0xee; 32]) => {
            let _ = reply.send(Err(carnet_node::store::StoreError::Reopening));
            Command::ChainHead {
                author,
                reply: used(),
            }
        }
        Command::ChainHead { author, reply } => {
            let _ = reply.send(Ok(ChainHeadView {
                author: author.to_hex(),
                next_seq: 3,
                prev: Some(known_event().to_hex()),
                last_lamport: Some(40),
                last_timestamp_ms: Some(1_700_000_000_000),
                clock: 41,
                introduction: None,
            }));
            Command::ChainHead {
                author,
                reply: used(),
            }
        }
        Command::IdsWithPrefix { prefix, reply } => {
            let known = known_event();
            // "dead…" stands for a store that cannot be read.
            let _ = reply.send(if prefix.starts_with("dead") {
                Err(carnet_node::store::StoreError::Reopening)
            } else if known.to_hex().starts_with(&prefix) {
                Ok(vec![known])
            } else {
                Ok(vec![])
            });
            Command::IdsWithPrefix {
                prefix,
                reply: used(),
            }
        }
        Command::Members { reply } => {
            let _ = reply.send(vec![carnet_api::MemberView {
                member: member().to_hex(),
                handle: "blue-heron".into(),
                status: "Active".into(),
                balance: 120,
                pending: 30,
                contributions: 2,
            }]);
            Command::Members { reply: used() }
        }
        Command::Quote {
            buyer,
            listing,
            max_price,
            reply,
        } => {
            let _ = reply.send(carnet_api::QuoteView {
                listing: listing.to_hex(),
                buyer: buyer.to_hex(),
                price: 10,
                max_price,
                balance: Some(5),
                refusal: Some("InsufficientBalance".into()),
            });
            Command::Quote {
                buyer,
                listing,
                max_price,
                reply: used(),
            }
        }
        Command::Event { id, reply } => {
            // "dead…" stands for a released event the store cannot give back.
            let _ = reply.send(if id.to_hex().starts_with("dead") {
                Err(carnet_node::store::StoreError::Reopening)
            } else {
                Ok((id == known_event()).then(|| EVENT_BYTES.to_vec()))
            });
            Command::Event { id, reply: used() }
        }
        Command::Settlement { limit, reply } => {
            let _ = reply.send(Ok(Vec::new()));
            Command::Settlement {
                limit,
                reply: used(),
            }
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
            // "dead…" stands for a listing whose teaser the store cannot give back.
            let _ = reply.send(if id.to_hex().starts_with("dead") {
                Err(carnet_node::store::StoreError::Reopening)
            } else {
                Ok(None)
            });
            Command::Listing { id, reply: used() }
        }
        Command::Purchases { buyer, reply } => {
            let _ = reply.send(Ok(Vec::new()));
            Command::Purchases {
                buyer,
                reply: used(),
            }
        }
        Command::VoteOf {
            domain,
            member,
            reply,
        } => {
            let _ = reply.send(None);
            Command::VoteOf {
                domain,
                member,
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
        Command::Orgs { reply } => {
            let _ = reply.send(carnet_api::OrgsView {
                orgs: vec![carnet_api::OrgView {
                    key: "ab".repeat(32),
                    name: "Acme".into(),
                    founding: true,
                }],
                quorum: "2/3".into(),
                admissions: vec![carnet_api::VoteView {
                    org: "cd".repeat(32),
                    to: None,
                    votes: 1,
                    needed: 2,
                    voters: vec!["ab".repeat(32)],
                }],
                evictions: vec![],
                rotations: vec![],
            });
            Command::Orgs { reply: used() }
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
        Command::PutSealedKey { upload, reply } => {
            let member = carnet_protocol::PublicKey::from_hex(&upload.record.member);
            let _ = reply
                .send(member.ok_or(carnet_node::web::keys::WebKeyError::Storage("fake".into())));
            Command::PutSealedKey {
                upload,
                reply: used(),
            }
        }
        // The API never signs for a member: only the web app's pages do.
        Command::SignAsMember {
            key,
            payload,
            card,
            reply,
        } => {
            let _ = reply.send(Err(IngestError::ShuttingDown));
            Command::SignAsMember {
                key,
                payload,
                card,
                reply: used(),
            }
        }
        Command::SealedKey { member, reply } => {
            let _ = reply.send(None);
            Command::SealedKey {
                member,
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
