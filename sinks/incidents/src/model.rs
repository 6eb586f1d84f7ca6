//! The decisions about incidents, as pure functions: which version of a signal applies, what it
//! contributes to its incident (samples, releases, labels), when an incident is confirmed (the
//! confirmation policy of its kind and project), un-confirmed or regresses, how severe it is, and
//! which status changes people may make. No I/O: the caller reads what is stored (versions, the
//! counts derived from the live contributions) and passes the answers in.
//!
//! Counts are derived from the newest version of each signal, never incremented, and the rest is
//! order-independent (minima, maxima, bounded sets that keep the smallest elements), so the final
//! incident does not depend on the order signals and their versions arrive in — the property tests
//! check it (docs/architecture.md §4 "Time: decide early, settle later").

use std::collections::HashMap;

use friction_schemas::SignalRecord;
use friction_store::{ConfirmationPoint, Contribution, EvidenceSample, Incident, IncidentStatus};

/// How `server_error` incidents are confirmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerErrorConfirmation {
    /// At the first log line at level `error` or `fatal` (a log stream has no browser sessions:
    /// every line's session is `log:<service>`). Lines at lower levels never confirm one.
    FirstOccurrence,
    /// Like the browser kinds: distinct sessions within the window.
    Sessions,
}

/// When an incident is confirmed (docs/detection.md "Confirmation"): browser kinds once signals
/// of `min_sessions` distinct sessions fall within some `window_ms`; `server_error` as
/// `server_error` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmationPolicy {
    /// Default 3.
    pub min_sessions: usize,
    /// Default 24 h.
    pub window_ms: i64,
    /// Default [`ServerErrorConfirmation::FirstOccurrence`].
    pub server_error: ServerErrorConfirmation,
}

impl Default for ConfirmationPolicy {
    fn default() -> Self {
        ConfirmationPolicy {
            min_sessions: 3,
            window_ms: 24 * 60 * 60 * 1000,
            server_error: ServerErrorConfirmation::FirstOccurrence,
        }
    }
}

/// Fields of a [`ConfirmationPolicy`] a rules file sets; the others keep the policy they apply to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverrides {
    pub min_sessions: Option<usize>,
    pub window_ms: Option<i64>,
    pub server_error: Option<ServerErrorConfirmation>,
}

impl PolicyOverrides {
    /// `base` with these fields replaced.
    pub fn over(&self, base: &ConfirmationPolicy) -> ConfirmationPolicy {
        ConfirmationPolicy {
            min_sessions: self.min_sessions.unwrap_or(base.min_sessions),
            window_ms: self.window_ms.unwrap_or(base.window_ms),
            server_error: self.server_error.unwrap_or(base.server_error),
        }
    }
}

/// The confirmation policy of every project: a default and per-project ones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfirmationRules {
    pub default: ConfirmationPolicy,
    pub projects: HashMap<String, ConfirmationPolicy>,
}

impl ConfirmationRules {
    pub fn for_project(&self, project_id: &str) -> &ConfirmationPolicy {
        self.projects.get(project_id).unwrap_or(&self.default)
    }
}

/// The log levels at which a `server_error` confirms at its first occurrence.
pub const CONFIRMING_LEVELS: [&str; 2] = ["error", "fatal"];

/// A signal's log level (the detector's `evidence.details.level`, docs/detection.md), for server errors only.
pub fn log_level(signal: &SignalRecord) -> Option<String> {
    (signal.kind == "server_error").then(|| signal.evidence.details.get("level").cloned()).flatten()
}

/// Whether the live contributions `points` (sorted by start) confirm an incident of `kind` under
/// `policy`.
pub fn policy_confirms(policy: &ConfirmationPolicy, kind: &str, points: &[ConfirmationPoint]) -> bool {
    if kind == "server_error" && policy.server_error == ServerErrorConfirmation::FirstOccurrence {
        return points.iter().any(|p| p.log_level.as_deref().is_some_and(|l| CONFIRMING_LEVELS.contains(&l)));
    }
    let sessions: Vec<(i64, String)> = points.iter().map(|p| (p.start_ms, p.session_id.clone())).collect();
    window_confirms(&sessions, policy.min_sessions, policy.window_ms)
}

