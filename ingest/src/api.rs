//! The gateway's answers: one error enum for the HTTP boundary, mapped to status codes, each with a
//! JSON body `{"error": {"code", "message"}}` whose message names the field at fault.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// One event of a batch that was not accepted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rejected {
    pub index: usize,
    pub code: &'static str,
    pub message: String,
}

/// The 202 answer.
#[derive(Debug, Serialize)]
pub struct Accepted {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    BadRequest(String),
    #[error("no events in the batch: `{0}` must be a non-empty array")]
    NoEvents(&'static str),
    #[error("every event in the batch was rejected")]
    AllRejected(Vec<Rejected>),
    #[error("missing API key: send it in the X-API-Key header, as `Authorization: Bearer <key>`, or as ?api_key=")]
    MissingKey,
    #[error("unknown API key")]
    UnknownKey,
    #[error("API key has been revoked")]
    RevokedKey,
    #[error("origin {0} is not allowed for this project")]
    OriginNotAllowed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Timeout(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("rate limit exceeded for this API key; retry after {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("too many failed authentications from this address; retry after {retry_after_secs} s")]
    AuthThrottled { retry_after_secs: u64 },
    #[error("{message}")]
    Unavailable { message: String, retry_after_secs: u64 },
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::BadRequest(_) | GatewayError::NoEvents(_) | GatewayError::AllRejected(_) => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::MissingKey | GatewayError::UnknownKey | GatewayError::RevokedKey => StatusCode::UNAUTHORIZED,
            GatewayError::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            GatewayError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            GatewayError::RateLimited { .. } | GatewayError::AuthThrottled { .. } => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            GatewayError::BadRequest(_) => "bad_request",
            GatewayError::NoEvents(_) => "no_events",
            GatewayError::AllRejected(_) => "all_events_rejected",
            GatewayError::MissingKey => "missing_api_key",
            GatewayError::UnknownKey => "invalid_api_key",
            GatewayError::RevokedKey => "revoked_api_key",
            GatewayError::OriginNotAllowed(_) => "origin_not_allowed",
            GatewayError::TooLarge(_) => "payload_too_large",
            GatewayError::Timeout(_) => "request_timeout",
            GatewayError::UnsupportedMediaType(_) => "unsupported_media_type",
            GatewayError::RateLimited { .. } => "rate_limited",
            GatewayError::AuthThrottled { .. } => "too_many_auth_failures",
            GatewayError::Unavailable { .. } => "unavailable",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            GatewayError::RateLimited { retry_after_secs } | GatewayError::AuthThrottled { retry_after_secs } => {
                Some(*retry_after_secs)
            }
            GatewayError::Unavailable { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejected: Option<&'a [Rejected]>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let rejected = match &self {
            GatewayError::AllRejected(r) => Some(r.as_slice()),
            _ => None,
        };
        let body = ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string() }, rejected };
        let mut response = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after() {
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}
