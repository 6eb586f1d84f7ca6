//! `GET /v1/incidents`, `GET /v1/incidents/{id}`, `PATCH /v1/incidents/{id}`, limited to the
//! projects the caller may see (another project's incident answers 404).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Json;
use friction_incidents::model::{self, ChangeKind};
use friction_store::{EvidenceSample, Incident, IncidentCursor, IncidentFilter, IncidentSort, IncidentStatus, Role};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::{ApiError, ConsoleState};

/// Default and largest page size.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

pub use crate::body::rfc3339;

/// An incident as the API lists it (docs/architecture.md §3).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentView {
    pub id: String,
    pub project_id: String,
    pub fingerprint: String,
    pub kind: String,
    pub labels: Vec<String>,
    pub title: String,
    pub route_template: String,
    pub element_key: String,
    pub status: IncidentStatus,
    pub severity: f64,
    pub priority: String,
    pub occurrences: i64,
    pub sessions: i64,
    pub users: i64,
    pub first_seen: String,
    pub last_seen: String,
    pub confirmed_at: Option<String>,
    /// An engineer confirmed it by hand (`PATCH {"status":"confirmed"}`): a retraction does not
    /// un-confirm it.
    pub confirmed_manually: bool,
    pub resolved_at: Option<String>,
    pub releases: Vec<String>,
    pub latest_release: Option<String>,
    pub generation: i64,
    pub version: i64,
    /// Tickets of this incident in the trackers, from the exporter's ledger (detail only; empty in lists).
    pub tickets: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub samples: Option<Vec<SampleView>>,
    /// What users met and where to look first, in plain language (kept since it was made).
    pub explanation: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampleView {
    pub signal_id: String,
    pub session_id: String,
    pub user_id: Option<String>,
    pub release: Option<String>,
    pub url: Option<String>,
    pub label: String,
    pub start: String,
    pub end: String,
    pub duration_ms: i64,
    /// Rule, thresholds, event ids, measurements and suppressions checked.
    pub evidence: serde_json::Value,
}

impl IncidentView {
    /// `i` as the API shows it. `i` is destructured, so a field added to [`Incident`] does not
    /// compile until it is shown here or named as left out (`field: _`).
    pub fn new(i: Incident, with_samples: bool) -> Self {
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
            resolved_at_ms,
            // Internal: what a regression is judged against, and row bookkeeping.
            resolved_releases: _,
            releases,
            latest_release,
            generation,
            samples,
            version,
            created_at_ms: _,
            updated_at_ms: _,
            confirmed_manually,
            explanation,
        } = i;
        let explanation =
            if explanation.is_empty() { model::explanation(&kind, &route_template, &element_key) } else { explanation };
        IncidentView {
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
            first_seen: rfc3339(first_seen_ms),
            last_seen: rfc3339(last_seen_ms),
            confirmed_at: confirmed_at_ms.map(rfc3339),
            confirmed_manually,
            resolved_at: resolved_at_ms.map(rfc3339),
            releases,
            latest_release,
            generation,
            version,
            tickets: Vec::new(),
            samples: with_samples.then(|| samples.into_iter().map(SampleView::from).collect()),
            explanation,
        }
    }
}

