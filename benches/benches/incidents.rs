//! The incidents stage: signals/s counted into each store against a bare insert of the same rows
//! in the same run, and the end-to-end delay from the last event the gateway accepted to the
//! incident being `confirmed` in the store the console reads (docs/architecture.md §9: p99 ≤ 1 s).
//!
//! `cargo bench -p friction-benches --bench incidents` (env: INCIDENTS_SIGNALS, default 20000;
//! INCIDENTS_BATCH, default 1000; INCIDENTS_ROUNDS for the latency part, default 12, 0 skips it;
//! FRICTION_TEST_POSTGRES_URL adds PostgreSQL to the store part).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use friction_incidents::{apply_batch, IncidentConfig};
use friction_runtime::kafka::EmbeddedBroker;
use friction_runtime::{Health, KafkaArgs, Shutdown};
use friction_schemas::SignalRecord;
use friction_store::{IncidentStatus, Store};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn signals(n: usize) -> Vec<SignalRecord> {
    (0..n)
        .map(|i| SignalRecord {
            id: format!("sig-{i:08}"),
            project_id: "bench".into(),
            fingerprint: format!("fp-{:04}", (i * 7919) % 200),
            kind: "rage_click".into(),
            unresponsive: true,
            label: "rage_click:unresponsive".into(),
            session_id: format!("sess-{}", (i * 31) % 5000),
            view_id: "v".into(),
            route_template: "/checkout".into(),
            element_key: "pay".into(),
            start_ms: 1_700_000_000_000 + i as i64 * 50,
            end_ms: 1_700_000_000_000 + i as i64 * 50 + 900,
            user_id: Some(format!("user-{}", (i * 31) % 3000)),
            release: Some(format!("1.{}", i % 5)),
            ..Default::default()
        })
        .collect()
}

/// Rows per statement of the baseline: what the store uses for its multi-row statements
/// (`ROWS_PER_STATEMENT` in friction-store's incidents module).
const ROWS_PER_STATEMENT: usize = 500;

