//! One Rust row type per table, fields in the table's insert-column order (see [`crate::schema`]),
//! and the conversions from the topics' records. Missing optional strings become `''`; missing
//! numbers stay `NULL`.

use clickhouse::Row;
use friction_schemas::{IncidentChange, SessionSummary, Sessionized, SignalRecord};
use serde::{Deserialize, Serialize};

fn s(v: &Option<impl AsRef<str>>) -> String {
    v.as_ref().map(|x| x.as_ref().to_string()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct EventRow {
    pub project_id: String,
    pub event_id: String,
    pub session_id: String,
    pub session_key: String,
    pub seq: i64,
    pub view_id: String,
    pub view_index: i32,
    pub event_type: String,
    pub timestamp_ms: i64,
    pub received_at_ms: i64,
    pub client_timestamp_ms: i64,
    pub clock_skew_ms: i64,
    pub timestamp_clamped: bool,
    pub late: bool,
    pub session_start_ms: i64,
    pub user_id: String,
    pub tab_id: String,
    pub url: String,
    pub route: String,
    pub route_template: String,
    pub release: String,
    pub target_type: String,
    pub target_key: String,
    pub target_selector: String,
    pub target_tag: String,
    pub target_role: String,
    pub target_text: String,
    pub target_interactive: Option<bool>,
    pub target_disabled: Option<bool>,
    pub target_x: Option<f64>,
    pub target_y: Option<f64>,
    pub navigation_kind: String,
    pub navigation_from: String,
    pub navigation_to: String,
    pub network_method: String,
    pub network_url: String,
    pub network_status: Option<i32>,
    pub network_duration_ms: Option<f64>,
    pub error_type: String,
    pub error_message: String,
    pub error_fingerprint: String,
    pub input_field_key: String,
    pub input_invalid: bool,
    pub submit_form_key: String,
    pub custom_name: String,
    pub log_service: String,
    pub log_level: String,
    pub log_message: String,
    pub browser: String,
    pub os: String,
    pub device: String,
    pub metadata: String,
}

impl From<&Sessionized<'_>> for EventRow {
    fn from(r: &Sessionized<'_>) -> Self {
        let e = &r.event;
        let t = e.target.as_ref();
        let route = s(&e.route);
        let route_template = if route.is_empty() {
            e.url.as_deref().map(friction_rules::route_template).unwrap_or_default()
        } else {
            friction_rules::route_template(&route)
        };
        EventRow {
            project_id: e.project_id.to_string(),
            event_id: e.event_id.to_string(),
            session_id: e.session_id.to_string(),
            session_key: r.session_key.to_string(),
            seq: r.seq,
            view_id: r.view_id.to_string(),
            view_index: r.view_index,
            event_type: e.event_type.to_string(),
            timestamp_ms: e.timestamp,
            received_at_ms: e.received_at,
            client_timestamp_ms: e.client_timestamp,
            clock_skew_ms: e.clock_skew_ms,
            timestamp_clamped: e.timestamp_clamped,
            late: r.late,
            session_start_ms: r.session_start,
            user_id: s(&e.user_id),
            tab_id: s(&e.tab_id),
            url: s(&e.url),
            route,
            route_template,
            release: s(&e.release),
            target_type: t.map(|t| s(&t.r#type)).unwrap_or_default(),
            target_key: t.map(|t| s(&t.key)).unwrap_or_default(),
            target_selector: t.map(|t| s(&t.selector)).unwrap_or_default(),
            target_tag: t.map(|t| s(&t.tag)).unwrap_or_default(),
            target_role: t.map(|t| s(&t.role)).unwrap_or_default(),
            target_text: t.map(|t| s(&t.text)).unwrap_or_default(),
            target_interactive: t.and_then(|t| t.interactive),
            target_disabled: t.and_then(|t| t.disabled),
            target_x: t.and_then(|t| t.x),
            target_y: t.and_then(|t| t.y),
            navigation_kind: e.navigation.as_ref().map(|n| n.kind.to_string()).unwrap_or_default(),
            navigation_from: e.navigation.as_ref().map(|n| s(&n.from)).unwrap_or_default(),
            navigation_to: e.navigation.as_ref().map(|n| s(&n.to)).unwrap_or_default(),
            network_method: e.network.as_ref().map(|n| n.method.to_string()).unwrap_or_default(),
            network_url: e.network.as_ref().map(|n| n.url.to_string()).unwrap_or_default(),
            network_status: e.network.as_ref().and_then(|n| n.status),
            network_duration_ms: e.network.as_ref().and_then(|n| n.duration_ms),
            error_type: e.error.as_ref().map(|x| s(&x.r#type)).unwrap_or_default(),
            error_message: e.error.as_ref().map(|x| x.message.to_string()).unwrap_or_default(),
            error_fingerprint: e.error.as_ref().map(|x| s(&x.fingerprint)).unwrap_or_default(),
            input_field_key: e.input.as_ref().map(|i| i.field_key.to_string()).unwrap_or_default(),
            input_invalid: e.input.as_ref().is_some_and(|i| i.invalid),
            submit_form_key: e.submit.as_ref().map(|x| x.form_key.to_string()).unwrap_or_default(),
            custom_name: e.custom.as_ref().map(|x| x.name.to_string()).unwrap_or_default(),
            log_service: e.log.as_ref().map(|l| l.service.to_string()).unwrap_or_default(),
            log_level: e.log.as_ref().map(|l| l.level.to_string()).unwrap_or_default(),
            log_message: e.log.as_ref().map(|l| l.message.to_string()).unwrap_or_default(),
            browser: s(&e.context.browser),
            os: s(&e.context.os),
            device: s(&e.context.device),
            metadata: e.metadata.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct SessionRow {
    pub project_id: String,
    pub session_key: String,
    pub session_id: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub duration_ms: i64,
    pub events: i64,
    pub views: i64,
    pub clicks: i64,
    pub errors: i64,
    pub routes: Vec<String>,
    pub routes_truncated: bool,
    pub release: String,
    pub user_id: String,
    pub close_reason: String,
    pub late_events: i64,
    pub duplicates_dropped: i64,
}

impl From<&SessionSummary> for SessionRow {
    fn from(r: &SessionSummary) -> Self {
        SessionRow {
            project_id: r.project_id.clone(),
            session_key: r.session_key.clone(),
            session_id: r.session_id.clone(),
            start_ms: r.start,
            end_ms: r.end,
            duration_ms: r.duration_ms,
            events: r.events,
            views: r.views,
            clicks: r.clicks,
            errors: r.errors,
            routes: r.routes.clone(),
            routes_truncated: r.routes_truncated,
            release: s(&r.release),
            user_id: s(&r.user_id),
            close_reason: r.close_reason.clone(),
            late_events: r.late_events,
            duplicates_dropped: r.duplicates_dropped,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct SignalRow {
    pub project_id: String,
    pub signal_id: String,
    /// Which publication of the signal id this row is (1 first; 0 for rows written before
    /// versions existed). Only the newest version of an id counts.
    pub version: i64,
    /// Later events contradicted the signal: when this is its newest version, it counts nowhere.
    pub retracted: bool,
    pub fingerprint: String,
    pub kind: String,
    pub unresponsive: bool,
    pub label: String,
    /// Every label of the episode (signal v2); empty for v1 records.
    pub labels: Vec<String>,
    pub session_id: String,
    pub tab_id: String,
    pub view_id: String,
    pub route_template: String,
    pub element_key: String,
    pub start_ms: i64,
    pub end_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub user_id: String,
    pub release: String,
    pub url: String,
    pub episode_id: String,
    pub rule: String,
    pub rule_version: i32,
    pub event_ids: Vec<String>,
    pub measurement_names: Vec<String>,
    pub measurement_values: Vec<f64>,
    pub detail_names: Vec<String>,
    pub detail_values: Vec<String>,
    pub suppressions_checked: Vec<String>,
}

impl From<&SignalRecord> for SignalRow {
    fn from(r: &SignalRecord) -> Self {
        let ev = &r.evidence;
        SignalRow {
            project_id: r.project_id.clone(),
            signal_id: r.id.clone(),
            version: r.version,
            retracted: r.retracted,
            fingerprint: r.fingerprint.clone(),
            kind: r.kind.clone(),
            unresponsive: r.unresponsive,
            label: r.label.clone(),
            labels: r.labels.clone(),
            session_id: r.session_id.clone(),
            tab_id: s(&r.tab_id),
            view_id: r.view_id.clone(),
            route_template: r.route_template.clone(),
            element_key: r.element_key.clone(),
            start_ms: r.start_ms,
            end_ms: r.end_ms,
            decided_at_ms: r.decided_at_ms,
            user_id: s(&r.user_id),
            release: s(&r.release),
            url: s(&r.url),
            episode_id: s(&r.episode_id),
            rule: ev.rule.clone(),
            rule_version: ev.rule_version,
            event_ids: ev.event_ids.clone(),
            measurement_names: ev.measurements.keys().cloned().collect(),
            measurement_values: ev.measurements.values().copied().collect(),
            detail_names: ev.details.keys().cloned().collect(),
            detail_values: ev.details.values().cloned().collect(),
            suppressions_checked: ev.suppressions_checked.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct IncidentRow {
    pub project_id: String,
    pub incident_id: String,
    pub version: i64,
    pub fingerprint: String,
    pub kind: String,
    pub labels: Vec<String>,
    pub title: String,
    pub route_template: String,
    pub element_key: String,
    pub status: String,
    pub previous_status: String,
    pub change: String,
    pub severity: f64,
    pub priority: String,
    pub occurrences: i64,
    pub sessions: i64,
    pub users: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    pub releases: Vec<String>,
    pub latest_release: String,
    pub generation: i32,
    pub changed_at_ms: i64,
}

impl From<&IncidentChange> for IncidentRow {
    /// Destructures the record, so a field added to it must be given a column here (and in
    /// `schema::INCIDENTS`; a test compares the two) or named as left out (`field: _`).
    fn from(r: &IncidentChange) -> Self {
        let IncidentChange {
            id,
            project_id,
            fingerprint,
            kind,
            labels,
            title,
            route_template,
            element_key,
            status,
            previous_status,
            change,
            severity,
            priority,
            occurrences,
            sessions,
            users,
            first_seen_ms,
            last_seen_ms,
            confirmed_at_ms,
            releases,
            latest_release,
            generation,
            version,
            changed_at_ms,
            // The evidence stays in the store and on the topic; analysts query signals instead.
            samples: _,
        } = r;
        IncidentRow {
            project_id: project_id.clone(),
            incident_id: id.clone(),
            version: *version,
            fingerprint: fingerprint.clone(),
            kind: kind.clone(),
            labels: labels.clone(),
            title: title.clone(),
            route_template: route_template.clone(),
            element_key: element_key.clone(),
            status: status.clone(),
            previous_status: s(previous_status),
            change: change.clone(),
            severity: *severity,
            priority: priority.clone(),
            occurrences: *occurrences,
            sessions: *sessions,
            users: *users,
            first_seen_ms: *first_seen_ms,
            last_seen_ms: *last_seen_ms,
            confirmed_at_ms: *confirmed_at_ms,
            releases: releases.clone(),
            latest_release: s(latest_release),
            generation: *generation,
            changed_at_ms: *changed_at_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema;

    fn insert_columns(t: &schema::Table) -> Vec<&'static str> {
        t.columns.iter().filter(|c| c.materialized.is_none()).map(|c| c.name).collect()
    }

    /// RowBinary is positional: each row type must list exactly the table's insert columns, in order.
    #[test]
    fn row_types_match_the_tables() {
        assert_eq!(EventRow::COLUMN_NAMES.to_vec(), insert_columns(&schema::EVENTS));
        assert_eq!(SessionRow::COLUMN_NAMES.to_vec(), insert_columns(&schema::SESSIONS));
        assert_eq!(SignalRow::COLUMN_NAMES.to_vec(), insert_columns(&schema::SIGNALS));
        assert_eq!(IncidentRow::COLUMN_NAMES.to_vec(), insert_columns(&schema::INCIDENTS));
    }

    #[test]
    fn event_route_template_falls_back_to_the_url() {
        let mut r = Sessionized::default();
        r.event.url = Some("https://shop.example/orders/123?x=1".into());
        assert_eq!(EventRow::from(&r).route_template, "/orders/:id");
        r.event.route = Some("/product/42".into());
        assert_eq!(EventRow::from(&r).route_template, "/product/:id");
    }
}
