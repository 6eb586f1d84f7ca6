//! The pipeline `friction up` runs with `CLICKHOUSE_URL` set — gateway, sessionizer, detector,
//! incidents stage, warehouse — on the real broker and real ClickHouse: a known stream posted
//! through the gateway ends up in ClickHouse with every event, closed session, signal version and
//! incident version exactly once (raw rows too), as the documented counts query sees it (live
//! signals only), and the same as the stages put on their topics. Skipped (with the reason) when
//! FRICTION_TEST_CLICKHOUSE_URL or FRICTION_TEST_BROKERS is unset, failed instead under
//! FRICTION_REQUIRE_SERVICES=1.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use friction_cli::pipeline::{start_stages, PipelineNames};
use friction_e2e::{http_client, post_json};
use friction_gateway::GatewayArgs;
use friction_runtime::stage::wait_stage;
use friction_runtime::{Health, Shutdown};
use friction_schemas::{decode, IncidentChange, SessionSummary, Sessionized, SignalRecord};
use friction_test_support::clickhouse::unique_database;
use friction_test_support::kafka::{brokers, brokers_or_skip, create_topics, kafka};
use friction_test_support::{clickhouse_url, unique};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

const PARTITIONS: i32 = 3;
const DOC: &str = include_str!("../../docs/analytics.md");

fn names() -> PipelineNames {
    PipelineNames {
        events: unique("wh.events"),
        sessionized: unique("wh.sessionized"),
        sessions: unique("wh.sessions"),
        signals: unique("wh.signals"),
        incidents: unique("wh.incidents"),
        deadletter: unique("wh.deadletter"),
        sessionizer_changelog: unique("wh.sz.changelog"),
        detector_changelog: unique("wh.det.changelog"),
        group_prefix: format!("{}-", unique("g")),
    }
}

/// A session two hours ago: the product page, checkout, then four clicks on Pay 300 ms apart that
/// nothing answers (`rage`), or a click on Pay followed by the thanks page.
fn old_session(session: &str, user: &str, t0: i64, rage: bool) -> Vec<serde_json::Value> {
    let base = |kind: &str, ts: i64, route: &str| {
        json!({"eventType": kind, "timestamp": ts, "sessionId": session, "userId": user, "route": route,
               "release": "2.0.0"})
    };
    let click = |ts: i64| {
        let mut c = base("click", ts, "/checkout");
        c["target"] = json!({"type": "button", "tag": "button", "key": "pay", "interactive": true, "x": 200, "y": 300});
        c
    };
    let view = |ts: i64, route: &str| {
        let mut v = base("pageview", ts, route);
        v["navigation"] = json!({"kind": "push", "to": route});
        v
    };
    let mut events = vec![view(t0, "/product/7"), view(t0 + 1_000, "/checkout")];
    if rage {
        events.extend((0..4).map(|i| click(t0 + 2_000 + i * 300)));
    } else {
        events.push(click(t0 + 2_000));
        events.push(view(t0 + 2_100, "/thanks"));
    }
    events
}

