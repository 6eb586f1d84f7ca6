//! Every ```sql block of docs/analytics.md runs against real ClickHouse over the known stream, and
//! gives the same answer after the same batch has been inserted a second time. The key numbers are
//! checked against what the stream was built to contain.

mod common;

use common::*;
use friction_test_support::clickhouse::{unique_database, DropDatabase};
use friction_test_support::clickhouse_url;
use friction_warehouse::migrate;
use friction_warehouse::rows::*;
use friction_warehouse::writer::{Batch, RetryPolicy};

async fn run_all(client: &clickhouse::Client, blocks: &[String], db: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, sql) in blocks.iter().enumerate() {
        let sql = in_database(sql, db);
        out.push(tsv(client, &sql).await.unwrap_or_else(|e| panic!("query {i} failed: {e}\n{sql}")));
    }
    out
}

fn batch_of(stream: &Stream) -> Batch {
    Batch {
        events: stream.events.iter().map(EventRow::from).collect(),
        sessions: stream.sessions.iter().map(SessionRow::from).collect(),
        signals: stream.signals.iter().map(SignalRow::from).collect(),
        incidents: stream.incidents.iter().map(IncidentRow::from).collect(),
        bytes: 0,
    }
}

/// The answer of the block whose SQL contains `marker`.
fn answer<'a>(blocks: &[String], answers: &'a [String], marker: &str) -> &'a str {
    let i = blocks.iter().position(|b| b.contains(marker)).unwrap_or_else(|| panic!("no query with `{marker}`"));
    &answers[i]
}

#[tokio::test]
async fn every_documented_query_runs_and_ignores_a_repeated_batch() {
    let Some(url) = clickhouse_url("every_documented_query_runs_and_ignores_a_repeated_batch") else { return };
    let db = unique_database("wh_doc");
    let _drop = DropDatabase { url: url.clone(), database: db.clone() };
    let client = config(&url, &db).client().expect("client");
    migrate(&client, &db).await.expect("migrate");
    let stream = known_stream(30);
    let policy = RetryPolicy::default();
    batch_of(&stream).insert(&client, &policy).await.expect("insert");

    let blocks = sql_blocks(DOC);
    assert!(blocks.len() >= 10, "the doc lost queries: {}", blocks.len());
    let once = run_all(&client, &blocks, &db).await;
    for (i, a) in once.iter().enumerate() {
        assert!(a.lines().count() >= 2, "query {i} returned no rows:\n{}\n{a}", blocks[i]);
    }

    // What the stream was built to contain (see common::known_stream).
    assert_eq!(
        answer(&blocks, &once, "AS incident_versions"),
        format!("events\tsessions\tsignals\tincidents\tincident_versions\n{}\t30\t15\t1\t10\n", stream.events.len())
    );
    let rate = answer(&blocks, &once, "frustration_rate");
    assert!(rate.contains("2024-01-15\t/checkout\t15\t5\t0.3333\n"), "{rate}");
    assert!(rate.contains("2024-01-16\t/checkout\t15\t5\t0.3333\n"), "{rate}");
    assert!(rate.contains("2024-01-15\t/thanks\t10\t0\t0\n"), "{rate}");
    let top = answer(&blocks, &once, "affected_users DESC");
    assert_eq!(top.lines().nth(1), Some("button#pay\t/checkout\t['dead_click','rage_click']\t10\t10\t15"), "{top}");
    let latency = answer(&blocks, &once, "quantilesExact");
    // Dead clicks of sessions 0, 6, 12, 18, 24 observed 7000 + n ms.
    assert!(latency.contains("dead_click\t5\t[7012,7024,7024]\t7000\t7024"), "{latency}");
    let most = answer(&blocks, &once, "ORDER BY signals DESC, session_id");
    assert!(most.lines().nth(1).is_some_and(|l| l.starts_with("s000\t2\t['dead_click','rage_click']\t")), "{most}");
    let funnel = answer(&blocks, &once, "had_signal");
    assert_eq!(funnel, "had_signal\treached_checkout\treached_thanks_count\tdrop_off\n0\t20\t20\t0\n1\t10\t0\t1\n");
    let current = answer(&blocks, &once, "AS current_title");
    assert!(current.contains("inc-checkout-pay\t10\tconfirmed\t10\t10\t"), "{current}");

    // The same batch again, as after a crash between insert and commit.
    batch_of(&stream).insert(&client, &policy).await.expect("insert again");
    let raw = raw_rows_of(&client, "signals").await;
    assert_eq!(raw, 2 * stream.signals.len() as u64, "the repeat is really stored twice");
    let twice = run_all(&client, &blocks, &db).await;
    for (i, (a, b)) in once.iter().zip(&twice).enumerate() {
        assert_eq!(a, b, "query {i} changed its answer after a repeated batch:\n{}", blocks[i]);
    }

    // A correction retracts session 3's rage click (version 2 of the same id): every query drops it.
    let mut retraction = stream.signals.iter().find(|s| s.id == "sig-rage_click-003").expect("session 3's").clone();
    retraction.version = 2;
    retraction.retracted = true;
    let mut batch = Batch { signals: vec![SignalRow::from(&retraction)], ..Batch::default() };
    batch.insert(&client, &policy).await.expect("insert the retraction");
    let corrected = run_all(&client, &blocks, &db).await;
    assert_eq!(
        answer(&blocks, &corrected, "AS incident_versions"),
        format!("events\tsessions\tsignals\tincidents\tincident_versions\n{}\t30\t14\t1\t10\n", stream.events.len())
    );
    let top = answer(&blocks, &corrected, "affected_users DESC");
    assert_eq!(top.lines().nth(1), Some("button#pay\t/checkout\t['dead_click','rage_click']\t9\t9\t14"), "{top}");
    let rate = answer(&blocks, &corrected, "frustration_rate");
    assert!(rate.contains("2024-01-16\t/checkout\t15\t4\t0.2667\n"), "{rate}");
}

#[test]
fn the_doc_has_every_worked_query() {
    let doc = DOC.to_lowercase();
    for heading in [
        "frustration rate by route and day",
        "top elements by affected users",
        "dead-click latency distribution",
        "sessions with the most signals",
        "signals per release",
        "funnel drop-off after a signal",
    ] {
        assert!(doc.contains(&format!("### {heading}")), "docs/analytics.md lacks `{heading}`");
    }
    for block in sql_blocks(DOC) {
        assert!(!block.contains(" count() FROM friction."), "a bare count() over a table counts repeats:\n{block}");
        let reads = block.matches("FROM friction.signals").count();
        let live = block.matches("max(version) FROM friction.signals").count();
        assert_eq!(reads, 2 * live, "every read of signals keeps live signals only (rule two):\n{block}");
        assert_eq!(block.matches("AND retracted = 0").count(), live, "{block}");
    }
}
