//! `GET /sdk/v1/friction.js`: the browser SDK (sdk/friction.js, built into the binary), as the
//! README's snippet loads it. Cached by browsers and CDNs for 5 minutes and revalidated with a
//! strong ETag (the SHA-256 of the file), so a new gateway version reaches pages within minutes;
//! any origin may load it (it is public code, and pages embed it from their own origin).

use std::sync::LazyLock;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The SDK's source, as shipped in sdk/.
pub const SDK_SOURCE: &str = include_str!("../../sdk/friction.js");

/// Where the gateway serves it.
pub const SDK_PATH: &str = "/sdk/v1/friction.js";

/// `Cache-Control` of the SDK: public, 5 minutes.
pub const SDK_CACHE_CONTROL: &str = "public, max-age=300";

/// The strong ETag of [`SDK_SOURCE`]: `"` + the first 32 hex digits of its SHA-256 + `"`.
pub static SDK_ETAG: LazyLock<String> =
    LazyLock::new(|| format!("\"{}\"", &hex::encode(Sha256::digest(SDK_SOURCE.as_bytes()))[..32]));

/// Whether an `If-None-Match` header value names `etag` (a list, `*`, or weak forms).
fn matches_etag(if_none_match: &str, etag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// The SDK, or 304 when the client already has this version.
pub async fn serve(headers: HeaderMap) -> Response {
    let etag = SDK_ETAG.as_str();
    let cached =
        headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| matches_etag(v, etag));
    let common = [
        (header::CACHE_CONTROL, HeaderValue::from_static(SDK_CACHE_CONTROL)),
        (header::ETAG, HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"sdk\""))),
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    ];
    if cached {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        StatusCode::OK,
        common,
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"))],
        SDK_SOURCE,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_lists_weak_forms_and_star() {
        let etag = SDK_ETAG.as_str();
        assert!(matches_etag(etag, etag));
        assert!(matches_etag(&format!("\"x\", W/{etag}"), etag));
        assert!(matches_etag("*", etag));
        assert!(!matches_etag("\"other\"", etag));
    }
}
