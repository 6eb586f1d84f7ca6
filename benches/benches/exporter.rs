//! The exporter: time from an incident change being recorded (the consumer's ledger write, right
//! after the incident became confirmed) to the ticket existing in a local fake Jira, and tickets/s
//! sustained against a fake that rate-limits (429 with Retry-After) — docs/architecture.md §9: a ticket ≤ 2 s
//! after the last event. The fakes are the exporter tests' own (`friction_test_support::fakes`) (they enforce auth and shapes).
//!
//! `cargo bench -p friction-benches --bench exporter` (env: EXPORTER_TICKETS, default 200;
//! EXPORTER_LATENCY_ROUNDS, default 40).

use std::time::{Duration, Instant};

use base64::Engine as _;
use friction_exporter::handler::record;
use friction_exporter::integration::add_integration;
use friction_exporter::outcome::RetryPolicy;
use friction_exporter::{Dispatcher, DispatcherConfig, IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_schemas::IncidentChange;
use friction_store::Store;
use friction_test_support::fakes::{Api, Fake, Fault};

const EMAIL: &str = "bench@acme.com";
const TOKEN: &str = "ATATT3xFfGF0-bench-token";

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn change(id: usize) -> IncidentChange {
    IncidentChange {
        id: format!("inc-{id:05}"),
        project_id: "shop".into(),
        fingerprint: format!("fp-{id:05}"),
        kind: "rage_click".into(),
        title: format!("Rage clicks on an unresponsive element on pay-{id} at /checkout"),
        route_template: "/checkout".into(),
        element_key: format!("pay-{id}"),
        status: "confirmed".into(),
        change: "status".into(),
        severity: 5.0,
        priority: "P1".into(),
        occurrences: 3,
        sessions: 3,
        users: 3,
        releases: vec!["1.2.0".into()],
        generation: 1,
        version: 1,
        ..Default::default()
    }
}

async fn setup(dir: &std::path::Path) -> (Store, Fake, MasterKey) {
    let store = Store::open_in_dir(dir).await.expect("store");
    store.migrate().await.expect("migrate");
    let credential = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{EMAIL}:{TOKEN}")));
    let fake = Fake::start(Api::Jira, &credential).await;
    let key = MasterKey::random();
    let config = IntegrationConfig {
        base_url: fake.url(),
        email: Some(EMAIL.into()),
        project_key: Some("OPS".into()),
        issue_type_id: Some("10004".into()),
        ..Default::default()
    };
    let new = NewIntegration {
        name: "jira".into(),
        kind: Kind::Jira,
        project_id: None,
        kinds: vec![],
        min_severity: 0.0,
        config,
        secret: Secret::new(TOKEN),
    };
    add_integration(&store, &key, &new).await.expect("integration");
    (store, fake, key)
}

fn dispatcher_config() -> DispatcherConfig {
    DispatcherConfig {
        poll_interval: Duration::from_millis(20),
        retry: RetryPolicy { rate_limit_jitter: Duration::from_millis(100), ..RetryPolicy::default() },
        ..DispatcherConfig::default()
    }
}

async fn wait_for(fake: &Fake, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while fake.issues().len() < n {
        assert!(Instant::now() < deadline, "{} of {n} tickets after {limit:?}", fake.issues().len());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::main]
async fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let rounds = env_num("EXPORTER_LATENCY_ROUNDS", 40) as usize;
    let tickets = env_num("EXPORTER_TICKETS", 200) as usize;

    // Latency: one confirmed incident at a time.
    let dir = tempfile::tempdir().expect("tmp");
    let (store, fake, key) = setup(dir.path()).await;
    let dispatcher = Dispatcher::new(store.clone(), key, dispatcher_config()).expect("dispatcher");
    let task = tokio::spawn(dispatcher.run());
    let mut delays = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let started = Instant::now();
        record(&store, &[change(i)]).await.expect("record");
        wait_for(&fake, i + 1, Duration::from_secs(30)).await;
        delays.push(started.elapsed());
    }
    task.abort();
    delays.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at = |q: f64| delays[((delays.len() as f64 * q).ceil() as usize).clamp(1, delays.len()) - 1];
    println!(
        "confirmed change recorded → ticket in the fake Jira, {rounds} incidents one at a time (SQLite, dispatcher polling every 20 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(delays[delays.len() - 1])
    );

    // Throughput: many incidents at once, without and with a rate-limiting tracker.
    for (name, faults) in
        [("no rate limit", 0usize), ("the first 10 % of creates answered 429 with Retry-After: 1 s", tickets / 10)]
    {
        let dir = tempfile::tempdir().expect("tmp");
        let (store, fake, key) = setup(dir.path()).await;
        // The tracker refuses the first creates with 429 and Retry-After: 1 s.
        fake.push_faults((0..faults).map(|_| Fault::RateLimit(1)));
        let changes: Vec<IncidentChange> = (0..tickets).map(change).collect();
        let started = Instant::now();
        record(&store, &changes).await.expect("record");
        let dispatcher = Dispatcher::new(store.clone(), key, dispatcher_config()).expect("dispatcher");
        let task = tokio::spawn(dispatcher.run());
        wait_for(&fake, tickets, Duration::from_secs(600)).await;
        let took = started.elapsed();
        task.abort();
        assert_eq!(fake.issues().len(), tickets, "exactly one ticket per incident");
        println!(
            "{tickets} tickets, {name}: {:.1} tickets/s ({:.1} s)",
            tickets as f64 / took.as_secs_f64(),
            took.as_secs_f64()
        );
    }
}