/// Thresholds of grouping, confirmation and scoring. Defaults per docs/detection.md "Dedup and ids" to "Severity and priority".
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentConfig {
    /// Confirmation per project (docs/detection.md "Confirmation"); the default policy is the
    /// `--confirm-sessions` and `--confirm-window-hours` flags, overridden by the rules file.
    pub confirmation: ConfirmationRules,
    /// Evidence samples kept per incident (the earliest signals). Default 10.
    pub max_samples: usize,
    /// Releases remembered per incident. Default 50.
    pub max_releases: usize,
    /// Route prefixes that matter most (checkout, signup...): their incidents score
    /// [`IncidentConfig::critical_route_weight`] times higher. Default `/checkout`, `/cart`,
    /// `/pay`, `/signup`, `/login`.
    pub critical_routes: Vec<String>,
    /// Default 2.
    pub critical_route_weight: f64,
    /// Score from which an incident with enough users is P1. Default 2.5.
    pub p1_score: f64,
    /// Affected users from which an incident can be P1. Default 10.
    pub p1_min_users: i64,
    /// Score from which an incident is P2 (else P3). Default 1.
    pub p2_score: f64,
}

impl Default for IncidentConfig {
    fn default() -> Self {
        IncidentConfig {
            confirmation: ConfirmationRules::default(),
            max_samples: 10,
            max_releases: 50,
            critical_routes: ["/checkout", "/cart", "/pay", "/signup", "/login"].map(String::from).to_vec(),
            critical_route_weight: 2.0,
            p1_score: 2.5,
            p1_min_users: 10,
            p2_score: 1.0,
        }
    }
}

/// Every signal kind the incidents stage knows (docs/architecture.md §3).
pub const KINDS: &[&str] = &friction_schemas::signal::KINDS;

/// Why a signal cannot be counted (it is dead-lettered with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSignal {
    #[error("signal field {0} is empty")]
    Empty(&'static str),
    #[error("signal kind {0:?} is unknown (expected one of {kinds})", kinds = KINDS.join(", "))]
    UnknownKind(String),
    #[error("signal {id}: endMs {end} is before startMs {start}")]
    EndBeforeStart { id: String, start: i64, end: i64 },
}

/// Checks what counting relies on.
pub fn validate(signal: &SignalRecord) -> Result<(), InvalidSignal> {
    for (name, value) in [
        ("id", &signal.id),
        ("projectId", &signal.project_id),
        ("fingerprint", &signal.fingerprint),
        ("sessionId", &signal.session_id),
    ] {
        if value.trim().is_empty() {
            return Err(InvalidSignal::Empty(name));
        }
    }
    if !KINDS.contains(&signal.kind.as_str()) {
        return Err(InvalidSignal::UnknownKind(signal.kind.clone()));
    }
    if signal.end_ms < signal.start_ms {
        return Err(InvalidSignal::EndBeforeStart {
            id: signal.id.clone(),
            start: signal.start_ms,
            end: signal.end_ms,
        });
    }
    Ok(())
}

/// What replaces a NUL character in what the store keeps (U+FFFD, the replacement character).
pub const NUL_REPLACEMENT: char = '\u{FFFD}';

/// Replaces NUL characters in the fields the store keeps as text (PostgreSQL refuses NUL in text:
/// SQLSTATE 22021), so a signal carrying one is still counted; returns whether anything changed.
/// The gateway refuses NUL in identifiers, but signals may come from any producer. Evidence and
/// label lists are stored as JSON, which escapes NUL, and are left as they are.
pub fn replace_nul(signal: &mut SignalRecord) -> bool {
    fn clean(s: &mut String) -> bool {
        if s.contains('\0') {
            *s = s.replace('\0', &NUL_REPLACEMENT.to_string());
            true
        } else {
            false
        }
    }
    let mut changed = false;
    for field in [
        &mut signal.id,
        &mut signal.project_id,
        &mut signal.fingerprint,
        &mut signal.kind,
        &mut signal.label,
        &mut signal.session_id,
        &mut signal.route_template,
        &mut signal.element_key,
    ] {
        changed |= clean(field);
    }
    for field in [&mut signal.user_id, &mut signal.release].into_iter().flatten() {
        changed |= clean(field);
    }
    changed
}

