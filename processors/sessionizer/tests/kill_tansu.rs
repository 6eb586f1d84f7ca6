//! The sessionizer binary against a real broker (tansu): SIGKILL it in the middle of a 100,000-event
//! stream and restart it, and stop one of two copies in a group mid-stream; downstream, deduplicated
//! by id, no event is lost and every session summary is right.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use friction_schemas::event::{Click, Navigation, Target};
use friction_schemas::{decode, encode_to_vec, RawEvent, SessionSummary, Sessionized};
use friction_test_support::kafka::{brokers, create_topics, kafka, kafka_properties, reader};
use friction_test_support::{unique, KillOnDrop};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::Offset;

const T0: i64 = 1_705_312_800_000;
const PARTITIONS: i32 = 4;

struct Topics {
    events: String,
    sessionized: String,
    sessions: String,
    changelog: String,
    dlq: String,
    group: String,
}

async fn topics() -> Topics {
    let t = Topics {
        events: unique("e2e.sz.events"),
        sessionized: unique("e2e.sz.sessionized"),
        sessions: unique("e2e.sz.sessions"),
        changelog: unique("e2e.sz.changelog"),
        dlq: unique("e2e.sz.dlq"),
        group: unique("e2e.sz.group"),
    };
    create_topics(
        &brokers(),
        &[
            (&t.events, PARTITIONS),
            (&t.sessionized, PARTITIONS),
            (&t.sessions, PARTITIONS),
            (&t.changelog, PARTITIONS),
            (&t.dlq, 1),
        ],
    )
    .await;
    t
}

/// `sessions` sessions of `per_session` events, 200 ms apart, each starting one second after the
/// previous, interleaved in time order; 1 % of events are sent twice (client retries).
fn stream(sessions: usize, per_session: usize) -> (Vec<RawEvent<'static>>, BTreeMap<String, usize>) {
    let mut events = Vec::with_capacity(sessions * per_session * 101 / 100);
    let mut expected = BTreeMap::new();
    for s in 0..sessions {
        let sid = format!("s{s:04}");
        expected.insert(sid.clone(), per_session);
        for i in 0..per_session {
            let ts = T0 + s as i64 * 1_000 + i as i64 * 200;
            let kind = if i == 0 || i % 25 == 0 { "pageview" } else { "click" };
            let mut e = RawEvent {
                project_id: "proj".into(),
                session_id: Cow::Owned(sid.clone()),
                event_id: Cow::Owned(format!("{sid}-{i:03}")),
                event_type: kind.into(),
                timestamp: ts,
                client_timestamp: ts,
                received_at: ts,
                route: Some(Cow::Owned(format!("/page/{}", i / 25))),
                metadata: "{}".into(),
                ..RawEvent::default()
            };
            if kind == "click" {
                e.target = Some(Target { key: Some("btn".into()), ..Target::default() });
                e.click = Some(Click::default());
            } else {
                e.navigation = Some(Navigation { kind: "push".into(), from: None, to: None });
            }
            if (s * per_session + i) % 100 == 7 {
                events.push(e.clone());
            }
            events.push(e);
        }
    }
    events.sort_by_key(|e| e.timestamp);
    (events, expected)
}

/// One event per partition far ahead in event time, after the stream: it moves every partition's
/// watermark past every session, so all of them close by event time (not by the idle clock).
async fn produce_closers(topic: &str) {
    let kafka = kafka();
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(&kafka).expect("cfg").create().expect("producer");
    for p in 0..PARTITIONS {
        let e = RawEvent {
            project_id: "proj".into(),
            session_id: Cow::Owned(format!("closer-{p}")),
            event_id: Cow::Owned(format!("closer-{p}")),
            event_type: "focus".into(),
            timestamp: T0 + 10_000_000,
            metadata: "{}".into(),
            ..RawEvent::default()
        };
        let payload = encode_to_vec(&e).expect("encode");
        producer
            .send(FutureRecord::to(topic).key(&e.key()).payload(&payload).partition(p), Duration::from_secs(10))
            .await
            .expect("closer produced");
    }
}

