//! What the rules produce: signals with evidence, suppressed candidates, episodes, and the
//! [`Horizon`] that says which of them a call may emit.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::keys;
use crate::kind::SignalKind;
use crate::suppress::Suppression;

/// Episode priority (docs/detection.md "R9 episodes"): error click > unresponsive rage > dead > slow >
/// rage > others. Lower is more important.
pub fn episode_priority(kind: SignalKind, unresponsive: bool) -> u8 {
    match kind {
        SignalKind::ErrorClick => 0,
        SignalKind::RageClick if unresponsive => 1,
        SignalKind::DeadClick => 2,
        SignalKind::SlowClick => 3,
        SignalKind::RageClick => 4,
        SignalKind::ValidationLoop => 5,
        SignalKind::FormAbandon => 6,
        SignalKind::UTurn => 7,
        SignalKind::DisabledClick => 8,
        SignalKind::ServerError => 9,
        SignalKind::Undetermined => 10,
    }
}

/// One liveness source observed after a click, with the delay of its first occurrence (PostHog's
/// `*_delay_ms` pattern, docs/detection.md "Principles"): `None` means none was seen in the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LivenessCheck {
    /// The source (`mutation_near`, `mutation`, `navigation`, `network`, `scroll`, `selection`,
    /// `focus`, `input`, `visibility`, `new_tab`).
    pub source: Cow<'static, str>,
    /// Delay of the first event of that source relative to the click (negative: just before it).
    pub delay_ms: Option<i64>,
    /// Whether that event counted as a response (it fell inside the source's own window).
    pub counted: bool,
}

/// Why a signal was (or was not) raised: enough to explain the decision without the raw events.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The rule id (the kind name of the rule that produced it).
    pub rule: Cow<'static, str>,
    /// Version of that rule's logic; bumps when its behaviour changes.
    pub rule_version: u32,
    /// The thresholds in effect, by config field name.
    pub thresholds: BTreeMap<Cow<'static, str>, f64>,
    /// The events that make up the signal, first one first.
    pub event_ids: Vec<String>,
    /// Measured delays, distances and counts (`span_ms`, `response_ms`, `max_distance_px`, ...).
    pub measurements: BTreeMap<Cow<'static, str>, f64>,
    /// Facts that are not numbers (response source, error fingerprint, request URL template, ...).
    /// Never raw user text.
    pub details: BTreeMap<Cow<'static, str>, String>,
    /// Liveness checks with their observed delays, for click rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub liveness: Vec<LivenessCheck>,
    /// The suppressions evaluated, in order (for a suppressed candidate, up to the one that matched).
    pub suppressions_checked: Vec<Suppression>,
}

/// One rule firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signal {
    /// Deterministic id, see [`crate::signal_id`].
    pub id: String,
    /// The kind.
    pub kind: SignalKind,
    /// For `rage_click`: the issue-worthy tier (the page did not respond to the first clicks).
    pub unresponsive: bool,
    /// The label (`rage_click:unresponsive`, `error_click:network`, ...) used in episode labels.
    pub label: Cow<'static, str>,
    /// Session.
    pub session_id: String,
    /// Tab, when known.
    pub tab_id: Option<String>,
    /// View the signal happened in.
    pub view_id: String,
    /// Route template of that view.
    pub route_template: String,
    /// URL of the page the signal's first event happened on, when the SDK sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Element key (namespaced for non-click signals: `page`, `field:..`, `form:..`, `log:..`).
    pub element_key: String,
    /// Time of the first event.
    pub start_ms: i64,
    /// Time of the last event that is part of the signal.
    pub end_ms: i64,
    /// Event time at which the signal became decidable; `None` when decided by the session closing.
    pub decided_at_ms: Option<i64>,
    /// Evidence.
    pub evidence: Evidence,
}

impl Signal {
    /// The incident fingerprint of this signal for `project`.
    pub fn fingerprint(&self, project: &str) -> String {
        keys::fingerprint(project, self.kind, &self.route_template, &self.element_key)
    }
}

/// A candidate that a named suppression removed. Not a signal; counted by reason in metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Suppressed {
    /// The suppression that matched first.
    pub reason: Suppression,
    /// The candidate as it would have been emitted.
    pub candidate: Signal,
}

/// Signals in one session, view and element within the episode window, merged (docs/detection.md "R9 episodes").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Episode {
    /// Deterministic id (from the first signal).
    pub id: String,
    /// The most important member kind, see [`episode_priority`].
    pub primary: SignalKind,
    /// Whether the primary is the unresponsive rage tier (or any member rage is unresponsive).
    pub unresponsive: bool,
    /// All member labels, most important first, without duplicates.
    pub labels: Vec<Cow<'static, str>>,
    /// Session.
    pub session_id: String,
    /// Tab.
    pub tab_id: Option<String>,
    /// View.
    pub view_id: String,
    /// Route template.
    pub route_template: String,
    /// Element key.
    pub element_key: String,
    /// First member's start.
    pub start_ms: i64,
    /// Latest member end.
    pub end_ms: i64,
    /// Event time at which the episode closed; `None` when closed by the session closing, or
    /// while it is provisional.
    pub decided_at_ms: Option<i64>,
    /// Not closed yet (a call with [`Horizon::provisional`]): its window is still open or a
    /// candidate that could join it is undecided; `signals` are the members decided so far.
    #[serde(default)]
    pub provisional: bool,
    /// The members, in start order.
    pub signals: Vec<Signal>,
}

impl Episode {
    /// The incident fingerprint: (project, primary kind, route template, element key).
    pub fn fingerprint(&self, project: &str) -> String {
        keys::fingerprint(project, self.primary, &self.route_template, &self.element_key)
    }
}

