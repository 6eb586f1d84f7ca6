//! Real time (issue 17, docs/architecture.md §4 "Time: decide early, settle later" and §9): how
//! long from the gateway's 202 for the batch that completes the evidence to a confirmed incident
//! and to a ticket in a (fake) Jira, and what deciding early costs in corrections.
//!
//! 1. **Through `friction up`** (the release binary, embedded broker, SQLite, a Jira integration
//!    added with `friction integrations add` against `friction_test_support::fakes`) and **through
//!    the separate binaries on tansu** (`friction-gateway`, `-sessionizer`, `-detector`,
//!    `-incidents`, `-exporter`; `FRICTION_TEST_BROKERS`, skipped when unset): `LATENCY_INCIDENTS`
//!    rounds of three sessions rage-clicking a dead button (its own button per round), timed from
//!    the 202 of the third session's batch (the one with the last click; the user then idle) to
//!    the incident's first `confirmed` change on `friction.incidents.v1` and to the ticket's
//!    creation in the fake Jira; and `LATENCY_LOGS` `MISSING_PRICE`-style error lines (a message of
//!    their own each), from the line's 202.
//! 2. **Corrections** on the labelled quality corpus (the detector_quality bench's,
//!    `src/corpus.rs`), replayed through `friction_detector::PartitionDetector` in process with a
//!    simulated wall clock and realistic SDK delivery: each session's events go out in batches (every
//!    20 events or 1 s after the first waiting one, as the SDK's defaults), each batch arrives 0–2 s
//!    later (so some arrive out of order), and the stage judges every 200 ms (its tick). Per early
//!    grace (`LATENCY_GRACES`): retracted records / distinct signal ids, and precision/recall next to
//!    today's table (`detect` on closed sessions, what detector_quality prints as "ours").
//!
//! Targets and verdicts are printed at the end. Needs the release binaries next to the bench
//! (`cargo build --release -p friction-cli -p friction-gateway -p friction-sessionizer
//! -p friction-detector -p friction-incidents -p friction-exporter`); a missing one skips its part,
//! saying so.
//!
//! `cargo bench -p friction-benches --bench latency` (env: LATENCY_INCIDENTS, default 100;
//! LATENCY_LOGS, default 100; LATENCY_ONLY=up|tansu|quality; LATENCY_GRACES, default
//! 0,250,500,1000,2000; QUALITY_SESSIONS, default 6000; QUALITY_SEED, default 20261122;
//! LATENCY_BIN_DIR, default the bench's own target/release).

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use friction_benches::anchors::Pred;
use friction_benches::corpus::{self, Kind, LabelledSession};
use friction_benches::quality::{self, Detector, Report, Tally};
use friction_benches::rng::Rng;
use friction_benches::stream::to_sessionized;
use friction_detector::{DetectorConfig, PartitionDetector, RulesByProject};
use friction_exporter::integration::add_integration;
use friction_exporter::{IntegrationConfig, Kind as TrackerKind, MasterKey, NewIntegration, Secret};
use friction_rules::Rules;
use friction_schemas::{IncidentChange, SignalRecord};
use friction_test_support::fakes::{jira_basic, Api, Fake};
use friction_test_support::payloads::rage_batch;
use friction_test_support::KillOnDrop;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde_json::json;

const EMAIL: &str = "bench@acme.com";
const TOKEN: &str = "ATATT3xFfGF0-latency-bench";
/// Seconds between rounds (three rage sessions each) and between log lines: several incidents in
/// flight at once, as in a shop with a real fault.
const ROUND_GAP: Duration = Duration::from_millis(300);
const LOG_GAP: Duration = Duration::from_millis(200);
/// How long the last incident may take before it counts as missing.
const SETTLE: Duration = Duration::from_secs(90);

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Where the release binaries are: `LATENCY_BIN_DIR`, else the directory above this bench's
/// (`target/release/deps/latency-*` → `target/release`).
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LATENCY_BIN_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(Path::parent).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

/// The binaries that `bins` names in [`bin_dir`], or the first one missing.
fn binaries(bins: &[&str]) -> Result<Vec<PathBuf>, String> {
    let dir = bin_dir();
    bins.iter()
        .map(|b| {
            let p = dir.join(b);
            if p.is_file() {
                Ok(p)
            } else {
                Err(format!("{} is missing (cargo build --release -p friction-cli -p friction-gateway -p friction-sessionizer -p friction-detector -p friction-incidents -p friction-exporter)", p.display()))
            }
        })
        .collect()
}

