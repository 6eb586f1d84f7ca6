//! The gateway serves the browser SDK at `GET /sdk/v1/friction.js` (the README's snippet): the
//! file in sdk/, as JavaScript, cacheable for 5 minutes with an ETag that revalidates to 304, and
//! loadable from any origin.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use friction_gateway::keys::KeyStore;
use friction_gateway::sink::MemorySink;
use friction_gateway::{router, GatewayArgs, GatewayState};
use http_body_util::BodyExt;
use tower::ServiceExt;

fn app() -> axum::Router {
    let state = GatewayState::new(
        GatewayArgs::default(),
        Arc::new(KeyStore::with_records([])),
        Arc::new(MemorySink::default()),
    );
    router(Arc::new(state))
}

#[tokio::test]
async fn the_sdk_is_served_with_cache_headers_and_an_etag() {
    let sdk = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/friction.js")).expect("sdk file");
    let req = Request::get("/sdk/v1/friction.js").header(header::ORIGIN, "https://shop.example");
    let resp = app().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers().clone();
    let get = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(get(header::CONTENT_TYPE).starts_with("application/javascript"), "{h:?}");
    assert_eq!(get(header::CACHE_CONTROL), "public, max-age=300");
    let origin = get(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    assert!(origin == "*" || origin == "https://shop.example", "any origin may load it: {h:?}");
    let etag = get(header::ETAG);
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10, "{etag}");
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body, sdk.as_bytes(), "the file in sdk/, unchanged");

    // The same version again: 304, no body; another version: the file.
    let req = Request::get("/sdk/v1/friction.js").header(header::IF_NONE_MATCH, &etag);
    let resp = app().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(resp.headers().get(header::ETAG).and_then(|v| v.to_str().ok()), Some(etag.as_str()));
    assert!(resp.into_body().collect().await.expect("body").to_bytes().is_empty());
    let req = Request::get("/sdk/v1/friction.js").header(header::IF_NONE_MATCH, "\"older\"");
    let resp = app().oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    assert_eq!(resp.status(), StatusCode::OK);

    // HEAD works; other methods do not.
    let resp = app().oneshot(Request::head("/sdk/v1/friction.js").body(Body::empty()).expect("request")).await;
    assert_eq!(resp.expect("response").status(), StatusCode::OK);
    let resp = app().oneshot(Request::post("/sdk/v1/friction.js").body(Body::empty()).expect("request")).await;
    assert_eq!(resp.expect("response").status(), StatusCode::METHOD_NOT_ALLOWED);
}