/// An incident is identified by its fingerprint (docs/architecture.md §3): one fingerprint, one incident.
pub fn incident_id(signal: &SignalRecord) -> &str {
    &signal.fingerprint
}

/// Who a signal affected: its user id, or its session when the user is anonymous (an anonymous
/// session counts as a user of its own).
pub fn user_key(signal: &SignalRecord) -> String {
    match signal.user_id.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(user) => format!("u:{user}"),
        None => format!("s:{}", signal.session_id),
    }
}

/// The labels a signal carries: its kind, its own label and, for an episode, every member's.
fn signal_labels(signal: &SignalRecord) -> impl Iterator<Item = &str> {
    [signal.kind.as_str(), signal.label.as_str()]
        .into_iter()
        .chain(signal.labels.iter().map(String::as_str))
        .filter(|l| !l.is_empty())
}

/// A new incident for the first signal of its fingerprint, with nothing counted yet.
pub fn new_incident(signal: &SignalRecord, now_ms: i64) -> Incident {
    Incident {
        id: incident_id(signal).to_owned(),
        project_id: signal.project_id.clone(),
        fingerprint: signal.fingerprint.clone(),
        kind: signal.kind.clone(),
        labels: Vec::new(),
        title: title(&signal.kind, signal.unresponsive, &signal.element_key, &signal.route_template),
        route_template: signal.route_template.clone(),
        element_key: signal.element_key.clone(),
        status: IncidentStatus::Open,
        severity: 0.0,
        priority: "P3".into(),
        occurrences: 0,
        sessions: 0,
        users: 0,
        first_seen_ms: signal.start_ms,
        last_seen_ms: signal.end_ms,
        confirmed_at_ms: None,
        resolved_at_ms: None,
        resolved_releases: None,
        releases: Vec::new(),
        latest_release: None,
        generation: 1,
        samples: Vec::new(),
        version: 0,
        created_at_ms: now_ms,
        updated_at_ms: now_ms,
        confirmed_manually: false,
        explanation: explanation(&signal.kind, &signal.route_template, &signal.element_key),
    }
}

/// What users met and where an engineer should look first, per kind, in plain language: stored
/// with the incident when it is made (the console shows it) and the start of the ticket's
/// explanation (friction-exporter adds the counts). Pure and deterministic.
pub fn explanation(kind: &str, route_template: &str, element_key: &str) -> String {
    let element = if element_key.is_empty() { "an element" } else { element_key };
    let route = if route_template.is_empty() { "a page" } else { route_template };
    match kind {
        "rage_click" => format!(
            "Users clicked {element} on {route} several times in quick succession and the page did not respond \
             to the first clicks. Look at the click handler of {element}: a slow or failing request, a handler \
             that is not attached yet, or an overlay that swallows the click."
        ),
        "dead_click" => format!(
            "Users clicked {element} on {route} and nothing happened for several seconds: no navigation, no \
             request, no change on the page. Check that {element} has a working handler and is not covered by \
             another element, and whether it looks clickable without being so."
        ),
        "slow_click" => format!(
            "Clicks on {element} on {route} got a visible response only after one to several seconds. Look at \
             what the click waits for (a request, heavy rendering) and show progress sooner."
        ),
        "error_click" => format!(
            "Clicking {element} on {route} was followed within a second by a JavaScript error or a failed \
             request the click started. Look at the error and the request in the evidence below."
        ),
        "u_turn" => format!(
            "Users went from {route} to another page and came straight back within seconds without doing \
             anything there: the destination was probably not what they expected. Check the link's label and target."
        ),
        "form_abandon" => format!(
            "Users filled in part of the form on {route} and left without submitting it; the last field they \
             touched was {element}. Check whether that field asks for something users do not have or do not \
             understand, and whether the form is longer than it needs to be."
        ),
        "validation_loop" => format!(
            "Users submitted the form {element} on {route} again and again, and each time a field was rejected \
             as invalid. Check that the validation messages say what is wrong and how to fix it, and that the \
             rules accept every valid input."
        ),
        "disabled_click" => format!(
            "Users clicked {element} on {route} while it was disabled. Tell them why it is disabled, or what \
             they have to do first."
        ),
        "server_error" => format!(
            "The server logged the same error repeatedly ({element}) while users were on {route}. Look at the \
             server logs for this message."
        ),
        _ => format!("Users met {} on {route} at {element}.", kind.replace('_', " ")),
    }
}

