//! Typed analytics queries over the warehouse tables, for the console's charts
//! (`GET /v1/analytics/frustration-rate`, `GET /v1/analytics/top-elements`). Parameters deserialize
//! from camelCase (a query string or JSON) and results serialize as camelCase JSON.
//!
//! Every query counts with `uniqExact` over ids, so a batch inserted twice (before ClickHouse
//! merges the repeat away) changes no answer.
//!
//! Only live signals count: the newest version of each signal id, unless that version is
//! retracted (docs/architecture.md §4 "Time: decide early, settle later"). [`LIVE_SIGNALS`] keeps
//! the rows whose `(signal_id, version)` is its id's newest, then drops retracted ones. It does not
//! wait for merges nor read `FINAL`: until parts merge every version is a row, and a
//! `retracted = 0` filter beside `FINAL` may run (as `PREWHERE`) before the collapse on older
//! ClickHouse, which would let a retracted id's previous version through.

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::WarehouseError;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
/// 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC, four days later.
const WEEK_OFFSET_MS: i64 = 4 * DAY_MS;

/// Width of one point of a time series. Buckets are aligned to UTC (weeks start on Monday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Minute,
    Hour,
    #[default]
    Day,
    Week,
}

impl Bucket {
    /// (width, offset) in ms: a time `t` falls in the bucket starting at
    /// `(t - offset) / width * width + offset`.
    pub fn width_and_offset(self) -> (i64, i64) {
        match self {
            Bucket::Minute => (MINUTE_MS, 0),
            Bucket::Hour => (HOUR_MS, 0),
            Bucket::Day => (DAY_MS, 0),
            Bucket::Week => (7 * DAY_MS, WEEK_OFFSET_MS),
        }
    }

    /// The SQL expression of the bucket start (epoch ms) of the epoch-ms column `column`.
    fn sql(self, column: &str) -> String {
        let (w, o) = self.width_and_offset();
        format!("toInt64(intDiv({column} - {o}, {w}) * {w} + {o})")
    }
}

/// The filter that keeps only live signal rows, appended to a `WHERE` over `signals` that already
/// restricts `project_id`; binds the project id once more. The range filters of the queries
/// below apply to the rows it keeps, so a signal counts where its newest version puts it.
pub const LIVE_SIGNALS: &str = " AND (signal_id, version) IN \
     (SELECT signal_id, max(version) FROM signals WHERE project_id = ? GROUP BY signal_id) \
     AND retracted = 0";

/// Most points a frustration-rate query may return (buckets × routes).
pub const MAX_POINTS: usize = 100_000;
/// Most buckets a frustration-rate query may span.
pub const MAX_BUCKETS: i64 = 10_000;

/// `GET /v1/analytics/frustration-rate?route=&from=&to=&bucket=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrustrationRateQuery {
    pub project_id: String,
    /// A route template (`/product/:id`); every route when absent.
    #[serde(default)]
    pub route: Option<String>,
    /// Start of the range, epoch ms, inclusive.
    pub from: i64,
    /// End of the range, epoch ms, exclusive.
    pub to: i64,
    #[serde(default)]
    pub bucket: Bucket,
}

/// One bucket of one route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrustrationRatePoint {
    /// Bucket start, epoch ms (UTC).
    pub bucket_start: i64,
    pub route: String,
    /// Sessions with at least one event on the route in the bucket.
    pub sessions: u64,
    /// Of those, sessions with at least one frustration signal on the route in the bucket.
    pub frustrated_sessions: u64,
    /// Distinct live signals on the route in the bucket.
    pub signals: u64,
    /// `frustratedSessions / sessions` (0 when there are no sessions).
    pub rate: f64,
}

#[derive(Debug, Row, Deserialize)]
struct RateRow {
    bucket: i64,
    route: String,
    sessions: u64,
    frustrated: u64,
    signals: u64,
}

