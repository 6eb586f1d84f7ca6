//! A pure reproduction of the SIGKILL integration test (`kill_tansu.rs`) without a broker: the
//! same stream through one `PartitionState`, the changelog drained every 2,000 events like the
//! runtime does, then a "crash" at various points, a restore of everything written to the
//! changelog and a replay of the input from the committed offset (everything read before the flush:
//! the sessionizer holds nothing back). Nothing may come out late, nothing may be lost, no summary
//! may differ from (or add to) the uninterrupted run, and every record after the restart is one the
//! uninterrupted run produced (a replay of the same input gives the same records).

mod common;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use common::Compacted;
use friction_schemas::{RawEvent, SessionSummary};
use friction_sessionizer::{ChangelogRecord, Emitted, PartitionState, SessionizerConfig};

const T0: i64 = 1_705_312_800_000;
const FLUSH_EVERY: usize = 2_000;

fn cfg() -> SessionizerConfig {
    SessionizerConfig { allowed_lateness_ms: 1_000, inactivity_gap_ms: 5_000, ..SessionizerConfig::default() }
}

/// Like `kill_tansu::stream`, for the sessions `s` with `keep(s)`, plus the closer at the end.
fn stream(sessions: usize, per_session: usize, keep: impl Fn(usize) -> bool) -> Vec<RawEvent<'static>> {
    let mut events = Vec::new();
    for s in (0..sessions).filter(|s| keep(*s)) {
        let sid = format!("s{s:04}");
        for i in 0..per_session {
            let ts = T0 + s as i64 * 1_000 + i as i64 * 200;
            let kind = if i % 25 == 0 { "pageview" } else { "click" };
            let e = RawEvent {
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
            if (s * per_session + i) % 100 == 7 {
                events.push(e.clone());
            }
            events.push(e);
        }
    }
    events.sort_by_key(|e| e.timestamp);
    events.push(RawEvent {
        project_id: "proj".into(),
        session_id: "closer".into(),
        event_id: "closer".into(),
        event_type: "focus".into(),
        timestamp: T0 + 10_000_000,
        metadata: "{}".into(),
        ..RawEvent::default()
    });
    events
}

/// What the runtime knows at one flush: the changelog written so far and the committed offset.
struct Flush {
    /// Events consumed before this flush (the next offset).
    next: i64,
    changelog_len: usize,
    committed: i64,
}

struct FirstRun {
    out: Vec<Emitted>,
    /// Output length at each flush.
    out_at: Vec<usize>,
    changelog: Vec<ChangelogRecord>,
    flushes: Vec<Flush>,
}

