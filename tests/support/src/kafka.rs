//! The test broker (tansu): its address and client settings, throwaway topics, and a reader of a
//! topic from its beginning.

use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::{Offset, TopicPartitionList};

use crate::{service, BROKERS_ENV};

/// Extra client properties for the test broker, comma-separated `key=value`.
pub const KAFKA_PROPERTIES_ENV: &str = "FRICTION_TEST_KAFKA_PROPERTIES";

/// What [`kafka_properties`] is when [`KAFKA_PROPERTIES_ENV`] is unset, as scripts/test.sh sets it:
/// tansu 0.6.0's SQLite engine panics in its idempotent-producer check under load
/// (`lite.rs: more or less than one row`) and then refuses every request.
pub const TANSU_PROPERTIES: &str = "enable.idempotence=false,max.in.flight.requests.per.connection=1";

/// The broker, for tests that cannot do without it: they fail when [`BROKERS_ENV`] is unset (run
/// them through scripts/test.sh, or `scripts/services.sh start tansu && source .services/env`).
pub fn brokers() -> String {
    std::env::var(BROKERS_ENV).ok().filter(|b| !b.is_empty()).unwrap_or_else(|| {
        panic!("{BROKERS_ENV} is not set: run scripts/test.sh (it starts tansu), or scripts/services.sh start && source .services/env")
    })
}

/// The broker, or `None` when [`BROKERS_ENV`] is unset and `test` skips (see [`crate::service`]).
pub fn brokers_or_skip(test: &str) -> Option<String> {
    service(BROKERS_ENV, test)
}

/// Client settings for the test broker: [`brokers`], plus [`kafka_properties`].
pub fn kafka() -> friction_runtime::KafkaArgs {
    let mut args = friction_runtime::KafkaArgs::with_brokers(brokers());
    args.kafka_properties = kafka_properties();
    args
}

/// [`KAFKA_PROPERTIES_ENV`] as a list (also for binaries a test starts: `--kafka-property`);
/// [`TANSU_PROPERTIES`] when it is unset.
pub fn kafka_properties() -> Vec<String> {
    std::env::var(KAFKA_PROPERTIES_ENV)
        .unwrap_or_else(|_| TANSU_PROPERTIES.to_owned())
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// Creates `(name, partitions)` topics on the broker at `brokers` and waits until they are
/// visible with all their partitions (at most 15 s each).
pub async fn create_topics(brokers: &str, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let new: Vec<NewTopic> = topics.iter().map(|(n, p)| NewTopic::new(n, *p, TopicReplication::Fixed(1))).collect();
    for r in admin.create_topics(&new, &AdminOptions::new()).await.expect("create topics") {
        r.expect("topic created");
    }
    for (name, partitions) in topics {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let md = admin.inner().fetch_metadata(Some(name), Duration::from_secs(5));
            if md.as_ref().is_ok_and(|m| {
                m.topics().first().is_some_and(|t| t.error().is_none() && t.partitions().len() == *partitions as usize)
            }) {
                break;
            }
            assert!(Instant::now() < deadline, "topic {name} never appeared");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A consumer of partitions `0..partitions` of `topic` from the beginning, assigned (no group
/// membership, nothing committed).
pub fn reader(topic: &str, partitions: i32) -> BaseConsumer {
    assigned_reader(topic, partitions, false)
}

/// [`reader`], reporting the end of each partition (`PartitionEOF`) when `eof`.
fn assigned_reader(topic: &str, partitions: i32, eof: bool) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", crate::unique("e2e.reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", if eof { "true" } else { "false" })
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("tpl");
    }
    c.assign(&tpl).expect("assign");
    c
}

/// Every message of partitions `0..partitions` of `topic`, from the beginning to the end each
/// partition has when the reader gets there; stops early after `limit` with what it has.
pub fn read_to_end(topic: &str, partitions: i32, limit: Duration) -> Vec<OwnedMessage> {
    let c = assigned_reader(topic, partitions, true);
    let mut out = Vec::new();
    let mut at_end = std::collections::BTreeSet::new();
    let deadline = Instant::now() + limit;
    while at_end.len() < partitions as usize && Instant::now() < deadline {
        match c.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                out.push(m.detach());
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            _ => {}
        }
    }
    out
}
