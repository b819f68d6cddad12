//! What handlers take from a request: JSON bodies, the admin token, ids in the path.

use super::*;

/// A JSON body: requires `Content-Type: application/json`, at most [`MAX_BODY_BYTES`].
pub(super) struct JsonBody<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "the body must be JSON (Content-Type: application/json)",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the body is larger than this endpoint accepts",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_body", r.body_text())
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))
    }
}

pub(super) fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Proof that the request carried the admin bearer token.
pub(super) struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.to_owned())
        };
        let Some(expected) = &state.admin_token else {
            return Err(unauthorized("admin calls are disabled on this node"));
        };
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        // blake3::Hash compares in constant time; hashing first also hides the length.
        if blake3::hash(given.trim().as_bytes()) == *expected {
            Ok(Admin)
        } else {
            Err(unauthorized("wrong bearer token"))
        }
    }
}

pub(super) fn path_value(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    path.map(|Path(v)| v)
        .map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", r.body_text()))
}

pub(super) fn parse_id(path: Result<Path<String>, PathRejection>, what: &str) -> ApiResult<Hash32> {
    Hash32::from_hex(&path_value(path)?).ok_or_else(|| ApiError::bad_hex(what))
}

pub(super) fn parse_key(path: Result<Path<String>, PathRejection>) -> ApiResult<PublicKey> {
    PublicKey::from_hex(&path_value(path)?).ok_or_else(|| ApiError::bad_hex("pubkey"))
}

impl AppState {
    /// Awaits an event-loop reply, giving up after the reply timeout.
    pub(super) async fn wait<T>(&self, call: impl Future<Output = T>) -> ApiResult<T> {
        tokio::time::timeout(self.reply_timeout, call)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout",
                    "the node did not answer in time",
                )
            })
    }
}
