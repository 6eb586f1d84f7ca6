//! `GET /v1/rules`, `GET /v1/rules/{project}`, `PUT /v1/rules/{project}` (engineer): a project's
//! rule thresholds as a JSON object of detection rule fields (docs/detection.md
//! "Configuration"), validated with the rules crate's own parser and checks (`RuleConfig`,
//! `Rules::new`: unknown fields and bad values are refused, naming the field) before it is saved
//! in the store.
//!
//! The detector reads its thresholds from its rules file (`--rules-file`, docs/operators.md); the
//! saved documents are what that file's `projects:` entries should hold. Making the detector read
//! them from the store is not done yet (docs/console.md "Rules").

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::Json;
use friction_rules::{RuleConfig, Rules};
use friction_store::{ProjectRules, Role};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::rfc3339;
use crate::{audit, projects, ApiError, ConsoleState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RulesView {
    pub project_id: String,
    pub project_name: String,
    /// The saved overrides (`{}` when none were saved).
    #[schema(value_type = Object)]
    pub rules: serde_json::Value,
    /// Every field, the overrides applied over the documented defaults.
    #[schema(value_type = Object)]
    pub effective: serde_json::Value,
    pub updated_at: Option<String>,
    pub updated_by: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulesList {
    pub rules: Vec<RulesView>,
}

/// Parses and checks a rules document: a JSON object of `RuleConfig` fields; the error names the field.
fn validate(text: &[u8]) -> Result<(serde_json::Value, RuleConfig), ApiError> {
    let value: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| ApiError::BadRequest(format!("body: {e} (expected a JSON object)")))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest("body: a JSON object of rule fields, e.g. {\"rage_min_clicks\": 4}".into()));
    }
    let config: RuleConfig =
        serde_json::from_value(value.clone()).map_err(|e| ApiError::BadRequest(format!("rules: {e}")))?;
    let rules = Rules::new(config).map_err(|e| ApiError::BadRequest(format!("rules: {e}")))?;
    Ok((value, rules.config().clone()))
}

fn view(project: &friction_store::Project, saved: Option<ProjectRules>) -> Result<RulesView, ApiError> {
    let rules = match &saved {
        Some(s) => serde_json::from_str(&s.rules_json).map_err(|e| ApiError::Internal(format!("stored rules: {e}")))?,
        None => serde_json::json!({}),
    };
    let config: RuleConfig = serde_json::from_value(rules.clone()).unwrap_or_default();
    let effective = serde_json::to_value(config).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(RulesView {
        project_id: project.id.clone(),
        project_name: project.name.clone(),
        rules,
        effective,
        updated_at: saved.as_ref().map(|s| rfc3339(s.updated_at_ms)),
        updated_by: saved.map(|s| s.updated_by),
    })
}

/// `GET /v1/rules`: every visible project's rules.
#[utoipa::path(get, path = "/v1/rules", tag = "rules",
    responses((status = 200, body = RulesList), (status = 401)))]
pub async fn list(State(state): State<ConsoleState>, caller: Caller) -> Result<Json<RulesList>, ApiError> {
    caller.require(Role::Viewer, "reading rules")?;
    let mut out = Vec::new();
    for project in state.store.list_projects().await?.into_iter().filter(|p| caller.may_see(&p.id)) {
        let saved = state.store.project_rules(&project.id).await?;
        out.push(view(&project, saved)?);
    }
    Ok(Json(RulesList { rules: out }))
}

/// `GET /v1/rules/{project}`.
#[utoipa::path(get, path = "/v1/rules/{project}", tag = "rules",
    params(("project" = String, Path, description = "id or name")),
    responses((status = 200, body = RulesView), (status = 401), (status = 404)))]
pub async fn get(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(project): Path<String>,
) -> Result<Json<RulesView>, ApiError> {
    caller.require(Role::Viewer, "reading rules")?;
    let project = projects::resolve(&state, &caller, &project).await?;
    let saved = state.store.project_rules(&project.id).await?;
    Ok(Json(view(&project, saved)?))
}

/// `PUT /v1/rules/{project}` with a JSON object of rule fields (replaces the saved one).
#[utoipa::path(put, path = "/v1/rules/{project}", tag = "rules",
    params(("project" = String, Path, description = "id or name")),
    request_body(content = Object, description = "rule fields, e.g. {\"rage_min_clicks\": 4, \"dead_window_ms\": 5000}"),
    responses((status = 200, body = RulesView), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn put(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(project): Path<String>,
    body: Bytes,
) -> Result<Json<RulesView>, ApiError> {
    let resource = format!("rules:{project}");
    audit::require(&state, &caller, Role::Engineer, "changing rules", "rules.update", &resource).await?;
    let result = async {
        let project = projects::resolve(&state, &caller, &project).await?;
        let (value, _) = validate(&body)?;
        let saved = state.store.set_project_rules(&project.id, &value.to_string(), &caller.actor()).await?;
        view(&project, Some(saved))
    }
    .await;
    let resource = result.as_ref().map(|v| format!("rules:{}", v.project_id)).unwrap_or(resource);
    let detail = result.as_ref().ok().map(|v| v.rules.to_string());
    Ok(Json(audit::outcome(&state, &caller, "rules.update", &resource, detail.as_deref(), result).await?))
}
