//! The gateway against a real broker (tansu): what is posted comes back from the topic, decoded,
//! equal, in order per session, none missing, none extra; a revoked key is refused within seconds;
//! `topics apply` creates and compares.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use friction_e2e::{http_client, post_json};
use friction_gateway::GatewayArgs;
use friction_runtime::{Health, KafkaArgs, Shutdown};
use friction_schemas::{decode, RawEvent};
use friction_store::Store;
use friction_test_support::kafka::{brokers, create_topics, kafka};
use friction_test_support::unique;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

struct Running {
    url: String,
    shutdown: Shutdown,
}

async fn start_gateway(kafka: &KafkaArgs, events_topic: &str, apikeys_topic: &str) -> Running {
    let config = GatewayArgs {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        events_topic: events_topic.into(),
        apikeys_topic: apikeys_topic.into(),
        rate_limit_per_sec: 1_000_000.0,
        rate_limit_burst: 1_000_000.0,
        ..GatewayArgs::default()
    };
    let shutdown = Shutdown::new();
    let handle =
        friction_gateway::start(config, kafka, &Health::default(), shutdown.clone()).await.expect("gateway starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !handle.keys.is_ready() {
        assert!(Instant::now() < deadline, "gateway never loaded its keys");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Running { url: format!("http://{}/v1/events", handle.addr), shutdown }
}

async fn store_with_key(dir: &std::path::Path) -> (Store, friction_store::NewApiKey) {
    let store = Store::open_in_dir(dir).await.expect("store");
    store.migrate().await.expect("migrate");
    store.create_project("shop").await.expect("project");
    let key = store.create_api_key("shop", None).await.expect("key");
    (store, key)
}

/// Fresh topics, a store with one key published to the key topic, and a gateway that loaded it.
struct Fixture {
    brokers: String,
    events_topic: String,
    apikeys_topic: String,
    key: friction_store::NewApiKey,
    gw: Running,
    _dir: tempfile::TempDir,
}

async fn fixture(event_partitions: i32) -> Fixture {
    let brokers = brokers();
    let events_topic = unique("e2e.events");
    let apikeys_topic = unique("e2e.apikeys");
    create_topics(&brokers, &[(&events_topic, event_partitions), (&apikeys_topic, 1)]).await;
    let kafka = kafka();
    let dir = tempfile::tempdir().expect("tmp");
    let (_store, key) = store_with_key(dir.path()).await;
    friction_cli::keys::publish_keys(&kafka, &apikeys_topic, std::slice::from_ref(&key.key), None)
        .await
        .expect("publish key");
    let gw = start_gateway(&kafka, &events_topic, &apikeys_topic).await;
    Fixture { brokers, events_topic, apikeys_topic, key, gw, _dir: dir }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_events_round_trip_through_the_broker() {
    let Fixture { brokers, events_topic, key, gw, _dir, .. } = fixture(4).await;

    // 10,000 events over 40 sessions, in batches of 100, each session's events in time order.
    const TOTAL: usize = 10_000;
    const SESSIONS: usize = 40;
    let kinds = ["click", "pageview", "scroll", "network", "focus"];
    let mut sent: Vec<serde_json::Value> = Vec::with_capacity(TOTAL);
    for i in 0..TOTAL {
        let session = format!("sess-{}", i % SESSIONS);
        let kind = kinds[i % kinds.len()];
        let mut e = json!({
            "eventType": kind, "timestamp": 1_705_312_800_000i64 + i as i64, "sessionId": session,
            "eventId": uuid::Uuid::new_v4().to_string(), "route": format!("/p/{}", i % 7), "metadata": {"seq": i},
        });
        match kind {
            "click" => e["target"] = json!({"key": format!("btn-{}", i % 3), "x": 10.5, "y": 20}),
            "pageview" => e["navigation"] = json!({"kind": "push", "from": "/a", "to": "/b"}),
            "scroll" => e["scroll"] = json!({"dy": 120, "y": 300}),
            "network" => e["network"] = json!({"method": "GET", "url": "/api/x", "status": 200, "durationMs": 12.5}),
            _ => {}
        }
        sent.push(e);
    }
    let client = http_client();
    for chunk in sent.chunks(100) {
        let (status, body) = post_json(&client, &gw.url, &key.secret, json!({"events": chunk}).to_string()).await;
        assert_eq!(status, 202, "{body}");
        assert!(body.contains("\"accepted\":100"), "{body}");
    }

    // Read the topic back.
    let consumer: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", unique("e2e.reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..4 {
        tpl.add_partition_offset(&events_topic, p, Offset::Beginning).expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut received: Vec<(String, RawEvent<'static>)> = Vec::with_capacity(TOTAL);
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.len() < TOTAL && Instant::now() < deadline {
        if let Some(msg) = consumer.poll(Duration::from_millis(200)) {
            let msg = msg.expect("message");
            let key = String::from_utf8(msg.key().expect("key").to_vec()).expect("utf8 key");
            let event: RawEvent<'static> = decode(msg.payload().expect("payload")).expect("decodes");
            received.push((key, event));
        }
    }
    // Anything extra would arrive right behind; give it a moment.
    let extra_deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < extra_deadline {
        if let Some(Ok(msg)) = consumer.poll(Duration::from_millis(200)) {
            received.push(("extra".into(), decode(msg.payload().expect("payload")).expect("decodes")));
        }
    }
    assert_eq!(received.len(), TOTAL, "none missing, none extra");

    let by_id: BTreeMap<&str, &serde_json::Value> =
        sent.iter().map(|e| (e["eventId"].as_str().expect("id"), e)).collect();
    let mut seen = HashSet::new();
    let mut last_seq_per_session: BTreeMap<String, i64> = BTreeMap::new();
    for (key, event) in &received {
        assert!(seen.insert(event.event_id.to_string()), "duplicate {}", event.event_id);
        let original =
            by_id.get(event.event_id.as_ref()).unwrap_or_else(|| panic!("unexpected event {}", event.event_id));
        assert_eq!(
            key,
            &format!("{}:{}", key.split(':').next().expect("project"), original["sessionId"].as_str().expect("s"))
        );
        assert_eq!(event.session_id, original["sessionId"].as_str().expect("session"));
        assert_eq!(event.event_type, original["eventType"].as_str().expect("type"));
        assert_eq!(event.timestamp, original["timestamp"].as_i64().expect("ts"));
        assert_eq!(event.route.as_deref(), original["route"].as_str());
        let meta: serde_json::Value = serde_json::from_str(&event.metadata).expect("metadata json");
        assert_eq!(meta, original["metadata"]);
        match event.event_type.as_ref() {
            "click" => {
                assert_eq!(event.target.as_ref().and_then(|t| t.key.as_deref()), original["target"]["key"].as_str())
            }
            "network" => assert_eq!(event.network.as_ref().and_then(|n| n.status), Some(200)),
            "pageview" => assert_eq!(event.navigation.as_ref().map(|n| n.kind.as_ref()), Some("push")),
            "scroll" => assert_eq!(event.scroll.as_ref().map(|s| s.dy), Some(120.0)),
            _ => {}
        }
        // Order per session: one session is one key, one partition, in the order sent.
        let seq = meta["seq"].as_i64().expect("seq");
        if let Some(prev) = last_seq_per_session.insert(event.session_id.to_string(), seq) {
            assert!(seq > prev, "session {} out of order: {seq} after {prev}", event.session_id);
        }
    }
    assert_eq!(last_seq_per_session.len(), SESSIONS);
    gw.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_is_refused_within_seconds_of_keys_revoke() {
    let Fixture { brokers, apikeys_topic, key, gw, _dir: dir, .. } = fixture(1).await;
    let client = http_client();
    let seed = r#"{"events": [{"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "test-1", "route": "/checkout", "target": {"type": "button"}, "metadata": {}}]}"#;
    assert_eq!(post_json(&client, &gw.url, &key.secret, seed.into()).await.0, 202);

    // `friction keys revoke <prefix>`, exactly as an operator types it.
    let dir_arg = dir.path().to_string_lossy().to_string();
    let cli = friction_cli::Cli::parse_from([
        "friction",
        "keys",
        "revoke",
        &key.key.prefix,
        "--data-dir",
        &dir_arg,
        "--brokers",
        &brokers,
        "--apikeys-topic",
        &apikeys_topic,
    ]);
    friction_cli::run(cli).await.expect("revoke");
    let revoked_at = Instant::now();
    loop {
        let (status, body) = post_json(&client, &gw.url, &key.secret, seed.into()).await;
        if status == 401 {
            assert!(body.contains("revoked_api_key"), "{body}");
            break;
        }
        assert_eq!(status, 202, "{body}");
        assert!(revoked_at.elapsed() < Duration::from_secs(10), "still accepted 10 s after revoke");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("revocation took effect after {:?}", revoked_at.elapsed());
    gw.shutdown.trigger();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_apply_creates_missing_and_reports_differences() {
    let a = unique("e2e.apply.a");
    let b = unique("e2e.apply.b");
    let yaml = |partitions_b: i32| {
        format!(
            "topics:\n  - {{name: {a}, partitions: 2, cleanup: delete, retention_ms: 3600000, key: k, value_schema: event}}\n  - {{name: {b}, partitions: {partitions_b}, cleanup: compact, retention_ms: -1, key: k, value_schema: apikey}}\n"
        )
    };
    let kafka = kafka();
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        friction_runtime::kafka::producer_config(&kafka).expect("config").create().expect("admin");
    let specs = friction_runtime::topics::parse(&yaml(1)).expect("yaml");
    let first = friction_runtime::topics::apply(&admin, &specs, Duration::from_secs(15)).await.expect("apply");
    let mut created = first.created.clone();
    created.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(created, want);

    let deadline = Instant::now() + Duration::from_secs(15);
    let second = loop {
        let r = friction_runtime::topics::apply(&admin, &specs, Duration::from_secs(15)).await.expect("apply again");
        if r.created.is_empty() || Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(second.created.is_empty(), "nothing is created twice");
    assert!(second.differing.is_empty(), "{:?}", second.differing);

    let changed = friction_runtime::topics::parse(&yaml(3)).expect("yaml");
    let third =
        friction_runtime::topics::apply(&admin, &changed, Duration::from_secs(15)).await.expect("apply changed");
    assert_eq!(third.differing.len(), 1, "{:?}", third.differing);
    assert_eq!(third.differing[0].0, b);
    assert_eq!(third.differing[0].1[0].setting, "partitions");
    assert_eq!(third.differing[0].1[0].actual, "1");
}
