mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use common::*;
use friction_schemas::{RawEvent, SessionSummary};
use friction_sessionizer::{Emitted, Ingested, PartitionState, SessionizerConfig};
use proptest::prelude::*;

const LATENESS: i64 = 10 * SEC;

/// One generated step of a session: time since its previous event, and what it is.
type Step = (i64, u8);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let dt = prop_oneof![6 => 0i64..5_000, 2 => Just(0i64), 1 => (31 * MIN)..(32 * MIN), 1 => (3 * MIN)..(4 * MIN)];
    prop::collection::vec((dt, 0u8..7), 1..18)
}

/// Sessions built from steps, merged in time order (ties by generation order).
fn build(sessions: &[Vec<Step>]) -> Vec<RawEvent<'static>> {
    build_with(sessions, true)
}

/// [`build`]; with `logs: false` the log lines (one `log:api` key shared by every session, whose
/// gaps are sums of steps and may fall anywhere) become errors of the session itself, so that every
/// key's consecutive events are less than 4 min or more than 31 min apart.
fn build_with(sessions: &[Vec<Step>], logs: bool) -> Vec<RawEvent<'static>> {
    let mut all = Vec::new();
    for (s, steps) in sessions.iter().enumerate() {
        let name = format!("s{s}");
        let mut t = i64::try_from(s).unwrap_or(0) * 700;
        let mut prev: Option<RawEvent<'static>> = None;
        for (j, (dt, kind)) in steps.iter().enumerate() {
            t += dt;
            let id = format!("{name}-{j}");
            let e = match kind {
                0 => ev(&name, &id, t, "click"),
                1 => pageview(&name, &id, t, &format!("/r{}", j % 3)),
                2 => ev(&name, &id, t, "error"),
                3 => RawEvent { view_id: Some(format!("v{}", j / 4).into()), ..ev(&name, &id, t, "click") },
                4 if logs => log_line("api", &format!("{name}-log-{j}"), t, "error"),
                4 => ev(&name, &id, t, "error"),
                // An exact duplicate of the previous event of the session.
                5 => prev.clone().unwrap_or_else(|| ev(&name, &id, t, "scroll")),
                _ => RawEvent { user_id: Some(format!("u{j}").into()), ..ev(&name, &id, t, "scroll") },
            };
            prev = Some(e.clone());
            all.push(e);
        }
    }
    all.sort_by_key(|e| e.timestamp);
    all
}

fn config(small: bool) -> SessionizerConfig {
    if small {
        SessionizerConfig { max_session_ms: 5 * MIN, dedup_ids: 8, ..SessionizerConfig::default() }
    } else {
        SessionizerConfig::default()
    }
}

