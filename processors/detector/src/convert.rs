//! Sessionized Avro records → the rules' input model, and signals → their Avro record.

use std::borrow::Cow;

use friction_rules::{
    episode_priority, Episode, Event, EventKind, Evidence, LogLevel, Modifiers, MouseButton, NavigationKind, Signal,
    Target as RuleTarget,
};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::signal::{EpisodeMember, EvidenceRecord, SignalRecord};

fn b(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

fn b_opt<'s>(s: &'s Option<Cow<'_, str>>) -> Option<Cow<'s, str>> {
    s.as_deref().map(b)
}

fn navigation_kind(kind: &str) -> NavigationKind {
    match kind {
        "push" => NavigationKind::Push,
        "pop" => NavigationKind::Pop,
        "replace" => NavigationKind::Replace,
        "reload" => NavigationKind::Reload,
        "hash" => NavigationKind::Hash,
        _ => NavigationKind::Load,
    }
}

fn log_level(level: &str) -> LogLevel {
    match level {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "warn" | "warning" => LogLevel::Warn,
        "error" | "err" => LogLevel::Error,
        "fatal" | "critical" => LogLevel::Fatal,
        _ => LogLevel::Info,
    }
}

/// The leading number of a length bucket such as `"6-20"` or `"21+"`; 0 when absent.
fn length_bucket(bucket: Option<&str>) -> u32 {
    bucket
        .and_then(|b| b.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty()))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The clicked element as the rules see it (a click without one gets the default, as before).
fn rule_target<'s>(t: &'s friction_schemas::event::Target<'_>) -> RuleTarget<'s> {
    let href = b_opt(&t.href);
    let download = href.as_deref().is_some_and(|h| h.contains("download"));
    RuleTarget {
        selector: b_opt(&t.selector),
        key: b_opt(&t.key),
        tag: b_opt(&t.tag),
        role: b_opt(&t.role),
        text: b_opt(&t.text),
        x: t.x,
        y: t.y,
        interactive: t.interactive,
        disabled: t.disabled.unwrap_or(false),
        href,
        new_tab: t.new_tab.unwrap_or(false),
        download,
        ignore: t.ignore.iter().map(|i| b(i)).collect(),
        r#type: b_opt(&t.r#type),
    }
}

/// The rules' view of one sessionized event, borrowing its strings from the record. `None` for
/// event types the rules do not know.
pub fn rule_event<'s>(s: &'s Sessionized<'_>) -> Option<Event<'s>> {
    let e = &s.event;
    let kind = match e.event_type.as_ref() {
        "click" => {
            let click = e.click.as_ref();
            let has = |m: &str| click.is_some_and(|c| c.modifiers.iter().any(|x| x.eq_ignore_ascii_case(m)));
            EventKind::Click {
                button: MouseButton::from_dom(click.map(|c| c.button.clamp(0, 255) as u16).unwrap_or(0)),
                modifiers: Modifiers { alt: has("alt"), ctrl: has("ctrl"), meta: has("meta"), shift: has("shift") },
                target: e.target.as_ref().map(rule_target).unwrap_or_default(),
            }
        }
        "pageview" => {
            let n = e.navigation.as_ref();
            EventKind::Pageview {
                navigation: navigation_kind(n.map(|n| n.kind.as_ref()).unwrap_or("load")),
                from: n.and_then(|n| b_opt(&n.from)),
                to: n.and_then(|n| b_opt(&n.to)),
            }
        }
        "mutation" => {
            let m = e.mutation.clone().unwrap_or_default();
            EventKind::Mutation { count: m.count.clamp(0, u32::MAX as i64) as u32, near_target: m.near_target }
        }
        "network" => {
            let n = e.network.as_ref()?;
            EventKind::Network {
                method: b(&n.method),
                url: b(&n.url),
                status: n.status.and_then(|s| u16::try_from(s).ok()),
                duration_ms: n.duration_ms.filter(|d| d.is_finite() && *d >= 0.0).map(|d| d as u64),
                initiator: b_opt(&n.initiator),
            }
        }
        "error" => {
            let x = e.error.as_ref()?;
            EventKind::Error {
                error_type: x.r#type.as_deref().map(b).unwrap_or_default(),
                message: b(&x.message),
                fingerprint: b_opt(&x.fingerprint),
            }
        }
        "scroll" => {
            let sc = e.scroll.clone().unwrap_or_default();
            EventKind::Scroll { dy: sc.dy, y: sc.y }
        }
        "selection" => EventKind::Selection {
            length: e.selection.as_ref().map(|s| s.length.clamp(0, u32::MAX as i64) as u32).unwrap_or(0),
        },
        "focus" => EventKind::Focus,
        "visibility" => EventKind::Visibility { hidden: e.visibility.as_ref().is_some_and(|v| v.state == "hidden") },
        "input" => {
            let i = e.input.as_ref()?;
            EventKind::Input {
                field_key: b(&i.field_key),
                length_bucket: length_bucket(i.length_bucket.as_deref()),
                invalid: i.invalid,
            }
        }
        "submit" => EventKind::Submit { form_key: e.submit.as_ref().map(|s| b(&s.form_key)) },
        "custom" => EventKind::Custom { name: e.custom.as_ref().map(|c| b(&c.name)).unwrap_or_default() },
        "log" => {
            let l = e.log.as_ref()?;
            EventKind::Log {
                service: b(&l.service),
                level: log_level(&l.level),
                message: b(&l.message),
                // Only lines that carry attributes pay for the JSON.
                attributes: if l.attributes.is_empty() {
                    Cow::Borrowed("")
                } else {
                    Cow::Owned(serde_json::to_string(&l.attributes).unwrap_or_default())
                },
            }
        }
        _ => return None,
    };
    Some(Event {
        event_id: b(&e.event_id),
        session_id: b(&s.session_key),
        tab_id: b_opt(&e.tab_id),
        view_id: b(&s.view_id),
        seq: u64::try_from(s.seq).unwrap_or(0),
        timestamp_ms: e.timestamp,
        route: e.route.as_deref().map(b).unwrap_or_default(),
        // No rule reads the page URL (routes are what they key on), but a signal reports the URL
        // of its page. A session's retained events share one copy while the URL stays the same.
        url: b_opt(&e.url),
        kind,
    })
}

/// Context a signal record carries beyond what the rules know.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct SessionContext {
    pub project_id: String,
    /// The latest user id the session's events carried.
    pub user_id: Option<String>,
    /// The latest release the session's events carried.
    pub release: Option<String>,
}

