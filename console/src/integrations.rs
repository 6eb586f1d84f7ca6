//! `/v1/integrations` (admin): where tickets go — list (with the breaker and the last error),
//! create Jira / Linear / GitHub / webhook with the secret encrypted by the master key
//! (`FRICTION_MASTER_KEY`, like `friction integrations add`), enable / disable, delete, and
//! `POST /v1/integrations/{id}/test`: one read-only call to the target's "who am I" through the
//! exporter's client (docs/exporter.md), answered as `{ok, status, message}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use friction_exporter::integration::{
    add_integration, close_breaker, delete_integration, integration, list_integrations, set_enabled,
};
use friction_exporter::{Integration, IntegrationConfig, Kind, MasterKey, NewIntegration, RegressionPolicy, Secret};
use friction_store::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::{audit, body, projects, ApiError, ConsoleState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub id: String,
    pub name: String,
    /// `jira`, `linear`, `github` or `webhook`.
    pub kind: String,
    /// Only this project's incidents; `null`: every project.
    pub project_id: Option<String>,
    /// Only these incident kinds; empty: all.
    pub kinds: Vec<String>,
    pub min_severity: f64,
    /// Non-secret settings (base URL, project key, team, repository, policies).
    #[schema(value_type = Object)]
    pub config: IntegrationConfig,
    pub enabled: bool,
    /// `closed`, `cooling` or `open` (docs/exporter.md "Circuit breaker").
    pub breaker: String,
    /// Why the breaker is open (a configuration error), or the last transient failure.
    pub last_error: Option<String>,
    /// Transient failures in a row.
    pub failures: u32,
}

impl From<Integration> for IntegrationView {
    fn from(i: Integration) -> Self {
        IntegrationView {
            breaker: i.health.breaker.as_str().to_owned(),
            last_error: i.breaker_reason.clone().or(i.last_error.clone()),
            failures: i.health.failures,
            id: i.id,
            name: i.name,
            kind: i.kind.as_str().to_owned(),
            project_id: i.project_id,
            kinds: i.kinds,
            min_severity: i.min_severity,
            config: i.config,
            enabled: i.enabled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IntegrationList {
    pub integrations: Vec<IntegrationView>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewIntegrationBody {
    pub name: String,
    /// `jira`, `linear`, `github` or `webhook`.
    pub kind: String,
    /// Jira site, Linear API, GitHub API base URL, or the webhook endpoint (http or https).
    pub url: String,
    /// The API token (Jira), API key (Linear), token (GitHub) or signing secret (`whsec_...`).
    pub secret: String,
    /// Jira: the account e-mail of the API token.
    pub email: Option<String>,
    /// Jira: project key and issue type id; the transition that reopens an issue.
    pub project_key: Option<String>,
    pub issue_type_id: Option<String>,
    pub reopen_transition_id: Option<String>,
    /// Linear: team id; the workflow state a regressed issue moves back to.
    pub team_id: Option<String>,
    pub reopen_state_id: Option<String>,
    /// GitHub: `owner/name`.
    pub repo: Option<String>,
    /// Only incidents of this project (id or name).
    pub project: Option<String>,
    #[serde(default)]
    pub kinds: Vec<String>,
    #[serde(default)]
    pub min_severity: f64,
    /// `reopen` (default) or `new_generation`.
    pub regression: Option<String>,
    /// Webhooks: allow private and loopback addresses (local receivers only).
    #[serde(default)]
    pub allow_private_network: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    /// Enabling also closes the breaker; disabling stops every call.
    pub enabled: bool,
}

/// The result of "test connection".
#[derive(Debug, Serialize, ToSchema)]
pub struct TestResult {
    pub ok: bool,
    /// The HTTP status of a refusal; `null` on success or when the target did not answer.
    pub status: Option<u16>,
    /// What was checked (`authenticated as ...`), or the class and scrubbed reason of the failure.
    pub message: String,
}

fn master_key(state: &ConsoleState) -> Result<&MasterKey, ApiError> {
    state.master_key.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "integration secrets need FRICTION_MASTER_KEY (32 bytes, hex or base64), which this console does not have"
                .into(),
        )
    })
}

/// The integration `id` (or name), if the caller may see its project.
async fn visible(state: &ConsoleState, caller: &Caller, id: &str) -> Result<Integration, ApiError> {
    match integration(&state.store, id).await? {
        Some(i) if i.project_id.as_deref().is_none_or(|p| caller.may_see(p)) => Ok(i),
        _ => Err(ApiError::NotFound(format!("integration {id:?} not found (give its id or name)"))),
    }
}

fn required<'a>(value: &'a Option<String>, field: &str, kind: Kind) -> Result<&'a str, ApiError> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::BadRequest(format!("{field} is required for a {} integration", kind.as_str())))
}

