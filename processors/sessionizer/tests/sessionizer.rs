mod common;

use common::*;
use friction_schemas::sessionized::{CLOSE_INACTIVITY, CLOSE_MAX_DURATION};
use friction_schemas::{decode, encode_to_vec, RawEvent, SessionSummary, Sessionized};
use friction_sessionizer::{
    synthetic_stream, Emitted, Ingested, PartitionState, SessionizerConfig, StateError, PARTITION_KEY,
};

#[test]
fn forwards_every_event_on_arrival_and_flags_the_reordered_ones() {
    let mut run = Run::default_config();
    let reordered = Ingested::Forwarded { late: false, reordered: true };
    assert_eq!(run.push(ev("s", "c", 3 * SEC, "click")), Ingested::IN_ORDER);
    assert_eq!(ids(&run.out), ["c"], "emitted at once");
    assert_eq!(run.push(ev("s", "a", SEC, "click")), reordered);
    assert_eq!(run.push(ev("s", "b", 2 * SEC, "click")), reordered);
    // Exactly the split's newest time is not older than it: in order.
    assert_eq!(run.push(ev("s", "c2", 3 * SEC, "click")), Ingested::IN_ORDER);
    assert_eq!(ids(&run.out), ["c", "a", "b", "c2"]);
    assert_eq!(run.state.watermark(), Some(3 * SEC - 10 * SEC));
    assert_eq!(run.push(ev("s", "d", 12 * SEC, "click")), Ingested::IN_ORDER);
    assert_eq!(run.state.pending_events(), 0);

    run.flush();
    let out = run.take();
    assert_eq!(ids(&out), ["c", "a", "b", "c2", "d"]);
    let recs = records(&out);
    // Named after the first event to arrive; seq in arrival order.
    assert!(recs.iter().all(|r| !r.late && r.session_key == "s#3000" && r.session_start == 3 * SEC));
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(recs.iter().map(|r| r.reordered).collect::<Vec<_>>(), [false, true, true, false, false]);
    assert_eq!(out.last().map(Emitted::key), Some("p:s"));
    let sums = summaries(&out);
    assert_eq!(sums.len(), 1);
    // The summary spans the earliest event, before the anchor.
    assert_eq!((sums[0].start, sums[0].end, sums[0].events), (SEC, 12 * SEC, 5));
    assert_eq!(run.state.stats().reordered_events, 2);
}

#[test]
fn late_events_are_flagged_counted_and_kept() {
    let mut run = Run::default_config();
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("s", "b", 30 * SEC, "click")); // watermark 20 s
    assert_eq!(run.push(ev("s", "late", 5 * SEC, "error")), Ingested::Forwarded { late: true, reordered: true });
    assert_eq!(ids(&run.out), ["a", "b", "late"], "a late event is emitted at once");
    // Exactly at the watermark is not late (but older than b).
    assert_eq!(run.push(ev("s", "edge", 20 * SEC, "click")), Ingested::Forwarded { late: false, reordered: true });
    // Another key moves the watermark to 50 s: an event of s at 40 s is late, yet the newest of its split.
    run.push(ev("t", "x", 60 * SEC, "click"));
    assert_eq!(run.push(ev("s", "late-new", 40 * SEC, "click")), Ingested::Forwarded { late: true, reordered: false });
    run.flush();
    let out = run.take();
    let recs: Vec<_> = records(&out).into_iter().filter(|r| r.event.session_id == "s").collect();
    assert_eq!(
        recs.iter().map(|r| (r.event.event_id.to_string(), r.seq, r.late, r.reordered)).collect::<Vec<_>>(),
        [
            ("a".to_owned(), 0, false, false),
            ("b".to_owned(), 1, false, false),
            ("late".to_owned(), 2, true, true),
            ("edge".to_owned(), 3, false, true),
            ("late-new".to_owned(), 4, true, false),
        ]
    );
    let sums: Vec<_> = summaries(&out).into_iter().filter(|s| s.session_id == "s").collect();
    assert_eq!(sums.len(), 1);
    assert_eq!((sums[0].events, sums[0].late_events, sums[0].errors), (5, 2, 1));
    assert_eq!((sums[0].start, sums[0].end), (0, 40 * SEC));
    assert_eq!(run.state.stats().late_events, 2);
}

