//! The stateful stage runtime against a real broker: at-least-once with state in a changelog,
//! dead letters with their headers, restore after a restart, and two members of one group handing
//! partitions (and their state) over.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use friction_runtime::stage::{spawn_stage, Outputs, StageConfig, StageHandler};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_test_support::kafka::{brokers, create_topics, kafka, reader};
use friction_test_support::unique;
use rdkafka::consumer::BaseConsumer;
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Counts messages per key; emits `key:count` for every message. `bad` payloads are refused.
struct Counter {
    out_topic: Arc<str>,
    counts: HashMap<i32, HashMap<String, u64>>,
    dirty: Vec<(i32, String)>,
    log: Arc<Mutex<MemberLog>>,
}

/// What one member of the group did, for the test to look at.
#[derive(Debug, Default)]
struct MemberLog {
    /// Partitions assigned (restored) to it, in order, with repeats.
    assigned: Vec<i32>,
    /// Partitions it restored a count of from the changelog.
    restored_counts: BTreeSet<i32>,
    /// (round, partition) of every message it counted (payloads are `r{round}-{i}`).
    counted: BTreeSet<(String, i32)>,
}

impl MemberLog {
    fn partitions_in_round(&self, round: &str) -> BTreeSet<i32> {
        self.counted.iter().filter(|(r, _)| r == round).map(|(_, p)| *p).collect()
    }
}

fn log_of(log: &Arc<Mutex<MemberLog>>) -> std::sync::MutexGuard<'_, MemberLog> {
    log.lock().expect("member log")
}

impl StageHandler for Counter {
    fn on_message(
        &mut self,
        partition: i32,
        _offset: i64,
        key: Option<&[u8]>,
        payload: &[u8],
        _now: i64,
        out: &mut Outputs,
    ) -> Result<(), String> {
        if payload == b"bad" {
            return Err("payload is `bad`".into());
        }
        if payload == b"panic" {
            panic!("payload is `panic` (a deliberate bug in a handler)");
        }
        let key = std::str::from_utf8(key.unwrap_or(&[])).map_err(|e| e.to_string())?.to_string();
        let round = String::from_utf8_lossy(payload).split('-').next().unwrap_or_default().to_owned();
        log_of(&self.log).counted.insert((round, partition));
        let count = self.counts.entry(partition).or_default().entry(key.clone()).or_insert(0);
        *count += 1;
        out.send(&self.out_topic, key.clone(), format!("{key}:{count}").into_bytes());
        self.dirty.push((partition, key));
        Ok(())
    }
    fn flush_state(&mut self, out: &mut Outputs) {
        for (p, key) in self.dirty.drain(..) {
            if let Some(c) = self.counts.get(&p).and_then(|m| m.get(&key)) {
                out.put_state(p, key.clone(), c.to_be_bytes());
            }
        }
    }
    fn restore(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key = String::from_utf8(key.to_vec()).map_err(|e| e.to_string())?;
        match value {
            Some(v) => {
                let bytes: [u8; 8] = v.try_into().map_err(|_| "bad state".to_string())?;
                self.counts.entry(partition).or_default().insert(key, u64::from_be_bytes(bytes));
                log_of(&self.log).restored_counts.insert(partition);
            }
            None => {
                self.counts.entry(partition).or_default().remove(&key);
            }
        }
        Ok(())
    }
    fn restored(&mut self, partition: i32, _now_ms: i64) {
        log_of(&self.log).assigned.push(partition);
    }
    fn revoke(&mut self, partition: i32) {
        self.counts.remove(&partition);
    }
}

struct Topics {
    input: String,
    output: String,
    changelog: String,
    dlq: String,
    group: String,
}

async fn topics() -> Topics {
    let t = Topics {
        input: unique("e2e.stage.in"),
        output: unique("e2e.stage.out"),
        changelog: unique("e2e.stage.changelog"),
        dlq: unique("e2e.stage.dlq"),
        group: unique("e2e.stage.group"),
    };
    create_topics(&brokers(), &[(&t.input, 4), (&t.output, 4), (&t.changelog, 4), (&t.dlq, 1)]).await;
    t
}

type StageThread = std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>;

fn start(t: &Topics, kafka: &KafkaArgs) -> (Shutdown, StageThread) {
    let (shutdown, handle, _) = start_logged(t, kafka);
    (shutdown, handle)
}

