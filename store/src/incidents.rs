//! Incidents and the rows that make counting them idempotent (docs/architecture.md §3, §4 "Incidents").
//!
//! The incidents stage works inside one [`IncidentTx`] per batch of signals: it saves what each
//! signal version contributes (a version no newer than the stored one changes nothing), reads the
//! counts back as derived from the live contributions, and saves the incidents it changed with an
//! optimistic version check, so two writers of one incident (a stage copy during a rebalance, the console) never lose
//! each other's update: the loser's transaction is rolled back and its batch applied again.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row, Transaction};

use crate::{Store, StoreError};

/// Where an incident is in its life (docs/architecture.md §3 "Names the rest of the system relies on").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    /// Seen, not yet affecting enough sessions to act on.
    Open,
    /// Affects enough distinct sessions: worth a ticket.
    Confirmed,
    /// Someone fixed it.
    Resolved,
    /// Someone decided it does not matter; it stays quiet.
    Ignored,
    /// Resolved, then seen again in a newer release.
    Regressed,
}

impl IncidentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [IncidentStatus; 5] = [
        IncidentStatus::Open,
        IncidentStatus::Confirmed,
        IncidentStatus::Resolved,
        IncidentStatus::Ignored,
        IncidentStatus::Regressed,
    ];

    /// The name used in the API, the topic and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Confirmed => "confirmed",
            IncidentStatus::Resolved => "resolved",
            IncidentStatus::Ignored => "ignored",
            IncidentStatus::Regressed => "regressed",
        }
    }
}

