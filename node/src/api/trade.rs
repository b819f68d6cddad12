//! The member's everyday calls: submitting events and contributions, searching and
//! reading listings, accounts and deliveries.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitBody {
    event_hex: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SubmitBatchBody {
    events_hex: Vec<String>,
}

/// An event's wire bytes from its hex, refused when empty or over the size limit.
fn event_bytes(field: &str, hex: &str) -> ApiResult<Vec<u8>> {
    let bytes = hex::decode(hex.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field}: {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field} is empty"),
        ));
    }
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "event_too_large",
            format!(
                "the event is {} bytes, over the limit of {MAX_EVENT_BYTES}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

pub(super) async fn submit_event(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SubmitBody>,
) -> ApiResult<Json<Submitted>> {
    let bytes = event_bytes("event_hex", &body.event_hex)?;
    let submitted = state.wait(state.node.submit(bytes)).await??;
    Ok(Json(submitted))
}

/// Several events in one call, answered one by one in their order: each as
/// `POST /v1/events` would answer it, an error in the place of its event. The call
/// itself fails only when the batch is empty or too large, or the node does not
/// answer.
pub(super) async fn submit_events(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SubmitBatchBody>,
) -> ApiResult<Json<carnet_api::BatchSubmitted>> {
    let n = body.events_hex.len();
    if n == 0 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_batch",
            "events_hex is empty",
        ));
    }
    if n > MAX_BATCH_EVENTS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{n} events, over the limit of {MAX_BATCH_EVENTS} a batch"),
        ));
    }
    let decoded: Vec<ApiResult<Vec<u8>>> = body
        .events_hex
        .iter()
        .enumerate()
        .map(|(i, hex)| event_bytes(&format!("events_hex[{i}]"), hex))
        .collect();
    let wires: Vec<Vec<u8>> = decoded
        .iter()
        .filter_map(|d| d.as_ref().ok().cloned())
        .collect();
    let mut answers = state.wait(state.node.submit_many(wires)).await?.into_iter();
    let results = decoded
        .into_iter()
        .map(|d| {
            let answer = d.and_then(|_| {
                answers
                    .next()
                    .unwrap_or(Err(IngestError::ShuttingDown))
                    .map_err(ApiError::from)
            });
            match answer {
                Ok(submitted) => carnet_api::BatchResult::Submitted(submitted),
                Err(e) => carnet_api::BatchResult::Error(e.body()),
            }
        })
        .collect();
    Ok(Json(carnet_api::BatchSubmitted { results }))
}

/// Decodes a hex field, refusing empty and oversized values with a clear error.
pub(super) fn decode_hex_field(field: &str, value: &str, limit: usize) -> ApiResult<Vec<u8>> {
    let bytes = hex::decode(value.trim()).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field}: {e}"),
        )
    })?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{field} is empty"),
        ));
    }
    if bytes.len() > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "{field} is {} bytes, over the limit of {limit}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContributeBody {
    event_hex: String,
    /// The canonical bytes of the card behind the listing.
    card_hex: String,
}

pub(super) async fn contribute(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ContributeBody>,
) -> ApiResult<Json<Submitted>> {
    let bytes = decode_hex_field("event_hex", &body.event_hex, MAX_EVENT_BYTES)?;
    let card_bytes = decode_hex_field("card_hex", &body.card_hex, MAX_SEALED_CARD_BYTES)?;
    let card: Card = from_canonical(&card_bytes, MAX_SEALED_CARD_BYTES).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_card",
            format!("card_hex is not a canonical card: {e}"),
        )
    })?;
    let submitted = state.wait(state.node.contribute(bytes, card)).await??;
    Ok(Json(submitted))
}

