//! Issue 17, end to end as a new user meets it: `friction up` (embedded broker, SQLite) with a Jira
//! integration added through `friction integrations add`, against the strict fake Jira of
//! `friction_test_support::fakes`, with real-time timestamps (now):
//!
//! (a) three sessions rage-click a dead Pay button, each posted as it happens → exactly one
//!     confirmed incident and exactly one Jira ticket;
//! (b) one `MISSING_PRICE` error line posted to `/v1/logs` → one confirmed `server_error` incident
//!     at its first occurrence, and one ticket whose description holds the message and the
//!     attributes;
//! (c) an open incident (one session's rage on another button) confirmed by an engineer's
//!     `PATCH /v1/incidents/{id}` `{"status": "confirmed"}` → exported like any other.
//!
//! Every wait polls the console API or the fake's records against a deadline; nothing here times
//! the pipeline (speed is `cargo bench -p friction-benches --bench latency`).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{get, post, request, sigterm, start_up_with, text, wait_exit, Up};
use friction_test_support::fakes::{jira_basic, Api, Fake, FakeIssue};
use friction_test_support::payloads::rage_batch;
use serde_json::{json, Value};

const EMAIL: &str = "bot@acme.com";
const TOKEN: &str = "ATATT3xFfGF0-realtime-test";
/// 32 bytes, hex: the integrations' credentials are encrypted with it (docs/exporter.md).
const MASTER_KEY: &str = "4f1c9a7e2b6d8035c1e9f7a2b4d6c8e0a1b3c5d7e9f1a3c5e7b9d1f3a5c7e9b1";
/// How long any one condition may take before the test fails (a slow shared CI machine, a debug
/// build); the issue's targets are seconds, measured by the latency bench.
const DEADLINE: Duration = Duration::from_secs(90);

const LOG_MESSAGE: &str = "MISSING_PRICE: product 999 has no price (order 51234)";

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `friction` with the data directory and the master key set, the secret (if any) in the
/// environment variable `integrations add` reads by default.
fn friction(dir: &Path, args: &[&str], secret: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_friction"));
    cmd.args(args)
        .env("FRICTION_DATA_DIR", dir)
        .env("FRICTION_MASTER_KEY", MASTER_KEY)
        .env_remove("DATABASE_URL")
        .env_remove("FRICTION_BROKERS")
        .stdin(Stdio::null());
    match secret {
        Some(s) => cmd.env("FRICTION_INTEGRATION_SECRET", s),
        None => cmd.env_remove("FRICTION_INTEGRATION_SECRET"),
    };
    cmd.output().expect("friction runs")
}

/// A shopper rage-clicking `button`, the last click now.
fn rage_session(session: &str, user: &str, button: &str) -> String {
    rage_batch(session, user, button, now_ms())
}

/// Polls `f` until it returns `Ok`, failing after [`DEADLINE`] with `what` and the last state.
fn wait_for<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    common::wait_within(what, DEADLINE, f)
}

/// The console's incidents (every status), as JSON objects.
fn incidents(up: &Up, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = get(&up.console, &format!("/v1/incidents?limit=200{query}"), Some(token));
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    v["incidents"].as_array().cloned().unwrap_or_default()
}

fn tickets_for<'a>(jira: &'a [FakeIssue], incident_id: &str) -> Vec<&'a FakeIssue> {
    jira.iter().filter(|i| i.body.contains(incident_id)).collect()
}

/// The incident on `element` with `status`, once the console lists it.
fn wait_incident(up: &Up, token: &str, what: &str, status: &str, pick: impl Fn(&Value) -> bool) -> Value {
    wait_for(what, || {
        let all = incidents(up, token, "");
        all.iter()
            .find(|i| pick(i) && i["status"] == status)
            .cloned()
            .ok_or_else(|| serde_json::to_string(&all).unwrap_or_default())
    })
}

