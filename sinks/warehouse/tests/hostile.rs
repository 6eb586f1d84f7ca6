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
