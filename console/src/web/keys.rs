//! `GET /keys` (admins): the projects and their API keys; `POST /projects` creates a project,
//! `POST /keys` a key (its secret shown once, on the answer page), `POST /keys/{id}` revokes one
//! (`action=revoke`) or sets its allowed origins and rate (`action=limits`). Each form runs the
//! API's handler (`/v1/projects`, `/v1/keys`), so checks, audit and publishing to gateways are the
//! same (docs/console.md "Pages").

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use friction_store::Role;
use maud::html;
use serde::Deserialize;
use serde_json::json;

use super::{csrf_field, done, error_page, flash, json_body, layout, page, Flash, PageCaller};
use crate::auth::Caller;
use crate::{ApiError, ConsoleState};

async fn show(state: &ConsoleState, caller: &Caller, message: Flash, secret: Option<(String, String)>) -> Response {
    let projects = match crate::projects::list(State(state.clone()), caller.clone()).await {
        Ok(Json(p)) => p.projects,
        Err(e) => return error_page(Some(caller), e),
    };
    let keys = match crate::keys::list(State(state.clone()), caller.clone(), Query(HashMap::new())).await {
        Ok(Json(k)) => k.keys,
        Err(e) => return error_page(Some(caller), e),
    };
    let body = html! {
        h1 { "Projects and API keys" }
        (flash(&message))
        @if let Some((prefix, secret)) = &secret {
            div.notice id="key-secret" role="status" {
                p { "The secret of key " code { (prefix) } ", shown only now (the SDK's " code { "apiKey" } "):" }
                p { code id="key-secret-value" { (secret) } }
            }
        }
        section aria-labelledby="projects-heading" {
            h2 id="projects-heading" { "Projects" }
            table id="projects-table" {
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" } } }
                tbody {
                    @for p in &projects {
                        tr data-project-id=(p.id) { td { (p.name) } td { code { (p.id) } } td { (p.created_at) } }
                    }
                }
            }
            form.stack id="project-create" method="post" action="/projects" {
                (csrf_field(caller))
                label { "Project name" input type="text" name="name" required maxlength="64" autocomplete="off" placeholder="shop"; }
                button.primary type="submit" { "Create project" }
            }
        }
        section aria-labelledby="keys-heading" {
            h2 id="keys-heading" { "API keys" }
            @if keys.is_empty() { p.muted { "No API keys yet." } } @else {
                table id="keys-table" {
                    thead { tr {
                        th scope="col" { "Key" } th scope="col" { "Project" } th scope="col" { "Label" } th scope="col" { "State" }
                        th scope="col" { "Allowed origins and rate" } th scope="col" { "Created" } th scope="col" { "Actions" }
                    } }
                    tbody {
                        @for k in &keys {
                            tr data-key-id=(k.id) data-key-prefix=(k.prefix) {
                                td { code { (k.prefix) } }
                                td { (k.project_name) }
                                td { (k.label.as_deref().unwrap_or("")) }
                                td { (k.status) }
                                td {
                                    form.inline method="post" action={ "/keys/" (k.id) } {
                                        (csrf_field(caller))
                                        input type="hidden" name="action" value="limits";
                                        label { "Allowed origins of " (k.prefix) " (space-separated; empty: any)"
                                            input type="text" name="origins" value=(k.allowed_origins.join(" ")); }
                                        label { "Events per second of " (k.prefix) " (empty: the gateway's default)"
                                            input type="number" name="rate" min="0" step="any"
                                                value=(k.rate_limit_per_sec.map(|r| r.to_string()).unwrap_or_default()); }
                                        button type="submit" { "Save limits of " (k.prefix) }
                                    }
                                }
                                td { (k.created_at) }
                                td {
                                    @if k.status == "active" {
                                        form.inline method="post" action={ "/keys/" (k.id) } {
                                            (csrf_field(caller))
                                            input type="hidden" name="action" value="revoke";
                                            button type="submit" data-confirm="Revoke this key? Gateways refuse it within seconds." { "Revoke " (k.prefix) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h3 { "Create a key" }
            @if projects.is_empty() { p.muted { "Create a project first." } } @else {
                form.stack id="key-create" method="post" action="/keys" {
                    (csrf_field(caller))
                    label { "Project" select name="project" { @for p in &projects { option value=(p.id) { (p.name) } } } }
                    label { "Label" input type="text" name="label" maxlength="100" autocomplete="off" placeholder="web"; }
                    label { "Allowed origins (space-separated; empty: any)" input type="text" name="origins" placeholder="https://shop.example"; }
                    label { "Events per second (empty: the gateway's default)" input type="number" name="rate" min="0" step="any"; }
                    button.primary type="submit" { "Create key" }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Projects and API keys", Some(caller), body))
}

async fn failed(state: &ConsoleState, caller: &Caller, error: ApiError) -> Response {
    super::form_failed(caller, error, |message| show(state, caller, message, None)).await
}

/// `GET /keys`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Admin, "managing projects and API keys") {
        return r;
    }
    show(&state, &caller, super::done_flash(&q), None).await
}

#[derive(Debug, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

/// `POST /projects`: `POST /v1/projects`.
pub async fn create_project(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Form(form): Form<ProjectForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let body = json_body(json!({ "name": form.name }));
    match crate::projects::create(State(state.clone()), caller.clone(), body).await {
        Ok((_, Json(p))) => done("/keys", &format!("Created project {}.", p.name)),
        Err(e) => failed(&state, &caller, e).await,
    }
}

/// Origins as the form gives them: separated by spaces, commas or lines.
fn origins(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == ',').filter(|o| !o.is_empty()).map(str::to_owned).collect()
}

/// A rate as the form gives it: empty is `None` (the gateway's default).
fn rate(text: &str) -> Result<Option<f64>, ApiError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<f64>()
        .map(Some)
        .map_err(|_| ApiError::BadRequest(format!("rate {text:?} is not a number of events per second")))
}

#[derive(Debug, Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    origins: String,
    #[serde(default)]
    rate: String,
    #[serde(default)]
    action: String,
}

/// `POST /keys`: `POST /v1/keys`; the answer page shows the secret once.
pub async fn create(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let rate = match rate(&form.rate) {
        Ok(r) => r,
        Err(e) => return failed(&state, &caller, e).await,
    };
    let label = Some(form.label.trim()).filter(|l| !l.is_empty());
    let mut body = json!({ "project": form.project, "allowedOrigins": origins(&form.origins) });
    if let Some(l) = label {
        body["label"] = json!(l);
    }
    if let Some(r) = rate {
        body["rateLimitPerSec"] = json!(r);
    }
    match crate::keys::create(State(state.clone()), caller.clone(), json_body(body)).await {
        Ok((_, Json(created))) => {
            let message =
                Some((format!("Created key {} for {}.", created.key.prefix, created.key.project_name), false));
            show(&state, &caller, message, Some((created.key.prefix, created.secret))).await
        }
        Err(e) => failed(&state, &caller, e).await,
    }
}

/// `POST /keys/{id}` with `action` = `revoke` | `limits` (`origins`, `rate`).
pub async fn change(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Form(form): Form<KeyForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let result = match form.action.as_str() {
        "revoke" => crate::keys::revoke(State(state.clone()), caller.clone(), Path(id))
            .await
            .map(|Json(k)| format!("Revoked key {}.", k.prefix)),
        "limits" => match rate(&form.rate) {
            Ok(rate) => {
                let body = json!({ "allowedOrigins": origins(&form.origins), "rateLimitPerSec": rate });
                crate::keys::update(State(state.clone()), caller.clone(), Path(id), json_body(body))
                    .await
                    .map(|Json(k)| format!("Saved the limits of key {}.", k.prefix))
            }
            Err(e) => Err(e),
        },
        other => Err(ApiError::BadRequest(format!("action {other:?} is not revoke or limits"))),
    };
    match result {
        Ok(message) => done("/keys", &message),
        Err(e) => failed(&state, &caller, e).await,
    }
}
