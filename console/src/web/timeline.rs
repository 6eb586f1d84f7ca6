//! The evidence timeline of one sample session on the incident page: the session's events in
//! order from ClickHouse when it is configured (`CLICKHOUSE_URL`, docs/analytics.md), else, or
//! when ClickHouse cannot answer, the evidence the detector kept with the sample.

use clickhouse::Row;
use maud::{html, Markup};
use serde::Deserialize;

use super::when;
use crate::incidents::SampleView;
use crate::ConsoleState;

/// Events shown per session at most.
pub const MAX_EVENTS: u32 = 500;

/// One event of a session, as the timeline shows it.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct TimelineEvent {
    pub seq: i64,
    pub event_type: String,
    pub timestamp_ms: i64,
    pub route_template: String,
    pub target_key: String,
    pub target_text: String,
    pub network_method: String,
    pub network_url: String,
    pub network_status: Option<i32>,
    pub error_message: String,
}

/// The events of `session_id` in `project_id`, in order (at most [`MAX_EVENTS`]).
pub async fn session_events(
    client: &clickhouse::Client,
    project_id: &str,
    session_id: &str,
) -> Result<Vec<TimelineEvent>, clickhouse::error::Error> {
    client
        .query(&format!(
            "SELECT seq, event_type, timestamp_ms, route_template, target_key, target_text, network_method, \
             network_url, network_status, error_message FROM events FINAL \
             WHERE project_id = ? AND session_id = ? ORDER BY timestamp_ms, seq LIMIT {MAX_EVENTS}"
        ))
        .bind(project_id)
        .bind(session_id)
        .fetch_all()
        .await
}

/// What one event says, in a line.
fn describe(e: &TimelineEvent) -> String {
    let mut parts = vec![e.event_type.replace('_', " ")];
    if !e.target_key.is_empty() {
        parts.push(format!("on {}", e.target_key));
    }
    if !e.target_text.is_empty() {
        parts.push(format!("“{}”", e.target_text));
    }
    if !e.network_url.is_empty() {
        let status = e.network_status.map(|s| format!(" → {s}")).unwrap_or_default();
        parts.push(format!("{} {}{status}", e.network_method, e.network_url));
    }
    if !e.error_message.is_empty() {
        parts.push(format!("error: {}", e.error_message));
    }
    if !e.route_template.is_empty() {
        parts.push(format!("at {}", e.route_template));
    }
    parts.join(" ")
}

/// The timeline of `sample`'s session.
pub async fn render(state: &ConsoleState, project_id: &str, sample: &SampleView) -> Markup {
    let mut note = None;
    if let Some(client) = &state.clickhouse {
        match session_events(client, project_id, &sample.session_id).await {
            Ok(events) if !events.is_empty() => return events_list(&events),
            Ok(_) => note = Some("ClickHouse has no events of this session (yet); the detector's evidence:"),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the session's events from ClickHouse");
                note = Some("ClickHouse could not answer; the detector's evidence:");
            }
        }
    }
    let evidence = serde_json::to_string_pretty(&sample.evidence).unwrap_or_default();
    html! {
        @if let Some(n) = note { p.muted { (n) } }
        @else { p.muted { "The detector's evidence (events in order need ClickHouse: set CLICKHOUSE_URL):" } }
        pre { (evidence) }
    }
}

fn events_list(events: &[TimelineEvent]) -> Markup {
    html! {
        ol.timeline {
            @for e in events {
                li { time { (when(e.timestamp_ms)) } (describe(e)) }
            }
        }
    }
}
