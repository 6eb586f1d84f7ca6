//! The detector stage on a real broker: sessionized events in, signals out keyed by fingerprint,
//! and a rage burst that straddles a restart is still one signal (its first clicks come back from
//! the changelog).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use friction_detector::{DetectorConfig, DetectorHandler, RulesByProject};
use friction_runtime::stage::{spawn_stage, StageConfig};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::event::{Click, Navigation, Target};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec, RawEvent, SignalRecord};
use friction_test_support::kafka::{brokers, create_topics, kafka};
use friction_test_support::unique;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

const T0: i64 = 1_705_312_800_000;

fn event(session: usize, seq: i64, ts: i64, kind: &str) -> Sessionized<'static> {
    let sid = format!("sess-{session}");
    let mut e = RawEvent {
        project_id: "proj".into(),
        session_id: Cow::Owned(sid.clone()),
        event_id: Cow::Owned(format!("{sid}-{seq}")),
        event_type: Cow::Owned(kind.into()),
        timestamp: ts,
        route: Some(Cow::Owned(format!("/orders/{session}/pay"))),
        ..RawEvent::default()
    };
    if kind == "click" {
        e.target = Some(Target {
            key: Some("pay".into()),
            tag: Some("button".into()),
            interactive: Some(true),
            ..Target::default()
        });
        e.click = Some(Click::default());
    } else {
        e.navigation = Some(Navigation { kind: "load".into(), from: None, to: None });
    }
    Sessionized {
        event: e,
        session_key: Cow::Owned(format!("{sid}#0")),
        seq,
        view_id: Cow::Owned(format!("{sid}#0:v0")),
        view_index: 0,
        late: false,
        reordered: false,
        session_start: T0,
    }
}

async fn produce(kafka: &KafkaArgs, topic: &str, events: &[Sessionized<'static>], partition: Option<i32>) {
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(kafka).expect("cfg").create().expect("producer");
    let mut acks = Vec::new();
    for e in events {
        let payload = encode_to_vec(e).expect("encode");
        let key = e.key();
        let mut record = FutureRecord::to(topic).key(&key).payload(&payload);
        if let Some(p) = partition {
            record = record.partition(p);
        }
        acks.push(producer.send_result(record).expect("queued"));
    }
    for a in acks {
        a.await.expect("delivered").expect("acked");
    }
}

fn start(
    kafka: &KafkaArgs,
    group: &str,
    input: &str,
    signals: &str,
    changelog: &str,
    dlq: &str,
) -> (Shutdown, std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>) {
    let mut stage = StageConfig::new(group, vec![input.to_string()]);
    stage.changelog_topic = Some(changelog.into());
    stage.deadletter_topic = dlq.into();
    stage.commit_interval = Duration::from_millis(300);
    // No wall-clock decisions here (no idle advance, an hour of grace before a quiet session is
    // judged): the pause between the two halves must not decide the bursts' windows; event time
    // alone drives decisions.
    let config = DetectorConfig {
        session_gap_ms: 60_000,
        idle_grace_ms: 3_600_000,
        early_grace_ms: 3_600_000,
        signals_topic: Arc::from(signals),
        ..DetectorConfig::default()
    };
    let shutdown = Shutdown::new();
    let handle =
        spawn_stage(stage, kafka, DetectorHandler::new(config, RulesByProject::default()), shutdown.clone(), None)
            .expect("stage");
    (shutdown, handle)
}

fn read_signals(
    consumer: &BaseConsumer,
    into: &mut Vec<(String, SignalRecord)>,
    want_sessions: usize,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    loop {
        let rage: BTreeSet<&str> =
            into.iter().filter(|(_, s)| s.kind == "rage_click").map(|(_, s)| s.session_id.as_str()).collect();
        if rage.len() >= want_sessions {
            return;
        }
        assert!(Instant::now() < deadline, "only {} rage signals: {rage:?}", rage.len());
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let key = String::from_utf8_lossy(m.key().unwrap_or(&[])).to_string();
            into.push((key, decode(m.payload().expect("payload")).expect("signal decodes")));
        }
    }
}

/// Whether `group` has committed every partition of `topic` up to its end.
fn committed_everything(kafka: &KafkaArgs, group: &str, topic: &str, partitions: i32) -> bool {
    let Ok(config) = friction_runtime::kafka::consumer_config(kafka, group) else { return false };
    let Ok(consumer) = config.create::<BaseConsumer>() else { return false };
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(5)) else { return false };
    (0..partitions).all(|p| {
        let Ok((_, high)) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5)) else { return false };
        let at = committed.find_partition(topic, p).and_then(|e| e.offset().to_raw()).unwrap_or(-1);
        high > 0 && at >= high
    })
}

