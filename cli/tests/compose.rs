//! docker-compose.yml and deploy/k8s/ without Docker or Kubernetes (docs/operations.md): every
//! flag, variable and binary name in them is real.
//!
//! `compose_services_run_as_written`: reads docker-compose.yml, and for each Friction service
//! starts the real binary (target/debug) with the service's own command and environment, its
//! Kafka, PostgreSQL and ClickHouse addresses mapped to the local test services (tansu, the test
//! PostgreSQL or SQLite, the test ClickHouse), its listen addresses to free loopback ports, and
//! topic and group names made unique to the run. The one-shot jobs run first and must succeed;
//! then every stage must answer its health check path; then the `cli` service (as `docker compose
//! run --rm cli ...` would) creates a project, an API key and a Jira integration against the fake
//! Jira, events go through the gateway, and the test waits for the confirmed incident in the store,
//! its ticket in the fake Jira and the events in ClickHouse; the `console` service lists it to a
//! token the cli made and shows its page to a user the cli created, logged in with the form.
//!
//! `k8s_manifests_name_real_binaries_flags_and_variables`: parses every YAML file of deploy/k8s;
//! each Deployment and Job container runs a binary of the image with flags and settings the binary
//! reads, probes /readyz and /healthz on its admin port, each KEDA ScaledObject scales a stage on
//! its real consumer group with at most its topic's partitions, each PodDisruptionBudget selects a
//! Deployment.
//!
//! `dashboards_and_alerts_use_only_emitted_metrics`: every metric name in the Grafana dashboards and
//! the Prometheus rules is one the code emits.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{post, request, text};
use friction_test_support::fakes::{jira_basic, Api, Fake};
use friction_test_support::payloads::rage_batch;
use friction_test_support::{clickhouse_url, postgres_schema_url, service, unique_with, KillOnDrop, POSTGRES_ENV};
use serde_norway::Value;

const EMAIL: &str = "bot@acme.com";
const TOKEN: &str = "ATATT3xFfGF0-compose-test";
/// 32 bytes, hex (docs/exporter.md): what `.env` would hold as FRICTION_MASTER_KEY.
const MASTER_KEY: &str = "4f1c9a7e2b6d8035c1e9f7a2b4d6c8e0a1b3c5d7e9f1a3c5e7b9d1f3a5c7e9b1";
const KEYS_SECRET: &str = "compose-test-keys-secret-0123456789";
const DEADLINE: Duration = Duration::from_secs(120);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Where cargo put the workspace's binaries (next to `friction`, which this package builds).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_friction")).parent().expect("target dir").to_path_buf()
}

/// The binaries deploy/Dockerfile copies into the image.
fn image_binaries() -> BTreeSet<String> {
    let dockerfile = std::fs::read_to_string(repo().join("deploy/Dockerfile")).expect("deploy/Dockerfile");
    dockerfile.split_whitespace().filter_map(|w| w.strip_prefix("target/release/")).map(str::to_string).collect()
}

/// The `[[bin]]` names of every workspace member's Cargo.toml.
fn workspace_binaries() -> BTreeSet<String> {
    let root: toml_lite::Doc = toml_lite::read(&repo().join("Cargo.toml"));
    let mut out = BTreeSet::new();
    for member in root.members {
        for name in toml_lite::read(&repo().join(member).join("Cargo.toml")).bins {
            if !DEVELOPMENT_TOOLS.contains(&name.as_str()) {
                out.insert(name);
            }
        }
    }
    out
}

/// Binaries for developing Friction, not for running it: not in the image.
const DEVELOPMENT_TOOLS: &[&str] = &["friction-fuzz"];

/// Just enough of Cargo.toml: the workspace members and the `[[bin]]` names.
mod toml_lite {
    use std::path::Path;

    #[derive(Default)]
    pub struct Doc {
        pub members: Vec<String>,
        pub bins: Vec<String>,
    }

    pub fn read(path: &Path) -> Doc {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut doc = Doc::default();
        let (mut section, mut in_members) = (String::new(), false);
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line.to_string();
                in_members = false;
                continue;
            }
            let quoted = || line.split('"').nth(1).map(str::to_string);
            if section == "[workspace]" && (line.starts_with("members") || in_members) {
                in_members = !line.ends_with(']');
                doc.members.extend(line.split('"').skip(1).step_by(2).map(str::to_string));
            } else if section == "[[bin]]" && line.starts_with("name") {
                doc.bins.extend(quoted());
            }
        }
        doc
    }
}

