//! The console's access matrix on every backend (SQLite always, PostgreSQL when
//! FRICTION_TEST_POSTGRES_URL is set; docs/console.md "Tokens and roles", "Users and sessions"):
//! every API operation of the OpenAPI document (so a new route is covered, or the test says what
//! it needs) and every page route of [`PAGES`], asked by each caller of [`Who`], answers the status
//! [`expected`] derives from the route's required role and scope. State-changing requests carry a
//! valid body and the session's CSRF token, so the status seen is the authorization decision.
//! Nothing answered to another project's caller names the first project's incidents.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use friction_console::{router, ConsoleState};
use friction_exporter::MasterKey;
use friction_incidents::{apply_batch, IncidentConfig};
use friction_store::testing::migrated_dbs;
use friction_store::{Role, Store};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

mod common;
use common::rage_signal as signal;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What marks project A's incident: none of it may reach project B's caller.
const SECRET_ELEMENT: &str = "button#secret-pay-a";
const SECRET_SESSION: &str = "session-secret-a";
const INCIDENT_A: &str = "fp-a";

/// Who asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Anonymous,
    ViewerToken,
    ViewerSession,
    EngineerToken,
    EngineerSession,
    AdminToken,
    AdminSession,
    RevokedToken,
    ExpiredToken,
    ExpiredSession,
    /// An admin limited to project B (so only the scope can refuse).
    OtherProjectToken,
    OtherProjectSession,
    /// An admin limited to project A, whose objects the requests name.
    OwnProjectToken,
    OwnProjectSession,
}

const CALLERS: [Who; 14] = [
    Who::Anonymous,
    Who::ViewerToken,
    Who::ViewerSession,
    Who::EngineerToken,
    Who::EngineerSession,
    Who::AdminToken,
    Who::AdminSession,
    Who::RevokedToken,
    Who::ExpiredToken,
    Who::ExpiredSession,
    Who::OtherProjectToken,
    Who::OtherProjectSession,
    Who::OwnProjectToken,
    Who::OwnProjectSession,
];

impl Who {
    /// The caller's role when its credentials are valid.
    fn role(self) -> Option<Role> {
        match self {
            Who::ViewerToken | Who::ViewerSession => Some(Role::Viewer),
            Who::EngineerToken | Who::EngineerSession => Some(Role::Engineer),
            Who::AdminToken
            | Who::AdminSession
            | Who::OtherProjectToken
            | Who::OtherProjectSession
            | Who::OwnProjectToken
            | Who::OwnProjectSession => Some(Role::Admin),
            Who::Anonymous | Who::RevokedToken | Who::ExpiredToken | Who::ExpiredSession => None,
        }
    }

    fn has_session(self) -> bool {
        matches!(
            self,
            Who::ViewerSession
                | Who::EngineerSession
                | Who::AdminSession
                | Who::OtherProjectSession
                | Who::OwnProjectSession
        )
    }

    fn other_project(self) -> bool {
        matches!(self, Who::OtherProjectToken | Who::OtherProjectSession)
    }

    /// Limited to one project, A or B.
    fn limited(self) -> bool {
        self.other_project() || matches!(self, Who::OwnProjectToken | Who::OwnProjectSession)
    }
}

/// The role a route needs.
#[derive(Debug, Clone, Copy)]
enum Need {
    /// Anyone, even without credentials.
    Public,
    Role(Role),
}

/// What a route is about, for a caller limited to one project.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// Lists and forms that show only what the caller may see.
    Filtered,
    /// One object of project A: "not found" to a caller of another project.
    ProjectA,
    /// Not one project's (tokens, users, the audit log, new projects): refused to a caller limited
    /// to a project.
    Global,
    /// A new object of project A, named in the body: a project the caller may not see is a bad
    /// field (400).
    NewInA,
}

/// The expected answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Past the authorization decision: 2xx, a redirect elsewhere than the login page, or 503
    /// for a route whose backend this test does not start.
    Allowed,
    Unauthorized,
    BadRequest,
    Forbidden,
    NotFound,
    /// 303 to `/login`.
    ToLogin,
}

