//! The gateway against librdkafka's mock cluster, for what a real broker cannot be made to do on
//! demand: go down mid-run, or refuse a message as too large. Nothing here fakes the producer: the
//! gateway's own KafkaSink talks the Kafka protocol to the mock brokers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use friction_gateway::keys::{follow_apikeys, KeyStore};
use friction_gateway::{router, GatewayArgs, GatewayState, KafkaSink};
use friction_runtime::kafka::producer_config;
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::{encode_to_vec, hash_api_key, ApiKeyRecord};
use http_body_util::BodyExt;
use rdkafka::mocking::MockCluster;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tower::ServiceExt;

const KEY: &str = "frk_mock_key";
const SEED: &str = r#"{"events": [{"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "test-1", "route": "/checkout", "target": {"type": "button"}, "metadata": {}}]}"#;

fn key_record(revoked: bool) -> ApiKeyRecord {
    ApiKeyRecord {
        key_hash: hash_api_key(KEY),
        key_id: "k1".into(),
        project_id: "proj".into(),
        project_name: "default".into(),
        revoked,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at: 1,
        mac: None,
    }
}

fn kafka_args(cluster: &MockCluster<'static, rdkafka::producer::DefaultProducerContext>, timeout_ms: u32) -> KafkaArgs {
    KafkaArgs { kafka_message_timeout_ms: timeout_ms, ..KafkaArgs::with_brokers(cluster.bootstrap_servers()) }
}

fn app(kafka: &KafkaArgs, keys: Arc<KeyStore>) -> Router {
    let producer: FutureProducer = producer_config(kafka).expect("config").create().expect("producer");
    let sink = Arc::new(KafkaSink::new(producer, kafka.kafka_message_max_bytes as usize));
    router(Arc::new(GatewayState::new(GatewayArgs::default(), keys, sink)))
}

async fn post(app: &Router, body: &str) -> (StatusCode, Option<String>, String) {
    let req = Request::post("/v1/events")
        .header("x-api-key", KEY)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    let resp = app.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let retry = resp.headers().get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, retry, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn broker_down_is_503_never_202_and_recovers() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("friction.events.v1", 3, 1).expect("topic");
    let kafka = kafka_args(&cluster, 1500);
    let app = app(&kafka, Arc::new(KeyStore::with_records([key_record(false)])));

    let (status, _, body) = post(&app, SEED).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    cluster.broker_down(-1).expect("down");
    for _ in 0..3 {
        let (status, retry, body) = post(&app, SEED).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(retry.is_some(), "503 carries Retry-After");
        assert!(body.contains("\"unavailable\""), "{body}");
    }

    cluster.broker_up(-1).expect("up");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _, body) = post(&app, SEED).await;
        if status == StatusCode::ACCEPTED {
            break;
        }
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert!(Instant::now() < deadline, "gateway did not recover after the broker came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn broker_refusing_a_message_as_too_large_is_413() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("friction.events.v1", 1, 1).expect("topic");
    let kafka = kafka_args(&cluster, 5000);
    let app = app(&kafka, Arc::new(KeyStore::with_records([key_record(false)])));
    cluster.request_errors(RDKafkaApiKey::Produce, &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE]);
    let (status, _, body) = post(&app, SEED).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("events[0]"), "{body}");
}

#[tokio::test]
async fn an_event_over_the_producer_limit_is_413_before_it_is_sent() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("friction.events.v1", 1, 1).expect("topic");
    let kafka = KafkaArgs { kafka_message_max_bytes: 2000, ..kafka_args(&cluster, 5000) };
    let app = app(&kafka, Arc::new(KeyStore::with_records([key_record(false)])));
    let big = format!(
        r#"{{"events":[{{"eventType":"focus","timestamp":1705312800000,"sessionId":"s"}},{{"eventType":"focus","timestamp":1705312800000,"sessionId":"s","metadata":{{"pad":"{}"}}}}]}}"#,
        "x".repeat(3000)
    );
    let (status, _, body) = post(&app, &big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("events[1]"), "{body}");
}

