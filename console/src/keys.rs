//! `/v1/keys` (admin): list, create (the secret is in the answer once), set a key's allowed
//! origins and rate, revoke. Each change is audited and published to the key topic gateways read
//! ([`crate::KeyPublisher`]): the gateway enforces origins (403) and rate (429) per key.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use friction_store::{ApiKey, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::only_params;
use crate::body::rfc3339;
use crate::{audit, body, projects, ApiError, ConsoleState};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    /// The first 12 characters of the secret (`frk_` + 8 hex).
    pub prefix: String,
    pub project_id: String,
    pub project_name: String,
    pub label: Option<String>,
    /// `active` or `revoked`.
    pub status: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
    /// Origins a browser may send events from with this key; empty: any the gateway allows.
    pub allowed_origins: Vec<String>,
    /// Events per second; `null`: the gateway's default.
    pub rate_limit_per_sec: Option<f64>,
    pub updated_at: Option<String>,
}

impl From<ApiKey> for KeyView {
    fn from(k: ApiKey) -> Self {
        let ApiKey {
            id,
            project_id,
            project_name,
            // Never shown: what the secret hashes to.
            key_hash: _,
            prefix,
            label,
            created_at_ms,
            revoked_at_ms,
            allowed_origins,
            rate_limit_per_sec,
            updated_at_ms,
        } = k;
        KeyView {
            id,
            prefix,
            project_id,
            project_name,
            label,
            status: if revoked_at_ms.is_some() { "revoked" } else { "active" }.to_owned(),
            created_at: rfc3339(created_at_ms),
            revoked_at: revoked_at_ms.map(rfc3339),
            allowed_origins,
            rate_limit_per_sec,
            updated_at: updated_at_ms.map(rfc3339),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

/// A key just made, with its secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// `frk_` + 64 hex; stored only as SHA-256.
    pub secret: String,
    pub key: KeyView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewKey {
    /// The project's id or name.
    pub project: String,
    pub label: Option<String>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    pub rate_limit_per_sec: Option<f64>,
}

/// `PATCH` body: each field given replaces the key's; `rateLimitPerSec: null` returns to the
/// gateway's default.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KeyLimits {
    pub allowed_origins: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    pub rate_limit_per_sec: Option<Option<f64>>,
}

/// A field that is present (even `null`) is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// The key `id` (or prefix), if the caller may see its project.
async fn visible_key(state: &ConsoleState, caller: &Caller, id: &str) -> Result<ApiKey, ApiError> {
    let not_found = || ApiError::NotFound(format!("API key {id:?} not found (give the key's id or its prefix)"));
    let key = match state.store.api_key_by_id(id).await? {
        Some(k) => k,
        None => state.store.list_api_keys(None).await?.into_iter().find(|k| k.prefix == id).ok_or_else(not_found)?,
    };
    if caller.may_see(&key.project_id) {
        Ok(key)
    } else {
        Err(not_found())
    }
}

/// Publishes the key's record to gateways; 503 (the change is saved) when the broker refuses.
async fn publish(state: &ConsoleState, key: &ApiKey) -> Result<(), ApiError> {
    match &state.key_publisher {
        Some(publisher) => publisher.publish(key).await.map_err(|e| {
            ApiError::Unavailable(format!(
                "the change is saved but gateways have not seen it ({e}); run `friction keys sync` or send the request again"
            ))
        }),
        None => Ok(()),
    }
}

/// `GET /v1/keys?project=`: keys (never their secrets), revoked ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    params(("project" = Option<String>, Query, description = "id or name: only this project's keys")),
    responses((status = 200, body = KeyList), (status = 401), (status = 403), (status = 404)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<KeyList>, ApiError> {
    caller.require(Role::Admin, "listing API keys")?;
    only_params(&params, &["project"])?;
    let project = match params.get("project").map(|p| p.trim()).filter(|p| !p.is_empty()) {
        Some(p) => Some(projects::resolve(&state, &caller, p).await?),
        None => None,
    };
    let keys = state.store.list_api_keys(project.as_ref().map(|p| p.name.as_str())).await?;
    Ok(Json(KeyList { keys: keys.into_iter().filter(|k| caller.may_see(&k.project_id)).map(KeyView::from).collect() }))
}

/// `POST /v1/keys`: 201 with the secret, shown once.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKey,
    responses((status = 201, body = CreatedKey), (status = 400), (status = 401), (status = 403), (status = 404), (status = 503)))]
pub async fn create(
    State(state): State<ConsoleState>,
    caller: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    audit::require(&state, &caller, Role::Admin, "creating an API key", "key.create", "key:*").await?;
    let result = async {
        let new: NewKey = body::json(
            &body,
            r#"{"project": "shop", "label"?: "web", "allowedOrigins"?: ["https://shop.example"], "rateLimitPerSec"?: 100}"#,
        )?;
        let project = projects::resolve(&state, &caller, new.project.trim()).await?;
        // Checked before the key exists, so a bad value makes no key.
        friction_store::validate_origins(&new.allowed_origins)?;
        friction_store::validate_rate(new.rate_limit_per_sec)?;
        let created = state.store.create_api_key(&project.name, new.label.as_deref()).await?;
        let key = if new.allowed_origins.is_empty() && new.rate_limit_per_sec.is_none() {
            created.key
        } else {
            state.store.set_api_key_limits(&created.key.id, &new.allowed_origins, new.rate_limit_per_sec).await?
        };
        Ok::<_, ApiError>((created.secret, key))
    }
    .await;
    let resource = result.as_ref().map(|(_, k)| format!("key:{}", k.id)).unwrap_or_else(|_| "key:*".into());
    let detail = result
        .as_ref()
        .ok()
        .map(|(_, k)| format!("project {} ({}), prefix {}", k.project_name, k.project_id, k.prefix));
    let (secret, key) = audit::outcome(&state, &caller, "key.create", &resource, detail.as_deref(), result).await?;
    publish(&state, &key).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { secret, key: KeyView::from(key) })))
}

