//! Sessionizer throughput and state size (docs/architecture.md §9: ≥ 1M events/s per core in process; through
//! Kafka ≥ 80 % of a bare consumer of the same topic; ≤ 1 KiB of state per open session with 1M
//! open sessions), against baselines over the same events in the same run.
//!
//! The input is `friction_sessionizer::synthetic_stream`: SZ_SESSIONS sessions active the whole
//! time, interleaved in event time as one input partition sees them, with a little disorder within
//! the allowed lateness (pageviews, clicks, mutations, network, scroll, input, focus, visibility).
//!
//! Runs:
//! - baselines: a checksum over every event's fields (no allocation) and cloning every event (the
//!   per-event allocation any consumer that keeps events pays);
//! - `PartitionState` (the stage's logic without Kafka): `ingest` every event (dedup, split,
//!   flags, views, seq, each event emitted as it arrives; summaries) with `drain_changelog` every 100,000 events — the runtime's
//!   commit cadence under a backlog (`DEFAULT_COMMIT_MAX_MESSAGES`) — and, for comparison, every
//!   10,000 events (the cadence before 2026-12-04) and never, on one thread;
//! - `SessionizerHandler` as the runtime drives it: Avro-decode each payload, ingest, Avro-encode
//!   every output, flush state every 100,000 messages; its baselines are decoding alone and decoding
//!   plus encoding one output per input;
//! - through the broker (librdkafka's in-process mock cluster, or FRICTION_BENCH_BROKERS): the
//!   first SZ_BROKER_EVENTS events produced to `friction.events.v1`, then consumed by a bare
//!   `BaseConsumer` group (read only; read + Avro-decode) and by the sessionizer stage
//!   (`spawn_stage` + `SessionizerHandler`: outputs produced, state to the changelog, offsets
//!   committed), in that order, each timed first to last message;
//! - state: SZ_OPEN_SESSIONS sessions opened (SZ_STATE_EVENTS_PER_SESSION events each, default 2,
//!   so each has emitted events and an open split), then the handler's own estimate of its state bytes and the process's resident
//!   memory growth, per open session, and the changelog bytes per session.
//!
//! `cargo bench -p friction-benches --bench sessionizer`
//! (env: SZ_EVENTS, default 1000000; SZ_SESSIONS, default 10000; SZ_HANDLER_EVENTS, default
//! 300000; SZ_BROKER_EVENTS, default 200000, 0 skips; SZ_OPEN_SESSIONS, default 1000000, 0 skips;
//! SZ_STATE_EVENTS_PER_SESSION, default 2 (64 or more fills each session's duplicate filter);
//! SZ_ONLY=partition|handler|broker|state to run one part, e.g. under `perf record`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use friction_benches::broker;
use friction_benches::report::{self, best_of, Run};
use friction_runtime::stage::{Outputs, StageHandler, DEFAULT_COMMIT_MAX_MESSAGES};
use friction_runtime::topics;
use friction_schemas::{decode, encode, encode_to_vec, RawEvent};
use friction_sessionizer::handler::{SessionizerHandler, SessionizerTopics};
use friction_sessionizer::{Emitted, PartitionState, SessionizerArgs, SessionizerConfig, SyntheticStream};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

/// Baseline: touch every event's identifying fields, no allocation.
fn checksum(events: &[RawEvent<'_>]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for e in events {
        fnv(&mut h, e.project_id.as_bytes());
        fnv(&mut h, e.session_id.as_bytes());
        fnv(&mut h, e.event_id.as_bytes());
        fnv(&mut h, e.event_type.as_bytes());
        fnv(&mut h, &e.timestamp.to_le_bytes());
    }
    h
}

/// `PartitionState` over `events` on one thread, draining the changelog every `drain_every` events
/// (`None`: no changelog). Returns the time and a note (outputs, state writes, where the time went).
fn run_partition(events: Vec<RawEvent<'static>>, drain_every: Option<usize>) -> (Duration, String) {
    let changelog = drain_every.is_some();
    let cfg = SessionizerConfig { changelog, ..SessionizerConfig::default() };
    let mut st = PartitionState::new(cfg).expect("default config is valid");
    let mut t_drain = Duration::ZERO;
    let mut out: Vec<Emitted> = Vec::with_capacity(1024);
    let mut arena: Vec<u8> = Vec::new();
    let (mut outputs, mut summaries, mut writes, mut write_bytes, mut open) = (0usize, 0usize, 0usize, 0usize, 0usize);
    // Wall clock 0 throughout: no idle advancement (a busy partition).
    let t = Instant::now();
    for (i, e) in events.into_iter().enumerate() {
        st.ingest(i as i64, e, 0, &mut out);
        outputs += out.len();
        summaries += out.iter().filter(|e| matches!(e, Emitted::Summary { .. })).count();
        out.clear();
        if drain_every.is_some_and(|n| (i + 1) % n == 0) {
            let td = Instant::now();
            // As the handler does: each write copied into one buffer (the runtime's state writes).
            arena.clear();
            st.drain_changelog_with(|key, value| {
                writes += 1;
                arena.extend_from_slice(key.as_bytes());
                if let Some(v) = value {
                    arena.extend_from_slice(v);
                }
            });
            t_drain += td.elapsed();
            write_bytes += arena.len();
            open = open.max(st.open_sessions());
        }
    }
    let elapsed = t.elapsed();
    let note = format!(
        "{outputs} outputs ({summaries} summaries; the rest close after the stream), ≤{open} open sessions, \
         {writes} changelog writes ({:.1} MiB, {:.0} % of the time)",
        write_bytes as f64 / 1_048_576.0,
        100.0 * t_drain.as_secs_f64() / elapsed.as_secs_f64()
    );
    (elapsed, note)
}