fn check_range(from: i64, to: i64) -> Result<(), WarehouseError> {
    if to <= from {
        return Err(WarehouseError::InvalidQuery(format!("`to` ({to}) must be after `from` ({from})")));
    }
    Ok(())
}

/// Frustration rate per route template and time bucket: of the sessions that were on a route in a
/// bucket, the share that met at least one frustration signal there. Ordered by bucket, then route.
pub async fn frustration_rate(
    client: &Client,
    q: &FrustrationRateQuery,
) -> Result<Vec<FrustrationRatePoint>, WarehouseError> {
    check_range(q.from, q.to)?;
    let (w, _) = q.bucket.width_and_offset();
    let buckets = (q.to - q.from) / w + 1;
    if buckets > MAX_BUCKETS {
        return Err(WarehouseError::InvalidQuery(format!(
            "{buckets} buckets of {:?} between `from` and `to`; at most {MAX_BUCKETS}: use a wider bucket",
            q.bucket
        )));
    }
    let route_filter = if q.route.is_some() { " AND route_template = ?" } else { "" };
    let sql = format!(
        "SELECT bucket, route, sessions, frustrated, signals FROM \
         (SELECT {eb} AS bucket, route_template AS route, uniqExact(session_id) AS sessions \
          FROM events WHERE project_id = ? AND timestamp_ms >= ? AND timestamp_ms < ? AND route_template != ''{route_filter} \
          GROUP BY bucket, route) \
         ANY LEFT JOIN \
         (SELECT {sb} AS bucket, route_template AS route, uniqExact(session_id) AS frustrated, uniqExact(signal_id) AS signals \
          FROM signals WHERE project_id = ? AND start_ms >= ? AND start_ms < ?{route_filter}{LIVE_SIGNALS} \
          GROUP BY bucket, route) \
         USING (bucket, route) \
         ORDER BY bucket, route LIMIT {limit}",
        eb = q.bucket.sql("timestamp_ms"),
        sb = q.bucket.sql("start_ms"),
        limit = MAX_POINTS,
    );
    let mut query = client.query(&sql).bind(q.project_id.as_str()).bind(q.from).bind(q.to);
    if let Some(route) = &q.route {
        query = query.bind(route.as_str());
    }
    query = query.bind(q.project_id.as_str()).bind(q.from).bind(q.to);
    if let Some(route) = &q.route {
        query = query.bind(route.as_str());
    }
    query = query.bind(q.project_id.as_str());
    let rows: Vec<RateRow> =
        query.fetch_all().await.map_err(|e| WarehouseError::clickhouse("frustration rate query", e))?;
    Ok(rows
        .into_iter()
        .map(|r| FrustrationRatePoint {
            bucket_start: r.bucket,
            route: r.route,
            sessions: r.sessions,
            frustrated_sessions: r.frustrated,
            signals: r.signals,
            rate: if r.sessions == 0 { 0.0 } else { r.frustrated as f64 / r.sessions as f64 },
        })
        .collect())
}

/// Default and largest `limit` of [`top_elements`].
pub const DEFAULT_TOP_ELEMENTS: u32 = 20;
pub const MAX_TOP_ELEMENTS: u32 = 1_000;

/// `GET /v1/analytics/top-elements?from=&to=&route=&kind=&limit=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopElementsQuery {
    pub project_id: String,
    /// Start of the range (signal start), epoch ms, inclusive.
    pub from: i64,
    /// End of the range, epoch ms, exclusive.
    pub to: i64,
    /// Only this route template.
    #[serde(default)]
    pub route: Option<String>,
    /// Only this signal kind (`rage_click`, `dead_click`, ...).
    #[serde(default)]
    pub kind: Option<String>,
    /// How many elements (default 20, at most 1,000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// One element (on one route) and who it frustrated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopElement {
    pub element_key: String,
    pub route_template: String,
    /// Signal kinds seen on the element, sorted.
    pub kinds: Vec<String>,
    /// Distinct users; a session without a user id counts as one user of its own.
    pub affected_users: u64,
    pub affected_sessions: u64,
    pub signals: u64,
    /// Start of the newest signal, epoch ms.
    pub last_seen: i64,
}