/// The baseline: the same rows, the same batches, written the way the stage writes its signal rows
/// (multi-row `INSERT ... ON CONFLICT DO NOTHING RETURNING` of up to [`ROWS_PER_STATEMENT`] rows, one
/// transaction per batch), with no decisions and no other table.
async fn bare_inserts(store: &Store, signals: &[SignalRecord], batch: usize) -> f64 {
    sqlx::raw_sql(
        "CREATE TABLE bench_signals (signal_id TEXT PRIMARY KEY, incident_id TEXT, session_id TEXT, start_ms BIGINT)",
    )
    .execute(store.pool())
    .await
    .expect("bench table");
    let started = Instant::now();
    for chunk in signals.chunks(batch) {
        let mut tx = store.pool().begin().await.expect("begin");
        for rows in chunk.chunks(ROWS_PER_STATEMENT) {
            let values: Vec<String> = (0..rows.len())
                .map(|r| format!("(${}, ${}, ${}, ${})", 4 * r + 1, 4 * r + 2, 4 * r + 3, 4 * r + 4))
                .collect();
            let sql = format!(
                "INSERT INTO bench_signals (signal_id, incident_id, session_id, start_ms) VALUES {} \
                 ON CONFLICT (signal_id) DO NOTHING RETURNING signal_id",
                values.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for s in rows {
                query = query.bind(&s.id).bind(&s.fingerprint).bind(&s.session_id).bind(s.start_ms);
            }
            let inserted = query.fetch_all(&mut *tx).await.expect("insert");
            assert_eq!(inserted.len(), rows.len(), "every row is new");
        }
        tx.commit().await.expect("commit");
    }
    signals.len() as f64 / started.elapsed().as_secs_f64()
}

async fn counted(store: &Store, signals: &[SignalRecord], batch: usize) -> f64 {
    let config = IncidentConfig::default();
    let started = Instant::now();
    for chunk in signals.chunks(batch) {
        apply_batch(store, chunk, &config, 0).await.expect("apply");
    }
    signals.len() as f64 / started.elapsed().as_secs_f64()
}

async fn store_throughput() {
    let n = env_num("INCIDENTS_SIGNALS", 20_000) as usize;
    let batch = env_num("INCIDENTS_BATCH", 1_000) as usize;
    let signals = signals(n);
    println!("store throughput: {n} signals over 200 incidents, 5000 sessions, batches of {batch}");
    println!("| store | bare multi-row INSERT signals/s | incidents stage signals/s | ratio |");
    println!("|---|---:|---:|---:|");
    for db in friction_store::testing::migrated_dbs().await.expect("databases") {
        let base = bare_inserts(&db.store, &signals, batch).await;
        let ours = counted(&db.store, &signals, batch).await;
        let check =
            db.store.list_incidents(&friction_store::IncidentFilter { limit: 1000, ..Default::default() }).await;
        let total: i64 = check.expect("list").iter().map(|i| i.occurrences).sum();
        assert_eq!(total, n as i64, "every signal counted once");
        println!("| {} | {base:.0} | {ours:.0} | {:.1} % |", db.name(), 100.0 * ours / base);
    }
}

/// Three sessions rage-clicking a dead button (element `pay-{round}`), like the e2e test.
fn rage_batch(round: usize, session: usize, t0: i64) -> String {
    let sid = format!("lat-{round}-{session}");
    let mut events = vec![serde_json::json!({"eventType": "pageview", "timestamp": t0, "sessionId": sid,
        "route": "/checkout", "navigation": {"kind": "load", "to": "/checkout"}})];
    for i in 0..4 {
        events.push(serde_json::json!({"eventType": "click", "timestamp": t0 + 1000 + i * 300, "sessionId": sid,
            "route": "/checkout", "target": {"type": "button", "tag": "button", "key": format!("pay-{round}"),
            "interactive": true, "x": 200, "y": 300}}));
    }
    serde_json::json!({ "events": events }).to_string()
}

async fn end_to_end_latency(rounds: usize) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open_in_dir(dir.path()).await.expect("store");
    store.migrate().await.expect("migrate");
    store.create_project("bench").await.expect("project");
    let key = store.create_api_key("bench", None).await.expect("key");
    let broker = EmbeddedBroker::start(&friction_runtime::topics::catalogue()).expect("broker");
    let kafka = KafkaArgs::with_brokers(broker.bootstrap_servers());
    friction_cli::keys::publish_keys(&kafka, friction_runtime::topics::APIKEYS, std::slice::from_ref(&key.key))
        .await
        .expect("keys");
    let shutdown = Shutdown::new();
    let health = Health::default();
    let gateway = friction_gateway::start(
        friction_gateway::GatewayArgs { addr: SocketAddr::from(([127, 0, 0, 1], 0)), ..Default::default() },
        &kafka,
        &health,
        shutdown.clone(),
    )
    .await
    .expect("gateway");
    let names = friction_cli::pipeline::PipelineNames::default();
    let stages =
        friction_cli::pipeline::start_stages(&names, &kafka, None, &store, &health, &shutdown).expect("stages");
    while !gateway.keys.is_ready() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = friction_benches::http_client();
    let url = format!("http://{}/v1/events", gateway.addr);
    let mut tasks = Vec::new();
    for round in 0..rounds {
        let (client, url, store, secret) = (client.clone(), url.clone(), store.clone(), key.secret.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(round as u64 * 700)).await;
            let t0 = friction_runtime::now_ms() - 3_000;
            for s in 0..3 {
                let (status, body) =
                    friction_benches::post_json(&client, &url, &secret, rage_batch(round, s, t0)).await;
                assert_eq!(status, 202, "{body}");
            }
            let accepted = Instant::now();
            let deadline = accepted + Duration::from_secs(120);
            loop {
                let list = store
                    .list_incidents(&friction_store::IncidentFilter {
                        status: Some(IncidentStatus::Confirmed),
                        limit: 1000,
                        ..Default::default()
                    })
                    .await
                    .expect("list");
                if list.iter().any(|i| i.element_key == format!("pay-{round}")) {
                    return accepted.elapsed();
                }
                assert!(Instant::now() < deadline, "round {round}: never confirmed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
    }
    let mut delays = Vec::new();
    for t in tasks {
        delays.push(t.await.expect("round"));
    }
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let p = |q: f64| delays[((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len()) - 1];
    println!(
        "end to end (last event accepted → incident confirmed), {rounds} incidents: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(p(0.5)),
        ms(p(0.99)),
        ms(delays[delays.len() - 1])
    );
    shutdown.trigger();
    for (name, thread) in stages {
        friction_runtime::stage::wait_stage(name, thread).await.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[tokio::main]
async fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    store_throughput().await;
    let rounds = env_num("INCIDENTS_ROUNDS", 12) as usize;
    if rounds > 0 {
        end_to_end_latency(rounds).await;
    }
}