/// [`start`], with the member's log.
fn start_logged(t: &Topics, kafka: &KafkaArgs) -> (Shutdown, StageThread, Arc<Mutex<MemberLog>>) {
    let mut config = StageConfig::new(t.group.clone(), vec![t.input.clone()]);
    config.changelog_topic = Some(t.changelog.clone());
    config.deadletter_topic = t.dlq.clone();
    config.commit_interval = Duration::from_millis(300);
    config.commit_max_messages = 200;
    let log = Arc::new(Mutex::new(MemberLog::default()));
    let handler = Counter {
        out_topic: Arc::from(t.output.as_str()),
        counts: HashMap::new(),
        dirty: Vec::new(),
        log: log.clone(),
    };
    let shutdown = Shutdown::new();
    let handle = spawn_stage(config, kafka, handler, shutdown.clone(), None).expect("stage starts");
    (shutdown, handle, log)
}

async fn produce(kafka: &KafkaArgs, topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(kafka).expect("cfg").create().expect("producer");
    let mut futures = Vec::new();
    for (k, v) in messages {
        futures
            .push(producer.send_result(FutureRecord::to(topic).key(k.as_str()).payload(v.as_slice())).expect("queued"));
    }
    for f in futures {
        f.await.expect("delivered").expect("acked");
    }
}

/// Reads `key:count` outputs until every key reached its expected count; returns counts seen.
fn read_until(
    out: &BaseConsumer,
    expected: &BTreeMap<String, u64>,
    seen: &mut BTreeMap<String, Vec<u64>>,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    let done = |seen: &BTreeMap<String, Vec<u64>>| {
        expected.iter().all(|(k, n)| seen.get(k).is_some_and(|v| v.iter().max() == Some(n)))
    };
    while !done(seen) {
        assert!(
            Instant::now() < deadline,
            "outputs incomplete: {:?}",
            seen.iter().map(|(k, v)| (k, v.iter().max())).collect::<Vec<_>>()
        );
        if let Some(Ok(m)) = out.poll(Duration::from_millis(100)) {
            let text = String::from_utf8_lossy(m.payload().unwrap_or(&[])).to_string();
            let (k, c) = text.rsplit_once(':').expect("key:count");
            seen.entry(k.to_string()).or_default().push(c.parse().expect("count"));
        }
    }
}

fn messages(keys: usize, per_key: usize, round: usize) -> Vec<(String, Vec<u8>)> {
    let mut m = Vec::new();
    for i in 0..per_key {
        for k in 0..keys {
            m.push((format!("key-{k}"), format!("r{round}-{i}").into_bytes()));
        }
    }
    m
}