#[derive(Debug, Row, Deserialize)]
struct ElementRow {
    element_key: String,
    route_template: String,
    kinds: Vec<String>,
    users: u64,
    sessions: u64,
    signals: u64,
    last_seen: i64,
}

/// Elements ordered by affected users (then signals, then key), most first.
pub async fn top_elements(client: &Client, q: &TopElementsQuery) -> Result<Vec<TopElement>, WarehouseError> {
    check_range(q.from, q.to)?;
    let limit = q.limit.unwrap_or(DEFAULT_TOP_ELEMENTS);
    if limit == 0 || limit > MAX_TOP_ELEMENTS {
        return Err(WarehouseError::InvalidQuery(format!("`limit` must be 1..={MAX_TOP_ELEMENTS}, got {limit}")));
    }
    let mut filters = String::new();
    if q.route.is_some() {
        filters.push_str(" AND route_template = ?");
    }
    if q.kind.is_some() {
        filters.push_str(" AND kind = ?");
    }
    let sql = format!(
        "SELECT element_key, route_template, groupUniqArray(kind) AS kinds, \
         uniqExact(if(user_id = '', concat('session:', session_id), user_id)) AS users, \
         uniqExact(session_id) AS sessions, uniqExact(signal_id) AS signals, max(start_ms) AS last_seen \
         FROM signals WHERE project_id = ? AND start_ms >= ? AND start_ms < ?{filters}{LIVE_SIGNALS} \
         GROUP BY element_key, route_template \
         ORDER BY users DESC, signals DESC, element_key, route_template LIMIT {limit}"
    );
    let mut query = client.query(&sql).bind(q.project_id.as_str()).bind(q.from).bind(q.to);
    if let Some(route) = &q.route {
        query = query.bind(route.as_str());
    }
    if let Some(kind) = &q.kind {
        query = query.bind(kind.as_str());
    }
    query = query.bind(q.project_id.as_str());
    let rows: Vec<ElementRow> =
        query.fetch_all().await.map_err(|e| WarehouseError::clickhouse("top elements query", e))?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let mut kinds = r.kinds;
            kinds.sort();
            TopElement {
                element_key: r.element_key,
                route_template: r.route_template,
                kinds,
                affected_users: r.users,
                affected_sessions: r.sessions,
                signals: r.signals,
                last_seen: r.last_seen,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_align_to_utc_and_monday() {
        // 2024-01-17 (a Wednesday) 15:30 UTC.
        let t = 1_705_505_400_000i64;
        let week = |t: i64| {
            let (w, o) = Bucket::Week.width_and_offset();
            (t - o).div_euclid(w) * w + o
        };
        assert_eq!(week(t), 1_705_276_800_000, "Monday 2024-01-15 00:00 UTC");
        let (w, _) = Bucket::Day.width_and_offset();
        assert_eq!(t / w * w, 1_705_449_600_000);
    }

    #[test]
    fn queries_deserialize_from_camel_case() {
        let q: FrustrationRateQuery =
            serde_json::from_str(r#"{"projectId":"p","route":"/cart","from":1,"to":2,"bucket":"hour"}"#)
                .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.bucket, Bucket::Hour);
        let q: TopElementsQuery =
            serde_json::from_str(r#"{"projectId":"p","from":1,"to":2}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.limit, None);
        let p = FrustrationRatePoint {
            bucket_start: 0,
            route: "/".into(),
            sessions: 1,
            frustrated_sessions: 0,
            signals: 0,
            rate: 0.0,
        };
        let json = serde_json::to_string(&p).unwrap_or_default();
        assert!(json.contains("\"bucketStart\"") && json.contains("\"frustratedSessions\""), "{json}");
    }
}