/// The table: the expected outcome of a route needing `need` over `scope`, asked by `who`, as an
/// API call (`page == false`) or a page.
fn expected(need: Need, scope: Scope, who: Who, page: bool) -> Outcome {
    if let Need::Public = need {
        return Outcome::Allowed;
    }
    // Pages know only sessions; the API knows tokens and sessions.
    let authenticated = if page { who.has_session() } else { who.role().is_some() };
    if !authenticated {
        return if page { Outcome::ToLogin } else { Outcome::Unauthorized };
    }
    let (Need::Role(needed), Some(role)) = (need, who.role()) else { return Outcome::Unauthorized };
    if role < needed {
        return Outcome::Forbidden;
    }
    match (scope, who.limited(), who.other_project()) {
        (_, false, _) | (Scope::Filtered, _, _) => Outcome::Allowed,
        (Scope::Global, true, _) => Outcome::Forbidden,
        (Scope::ProjectA | Scope::NewInA, _, false) => Outcome::Allowed,
        (Scope::ProjectA, _, true) => Outcome::NotFound,
        (Scope::NewInA, _, true) => Outcome::BadRequest,
    }
}

/// What the status says, for comparison with [`expected`].
fn outcome(status: StatusCode, location: &str, unavailable_ok: bool) -> Option<Outcome> {
    match status {
        s if s.is_success() => Some(Outcome::Allowed),
        StatusCode::SEE_OTHER if location.starts_with("/login") => Some(Outcome::ToLogin),
        StatusCode::SEE_OTHER | StatusCode::FOUND => Some(Outcome::Allowed),
        StatusCode::SERVICE_UNAVAILABLE if unavailable_ok => Some(Outcome::Allowed),
        StatusCode::BAD_REQUEST => Some(Outcome::BadRequest),
        StatusCode::UNAUTHORIZED => Some(Outcome::Unauthorized),
        StatusCode::FORBIDDEN => Some(Outcome::Forbidden),
        StatusCode::NOT_FOUND => Some(Outcome::NotFound),
        _ => None,
    }
}

/// How to ask one route: its need and scope, the query it needs, and whether 503 (ClickHouse or
/// the broker, which this test does not start) counts as allowed.
struct Spec {
    need: Need,
    scope: Scope,
    query: &'static str,
    unavailable_ok: bool,
}

const fn spec(need: Need, scope: Scope) -> Spec {
    Spec { need, scope, query: "", unavailable_ok: false }
}

const VIEWER: Need = Need::Role(Role::Viewer);
const ENGINEER: Need = Need::Role(Role::Engineer);
const ADMIN: Need = Need::Role(Role::Admin);

/// The API's routes by `METHOD /path` as the OpenAPI document spells them. A new route fails the
/// test until it is added here.
fn api_spec(route: &str) -> Option<Spec> {
    use Scope::*;
    Some(match route {
        "GET /v1/openapi.json" => spec(Need::Public, Filtered),
        "GET /v1/incidents" => spec(VIEWER, Filtered),
        "GET /v1/incidents/{id}" => spec(VIEWER, ProjectA),
        "PATCH /v1/incidents/{id}" => spec(ENGINEER, ProjectA),
        "GET /v1/analytics/frustration-rate" | "GET /v1/analytics/top-elements" => {
            Spec { query: "?project=a", unavailable_ok: true, ..spec(VIEWER, ProjectA) }
        }
        "GET /v1/projects" => spec(VIEWER, Filtered),
        "POST /v1/projects" => spec(ADMIN, Global),
        "GET /v1/projects/{project}" => spec(VIEWER, ProjectA),
        "GET /v1/keys" => spec(ADMIN, Filtered),
        "POST /v1/keys" | "PATCH /v1/keys/{id}" | "POST /v1/keys/{id}/revoke" => spec(ADMIN, ProjectA),
        "GET /v1/integrations" => spec(ADMIN, Filtered),
        "POST /v1/integrations" => spec(ADMIN, NewInA),
        "GET /v1/integrations/{id}"
        | "PATCH /v1/integrations/{id}"
        | "DELETE /v1/integrations/{id}"
        | "POST /v1/integrations/{id}/test" => spec(ADMIN, ProjectA),
        "GET /v1/rules" => spec(VIEWER, Filtered),
        "GET /v1/rules/{project}" => spec(VIEWER, ProjectA),
        "PUT /v1/rules/{project}" => spec(ENGINEER, ProjectA),
        "GET /v1/tokens" | "POST /v1/tokens" | "POST /v1/tokens/{id}/revoke" => spec(ADMIN, Global),
        "GET /v1/audit" => spec(ADMIN, Global),
        "GET /v1/live" => Spec { unavailable_ok: true, ..spec(VIEWER, Filtered) },
        _ => return None,
    })
}