/// Checks a creation body and turns it into what the exporter stores.
async fn to_new(state: &ConsoleState, caller: &Caller, b: NewIntegrationBody) -> Result<NewIntegration, ApiError> {
    let kind = Kind::parse(b.kind.trim()).map_err(|e| ApiError::BadRequest(format!("kind: {e}")))?;
    if b.name.trim().is_empty() || b.name.chars().count() > 100 || b.name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest("name: 1 to 100 characters, no control characters".into()));
    }
    let url = b.url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() > 2000 {
        return Err(ApiError::BadRequest(format!("url {url:?} must be an http or https URL")));
    }
    if b.secret.trim().is_empty() {
        return Err(ApiError::BadRequest("secret is required (the token, API key or signing secret)".into()));
    }
    match kind {
        Kind::Jira => {
            required(&b.email, "email", kind)?;
            required(&b.project_key, "projectKey", kind)?;
            required(&b.issue_type_id, "issueTypeId", kind)?;
        }
        Kind::Linear => {
            required(&b.team_id, "teamId", kind)?;
        }
        Kind::Github => {
            let repo = required(&b.repo, "repo", kind)?;
            if repo.split('/').filter(|p| !p.is_empty()).count() != 2 {
                return Err(ApiError::BadRequest(format!("repo {repo:?} must be owner/name")));
            }
        }
        Kind::Webhook => {}
    }
    if let Some(bad) = b.kinds.iter().find(|k| !friction_incidents::KINDS.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "kinds: {bad:?} is unknown (expected some of {})",
            friction_incidents::KINDS.join(", ")
        )));
    }
    if !b.min_severity.is_finite() || b.min_severity < 0.0 {
        return Err(ApiError::BadRequest(format!("minSeverity {} must be a number from 0", b.min_severity)));
    }
    let regression = match b.regression.as_deref().map(str::trim) {
        None | Some("reopen") => RegressionPolicy::Reopen,
        Some("new_generation") => RegressionPolicy::NewGeneration,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("regression {other:?} is not one of reopen, new_generation")))
        }
    };
    let project_id = match b.project.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(
            projects::resolve(state, caller, p).await.map_err(|e| ApiError::BadRequest(format!("project: {e}")))?.id,
        ),
        None => None,
    };
    let trimmed = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let config = IntegrationConfig {
        base_url: url.to_owned(),
        email: trimmed(b.email),
        project_key: trimmed(b.project_key),
        issue_type_id: trimmed(b.issue_type_id),
        reopen_transition_id: trimmed(b.reopen_transition_id),
        team_id: trimmed(b.team_id),
        reopen_state_id: trimmed(b.reopen_state_id),
        repo: trimmed(b.repo),
        regression,
        allow_private_network: b.allow_private_network,
        ..Default::default()
    };
    Ok(NewIntegration {
        name: b.name.trim().to_owned(),
        kind,
        project_id,
        kinds: b.kinds,
        min_severity: b.min_severity,
        config,
        secret: Secret::new(b.secret.trim()),
    })
}

/// `GET /v1/integrations`.
#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, body = IntegrationList), (status = 401), (status = 403)))]
pub async fn list(State(state): State<ConsoleState>, caller: Caller) -> Result<Json<IntegrationList>, ApiError> {
    caller.require(Role::Admin, "listing integrations")?;
    let all = list_integrations(&state.store).await?;
    Ok(Json(IntegrationList {
        integrations: all
            .into_iter()
            .filter(|i| i.project_id.as_deref().is_none_or(|p| caller.may_see(p)))
            .map(IntegrationView::from)
            .collect(),
    }))
}

/// `GET /v1/integrations/{id}`.
#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = IntegrationView), (status = 401), (status = 403), (status = 404)))]
pub async fn get(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    caller.require(Role::Admin, "reading an integration")?;
    Ok(Json(IntegrationView::from(visible(&state, &caller, &id).await?)))
}