impl fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`IncidentStatus::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown incident status {0:?} (expected open, confirmed, resolved, ignored or regressed)")]
pub struct UnknownStatus(pub String);

impl FromStr for IncidentStatus {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IncidentStatus::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// One evidence sample kept with an incident, stored in the `samples` column as camelCase JSON.
/// The type of the `incident` topic record, so what is stored and what is published cannot differ.
pub use friction_schemas::EvidenceSample;

/// A stored incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    pub id: String,
    pub project_id: String,
    pub fingerprint: String,
    /// The primary kind (`rage_click`, `dead_click`, ...).
    pub kind: String,
    /// Every label seen, sorted (`rage_click:unresponsive`, ...).
    pub labels: Vec<String>,
    pub title: String,
    pub route_template: String,
    pub element_key: String,
    pub status: IncidentStatus,
    pub severity: f64,
    /// `P1`, `P2` or `P3`.
    pub priority: String,
    pub occurrences: i64,
    pub sessions: i64,
    pub users: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub confirmed_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    /// The releases seen when it was last resolved: a signal from another release regresses it.
    pub resolved_releases: Option<Vec<String>>,
    /// Releases seen, sorted, bounded.
    pub releases: Vec<String>,
    /// The release of the newest signal.
    pub latest_release: Option<String>,
    /// Starts at 1; grows each time a resolved incident regresses.
    pub generation: i64,
    /// A bounded set of evidence samples (the earliest signals).
    pub samples: Vec<EvidenceSample>,
    /// Grows by one with every stored change; guards concurrent writers.
    pub version: i64,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// An engineer confirmed it by hand (console PATCH): a retraction does not un-confirm it.
    pub confirmed_manually: bool,
    /// The plain-language explanation of its kind, written when it was made (empty for incidents
    /// made before it was kept).
    #[serde(default)]
    pub explanation: String,
}

/// The columns of `incidents`, in table order. [`incident_columns`] gives each its value and
/// [`incident_from_row`] reads each back, by name.
const INCIDENT_COLUMNS: [&str; 28] = [
    "id",
    "project_id",
    "fingerprint",
    "kind",
    "labels",
    "title",
    "route_template",
    "element_key",
    "status",
    "severity",
    "priority",
    "occurrences",
    "sessions",
    "users",
    "first_seen",
    "last_seen",
    "confirmed_at",
    "resolved_at",
    "resolved_releases",
    "releases",
    "latest_release",
    "generation",
    "samples",
    "version",
    "created_at",
    "updated_at",
    "confirmed_manually",
    "explanation",
];

/// The columns an update leaves as they were: what names the incident, and when it was created.
const SET_ONCE_COLUMNS: [&str; 6] = ["id", "project_id", "fingerprint", "route_template", "element_key", "created_at"];

/// `id, project_id, ...`: the select list.
static COLUMN_LIST: LazyLock<String> = LazyLock::new(|| INCIDENT_COLUMNS.join(", "));

/// Every column of `incidents` with its value for `i`, in [`INCIDENT_COLUMNS`] order (a test checks
/// the names). `i` is destructured so that a field added to [`Incident`] does not compile until it
/// has a column here, and the array's length is that of [`INCIDENT_COLUMNS`], so the column must be
/// named there too.
fn incident_columns(i: &Incident) -> Result<[(&'static str, Bind<'_>); INCIDENT_COLUMNS.len()], StoreError> {
    let Incident {
        id,
        project_id,
        fingerprint,
        kind,
        labels,
        title,
        route_template,
        element_key,
        status,
        severity,
        priority,
        occurrences,
        sessions,
        users,
        first_seen_ms,
        last_seen_ms,
        confirmed_at_ms,
        resolved_at_ms,
        resolved_releases,
        releases,
        latest_release,
        generation,
        samples,
        version,
        created_at_ms,
        updated_at_ms,
        confirmed_manually,
        explanation,
    } = i;
    Ok([
        ("id", Bind::Str(id)),
        ("project_id", Bind::Str(project_id)),
        ("fingerprint", Bind::Str(fingerprint)),
        ("kind", Bind::Str(kind)),
        ("labels", Bind::Text(to_json(labels)?)),
        ("title", Bind::Str(title)),
        ("route_template", Bind::Str(route_template)),
        ("element_key", Bind::Str(element_key)),
        ("status", Bind::Str(status.as_str())),
        ("severity", Bind::Float(*severity)),
        ("priority", Bind::Str(priority)),
        ("occurrences", Bind::Int(*occurrences)),
        ("sessions", Bind::Int(*sessions)),
        ("users", Bind::Int(*users)),
        ("first_seen", Bind::Int(*first_seen_ms)),
        ("last_seen", Bind::Int(*last_seen_ms)),
        ("confirmed_at", Bind::OptInt(*confirmed_at_ms)),
        ("resolved_at", Bind::OptInt(*resolved_at_ms)),
        ("resolved_releases", Bind::OptText(resolved_releases.as_ref().map(to_json).transpose()?)),
        ("releases", Bind::Text(to_json(releases)?)),
        ("latest_release", Bind::OptStr(latest_release.as_deref())),
        ("generation", Bind::Int(*generation)),
        ("samples", Bind::Text(to_json(samples)?)),
        ("version", Bind::Int(*version)),
        ("created_at", Bind::Int(*created_at_ms)),
        ("updated_at", Bind::Int(*updated_at_ms)),
        ("confirmed_manually", Bind::Int(i64::from(*confirmed_manually))),
        ("explanation", Bind::Str(explanation)),
    ])
}

/// `UPDATE incidents SET a = $1, b = $2, ... WHERE id = $n+1 AND version = $n+2`.
fn update_sql(columns: &[&str]) -> String {
    let set: Vec<String> = columns.iter().enumerate().map(|(n, name)| format!("{name} = ${}", n + 1)).collect();
    format!(
        "UPDATE incidents SET {} WHERE id = ${} AND version = ${}",
        set.join(", "),
        columns.len() + 1,
        columns.len() + 2
    )
}

/// A JSON column's text.
fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

fn json_error(column: &str, e: serde_json::Error) -> sqlx::Error {
    sqlx::Error::ColumnDecode { index: column.to_owned(), source: Box::new(e) }
}

/// A JSON column, parsed.
fn from_json<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, sqlx::Error> {
    let text: String = row.try_get(column)?;
    serde_json::from_str(&text).map_err(|e| json_error(column, e))
}

/// An incident from a row selected with [`COLUMN_LIST`]; each column by its name in
/// [`incident_columns`].
fn incident_from_row(row: &AnyRow) -> Result<Incident, sqlx::Error> {
    let status: String = row.try_get("status")?;
    let resolved_releases: Option<String> = row.try_get("resolved_releases")?;
    Ok(Incident {
        id: row.try_get("id")?,
        project_id: row.try_get("project_id")?,
        fingerprint: row.try_get("fingerprint")?,
        kind: row.try_get("kind")?,
        labels: from_json(row, "labels")?,
        title: row.try_get("title")?,
        route_template: row.try_get("route_template")?,
        element_key: row.try_get("element_key")?,
        status: status
            .parse()
            .map_err(|e| sqlx::Error::ColumnDecode { index: "status".into(), source: Box::new(e) })?,
        severity: row.try_get("severity")?,
        priority: row.try_get("priority")?,
        occurrences: row.try_get("occurrences")?,
        sessions: row.try_get("sessions")?,
        users: row.try_get("users")?,
        first_seen_ms: row.try_get("first_seen")?,
        last_seen_ms: row.try_get("last_seen")?,
        confirmed_at_ms: row.try_get("confirmed_at")?,
        resolved_at_ms: row.try_get("resolved_at")?,
        resolved_releases: resolved_releases
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(|e| json_error("resolved_releases", e))?,
        releases: from_json(row, "releases")?,
        latest_release: row.try_get("latest_release")?,
        generation: row.try_get("generation")?,
        samples: from_json(row, "samples")?,
        version: row.try_get("version")?,
        created_at_ms: row.try_get("created_at")?,
        updated_at_ms: row.try_get("updated_at")?,
        confirmed_manually: row.try_get::<i64, _>("confirmed_manually")? != 0,
        explanation: row.try_get("explanation")?,
    })
}

/// How incident lists are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncidentSort {
    /// Most severe first (default).
    #[default]
    Severity,
    /// Most recently seen first.
    LastSeen,
}

/// Where the previous page ended: the sort value and id of its last incident.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentCursor {
    Severity(f64, String),
    LastSeen(i64, String),
}

/// Which incidents to list.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub project_id: Option<String>,
    pub status: Option<IncidentStatus>,
    pub kind: Option<String>,
    pub route_template: Option<String>,
    pub sort: IncidentSort,
    /// At most this many (the caller bounds it).
    pub limit: u32,
    pub after: Option<IncidentCursor>,
    /// `Some(true)`: only incidents with a ticket made in the exporter's ledger (a row in state
    /// `created`); `Some(false)`: only those without one.
    pub exported: Option<bool>,
}

/// Rows per multi-row statement: well below SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const ROWS_PER_STATEMENT: usize = 500;

/// `($1, $2), ($3, $4), ...` for `rows` rows of `columns` values.
fn values_placeholders(rows: usize, columns: usize) -> String {
    let mut out = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..columns {
            if c > 0 {
                out.push_str(", ");
            }
            out.push_str(&format!("${}", r * columns + c + 1));
        }
        out.push(')');
    }
    out
}

/// What a signal's newest applied version contributes to its incident (one row per (incident,
/// signal) in `incident_contributions`).
#[derive(Debug, Clone, PartialEq)]
pub struct Contribution {
    pub incident_id: String,
    pub signal_id: String,
    pub version: i64,
    /// `false`: retracted, counts nowhere.
    pub live: bool,
    pub session_id: String,
    /// Who it affected (`u:<user>` or `s:<session>`).
    pub user_key: String,
    pub start_ms: i64,
    pub end_ms: i64,
    /// A server error's log level.
    pub log_level: Option<String>,
    pub labels: Vec<String>,
    pub release: Option<String>,
    pub sample: Option<EvidenceSample>,
}

/// The version and liveness stored for a contribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredContribution {
    pub version: i64,
    pub live: bool,
}

/// The live contributions of an incident, added up ([`IncidentTx::live_totals`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveTotals {
    pub signals: i64,
    /// Distinct sessions.
    pub sessions: i64,
    /// Distinct user keys.
    pub users: i64,
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
}

/// One live contribution, as a confirmation policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationPoint {
    pub start_ms: i64,
    pub session_id: String,
    pub log_level: Option<String>,
}

/// An incident with a ticket made by the exporter (docs/exporter.md "The ledger row").
const EXPORTED: &str =
    "EXISTS (SELECT 1 FROM ticket_links t WHERE t.incident_id = incidents.id AND t.state = 'created')";

/// A statement parameter, borrowed where it can be.
pub(crate) enum Bind<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Text(String),
    OptText(Option<String>),
    Int(i64),
    OptInt(Option<i64>),
    Float(f64),
}

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

impl<'q> Bind<'q> {
    pub(crate) fn bind_to(self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        match self {
            Bind::Str(v) => query.bind(v),
            Bind::OptStr(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
            Bind::OptText(v) => query.bind(v),
            Bind::Int(v) => query.bind(v),
            Bind::OptInt(v) => query.bind(v),
            Bind::Float(v) => query.bind(v),
        }
    }
}

impl Store {
    /// Starts the transaction a batch of signals is counted in.
    pub async fn begin_incidents(&self) -> Result<IncidentTx, StoreError> {
        Ok(IncidentTx { tx: self.pool.begin().await? })
    }

    /// The incident with this id.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let row = sqlx::query(&format!("SELECT {} FROM incidents WHERE id = $1", *COLUMN_LIST))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(incident_from_row).transpose()?)
    }

    /// Incidents matching `filter`, in its order, at most `filter.limit`.
    pub async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut binds: Vec<Bind<'static>> = Vec::new();
        let mut push = |clause: &str, values: Vec<Bind<'static>>, binds: &mut Vec<Bind<'static>>| {
            let mut clause = clause.to_owned();
            for (i, v) in values.into_iter().enumerate() {
                binds.push(v);
                clause = clause.replace(&format!("?{}", i + 1), &format!("${}", binds.len()));
            }
            clauses.push(clause);
        };
        if let Some(p) = &filter.project_id {
            push("project_id = ?1", vec![Bind::Text(p.clone())], &mut binds);
        }
        if let Some(s) = filter.status {
            push("status = ?1", vec![Bind::Text(s.as_str().to_owned())], &mut binds);
        }
        if let Some(k) = &filter.kind {
            push("kind = ?1", vec![Bind::Text(k.clone())], &mut binds);
        }
        if let Some(r) = &filter.route_template {
            push("route_template = ?1", vec![Bind::Text(r.clone())], &mut binds);
        }
        match filter.exported {
            Some(true) => push(EXPORTED, vec![], &mut binds),
            Some(false) => push(&format!("NOT {EXPORTED}"), vec![], &mut binds),
            None => {}
        }
        match &filter.after {
            Some(IncidentCursor::Severity(s, id)) => push(
                "(severity < ?1 OR (severity = ?2 AND id > ?3))",
                vec![Bind::Float(*s), Bind::Float(*s), Bind::Text(id.clone())],
                &mut binds,
            ),
            Some(IncidentCursor::LastSeen(t, id)) => push(
                "(last_seen < ?1 OR (last_seen = ?2 AND id > ?3))",
                vec![Bind::Int(*t), Bind::Int(*t), Bind::Text(id.clone())],
                &mut binds,
            ),
            None => {}
        }
        let order = match filter.sort {
            IncidentSort::Severity => "severity DESC, id ASC",
            IncidentSort::LastSeen => "last_seen DESC, id ASC",
        };
        let mut sql = format!("SELECT {} FROM incidents", *COLUMN_LIST);
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", filter.limit));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = b.bind_to(query);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows.iter().map(incident_from_row).collect::<Result<_, _>>()?)
    }
}

/// One batch's transaction over the incident tables. Dropping it without [`IncidentTx::commit`]
/// rolls everything back.
pub struct IncidentTx {
    tx: Transaction<'static, Any>,
}

impl IncidentTx {
    /// The stored incidents among `ids`.
    pub async fn incidents(&mut self, ids: &[&str]) -> Result<Vec<Incident>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!("SELECT {} FROM incidents WHERE id IN ({})", *COLUMN_LIST, placeholders.join(", "));
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                found.push(incident_from_row(&row)?);
            }
        }
        Ok(found)
    }

    /// The stored contributions among `keys` (incident id, signal id): what each signal counted
    /// last (its version and whether it was live), by key.
    pub async fn contributions(
        &mut self,
        keys: &[(&str, &str)],
    ) -> Result<HashMap<(String, String), StoredContribution>, StoreError> {
        let mut found = HashMap::with_capacity(keys.len());
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut incidents: Vec<&str> = chunk.iter().map(|(i, _)| *i).collect();
            incidents.sort_unstable();
            incidents.dedup();
            let signals: Vec<&str> = chunk.iter().map(|(_, s)| *s).collect();
            let list = |from: usize, n: usize| (from..from + n).map(|k| format!("${k}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT incident_id, signal_id, version, live FROM incident_contributions \
                 WHERE incident_id IN ({}) AND signal_id IN ({})",
                list(1, incidents.len()),
                list(incidents.len() + 1, signals.len())
            );
            let mut query = sqlx::query(&sql);
            for v in incidents.iter().chain(&signals) {
                query = query.bind(*v);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                let key = (row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?);
                let stored = StoredContribution { version: row.try_get(2)?, live: row.try_get::<i64, _>(3)? != 0 };
                found.insert(key, stored);
            }
        }
        Ok(found.into_iter().filter(|(k, _)| keys.contains(&(k.0.as_str(), k.1.as_str()))).collect())
    }

    /// Writes `rows` (one per (incident, signal), at most), each over a stored row only if its
    /// version is higher: an equal or older version changes nothing, even from a concurrent
    /// writer. Returns the keys written.
    pub async fn save_contributions(
        &mut self,
        rows: &[Contribution],
    ) -> Result<std::collections::HashSet<(String, String)>, StoreError> {
        const COLUMNS: [&str; 12] = [
            "incident_id",
            "signal_id",
            "version",
            "live",
            "session_id",
            "user_key",
            "start_ms",
            "end_ms",
            "log_level",
            "labels",
            "release_name",
            "sample",
        ];
        let mut written = std::collections::HashSet::with_capacity(rows.len());
        for chunk in rows.chunks(ROWS_PER_STATEMENT / 2) {
            let updates: Vec<String> = COLUMNS[2..].iter().map(|c| format!("{c} = excluded.{c}")).collect();
            let sql = format!(
                "INSERT INTO incident_contributions ({}) VALUES {} ON CONFLICT (incident_id, signal_id) DO UPDATE SET {} \
                 WHERE incident_contributions.version < excluded.version RETURNING incident_id, signal_id",
                COLUMNS.join(", "),
                values_placeholders(chunk.len(), COLUMNS.len()),
                updates.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for c in chunk {
                let sample = c.sample.as_ref().map(to_json).transpose()?;
                query = query
                    .bind(c.incident_id.as_str())
                    .bind(c.signal_id.as_str())
                    .bind(c.version)
                    .bind(i64::from(c.live))
                    .bind(c.session_id.as_str())
                    .bind(c.user_key.as_str())
                    .bind(c.start_ms)
                    .bind(c.end_ms)
                    .bind(c.log_level.as_deref())
                    .bind(to_json(&c.labels)?)
                    .bind(c.release.as_deref())
                    .bind(sample);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                written.insert((row.try_get::<String, _>(0)?, row.try_get::<String, _>(1)?));
            }
        }
        Ok(written)
    }

    /// What the live contributions of each incident among `ids` add up to (incidents without any
    /// contribution are absent): the counts are derived here, never incremented. First and last
    /// seen are those of the live ones, or of all (retracted ones repeat their last contents) when
    /// none is live.
    pub async fn live_totals(&mut self, ids: &[&str]) -> Result<HashMap<String, LiveTotals>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT incident_id, COUNT(CASE WHEN live = 1 THEN 1 END), \
                 COUNT(DISTINCT CASE WHEN live = 1 THEN session_id END), COUNT(DISTINCT CASE WHEN live = 1 THEN user_key END), \
                 COALESCE(MIN(CASE WHEN live = 1 THEN start_ms END), MIN(start_ms)), \
                 COALESCE(MAX(CASE WHEN live = 1 THEN end_ms END), MAX(end_ms)) \
                 FROM incident_contributions WHERE incident_id IN ({}) GROUP BY incident_id",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                let totals = LiveTotals {
                    signals: row.try_get(1)?,
                    sessions: row.try_get(2)?,
                    users: row.try_get(3)?,
                    first_seen_ms: row.try_get(4)?,
                    last_seen_ms: row.try_get(5)?,
                };
                found.insert(row.try_get::<String, _>(0)?, totals);
            }
        }
        Ok(found)
    }

    /// Every label of the live contributions of each incident among `ids`, sorted.
    pub async fn live_labels(&mut self, ids: &[&str]) -> Result<HashMap<String, Vec<String>>, StoreError> {
        let mut found: HashMap<String, std::collections::BTreeSet<String>> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT DISTINCT incident_id, labels FROM incident_contributions WHERE incident_id IN ({}) AND live = 1",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                let labels: Vec<String> = from_json(&row, "labels")?;
                found.entry(row.try_get::<String, _>(0)?).or_default().extend(labels);
            }
        }
        Ok(found.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect())
    }

    /// The evidence samples of the earliest live contributions of an incident, at most `limit`
    /// (contributions counted before migration 5 kept none).
    pub async fn live_samples(&mut self, incident_id: &str, limit: usize) -> Result<Vec<EvidenceSample>, StoreError> {
        let sql = format!(
            "SELECT sample FROM incident_contributions WHERE incident_id = $1 AND live = 1 AND sample IS NOT NULL \
             ORDER BY start_ms, signal_id LIMIT {limit}"
        );
        let rows = sqlx::query(&sql).bind(incident_id).fetch_all(&mut *self.tx).await?;
        rows.iter()
            .map(|r| from_json::<EvidenceSample>(r, "sample"))
            .collect::<Result<_, _>>()
            .map_err(StoreError::from)
    }

    /// (start, session, log level) of every live contribution of the incident that started in
    /// `[from_ms, to_ms]`, oldest first: what its confirmation policy is judged on.
    pub async fn confirmation_points(
        &mut self,
        incident_id: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ConfirmationPoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT start_ms, session_id, log_level FROM incident_contributions \
             WHERE incident_id = $1 AND live = 1 AND start_ms >= $2 AND start_ms <= $3 ORDER BY start_ms, session_id",
        )
        .bind(incident_id)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&mut *self.tx)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ConfirmationPoint { start_ms: r.try_get(0)?, session_id: r.try_get(1)?, log_level: r.try_get(2)? })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    /// Stores a new incident. Fails (unique key) when another writer created it meanwhile.
    pub async fn insert_incident(&mut self, i: &Incident) -> Result<(), StoreError> {
        let columns = incident_columns(i)?;
        let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
        let sql = format!("INSERT INTO incidents ({}) VALUES ({})", *COLUMN_LIST, placeholders.join(", "));
        let mut query = sqlx::query(&sql);
        for (_, value) in columns {
            query = value.bind_to(query);
        }
        query.execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Stores `i` over the row whose version is still `expected_version`; `false` when another
    /// writer changed it since it was read (the caller starts over). Every column is written but
    /// the ones that name the incident and its creation time.
    pub async fn update_incident(&mut self, i: &Incident, expected_version: i64) -> Result<bool, StoreError> {
        let changed: Vec<_> =
            incident_columns(i)?.into_iter().filter(|(name, _)| !SET_ONCE_COLUMNS.contains(name)).collect();
        let names: Vec<&str> = changed.iter().map(|(name, _)| *name).collect();
        let sql = update_sql(&names);
        let mut query = sqlx::query(&sql);
        for (_, value) in changed {
            query = value.bind_to(query);
        }
        let done = query.bind(&i.id).bind(expected_version).execute(&mut *self.tx).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes everything in the transaction durable.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident() -> Incident {
        Incident {
            id: "i".into(),
            project_id: "p".into(),
            fingerprint: "f".into(),
            kind: "rage_click".into(),
            labels: vec!["rage_click".into()],
            title: "t".into(),
            route_template: "/r".into(),
            element_key: "e".into(),
            status: IncidentStatus::Open,
            severity: 1.0,
            priority: "P3".into(),
            occurrences: 1,
            sessions: 1,
            users: 1,
            first_seen_ms: 1,
            last_seen_ms: 2,
            confirmed_at_ms: None,
            resolved_at_ms: None,
            resolved_releases: None,
            releases: Vec::new(),
            latest_release: None,
            generation: 1,
            samples: Vec::new(),
            version: 1,
            created_at_ms: 1,
            updated_at_ms: 2,
            confirmed_manually: false,
            explanation: String::new(),
        }
    }

    /// The statements are the ones written out by hand before the column list had one owner.
    #[test]
    fn the_columns_are_written_in_table_order() -> Result<(), StoreError> {
        let names: Vec<&str> = incident_columns(&incident())?.iter().map(|(name, _)| *name).collect();
        assert_eq!(names, INCIDENT_COLUMNS);
        assert!(SET_ONCE_COLUMNS.iter().all(|c| INCIDENT_COLUMNS.contains(c)));
        assert_eq!(
            *COLUMN_LIST,
            "id, project_id, fingerprint, kind, labels, title, route_template, element_key, status, severity, \
             priority, occurrences, sessions, users, first_seen, last_seen, confirmed_at, resolved_at, \
             resolved_releases, releases, latest_release, generation, samples, version, created_at, updated_at, \
             confirmed_manually, explanation"
        );
        let updated: Vec<&str> = names.into_iter().filter(|n| !SET_ONCE_COLUMNS.contains(n)).collect();
        assert_eq!(
            update_sql(&updated),
            "UPDATE incidents SET kind = $1, labels = $2, title = $3, status = $4, severity = $5, priority = $6, \
             occurrences = $7, sessions = $8, users = $9, first_seen = $10, last_seen = $11, confirmed_at = $12, \
             resolved_at = $13, resolved_releases = $14, releases = $15, latest_release = $16, generation = $17, \
             samples = $18, version = $19, updated_at = $20, confirmed_manually = $21, explanation = $22 \
             WHERE id = $23 AND version = $24"
        );
        Ok(())
    }
}