/// A plain title: what happened, on what, where.
pub fn title(kind: &str, unresponsive: bool, element_key: &str, route_template: &str) -> String {
    let what = match kind {
        "rage_click" if unresponsive => "Rage clicks on an unresponsive element",
        "rage_click" => "Rage clicks",
        "dead_click" => "Dead click",
        "slow_click" => "Slow response to a click",
        "disabled_click" => "Clicks on a disabled control",
        "error_click" => "Error after a click",
        "u_turn" => "U-turn: users leave the page at once",
        "form_abandon" => "Form abandoned",
        "validation_loop" => "Validation loop in a form",
        "server_error" => "Server error",
        other => other,
    };
    let element = if element_key.is_empty() { String::new() } else { format!(" on {element_key}") };
    let route = if route_template.is_empty() { String::new() } else { format!(" at {route_template}") };
    format!("{what}{element}{route}")
}

/// Whether a signal version applies over what is stored for its (incident, signal id): only a
/// newer version does; an equal one is a replay and an older one arrives late. Both change nothing.
pub fn version_applies(stored_version: Option<i64>, version: i64) -> bool {
    stored_version.is_none_or(|stored| version > stored)
}

/// What `signal` (the version that applies) contributes to its incident.
pub fn contribution(signal: &SignalRecord) -> Contribution {
    Contribution {
        incident_id: incident_id(signal).to_owned(),
        signal_id: signal.id.clone(),
        version: signal.version,
        live: !signal.retracted,
        session_id: signal.session_id.clone(),
        user_key: user_key(signal),
        start_ms: signal.start_ms,
        end_ms: signal.end_ms,
        log_level: log_level(signal),
        labels: signal_labels(signal).map(str::to_owned).collect(),
        release: signal.release.clone().filter(|r| !r.is_empty()),
        sample: Some(sample(signal)),
    }
}

/// A signal as an evidence sample.
pub fn sample(signal: &SignalRecord) -> EvidenceSample {
    EvidenceSample {
        signal_id: signal.id.clone(),
        session_id: signal.session_id.clone(),
        user_id: signal.user_id.clone(),
        release: signal.release.clone(),
        url: signal.url.clone(),
        label: signal.label.clone(),
        start_ms: signal.start_ms,
        end_ms: signal.end_ms,
        evidence_json: evidence_json(signal),
    }
}

/// What the contributions of an incident add up to, as the store derived it (`None`: it has
/// none), with the labels of the live ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Derived {
    pub totals: Option<friction_store::LiveTotals>,
    pub labels: Vec<String>,
}

/// Sets the counts, first/last seen, labels and title of an incident to what its live
/// contributions derive (first/last seen: of all of its contributions when none is live).
pub fn set_derived(incident: &mut Incident, derived: &Derived) {
    let totals = derived.totals.unwrap_or(friction_store::LiveTotals {
        signals: 0,
        sessions: 0,
        users: 0,
        first_seen_ms: incident.first_seen_ms,
        last_seen_ms: incident.last_seen_ms,
    });
    incident.occurrences = totals.signals;
    incident.sessions = totals.sessions;
    incident.users = totals.users;
    incident.first_seen_ms = totals.first_seen_ms;
    incident.last_seen_ms = totals.last_seen_ms;
    incident.labels = derived.labels.clone();
    if incident.kind == "rage_click" {
        let unresponsive = incident.labels.iter().any(|l| l == "rage_click:unresponsive");
        incident.title = title(&incident.kind, unresponsive, &incident.element_key, &incident.route_template);
    }
}