fn first_run(events: &[RawEvent<'static>], now: impl Fn(i64) -> i64) -> (PartitionState, FirstRun) {
    let mut st = PartitionState::new(cfg()).expect("valid config");
    let mut run = FirstRun { out: Vec::new(), out_at: Vec::new(), changelog: Vec::new(), flushes: Vec::new() };
    let mut committed = 0;
    for (i, e) in events.iter().enumerate() {
        let offset = i as i64;
        st.ingest(offset, e.clone(), now(offset), &mut run.out);
        if (i + 1) % FLUSH_EVERY == 0 || i + 1 == events.len() {
            run.changelog.extend(st.drain_changelog());
            let next = offset + 1;
            committed = st.min_needed_offset().map_or(next, |m| m.min(next)).max(committed);
            run.flushes.push(Flush { next, changelog_len: run.changelog.len(), committed });
            run.out_at.push(run.out.len());
        }
    }
    (st, run)
}

fn summaries(out: &[Emitted]) -> BTreeMap<String, SessionSummary> {
    let mut m = BTreeMap::new();
    for e in out {
        if let Emitted::Summary { record, .. } = e {
            assert!(m.insert(record.session_key.clone(), (**record).clone()).is_none(), "{} twice", record.session_key);
        }
    }
    m
}

fn check_restart(
    events: &[RawEvent<'static>],
    run: &FirstRun,
    k: usize,
    compacted: bool,
    now: impl Fn(i64) -> i64,
    reference: &BTreeMap<String, SessionSummary>,
) {
    let f = &run.flushes[k];
    let mut st = PartitionState::new(cfg()).expect("valid config");
    let written = &run.changelog[..f.changelog_len];
    if compacted {
        let mut c = Compacted::default();
        c.write(written);
        c.restore_into(&mut st);
    } else {
        for r in written {
            st.restore(&r.key, r.value.as_deref()).expect("restore");
        }
    }
    let mut out = Vec::new();
    for (i, e) in events.iter().enumerate().skip(f.committed as usize) {
        st.ingest(i as i64, e.clone(), now(i as i64), &mut out);
    }
    let ctx = format!("crash after flush {k} (next {}, committed {}, compacted {compacted})", f.next, f.committed);
    let late: Vec<_> = out
        .iter()
        .filter_map(|e| match e {
            Emitted::Sessionized { record, .. } if record.late => Some(record.event.event_id.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        late.is_empty(),
        "{ctx}: {} late events after the restart, e.g. {:?}",
        late.len(),
        &late[..late.len().min(5)]
    );
    for (key, s) in summaries(&out) {
        assert_eq!(reference.get(&key), Some(&s), "{ctx}: summary {key}");
    }
    // Nothing made up: from where it was committed, the second run's outputs are the first run's.
    let replayed = &run.out[run.out_at[k]..];
    assert_eq!(out.len(), replayed.len(), "{ctx}");
    if let Some(i) = (0..out.len()).find(|&i| out[i] != replayed[i]) {
        panic!("{ctx}: output {i} differs: {:?} vs {:?}", out[i], replayed[i]);
    }
    // Nothing lost: the first run's output up to the crash plus the second run's.
    let mut seen: HashSet<String> = HashSet::new();
    for e in run.out[..run.out_at[k]].iter().chain(&out) {
        if let Emitted::Sessionized { record, .. } = e {
            seen.insert(record.event.event_id.to_string());
        }
    }
    let all: HashSet<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    let closer: HashSet<String> = ["closer".to_owned()].into();
    let missing: Vec<_> = all.difference(&seen).filter(|id| !closer.contains(*id)).take(5).collect();
    assert!(missing.is_empty(), "{ctx}: lost {missing:?}");
}

fn scenario(sessions: usize, per_session: usize, keep: impl Fn(usize) -> bool, step: usize) {
    let events = stream(sessions, per_session, keep);
    let now = |_| 0;
    let (st, run) = first_run(&events, now);
    assert_eq!(st.min_needed_offset(), None, "nothing is held back");
    assert_eq!(st.pending_events(), 0);
    assert!(run.flushes.iter().all(|f| f.committed == f.next), "every flush commits everything read");
    let reference = summaries(&run.out);
    assert!(run.out.iter().all(|e| !matches!(e, Emitted::Sessionized { record, .. } if record.late)));
    let n = run.flushes.len();
    let mut ks: Vec<usize> = (0..n).step_by(step).collect();
    ks.extend([n - 2, n - 1]);
    for k in ks {
        check_restart(&events, &run, k, false, now, &reference);
        check_restart(&events, &run, k, true, now, &reference);
    }
}

#[test]
fn crash_and_restore_like_the_kill_test_one_partition_with_everything() {
    scenario(1_000, 100, |_| true, 3);
}

#[test]
fn crash_and_restore_like_the_kill_test_a_quarter_of_the_sessions() {
    scenario(1_000, 100, |s| s % 4 == 1, 1);
}

/// The runtime ticks a partition whenever it has been read to its end with nothing since. Ticks that
/// come while restored input is being re-read (slowly: 100 ms of wall clock per message here) must not
/// count the replay as idle time, or the first new events after it come out late.
#[test]
fn ticks_during_the_replay_after_a_restore_do_not_make_new_events_late() {
    let events = stream(1_000, 100, |s| s % 4 == 1);
    let (_, run) = first_run(&events, |_| 0);
    let reference = summaries(&run.out);
    for k in [1, run.flushes.len() / 2, run.flushes.len() - 2] {
        let f = &run.flushes[k];
        let mut st = PartitionState::new(cfg()).expect("valid config");
        for r in &run.changelog[..f.changelog_len] {
            st.restore(&r.key, r.value.as_deref()).expect("restore");
        }
        let mut out = Vec::new();
        let mut wall = 1_000_000;
        st.advance(wall, &mut out);
        for (i, e) in events.iter().enumerate().skip(f.committed as usize) {
            // Re-read input arrives slowly; new input at full speed.
            if (i as i64) < f.next {
                wall += 100;
            }
            if i % 50 == 0 {
                st.advance(wall, &mut out);
            }
            st.ingest(i as i64, e.clone(), wall, &mut out);
        }
        let late = out.iter().filter(|e| matches!(e, Emitted::Sessionized { record, .. } if record.late)).count();
        assert_eq!(late, 0, "crash after flush {k}: replayed {} messages", f.next - f.committed);
        for (key, s) in summaries(&out) {
            assert_eq!(reference.get(&key), Some(&s), "crash after flush {k}: summary {key}");
        }
    }
}
