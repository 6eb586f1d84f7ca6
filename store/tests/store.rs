//! The store's behaviour, on every backend: each test runs against a fresh SQLite file and, when
//! `FRICTION_TEST_POSTGRES_URL` is set, against PostgreSQL too, in a schema of its own so tests can
//! run in parallel (cargo test threads or nextest processes) against one server.

use std::collections::BTreeSet;
use std::path::Path;

use friction_store::{hash_api_key, Backend, Migration, Store, StoreError, API_KEY_PREFIX_LEN, MIGRATIONS};
use sqlx::Row;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestResult = Result<(), BoxError>;

use friction_store::testing::{migrated_dbs, test_dbs};

/// Names of the tables in the store's database (or schema).
async fn table_names(store: &Store) -> Result<BTreeSet<String>, sqlx::Error> {
    let sql = match store.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        Backend::Postgres => {
            "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
    };
    let rows = sqlx::query(sql).fetch_all(store.pool()).await?;
    rows.iter().map(|row| row.try_get::<String, _>(0)).collect()
}

/// Every text value stored in any table.
async fn all_text_values(store: &Store) -> Result<Vec<String>, sqlx::Error> {
    let mut values = Vec::new();
    for table in table_names(store).await? {
        let rows = sqlx::query(&format!("SELECT * FROM {table}")).fetch_all(store.pool()).await?;
        for row in &rows {
            for i in 0..row.len() {
                // Non-text columns fail to decode as text and are skipped.
                if let Ok(Some(text)) = row.try_get::<Option<String>, _>(i) {
                    values.push(text);
                }
            }
        }
    }
    Ok(values)
}

