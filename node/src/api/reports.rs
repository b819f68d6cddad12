//! Reports and their evidence: bounce messages, vouchers, dedup keys, audit bundles.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvidenceBody {
    message_hex: String,
}

#[derive(Serialize)]
pub(super) struct EvidenceStored {
    evidence: String,
}

/// Admin only: anyone who can reach the API could otherwise fill the disk with
/// arbitrary bytes. Members hand in bounce messages through `POST /v1/vouchers`,
/// which first checks them against a delivered purchase of theirs.
pub(super) async fn post_evidence(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EvidenceBody>,
) -> ApiResult<Json<EvidenceStored>> {
    let raw = hex::decode(body.message_hex.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("message_hex: {e}"),
        )
    })?;
    if raw.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            "message_hex is empty",
        ));
    }
    if raw.len() > MAX_EVIDENCE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
            format!(
                "the message is {} bytes, over the limit of {MAX_EVIDENCE_BYTES}",
                raw.len()
            ),
        ));
    }
    let hash = state.wait(state.node.put_evidence(raw)).await???;
    Ok(Json(EvidenceStored {
        evidence: hash.to_hex(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct VoucherRequest {
    reporter: String,
    purchase_id: String,
    email: String,
    salt_hex: String,
    message_hex: String,
}

#[derive(Serialize)]
pub(super) struct VoucherIssued {
    voucher_hex: String,
    evidence: String,
    /// The status the message gives, as RFC 3463 writes it.
    status: String,
    /// `dkim:<domain>` when a DKIM signature of the message verified, else `unsigned`.
    finding: String,
}

/// docs/api.md, `POST /v1/vouchers`: the org node checks a member's bounce message
/// and, when it proves a permanent failure for the card the member bought, signs the
/// voucher its BounceReport must carry.
pub(super) async fn post_voucher(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VoucherRequest>,
) -> ApiResult<Json<VoucherIssued>> {
    let bad = |field: &str, e: String| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field}: {e}"),
        )
    };
    let reporter = PublicKey::from_hex(body.reporter.trim())
        .ok_or_else(|| bad("reporter", "not 64 hex digits".into()))?;
    let purchase_id = carnet_protocol::Hash32::from_hex(body.purchase_id.trim())
        .ok_or_else(|| bad("purchase_id", "not 64 hex digits".into()))?;
    let salt: [u8; 32] = hex::decode(body.salt_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| bad("salt_hex", "not 64 hex digits".into()))?;
    let raw =
        hex::decode(body.message_hex.trim()).map_err(|e| bad("message_hex", e.to_string()))?;
    if raw.is_empty() || raw.len() > MAX_EVIDENCE_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "evidence_too_large",
            format!(
                "the message is {} bytes; it must be 1 to {MAX_EVIDENCE_BYTES}",
                raw.len()
            ),
        ));
    }
    let opening = carnet_protocol::payload::Opening {
        value: body.email,
        salt,
    };
    let (vouched, status, finding) = state
        .wait(check_and_vouch(
            &state.node,
            state.dkim.as_ref(),
            reporter,
            purchase_id,
            opening,
            raw,
        ))
        .await??;
    Ok(Json(VoucherIssued {
        voucher_hex: hex::encode(vouched.voucher.0),
        evidence: vouched.evidence.to_hex(),
        status: format!("{}.{}.{}", status.class, status.subject, status.detail),
        finding,
    }))
}

/// The org node's checks of a bounce report, then its voucher: the purchase is the
/// reporter's and `opening` opens its email commitment, the message is a permanent
/// failure for that address (DKIM-checked where signed), and the message is kept as
/// evidence. Returns the voucher, the status and `dkim:<domain>` or `unsigned`. The
/// API and the web app's report page both come here.
pub(crate) async fn check_and_vouch(
    node: &crate::handle::NodeHandle,
    dkim: Option<&carnet_mail::dkim::DkimVerifier>,
    reporter: PublicKey,
    purchase_id: carnet_protocol::ContentId,
    opening: carnet_protocol::payload::Opening,
    raw: Vec<u8>,
) -> ApiResult<(
    crate::vouch::Vouched,
    carnet_protocol::payload::DsnStatus,
    String,
)> {
    node.vouch_precheck(reporter, purchase_id, opening.clone())
        .await?
        .map_err(ApiError::from)?;
    let Some(dkim) = dkim else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dkim_unavailable",
            "this node has no DNS resolver for DKIM keys; try again later",
        ));
    };
    use carnet_mail::dkim::{check_bounce, BounceCheckError, Finding};
    let (status, finding) =
        check_bounce(&raw, &opening.value, dkim)
            .await
            .map_err(|e| match e {
                BounceCheckError::DkimUnavailable { .. } => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "dkim_unavailable",
                    e.to_string(),
                ),
                e => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bounce_refused",
                    e.to_string(),
                ),
            })?;
    let req = crate::vouch::VouchRequest {
        reporter,
        purchase_id,
        opening,
        status,
        message: raw,
    };
    let vouched = node.vouch(req).await?.map_err(ApiError::from)?;
    let finding = match finding {
        Finding::Verified { domain } => format!("dkim:{domain}"),
        Finding::Unsigned => "unsigned".into(),
    };
    Ok((vouched, status, finding))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MobileVoucherRequest {
    reporter: String,
    purchase_id: String,
    phone: String,
    salt_hex: String,
}

