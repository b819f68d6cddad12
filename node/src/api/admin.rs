//! Admin calls: each builds one org-signed payload (bearer token required).

use super::*;

pub(super) fn parse_member(hex: &str) -> ApiResult<PublicKey> {
    let key = PublicKey::from_hex(hex.trim()).ok_or_else(|| ApiError::bad_hex("member"))?;
    if key.verifying_key().is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_key",
            "member is not an Ed25519 public key",
        ));
    }
    Ok(key)
}

pub(super) async fn submit_as_org(
    state: &AppState,
    payload: Payload,
) -> ApiResult<Json<Submitted>> {
    payload
        .check()
        .map_err(|e| ApiError::from(IngestError::Invalid(e)))?;
    Ok(Json(state.wait(state.node.submit_as_org(payload)).await??))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EnrollBody {
    member: String,
    handle: String,
}

pub(super) async fn admin_enroll(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EnrollBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Enroll(Enroll {
        member: parse_member(&body.member)?,
        handle: body.handle,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantBody {
    member: String,
    points: u64,
    #[serde(default)]
    memo: String,
}

/// This org's members: keys, handles, status and points.
pub(super) async fn admin_members(
    _: Admin,
    State(state): State<AppState>,
) -> ApiResult<Json<carnet_api::MembersView>> {
    let members = state.wait(state.node.members()).await??;
    Ok(Json(carnet_api::MembersView { members }))
}

pub(super) async fn admin_grant(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<GrantBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Grant(Grant {
        member: parse_member(&body.member)?,
        points: body.points,
        memo: body.memo,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RevokeBody {
    member: String,
    #[serde(default)]
    reason: String,
}

pub(super) async fn admin_revoke(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RevokeBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Revoke(Revoke {
        member: parse_member(&body.member)?,
        reason: body.reason,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OptOutBody {
    /// The person's email: the node computes its dedup key with the network secret.
    #[serde(default)]
    email: Option<String>,
    /// Or the dedup key itself, as the listing shows it.
    #[serde(default)]
    dedup_key: Option<String>,
}

pub(super) async fn admin_optout(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<OptOutBody>,
) -> ApiResult<Json<Submitted>> {
    let dedup_key = match (body.email, body.dedup_key) {
        (Some(email), None) => state
            .wait(state.node.org_dedup_key(email))
            .await??
            .map_err(ApiError::from)?,
        (None, Some(key)) => {
            Hash32::from_hex(key.trim()).ok_or_else(|| ApiError::bad_hex("dedup_key"))?
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "give exactly one of email and dedup_key",
            ))
        }
    };
    submit_as_org(&state, Payload::OptOut(OptOut { dedup_key })).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DisputeBody {
    report_id: String,
    finding: String,
}

/// This org's finding against a bounce report on one of its members' cards, within
/// the bounce window (docs/protocol.md, "Applying an event", Dispute).
pub(super) async fn admin_dispute(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<DisputeBody>,
) -> ApiResult<Json<Submitted>> {
    let report_id =
        Hash32::from_hex(body.report_id.trim()).ok_or_else(|| ApiError::bad_hex("report_id"))?;
    let payload = Payload::Dispute(carnet_protocol::payload::Dispute {
        report_id,
        finding: body.finding,
    });
    payload
        .check()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_field", e.to_string()))?;
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AdmitBody {
    org: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EvictBody {
    org: String,
    #[serde(default)]
    reason: String,
}

/// This org's vote to evict another org; a quorum of the other orgs evicts it.
pub(super) async fn admin_evict(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EvictBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Evict(Evict {
        org: parse_member(&body.org)?,
        reason: body.reason,
    });
    submit_as_org(&state, payload).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RotateBody {
    org: String,
    to: String,
}

/// This org's vote to replace org key `org` (its own or another org's) by `to`.
pub(super) async fn admin_rotate(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RotateBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Rotate(Rotate {
        org: parse_member(&body.org)?,
        to: parse_member(&body.to)?,
    });
    submit_as_org(&state, payload).await
}

/// This org's vote to admit another org; a quorum of votes admits it.
pub(super) async fn admin_admit(
    _: Admin,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<AdmitBody>,
) -> ApiResult<Json<Submitted>> {
    let payload = Payload::Admit(Admit {
        org: parse_member(&body.org)?,
        name: body.name,
    });
    submit_as_org(&state, payload).await
}
