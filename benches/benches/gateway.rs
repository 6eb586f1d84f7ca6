//! Gateway throughput and latency against a bare axum handler that parses the same JSON and drops
//! it, in one run on one machine (docs/architecture.md §9: ≥ 70 % of the baseline's events/s; p99 ≤ 20 ms at half
//! that load).
//!
//! `cargo bench -p friction-benches --bench gateway` (env: BENCH_SECONDS, default 10;
//! BENCH_CONNECTIONS, default 32; BENCH_BATCH, default 50; FRICTION_BENCH_BROKERS to produce to a
//! real broker instead of the embedded one).

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use friction_benches::{realistic_batch, run_load};
use friction_gateway::GatewayArgs;
use friction_runtime::kafka::{producer_config, EmbeddedBroker};
use friction_runtime::{Health, KafkaArgs, Shutdown};
use friction_schemas::{encode_to_vec, hash_api_key, ApiKeyRecord};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

async fn baseline(body: Bytes) -> StatusCode {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => {
            std::hint::black_box(v);
            StatusCode::ACCEPTED
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

#[tokio::main]
async fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let seconds = env_num("BENCH_SECONDS", 10);
    let connections = env_num("BENCH_CONNECTIONS", 32) as usize;
    let batch = env_num("BENCH_BATCH", 50) as usize;
    let duration = Duration::from_secs(seconds);

    let (_embedded, brokers) = match std::env::var("FRICTION_BENCH_BROKERS") {
        Ok(b) => (None, b),
        Err(_) => {
            let e = EmbeddedBroker::start(&friction_runtime::topics::catalogue()).expect("embedded broker");
            let b = e.bootstrap_servers().to_string();
            (Some(e), b)
        }
    };
    let kafka = KafkaArgs::with_brokers(&brokers);
    let secret = "frk_bench_key";
    let record = ApiKeyRecord {
        key_hash: hash_api_key(secret),
        key_id: "bench".into(),
        project_id: "benchproject0001".into(),
        project_name: "bench".into(),
        revoked: false,
        allowed_origins: vec![],
        rate_limit_per_sec: Some(1e12),
        updated_at: 0,
        mac: None,
    };
    let producer: FutureProducer = producer_config(&kafka).expect("config").create().expect("producer");
    producer
        .send(
            FutureRecord::to(friction_runtime::topics::APIKEYS)
                .key(&record.key_hash)
                .payload(&encode_to_vec(&record).expect("encode")),
            Duration::from_secs(10),
        )
        .await
        .expect("key published");

    let shutdown = Shutdown::new();
    let config = GatewayArgs {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        rate_limit_burst: 1e12,
        rate_limit_per_sec: 1e12,
        ..GatewayArgs::default()
    };
    let gw = friction_gateway::start(config, &kafka, &Health::default(), shutdown.clone()).await.expect("gateway");
    while !gw.keys.is_ready() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let gateway_url = format!("http://{}/v1/events", gw.addr);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let baseline_addr = listener.local_addr().expect("addr");
    let app = Router::new().route("/v1/events", post(baseline));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let baseline_url = format!("http://{baseline_addr}/v1/events");

    let bodies: Vec<bytes::Bytes> = (0..256).map(|s| bytes::Bytes::from(realistic_batch(s, batch))).collect();
    let avg_bytes = bodies.iter().map(|b| b.len()).sum::<usize>() / bodies.len();
    println!("batches of {batch} events (~{avg_bytes} bytes), {connections} connections, {seconds} s per run, broker {brokers}");

    // Warm both up.
    run_load(&baseline_url, secret, &bodies, batch, connections, Duration::from_secs(1), None).await;
    run_load(&gateway_url, secret, &bodies, batch, connections, Duration::from_secs(1), None).await;

    let mut base = run_load(&baseline_url, secret, &bodies, batch, connections, duration, None).await;
    let mut gate = run_load(&gateway_url, secret, &bodies, batch, connections, duration, None).await;
    let half_rate = gate.batches as f64 / gate.elapsed.as_secs_f64() / 2.0;
    let mut half = run_load(&gateway_url, secret, &bodies, batch, connections, duration, Some(half_rate)).await;

    let ratio = gate.events_per_sec() / base.events_per_sec();
    println!("| run | events/s | p50 ms | p99 ms | failed batches |");
    println!("|---|---:|---:|---:|---:|");
    for (name, r) in [
        ("baseline: axum, parse JSON, drop", &mut base),
        ("gateway, max load", &mut gate),
        ("gateway, half load", &mut half),
    ] {
        let (p50, p99) = (r.percentile_ms(0.50), r.percentile_ms(0.99));
        println!("| {name} | {:.0} | {p50:.2} | {p99:.2} | {} |", r.events_per_sec(), r.failures);
    }
    println!(
        "gateway / baseline events/s = {:.1} % (target ≥ 70 %); p99 at half load = {:.2} ms (target ≤ 20 ms)",
        ratio * 100.0,
        half.percentile_ms(0.99)
    );
    shutdown.trigger();
}