/// The binary `name` as cargo built it, which must also be in the image.
fn binary(name: &str) -> PathBuf {
    assert!(image_binaries().contains(name), "{name} is not in deploy/Dockerfile's image: {:?}", image_binaries());
    let path = bin_dir().join(name);
    assert!(path.exists(), "{} not built: `cargo build --bins` (cargo test --workspace builds it)", path.display());
    path
}

/// `${NAME}`, `${NAME:-default}` and `${NAME:?message}` as compose interpolates them from `.env`.
fn interpolate(s: &str, dotenv: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or_else(|| panic!("unclosed ${{ in {s}"));
        let inner = &rest[start + 2..end];
        let (name, value) = if let Some((name, default)) = inner.split_once(":-") {
            (name, dotenv.get(name).cloned().unwrap_or_else(|| default.to_string()))
        } else if let Some((name, message)) = inner.split_once(":?") {
            (name, dotenv.get(name).cloned().unwrap_or_else(|| panic!("{name} unset: {message}")))
        } else {
            (inner, dotenv.get(inner).cloned().unwrap_or_default())
        };
        assert!(name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'), "{inner}");
        out.push_str(&value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => panic!("not a scalar: {other:?}"),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_sequence).map(|s| s.iter().map(scalar).collect()).unwrap_or_default()
}

/// One Friction service of docker-compose.yml: its argv (entrypoint + command) and environment.
#[derive(Debug, Clone)]
struct Service {
    name: String,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    one_shot: bool,
    tools: bool,
    health_path: Option<String>,
    depends_on: Vec<String>,
}

/// The Friction services (built from deploy/Dockerfile), interpolated with `dotenv`.
fn compose_services(dotenv: &BTreeMap<&str, String>) -> Vec<Service> {
    let text = std::fs::read_to_string(repo().join("docker-compose.yml")).expect("docker-compose.yml");
    let mut doc: Value = serde_norway::from_str(&text).expect("docker-compose.yml is YAML");
    doc.apply_merge().expect("merge keys");
    let services = doc.get("services").and_then(Value::as_mapping).expect("services");
    let mut out = Vec::new();
    for (name, def) in services {
        let name = scalar(name);
        let dockerfile = def.get("build").and_then(|b| b.get("dockerfile")).map(scalar);
        if dockerfile.as_deref() != Some("deploy/Dockerfile") {
            continue;
        }
        let mut argv = strings(def.get("entrypoint"));
        argv.extend(strings(def.get("command")));
        let argv: Vec<String> = argv.iter().map(|a| interpolate(a, dotenv)).collect();
        let env = def
            .get("environment")
            .and_then(Value::as_mapping)
            .map(|m| m.iter().map(|(k, v)| (scalar(k), interpolate(&scalar(v), dotenv))).collect())
            .unwrap_or_default();
        let health_path = strings(def.get("healthcheck").and_then(|h| h.get("test")))
            .iter()
            .find_map(|a| {
                // The admin server, or the console's own listener (it serves the health endpoints).
                a.strip_prefix("http://127.0.0.1:9100").or_else(|| a.strip_prefix("http://127.0.0.1:8081"))
            })
            .map(str::to_string);
        let depends_on = match def.get("depends_on") {
            Some(Value::Mapping(m)) => m.keys().map(scalar).collect(),
            Some(Value::Sequence(s)) => s.iter().map(scalar).collect(),
            _ => Vec::new(),
        };
        out.push(Service {
            one_shot: def.get("restart").map(scalar).as_deref() == Some("no"),
            tools: strings(def.get("profiles")).contains(&"tools".to_string()),
            name,
            argv,
            env,
            health_path,
            depends_on,
        });
    }
    out
}

/// `binary [subcommand ...] --help`: the flags and `[env: NAME=]` of what `argv` runs.
fn help_of(argv: &[String]) -> String {
    let subcommands: Vec<&String> = argv[1..].iter().take_while(|a| !a.starts_with('-')).collect();
    let out = Command::new(binary(&argv[0])).args(&subcommands).arg("--help").output().expect("--help runs");
    assert!(out.status.success(), "{argv:?} --help: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Whether the binary reads `var`: listed in its `--help`, or (variables read outside clap, such
/// as FRICTION_MASTER_KEY) a string inside the executable.
fn reads_var(argv: &[String], help: &str, var: &str) -> bool {
    help.contains(&format!("[env: {var}=")) || uppercase_runs(&argv[0]).iter().any(|run| run.contains(var))
}

/// The runs of `[A-Z0-9_]` (8 or more) in binary `name`: where its string constants are, read once.
fn uppercase_runs(name: &str) -> std::sync::Arc<Vec<String>> {
    static CACHE: std::sync::Mutex<BTreeMap<String, std::sync::Arc<Vec<String>>>> =
        std::sync::Mutex::new(BTreeMap::new());
    let mut cache = CACHE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    cache
        .entry(name.to_string())
        .or_insert_with(|| {
            let bytes = std::fs::read(binary(name)).expect("binary");
            let runs: Vec<String> = bytes
                .split(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_'))
                .filter(|run| run.len() >= 8)
                .map(|run| String::from_utf8_lossy(run).into_owned())
                .collect();
            std::sync::Arc::new(runs)
        })
        .clone()
}

/// Every `--flag` of `argv` is in the help of what it runs, every variable of `env` is read.
fn assert_real(what: &str, argv: &[String], env: &BTreeMap<String, String>) {
    let help = help_of(argv);
    for flag in argv.iter().filter(|a| a.starts_with("--") && *a != "--help") {
        let flag = flag.split('=').next().unwrap_or(flag);
        assert!(
            help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
            "{what}: {flag} is not a flag of {argv:?}"
        );
    }
    for var in env.keys() {
        assert!(reads_var(argv, &help, var), "{what}: {} does not read {var}", argv[0]);
    }
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

/// Polls `f` until it returns `Ok`, failing after [`DEADLINE`] with `what` and the last state.
fn wait_for<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    common::wait_within(what, DEADLINE, f)
}

/// Replaces the value after `flag` in `argv`.
fn set_flag(argv: &mut [String], flag: &str, value: &str) {
    if let Some(i) = argv.iter().position(|a| a == flag) {
        if let Some(v) = argv.get_mut(i + 1) {
            *v = value.to_string();
        }
    }
}

/// The local test services every mapped address goes to, and the run's own names.
struct Local {
    brokers: String,
    database_url: String,
    clickhouse: String,
    clickhouse_database: String,
    topics_file: PathBuf,
    /// Topic and group variables (unique to this run), given to every process.
    names: Vec<(String, String)>,
}

impl Local {
    /// The service's command and environment with compose's hosts replaced by the local services.
    fn map(&self, service: &Service, logs: &Path) -> Command {
        let mut argv = service.argv.clone();
        for flag in ["--admin-addr", "--gateway-addr", "--console-addr"] {
            set_flag(&mut argv, flag, &free_addr());
        }
        let mut cmd = Command::new(binary(&argv[0]));
        cmd.args(&argv[1..]).env_clear();
        if argv[1..].starts_with(&["topics".to_string(), "apply".to_string()]) {
            cmd.arg("--file").arg(&self.topics_file);
        }
        for (k, v) in &service.env {
            let mapped = match k.as_str() {
                "FRICTION_BROKERS" => {
                    assert_eq!(v, "kafka:9092", "{}: {k}", service.name);
                    self.brokers.clone()
                }
                "DATABASE_URL" => {
                    assert!(v.contains("@postgres:5432/"), "{}: {k}={v}", service.name);
                    self.database_url.clone()
                }
                "CLICKHOUSE_URL" => {
                    assert_eq!(v, "http://clickhouse:8123", "{}: {k}", service.name);
                    self.clickhouse.clone()
                }
                "CLICKHOUSE_DATABASE" => self.clickhouse_database.clone(),
                // The test ClickHouse has its default user without a password.
                "CLICKHOUSE_USER" | "CLICKHOUSE_PASSWORD" => continue,
                "FRICTION_ADMIN_ADDR" => free_addr(),
                _ => v.clone(),
            };
            cmd.env(k, mapped);
        }
        for (k, v) in &self.names {
            cmd.env(k, v);
        }
        cmd.env("FRICTION_KAFKA_PROPERTIES", friction_test_support::kafka::kafka_properties().join(","));
        let log = std::fs::File::create(logs.join(format!("{}.log", service.name))).expect("log file");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log);
        cmd
    }
}

/// Where the service's health endpoints answer: its `--admin-addr`, or the console's
/// `--console-addr` (the console serves them on its own listener).
fn admin_addr(cmd: &Command) -> String {
    flag_value(cmd, "--admin-addr")
        .or_else(|| flag_value(cmd, "--console-addr"))
        .expect("--admin-addr or --console-addr in the command")
}

fn flag_value(cmd: &Command, flag: &str) -> Option<String> {
    let args: Vec<String> = cmd.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1).cloned())
}

fn log_of(logs: &Path, name: &str) -> String {
    std::fs::read_to_string(logs.join(format!("{name}.log"))).unwrap_or_default()
}

#[test]
fn compose_services_run_as_written() {
    let what = "compose_services_run_as_written";
    let Some(brokers) = friction_test_support::kafka::brokers_or_skip(what) else { return };
    let Some(ch) = clickhouse_url(what) else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let jira = rt.block_on(Fake::start(Api::Jira, &jira_basic(EMAIL, TOKEN)));
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("logs dir");

    // What `.env` holds (deploy/example.env).
    let dotenv: BTreeMap<&str, String> =
        [("FRICTION_KEYS_SECRET", KEYS_SECRET.to_string()), ("FRICTION_MASTER_KEY", MASTER_KEY.to_string())].into();
    let services = compose_services(&dotenv);
    let names: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
    for expected in [
        "topics",
        "migrate",
        "warehouse-migrate",
        "cli",
        "gateway",
        "sessionizer",
        "detector",
        "incidents",
        "exporter",
        "warehouse",
        "console",
    ] {
        assert!(names.contains(&expected), "no {expected} service in {names:?}");
    }
    // The image holds every binary of the workspace, and each one is some service's command
    // (docs/operations.md, "Topology").
    assert_eq!(image_binaries(), workspace_binaries(), "deploy/Dockerfile copies every [[bin]] of the workspace");
    for bin in image_binaries() {
        assert!(services.iter().any(|s| s.argv[0] == bin), "no service runs {bin}");
    }
    for s in &services {
        assert_real(&s.name, &s.argv, &s.env);
        if !s.one_shot && !s.tools {
            assert_eq!(s.health_path.as_deref(), Some("/readyz"), "{}: health check", s.name);
        }
    }

    // PostgreSQL in a schema of its own when there is one, else SQLite.
    let pg = service(POSTGRES_ENV, "compose test on PostgreSQL (SQLite otherwise)");
    let schema = unique_with("compose", '_');
    let database_url = match &pg {
        Some(pg) => {
            rt.block_on(async {
                let admin = friction_store::Store::connect(pg).await.expect("postgres");
                sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(admin.pool()).await.expect("schema");
            });
            postgres_schema_url(pg, &schema)
        }
        None => format!("sqlite://{}/friction.db", dir.path().display()),
    };
    let run = unique_with("compose", '-');
    let mut names_env = Vec::new();
    let mut topics_yaml = String::from("topics:\n");
    for spec in friction_runtime::topics::catalogue() {
        let unique = format!("{run}.{}", spec.name);
        topics_yaml.push_str(&format!(
            "  - name: {unique}\n    partitions: {}\n    cleanup: {}\n    retention_ms: {}\n    key: {}\n    value_schema: {}\n",
            spec.partitions, spec.cleanup, spec.retention_ms, spec.key, spec.value_schema
        ));
        let var = match spec.name.as_str() {
            friction_runtime::topics::EVENTS => "FRICTION_EVENTS_TOPIC",
            friction_runtime::topics::SESSIONIZED => "FRICTION_SESSIONIZED_TOPIC",
            friction_runtime::topics::SESSIONS => "FRICTION_SESSIONS_TOPIC",
            friction_runtime::topics::SIGNALS => "FRICTION_SIGNALS_TOPIC",
            friction_runtime::topics::INCIDENTS => "FRICTION_INCIDENTS_TOPIC",
            friction_runtime::topics::APIKEYS => "FRICTION_APIKEYS_TOPIC",
            friction_runtime::topics::DEADLETTER => "FRICTION_DEADLETTER_TOPIC",
            friction_runtime::topics::SESSIONIZER_CHANGELOG => "FRICTION_SESSIONIZER_CHANGELOG_TOPIC",
            friction_runtime::topics::DETECTOR_CHANGELOG => "FRICTION_DETECTOR_CHANGELOG_TOPIC",
            other => panic!("no variable for topic {other}"),
        };
        names_env.push((var.to_string(), unique));
    }
    for stage in ["SESSIONIZER", "DETECTOR", "INCIDENTS", "EXPORTER", "WAREHOUSE"] {
        names_env.push((format!("FRICTION_{stage}_GROUP"), format!("{run}-{}", stage.to_lowercase())));
    }
    let topics_file = dir.path().join("topics.yaml");
    std::fs::write(&topics_file, topics_yaml).expect("topics file");
    let clickhouse_database = friction_test_support::clickhouse::unique_database("compose");
    let _drop =
        friction_test_support::clickhouse::DropDatabase { url: ch.clone(), database: clickhouse_database.clone() };
    let local = Local {
        brokers,
        database_url: database_url.clone(),
        clickhouse: ch.clone(),
        clickhouse_database: clickhouse_database.clone(),
        topics_file,
        names: names_env,
    };

    // The one-shot jobs, in their dependency order; each must succeed.
    let jobs: Vec<&Service> = services.iter().filter(|s| s.one_shot).collect();
    for job in &jobs {
        for dep in &job.depends_on {
            assert!(["kafka", "postgres", "clickhouse"].contains(&dep.as_str()), "{} waits for {dep}", job.name);
        }
        let out = local.map(job, &logs).output().expect("job runs");
        assert!(out.status.success(), "{}: {} {}", job.name, text(&out.stdout), log_of(&logs, &job.name));
    }

    // Every long-running service (one copy each), ready on its health check path.
    let mut running: Vec<(String, KillOnDrop)> = Vec::new();
    let mut gateway = None;
    let mut console = None;
    for s in services.iter().filter(|s| !s.one_shot && !s.tools) {
        for dep in &s.depends_on {
            let job = jobs.iter().any(|j| &j.name == dep);
            assert!(job || ["kafka", "postgres", "clickhouse"].contains(&dep.as_str()), "{} waits for {dep}", s.name);
        }
        let mut cmd = local.map(s, &logs);
        let admin = admin_addr(&cmd);
        if let Some(addr) = flag_value(&cmd, "--gateway-addr") {
            gateway = Some(addr);
        }
        if let Some(addr) = flag_value(&cmd, "--console-addr") {
            console = Some(addr);
        }
        let child: Child = cmd.stdout(Stdio::null()).spawn().expect("service starts");
        running.push((s.name.clone(), KillOnDrop(child)));
        let path = s.health_path.clone().unwrap_or_default();
        wait_for(&format!("{} ready at {admin}{path}", s.name), || {
            if let Some((name, child)) = running.iter_mut().find(|(n, _)| n == &s.name) {
                if let Ok(Some(status)) = child.0.try_wait() {
                    panic!("{name} exited {status}: {}", log_of(&logs, name));
                }
            }
            match std::net::TcpStream::connect(&admin) {
                Ok(_) => match request(&admin, "GET", &path, &[], "") {
                    (200, _) => Ok(()),
                    (status, body) => Err(format!("{status} {body}")),
                },
                Err(e) => Err(e.to_string()),
            }
        });
    }
    let gateway = gateway.expect("the gateway service has --gateway-addr");
    let console = console.expect("the console service has --console-addr");

    // `docker compose run --rm cli ...`: a project, an API key, a Jira integration.
    let cli = services.iter().find(|s| s.name == "cli").expect("cli service");
    let cli_run = |args: &[&str], secret: Option<&str>| {
        // The service's command is its default arguments; `run` replaces them.
        let cmd = local.map(cli, &logs);
        let mut run = Command::new(cmd.get_program());
        run.env_clear().args(args).stdin(Stdio::null());
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                run.env(k, v);
            }
        }
        if let Some(secret) = secret {
            run.env("FRICTION_INTEGRATION_SECRET", secret);
        }
        let out = run.output().expect("cli runs");
        assert!(out.status.success(), "cli {args:?}: {} {}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout).trim().to_string()
    };
    cli_run(&["projects", "create", "shop"], None);
    let key = cli_run(&["keys", "create", "--project", "shop"], None);
    let jira_url = jira.url();
    cli_run(&common::jira_integration_args(&jira_url, EMAIL), Some(TOKEN));
    let doctor = cli_run(&["doctor", "--topics-file", &local.topics_file.display().to_string()], None);
    assert!(doctor.starts_with("CHECK"), "{doctor}");
    // The doctor's integration test call reaches the fake Jira with the stored credential. (The
    // whole report is not asserted ok here: the stages have not committed on every input yet.)
    let json = cli_run(
        &["doctor", "--json", "--test-integrations", "--topics-file", &local.topics_file.display().to_string()],
        None,
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let jira_check = report["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["check"] == "integration jira")
        .unwrap_or_else(|| panic!("no integration check: {json}"));
    assert_eq!(jira_check["status"], "ok", "{jira_check}");
    assert!(jira_check["detail"].as_str().is_some_and(|d| d.contains("test call ok")), "{jira_check}");

    // Three shoppers rage on the same dead button, through the gateway.
    let now = friction_runtime::now_ms();
    for (i, session) in ["compose-s1", "compose-s2", "compose-s3"].iter().enumerate() {
        let body = rage_batch(session, &format!("user-{i}"), "pay", now - 1000 * (3 - i as i64));
        wait_for("the gateway accepts the key", || match post(&gateway, &key, &body) {
            (202, _) => Ok(()),
            (status, body) => Err(format!("{status} {body}")),
        });
    }

    // A confirmed incident in the store, its ticket in the fake Jira, the events in ClickHouse.
    let incident: String = wait_for("a confirmed incident in the store", || {
        rt.block_on(async {
            let store = friction_store::Store::connect(&database_url).await.map_err(|e| e.to_string())?;
            let rows: Vec<(String, String)> = sqlx::query_as("SELECT id, status FROM incidents")
                .fetch_all(store.pool())
                .await
                .map_err(|e| e.to_string())?;
            store.close().await;
            rows.iter().find(|(_, s)| s == "confirmed").map(|(id, _)| id.clone()).ok_or_else(|| format!("{rows:?}"))
        })
    });
    wait_for("its ticket in the fake Jira", || {
        let issues = jira.issues();
        let mine = issues.iter().filter(|i| i.body.contains(&incident)).count();
        if mine == 1 {
            Ok(())
        } else {
            Err(format!("{mine} tickets for {incident} of {}", issues.len()))
        }
    });
    wait_for("the events in ClickHouse", || {
        rt.block_on(async {
            let client = ::clickhouse::Client::default().with_url(&ch).with_database("system").with_validation(false);
            let n: u64 = client
                .query(&format!("SELECT count() FROM {clickhouse_database}.events"))
                .fetch_one()
                .await
                .map_err(|e| e.to_string())?;
            if n >= 15 {
                Ok(())
            } else {
                Err(format!("{n} events"))
            }
        })
    });

    // The console service shows it: to a token made by the cli service, and on its pages to a user
    // the cli service created.
    let token = cli_run(&["tokens", "create", "--role", "viewer", "--label", "compose"], None);
    let (status, body) = common::get(&console, "/v1/incidents", Some(&token));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&incident), "{incident} not in {body}");
    let password = cli_run(&["users", "create", "ops", "--role", "viewer"], None);
    let form = format!("username=ops&password={password}");
    let (status, head, _) =
        common::request_with(&console, "POST", "/login", &[], "application/x-www-form-urlencoded", &form);
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    let (status, _, page) = common::request_with(
        &console,
        "GET",
        &format!("/incidents/{incident}"),
        &[("Cookie", &cookie)],
        "text/plain",
        "",
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<span>ops · viewer</span>"), "{page}");
    assert!(page.contains("<h1>Rage clicks on an unresponsive element on pay at /checkout</h1>"), "{page}");

    // The doctor, as an operator would run it on the stack: every check ok once the stages have
    // committed what they read (lag 0 on every partition with data).
    wait_for("friction doctor all ok on the running stack", || {
        let cmd = local.map(cli, &logs);
        let args = ["doctor", "--json", "--topics-file", &local.topics_file.display().to_string()];
        let out = Command::new(cmd.get_program())
            .env_clear()
            .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        let not_ok: Vec<&serde_json::Value> =
            report["checks"].as_array().into_iter().flatten().filter(|c| c["status"] != "ok").collect();
        if out.status.code() == Some(0) && not_ok.is_empty() {
            Ok(())
        } else {
            Err(format!("exit {:?}: {not_ok:?}", out.status.code()))
        }
    });

    for (name, mut child) in running {
        if let Ok(Some(status)) = child.0.try_wait() {
            panic!("{name} exited {status}: {}", log_of(&logs, &name));
        }
        let _ = child.0.kill();
    }
    if let Some(pg) = &pg {
        rt.block_on(async {
            let admin = friction_store::Store::connect(pg).await.expect("postgres");
            let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE")).execute(admin.pool()).await;
        });
    }
}

/// Every document of every YAML file under `dir`, with its file name.
fn yaml_documents(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                files.push(path);
            }
        }
    }
    files.sort();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("read");
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value: Value =
                serde::Deserialize::deserialize(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.strip_prefix(dir).unwrap_or(&path).display().to_string(), value));
        }
    }
    out
}

