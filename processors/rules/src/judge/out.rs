//! What the rules push while they run: a [`Record`] for every candidate (so episodes know when no
//! more members can appear) and an [`Outcome`] for every decided candidate worth reporting.

use std::borrow::Cow;

use crate::event::Event;
use crate::keys;
use crate::kind::SignalKind;
use crate::signal::{Evidence, Signal};

use super::context::Cx;
use super::verdict::{Class, Decided};

/// How a candidate's key is known: exactly, or only its namespace (form abandonment reports the
/// last field touched, unknown until the view ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMatch {
    Exact(u64),
    Prefix(&'static str),
}

/// Every candidate, signal or not, so episodes can tell when no more members can appear.
#[derive(Debug, Clone)]
pub(crate) struct Record<'e> {
    pub tab: Option<&'e str>,
    pub view: &'e str,
    pub key: KeyMatch,
    pub anchor_ms: i64,
    pub decided: Decided,
}

/// A decided candidate with a verdict worth reporting.
#[derive(Debug, Clone)]
pub(crate) struct Outcome<'e> {
    pub class: Class,
    pub tab: Option<&'e str>,
    pub view: &'e str,
    pub key_hash: u64,
    pub decided: Decided,
    pub signal: Signal,
    /// Emitted by an earlier call: `signal` has only kind, label, key and times (see [`Out::stub`]).
    pub stub: bool,
}

#[derive(Debug, Default)]
pub(crate) struct Out<'e> {
    pub records: Vec<Record<'e>>,
    pub outcomes: Vec<Outcome<'e>>,
    /// (start, last) of click trains: bursts chained without a reset (see `rules::rage`).
    pub trains: Vec<(i64, i64)>,
    /// Times that must stay retained (context events of candidates not yet decided).
    pub interest: Vec<i64>,
}

impl<'e> Out<'e> {
    pub(crate) fn record(
        &mut self,
        tab: Option<&'e str>,
        view: &'e str,
        key: KeyMatch,
        anchor_ms: i64,
        decided: Decided,
    ) {
        self.records.push(Record { tab, view, key, anchor_ms, decided });
    }

    /// Records a decided candidate and its outcome.
    pub(crate) fn outcome(&mut self, class: Class, e: &'e Event<'_>, decided: Decided, signal: Signal) {
        let key_hash = keys::fnv(&signal.element_key);
        self.record(e.tab_id.as_deref(), &e.view_id, KeyMatch::Exact(key_hash), signal.start_ms, decided);
        self.outcomes.push(Outcome {
            class,
            tab: e.tab_id.as_deref(),
            view: &e.view_id,
            key_hash,
            decided,
            signal,
            stub: false,
        });
    }

    /// A candidate anchored at `e` that gets no evidence, ids or copies ([`Cx::stub_only`]): its
    /// record; for an issue-kind signal an earlier call emitted, a stub outcome (kind, key, start)
    /// that episodes need to partition their element's signals (an episode with a stub member that
    /// is due now makes `detect` run again without stubs); for a suppressed or undetermined
    /// candidate that is only counted, a brief outcome that is emitted like a full one.
    #[allow(clippy::too_many_arguments)] // one call shape at nine sites; a struct would only wrap it
    pub(crate) fn stub(
        &mut self,
        cx: &Cx<'_, '_>,
        class: Class,
        e: &'e Event<'_>,
        decided: Decided,
        kind: SignalKind,
        unresponsive: bool,
        element_key: String,
    ) {
        let key_hash = keys::fnv(&element_key);
        self.record(e.tab_id.as_deref(), &e.view_id, KeyMatch::Exact(key_hash), e.timestamp_ms, decided);
        let counted = class != Class::Signal && !cx.already_emitted(decided);
        if !counted && (class != Class::Signal || !kind.is_issue_kind()) {
            return;
        }
        let signal = Signal {
            id: String::new(),
            kind,
            unresponsive,
            label: Cow::Borrowed(""),
            session_id: String::new(),
            tab_id: None,
            view_id: String::new(),
            route_template: String::new(),
            url: None,
            element_key,
            start_ms: e.timestamp_ms,
            end_ms: e.timestamp_ms,
            decided_at_ms: decided.at_ms(),
            evidence: Evidence::default(),
        };
        self.outcomes.push(Outcome {
            class,
            tab: e.tab_id.as_deref(),
            view: &e.view_id,
            key_hash,
            decided,
            signal,
            stub: !counted,
        });
    }
}
