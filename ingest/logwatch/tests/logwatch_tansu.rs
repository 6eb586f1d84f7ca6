//! friction-logwatch against a real gateway whose Kafka sink writes to tansu: rotation by rename and
//! by copy-truncate while the log is written, a SIGKILL of the real binary mid-file and a restart,
//! a 10,000-line file of stack traces, and a gateway that answers 503 for a while. Every line must
//! arrive under one event id, none missing; copies of a line (at least once) carry its id.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{args, gateway, lines, tempdir, Topic, KEY};
use friction_runtime::Shutdown;

/// Generous: the broker is shared with other tests; every wait ends as soon as its condition holds.
const WAIT: Duration = Duration::from_secs(180);

/// The binary under test, killed (SIGKILL) when dropped, so a failing test leaves no process behind.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn append(path: &std::path::Path, lines: &[String]) {
    let mut f = OpenOptions::new().create(true).append(true).open(path).expect("open log");
    let mut text = lines.join("\n");
    text.push('\n');
    f.write_all(text.as_bytes()).expect("write");
}

/// Waits until every expected line arrived, then a little longer for anything behind them; checks
/// each arrived under one id and nothing else came. Returns the copies (resent lines).
fn expect_all(topic: &mut Topic, expected: &[String]) -> usize {
    topic.wait_until(WAIT, "every line", |t| t.distinct() >= expected.len());
    topic.settle(Duration::from_millis(500));
    topic.assert_each_once(expected)
}

