//! What the cli's tests share: the `friction` binary, `friction up` started on ephemeral ports, and
//! a plain HTTP/1.1 client for its gateway and console.

// Each test file uses its own part of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `friction up` running as a child process.
pub struct Up {
    pub child: Child,
    pub key: String,
    pub gateway: String,
    pub console: String,
    pub stderr_rx: mpsc::Receiver<String>,
}

impl Drop for Up {
    fn drop(&mut self) {
        // A test that panics leaves no `friction up` behind (a clean stop was waited for already).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `friction up` on `dir`, the embedded broker, SQLite, ephemeral ports.
pub fn start_up(dir: &Path) -> Up {
    start_up_with(dir, &[])
}

/// [`start_up`] with extra environment variables (e.g. `FRICTION_MASTER_KEY`).
pub fn start_up_with(dir: &Path, env: &[(&str, &str)]) -> Up {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction"));
    cmd.args(["up", "--gateway-addr", "127.0.0.1:0", "--console-addr", "127.0.0.1:0"])
        .env("FRICTION_DATA_DIR", dir)
        .env("FRICTION_LOG", "warn")
        .env_remove("DATABASE_URL")
        .env_remove("FRICTION_BROKERS")
        .env_remove("FRICTION_MASTER_KEY")
        .env_remove("CLICKHOUSE_URL");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("friction up starts");
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

/// One HTTP/1.1 request (`Connection: close`); (status, body).
pub fn request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    write!(stream, "{head}\r\n{body}").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

/// One HTTP/1.1 request with a body of `content_type`; (status, head, body).
pub fn request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    content_type: &str,
    body: &str,
) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Type: {content_type}\r\nContent-Length: {}\r\n", body.len()));
    write!(stream, "{head}\r\n{body}").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}

/// POST /v1/events with an API key; (status, body).
pub fn post(addr: &str, key: &str, body: &str) -> (u16, String) {
    request(addr, "POST", "/v1/events", &[("X-API-Key", key)], body)
}

/// GET with an optional bearer token; (status, body).
pub fn get(addr: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.as_deref().map(|a| vec![("Authorization", a)]).unwrap_or_default();
    request(addr, "GET", path, &headers, "")
}

pub fn sigterm(child: &Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
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

/// Polls `f` every 100 ms until it returns `Ok`, failing after `limit` with `what` and the last
/// state it returned.
pub fn wait_within<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        match f() {
            Ok(v) => return v,
            Err(last) => {
                assert!(Instant::now() < deadline, "{what}: not within {limit:?}; last seen: {last}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// `friction integrations add` of a Jira integration named `jira` at `url` for `email` (project
/// OPS, issue type 10004, as the fake Jira expects); the token comes from the environment.
pub fn jira_integration_args<'a>(url: &'a str, email: &'a str) -> [&'a str; 14] {
    [
        "integrations",
        "add",
        "--name",
        "jira",
        "--kind",
        "jira",
        "--url",
        url,
        "--email",
        email,
        "--project-key",
        "OPS",
        "--issue-type-id",
        "10004",
    ]
}