fn is_lower_hex(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[tokio::test]
async fn dollar_placeholders_are_positional_on_every_backend() -> TestResult {
    for db in test_dbs().await? {
        // Out of order and repeated: `$N` must mean the N-th bind, not "the next one".
        let row = sqlx::query("SELECT $2 || $1 || $2").bind("a").bind("b").fetch_one(db.store.pool()).await?;
        assert_eq!(row.try_get::<String, _>(0)?, "bab", "{}", db.name());

        let row = sqlx::query("SELECT CAST($1 AS BIGINT) + CAST($1 AS BIGINT)")
            .bind(1_700_000_000_000_i64)
            .fetch_one(db.store.pool())
            .await?;
        assert_eq!(row.try_get::<i64, _>(0)?, 3_400_000_000_000, "{}", db.name());
    }
    Ok(())
}

#[tokio::test]
async fn migrate_applies_each_migration_once() -> TestResult {
    for db in test_dbs().await? {
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(db.store.migrate().await?, all, "{}: first run", db.name());
        assert_eq!(db.store.migrate().await?, Vec::<i64>::new(), "{}: second run", db.name());
        // A new process (a new pool) sees the schema as current too.
        assert_eq!(db.another_store().await?.migrate().await?, Vec::<i64>::new());

        let applied = db.store.applied_migrations().await?;
        assert_eq!(applied.len(), MIGRATIONS.len(), "{}", db.name());
        assert_eq!(applied[0].version, 1);
        assert_eq!(applied[0].name, "projects_and_keys");
        assert!((now_ms() - applied[0].applied_at_ms).abs() < 60_000);

        let tables = table_names(&db.store).await?;
        for table in ["_friction_migrations", "projects", "api_keys"] {
            assert!(tables.contains(table), "{}: {table} missing from {tables:?}", db.name());
        }
    }
    Ok(())
}

/// Migration 5 moves what was counted before signal versions existed into
/// `incident_contributions`: each counted signal a live version 1, so the counts derived from it
/// are the counts kept, a replay of it changes nothing, and a retraction (version 2) takes it out.
#[tokio::test]
async fn migration_5_keeps_what_was_counted_before_versions() -> TestResult {
    for db in test_dbs().await? {
        let (store, name) = (&db.store, db.name());
        store.migrate_with(&MIGRATIONS[..4]).await?;
        sqlx::raw_sql(
            "INSERT INTO incidents (id, project_id, fingerprint, kind, labels, title, route_template, element_key, \
             status, severity, priority, occurrences, sessions, users, first_seen, last_seen, confirmed_at, \
             resolved_at, resolved_releases, releases, latest_release, generation, samples, version, created_at, \
             updated_at) VALUES ('fp', 'p', 'fp', 'dead_click', '[\"dead_click\"]', 't', '/r', 'e', 'confirmed', 1.0, \
             'P3', 3, 3, 3, 10, 30, 40, NULL, NULL, '[]', NULL, 1, '[]', 3, 40, 40); \
             INSERT INTO incident_signals (signal_id, incident_id, session_id, start_ms) VALUES \
             ('a', 'fp', 's1', 10), ('b', 'fp', 's2', 20), ('c', 'fp', 's3', 30); \
             INSERT INTO incident_sessions (incident_id, session_id) VALUES ('fp', 's1'), ('fp', 's2'), ('fp', 's3'); \
             INSERT INTO incident_users (incident_id, user_key) VALUES ('fp', 's:s1'), ('fp', 's:s2'), ('fp', 's:s3');",
        )
        .execute(store.pool())
        .await?;
        // Migration 5 and every later one (the store's reads below expect the latest schema).
        let later: Vec<_> = MIGRATIONS[4..].iter().map(|m| m.version).collect();
        assert_eq!(store.migrate().await?, later, "{name}");
        let tables = table_names(store).await?;
        assert!(
            tables.contains("incident_contributions") && !tables.contains("incident_signals"),
            "{name}: {tables:?}"
        );

        let incident = store.incident("fp").await?.ok_or("incident")?;
        assert!(!incident.confirmed_manually, "{name}");
        let mut tx = store.begin_incidents().await?;
        let totals = tx.live_totals(&["fp"]).await?;
        let fp = totals.get("fp").ok_or("totals")?;
        assert_eq!((fp.signals, fp.sessions, fp.users, fp.first_seen_ms), (3, 3, 3, 10), "{name}");
        let stored = tx.contributions(&[("fp", "a"), ("fp", "x")]).await?;
        assert_eq!(stored.len(), 1, "{name}");
        assert_eq!(stored.get(&("fp".to_owned(), "a".to_owned())).map(|c| (c.version, c.live)), Some((1, true)));
        assert_eq!(tx.live_labels(&["fp"]).await?.get("fp"), Some(&vec!["dead_click".to_owned()]), "{name}");

        // A replayed version 1 is not written; a version 2 retraction is, once.
        let row = |version: i64, live: bool| friction_store::Contribution {
            incident_id: "fp".into(),
            signal_id: "c".into(),
            version,
            live,
            session_id: "s3".into(),
            user_key: "s:s3".into(),
            start_ms: 30,
            end_ms: 31,
            log_level: None,
            labels: vec!["dead_click".into()],
            release: None,
            sample: None,
        };
        assert!(tx.save_contributions(&[row(1, true)]).await?.is_empty(), "{name}: replay");
        assert_eq!(tx.save_contributions(&[row(2, false)]).await?.len(), 1, "{name}");
        assert!(tx.save_contributions(&[row(2, false)]).await?.is_empty(), "{name}: the same version again");
        let totals = tx.live_totals(&["fp"]).await?;
        let fp = totals.get("fp").ok_or("totals")?;
        assert_eq!((fp.signals, fp.sessions, fp.users, fp.last_seen_ms), (2, 2, 2, 20), "{name}");
        let points = tx.confirmation_points("fp", i64::MIN, i64::MAX).await?;
        assert_eq!(points.iter().map(|p| p.session_id.as_str()).collect::<Vec<_>>(), ["s1", "s2"], "{name}");
        tx.commit().await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_all_succeed_and_apply_once() -> TestResult {
    for db in test_dbs().await? {
        let mut stores = vec![db.store.clone()];
        for _ in 0..3 {
            stores.push(db.another_store().await?);
        }
        let tasks: Vec<_> =
            stores.into_iter().map(|store| tokio::spawn(async move { store.migrate().await })).collect();
        let mut applied_by_someone = Vec::new();
        for task in tasks {
            let applied = task.await?.map_err(|e| format!("{}: {e}", db.name()))?;
            applied_by_someone.extend(applied);
        }
        applied_by_someone.sort();
        let all: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        assert_eq!(applied_by_someone, all, "{}: each applied exactly once", db.name());
        assert_eq!(db.store.applied_migrations().await?.len(), MIGRATIONS.len());
    }
    Ok(())
}

#[tokio::test]
async fn failed_migration_rolls_back_and_later_migrations_apply() -> TestResult {
    for db in migrated_dbs().await? {
        let broken = Migration {
            version: 9001,
            name: "broken",
            sql: "CREATE TABLE half_done (id TEXT NOT NULL PRIMARY KEY);\nTHIS IS NOT SQL;\n",
        };
        let with_broken: Vec<Migration> = MIGRATIONS.iter().copied().chain([broken]).collect();
        match db.store.migrate_with(&with_broken).await {
            Err(StoreError::Migration { version, name, .. }) => {
                assert_eq!((version, name), (9001, "broken"), "{}", db.name())
            }
            other => panic!("{}: expected a migration error, got {other:?}", db.name()),
        }
        let tables = table_names(&db.store).await?;
        assert!(!tables.contains("half_done"), "{}: not rolled back", db.name());
        assert_eq!(db.store.applied_migrations().await?.len(), MIGRATIONS.len());

        // Several statements, comments and a trailing one: what later migrations look like.
        let fixed = Migration {
            version: 9001,
            name: "people",
            sql: "-- people; with a semicolon in a comment\n\
                  CREATE TABLE people (id TEXT NOT NULL PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n\
                  CREATE INDEX people_email ON people (email);\n\
                  INSERT INTO people (id, email) VALUES ('u1', 'a@example.com');\n\
                  -- trailing comment\n",
        };
        let with_fixed: Vec<Migration> = MIGRATIONS.iter().copied().chain([fixed]).collect();
        assert_eq!(db.store.migrate_with(&with_fixed).await?, vec![9001], "{}", db.name());
        assert_eq!(db.store.migrate_with(&with_fixed).await?, Vec::<i64>::new());
        let row = sqlx::query("SELECT email FROM people WHERE id = $1").bind("u1").fetch_one(db.store.pool()).await?;
        assert_eq!(row.try_get::<String, _>(0)?, "a@example.com");
    }
    Ok(())
}

#[tokio::test]
async fn projects_are_created_listed_and_found() -> TestResult {
    for db in migrated_dbs().await? {
        let before = now_ms();
        let shop = db.store.create_project("shop").await?;
        let alpha = db.store.create_project("alpha-2_b").await?;
        assert_eq!(shop.name, "shop");
        for project in [&shop, &alpha] {
            assert_eq!(project.id.len(), 16, "{}", db.name());
            assert!(is_lower_hex(&project.id), "{}", project.id);
            assert!(project.created_at_ms >= before && project.created_at_ms <= now_ms());
        }
        assert_ne!(shop.id, alpha.id);

        let listed = db.store.list_projects().await?;
        assert_eq!(listed, vec![alpha.clone(), shop.clone()], "{}: by name", db.name());
        assert_eq!(db.store.project_by_name("shop").await?, Some(shop.clone()));
        assert_eq!(db.store.project_by_id(&alpha.id).await?, Some(alpha.clone()));
        assert_eq!(db.store.project_by_name("nope").await?, None);
        assert_eq!(db.store.project_by_id("0000000000000000").await?, None);
    }
    Ok(())
}

#[tokio::test]
async fn duplicate_project_names_are_refused() -> TestResult {
    for db in migrated_dbs().await? {
        let first = db.store.create_project("shop").await?;
        match db.store.create_project("shop").await {
            Err(StoreError::ProjectExists(name)) => assert_eq!(name, "shop", "{}", db.name()),
            other => panic!("{}: expected ProjectExists, got {other:?}", db.name()),
        }
        assert_eq!(db.store.list_projects().await?, vec![first], "{}", db.name());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_creations_of_one_name_have_one_winner() -> TestResult {
    for db in migrated_dbs().await? {
        let other = db.another_store().await?;
        let (a, b) = tokio::join!(db.store.create_project("race"), other.create_project("race"));
        let results = [a, b];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let lost = results.iter().filter(|r| matches!(r, Err(StoreError::ProjectExists(n)) if n == "race")).count();
        assert_eq!((won, lost), (1, 1), "{}: {results:?}", db.name());
        assert_eq!(db.store.list_projects().await?.len(), 1);
    }
    Ok(())
}

#[tokio::test]
async fn invalid_project_names_are_refused_with_the_rule() -> TestResult {
    for db in migrated_dbs().await? {
        let too_long = "a".repeat(65);
        let cases: [(&str, &str); 6] = [
            ("", "empty"),
            (&too_long, "at most 64"),
            ("-shop", "start with"),
            ("Shop", "start with"),
            ("my shop", "' ' at position 3"),
            ("shop!", "'!' at position 5"),
        ];
        for (name, rule) in cases {
            match db.store.create_project(name).await {
                Err(StoreError::InvalidProjectName { name: n, reason }) => {
                    assert_eq!(n, name);
                    assert!(reason.contains(rule), "{name:?}: {reason:?} lacks {rule:?}");
                }
                other => panic!("{}: {name:?}: expected InvalidProjectName, got {other:?}", db.name()),
            }
        }
        assert!(db.store.list_projects().await?.is_empty(), "{}", db.name());
        // The longest allowed name is fine.
        db.store.create_project(&"a".repeat(64)).await?;
    }
    Ok(())
}

#[tokio::test]
async fn api_key_secret_is_returned_once_and_only_its_hash_is_stored() -> TestResult {
    for db in migrated_dbs().await? {
        let project = db.store.create_project("shop").await?;
        let before = now_ms();
        let new = db.store.create_api_key("shop", Some("web")).await?;
        let secret = &new.secret;

        assert_eq!(secret.len(), 68);
        assert!(secret.starts_with("frk_") && is_lower_hex(&secret[4..]), "{secret}");
        let key = &new.key;
        assert_eq!(key.key_hash, hash_api_key(secret));
        assert_eq!(key.prefix, secret[..API_KEY_PREFIX_LEN]);
        assert_eq!(key.id.len(), 16);
        assert!(is_lower_hex(&key.id));
        assert_eq!(key.project_id, project.id);
        assert_eq!(key.project_name, "shop");
        assert_eq!(key.label.as_deref(), Some("web"));
        assert!(key.created_at_ms >= before && key.created_at_ms <= now_ms());
        assert_eq!(key.revoked_at_ms, None);
        assert!(!format!("{new:?}").contains(secret.as_str()), "Debug leaks the secret");

        // The gateway's lookup finds it by the hash of what the client sends.
        assert_eq!(db.store.api_key_by_hash(&hash_api_key(secret)).await?.as_ref(), Some(key));
        assert_eq!(db.store.api_key_by_hash(&hash_api_key("frk_other")).await?, None);

        // Nothing stored anywhere holds the secret or its unshown part.
        let hidden = &secret[API_KEY_PREFIX_LEN..];
        let values = all_text_values(&db.store).await?;
        assert!(values.contains(&key.key_hash), "{}: scan saw no hash", db.name());
        assert!(values.contains(&key.prefix), "{}: scan saw no prefix", db.name());
        for value in &values {
            assert!(!value.contains(hidden), "{}: secret stored in {value:?}", db.name());
        }
        // On SQLite, also look at the bytes of the database files themselves.
        if let Some(dir) = db.dir() {
            let mut files = 0;
            for entry in std::fs::read_dir(dir)? {
                let bytes = std::fs::read(entry?.path())?;
                files += 1;
                assert!(
                    !bytes.windows(hidden.len()).any(|w| w == hidden.as_bytes()),
                    "secret found in a database file"
                );
            }
            assert!(files >= 1);
        }

        // Each key gets its own secret.
        let second = db.store.create_api_key("shop", None).await?;
        assert_ne!(second.secret, new.secret);
        assert_eq!(second.key.label, None);
    }
    Ok(())
}

#[tokio::test]
async fn api_keys_are_listed_with_prefix_and_project() -> TestResult {
    for db in migrated_dbs().await? {
        db.store.create_project("shop").await?;
        db.store.create_project("blog").await?;
        let a = db.store.create_api_key("shop", Some("web")).await?.key;
        let b = db.store.create_api_key("shop", Some("  ")).await?.key;
        let c = db.store.create_api_key("blog", None).await?.key;
        assert_eq!(b.label, None, "a blank label is no label");

        let shop: Vec<String> = db.store.list_api_keys(Some("shop")).await?.into_iter().map(|k| k.id).collect();
        let mut expected = vec![a.id.clone(), b.id.clone()];
        expected.sort();
        let mut sorted = shop.clone();
        sorted.sort();
        assert_eq!(sorted, expected, "{}", db.name());

        let all = db.store.list_api_keys(None).await?;
        assert_eq!(all.len(), 3, "{}", db.name());
        let listed_c = all.iter().find(|k| k.id == c.id).ok_or("key c not listed")?;
        assert_eq!(listed_c, &c);
        assert_eq!(listed_c.project_name, "blog");
        assert!(listed_c.prefix.starts_with("frk_") && listed_c.prefix.len() == API_KEY_PREFIX_LEN);
        assert!(all.iter().all(|k| k.prefix.len() == API_KEY_PREFIX_LEN));

        match db.store.list_api_keys(Some("nope")).await {
            Err(StoreError::ProjectNotFound(name)) => assert_eq!(name, "nope"),
            other => panic!("{}: expected ProjectNotFound, got {other:?}", db.name()),
        }
        match db.store.create_api_key("nope", None).await {
            Err(StoreError::ProjectNotFound(name)) => assert_eq!(name, "nope"),
            other => panic!("{}: expected ProjectNotFound, got {other:?}", db.name()),
        }
        match db.store.create_api_key("shop", Some("line\nbreak")).await {
            Err(StoreError::InvalidKeyLabel { .. }) => {}
            other => panic!("{}: expected InvalidKeyLabel, got {other:?}", db.name()),
        }
        assert_eq!(db.store.list_api_keys(None).await?.len(), 3);
    }
    Ok(())
}

#[tokio::test]
async fn keys_are_revoked_by_id_or_prefix() -> TestResult {
    for db in migrated_dbs().await? {
        db.store.create_project("shop").await?;
        let by_id = db.store.create_api_key("shop", None).await?;
        let by_prefix = db.store.create_api_key("shop", None).await?;
        let by_short_prefix = db.store.create_api_key("shop", None).await?;
        let untouched = db.store.create_api_key("shop", None).await?;

        let before = now_ms();
        let revoked = db.store.revoke_api_key(&by_id.key.id).await?;
        assert_eq!(revoked.id, by_id.key.id, "{}", db.name());
        let revoked_at = revoked.revoked_at_ms.ok_or("revoked_at not set")?;
        assert!(revoked_at >= before && revoked_at <= now_ms());
        assert!(!revoked.is_active());
        // The gateway sees the revocation.
        let seen = db.store.api_key_by_hash(&hash_api_key(&by_id.secret)).await?;
        assert_eq!(seen.and_then(|k| k.revoked_at_ms), Some(revoked_at));

        // Revoking twice is fine and keeps the first time.
        let again = db.store.revoke_api_key(&by_id.key.id).await?;
        assert_eq!(again.revoked_at_ms, Some(revoked_at), "{}", db.name());

        let revoked = db.store.revoke_api_key(&by_prefix.key.prefix).await?;
        assert_eq!(revoked.id, by_prefix.key.id, "{}", db.name());
        assert!(revoked.revoked_at_ms.is_some());

        // A shorter start of the prefix works while it is unique.
        let short = &by_short_prefix.key.prefix[..10];
        let others = [&by_id, &by_prefix, &untouched];
        if others.iter().all(|k| !k.key.prefix.starts_with(short)) {
            let revoked = db.store.revoke_api_key(short).await?;
            assert_eq!(revoked.id, by_short_prefix.key.id, "{}", db.name());
        }

        let keys = db.store.list_api_keys(Some("shop")).await?;
        let still_active: Vec<&str> = keys.iter().filter(|k| k.is_active()).map(|k| k.id.as_str()).collect();
        assert!(still_active.contains(&untouched.key.id.as_str()), "{}", db.name());
        assert!(!still_active.contains(&by_id.key.id.as_str()));
        assert!(!still_active.contains(&by_prefix.key.id.as_str()));
    }
    Ok(())
}

#[tokio::test]
async fn unknown_and_ambiguous_keys_are_refused() -> TestResult {
    for db in migrated_dbs().await? {
        db.store.create_project("shop").await?;
        db.store.create_api_key("shop", None).await?;
        db.store.create_api_key("shop", None).await?;

        // Every secret starts with "frk_", so it names both keys.
        match db.store.revoke_api_key("frk_").await {
            Err(StoreError::AmbiguousKeyPrefix { prefix, matches }) => {
                assert_eq!((prefix.as_str(), matches), ("frk_", 2), "{}", db.name())
            }
            other => panic!("{}: expected AmbiguousKeyPrefix, got {other:?}", db.name()),
        }
        // Prefixes match literally: `%` and `_` are no wildcards (as they would be with LIKE).
        for unknown in ["frk%", "%", "____", "frk_zz", "0000000000000000", ""] {
            match db.store.revoke_api_key(unknown).await {
                Err(StoreError::KeyNotFound(given)) => assert_eq!(given, unknown),
                other => panic!("{}: {unknown:?}: expected KeyNotFound, got {other:?}", db.name()),
            }
        }
        let keys = db.store.list_api_keys(None).await?;
        assert!(keys.iter().all(|k| k.is_active()), "{}: nothing revoked", db.name());
    }
    Ok(())
}

#[tokio::test]
async fn foreign_keys_are_enforced() -> TestResult {
    for db in migrated_dbs().await? {
        let result = sqlx::query(
            "INSERT INTO api_keys (id, project_id, key_hash, prefix, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind("k1")
        .bind("no-such-project")
        .bind("h")
        .bind("p")
        .bind(0_i64)
        .execute(db.store.pool())
        .await;
        match result {
            Err(sqlx::Error::Database(e)) => {
                assert!(e.is_foreign_key_violation(), "{}: {e}", db.name())
            }
            other => panic!("{}: expected a foreign key violation, got {other:?}", db.name()),
        }
    }
    Ok(())
}

#[tokio::test]
async fn ping_backend_and_close() -> TestResult {
    for db in test_dbs().await? {
        db.store.ping().await?;
        let expected = if db.dir().is_some() { Backend::Sqlite } else { Backend::Postgres };
        assert_eq!(db.store.backend(), expected);
        assert!(db.store.url_for_display().starts_with(db.name()));
        db.store.close().await;
        assert!(db.store.ping().await.is_err(), "{}: ping after close", db.name());
    }
    Ok(())
}

#[tokio::test]
async fn sqlite_file_in_data_dir_uses_wal_and_foreign_keys() -> TestResult {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("nested dir").join("data");
    let store = Store::from_env_or_dir(Some("  "), &data_dir).await?;
    assert_eq!(store.backend(), Backend::Sqlite);
    assert!(data_dir.join("friction.db").is_file());
    store.migrate().await?;
    store.create_project("shop").await?;

    let mode: String = sqlx::query("PRAGMA journal_mode").fetch_one(store.pool()).await?.try_get(0)?;
    assert_eq!(mode, "wal");
    let foreign_keys: i64 = sqlx::query("PRAGMA foreign_keys").fetch_one(store.pool()).await?.try_get(0)?;
    assert_eq!(foreign_keys, 1);
    let busy_timeout: i64 = sqlx::query("PRAGMA busy_timeout").fetch_one(store.pool()).await?.try_get(0)?;
    assert!(busy_timeout >= 1000, "{busy_timeout}");
    store.close().await;

    // Opening again finds the data.
    let reopened = Store::open_in_dir(&data_dir).await?;
    assert_eq!(reopened.migrate().await?, Vec::<i64>::new());
    assert!(reopened.project_by_name("shop").await?.is_some());
    Ok(())
}

#[tokio::test]
async fn from_env_or_dir_prefers_the_url() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("elsewhere.db");
    let url = format!("sqlite://{}", file.display());
    let store = Store::from_env_or_dir(Some(&url), &dir.path().join("unused")).await?;
    assert!(file.is_file());
    assert!(!dir.path().join("unused").exists());
    assert_eq!(store.backend(), Backend::Sqlite);

    if let Some(pg) = friction_test_support::postgres_url("the PostgreSQL half of this test") {
        let store = Store::from_env_or_dir(Some(&pg), Path::new("/nonexistent")).await?;
        assert_eq!(store.backend(), Backend::Postgres);
        store.ping().await?;
    }
    Ok(())
}

#[tokio::test]
async fn in_memory_sqlite_keeps_its_data() -> TestResult {
    let store = Store::connect("sqlite::memory:").await?;
    store.migrate().await?;
    store.create_project("shop").await?;
    // Many queries in a row must all see the same (single) database.
    for _ in 0..5 {
        assert_eq!(store.list_projects().await?.len(), 1);
        store.create_api_key("shop", None).await?;
    }
    assert_eq!(store.list_api_keys(Some("shop")).await?.len(), 5);
    Ok(())
}

#[tokio::test]
async fn bad_urls_are_refused_without_leaking_passwords() {
    match Store::connect("mysql://root:hunter2@db/friction").await {
        Err(e @ StoreError::InvalidUrl { .. }) => {
            let message = e.to_string();
            assert!(message.contains("mysql://root:***@db/friction"), "{message}");
            assert!(!message.contains("hunter2"));
        }
        other => panic!("expected InvalidUrl, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_postgres_is_unavailable() -> TestResult {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    match Store::connect("postgres://friction:secret@127.0.0.1:1/friction").await {
        Err(e) => assert!(e.is_unavailable(), "not classified as unavailable: {e:?}"),
        Ok(_) => panic!("connected to port 1?"),
    }
    Ok(())
}

/// The data directory and the database files are private (issue 18): a directory the store
/// creates is 0700, and the database, `-wal` and `-shm` files are 0600, also when an existing
/// database was readable by others.
#[cfg(unix)]
#[tokio::test]
async fn sqlite_in_a_data_dir_is_private() -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777);
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("new").join("data");
    let store = Store::open_in_dir(&dir).await?;
    store.migrate().await?;
    store.create_project("shop").await?;
    assert_eq!(mode(&dir)?, 0o700);
    assert_eq!(mode(&tmp.path().join("new"))?, 0o700, "missing parents are created private too");
    let files = friction_store::sqlite_files(&dir.join(friction_store::SQLITE_FILE_NAME));
    for file in &files[..2] {
        assert_eq!(mode(file)?, 0o600, "{}", file.display());
    }
    if files[2].exists() {
        assert_eq!(mode(&files[2])?, 0o600);
    }
    store.close().await;

    // An existing database readable by others is tightened when opened.
    for file in &files {
        if file.exists() {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644))?;
        }
    }
    let store = Store::open_in_dir(&dir).await?;
    for file in files.iter().filter(|f| f.exists()) {
        assert_eq!(mode(file)?, 0o600, "{}", file.display());
    }
    store.close().await;
    Ok(())
}