impl From<EvidenceSample> for SampleView {
    /// Destructures the sample, so a field added to it must be shown or named as left out.
    fn from(sample: EvidenceSample) -> Self {
        let EvidenceSample { signal_id, session_id, user_id, release, url, label, start_ms, end_ms, evidence_json } =
            sample;
        SampleView {
            signal_id,
            session_id,
            user_id,
            release,
            url,
            label,
            start: rfc3339(start_ms),
            end: rfc3339(end_ms),
            duration_ms: end_ms - start_ms,
            evidence: serde_json::from_str(&evidence_json).unwrap_or(serde_json::Value::Null),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentList {
    pub incidents: Vec<IncidentView>,
    pub next_cursor: Option<String>,
}

fn encode_cursor(c: &IncidentCursor) -> String {
    let text = match c {
        IncidentCursor::Severity(s, id) => format!("s|{s}|{id}"),
        IncidentCursor::LastSeen(t, id) => format!("l|{t}|{id}"),
    };
    hex::encode(text)
}

fn decode_cursor(text: &str, sort: IncidentSort) -> Result<IncidentCursor, ApiError> {
    let bad =
        || ApiError::BadRequest(format!("cursor {text:?} is not one this API returned (or was for another sort)"));
    let raw = String::from_utf8(hex::decode(text).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = raw.splitn(3, '|');
    let (kind, value, id) = (parts.next(), parts.next(), parts.next());
    match (kind, value, id, sort) {
        (Some("s"), Some(v), Some(id), IncidentSort::Severity) => {
            Ok(IncidentCursor::Severity(v.parse().map_err(|_| bad())?, id.to_owned()))
        }
        (Some("l"), Some(v), Some(id), IncidentSort::LastSeen) => {
            Ok(IncidentCursor::LastSeen(v.parse().map_err(|_| bad())?, id.to_owned()))
        }
        _ => Err(bad()),
    }
}

/// Refuses a control character (NUL included) in a query parameter or a path segment, naming it:
/// no id, name or route the store keeps holds one (the gateway refuses them, docs/architecture.md
/// §3), and PostgreSQL cannot even compare text holding a NUL (it answered 500 before this check).
pub(crate) fn check_param(name: &str, value: &str) -> Result<(), ApiError> {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => Err(ApiError::BadRequest(format!(
            "{name}: contains the control character U+{:04X}; no id, name or route holds one",
            c as u32
        ))),
        None => Ok(()),
    }
}

/// [`check_param`] on every query parameter (names and values).
pub(crate) fn check_params(params: &HashMap<String, String>) -> Result<(), ApiError> {
    params.iter().try_for_each(|(k, v)| check_param("query parameter name", k).and_then(|()| check_param(k, v)))
}

const LIST_PARAMS: &[&str] = &["project", "status", "kind", "route", "sort", "limit", "cursor", "exported"];

/// `GET /v1/incidents?project=&status=&kind=&route=&exported=&sort=severity|lastSeen&limit=&cursor=`
#[utoipa::path(get, path = "/v1/incidents", tag = "incidents",
    params(
        ("project" = Option<String>, Query, description = "id or name"),
        ("status" = Option<String>, Query, description = "open, confirmed, resolved, ignored, regressed"),
        ("kind" = Option<String>, Query, description = "primary kind, e.g. rage_click"),
        ("route" = Option<String>, Query, description = "route template, exact"),
        ("exported" = Option<bool>, Query, description = "true: with a ticket made by the exporter; false: without"),
        ("sort" = Option<String>, Query, description = "severity (default) or lastSeen"),
        ("limit" = Option<u32>, Query, description = "1-200, default 50"),
        ("cursor" = Option<String>, Query, description = "nextCursor of the previous page"),
    ),
    responses((status = 200, description = "{incidents, nextCursor}"), (status = 400), (status = 401)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<IncidentList>, ApiError> {
    caller.require(Role::Viewer, "listing incidents")?;
    check_params(&params)?;
    if let Some(unknown) = params.keys().find(|k| !LIST_PARAMS.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown query parameter {unknown:?} (expected {})",
            LIST_PARAMS.join(", ")
        )));
    }
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let sort = match get("sort") {
        None | Some("severity") => IncidentSort::Severity,
        Some("lastSeen") | Some("last_seen") => IncidentSort::LastSeen,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "sort {other:?} is not supported (expected severity or lastSeen)"
            )))
        }
    };
    let status = get("status")
        .map(|s| s.parse::<IncidentStatus>())
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("status: {e}")))?;
    let kind = get("kind").map(str::to_owned);
    if let Some(k) = &kind {
        if !friction_incidents::KINDS.contains(&k.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "kind {k:?} is unknown (expected one of {})",
                friction_incidents::KINDS.join(", ")
            )));
        }
    }
    let limit = crate::body::limit(get("limit"), DEFAULT_LIMIT, MAX_LIMIT)?;
    let after = get("cursor").map(|c| decode_cursor(c, sort)).transpose()?;
    let exported = match get("exported") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(other) => return Err(ApiError::BadRequest(format!("exported {other:?} is not true or false"))),
    };
    // The project asked for, if the caller may see it (404 otherwise), else the caller's scope.
    let project_id = match get("project") {
        Some(p) => Some(crate::projects::resolve(&state, &caller, p).await?.id),
        None => caller.project_id.clone(),
    };
    let filter = IncidentFilter {
        project_id,
        status,
        kind,
        route_template: get("route").map(str::to_owned),
        sort,
        limit: limit + 1,
        after,
        exported,
    };
    let mut incidents = state.store.list_incidents(&filter).await?;
    let next_cursor = if incidents.len() > limit as usize {
        incidents.truncate(limit as usize);
        incidents.last().map(|last| {
            encode_cursor(&match sort {
                IncidentSort::Severity => IncidentCursor::Severity(last.severity, last.id.clone()),
                IncidentSort::LastSeen => IncidentCursor::LastSeen(last.last_seen_ms, last.id.clone()),
            })
        })
    } else {
        None
    };
    Ok(Json(IncidentList {
        incidents: incidents.into_iter().map(|i| IncidentView::new(i, false)).collect(),
        next_cursor,
    }))
}

/// The incident `id`, if it exists and the caller may see its project (404 otherwise).
pub(crate) async fn visible_incident(state: &ConsoleState, caller: &Caller, id: &str) -> Result<Incident, ApiError> {
    match state.store.incident(id).await? {
        Some(i) if caller.may_see(&i.project_id) => Ok(i),
        _ => Err(ApiError::NotFound(format!("incident {id:?} not found"))),
    }
}

