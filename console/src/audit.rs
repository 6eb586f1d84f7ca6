//! The audit log: every write through the API is recorded (actor, action, resource, outcome, IP,
//! time; refused attempts too) by [`record`] and [`require`], and admins read it at
//! `GET /v1/audit` with filters and pages (docs/console.md "Audit log").

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use friction_store::{AuditEntry, AuditFilter, Role};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::body::rfc3339;
use crate::body::{only_params, time_param};
use crate::{ApiError, ConsoleState};

/// Writes one audit row for `caller`; a failure to write is logged, never turned into an answer.
pub(crate) async fn record(
    state: &ConsoleState,
    caller: &Caller,
    action: &str,
    resource: &str,
    success: bool,
    detail: Option<&str>,
) {
    if let Err(e) = state.store.audit(&caller.actor(), action, resource, success, caller.ip.as_deref(), detail).await {
        tracing::warn!(error = %e, action, resource, "could not write the audit log");
    }
}

/// [`Caller::require`], with a refusal audited as a failed `action` on `resource`.
pub(crate) async fn require(
    state: &ConsoleState,
    caller: &Caller,
    role: Role,
    what: &str,
    action: &str,
    resource: &str,
) -> Result<(), ApiError> {
    if let Err(e) = caller.require(role, what) {
        record(state, caller, action, resource, false, Some(&e.to_string())).await;
        return Err(e);
    }
    Ok(())
}

/// Audits `result` of `action` on `resource` (the error's message as the detail of a failure)
/// and passes it on.
pub(crate) async fn outcome<T>(
    state: &ConsoleState,
    caller: &Caller,
    action: &str,
    resource: &str,
    detail: Option<&str>,
    result: Result<T, ApiError>,
) -> Result<T, ApiError> {
    match &result {
        Ok(_) => record(state, caller, action, resource, true, detail).await,
        Err(e) => record(state, caller, action, resource, false, Some(&e.to_string())).await,
    }
    result
}

/// One audit row as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditView {
    pub id: String,
    /// RFC 3339.
    pub at: String,
    /// `token:<id>`, `cli`, `friction up`, `anonymous` (a refused unknown token).
    pub actor: String,
    /// `key.create`, `integration.test`, `incident.update`, `auth.token`, ...
    pub action: String,
    /// `key:<id>`, `integration:<id>`, `project:<id>`, ...
    pub resource: String,
    /// `success` or `failure`.
    pub outcome: String,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(a: AuditEntry) -> Self {
        let AuditEntry { id, at_ms, actor, action, resource, success, ip, detail } = a;
        AuditView {
            id,
            at: rfc3339(at_ms),
            actor,
            action,
            resource,
            outcome: if success { "success" } else { "failure" }.to_owned(),
            ip,
            detail,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditPage {
    pub entries: Vec<AuditView>,
    /// Give it as `cursor` for the next (older) page; `null` on the last page.
    pub next_cursor: Option<String>,
}

const PARAMS: &[&str] = &["actor", "action", "resource", "outcome", "from", "to", "limit", "cursor"];
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

fn decode_cursor(text: &str) -> Result<(i64, String), ApiError> {
    let bad = || ApiError::BadRequest(format!("cursor {text:?} is not one this API returned"));
    let raw = String::from_utf8(hex::decode(text).map_err(|_| bad())?).map_err(|_| bad())?;
    let (at, id) = raw.split_once('|').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

/// `GET /v1/audit`: the audit log, newest first (admin).
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(
        ("actor" = Option<String>, Query, description = "exact actor, e.g. `token:1a2b...` or `cli`"),
        ("action" = Option<String>, Query, description = "exact action, e.g. `key.create`"),
        ("resource" = Option<String>, Query, description = "exact resource, e.g. `integration:9f...`"),
        ("outcome" = Option<String>, Query, description = "`success` or `failure`"),
        ("from" = Option<String>, Query, description = "epoch ms or RFC 3339, inclusive"),
        ("to" = Option<String>, Query, description = "epoch ms or RFC 3339, exclusive"),
        ("limit" = Option<u32>, Query, description = "1-1000, default 100"),
        ("cursor" = Option<String>, Query, description = "`nextCursor` of the previous page"),
    ),
    responses((status = 200, body = AuditPage), (status = 400), (status = 401), (status = 403)))]
pub async fn list(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<AuditPage>, ApiError> {
    caller.require(Role::Admin, "reading the audit log")?;
    only_params(&params, PARAMS)?;
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let success = match get("outcome") {
        None => None,
        Some("success") => Some(true),
        Some("failure") => Some(false),
        Some(other) => {
            return Err(ApiError::BadRequest(format!("outcome {other:?} is not one of success, failure")));
        }
    };
    let limit = crate::body::limit(get("limit"), DEFAULT_LIMIT, MAX_LIMIT)?;
    let filter = AuditFilter {
        actor: get("actor").map(str::to_owned),
        action: get("action").map(str::to_owned),
        resource: get("resource").map(str::to_owned),
        success,
        from_ms: get("from").map(|v| time_param("from", v)).transpose()?,
        to_ms: get("to").map(|v| time_param("to", v)).transpose()?,
        before: get("cursor").map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let mut entries = state.store.audit_query(&filter).await?;
    let next_cursor = if entries.len() > limit as usize {
        entries.truncate(limit as usize);
        entries.last().map(|e| hex::encode(format!("{}|{}", e.at_ms, e.id)))
    } else {
        None
    };
    Ok(Json(AuditPage { entries: entries.into_iter().map(AuditView::from).collect(), next_cursor }))
}
