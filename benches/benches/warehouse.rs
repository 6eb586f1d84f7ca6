//! Warehouse insert throughput against a bare `clickhouse` crate inserter writing the same rows
//! in the same run, and the delay from a record's produce to its row being queryable.
//!
//! Needs ClickHouse: `FRICTION_TEST_CLICKHOUSE_URL` (scripts/services.sh start clickhouse &&
//! source .services/env); skipped with a message otherwise. Each run writes into a fresh database
//! that is dropped afterwards.
//!
//! Runs, over the same WAREHOUSE_EVENTS sessionized events (corpus sessions, `src/stream.rs`):
//! - component: Avro-decode every payload (what any consumer of the topic must do);
//! - component: decoded record → `EventRow` (the warehouse's conversion);
//! - baseline: bare `clickhouse` inserter: the rows already built, one `INSERT` per 50,000 rows;
//! - `WarehouseHandler` as the runtime drives it, without Kafka: `on_message` for every payload
//!   (decode, convert, buffer) and `persist` every 50,000 messages (the default batch);
//! - the warehouse stage through the broker (librdkafka's in-process mock cluster): payloads
//!   produced to the sessionized topic first, then `spawn_stage` + `WarehouseHandler` until every
//!   row is in ClickHouse (group join included);
//! - delay: with the stage running, WAREHOUSE_DELAY_BATCHES batches of 200 records produced 250 ms
//!   apart; for each, the time from the producer's acknowledgement to all of its rows answering a
//!   `SELECT` (polled every 10 ms).
//!
//! Per-core rates divide rows by the CPU time (user + system, /proc) of this process and, beside
//! it, of the ClickHouse server (its pid from .services/clickhouse/clickhouse.pid, when readable).
//!
//! `cargo bench -p friction-benches --bench warehouse`
//! (env: WAREHOUSE_EVENTS, default 200000; WAREHOUSE_DELAY_BATCHES, default 20, 0 skips)

use std::time::{Duration, Instant};

use clickhouse::Client;
use friction_benches::stream;
use friction_runtime::kafka::{producer_config, EmbeddedBroker};
use friction_runtime::stage::{spawn_stage, Outputs, StageHandler};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec};
use friction_warehouse::rows::EventRow;
use friction_warehouse::writer::insert_once;
use friction_warehouse::{ClickHouseConfig, WarehouseConfig, WarehouseHandler};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// User + system CPU seconds of process `pid` ("self" for this one), from /proc.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn clickhouse_pid() -> Option<String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.services/clickhouse/clickhouse.pid");
    std::fs::read_to_string(root).ok().map(|s| s.trim().to_string())
}

struct Cpu {
    wall: Instant,
    own: f64,
    server: Option<f64>,
}

impl Cpu {
    fn start() -> Cpu {
        Cpu {
            wall: Instant::now(),
            own: cpu_seconds("self").unwrap_or(0.0),
            server: clickhouse_pid().and_then(|p| cpu_seconds(&p)),
        }
    }
    /// (wall s, own CPU s, server CPU s)
    fn stop(&self) -> (f64, f64, Option<f64>) {
        let own = cpu_seconds("self").unwrap_or(0.0) - self.own;
        let server = match (self.server, clickhouse_pid().and_then(|p| cpu_seconds(&p))) {
            (Some(a), Some(b)) => Some(b - a),
            _ => None,
        };
        (self.wall.elapsed().as_secs_f64(), own, server)
    }
}

struct Row {
    name: &'static str,
    rows: usize,
    wall: f64,
    own: f64,
    server: Option<f64>,
    notes: String,
}

