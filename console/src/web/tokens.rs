//! `GET /tokens` (admins): the console's bearer tokens (never their secrets); `POST /tokens`
//! creates one with a role, an optional expiry and an optional project (its secret shown once, on
//! the answer page); `POST /tokens/{id}/revoke` revokes one. Each form runs the API's handler
//! (`/v1/tokens`), so checks and audit are the same (docs/console.md "Pages").

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

const ROLES: [Role; 3] = [Role::Viewer, Role::Engineer, Role::Admin];

async fn show(state: &ConsoleState, caller: &Caller, message: Flash, secret: Option<(String, String)>) -> Response {
    let tokens = match crate::tokens::list(State(state.clone()), caller.clone()).await {
        Ok(Json(t)) => t.tokens,
        Err(e) => return error_page(Some(caller), e),
    };
    let projects: Vec<(String, String)> = match state.store.list_projects().await {
        Ok(p) => p.into_iter().filter(|p| caller.may_see(&p.id)).map(|p| (p.id, p.name)).collect(),
        Err(e) => return error_page(Some(caller), e.into()),
    };
    let project_name =
        |id: &str| projects.iter().find(|(p, _)| p == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.to_owned());
    let body = html! {
        h1 { "API tokens" }
        (flash(&message))
        @if let Some((prefix, secret)) = &secret {
            div.notice id="token-secret" role="status" {
                p { "The secret of token " code { (prefix) } ", shown only now (send it as " code { "Authorization: Bearer ..." } "):" }
                p { code id="token-secret-value" { (secret) } }
            }
        }
        @if tokens.is_empty() { p.muted { "No tokens." } } @else {
            table id="tokens-table" {
                thead { tr {
                    th scope="col" { "Token" } th scope="col" { "Role" } th scope="col" { "Label" } th scope="col" { "Project" }
                    th scope="col" { "State" } th scope="col" { "Expires" } th scope="col" { "Created" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for t in &tokens {
                        tr data-token-id=(t.id) data-token-prefix=(t.prefix) {
                            td { code { (t.prefix) } }
                            td { (t.role) }
                            td { (t.label.as_deref().unwrap_or("")) }
                            td { @match &t.project_id { Some(p) => (project_name(p)), None => span.muted { "all projects" } } }
                            td.state { (t.status) }
                            td { (t.expires_at.as_deref().unwrap_or("never")) }
                            td { (t.created_at) }
                            td {
                                @if t.status == "active" {
                                    form.inline method="post" action={ "/tokens/" (t.id) "/revoke" } {
                                        (csrf_field(caller))
                                        button type="submit" data-confirm="Revoke this token? It is refused from its next request." { "Revoke " (t.prefix) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Create a token" }
        form.stack id="token-create" method="post" action="/tokens" {
            (csrf_field(caller))
            label { "Role" select name="role" { @for r in ROLES { option value=(r.as_str()) { (r.as_str()) } } } }
            label { "Label" input type="text" name="label" maxlength="100" autocomplete="off" placeholder="ci"; }
            label { "Expires (UTC; empty: never)" input type="datetime-local" name="expires"; }
            label { "Project"
                select name="project" {
                    @if caller.project_id.is_none() { option value="" { "all projects" } }
                    @for (id, name) in &projects { option value=(id) { (name) } }
                }
            }
            button.primary type="submit" { "Create token" }
        }
    };
    page(StatusCode::OK, layout("API tokens", Some(caller), body))
}

async fn failed(state: &ConsoleState, caller: &Caller, error: ApiError) -> Response {
    super::form_failed(caller, error, |message| show(state, caller, message, None)).await
}

/// `GET /tokens`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Admin, "managing tokens") {
        return r;
    }
    show(&state, &caller, super::done_flash(&q), None).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    project: String,
}

/// The expiry as the form gives it (a date, a `datetime-local` value in UTC, or RFC 3339) as
/// RFC 3339; empty: never.
fn expiry(text: &str) -> Option<String> {
    let text = text.trim();
    match text.len() {
        0 => None,
        10 => Some(format!("{text}T00:00:00Z")),
        16 => Some(format!("{text}:00Z")),
        19 => Some(format!("{text}Z")),
        _ => Some(text.to_owned()),
    }
}

/// `POST /tokens`: `POST /v1/tokens`; the answer page shows the secret once.
pub async fn create(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let opt = |v: &str| Some(v.trim().to_owned()).filter(|v| !v.is_empty());
    let body = json!({ "role": form.role, "label": opt(&form.label), "expiresAt": expiry(&form.expires), "project": opt(&form.project) });
    match crate::tokens::create(State(state.clone()), caller.clone(), json_body(body)).await {
        Ok((_, Json(created))) => {
            let message = Some((format!("Created token {} ({}).", created.token.prefix, created.token.role), false));
            show(&state, &caller, message, Some((created.token.prefix, created.secret))).await
        }
        Err(e) => failed(&state, &caller, e).await,
    }
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /tokens/{id}/revoke`: `POST /v1/tokens/{id}/revoke`.
pub async fn revoke(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(id): Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    match crate::tokens::revoke(State(state.clone()), caller.clone(), Path(id)).await {
        Ok(Json(t)) => done("/tokens", &format!("Revoked token {}.", t.prefix)),
        Err(e) => failed(&state, &caller, e).await,
    }
}
