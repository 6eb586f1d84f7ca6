//! What the sessionizer produces: every event placed in its split session and view
//! (`friction.sessionized.v1`, family `sessionized`) and one summary per closed split session
//! (`friction.sessions.v1`, family `session`).
//!
//! Both are keyed by the input key `project_id:session_id`, so a session's events and its summaries
//! stay on the partition its input came from. A split session is named by its `session_key`
//! (`<sessionId>#<anchor ms>`); see `avro/sessionized.v2.avsc` and `avro/session.v1.avsc` for every
//! field's meaning. The hand-written decoder of `sessionized` v2 is at the end.
//!
//! Since v2 the sessionizer forwards every event on arrival (docs/architecture.md §4 "Sessionizer")
//! and flags `reordered` the ones older than an earlier-arrived event of their split; v1 records
//! decode with `reordered: false`.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::event::RawEvent;
use crate::fast;
use crate::record::{CodecError, Record};

/// `closeReason` of a split that ended because the watermark passed its last event time plus the
/// inactivity gap, or because a later event came after that gap.
pub const CLOSE_INACTIVITY: &str = "inactivity";
/// `closeReason` of a split that ended because it reached the maximum session duration.
pub const CLOSE_MAX_DURATION: &str = "max_duration";

/// One event placed in its split session and view. Strings are `Cow` like in [`RawEvent`], so a
/// stage can emit borrowed data; decoded records own their strings (`Sessionized<'static>`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sessionized<'a> {
    /// The input event, unchanged.
    pub event: RawEvent<'a>,
    /// `<sessionId>#<anchor>`: the split session.
    pub session_key: Cow<'a, str>,
    /// 0-based position in the split session's output, in arrival order.
    pub seq: i64,
    /// Client viewId, or `<sessionKey>:v<viewIndex>` when the client gave none.
    pub view_id: Cow<'a, str>,
    /// 0-based view number within the split session.
    pub view_index: i32,
    /// Arrived after the partition watermark passed its time (more than the allowed lateness behind
    /// the newest event time); forwarded like any other event, counted.
    pub late: bool,
    /// The split's anchor: event time of its first arrived event, epoch ms.
    pub session_start: i64,
    /// Older than an event of its split that arrived before it: out of time order in the topic
    /// (v2; v1 records decode as false). Consumers keeping time order insert it by
    /// (timestamp, seq).
    #[serde(default)]
    pub reordered: bool,
}

impl Record for Sessionized<'_> {
    const FAMILY: &'static str = "sessionized";

    fn decode_fast(version: u32, datum: &[u8]) -> Option<Result<Self, CodecError>> {
        (version == hand::VERSION).then(|| fast::decode(datum, hand::sessionized))
    }
}

impl Sessionized<'_> {
    /// The Kafka key: the input key `project_id:session_id`.
    pub fn key(&self) -> String {
        self.event.key()
    }
}

/// The summary of one closed split session.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionSummary {
    pub project_id: String,
    pub session_id: String,
    /// `<sessionId>#<anchor>`, as on the split's sessionized events.
    pub session_key: String,
    /// Earliest event time in the split (epoch ms); reordered events may lie before the anchor.
    pub start: i64,
    /// Latest event time in the split (epoch ms).
    pub end: i64,
    /// `end - start`.
    pub duration_ms: i64,
    /// Events emitted for the split, late ones included, duplicates excluded.
    pub events: i64,
    /// Number of views (highest viewIndex + 1).
    pub views: i64,
    /// Events of type `click`.
    pub clicks: i64,
    /// Events of type `error` plus log lines of level `error` or `fatal`.
    pub errors: i64,
    /// Distinct routes in first-emitted order, at most [`MAX_SUMMARY_ROUTES`].
    pub routes: Vec<String>,
    /// More distinct routes were seen than `routes` holds.
    pub routes_truncated: bool,
    /// Release of the last emitted event that named one.
    pub release: Option<String>,
    /// userId of the last emitted event that named one.
    pub user_id: Option<String>,
    /// [`CLOSE_INACTIVITY`] or [`CLOSE_MAX_DURATION`].
    pub close_reason: String,
    /// Events of the split flagged `late`.
    pub late_events: i64,
    /// Duplicate eventIds dropped while this split was current.
    pub duplicates_dropped: i64,
}

/// How many distinct routes a summary lists.
pub const MAX_SUMMARY_ROUTES: usize = 50;

impl Record for SessionSummary {
    const FAMILY: &'static str = "session";
}

impl SessionSummary {
    /// The Kafka key: `project_id:session_id`.
    pub fn key(&self) -> String {
        let mut k = String::with_capacity(self.project_id.len() + 1 + self.session_id.len());
        k.push_str(&self.project_id);
        k.push(':');
        k.push_str(&self.session_id);
        k
    }
}

/// The hand-written decoder of `sessionized` v2 (why: `crate::fast`): the event's, then the rest.
mod hand {
    use crate::direct::{Input, Result};
    use crate::event;
    use crate::fast::{field, string};

    use super::Sessionized;

    /// The `sessionized` schema version [`sessionized`] reads.
    pub(super) const VERSION: u32 = 2;

    /// One `sessionized` v2 datum.
    pub(crate) fn sessionized(i: &mut Input<'_>) -> Result<Sessionized<'static>> {
        Ok(Sessionized {
            event: field("event", event::hand::raw_event(i))?,
            session_key: field("sessionKey", string(i))?,
            seq: field("seq", i.long("long"))?,
            view_id: field("viewId", string(i))?,
            view_index: field("viewIndex", i.int("int"))?,
            late: field("late", i.boolean())?,
            session_start: field("sessionStart", i.long("long"))?,
            reordered: field("reordered", i.boolean())?,
        })
    }
}