fn print(rows: &[Row]) {
    let base = rows.iter().find(|r| r.name.starts_with("baseline")).map(|r| r.rows as f64 / r.wall);
    println!("| run | rows | wall | rows/s | vs bare inserter | client CPU | rows/s per client core | ClickHouse CPU | notes |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let rate = r.rows as f64 / r.wall;
        let per_core = if r.own > 0.0 { format!("{:.0}", r.rows as f64 / r.own) } else { "–".into() };
        println!(
            "| {} | {} | {:.3} s | {:.0} | {} | {:.2} s | {} | {} | {} |",
            r.name,
            r.rows,
            r.wall,
            rate,
            base.map(|b| format!("{:.3}", rate / b)).unwrap_or_default(),
            r.own,
            per_core,
            r.server.map(|s| format!("{s:.2} s")).unwrap_or_else(|| "–".into()),
            r.notes
        );
    }
}

async fn fresh_database(url: &str, name: &str) -> (ClickHouseConfig, Client) {
    let db = format!("bench_{name}_{}", std::process::id());
    let config = ClickHouseConfig { database: db.clone(), ..ClickHouseConfig::new(url) };
    let client = config.client().expect("client");
    client
        .clone()
        .with_database("system")
        .query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await
        .expect("drop");
    friction_warehouse::migrate(&client, &db).await.expect("migrate");
    (config, client)
}

async fn drop_database(client: &Client, config: &ClickHouseConfig) {
    let _ = client
        .clone()
        .with_database("system")
        .query(&format!("DROP DATABASE IF EXISTS {}", config.database))
        .execute()
        .await;
}

async fn stored(client: &Client) -> u64 {
    client.query("SELECT count() FROM events").fetch_one::<u64>().await.unwrap_or(0)
}

fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let Some(url) = std::env::var("FRICTION_TEST_CLICKHOUSE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("warehouse bench skipped: FRICTION_TEST_CLICKHOUSE_URL is not set (scripts/services.sh start clickhouse && source .services/env)");
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let delay_batches = env_num("WAREHOUSE_DELAY_BATCHES", 20) as usize;
    let s = stream::interleaved(env_num("WAREHOUSE_EVENTS", 200_000) as usize, 2_000, 7);
    let records = s.records;
    let n = records.len();
    let payloads: Vec<Vec<u8>> = records.iter().map(|r| encode_to_vec(r).expect("encode")).collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    println!(
        "stream: {} events, {} sessions, {:.0} bytes per Avro payload; ClickHouse at {url}{}",
        records.len(),
        s.sessions,
        bytes as f64 / records.len() as f64,
        if clickhouse_pid().is_some() { " (server CPU measured)" } else { "" }
    );
    let mut results = Vec::new();

    // Components.
    let cpu = Cpu::start();
    let decoded: Vec<Sessionized<'static>> = payloads.iter().map(|p| decode(p).expect("decode")).collect();
    let (wall, own, _) = cpu.stop();
    results.push(Row {
        name: "component: Avro-decode every payload",
        rows: n,
        wall,
        own,
        server: None,
        notes: String::new(),
    });
    let cpu = Cpu::start();
    let rows: Vec<EventRow> = decoded.iter().map(EventRow::from).collect();
    let (wall, own, _) = cpu.stop();
    results
        .push(Row { name: "component: record → EventRow", rows: n, wall, own, server: None, notes: String::new() });
    drop(decoded);

    // Baseline: bare inserter, rows ready.
    rt.block_on(async {
        let (config, client) = fresh_database(&url, "bare").await;
        let cpu = Cpu::start();
        for chunk in rows.chunks(50_000) {
            insert_once(&client, "events", chunk, Duration::from_secs(60)).await.expect("insert");
        }
        let (wall, own, server) = cpu.stop();
        assert_eq!(stored(&client).await, n as u64);
        results.push(Row {
            name: "baseline: bare clickhouse inserter, rows ready, 50,000 per INSERT",
            rows: n,
            wall,
            own,
            server,
            notes: String::new(),
        });
        drop_database(&client, &config).await;
    });

    // The handler as the runtime drives it.
    {
        let (config, client) = rt.block_on(fresh_database(&url, "handler"));
        let mut handler = WarehouseHandler::new(&WarehouseConfig::new(config.clone())).expect("handler");
        let mut out = Outputs::default();
        let cpu = Cpu::start();
        for (i, p) in payloads.iter().enumerate() {
            handler.on_message(0, i as i64, None, p, 0, &mut out).expect("message");
            if (i + 1) % 50_000 == 0 {
                handler.persist(&mut out).expect("persist");
            }
        }
        handler.persist(&mut out).expect("persist");
        let (wall, own, server) = cpu.stop();
        rt.block_on(async {
            assert_eq!(stored(&client).await, n as u64);
            drop_database(&client, &config).await;
        });
        results.push(Row {
            name: "WarehouseHandler: on_message (decode, convert) + persist every 50,000",
            rows: n,
            wall,
            own,
            server,
            notes: String::new(),
        });
    }

    // Through the broker, and the delay to queryable.
    let broker = EmbeddedBroker::start(&friction_runtime::topics::catalogue()).expect("embedded broker");
    let kafka = KafkaArgs::with_brokers(broker.bootstrap_servers());
    let topic = friction_runtime::topics::SESSIONIZED;
    let mut delays = Vec::new();
    rt.block_on(async {
        let producer: FutureProducer = producer_config(&kafka).expect("cfg").create().expect("producer");
        let mut acks = Vec::with_capacity(payloads.len());
        for (r, p) in records.iter().zip(&payloads) {
            acks.push(producer.send_result(FutureRecord::to(topic).key(&r.key()).payload(p)).expect("queued"));
            if acks.len() >= 10_000 {
                for a in acks.drain(..) {
                    a.await.expect("delivered").expect("acked");
                }
            }
        }
        for a in acks {
            a.await.expect("delivered").expect("acked");
        }
        let (config, client) = fresh_database(&url, "stage").await;
        let wh = WarehouseConfig::new(config.clone());
        let shutdown = Shutdown::new();
        let cpu = Cpu::start();
        let thread = spawn_stage(
            wh.stage_config("bench-warehouse"),
            &kafka,
            WarehouseHandler::new(&wh).expect("handler"),
            shutdown.clone(),
            None,
        )
        .expect("stage");
        while stored(&client).await < n as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let (wall, own, server) = cpu.stop();
        results.push(Row {
            name: "warehouse stage through the broker (mock cluster), group join included",
            rows: n,
            wall,
            own,
            server,
            notes: "default batch limits (50,000 rows / 16 MiB / 1 s)".into(),
        });

        for b in 0..delay_batches {
            let batch: Vec<(String, Vec<u8>, String)> = (0..200)
                .map(|i| {
                    let mut r = records[(b * 200 + i) % records.len()].clone();
                    r.event.event_id = format!("delay-{b}-{i}").into();
                    (r.key(), encode_to_vec(&r).expect("encode"), r.event.event_id.to_string())
                })
                .collect();
            let mut acks = Vec::new();
            for (key, payload, _) in &batch {
                acks.push(producer.send_result(FutureRecord::to(topic).key(key).payload(payload)).expect("queued"));
            }
            for a in acks {
                a.await.expect("delivered").expect("acked");
            }
            let acked = Instant::now();
            let sql = format!("SELECT count() FROM events WHERE event_id LIKE 'delay-{b}-%'");
            loop {
                let c: u64 = client.query(&sql).fetch_one().await.unwrap_or(0);
                if c >= 200 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            delays.push(acked.elapsed().as_secs_f64() * 1000.0);
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        shutdown.trigger();
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        drop_database(&client, &config).await;
    });

    println!();
    print(&results);
    if !delays.is_empty() {
        let each: Vec<String> = delays.iter().map(|d| format!("{d:.0}")).collect();
        println!("\ndelays in produce order, ms: {}", each.join(" "));
        delays.sort_by(f64::total_cmp);
        let pct = |p: f64| delays[((delays.len() as f64 - 1.0) * p).round() as usize];
        println!();
        println!(
            "delay, producer ack → all 200 rows of a batch queryable ({} batches): p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms",
            delays.len(),
            pct(0.5),
            pct(0.9),
            pct(1.0)
        );
    }
}
