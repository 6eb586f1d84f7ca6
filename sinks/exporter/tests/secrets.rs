//! A 400, a 500 and a 401 whose bodies echo the Authorization header back: every log line (all
//! levels, every crate), every error summary in the ledger (the dead-lettered row's included) and
//! the breaker reason are free of the token and of its base64 forms.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use friction_exporter::handler::record;
use friction_exporter::integration::{add_integration, integration, list_integrations};
use friction_exporter::ledger::{links_for_incident, links_in_state, FAILED};
use friction_exporter::outcome::{BreakerPolicy, RetryPolicy};
use friction_exporter::{Dispatcher, DispatcherConfig, IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_schemas::IncidentChange;
use friction_test_support::fakes::{Api, Fake};

const EMAIL: &str = "bot@acme.com";
const TOKEN: &str = "ATATT3xFfGF0-leak-canary-7f3a9c";

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

fn forbidden() -> Vec<String> {
    vec![TOKEN.to_owned(), B64.encode(format!("{EMAIL}:{TOKEN}")), B64.encode(TOKEN), "leak-canary".to_owned()]
}

// Current-thread runtime: the capturing subscriber sees every event of the dispatcher, the HTTP
// client and the fake.
#[tokio::test]
async fn the_token_never_reaches_logs_errors_or_dead_letters() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    for db in friction_store::testing::migrated_dbs().await? {
        let key = MasterKey::random();
        let credential = format!("Basic {}", B64.encode(format!("{EMAIL}:{TOKEN}")));
        let jira = Fake::start(Api::Jira, &credential).await;
        let config = IntegrationConfig {
            base_url: jira.url(),
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
        let added = add_integration(&db.store, &key, &new).await?;
        tracing::info!(?added, ?new, "integration added");
        let dispatcher_config = DispatcherConfig {
            owner: "leak-test".into(),
            poll_interval: Duration::from_millis(10),
            retry: RetryPolicy {
                base: Duration::from_millis(10),
                cap: Duration::from_millis(20),
                ..Default::default()
            },
            request_timeout: Duration::from_secs(2),
            jira_lag_grace: Duration::ZERO,
            breaker: BreakerPolicy {
                backoff_base: Duration::from_millis(10),
                backoff_cap: Duration::from_millis(20),
                ..Default::default()
            },
            ..Default::default()
        };
        let d = Dispatcher::new(db.store.clone(), key.clone(), dispatcher_config)?;
        let change = |id: &str| IncidentChange {
            id: id.into(),
            status: "confirmed".into(),
            title: "t".into(),
            version: 1,
            generation: 1,
            ..Default::default()
        };

        // 400 echoing the header: the row is dead-lettered in the ledger, with its summary.
        record(&db.store, &[change("inc-0")]).await?;
        jira.set_always(Some(400));
        d.run_once().await?;
        let dead = links_for_incident(&db.store, "inc-0").await?;
        assert_eq!(dead[0].state, FAILED, "{}: a 400 dead-letters the row", db.name());
        assert_eq!(dead[0].last_error_class.as_deref(), Some("permanent"));
        let summary_400 = dead[0].last_error_summary.clone().unwrap_or_default();
        assert!(summary_400.contains("Authorization: Basic ***"), "the echo was scrubbed, not absent: {summary_400}");

        record(&db.store, &[change("inc-1")]).await?;

        // 500 echoing the header: ambiguous, summary recorded.
        jira.set_always(Some(500));
        d.run_once().await?;
        let links = links_for_incident(&db.store, "inc-1").await?;
        assert_eq!(links[0].last_error_class.as_deref(), Some("ambiguous"));
        let summary_500 = links[0].last_error_summary.clone().unwrap_or_default();
        assert!(summary_500.contains("Authorization: Basic ***"), "the echo was scrubbed, not absent: {summary_500}");

        // 401 echoing the header: breaker open with a reason.
        jira.set_always(Some(401));
        tokio::time::sleep(Duration::from_millis(60)).await;
        for _ in 0..3 {
            d.run_once().await?;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let now = integration(&db.store, &added.id).await?.ok_or("gone")?;
        assert!(now.breaker_open, "{}: 401 opens the breaker", db.name());
        let links = links_for_incident(&db.store, "inc-1").await?;
        let mut texts = vec![
            summary_400,
            format!("{dead:?}"),
            format!("{:?}", links_in_state(&db.store, FAILED).await?),
            summary_500,
            format!("{links:?}"),
            format!("{:?}", list_integrations(&db.store).await?),
            now.breaker_reason.clone().unwrap_or_default(),
        ];
        texts.push(String::from_utf8_lossy(&capture.0.lock().map_err(|_| "poisoned")?).into_owned());
        for text in &texts {
            for secret in forbidden() {
                assert!(!text.contains(&secret), "{secret} leaked into: {text}");
            }
        }
        assert!([400, 401, 500].iter().all(|s| jira.log().iter().any(|e| e.status == *s)), "{:?}", jira.log());
    }
    let logs = String::from_utf8_lossy(&capture.0.lock().map_err(|_| "poisoned")?).into_owned();
    assert!(logs.contains("circuit breaker open"), "the capture works: {}", &logs[..logs.len().min(2000)]);
    Ok(())
}
