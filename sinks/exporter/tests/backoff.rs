//! An unreachable tracker (docs/exporter.md "Circuit breaker", "Retry budget"): four tickets
//! against a closed port back off per ticket and per integration, the breaker opens after the
//! threshold and cools down between probes, the warnings stay one per change of state, and when
//! the tracker comes back on the same address each ticket is created exactly once. On SQLite and
//! (when FRICTION_TEST_POSTGRES_URL is set) PostgreSQL.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use friction_exporter::handler::record;
use friction_exporter::integration::{add_integration, integration};
use friction_exporter::ledger::{links_in_state, CREATED, PENDING};
use friction_exporter::outcome::{Breaker, BreakerPolicy, Health, RetryPolicy};
use friction_exporter::{Dispatcher, DispatcherConfig, IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_schemas::IncidentChange;
use friction_test_support::fakes::{Api, Fake};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const EMAIL: &str = "bot@acme.com";
const TOKEN: &str = "jira-test-token";
const THRESHOLD: u32 = 6;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    fn text(&self) -> String {
        self.0.lock().map(|v| String::from_utf8_lossy(&v).into_owned()).unwrap_or_default()
    }
    /// Warning lines of the exporter so far.
    fn warnings(&self) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(" WARN ") && l.contains("friction_exporter"))
            .map(str::to_owned)
            .collect()
    }
}

fn change(id: &str) -> IncidentChange {
    IncidentChange {
        id: id.into(),
        project_id: "shop".into(),
        kind: "rage_click".into(),
        title: format!("Rage clicks ({id})"),
        status: "confirmed".into(),
        severity: 5.0,
        occurrences: 3,
        version: 1,
        generation: 1,
        ..Default::default()
    }
}

/// An address nothing listens on (bound, then released).
fn closed_port() -> Result<SocketAddr, std::io::Error> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