/// Applies the new versions `applied` (of this incident's signals) to what is not a count: their
/// earlier versions' samples are dropped, the live ones' samples and releases added (the earliest
/// samples are kept). Returns whether the samples are now
/// fewer than the incident's live signals and the cap (then [`refill_samples`] from the store).
pub fn apply_versions(incident: &mut Incident, applied: &[&SignalRecord], config: &IncidentConfig) -> bool {
    incident.samples.retain(|s| !applied.iter().any(|a| a.id == s.signal_id));
    for signal in applied.iter().filter(|s| !s.retracted) {
        if let Some(r) = signal.release.as_deref().filter(|r| !r.is_empty()) {
            if let Err(at) = incident.releases.binary_search_by(|x| release_cmp(x, r)) {
                incident.releases.insert(at, r.to_owned());
                // Keep the newest releases.
                let excess = incident.releases.len().saturating_sub(config.max_releases);
                incident.releases.drain(..excess);
            }
            incident.latest_release = incident.releases.last().cloned();
        }
        // Only build (and serialise the evidence of) a sample that is kept: most signals of a busy
        // incident are not among its earliest.
        let at =
            incident.samples.partition_point(|s| (s.start_ms, s.signal_id.as_str()) < (signal.start_ms, &signal.id));
        if at < config.max_samples {
            incident.samples.insert(at, sample(signal));
            incident.samples.truncate(config.max_samples);
        }
    }
    let live = usize::try_from(incident.occurrences.max(0)).unwrap_or(usize::MAX);
    incident.samples.len() < config.max_samples.min(live)
}

/// Merges `stored` (samples of the earliest live contributions) into the incident's samples: the
/// earliest `max_samples`, each signal once.
pub fn refill_samples(incident: &mut Incident, stored: Vec<EvidenceSample>, config: &IncidentConfig) {
    for sample in stored {
        if !incident.samples.iter().any(|s| s.signal_id == sample.signal_id) {
            incident.samples.push(sample);
        }
    }
    incident.samples.sort_by(|a, b| (a.start_ms, &a.signal_id).cmp(&(b.start_ms, &b.signal_id)));
    incident.samples.truncate(config.max_samples);
}

/// Release names in natural order: digit runs compare as numbers, so `1.10.0` is newer than
/// `1.9.2` and `v10` than `v9`. The newest release is the greatest.
pub fn release_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return a.cmp(b),
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let nx = x.iter().take_while(|b| b.is_ascii_digit()).count();
                let ny = y.iter().take_while(|b| b.is_ascii_digit()).count();
                let (dx, dy) = (&x[..nx], &y[..ny]);
                let trim = |d: &[u8]| -> usize { d.iter().take_while(|b| **b == b'0').count() };
                let (tx, ty) = (&dx[trim(dx)..], &dy[trim(dy)..]);
                let ord = tx.len().cmp(&ty.len()).then_with(|| tx.cmp(ty));
                if ord != Ordering::Equal {
                    return ord;
                }
                x = &x[nx..];
                y = &y[ny..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}

/// A signal's evidence as JSON, with the members of its episode (if any) under `members`.
pub fn evidence_json(signal: &SignalRecord) -> String {
    let mut value = serde_json::to_value(&signal.evidence).unwrap_or_default();
    if let (Some(map), false) = (value.as_object_mut(), signal.members.is_empty()) {
        map.insert("members".into(), serde_json::to_value(&signal.members).unwrap_or_default());
    }
    value.to_string()
}

/// Whether some window of `window_ms` holds signals of at least `min_sessions` distinct sessions.
/// `points` are (start, session) sorted by start.
pub fn window_confirms(points: &[(i64, String)], min_sessions: usize, window_ms: i64) -> bool {
    if min_sessions == 0 {
        return true;
    }
    let mut in_window: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut lo = 0;
    for (hi, (t, session)) in points.iter().enumerate() {
        *in_window.entry(session.as_str()).or_insert(0) += 1;
        while lo < hi && points[lo].0 < t.saturating_sub(window_ms) {
            let s = points[lo].1.as_str();
            if let Some(n) = in_window.get_mut(s) {
                *n -= 1;
                if *n == 0 {
                    in_window.remove(s);
                }
            }
            lo += 1;
        }
        if in_window.len() >= min_sessions {
            return true;
        }
    }
    false
}

/// Whether a signal seen after the incident was resolved means it came back: a signal from a
/// release not seen before the resolution, or — without a release — one that started after it.
/// Old clients still on the fixed-in release do not reopen it.
pub fn regresses(incident: &Incident, signal: &SignalRecord) -> bool {
    let Some(resolved_at) = incident.resolved_at_ms else { return false };
    match signal.release.as_deref().filter(|r| !r.is_empty()) {
        Some(release) => !incident.resolved_releases.as_deref().unwrap_or(&[]).iter().any(|r| r == release),
        None => signal.start_ms > resolved_at,
    }
}

