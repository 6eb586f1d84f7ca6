//! A tiny migrator: an ordered list of SQL files, applied once each, recorded in
//! `_friction_migrations`.
//!
//! sqlx's own migrator needs its `migrate`/`macros` features, which cost build time; this one is a
//! page of code and serves both backends. Each migration runs in its own transaction together with
//! the row that records it, so a migration is either fully applied and recorded or not at all.
//!
//! Several processes may start at once and all call `migrate` (every stage migrates on startup).
//! They are serialised: on PostgreSQL by a transaction-scoped advisory lock, on SQLite by
//! `BEGIN IMMEDIATE` (the write lock, waited for with the busy timeout). Whoever comes second finds
//! the migration recorded and skips it; should the lock ever not hold, a migration that fails
//! while another process recorded it meanwhile counts as applied.

use sqlx::{Any, Executor, Row, Transaction};

use crate::{now_ms, Backend, Store, StoreError};

/// One schema change. Migrations are never edited once released; a change is a new migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Position in the order; strictly increasing, recorded once applied.
    pub version: i64,
    /// Short name, recorded for people reading the table.
    pub name: &'static str,
    /// The SQL, one or more statements; it must run unchanged on SQLite and PostgreSQL.
    pub sql: &'static str,
}

/// Every migration, in order. To change the schema, add
/// `migrations/NNNN_name.sql` and a line here (a test checks that the two agree).
pub const MIGRATIONS: &[Migration] = &[
    Migration { version: 1, name: "projects_and_keys", sql: include_str!("../migrations/0001_projects_and_keys.sql") },
    Migration {
        version: 2,
        name: "incidents_and_tokens",
        sql: include_str!("../migrations/0002_incidents_and_tokens.sql"),
    },
    Migration { version: 3, name: "exporter", sql: include_str!("../migrations/0003_exporter.sql") },
    Migration { version: 4, name: "exporter_backoff", sql: include_str!("../migrations/0004_exporter_backoff.sql") },
    Migration {
        version: 5,
        name: "incident_contributions",
        sql: include_str!("../migrations/0005_incident_contributions.sql"),
    },
    Migration {
        version: 6,
        name: "users_and_sessions",
        sql: include_str!("../migrations/0006_users_and_sessions.sql"),
    },
    Migration { version: 7, name: "console_api", sql: include_str!("../migrations/0007_console_api.sql") },
];

/// A row of `_friction_migrations`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedMigration {
    /// The migration's version.
    pub version: i64,
    /// The migration's name.
    pub name: String,
    /// When it was applied, epoch milliseconds.
    pub applied_at_ms: i64,
}

const CREATE_MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _friction_migrations (
    version BIGINT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
)";

impl Store {
    /// Applies every migration not yet applied, in order, and returns the versions it applied
    /// (empty when the schema was already current). Safe to run again and from several processes
    /// at once.
    pub async fn migrate(&self) -> Result<Vec<i64>, StoreError> {
        self.migrate_with(MIGRATIONS).await
    }

    /// [`Store::migrate`] over an explicit list; used by tests to exercise the migrator with
    /// migrations that fail or come later.
    #[doc(hidden)]
    pub async fn migrate_with(&self, migrations: &[Migration]) -> Result<Vec<i64>, StoreError> {
        // A current schema takes no lock at all, so many processes can start at once; only when
        // the bookkeeping table is missing (or unreadable) is it created, under the lock.
        let applied = match self.applied_versions().await {
            Ok(applied) => applied,
            Err(_) => {
                let mut tx = self.begin_migration_tx().await?;
                tx.execute(sqlx::raw_sql(CREATE_MIGRATIONS_TABLE)).await?;
                tx.commit().await?;
                self.applied_versions().await?
            }
        };
        let mut newly_applied = Vec::new();
        for migration in migrations {
            if applied.contains(&migration.version) {
                continue;
            }
            match self.apply(migration).await {
                Ok(true) => newly_applied.push(migration.version),
                Ok(false) => {}
                Err(error) => {
                    // Another process may have applied it between our check and our attempt.
                    let recorded = self.applied_versions().await;
                    if recorded.is_ok_and(|v| v.contains(&migration.version)) {
                        continue;
                    }
                    return Err(error);
                }
            }
        }
        Ok(newly_applied)
    }

    /// The migrations recorded as applied, in version order.
    pub async fn applied_migrations(&self) -> Result<Vec<AppliedMigration>, StoreError> {
        let rows = sqlx::query("SELECT version, name, applied_at FROM _friction_migrations ORDER BY version")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(AppliedMigration { version: row.try_get(0)?, name: row.try_get(1)?, applied_at_ms: row.try_get(2)? })
            })
            .collect()
    }

    async fn applied_versions(&self) -> Result<Vec<i64>, StoreError> {
        let rows = sqlx::query("SELECT version FROM _friction_migrations").fetch_all(&self.pool).await?;
        Ok(rows.iter().map(|row| row.try_get::<i64, _>(0)).collect::<Result<_, _>>()?)
    }

    /// Applies one migration under the migration lock; `Ok(false)` if someone else already had.
    async fn apply(&self, migration: &Migration) -> Result<bool, StoreError> {
        let failed = |source| StoreError::Migration { version: migration.version, name: migration.name, source };
        let mut tx = self.begin_migration_tx().await.map_err(failed)?;
        let already = tx
            .fetch_optional(
                sqlx::query("SELECT version FROM _friction_migrations WHERE version = $1").bind(migration.version),
            )
            .await
            .map_err(failed)?;
        if already.is_some() {
            tx.commit().await.map_err(failed)?;
            return Ok(false);
        }
        // raw_sql sends the text as is (PostgreSQL's simple protocol), which runs several
        // statements in one go on both backends; prepared statements could hold only one.
        tx.execute(sqlx::raw_sql(migration.sql)).await.map_err(failed)?;
        tx.execute(
            sqlx::query("INSERT INTO _friction_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(migration.version)
                .bind(migration.name)
                .bind(now_ms()),
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        Ok(true)
    }

    /// A transaction that holds the migration lock until it ends.
    async fn begin_migration_tx(&self) -> Result<Transaction<'static, Any>, sqlx::Error> {
        match self.backend {
            // IMMEDIATE takes the write lock now, waiting up to the busy timeout. A deferred
            // transaction would read first and then fail with SQLITE_BUSY_SNAPSHOT when another
            // process wrote in between, without waiting.
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => {
                let mut tx = self.pool.begin().await?;
                // Scoped to the database and schema, so separate schemas (tests, tenants) do not
                // wait for each other; released at commit or rollback.
                tx.execute(
                    "SELECT 1 FROM pg_advisory_xact_lock(hashtext('friction_migrations:' \
                     || current_database() || ':' || coalesce(current_schema(), '')))",
                )
                .await?;
                Ok(tx)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_strictly_increase() {
        for pair in MIGRATIONS.windows(2) {
            assert!(pair[0].version < pair[1].version, "{pair:?}");
        }
    }

    /// Every file in migrations/ is listed, under its own version and name, and nothing else is.
    #[test]
    fn list_matches_migration_files() -> std::io::Result<()> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)?
            .map(|entry| entry.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        files.sort();
        let listed: Vec<String> = MIGRATIONS.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
        assert_eq!(files, listed);
        Ok(())
    }
}
