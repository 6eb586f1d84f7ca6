//! Shared helpers for the end-to-end tests: a small HTTP client for the gateway and the console.
//! The services (the broker, throwaway topics, ClickHouse) are `friction_test_support`'s.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

/// POSTs JSON with an API key; returns the status and body.
pub async fn post_json(client: &HttpClient, url: &str, key: &str, body: String) -> (u16, String) {
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(Full::new(Bytes::from(body)))
        .expect("request");
    let resp = client.request(req).await.expect("gateway answered");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// GETs a console URL with a bearer token; returns the status and the JSON body (`Null` when the
/// body is not JSON).
pub async fn get_json(client: &HttpClient, url: &str, token: &str) -> (u16, serde_json::Value) {
    let req = hyper::Request::get(url)
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::new()))
        .expect("request");
    let resp = client.request(req).await.expect("console answered");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}
