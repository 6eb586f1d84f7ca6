//! Issue 17's exporter half, with the incidents stage's own code upstream and the strict fakes
//! downstream (SQLite always, PostgreSQL when FRICTION_TEST_POSTGRES_URL is set): an incident an
//! engineer confirms by hand gets one ticket like any other; an incident a retraction un-confirms
//! keeps its ticket and gets one comment saying so (webhooks: one `incident.unconfirmed` event).

use std::time::{Duration, Instant};

use friction_exporter::handler::record;
use friction_exporter::integration::add_integration;
use friction_exporter::ledger::{links_in_state, CREATED};
use friction_exporter::{Dispatcher, DispatcherConfig, IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_incidents::model::{self, ChangeKind, IncidentConfig};
use friction_incidents::{apply_batch, Touched};
use friction_schemas::{IncidentChange, SignalRecord};
use friction_store::testing::migrated_dbs;
use friction_store::{IncidentStatus, Store};
use friction_test_support::fakes::{jira_basic, Api, Fake};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const JIRA_EMAIL: &str = "bot@acme.com";
const JIRA_TOKEN: &str = "ATATT3xFfGF0-super-secret-jira-token";
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn signal(id: &str, session: &str, version: i64, retracted: bool) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: "shop".into(),
        fingerprint: "fp-pay".into(),
        kind: "dead_click".into(),
        label: "dead_click".into(),
        session_id: session.into(),
        view_id: "v".into(),
        route_template: "/checkout".into(),
        element_key: "button#pay".into(),
        start_ms: 1_759_226_531_000,
        end_ms: 1_759_226_532_000,
        version,
        retracted,
        ..Default::default()
    }
}

/// The changes the incidents stage publishes for `touched`.
fn changes(touched: &[Touched]) -> Vec<IncidentChange> {
    touched.iter().map(|t| model::to_change(&t.incident, t.change, t.previous_status, 0)).collect()
}

async fn add(store: &Store, key: &MasterKey, fake: &Fake) -> R {
    let (kind, secret) = match fake.api {
        Api::Jira => (Kind::Jira, JIRA_TOKEN),
        _ => (Kind::Webhook, WEBHOOK_SECRET),
    };
    let config = IntegrationConfig {
        base_url: fake.url(),
        email: Some(JIRA_EMAIL.into()),
        project_key: Some("OPS".into()),
        issue_type_id: Some("10004".into()),
        allow_private_network: true,
        comment_window_secs: Some(0),
        ..Default::default()
    };
    let new = NewIntegration {
        name: format!("{kind:?}"),
        kind,
        project_id: None,
        kinds: vec![],
        min_severity: 0.0,
        config,
        secret: Secret::new(secret),
    };
    add_integration(store, key, &new).await?;
    Ok(())
}

async fn fake(api: Api) -> Fake {
    let credential = match api {
        Api::Jira => jira_basic(JIRA_EMAIL, JIRA_TOKEN),
        _ => WEBHOOK_SECRET.to_owned(),
    };
    Fake::start(api, &credential).await
}

fn dispatcher(store: &Store, key: &MasterKey) -> Result<Dispatcher, Box<dyn std::error::Error + Send + Sync>> {
    let config = DispatcherConfig {
        owner: "a".into(),
        lease: Duration::from_millis(1500),
        poll_interval: Duration::from_millis(20),
        jira_lag_grace: Duration::from_millis(700),
        request_timeout: Duration::from_secs(3),
        ..Default::default()
    };
    Ok(Dispatcher::new(store.clone(), key.clone(), config)?)
}