/// Nearest-rank percentile of sorted durations.
fn pct(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    Some(sorted[((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
}

/// One measured path: delays of the rounds that arrived, and how many never did.
#[derive(Default, Clone)]
struct Delays {
    got: Vec<Duration>,
    missing: usize,
}

impl Delays {
    fn sorted(&self) -> Vec<Duration> {
        let mut v = self.got.clone();
        v.sort();
        v
    }
    fn p(&self, q: f64) -> Option<Duration> {
        pct(&self.sorted(), q)
    }
    /// p99 within `target` and nothing missing.
    fn meets(&self, target: Duration) -> bool {
        self.missing == 0 && self.p(0.99).is_some_and(|p| p <= target)
    }
}

/// The four delays of one pipeline.
#[derive(Default, Clone)]
struct E2e {
    rage_incident: Delays,
    rage_ticket: Delays,
    log_incident: Delays,
    log_ticket: Delays,
}

/// First `confirmed` change per incident id seen on the incidents topic: when, kind, element key.
type Confirmed = Arc<Mutex<HashMap<String, (Instant, String, String)>>>;

/// Reads `topic` from its beginning on `brokers` until `stop`, noting when each incident was first
/// seen `confirmed` (the moment the console's live view would show it).
fn watch_confirmed(brokers: &str, topic: &str, stop: Arc<AtomicBool>) -> (Confirmed, std::thread::JoinHandle<()>) {
    let seen: Confirmed = Arc::default();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", friction_test_support::unique("latency.watch"))
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    let out = seen.clone();
    let topic = topic.to_owned();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        let partitions = loop {
            let n = consumer
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .ok()
                .and_then(|m| m.topics().first().map(|t| t.partitions().len()))
                .unwrap_or(0);
            if n > 0 || Instant::now() > deadline {
                break n;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            let _ = tpl.add_partition_offset(&topic, p, Offset::Beginning);
        }
        consumer.assign(&tpl).expect("assign");
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else { continue };
            let at = Instant::now();
            let Some(payload) = m.payload() else { continue };
            let Ok(change) = friction_schemas::decode::<IncidentChange>(payload) else { continue };
            if change.status == "confirmed" {
                let mut seen = out.lock().unwrap_or_else(|p| p.into_inner());
                seen.entry(change.id.clone()).or_insert((at, change.kind.clone(), change.element_key.clone()));
            }
        }
    });
    (seen, handle)
}

/// A code made of letters g–z only (the log normaliser keeps such words; digits and hex-like
/// words would become placeholders and merge the lines into one incident).
fn letters(mut i: usize) -> String {
    let mut s = String::new();
    loop {
        s.push((b'g' + (i % 20) as u8) as char);
        i /= 20;
        if i == 0 {
            return s;
        }
    }
}

fn log_line(code: &str) -> String {
    json!({"logs": [{"service": "pos", "level": "error", "timestamp": now_ms(),
        "message": format!("MISSING_PRICE_{code}: product 999 has no price (order 51234)"),
        "attributes": {"productId": "999", "orderId": "51234", "store": "berlin-3"}}]})
    .to_string()
}

/// What the load sent: per round / line, what identifies its incident and the 202's instant.
struct Sent {
    rage: Vec<(String, Instant)>,
    logs: Vec<(String, Instant)>,
}

async fn post(client: &friction_benches::HttpClient, url: &str, key: &str, body: String) -> Instant {
    let (status, answer) = friction_benches::post_json(client, url, key, body).await;
    assert_eq!(status, 202, "{url}: {answer}");
    Instant::now()
}

/// The load: `rounds` rage rounds every [`ROUND_GAP`] (their own button each, `{tag}-pay-{i}`),
/// then `lines` log lines every [`LOG_GAP`].
async fn send_load(gateway: &str, key: &str, tag: &str, rounds: usize, lines: usize) -> Sent {
    let client = friction_benches::http_client();
    let events = format!("http://{gateway}/v1/events");
    let logs = format!("http://{gateway}/v1/logs");
    let mut tasks = Vec::new();
    for i in 0..rounds {
        let (client, url, key, button) = (client.clone(), events.clone(), key.to_owned(), format!("{tag}-pay-{i}"));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(ROUND_GAP * i as u32).await;
            let mut accepted = Instant::now();
            for (s, user) in ["ann", "bob", "cem"].iter().enumerate() {
                let session = format!("{button}-s{s}");
                accepted =
                    post(&client, &url, &key, rage_batch(&session, &format!("{user}-{i}"), &button, now_ms())).await;
            }
            (button, accepted)
        }));
    }
    let mut rage = Vec::new();
    for t in tasks {
        rage.push(t.await.expect("round"));
    }
    let mut tasks = Vec::new();
    for i in 0..lines {
        let (client, url, key, code) = (client.clone(), logs.clone(), key.to_owned(), format!("{}{}", letters(i), tag));
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(LOG_GAP * i as u32).await;
            let accepted = post(&client, &url, &key, log_line(&code)).await;
            (code, accepted)
        }));
    }
    let mut logs = Vec::new();
    for t in tasks {
        logs.push(t.await.expect("line"));
    }
    Sent { rage, logs }
}

