//! The console's CSS and script, embedded in the binary and served at
//! `/assets/<version>/<file>`, where the version is a hash of the contents: a current URL is cached
//! for a year (`immutable`), any other answers with `no-cache`.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// (file name, content type, contents).
const FILES: &[(&str, &str, &[u8])] = &[
    ("console.css", "text/css; charset=utf-8", include_bytes!("../../assets/console.css")),
    ("console.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/console.js")),
];

/// The first 12 hex characters of the SHA-256 of every file.
static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    for (name, _, bytes) in FILES {
        h.update(name.as_bytes());
        h.update(bytes);
    }
    hex::encode(h.finalize()).chars().take(12).collect()
});

/// The URL of an embedded file.
pub fn url(file: &str) -> String {
    format!("/assets/{}/{file}", *VERSION)
}

/// `GET /assets/{version}/{file}`.
pub async fn serve(Path((version, file)): Path<(String, String)>) -> Response {
    let Some((_, content_type, bytes)) = FILES.iter().find(|(name, _, _)| *name == file) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let cache = if version == *VERSION { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = (StatusCode::OK, *bytes).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}