/// The broker runs, in one process with its embedded broker (or `FRICTION_BENCH_BROKERS`).
fn broker_runs(events: &[RawEvent<'static>]) -> (Vec<Run>, String) {
    let (kafka, _embedded) = broker::broker();
    // Spread by key over the topic's 12 partitions (the mock broker keeps at most 100,000 messages
    // or 5 MB per partition).
    broker::fill(&kafka, topics::EVENTS, events.iter().map(|e| (e.key(), encode_to_vec(e).expect("encode"))));
    let n = events.len() as u64;
    let (stage, handler) = SessionizerArgs { group: "bench-sessionizer".into(), ..SessionizerArgs::default() }
        .stage()
        .expect("default config is valid");
    broker::compare(
        &kafka,
        n,
        |p| black_box(decode::<RawEvent<'static>>(p)).is_ok(),
        topics::SESSIONIZED,
        stage,
        handler,
        "broker: sessionizer stage (spawn_stage + SessionizerHandler)",
    )
}

/// Resident set size of this process in bytes (Linux), if known.
fn rss_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Opens `sessions` sessions (`per_session` events each) and reports state per open session.
fn state_size(sessions: usize, per_session: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let before = rss_bytes();
    let mut st = PartitionState::new(SessionizerConfig::default()).expect("default config is valid");
    let mut out: Vec<Emitted> = Vec::with_capacity(1024);
    let mut outputs = 0usize;
    let t = Instant::now();
    for (i, e) in SyntheticStream::new(sessions, per_session).enumerate() {
        st.ingest(i as i64, e, 0, &mut out);
        outputs += out.len();
        out.clear();
    }
    let elapsed = t.elapsed();
    let records = st.drain_changelog();
    let changelog: usize = records.iter().map(|r| r.key.len() + r.value.as_ref().map_or(0, Vec::len)).sum();
    let after = rss_bytes();
    let open = st.open_sessions();
    let estimate = st.approx_state_bytes();
    lines.push(format!(
        "state: {open} open sessions ({} events in {:.1} s, {outputs} outputs)",
        per_session * sessions,
        elapsed.as_secs_f64(),
    ));
    let per = |bytes: usize| bytes as f64 / open.max(1) as f64;
    let verdict = |b: f64| if b <= 1024.0 { "met" } else { "NOT met" };
    lines.push(format!(
        "  state estimate (PartitionState::approx_state_bytes): {:.1} MiB = {:.0} bytes per open session (target ≤ 1024: {})",
        estimate as f64 / 1_048_576.0,
        per(estimate),
        verdict(per(estimate))
    ));
    if let (Some(b), Some(a)) = (before, after) {
        let grown = a.saturating_sub(b);
        lines.push(format!(
            "  resident memory growth of the process: {:.1} MiB = {:.0} bytes per open session (allocator overhead included; {})",
            grown as f64 / 1_048_576.0,
            per(grown),
            verdict(per(grown))
        ));
    }
    lines.push(format!(
        "  changelog: {} records, {:.1} MiB = {:.0} bytes per open session (key + value)",
        records.len(),
        changelog as f64 / 1_048_576.0,
        per(changelog)
    ));
    black_box(&st);
    lines
}

fn main() {
    // Benches measure the binaries' allocator settings (see friction_runtime::allocator).
    friction_runtime::allocator::tune();
    let n = env_num("SZ_EVENTS", 1_000_000) as usize;
    let concurrent = env_num("SZ_SESSIONS", 10_000) as usize;
    let only = std::env::var("SZ_ONLY").ok();
    let want = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let per_session = n.div_ceil(concurrent.max(1));
    let open = env_num("SZ_OPEN_SESSIONS", 1_000_000) as usize;
    if only.as_deref() == Some("state") {
        // Nothing else in this process first: its resident-memory growth is the state's.
        for line in state_size(open, env_num("SZ_STATE_EVENTS_PER_SESSION", 2) as usize) {
            println!("{line}");
        }
        return;
    }

    let t = Instant::now();
    let events: Vec<RawEvent<'static>> = SyntheticStream::new(concurrent, per_session).take(n).collect();
    let n = events.len();
    println!(
        "stream: {n} events, {concurrent} sessions active at once ({per_session} events each); built in {:.1?}",
        t.elapsed()
    );
    let mut runs: Vec<Run> = Vec::new();

    let (d, h) = best_of(5, || checksum(black_box(&events)));
    black_box(h);
    runs.push(Run {
        name: "baseline: checksum over every event (no allocation)".into(),
        events: n,
        elapsed: d,
        note: String::new(),
    });
    let (d, _) = best_of(3, || {
        let mut bytes = 0usize;
        for e in &events {
            let c = black_box(e.clone());
            bytes += c.event_id.len();
        }
        bytes
    });
    runs.push(Run { name: "baseline: clone every event".into(), events: n, elapsed: d, note: String::new() });

    if want("partition") {
        // Best of three: each run gets its own copy of the input (ingest takes events by value).
        let cadence = format!(
            "PartitionState: ingest, changelog drained every {} events (the runtime's commit cadence; best of 3)",
            DEFAULT_COMMIT_MAX_MESSAGES
        );
        for (drain_every, name) in [
            (Some(DEFAULT_COMMIT_MAX_MESSAGES), cadence.as_str()),
            (Some(10_000), "PartitionState: ingest, changelog drained every 10,000 events (best of 3)"),
            (None, "PartitionState: ingest only, no changelog (best of 3)"),
        ] {
            let mut best: Option<(Duration, String)> = None;
            for _ in 0..3 {
                let copy = events.clone();
                let (d, note) = run_partition(copy, drain_every);
                if best.as_ref().is_none_or(|(b, _)| d < *b) {
                    best = Some((d, note));
                }
            }
            if let Some((elapsed, note)) = best {
                runs.push(Run { name: name.into(), events: n, elapsed, note });
            }
        }
    }

    let handler_n = (env_num("SZ_HANDLER_EVENTS", 300_000) as usize).min(n);
    if want("handler") && handler_n > 0 {
        let payloads: Vec<Vec<u8>> = events[..handler_n].iter().map(|e| encode_to_vec(e).expect("encode")).collect();
        let avg = payloads.iter().map(Vec::len).sum::<usize>() / handler_n.max(1);
        let (d, _) =
            best_of(3, || payloads.iter().filter(|p| black_box(decode::<RawEvent<'static>>(p)).is_ok()).count());
        runs.push(Run {
            name: "baseline: Avro-decode every payload (what a bare consumer of the topic must do)".into(),
            events: handler_n,
            elapsed: d,
            note: format!("{avg} bytes per event"),
        });
        let (d, _) = best_of(3, || {
            let mut buf = Vec::with_capacity(1024);
            let mut ok = 0usize;
            for p in &payloads {
                if let Ok(e) = decode::<RawEvent<'static>>(p) {
                    buf.clear();
                    ok += usize::from(encode(&e, &mut buf).is_ok());
                }
            }
            ok
        });
        runs.push(Run {
            name: "baseline: Avro-decode + re-encode every payload".into(),
            events: handler_n,
            elapsed: d,
            note: String::new(),
        });
        let t = Instant::now();
        let mut h = SessionizerHandler::new(SessionizerConfig::default(), SessionizerTopics::default())
            .expect("default config is valid");
        let mut out = Outputs::default();
        let mut produced = 0usize;
        for (i, p) in payloads.iter().enumerate() {
            h.on_message(0, i as i64, None, p, 0, &mut out).expect("decodes");
            // As the runtime does: the outputs are enqueued (here: counted) after each message.
            produced += out.len();
            out.clear_records();
            if (i + 1) % DEFAULT_COMMIT_MAX_MESSAGES == 0 {
                h.flush_state(&mut out);
                produced += out.len();
                out = Outputs::default();
            }
        }
        produced += out.len();
        let elapsed = t.elapsed();
        runs.push(Run {
            name: format!(
                "SessionizerHandler: decode + ingest + encode outputs, flush state every {DEFAULT_COMMIT_MAX_MESSAGES} messages"
            ),
            events: handler_n,
            elapsed,
            note: format!("{produced} output records"),
        });
    }

    let broker_n = env_num("SZ_BROKER_EVENTS", 200_000) as usize;
    let mut broker_verdict = None;
    if want("broker") && broker_n > 0 {
        let (broker_rows, verdict) = broker_runs(&events[..broker_n.min(n)]);
        runs.extend(broker_rows);
        broker_verdict = Some(verdict);
    }
    drop(events);

    report::print(&runs, &["PartitionState", "SessionizerHandler"]);
    if let Some(verdict) = broker_verdict {
        println!("{verdict}");
    }

    if only.is_none() && open > 0 {
        println!();
        // In a fresh process: the allocator keeps the memory the runs above freed, so this
        // process's resident-memory growth would say nothing about the state.
        let exe = std::env::current_exe().expect("own path");
        let status = std::process::Command::new(exe).arg("--bench").env("SZ_ONLY", "state").status();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            println!("state: the SZ_ONLY=state run failed: {status:?}");
        }
    }
}