/// The lifecycle step after a counted signal: open → confirmed when the window confirms it;
/// resolved → regressed (a new generation) when the signal [`regresses`] it; ignored stays quiet.
/// Returns the previous status when it changed.
pub fn after_signal(
    incident: &mut Incident,
    signal: &SignalRecord,
    window_confirms: bool,
    now_ms: i64,
) -> Option<IncidentStatus> {
    let before = incident.status;
    match before {
        IncidentStatus::Open if window_confirms => {
            incident.status = IncidentStatus::Confirmed;
            incident.confirmed_at_ms = Some(now_ms);
        }
        IncidentStatus::Resolved if regresses(incident, signal) => {
            incident.status = IncidentStatus::Regressed;
            incident.generation += 1;
            incident.resolved_at_ms = None;
            incident.confirmed_at_ms.get_or_insert(now_ms);
        }
        _ => {}
    }
    (incident.status != before).then_some(before)
}

/// The confirmation step after a batch changed an incident's live contributions, with the verdict
/// of its policy (`confirms`): open → confirmed; confirmed → open when a retraction or correction
/// took it below its policy (an incident confirmed by hand stays confirmed). Other statuses are
/// left to people and to [`after_signal`]. Returns the previous status when it changed.
pub fn judge_confirmation(incident: &mut Incident, confirms: bool, now_ms: i64) -> Option<IncidentStatus> {
    let before = incident.status;
    match before {
        IncidentStatus::Open if confirms => {
            incident.status = IncidentStatus::Confirmed;
            incident.confirmed_at_ms = Some(now_ms);
        }
        IncidentStatus::Confirmed if !confirms && !incident.confirmed_manually => {
            incident.status = IncidentStatus::Open;
            incident.confirmed_at_ms = None;
        }
        _ => {}
    }
    (incident.status != before).then_some(before)
}

/// The kind's weight in the score (docs/detection.md "Severity and priority", `w_type`).
pub fn kind_weight(kind: &str, labels: &[String]) -> f64 {
    match kind {
        "error_click" => 1.0,
        "rage_click" if labels.iter().any(|l| l.ends_with(":unresponsive")) => 0.9,
        "server_error" => 0.8,
        "dead_click" | "validation_loop" => 0.7,
        "u_turn" | "form_abandon" => 0.5,
        "slow_click" => 0.4,
        "rage_click" | "disabled_click" => 0.3,
        _ => 0.1,
    }
}

/// Severity score and priority (docs/detection.md "Severity and priority"), with the factors computable from the incident
/// alone: `log1p(users) × w_type × w_route × trend` (trend ×1.5 while regressed). Exposure and
/// conversion factors need the warehouse and are 1 here. Rounded to 3 decimals so equal inputs give
/// byte-equal output.
pub fn score(incident: &Incident, config: &IncidentConfig) -> (f64, &'static str) {
    let users = incident.users.max(0) as f64;
    let route = &incident.route_template;
    let critical = config.critical_routes.iter().any(|p| {
        route == p || (route.starts_with(p.as_str()) && route.as_bytes().get(p.len()).is_some_and(|b| *b == b'/'))
    });
    let w_route = if critical { config.critical_route_weight } else { 1.0 };
    let trend = if incident.status == IncidentStatus::Regressed { 1.5 } else { 1.0 };
    let raw = users.ln_1p() * kind_weight(&incident.kind, &incident.labels) * w_route * trend;
    let severity = (raw * 1000.0).round() / 1000.0;
    let priority = if severity >= config.p1_score && incident.users >= config.p1_min_users {
        "P1"
    } else if severity >= config.p2_score {
        "P2"
    } else {
        "P3"
    };
    (severity, priority)
}

/// Recomputes and stores the score.
pub fn rescore(incident: &mut Incident, config: &IncidentConfig) {
    let (severity, priority) = score(incident, config);
    incident.severity = severity;
    incident.priority = priority.to_owned();
}

