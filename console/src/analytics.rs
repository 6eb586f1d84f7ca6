//! `GET /v1/analytics/frustration-rate` and `GET /v1/analytics/top-elements`: the charts' data,
//! read from ClickHouse through friction-warehouse's documented queries. 503 with a clear message
//! when ClickHouse is not configured (`CLICKHOUSE_URL`).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use friction_store::Role;
use friction_warehouse::analytics::{self, Bucket, FrustrationRateQuery, TopElementsQuery};
use friction_warehouse::WarehouseError;
use serde::Serialize;

use crate::auth::Caller;
use crate::{ApiError, ConsoleState};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

fn not_configured() -> ApiError {
    ApiError::Unavailable(
        "analytics need ClickHouse, which is not configured: set CLICKHOUSE_URL (see docs/analytics.md)".into(),
    )
}

impl From<WarehouseError> for ApiError {
    fn from(e: WarehouseError) -> Self {
        match e {
            WarehouseError::InvalidQuery(m) => ApiError::BadRequest(m),
            other => ApiError::Unavailable(format!("ClickHouse: {other}")),
        }
    }
}

/// A time parameter: epoch milliseconds or RFC 3339.
fn time_param(name: &str, value: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| ApiError::BadRequest(format!("{name} {value:?} is neither epoch milliseconds nor RFC 3339")))
}

struct Common {
    project_id: String,
    from: i64,
    to: i64,
    route: Option<String>,
}

async fn common(
    state: &ConsoleState,
    caller: &Caller,
    params: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Common, ApiError> {
    if let Some(unknown) = params.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown query parameter {unknown:?} (expected {})",
            allowed.join(", ")
        )));
    }
    crate::incidents::check_params(params)?;
    let get = |k: &str| params.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let project = get("project").ok_or_else(|| ApiError::BadRequest("project is required (its id or name)".into()))?;
    let project_id = crate::projects::resolve(state, caller, project).await?.id;
    let to = get("to").map(|v| time_param("to", v)).transpose()?.unwrap_or_else(friction_runtime::now_ms);
    let from = get("from").map(|v| time_param("from", v)).transpose()?.unwrap_or(to - 7 * DAY_MS);
    Ok(Common { project_id, from, to, route: get("route").map(str::to_owned) })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Series<T> {
    pub project_id: String,
    pub from: i64,
    pub to: i64,
    pub points: Vec<T>,
}

/// `GET /v1/analytics/frustration-rate?project=&route=&from=&to=&bucket=minute|hour|day|week`
#[utoipa::path(get, path = "/v1/analytics/frustration-rate", tag = "analytics",
    params(
        ("project" = String, Query, description = "id or name"),
        ("route" = Option<String>, Query, description = "route template"),
        ("from" = Option<String>, Query, description = "epoch ms or RFC 3339 (default: 7 days before `to`)"),
        ("to" = Option<String>, Query, description = "epoch ms or RFC 3339 (default: now)"),
        ("bucket" = Option<String>, Query, description = "minute, hour, day (default) or week"),
    ),
    responses((status = 200, description = "{projectId, from, to, points}"), (status = 400), (status = 401), (status = 404), (status = 503)))]
pub async fn frustration_rate(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Series<analytics::FrustrationRatePoint>>, ApiError> {
    caller.require(Role::Viewer, "reading analytics")?;
    let c = common(&state, &caller, &params, &["project", "route", "from", "to", "bucket"]).await?;
    let bucket = match params.get("bucket").map(|b| b.trim()).filter(|b| !b.is_empty()) {
        None => Bucket::Day,
        Some("minute") => Bucket::Minute,
        Some("hour") => Bucket::Hour,
        Some("day") => Bucket::Day,
        Some("week") => Bucket::Week,
        Some(other) => {
            return Err(ApiError::BadRequest(format!("bucket {other:?} is not one of minute, hour, day, week")))
        }
    };
    let client = state.clickhouse.as_ref().ok_or_else(not_configured)?;
    let q = FrustrationRateQuery { project_id: c.project_id.clone(), route: c.route, from: c.from, to: c.to, bucket };
    let points = analytics::frustration_rate(client, &q).await?;
    Ok(Json(Series { project_id: c.project_id, from: c.from, to: c.to, points }))
}

/// `GET /v1/analytics/top-elements?project=&route=&kind=&from=&to=&limit=`
#[utoipa::path(get, path = "/v1/analytics/top-elements", tag = "analytics",
    params(
        ("project" = String, Query, description = "id or name"),
        ("route" = Option<String>, Query, description = "route template"),
        ("kind" = Option<String>, Query, description = "signal kind"),
        ("from" = Option<String>, Query, description = "epoch ms or RFC 3339"),
        ("to" = Option<String>, Query, description = "epoch ms or RFC 3339"),
        ("limit" = Option<u32>, Query, description = "default 20, at most 1000"),
    ),
    responses((status = 200, description = "{projectId, from, to, points}"), (status = 400), (status = 401), (status = 404), (status = 503)))]
pub async fn top_elements(
    State(state): State<ConsoleState>,
    caller: Caller,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<Series<analytics::TopElement>>, ApiError> {
    caller.require(Role::Viewer, "reading analytics")?;
    let c = common(&state, &caller, &params, &["project", "route", "kind", "from", "to", "limit"]).await?;
    let limit = params
        .get("limit")
        .map(|l| {
            l.trim().parse::<u32>().map_err(|_| ApiError::BadRequest(format!("limit {l:?} is not a whole number")))
        })
        .transpose()?;
    let kind = params.get("kind").map(|k| k.trim().to_owned()).filter(|k| !k.is_empty());
    let client = state.clickhouse.as_ref().ok_or_else(not_configured)?;
    let q = TopElementsQuery { project_id: c.project_id.clone(), from: c.from, to: c.to, route: c.route, kind, limit };
    let points = analytics::top_elements(client, &q).await?;
    Ok(Json(Series { project_id: c.project_id, from: c.from, to: c.to, points }))
}
