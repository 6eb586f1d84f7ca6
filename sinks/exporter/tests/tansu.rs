//! The `friction-exporter` binary on a real broker (tansu; skipped unless FRICTION_TEST_BROKERS is
//! set, failed instead under FRICTION_REQUIRE_SERVICES=1): incident changes on the topic become
//! one Jira ticket each; after a SIGKILL the restarted process reads redelivered changes again and
//! still makes no second ticket.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use friction_exporter::integration::add_integration;
use friction_exporter::ledger::{links_in_state, CREATED};
use friction_exporter::{IntegrationConfig, Kind, MasterKey, NewIntegration, Secret};
use friction_schemas::{encode_to_vec, IncidentChange};
use friction_test_support::fakes::{Api, Fake};
use friction_test_support::kafka::{brokers_or_skip, create_topics, kafka_properties};
use friction_test_support::{unique, KillOnDrop};
use rdkafka::producer::{FutureProducer, FutureRecord};

type R = Result<(), Box<dyn std::error::Error + Send + Sync>>;

async fn produce(brokers: &str, topic: &str, changes: &[IncidentChange]) -> R {
    let mut kafka = friction_runtime::KafkaArgs::with_brokers(brokers);
    kafka.kafka_properties = kafka_properties();
    let producer: FutureProducer = friction_runtime::kafka::producer_config(&kafka)?.create()?;
    for c in changes {
        let payload = encode_to_vec(c)?;
        producer
            .send(FutureRecord::to(topic).key(&c.id).payload(&payload), Duration::from_secs(10))
            .await
            .map_err(|(e, _)| format!("produce: {e}"))?;
    }
    Ok(())
}

fn change(id: &str, version: i64) -> IncidentChange {
    IncidentChange {
        id: id.into(),
        project_id: "shop".into(),
        kind: "dead_click".into(),
        title: format!("Dead clicks on Pay ({id})"),
        status: "confirmed".into(),
        occurrences: 5,
        version,
        generation: 1,
        ..Default::default()
    }
}

async fn wait_created(store: &friction_store::Store, n: usize) -> R {
    let start = Instant::now();
    while links_in_state(store, CREATED).await?.len() < n {
        if start.elapsed() > Duration::from_secs(90) {
            return Err(format!("fewer than {n} tickets created within 90 s").into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Whether `group` has committed both partitions of `topic` up to their end.
fn committed_everything(
    brokers: &str,
    group: &str,
    topic: &str,
) -> Result<bool, Box<dyn std::error::Error + Send + Sync>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer =
        rdkafka::config::ClientConfig::new().set("bootstrap.servers", brokers).set("group.id", group).create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..2 {
        tpl.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(tpl, Duration::from_secs(5))?;
    for p in 0..2 {
        let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5))?;
        let at = committed.find_partition(topic, p).and_then(|e| e.offset().to_raw()).unwrap_or(-1);
        if at < high {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Waits until every change on `topic` was consumed and committed by `group` and every ledger row
/// is settled (none pending, being created or ambiguous).
async fn wait_settled(brokers: &str, group: &str, topic: &str, store: &friction_store::Store) -> R {
    use friction_exporter::ledger::{AMBIGUOUS, CREATING, PENDING};
    let start = Instant::now();
    loop {
        // Committed first: the ledger rows of committed changes were written before the commit.
        let committed = committed_everything(brokers, group, topic)?;
        let mut in_flight = 0;
        for state in [PENDING, CREATING, AMBIGUOUS] {
            in_flight += links_in_state(store, state).await?.len();
        }
        if committed && in_flight == 0 {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(60) {
            return Err(
                format!("not settled within 60 s: committed {committed}, {in_flight} ledger rows in flight").into()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_changes_on_tansu_become_one_ticket_each_across_a_sigkill() -> R {
    let Some(brokers) = brokers_or_skip("incident_changes_on_tansu_become_one_ticket_each_across_a_sigkill") else {
        return Ok(());
    };
    let topic = unique("exp.incidents");
    let dlq = unique("exp.dlq");
    let group = unique("exp.group");
    create_topics(&brokers, &[(&topic, 2), (&dlq, 1)]).await;
    let dbs = friction_store::testing::migrated_dbs().await?;
    let db = &dbs[0];
    let key = MasterKey::random();
    let jira = Fake::start(Api::Jira, &format!("Basic {}", B64.encode("bot@acme.com:tok-tansu"))).await;
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
        secret: Secret::new("tok-tansu"),
    };
    add_integration(&db.store, &key, &new).await?;
    let start_exporter = || -> std::io::Result<KillOnDrop> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction-exporter"));
        for p in kafka_properties() {
            cmd.args(["--kafka-property", &p]);
        }
        // The restarted copy joins only once the killed one's group session expires: keep it short.
        cmd.args(["--kafka-property", "session.timeout.ms=6000"]);
        cmd.args(["--brokers", &brokers, "--group", &group, "--incidents-topic", &topic, "--deadletter-topic", &dlq])
            .args(["--admin-addr", "127.0.0.1:0", "--jira-lag-grace-ms", "500", "--lease-ms", "2000", "--log", "warn"])
            .env("DATABASE_URL", &db.url)
            .env("FRICTION_MASTER_KEY", key.to_hex())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(KillOnDrop)
    };

    produce(&brokers, &topic, &[change("inc-1", 1), change("inc-1", 1), change("inc-2", 1)]).await?;
    let mut first = start_exporter()?;
    wait_created(&db.store, 2).await?;
    first.0.kill()?;
    first.0.wait()?;
    // Redelivered and newer changes of the same incidents, then a new one: once the new one has
    // its ticket, the restarted consumer has read the others too.
    produce(&brokers, &topic, &[change("inc-1", 1), change("inc-2", 2), change("inc-3", 1)]).await?;
    let _second = start_exporter()?;
    wait_created(&db.store, 3).await?;
    // The third ticket may come from one partition while the other still holds a redelivered
    // change: count only once every change was read and committed and no ledger row is in flight.
    wait_settled(&brokers, &group, &topic, &db.store).await?;
    assert_eq!(jira.issues().len(), 3, "{:?}", jira.issues());
    for link in links_in_state(&db.store, CREATED).await? {
        assert_eq!(jira.issues_with_label(&link.marker), 1);
    }
    Ok(())
}