pub(super) async fn listing(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::ListingDetail>> {
    let id = parse_id(id, "id")?;
    state
        .wait(state.node.listing(id))
        .await???
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no listing {id}")))
}

pub(super) async fn company(
    State(state): State<AppState>,
    domain: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::CompanyInfo>> {
    let domain = path_value(domain)?;
    state
        .wait(state.node.company(domain.clone()))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no votes for {domain}")))
}

#[derive(Serialize)]
pub(super) struct Purchases {
    buyer: String,
    purchases: Vec<carnet_api::PurchaseView>,
}

pub(super) async fn purchases(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Purchases>> {
    let key = parse_key(key)?;
    let purchases = state.wait(state.node.purchases(key)).await???;
    Ok(Json(Purchases {
        buyer: key.to_hex(),
        purchases,
    }))
}

#[derive(Serialize)]
pub(super) struct EventHex {
    id: String,
    event_hex: String,
}

pub(super) async fn get_event(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<EventHex>> {
    let id = parse_id(id, "id")?;
    match state.wait(state.node.event(id)).await??? {
        Some(bytes) => Ok(Json(EventHex {
            id: id.to_hex(),
            event_hex: hex::encode(bytes),
        })),
        None => Err(ApiError::not_found(format!("no event {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListingParams {
    text: Option<String>,
    company: Option<String>,
    domain: Option<String>,
    title: Option<String>,
    city: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

pub(super) async fn search_listings(
    State(state): State<AppState>,
    params: Result<Query<ListingParams>, QueryRejection>,
) -> ApiResult<Json<carnet_api::SearchPage>> {
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    let nonempty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
    let query = SearchQuery {
        text: nonempty(p.text),
        company: nonempty(p.company),
        domain: nonempty(p.domain),
        title: nonempty(p.title),
        city: nonempty(p.city),
        limit: Some(
            p.limit
                .unwrap_or(DEFAULT_SEARCH_LIMIT)
                .clamp(1, MAX_SEARCH_LIMIT),
        ),
        offset: p.offset,
    };
    Ok(Json(state.wait(state.node.search(query)).await???))
}

pub(super) async fn balance(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::BalanceView>> {
    let key = parse_key(key)?;
    state
        .wait(state.node.balance(key))
        .await??
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no account {key}")))
}

#[derive(Serialize)]
pub(super) struct History {
    account: String,
    movements: Vec<carnet_api::MovementView>,
}

pub(super) async fn history(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<History>> {
    let key = parse_key(key)?;
    let movements = state.wait(state.node.history(key)).await???;
    Ok(Json(History {
        account: key.to_hex(),
        movements,
    }))
}

#[derive(Serialize)]
pub(super) struct Ids {
    ids: Vec<String>,
}

/// Shortest prefix looked up: shorter ones match too much to be worth an answer.
pub const MIN_ID_PREFIX: usize = 4;

/// Ordered events whose id starts with `prefix` (hex, at least 4 digits), at most 5:
/// what lets people type `carnet buy 6437b3ac` as they would a git commit.
pub(super) async fn ids_with_prefix(
    State(state): State<AppState>,
    prefix: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Ids>> {
    let Path(prefix) =
        prefix.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_hex", r.body_text()))?;
    let prefix = prefix.trim().to_ascii_lowercase();
    if prefix.len() < MIN_ID_PREFIX
        || prefix.len() > 64
        || !prefix.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("an id prefix is {MIN_ID_PREFIX} to 64 hex digits"),
        ));
    }
    let ids = state.wait(state.node.ids_with_prefix(prefix)).await???;
    Ok(Json(Ids {
        ids: ids.iter().map(|i| i.to_hex()).collect(),
    }))
}

#[derive(Deserialize)]
pub(super) struct QuoteParams {
    buyer: String,
    max_price: Option<u64>,
}

/// What a purchase would do if ordered now; `max_price` defaults to the price.
pub(super) async fn quote(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    params: Result<Query<QuoteParams>, QueryRejection>,
) -> ApiResult<Json<carnet_api::QuoteView>> {
    let listing = parse_id(id, "listing_id")?;
    let Query(p) = params
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text()))?;
    let buyer = PublicKey::from_hex(p.buyer.trim()).ok_or_else(|| ApiError::bad_hex("buyer"))?;
    let max_price = p.max_price.unwrap_or(u64::MAX);
    Ok(Json(
        state
            .wait(state.node.quote(buyer, listing, max_price))
            .await??,
    ))
}

pub(super) async fn chain_head(
    State(state): State<AppState>,
    key: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::ChainHeadView>> {
    let key = parse_key(key)?;
    Ok(Json(state.wait(state.node.chain_head(key)).await???))
}

pub(super) async fn delivery(
    State(state): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<carnet_api::DeliveryView>> {
    let id = parse_id(id, "purchase_id")?;
    state
        .wait(state.node.delivery(id))
        .await???
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no delivery for purchase {id}")))
}
