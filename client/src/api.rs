//! A blocking client for an org node's HTTP API (docs/api.md).
//!
//! The reply and error documents are the ones the node writes (`carnet_api`), so the
//! two cannot drift apart. Every failure says which node was asked and what it answered.

use carnet_api::{
    BalanceView, ChainHeadView, CompanyInfo, DeliveryView, ListingDetail, MovementView, NodeStatus,
    PurchaseView, SearchQuery, Submitted,
};
use carnet_protocol::card::Card;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::{ContentId, PublicKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use thiserror::Error;

/// The API a CLI talks to when neither a flag nor a key file names one.
pub const DEFAULT_API: &str = "http://127.0.0.1:4711";
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum ApiError {
    #[error("cannot reach the node at {url}: {reason} (is `carnet node run` up?)")]
    Unreachable { url: String, reason: String },
    /// The node answered with an error document.
    #[error("the node refused: {message} [{code}, HTTP {status}]")]
    Refused {
        status: u16,
        code: String,
        message: String,
    },
    #[error("unexpected answer from {url}: {reason}")]
    Decode { url: String, reason: String },
}

impl ApiError {
    /// The node's error code, when it answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ApiError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NodeApi {
    base: String,
    http: reqwest::blocking::Client,
    admin_token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventHex {
    pub id: String,
    pub event_hex: String,
}

#[derive(Deserialize)]
struct History {
    movements: Vec<MovementView>,
}

#[derive(Deserialize)]
struct Purchases {
    purchases: Vec<PurchaseView>,
}

/// The org node's voucher for a bounce report.
#[derive(Debug, Clone, Deserialize)]
pub struct VoucherIssued {
    pub voucher_hex: String,
    pub evidence: String,
    pub status: String,
    /// `dkim:<domain>` or `unsigned`.
    pub finding: String,
}

#[derive(Deserialize)]
struct Evidence {
    evidence: String,
}

impl NodeApi {
    pub fn new(base: &str) -> Result<Self, ApiError> {
        let http = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| ApiError::Unreachable {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(NodeApi {
            base: base.trim_end_matches('/').to_owned(),
            http,
            admin_token: None,
        })
    }

    /// Adds the org's admin token, needed for the `/v1/admin` calls.
    pub fn with_admin_token(mut self, token: String) -> Self {
        self.admin_token = Some(token);
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn send<T: DeserializeOwned>(
        &self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> Result<T, ApiError> {
        let req = match &self.admin_token {
            Some(t) if url.contains("/v1/admin/") => req.bearer_auth(t),
            _ => req,
        };
        let resp = req.send().map_err(|e| ApiError::Unreachable {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        let status = resp.status();
        let text = resp.text().map_err(|e| ApiError::Decode {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
        if !status.is_success() {
            return Err(match serde_json::from_str::<carnet_api::ErrorBody>(&text) {
                Ok(doc) => ApiError::Refused {
                    status: status.as_u16(),
                    code: doc.error.code,
                    message: doc.error.message,
                },
                Err(_) => ApiError::Refused {
                    status: status.as_u16(),
                    code: "http".into(),
                    message: text.chars().take(200).collect(),
                },
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Decode {
            url: url.to_owned(),
            reason: e.to_string(),
        })
    }

    /// GET `path` (starting with `/`) and decode the JSON answer.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.get(&url), &url)
    }

    /// GET `path` with the admin token (which [`get`](Self::get) sends only to admin
    /// routes): for reads the org authorises, such as an audit bundle with its
    /// personal parts.
    pub fn get_as_admin<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        let req = self.http.get(&url);
        let req = match &self.admin_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        self.send(req, &url)
    }

    /// POST `body` as JSON to `path` and decode the JSON answer.
    pub fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, ApiError> {
        let url = format!("{}{path}", self.base);
        self.send(self.http.post(&url).json(body), &url)
    }

    /// Like [`get`](Self::get), but a 404 is `None`.
    fn get_opt<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ApiError> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Refused { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn status(&self) -> Result<NodeStatus, ApiError> {
        self.get("/v1/status")
    }

    pub fn orgs(&self) -> Result<carnet_api::OrgsView, ApiError> {
        self.get("/v1/orgs")
    }

    pub fn peers(&self) -> Result<Vec<carnet_api::PeerView>, ApiError> {
        #[derive(serde::Deserialize)]
        struct Peers {
            peers: Vec<carnet_api::PeerView>,
        }
        Ok(self.get::<Peers>("/v1/peers")?.peers)
    }

    /// What a purchase of `listing` by `buyer` would do if ordered now.
    pub fn quote(
        &self,
        listing: &ContentId,
        buyer: &PublicKey,
        max_price: u64,
    ) -> Result<carnet_api::QuoteView, ApiError> {
        self.get(&format!(
            "/v1/listings/{listing}/quote?buyer={buyer}&max_price={max_price}"
        ))
    }

    pub fn chain_head(&self, author: &PublicKey) -> Result<ChainHeadView, ApiError> {
        self.get(&format!("/v1/accounts/{author}/chain"))
    }

    pub fn submit(&self, event: &[u8]) -> Result<Submitted, ApiError> {
        self.post("/v1/events", &json!({ "event_hex": hex::encode(event) }))
    }

    /// Submits up to 256 events in one call (`POST /v1/events/batch`): one result per
    /// event, in their order, each what [`submit`](Self::submit) would have given.
    pub fn submit_batch<E: AsRef<[u8]>>(
        &self,
        events: &[E],
    ) -> Result<carnet_api::BatchSubmitted, ApiError> {
        let hexes: Vec<String> = events.iter().map(hex::encode).collect();
        self.post("/v1/events/batch", &json!({ "events_hex": hexes }))
    }

    pub fn contribute(&self, event: &[u8], card: &Card) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/contributions",
            &json!({
                "event_hex": hex::encode(event),
                "card_hex": hex::encode(to_canonical(card)),
            }),
        )
    }

    /// The dedup key of `request.email`, asked of the member's own org node with the
    /// request signed by the member key.
    /// Sends the member's sealed key for the web app (docs/web.md); the member it was
    /// kept for.
    pub fn put_sealed_key(
        &self,
        upload: &carnet_api::sealed_key::SealedKeyUpload,
    ) -> Result<String, ApiError> {
        #[derive(serde::Deserialize)]
        struct Kept {
            member: String,
        }
        let body = serde_json::to_value(upload).map_err(|e| ApiError::Decode {
            url: "/v1/web/sealed-key".into(),
            reason: e.to_string(),
        })?;
        let kept: Kept = self.post("/v1/web/sealed-key", &body)?;
        Ok(kept.member)
    }

    pub fn dedup_key(
        &self,
        request: &carnet_protocol::dedup::DedupRequest,
        signature: &[u8; 64],
    ) -> Result<carnet_protocol::Hash32, ApiError> {
        #[derive(serde::Deserialize)]
        struct Issued {
            dedup_key: String,
        }
        let issued: Issued = self.post(
            "/v1/dedup-keys",
            &json!({
                "member": request.member.to_hex(),
                "email": request.email,
                "at_ms": request.at_ms,
                "signature_hex": hex::encode(signature),
            }),
        )?;
        carnet_protocol::Hash32::from_hex(&issued.dedup_key).ok_or_else(|| ApiError::Decode {
            url: format!("{}/v1/dedup-keys", self.base),
            reason: format!("dedup key {:?} is not 64 hex digits", issued.dedup_key),
        })
    }

    /// Ordered events whose id starts with `prefix` (4 to 64 hex digits), at most 5.
    pub fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<ContentId>, ApiError> {
        #[derive(Deserialize)]
        struct Ids {
            ids: Vec<String>,
        }
        let url = format!("{}/v1/ids/{prefix}", self.base);
        let ids: Ids = self.send(self.http.get(&url), &url)?;
        ids.ids
            .iter()
            .map(|h| {
                carnet_protocol::Hash32::from_hex(h).ok_or_else(|| ApiError::Decode {
                    url: url.clone(),
                    reason: format!("id {h:?} is not 64 hex digits"),
                })
            })
            .collect()
    }

    pub fn event(&self, id: &ContentId) -> Result<Option<EventHex>, ApiError> {
        self.get_opt(&format!("/v1/events/{id}"))
    }

    pub fn search(&self, q: &SearchQuery) -> Result<carnet_api::SearchPage, ApiError> {
        let url = format!("{}/v1/listings", self.base);
        let mut params: Vec<(&str, String)> = Vec::new();
        for (k, v) in [
            ("text", &q.text),
            ("company", &q.company),
            ("domain", &q.domain),
            ("title", &q.title),
            ("city", &q.city),
        ] {
            if let Some(v) = v {
                params.push((k, v.clone()));
            }
        }
        if let Some(l) = q.limit {
            params.push(("limit", l.to_string()));
        }
        if let Some(o) = q.offset {
            params.push(("offset", o.to_string()));
        }
        self.send(self.http.get(&url).query(&params), &url)
    }

    pub fn listing(&self, id: &ContentId) -> Result<Option<ListingDetail>, ApiError> {
        self.get_opt(&format!("/v1/listings/{id}"))
    }

    pub fn delivery(&self, purchase: &ContentId) -> Result<Option<DeliveryView>, ApiError> {
        self.get_opt(&format!("/v1/deliveries/{purchase}"))
    }

    pub fn purchases(&self, buyer: &PublicKey) -> Result<Vec<PurchaseView>, ApiError> {
        Ok(self
            .get::<Purchases>(&format!("/v1/accounts/{buyer}/purchases"))?
            .purchases)
    }

    pub fn balance(&self, account: &PublicKey) -> Result<Option<BalanceView>, ApiError> {
        self.get_opt(&format!("/v1/accounts/{account}/balance"))
    }

    pub fn history(&self, account: &PublicKey) -> Result<Vec<MovementView>, ApiError> {
        Ok(self
            .get::<History>(&format!("/v1/accounts/{account}/history"))?
            .movements)
    }

    pub fn company(&self, domain: &str) -> Result<Option<CompanyInfo>, ApiError> {
        self.get_opt(&format!("/v1/companies/{domain}"))
    }

    /// Has the org node keep a bounce message as evidence (admin: the client needs the
    /// admin token; members go through [`NodeApi::vouch`]). Returns the evidence hash the
    /// node computed.
    pub fn put_evidence(&self, raw: &[u8]) -> Result<String, ApiError> {
        let e: Evidence = self.post("/v1/evidence", &json!({ "message_hex": hex::encode(raw) }))?;
        Ok(e.evidence)
    }

    /// Asks the reporter's org node to check a bounce message for the card bought in
    /// `purchase_id` and vouch for the report (docs/api.md, `POST /v1/vouchers`).
    pub fn vouch(
        &self,
        reporter: &PublicKey,
        purchase_id: &carnet_protocol::ContentId,
        email: &carnet_protocol::payload::Opening,
        raw: &[u8],
    ) -> Result<VoucherIssued, ApiError> {
        self.post(
            "/v1/vouchers",
            &json!({
                "reporter": reporter.to_hex(),
                "purchase_id": purchase_id.to_hex(),
                "email": email.value,
                "salt_hex": hex::encode(email.salt),
                "message_hex": hex::encode(raw),
            }),
        )
    }

    /// Shows the member's org node the card's direct line, which it checks and
    /// classifies; returns the mobile voucher a MobileReport carries.
    pub fn vouch_mobile(
        &self,
        reporter: &PublicKey,
        purchase_id: &carnet_protocol::ContentId,
        phone: &carnet_protocol::payload::Opening,
    ) -> Result<carnet_protocol::payload::Voucher, ApiError> {
        #[derive(Deserialize)]
        struct Issued {
            voucher_hex: String,
        }
        let issued: Issued = self.post(
            "/v1/mobile-vouchers",
            &json!({
                "reporter": reporter.to_hex(),
                "purchase_id": purchase_id.to_hex(),
                "phone": phone.value,
                "salt_hex": hex::encode(phone.salt),
            }),
        )?;
        hex::decode(&issued.voucher_hex)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(carnet_protocol::payload::Voucher)
            .ok_or_else(|| ApiError::Decode {
                url: format!("{}/v1/mobile-vouchers", self.base),
                reason: "the voucher is not 64 bytes of hex".into(),
            })
    }

    pub fn admin_enroll(&self, member: &PublicKey, handle: &str) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/enroll",
            &json!({ "member": member.to_hex(), "handle": handle }),
        )
    }

    pub fn admin_grant(
        &self,
        member: &PublicKey,
        points: u64,
        memo: &str,
    ) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/grant",
            &json!({ "member": member.to_hex(), "points": points, "memo": memo }),
        )
    }

    pub fn admin_admit(&self, org: &PublicKey, name: &str) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/admit",
            &json!({ "org": org.to_hex(), "name": name }),
        )
    }

    pub fn admin_evict(&self, org: &PublicKey, reason: &str) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/evict",
            &json!({ "org": org.to_hex(), "reason": reason }),
        )
    }

    pub fn admin_rotate(&self, org: &PublicKey, to: &PublicKey) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/rotate",
            &json!({ "org": org.to_hex(), "to": to.to_hex() }),
        )
    }

    pub fn admin_revoke(&self, member: &PublicKey, reason: &str) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/revoke",
            &json!({ "member": member.to_hex(), "reason": reason }),
        )
    }

    /// This org's members (admin).
    pub fn admin_members(&self) -> Result<Vec<carnet_api::MemberView>, ApiError> {
        Ok(self
            .get::<carnet_api::MembersView>("/v1/admin/members")?
            .members)
    }

    pub fn admin_dispute(
        &self,
        report_id: &carnet_protocol::ContentId,
        finding: &str,
    ) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/admin/dispute",
            &json!({ "report_id": report_id.to_hex(), "finding": finding }),
        )
    }

    /// Records an opt-out for `email`: the node computes its dedup key with the
    /// network secret.
    pub fn admin_optout(&self, email: &str) -> Result<Submitted, ApiError> {
        self.post("/v1/admin/optout", &json!({ "email": email }))
    }
}
