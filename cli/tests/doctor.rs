//! `friction doctor` against the real services (tansu, PostgreSQL or SQLite, ClickHouse): every
//! check ok on a system set up with the commands the doctor names, and a missing topic and an
//! unmigrated store reported with their fix and a non-zero exit, then gone once the fixes ran.
//!
//! Each test checks a catalogue of its own (topics.yaml with every name prefixed) and consumer
//! groups of its own, so it sees only what it set up.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::text;
use friction_test_support::clickhouse::{unique_database, DropDatabase};
use friction_test_support::{clickhouse_url, postgres_schema_url, postgres_url, unique_with};
use serde_json::Value;

/// topics.yaml with every topic renamed `PREFIX.friction....`, written into `dir`; the path.
fn topics_file(dir: &Path, prefix: &str, leave_out: Option<&str>) -> std::path::PathBuf {
    let mut specs = friction_runtime::topics::catalogue();
    specs.retain(|s| Some(s.name.as_str()) != leave_out);
    let mut yaml = String::from("topics:\n");
    for s in &specs {
        yaml.push_str(&format!(
            "  - name: {prefix}.{}\n    description: test\n    partitions: {}\n    replication: {}\n    cleanup: {}\n    retention_ms: {}\n    key: {}\n    value_schema: {}\n",
            s.name, s.partitions, s.replication, s.cleanup, s.retention_ms, s.key, s.value_schema
        ));
    }
    let path = dir.join(format!("topics-{}.yaml", leave_out.map_or("all", |_| "some")));
    std::fs::write(&path, yaml).expect("topics file");
    path
}

/// `friction ARGS` with only the given environment of Friction's (the test's own is removed).
fn friction(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction"));
    cmd.args(args).stdin(Stdio::null());
    for var in [
        "DATABASE_URL",
        "FRICTION_BROKERS",
        "CLICKHOUSE_URL",
        "CLICKHOUSE_DATABASE",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_PASSWORD",
        "FRICTION_DATA_DIR",
        "FRICTION_KAFKA_PROPERTIES",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("friction runs")
}

fn ok(out: &std::process::Output, what: &str) {
    assert!(out.status.success(), "{what}: {} {}", text(&out.stdout), text(&out.stderr));
}

/// The doctor's JSON report and exit code.
fn doctor(topics: &Path, env: &[(&str, String)]) -> (i32, Vec<Value>) {
    let out = friction(&["doctor", "--json", "--topics-file", &topics.display().to_string()], env);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {} {}", text(&out.stdout), text(&out.stderr)));
    (out.status.code().unwrap_or(-1), report["checks"].as_array().cloned().unwrap_or_default())
}

fn find<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks.iter().find(|c| c["check"] == name).unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

/// The environment every command of a test gets: the broker, and groups of the test's own.
fn base_env(brokers: &str, groups: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("FRICTION_BROKERS", brokers.to_string()),
        ("FRICTION_KAFKA_PROPERTIES", friction_test_support::kafka::kafka_properties().join(",")),
        ("FRICTION_LOG", "warn".to_string()),
    ];
    for (var, stage) in [
        ("FRICTION_SESSIONIZER_GROUP", "sessionizer"),
        ("FRICTION_DETECTOR_GROUP", "detector"),
        ("FRICTION_INCIDENTS_GROUP", "incidents"),
        ("FRICTION_EXPORTER_GROUP", "exporter"),
        ("FRICTION_WAREHOUSE_GROUP", "warehouse"),
    ] {
        env.push((var, format!("{groups}-{stage}")));
    }
    env
}

