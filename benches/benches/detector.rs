//! Detector throughput, in process, on one thread (docs/architecture.md §9: ≥ 1M events/s per core), against
//! baselines over the same events in the same run.
//!
//! The input is one partition's stream: realistic corpus sessions (pageviews, clicks with their
//! responses, scrolls, requests, inputs, rage bursts, dead clicks, ...; `src/corpus.rs`) shifted so
//! about DETECTOR_CONCURRENCY of them are active at once, merged in event-time order as the
//! sessionizer emits them (`src/stream.rs`).
//!
//! Runs:
//! - baselines: a checksum over every record's fields (decode-free iteration), and cloning every
//!   record (an allocation-per-string pass, the same kind of work as the detector's conversion);
//! - `PartitionDetector` (the stage's logic without Kafka): `ingest` every record and `judge` every
//!   10,000 records — the runtime's commit cycle, which at ≥ 1M events/s comes before its 200 ms
//!   tick — with `take_changes` (the state written to the changelog) at each commit; and the same
//!   every 100,000 records, the runtime's default commit cadence (100,000 messages or 1 s);
//! - the same, judging every 200 ms of *event time* (a live partition with little traffic: many
//!   judgements for few events);
//! - `DetectorHandler` as the runtime drives it: Avro-decode each payload (`on_message`), tick and
//!   flush state every 10,000 (and every 100,000) messages, signals encoded to Avro; its baseline
//!   is decoding alone;
//! - `friction_rules::detect` alone over whole closed sessions;
//! - through the broker (librdkafka's in-process mock cluster): the first DETECTOR_BROKER_EVENTS
//!   records produced to `friction.sessionized.v1`, then consumed by the detector stage
//!   (`spawn_stage` with `DetectorHandler`: decode, rules, signals produced, state to the
//!   changelog, offsets committed) and by a bare `BaseConsumer` on the same topic (reading only,
//!   and reading + Avro-decoding). Each rate is first to last message, so group joins are excluded.
//!
//! `cargo bench -p friction-benches --bench detector`
//! (env: DETECTOR_EVENTS, default 300000; DETECTOR_CONCURRENCY, default 2000; DETECTOR_SEED;
//! DETECTOR_HANDLER_EVENTS, default 100000: the first records of the stream for the decode and
//! handler runs (Avro decoding is slow, see the README); DETECTOR_BROKER_EVENTS, default 200000,
//! 0 skips the broker part;
//! DETECTOR_ONLY=partition|handler|detect|broker to run one part, e.g. under `perf record`;
//! DETECTOR_CADENCES=10k,200ms,100k, the PartitionDetector rows to run; DETECTOR_REPEATS, default 3:
//! runs of each row, the fastest reported).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use friction_benches::report::{self, best_of, Run};
use friction_benches::stream::{self, Stream};
use friction_benches::{broker, corpus};
use friction_detector::convert::rule_event;
use friction_detector::{DetectorArgs, DetectorConfig, DetectorHandler, PartitionDetector, RulesByProject};
use friction_rules::{detect, Event, Horizon, Rules};
use friction_runtime::stage::{Outputs, StageHandler};
use friction_runtime::topics;
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// Baseline: touch every record's identifying fields, no allocation.
fn checksum(records: &[Sessionized<'_>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for r in records {
        fnv(&mut h, r.session_key.as_bytes());
        fnv(&mut h, r.event.event_id.as_bytes());
        fnv(&mut h, r.event.event_type.as_bytes());
        fnv(&mut h, &r.event.timestamp.to_le_bytes());
        if let Some(t) = &r.event.target {
            fnv(&mut h, t.key.as_deref().unwrap_or("").as_bytes());
        }
    }
    h
}

enum Cadence {
    EveryEvents(usize),
    EventTimeMs(i64),
}

struct PartitionStats {
    /// Live signals at the end (each id's newest version, not retracted) by kind.
    signals: BTreeMap<String, u64>,
    /// Newest version seen per (fingerprint, id), and whether it is retracted.
    newest: BTreeMap<(String, String), (i64, bool, String)>,
    /// Records published: first versions, later versions, retractions.
    records: [u64; 3],
    judges: u64,
    max_open: usize,
    max_bytes: usize,
    state_writes: u64,
    state_bytes: u64,
    t_ingest: Duration,
    t_judge: Duration,
    t_state: Duration,
}

