//! The API's errors: one table from every refusal of the node (its typed errors) to an
//! HTTP status and a stable code (docs/api.md, "Errors").

use super::*;

/// An error response: `{"error": {"code", "message", "reason"?}}` with its status.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The protocol's own code, where the refusal is the protocol's.
    pub(super) reason: Option<&'static str>,
    /// Seconds to wait before asking again (a `Retry-After` header), where known.
    pub(super) retry_after: Option<u32>,
}

/// What a caller refused with `audit_busy` is told to wait: a bundle at a million
/// events takes a few seconds to build.
const AUDIT_RETRY_AFTER_SECS: u32 = 5;

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            reason: None,
            retry_after: None,
        }
    }

    pub(super) fn bad_hex(what: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_hex",
            format!("{what} must be 64 hex digits"),
        )
    }

    pub(super) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The body of the response, without its status.
    pub(super) fn body(self) -> carnet_api::ErrorBody {
        carnet_api::ErrorBody {
            error: carnet_api::ErrorDetail {
                code: self.code.into(),
                message: self.message,
                reason: self.reason.map(str::to_owned),
            },
        }
    }
}

impl From<Closed> for ApiError {
    fn from(_: Closed) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the node is shutting down",
        )
    }
}

/// A read of the store that failed where the answer needed it: the node's fault, and
/// worth asking again.
impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "storage", e.to_string())
    }
}

/// The one table from the node's typed refusals to the API's statuses and codes
/// (docs/api.md lists the codes): whose fault it is, and what the caller can do, is
/// the variant's to say; here it only gets its number.
impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        use IngestError as E;
        let status = match &e {
            E::Invalid(_) | E::WrongKind(_) | E::Rejected(_) | E::Card(_) | E::OptedOut => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::NotMember { .. } => StatusCode::FORBIDDEN,
            E::DuplicateCard(_) | E::ChainMoved { .. } | E::ChainPending => StatusCode::CONFLICT,
            E::Storage(_) | E::NoRandomness(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::ShuttingDown | E::NoNetworkSecret => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut error = ApiError::new(status, e.code(), e.to_string());
        error.reason = e.reason();
        error
    }
}

impl From<AuditRefusal> for ApiError {
    fn from(e: AuditRefusal) -> Self {
        use carnet_protocol::ledger::audit::AuditError as A;
        let status = match &e {
            AuditRefusal::Audit(A::UnknownEvent(_) | A::NoCheckpoint(_)) => StatusCode::NOT_FOUND,
            AuditRefusal::Audit(A::NotAPenalty(..) | A::Void(..)) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AuditRefusal::Audit(A::NotSettled(_))
            | AuditRefusal::NoMessage(_)
            | AuditRefusal::NoOpening(_) => StatusCode::CONFLICT,
            AuditRefusal::EvidenceTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AuditRefusal::Audit(A::Missing(_) | A::Inconsistent(_)) | AuditRefusal::Storage(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            AuditRefusal::Busy | AuditRefusal::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut error = ApiError::new(status, e.code(), e.to_string());
        if matches!(e, AuditRefusal::Busy) {
            error.retry_after = Some(AUDIT_RETRY_AFTER_SECS);
        }
        error
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, retry_after) = (self.status, self.retry_after);
        let mut response = (status, Json(self.body())).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

pub(super) type ApiResult<T> = Result<T, ApiError>;

pub(super) async fn no_route() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such endpoint")
}

pub(super) async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

impl From<crate::dedup::DedupError> for ApiError {
    fn from(e: crate::dedup::DedupError) -> Self {
        use crate::dedup::DedupError as E;
        let status = match &e {
            E::BadSignature => StatusCode::UNAUTHORIZED,
            E::NotMember(_) => StatusCode::FORBIDDEN,
            E::OtherNetwork | E::Stale { .. } | E::Email(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::NoSecret => StatusCode::SERVICE_UNAVAILABLE,
            E::Duplicate | E::OptedOut => StatusCode::CONFLICT,
            E::Quota(_) => StatusCode::TOO_MANY_REQUESTS,
            E::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<crate::web::keys::WebKeyError> for ApiError {
    fn from(e: crate::web::keys::WebKeyError) -> Self {
        use crate::web::keys::WebKeyError as E;
        let status = match &e {
            E::Record(carnet_api::sealed_key::SealError::BadSignature) => StatusCode::UNAUTHORIZED,
            E::NotMember(_) => StatusCode::FORBIDDEN,
            E::Record(_) | E::Stale { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            E::Replayed { .. } => StatusCode::CONFLICT,
            E::Storage(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}

impl From<crate::vouch::VouchError> for ApiError {
    fn from(e: crate::vouch::VouchError) -> Self {
        use crate::vouch::VouchError as E;
        let status = match &e {
            E::UnknownPurchase(_) => StatusCode::NOT_FOUND,
            E::NotOurMember | E::NotBuyer(_) => StatusCode::FORBIDDEN,
            E::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
            E::NotDelivered(_) | E::OpeningMismatch | E::NoPhone => StatusCode::CONFLICT,
            E::NotMobile(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::TooManyMessages(_) => StatusCode::TOO_MANY_REQUESTS,
        };
        ApiError::new(status, e.code(), e.to_string())
    }
}
