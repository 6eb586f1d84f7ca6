//! `GET /rules`: each visible project's rules document (the saved overrides and the effective
//! thresholds); engineers and admins edit it (`POST /rules/{project}`, the API's
//! `PUT /v1/rules/{project}`: validated before it is saved, the refusal's message shown on the
//! page with 400); viewers read it (docs/console.md "Rules").

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Form, Json};
use friction_store::Role;
use maud::html;
use serde::Deserialize;

use super::{csrf_field, done, error_page, flash, layout, page, Flash, PageCaller};
use crate::auth::Caller;
use crate::ConsoleState;

/// `draft`: the text a refused form sent, shown again in its project's editor.
async fn show(state: &ConsoleState, caller: &Caller, message: Flash, draft: Option<(String, String)>) -> Response {
    let rules = match crate::rules::list(State(state.clone()), caller.clone()).await {
        Ok(Json(r)) => r.rules,
        Err(e) => return error_page(Some(caller), e),
    };
    let may_edit = caller.role >= Role::Engineer;
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let body = html! {
        h1 { "Rules" }
        (flash(&message))
        p.muted { "Each project's detection thresholds: a JSON object of rule fields (docs/detection.md \"Configuration\"); fields left out keep their defaults." }
        p.muted { "The detector still reads its thresholds from its rules file (--rules-file); a saved document is what that file's entry for the project should hold (docs/console.md \"Rules\")." }
        @if rules.is_empty() { p.muted { "No projects yet." } }
        @for r in &rules {
            section.rules data-project-id=(r.project_id) aria-labelledby={ "rules-" (r.project_id) } {
                h2 id={ "rules-" (r.project_id) } { (r.project_name) }
                p.muted {
                    @match (&r.updated_at, &r.updated_by) {
                        (Some(at), Some(by)) => { "Saved " (at) " by " (by) "." },
                        _ => "Defaults (nothing saved).",
                    }
                }
                @if may_edit {
                    form.stack method="post" action={ "/rules/" (r.project_id) } {
                        (csrf_field(caller))
                        label { "Rules of " (r.project_name) " (JSON)"
                            textarea name="rules" rows="8" spellcheck="false" id={ "rules-text-" (r.project_id) } {
                                @match &draft {
                                    Some((p, text)) if *p == r.project_id => (text),
                                    _ => (pretty(&r.rules)),
                                }
                            }
                        }
                        button.primary type="submit" { "Save rules of " (r.project_name) }
                    }
                } @else {
                    h3 { "Saved overrides" }
                    pre { code { (pretty(&r.rules)) } }
                }
                details {
                    summary { "Effective thresholds of " (r.project_name) }
                    pre { code { (pretty(&r.effective)) } }
                }
            }
        }
    };
    page(StatusCode::OK, layout("Rules", Some(caller), body))
}

/// `GET /rules`
pub async fn list(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Viewer, "reading rules") {
        return r;
    }
    show(&state, &caller, super::done_flash(&q), None).await
}

#[derive(Debug, Deserialize)]
pub struct RulesForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    rules: String,
}

/// `POST /rules/{project}` with `rules` (the JSON document): `PUT /v1/rules/{project}`.
pub async fn save(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    Path(project): Path<String>,
    Form(form): Form<RulesForm>,
) -> Response {
    if let Some(r) = super::require_csrf(&caller, &form.csrf) {
        return r;
    }
    let body = axum::body::Bytes::from(form.rules.clone());
    match crate::rules::put(State(state.clone()), caller.clone(), Path(project.clone()), body).await {
        Ok(Json(v)) => done("/rules", &format!("Saved the rules of {}.", v.project_name)),
        Err(e) => {
            let project_id = crate::projects::resolve(&state, &caller, &project).await.map(|p| p.id).unwrap_or(project);
            super::form_failed(&caller, e, |message| show(&state, &caller, message, Some((project_id, form.rules))))
                .await
        }
    }
}