/// Every distinct id on `topic` (read to its end), decoded with `id`.
fn topic_ids<T: Ord>(kafka: &friction_runtime::KafkaArgs, topic: &str, id: impl Fn(&[u8]) -> T) -> BTreeSet<T> {
    let consumer: BaseConsumer = friction_runtime::kafka::reader_config(kafka).expect("cfg").create().expect("reader");
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..PARTITIONS {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).expect("watermarks");
        ends.push(high);
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut ids = BTreeSet::new();
    let mut read = vec![0i64; PARTITIONS as usize];
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..PARTITIONS as usize).any(|p| read[p] < ends[p]) {
        assert!(Instant::now() < deadline, "could not read {topic} to its end");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            read[m.partition() as usize] = m.offset() + 1;
            ids.insert(id(m.payload().unwrap_or_default()));
        }
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_posted_to_the_gateway_arrives_in_clickhouse_exactly_once() {
    let test = "a_stream_posted_to_the_gateway_arrives_in_clickhouse_exactly_once";
    let (Some(ch_url), Some(_)) = (clickhouse_url(test), brokers_or_skip(test)) else {
        return;
    };
    let db = unique_database("wh_e2e");
    // What `friction up` reads; this test runs in its own process (nextest).
    std::env::set_var("CLICKHOUSE_URL", &ch_url);
    std::env::set_var("CLICKHOUSE_DATABASE", &db);
    let ch = friction_warehouse::ClickHouseConfig {
        database: db.clone(),
        ..friction_warehouse::ClickHouseConfig::new(&ch_url)
    }
    .client()
    .expect("client");

    let names = names();
    let apikeys = unique("wh.apikeys");
    create_topics(
        &brokers(),
        &[
            (&names.events, PARTITIONS),
            (&names.sessionized, PARTITIONS),
            (&names.sessions, PARTITIONS),
            (&names.signals, PARTITIONS),
            (&names.incidents, PARTITIONS),
            (&names.deadletter, 1),
            (&names.sessionizer_changelog, PARTITIONS),
            (&names.detector_changelog, PARTITIONS),
            (&apikeys, 1),
        ],
    )
    .await;
    let kafka = kafka();
    let dir = tempfile::tempdir().expect("tempdir");
    let store = friction_store::Store::from_env_or_dir(None, dir.path()).await.expect("store");
    store.migrate().await.expect("migrate");
    let project_id = store.create_project("shop").await.expect("project").id;
    let key = store.create_api_key("shop", None).await.expect("key");
    friction_cli::keys::publish_keys(&kafka, &apikeys, std::slice::from_ref(&key.key), None)
        .await
        .expect("publish key");

    let shutdown = Shutdown::new();
    let health = Health::default();
    let gateway = friction_gateway::start(
        GatewayArgs {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            events_topic: names.events.clone(),
            apikeys_topic: apikeys.clone(),
            ..GatewayArgs::default()
        },
        &kafka,
        &health,
        shutdown.clone(),
    )
    .await
    .expect("gateway");
    let stages = start_stages(&names, &kafka, None, &store, &health, &shutdown).expect("stages");
    assert!(stages.iter().any(|(n, _)| *n == "warehouse"), "CLICKHOUSE_URL is set, so the warehouse runs");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !gateway.keys.is_ready() {
        assert!(Instant::now() < deadline, "gateway never loaded its key");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Eight sessions two hours ago (three rage-click on Pay), then 24 short sessions now, so every
    // partition's event time moves past the old sessions' inactivity gap and they close.
    let client = http_client();
    let url = format!("http://{}/v1/events", gateway.addr);
    let now = friction_runtime::now_ms();
    let t0 = now - 2 * 3_600_000;
    let mut posted = 0usize;
    for i in 0..8 {
        let events = old_session(&format!("old-{i}"), &format!("user-{}", i % 5), t0 + i * 10_000, i % 3 == 0);
        posted += events.len();
        let (status, body) = post_json(&client, &url, &key.secret, json!({ "events": events }).to_string()).await;
        assert_eq!(status, 202, "{body}");
    }
    for i in 0..24 {
        let events = vec![json!({"eventType": "pageview", "timestamp": now - 1_000, "sessionId": format!("now-{i}"),
                                 "route": "/", "navigation": {"kind": "load", "to": "/"}})];
        posted += events.len();
        let (status, body) = post_json(&client, &url, &key.secret, json!({ "events": events }).to_string()).await;
        assert_eq!(status, 202, "{body}");
    }

    let counts_sql = DOC
        .split("```sql\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the doc's first query")
        .replace("friction.", &format!("{db}."))
        .replace("'shop'", &format!("'{project_id}'"));
    let counts = || async {
        let bytes = ch.query(&counts_sql).fetch_bytes("TabSeparated").ok()?.collect().await.ok()?;
        let line = String::from_utf8_lossy(&bytes).trim().to_string();
        let v: Vec<u64> = line.split('\t').filter_map(|x| x.parse().ok()).collect();
        (v.len() == 5).then_some(v)
    };
    // Wait for the whole stream: every event, the old sessions closed, their rage signals and an
    // incident; then for the warehouse to have caught up with whatever the stages produced.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let c = counts().await;
        if c.as_ref().is_some_and(|c| c[0] == posted as u64 && c[1] >= 8 && c[2] >= 3 && c[3] >= 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the stream did not reach ClickHouse within 90 s: {c:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let sessions =
        topic_ids(&kafka, &names.sessions, |b| decode::<SessionSummary>(b).map(|s| s.session_key).unwrap_or_default());
    // Every version of a signal is a record and a row; the documented count is of live signals,
    // the newest version of each id unless it is retracted.
    let signal_records = topic_ids(&kafka, &names.signals, |b| {
        decode::<SignalRecord>(b).map(|s| (s.id, s.version, s.fingerprint, s.retracted)).unwrap_or_default()
    });
    let mut newest: BTreeMap<&str, (i64, bool)> = BTreeMap::new();
    for (id, version, _, retracted) in &signal_records {
        let n = newest.entry(id).or_insert((*version, *retracted));
        if *version > n.0 {
            *n = (*version, *retracted);
        }
    }
    let live_signals = newest.values().filter(|(_, retracted)| !retracted).count();
    let versions = topic_ids(&kafka, &names.incidents, |b| {
        decode::<IncidentChange>(b).map(|i| format!("{}#{}", i.id, i.version)).unwrap_or_default()
    });
    let incidents: BTreeSet<&str> = versions.iter().filter_map(|v| v.split('#').next()).collect();
    let events = topic_ids(&kafka, &names.sessionized, |b| {
        decode::<Sessionized<'static>>(b).map(|e| e.event.event_id.to_string()).unwrap_or_default()
    });
    let want = vec![
        events.len() as u64,
        sessions.len() as u64,
        live_signals as u64,
        incidents.len() as u64,
        versions.len() as u64,
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let c = counts().await;
        if c.as_ref() == Some(&want) {
            break;
        }
        assert!(Instant::now() < deadline, "ClickHouse {c:?} != topics {want:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("in ClickHouse as on the topics: events, sessions, signals, incidents, incident versions = {want:?}");
    assert_eq!(want[0], posted as u64, "every posted event was sessionized");
    assert_eq!(want[1], 8, "the eight old sessions closed; the new ones are still open");
    assert!(want[2] >= 3, "three rage sessions signalled: {want:?}");
    // Exactly once: every record on the topics is one row, none inserted twice (a clean run
    // repeats nothing). A record is an event id, a session key, a signal version (id, version,
    // fingerprint), an incident snapshot (id, version, change, time: the incidents stage
    // publishes a version again, as `replayed`, when a signal id it counted comes back). Rows are
    // counted in the level-0 parts, which every insert makes and which stay listed after a merge
    // (for `old_parts_lifetime`, 8 minutes by default): `count()` on these ReplacingMergeTree
    // tables would miss a duplicate that a background merge had already collapsed. The topics are
    // read again until the rows match, as a stage may still be publishing (a late record is
    // inserted after it is on its topic; a duplicate row stays counted).
    let records = || {
        [
            topic_ids(&kafka, &names.sessionized, |b| {
                decode::<Sessionized<'static>>(b).map(|e| e.event.event_id.to_string()).unwrap_or_default()
            })
            .len(),
            topic_ids(&kafka, &names.sessions, |b| {
                decode::<SessionSummary>(b).map(|s| s.session_key).unwrap_or_default()
            })
            .len(),
            topic_ids(&kafka, &names.signals, |b| {
                decode::<SignalRecord>(b).map(|s| (s.id, s.version, s.fingerprint)).unwrap_or_default()
            })
            .len(),
            topic_ids(&kafka, &names.incidents, |b| {
                decode::<IncidentChange>(b).map(|i| (i.id, i.version, i.change, i.changed_at_ms)).unwrap_or_default()
            })
            .len(),
        ]
        .map(|n| n as u64)
    };
    let raw_rows = || async {
        let mut raw = [0u64; 4];
        for (n, table) in raw.iter_mut().zip(["events", "sessions", "signals", "incidents"]) {
            *n = ch
                .query("SELECT toUInt64(sum(rows)) FROM system.parts WHERE database = ? AND table = ? AND level = 0")
                .bind(db.as_str())
                .bind(table)
                .fetch_one()
                .await
                .expect("rows inserted");
        }
        raw
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (raw, on_topics) = (raw_rows().await, records());
        if raw == on_topics {
            eprintln!("rows inserted = records on the topics (events, sessions, signals, incidents): {raw:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rows inserted {raw:?} != records on the topics {on_topics:?} (events, sessions, signals, incidents): \
             a row was inserted twice, or is missing"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let top = friction_warehouse::analytics::top_elements(
        &ch,
        &friction_warehouse::analytics::TopElementsQuery {
            project_id: project_id.clone(),
            from: t0 - 1,
            to: now + 1,
            route: None,
            kind: None,
            limit: None,
        },
    )
    .await
    .expect("top elements");
    assert_eq!(
        top.first().map(|e| (e.element_key.as_str(), e.route_template.as_str())),
        Some(("pay", "/checkout")),
        "{top:?}"
    );
    assert_eq!(top[0].affected_sessions, 3, "{top:?}");

    shutdown.trigger();
    for (name, thread) in stages {
        wait_stage(name, thread).await.unwrap_or_else(|e| panic!("{name} failed: {e}"));
    }
    let _ = ch.clone().with_database("system").query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await;
}
