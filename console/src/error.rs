//! The console's one error type: each variant is an HTTP status with a JSON body
//! `{"error": {"code", "message"}}` whose message names what is wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No token, or one that is unknown or revoked.
    #[error("{0}")]
    Unauthorized(String),
    /// Too many failed authentications from this source; retry after this many seconds.
    #[error("too many failed authentications from this address; retry after {0} s")]
    TooManyAuthFailures(u64),
    /// A valid token whose role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// A parameter or body that is wrong; the message names it.
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with what exists (a name already taken).
    #[error("{0}")]
    Conflict(String),
    /// A dependency (the store, the broker, ClickHouse) cannot serve the request now.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::TooManyAuthFailures(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_auth_failures"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<friction_store::StoreError> for ApiError {
    fn from(e: friction_store::StoreError) -> Self {
        use friction_store::StoreError as E;
        match e {
            E::InvalidProjectName { .. }
            | E::InvalidKeyLabel { .. }
            | E::InvalidKeySettings { .. }
            | E::UnknownRole(_) => ApiError::BadRequest(e.to_string()),
            E::AmbiguousKeyPrefix { .. } | E::AmbiguousTokenPrefix { .. } => ApiError::BadRequest(e.to_string()),
            E::ProjectNotFound(_) | E::KeyNotFound(_) | E::TokenNotFound(_) => ApiError::NotFound(e.to_string()),
            E::ProjectExists(_) => ApiError::Conflict(e.to_string()),
            e if e.is_unavailable() => ApiError::Unavailable(format!("the store is unavailable: {e}")),
            e => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<friction_exporter::ExportError> for ApiError {
    fn from(e: friction_exporter::ExportError) -> Self {
        use friction_exporter::ExportError as E;
        match e {
            E::Invalid(m) => ApiError::BadRequest(m),
            E::Secret(s) => ApiError::Unavailable(s.to_string()),
            E::Store(s) => friction_store::StoreError::from(s).into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::warn!(error = %self, "console request failed");
        }
        let mut response =
            (status, Json(serde_json::json!({"error": {"code": code, "message": self.to_string()}}))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyAuthFailures(secs) = &self {
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        response
    }
}
