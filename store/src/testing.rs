//! Databases for tests of the store and of the crates built on it: a fresh SQLite file always
//! and, when `FRICTION_TEST_POSTGRES_URL` is set, a fresh PostgreSQL schema of its own (so tests
//! can run in parallel against one server), dropped afterwards. Unset, the PostgreSQL half is
//! skipped, or fails the test under `FRICTION_REQUIRE_SERVICES=1` (`friction_test_support`).
//! Not for production use.

use crate::{Store, StoreError};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The variable naming the PostgreSQL server tests may use.
pub const POSTGRES_ENV: &str = friction_test_support::POSTGRES_ENV;

/// One database for one test, dropped afterwards.
pub struct TestDb {
    pub store: Store,
    /// The URL of this very database, to open more stores on it ("other processes").
    pub url: String,
    /// Keeps the SQLite file's directory alive.
    dir: Option<tempfile::TempDir>,
    /// The PostgreSQL schema to drop afterwards, and the URL to drop it through.
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    /// `sqlite` or `postgres`, for assertion messages.
    pub fn name(&self) -> &'static str {
        self.store.backend().as_str()
    }

    /// Another connection pool on the same database.
    pub async fn another_store(&self) -> Result<Store, StoreError> {
        Store::connect(&self.url).await
    }

    /// The SQLite file's directory (None on PostgreSQL).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, schema)) = self.pg_schema.take() else {
            return;
        };
        // Drop may run inside the test's runtime, which cannot be blocked on; use a thread with
        // its own. Failing to clean up only leaves an empty schema behind, so it is not fatal.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            runtime.block_on(async {
                let admin = Store::connect(&admin_url).await?;
                let sql = format!("SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {schema} CASCADE");
                sqlx::raw_sql(&sql).execute(admin.pool()).await?;
                admin.close().await;
                Ok::<_, BoxError>(())
            })?;
            Ok::<_, BoxError>(())
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not drop test schema: {e}"),
            Err(_) => eprintln!("could not drop test schema: cleanup thread panicked"),
        }
    }
}

/// A fresh SQLite file and, if configured, a fresh PostgreSQL schema; not migrated.
pub async fn test_dbs() -> Result<Vec<TestDb>, BoxError> {
    let mut dbs = Vec::new();

    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("friction.db").display());
    dbs.push(TestDb { store: Store::connect(&url).await?, url, dir: Some(dir), pg_schema: None });

    if let Some(admin_url) = friction_test_support::postgres_url("the PostgreSQL half of this test") {
        let schema = format!("friction_test_{:016x}", rand::random::<u64>());
        let admin = Store::connect(&admin_url).await?;
        sqlx::raw_sql(&format!("CREATE SCHEMA {schema}")).execute(admin.pool()).await?;
        admin.close().await;
        let url = friction_test_support::postgres_schema_url(&admin_url, &schema);
        let store = Store::connect(&url).await?;
        dbs.push(TestDb { store, url, dir: None, pg_schema: Some((admin_url, schema)) });
    }
    Ok(dbs)
}

/// [`test_dbs`], migrated.
pub async fn migrated_dbs() -> Result<Vec<TestDb>, BoxError> {
    let dbs = test_dbs().await?;
    for db in &dbs {
        db.store.migrate().await?;
    }
    Ok(dbs)
}
