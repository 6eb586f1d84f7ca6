//! The warehouse tables and `migrate`, which creates them or adds the columns a newer version of
//! this crate expects. Every statement runs on ClickHouse 18.16 (Debian's package) and on current
//! ClickHouse: times are epoch-millisecond `Int64` columns with a `MATERIALIZED` `DateTime` (and
//! `Date`) beside them, no `DateTime64`, no `LowCardinality`, no `IF NOT EXISTS` on columns.
//!
//! Deduplication: every table is a `ReplacingMergeTree` whose sorting key is the record's identity
//! (event id, session key, signal id, incident id + version), so a batch inserted twice collapses
//! into one row when parts merge. Until they merge, queries read through `FINAL` or aggregate with
//! functions that ignore repeats (`uniqExact`, `argMax`, `max`); docs/analytics.md keeps to that.
//!
//! Signals are versioned (signal schema v3, docs/architecture.md §4 "Time: decide early, settle
//! later"): each published version of a signal id is one row, with its `version` and `retracted`
//! flag. `signals` is a `ReplacingMergeTree(version)` keyed by `(project_id, signal_id)`, so a
//! merge keeps each id's newest version. A `signals` table created before versions (a plain
//! `ReplacingMergeTree`; `migrate` adds the two columns but cannot change the engine) keeps the
//! last inserted row instead, which in practice is the newest version; rows written before the
//! columns existed read `version` 0, live. Either way queries never wait for merges: they keep the
//! rows at each id's newest version and drop retracted ones ([`crate::analytics`]).

use crate::WarehouseError;

/// One column: name, ClickHouse type, and for computed columns the `MATERIALIZED` expression.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub materialized: Option<&'static str>,
}

const fn c(name: &'static str, ty: &'static str) -> Column {
    Column { name, ty, materialized: None }
}

const fn m(name: &'static str, ty: &'static str, expr: &'static str) -> Column {
    Column { name, ty, materialized: Some(expr) }
}

/// One table: its columns in insert order (materialized ones last), engine clauses.
#[derive(Debug, Clone, Copy)]
pub struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    pub engine: &'static str,
    pub partition_by: &'static str,
    pub order_by: &'static str,
}

pub const EVENTS: Table = Table {
    name: "events",
    columns: &[
        c("project_id", "String"),
        c("event_id", "String"),
        c("session_id", "String"),
        c("session_key", "String"),
        c("seq", "Int64"),
        c("view_id", "String"),
        c("view_index", "Int32"),
        c("event_type", "String"),
        c("timestamp_ms", "Int64"),
        c("received_at_ms", "Int64"),
        c("client_timestamp_ms", "Int64"),
        c("clock_skew_ms", "Int64"),
        c("timestamp_clamped", "UInt8"),
        c("late", "UInt8"),
        c("session_start_ms", "Int64"),
        c("user_id", "String"),
        c("tab_id", "String"),
        c("url", "String"),
        c("route", "String"),
        c("route_template", "String"),
        c("release", "String"),
        c("target_type", "String"),
        c("target_key", "String"),
        c("target_selector", "String"),
        c("target_tag", "String"),
        c("target_role", "String"),
        c("target_text", "String"),
        c("target_interactive", "Nullable(UInt8)"),
        c("target_disabled", "Nullable(UInt8)"),
        c("target_x", "Nullable(Float64)"),
        c("target_y", "Nullable(Float64)"),
        c("navigation_kind", "String"),
        c("navigation_from", "String"),
        c("navigation_to", "String"),
        c("network_method", "String"),
        c("network_url", "String"),
        c("network_status", "Nullable(Int32)"),
        c("network_duration_ms", "Nullable(Float64)"),
        c("error_type", "String"),
        c("error_message", "String"),
        c("error_fingerprint", "String"),
        c("input_field_key", "String"),
        c("input_invalid", "UInt8"),
        c("submit_form_key", "String"),
        c("custom_name", "String"),
        c("log_service", "String"),
        c("log_level", "String"),
        c("log_message", "String"),
        c("browser", "String"),
        c("os", "String"),
        c("device", "String"),
        c("metadata", "String"),
        m("timestamp", "DateTime", "toDateTime(intDiv(timestamp_ms, 1000))"),
        m("date", "Date", "toDate(toDateTime(intDiv(timestamp_ms, 1000)))"),
    ],
    engine: "ReplacingMergeTree",
    partition_by: "toYYYYMM(timestamp)",
    order_by: "(project_id, event_id)",
};