#[test]
fn k8s_manifests_name_real_binaries_flags_and_variables() {
    let k8s = repo().join("deploy/k8s");
    let docs = yaml_documents(&k8s);
    assert!(!docs.is_empty());
    // The settings every container gets: the ConfigMap literals and the Secret's keys.
    let mut settings: BTreeMap<String, String> = BTreeMap::new();
    for (file, doc) in &docs {
        for generator in ["configMapGenerator", "secretGenerator"] {
            for g in doc.get(generator).and_then(Value::as_sequence).into_iter().flatten() {
                for lit in strings(g.get("literals")) {
                    let (k, v) = lit.split_once('=').unwrap_or_else(|| panic!("{file}: {lit}"));
                    settings.insert(k.to_string(), v.to_string());
                }
                for env_file in strings(g.get("envs")) {
                    let dir = k8s.join(Path::new(file).parent().unwrap_or(Path::new("")));
                    let text = std::fs::read_to_string(dir.join(&env_file)).expect("env file");
                    for line in text.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
                        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{env_file}: {line}"));
                        settings.insert(k.to_string(), v.to_string());
                    }
                }
            }
        }
    }
    assert!(settings.contains_key("FRICTION_BROKERS") && settings.contains_key("FRICTION_MASTER_KEY"), "{settings:?}");

    let topics = friction_runtime::topics::catalogue();
    let mut deployments = BTreeMap::new();
    let mut scaled = BTreeSet::new();
    let mut containers_checked = 0;
    for (file, doc) in &docs {
        let kind = doc.get("kind").map(scalar).unwrap_or_default();
        let name = doc.get("metadata").and_then(|m| m.get("name")).map(scalar).unwrap_or_default();
        match kind.as_str() {
            "Deployment" | "Job" => {
                let spec =
                    doc.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("spec")).expect("pod spec");
                let mut containers: Vec<&Value> = Vec::new();
                for key in ["initContainers", "containers"] {
                    containers.extend(spec.get(key).and_then(Value::as_sequence).into_iter().flatten());
                }
                for c in containers {
                    let mut argv = strings(c.get("command"));
                    argv.extend(strings(c.get("args")));
                    assert!(!argv.is_empty(), "{file} {name}: a container without a command");
                    let mut env: BTreeMap<String, String> = settings.clone();
                    for e in c.get("env").and_then(Value::as_sequence).into_iter().flatten() {
                        env.insert(e.get("name").map(scalar).unwrap_or_default(), String::new());
                    }
                    // Every container gets the whole ConfigMap: each key must be read by some
                    // binary; per container only its own flags and direct `env` entries.
                    let own: BTreeMap<String, String> = c
                        .get("env")
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .map(|e| (e.get("name").map(scalar).unwrap_or_default(), String::new()))
                        .collect();
                    assert_real(&format!("{file} {name}"), &argv, &own);
                    containers_checked += 1;
                    if kind == "Deployment" {
                        let ports: Vec<String> = c
                            .get("ports")
                            .and_then(Value::as_sequence)
                            .into_iter()
                            .flatten()
                            .filter_map(|p| p.get("name").map(scalar))
                            .collect();
                        // The console serves its health endpoints on its own listener.
                        let health_port = if argv[0] == "friction-console" { "http" } else { "admin" };
                        assert!(ports.iter().any(|p| p == health_port), "{file} {name}: no {health_port} port");
                        for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
                            let get = c
                                .get(probe)
                                .and_then(|p| p.get("httpGet"))
                                .unwrap_or_else(|| panic!("{file} {name}: no {probe}"));
                            assert_eq!(get.get("path").map(scalar).as_deref(), Some(path), "{file} {name} {probe}");
                            assert_eq!(
                                get.get("port").map(scalar).as_deref(),
                                Some(health_port),
                                "{file} {name} {probe}"
                            );
                        }
                        deployments.insert(name.clone(), argv[0].clone());
                    }
                }
            }
            "ScaledObject" => {
                let spec = doc.get("spec").expect("spec");
                let target = spec.get("scaleTargetRef").and_then(|t| t.get("name")).map(scalar).expect("target");
                let max: i32 =
                    spec.get("maxReplicaCount").map(scalar).and_then(|m| m.parse().ok()).expect("maxReplicaCount");
                for t in spec.get("triggers").and_then(Value::as_sequence).into_iter().flatten() {
                    assert_eq!(t.get("type").map(scalar).as_deref(), Some("kafka"), "{name}");
                    let meta = t.get("metadata").expect("metadata");
                    let topic = meta.get("topic").map(scalar).expect("topic");
                    assert!(topics.iter().any(|s| s.name == topic), "{name}: no topic {topic} in topics.yaml");
                    let group = meta.get("consumerGroup").map(scalar).expect("consumerGroup");
                    let env = meta.get("bootstrapServersFromEnv").map(scalar).expect("bootstrapServersFromEnv");
                    assert!(settings.contains_key(&env), "{name}: {env} is not in the settings");
                    scaled.insert((target.clone(), group, topic, max));
                }
            }
            _ => {}
        }
    }
    assert!(containers_checked >= 9, "{containers_checked} containers");
    // Each ScaledObject: a Deployment whose binary's default group is the one watched, and the
    // largest partition count among its topics as its maximum.
    for (target, group, _, max) in &scaled {
        let bin = deployments.get(target).unwrap_or_else(|| panic!("ScaledObject of unknown Deployment {target}"));
        assert_eq!(group, bin, "{target}: the group is the binary's default group");
        let widest = scaled
            .iter()
            .filter(|(t, ..)| t == target)
            .filter_map(|(_, _, topic, _)| topics.iter().find(|s| &s.name == topic))
            .map(|s| s.partitions)
            .max();
        assert_eq!(Some(*max), widest, "{target}: max replicas = partitions");
    }
    for stage in ["sessionizer", "detector", "incidents", "exporter", "warehouse"] {
        assert!(scaled.iter().any(|(t, ..)| t == stage), "no ScaledObject for {stage}");
    }
    // Every setting is read by a binary of the image.
    let all_help: String = image_binaries().iter().map(|b| help_of(std::slice::from_ref(b))).collect();
    for var in settings.keys() {
        let read = image_binaries().iter().any(|b| reads_var(std::slice::from_ref(b), &all_help, var));
        assert!(read, "no binary reads the setting {var}");
    }
    // Each PodDisruptionBudget selects a Deployment.
    for (file, doc) in &docs {
        if doc.get("kind").map(scalar).as_deref() == Some("PodDisruptionBudget") {
            let component = doc
                .get("spec")
                .and_then(|s| s.get("selector"))
                .and_then(|s| s.get("matchLabels"))
                .and_then(|l| l.get("app.kubernetes.io/component"))
                .map(scalar)
                .unwrap_or_else(|| panic!("{file}: PDB without a component selector"));
            assert!(deployments.contains_key(&component), "{file}: PDB for {component}, no such Deployment");
        }
    }
}