/// `dir/app.log` with its first line, and a logwatch tailing `dir/*.log` as service `pos`.
fn watch_app_log(
    gw: &common::Gateway,
    dir: &std::path::Path,
    first: &str,
) -> (std::path::PathBuf, Shutdown, friction_logwatch::LogwatchHandle) {
    let log = dir.join("app.log");
    append(&log, &[first.to_string()]);
    let shutdown = Shutdown::new();
    let lw = friction_logwatch::spawn(args(gw, "pos", &dir.join("*.log"), &dir.join("state")), shutdown.clone())
        .expect("logwatch");
    (log, shutdown, lw)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_rename_while_writing_delivers_every_line_once() {
    let Some(gw) = gateway("rotation_by_rename_while_writing_delivers_every_line_once").await else { return };
    let (_dir, dir) = tempdir();
    let expected = lines("rename", 0, 3000);
    let (log, shutdown, lw) = watch_app_log(&gw, &dir, &expected[0]);
    let writer = {
        let (log, dir, expected) = (log.clone(), dir.clone(), expected.clone());
        std::thread::spawn(move || {
            let mut f = OpenOptions::new().append(true).open(&log).expect("open");
            for (i, line) in expected.iter().enumerate().skip(1) {
                if i == 1500 {
                    // logrotate's `create`: rename, a new file at the path; the app writes a few
                    // more lines to its old handle before it reopens.
                    std::fs::rename(&log, dir.join("app.log.1")).expect("rename");
                }
                if i == 1520 {
                    f = OpenOptions::new().create(true).append(true).open(&log).expect("reopen");
                }
                writeln!(f, "{line}").expect("write");
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    let mut topic = Topic::new(&gw.topic);
    expect_all(&mut topic, &expected);
    writer.join().expect("writer");
    shutdown.trigger();
    lw.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_by_copy_truncate_while_writing_delivers_every_line_once() {
    let Some(gw) = gateway("rotation_by_copy_truncate_while_writing_delivers_every_line_once").await else { return };
    let (_dir, dir) = tempdir();
    let expected = lines("copytrunc", 0, 3000);
    let (log, shutdown, lw) = watch_app_log(&gw, &dir, &expected[0]);
    // The writer holds the lock while it writes a line; the test takes it to rotate.
    let lock = Arc::new(Mutex::new(()));
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(1));
    let writer = {
        let (log, expected, lock, written) = (log.clone(), expected.clone(), lock.clone(), written.clone());
        std::thread::spawn(move || {
            let mut f = OpenOptions::new().append(true).open(&log).expect("open");
            for (i, line) in expected.iter().enumerate().skip(1) {
                {
                    let _g = lock.lock().expect("lock");
                    writeln!(f, "{line}").expect("write");
                    written.store(i + 1, Ordering::SeqCst);
                }
                if i % 20 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        })
    };
    let mut topic = Topic::new(&gw.topic);
    // Rotate while the writer is at line 1000 or so, whatever the tailer has read by then.
    let deadline = std::time::Instant::now() + WAIT;
    while written.load(Ordering::SeqCst) < 1000 {
        assert!(std::time::Instant::now() < deadline, "the writer is stuck");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    {
        // copytruncate loses what the app writes between the copy and the truncation unless the
        // tailer has read it: hold the writer until everything written so far arrived.
        let _g = lock.lock().expect("lock");
        let n = written.load(Ordering::SeqCst);
        topic.wait_until(WAIT, "the lines written before the rotation", |t| t.distinct() >= n);
        std::fs::copy(&log, dir.join("app.log.1")).expect("copy");
        OpenOptions::new().write(true).open(&log).expect("open").set_len(0).expect("truncate");
        assert!(n < 2000, "rotated mid-writing ({n} lines written)");
    }
    expect_all(&mut topic, &expected);
    writer.join().expect("writer");
    shutdown.trigger();
    lw.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_file_and_restart_delivers_every_line_once() {
    let Some(gw) = gateway("sigkill_mid_file_and_restart_delivers_every_line_once").await else { return };
    let (_dir, dir) = tempdir();
    let log = dir.join("big.log");
    let expected = lines("kill", 0, 4_000);
    append(&log, &expected);
    // Each run picks its admin port (0) and logs it (JSON); the test reads it from stderr.
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_friction-logwatch"))
            .args(["--watch", &format!("pos={}", log.display())])
            .args(["--gateway-url", &gw.url, "--batch-size", "200", "--batch-interval-ms", "10"])
            .args(["--checkpoint-dir", &dir.join("state").display().to_string()])
            .args(["--admin-addr", "127.0.0.1:0", "--scan-interval-ms", "100", "--poll-max-ms", "20"])
            .env("FRICTION_API_KEY", KEY)
            .env("FRICTION_LOG", "info")
            .env("FRICTION_LOG_FORMAT", "json")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("friction-logwatch starts");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
                if let Some(addr) = v["admin"].as_str() {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let admin = rx.recv_timeout(Duration::from_secs(60)).expect("the admin address is logged");
        (Child(child), admin)
    };
    let began = std::time::Instant::now();
    let (mut first, _) = start();
    let mut topic = Topic::new(&gw.topic);
    // Kill as soon as a first batch is in the checkpoint (the topic's reader lags behind).
    let checkpoint = dir.join("state").join("checkpoints.json");
    let offset = || -> u64 {
        let text = std::fs::read_to_string(&checkpoint).unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        v["files"][0]["offset"].as_u64().unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + WAIT;
    while offset() == 0 {
        assert!(std::time::Instant::now() < deadline, "nothing was acknowledged");
        std::thread::sleep(Duration::from_millis(2));
    }
    first.0.kill().expect("SIGKILL");
    first.0.wait().expect("reaped");
    let size = std::fs::metadata(&log).expect("size").len();
    let at = offset();
    eprintln!("killed after {:?} at offset {at} of {size}", began.elapsed());
    assert!(at < size, "killed mid-file");
    let (second, admin) = start();
    let copies = expect_all(&mut topic, &expected);
    eprintln!("all delivered after {:?}", began.elapsed());
    // At least once: what was acknowledged but not yet in the checkpoint is sent again, with its
    // ids; the checkpoint keeps that to about a batch.
    assert!(copies <= 400, "{copies} copies: the checkpoint did not hold");
    // /metrics of the second run: lines read, records sent, lag.
    let metrics = reqwest::get(format!("http://{admin}/metrics")).await.expect("metrics").text().await.expect("body");
    for name in
        ["friction_logwatch_lines_read_total", "friction_logwatch_records_sent_total", "friction_logwatch_lag_bytes"]
    {
        assert!(metrics.contains(name), "{name} missing from /metrics: {metrics}");
    }
    drop(second);
}

/// One of each kind of record, as the lines a program writes; returns the lines.
fn trace(kind: usize, n: usize) -> Vec<String> {
    match kind {
        0 => vec![format!("2024-01-15 10:00:{:02} INFO request {n} served", n % 60)],
        1 => vec![
            format!("2024-01-15 10:00:00 ERROR checkout {n} failed"),
            "java.lang.IllegalStateException: MISSING_PRICE".into(),
            "\tat com.pos.Cart.total(Cart.java:42)".into(),
            "\tat com.pos.Checkout.run(Checkout.java:7)".into(),
            "Caused by: java.lang.NullPointerException".into(),
            "\t... 2 more".into(),
        ],
        2 => vec![
            format!("ERROR:pos:charge {n} failed"),
            "Traceback (most recent call last):".into(),
            "  File \"pos.py\", line 3, in charge".into(),
            "    price = prices[product]".into(),
            "KeyError: 999".into(),
        ],
        3 => vec![
            format!("Error: no price for product {n}"),
            "    at total (/app/cart.js:10:5)".into(),
            "    at main (/app/index.js:3:1)".into(),
        ],
        _ => vec![
            "thread 'main' panicked at src/cart.rs:42:9:".into(),
            format!("no price for product {n}"),
            "stack backtrace:".into(),
            "   0: pos::cart::total".into(),
            "             at ./src/cart.rs:42:9".into(),
            "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.".into(),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_lines_of_stack_traces_become_the_right_records() {
    let Some(gw) = gateway("ten_thousand_lines_of_stack_traces_become_the_right_records").await else { return };
    let (_dir, dir) = tempdir();
    let log = dir.join("traces.log");
    let mut all_lines = Vec::new();
    let mut records = 0usize;
    let mut n = 0usize;
    while all_lines.len() < 10_000 {
        let mut next = trace(n % 5, n);
        if all_lines.len() + next.len() > 10_000 {
            next = trace(0, n);
        }
        all_lines.extend(next);
        records += 1;
        n += 1;
    }
    assert_eq!(all_lines.len(), 10_000);
    append(&log, &all_lines);
    let shutdown = Shutdown::new();
    let lw = friction_logwatch::spawn(args(&gw, "pos", &log, &dir.join("state")), shutdown.clone()).expect("logwatch");
    let mut topic = Topic::new(&gw.topic);
    topic.wait_until(WAIT, "every record", |t| t.distinct() >= records);
    topic.settle(Duration::from_millis(800));
    // Copies (a retried request) would carry the same id: count ids.
    assert_eq!(topic.distinct(), records, "{} lines must become {records} records", all_lines.len());
    let java = topic.all.iter().find(|(_, m, _)| m.contains("IllegalStateException")).expect("a Java record");
    assert!(java.1.starts_with("2024-01-15 10:00:00 ERROR checkout") && java.1.ends_with("\t... 2 more"), "{}", java.1);
    let rust = topic.all.iter().find(|(_, m, _)| m.starts_with("thread 'main'")).expect("a Rust record");
    assert!(rust.1.contains("no price for product") && rust.1.contains("RUST_BACKTRACE"), "{}", rust.1);
    assert_eq!(java.2.get("file").map(String::as_str), Some(log.display().to_string().as_str()));
    shutdown.trigger();
    lw.join().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_outage_is_buffered_and_delivered_after() {
    let Some(gw) = gateway("a_gateway_outage_is_buffered_and_delivered_after").await else { return };
    let (_dir, dir) = tempdir();
    let log = dir.join("app.log");
    let patterns = dir.join("patterns.yaml");
    std::fs::write(
        &patterns,
        "patterns:\n  - name: MISSING_PRICE\n    regex: 'MISSING_PRICE product=(?P<product>\\d+)'\n    level: error\n",
    )
    .expect("patterns");
    let mut expected = lines("outage", 0, 2000);
    expected.push("WARN MISSING_PRICE product=999 order=o-1".into());
    append(&log, &expected);
    gw.sink.down.store(true, Ordering::SeqCst);
    let mut a = args(&gw, "pos", &log, &dir.join("state"));
    a.tail.buffer_records = 50; // reading pauses at 50 records
    a.tail.batch_size = 100;
    a.tail.patterns = Some(patterns);
    let shutdown = Shutdown::new();
    let lw = friction_logwatch::spawn(a, shutdown.clone()).expect("logwatch");
    // Wait until the gateway refused a few times.
    let deadline = std::time::Instant::now() + WAIT;
    while gw.sink.refused.load(Ordering::SeqCst) < 3 {
        assert!(std::time::Instant::now() < deadline, "logwatch never retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut topic = Topic::new(&gw.topic);
    topic.settle(Duration::from_millis(300));
    assert!(topic.all.is_empty(), "nothing reaches the topic while the broker is down");
    // Nothing was acknowledged, so no offset moved.
    if let Ok(text) = std::fs::read_to_string(dir.join("state").join("checkpoints.json")) {
        let v: serde_json::Value = serde_json::from_str(&text).expect("checkpoint json");
        let files = v["files"].as_array().cloned().unwrap_or_default();
        assert!(files.iter().all(|f| f["offset"] == 0), "{text}");
    }
    gw.sink.down.store(false, Ordering::SeqCst);
    expect_all(&mut topic, &expected);
    let priced = topic.all.iter().find(|(_, m, _)| m.contains("MISSING_PRICE")).expect("the pattern line");
    assert_eq!(priced.2.get("pattern").map(String::as_str), Some("MISSING_PRICE"));
    assert_eq!(priced.2.get("product").map(String::as_str), Some("999"));
    shutdown.trigger();
    lw.join().await;
}