pub const SESSIONS: Table = Table {
    name: "sessions",
    columns: &[
        c("project_id", "String"),
        c("session_key", "String"),
        c("session_id", "String"),
        c("start_ms", "Int64"),
        c("end_ms", "Int64"),
        c("duration_ms", "Int64"),
        c("events", "Int64"),
        c("views", "Int64"),
        c("clicks", "Int64"),
        c("errors", "Int64"),
        c("routes", "Array(String)"),
        c("routes_truncated", "UInt8"),
        c("release", "String"),
        c("user_id", "String"),
        c("close_reason", "String"),
        c("late_events", "Int64"),
        c("duplicates_dropped", "Int64"),
        m("start", "DateTime", "toDateTime(intDiv(start_ms, 1000))"),
        m("date", "Date", "toDate(toDateTime(intDiv(start_ms, 1000)))"),
    ],
    engine: "ReplacingMergeTree",
    partition_by: "toYYYYMM(start)",
    order_by: "(project_id, session_key)",
};

pub const SIGNALS: Table = Table {
    name: "signals",
    columns: &[
        c("project_id", "String"),
        c("signal_id", "String"),
        c("version", "Int64"),
        c("retracted", "UInt8"),
        c("fingerprint", "String"),
        c("kind", "String"),
        c("unresponsive", "UInt8"),
        c("label", "String"),
        c("labels", "Array(String)"),
        c("session_id", "String"),
        c("tab_id", "String"),
        c("view_id", "String"),
        c("route_template", "String"),
        c("element_key", "String"),
        c("start_ms", "Int64"),
        c("end_ms", "Int64"),
        c("decided_at_ms", "Nullable(Int64)"),
        c("user_id", "String"),
        c("release", "String"),
        c("url", "String"),
        c("episode_id", "String"),
        c("rule", "String"),
        c("rule_version", "Int32"),
        c("event_ids", "Array(String)"),
        c("measurement_names", "Array(String)"),
        c("measurement_values", "Array(Float64)"),
        c("detail_names", "Array(String)"),
        c("detail_values", "Array(String)"),
        c("suppressions_checked", "Array(String)"),
        m("start", "DateTime", "toDateTime(intDiv(start_ms, 1000))"),
        m("date", "Date", "toDate(toDateTime(intDiv(start_ms, 1000)))"),
    ],
    engine: "ReplacingMergeTree(version)",
    partition_by: "toYYYYMM(start)",
    order_by: "(project_id, signal_id)",
};

pub const INCIDENTS: Table = Table {
    name: "incidents",
    columns: &[
        c("project_id", "String"),
        c("incident_id", "String"),
        c("version", "Int64"),
        c("fingerprint", "String"),
        c("kind", "String"),
        c("labels", "Array(String)"),
        c("title", "String"),
        c("route_template", "String"),
        c("element_key", "String"),
        c("status", "String"),
        c("previous_status", "String"),
        c("change", "String"),
        c("severity", "Float64"),
        c("priority", "String"),
        c("occurrences", "Int64"),
        c("sessions", "Int64"),
        c("users", "Int64"),
        c("first_seen_ms", "Int64"),
        c("last_seen_ms", "Int64"),
        c("confirmed_at_ms", "Nullable(Int64)"),
        c("releases", "Array(String)"),
        c("latest_release", "String"),
        c("generation", "Int32"),
        c("changed_at_ms", "Int64"),
        m("changed_at", "DateTime", "toDateTime(intDiv(changed_at_ms, 1000))"),
        m("first_seen", "DateTime", "toDateTime(intDiv(first_seen_ms, 1000))"),
        m("last_seen", "DateTime", "toDateTime(intDiv(last_seen_ms, 1000))"),
    ],
    engine: "ReplacingMergeTree",
    partition_by: "toYYYYMM(changed_at)",
    order_by: "(project_id, incident_id, version)",
};

/// Every table the warehouse writes.
pub const TABLES: [Table; 4] = [EVENTS, SESSIONS, SIGNALS, INCIDENTS];

/// A database name the warehouse accepts: ASCII letters, digits and `_`, not starting with a digit
/// (it is spliced into DDL, so nothing else is allowed).
pub fn check_database_name(name: &str) -> Result<(), WarehouseError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(WarehouseError::Config(format!(
            "database name `{name}` must be ASCII letters, digits and `_` and not start with a digit"
        )))
    }
}

fn column_ddl(col: &Column) -> String {
    match col.materialized {
        Some(expr) => format!("{} {} MATERIALIZED {}", col.name, col.ty, expr),
        None => format!("{} {}", col.name, col.ty),
    }
}

/// The `CREATE TABLE IF NOT EXISTS` statement of `table` in `database`.
pub fn create_table_sql(database: &str, table: &Table) -> String {
    let cols: Vec<String> = table.columns.iter().map(|c| format!("    {}", column_ddl(c))).collect();
    format!(
        "CREATE TABLE IF NOT EXISTS {database}.{name}\n(\n{cols}\n)\nENGINE = {engine}\nPARTITION BY {partition}\nORDER BY {order}",
        name = table.name,
        cols = cols.join(",\n"),
        engine = table.engine,
        partition = table.partition_by,
        order = table.order_by,
    )
}