fn wait_ticket(jira: &Fake, what: &str, incident_id: &str) -> FakeIssue {
    wait_for(what, || {
        let issues = jira.issues();
        tickets_for(&issues, incident_id).first().map(|i| (*i).clone()).ok_or_else(|| {
            format!("{} tickets: {:?}", issues.len(), issues.iter().map(|i| &i.title).collect::<Vec<_>>())
        })
    })
}

/// `friction up` on a fresh data directory with a Jira integration added by the CLI, as a user
/// would while it runs, against a fresh fake Jira.
struct Setup {
    rt: tokio::runtime::Runtime,
    jira: Fake,
    dir: tempfile::TempDir,
    up: Up,
    admin: String,
}

fn setup() -> Setup {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let jira = rt.block_on(Fake::start(Api::Jira, &jira_basic(EMAIL, TOKEN)));
    let dir = tempfile::tempdir().expect("tmp");
    let up = start_up_with(dir.path(), &[("FRICTION_MASTER_KEY", MASTER_KEY)]);
    let admin = std::fs::read_to_string(dir.path().join("admin-token")).expect("admin token file").trim().to_owned();
    // The secret comes from the environment (README, docs/exporter.md), never the command line.
    let out = friction(dir.path(), &common::jira_integration_args(&jira.url(), EMAIL), Some(TOKEN));
    assert!(out.status.success(), "integrations add: {}", text(&out.stderr));
    let out = friction(dir.path(), &["integrations", "test", "jira"], None);
    assert!(out.status.success(), "integrations test: {} {}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok"), "{}", text(&out.stdout));
    Setup { rt, jira, dir, up, admin }
}

impl Setup {
    /// Once the exporter's ledger says the incident's ticket is created (nothing left in flight
    /// for it), exactly `expected` are confirmed and the fake Jira holds exactly one ticket for
    /// each and nothing else; then `friction up` stops cleanly and that is still so.
    fn finish(mut self, expected: &[&str]) {
        for id in expected {
            wait_for(&format!("the ledger row of {id} created"), || {
                let (status, body) = get(&self.up.console, &format!("/v1/incidents/{id}"), Some(&self.admin));
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let states: Vec<&str> =
                    v["tickets"].as_array().into_iter().flatten().filter_map(|t| t["state"].as_str()).collect();
                if status == 200 && states == ["created"] {
                    Ok(())
                } else {
                    Err(format!("{status} tickets {states:?}"))
                }
            });
        }
        let check = |jira: &Fake, confirmed: Option<Vec<Value>>| {
            if let Some(confirmed) = confirmed {
                let mut ids: Vec<&str> = confirmed.iter().filter_map(|i| i["id"].as_str()).collect();
                ids.sort_unstable();
                let mut want = expected.to_vec();
                want.sort_unstable();
                assert_eq!(ids, want, "confirmed: {}", serde_json::to_string(&confirmed).unwrap_or_default());
            }
            let issues = jira.issues();
            for id in expected {
                assert_eq!(tickets_for(&issues, id).len(), 1, "one ticket for {id}: {issues:?}");
            }
            assert_eq!(issues.len(), expected.len(), "{:?}", issues.iter().map(|i| &i.title).collect::<Vec<_>>());
        };
        check(&self.jira, Some(incidents(&self.up, &self.admin, "&status=confirmed")));
        sigterm(&self.up.child);
        let status = wait_exit(&mut self.up.child, Duration::from_secs(20));
        let log: Vec<String> = self.up.stderr_rx.try_iter().collect();
        assert!(status.success(), "exit {status:?}; stderr: {log:?}");
        check(&self.jira, None);
        drop(self.dir);
        drop(self.rt);
    }
}