/// A page route: method, path (its `{parameters}` filled like the API's), what it needs, and the
/// form a POST sends (the CSRF token is added for a session). Add new pages here.
struct Page {
    method: &'static str,
    path: &'static str,
    need: Need,
    scope: Scope,
    form: &'static str,
}

const PAGES: &[Page] = &[
    Page { method: "GET", path: "/login", need: Need::Public, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/assets/old/console.css", need: Need::Public, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/incidents", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/incidents?status=open", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/incidents/{id}", need: VIEWER, scope: Scope::ProjectA, form: "" },
    Page {
        method: "POST",
        path: "/incidents/{id}/status",
        need: ENGINEER,
        scope: Scope::ProjectA,
        form: "status=resolved",
    },
    Page { method: "GET", path: "/users", need: ADMIN, scope: Scope::Global, form: "" },
    Page {
        method: "POST",
        path: "/users",
        need: ADMIN,
        scope: Scope::Global,
        form: "username={fresh}&role=viewer&project=",
    },
    Page { method: "POST", path: "/users/{username}", need: ADMIN, scope: Scope::Global, form: "action=disable" },
    Page { method: "GET", path: "/keys", need: ADMIN, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/integrations", need: ADMIN, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/rules", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/tokens", need: ADMIN, scope: Scope::Global, form: "" },
    Page { method: "GET", path: "/audit", need: ADMIN, scope: Scope::Global, form: "" },
    Page { method: "GET", path: "/analytics", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "GET", path: "/live", need: VIEWER, scope: Scope::Filtered, form: "" },
    Page { method: "POST", path: "/logout", need: VIEWER, scope: Scope::Filtered, form: "" },
];

/// The world every request is asked in: two projects, an incident in A, and each caller's token.
struct World {
    state: ConsoleState,
    store: Store,
    a: String,
    viewer: String,
    engineer: String,
    admin: String,
    revoked: String,
    expired: String,
    other: String,
    own: String,
    /// Users for sessions: (viewer, engineer, admin, other project's admin, own project's admin) ids.
    users: [String; 5],
    fresh: u32,
    peers: AtomicU32,
}

impl World {
    async fn new(store: &Store) -> Result<World, BoxError> {
        let a = store.create_project("a").await?.id;
        let b = store.create_project("b").await?.id;
        let signals = vec![
            signal("a1", &a, INCIDENT_A, SECRET_ELEMENT, SECRET_SESSION, 1_000),
            signal("a2", &a, INCIDENT_A, SECRET_ELEMENT, "s2", 2_000),
            signal("b1", &b, "fp-b", "button#b", "s3", 3_000),
        ];
        apply_batch(store, &signals, &IncidentConfig::default(), 10).await?;
        let token = |role, project: Option<String>| {
            let store = store.clone();
            async move { store.create_console_token_for(role, None, project.as_deref()).await.map(|t| t.secret) }
        };
        let revoked = store.create_console_token(Role::Admin, Some("revoked")).await?;
        store.revoke_console_token(&revoked.token.id).await?;
        let past = friction_runtime::now_ms() - 1_000;
        let expired = store.create_console_token_with(Role::Admin, Some("expired"), Some(past + 500), None).await?;
        let mut users = Vec::new();
        for (name, role, project) in [
            ("viewer", Role::Viewer, None),
            ("engineer", Role::Engineer, None),
            ("admin", Role::Admin, None),
            ("other", Role::Admin, Some(b.as_str())),
            ("own", Role::Admin, Some(a.as_str())),
        ] {
            users.push(store.create_user(name, "not-a-hash", role, project).await?.id);
        }
        Ok(World {
            state: ConsoleState::new(store.clone(), None).with_master_key(MasterKey::random()),
            store: store.clone(),
            viewer: token(Role::Viewer, None).await?,
            engineer: token(Role::Engineer, None).await?,
            admin: token(Role::Admin, None).await?,
            other: token(Role::Admin, Some(b)).await?,
            own: token(Role::Admin, Some(a.clone())).await?,
            revoked: revoked.secret,
            expired: expired.secret,
            a,
            users: users.try_into().map_err(|_| "five users")?,
            fresh: 0,
            peers: AtomicU32::new(0),
        })
    }

    fn next(&mut self) -> u32 {
        self.fresh += 1;
        self.fresh
    }

    /// A fresh session (id, CSRF token) of user `index` of [`World::users`]; `expired` makes it one
    /// that ended by idle time an hour ago.
    async fn session(&self, index: usize, expired: bool) -> Result<(String, String), BoxError> {
        let now = friction_runtime::now_ms();
        let start = if expired { now - 2 * 3_600_000 } else { now };
        let new = self.store.create_session(&self.users[index], None, start, 3_600_000, 8 * 3_600_000).await?;
        Ok((new.id, new.session.csrf_token))
    }

    /// The bearer token, or the session (id, CSRF) of `who`.
    async fn credentials(&self, who: Who) -> Result<(Option<String>, Option<(String, String)>), BoxError> {
        let token = |t: &String| Ok((Some(t.clone()), None));
        match who {
            Who::Anonymous => Ok((None, None)),
            Who::ViewerToken => token(&self.viewer),
            Who::EngineerToken => token(&self.engineer),
            Who::AdminToken => token(&self.admin),
            Who::RevokedToken => token(&self.revoked),
            Who::ExpiredToken => token(&self.expired),
            Who::OtherProjectToken => token(&self.other),
            Who::OwnProjectToken => token(&self.own),
            Who::ViewerSession => Ok((None, Some(self.session(0, false).await?))),
            Who::EngineerSession => Ok((None, Some(self.session(1, false).await?))),
            Who::AdminSession => Ok((None, Some(self.session(2, false).await?))),
            Who::OtherProjectSession => Ok((None, Some(self.session(3, false).await?))),
            Who::OwnProjectSession => Ok((None, Some(self.session(4, false).await?))),
            Who::ExpiredSession => Ok((None, Some(self.session(2, true).await?))),
        }
    }

    /// A new object of project A for a path parameter, so a change asked by one caller does not
    /// decide another's answer.
    async fn fill(&mut self, path: &str) -> Result<String, BoxError> {
        let n = self.next();
        let mut out = String::new();
        let mut rest = path;
        while let Some(start) = rest.find('{') {
            let end = rest[start..].find('}').ok_or("unclosed parameter")? + start;
            out.push_str(&rest[..start]);
            let param = &rest[start..=end];
            let value = match (path, param) {
                (p, "{id}") if p.starts_with("/v1/incidents/") || p.starts_with("/incidents/") => INCIDENT_A.to_owned(),
                (_, "{project}") => self.a.clone(),
                (p, "{id}") if p.starts_with("/v1/keys/") => {
                    self.store.create_api_key("a", Some(&format!("k{n}"))).await?.key.id
                }
                (p, "{id}") if p.starts_with("/v1/integrations/") => {
                    let body = integration_body(n);
                    let (status, json) = self.api("POST", "/v1/integrations", Some(&self.admin.clone()), &body).await;
                    if status != StatusCode::CREATED {
                        return Err(format!("setup: adding an integration: {status} {json}").into());
                    }
                    json["id"].as_str().ok_or("integration id")?.to_owned()
                }
                (p, "{id}") if p.starts_with("/v1/tokens/") => {
                    self.store.create_console_token(Role::Viewer, Some(&format!("t{n}"))).await?.token.id
                }
                (_, "{username}") => {
                    let name = format!("user{n}");
                    self.store.create_user(&name, "not-a-hash", Role::Viewer, Some(&self.a)).await?;
                    name
                }
                _ => return Err(format!("{path}: say in fill() how to fill {param}").into()),
            };
            out.push_str(&value);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    async fn api(&self, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
        let r = self.send(method, uri, token, None, Some(("application/json", body.to_owned()))).await;
        (r.status, serde_json::from_str(&r.body).unwrap_or(Value::Null))
    }

    /// One request; `session` is (id, CSRF token), sent as the cookie and, for a change, the
    /// `X-CSRF-Token` header.
    async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        session: Option<&(String, String)>,
        body: Option<(&str, String)>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri).header(header::HOST, "console.test");
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some((id, csrf)) = session {
            req = req.header(header::COOKIE, format!("friction_session={id}"));
            if method != "GET" {
                req = req.header("x-csrf-token", csrf.as_str());
            }
        }
        let body = match body {
            Some((content_type, text)) => {
                req = req.header(header::CONTENT_TYPE, content_type);
                text
            }
            None => String::new(),
        };
        let Ok(mut req) = req.body(Body::from(body)) else {
            return Answer { status: StatusCode::IM_A_TEAPOT, location: String::new(), body: "bad request".into() };
        };
        // Each request from its own address, so the refused ones do not throttle the next.
        let n = self.peers.fetch_add(1, Ordering::Relaxed);
        let peer = SocketAddr::from(([10, 0, (n >> 8) as u8, n as u8], 40000));
        req.extensions_mut().insert(ConnectInfo(peer));
        let Ok(resp) = router(self.state.clone()).oneshot(req).await;
        let status = resp.status();
        let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let streaming = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        // A live stream never ends: its status is the answer.
        let body = if streaming {
            String::new()
        } else {
            match resp.into_body().collect().await {
                Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
                Err(e) => format!("(body error: {e})"),
            }
        };
        Answer { status, location, body }
    }
}

struct Answer {
    status: StatusCode,
    location: String,
    body: String,
}

fn integration_body(n: u32) -> String {
    json!({"name": format!("jira{n}"), "kind": "jira", "url": "http://127.0.0.1:9", "secret": "jira-token",
           "email": "bot@example.com", "projectKey": "FR", "issueTypeId": "10001", "project": "a",
           "kinds": ["rage_click"]})
    .to_string()
}

/// A valid body for a change, so only authorization can refuse it.
fn api_body(route: &str, n: u32) -> Option<String> {
    Some(match route {
        "PATCH /v1/incidents/{id}" => r#"{"status":"acknowledged"}"#.replace("acknowledged", "ignored"),
        "POST /v1/projects" => format!(r#"{{"name":"p{n}"}}"#),
        "POST /v1/keys" => format!(r#"{{"project":"a","label":"k{n}","allowedOrigins":["https://a.example"]}}"#),
        "PATCH /v1/keys/{id}" => r#"{"rateLimitPerSec":5}"#.into(),
        "POST /v1/integrations" => integration_body(n),
        "PATCH /v1/integrations/{id}" => r#"{"enabled":false}"#.into(),
        "PUT /v1/rules/{project}" => r#"{"rage_min_clicks":4}"#.into(),
        "POST /v1/tokens" => r#"{"role":"viewer"}"#.into(),
        r if r.starts_with("GET ") || r.starts_with("DELETE ") || r.ends_with("/revoke") || r.ends_with("/test") => {
            String::new()
        }
        _ => return None,
    })
}

/// One cell that did not answer as the table says.
struct Mismatch {
    route: String,
    who: Who,
    want: Outcome,
    got: String,
}

/// What leaked to another project's caller.
fn leaks(uri: &str, body: &str) -> Vec<&'static str> {
    let mut found: Vec<&'static str> =
        [SECRET_ELEMENT, SECRET_SESSION].into_iter().filter(|m| body.contains(m)).collect();
    // The incident's id may be echoed back only when the caller named it.
    if !uri.contains(INCIDENT_A) && body.contains(INCIDENT_A) {
        found.push(INCIDENT_A);
    }
    found
}

#[tokio::test]
async fn every_route_answers_each_caller_as_the_role_and_scope_table_says() -> TestResult {
    for db in migrated_dbs().await? {
        let mut world = World::new(&db.store).await?;
        let mut mismatches = Vec::new();
        let mut leaked = Vec::new();
        let mut unlisted = Vec::new();
        let mut cells = 0;

        // Every operation of the OpenAPI document.
        let mut routes = Vec::new();
        for (path, item) in &friction_console::openapi::openapi().paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PUT", &item.put),
                ("PATCH", &item.patch),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    routes.push((method, path.clone()));
                }
            }
        }
        assert!(routes.len() >= 20, "{}: the OpenAPI document lists the API: {routes:?}", db.name());
        for (method, path) in &routes {
            let route = format!("{method} {path}");
            let (Some(spec), Some(_)) = (api_spec(&route), api_body(&route, 0)) else {
                unlisted.push(route);
                continue;
            };
            for who in CALLERS {
                let n = world.next();
                let body = api_body(&route, n).unwrap_or_default();
                let uri = format!("{}{}", world.fill(path).await?, spec.query);
                let (token, session) = world.credentials(who).await?;
                let body = (!body.is_empty()).then_some(("application/json", body));
                let answer = world.send(method, &uri, token.as_deref(), session.as_ref(), body).await;
                cells += 1;
                check(
                    &mut mismatches,
                    &route,
                    who,
                    expected(spec.need, spec.scope, who, false),
                    &answer,
                    spec.unavailable_ok,
                );
                if who.other_project() {
                    let found = leaks(&uri, &answer.body);
                    if !found.is_empty() {
                        leaked.push(format!("{route} as {who:?}: {found:?} in {}", answer.body));
                    }
                }
            }
        }

        // Every page.
        for page in PAGES {
            let route = format!("{} {} (page)", page.method, page.path);
            for who in CALLERS {
                let n = world.next();
                let uri = world.fill(page.path).await?;
                let (token, session) = world.credentials(who).await?;
                let body = (page.method == "POST").then(|| {
                    let mut form = page.form.replace("{fresh}", &format!("new{n}"));
                    if let Some((_, csrf)) = &session {
                        form.push_str(if form.is_empty() { "csrf=" } else { "&csrf=" });
                        form.push_str(csrf);
                    }
                    ("application/x-www-form-urlencoded", form)
                });
                let mut answer = world.send(page.method, &uri, token.as_deref(), session.as_ref(), body).await;
                cells += 1;
                let want = expected(page.need, page.scope, who, true);
                // Logging out succeeds by sending the caller to the login page, its session ended.
                if page.path == "/logout" && want == Outcome::Allowed && answer.location == "/login" {
                    let id = session.as_ref().map(|(id, _)| id.as_str()).unwrap_or_default();
                    if world.store.session_by_id(id).await?.is_some_and(|s| s.ended_at_ms.is_some()) {
                        answer.location = "(session ended)".into();
                    }
                }
                check(&mut mismatches, &route, who, want, &answer, false);
                if who.other_project() {
                    let found = leaks(&uri, &answer.body);
                    if !found.is_empty() {
                        leaked.push(format!("{route} as {who:?}: {found:?} in {}", answer.body));
                    }
                }
            }
        }

        let mut report = String::new();
        if !unlisted.is_empty() {
            report.push_str(&format!(
                "routes of the OpenAPI document this test does not know (add them to api_spec and api_body): {unlisted:?}\n"
            ));
        }
        if !mismatches.is_empty() {
            report.push_str(&format!("{} of {cells} cells differ from the table:\n", mismatches.len()));
            report.push_str(&format!("  {:<44} {:<20} {:<13} got\n", "route", "caller", "expected"));
            for m in &mismatches {
                report.push_str(&format!(
                    "  {:<44} {:<20} {:<13} {}\n",
                    m.route,
                    format!("{:?}", m.who),
                    format!("{:?}", m.want),
                    m.got
                ));
            }
        }
        for l in &leaked {
            report.push_str(&format!("leak: {l}\n"));
        }
        assert!(report.is_empty(), "{}:\n{report}", db.name());
        assert!(cells > 300, "{cells} cells");
    }
    Ok(())
}

fn check(mismatches: &mut Vec<Mismatch>, route: &str, who: Who, want: Outcome, answer: &Answer, unavailable_ok: bool) {
    if outcome(answer.status, &answer.location, unavailable_ok) != Some(want) {
        let mut got = answer.status.to_string();
        if !answer.location.is_empty() {
            got.push_str(&format!(" → {}", answer.location));
        }
        let message: String = answer.body.chars().take(120).collect();
        if !message.is_empty() && !message.starts_with("<!DOCTYPE") {
            got.push_str(&format!(" {message}"));
        }
        mismatches.push(Mismatch { route: route.into(), who, want, got });
    }
}
