//! What ClickHouse could refuse of a record the warehouse decoded (docs/architecture.md §5 "Dead
//! letters"): nothing. Rows go as RowBinary into `String`, `Int64`, `Float64` and `Array` columns,
//! which take any value a decoded record can hold — NUL and every other control character, any
//! Unicode scalar, strings of hundreds of kilobytes, `i64::MIN`/`MAX` times (the `MATERIALIZED`
//! `DateTime` columns wrap, they do not fail), NaN and infinite numbers — and a batch whose rows
//! spread over more than 100 monthly partitions, which current ClickHouse refuses by default
//! (`max_partitions_per_insert_block`), is taken by the 18.16 the tests run. This test sends all of
//! that through the stage's own decode and insert, with no retry, and finds every row.

mod common;

use common::*;
use friction_schemas::encode_to_vec;
use friction_test_support::clickhouse::{unique_database, DropDatabase};
use friction_test_support::clickhouse_url;
use friction_warehouse::writer::RetryPolicy;
use friction_warehouse::{migrate, WarehouseConfig, WarehouseHandler};

/// Strings no gateway should let through, and every Unicode plane.
fn hostile_strings() -> Vec<String> {
    let mut v: Vec<String> = vec![
        "\0".into(),
        "pay\0now".into(),
        (1u8..32).map(char::from).collect(),
        "\u{7f}\u{80}\u{9f}\u{ad}\u{200b}\u{200e}\u{202e}\u{2028}\u{feff}".into(),
        "\u{fffd}\u{fffe}\u{ffff}".into(),
        "\u{10000}\u{1f600}\u{e0001}\u{10fffd}\u{10ffff}".into(),
        "<script>alert(1)</script>".into(),
        "'; DROP TABLE events; --\\\t\n\r".into(),
        "é".repeat(100_000),
        String::new(),
    ];
    // One character of every 4096 code points, surrogates excluded (no Rust string holds them).
    v.push((0..=0x10ffffu32).step_by(4096).filter_map(char::from_u32).collect());
    v
}

const TIMES: [i64; 5] = [i64::MIN, i64::MAX, -1, 0, 253_402_300_800_000];
const FLOATS: [f64; 4] = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0];

#[tokio::test]
async fn every_decoded_record_is_a_row_clickhouse_takes() {
    let Some(url) = clickhouse_url("every_decoded_record_is_a_row_clickhouse_takes") else { return };
    let db = unique_database("wh_hostile");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");

    let base = known_stream(3);
    let strings = hostile_strings();
    let mut payloads = Vec::new();
    let (mut events, mut sessions, mut signals, mut incidents) = (0u64, 0u64, 0u64, 0u64);
    for (n, h) in strings.iter().enumerate() {
        for (k, e) in base.events.iter().enumerate() {
            let mut e = e.clone();
            let ev = &mut e.event;
            ev.event_id = format!("hostile-{n}-{k}").into();
            ev.session_id = h.clone().into();
            ev.user_id = Some(h.clone().into());
            ev.route = Some(h.clone().into());
            ev.url = Some(h.clone().into());
            ev.release = Some(h.clone().into());
            ev.metadata = h.clone().into();
            ev.timestamp = TIMES[(n + k) % TIMES.len()];
            ev.received_at = TIMES[(n + k + 1) % TIMES.len()];
            ev.client_timestamp = TIMES[(n + k + 2) % TIMES.len()];
            if let Some(t) = ev.target.as_mut() {
                t.key = Some(h.clone().into());
                t.x = Some(FLOATS[k % FLOATS.len()]);
            }
            e.session_key = h.clone().into();
            payloads.push(encode_to_vec(&e).expect("event"));
            events += 1;
        }
        for s in &base.sessions {
            let mut s = s.clone();
            s.session_key = format!("hostile-{n}-{}", s.session_key);
            s.routes = vec![h.clone(), h.clone()];
            s.user_id = Some(h.clone());
            s.start = TIMES[n % TIMES.len()];
            s.end = TIMES[(n + 1) % TIMES.len()];
            payloads.push(encode_to_vec(&s).expect("session"));
            sessions += 1;
        }
        for (k, g) in base.signals.iter().enumerate() {
            let mut g = g.clone();
            g.id = format!("hostile-{n}-{k}");
            g.element_key = h.clone();
            g.route_template = h.clone();
            g.labels = vec![h.clone()];
            g.start_ms = TIMES[(n + k) % TIMES.len()];
            g.end_ms = TIMES[(n + k + 1) % TIMES.len()];
            payloads.push(encode_to_vec(&g).expect("signal"));
            signals += 1;
        }
        for (k, i) in base.incidents.iter().enumerate() {
            let mut i = i.clone();
            i.id = format!("hostile-{n}-{k}");
            i.title = h.clone();
            i.severity = FLOATS[(n + k) % FLOATS.len()];
            i.changed_at_ms = TIMES[(n + k) % TIMES.len()];
            i.releases = vec![h.clone()];
            payloads.push(encode_to_vec(&i).expect("incident"));
            incidents += 1;
        }
    }
    // And one batch over 150 monthly partitions.
    for m in 0..150i64 {
        let mut e = base.events[0].clone();
        e.event.event_id = format!("month-{m}").into();
        e.event.timestamp = T0 + m * 31 * 86_400_000;
        payloads.push(encode_to_vec(&e).expect("event"));
        events += 1;
    }

    let mut warehouse = WarehouseConfig::new(config(&url, &db));
    warehouse.retry = RetryPolicy { max_retries: 0, ..RetryPolicy::default() };
    // The handler blocks on its own runtime, as on the stage thread.
    tokio::task::spawn_blocking(move || {
        let mut handler = WarehouseHandler::new(&warehouse).expect("handler").with_tables_ready();
        for p in &payloads {
            handler.add(p).expect("decoded");
        }
        handler.flush().expect("ClickHouse takes every row, at the first attempt");
    })
    .await
    .expect("inserted");
    for (table, expected) in
        [("events", events), ("sessions", sessions), ("signals", signals), ("incidents", incidents)]
    {
        let n = client.query(&format!("SELECT count() FROM {table}")).fetch_one::<u64>().await.expect("count");
        assert_eq!(n, expected, "{table}");
    }
    let nul = client
        .query("SELECT count() FROM events WHERE target_key = 'pay\\0now'")
        .fetch_one::<u64>()
        .await
        .expect("count");
    assert!(nul > 0, "NUL is stored as it came");
}