#[test]
fn a_late_event_of_a_closed_session_opens_a_split_of_its_own() {
    let mut run = Run::default_config();
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("other", "x", 40 * MIN, "click")); // closes s (deadline 30 min)
    assert_eq!(summaries(&run.out).len(), 1);
    // Three late events of s, within 10 s of event time: one split, named after the first to arrive.
    let late = |reordered| Ingested::Forwarded { late: true, reordered };
    assert_eq!(run.push(ev("s", "late1", 10 * MIN, "click")), late(false));
    assert_eq!(run.push(ev("s", "late2", 10 * MIN + 10 * SEC, "click")), late(false));
    assert_eq!(run.push(ev("s", "late0", 10 * MIN - 5 * SEC, "click")), late(true));
    run.flush();
    let out = run.take();
    let late: Vec<_> = records(&out).into_iter().filter(|r| r.late).collect();
    assert_eq!(late.len(), 3);
    assert!(late.iter().all(|r| r.session_key == "s#600000"));
    assert_eq!(late.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2]);
    let sums: Vec<_> = summaries(&out).into_iter().filter(|s| s.session_id == "s").collect();
    assert_eq!(sums.len(), 2);
    assert_eq!((sums[1].session_key.as_str(), sums[1].events, sums[1].late_events), ("s#600000", 3, 3));
    assert_eq!(sums[1].start, 10 * MIN - 5 * SEC);
}

#[test]
fn duplicate_event_ids_are_dropped_and_counted() {
    let mut run = Run::default_config();
    run.push(ev("s", "a", 0, "click"));
    assert_eq!(run.push(ev("s", "a", 0, "click")), Ingested::Duplicate);
    // Same id, other time (a client retry that re-stamped it): still the same event.
    assert_eq!(run.push(ev("s", "a", 2 * SEC, "click")), Ingested::Duplicate);
    run.push(ev("s", "b", SEC, "click"));
    // Another session may use the same id.
    assert_eq!(run.push(ev("t", "a", SEC, "click")), Ingested::IN_ORDER);
    run.flush();
    let out = run.take();
    // In arrival order.
    assert_eq!(ids(&out), ["a", "b", "a"]);
    let s = summaries(&out).into_iter().find(|s| s.session_id == "s").expect("summary of s");
    assert_eq!((s.events, s.duplicates_dropped), (2, 2));
    assert_eq!(run.state.stats().duplicates_dropped, 2);
}

#[test]
fn the_duplicate_filter_remembers_only_the_configured_number_of_ids() {
    let mut run = Run::new(SessionizerConfig { dedup_ids: 2, ..SessionizerConfig::default() });
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("s", "b", 1, "click"));
    assert_eq!(run.push(ev("s", "a", 2, "click")), Ingested::Duplicate);
    run.push(ev("s", "c", 3, "click"));
    // "a" has left the window of the last two ids (b, c).
    assert_eq!(run.push(ev("s", "a", 4, "click")), Ingested::IN_ORDER);
}

#[test]
fn splits_after_the_inactivity_gap() {
    let mut run = Run::default_config();
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("s", "b", 30 * MIN - 1, "click")); // just inside the gap
    run.push(ev("s", "c", 60 * MIN - 1, "click")); // exactly the gap after b
    run.flush();
    let out = run.take();
    let kinds: Vec<String> = out
        .iter()
        .map(|e| match e {
            Emitted::Sessionized { record, .. } => {
                format!("{}:{}:{}", record.event.event_id, record.session_key, record.seq)
            }
            Emitted::Summary { record, .. } => format!("end:{}:{}", record.session_key, record.close_reason),
        })
        .collect();
    assert_eq!(
        kinds,
        ["a:s#0:0", "b:s#0:1", "end:s#0:inactivity", "c:s#3599999:0", "end:s#3599999:inactivity"],
        "the first split's summary comes before the next split's first event"
    );
}

