//! `GET /integrations` (admins): where tickets go, with each one's state, breaker and last error;
//! `POST /integrations` adds Jira / Linear / GitHub / a webhook (the secret encrypted with the
//! master key by the API's handler); `POST /integrations/{id}` with `action` = `enable` |
//! `disable` | `delete` | `test` — "Test connection" shows the API's `{ok, status, message}` on
//! the page (docs/console.md "Pages").

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
use crate::integrations::TestResult;
use crate::{ApiError, ConsoleState};

const KINDS: [(&str, &str); 4] = [("jira", "Jira"), ("linear", "Linear"), ("github", "GitHub"), ("webhook", "Webhook")];

async fn show(state: &ConsoleState, caller: &Caller, message: Flash, test: Option<(String, TestResult)>) -> Response {
    let integrations = match crate::integrations::list(State(state.clone()), caller.clone()).await {
        Ok(Json(l)) => l.integrations,
        Err(e) => return error_page(Some(caller), e),
    };
    let projects: Vec<(String, String)> = match state.store.list_projects().await {
        Ok(p) => p.into_iter().filter(|p| caller.may_see(&p.id)).map(|p| (p.id, p.name)).collect(),
        Err(e) => return error_page(Some(caller), e.into()),
    };
    let project_name =
        |id: &str| projects.iter().find(|(p, _)| p == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.to_owned());
    let body = html! {
        h1 { "Integrations" }
        (flash(&message))
        @if let Some((name, t)) = &test {
            div id="test-result" class=(if t.ok { "notice" } else { "error" }) role=(if t.ok { "status" } else { "alert" })
                data-ok=(t.ok) data-status=(t.status.map(|s| s.to_string()).unwrap_or_default()) {
                p {
                    strong { "Test connection of " (name) ": " @if t.ok { "success" } @else { "failed" } }
                    @if let Some(s) = t.status { " (HTTP " (s) ")" }
                }
                p id="test-message" { (t.message) }
            }
        }
        @if state.master_key.is_none() {
            p.error role="alert" { "FRICTION_MASTER_KEY is not set: integrations cannot be added or tested (their secrets are encrypted with it)." }
        }
        @if integrations.is_empty() { p.muted { "No integrations yet: confirmed incidents make no tickets." } } @else {
            table id="integrations-table" {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Kind" } th scope="col" { "Target" } th scope="col" { "Project" }
                    th scope="col" { "State" } th scope="col" { "Breaker" } th scope="col" { "Last error" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for i in &integrations {
                        tr data-integration-id=(i.id) data-integration-name=(i.name) {
                            td { (i.name) }
                            td { (i.kind) }
                            td { code { (i.config.base_url) } }
                            td { @match &i.project_id { Some(p) => (project_name(p)), None => span.muted { "all projects" } } }
                            td.state { @if i.enabled { "enabled" } @else { "disabled" } }
                            td.breaker { (i.breaker) @if i.failures > 0 { " (" (i.failures) " failures)" } }
                            td.last-error { (i.last_error.as_deref().unwrap_or("")) }
                            td {
                                @for (action, text) in [("test", "Test connection"), (if i.enabled { "disable" } else { "enable" }, if i.enabled { "Disable" } else { "Enable" }), ("delete", "Delete")] {
                                    form.inline method="post" action={ "/integrations/" (i.id) } {
                                        (csrf_field(caller))
                                        input type="hidden" name="action" value=(action);
                                        @if action == "delete" {
                                            button type="submit" data-action=(action) data-confirm="Delete this integration? Its tickets stay." { (text) " " (i.name) }
                                        } @else {
                                            button type="submit" data-action=(action) { (text) " " (i.name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add an integration" }
        form.stack id="integration-create" method="post" action="/integrations" {
            (csrf_field(caller))
            label { "Name" input type="text" name="name" required maxlength="100" autocomplete="off"; }
            label { "Kind" select name="kind" { @for (value, text) in KINDS { option value=(value) { (text) } } } }
            label { "URL (Jira site, Linear or GitHub API, or the webhook endpoint)" input type="url" name="url" required placeholder="https://example.atlassian.net"; }
            label { "Secret (API token, API key or signing secret; stored encrypted, never shown again)" input type="password" name="secret" required autocomplete="off"; }
            fieldset {
                legend { "Jira" }
                label { "Account e-mail" input type="email" name="email" autocomplete="off"; }
                label { "Project key" input type="text" name="project_key" placeholder="FR"; }
                label { "Issue type id" input type="text" name="issue_type_id" placeholder="10001"; }
            }
            fieldset {
                legend { "Linear" }
                label { "Team id" input type="text" name="team_id"; }
            }
            fieldset {
                legend { "GitHub" }
                label { "Repository (owner/name)" input type="text" name="repo" placeholder="acme/shop"; }
            }
            label { "Project"
                select name="project" {
                    @if caller.project_id.is_none() { option value="" { "all projects" } }
                    @for (id, name) in &projects { option value=(id) { (name) } }
                }
            }
            label { input type="checkbox" name="allow_private_network" value="true"; " Webhook: allow private and loopback addresses" }
            button.primary type="submit" { "Add integration" }
        }
    };
    page(StatusCode::OK, layout("Integrations", Some(caller), body))
}

async fn failed(state: &ConsoleState, caller: &Caller, error: ApiError) -> Response {
    super::form_failed(caller, error, |message| show(state, caller, message, None)).await
}

/// `GET /integrations`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Admin, "managing integrations") {
        return r;
    }
    show(&state, &caller, super::done_flash(&q), None).await
}

#[derive(Debug, Deserialize)]
pub struct NewForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    project_key: String,
    #[serde(default)]
    issue_type_id: String,
    #[serde(default)]
    team_id: String,
    #[serde(default)]
    repo: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    allow_private_network: Option<String>,
}

/// `POST /integrations`: `POST /v1/integrations`.
pub async fn create(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Form(form): Form<NewForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let opt = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let body = json!({
        "name": form.name, "kind": form.kind, "url": form.url, "secret": form.secret,
        "email": opt(&form.email), "projectKey": opt(&form.project_key), "issueTypeId": opt(&form.issue_type_id),
        "teamId": opt(&form.team_id), "repo": opt(&form.repo), "project": opt(&form.project),
        "allowPrivateNetwork": form.allow_private_network.is_some(),
    });
    match crate::integrations::create(State(state.clone()), caller.clone(), json_body(body)).await {
        Ok((_, Json(i))) => done("/integrations", &format!("Added {} integration {}.", i.kind, i.name)),
        Err(e) => failed(&state, &caller, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
}

/// `POST /integrations/{id}` with `action` = `enable` | `disable` | `delete` | `test`.
pub async fn change(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let s = || State(state.clone());
    let result = match form.action.as_str() {
        "test" => match crate::integrations::test(s(), caller.clone(), Path(id.clone())).await {
            Ok(Json(result)) => {
                let name = match crate::integrations::get(s(), caller.clone(), Path(id.clone())).await {
                    Ok(Json(i)) => i.name,
                    Err(_) => id,
                };
                return show(&state, &caller, None, Some((name, result))).await;
            }
            Err(e) => Err(e),
        },
        "enable" | "disable" => {
            let body = json_body(json!({ "enabled": form.action == "enable" }));
            crate::integrations::update(s(), caller.clone(), Path(id), body)
                .await
                .map(|Json(i)| format!("{} {}.", i.name, if i.enabled { "enabled" } else { "disabled" }))
        }
        "delete" => {
            let name = match crate::integrations::get(s(), caller.clone(), Path(id.clone())).await {
                Ok(Json(i)) => i.name,
                Err(_) => id.clone(),
            };
            crate::integrations::delete(s(), caller.clone(), Path(id)).await.map(|_| format!("Deleted {name}."))
        }
        other => Err(ApiError::BadRequest(format!("action {other:?} is not enable, disable, delete or test"))),
    };
    match result {
        Ok(message) => done("/integrations", &message),
        Err(e) => failed(&state, &caller, e).await,
    }
}
