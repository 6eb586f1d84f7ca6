//! Request bodies and parameters: JSON read strictly (unknown fields refused), with a 400 whose message names the
//! field at fault (`unknown field `x``, `missing field `name``, `role: unknown variant ...`); times
//! in and out (epoch milliseconds or RFC 3339).

use axum::body::Bytes;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// `body` as `T`, or 400 naming the field and what was expected (`expected`, e.g. the shape).
pub(crate) fn json<T: DeserializeOwned>(body: &Bytes, expected: &str) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    value.map_err(|e| {
        let path = e.path().to_string();
        let at = if path.is_empty() || path == "." { String::new() } else { format!("{path}: ") };
        ApiError::BadRequest(format!("body: {at}{} (expected {expected})", e.into_inner()))
    })
}

/// A time given as epoch milliseconds or RFC 3339, or 400 naming `name`.
pub(crate) fn time_param(name: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = value.trim().parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| ApiError::BadRequest(format!("{name} {value:?} is neither epoch milliseconds nor RFC 3339")))
}

/// A `limit` parameter: `default` when absent, else a whole number from 1 to `max` (400 otherwise).
pub(crate) fn limit(value: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match value {
        None => Ok(default),
        Some(l) => match l.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::BadRequest(format!("limit {l:?} must be a whole number from 1 to {max}"))),
        },
    }
}

/// Refuses query parameters other than `allowed`, naming the first unknown one.
pub(crate) fn only_params(
    params: &std::collections::HashMap<String, String>,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match params.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(unknown) => {
            Err(ApiError::BadRequest(format!("unknown query parameter {unknown:?} (expected {})", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

/// Epoch milliseconds as RFC 3339 (UTC, millisecond precision), as the ingest API writes times.
pub fn rfc3339(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}