/// Ingests `records`, judging at `cadence` and taking the state changes every `commit_every` records
/// (the runtime's commit cycle).
fn run_partition(
    records: &[Sessionized<'_>],
    cadence: &Cadence,
    commit_every: usize,
    rules: &RulesByProject,
) -> PartitionStats {
    let cfg = DetectorConfig::default();
    let mut p = PartitionDetector::default();
    let mut st = PartitionStats {
        signals: BTreeMap::new(),
        newest: BTreeMap::new(),
        records: [0; 3],
        judges: 0,
        max_open: 0,
        max_bytes: 0,
        state_writes: 0,
        state_bytes: 0,
        t_ingest: Duration::ZERO,
        t_judge: Duration::ZERO,
        t_state: Duration::ZERO,
    };
    // Wall clock 0 throughout: the watermark is the newest event time (no idle advancement).
    let now = 0;
    let mut next_judge = records.first().map_or(0, |r| r.event.timestamp);
    let judge = |p: &mut PartitionDetector, now: i64, st: &mut PartitionStats| {
        let t = Instant::now();
        let j = p.judge(now, &cfg, rules);
        st.t_judge += t.elapsed();
        st.judges += 1;
        for s in j.signals {
            st.records[if s.retracted {
                2
            } else if s.version > 1 {
                1
            } else {
                0
            }] += 1;
            let kind = if s.unresponsive { format!("{}:unresponsive", s.kind) } else { s.kind };
            let slot = st.newest.entry((s.fingerprint, s.id)).or_insert((0, false, String::new()));
            if s.version > slot.0 {
                *slot = (s.version, s.retracted, kind);
            }
        }
    };
    // Ingest is the loop's time less judging, state and the bookkeeping below: timing each record
    // (two clock reads, ~50 ns) was ~7 % of a run once an event cost about a microsecond.
    let mut t_bookkeeping = Duration::ZERO;
    let t_loop = Instant::now();
    for (i, r) in records.iter().enumerate() {
        p.ingest(r, now);
        match cadence {
            Cadence::EveryEvents(n) => {
                if (i + 1) % n == 0 {
                    judge(&mut p, now, &mut st);
                }
            }
            Cadence::EventTimeMs(ms) => {
                if r.event.timestamp >= next_judge {
                    judge(&mut p, now, &mut st);
                    next_judge = r.event.timestamp + ms;
                }
            }
        }
        if (i + 1) % commit_every == 0 {
            let t = Instant::now();
            st.max_open = st.max_open.max(p.open_sessions());
            st.max_bytes = st.max_bytes.max(p.approx_bytes());
            t_bookkeeping += t.elapsed();
            let t = Instant::now();
            for (_, v) in p.take_changes() {
                st.state_writes += 1;
                st.state_bytes += v.map_or(0, |v| v.len() as u64);
            }
            st.t_state += t.elapsed();
        }
    }
    st.t_ingest = t_loop.elapsed().saturating_sub(st.t_judge + st.t_state + t_bookkeeping);
    // Close every session: wall-clock time far ahead advances the watermark past every gap.
    judge(&mut p, 10_000_000_000_000, &mut st);
    for (_, v) in p.take_changes() {
        st.state_writes += 1;
        st.state_bytes += v.map_or(0, |v| v.len() as u64);
    }
    assert_eq!(p.open_sessions(), 0, "every session closed");
    for (_, retracted, kind) in std::mem::take(&mut st.newest).into_values() {
        if !retracted {
            *st.signals.entry(kind).or_insert(0) += 1;
        }
    }
    st
}

/// The broker runs, in one process with its embedded broker (or `FRICTION_BENCH_BROKERS`); returns
/// the wall rates (`broker::compare`) of the stage, the bare consumer, the decoding one and the
/// pass-through stage.
fn broker_runs(records: &[Sessionized<'_>]) -> (Vec<Run>, String) {
    let (kafka, _embedded) = broker::broker();
    broker::fill(&kafka, topics::SESSIONIZED, records.iter().map(|r| (r.key(), encode_to_vec(r).expect("encode"))));
    let (stage, handler) =
        DetectorArgs { group: "bench-detector".into(), ..DetectorArgs::default() }.stage().expect("no rules file");
    // The pass-through stage produces one output per input: more than the detector does (one
    // signal per episode), so it is a floor for the runtime's costs, not for the detector's.
    broker::compare(
        &kafka,
        records.len() as u64,
        |p| black_box(decode::<Sessionized<'static>>(p)).is_ok(),
        topics::SIGNALS,
        stage,
        handler,
        "broker: detector stage (spawn_stage + DetectorHandler)",
    )
}

fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let target = env_num("DETECTOR_EVENTS", 300_000) as usize;
    let concurrency = env_num("DETECTOR_CONCURRENCY", 2000) as usize;
    let seed = env_num("DETECTOR_SEED", 7);
    let only = std::env::var("DETECTOR_ONLY").ok();
    let want = |part: &str| only.as_deref().is_none_or(|o| o == part);

    let t = Instant::now();
    let Stream { records, sessions, span_ms, mean_session_ms } = stream::interleaved(target, concurrency, seed);
    let n = records.len();
    println!(
        "stream: {n} events, {sessions} sessions (mean {:.0} s, ~{concurrency} active at once), {:.1} min of event time \
         ({:.0} events/s of event time); built in {:.1?}",
        mean_session_ms as f64 / 1000.0,
        span_ms as f64 / 60_000.0,
        n as f64 / (span_ms as f64 / 1000.0),
        t.elapsed()
    );
    let mut runs: Vec<Run> = Vec::new();

    let (d, h) = best_of(5, || checksum(black_box(&records)));
    black_box(h);
    runs.push(Run {
        name: "baseline: checksum over every record (no allocation)".into(),
        events: n,
        elapsed: d,
        note: String::new(),
    });
    let (d, _) = best_of(3, || {
        let mut bytes = 0usize;
        for r in &records {
            let c = black_box(r.clone());
            bytes += c.event.event_id.len();
        }
        bytes
    });
    runs.push(Run { name: "baseline: clone every record".into(), events: n, elapsed: d, note: String::new() });
    let (d, _) = best_of(3, || records.iter().filter_map(|r| black_box(rule_event(r))).count());
    runs.push(Run {
        name: "component: rule_event (the borrowing conversion inside ingest)".into(),
        events: n,
        elapsed: d,
        note: String::new(),
    });
    let (d, _) = best_of(3, || records.iter().filter_map(|r| black_box(rule_event(r).map(Event::into_owned))).count());
    runs.push(Run {
        name: "component: rule_event + into_owned (an owned copy: what ingest did before 2026-12-04)".into(),
        events: n,
        elapsed: d,
        note: String::new(),
    });

    let rules = RulesByProject::default();
    let mut cadence_signals: Vec<(&str, BTreeMap<String, u64>)> = Vec::new();
    if want("partition") {
        // DETECTOR_CADENCES=10k,200ms,100k (default all) picks rows, e.g. for `perf record`.
        let cadences = std::env::var("DETECTOR_CADENCES").unwrap_or_else(|_| "10k,200ms,100k".into());
        let repeats = env_num("DETECTOR_REPEATS", 3) as usize;
        for (label, name, cadence, commit_every) in [
            (
                "10k",
                "PartitionDetector: ingest, judge every 10,000 events, state at each commit",
                Cadence::EveryEvents(10_000),
                10_000,
            ),
            ("200ms", "PartitionDetector: ingest, judge every 200 ms of event time", Cadence::EventTimeMs(200), 10_000),
            (
                "100k",
                "PartitionDetector: ingest, judge + state every 100,000 events (the runtime's default commit cadence)",
                Cadence::EveryEvents(100_000),
                100_000,
            ),
        ] {
            if !cadences.split(',').any(|c| c.trim() == label) {
                continue;
            }
            // The fastest of `repeats` runs, with its time split: one run of ~0.3 s on a shared
            // VM varied by ±15 %.
            let (elapsed, st) = best_of(repeats, || run_partition(&records, &cadence, commit_every, &rules));
            let total: u64 = st.signals.values().sum();
            runs.push(Run {
                name: name.into(),
                events: n,
                elapsed,
                note: format!(
                    "time: ingest {:.0} %, judge {:.0} %, state serialisation {:.0} %; {} judges, {total} signals \
                     ({} records: {} first, {} updates, {} retractions), \
                     ≤{} open sessions (~{} KiB state), {} state writes ({:.1} MiB)",
                    100.0 * st.t_ingest.as_secs_f64() / elapsed.as_secs_f64(),
                    100.0 * st.t_judge.as_secs_f64() / elapsed.as_secs_f64(),
                    100.0 * st.t_state.as_secs_f64() / elapsed.as_secs_f64(),
                    st.judges,
                    st.records.iter().sum::<u64>(),
                    st.records[0],
                    st.records[1],
                    st.records[2],
                    st.max_open,
                    st.max_bytes / 1024,
                    st.state_writes,
                    st.state_bytes as f64 / 1_048_576.0
                ),
            });
            cadence_signals.push((label, st.signals));
        }
    }

    let handler_n = (env_num("DETECTOR_HANDLER_EVENTS", 100_000) as usize).min(n);
    if want("handler") && handler_n > 0 {
        let payloads: Vec<Vec<u8>> = records[..handler_n].iter().map(|r| encode_to_vec(r).expect("encode")).collect();
        let n = handler_n;
        let avg = payloads.iter().map(Vec::len).sum::<usize>() / n.max(1);
        let (d, _) =
            best_of(3, || payloads.iter().filter(|p| black_box(decode::<Sessionized<'static>>(p)).is_ok()).count());
        runs.push(Run {
            name: "baseline: Avro-decode every payload (what a bare consumer of the topic must do)".into(),
            events: n,
            elapsed: d,
            note: format!("{avg} bytes per record"),
        });
        for every in [10_000usize, 100_000] {
            let t = Instant::now();
            let mut h = DetectorHandler::new(DetectorConfig::default(), RulesByProject::default());
            let mut out = Outputs::default();
            let mut produced = 0usize;
            // Wall-clock time as the runtime passes it (flush_state reads the clock itself).
            for (i, p) in payloads.iter().enumerate() {
                h.on_message(0, i as i64, None, p, friction_runtime::now_ms(), &mut out).expect("decodes");
                if (i + 1) % every == 0 {
                    h.on_tick(0, friction_runtime::now_ms(), &mut out);
                    h.flush_state(&mut out);
                    produced += out.len();
                    out = Outputs::default();
                }
            }
            h.on_tick(0, friction_runtime::now_ms() + 1_000_000_000_000, &mut out);
            produced += out.len();
            let elapsed = t.elapsed();
            runs.push(Run {
                name: if every == 10_000 {
                    "DetectorHandler: decode + ingest, tick + flush state every 10,000 messages".into()
                } else {
                    "DetectorHandler: decode + ingest, tick + flush state every 100,000 messages (the runtime's default)"
                        .into()
                },
                events: n,
                elapsed,
                note: format!("{produced} output records (signals)"),
            });
        }
    }

    let mut batch_signals: BTreeMap<String, u64> = BTreeMap::new();
    if want("detect") {
        // The same sessions, whole and closed, straight into the rules.
        let mut sessions_ev = Vec::with_capacity(sessions);
        for i in 0..sessions {
            let mut r = friction_benches::rng::Rng::new(seed ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            sessions_ev.push(corpus::session(&mut r, i).events);
        }
        let events: usize = sessions_ev.iter().map(Vec::len).sum();
        let r = Rules::default();
        let t = Instant::now();
        let mut count = 0usize;
        let mut episodes = 0usize;
        for ev in &sessions_ev {
            let last = ev.last().map_or(0, |e| e.timestamp_ms);
            let det = detect(black_box(ev), Horizon::closed(last), &r);
            // Counted as the stage publishes them: one per episode, by its primary kind.
            for ep in &det.episodes {
                let unresponsive = ep.primary == friction_rules::SignalKind::RageClick && ep.unresponsive;
                *batch_signals
                    .entry(if unresponsive {
                        format!("{}:unresponsive", ep.primary.as_str())
                    } else {
                        ep.primary.as_str().to_string()
                    })
                    .or_insert(0) += 1;
            }
            count += det.signals.len();
            episodes += det.episodes.len();
        }
        let elapsed = t.elapsed();
        runs.push(Run {
            name: "friction_rules::detect alone, one call per whole closed session".into(),
            events,
            elapsed,
            note: format!("{count} signals in {episodes} episodes"),
        });
    }

    // More than one commit cycle (100,000 messages): a shorter run never judges or writes state.
    let broker_n = env_num("DETECTOR_BROKER_EVENTS", 200_000) as usize;
    let mut broker_verdict = None;
    if want("broker") && broker_n > 0 {
        let (broker_rows, verdict) = broker_runs(&records[..broker_n.min(n)]);
        runs.extend(broker_rows);
        broker_verdict = Some(verdict);
    }

    report::print(&runs, &["PartitionDetector", "DetectorHandler"]);
    if let Some(verdict) = broker_verdict {
        println!("{verdict}");
    }
    if !cadence_signals.is_empty() && !batch_signals.is_empty() {
        println!(
            "\nlive signals at the end (one per episode, primary kind; each id's newest version, retractions out) by kind: detect() on whole sessions | PartitionDetector \
             judging every {}",
            cadence_signals.iter().map(|(l, _)| *l).collect::<Vec<_>>().join(" | ")
        );
        let mut kinds: std::collections::BTreeSet<&String> = batch_signals.keys().collect();
        for (_, c) in &cadence_signals {
            kinds.extend(c.keys());
        }
        for k in kinds {
            let b = batch_signals.get(k).copied().unwrap_or(0);
            let cs: Vec<u64> = cadence_signals.iter().map(|(_, c)| c.get(k).copied().unwrap_or(0)).collect();
            let same = cs.iter().all(|&c| c == b);
            println!(
                "  {k}: {b} | {}{}",
                cs.iter().map(u64::to_string).collect::<Vec<_>>().join(" | "),
                if same { "" } else { "  ← differs" }
            );
        }
    }
}