// Current-thread runtime: the capturing subscriber sees every event of the dispatcher.
#[tokio::test]
async fn an_unreachable_tracker_backs_off_opens_the_breaker_and_gets_each_ticket_once_when_back() -> R {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let metrics = friction_runtime::admin::prometheus();

    for db in friction_store::testing::migrated_dbs().await? {
        let warnings_before = capture.warnings().len();
        let key = MasterKey::random();
        let addr = closed_port()?;
        let new = NewIntegration {
            name: "jira".into(),
            kind: Kind::Jira,
            project_id: None,
            kinds: vec![],
            min_severity: 0.0,
            config: IntegrationConfig {
                base_url: format!("http://{addr}"),
                email: Some(EMAIL.into()),
                project_key: Some("OPS".into()),
                issue_type_id: Some("10004".into()),
                ..Default::default()
            },
            secret: Secret::new(TOKEN),
        };
        let added = add_integration(&db.store, &key, &new).await?;
        let config = DispatcherConfig {
            owner: "backoff-test".into(),
            poll_interval: Duration::from_millis(10),
            retry: RetryPolicy { base: Duration::from_millis(40), cap: Duration::from_secs(1), ..Default::default() },
            breaker: BreakerPolicy {
                threshold: THRESHOLD,
                backoff_base: Duration::from_millis(20),
                backoff_cap: Duration::from_millis(300),
                cooldown_base: Duration::from_millis(150),
                cooldown_cap: Duration::from_millis(600),
                probe_lease: Duration::from_secs(3),
            },
            request_timeout: Duration::from_secs(2),
            jira_lag_grace: Duration::ZERO,
            ..Default::default()
        };
        let d = Dispatcher::new(db.store.clone(), key.clone(), config)?;
        let ids = ["inc-1", "inc-2", "inc-3", "inc-4"];
        record(&db.store, &ids.map(change)).await?;

        // The tracker is down: run until the breaker has opened and two probes failed.
        let start = Instant::now();
        let mut attempts_at_open = None;
        let mut cooldowns = Vec::new();
        let health = loop {
            d.run_once().await?;
            let h = integration(&db.store, &added.id).await?.ok_or("integration gone")?.health;
            if h.breaker == Breaker::Cooling {
                let rows = links_in_state(&db.store, PENDING).await?;
                let sum: i64 = rows.iter().map(|l| l.attempts).sum();
                attempts_at_open.get_or_insert(sum);
                if cooldowns.last().is_none_or(|(opens, _)| *opens != h.opens) {
                    cooldowns.push((h.opens, h.retry_at - friction_runtime::now_ms()));
                }
            }
            if h.opens >= 3 {
                break h;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "{}: the breaker never opened: {h:?}", db.name());
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let rows = links_in_state(&db.store, PENDING).await?;
        assert_eq!(rows.len(), 4, "{}: nothing reached the tracker, so no row is ambiguous: {rows:?}", db.name());
        let attempts: Vec<i64> = rows.iter().map(|l| l.attempts).collect();
        let sum: i64 = attempts.iter().sum();
        // Every failed call counted once on its row, none made while the breaker was open (only probes).
        assert_eq!(sum, i64::from(THRESHOLD), "{}: attempts {attempts:?}", db.name());
        assert_eq!(attempts_at_open, Some(sum), "{}: no row was tried while cooling", db.name());
        assert!(attempts.iter().any(|&a| a >= 2), "{}: a ticket's attempts grow: {attempts:?}", db.name());
        assert!(
            rows.iter().filter(|l| l.attempts > 0).all(|l| l.last_error_class.as_deref() == Some("unreachable")),
            "{}: a connection refused is not ambiguous: {rows:?}",
            db.name()
        );
        assert_eq!(
            health.failures,
            THRESHOLD + health.opens - 1,
            "{}: each failed probe counts: {health:?}",
            db.name()
        );
        let stored = integration(&db.store, &added.id).await?.ok_or("gone")?;
        assert!(
            stored.last_error.as_deref().is_some_and(|e| e.starts_with("unreachable")),
            "{}: the integration shows why: {:?}",
            db.name(),
            stored.last_error
        );
        assert!(cooldowns.len() >= 2, "{}: {cooldowns:?}", db.name());
        // What the console's incident detail shows (`tickets`).
        let tickets = db.store.incident_tickets("inc-1").await?;
        assert_eq!(tickets[0].integration_breaker.as_deref(), Some("cooling"), "{}: {tickets:?}", db.name());
        assert!(tickets[0].integration_error.as_deref().is_some_and(|e| e.contains("connection failed")));
        assert_eq!(tickets[0].integration_failures, Some(i64::from(health.failures)));
        // One warning per change of state: failing, opened, each failed probe — not one per call.
        let warnings = capture.warnings().len() - warnings_before;
        assert!(
            warnings >= 2 && warnings <= 1 + health.opens as usize,
            "{}: {warnings} warnings for {} opens: {:#?}",
            db.name(),
            health.opens,
            &capture.warnings()[warnings_before..]
        );
        let rendered = metrics.render();
        assert!(rendered.contains(r#"friction_export_breaker_state{integration="jira"} 1"#), "{rendered}");
        assert!(
            rendered.contains(r#"friction_export_failures_total{target="jira",class="unreachable"}"#),
            "{rendered}"
        );
        assert!(rendered.contains(r#"friction_export_breaker_opened_total{integration="jira"}"#), "{rendered}");

        // The tracker comes back where it was: the next probe closes the breaker, each ticket once.
        let credential = format!("Basic {}", B64.encode(format!("{EMAIL}:{TOKEN}")));
        let jira = Fake::start_at(Api::Jira, &credential, addr).await;
        let start = Instant::now();
        while links_in_state(&db.store, CREATED).await?.len() < 4 {
            assert!(start.elapsed() < Duration::from_secs(60), "{}: tickets not created after recovery", db.name());
            d.run_once().await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for _ in 0..5 {
            d.run_once().await?;
        }
        assert_eq!(jira.issues().len(), 4, "{}: {:?}", db.name(), jira.issues());
        for link in links_in_state(&db.store, CREATED).await? {
            assert_eq!(jira.issues_with_label(&link.marker), 1, "{}: {}", db.name(), link.marker);
        }
        let back = integration(&db.store, &added.id).await?.ok_or("gone")?;
        assert_eq!((back.health, back.last_error), (Health::HEALTHY, None), "{}", db.name());
        assert!(capture.text().contains("circuit breaker closed"), "{}", db.name());
        let tickets = db.store.incident_tickets("inc-1").await?;
        assert_eq!(
            (tickets[0].integration_breaker.as_deref(), tickets[0].integration_error.as_deref()),
            (Some("closed"), None)
        );
        assert!(metrics.render().contains(r#"friction_export_breaker_state{integration="jira"} 0"#));
    }
    Ok(())
}

/// The path that kept `attempts` at 1: an ambiguous create (503) whose reconcile lookups then fail
/// too. Each failed lookup counts on the row, the row stays `ambiguous` (it may exist), the 5xx
/// open the breaker like connection failures, and after recovery the lookup finds nothing and one
/// issue is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_reconcile_lookups_count_as_attempts_and_open_the_breaker() -> R {
    for db in friction_store::testing::migrated_dbs().await? {
        let key = MasterKey::random();
        let github = Fake::start(Api::Github, "Bearer gh-test-token").await;
        let new = NewIntegration {
            name: "gh".into(),
            kind: Kind::Github,
            project_id: None,
            kinds: vec![],
            min_severity: 0.0,
            config: IntegrationConfig { base_url: github.url(), repo: Some("acme/web".into()), ..Default::default() },
            secret: Secret::new("gh-test-token"),
        };
        let added = add_integration(&db.store, &key, &new).await?;
        let config = DispatcherConfig {
            owner: "reconcile-test".into(),
            retry: RetryPolicy {
                base: Duration::from_millis(20),
                cap: Duration::from_millis(200),
                ..Default::default()
            },
            breaker: BreakerPolicy {
                threshold: 4,
                backoff_base: Duration::from_millis(10),
                backoff_cap: Duration::from_millis(100),
                cooldown_base: Duration::from_millis(100),
                cooldown_cap: Duration::from_millis(300),
                probe_lease: Duration::from_secs(3),
            },
            request_timeout: Duration::from_secs(3),
            ..Default::default()
        };
        let d = Dispatcher::new(db.store.clone(), key.clone(), config)?;
        record(&db.store, &[change("inc-1")]).await?;
        github.set_always(Some(503));
        let start = Instant::now();
        loop {
            d.run_once().await?;
            let h = integration(&db.store, &added.id).await?.ok_or("gone")?.health;
            if h.breaker == Breaker::Cooling {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{}: the breaker never opened: {h:?}", db.name());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let link = friction_exporter::ledger::links_in_state(&db.store, friction_exporter::ledger::AMBIGUOUS).await?;
        assert_eq!(link.len(), 1, "{}: a 503 may have created it: the row stays ambiguous", db.name());
        assert_eq!(link[0].attempts, 4, "{}: the create and each failed lookup count: {:?}", db.name(), link[0]);
        github.set_always(None);
        let start = Instant::now();
        while links_in_state(&db.store, CREATED).await?.is_empty() {
            assert!(start.elapsed() < Duration::from_secs(30), "{}: not created after recovery", db.name());
            d.run_once().await?;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(github.issues().len(), 1, "{}", db.name());
        let back = integration(&db.store, &added.id).await?.ok_or("gone")?;
        assert_eq!(back.health, Health::HEALTHY, "{}", db.name());
    }
    Ok(())
}