/// `PATCH /v1/keys/{id}` with `{"allowedOrigins"?, "rateLimitPerSec"?}`: what the gateway enforces.
#[utoipa::path(patch, path = "/v1/keys/{id}", tag = "keys", request_body = KeyLimits,
    params(("id" = String, Path, description = "the key's id or prefix")),
    responses((status = 200, body = KeyView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 503)))]
pub async fn update(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<KeyView>, ApiError> {
    let resource = format!("key:{id}");
    audit::require(&state, &caller, Role::Admin, "changing an API key", "key.update", &resource).await?;
    let result = async {
        let limits: KeyLimits =
            body::json(&body, r#"{"allowedOrigins"?: ["https://shop.example"], "rateLimitPerSec"?: 100 | null}"#)?;
        let key = visible_key(&state, &caller, &id).await?;
        let origins = limits.allowed_origins.unwrap_or_else(|| key.allowed_origins.clone());
        let rate = limits.rate_limit_per_sec.unwrap_or(key.rate_limit_per_sec);
        Ok::<_, ApiError>(state.store.set_api_key_limits(&key.id, &origins, rate).await?)
    }
    .await;
    let resource = result.as_ref().map(|k| format!("key:{}", k.id)).unwrap_or(resource);
    let detail = result.as_ref().ok().map(|k| {
        format!(
            "allowed origins [{}], rate {}",
            k.allowed_origins.join(", "),
            k.rate_limit_per_sec.map(|r| format!("{r}/s")).unwrap_or_else(|| "default".into())
        )
    });
    let key = audit::outcome(&state, &caller, "key.update", &resource, detail.as_deref(), result).await?;
    publish(&state, &key).await?;
    Ok(Json(KeyView::from(key)))
}

/// `POST /v1/keys/{id}/revoke`: gateways refuse the key once they read the record (seconds).
#[utoipa::path(post, path = "/v1/keys/{id}/revoke", tag = "keys",
    params(("id" = String, Path, description = "the key's id or prefix")),
    responses((status = 200, body = KeyView), (status = 401), (status = 403), (status = 404), (status = 503)))]
pub async fn revoke(
    State(state): State<ConsoleState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let resource = format!("key:{id}");
    audit::require(&state, &caller, Role::Admin, "revoking an API key", "key.revoke", &resource).await?;
    let result = async {
        let key = visible_key(&state, &caller, &id).await?;
        Ok::<_, ApiError>(state.store.revoke_api_key(&key.id).await?)
    }
    .await;
    let resource = result.as_ref().map(|k| format!("key:{}", k.id)).unwrap_or(resource);
    let detail =
        result.as_ref().ok().map(|k| format!("project {} ({}), prefix {}", k.project_name, k.project_id, k.prefix));
    let key = audit::outcome(&state, &caller, "key.revoke", &resource, detail.as_deref(), result).await?;
    publish(&state, &key).await?;
    Ok(Json(KeyView::from(key)))
}
