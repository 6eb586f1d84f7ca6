//! `/v1/tokens` (admin): console bearer tokens — list (never the secrets), create with a role, an
//! optional expiry and an optional project scope (one project) (the secret is in the answer once), revoke. An
//! expired or revoked token is refused with 401 from its next request.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use friction_store::{ConsoleToken, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::rfc3339;
use crate::{audit, body, projects, ApiError, ConsoleState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    pub id: String,
    /// `frt_` + 8 hex.
    pub prefix: String,
    /// `viewer`, `engineer` or `admin`.
    pub role: String,
    pub label: Option<String>,
    /// `active`, `revoked` or `expired`.
    pub status: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    pub expires_at: Option<String>,
    /// The one project it may see; `null`: every project.
    pub project_id: Option<String>,
}

impl From<ConsoleToken> for TokenView {
    fn from(t: ConsoleToken) -> Self {
        let status = if t.revoked_at_ms.is_some() {
            "revoked"
        } else if t.is_expired(friction_runtime::now_ms()) {
            "expired"
        } else {
            "active"
        };
        let ConsoleToken { id, prefix, role, label, created_at_ms, revoked_at_ms, project_id, expires_at_ms } = t;
        TokenView {
            id,
            prefix,
            role: role.as_str().to_owned(),
            label,
            status: status.to_owned(),
            created_at: rfc3339(created_at_ms),
            revoked_at: revoked_at_ms.map(rfc3339),
            expires_at: expires_at_ms.map(rfc3339),
            project_id,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// A token just made, with its secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// `frt_` + 64 hex: send as `Authorization: Bearer ...`.
    pub secret: String,
    pub token: TokenView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewToken {
    /// `viewer`, `engineer` or `admin`.
    pub role: String,
    pub label: Option<String>,
    /// RFC 3339 or epoch ms, in the future; absent: never expires.
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<serde_json::Value>,
    /// The one project (id or name) the token may see; absent: every project.
    pub project: Option<String>,
}

/// `GET /v1/tokens`.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 401), (status = 403)))]
pub async fn list(State(state): State<ConsoleState>, caller: Caller) -> Result<Json<TokenList>, ApiError> {
    caller.require(Role::Admin, "listing tokens")?;
    let tokens = state.store.list_console_tokens().await?;
    Ok(Json(TokenList { tokens: tokens.into_iter().map(TokenView::from).collect() }))
}

/// `POST /v1/tokens`: 201 with the secret, shown once.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400), (status = 401), (status = 403), (status = 404)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    audit::require(&state, &caller, Role::Admin, "creating a token", "token.create", "token:*").await?;
    let result = async {
        let new: NewToken = body::json(
            &body,
            r#"{"role": "viewer" | "engineer" | "admin", "label"?: "ci", "expiresAt"?: "2027-01-01T00:00:00Z", "project"?: "shop"}"#,
        )?;
        let role: Role = new.role.trim().parse().map_err(|e| ApiError::BadRequest(format!("role: {e}")))?;
        let now = friction_runtime::now_ms();
        let expires_at = match &new.expires_at {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Number(n)) => {
                Some(n.as_i64().ok_or_else(|| ApiError::BadRequest(format!("expiresAt {n} is not whole epoch milliseconds")))?)
            }
            Some(serde_json::Value::String(s)) => Some(body::time_param("expiresAt", s)?),
            Some(other) => return Err(ApiError::BadRequest(format!("expiresAt {other} is neither RFC 3339 nor epoch ms"))),
        };
        if let Some(at) = expires_at.filter(|at| *at <= now) {
            return Err(ApiError::BadRequest(format!("expiresAt {} is not in the future", rfc3339(at))));
        }
        let scope = match new.project.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(
                projects::resolve(&state, &caller, p).await.map_err(|e| ApiError::BadRequest(format!("project: {e}")))?.id,
            ),
            None => None,
        };
        Ok::<_, ApiError>(
            state.store.create_console_token_with(role, new.label.as_deref(), expires_at, scope.as_deref()).await?,
        )
    }
    .await;
    let resource = result.as_ref().map(|t| format!("token:{}", t.token.id)).unwrap_or_else(|_| "token:*".into());
    let detail = result.as_ref().ok().map(|t| {
        format!(
            "role {}, prefix {}, expires {}, project {}",
            t.token.role,
            t.token.prefix,
            t.token.expires_at_ms.map(rfc3339).unwrap_or_else(|| "never".into()),
            t.token.project_id.as_deref().unwrap_or("all")
        )
    });
    let new = audit::outcome(&state, &caller, "token.create", &resource, detail.as_deref(), result).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { secret: new.secret, token: TokenView::from(new.token) })))
}

/// `POST /v1/tokens/{id}/revoke`: refused from its next request.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens",
    params(("id" = String, Path, description = "the token's id or prefix")),
    responses((status = 200, body = TokenView), (status = 401), (status = 403), (status = 404)))]
pub async fn revoke(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TokenView>, ApiError> {
    let resource = format!("token:{id}");
    audit::require(&state, &caller, Role::Admin, "revoking a token", "token.revoke", &resource).await?;
    let result = state.store.revoke_console_token(&id).await.map_err(ApiError::from);
    let resource = result.as_ref().map(|t| format!("token:{}", t.id)).unwrap_or(resource);
    let token = audit::outcome(&state, &caller, "token.revoke", &resource, None, result).await?;
    Ok(Json(TokenView::from(token)))
}
