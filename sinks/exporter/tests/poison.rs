//! An incident change the ledger cannot keep never stops the exporter's consumer
//! (docs/architecture.md §5 "Dead letters"), on SQLite and PostgreSQL, with the stage on the real
//! broker and changes produced straight to its topic:
//!
//! - a change the store refuses is dead-lettered with the store's error in its headers while the
//!   other changes of its batch get their ledger rows: on PostgreSQL an incident id holding a NUL
//!   byte (`invalid byte sequence for encoding "UTF8": 0x00`, SQLSTATE 22021), on SQLite — which
//!   stores any string — a trigger standing for a constraint the database enforces;
//! - a change whose severity is NaN (its JSON snapshot could not be read back) is dead-lettered
//!   as it arrives;
//! - the stage goes on: a later change gets its row, and the stage stops cleanly.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use friction_exporter::integration::add_integration;
use friction_exporter::ledger::{links_in_state, PENDING};
use friction_exporter::{ExporterArgs, IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_runtime::stage::{spawn_stage, wait_stage};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::{encode_to_vec, IncidentChange};
use friction_store::Store;
use friction_test_support::kafka::{brokers_or_skip, create_topics, kafka, reader};
use friction_test_support::unique;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn change(id: &str) -> IncidentChange {
    IncidentChange {
        id: id.into(),
        project_id: "shop".into(),
        kind: "dead_click".into(),
        title: format!("Dead clicks on Pay ({id})"),
        status: "confirmed".into(),
        occurrences: 5,
        version: 1,
        generation: 1,
        ..Default::default()
    }
}

async fn produce(kafka: &KafkaArgs, topic: &str, changes: &[IncidentChange]) {
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(kafka).expect("config").create().expect("producer");
    let mut pending = Vec::new();
    for c in changes {
        let payload = encode_to_vec(c).expect("encode");
        pending
            .push(producer.send_result(FutureRecord::to(topic).key(c.id.as_str()).payload(&payload)).expect("queued"));
    }
    for p in pending {
        p.await.expect("delivered").expect("acknowledged");
    }
}

async fn wait_rows(store: &Store, ids: &[&str], db: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows: Vec<String> =
            links_in_state(store, PENDING).await.expect("ledger").into_iter().map(|l| l.key.incident_id).collect();
        if rows == ids {
            return;
        }
        assert!(Instant::now() < deadline, "{db}: ledger rows {rows:?}, expected {ids:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(store: Store, db: &str) {
    let (topic, deadletter, group) = (unique("exp.poison.in"), unique("exp.poison.dlq"), unique("exp.poison.group"));
    create_topics(&friction_test_support::kafka::brokers(), &[(&topic, 1), (&deadletter, 1)]).await;
    let refused_id = match db {
        "postgres" => "refused\0nul".to_owned(),
        _ => {
            sqlx::raw_sql(
                "CREATE TRIGGER refuse_incident BEFORE INSERT ON ticket_links \
                 WHEN NEW.incident_id LIKE 'refused%' BEGIN SELECT RAISE(ABORT, 'incident refused by a constraint'); END",
            )
            .execute(store.pool())
            .await
            .expect("trigger");
            "refused-1".to_owned()
        }
    };
    let new = NewIntegration {
        name: "jira".into(),
        kind: Kind::Jira,
        project_id: None,
        kinds: vec![],
        min_severity: 0.0,
        config: IntegrationConfig {
            base_url: "http://127.0.0.1:9".into(),
            email: Some("bot@acme.com".into()),
            project_key: Some("OPS".into()),
            issue_type_id: Some("10004".into()),
            ..Default::default()
        },
        secret: Secret::new("tok"),
    };
    add_integration(&store, &MasterKey::random(), &new).await.expect("integration");

    let kafka = kafka();
    let (config, handler) =
        ExporterArgs { group: group.clone(), incidents_topic: topic.clone(), deadletter_topic: deadletter.clone() }
            .stage(store.clone(), tokio::runtime::Handle::current());
    let shutdown = Shutdown::new();
    let stage = spawn_stage(config, &kafka, handler, shutdown.clone(), None).expect("stage");

    let nan = IncidentChange { severity: f64::NAN, ..change("inc-nan") };
    produce(&kafka, &topic, &[change("inc-1"), change(&refused_id), nan, change("inc-2")]).await;

    let dlq = reader(&deadletter, 1);
    let mut letters: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while letters.len() < 2 {
        assert!(Instant::now() < deadline, "{db}: dead letters {letters:?}");
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(100)) {
            let h: BTreeMap<String, String> = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or(&[])).into()))
                        .collect()
                })
                .unwrap_or_default();
            assert_eq!(h.get("source.topic"), Some(&topic), "{db}: {h:?}");
            assert_eq!(h.get("stage"), Some(&group), "{db}: {h:?}");
            letters.insert(h.get("source.offset").cloned().unwrap_or_default(), h);
        }
    }
    let refused = letters.get("1").and_then(|h| h.get("error")).cloned().unwrap_or_default();
    let reason = if db == "postgres" { "invalid byte sequence" } else { "incident refused by a constraint" };
    assert!(refused.contains(reason), "{db}: the refused change's error: {letters:?}");
    let nan = letters.get("2").and_then(|h| h.get("error")).cloned().unwrap_or_default();
    assert!(nan.contains("not a finite number"), "{db}: the NaN change's error: {letters:?}");
    wait_rows(&store, &["inc-1", "inc-2"], db).await;

    produce(&kafka, &topic, &[change("inc-3")]).await;
    wait_rows(&store, &["inc-1", "inc-2", "inc-3"], db).await;
    assert!(!stage.is_finished(), "{db}: the stage stopped");
    assert!(dlq.poll(Duration::from_millis(500)).is_none(), "{db}: two dead letters only");
    shutdown.trigger();
    wait_stage("exporter", stage).await.unwrap_or_else(|e| panic!("{db}: the stage failed: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_the_ledger_refuses_is_a_dead_letter_and_the_consumer_goes_on() {
    if brokers_or_skip("the exporter's poison test").is_none() {
        return;
    }
    let dbs = friction_store::testing::migrated_dbs().await.expect("databases");
    for db in &dbs {
        run(db.store.clone(), db.name()).await;
    }
}
