//! What the detector does with one record it read: its view of the event
//! (`friction_detector::convert::rule_event`), then the rules over a session of four copies of it
//! 300 ms apart (a rage-click shape for a click), once still open and once closed.

use std::borrow::Cow;

use friction_rules::{detect, Horizon, Rules};
use friction_schemas::Sessionized;

/// Runs the detector's conversion and the rules on `record`; whether the rules saw an event.
pub fn detects(record: &Sessionized<'_>) -> bool {
    let Some(event) = friction_detector::convert::rule_event(record) else { return false };
    let events: Vec<_> = (0..4u64)
        .map(|i| {
            let mut e = event.clone();
            e.event_id = Cow::Owned(format!("{}-{i}", e.event_id));
            e.seq = i;
            e.timestamp_ms = e.timestamp_ms.saturating_add(300 * i as i64);
            e
        })
        .collect();
    let rules = Rules::default();
    let first = events[0].timestamp_ms;
    let last = events[3].timestamp_ms;
    let _ = detect(&events, Horizon::open(first.saturating_add(400)), &rules);
    let _ = detect(&events, Horizon::closed(last), &rules);
    true
}