#[tokio::test]
async fn keys_follow_the_topic_including_revocation() {
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("friction.apikeys.v1", 1, 1).expect("topic");
    cluster.create_topic("friction.events.v1", 1, 1).expect("topic");
    let kafka = kafka_args(&cluster, 5000);
    let producer: FutureProducer = producer_config(&kafka).expect("config").create().expect("producer");
    let publish = |rec: ApiKeyRecord| {
        let producer = producer.clone();
        async move {
            let payload = encode_to_vec(&rec).expect("encode");
            producer
                .send(
                    FutureRecord::to("friction.apikeys.v1").key(&rec.key_hash).payload(&payload),
                    Duration::from_secs(5),
                )
                .await
                .expect("published");
        }
    };
    publish(key_record(false)).await;

    let keys = Arc::new(KeyStore::new());
    let shutdown = Shutdown::new();
    follow_apikeys(keys.clone(), &kafka, "friction.apikeys.v1", None, shutdown.clone()).expect("follow");
    let app = app(&kafka, keys.clone());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !keys.is_ready() {
        assert!(Instant::now() < deadline, "keys never loaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(post(&app, SEED).await.0, StatusCode::ACCEPTED);

    publish(key_record(true)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = post(&app, SEED).await;
        if status == StatusCode::UNAUTHORIZED {
            assert!(body.contains("revoked_api_key"), "{body}");
            break;
        }
        assert_eq!(status, StatusCode::ACCEPTED);
        assert!(Instant::now() < deadline, "revocation not seen within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.trigger();
}

/// With a publishers' secret, the gateway takes only records signed with it (issue 18): a key
/// signed with another secret, an unsigned one and a tombstone are ignored (401 for those keys), a
/// properly signed one is accepted, and an old "active" record replayed after a revocation does not
/// bring the key back.
#[tokio::test]
async fn with_a_secret_only_records_signed_with_it_are_accepted() {
    let metrics = friction_runtime::admin::prometheus();
    let cluster = MockCluster::new(1).expect("mock cluster");
    cluster.create_topic("friction.events.v1", 3, 1).expect("topic");
    cluster.create_topic("friction.apikeys.v1", 1, 1).expect("topic");
    let kafka = kafka_args(&cluster, 5000);
    let producer: FutureProducer = producer_config(&kafka).expect("config").create().expect("producer");
    let publish = |key: String, payload: Option<Vec<u8>>| {
        let producer = producer.clone();
        async move {
            let mut record = FutureRecord::<String, Vec<u8>>::to("friction.apikeys.v1").key(&key);
            if let Some(p) = &payload {
                record = record.payload(p);
            }
            producer.send(record, Duration::from_secs(5)).await.expect("published");
        }
    };
    const SECRET: &str = "the-publishers-secret-0123456789";
    let record_for = |secret_key: &str, revoked: bool, updated_at: i64| ApiKeyRecord {
        key_hash: hash_api_key(secret_key),
        key_id: secret_key.into(),
        project_id: "proj".into(),
        project_name: "default".into(),
        revoked,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at,
        mac: None,
    };
    let signed = |mut r: ApiKeyRecord, secret: &str| {
        friction_schemas::apikey::sign(&mut r, secret.as_bytes());
        encode_to_vec(&r).expect("encode")
    };
    let good = record_for("frk_signed_good", false, 1);
    publish(good.key_hash.clone(), Some(signed(good.clone(), SECRET))).await;
    let foreign = record_for("frk_signed_elsewhere", false, 1);
    publish(foreign.key_hash.clone(), Some(signed(foreign, "another-store-secret-0123456789"))).await;
    let unsigned = record_for("frk_unsigned", false, 1);
    publish(unsigned.key_hash.clone(), Some(encode_to_vec(&unsigned).expect("encode"))).await;
    let doomed = record_for("frk_revoked_then_replayed", false, 1);
    publish(doomed.key_hash.clone(), Some(signed(doomed.clone(), SECRET))).await;
    let revoked = record_for("frk_revoked_then_replayed", true, 2);
    publish(revoked.key_hash.clone(), Some(signed(revoked, SECRET))).await;
    publish(doomed.key_hash.clone(), Some(signed(doomed, SECRET))).await;
    publish(good.key_hash.clone(), None).await;

    let secret: friction_gateway::keys::KeysSecret = SECRET.parse().expect("secret");
    let keys = Arc::new(KeyStore::with_secret(Some(secret)));
    let shutdown = Shutdown::new();
    follow_apikeys(keys.clone(), &kafka, "friction.apikeys.v1", None, shutdown.clone()).expect("follow");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !keys.is_ready() {
        assert!(Instant::now() < deadline, "keys never loaded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let app = app(&kafka, keys.clone());
    let post_with = |key: &'static str| {
        let app = app.clone();
        async move {
            let req = Request::post("/v1/events")
                .header("x-api-key", key)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(SEED))
                .expect("request");
            let resp = app.oneshot(req).await.expect("response");
            let status = resp.status();
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
    };
    assert_eq!(post_with("frk_signed_good").await.0, StatusCode::ACCEPTED, "signed with the secret; tombstone ignored");
    let (status, body) = post_with("frk_signed_elsewhere").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_api_key"), "{body}");
    assert_eq!(post_with("frk_unsigned").await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = post_with("frk_revoked_then_replayed").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("revoked_api_key"), "{body}");

    let text = metrics.render();
    for line in [
        r#"friction_gateway_apikey_records_refused_total{reason="bad_mac"} 1"#,
        r#"friction_gateway_apikey_records_refused_total{reason="missing_mac"} 1"#,
        r#"friction_gateway_apikey_records_refused_total{reason="tombstone"} 1"#,
        r#"friction_gateway_apikey_records_ignored_total{reason="stale"} 1"#,
    ] {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    shutdown.trigger();
}

#[test]
fn a_short_publishers_secret_is_refused() {
    let err = "too-short".parse::<friction_gateway::keys::KeysSecret>().expect_err("short");
    assert!(err.contains("16"), "{err}");
    let ok: friction_gateway::keys::KeysSecret = " a-long-enough-secret \n".parse().expect("trimmed");
    assert_eq!(format!("{ok:?}"), "***");
}