/// (a) Three shoppers rage on the dead Pay button, one after the other, each batch posted as it
/// happens: one confirmed incident (not also a dead-click one), one ticket.
#[test]
fn three_rage_sessions_confirm_one_incident_with_one_ticket() {
    let s = setup();
    for (i, user) in ["ann", "bob", "cem"].iter().enumerate() {
        let (status, body) = post(&s.up.gateway, &s.up.key, &rage_session(&format!("rt-pay-{i}"), user, "pay"));
        assert_eq!(status, 202, "{body}");
    }
    let pay = wait_incident(&s.up, &s.admin, "a confirmed incident on pay", "confirmed", |i| {
        i["elementKey"] == "pay" && i["occurrences"] == 3
    });
    assert_eq!(pay["kind"], "rage_click", "{pay}");
    assert_eq!(pay["sessions"], 3, "{pay}");
    let id = pay["id"].as_str().expect("id").to_owned();
    let ticket = wait_ticket(&s.jira, "a Jira ticket for the pay incident", &id);
    // The ticket links to the incident's page on this console, which asks a stranger to log in first.
    let link = format!("http://{}/incidents/{id}", s.up.console);
    assert!(ticket.body.contains(&link), "the ticket links to {link}: {}", ticket.body);
    let (status, _, _) = common::request_with(&s.up.console, "GET", &format!("/incidents/{id}"), &[], "text/plain", "");
    assert_eq!(status, 303, "the link is the console's incident page");
    s.finish(&[&id]);
}

/// (b) One MISSING_PRICE error line: a `server_error` incident confirmed at its first
/// occurrence, and a ticket whose description holds the message and the attributes.
#[test]
fn one_missing_price_line_is_a_confirmed_server_error_with_a_ticket() {
    let s = setup();
    let log = json!({"logs": [{"service": "pos", "level": "error", "message": LOG_MESSAGE, "timestamp": now_ms(),
        "attributes": {"productId": "999", "orderId": "51234", "store": "berlin-3", "retryable": false}}]});
    let (status, body) = request(&s.up.gateway, "POST", "/v1/logs", &[("X-API-Key", &s.up.key)], &log.to_string());
    assert_eq!(status, 202, "{body}");
    let server = wait_incident(&s.up, &s.admin, "a confirmed server_error incident", "confirmed", |i| {
        i["kind"] == "server_error"
    });
    let id = server["id"].as_str().expect("id").to_owned();
    let ticket = wait_ticket(&s.jira, "a Jira ticket for the server error", &id);
    for needle in [LOG_MESSAGE, "productId", "999", "orderId", "51234", "store", "berlin-3", "retryable"] {
        assert!(ticket.body.contains(needle), "the ticket's description lacks {needle:?}: {}", ticket.body);
    }
    s.finish(&[&id]);
}

/// (c) One shopper rages on the coupon button: an open incident (one session of the three that
/// confirm), which an engineer confirms with `PATCH /v1/incidents/{id}`; it is exported like any
/// other.
#[test]
fn an_open_incident_confirmed_by_an_engineer_is_exported() {
    let s = setup();
    let (status, body) = post(&s.up.gateway, &s.up.key, &rage_session("rt-coupon-0", "dee", "apply-coupon"));
    assert_eq!(status, 202, "{body}");
    let coupon = wait_incident(&s.up, &s.admin, "an open incident on apply-coupon", "open", |i| {
        i["elementKey"] == "apply-coupon"
    });
    let id = coupon["id"].as_str().expect("id").to_owned();
    assert!(s.jira.issues().is_empty(), "an open incident is not exported: {:?}", s.jira.issues());
    let out = friction(s.dir.path(), &["tokens", "create", "--role", "engineer", "--label", "realtime"], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let auth = format!("Bearer {}", text(&out.stdout).trim());
    let (status, body) = request(
        &s.up.console,
        "PATCH",
        &format!("/v1/incidents/{id}"),
        &[("Authorization", &auth)],
        r#"{"status": "confirmed"}"#,
    );
    assert_eq!(status, 200, "PATCH confirmed on an open incident: {body}");
    wait_incident(&s.up, &s.admin, "the coupon incident confirmed", "confirmed", |i| i["id"] == id.as_str());
    wait_ticket(&s.jira, "a Jira ticket for the confirmed coupon incident", &id);
    s.finish(&[&id]);
}
