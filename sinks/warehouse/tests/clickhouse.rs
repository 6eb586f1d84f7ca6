//! The warehouse against the real ClickHouse (18.16 from scripts/services.sh): migrations, RowBinary
//! inserts of every table, the analytics functions, and a repeated batch changing no answer.

mod common;

use common::*;
use friction_test_support::clickhouse::{unique_database, DropDatabase};
use friction_test_support::clickhouse_url;
use friction_warehouse::analytics::{self, Bucket, FrustrationRateQuery, TopElementsQuery};
use friction_warehouse::writer::{Batch, RetryPolicy};
use friction_warehouse::{migrate, rows::*, schema};

fn batch_of(stream: &Stream) -> Batch {
    Batch {
        events: stream.events.iter().map(EventRow::from).collect(),
        sessions: stream.sessions.iter().map(SessionRow::from).collect(),
        signals: stream.signals.iter().map(SignalRow::from).collect(),
        incidents: stream.incidents.iter().map(IncidentRow::from).collect(),
        bytes: 0,
    }
}

async fn count(client: &clickhouse::Client, sql: &str) -> u64 {
    client.query(sql).fetch_one::<u64>().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn migrate_is_idempotent_and_upgrades_old_tables() {
    let Some(url) = clickhouse_url("migrate_is_idempotent_and_upgrades_old_tables") else { return };
    let db = unique_database("wh_migrate");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    let first = migrate(&client, &db).await.expect("first migrate");
    assert_eq!(first.created_tables, vec!["events", "sessions", "signals", "incidents"]);
    let second = migrate(&client, &db).await.expect("second migrate");
    assert!(second.created_tables.is_empty() && second.added_columns.is_empty(), "{second:?}");
    assert_eq!(second.unchanged_tables.len(), 4);

    // A table from an "older version" without two columns gets them added.
    client.query("ALTER TABLE signals DROP COLUMN suppressions_checked").execute().await.expect("drop column");
    client.query("ALTER TABLE signals DROP COLUMN detail_values").execute().await.expect("drop column");
    let third = migrate(&client, &db).await.expect("upgrade");
    assert_eq!(third.added_columns, vec!["signals.detail_values", "signals.suppressions_checked"]);
    let cols: Vec<String> = client
        .query("SELECT name FROM system.columns WHERE database = ? AND table = 'signals'")
        .bind(db.as_str())
        .fetch_all()
        .await
        .expect("columns");
    let expected: Vec<&str> = friction_warehouse::schema::SIGNALS.columns.iter().map(|c| c.name).collect();
    assert_eq!(cols, expected, "columns are back in their place");
}

#[tokio::test]
async fn rows_round_trip_and_a_repeated_batch_changes_no_answer() {
    let Some(url) = clickhouse_url("rows_round_trip_and_a_repeated_batch_changes_no_answer") else { return };
    let db = unique_database("wh_rows");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");
    let stream = known_stream(30);
    let policy = RetryPolicy::default();
    let mut batch = batch_of(&stream);
    batch.insert(&client, &policy).await.expect("insert");
    assert!(batch.is_empty());

    // Every column of every table comes back as written (RowBinary in, RowBinary out).
    let events: Vec<EventRow> =
        client.query("SELECT ?fields FROM events FINAL ORDER BY event_id").fetch_all().await.expect("events");
    let mut want: Vec<EventRow> = stream.events.iter().map(EventRow::from).collect();
    want.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(events, want);
    let signals: Vec<SignalRow> =
        client.query("SELECT ?fields FROM signals FINAL ORDER BY signal_id").fetch_all().await.expect("signals");
    let mut want: Vec<SignalRow> = stream.signals.iter().map(SignalRow::from).collect();
    want.sort_by(|a, b| a.signal_id.cmp(&b.signal_id));
    assert_eq!(signals, want);
    let sessions: Vec<SessionRow> =
        client.query("SELECT ?fields FROM sessions FINAL ORDER BY session_key").fetch_all().await.expect("sessions");
    assert_eq!(sessions.len(), 30);
    let incidents: Vec<IncidentRow> =
        client.query("SELECT ?fields FROM incidents FINAL ORDER BY version").fetch_all().await.expect("incidents");
    assert_eq!(incidents, stream.incidents.iter().map(IncidentRow::from).collect::<Vec<_>>());
    let date: String = client
        .query("SELECT toString(timestamp) FROM events WHERE event_id = 's000-e000'")
        .fetch_one()
        .await
        .expect("materialized time");
    assert_eq!(date, "2024-01-15 10:00:00");

    let rate_q = FrustrationRateQuery {
        project_id: PROJECT.into(),
        route: None,
        from: T0 - 3_600_000,
        to: T0 + 3 * 86_400_000,
        bucket: Bucket::Day,
    };
    let top_q = TopElementsQuery {
        project_id: PROJECT.into(),
        from: T0 - 3_600_000,
        to: T0 + 3 * 86_400_000,
        route: None,
        kind: None,
        limit: None,
    };
    let rate = analytics::frustration_rate(&client, &rate_q).await.expect("rate");
    let top = analytics::top_elements(&client, &top_q).await.expect("top");

    // Day 0 holds the even sessions (15), day 1 the odd ones; every third session is frustrated.
    let checkout: Vec<_> = rate.iter().filter(|p| p.route == "/checkout").collect();
    assert_eq!(checkout.len(), 2, "{rate:?}");
    assert_eq!(checkout[0].bucket_start, T0 - 10 * 3_600_000, "buckets start at midnight UTC");
    assert_eq!((checkout[0].sessions, checkout[0].frustrated_sessions), (15, 5));
    assert_eq!((checkout[1].sessions, checkout[1].frustrated_sessions), (15, 5));
    assert_eq!(checkout[0].signals, 5 + 5, "day 0 (sessions 0, 6, ..., 24): a rage and a dead click each");
    assert_eq!(checkout[1].signals, 5, "day 1 (sessions 3, 9, ..., 27): rage clicks only");
    assert!((checkout[0].rate - 1.0 / 3.0).abs() < 1e-9);
    let thanks: Vec<_> = rate.iter().filter(|p| p.route == "/thanks").collect();
    assert!(thanks.iter().all(|p| p.frustrated_sessions == 0 && p.rate == 0.0));
    let only_checkout = analytics::frustration_rate(
        &client,
        &FrustrationRateQuery { route: Some("/checkout".into()), ..rate_q.clone() },
    )
    .await
    .expect("route filter");
    assert_eq!(only_checkout, checkout.iter().map(|p| (*p).clone()).collect::<Vec<_>>());

    assert_eq!(top.len(), 1, "{top:?}");
    assert_eq!(top[0].element_key, "button#pay");
    assert_eq!(top[0].kinds, vec!["dead_click", "rage_click"]);
    assert_eq!(top[0].affected_sessions, 10);
    assert_eq!(top[0].signals, 15);
    // Frustrated sessions 0,3,...,27: 0, 15 anonymous; others u1,u3,u4,u6,u7,u9,u10,u12 — distinct.
    assert_eq!(top[0].affected_users, 10);

    // The same batch again (a replay after a crash): raw rows double, no answer changes.
    let mut again = batch_of(&stream);
    again.insert(&client, &policy).await.expect("insert again");
    assert_eq!(raw_rows_of(&client, "events").await, 2 * stream.events.len() as u64, "the repeat is stored twice");
    assert_eq!(analytics::frustration_rate(&client, &rate_q).await.expect("rate"), rate);
    assert_eq!(analytics::top_elements(&client, &top_q).await.expect("top"), top);
    assert_eq!(count(&client, "SELECT count() FROM events FINAL").await, stream.events.len() as u64);
}

/// One version of a signal of session `s<session>` on `/checkout`.
fn signal_version(id: &str, version: i64, retracted: bool, kind: &str, session: usize, element: &str) -> SignalRow {
    SignalRow::from(&friction_schemas::SignalRecord {
        id: id.into(),
        version,
        retracted,
        project_id: PROJECT.into(),
        fingerprint: format!("fp-{kind}-{element}"),
        kind: kind.into(),
        label: kind.into(),
        session_id: format!("s{session:03}"),
        view_id: format!("s{session:03}:v0"),
        route_template: "/checkout".into(),
        element_key: element.into(),
        start_ms: T0 + 2_000 + version,
        end_ms: T0 + 2_600,
        ..friction_schemas::SignalRecord::default()
    })
}

#[tokio::test]
async fn analytics_count_only_the_newest_live_version_of_each_signal() {
    let Some(url) = clickhouse_url("analytics_count_only_the_newest_live_version_of_each_signal") else { return };
    let db = unique_database("wh_versions");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");
    let policy = RetryPolicy::default();
    // Two sessions on /checkout. `sig-a` (session 0, button#pay) was published, grew, then was
    // retracted. `sig-b` (session 1, button#buy) moved fingerprint: a dead click, retracted under
    // its old fingerprint, then a rage click. Each version is its own insert (its own part), the
    // retraction of `sig-a` first: arrival order is not version order. A background merge may
    // collapse some of them at any time; the answers must not depend on it.
    let events = [
        common::event(0, 0, T0, "pageview", "/checkout", Some("u0"), "1.0.0"),
        common::event(1, 0, T0 + 1_000, "pageview", "/checkout", Some("u1"), "1.0.0"),
    ];
    let versions = [
        signal_version("sig-a", 3, true, "rage_click", 0, "button#pay"),
        signal_version("sig-a", 1, false, "dead_click", 0, "button#pay"),
        signal_version("sig-a", 2, false, "rage_click", 0, "button#pay"),
        signal_version("sig-b", 1, false, "dead_click", 1, "button#buy"),
        signal_version("sig-b", 2, true, "dead_click", 1, "button#buy"),
        signal_version("sig-b", 3, false, "rage_click", 1, "button#buy"),
    ];
    let events = events.iter().map(EventRow::from).collect();
    Batch { events, ..Batch::default() }.insert(&client, &policy).await.expect("insert events");
    for v in &versions {
        Batch { signals: vec![v.clone()], ..Batch::default() }.insert(&client, &policy).await.expect("insert signal");
    }
    assert_eq!(raw_rows_of(&client, "signals").await, versions.len() as u64, "one row per version");

    let rate_q = FrustrationRateQuery {
        project_id: PROJECT.into(),
        route: Some("/checkout".into()),
        from: T0 - 3_600_000,
        to: T0 + 86_400_000,
        bucket: Bucket::Day,
    };
    let top_q = TopElementsQuery {
        project_id: PROJECT.into(),
        from: T0 - 3_600_000,
        to: T0 + 86_400_000,
        route: None,
        kind: None,
        limit: None,
    };
    let check = |rate: Vec<analytics::FrustrationRatePoint>, top: Vec<analytics::TopElement>, when: &str| {
        assert_eq!(rate.len(), 1, "{when}: {rate:?}");
        assert_eq!((rate[0].sessions, rate[0].frustrated_sessions, rate[0].signals), (2, 1, 1), "{when}: {rate:?}");
        assert_eq!(top.len(), 1, "{when}: only sig-b is live: {top:?}");
        assert_eq!(top[0].element_key, "button#buy", "{when}");
        assert_eq!(top[0].kinds, vec!["rage_click"], "{when}: the newest version's kind only");
        assert_eq!((top[0].signals, top[0].affected_sessions, top[0].affected_users), (1, 1, 1), "{when}");
        assert_eq!(top[0].last_seen, T0 + 2_003, "{when}: the newest version's start");
    };
    let rate = analytics::frustration_rate(&client, &rate_q).await.expect("rate");
    let top = analytics::top_elements(&client, &top_q).await.expect("top");
    check(rate, top, "as inserted");
    let dead = analytics::top_elements(&client, &TopElementsQuery { kind: Some("dead_click".into()), ..top_q.clone() })
        .await
        .expect("top dead clicks");
    assert!(dead.is_empty(), "sig-b's dead-click versions are superseded: {dead:?}");

    // Merged, each id keeps its newest version (not the last inserted one), and nothing changes.
    // OPTIMIZE does nothing while a background merge holds some of the parts: repeat it until
    // one part is left.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        client.query("OPTIMIZE TABLE signals FINAL").execute().await.expect("optimize");
        let parts = count(
            &client,
            "SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'signals' AND active",
        )
        .await;
        if parts == 1 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "signals never merged into one part: {parts}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let kept: Vec<(String, i64, bool)> = client
        .query("SELECT signal_id, version, retracted FROM signals ORDER BY signal_id")
        .fetch_all()
        .await
        .expect("merged rows");
    assert_eq!(kept, vec![("sig-a".to_string(), 3, true), ("sig-b".to_string(), 3, false)]);
    let rate = analytics::frustration_rate(&client, &rate_q).await.expect("rate");
    let top = analytics::top_elements(&client, &top_q).await.expect("top");
    check(rate, top, "after merging");
}

#[tokio::test]
async fn a_signals_table_from_before_versions_gets_them_and_its_rows_stay_live() {
    let Some(url) = clickhouse_url("a_signals_table_from_before_versions_gets_them_and_its_rows_stay_live") else {
        return;
    };
    let db = unique_database("wh_old_signals");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");
    // The signals table as the release before versions created it: no `version`, no `retracted`,
    // a plain ReplacingMergeTree.
    let old_columns: Vec<schema::Column> =
        schema::SIGNALS.columns.iter().filter(|c| !["version", "retracted"].contains(&c.name)).copied().collect();
    let old = schema::Table { columns: old_columns.leak(), engine: "ReplacingMergeTree", ..schema::SIGNALS };
    client.query("DROP TABLE signals").execute().await.expect("drop");
    client.query(&schema::create_table_sql(&db, &old)).execute().await.expect("old table");
    client
        .query(
            "INSERT INTO signals (project_id, signal_id, kind, session_id, route_template, element_key, start_ms) \
             VALUES ('shop', 'sig-old', 'rage_click', 's000', '/checkout', 'button#pay', ?)",
        )
        .bind(T0 + 2_000)
        .execute()
        .await
        .expect("an old row");

    let report = migrate(&client, &db).await.expect("upgrade");
    assert_eq!(report.added_columns, vec!["signals.version", "signals.retracted"]);
    let cols: Vec<String> = client
        .query("SELECT name FROM system.columns WHERE database = ? AND table = 'signals'")
        .bind(db.as_str())
        .fetch_all()
        .await
        .expect("columns");
    let expected: Vec<&str> = schema::SIGNALS.columns.iter().map(|c| c.name).collect();
    assert_eq!(cols, expected);

    // The old row is version 0, live; a new version of it supersedes it.
    let top_q = TopElementsQuery {
        project_id: PROJECT.into(),
        from: T0,
        to: T0 + 86_400_000,
        route: None,
        kind: None,
        limit: None,
    };
    let top = analytics::top_elements(&client, &top_q).await.expect("top");
    assert_eq!(top.iter().map(|e| (e.element_key.as_str(), e.signals)).collect::<Vec<_>>(), vec![("button#pay", 1)]);
    let retraction = signal_version("sig-old", 1, true, "rage_click", 0, "button#pay");
    Batch { signals: vec![retraction], ..Batch::default() }.insert(&client, &RetryPolicy::default()).await.expect("v1");
    assert_eq!(analytics::top_elements(&client, &top_q).await.expect("top"), Vec::new());
}