async fn produce(topic: &str, events: &[RawEvent<'static>]) {
    let kafka = kafka();
    let producer: FutureProducer =
        friction_runtime::kafka::producer_config(&kafka).expect("cfg").create().expect("producer");
    for chunk in events.chunks(5_000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for e in chunk {
            let payload = encode_to_vec(e).expect("encode");
            acks.push(producer.send_result(FutureRecord::to(topic).key(&e.key()).payload(&payload)).expect("queued"));
        }
        for a in acks {
            a.await.expect("delivered").expect("acked");
        }
    }
}

fn sessionizer(t: &Topics) -> KillOnDrop {
    let log = std::env::var("SZ_LOG").unwrap_or_else(|_| "warn".into());
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction-sessionizer"));
    for prop in kafka_properties() {
        cmd.args(["--kafka-property", &prop]);
    }
    // A SIGKILLed member holds its partitions until its session times out: keep that short.
    cmd.args(["--kafka-property", "session.timeout.ms=6000"]);
    let child = cmd
        .args([
            "--brokers",
            &brokers(),
            "--group",
            &t.group,
            "--events-topic",
            &t.events,
            "--sessionized-topic",
            &t.sessionized,
            "--sessions-topic",
            &t.sessions,
            "--changelog-topic",
            &t.changelog,
            "--deadletter-topic",
            &t.dlq,
            "--allowed-lateness-ms",
            "1000",
            "--inactivity-gap-ms",
            "5000",
            "--commit-max-messages",
            "2000",
            "--admin-addr",
            "127.0.0.1:0",
            "--log",
            &log,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("sessionizer starts");
    KillOnDrop(child)
}

#[derive(Default)]
struct Downstream {
    records: usize,
    events: HashSet<String>,
    /// (session id, seq) → event id: the same seq must always name the same event.
    seqs: BTreeMap<(String, i64), String>,
    summaries: BTreeMap<String, SessionSummary>,
    summary_copies: usize,
}

impl Downstream {
    fn poll(&mut self, sessionized: &BaseConsumer, sessions: &BaseConsumer) {
        for _ in 0..2_000 {
            let Some(Ok(m)) = sessionized.poll(Duration::from_millis(0)) else { break };
            let s: Sessionized<'static> = decode(m.payload().expect("payload")).expect("sessionized decodes");
            self.records += 1;
            if s.late && std::env::var("DEBUG_LATE").is_ok() {
                eprintln!(
                    "late: p{} off{} {} ts {} wall {}",
                    m.partition(),
                    m.offset(),
                    s.event.event_id,
                    s.event.timestamp,
                    friction_runtime::now_ms()
                );
            }
            let id = s.event.event_id.to_string();
            if s.event.session_id.starts_with("closer-") {
                continue;
            }
            let prev = self.seqs.insert((s.session_key.to_string(), s.seq), id.clone());
            assert!(prev.is_none_or(|p| p == id), "seq {} of {} names two events", s.seq, s.session_key);
            self.events.insert(id);
        }
        for _ in 0..500 {
            let Some(Ok(m)) = sessions.poll(Duration::from_millis(0)) else { break };
            let summary: SessionSummary = decode(m.payload().expect("payload")).expect("summary decodes");
            // The closers' own sessions close later, by the idle rule, whenever the test has waited
            // long enough: not part of the expected output.
            if summary.session_id.starts_with("closer-") {
                continue;
            }
            self.summary_copies += 1;
            if let Some(prev) = self.summaries.get(&summary.session_key) {
                assert_eq!(prev, &summary, "a replayed summary differs from the first copy");
            }
            self.summaries.insert(summary.session_key.clone(), summary);
        }
    }

    fn wait(
        &mut self,
        sessionized: &BaseConsumer,
        sessions: &BaseConsumer,
        done: impl Fn(&Self) -> bool,
        limit: Duration,
        what: &str,
    ) {
        let deadline = Instant::now() + limit;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what}: {} events, {} summaries",
                self.events.len(),
                self.summaries.len()
            );
            self.poll(sessionized, sessions);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Reads both topics up to their end (call once every producer has stopped).
    fn drain(
        &mut self,
        sessionized: &BaseConsumer,
        sessionized_topic: &str,
        sessions: &BaseConsumer,
        sessions_topic: &str,
    ) {
        let highs = |c: &BaseConsumer, topic: &str| -> Vec<i64> {
            (0..PARTITIONS)
                .map(|p| c.fetch_watermarks(topic, p, Duration::from_secs(10)).expect("watermarks").1)
                .collect()
        };
        let reached = |c: &BaseConsumer, topic: &str, highs: &[i64]| {
            let Ok(position) = c.position() else { return false };
            highs.iter().zip(0..PARTITIONS).all(|(&high, p)| {
                match position.find_partition(topic, p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o >= high,
                    _ => high == 0,
                }
            })
        };
        let (a, b) = (highs(sessionized, sessionized_topic), highs(sessions, sessions_topic));
        self.wait(
            sessionized,
            sessions,
            |_| reached(sessionized, sessionized_topic, &a) && reached(sessions, sessions_topic, &b),
            Duration::from_secs(60),
            "the output topics were not read to their end",
        );
    }

    fn check(&self, expected: &BTreeMap<String, usize>, per_session: usize) {
        assert_eq!(self.events.len(), expected.values().sum::<usize>(), "every event, once after dedup");
        let mut splits: BTreeMap<&str, Vec<&SessionSummary>> = BTreeMap::new();
        for s in self.summaries.values() {
            splits.entry(s.session_id.as_str()).or_default().push(s);
        }
        let split: Vec<String> = splits
            .values()
            .filter(|v| v.len() > 1)
            .map(|v| {
                v.iter()
                    .map(|s| {
                        format!("{} [{}..{}] {} events, {}", s.session_key, s.start, s.end, s.events, s.close_reason)
                    })
                    .collect::<Vec<_>>()
                    .join(" + ")
            })
            .collect();
        assert_eq!(self.summaries.len(), expected.len(), "one summary per session; split: {split:#?}");
        for (key, s) in &self.summaries {
            assert_eq!(s.events as usize, per_session, "{key}");
            assert_eq!(s.duration_ms, (per_session as i64 - 1) * 200, "{key}");
            assert_eq!(s.views as usize, per_session.div_ceil(25), "{key}");
            assert_eq!(s.close_reason, "inactivity", "{key}");
            assert!(expected.contains_key(&s.session_id), "{key}");
        }
    }
}

fn kill(proc: &mut KillOnDrop, signal: &str) {
    let status = Command::new("kill").args([signal, &proc.0.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let _ = proc.0.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_loses_nothing_and_summaries_are_right() {
    const SESSIONS: usize = 1_000;
    const PER_SESSION: usize = 100;
    let t = topics().await;
    let (events, expected) = stream(SESSIONS, PER_SESSION);
    assert!(events.len() >= 100_000);
    produce(&t.events, &events).await;
    produce_closers(&t.events).await;

    let (sessionized, sessions) = (reader(&t.sessionized, PARTITIONS), reader(&t.sessions, PARTITIONS));
    let mut down = Downstream::default();
    let mut first = sessionizer(&t);
    down.wait(&sessionized, &sessions, |d| d.records >= 30_000, Duration::from_secs(180), "first run made no progress");
    kill(&mut first, "-KILL");
    let before = down.events.len();
    assert!(before < SESSIONS * PER_SESSION, "killed before the end ({before})");

    let mut second = sessionizer(&t);
    down.wait(
        &sessionized,
        &sessions,
        |d| d.events.len() >= SESSIONS * PER_SESSION && d.summaries.len() >= SESSIONS,
        Duration::from_secs(240),
        "after the restart the output did not complete",
    );
    // The second copy stops cleanly (its last outputs acknowledged); read both topics to their end
    // so any replayed copy that could differ is seen; then compare.
    kill(&mut second, "-TERM");
    down.drain(&sessionized, &t.sessionized, &sessions, &t.sessions);
    down.check(&expected, PER_SESSION);
    eprintln!(
        "killed after {before} distinct events; {} sessionized records and {} summary copies in all",
        down.records, down.summary_copies
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_copy_takes_over_the_partitions_of_one_that_stops() {
    const SESSIONS: usize = 400;
    const PER_SESSION: usize = 50;
    let t = topics().await;
    let (events, expected) = stream(SESSIONS, PER_SESSION);
    let (sessionized, sessions) = (reader(&t.sessionized, PARTITIONS), reader(&t.sessions, PARTITIONS));
    let mut down = Downstream::default();

    // Everything is in the topic before the copies start, so no partition is ever idle (an idle
    // partition's watermark moves with the wall clock, which would make a later batch late).
    produce(&t.events, &events).await;
    produce_closers(&t.events).await;
    let mut a = sessionizer(&t);
    let mut b = sessionizer(&t);
    down.wait(&sessionized, &sessions, |d| d.records >= 5_000, Duration::from_secs(180), "no progress with two copies");
    kill(&mut a, "-TERM");
    down.wait(
        &sessionized,
        &sessions,
        |d| d.events.len() >= SESSIONS * PER_SESSION && d.summaries.len() >= SESSIONS,
        Duration::from_secs(240),
        "the remaining copy did not complete the output",
    );
    kill(&mut b, "-TERM");
    down.drain(&sessionized, &t.sessionized, &sessions, &t.sessions);
    down.check(&expected, PER_SESSION);
}