#[test]
fn doctor_is_all_ok_on_a_set_up_system() {
    let what = "doctor_is_all_ok_on_a_set_up_system";
    let Some(brokers) = friction_test_support::kafka::brokers_or_skip(what) else { return };
    let Some(pg) = postgres_url(what) else { return };
    let Some(ch) = clickhouse_url(what) else { return };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = unique_with("doctor", '-');
    let topics = topics_file(dir.path(), &prefix, None);

    let schema = unique_with("doctor", '_');
    rt.block_on(async {
        let admin = friction_store::Store::connect(&pg).await.expect("postgres");
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(admin.pool()).await.expect("schema");
    });
    let database = unique_database("doctor");
    let _drop = DropDatabase { url: ch.clone(), database: database.clone() };

    let mut env = base_env(&brokers, &prefix);
    env.push(("DATABASE_URL", postgres_schema_url(&pg, &schema)));
    env.push(("CLICKHOUSE_URL", ch.clone()));
    env.push(("CLICKHOUSE_DATABASE", database.clone()));
    env.push(("FRICTION_DATA_DIR", dir.path().display().to_string()));

    // The set-up the doctor's fixes name: topics, store migrations, warehouse tables.
    ok(&friction(&["topics", "apply", "--file", &topics.display().to_string()], &env), "topics apply");
    ok(&friction(&["migrate"], &env), "migrate");
    ok(&friction(&["warehouse", "migrate"], &env), "warehouse migrate");

    let (code, checks) = doctor(&topics, &env);
    for c in &checks {
        assert_eq!(c["status"], "ok", "{c}");
    }
    assert_eq!(code, 0, "{checks:?}");
    let names: Vec<&str> = checks.iter().filter_map(|c| c["check"].as_str()).collect();
    for expected in [
        "broker",
        "store migrations",
        "integrations",
        "warehouse schema",
        "clock vs PostgreSQL",
        "clock vs ClickHouse",
        "lag sessionizer",
        "lag detector",
        "lag incidents",
        "lag exporter",
        "lag warehouse",
    ] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    for spec in friction_runtime::topics::catalogue() {
        find(&checks, &format!("topic {prefix}.{}", spec.name));
    }

    rt.block_on(async {
        let admin = friction_store::Store::connect(&pg).await.expect("postgres");
        let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(admin.pool()).await;
    });
}

#[test]
fn doctor_reports_a_missing_topic_and_an_unmigrated_store_with_their_fixes() {
    let what = "doctor_reports_a_missing_topic_and_an_unmigrated_store_with_their_fixes";
    let Some(brokers) = friction_test_support::kafka::brokers_or_skip(what) else { return };
    let dir = tempfile::tempdir().expect("tmp");
    let prefix = unique_with("doctor", '-');
    let all = topics_file(dir.path(), &prefix, None);
    // Every topic but the incidents topic exists; the SQLite store was never migrated.
    let some = topics_file(dir.path(), &prefix, Some(friction_runtime::topics::INCIDENTS));
    let mut env = base_env(&brokers, &prefix);
    env.push(("FRICTION_DATA_DIR", dir.path().join("data").display().to_string()));
    ok(&friction(&["topics", "apply", "--file", &some.display().to_string()], &env), "topics apply (some)");

    let (code, checks) = doctor(&all, &env);
    assert_eq!(code, 2, "{checks:?}");
    let missing = find(&checks, &format!("topic {prefix}.{}", friction_runtime::topics::INCIDENTS));
    assert_eq!(
        (&missing["status"], &missing["detail"], &missing["fix"]),
        (&"fail".into(), &"missing".into(), &"friction topics apply".into())
    );
    let present = find(&checks, &format!("topic {prefix}.{}", friction_runtime::topics::EVENTS));
    assert_eq!(present["status"], "ok", "{present}");
    let store = find(&checks, "store migrations");
    assert_eq!((&store["status"], &store["fix"]), (&"fail".into(), &"friction migrate".into()), "{store}");
    // The exporter's input is the missing topic: its lag cannot be read.
    assert_eq!(find(&checks, "lag exporter")["status"], "warn");

    // The table says the same, fixes included.
    let out = friction(&["doctor", "--topics-file", &all.display().to_string()], &env);
    assert_eq!(out.status.code(), Some(2));
    let table = text(&out.stdout);
    assert!(table.lines().next().is_some_and(|h| h.starts_with("CHECK") && h.contains("FIX")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("store migrations") && l.contains("fail") && l.ends_with("friction migrate")),
        "{table}"
    );

    // The fixes it names make it pass.
    ok(&friction(&["topics", "apply", "--file", &all.display().to_string()], &env), "topics apply (all)");
    ok(&friction(&["migrate"], &env), "migrate");
    let (code, checks) = doctor(&all, &env);
    assert_eq!(code, 0, "{checks:?}");
}
