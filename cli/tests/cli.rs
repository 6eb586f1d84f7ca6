//! The `friction` binary as an operator runs it: key management output, errors that name what is
//! wrong, and `friction up` end to end on its embedded broker (start, accept the seed event, stop on
//! SIGTERM, reuse its key on the next start).

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{get, post, request_with, sigterm, start_up, start_up_with, text, wait_exit};

fn friction(dir: &Path, args: &[&str]) -> std::process::Output {
    friction_with_db(dir, None, args)
}

fn friction_with_db(dir: &Path, database_url: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction"));
    cmd.args(args).env("FRICTION_DATA_DIR", dir).env_remove("FRICTION_BROKERS");
    match database_url {
        Some(url) => cmd.env("DATABASE_URL", url),
        None => cmd.env_remove("DATABASE_URL"),
    };
    cmd.output().expect("friction runs")
}

/// SQLite (None) always; PostgreSQL in a fresh schema when FRICTION_TEST_POSTGRES_URL is set.
fn databases() -> Vec<Option<String>> {
    let mut dbs = vec![None];
    if let Some(admin_url) = friction_test_support::postgres_url("the PostgreSQL half of this test") {
        let schema = format!("friction_cli_{:016x}", rand::random::<u64>());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let store = friction_store::Store::connect(&admin_url).await.expect("postgres reachable");
            sqlx::raw_sql(&format!("CREATE SCHEMA {schema}")).execute(store.pool()).await.expect("schema");
            store.close().await;
        });
        dbs.push(Some(friction_test_support::postgres_schema_url(&admin_url, &schema)));
    }
    dbs
}

#[test]
fn keys_create_prints_only_the_key_and_list_never_shows_it() {
    for db in databases() {
        key_lifecycle(db.as_deref());
    }
}

fn key_lifecycle(db: Option<&str>) {
    let dir = tempfile::tempdir().expect("tmp");
    let friction = |dir: &Path, args: &[&str]| friction_with_db(dir, db, args);
    let out = friction(dir.path(), &["projects", "create", "shop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let out = friction(dir.path(), &["keys", "create", "--project", "shop", "--label", "web"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout is only the key: {stdout:?}");
    let secret = lines[0];
    assert!(secret.starts_with("frk_") && secret.len() == 68, "{secret}");
    assert!(text(&out.stderr).contains("no broker given"), "explains that nothing was published");

    let out = friction(dir.path(), &["keys", "list"]);
    let listing = text(&out.stdout);
    assert!(listing.contains(&secret[..12]) && listing.contains("shop") && listing.contains("active"), "{listing}");
    assert!(!listing.contains(&secret[12..]), "the secret is never listed");

    let out = friction(dir.path(), &["keys", "revoke", &secret[..12]]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&friction(dir.path(), &["keys", "list", "--json"]).stdout);
    let row: serde_json::Value = serde_json::from_str(listing.lines().next().expect("row")).expect("json");
    assert!(row["revoked_at_ms"].as_i64().is_some(), "{row}");

    // Both changes are in the audit log, by the CLI, naming the key.
    let key_id = row["id"].as_str().expect("id").to_string();
    let audit = audit_actions(dir.path(), db);
    for action in ["key.create", "key.revoke"] {
        let entry = (String::from("cli"), action.to_string(), format!("key:{key_id}"));
        assert!(audit.contains(&entry), "no {entry:?} in {audit:?}");
    }
}

/// (actor, action, resource) of every audit row of the store in `dir` (or at `db`).
fn audit_actions(dir: &Path, db: Option<&str>) -> Vec<(String, String, String)> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let store = friction_store::Store::from_env_or_dir(db, dir).await.expect("store");
        let rows = store.audit_log(1000).await.expect("audit log");
        store.close().await;
        rows.into_iter().map(|r| (r.actor, r.action, r.resource)).collect()
    })
}