#[test]
fn sessions_close_when_the_watermark_reaches_their_deadline() {
    let mut run = Run::default_config();
    run.push(ev("a", "a0", 0, "click")); // a closes when the watermark reaches 30 min
    run.push(ev("b", "b0", 30 * MIN, "click")); // watermark 30 min - 10 s
    run.push(ev("b", "b1", 30 * MIN + 10 * SEC - 1, "click"));
    assert!(summaries(&run.out).is_empty());
    run.push(ev("b", "b2", 30 * MIN + 10 * SEC, "click")); // watermark 30 min
    let order: Vec<String> = run
        .out
        .iter()
        .map(|e| match e {
            Emitted::Sessionized { record, .. } => record.event.event_id.to_string(),
            Emitted::Summary { record, .. } => format!("end {}", record.session_key),
        })
        .collect();
    assert_eq!(order, ["a0", "b0", "b1", "b2", "end a#0"], "the close follows the event that moved the watermark");
}

#[test]
fn splits_at_the_maximum_duration() {
    let cfg = SessionizerConfig { max_session_ms: 10 * MIN, ..SessionizerConfig::default() };
    let mut run = Run::new(cfg);
    for i in 0..25 {
        run.push(ev("s", &format!("e{i:02}"), i * MIN, "click"));
    }
    run.flush();
    let out = run.take();
    let sums = summaries(&out);
    let got: Vec<_> = sums.iter().map(|s| (s.session_key.as_str(), s.events, s.close_reason.as_str())).collect();
    assert_eq!(
        got,
        [("s#0", 10, CLOSE_MAX_DURATION), ("s#600000", 10, CLOSE_MAX_DURATION), ("s#1200000", 5, CLOSE_MAX_DURATION)]
    );
    // The last split (20-24 min) reaches its cap (30 min) before its gap deadline (54 min): the
    // deadline that binds names the reason.
    assert!(sums.iter().all(|s| s.duration_ms == 9 * MIN || s.events == 5));
}

#[test]
fn a_quiet_session_at_its_maximum_duration_closes_as_max_duration() {
    let cfg = SessionizerConfig { max_session_ms: 10 * MIN, ..SessionizerConfig::default() };
    let mut run = Run::new(cfg);
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("s", "b", 9 * MIN, "click"));
    run.push(ev("t", "x", 10 * MIN + 10 * SEC, "click")); // watermark 10 min = anchor + max
    let sums = summaries(&run.out);
    assert_eq!(sums.len(), 1);
    assert_eq!(sums[0].close_reason, CLOSE_MAX_DURATION);
}

#[test]
fn summary_counts_everything_it_documents() {
    let mut run = Run::default_config();
    let mut first = pageview("s", "e1", 1_000, "/home");
    first.user_id = Some("u-old".into());
    first.release = Some("1.0".into());
    run.push(first);
    run.push(RawEvent { route: Some("/home".into()), ..ev("s", "e2", 2_000, "click") });
    run.push(RawEvent { route: Some("/home".into()), ..ev("s", "e3", 3_000, "error") });
    run.push(pageview("s", "e4", 4_000, "/cart"));
    let mut last = RawEvent { route: Some("/cart".into()), ..ev("s", "e5", 9_000, "click") };
    last.user_id = Some("u-new".into());
    run.push(last);
    run.push(pageview("s", "e6", 10_000, "/home"));
    run.flush();
    let out = run.take();
    let s = summaries(&out)[0].clone();
    assert_eq!(
        s,
        SessionSummary {
            project_id: "p".into(),
            session_id: "s".into(),
            session_key: "s#1000".into(),
            start: 1_000,
            end: 10_000,
            duration_ms: 9_000,
            events: 6,
            views: 3,
            clicks: 2,
            errors: 1,
            routes: vec!["/home".into(), "/cart".into()],
            routes_truncated: false,
            release: Some("1.0".into()),
            user_id: Some("u-new".into()),
            close_reason: CLOSE_INACTIVITY.into(),
            late_events: 0,
            duplicates_dropped: 0,
        }
    );
    // The records encode with the published schemas.
    for e in &out {
        match e {
            Emitted::Sessionized { record, .. } => {
                let back: Sessionized<'static> = decode(&encode_to_vec(&**record).expect("encode")).expect("decode");
                assert_eq!(&back, &**record);
            }
            Emitted::Summary { record, .. } => {
                let back: SessionSummary = decode(&encode_to_vec(&**record).expect("encode")).expect("decode");
                assert_eq!(&back, &**record);
            }
        }
    }
}