/// What `migrate` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// Tables that did not exist and were created.
    pub created_tables: Vec<String>,
    /// `table.column` added to tables created by an older version.
    pub added_columns: Vec<String>,
    /// Tables that already had every column.
    pub unchanged_tables: Vec<String>,
}

/// Creates `database` and every table, or adds the columns missing from tables an older version
/// created. Idempotent: a second run changes nothing and reports every table unchanged. `client`
/// may have any default database; statements name `database` explicitly.
pub async fn migrate(client: &clickhouse::Client, database: &str) -> Result<MigrateReport, WarehouseError> {
    check_database_name(database)?;
    // The HTTP interface refuses a request whose `database` parameter names a missing database,
    // so the DDL goes through a client whose default is the always-present `system`.
    let admin = client.clone().with_database("system");
    admin
        .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
        .execute()
        .await
        .map_err(|e| WarehouseError::clickhouse("creating the database", e))?;
    let mut report = MigrateReport::default();
    for table in TABLES {
        let existing = existing_columns(&admin, database, table.name).await?;
        if existing.is_empty() {
            admin
                .query(&create_table_sql(database, &table))
                .execute()
                .await
                .map_err(|e| WarehouseError::clickhouse(&format!("creating table {}", table.name), e))?;
            report.created_tables.push(table.name.to_string());
            continue;
        }
        let mut added = false;
        let mut previous: Option<&str> = None;
        for col in table.columns {
            if !existing.iter().any(|e| e == col.name) {
                let after = previous.map(|p| format!(" AFTER {p}")).unwrap_or_default();
                admin
                    .query(&format!("ALTER TABLE {database}.{} ADD COLUMN {}{after}", table.name, column_ddl(col)))
                    .execute()
                    .await
                    .map_err(|e| WarehouseError::clickhouse(&format!("adding {}.{}", table.name, col.name), e))?;
                report.added_columns.push(format!("{}.{}", table.name, col.name));
                added = true;
            }
            previous = Some(col.name);
        }
        if !added {
            report.unchanged_tables.push(table.name.to_string());
        }
    }
    Ok(report)
}

/// What [`migrate`] would change in `database`, changing nothing: `table` for a missing table,
/// `table.column` for a missing column (`friction doctor`). Empty when the schema is current.
pub async fn pending(client: &clickhouse::Client, database: &str) -> Result<Vec<String>, WarehouseError> {
    check_database_name(database)?;
    let admin = client.clone().with_database("system");
    let mut pending = Vec::new();
    for table in TABLES {
        let existing = existing_columns(&admin, database, table.name).await?;
        if existing.is_empty() {
            pending.push(table.name.to_string());
            continue;
        }
        for col in table.columns {
            if !existing.iter().any(|e| e == col.name) {
                pending.push(format!("{}.{}", table.name, col.name));
            }
        }
    }
    Ok(pending)
}

/// The columns of `database.table` (none when either is missing), through a `system` client.
async fn existing_columns(
    admin: &clickhouse::Client,
    database: &str,
    table: &str,
) -> Result<Vec<String>, WarehouseError> {
    admin
        .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
        .bind(database)
        .bind(table)
        .fetch_all::<String>()
        .await
        .map_err(|e| WarehouseError::clickhouse("reading system.columns", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_are_checked() {
        assert!(check_database_name("friction").is_ok());
        assert!(check_database_name("friction_test_1").is_ok());
        assert!(check_database_name("").is_err());
        assert!(check_database_name("1abc").is_err());
        assert!(check_database_name("a.b").is_err());
        assert!(check_database_name("a`; DROP").is_err());
    }

    #[test]
    fn materialized_columns_come_last() {
        for t in TABLES {
            let first_materialized = t.columns.iter().position(|c| c.materialized.is_some()).unwrap_or(t.columns.len());
            assert!(
                t.columns[first_materialized..].iter().all(|c| c.materialized.is_some()),
                "{}: insert columns must precede materialized ones",
                t.name
            );
        }
    }

    #[test]
    fn ddl_names_database_and_key() {
        let sql = create_table_sql("wh", &EVENTS);
        assert!(sql.starts_with("CREATE TABLE IF NOT EXISTS wh.events"));
        assert!(sql.contains("ENGINE = ReplacingMergeTree"));
        assert!(sql.contains("ORDER BY (project_id, event_id)"));
        assert!(sql.contains("timestamp DateTime MATERIALIZED toDateTime(intDiv(timestamp_ms, 1000))"));
        assert!(!sql.contains("DateTime64"));
        let sql = create_table_sql("wh", &SIGNALS);
        assert!(sql.contains("ENGINE = ReplacingMergeTree(version)\n"), "a merge keeps the newest version: {sql}");
        assert!(sql.contains("ORDER BY (project_id, signal_id)"), "{sql}");
    }
}