/// Which decisions a call may emit.
///
/// The caller feeds a session's events in order and advances an event-time watermark. A candidate
/// becomes *decided* at an event time derived only from the events (e.g. click + 7 s for a dead
/// click, the response time for a slow one); a call emits exactly the items decided in
/// `(emitted_through_ms, watermark_ms]`, or every item decided after `emitted_through_ms` when the
/// session is closed. Passing the previous call's watermark as `emitted_through_ms` therefore emits
/// each item exactly once however the stream is cut into calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Horizon {
    /// Items decided at or before this time were emitted by an earlier call (`None`: first call).
    pub emitted_through_ms: Option<i64>,
    /// Every event of the session with `timestamp_ms <= watermark_ms` is in the slice.
    pub watermark_ms: i64,
    /// No more events will come: windows still open are cut (and judged `undetermined`).
    pub session_closed: bool,
    /// The caller dropped the session's events before this time, as a previous result's
    /// [`Detection::retain_from_ms`] allowed (`None`: the slice starts at the session's start).
    /// Candidates whose look-back would reach into the dropped part were judged by earlier calls
    /// and are skipped.
    #[serde(default)]
    pub retained_from_ms: Option<i64>,
    /// Also return every episode that is not closed yet but has a decided member, marked
    /// [`Episode::provisional`] with the members decided so far (docs/architecture.md §4 "Time:
    /// decide early, settle later"): the caller publishes it now and corrects it later.
    #[serde(default)]
    pub provisional: bool,
    /// With `provisional`: return every open episode, not only those with a member decided in
    /// this call's range (the others cannot have changed since the previous call, unless an event
    /// arrived out of order: then ask for all of them).
    #[serde(default)]
    pub provisional_all: bool,
    /// Decisions after this time may be judged again by a later call (to correct them): the
    /// returned [`Detection::retain_from_ms`] keeps every event they need. `None`: the watermark.
    #[serde(default)]
    pub settled_ms: Option<i64>,
}

impl Horizon {
    /// A first call at `watermark_ms` on a session still open.
    pub fn open(watermark_ms: i64) -> Self {
        Self {
            emitted_through_ms: None,
            watermark_ms,
            session_closed: false,
            retained_from_ms: None,
            provisional: false,
            provisional_all: false,
            settled_ms: None,
        }
    }

    /// A single call over a complete, closed session.
    pub fn closed(watermark_ms: i64) -> Self {
        Self {
            emitted_through_ms: None,
            watermark_ms,
            session_closed: true,
            retained_from_ms: None,
            provisional: false,
            provisional_all: false,
            settled_ms: None,
        }
    }

    /// The horizon of the next call: everything up to this call's watermark was emitted.
    #[must_use]
    pub fn next(self, watermark_ms: i64, session_closed: bool) -> Self {
        Self {
            emitted_through_ms: Some(self.watermark_ms.max(self.emitted_through_ms.unwrap_or(i64::MIN))),
            watermark_ms: watermark_ms.max(self.watermark_ms),
            session_closed,
            retained_from_ms: self.retained_from_ms,
            provisional: self.provisional,
            provisional_all: self.provisional_all,
            settled_ms: self.settled_ms,
        }
    }

    /// The same horizon, telling `detect` that events before `retain_from_ms` (a previous
    /// result's [`Detection::retain_from_ms`]) were dropped.
    #[must_use]
    pub fn with_retained_from(self, retain_from_ms: i64) -> Self {
        Self { retained_from_ms: Some(retain_from_ms), ..self }
    }
}

/// Where a candidate is still undecided (see [`Detection::pending`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPlace {
    pub tab_id: Option<String>,
    pub view_id: String,
    pub key: PendingKey,
}

/// The element of a [`PendingPlace`]: exactly (the hash of its element key, see
/// [`crate::element_key`]), or only its key's namespace (a form's last field is known only when its
/// view ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingKey {
    Hash(u64),
    Prefix(&'static str),
}

impl Detection {
    /// Whether a candidate on this tab, view and element is still undecided, so an episode there
    /// may still appear, grow or change (a caller holding a published episode there waits instead
    /// of retracting it).
    pub fn is_pending(&self, tab_id: Option<&str>, view_id: &str, element_key: &str) -> bool {
        let hash = keys::fnv(element_key);
        self.pending.iter().any(|p| {
            p.tab_id.as_deref() == tab_id
                && p.view_id == view_id
                && match p.key {
                    PendingKey::Hash(h) => h == hash,
                    PendingKey::Prefix(prefix) => element_key.starts_with(prefix),
                }
        })
    }
}

/// The output of one `detect` call.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    /// Signals decided in this call's horizon (undetermined excluded), by start time.
    pub signals: Vec<Signal>,
    /// Candidates removed by a named suppression in this horizon.
    pub suppressed: Vec<Suppressed>,
    /// Click candidates whose window was cut; kept for metrics, never issues.
    pub undetermined: Vec<Signal>,
    /// Episodes closed in this horizon, each with all its member signals; with
    /// [`Horizon::provisional`], also every episode not closed yet that has a decided member.
    pub episodes: Vec<Episode>,
    /// The places (tab, view, element) where a candidate is still undecided: an episode there may
    /// still appear, grow or change. See [`Detection::is_pending`]. Filled only for a call with
    /// [`Horizon::provisional_all`] (the one whose caller may retract what is missing).
    #[serde(skip)]
    pub pending: Vec<PendingPlace>,
    /// Events with `timestamp_ms` below this are no longer needed by any later call and may be
    /// dropped from the session's state; later calls give the same output without them.
    pub retain_from_ms: i64,
    /// The earliest event time at which something still pending would be decided if no new event
    /// arrived (a timer for the caller); `None` when nothing is pending on time alone.
    pub next_decision_ms: Option<i64>,
}
