//! A signal the store cannot keep never stops the incidents stage (docs/architecture.md §5 "Dead
//! letters"), on SQLite and PostgreSQL, with the stage on the real broker and signals produced
//! straight to its topic (no gateway in front to clean them):
//!
//! - a signal whose element key holds a NUL byte (PostgreSQL refuses NUL in text) is counted, the
//!   NUL replaced;
//! - a signal the store refuses outright is dead-lettered with the store's error in its headers,
//!   while the valid signals of the same batch are counted: on PostgreSQL a session id too long
//!   for the primary-key index (SQLSTATE 54000), on SQLite — which stores any string — a trigger
//!   standing for a constraint the database enforces;
//! - the stage goes on: a later valid signal is counted, and it stops cleanly.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use friction_incidents::IncidentsArgs;
use friction_runtime::stage::{spawn_stage, wait_stage};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::{encode_to_vec, SignalRecord};
use friction_store::Store;
use friction_test_support::kafka::{brokers, create_topics, kafka, reader};
use friction_test_support::unique;
use rand::distr::{Alphanumeric, SampleString};
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};

fn signal(id: &str, fingerprint: &str, session: &str, element_key: &str, start_ms: i64) -> SignalRecord {
    SignalRecord {
        id: id.into(),
        project_id: "p1".into(),
        fingerprint: fingerprint.into(),
        kind: "dead_click".into(),
        session_id: session.into(),
        view_id: format!("{session}:v0"),
        route_template: "/checkout".into(),
        element_key: element_key.into(),
        start_ms,
        end_ms: start_ms + 100,
        ..SignalRecord::default()
    }
}

async fn produce(kafka: &KafkaArgs, topic: &str, signals: &[SignalRecord]) {
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(kafka).expect("config").create().expect("producer");
    let mut pending = Vec::new();
    for s in signals {
        let payload = encode_to_vec(s).expect("encode");
        let record = FutureRecord::to(topic).key(s.fingerprint.as_str()).payload(&payload);
        pending.push(producer.send_result(record).expect("queued"));
    }
    for p in pending {
        p.await.expect("delivered").expect("acknowledged");
    }
}

fn next_message(consumer: &BaseConsumer, limit: Duration, what: &str) -> OwnedMessage {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            return m.detach();
        }
        assert!(Instant::now() < deadline, "{what}: nothing within {limit:?}");
    }
}

fn headers(m: &OwnedMessage) -> BTreeMap<String, String> {
    m.headers()
        .map(|h| {
            h.iter().map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or(&[])).to_string())).collect()
        })
        .unwrap_or_default()
}

/// Waits until incident `id` has `occurrences`.
async fn wait_occurrences(store: &Store, id: &str, occurrences: i64, db: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let incident = store.incident(id).await.expect("read");
        if incident.as_ref().is_some_and(|i| i.occurrences == occurrences) {
            return;
        }
        assert!(Instant::now() < deadline, "{db}: incident {id} never reached {occurrences}: {incident:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run(store: Store, db: &str) {
    let (signals, incidents, deadletter) = (unique("poison.signals"), unique("poison.incidents"), unique("poison.dlq"));
    create_topics(&brokers(), &[(&signals, 1), (&incidents, 1), (&deadletter, 1)]).await;
    store.migrate().await.expect("migrate");
    // What the store refuses: PostgreSQL, a key too large for a btree index entry (random, so it
    // does not compress below the limit); SQLite keeps any string, so a trigger refuses this one.
    let refused_session = match db {
        "postgres" => format!("refused-{}", Alphanumeric.sample_string(&mut rand::rng(), 30_000)),
        _ => {
            sqlx::raw_sql(
                "CREATE TRIGGER refuse_session BEFORE INSERT ON incident_contributions \
                 WHEN NEW.session_id LIKE 'refused-%' BEGIN SELECT RAISE(ABORT, 'session refused by a constraint'); END",
            )
            .execute(store.pool())
            .await
            .expect("trigger");
            "refused-session".to_owned()
        }
    };

    let kafka = kafka();
    let group = unique("poison.group");
    let (config, handler) = IncidentsArgs {
        group: group.clone(),
        signals_topic: signals.clone(),
        incidents_topic: incidents.clone(),
        deadletter_topic: deadletter.clone(),
        ..IncidentsArgs::default()
    }
    .stage(store.clone(), tokio::runtime::Handle::current())
    .expect("no rules file");
    let shutdown = Shutdown::new();
    let stage = spawn_stage(config, &kafka, handler, shutdown.clone(), None).expect("stage");

    let t0 = friction_runtime::now_ms() - 60_000;
    let batch = [
        signal("sig-1", "fp-pay", "sess-1", "pay", t0),
        signal("sig-nul", "fp-nul", "sess-2", "pay\0now", t0 + 1),
        signal("sig-refused", "fp-pay", &refused_session, "pay", t0 + 2),
        signal("sig-2", "fp-pay", "sess-3", "pay", t0 + 3),
    ];
    produce(&kafka, &signals, &batch).await;

    let dlq = reader(&deadletter, 1);
    let letter = next_message(&dlq, Duration::from_secs(60), db);
    let h = headers(&letter);
    assert_eq!(h.get("source.topic"), Some(&signals), "{db}: {h:?}");
    assert_eq!(h.get("source.partition").map(String::as_str), Some("0"), "{db}: {h:?}");
    assert_eq!(h.get("source.offset").map(String::as_str), Some("2"), "{db}: the refused signal is the third: {h:?}");
    assert_eq!(h.get("stage"), Some(&group), "{db}: {h:?}");
    let error = h.get("error").cloned().unwrap_or_default();
    assert!(error.contains("sig-refused"), "{db}: the error names the signal: {error}");
    let reason = if db == "postgres" { "index row" } else { "session refused by a constraint" };
    assert!(error.contains(reason), "{db}: the error says why: {error}");
    assert_eq!(
        letter.payload(),
        Some(encode_to_vec(&batch[2]).expect("encode").as_slice()),
        "{db}: the record as read"
    );
    assert_eq!(letter.key(), Some(&b"fp-pay"[..]));

    // The rest of the batch is counted; the NUL is replaced, not stored and not a reason to refuse.
    wait_occurrences(&store, "fp-pay", 2, db).await;
    wait_occurrences(&store, "fp-nul", 1, db).await;
    let nul = store.incident("fp-nul").await.expect("read").expect("incident");
    assert_eq!(nul.element_key, "pay\u{FFFD}now", "{db}");
    assert!(nul.title.contains("pay\u{FFFD}now") && !nul.title.contains('\0'), "{db}: {}", nul.title);

    // The stage goes on.
    produce(&kafka, &signals, &[signal("sig-3", "fp-pay", "sess-4", "pay", t0 + 4)]).await;
    wait_occurrences(&store, "fp-pay", 3, db).await;
    let pay = store.incident("fp-pay").await.expect("read").expect("incident");
    assert_eq!(pay.sessions, 3, "{db}: the refused signal's session is not counted");
    assert!(!stage.is_finished(), "{db}: the stage stopped");
    assert!(dlq.poll(Duration::from_millis(500)).is_none(), "{db}: one dead letter only");

    shutdown.trigger();
    wait_stage("incidents", stage).await.unwrap_or_else(|e| panic!("{db}: the stage failed: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signal_the_store_refuses_is_a_dead_letter_and_the_stage_goes_on() {
    if friction_test_support::kafka::brokers_or_skip("the incidents stage's poison test").is_none() {
        return;
    }
    let dbs = friction_store::testing::test_dbs().await.expect("databases");
    for db in &dbs {
        run(db.store.clone(), db.name()).await;
    }
}