#[test]
fn views_keep_client_ids_and_derive_the_rest_at_navigations() {
    let mut run = Run::default_config();
    run.push(pageview("s", "e1", 1_000, "/a")); // view 0 (the session's start, not a second view)
    run.push(ev("s", "e2", 2_000, "click"));
    run.push(pageview("s", "e3", 3_000, "/b")); // view 1
    run.push(RawEvent { view_id: Some("client-x".into()), ..ev("s", "e4", 4_000, "click") }); // still view 1
    run.push(ev("s", "e5", 5_000, "scroll")); // inherits client-x
    run.push(RawEvent { view_id: Some("client-y".into()), ..ev("s", "e6", 6_000, "click") }); // view 2
    run.push(ev("s", "e7", 30_000, "click"));
    run.push(pageview("s", "late-nav", 9_000, "/c")); // late and reordered: keeps the current view
    run.push(pageview("s", "old-nav", 25_000, "/d")); // reordered, not late: keeps the current view too
    run.push(pageview("s", "e8", 31_000, "/e")); // in order: view 3
    run.flush();
    let out = run.take();
    let got: Vec<_> =
        records(&out).iter().map(|r| (r.event.event_id.to_string(), r.view_index, r.view_id.to_string())).collect();
    let want = [
        ("e1", 0, "s#1000:v0"),
        ("e2", 0, "s#1000:v0"),
        ("e3", 1, "s#1000:v1"),
        ("e4", 1, "client-x"),
        ("e5", 1, "client-x"),
        ("e6", 2, "client-y"),
        ("e7", 2, "client-y"),
        ("late-nav", 2, "client-y"),
        ("old-nav", 2, "client-y"),
        ("e8", 3, "s#1000:v3"),
    ];
    let want: Vec<_> = want.iter().map(|(a, b, c)| (a.to_string(), *b, c.to_string())).collect();
    assert_eq!(got, want);
    assert_eq!(summaries(&out)[0].views, 4);
}

#[test]
fn log_lines_are_sessions_too() {
    let mut run = Run::default_config();
    run.push(log_line("api", "l1", 1_000, "info"));
    run.push(log_line("api", "l2", 2_000, "ERROR"));
    run.push(log_line("api", "l3", 3_000, "fatal"));
    run.flush();
    let out = run.take();
    assert_eq!(records(&out).iter().map(|r| r.session_key.to_string()).collect::<Vec<_>>(), ["log:api#1000"; 3]);
    let s = summaries(&out)[0];
    assert_eq!((s.session_id.as_str(), s.errors, s.views, s.events), ("log:api", 2, 1, 3));
    assert_eq!(out[0].key(), "p:log:api");
}

#[test]
fn a_log_line_is_forwarded_at_once_and_nothing_is_held() {
    let mut run = Run::default_config();
    for i in 0..10 {
        assert_eq!(run.push(log_line("api", &format!("l{i}"), 1_000 + i, "info")), Ingested::IN_ORDER);
        assert_eq!(records(&run.out).len(), usize::try_from(i + 1).unwrap_or(0), "l{i} is out before the next");
    }
    // One error line, out of order, still goes out at once.
    assert_eq!(
        run.push(log_line("api", "error", 1_002, "error")),
        Ingested::Forwarded { late: false, reordered: true }
    );
    let last = records(&run.out).last().map(|r| (r.event.event_id.to_string(), r.seq));
    assert_eq!(last, Some(("error".to_owned(), 10)));
    assert_eq!(run.state.pending_events(), 0);
    assert_eq!(run.state.min_needed_offset(), None, "nothing held: the whole input may be committed");
}

#[test]
fn an_idle_partition_closes_its_last_session_by_wall_clock_time_passed() {
    let mut run = Run::default_config();
    let t0 = 1_700_000_000_000; // event time and wall clock agree for live data
    run.push_at(ev("s", "a", t0, "click"), t0);
    run.push_at(ev("s", "b", t0 + 5 * SEC, "click"), t0 + 5 * SEC);
    assert_eq!(ids(&run.out), ["a", "b"], "nothing waits for the watermark");
    // 5 s of silence: watermark = newest (t0+5s) - 10 s + 5 s = t0.
    run.advance(t0 + 10 * SEC);
    assert_eq!(run.state.watermark(), Some(t0));
    // The gap after the last event plus the lateness, in wall clock: the session closes.
    run.advance(t0 + 5 * SEC + 30 * MIN + 10 * SEC - 1);
    assert!(summaries(&run.out).is_empty());
    run.advance(t0 + 5 * SEC + 30 * MIN + 10 * SEC);
    assert_eq!(summaries(&run.out).len(), 1);
    assert_eq!(run.state.open_sessions(), 0);
}