/// `GET /v1/incidents/{id}`: one incident with its evidence samples.
#[utoipa::path(get, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "the incident's id")),
    responses((status = 200, description = "the incident with samples and tickets"), (status = 401), (status = 404)))]
pub async fn get(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IncidentView>, ApiError> {
    caller.require(Role::Viewer, "reading an incident")?;
    check_param("id", &id)?;
    let incident = visible_incident(&state, &caller, &id).await?;
    let tickets = state.store.incident_tickets(&id).await?;
    let mut view = IncidentView::new(incident, true);
    view.tickets = tickets.iter().filter_map(|t| serde_json::to_value(t).ok()).collect();
    Ok(Json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    status: IncidentStatus,
}

/// `PATCH /v1/incidents/{id}` with `{"status": "resolved" | "ignored" | "open" | "confirmed"}`:
/// engineers and admins. `confirmed` on an incident its policy has not confirmed confirms it by
/// hand. Audited; the change is published to the incidents topic, where the exporter makes the
/// ticket of a confirmed incident like any other (docs/console.md).
#[utoipa::path(patch, path = "/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "the incident's id")),
    request_body(content = Object, description = "{\"status\": \"resolved\" | \"ignored\" | \"open\" | \"confirmed\"}"),
    responses((status = 200, description = "the incident after the change"), (status = 400), (status = 401), (status = 403), (status = 404), (status = 503)))]
pub async fn patch(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<IncidentView>, ApiError> {
    let parsed = serde_json::from_slice::<PatchBody>(&body).map_err(|e| {
        ApiError::BadRequest(format!(
            "body: {e} (expected {{\"status\": \"resolved\" | \"ignored\" | \"open\" | \"confirmed\"}})"
        ))
    });
    let incident = set_status(&state, &caller, &id, parsed.map(|b| b.status)).await?;
    Ok(Json(IncidentView::new(incident, true)))
}

/// Changes an incident's status for `caller` (the API's PATCH and the console's status buttons):
/// role checked and audited, the change stored and published.
pub(crate) async fn set_status(
    state: &ConsoleState,
    caller: &Caller,
    id: &str,
    status: Result<IncidentStatus, ApiError>,
) -> Result<Incident, ApiError> {
    let resource = format!("incident:{id}");
    let audit = |success: bool, detail: String| {
        let (state, actor, ip, resource) = (state.clone(), caller.actor(), caller.ip.clone(), resource.clone());
        async move {
            if let Err(e) =
                state.store.audit(&actor, "incident.update", &resource, success, ip.as_deref(), Some(&detail)).await
            {
                tracing::warn!(error = %e, "could not write the audit log");
            }
        }
    };
    if let Err(e) = caller.require(Role::Engineer, "changing an incident") {
        audit(false, e.to_string()).await;
        return Err(e);
    }
    // Before the audit row of a refused change: the resource names the id, and PostgreSQL would
    // refuse a NUL in it.
    check_param("id", id)?;
    let status = status?;
    // Optimistic: read, decide, write if nobody changed it meanwhile; else again.
    for _ in 0..10 {
        let mut incident = visible_incident(state, caller, id).await?;
        let expected = incident.version;
        let now = friction_runtime::now_ms();
        let before = match model::set_status(&mut incident, status, now) {
            Ok(before) => before,
            Err(e) => {
                audit(false, e.to_string()).await;
                return Err(ApiError::BadRequest(e.to_string()));
            }
        };
        let Some(before) = before else {
            // Nothing to change. Publish the snapshot again anyway: the request may be the retry
            // of one whose publication failed.
            if let Some(publisher) = &state.publisher {
                let change = model::to_change(&incident, ChangeKind::Replayed, None, now);
                publisher.publish(&change).await.map_err(|e| ApiError::Unavailable(format!("publishing: {e}")))?;
            }
            return Ok(incident);
        };
        model::rescore(&mut incident, &state.incident_config);
        incident.version += 1;
        incident.updated_at_ms = now;
        let mut tx = state.store.begin_incidents().await?;
        if !tx.update_incident(&incident, expected).await? {
            continue;
        }
        tx.commit().await?;
        audit(true, format!("status {before} -> {}", incident.status)).await;
        if let Some(publisher) = &state.publisher {
            let change = model::to_change(&incident, ChangeKind::Status, Some(before), now);
            publisher.publish(&change).await.map_err(|e| {
                ApiError::Unavailable(format!(
                    "the status was saved but the change could not be published ({e}); send the same request again"
                ))
            })?;
        }
        return Ok(incident);
    }
    Err(ApiError::Unavailable(format!("incident {id} keeps changing; try again")))
}
