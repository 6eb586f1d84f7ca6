//! Shared helpers for the end-to-end tests: the real services' addresses (started by
//! `scripts/services.sh`), throwaway topics, and a small HTTP client.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// The real broker for these tests. They need it: run them through `scripts/test.sh`, or start
/// `scripts/services.sh start tansu` and `source .services/env`.
pub fn brokers() -> String {
    std::env::var("FRICTION_TEST_BROKERS").unwrap_or_else(|_| {
        panic!("FRICTION_TEST_BROKERS is not set: run scripts/test.sh (it starts tansu), or scripts/services.sh start && source .services/env")
    })
}

/// Kafka settings for the test broker: defaults, plus `FRICTION_TEST_KAFKA_PROPERTIES`
/// (comma-separated `key=value`). scripts/test.sh sets `enable.idempotence=false` there because
/// tansu 0.6.0's SQLite engine panics in its idempotent-producer check under load
/// (`lite.rs: more or less than one row`) and then refuses every request.
pub fn kafka() -> friction_runtime::KafkaArgs {
    let mut args = friction_runtime::KafkaArgs::with_brokers(brokers());
    args.kafka_properties = kafka_properties();
    args
}

/// The extra properties of [`kafka`], for binaries started by tests (`--kafka-property`).
pub fn kafka_properties() -> Vec<String> {
    std::env::var("FRICTION_TEST_KAFKA_PROPERTIES")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// A name no other test run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}.{}", uuid::Uuid::new_v4().simple())
}

/// Creates topics on the test broker and waits until they are visible.
pub async fn create_topics(brokers: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let new: Vec<NewTopic> = topics.iter().map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1))).collect();
    let results = admin.create_topics(&new, &AdminOptions::new()).await.expect("create topics");
    for r in results {
        r.expect("topic created");
    }
    for (name, partitions) in topics {
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let md = admin.inner().fetch_metadata(Some(name), Duration::from_secs(5));
            if md.as_ref().is_ok_and(|m| {
                m.topics().first().is_some_and(|t| t.error().is_none() && t.partitions().len() == *partitions as usize)
            }) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "topic {name} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

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