#[derive(Serialize)]
pub(super) struct MobileVoucherIssued {
    voucher_hex: String,
}

/// docs/api.md, `POST /v1/mobile-vouchers`: the org node checks that the number a
/// member shows opens the phone commitment of a card it bought and is a mobile, and
/// signs the voucher its MobileReport must carry; the number stays off the log.
pub(super) async fn post_mobile_voucher(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<MobileVoucherRequest>,
) -> ApiResult<Json<MobileVoucherIssued>> {
    let reporter = parse_member(&body.reporter)?;
    let purchase_id = carnet_protocol::Hash32::from_hex(body.purchase_id.trim())
        .ok_or_else(|| ApiError::bad_hex("purchase_id"))?;
    let salt: [u8; 32] = hex::decode(body.salt_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_hex("salt_hex"))?;
    if body.phone.len() > carnet_protocol::limits::MAX_PHONE_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_phone",
            "the number is longer than a direct line can be",
        ));
    }
    let opening = carnet_protocol::payload::Opening {
        value: body.phone,
        salt,
    };
    let voucher = state
        .wait(state.node.vouch_mobile(reporter, purchase_id, opening))
        .await??
        .map_err(ApiError::from)?;
    Ok(Json(MobileVoucherIssued {
        voucher_hex: hex::encode(voucher.0),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DedupKeyBody {
    member: String,
    email: String,
    at_ms: u64,
    signature_hex: String,
    /// The network the member signed for; this node's when left out.
    #[serde(default)]
    network: Option<String>,
}

#[derive(Serialize)]
pub(super) struct DedupKeyIssued {
    dedup_key: String,
}

/// A member asks for the dedup key of an email to sign into its listing; the request
/// is signed by the member key (docs/protocol.md, "Dedup-key requests").
pub(super) async fn post_dedup_key(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DedupKeyBody>,
) -> ApiResult<Json<DedupKeyIssued>> {
    let member = parse_member(&body.member)?;
    let signature: [u8; 64] = hex::decode(body.signature_hex.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::bad_hex("signature_hex"))?;
    if body.email.len() > carnet_protocol::limits::MAX_EMAIL_BYTES {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_email",
            "the email is longer than an email can be",
        ));
    }
    // Zero stands for this node's network (see `Command::DedupKey`): a request
    // signed for another one is refused as such by the engine, with no round trip.
    let network = match body.network.as_deref() {
        None => Hash32::ZERO,
        Some(hex) => Hash32::from_hex(hex.trim()).ok_or_else(|| ApiError::bad_hex("network"))?,
    };
    let request = carnet_protocol::dedup::DedupRequest {
        network,
        member,
        email: body.email,
        at_ms: body.at_ms,
    };
    let key = state
        .wait(state.node.dedup_key(request, signature))
        .await??
        .map_err(ApiError::from)?;
    Ok(Json(DedupKeyIssued {
        dedup_key: key.to_hex(),
    }))
}

#[derive(Serialize)]
pub(super) struct SealedKeyKept {
    member: String,
}

/// A member turns web sign-in on, or changes its password: its key sealed under the
/// password, signed by that key (docs/web.md, "Keys"; docs/api.md).
pub(super) async fn post_sealed_key(
    State(state): State<AppState>,
    JsonBody(upload): JsonBody<carnet_api::sealed_key::SealedKeyUpload>,
) -> ApiResult<Json<SealedKeyKept>> {
    let member = state
        .wait(state.node.put_sealed_key(upload))
        .await??
        .map_err(ApiError::from)?;
    // Whoever signed in with the old password is signed out.
    state
        .web_sessions
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .end_member(&member);
    Ok(Json(SealedKeyKept {
        member: member.to_hex(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditParams {
    #[serde(default)]
    include_message: bool,
    #[serde(default)]
    include_opening: bool,
}

/// A bundle with personal data in it (the bounce message, the opening) is the org's
/// explicit export: it needs the admin token. Without them, anyone may fetch it.
pub(super) async fn audit_bundle(
    admin: Result<Admin, ApiError>,
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<AuditParams>, QueryRejection>,
) -> ApiResult<Json<carnet_protocol::ledger::audit::Bundle>> {
    let id = parse_id(id, "event_id")?;
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    if p.include_message || p.include_opening {
        admin?;
    }
    let bundle = state
        .wait(
            state
                .node
                .audit_bundle(id, p.include_message, p.include_opening),
        )
        .await???;
    Ok(Json(bundle))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckpointParams {
    bound: Option<u64>,
    since: Option<u64>,
}

pub(super) async fn audit_checkpoint(
    State(state): State<AppState>,
    params: Result<Query<CheckpointParams>, QueryRejection>,
) -> ApiResult<Json<carnet_protocol::ledger::audit::CheckpointFile>> {
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    let file = state
        .wait(state.node.audit_checkpoint(p.bound, p.since))
        .await???;
    Ok(Json(file))
}