/// ClickHouse refusing one row (here a `MATERIALIZED` column the test adds, which cannot parse
/// what one event holds — standing for any per-row refusal of a newer server or schema): the
/// stage on the real broker inserts every other row of the batch, dead-letters the refused one
/// with its source and ClickHouse's error, and goes on with the next batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_clickhouse_refuses_is_a_dead_letter_and_the_stage_goes_on() {
    let what = "a_row_clickhouse_refuses_is_a_dead_letter_and_the_stage_goes_on";
    let Some(url) = clickhouse_url(what) else { return };
    if friction_test_support::kafka::brokers_or_skip(what).is_none() {
        return;
    }
    use friction_runtime::stage::{spawn_stage, wait_stage};
    use friction_test_support::kafka::{brokers, create_topics, kafka, reader};
    use friction_test_support::unique;
    use rdkafka::message::{Headers, Message};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use std::time::Duration;

    let db = unique_database("wh_refused");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");
    client
        .query("ALTER TABLE events ADD COLUMN refuse Int64 MATERIALIZED toInt64(if(target_key = 'refused', 'x', '0'))")
        .execute()
        .await
        .expect("refusing column");

    let mut warehouse = WarehouseConfig::new(config(&url, &db));
    warehouse.topics.sessionized = unique("wh.refused.events");
    warehouse.topics.sessions = unique("wh.refused.sessions");
    warehouse.topics.signals = unique("wh.refused.signals");
    warehouse.topics.incidents = unique("wh.refused.incidents");
    let dlq = unique("wh.refused.dlq");
    let t = &warehouse.topics;
    create_topics(&brokers(), &[(&t.sessionized, 1), (&t.sessions, 1), (&t.signals, 1), (&t.incidents, 1), (&dlq, 1)])
        .await;
    let group = unique("wh.refused.group");
    let mut stage = warehouse.stage_config(group.clone());
    stage.deadletter_topic = dlq.clone();
    let handler = WarehouseHandler::new(&warehouse).expect("handler").with_tables_ready();
    let kafka = kafka();
    let shutdown = friction_runtime::Shutdown::new();
    let running = spawn_stage(stage, &kafka, handler, shutdown.clone(), None).expect("stage");

    let base = known_stream(1);
    let click = base.events.iter().find(|e| e.event.target.is_some()).expect("a click").clone();
    let events: Vec<_> = (0..10)
        .map(|i| {
            let mut e = click.clone();
            e.event.event_id = format!("ev-{i}").into();
            if let Some(t) = e.event.target.as_mut() {
                t.key = Some(if i == 4 { "refused" } else { "fine" }.into());
            }
            e
        })
        .collect();
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(&kafka).expect("config").create().expect("producer");
    let produce = |events: Vec<friction_schemas::Sessionized<'static>>| {
        let producer = producer.clone();
        let topic = warehouse.topics.sessionized.clone();
        async move {
            for e in &events {
                let payload = encode_to_vec(e).expect("encode");
                producer
                    .send(
                        FutureRecord::to(&topic).key(e.event.event_id.as_ref()).payload(&payload),
                        Duration::from_secs(10),
                    )
                    .await
                    .map_err(|(e, _)| e)
                    .expect("produced");
            }
        }
    };
    produce(events).await;

    let count = |sql: &'static str| {
        let client = client.clone();
        async move { client.query(sql).fetch_one::<u64>().await.expect("count") }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count("SELECT count() FROM events").await < 9 {
        assert!(std::time::Instant::now() < deadline, "the other rows were never inserted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead = reader(&dlq, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let letter = loop {
        if let Some(Ok(m)) = dead.poll(Duration::from_millis(100)) {
            break m.detach();
        }
        assert!(std::time::Instant::now() < deadline, "no dead letter");
    };
    let h: std::collections::BTreeMap<String, String> = letter
        .headers()
        .map(|h| {
            h.iter().map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or(&[])).into())).collect()
        })
        .unwrap_or_default();
    assert_eq!(h.get("source.topic"), Some(&warehouse.topics.sessionized), "{h:?}");
    assert_eq!(h.get("source.offset").map(String::as_str), Some("4"), "{h:?}");
    assert_eq!(h.get("stage"), Some(&group), "{h:?}");
    assert!(h.get("error").is_some_and(|e| e.contains("Cannot parse")), "{h:?}");

    // The stage goes on.
    let mut later = click.clone();
    later.event.event_id = "ev-later".into();
    produce(vec![later]).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count("SELECT count() FROM events WHERE event_id = 'ev-later'").await < 1 {
        assert!(std::time::Instant::now() < deadline, "a later row was never inserted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(count("SELECT count() FROM events WHERE event_id = 'ev-4'").await, 0);
    assert!(!running.is_finished(), "the stage stopped");
    shutdown.trigger();
    wait_stage("warehouse", running).await.expect("clean stop");
}