/// `POST /v1/integrations`: 201; the secret is encrypted and never shown again.
#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = NewIntegrationBody,
    responses((status = 201, body = IntegrationView), (status = 400), (status = 401), (status = 403), (status = 503)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<IntegrationView>), ApiError> {
    audit::require(&state, &caller, Role::Admin, "adding an integration", "integration.add", "integration:*").await?;
    let result = async {
        let b: NewIntegrationBody = body::json(
            &body,
            r#"{"name", "kind": "jira" | "linear" | "github" | "webhook", "url", "secret", ...kind's fields}"#,
        )?;
        let key = master_key(&state)?;
        let new = to_new(&state, &caller, b).await?;
        if integration(&state.store, &new.name).await?.is_some() {
            return Err(ApiError::Conflict(format!("an integration named {:?} already exists", new.name)));
        }
        Ok(add_integration(&state.store, key, &new).await?)
    }
    .await;
    let resource = result.as_ref().map(|i| format!("integration:{}", i.id)).unwrap_or_else(|_| "integration:*".into());
    let detail = result.as_ref().ok().map(|i| format!("{} {} ({})", i.kind.as_str(), i.name, i.config.base_url));
    let added = audit::outcome(&state, &caller, "integration.add", &resource, detail.as_deref(), result).await?;
    Ok((StatusCode::CREATED, Json(IntegrationView::from(added))))
}

/// `PATCH /v1/integrations/{id}` with `{"enabled": true | false}`.
#[utoipa::path(patch, path = "/v1/integrations/{id}", tag = "integrations", request_body = IntegrationPatch,
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = IntegrationView), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn update(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<IntegrationView>, ApiError> {
    let resource = format!("integration:{id}");
    audit::require(&state, &caller, Role::Admin, "changing an integration", "integration.update", &resource).await?;
    let mut action = "integration.update";
    let result = async {
        let patch: IntegrationPatch = body::json(&body, r#"{"enabled": true | false}"#)?;
        action = if patch.enabled { "integration.enable" } else { "integration.disable" };
        let found = visible(&state, &caller, &id).await?;
        set_enabled(&state.store, &found.id, patch.enabled).await?;
        visible(&state, &caller, &found.id).await
    }
    .await;
    let resource = result.as_ref().map(|i| format!("integration:{}", i.id)).unwrap_or(resource);
    let updated = audit::outcome(&state, &caller, action, &resource, None, result).await?;
    Ok(Json(IntegrationView::from(updated)))
}

/// `DELETE /v1/integrations/{id}`: 204. Its ledger rows stay (history); no call is made for it again.
#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 204), (status = 401), (status = 403), (status = 404)))]
pub async fn delete(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let resource = format!("integration:{id}");
    audit::require(&state, &caller, Role::Admin, "deleting an integration", "integration.delete", &resource).await?;
    let result = async {
        let found = visible(&state, &caller, &id).await?;
        delete_integration(&state.store, &found.id).await?;
        Ok::<_, ApiError>(found)
    }
    .await;
    let resource = result.as_ref().map(|i| format!("integration:{}", i.id)).unwrap_or(resource);
    let detail = result.as_ref().ok().map(|i| format!("{} {}", i.kind.as_str(), i.name));
    audit::outcome(&state, &caller, "integration.delete", &resource, detail.as_deref(), result).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/integrations/{id}/test`: one real, read-only call to the target (no ticket is made);
/// success closes the breaker, like `friction integrations test`. 200 either way: the result says.
#[utoipa::path(post, path = "/v1/integrations/{id}/test", tag = "integrations",
    params(("id" = String, Path, description = "id or name")),
    responses((status = 200, body = TestResult), (status = 401), (status = 403), (status = 404), (status = 503)))]
pub async fn test(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TestResult>, ApiError> {
    let resource = format!("integration:{id}");
    audit::require(&state, &caller, Role::Admin, "testing an integration", "integration.test", &resource).await?;
    let found = match async {
        let key = master_key(&state)?.clone();
        Ok::<_, ApiError>((visible(&state, &caller, &id).await?, key))
    }
    .await
    {
        Ok(found) => found,
        Err(e) => return audit::outcome(&state, &caller, "integration.test", &resource, None, Err(e)).await,
    };
    let (found, key) = found;
    let resource = format!("integration:{}", found.id);
    let outcome = friction_exporter::test_integration(&found, &key).await;
    if outcome.ok {
        close_breaker(&state.store, &found.id).await?;
    }
    audit::record(&state, &caller, "integration.test", &resource, outcome.ok, Some(&outcome.message)).await;
    Ok(Json(TestResult { ok: outcome.ok, status: outcome.status, message: outcome.message }))
}