/// A status change someone asked for that is not allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("status regressed is set by Friction when a resolved incident comes back; set resolved, ignored, open or confirmed")]
    RegressedIsAutomatic,
}

/// A person changes an incident's status (the console's PATCH). Confirming an incident its policy
/// has not confirmed confirms it by hand (a retraction will not un-confirm it; the exporter makes
/// its ticket like any other). Resolving remembers the releases seen so far (a signal from another
/// release regresses it); reopening an ignored or resolved incident puts it back to confirmed if it
/// had been confirmed, else open. Returns the previous status when it changed; asking for the
/// current status changes nothing.
pub fn set_status(
    incident: &mut Incident,
    requested: IncidentStatus,
    now_ms: i64,
) -> Result<Option<IncidentStatus>, TransitionError> {
    let before = incident.status;
    let target = match requested {
        IncidentStatus::Regressed => return Err(TransitionError::RegressedIsAutomatic),
        IncidentStatus::Confirmed if incident.confirmed_at_ms.is_none() => {
            incident.confirmed_at_ms = Some(now_ms);
            incident.confirmed_manually = true;
            IncidentStatus::Confirmed
        }
        IncidentStatus::Open if incident.confirmed_at_ms.is_some() => IncidentStatus::Confirmed,
        other => other,
    };
    if target == before || (before == IncidentStatus::Regressed && target == IncidentStatus::Confirmed) {
        return Ok(None);
    }
    incident.status = target;
    match target {
        IncidentStatus::Resolved => {
            incident.resolved_at_ms = Some(now_ms);
            incident.resolved_releases = Some(incident.releases.clone());
        }
        _ => {
            incident.resolved_at_ms = None;
        }
    }
    Ok(Some(before))
}

/// What kind of change a published snapshot stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The incident's first signal.
    Created,
    /// New occurrences were counted.
    Counted,
    /// Its status moved (by a person or the lifecycle).
    Status,
    /// Nothing changed: the snapshot is sent again because its signals were replayed (after a
    /// crash the earlier copy may never have been published).
    Replayed,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Created => "created",
            ChangeKind::Counted => "counted",
            ChangeKind::Status => "status",
            ChangeKind::Replayed => "replayed",
        }
    }
}

/// The record published on `friction.incidents.v1` for an incident's state.
pub fn to_change(
    incident: &Incident,
    change: ChangeKind,
    previous: Option<IncidentStatus>,
    now_ms: i64,
) -> friction_schemas::IncidentChange {
    // Destructured, so a field added to `Incident` must be published here or named as left out.
    let Incident {
        id,
        project_id,
        fingerprint,
        kind,
        labels,
        title,
        route_template,
        element_key,
        status,
        severity,
        priority,
        occurrences,
        sessions,
        users,
        first_seen_ms,
        last_seen_ms,
        confirmed_at_ms,
        // The store's own: what a regression is judged against, and row bookkeeping.
        resolved_at_ms: _,
        resolved_releases: _,
        releases,
        latest_release,
        generation,
        samples,
        version,
        created_at_ms: _,
        updated_at_ms: _,
        // Shown by the console; the topic's schema has no field for it.
        confirmed_manually: _,
        // The exporter derives the same text from the change (model::explanation).
        explanation: _,
    } = incident;
    friction_schemas::IncidentChange {
        id: id.clone(),
        project_id: project_id.clone(),
        fingerprint: fingerprint.clone(),
        kind: kind.clone(),
        labels: labels.clone(),
        title: title.clone(),
        route_template: route_template.clone(),
        element_key: element_key.clone(),
        status: status.as_str().to_owned(),
        previous_status: previous.map(|s| s.as_str().to_owned()),
        change: change.as_str().to_owned(),
        severity: *severity,
        priority: priority.clone(),
        occurrences: *occurrences,
        sessions: *sessions,
        users: *users,
        first_seen_ms: *first_seen_ms,
        last_seen_ms: *last_seen_ms,
        confirmed_at_ms: *confirmed_at_ms,
        releases: releases.clone(),
        latest_release: latest_release.clone(),
        generation: i32::try_from(*generation).unwrap_or(i32::MAX),
        version: *version,
        changed_at_ms: now_ms,
        samples: samples.clone(),
    }
}
