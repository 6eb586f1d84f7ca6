//! Building what a rule reports: the signal anchored at an event ([`Draft`], [`build_signal`]), its
//! evidence (thresholds, measurements, details) and the suppressions it checked ([`check`]).

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::config::Rules;
use crate::event::Event;
use crate::keys;
use crate::kind::SignalKind;
use crate::signal::{Evidence, Signal};
use crate::suppress::Suppression;

use super::verdict::Decided;

/// Version of the rule logic, recorded in evidence. Bump when a rule's behaviour changes.
/// 2: a click on another element ends a click's liveness window; rage tier B needs a visible
/// response; benign JS errors and late unnamed failed requests are not error clicks.
pub const RULE_VERSION: u32 = 2;
/// Builds a signal anchored at event `anchor`.
pub(crate) struct Draft {
    pub kind: SignalKind,
    pub label: Cow<'static, str>,
    pub element_key: String,
    pub end_ms: i64,
    pub evidence: Evidence,
    pub unresponsive: bool,
}

pub(crate) fn build_signal(anchor: &Event<'_>, decided: Decided, d: Draft) -> Signal {
    let id = keys::signal_id(&anchor.session_id, anchor.tab_id.as_deref(), d.kind, &d.element_key, &anchor.event_id);
    Signal {
        id,
        kind: d.kind,
        unresponsive: d.unresponsive,
        label: d.label,
        session_id: anchor.session_id.to_string(),
        tab_id: anchor.tab_id.as_deref().map(str::to_owned),
        view_id: anchor.view_id.to_string(),
        route_template: keys::route_template(&anchor.route),
        url: anchor.url.as_deref().map(str::to_owned),
        element_key: d.element_key,
        start_ms: anchor.timestamp_ms,
        end_ms: d.end_ms.max(anchor.timestamp_ms),
        decided_at_ms: decided.at_ms(),
        evidence: d.evidence,
    }
}

#[allow(clippy::cast_precision_loss)]
fn ms(v: i64) -> f64 {
    v as f64
}

/// The thresholds a rule uses, by config field name.
pub(crate) fn thresholds(kind: SignalKind, rules: &Rules) -> BTreeMap<Cow<'static, str>, f64> {
    let c = rules.config();
    let mut m: BTreeMap<Cow<'static, str>, f64> = BTreeMap::new();
    let mut put = |k: &'static str, v: f64| {
        m.insert(Cow::Borrowed(k), v);
    };
    match kind {
        SignalKind::RageClick => {
            put("rage_min_clicks", f64::from(c.rage_min_clicks));
            put("rage_max_gap_ms", ms(c.rage_max_gap_ms));
            put("rage_max_span_ms", ms(c.rage_max_span_ms));
            put("rage_radius_px", c.rage_radius_px);
            put("rage_unresponsive_ms", ms(c.rage_unresponsive_ms));
            put("rage_unresponsive_clicks", f64::from(c.rage_unresponsive_clicks));
            put("responsive_repeat_ms", ms(c.responsive_repeat_ms));
        }
        SignalKind::DeadClick | SignalKind::SlowClick | SignalKind::Undetermined | SignalKind::DisabledClick => {
            put("dead_window_ms", ms(c.dead_window_ms));
            put("dead_abandon_after_ms", ms(c.dead_abandon_after_ms));
            put("slow_after_ms", ms(c.slow_after_ms));
            put("click_debounce_ms", ms(c.click_debounce_ms));
            put("far_mutation_ms", ms(c.far_mutation_ms));
            put("network_initiated_ms", ms(c.network_initiated_ms));
            put("scroll_liveness_ms", ms(c.scroll_liveness_ms));
            put("selection_liveness_ms", ms(c.selection_liveness_ms));
            put("focus_liveness_ms", ms(c.focus_liveness_ms));
            put("visibility_liveness_ms", ms(c.visibility_liveness_ms));
            put("pointerdown_lookback_ms", ms(c.pointerdown_lookback_ms));
            put("busy_window_ms", ms(c.busy_window_ms));
            put("busy_mutations_per_sec", c.busy_mutations_per_sec);
        }
        SignalKind::ErrorClick => {
            put("error_window_ms", ms(c.error_window_ms));
            put("error_unnamed_request_ms", ms(c.error_unnamed_request_ms));
            put("dead_window_ms", ms(c.dead_window_ms));
        }
        SignalKind::UTurn => {
            put("u_turn_max_ms", ms(c.u_turn_max_ms));
            put("u_turn_max_clicks", f64::from(c.u_turn_max_clicks));
            put("u_turn_max_scroll_px", c.u_turn_max_scroll_px);
        }
        SignalKind::FormAbandon => {
            put("form_abandon_min_ms", ms(c.form_abandon_min_ms));
            put("form_abandon_min_fields", f64::from(c.form_abandon_min_fields));
        }
        SignalKind::ValidationLoop => {
            put("validation_loop_min_submits", f64::from(c.validation_loop_min_submits));
            put("validation_window_ms", ms(c.validation_window_ms));
        }
        SignalKind::ServerError => {}
    }
    m
}

/// A fresh evidence record for `kind`.
pub(crate) fn evidence(kind: SignalKind, rules: &Rules, event_ids: Vec<String>) -> Evidence {
    Evidence {
        rule: Cow::Borrowed(kind.as_str()),
        rule_version: RULE_VERSION,
        thresholds: thresholds(kind, rules),
        event_ids,
        ..Evidence::default()
    }
}

pub(crate) fn measure(ev: &mut Evidence, name: &'static str, v: f64) {
    ev.measurements.insert(Cow::Borrowed(name), v);
}

pub(crate) fn measure_ms(ev: &mut Evidence, name: &'static str, v: i64) {
    measure(ev, name, ms(v));
}

pub(crate) fn detail(ev: &mut Evidence, name: &'static str, v: impl Into<String>) {
    ev.details.insert(Cow::Borrowed(name), v.into());
}

/// Runs the suppression checks in order; returns the first match and fills `checked`.
pub(crate) fn check(
    checks: &[(Suppression, &dyn Fn() -> bool)],
    checked: &mut Vec<Suppression>,
) -> Option<Suppression> {
    for (s, f) in checks {
        checked.push(*s);
        if f() {
            return Some(*s);
        }
    }
    None
}