#[test]
fn a_pause_between_two_messages_is_not_idle_time() {
    // The stage was busy for a minute (a rebalance restoring other partitions, a slow commit) while
    // this partition's backlog waited: the next message is not judged against a minute of "idle"
    // watermark advance. (It used to be: a run of the backlog came out late and split sessions.)
    let mut run = Run::default_config();
    let t0 = 1_700_000_000_000;
    run.push_at(ev("s", "a", t0, "click"), t0);
    let b = run.push_at(ev("s", "b", t0 - 5 * SEC, "click"), t0 + 60 * SEC);
    assert_eq!(b, Ingested::Forwarded { late: false, reordered: true });
    assert_eq!(run.state.watermark(), Some(t0 - 10 * SEC));
    // Idle time is what `advance` is told about (the stage calls it for partitions read to their end).
    run.advance(t0 + 60 * SEC + 10 * SEC);
    assert_eq!(run.state.watermark(), Some(t0));
    assert_eq!(run.state.stats().late_events, 0);
}

#[test]
fn the_idle_rule_never_jumps_to_the_wall_clock_for_old_data() {
    let mut run = Run::default_config();
    let wall = 1_780_000_000_000; // 2026
    let old = 1_705_312_800_000; // 2024: a backfill
    run.push_at(ev("s", "a", old, "click"), wall);
    run.push_at(ev("s", "b", old + 20 * SEC, "click"), wall);
    run.advance(wall + 5 * SEC);
    assert_eq!(run.state.watermark(), Some(old + 20 * SEC - 10 * SEC + 5 * SEC));
    // An event 4 s behind the newest is still on time; one 6 s behind is late.
    let c = run.push_at(ev("s", "c", old + 16 * SEC, "click"), wall + 5 * SEC);
    assert_eq!(c, Ingested::Forwarded { late: false, reordered: true });
    let d = run.push_at(ev("s", "d", old + 14 * SEC, "click"), wall + 5 * SEC);
    assert_eq!(d, Ingested::Forwarded { late: true, reordered: true });
    assert_eq!(ids(&run.out), ["a", "b", "c", "d"]);
    assert!(summaries(&run.out).is_empty(), "the backfilled session is not closed by today's clock");
}

#[test]
fn after_a_restore_the_idle_clock_starts_again() {
    let mut run = Run::default_config();
    run.push_at(ev("s", "a", 0, "click"), 0);
    let mut log = Compacted::default();
    log.write(&run.state.drain_changelog());
    let mut restored = Run::default_config();
    log.restore_into(&mut restored.state);
    assert_eq!(restored.state.min_needed_offset(), None, "nothing held back");
    // A day later the input is read again from the committed offset: already applied.
    assert_eq!(restored.push_at(ev("s", "a", 0, "click"), 86_400_000), Ingested::Replayed);
    assert!(restored.out.is_empty());
    // The first call only starts the idle clock: the day away is not idle time of the data.
    restored.advance(86_400_000);
    assert_eq!(restored.state.watermark(), Some(-10 * SEC));
    restored.advance(86_400_000 + 30 * MIN + 10 * SEC - 1);
    assert!(restored.out.is_empty());
    restored.advance(86_400_000 + 30 * MIN + 10 * SEC);
    assert_eq!(summaries(&restored.out).len(), 1);
}

/// Several sessions with disorder, a late event, a duplicate and an inactivity split, stamped with
/// the wall clock equal to the arrival index (no idle advancement worth mentioning).
fn mixed_stream() -> Vec<RawEvent<'static>> {
    let mut v = Vec::new();
    for i in 0..40i64 {
        let t = i * 4 * SEC;
        v.push(ev("a", &format!("a{i}"), t, if i % 5 == 0 { "pageview" } else { "click" }));
        v.push(ev("b", &format!("b{i}"), t + 3 * SEC, "click"));
        if i % 6 == 2 {
            v.push(ev("c", &format!("c{i}"), t - 2 * SEC, "error"));
        }
        if i == 20 {
            v.push(ev("a", "a3", t, "click")); // duplicate
            v.push(ev("b", "late-b", t - 60 * SEC, "click")); // late
        }
    }
    // Session a resumes after the gap; d starts late in the stream.
    v.push(ev("a", "a-next", 40 * MIN, "click"));
    v.push(ev("d", "d0", 40 * MIN + SEC, "click"));
    v.push(ev("d", "d1", 40 * MIN + 2 * SEC, "click"));
    v
}