fn assert_no_count_lost(seen: &BTreeMap<String, Vec<u64>>, expected: &BTreeMap<String, u64>) {
    for (k, n) in expected {
        let mut counts = seen.get(k).cloned().unwrap_or_default();
        counts.sort_unstable();
        counts.dedup();
        // Every count 1..=n was emitted (nothing lost) and none beyond n (nothing counted twice).
        assert_eq!(counts, (1..=*n).collect::<Vec<_>>(), "key {k}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_survives_a_restart_and_bad_messages_are_dead_lettered() {
    let t = topics().await;
    let kafka = kafka();
    let mut first = messages(20, 50, 0);
    first.insert(10, ("key-3".into(), b"bad".to_vec()));
    produce(&kafka, &t.input, &first).await;

    let (stop, handle) = start(&t, &kafka);
    let out = reader(&t.output, 4);
    let mut seen = BTreeMap::new();
    let expected: BTreeMap<String, u64> = (0..20).map(|k| (format!("key-{k}"), 50)).collect();
    read_until(&out, &expected, &mut seen, Duration::from_secs(60));
    stop.trigger();
    tokio::task::spawn_blocking(move || handle.join()).await.expect("join").expect("thread").expect("clean stop");

    // A new instance of the stage continues from the committed offsets and the restored counts.
    produce(&kafka, &t.input, &messages(20, 30, 1)).await;
    let (stop, handle) = start(&t, &kafka);
    let expected: BTreeMap<String, u64> = (0..20).map(|k| (format!("key-{k}"), 80)).collect();
    read_until(&out, &expected, &mut seen, Duration::from_secs(60));
    stop.trigger();
    tokio::task::spawn_blocking(move || handle.join()).await.expect("join").expect("thread").expect("clean stop");
    assert_no_count_lost(&seen, &expected);

    let dlq = reader(&t.dlq, 1);
    let deadline = Instant::now() + Duration::from_secs(20);
    let msg = loop {
        if let Some(Ok(m)) = dlq.poll(Duration::from_millis(100)) {
            break m.detach();
        }
        assert!(Instant::now() < deadline, "no dead letter");
    };
    assert_eq!(msg.payload(), Some(&b"bad"[..]));
    let headers = msg.headers().expect("headers");
    let h: BTreeMap<String, String> = headers
        .iter()
        .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or(&[])).to_string()))
        .collect();
    assert_eq!(h.get("source.topic"), Some(&t.input));
    assert_eq!(h.get("stage"), Some(&t.group));
    assert!(h.contains_key("source.partition") && h.contains_key("source.offset"));
    assert!(h.get("error").is_some_and(|e| e.contains("bad")), "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_split_partitions_and_state_follows_a_partition() {
    let t = topics().await;
    let kafka = kafka();
    let (stop_a, handle_a, log_a) = start_logged(&t, &kafka);
    produce(&kafka, &t.input, &messages(16, 40, 0)).await;
    let out = reader(&t.output, 4);
    let mut seen = BTreeMap::new();
    let expected: BTreeMap<String, u64> = (0..16).map(|k| (format!("key-{k}"), 40)).collect();
    read_until(&out, &expected, &mut seen, Duration::from_secs(60));
    assert_eq!(log_of(&log_a).partitions_in_round("r0"), BTreeSet::from([0, 1, 2, 3]), "A alone counted round 0");

    // B joins; the group splits the partitions; more input arrives while both run.
    let (stop_b, handle_b, log_b) = start_logged(&t, &kafka);
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_of(&log_b).assigned.is_empty() {
        assert!(Instant::now() < deadline, "B was never assigned a partition");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    produce(&kafka, &t.input, &messages(16, 40, 1)).await;
    let expected: BTreeMap<String, u64> = (0..16).map(|k| (format!("key-{k}"), 80)).collect();
    read_until(&out, &expected, &mut seen, Duration::from_secs(90));
    let (a1, b1) = (log_of(&log_a).partitions_in_round("r1"), log_of(&log_b).partitions_in_round("r1"));
    assert!(!b1.is_empty(), "B held partitions and counted round 1 in them (A: {a1:?})");
    assert!(!a1.is_empty(), "A kept partitions: the group split them (B: {b1:?})");
    assert!(a1.is_disjoint(&b1), "one member per partition: A {a1:?}, B {b1:?}");
    // B's partitions had counts from round 0 (by A): B restored them from the changelog.
    assert!(log_of(&log_b).restored_counts.is_superset(&b1), "B restored the counts of the partitions it took");

    // A stops mid-stream: B takes its partitions and restores their counts from the changelog.
    let producing = {
        let kafka = kafka.clone();
        let input = t.input.clone();
        tokio::spawn(async move { produce(&kafka, &input, &messages(16, 40, 2)).await })
    };
    stop_a.trigger();
    tokio::task::spawn_blocking(move || handle_a.join())
        .await
        .expect("join")
        .expect("thread")
        .expect("A stops cleanly");
    producing.await.expect("produced");
    let expected: BTreeMap<String, u64> = (0..16).map(|k| (format!("key-{k}"), 120)).collect();
    read_until(&out, &expected, &mut seen, Duration::from_secs(120));
    // B took over A's partitions with their state: it restored counts in every partition.
    let restored = log_of(&log_b).restored_counts.clone();
    assert_eq!(restored, BTreeSet::from([0, 1, 2, 3]), "B restored counts of {restored:?}");
    stop_b.trigger();
    tokio::task::spawn_blocking(move || handle_b.join())
        .await
        .expect("join")
        .expect("thread")
        .expect("B stops cleanly");
    assert_no_count_lost(&seen, &expected);
}

/// A handler that panics stops its stage like an error does: the thread ends with
/// `StageError::Panicked` and the stage's health check says not ready (it used to stay ready while
/// nothing consumed; `friction up`'s `/readyz` and `friction_stage_failures_total` rely on this).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_stops_the_stage_and_it_is_not_ready() {
    let t = topics().await;
    let kafka = kafka();
    produce(&kafka, &t.input, &[("key-0".into(), b"panic".to_vec())]).await;
    let mut config = StageConfig::new(t.group.clone(), vec![t.input.clone()]);
    config.changelog_topic = Some(t.changelog.clone());
    config.deadletter_topic = t.dlq.clone();
    let handler = Counter {
        out_topic: Arc::from(t.output.as_str()),
        counts: HashMap::new(),
        dirty: Vec::new(),
        log: Arc::default(),
    };
    let health = friction_runtime::admin::Health::default();
    let check = health.register("stage");
    let handle = spawn_stage(config, &kafka, handler, Shutdown::new(), Some(check.clone())).expect("stage starts");
    let result = tokio::task::spawn_blocking(move || handle.join()).await.expect("join").expect("no panic escapes");
    assert!(matches!(result, Err(friction_runtime::stage::StageError::Panicked(_))), "{result:?}");
    assert!(!check.get(), "a stage that panicked is not ready");
}
