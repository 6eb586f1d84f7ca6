//! The test ClickHouse: a throwaway database per test, dropped when the test ends.

/// A database name no other test run uses (`prefix_<32 hex digits>`).
pub fn unique_database(prefix: &str) -> String {
    crate::unique_with(prefix, '_')
}

/// Drops `database` on the ClickHouse at `url` when the test ends (passing or not).
pub struct DropDatabase {
    pub url: String,
    pub database: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        let db = self.database.clone();
        // Drop may run inside the test's runtime, which cannot be blocked on: a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let client =
                    ::clickhouse::Client::default().with_url(url).with_database("system").with_validation(false);
                client.query(&format!("DROP DATABASE IF EXISTS {db}")).execute().await.ok()
            })
        })
        .join();
    }
}