#[test]
fn bad_input_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = friction(dir.path(), &["projects", "create", "Bad Name!"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("Bad Name!") && err.contains("project name"), "{err}");

    let out = friction(dir.path(), &["keys", "create", "--project", "missing"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("missing"), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "no key printed on failure");

    let out = friction(dir.path(), &["keys", "revoke", "frk_nothing"]);
    assert!(!out.status.success());

    let out = friction(dir.path(), &["topics", "apply"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--brokers"), "{}", text(&out.stderr));
}

#[test]
fn help_describes_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_friction")).arg("--help").output().expect("runs");
    assert!(out.status.success());
    // Each command clap knows is listed with its about line (whitespace collapsed: clap pads the
    // name column and may wrap the text).
    let help = text(&out.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    let commands: Vec<(String, String)> = <friction_cli::Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|c| (c.get_name().to_owned(), c.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    let names: Vec<&str> = commands.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "up",
            "topics",
            "projects",
            "keys",
            "tokens",
            "users",
            "migrate",
            "warehouse",
            "integrations",
            "doctor",
            "logwatch"
        ],
        "the commands the README documents"
    );
    for (name, about) in &commands {
        assert!(!about.trim().is_empty(), "{name} has no about line");
        let line = format!("{name} {}", about.split_whitespace().collect::<Vec<_>>().join(" "));
        assert!(help.contains(&line), "{line:?} missing in {help}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_friction")).args(["up", "--help"]).output().expect("runs");
    let help = text(&out.stdout);
    for flag in ["--data-dir", "--gateway-addr", "--console-addr", "--brokers", "DATABASE_URL"] {
        assert!(help.contains(flag), "missing {flag} in {help}");
    }
}

#[test]
fn friction_up_accepts_the_seed_event_stops_on_sigterm_and_reuses_its_key() {
    let dir = tempfile::tempdir().expect("tmp");
    let seed = r#"{"events": [{"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "test-1", "route": "/checkout", "target": {"type": "button"}, "metadata": {}}]}"#;

    let mut up = start_up(dir.path());
    assert!(up.key.starts_with("frk_"));
    let file = std::fs::read_to_string(dir.path().join("api-key")).expect("key file");
    assert_eq!(file.trim(), up.key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("api-key")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (status, body) = post(&up.gateway, &up.key, seed);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body, r#"{"accepted":1,"rejected":[]}"#);
    assert_eq!(post(&up.gateway, "frk_wrong", seed).0, 401);

    // The console API: the first admin token is in DIR/admin-token (0600); no token, no answer.
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).expect("admin token file");
    let admin = admin.trim();
    assert!(admin.starts_with("frt_"), "{admin}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("admin-token")).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let (status, body) = get(&up.console, "/v1/incidents", Some(admin));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"incidents\""), "{body}");
    let (status, body) = get(&up.console, "/v1/incidents", None);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"unauthorized\""), "{body}");

    // The console's pages: the first admin logs in with the password in DIR/admin-password.
    let password = std::fs::read_to_string(dir.path().join("admin-password")).expect("admin password file");
    let password = password.trim();
    assert_eq!(password.len(), 20, "{password}");
    let (status, head, _) = request_with(&up.console, "GET", "/", &[], "text/plain", "");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /login"), "{head}");
    let form = format!("username=admin&password={password}");
    let (status, head, _) =
        request_with(&up.console, "POST", "/login", &[], "application/x-www-form-urlencoded", &form);
    assert_eq!(status, 303, "{head}");
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_string();
    assert!(cookie.starts_with("friction_session="), "{cookie}");
    let (status, _, page) = request_with(&up.console, "GET", "/incidents", &[("Cookie", &cookie)], "text/plain", "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>Incidents</h1>"), "{page}");

    // A key created by another command while `up` runs reaches the gateway through the embedded broker.
    let out = friction(dir.path(), &["keys", "create", "--project", "default"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let second = text(&out.stdout).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = post(&up.gateway, &second, seed);
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "new key not accepted: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }

    sigterm(&up.child);
    let status = wait_exit(&mut up.child, Duration::from_secs(20));
    let log: Vec<String> = up.stderr_rx.try_iter().collect();
    assert!(status.success(), "exit {status:?}; stderr: {log:?}");
    assert!(!dir.path().join("brokers").exists(), "the embedded broker's address file is removed");

    let mut again = start_up(dir.path());
    assert_eq!(again.key, up.key, "later starts reuse the key");
    let reused = std::fs::read_to_string(dir.path().join("admin-token")).expect("admin token file");
    assert_eq!(reused.trim(), admin, "and the admin token");
    assert_eq!(post(&again.gateway, &again.key, seed).0, 202);
    sigterm(&again.child);
    assert!(wait_exit(&mut again.child, Duration::from_secs(20)).success());
}

#[test]
fn tokens_create_prints_only_the_token_list_hides_it_and_revoke_works() {
    for db in databases() {
        let dir = tempfile::tempdir().expect("tmp");
        let friction = |args: &[&str]| friction_with_db(dir.path(), db.as_deref(), args);
        let out = friction(&["tokens", "create", "--role", "engineer", "--label", "ci"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let secret = text(&out.stdout).trim().to_string();
        assert!(secret.starts_with("frt_") && secret.len() == 68, "stdout is only the token: {secret:?}");
        assert!(!text(&out.stderr).contains(&secret), "the secret is printed once, on stdout");

        let out = friction(&["tokens", "list"]);
        let list = text(&out.stdout);
        assert!(list.contains(&secret[..12]) && list.contains("engineer") && list.contains("active"), "{list}");
        assert!(!list.contains(&secret), "list never shows secrets: {list}");

        let out = friction(&["tokens", "revoke", &secret[..12]]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&friction(&["tokens", "list"]).stdout).contains("revoked"));

        assert!(friction(&["projects", "create", "shop"]).status.success());
        let out = friction(&["tokens", "create", "--role", "viewer", "--project", "shop"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let scoped = text(&out.stdout).trim().to_string();
        let shop = text(&friction(&["projects", "list"]).stdout).split('\t').next().unwrap_or("").to_string();
        let list = text(&friction(&["tokens", "list"]).stdout);
        let line = list.lines().find(|l| l.contains(&scoped[..12])).unwrap_or_default();
        assert!(!shop.is_empty() && line.ends_with(&format!("\t{shop}")), "scoped to the project: {line:?} {shop}");
        let out = friction(&["tokens", "create", "--role", "viewer", "--project", "nope"]);
        assert!(!out.status.success() && text(&out.stderr).contains("nope"), "{}", text(&out.stderr));

        let out = friction(&["tokens", "create", "--role", "root"]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("root") && err.contains("viewer") && err.contains("admin"), "{err}");
        let out = friction(&["tokens", "revoke", "frt_nothere"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("frt_nothere"), "{}", text(&out.stderr));
    }
}

#[test]
fn users_are_created_listed_disabled_and_given_new_passwords() {
    for db in databases() {
        let dir = tempfile::tempdir().expect("tmp");
        let friction = |args: &[&str]| friction_with_db(dir.path(), db.as_deref(), args);
        assert!(friction(&["projects", "create", "shop"]).status.success());
        let out = friction(&["users", "create", "alice", "--role", "engineer", "--project", "shop"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let password = text(&out.stdout).trim().to_string();
        assert_eq!(password.len(), 20, "stdout is only the generated password: {password:?}");
        assert!(!text(&out.stderr).contains(&password), "printed once");

        let mut child = Command::new(env!("CARGO_BIN_EXE_friction"))
            .args(["users", "create", "bob", "--role", "viewer", "--password-stdin"])
            .env("FRICTION_DATA_DIR", dir.path())
            .env_remove("FRICTION_BROKERS")
            .envs(db.as_deref().map(|u| ("DATABASE_URL", u)))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"bobs long password\n").expect("write");
        }
        let out = child.wait_with_output().expect("output");
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), "", "a password from stdin is not printed");

        let list = text(&friction(&["users", "list"]).stdout);
        assert!(list.contains("alice\tengineer\t") && list.contains("bob\tviewer\t*\tactive"), "{list}");
        assert!(!list.contains(&password), "{list}");

        assert!(friction(&["users", "disable", "bob"]).status.success());
        assert!(text(&friction(&["users", "list"]).stdout).contains("bob\tviewer\t*\tdisabled"));
        let out = friction(&["users", "set-password", "alice"]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let new_password = text(&out.stdout).trim().to_string();
        assert!(new_password.len() == 20 && new_password != password);

        let out = friction(&["users", "create", "alice", "--role", "admin"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
        let out = friction(&["users", "disable", "nobody"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("nobody"), "{}", text(&out.stderr));

        let audit = audit_actions(dir.path(), db.as_deref());
        let actions: Vec<&str> = audit.iter().map(|(_, action, _)| action.as_str()).collect();
        for a in ["user.create", "user.disable", "user.password"] {
            assert!(actions.contains(&a), "{a} in {actions:?}");
        }
    }
}

/// Integration secrets are encrypted with `FRICTION_MASTER_KEY` when it is set (it wins), else with
/// `DATA_DIR/master-key`, which `friction up` creates.
#[test]
fn integrations_use_the_master_key_file_unless_the_variable_is_set() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction"));
        cmd.args(["integrations", "test", "nothing"]).env("FRICTION_DATA_DIR", dir.path()).env_remove("DATABASE_URL");
        match env {
            Some(v) => cmd.env("FRICTION_MASTER_KEY", v),
            None => cmd.env_remove("FRICTION_MASTER_KEY"),
        };
        let out = cmd.output().expect("runs");
        assert!(!out.status.success());
        text(&out.stderr)
    };
    let err = run(None);
    assert!(err.contains("FRICTION_MASTER_KEY is not set") && err.contains("master-key"), "{err}");
    std::fs::create_dir_all(dir.path()).expect("dir");
    std::fs::write(dir.path().join("master-key"), format!("{}\n", "ab".repeat(32))).expect("key file");
    let err = run(None);
    assert!(err.contains("no integration \"nothing\"") && !err.contains("is not set"), "the file's key is used: {err}");
    let err = run(Some("not-a-key"));
    assert!(err.contains("FRICTION_MASTER_KEY must be 32 bytes"), "the variable wins over the file: {err}");
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Issue 18: `friction up` keeps its data private (directory 0700, tightened from 0755; database,
/// key, token, broker-address and secret files 0600), audits the key and token it creates, and its
/// gateway refuses keys published to its embedded broker by another store (unsigned, or signed
/// with another secret) while a key from its own store is accepted.
#[cfg(unix)]
#[test]
fn friction_up_keeps_its_files_private_and_refuses_keys_from_another_store() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let seed = r#"{"events": [{"eventType": "click", "timestamp": "2024-01-15T10:00:00Z", "sessionId": "test-1", "route": "/checkout", "target": {"type": "button"}, "metadata": {}}]}"#;

    let mut up = start_up(&data);
    assert_eq!(mode(&data), 0o700, "the data directory is tightened");
    for file in [
        "friction.db",
        "friction.db-wal",
        "friction.db-shm",
        "api-key",
        "admin-token",
        "admin-password",
        "master-key",
        "brokers",
        "keys-secret",
    ] {
        let path = data.join(file);
        if file == "friction.db-shm" && !path.exists() {
            continue;
        }
        assert_eq!(mode(&path), 0o600, "{file}");
    }
    let brokers = std::fs::read_to_string(data.join("brokers")).expect("brokers file");
    let brokers = brokers.trim();
    assert!(brokers.starts_with("127.0.0.1:"), "loopback only: {brokers}");

    // Another store publishes keys to the embedded broker: one unsigned, one signed with its own secret.
    let other = tmp.path().join("other");
    assert!(friction(&other, &["projects", "create", "default"]).status.success());
    let out = friction(&other, &["keys", "create", "--project", "default", "--brokers", brokers]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("unsigned"), "warns: {}", text(&out.stderr));
    let unsigned = text(&out.stdout).trim().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_friction"))
        .args(["keys", "create", "--project", "default", "--brokers", brokers])
        .env("FRICTION_DATA_DIR", &other)
        .env("FRICTION_KEYS_SECRET", "another-stores-secret-0123456789")
        .env_remove("DATABASE_URL")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let foreign = text(&out.stdout).trim().to_string();

    // A key from `up`'s own store, published after them on the same one-partition topic: once the
    // gateway takes it, it has read (and ignored) the other two.
    let out = friction(&data, &["keys", "create", "--project", "default"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let own = text(&out.stdout).trim().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = post(&up.gateway, &own, seed);
        if status == 202 {
            break;
        }
        assert!(Instant::now() < deadline, "own key not accepted: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for key in [&unsigned, &foreign] {
        let (status, body) = post(&up.gateway, key, seed);
        assert_eq!(status, 401, "a key from another store is refused: {body}");
    }

    let audit = audit_actions(&data, None);
    let actions: Vec<(&str, &str)> = audit.iter().map(|(actor, action, _)| (actor.as_str(), action.as_str())).collect();
    for expected in [
        ("friction up", "key.create"),
        ("friction up", "token.create"),
        ("friction up", "user.create"),
        ("cli", "key.create"),
    ] {
        assert!(actions.contains(&expected), "no {expected:?} in {actions:?}");
    }

    sigterm(&up.child);
    let status = wait_exit(&mut up.child, Duration::from_secs(20));
    let log: Vec<String> = up.stderr_rx.try_iter().collect();
    assert!(status.success(), "exit {status:?}; stderr: {log:?}");
}

#[test]
fn friction_up_watch_logs_turns_a_pattern_into_one_server_error_incident() {
    let dir = tempfile::tempdir().expect("tmp");
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).expect("logs dir");
    let patterns = dir.path().join("patterns.yaml");
    std::fs::write(
        &patterns,
        "patterns:\n  - name: MISSING_PRICE\n    regex: 'MISSING_PRICE product=(?P<product>\\d+)'\n",
    )
    .expect("patterns");
    std::fs::write(
        logs.join("pos.log"),
        "2024-01-15T10:00:00Z INFO order o-1 placed\n\
         2024-01-15T10:00:01Z ERROR MISSING_PRICE product=999 order=o-2\n\
         2024-01-15T10:00:02Z ERROR MISSING_PRICE product=1000 order=o-3\n",
    )
    .expect("log");
    let glob = format!("pos={}/*.log", logs.display());
    let up = start_up_with(
        dir.path(),
        &[("FRICTION_WATCH_LOGS", glob.as_str()), ("FRICTION_WATCH_LOGS_PATTERNS", &patterns.display().to_string())],
    );
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).expect("admin token");
    // Both lines (one episode: 1 s apart) are one incident, keyed by the pattern, not the message.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = get(&up.console, "/v1/incidents", Some(admin.trim()));
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("json");
        let incidents = v["incidents"].as_array().cloned().unwrap_or_default();
        let ours: Vec<_> = incidents.iter().filter(|i| i["elementKey"] == "log:pos:pattern:MISSING_PRICE").collect();
        if ours.first().is_some_and(|i| i["lastSeen"] == "2024-01-15T10:00:02Z") {
            assert_eq!(ours.len(), 1, "{body}");
            assert_eq!(incidents.iter().filter(|i| i["kind"] == "server_error").count(), 1, "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "no incident for the pattern: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, metrics) = get(&up.console, "/metrics", None);
    assert!(metrics.contains("friction_logwatch_records_sent_total"), "{metrics}");
}