fn evidence_record(ev: &Evidence) -> EvidenceRecord {
    EvidenceRecord {
        rule: ev.rule.to_string(),
        rule_version: i32::try_from(ev.rule_version).unwrap_or(i32::MAX),
        thresholds: ev.thresholds.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        event_ids: ev.event_ids.clone(),
        measurements: ev.measurements.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        details: ev.details.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
        suppressions_checked: ev.suppressions_checked.iter().map(|s| s.as_str().to_string()).collect(),
        liveness_json: serde_json::to_string(&ev.liveness).unwrap_or_else(|_| "[]".into()),
    }
}

fn member(s: &Signal) -> EpisodeMember {
    let ev = &s.evidence;
    EpisodeMember {
        id: s.id.clone(),
        kind: s.kind.as_str().to_string(),
        unresponsive: s.unresponsive,
        label: s.label.to_string(),
        start_ms: s.start_ms,
        end_ms: s.end_ms,
        rule: ev.rule.to_string(),
        rule_version: i32::try_from(ev.rule_version).unwrap_or(i32::MAX),
        event_ids: ev.event_ids.clone(),
        measurements: ev.measurements.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        details: ev.details.iter().map(|(k, v)| (k.to_string(), v.clone())).collect(),
    }
}

/// One signal record for a whole episode: the primary member (episode priority, then the earliest)
/// gives kind, label, id and fingerprint, so a rage burst on a dead button is one incident, not
/// two; every member's label and events are carried. `None` for an episode without members.
pub fn to_episode_record(ep: &Episode, ctx: &SessionContext) -> Option<SignalRecord> {
    let primary = ep.signals.iter().min_by_key(|s| (episode_priority(s.kind, s.unresponsive), s.start_ms))?;
    let mut record = to_signal_record(primary, ctx);
    record.episode_id = Some(ep.id.clone());
    record.labels = ep.labels.iter().map(|l| l.to_string()).collect();
    record.start_ms = ep.start_ms;
    record.end_ms = ep.end_ms;
    record.decided_at_ms = ep.decided_at_ms;
    // The primary's events first, then every other member's, each once.
    for s in &ep.signals {
        for id in &s.evidence.event_ids {
            if !record.evidence.event_ids.contains(id) {
                record.evidence.event_ids.push(id.clone());
            }
        }
    }
    record.members = ep.signals.iter().map(member).collect();
    Some(record)
}

/// The record of a single signal (no episode).
pub fn to_signal_record(signal: &Signal, ctx: &SessionContext) -> SignalRecord {
    SignalRecord {
        id: signal.id.clone(),
        project_id: ctx.project_id.clone(),
        fingerprint: signal.fingerprint(&ctx.project_id),
        kind: signal.kind.as_str().to_string(),
        unresponsive: signal.unresponsive,
        label: signal.label.to_string(),
        session_id: signal.session_id.clone(),
        tab_id: signal.tab_id.clone(),
        view_id: signal.view_id.clone(),
        route_template: signal.route_template.clone(),
        element_key: signal.element_key.clone(),
        start_ms: signal.start_ms,
        end_ms: signal.end_ms,
        decided_at_ms: signal.decided_at_ms,
        user_id: ctx.user_id.clone(),
        release: ctx.release.clone(),
        url: signal.url.clone(),
        episode_id: None,
        labels: vec![signal.label.to_string()],
        evidence: evidence_record(&signal.evidence),
        members: Vec::new(),
        version: 1,
        retracted: false,
    }
}
