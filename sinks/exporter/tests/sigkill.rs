//! SIGKILL of the exporter binary between the remote create and the ledger update: the fake Jira
//! stores the issue and holds the response, the process is killed with SIGKILL, a restarted
//! process finds the issue by its marker label and records it. Exactly one issue.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use friction_exporter::handler::record;
use friction_exporter::integration::add_integration;
use friction_exporter::ledger::{links_for_incident, CREATED, CREATING};
use friction_exporter::{IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_schemas::IncidentChange;
use friction_test_support::fakes::{Api, Fake, Fault};
use friction_test_support::KillOnDrop;

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

fn exporter(url: &str, key: &MasterKey) -> std::io::Result<KillOnDrop> {
    Command::new(env!("CARGO_BIN_EXE_friction-exporter"))
        .args(["--dispatch-only", "--jira-lag-grace-ms", "500", "--lease-ms", "1000"])
        .env("DATABASE_URL", url)
        .env("FRICTION_MASTER_KEY", key.to_hex())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(KillOnDrop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_between_remote_create_and_ledger_update_makes_one_ticket() -> R {
    for db in friction_store::testing::migrated_dbs().await? {
        let key = MasterKey::random();
        let credential = format!("Basic {}", B64.encode("bot@acme.com:tok-sigkill-1"));
        let jira = Fake::start(Api::Jira, &credential).await;
        jira.set_lag(Duration::from_millis(300));
        let config = IntegrationConfig {
            base_url: jira.url(),
            email: Some("bot@acme.com".into()),
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
            secret: Secret::new("tok-sigkill-1"),
        };
        add_integration(&db.store, &key, &new).await?;
        let change = IncidentChange {
            id: "inc-1".into(),
            status: "confirmed".into(),
            title: "Dead Pay button".into(),
            version: 1,
            generation: 1,
            ..Default::default()
        };
        record(&db.store, &[change]).await?;
        jira.push_faults([Fault::CreatedThenHang(Duration::from_secs(60))]);

        let mut first = exporter(&db.url, &key)?;
        let start = Instant::now();
        while jira.issues().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(20), "the exporter never created the issue");
            assert!(first.0.try_wait()?.is_none(), "the exporter exited early");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        first.0.kill()?; // SIGKILL
        first.0.wait()?;
        let links = links_for_incident(&db.store, "inc-1").await?;
        assert_eq!(links[0].state, CREATING, "{}: killed before the ledger update", db.name());

        let _second = exporter(&db.url, &key)?;
        let start = Instant::now();
        loop {
            let links = links_for_incident(&db.store, "inc-1").await?;
            if links[0].state == CREATED {
                assert_eq!(links[0].external_key.as_deref(), Some("OPS-1"));
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "the restarted exporter did not reconcile: {links:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(jira.issues().len(), 1, "{}", db.name());
        assert!(jira.log().iter().any(|e| e.path == "/rest/api/3/search/jql" && e.status == 200));
    }
    Ok(())
}