/// The distinct keys of the records on `topic` (all partitions, read to their end).
fn changelog_keys(brokers: &str, topic: &str, partitions: i32) -> BTreeSet<String> {
    let consumer: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("e2e.changelog-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    let mut ends = Vec::new();
    for p in 0..partitions {
        ends.push(consumer.fetch_watermarks(topic, p, Duration::from_secs(5)).expect("watermarks").1);
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut read = vec![0i64; partitions as usize];
    let mut keys = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while (0..partitions as usize).any(|p| read[p] < ends[p]) {
        assert!(Instant::now() < deadline, "could not read {topic} to its end");
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            read[m.partition() as usize] = m.offset() + 1;
            keys.insert(String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned());
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_come_out_keyed_by_fingerprint_and_survive_a_restart() {
    let brokers = brokers();
    let (input, signals, changelog, dlq, group) = (
        unique("e2e.det.in"),
        unique("e2e.det.signals"),
        unique("e2e.det.changelog"),
        unique("e2e.det.dlq"),
        unique("e2e.det.group"),
    );
    create_topics(&brokers, &[(&input, 3), (&signals, 3), (&changelog, 3), (&dlq, 1)]).await;
    let kafka = kafka();
    const SESSIONS: usize = 30;

    // First part: a page load and two clicks per session.
    let mut first = Vec::new();
    let mut second = Vec::new();
    for s in 0..SESSIONS {
        // Every session at the same time: no session's events move event time past another's burst.
        let start = T0;
        first.push(event(s, 0, start, "pageview"));
        first.push(event(s, 1, start + 1_000, "click"));
        first.push(event(s, 2, start + 1_200, "click"));
        // Second part: two more clicks of the same burst, then time moves on.
        second.push(event(s, 3, start + 1_400, "click"));
        second.push(event(s, 4, start + 1_600, "click"));
    }
    produce(&kafka, &input, &first, None).await;
    let (stop, handle) = start(&kafka, &group, &input, &signals, &changelog, &dlq);
    // The first copy must have read and committed the whole first part (its state, the bursts'
    // first clicks, is then in the changelog): otherwise the restart proves nothing.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !committed_everything(&kafka, &group, &input, 3) {
        assert!(Instant::now() < deadline, "the first copy never committed the first part");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys = changelog_keys(&brokers, &changelog, 3);
    let sessions = (0..SESSIONS).filter(|s| keys.contains(&format!("sess-{s}#0"))).count();
    assert_eq!(sessions, SESSIONS, "every session's state is in the changelog: {keys:?}");
    stop.trigger();
    tokio::task::spawn_blocking(move || handle.join()).await.expect("join").expect("thread").expect("clean stop");

    produce(&kafka, &input, &second, None).await;
    // An event far later in event time, in every partition, closes every burst's window.
    for p in 0..3 {
        produce(&kafka, &input, &[event(SESSIONS + 1 + p as usize, 0, T0 + 40_000, "pageview")], Some(p)).await;
    }
    let (stop, handle) = start(&kafka, &group, &input, &signals, &changelog, &dlq);

    let consumer: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", unique("e2e.reader"))
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        tpl.add_partition_offset(&signals, p, Offset::Beginning).expect("tpl");
    }
    consumer.assign(&tpl).expect("assign");
    let mut got = Vec::new();
    read_signals(&consumer, &mut got, SESSIONS, Duration::from_secs(60));
    stop.trigger();
    tokio::task::spawn_blocking(move || handle.join()).await.expect("join").expect("thread").expect("clean stop");

    let mut per_session: BTreeMap<String, Vec<&SignalRecord>> = BTreeMap::new();
    for (key, s) in &got {
        assert_eq!(key, &s.fingerprint, "signals are keyed by fingerprint");
        if s.kind == "rage_click" {
            per_session.entry(s.session_id.clone()).or_default().push(s);
        }
    }
    for (session, rages) in &mut per_session {
        let ids: BTreeSet<&str> = rages.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids.len(), 1, "one rage signal per burst in {session}");
        assert!(rages.iter().all(|s| !s.retracted), "{session}");
        // Its newest version is what counts.
        rages.sort_by_key(|s| std::cmp::Reverse(s.version));
        // The burst straddled the restart: all four clicks are in its evidence.
        assert_eq!(
            rages[0].evidence.event_ids.iter().filter(|id| !id.ends_with("-0")).count(),
            4,
            "{:?}",
            rages[0].evidence.event_ids
        );
        assert_eq!(rages[0].route_template, "/orders/:id/pay");
        // Published as one episode: the dead click on the same button is a label, not a signal.
        assert_eq!(rages[0].labels, ["rage_click:unresponsive", "dead_click"], "{session}");
        assert!(rages[0].episode_id.is_some());
    }
    assert!(got.iter().all(|(_, s)| s.kind != "dead_click"), "a dead click was published on its own");
    // Same route template and element across sessions: one fingerprint, one incident.
    let fingerprints: BTreeSet<&str> = per_session.values().map(|r| r[0].fingerprint.as_str()).collect();
    assert_eq!(fingerprints.len(), 1);
}
