//! `GET /incidents` (filters, sort, paging, through the API's list query), `GET /incidents/{id}`
//! (facts, explanation, tickets, status actions, evidence timeline) and
//! `POST /incidents/{id}/status` (the same change as `PATCH /v1/incidents/{id}`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use friction_store::{IncidentStatus, Role};
use maud::{html, Markup};
use serde::Deserialize;

use super::{csrf_field, error_page, layout, page, safe_link, PageCaller};
use crate::auth::Caller;
use crate::incidents::{IncidentView, SampleView};
use crate::{ApiError, ConsoleState};

/// The list's filters, as the page's query string carries them (the API's parameters).
const FILTERS: &[&str] = &["status", "kind", "project", "route", "sort", "cursor"];

/// Project id → name, of the projects the caller may see.
async fn project_names(state: &ConsoleState, caller: &Caller) -> Result<Vec<(String, String)>, ApiError> {
    Ok(state
        .store
        .list_projects()
        .await?
        .into_iter()
        .filter(|p| caller.may_see(&p.id))
        .map(|p| (p.id, p.name))
        .collect())
}

fn status_badge(status: IncidentStatus) -> Markup {
    html! { span class={ "badge status-" (status.as_str()) } { (status.as_str()) } }
}

/// `GET /incidents`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let params: HashMap<String, String> =
        params.into_iter().filter(|(k, v)| FILTERS.contains(&k.as_str()) && !v.trim().is_empty()).collect();
    let projects = match project_names(&state, &caller).await {
        Ok(p) => p,
        Err(e) => return error_page(Some(&caller), e),
    };
    let result = crate::incidents::list(State(state.clone()), caller.clone(), Query(params.clone())).await;
    let value = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let (incidents, next_cursor, error) = match result {
        Ok(Json(list)) => (list.incidents, list.next_cursor, None),
        Err(e @ (ApiError::BadRequest(_) | ApiError::NotFound(_))) => (Vec::new(), None, Some(e.to_string())),
        Err(e) => return error_page(Some(&caller), e),
    };
    let project_name = |id: &str| projects.iter().find(|(pid, _)| pid == id).map(|(_, n)| n.clone());
    let next_link = next_cursor.map(|cursor| {
        let mut q: Vec<String> = FILTERS
            .iter()
            .filter(|k| **k != "cursor" && !value(k).is_empty())
            .map(|k| format!("{k}={}", super::encode_query(value(k))))
            .collect();
        q.push(format!("cursor={}", super::encode_query(&cursor)));
        format!("/incidents?{}", q.join("&"))
    });
    let body = html! {
        h1 { "Incidents" }
        form.filters method="get" action="/incidents" data-autosubmit {
            label { "Status"
                select name="status" {
                    option value="" { "any" }
                    @for s in IncidentStatus::ALL {
                        option value=(s.as_str()) selected[value("status") == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            label { "Kind"
                select name="kind" {
                    option value="" { "any" }
                    @for k in friction_incidents::KINDS {
                        option value=(k) selected[value("kind") == *k] { (k.replace('_', " ")) }
                    }
                }
            }
            label { "Project"
                select name="project" {
                    @if caller.project_id.is_none() { option value="" { "any" } }
                    @for (id, name) in &projects {
                        option value=(id) selected[value("project") == id || value("project") == name] { (name) }
                    }
                }
            }
            label { "Route" input type="text" name="route" value=(value("route")) placeholder="/checkout"; }
            label { "Sort"
                select name="sort" {
                    option value="severity" selected[value("sort") != "lastSeen"] { "most severe first" }
                    option value="lastSeen" selected[value("sort") == "lastSeen"] { "newest first" }
                }
            }
            button type="submit" { "Filter" }
        }
        @if let Some(e) = &error { p.error role="alert" { (e) } }
        @if incidents.is_empty() && error.is_none() {
            p.muted { "No incidents match. Incidents appear here once the pipeline finds users struggling." }
        } @else if !incidents.is_empty() {
            table {
                caption.muted { (incidents.len()) " incidents on this page" }
                thead { tr {
                    th scope="col" { "Incident" } th scope="col" { "Status" } th scope="col" { "Priority" }
                    th.num scope="col" { "Severity" } th.num scope="col" { "Users" } th.num scope="col" { "Sessions" }
                    th.num scope="col" { "Occurrences" } th scope="col" { "Last seen" } th scope="col" { "Project" }
                } }
                tbody {
                    @for i in &incidents {
                        tr data-incident-id=(i.id) {
                            td {
                                a href={ "/incidents/" (i.id) } { (i.title) }
                                br; span.muted { (i.kind.replace('_', " ")) " · " (i.route_template) }
                            }
                            td { (status_badge(i.status)) }
                            td { (i.priority) }
                            td.num { (format!("{:.2}", i.severity)) }
                            td.num { (i.users) } td.num { (i.sessions) } td.num { (i.occurrences) }
                            td { (i.last_seen) }
                            td { (project_name(&i.project_id).unwrap_or_else(|| i.project_id.clone())) }
                        }
                    }
                }
            }
        }
        @if let Some(link) = &next_link {
            nav.pages aria-label="Pages" { a href=(link) rel="next" { "Next page →" } }
        }
    };
    page(StatusCode::OK, layout("Incidents", Some(&caller), body))
}

/// The status buttons an engineer sees for an incident in `status`.
fn status_actions(status: IncidentStatus) -> Vec<(IncidentStatus, &'static str)> {
    use IncidentStatus::*;
    let all = [(Confirmed, "Confirm"), (Resolved, "Resolve"), (Ignored, "Ignore"), (Open, "Reopen")];
    all.into_iter()
        .filter(|(to, _)| {
            !matches!(
                (status, to),
                (Open, Open)
                    | (Confirmed, Confirmed)
                    | (Resolved, Resolved)
                    | (Ignored, Ignored)
                    | (Confirmed | Regressed, Open)
                    | (Resolved | Ignored, Confirmed)
            )
        })
        .collect()
}

/// `GET /incidents/{id}`
pub async fn detail(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(e) = caller.require(Role::Viewer, "reading an incident") {
        return error_page(Some(&caller), e);
    }
    if let Err(e) = crate::incidents::check_param("id", &id) {
        return error_page(Some(&caller), e);
    }
    let incident = match crate::incidents::visible_incident(&state, &caller, &id).await {
        Ok(i) => i,
        Err(e) => return error_page(Some(&caller), e),
    };
    let tickets = match state.store.incident_tickets(&id).await {
        Ok(t) => t,
        Err(e) => return error_page(Some(&caller), e.into()),
    };
    let project = state.store.project_by_id(&incident.project_id).await.ok().flatten();
    let view = IncidentView::new(incident, true);
    let samples = view.samples.as_deref().unwrap_or_default();
    let mut timelines = Vec::with_capacity(samples.len());
    for sample in samples {
        timelines.push(super::timeline::render(&state, &view.project_id, sample).await);
    }
    let notice = q.get("changed").map(|s| format!("Status changed to {s}."));
    let body = html! {
        p { a href="/incidents" { "← Incidents" } }
        h1 { (view.title) }
        @if let Some(n) = &notice { p.notice role="status" { (n) } }
        dl.facts {
            dt { "Status" } dd { (status_badge(view.status)) " generation " (view.generation) }
            dt { "Kind" } dd { (view.kind.replace('_', " ")) }
            dt { "Labels" } dd { (view.labels.join(", ")) }
            dt { "Project" } dd { (project.map(|p| p.name).unwrap_or_else(|| view.project_id.clone())) }
            dt { "Route" } dd { code { (view.route_template) } }
            dt { "Element" } dd { code { (view.element_key) } }
            dt { "Severity" } dd { (format!("{:.2}", view.severity)) " (" (view.priority) ")" }
            dt { "Counts" } dd { (view.users) " users, " (view.sessions) " sessions, " (view.occurrences) " occurrences" }
            dt { "First seen" } dd { (view.first_seen) }
            dt { "Last seen" } dd { (view.last_seen) }
            dt { "Releases" } dd { @if view.releases.is_empty() { "unknown" } @else { (view.releases.join(", ")) } }
            @if let Some(c) = &view.confirmed_at { dt { "Confirmed" } dd { (c) @if view.confirmed_manually { " (by hand)" } } }
            @if let Some(r) = &view.resolved_at { dt { "Resolved" } dd { (r) } }
        }
        @if caller.role >= Role::Engineer {
            div.actions {
                @for (to, label) in status_actions(view.status) {
                    form.inline method="post" action={ "/incidents/" (view.id) "/status" } {
                        (csrf_field(&caller))
                        input type="hidden" name="status" value=(to.as_str());
                        button type="submit" { (label) }
                    }
                }
            }
        }
        h2 { "What happened" }
        p { (view.explanation) " It affected " (view.users) " users in " (view.sessions) " sessions (" (view.occurrences) " times)." }
        h2 { "Tickets" }
        @if tickets.is_empty() {
            p.muted { "No ticket yet: one is made when the incident is confirmed and an integration is set up." }
        } @else {
            table {
                thead { tr { th scope="col" { "Integration" } th scope="col" { "Ticket" } th scope="col" { "State" } th scope="col" { "Last error" } } }
                tbody {
                    @for t in &tickets {
                        tr {
                            td { (t.integration.as_deref().unwrap_or(&t.integration_id)) " " span.muted { (t.kind.as_deref().unwrap_or("")) } }
                            td {
                                @match t.url.as_deref().and_then(safe_link) {
                                    Some(url) => a href=(url) rel="noopener noreferrer" { (t.key.as_deref().unwrap_or(url)) },
                                    None => (t.key.as_deref().unwrap_or("—")),
                                }
                            }
                            td { (t.state) " (generation " (t.generation) ")" }
                            td { (t.error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
        }
        h2 { "Evidence" }
        @if samples.is_empty() { p.muted { "No evidence samples kept." } }
        @for (sample, timeline) in samples.iter().zip(&timelines) {
            (sample_section(sample, timeline))
        }
    };
    page(StatusCode::OK, layout(&view.title, Some(&caller), body))
}

fn sample_section(sample: &SampleView, timeline: &Markup) -> Markup {
    html! {
        section.sample aria-label={ "Session " (sample.session_id) } {
            h3 { (sample.label) " in session " code { (sample.session_id) } }
            p.muted {
                (sample.start) " · " (sample.duration_ms) " ms"
                @if let Some(u) = &sample.user_id { " · user " (u) }
                @if let Some(r) = &sample.release { " · release " (r) }
                @if let Some(url) = &sample.url { " · " (url) }
            }
            (timeline)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct StatusForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    status: String,
}

/// `POST /incidents/{id}/status` with `status` and `csrf`: the same change as the API's PATCH;
/// 303 back to the incident.
pub async fn set_status(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> Response {
    if let Err(e) = caller.check_csrf(Some(&form.csrf)) {
        return error_page(Some(&caller), e);
    }
    let status = form.status.parse::<IncidentStatus>().map_err(|e| ApiError::BadRequest(e.to_string()));
    match crate::incidents::set_status(&state, &caller, &id, status).await {
        Ok(incident) => Redirect::to(&format!(
            "/incidents/{}?changed={}",
            super::encode_query(&incident.id),
            incident.status.as_str()
        ))
        .into_response(),
        Err(e) => error_page(Some(&caller), e),
    }
}