#[test]
fn restore_mid_session_gives_the_outputs_of_an_uninterrupted_run() {
    let input = mixed_stream();
    let mut whole = Run::default_config();
    for e in input.clone() {
        whole.push(e);
    }
    whole.flush();
    let expected = whole.take();
    assert!(records(&expected).iter().any(|r| r.late));
    assert!(records(&expected).iter().any(|r| r.reordered));

    for cut in [1, 7, 30, 55, input.len() - 1] {
        let mut first = Run::default_config();
        let mut log = Compacted::default();
        for e in input[..cut].iter().cloned() {
            first.push(e);
        }
        log.write(&first.state.drain_changelog());
        let emitted_before = first.out.len();
        // Nothing is held back: the runtime commits everything read once its outputs are acknowledged.
        assert_eq!(first.state.min_needed_offset(), None);
        let commit = first.next_offset;
        // Keep going a little, then crash without writing the changelog again.
        for e in input[cut..(cut + 5).min(input.len())].iter().cloned() {
            first.push(e);
        }

        let mut second = Run::default_config();
        log.restore_into(&mut second.state);
        second.next_offset = commit;
        for e in input[usize::try_from(commit).expect("offset")..].iter().cloned() {
            second.push(e);
        }
        second.flush();
        assert_eq!(second.out, expected[emitted_before..], "cut at {cut}: restored run differs");
    }
}

#[test]
fn snapshot_encodes_what_restore_reads() {
    let mut run = Run::default_config();
    for e in mixed_stream().into_iter().take(50) {
        run.push(e);
    }
    let mut copy = Run::default_config();
    for key in ["p:a", "p:b", "p:c", PARTITION_KEY] {
        let bytes = run.state.snapshot(key).expect("state exists");
        copy.state.restore(key, Some(&bytes)).expect("restore");
        assert_eq!(copy.state.snapshot(key), Some(bytes), "{key}");
    }
    assert_eq!(run.state.snapshot("p:nope"), None);
}

#[test]
fn closed_sessions_are_tombstoned_after_the_partition_record() {
    let mut run = Run::default_config();
    run.push(ev("s", "a", 0, "click"));
    run.push(ev("t", "b", 31 * MIN, "click")); // closes s
    let records = run.state.drain_changelog();
    let keys: Vec<_> = records.iter().map(|r| (r.key.as_str(), r.value.is_some())).collect();
    assert_eq!(keys, [("p:s", true), ("p:t", true), (PARTITION_KEY, true), ("p:s", false)]);
    assert_eq!(run.state.snapshot("p:s"), None);
    assert!(run.state.drain_changelog().is_empty(), "nothing changed since");
}

#[test]
fn each_changed_key_is_written_once_per_drain_in_the_order_it_changed() {
    let mut run = Run::default_config();
    for (i, s) in ["b", "a", "b", "c", "a"].into_iter().enumerate() {
        run.push(ev(s, &format!("e{i}"), i as i64 * SEC, "click"));
    }
    let records = run.state.drain_changelog();
    let keys: Vec<_> = records.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["p:b", "p:a", "p:c", PARTITION_KEY]);
    for r in &records {
        assert_eq!(r.value, run.state.snapshot(&r.key), "{}", r.key);
    }
    // The callback form writes the same records.
    run.push(ev("c", "e9", 9 * SEC, "click"));
    let mut seen = Vec::new();
    run.state.drain_changelog_with(|k, v| seen.push((k.to_owned(), v.map(<[u8]>::to_vec))));
    let keys: Vec<_> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["p:c", PARTITION_KEY]);
    assert_eq!(seen[0].1, run.state.snapshot("p:c"));
}

