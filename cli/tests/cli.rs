//! The `friction` binary as an operator runs it: key management output, errors that name what is
//! wrong, and `friction up` end to end on its embedded broker (start, accept the seed event, stop on
//! SIGTERM, reuse its key on the next start).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
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
        ["up", "topics", "projects", "keys", "tokens", "migrate", "warehouse", "integrations"],
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

struct Up {
    child: Child,
    key: String,
    gateway: String,
    console: String,
    stderr_rx: mpsc::Receiver<String>,
}

fn start_up(dir: &Path) -> Up {
    let mut child = Command::new(env!("CARGO_BIN_EXE_friction"))
        .args(["up", "--gateway-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .env("FRICTION_DATA_DIR", dir)
        .env("FRICTION_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("FRICTION_BROKERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("friction up starts");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, stderr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut key = String::new();
    BufReader::new(stdout).read_line(&mut key).expect("api key line");
    let key = key
        .trim()
        .strip_prefix("api key: ")
        .unwrap_or_else(|| panic!("first stdout line is the key: {key:?}"))
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut gateway, mut console) = (None, None);
    while gateway.is_none() || console.is_none() {
        let line = stderr_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("friction up prints where the gateway and the console listen");
        if let Some(rest) = line.strip_prefix("gateway: http://") {
            gateway = Some(rest.trim_end_matches("/v1/events").to_string());
        }
        if let Some(rest) = line.strip_prefix("console: http://") {
            console = rest.split('/').next().map(str::to_string);
        }
        assert!(Instant::now() < deadline);
    }
    let (gateway, console) = (gateway.unwrap_or_default(), console.unwrap_or_default());
    Up { child, key, gateway, console, stderr_rx }
}

fn post(addr: &str, key: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(
        stream,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nX-API-Key: {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// GET with an optional bearer token; (status, body).
fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("did not exit within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
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

        let out = friction(&["tokens", "create", "--role", "root"]);
        assert!(!out.status.success());
        let err = text(&out.stderr);
        assert!(err.contains("root") && err.contains("viewer") && err.contains("admin"), "{err}");
        let out = friction(&["tokens", "revoke", "frt_nothere"]);
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains("frt_nothere"), "{}", text(&out.stderr));
    }
}