/// The events in the order they arrive when each is delayed by `delays` (cycled) after its time
/// (ties in the order given).
fn arrive(sorted: &[RawEvent<'static>], delays: &[i64]) -> Vec<RawEvent<'static>> {
    let mut shuffled: Vec<(i64, usize, RawEvent<'static>)> =
        sorted.iter().cloned().enumerate().map(|(i, e)| (e.timestamp + delays[i % delays.len()], i, e)).collect();
    shuffled.sort_by_key(|(at, i, _)| (*at, *i));
    shuffled.into_iter().map(|(_, _, e)| e).collect()
}

/// The splits as sets of (key, eventId), whatever they are named.
fn groups(out: &[Emitted]) -> BTreeSet<BTreeSet<(String, String)>> {
    let mut by_split: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for r in records(out) {
        by_split.entry(r.session_key.to_string()).or_default().insert((r.event.key(), r.event.event_id.to_string()));
    }
    by_split.into_values().collect()
}

/// The summaries without their names and the fields that follow arrival order (views, release,
/// user, route order), in a fixed order.
fn counts(out: &[Emitted]) -> Vec<SessionSummary> {
    let mut v: Vec<SessionSummary> = summaries(out)
        .into_iter()
        .map(|s| {
            let mut routes = s.routes.clone();
            routes.sort();
            SessionSummary { session_key: String::new(), views: 0, release: None, user_id: None, routes, ..s.clone() }
        })
        .collect();
    v.sort_by(|a, b| (&a.session_id, a.start, a.end).cmp(&(&b.session_id, b.start, b.end)));
    v
}

/// An open split as its records so far describe it.
#[derive(Debug)]
struct SplitSoFar {
    records: i64,
    anchor: i64,
    start: i64,
    end: i64,
    late: i64,
}

/// Checks outputs, in order, against what came before them: `seq` counts the split's records,
/// `reordered` is set exactly when an earlier-arrived record of the split is newer, the split is
/// named after its first arrived event, and a summary matches its split's records. Returns the
/// number of summaries.
fn follow(open: &mut HashMap<String, SplitSoFar>, out: &[Emitted]) -> Result<usize, TestCaseError> {
    let mut closed = 0;
    for o in out {
        match o {
            Emitted::Sessionized { record: r, .. } => {
                let ts = r.event.timestamp;
                let s = open.entry(r.session_key.to_string()).or_insert(SplitSoFar {
                    records: 0,
                    anchor: ts,
                    start: ts,
                    end: ts,
                    late: 0,
                });
                prop_assert_eq!(r.seq, s.records, "{}", &r.session_key);
                prop_assert_eq!(r.reordered, ts < s.end, "{} in {}", &r.event.event_id, &r.session_key);
                prop_assert_eq!(r.session_start, s.anchor);
                prop_assert_eq!(r.session_key.as_ref(), format!("{}#{}", r.event.session_id, s.anchor));
                s.records += 1;
                s.start = s.start.min(ts);
                s.end = s.end.max(ts);
                s.late += i64::from(r.late);
            }
            Emitted::Summary { record: sum, .. } => {
                let s = open.remove(&sum.session_key);
                prop_assert!(s.is_some(), "summary of {} without records", &sum.session_key);
                let s = s.unwrap_or(SplitSoFar { records: 0, anchor: 0, start: 0, end: 0, late: 0 });
                prop_assert_eq!((sum.events, sum.start, sum.end, sum.late_events), (s.records, s.start, s.end, s.late));
                closed += 1;
            }
        }
    }
    Ok(closed)
}

fn run_all(cfg: &SessionizerConfig, input: &[RawEvent<'static>]) -> Vec<Emitted> {
    let mut run = Run::new(cfg.clone());
    for e in input.iter().cloned() {
        run.push(e);
    }
    run.flush();
    run.take()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any arrival order (events moved by up to an hour, so some arrive late): every event whose id
    /// its key has not seen is emitted by the very call that ingests it, exactly once; a repeated id
    /// is not. Each record's flags and numbers follow from what arrived before it: `seq` counts its
    /// split's records, `reordered` is set exactly when an earlier-arrived event of its split is
    /// newer, `late` exactly when it is behind the watermark, and the split is named after its
    /// first arrived event. Once everything closed, each split's summary matches its records.
    #[test]
    fn any_arrival_order_forwards_each_event_once_at_once(
        sessions in prop::collection::vec(steps(), 1..4),
        delays in prop::collection::vec(prop_oneof![4 => 0..=LATENESS / 2, 1 => 0..=60 * MIN], 1..64),
        small in any::<bool>(),
    ) {
        let cfg = config(small);
        // Default duplicate filter: every key's events fit in it, so a repeat is always recognised.
        let cfg = SessionizerConfig { dedup_ids: 64, ..cfg };
        let shuffled = arrive(&build(&sessions), &delays);
        let mut run = Run::new(cfg);
        let mut seen: HashSet<(String, String)> = HashSet::new();
        let mut open: HashMap<String, SplitSoFar> = HashMap::new();
        let mut closed = 0;
        for e in shuffled {
            let first = seen.insert((e.key(), e.event_id.to_string()));
            let watermark = run.state.watermark().unwrap_or(i64::MIN);
            let (id, ts) = (e.event_id.to_string(), e.timestamp);
            let outcome = run.push(e);
            let recs = records(&run.out);
            if !first {
                prop_assert_eq!(outcome, Ingested::Duplicate);
                prop_assert!(recs.is_empty(), "a repeat of {} was emitted", id);
            } else {
                prop_assert_eq!(recs.len(), 1, "{} not emitted at once", &id);
                let r = recs[0];
                prop_assert_eq!(&*r.event.event_id, id.as_str());
                prop_assert_eq!(r.late, ts < watermark);
                prop_assert_eq!(outcome, Ingested::Forwarded { late: r.late, reordered: r.reordered });
            }
            closed += follow(&mut open, &run.take())?;
        }
        prop_assert_eq!(run.state.min_needed_offset(), None);
        run.flush();
        closed += follow(&mut open, &run.take())?;
        prop_assert_eq!(run.state.open_sessions(), 0);
        prop_assert!(open.is_empty(), "splits never closed: {:?}", open.keys().collect::<Vec<_>>());
        prop_assert!(closed > 0);
    }

    /// When no event arrives more than the allowed lateness after its time and the inactivity gap
    /// is far larger than that (every key's events are less than 4 min or more than 31 min apart),
    /// any arrival order groups the events into the same splits as the time-ordered arrival, with
    /// the same summary counts; only names, `seq`, views and the "last seen" fields may differ.
    #[test]
    fn arrival_within_the_lateness_groups_events_like_time_order(
        sessions in prop::collection::vec(steps(), 1..4),
        delays in prop::collection::vec(0..=LATENESS / 2, 1..64),
    ) {
        let cfg = SessionizerConfig::default();
        let sorted = build_with(&sessions, false);
        let shuffled = arrive(&sorted, &delays);
        let expected = run_all(&cfg, &sorted);
        let got = run_all(&cfg, &shuffled);
        prop_assert!(records(&expected).iter().all(|r| !r.late && !r.reordered));
        prop_assert!(records(&got).iter().all(|r| !r.late));
        prop_assert_eq!(groups(&got), groups(&expected));
        prop_assert_eq!(counts(&got), counts(&expected));
    }

    /// The output does not depend on how often `advance` is called between events, only on the
    /// events and the wall clock of the idle periods: extra calls during an idle period change
    /// nothing.
    #[test]
    fn output_is_independent_of_how_the_stream_is_cut(
        sessions in prop::collection::vec(steps(), 1..4),
        gaps in prop::collection::vec(prop_oneof![3 => Just(0i64), 3 => 0i64..3_000, 1 => 10_000i64..3_000_000], 1..64),
        cuts in prop::collection::vec((0u8..3, 0i64..=1000), 1..64),
        small in any::<bool>(),
    ) {
        let cfg = config(small);
        let input = build(&sessions);
        let mut walls = Vec::with_capacity(input.len());
        let mut wall = 1_000_000i64;
        for i in 0..input.len() {
            wall += gaps[i % gaps.len()];
            walls.push(wall);
        }

        let mut plain = Run::new(cfg.clone());
        let mut cut = Run::new(cfg);
        let mut prev = walls.first().copied().unwrap_or(0);
        for (i, e) in input.into_iter().enumerate() {
            plain.advance(walls[i]);
            plain.push_at(e.clone(), walls[i]);
            let (n, frac) = cuts[i % cuts.len()];
            for k in 0..n {
                let f = (frac + i64::from(k) * 333).min(1000);
                cut.advance(prev + (walls[i] - prev) * f / 1000);
            }
            cut.advance(walls[i]);
            cut.push_at(e, walls[i]);
            cut.advance(walls[i]);
            prev = walls[i];
        }
        plain.advance(prev + 40 * MIN);
        cut.advance(prev + 40 * MIN);
        prop_assert_eq!(cut.take(), plain.take());
    }

    /// Whatever the input: no panic, every applied event is emitted or dropped as a duplicate,
    /// nothing is held; the state survives an encode/decode; and once everything is closed each
    /// split's summary matches its records.
    #[test]
    fn arbitrary_streams_are_accounted_for_and_bounded(
        events in prop::collection::vec(
            (0u8..4, 0u8..12, prop_oneof![4 => -200_000i64..200_000, 1 => (31 * MIN)..(90 * MIN)], 0u8..5, 0i64..20_000),
            0..120,
        ),
        dedup in 0usize..10,
    ) {
        let cfg = SessionizerConfig {
            dedup_ids: dedup,
            max_session_ms: 20 * MIN,
            ..SessionizerConfig::default()
        };
        let mut run = Run::new(cfg.clone());
        let mut wall = 0;
        let mut all = Vec::new();
        for (s, id, ts, kind, dwall) in events {
            let session = format!("s{s}");
            let id = format!("e{id}");
            let e = match kind {
                0 => ev(&session, &id, ts, "click"),
                1 => pageview(&session, &id, ts, "/x"),
                2 => RawEvent { view_id: Some(format!("v{}", ts % 3).into()), ..ev(&session, &id, ts, "input") },
                3 => log_line("svc", &id, ts, "error"),
                _ => ev(&session, "", ts, "scroll"), // no id: never a duplicate
            };
            wall += dwall;
            run.push_at(e, wall);
            let st = &run.state;
            let stats = st.stats();
            prop_assert_eq!(stats.events_in, stats.sessionized_out + stats.duplicates_dropped);
            prop_assert_eq!(st.pending_events(), 0);
            all.append(&mut run.out);
        }

        // Round trip of the whole state through its changelog encoding.
        let mut log = Compacted::default();
        log.write(&run.state.drain_changelog());
        let mut copy = PartitionState::new(cfg).expect("config");
        log.restore_into(&mut copy);
        for (k, v) in &log.0 {
            let again = copy.snapshot(k);
            prop_assert_eq!(again.as_ref(), Some(v), "key {:?}", k);
        }

        run.flush();
        all.append(&mut run.out);
        prop_assert_eq!(run.state.open_sessions(), 0);
        let mut per_split: BTreeMap<String, Vec<(i64, bool)>> = BTreeMap::new();
        for r in records(&all) {
            per_split.entry(r.session_key.to_string()).or_default().push((r.seq, r.late));
        }
        let sums = summaries(&all);
        prop_assert_eq!(sums.len(), per_split.len(), "one summary per split");
        for s in sums {
            let recs = &per_split[&s.session_key];
            let seqs: Vec<i64> = recs.iter().map(|r| r.0).collect();
            prop_assert_eq!(seqs, (0..i64::try_from(recs.len()).unwrap_or(0)).collect::<Vec<_>>());
            prop_assert_eq!(s.events, i64::try_from(recs.len()).unwrap_or(0));
            prop_assert_eq!(s.late_events, i64::try_from(recs.iter().filter(|r| r.1).count()).unwrap_or(0));
            prop_assert!(s.start <= s.end);
        }
    }

    /// Extreme times and wall clocks never panic.
    #[test]
    fn extreme_values_do_not_panic(
        events in prop::collection::vec((0u8..3, any::<i64>(), any::<i64>(), 0u8..8), 0..40),
    ) {
        let mut run = Run::default_config();
        for (s, ts, wall, id) in events {
            run.push_at(ev(&format!("s{s}"), &format!("e{id}"), ts, "click"), wall);
            run.advance(wall);
        }
        run.advance(i64::MAX);
        run.advance(i64::MIN);
        let records = run.state.drain_changelog();
        let mut copy = PartitionState::new(SessionizerConfig::default()).expect("config");
        for r in &records {
            prop_assert!(copy.restore(&r.key, r.value.as_deref()).is_ok());
        }
    }

    /// A crash at any point, with the last changelog flush cut anywhere, then a restore and a replay
    /// from the committed offset: nothing is lost, nothing new is made up (every record after the
    /// restore is one the uninterrupted run produced), and the summaries are the same.
    #[test]
    fn crash_and_restore_lose_nothing_and_invent_nothing(
        sessions in prop::collection::vec(steps(), 1..5),
        late_at in prop::collection::vec((0usize..200, 0i64..120_000), 0..4),
        cut1 in 0usize..200,
        cut2 in 0usize..200,
        cut3 in 0usize..200,
        prefix in 0usize..40,
    ) {
        let cfg = SessionizerConfig::default();
        let mut input = build(&sessions);
        // Some events arrive late: moved later in the stream by more than the lateness.
        for (at, behind) in late_at {
            if input.is_empty() {
                break;
            }
            let from = at % input.len();
            let e = input.remove(from);
            let to = input.iter().position(|x| x.timestamp > e.timestamp + LATENESS + behind).unwrap_or(input.len());
            input.insert(to.max(from), e);
        }
        let n = input.len();
        let mut cuts = [cut1 % (n + 1), cut2 % (n + 1), cut3 % (n + 1)];
        cuts.sort_unstable();
        let [k1, k2, k3] = cuts;

        let expected = run_all(&cfg, &input);

        let mut first = Run::new(cfg.clone());
        let mut log = Compacted::default();
        for e in input[..k1].iter().cloned() {
            first.push(e);
        }
        log.write(&first.state.drain_changelog());
        let commit = first.state.min_needed_offset().unwrap_or(first.next_offset).min(first.next_offset);
        for e in input[k1..k2].iter().cloned() {
            first.push(e);
        }
        let second_flush = first.state.drain_changelog();
        let written = prefix.min(second_flush.len());
        log.write(&second_flush[..written]);
        for e in input[k2..k3].iter().cloned() {
            first.push(e);
        }
        let before = first.take();

        let mut second = Run::new(cfg);
        log.restore_into(&mut second.state);
        second.next_offset = commit;
        for e in input[usize::try_from(commit).unwrap_or(0)..].iter().cloned() {
            second.push(e);
        }
        second.flush();
        let after = second.take();

        for r in &after {
            prop_assert!(expected.contains(r), "made up after the restore: {:?}", r);
        }
        for r in &expected {
            prop_assert!(before.contains(r) || after.contains(r), "lost: {:?}", r);
        }
        let mut got_summaries: Vec<_> = summaries(&before).into_iter().chain(summaries(&after)).cloned().collect();
        got_summaries.sort_by(|a, b| a.session_key.cmp(&b.session_key));
        got_summaries.dedup();
        let mut want_summaries: Vec<_> = summaries(&expected).into_iter().cloned().collect();
        want_summaries.sort_by(|a, b| a.session_key.cmp(&b.session_key));
        prop_assert_eq!(got_summaries, want_summaries);
    }
}