#[test]
fn corrupt_state_is_an_error_and_changes_nothing() {
    let mut run = Run::default_config();
    for e in mixed_stream().into_iter().take(20) {
        run.push(e);
    }
    let good = run.state.snapshot("p:a").expect("state");
    let mut fresh = PartitionState::new(SessionizerConfig::default()).expect("config");
    assert_eq!(fresh.restore("p:a", Some(&[])), Err(StateError::TooShort));
    assert_eq!(fresh.restore("p:a", Some(b"garbage")), Err(StateError::BadMagic(b'g')));
    let mut newer = good.clone();
    newer[1] = 3;
    assert_eq!(fresh.restore("p:a", Some(&newer)), Err(StateError::UnsupportedVersion(3)));
    for cut in 3..good.len() {
        assert!(fresh.restore("p:a", Some(&good[..cut])).is_err(), "truncated at {cut} accepted");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(fresh.restore("p:a", Some(&trailing)).is_err());
    // A session record under the partition key, and one under a key of another shape.
    assert!(matches!(fresh.restore(PARTITION_KEY, Some(&good)), Err(StateError::KindMismatch { .. })));
    assert!(matches!(fresh.restore("px:a", Some(&good)), Err(StateError::Corrupt(_))));
    let partition = run.state.snapshot(PARTITION_KEY).expect("partition");
    assert!(matches!(fresh.restore("p:a", Some(&partition)), Err(StateError::KindMismatch { .. })));
    assert_eq!(fresh.open_sessions(), 0);
    assert!(fresh.restore("p:a", Some(&good)).is_ok());
    assert_eq!(fresh.open_sessions(), 1);
}

#[test]
fn an_open_session_costs_less_than_a_kibibyte() {
    let mut run = Run::new(SessionizerConfig { changelog: false, ..SessionizerConfig::default() });
    let sessions = 2_000;
    // 100 events per session fill the duplicate filter (64 ids × 4 bytes), the largest part.
    for e in synthetic_stream(sessions, 100) {
        run.push(e);
        run.out.clear();
    }
    assert_eq!(run.state.pending_events(), 0);
    assert_eq!(run.state.open_sessions(), sessions);
    let per_session = run.state.approx_state_bytes() / sessions;
    eprintln!("approx state: {per_session} bytes per open session");
    assert!(per_session <= 1024, "{per_session} bytes per open session");
    assert!(per_session >= 256, "{per_session} bytes: the estimate misses the duplicate filter");
}

#[test]
fn replaying_the_same_input_reproduces_the_same_records() {
    let run = |input: Vec<RawEvent<'static>>| {
        let mut r = Run::default_config();
        for e in input {
            r.push(e);
        }
        r.flush();
        r.take()
    };
    let input = synthetic_stream(50, 30);
    let a = run(input.clone());
    assert_eq!(a, run(input));
    assert_eq!(records(&a).len(), 50 * 30);
    assert_eq!(summaries(&a).len(), 50);
}

#[test]
fn the_synthetic_stream_is_what_it_says() {
    let stream = friction_sessionizer::SyntheticStream::new(20, 40);
    assert_eq!(stream.size_hint(), (800, Some(800)));
    let events: Vec<_> = stream.collect();
    assert_eq!(events, synthetic_stream(20, 40));
    let mut run = Run::default_config();
    for e in events {
        run.push(e);
    }
    run.flush();
    let out = run.take();
    let recs = records(&out);
    assert_eq!(recs.len(), 800, "no duplicates");
    assert!(recs.iter().all(|r| !r.late), "disorder stays within the lateness");
    assert_eq!(run.state.stats().events_in, 800);
    assert!(recs.iter().any(|r| r.view_index == 3), "a view every ten events");
    assert!(run.state.stats().duplicates_dropped == 0 && summaries(&out).len() == 20);
}

#[test]
fn invalid_configs_are_rejected() {
    for cfg in [
        SessionizerConfig { allowed_lateness_ms: -1, ..SessionizerConfig::default() },
        SessionizerConfig { inactivity_gap_ms: 0, ..SessionizerConfig::default() },
        SessionizerConfig { max_session_ms: 0, ..SessionizerConfig::default() },
        SessionizerConfig { dedup_ids: 70_000, ..SessionizerConfig::default() },
    ] {
        assert!(PartitionState::new(cfg).is_err());
    }
}