/// The delays of `sent` against what the watcher and the fake Jira saw, waiting up to [`SETTLE`]
/// for the last ones.
async fn measure(sent: &Sent, confirmed: &Confirmed, jira: &Fake) -> E2e {
    let deadline = Instant::now() + SETTLE;
    loop {
        let e = tally(sent, confirmed, jira);
        let missing = e.rage_incident.missing + e.rage_ticket.missing + e.log_incident.missing + e.log_ticket.missing;
        if missing == 0 || Instant::now() > deadline {
            return e;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn tally(sent: &Sent, confirmed: &Confirmed, jira: &Fake) -> E2e {
    let seen = confirmed.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let issues = jira.issues();
    let mut e = E2e::default();
    let one = |incident: &mut Delays, ticket: &mut Delays, pick: &dyn Fn(&str, &str) -> bool, at: Instant| match seen
        .iter()
        .find(|(_, (_, kind, element))| pick(kind, element))
    {
        Some((id, (when, _, _))) => {
            incident.got.push(when.saturating_duration_since(at));
            match issues.iter().filter(|i| i.body.contains(id.as_str())).map(|i| i.created).min() {
                Some(created) => ticket.got.push(created.saturating_duration_since(at)),
                None => ticket.missing += 1,
            }
        }
        None => {
            incident.missing += 1;
            ticket.missing += 1;
        }
    };
    for (button, at) in &sent.rage {
        let pick = |_: &str, element: &str| element == button;
        one(&mut e.rage_incident, &mut e.rage_ticket, &pick, *at);
    }
    for (code, at) in &sent.logs {
        let needle = format!("MISSING_PRICE_{code}:");
        let pick = |kind: &str, element: &str| kind == "server_error" && element.contains(&needle);
        one(&mut e.log_incident, &mut e.log_ticket, &pick, *at);
    }
    e
}

/// One untimed rage round first, so consumer-group joins and first connections are not measured.
async fn warm_up(gateway: &str, key: &str, tag: &str, confirmed: &Confirmed, jira: &Fake) {
    let started = Instant::now();
    let sent = send_load(gateway, key, &format!("{tag}warm"), 1, 0).await;
    let e = measure(&sent, confirmed, jira).await;
    if e.rage_ticket.missing > 0 {
        let seen = confirmed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let titles: Vec<String> = jira.issues().into_iter().map(|i| i.title).collect();
        panic!("{tag}: the warm-up round got no confirmed incident and ticket within {SETTLE:?}; confirmed changes seen: {seen:?}; tickets: {titles:?}");
    }
    println!("{tag}: warm-up round done in {:.1?}", started.elapsed());
}

fn print_e2e(name: &str, e: &E2e) {
    println!("\n{name}:\n");
    println!("| path | n | missing | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (what, d) in [
        ("rage: 202 of the completing batch → confirmed incident", &e.rage_incident),
        ("rage: → ticket in the fake Jira", &e.rage_ticket),
        ("log line: 202 → confirmed server_error incident", &e.log_incident),
        ("log line: → ticket", &e.log_ticket),
    ] {
        let s = d.sorted();
        println!(
            "| {what} | {} | {} | {} | {} | {} |",
            s.len(),
            d.missing,
            ms(pct(&s, 0.5)),
            ms(pct(&s, 0.99)),
            ms(s.last().copied())
        );
    }
}

/// A child's stdout first line and the stderr lines, read on threads (so its pipes never fill).
fn read_child(child: &mut Child) -> (String, mpsc::Receiver<String>) {
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut first = String::new();
    let mut out = BufReader::new(stdout);
    out.read_line(&mut first).expect("stdout line");
    std::thread::spawn(move || out.lines().map_while(Result::ok).for_each(drop));
    (first.trim().to_owned(), rx)
}

/// `friction up` (release binary) with a Jira integration added by `friction integrations add`.
async fn through_up(rounds: usize, lines: usize) -> Option<E2e> {
    let bins = match binaries(&["friction"]) {
        Ok(b) => b,
        Err(why) => {
            println!("friction up: SKIPPED: {why}");
            return None;
        }
    };
    let friction = &bins[0];
    let dir = tempfile::tempdir().expect("tmp");
    let master = MasterKey::random().to_hex();
    let jira = Fake::start(Api::Jira, &jira_basic(EMAIL, TOKEN)).await;
    let mut child = Command::new(friction)
        .args(["up", "--gateway-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .env("FRICTION_DATA_DIR", dir.path())
        .env("FRICTION_MASTER_KEY", &master)
        .env("FRICTION_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("FRICTION_BROKERS")
        .env_remove("CLICKHOUSE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("friction up starts");
    let (first, stderr) = read_child(&mut child);
    let _up = KillOnDrop(child);
    let key =
        first.strip_prefix("api key: ").unwrap_or_else(|| panic!("friction up's first line: {first:?}")).to_owned();
    let mut gateway = None;
    while gateway.is_none() {
        let line = stderr.recv_timeout(Duration::from_secs(60)).expect("friction up says where the gateway listens");
        gateway = line.strip_prefix("gateway: http://").map(|g| g.trim_end_matches("/v1/events").to_owned());
    }
    let gateway = gateway.unwrap_or_default();
    let out = Command::new(friction)
        .args(["integrations", "add", "--name", "jira", "--kind", "jira", "--url", &jira.url(), "--email", EMAIL])
        .args(["--project-key", "OPS", "--issue-type-id", "10004"])
        .env("FRICTION_DATA_DIR", dir.path())
        .env("FRICTION_MASTER_KEY", &master)
        .env("FRICTION_INTEGRATION_SECRET", TOKEN)
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("friction integrations add");
    assert!(out.status.success(), "integrations add: {}", String::from_utf8_lossy(&out.stderr));
    let brokers = std::fs::read_to_string(dir.path().join("brokers")).expect("the embedded broker's address");
    let stop = Arc::new(AtomicBool::new(false));
    let (confirmed, watcher) = watch_confirmed(brokers.trim(), friction_runtime::topics::INCIDENTS, stop.clone());
    warm_up(&gateway, &key, "up", &confirmed, &jira).await;
    let sent = send_load(&gateway, &key, "up", rounds, lines).await;
    let e = measure(&sent, &confirmed, &jira).await;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    print_e2e("through `friction up` (embedded broker, SQLite)", &e);
    Some(e)
}

/// A free loopback port (bound and released; the binary binds it right after).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// The separate binaries on tansu, each its own process, on throwaway topics and groups.
async fn through_binaries(rounds: usize, lines: usize) -> Option<E2e> {
    let brokers = friction_test_support::kafka::brokers_or_skip("latency through the separate binaries")?;
    let names =
        ["friction-gateway", "friction-sessionizer", "friction-detector", "friction-incidents", "friction-exporter"];
    let bins = match binaries(&names) {
        Ok(b) => b,
        Err(why) => {
            println!("separate binaries: SKIPPED: {why}");
            return None;
        }
    };
    let props = friction_test_support::kafka::kafka_properties();
    let t = |name: &str| friction_test_support::unique(&format!("lat.{name}"));
    let (events, sessionized, sessions, signals, incidents, dlq, sz_log, det_log, apikeys) = (
        t("events"),
        t("sessionized"),
        t("sessions"),
        t("signals"),
        t("incidents"),
        t("dlq"),
        t("sz-changelog"),
        t("det-changelog"),
        t("apikeys"),
    );
    friction_test_support::kafka::create_topics(
        &brokers,
        &[
            (&events, 3),
            (&sessionized, 3),
            (&sessions, 3),
            (&signals, 3),
            (&incidents, 2),
            (&dlq, 1),
            (&sz_log, 3),
            (&det_log, 3),
            (&apikeys, 1),
        ],
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    // The stage binaries' default store is sqlite://friction-data/friction.db, relative to where
    // they run: the temporary directory.
    let store = friction_store::Store::open_in_dir(&dir.path().join("friction-data")).await.expect("store");
    store.migrate().await.expect("migrate");
    store.create_project("bench").await.expect("project");
    let key = store.create_api_key("bench", None).await.expect("key");
    let mut kafka = friction_runtime::KafkaArgs::with_brokers(&brokers);
    kafka.kafka_properties = props.clone();
    friction_cli::keys::publish_keys(&kafka, &apikeys, std::slice::from_ref(&key.key), None).await.expect("keys");
    let master = MasterKey::random();
    let jira = Fake::start(Api::Jira, &jira_basic(EMAIL, TOKEN)).await;
    let integration = NewIntegration {
        name: "jira".into(),
        kind: TrackerKind::Jira,
        project_id: None,
        kinds: vec![],
        min_severity: 0.0,
        config: IntegrationConfig {
            base_url: jira.url(),
            email: Some(EMAIL.into()),
            project_key: Some("OPS".into()),
            issue_type_id: Some("10004".into()),
            ..Default::default()
        },
        secret: Secret::new(TOKEN),
    };
    add_integration(&store, &master, &integration).await.expect("integration");
    store.close().await;

    let gateway = format!("127.0.0.1:{}", free_port());
    let group = friction_test_support::unique("lat");
    let spawn = |bin: &Path, name: &str, args: &[&str]| -> KillOnDrop {
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir.path()).args(["--brokers", &brokers, "--admin-addr", "127.0.0.1:0", "--log", "warn"]);
        for p in &props {
            cmd.args(["--kafka-property", p]);
        }
        let log = std::fs::File::create(dir.path().join(format!("{name}.log"))).expect("log file");
        cmd.args(args)
            .env("FRICTION_MASTER_KEY", master.to_hex())
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map(KillOnDrop)
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let g = |stage: &str| format!("{group}.{stage}");
    let _children = [
        spawn(
            &bins[0],
            "gateway",
            &["--gateway-addr", &gateway, "--events-topic", &events, "--apikeys-topic", &apikeys],
        ),
        spawn(
            &bins[1],
            "sessionizer",
            &[
                "--group",
                &g("sessionizer"),
                "--events-topic",
                &events,
                "--sessionized-topic",
                &sessionized,
                "--sessions-topic",
                &sessions,
                "--changelog-topic",
                &sz_log,
                "--deadletter-topic",
                &dlq,
            ],
        ),
        spawn(
            &bins[2],
            "detector",
            &[
                "--group",
                &g("detector"),
                "--input-topic",
                &sessionized,
                "--signals-topic",
                &signals,
                "--changelog-topic",
                &det_log,
                "--deadletter-topic",
                &dlq,
            ],
        ),
        spawn(
            &bins[3],
            "incidents",
            &[
                "--group",
                &g("incidents"),
                "--signals-topic",
                &signals,
                "--incidents-topic",
                &incidents,
                "--deadletter-topic",
                &dlq,
            ],
        ),
        spawn(
            &bins[4],
            "exporter",
            &["--group", &g("exporter"), "--incidents-topic", &incidents, "--deadletter-topic", &dlq],
        ),
    ];
    // The gateway answers 202 once it has read the key.
    let client = friction_benches::http_client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = json!({"events": [{"eventType": "pageview", "timestamp": now_ms(), "sessionId": "ready",
            "route": "/", "navigation": {"kind": "load", "to": "/"}}]});
        let (status, _) =
            friction_benches::post_json(&client, &format!("http://{gateway}/v1/events"), &key.secret, body.to_string())
                .await;
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "the gateway on tansu never accepted the key (last status {status})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (confirmed, watcher) = watch_confirmed(&brokers, &incidents, stop.clone());
    warm_up(&gateway, &key.secret, "tansu", &confirmed, &jira).await;
    let sent = send_load(&gateway, &key.secret, "tansu", rounds, lines).await;
    let e = measure(&sent, &confirmed, &jira).await;
    stop.store(true, Ordering::Relaxed);
    let _ = watcher.join();
    print_e2e("through the separate binaries on tansu (SQLite store)", &e);
    Some(e)
}

// ---------------------------------------------------------------------------------------------
// Corrections on the labelled corpus.

/// Sessions active at once in the simulated partition (the detector bench's streams use 2,000 on
/// one partition of a busy site; a partition of `friction up`'s 12 sees far fewer).
const CONCURRENT_SESSIONS: i64 = 200;
/// The stage's tick (`StageConfig::tick_interval`): when a quiet partition is judged.
const TICK_MS: i64 = 200;
/// The SDK's defaults (sdk/README.md): a batch goes out at 20 events or 1 s after its first.
const FLUSH_AT: usize = 20;
const FLUSH_INTERVAL_MS: i64 = 1000;
/// Network and queueing delay of a batch: uniform in 0..=this.
const MAX_DELAY_MS: i64 = 2000;

/// What one replay published.
#[derive(Default)]
struct Replay {
    /// Live predictions per session id once everything settled.
    preds: HashMap<String, Vec<Pred>>,
    records: usize,
    retracted: usize,
    distinct_ids: usize,
    out_of_order_batches: usize,
    batches: usize,
    elapsed: Duration,
}

impl Replay {
    fn retraction_rate(&self) -> f64 {
        if self.distinct_ids == 0 {
            0.0
        } else {
            self.retracted as f64 / self.distinct_ids as f64
        }
    }
}

/// The corpus's predictions from one signal record (each episode member, on the record's element).
fn record_preds(r: &SignalRecord, out: &mut Vec<Pred>) {
    let members: Vec<(&str, bool)> = if r.members.is_empty() {
        vec![(r.kind.as_str(), r.unresponsive)]
    } else {
        r.members.iter().map(|m| (m.kind.as_str(), m.unresponsive)).collect()
    };
    for (kind, unresponsive) in members {
        let kind = match kind {
            "rage_click" => {
                if unresponsive {
                    out.push(Pred { kind: Kind::Rage, key: r.element_key.clone() });
                }
                Kind::RageAny
            }
            "dead_click" => Kind::Dead,
            "slow_click" => Kind::Slow,
            "error_click" => Kind::Error,
            "disabled_click" => Kind::Disabled,
            "u_turn" => Kind::UTurn,
            "form_abandon" => Kind::FormAbandon,
            "validation_loop" => Kind::ValidationLoop,
            _ => continue,
        };
        out.push(Pred { kind, key: r.element_key.clone() });
    }
}

/// Replays `sessions` through one `PartitionDetector` with early grace `grace_ms`. `delivery`:
/// SDK batches delayed 0–2 s (seeded); `None`: every event arrives the moment it happens, in order.
fn replay(sessions: &[LabelledSession], grace_ms: i64, delivery: Option<u64>, rules: &RulesByProject) -> Replay {
    let started = Instant::now();
    let dur = |s: &LabelledSession| {
        s.events.last().map_or(0, |e| e.timestamp_ms) - s.events.first().map_or(0, |e| e.timestamp_ms)
    };
    let mean = sessions.iter().map(dur).sum::<i64>() / sessions.len().max(1) as i64;
    let stride = (mean / CONCURRENT_SESSIONS).max(1);
    let mut rng = delivery.map(Rng::new);
    let mut out = Replay::default();
    // (arrival wall ms, session, event) for every event.
    let mut arrivals: Vec<(i64, u32, u32)> = Vec::new();
    for (k, s) in sessions.iter().enumerate() {
        let shift = k as i64 * stride;
        let mut i = 0;
        let mut last_arrival = i64::MIN;
        while i < s.events.len() {
            let first = s.events[i].timestamp_ms + shift;
            let mut j = i;
            while j < s.events.len() && j - i < FLUSH_AT && s.events[j].timestamp_ms + shift < first + FLUSH_INTERVAL_MS
            {
                j += 1;
            }
            let sent = if j - i == FLUSH_AT { s.events[j - 1].timestamp_ms + shift } else { first + FLUSH_INTERVAL_MS };
            let arrival = match rng.as_mut() {
                Some(r) => sent + r.range(0, MAX_DELAY_MS),
                None => first,
            };
            out.batches += 1;
            if arrival < last_arrival {
                out.out_of_order_batches += 1;
            }
            last_arrival = last_arrival.max(arrival);
            for e in i..j {
                // In order and undelayed: each event at its own time.
                let at = if rng.is_some() { arrival } else { s.events[e].timestamp_ms + shift };
                arrivals.push((at, k as u32, e as u32));
            }
            i = j;
        }
    }
    arrivals.sort_unstable();
    let cfg = DetectorConfig { early_grace_ms: grace_ms, ..DetectorConfig::default() };
    let mut p = PartitionDetector::default();
    let mut latest: HashMap<(String, String), SignalRecord> = HashMap::new();
    let mut ids: BTreeSet<String> = BTreeSet::new();
    let mut collect = |records: Vec<SignalRecord>, out: &mut Replay| {
        for r in records {
            out.records += 1;
            out.retracted += usize::from(r.retracted);
            ids.insert(r.id.clone());
            let key = (r.fingerprint.clone(), r.id.clone());
            if latest.get(&key).is_none_or(|held| r.version > held.version) {
                latest.insert(key, r);
            }
        }
    };
    let mut next_tick = arrivals.first().map_or(0, |a| a.0);
    for &(at, k, e) in &arrivals {
        while next_tick <= at {
            let judged = p.judge(next_tick, &cfg, rules);
            collect(judged.signals, &mut out);
            next_tick += TICK_MS;
        }
        let s = &sessions[k as usize];
        let shift = k as i64 * stride;
        let mut event = s.events[e as usize].clone();
        event.timestamp_ms += shift;
        let start = s.events.first().map_or(0, |f| f.timestamp_ms) + shift;
        p.ingest(&to_sessionized(&event, start), at);
    }
    // A minute of quiet wall clock, then far ahead so every session closes.
    for _ in 0..(60_000 / TICK_MS) {
        let judged = p.judge(next_tick, &cfg, rules);
        collect(judged.signals, &mut out);
        next_tick += TICK_MS;
    }
    let judged = p.judge(10_000_000_000_000, &cfg, rules);
    collect(judged.signals, &mut out);
    out.distinct_ids = ids.len();
    for r in latest.into_values().filter(|r| !r.retracted) {
        let session = r.session_id.split('#').next().unwrap_or_default().to_owned();
        record_preds(&r, out.preds.entry(session).or_default());
    }
    out.elapsed = started.elapsed();
    out
}

fn pct_f(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1}", x * 100.0)
    }
}

/// Kinds where `run` has lower precision or recall than `today` (by more than rounding).
fn drops(report: &Report, today: &'static str, run: &'static str) -> Vec<String> {
    let mut out = Vec::new();
    for k in Kind::ALL {
        let t = report.tallies.get(&(today, k)).copied().unwrap_or_default();
        let r = report.tallies.get(&(run, k)).copied().unwrap_or_default();
        for (what, a, b) in [("P", t.precision(), r.precision()), ("R", t.recall(), r.recall())] {
            if !a.is_nan() && (b.is_nan() || b < a - 1e-9) {
                out.push(format!("{} {what} {} → {}", k.as_str(), pct_f(a), pct_f(b)));
            }
        }
    }
    out
}

/// The correction part: returns (grace, retraction rate, P/R drops) per delayed replay.
fn corrections() -> Vec<(i64, f64, Vec<String>)> {
    let n = env_num("QUALITY_SESSIONS", 6000) as usize;
    let seed = env_num("QUALITY_SEED", 20_261_122);
    let graces: Vec<i64> = std::env::var("LATENCY_GRACES")
        .unwrap_or_else(|_| "0,250,500,1000,2000".into())
        .split(',')
        .filter_map(|g| g.trim().parse().ok())
        .collect();
    let sessions = corpus::generate(n, seed);
    let events: usize = sessions.iter().map(|s| s.events.len()).sum();
    println!("\ncorpus: {n} sessions, {events} events, seed {seed}; {CONCURRENT_SESSIONS} sessions at once, tick {TICK_MS} ms, SDK batches of ≤ {FLUSH_AT} events / {FLUSH_INTERVAL_MS} ms delayed 0–{MAX_DELAY_MS} ms");
    let rules = RulesByProject::default();
    let today_rules = Rules::default();
    let in_order = replay(&sessions, DetectorConfig::default().early_grace_ms, None, &rules);
    let mut runs: Vec<(i64, Replay)> = Vec::new();
    for &g in &graces {
        runs.push((g, replay(&sessions, g, Some(seed ^ 0xD1A7), &rules)));
    }
    // Detector names must be 'static: leak the few labels (a bench's lifetime).
    let label = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let by_session = |r: &Replay| r.preds.clone();
    let mut detectors: Vec<Detector<'_>> =
        vec![Detector { name: "today", kinds: Kind::ALL.to_vec(), run: Box::new(|s| quality::ours(s, &today_rules)) }];
    let in_order_preds = by_session(&in_order);
    detectors.push(Detector {
        name: "in order",
        kinds: Kind::ALL.to_vec(),
        run: Box::new(move |s| in_order_preds.get(&s.id).cloned().unwrap_or_default()),
    });
    let names: Vec<&'static str> = runs.iter().map(|(g, _)| label(format!("grace {g} ms"))).collect();
    for ((_, r), name) in runs.iter().zip(&names) {
        let preds = by_session(r);
        detectors.push(Detector {
            name,
            kinds: Kind::ALL.to_vec(),
            run: Box::new(move |s| preds.get(&s.id).cloned().unwrap_or_default()),
        });
    }
    let report = quality::evaluate(&sessions, &detectors);
    println!("\n### Precision and recall (P %, R %): today (`detect` on closed sessions) | streamed in order | delayed, per early grace\n");
    println!("{}", report.table());
    println!(
        "| run | records | retracted | distinct signal ids | retraction rate | batches out of order | replay time |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let row = |name: &str, r: &Replay| {
        println!(
            "| {name} | {} | {} | {} | {:.2} % | {} of {} | {:.1?} |",
            r.records,
            r.retracted,
            r.distinct_ids,
            100.0 * r.retraction_rate(),
            r.out_of_order_batches,
            r.batches,
            r.elapsed
        );
    };
    row("in order, undelayed", &in_order);
    let own = drops(&report, "today", "in order");
    if !own.is_empty() {
        println!("  in order: lower than today: {}", own.join(", "));
    }
    let mut out = Vec::new();
    for ((g, r), name) in runs.iter().zip(&names) {
        row(name, r);
        out.push((*g, r.retraction_rate(), drops(&report, "today", name)));
        let own = drops(&report, "in order", name);
        if !own.is_empty() {
            println!("  {name}: lower than the undelayed in-order replay: {}", own.join(", "));
        }
    }
    let issue: Vec<(Kind, Tally)> = [Kind::Rage, Kind::Dead, Kind::Error]
        .into_iter()
        .map(|k| (k, report.tallies.get(&("today", k)).copied().unwrap_or_default()))
        .collect();
    println!(
        "\ntoday on the issue-worthy kinds: {}",
        issue
            .iter()
            .map(|(k, t)| format!("{} P {} % R {} %", k.as_str(), pct_f(t.precision()), pct_f(t.recall())))
            .collect::<Vec<_>>()
            .join("; ")
    );
    out
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

#[tokio::main]
async fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let only = std::env::var("LATENCY_ONLY").unwrap_or_default();
    let part = |name: &str| only.is_empty() || only.split(',').any(|o| o.trim() == name);
    let rounds = env_num("LATENCY_INCIDENTS", 100) as usize;
    let lines = env_num("LATENCY_LOGS", 100) as usize;
    let started = Instant::now();
    let mut pipelines: Vec<(&str, E2e)> = Vec::new();
    if part("up") {
        if let Some(e) = through_up(rounds, lines).await {
            pipelines.push(("friction up", e));
        }
    }
    if part("tansu") {
        if let Some(e) = through_binaries(rounds, lines).await {
            pipelines.push(("binaries on tansu", e));
        }
    }
    let corrections = if part("quality") { corrections() } else { Vec::new() };

    println!("\n### Targets (docs/architecture.md §9, issue 17)\n");
    println!("| target | run | p50 | p99 | missing | verdict |");
    println!("|---|---|---:|---:|---:|---|");
    for (name, e) in &pipelines {
        for (what, d, target) in [
            ("rage → confirmed incident ≤ 2 s (p99)", &e.rage_incident, Duration::from_secs(2)),
            ("rage → ticket ≤ 3 s (p99)", &e.rage_ticket, Duration::from_secs(3)),
            ("log line → incident ≤ 1 s (p99)", &e.log_incident, Duration::from_secs(1)),
            ("log line → ticket ≤ 2 s (p99)", &e.log_ticket, Duration::from_secs(2)),
        ] {
            println!(
                "| {what} | {name} | {} | {} | {} | {} |",
                ms(d.p(0.5)),
                ms(d.p(0.99)),
                d.missing,
                verdict(d.meets(target))
            );
        }
    }
    let mut chosen = None;
    for (g, rate, drops) in &corrections {
        let ok = *rate < 0.02 && drops.is_empty();
        if ok && chosen.is_none() {
            chosen = Some(*g);
        }
        println!(
            "| retractions < 2 %, P/R ≥ today | early grace {g} ms | — | — | — | {} ({:.2} %{}) |",
            verdict(ok),
            100.0 * rate,
            if drops.is_empty() {
                ", P/R ≥ today on every kind".to_owned()
            } else {
                format!("; lower: {}", drops.join(", "))
            }
        );
    }
    if !corrections.is_empty() {
        match chosen {
            Some(g) => println!(
                "\nshortest early grace with retractions < 2 % and P/R ≥ today: {g} ms (default today: {} ms)",
                DetectorConfig::default().early_grace_ms
            ),
            None => println!("\nno early grace tried keeps retractions < 2 % with P/R ≥ today"),
        }
    }
    println!("total time {:.1?}", started.elapsed());
}
