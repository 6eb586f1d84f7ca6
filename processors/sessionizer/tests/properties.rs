mod common;

use std::collections::BTreeMap;

use common::*;
use friction_schemas::RawEvent;
use friction_sessionizer::{Emitted, PartitionState, SessionizerConfig};
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
                4 => log_line("api", &format!("{name}-log-{j}"), t, "error"),
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

    /// Any arrival order in which no event trails the newest one by more than the allowed
    /// lateness gives exactly the output of the time-ordered arrival.
    #[test]
    fn permutations_within_the_lateness_give_the_same_output(
        sessions in prop::collection::vec(steps(), 1..4),
        delays in prop::collection::vec(0..=LATENESS / 2, 1..64),
        small in any::<bool>(),
    ) {
        let cfg = config(small);
        let sorted = build(&sessions);
        // Arrival by time + delay: an event arrives after others only if they are at most
        // LATENESS/2 newer, so it is always on time.
        let mut shuffled: Vec<(i64, usize, RawEvent<'static>)> = sorted
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, e)| (e.timestamp + delays[i % delays.len()], i, e))
            .collect();
        shuffled.sort_by_key(|(at, i, _)| (*at, *i));
        let shuffled: Vec<_> = shuffled.into_iter().map(|(_, _, e)| e).collect();

        let expected = run_all(&cfg, &sorted);
        let got = run_all(&cfg, &shuffled);
        prop_assert!(records(&expected).iter().all(|r| !r.late));
        prop_assert_eq!(got, expected);
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

    /// Whatever the input: no panic, every applied event is emitted, dropped as a duplicate, or
    /// still buffered; buffers stay within their cap; the state survives an encode/decode; and
    /// once everything is closed each split's summary matches its records.
    #[test]
    fn arbitrary_streams_are_accounted_for_and_bounded(
        events in prop::collection::vec(
            (0u8..4, 0u8..12, prop_oneof![4 => -200_000i64..200_000, 1 => (31 * MIN)..(90 * MIN)], 0u8..5, 0i64..20_000),
            0..120,
        ),
        cap in 1usize..6,
        dedup in 0usize..10,
    ) {
        let cfg = SessionizerConfig {
            max_buffered_per_session: cap,
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
            prop_assert_eq!(stats.events_in, stats.sessionized_out + stats.duplicates_dropped + st.buffered_events() as u64);
            prop_assert!(st.buffered_events() <= st.open_sessions() * cap);
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
        prop_assert_eq!(run.state.buffered_events(), 0);
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
        let mut run = Run::new(SessionizerConfig { max_buffered_per_session: 2, ..SessionizerConfig::default() });
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
