//! friction-logwatch throughput: lines per second, and per CPU-second, from a log file to
//! acknowledged 202s (docs/operators.md "Tailing log files"; target ≥ 200,000 lines/s per core).
//!
//! The receiving end is a bare axum handler answering 202 without parsing, so the measurement is
//! the tailer's and the shipper's work: reading, joining lines (one in five records carries a
//! four-line stack trace), parsing, matching a pattern rule, serialising, batching, posting, and the
//! checkpoint written after each acknowledgement. The run ends when the checkpoint's offset reaches
//! the file's size (every record acknowledged).
//!
//! `cargo bench -p friction-benches --bench logwatch` (env: BENCH_LINES, default 1,000,000).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use friction_logwatch::{LogwatchArgs, TailArgs, WatchSpec};
use friction_runtime::Shutdown;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// This process's CPU time (user + system), from /proc (Linux; zero elsewhere).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Writes `lines` lines: mostly single-line records, every fifth record a Java trace.
fn write_log(path: &std::path::Path, lines: u64) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("log file"));
    let mut written = 0u64;
    let mut n = 0u64;
    while written < lines {
        if n % 5 == 4 && written + 4 <= lines {
            writeln!(f, "2024-01-15T10:00:00.123Z ERROR MISSING_PRICE product={} order=o-{n}", n % 1000)
                .expect("write");
            writeln!(f, "java.lang.IllegalStateException: no price").expect("write");
            writeln!(f, "\tat com.pos.Cart.total(Cart.java:42)").expect("write");
            writeln!(f, "\tat com.pos.Checkout.run(Checkout.java:7)").expect("write");
            written += 4;
        } else {
            writeln!(f, "2024-01-15T10:00:00.123Z INFO request {n} served in 12 ms for user u-{}", n % 977)
                .expect("write");
            written += 1;
        }
        n += 1;
    }
    f.flush().expect("flush");
    n
}

#[tokio::main]
async fn main() {
    friction_runtime::allocator::tune();
    let lines = env_num("BENCH_LINES", 1_000_000);
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    let records = write_log(&log, lines);
    let size = std::fs::metadata(&log).expect("size").len();

    let requests = Arc::new(AtomicU64::new(0));
    let counter = requests.clone();
    let app = Router::new().route(
        "/v1/logs",
        post(move |body: Bytes| {
            let counter = counter.clone();
            async move {
                std::hint::black_box(body);
                counter.fetch_add(1, Ordering::Relaxed);
                (StatusCode::ACCEPTED, r#"{"accepted":0,"rejected":[]}"#)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });

    let patterns = dir.path().join("patterns.yaml");
    std::fs::write(
        &patterns,
        "patterns:\n  - name: MISSING_PRICE\n    regex: 'MISSING_PRICE product=(?P<product>\\d+)'\n",
    )
    .expect("patterns");
    let args = LogwatchArgs {
        watch: vec![WatchSpec { service: "pos".into(), glob: log.display().to_string() }],
        gateway_url: format!("http://{addr}"),
        api_key: "bench".into(),
        tail: TailArgs {
            checkpoint_dir: dir.path().join("state"),
            patterns: Some(patterns),
            batch_interval_ms: 5,
            ..TailArgs::default()
        },
    };
    let checkpoint = dir.path().join("state").join("checkpoints.json");
    let shutdown = Shutdown::new();
    let cpu0 = cpu_seconds();
    let started = Instant::now();
    let handle = friction_logwatch::spawn(args, shutdown.clone()).expect("logwatch");
    let needle = format!("\"offset\": {size}");
    loop {
        if std::fs::read_to_string(&checkpoint).is_ok_and(|c| c.contains(&needle)) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(600), "not done after 10 minutes");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = started.elapsed().as_secs_f64();
    let cpu = (cpu_seconds() - cpu0).max(0.01);
    shutdown.trigger();
    handle.join().await;
    println!(
        "logwatch: {lines} lines ({records} records, {:.1} MiB) acknowledged in {wall:.2} s: {:.0} lines/s, \
         {:.0} lines per CPU-second (process CPU {cpu:.2} s, receiver included), {} requests",
        size as f64 / 1_048_576.0,
        lines as f64 / wall,
        lines as f64 / cpu,
        requests.load(Ordering::Relaxed),
    );
}