/// Dispatcher rounds until `done` holds, at most 10 s.
async fn drive(d: &Dispatcher, mut done: impl FnMut() -> bool) -> R {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err("condition not reached within 10 s".into());
        }
        d.run_once().await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_confirmed_by_hand_gets_one_ticket() -> R {
    for db in migrated_dbs().await? {
        let (store, name) = (&db.store, db.name());
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(store, &key, &jira).await?;
        let d = dispatcher(store, &key)?;
        let touched = apply_batch(store, &[signal("a", "s1", 1, false)], &IncidentConfig::default(), 1).await?;
        record(store, &changes(&touched)).await?;
        for _ in 0..3 {
            d.run_once().await?;
        }
        assert!(jira.issues().is_empty(), "{name}: an open incident gets no ticket");

        // What the console's PATCH {"status":"confirmed"} does and publishes.
        let mut incident = store.incident("fp-pay").await?.ok_or("incident")?;
        let expected = incident.version;
        let before = model::set_status(&mut incident, IncidentStatus::Confirmed, 2)?.ok_or("changed")?;
        incident.version += 1;
        let mut tx = store.begin_incidents().await?;
        assert!(tx.update_incident(&incident, expected).await?, "{name}");
        tx.commit().await?;
        let change = model::to_change(&incident, ChangeKind::Status, Some(before), 2);
        record(store, &[change.clone(), change]).await?;
        drive(&d, || jira.issues().len() == 1).await?;
        for _ in 0..3 {
            d.run_once().await?;
        }
        assert_eq!(jira.issues().len(), 1, "{name}: one ticket");
        assert_eq!(links_in_state(store, CREATED).await?.len(), 1, "{name}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retraction_that_unconfirms_adds_one_comment_and_keeps_the_ticket() -> R {
    for api in [Api::Jira, Api::Webhook] {
        for db in migrated_dbs().await? {
            let (store, name) = (&db.store, db.name());
            let key = MasterKey::random();
            let tracker = fake(api).await;
            add(store, &key, &tracker).await?;
            let d = dispatcher(store, &key)?;
            let config = IncidentConfig::default();
            let three = [signal("a", "s1", 1, false), signal("b", "s2", 1, false), signal("c", "s3", 1, false)];
            let touched = apply_batch(store, &three, &config, 1).await?;
            assert_eq!(touched[0].incident.status, IncidentStatus::Confirmed, "{name}");
            record(store, &changes(&touched)).await?;
            drive(&d, || tracker.distinct_deliveries() + tracker.issues().len() == 1).await?;

            // The third session's signal is retracted: open again; the change is delivered twice.
            let touched = apply_batch(store, &[signal("c", "s3", 2, true)], &config, 2).await?;
            assert_eq!(touched[0].incident.status, IncidentStatus::Open, "{name}");
            let unconfirmed = changes(&touched);
            record(store, &unconfirmed).await?;
            record(store, &unconfirmed).await?;
            let comments = |t: &Fake| match api {
                Api::Webhook => t
                    .state
                    .lock()
                    .map(|s| s.deliveries.iter().filter(|(_, v)| v["type"] == "incident.unconfirmed").count())
                    .unwrap_or(0),
                _ => t.issues().iter().map(|i| i.comments.len()).sum(),
            };
            drive(&d, || comments(&tracker) == 1).await?;
            // A further retraction while open, and replays: nothing more.
            let touched = apply_batch(store, &[signal("b", "s2", 2, true)], &config, 3).await?;
            record(store, &changes(&touched)).await?;
            for _ in 0..5 {
                d.run_once().await?;
            }
            assert_eq!(comments(&tracker), 1, "{name} {api:?}: one comment");
            match api {
                Api::Webhook => {
                    let created = tracker
                        .state
                        .lock()
                        .map(|s| s.deliveries.iter().filter(|(_, v)| v["type"] != "incident.unconfirmed").count());
                    assert_eq!(created.ok(), Some(1), "{name}: one ticket event");
                }
                _ => {
                    let issues = tracker.issues();
                    assert_eq!(issues.len(), 1, "{name}: the ticket is kept, no second one");
                    assert!(issues[0].comments[0].contains("No longer confirmed"), "{:?}", issues[0].comments);
                }
            }
        }
    }
    Ok(())
}

/// The whole path on a real broker (tansu; skipped unless FRICTION_TEST_BROKERS is set, failed
/// instead under FRICTION_REQUIRE_SERVICES=1): the console's PATCH {"status":"confirmed"} on an
/// open incident publishes the change, the exporter's consumer writes its ledger row and wakes the
/// dispatcher, and the strict fake Jira gets one ticket.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_consoles_manual_confirmation_reaches_jira_through_the_topic() -> R {
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    let Some(brokers) = friction_test_support::kafka::brokers_or_skip("the console → exporter path") else {
        return Ok(());
    };
    let topic = friction_test_support::unique("manual.incidents");
    friction_test_support::kafka::create_topics(&brokers, &[(&topic, 1)]).await;
    let kafka = friction_test_support::kafka::kafka();
    for db in migrated_dbs().await? {
        let (store, name) = (&db.store, db.name());
        let key = MasterKey::random();
        let jira = fake(Api::Jira).await;
        add(store, &key, &jira).await?;
        apply_batch(store, &[signal("a", "s1", 1, false)], &IncidentConfig::default(), 1).await?;

        let dispatcher = Dispatcher::new(
            store.clone(),
            key.clone(),
            DispatcherConfig { poll_interval: Duration::from_secs(3600), ..Default::default() },
        )?;
        let args = friction_exporter::ExporterArgs {
            group: friction_test_support::unique("manual.exporter"),
            incidents_topic: topic.clone(),
            ..Default::default()
        };
        let (stage, handler) = args.stage(store.clone(), tokio::runtime::Handle::current());
        let handler = handler.wake_on_write(dispatcher.waker());
        let shutdown = friction_runtime::Shutdown::new();
        let consumer = friction_runtime::stage::spawn_stage(stage, &kafka, handler, shutdown.clone(), None)?;
        // Polls once an hour: only the consumer's wake-up can start the call in time.
        let task = tokio::spawn(dispatcher.run());

        let token = store.create_console_token(friction_store::Role::Engineer, None).await?.secret;
        let publisher = friction_console::IncidentPublisher::new(&kafka, &topic)?;
        let app = friction_console::router(friction_console::ConsoleState::new(store.clone(), Some(publisher)));
        let request = Request::builder()
            .method("PATCH")
            .uri("/v1/incidents/fp-pay")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(Body::from(r#"{"status":"confirmed"}"#))?;
        let response = app.oneshot(request).await?;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));

        let start = Instant::now();
        while jira.issues().is_empty() {
            assert!(start.elapsed() < Duration::from_secs(60), "{name}: no ticket within 60 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(jira.issues().len(), 1, "{name}");
        shutdown.trigger();
        task.abort();
        consumer.join().map_err(|_| "consumer thread panicked")??;
    }
    Ok(())
}