#[test]
fn dashboards_and_alerts_use_only_emitted_metrics() {
    // Every `friction_*` name inside a metrics macro of the workspace's sources.
    let mut emitted = BTreeSet::new();
    let mut stack = vec![repo()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("dir") {
            let path = entry.expect("entry").path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if path.is_dir() {
                if !["target", ".git", "node_modules", ".services"].contains(&name.as_str()) {
                    stack.push(path);
                }
            } else if name.ends_with(".rs") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                for macro_ in ["counter!(\"", "gauge!(\"", "histogram!(\""] {
                    for part in text.split(macro_).skip(1) {
                        if let Some(name) = part.split('"').next() {
                            emitted.insert(name.to_string());
                        }
                    }
                }
            }
        }
    }
    assert!(emitted.contains("friction_stage_consumer_lag"), "{emitted:?}");
    let metric_names = |text: &str| -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (i, _) in text.match_indices("friction_") {
            let name: String = text[i..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            // Histograms are summaries: `_sum` and `_count` series of an emitted name.
            let base = name.strip_suffix("_sum").or_else(|| name.strip_suffix("_count")).unwrap_or(&name).to_string();
            names.insert(base);
        }
        names
    };
    let mut files = vec![repo().join("deploy/prometheus/alerts.yml")];
    for entry in std::fs::read_dir(repo().join("deploy/grafana/dashboards")).expect("dashboards") {
        files.push(entry.expect("entry").path());
    }
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        if file.extension().is_some_and(|e| e == "json") {
            let _: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        }
        let exprs: String = if file.extension().is_some_and(|e| e == "json") {
            let v: serde_json::Value = serde_json::from_str(&text).expect("json");
            v["panels"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
                .filter_map(|t| t["expr"].as_str().map(str::to_string))
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            let v: Value = serde_norway::from_str(&text).expect("yaml");
            let mut exprs = Vec::new();
            for g in v.get("groups").and_then(Value::as_sequence).into_iter().flatten() {
                for r in g.get("rules").and_then(Value::as_sequence).into_iter().flatten() {
                    exprs.push(r.get("expr").map(scalar).unwrap_or_default());
                    let anchor = r.get("alert").map(scalar).unwrap_or_default().to_lowercase();
                    let runbook =
                        r.get("annotations").and_then(|a| a.get("runbook_url")).map(scalar).unwrap_or_default();
                    let target = runbook.rsplit('#').next().unwrap_or_default();
                    let ops = std::fs::read_to_string(repo().join("docs/operations.md")).expect("docs/operations.md");
                    assert!(
                        ops.contains(&format!("<a id=\"{target}\"></a>")),
                        "{anchor}: no runbook anchor {target} in docs/operations.md"
                    );
                }
            }
            exprs.join("\n")
        };
        for name in metric_names(&exprs) {
            assert!(emitted.contains(&name), "{}: {name} is not emitted by any binary", file.display());
        }
    }
}
