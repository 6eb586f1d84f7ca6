//! `GET /users` (admins): every user with their role, scope and state; `POST /users` creates one
//! (a generated password is shown once); `POST /users/{username}` disables, enables or sets the
//! role. Every change is audited (`user.create`, `user.disable`, `user.enable`, `user.role`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use friction_store::{Role, User};
use maud::html;
use serde::Deserialize;

use super::{csrf_field, error_page, layout, page, when, PageCaller};
use crate::auth::Caller;
use crate::{ApiError, ConsoleState};

const ROLES: [Role; 3] = [Role::Viewer, Role::Engineer, Role::Admin];

async fn audit(state: &ConsoleState, caller: &Caller, action: &str, username: &str, success: bool, detail: &str) {
    let resource = format!("user:{username}");
    if let Err(e) =
        state.store.audit(&caller.actor(), action, &resource, success, caller.ip.as_deref(), Some(detail)).await
    {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}

/// Refuses (403, audited) unless the caller is an admin.
async fn require_admin(state: &ConsoleState, caller: &Caller, action: &str, username: &str) -> Result<(), Response> {
    match caller.require(Role::Admin, "managing users") {
        Ok(()) => Ok(()),
        Err(e) => {
            if action != "view" {
                audit(state, caller, action, username, false, &e.to_string()).await;
            }
            Err(error_page(Some(caller), e))
        }
    }
}

fn render(caller: &Caller, users: &[User], projects: &[(String, String)], message: Option<(String, bool)>) -> Response {
    let project_name =
        |id: &str| projects.iter().find(|(pid, _)| pid == id).map(|(_, n)| n.clone()).unwrap_or_else(|| id.to_owned());
    let body = html! {
        h1 { "Users" }
        @if let Some((text, is_error)) = &message {
            @if *is_error { p.error role="alert" { (text) } } @else { p.notice role="status" { (text) } }
        }
        table {
            thead { tr {
                th scope="col" { "Username" } th scope="col" { "Role" } th scope="col" { "Project" }
                th scope="col" { "State" } th scope="col" { "Created" } th scope="col" { "Actions" }
            } }
            tbody {
                @for u in users {
                    tr {
                        td { (u.username) }
                        td {
                            form.inline method="post" action={ "/users/" (super::encode_query(&u.username)) } {
                                (csrf_field(caller))
                                input type="hidden" name="action" value="role";
                                label { span.muted { "Role of " (u.username) " " }
                                    select name="role" {
                                        @for r in ROLES { option value=(r.as_str()) selected[u.role == r] { (r.as_str()) } }
                                    }
                                }
                                " " button type="submit" { "Set role" }
                            }
                        }
                        td { @match &u.project_id { Some(p) => (project_name(p)), None => span.muted { "all projects" } } }
                        td { @if u.disabled { "disabled" } @else { "active" } }
                        td { (when(u.created_at_ms)) }
                        td {
                            form.inline method="post" action={ "/users/" (super::encode_query(&u.username)) } {
                                (csrf_field(caller))
                                @if u.disabled {
                                    input type="hidden" name="action" value="enable";
                                    button type="submit" { "Enable " (u.username) }
                                } @else {
                                    input type="hidden" name="action" value="disable";
                                    button type="submit" data-confirm="Disable this user and end their sessions?" { "Disable " (u.username) }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Add a user" }
        form.stack method="post" action="/users" {
            (csrf_field(caller))
            label { "Username" input type="text" name="username" required maxlength="64" autocomplete="off"; }
            label { "Role"
                select name="role" { @for r in ROLES { option value=(r.as_str()) { (r.as_str()) } } }
            }
            label { "Project"
                select name="project" {
                    option value="" { "all projects" }
                    @for (id, name) in projects { option value=(id) { (name) } }
                }
            }
            button.primary type="submit" { "Add user" }
            p.muted { "A password is generated and shown once; the user can be given a new one with `friction users set-password`." }
        }
    };
    page(StatusCode::OK, layout("Users", Some(caller), body))
}

async fn show(state: &ConsoleState, caller: &Caller, message: Option<(String, bool)>) -> Response {
    let users = match state.store.list_users().await {
        Ok(u) => u,
        Err(e) => return error_page(Some(caller), e.into()),
    };
    let projects: Vec<(String, String)> = match state.store.list_projects().await {
        Ok(p) => p.into_iter().map(|p| (p.id, p.name)).collect(),
        Err(e) => return error_page(Some(caller), e.into()),
    };
    render(caller, &users, &projects, message)
}

/// `GET /users`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = require_admin(&state, &caller, "view", "").await {
        return r;
    }
    let message = q.get("done").map(|d| (d.clone(), false));
    show(&state, &caller, message).await
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    project: String,
}

/// `POST /users`: creates a user with a generated password, shown once on the page.
pub async fn create(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Form(form): Form<CreateForm>,
) -> Response {
    if let Err(e) = caller.check_csrf(Some(&form.csrf)) {
        return error_page(Some(&caller), e);
    }
    let username = form.username.trim().to_owned();
    if let Err(r) = require_admin(&state, &caller, "user.create", &username).await {
        return r;
    }
    let role = match form.role.parse::<Role>() {
        Ok(r) => r,
        Err(e) => return show(&state, &caller, Some((e.to_string(), true))).await,
    };
    let project = Some(form.project.trim()).filter(|p| !p.is_empty());
    let password = crate::password::generate();
    let hash = match crate::password::hash(&password).await {
        Ok(h) => h,
        Err(e) => return error_page(Some(&caller), ApiError::Internal(e.to_string())),
    };
    match state.store.create_user(&username, &hash, role, project).await {
        Ok(user) => {
            let scope = user.project_id.as_deref().unwrap_or("all projects");
            audit(&state, &caller, "user.create", &username, true, &format!("role {role}, {scope}")).await;
            let message = format!("Created {username} ({role}). Their password, shown only now: {password}");
            show(&state, &caller, Some((message, false))).await
        }
        Err(e) => {
            audit(&state, &caller, "user.create", &username, false, &e.to_string()).await;
            let message = e.to_string();
            let mut response = show(&state, &caller, Some((message, true))).await;
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    role: String,
}

/// `POST /users/{username}` with `action` = `disable` | `enable` | `role` (and `role`).
pub async fn change(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(username): Path<String>,
    Form(form): Form<ChangeForm>,
) -> Response {
    if let Err(e) = caller.check_csrf(Some(&form.csrf)) {
        return error_page(Some(&caller), e);
    }
    let action = match form.action.as_str() {
        "disable" => "user.disable",
        "enable" => "user.enable",
        "role" => "user.role",
        other => {
            return error_page(
                Some(&caller),
                ApiError::BadRequest(format!("action {other:?} is not disable, enable or role")),
            )
        }
    };
    if let Err(r) = require_admin(&state, &caller, action, &username).await {
        return r;
    }
    if action == "user.disable" && caller.user().is_some_and(|u| u.username == username) {
        return show(&state, &caller, Some(("You cannot disable yourself.".into(), true))).await;
    }
    let result = match action {
        "user.disable" => state.store.set_user_disabled(&username, true).await.map(|_| "disabled".to_owned()),
        "user.enable" => state.store.set_user_disabled(&username, false).await.map(|_| "enabled".to_owned()),
        _ => match form.role.parse::<Role>() {
            Ok(role) => state.store.set_user_role(&username, role).await.map(|_| format!("role {role}")),
            Err(e) => Err(e),
        },
    };
    match result {
        Ok(detail) => {
            audit(&state, &caller, action, &username, true, &detail).await;
            let done = format!("{username}: {detail}");
            Redirect::to(&format!("/users?done={}", super::encode_query(&done))).into_response()
        }
        Err(e) => {
            audit(&state, &caller, action, &username, false, &e.to_string()).await;
            let status = if matches!(e, friction_store::StoreError::UserNotFound(_)) {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::BAD_REQUEST
            };
            let mut response = show(&state, &caller, Some((e.to_string(), true))).await;
            *response.status_mut() = status;
            response
        }
    }
}
