//! Local fake Jira Cloud, Linear, GitHub and Standard Webhooks receivers (axum on 127.0.0.1:0).
//! They enforce each API's auth header and request shape (docs/exporter.md "What the fakes enforce") and can
//! be told to answer 429 with Retry-After, 5xx, slow timeouts, "created but the response was
//! lost", and to let their search index lag.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};

/// A scripted answer to the next create (or webhook delivery).
#[derive(Debug, Clone)]
pub enum Fault {
    /// 429 with Retry-After (seconds); not executed.
    RateLimit(u64),
    /// GitHub's secondary rate limit: 403 with Retry-After and `x-ratelimit-remaining: 0`.
    SecondaryRateLimit(u64),
    /// 503, not executed.
    ServerError,
    /// Sleep this long before doing anything (the client times out first); not executed.
    SlowNotCreated(Duration),
    /// Store the ticket, then answer 502: created but the response was lost.
    CreatedButLost,
    /// Store the ticket, then sleep this long before answering (the client times out / is killed).
    CreatedThenHang(Duration),
}

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub id: String,
    pub key: String,
    pub number: i64,
    pub labels: Vec<String>,
    pub title: String,
    pub body: String,
    pub created: Instant,
    pub open: bool,
    pub comments: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Logged {
    pub at: Instant,
    pub method: String,
    pub path: String,
    pub marker: Option<String>,
    pub status: u16,
}

#[derive(Default)]
pub struct State {
    pub issues: Vec<FakeIssue>,
    pub faults: VecDeque<Fault>,
    /// Faults applied to every request, not only creates.
    pub fault_all: bool,
    pub search_lag: Duration,
    pub log: Vec<Logged>,
    pub deliveries: Vec<(String, Value)>,
    pub delivery_ids: HashSet<String>,
    pub rejected_auth: usize,
    /// Always answer this status (e.g. 401, 500), with the received Authorization header echoed
    /// in the body, the worst a real server could do.
    pub always: Option<u16>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Api {
    Jira,
    Linear,
    Github,
    Webhook,
}

#[derive(Clone)]
pub struct Fake {
    pub api: Api,
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    /// The exact Authorization header expected (webhooks: the whsec_ secret).
    pub credential: String,
}

fn lock(state: &Arc<Mutex<State>>) -> std::sync::MutexGuard<'_, State> {
    match state.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Fake {
    pub async fn start(api: Api, credential: &str) -> Fake {
        Fake::start_at(api, credential, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// On a given address (a tracker that comes back where it was).
    pub async fn start_at(api: Api, credential: &str, addr: SocketAddr) -> Fake {
        let state = Arc::new(Mutex::new(State::default()));
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let fake = Fake { api, addr, state, credential: credential.to_owned() };
        let f = fake.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let f = f.clone();
            async move { f.handle(method, uri, headers, body).await }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        fake
    }

    pub fn url(&self) -> String {
        match self.api {
            Api::Webhook => format!("http://{}/hook", self.addr),
            _ => format!("http://{}", self.addr),
        }
    }

    pub fn push_faults(&self, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.state).faults.extend(faults);
    }

    pub fn set_lag(&self, lag: Duration) {
        lock(&self.state).search_lag = lag;
    }

    pub fn set_always(&self, status: Option<u16>) {
        lock(&self.state).always = status;
    }

    pub fn issues(&self) -> Vec<FakeIssue> {
        lock(&self.state).issues.clone()
    }

    pub fn issues_with_label(&self, label: &str) -> usize {
        lock(&self.state)
            .issues
            .iter()
            .filter(|i| i.labels.iter().any(|l| l == label) || i.body.contains(label) || i.id == label)
            .count()
    }

    pub fn log(&self) -> Vec<Logged> {
        lock(&self.state).log.clone()
    }

    pub fn distinct_deliveries(&self) -> usize {
        lock(&self.state).delivery_ids.len()
    }

    fn record(&self, method: &Method, path: &str, marker: Option<String>, status: u16) {
        lock(&self.state).log.push(Logged {
            at: Instant::now(),
            method: method.to_string(),
            path: path.to_owned(),
            marker,
            status,
        });
    }

    fn reply(&self, method: &Method, path: &str, marker: Option<String>, status: u16, body: Value) -> Response {
        self.record(method, path, marker, status);
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (code, [("content-type", "application/json")], body.to_string()).into_response()
    }

    async fn handle(&self, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
        let path = uri.path().to_owned();
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let always = lock(&self.state).always;
        if let Some(status) = always {
            let body = json!({ "errorMessages": [format!("failed for Authorization: {auth}")], "errors": {}, "message": format!("bad credentials {auth}") });
            return self.reply(&method, &path, None, status, body);
        }
        // Auth shape per API.
        let auth_ok = match self.api {
            Api::Jira => auth == self.credential && auth.starts_with("Basic "),
            Api::Linear => {
                if auth.starts_with("Bearer ") && !self.credential.starts_with("Bearer ") {
                    lock(&self.state).rejected_auth += 1;
                    return self.reply(&method, &path, None, 400, json!({"errors": [{"message": "Remove the Bearer prefix from the Authorization header.", "extensions": {"type": "authentication error"}}]}));
                }
                auth == self.credential
            }
            Api::Github => {
                auth == self.credential
                    && headers.get("x-github-api-version").and_then(|v| v.to_str().ok()) == Some("2022-11-28")
                    && headers.get("user-agent").is_some()
            }
            Api::Webhook => true,
        };
        if !auth_ok {
            lock(&self.state).rejected_auth += 1;
            return self.reply(
                &method,
                &path,
                None,
                401,
                json!({"errorMessages": ["You are not authenticated."], "message": "Bad credentials"}),
            );
        }
        let json_body: Value =
            if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
        if !body.is_empty() && json_body.is_null() {
            return self.reply(&method, &path, None, 400, json!({"errorMessages": ["body is not JSON"]}));
        }
        match self.api {
            Api::Jira => self.jira(method, &path, json_body).await,
            Api::Linear => self.linear(method, &path, json_body).await,
            Api::Github => self.github(method, &uri, json_body).await,
            Api::Webhook => self.webhook(method, &path, &headers, &body, json_body).await,
        }
    }

    /// Applies the next fault to a create. `Err(response)`: answer that; `Ok(after)`: go on, and
    /// after storing do `after` (lost response / hang).
    async fn fault(&self, method: &Method, path: &str, marker: &Option<String>) -> Result<Option<Fault>, Response> {
        let next = lock(&self.state).faults.pop_front();
        match next {
            None => Ok(None),
            Some(Fault::RateLimit(secs)) => {
                self.record(method, path, marker.clone(), 429);
                let body = json!({"errorMessages": ["Rate limit exceeded."], "errors": {}});
                if self.api == Api::Linear {
                    // Linear: rate limiting reported inside the GraphQL body.
                    let b = json!({"data": null, "errors": [{"message": "Rate limit exceeded", "extensions": {"type": "ratelimited"}}]});
                    return Err((StatusCode::OK, [("retry-after", secs.to_string())], b.to_string()).into_response());
                }
                Err((
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", secs.to_string()), ("ratelimit-reason", "jira-burst-based".to_owned())],
                    body.to_string(),
                )
                    .into_response())
            }
            Some(Fault::SecondaryRateLimit(secs)) => {
                self.record(method, path, marker.clone(), 403);
                let body = json!({"message": "You have exceeded a secondary rate limit."});
                Err((
                    StatusCode::FORBIDDEN,
                    [("retry-after", secs.to_string()), ("x-ratelimit-remaining", "0".to_owned())],
                    body.to_string(),
                )
                    .into_response())
            }
            Some(Fault::ServerError) => {
                Err(self.reply(method, path, marker.clone(), 503, json!({"message": "Service Unavailable"})))
            }
            Some(Fault::SlowNotCreated(d)) => {
                tokio::time::sleep(d).await;
                Err(self.reply(method, path, marker.clone(), 503, json!({"message": "too slow"})))
            }
            Some(f @ (Fault::CreatedButLost | Fault::CreatedThenHang(_))) => Ok(Some(f)),
        }
    }

    async fn after_create(
        &self,
        method: &Method,
        path: &str,
        marker: Option<String>,
        after: Option<Fault>,
        status: u16,
        body: Value,
    ) -> Response {
        match after {
            Some(Fault::CreatedButLost) => self.reply(method, path, marker, 502, json!({"message": "Bad Gateway"})),
            Some(Fault::CreatedThenHang(d)) => {
                tokio::time::sleep(d).await;
                self.reply(method, path, marker, status, body)
            }
            _ => self.reply(method, path, marker, status, body),
        }
    }

    fn store(&self, labels: Vec<String>, title: String, body: String, id: Option<String>) -> FakeIssue {
        let mut s = lock(&self.state);
        let number = s.issues.len() as i64 + 1;
        let issue = FakeIssue {
            id: id.unwrap_or_else(|| (10_000 + number).to_string()),
            key: format!("OPS-{number}"),
            number,
            labels,
            title,
            body,
            created: Instant::now(),
            open: true,
            comments: Vec::new(),
        };
        s.issues.push(issue.clone());
        issue
    }

    async fn jira(&self, method: Method, path: &str, body: Value) -> Response {
        let bad = |msg: &str, field: &str| json!({"errorMessages": [], "errors": {field: msg}});
        match (method.as_str(), path) {
            ("GET", "/rest/api/3/myself") => {
                self.reply(&method, path, None, 200, json!({"accountId": "5b10", "displayName": "Bot"}))
            }
            ("POST", "/rest/api/3/issue") => {
                let fields = &body["fields"];
                let labels: Vec<String> = fields["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect();
                let marker = labels.iter().find(|l| l.starts_with("frustration-")).cloned();
                if fields["project"]["key"].as_str().is_none() && fields["project"]["id"].as_str().is_none() {
                    return self.reply(&method, path, marker, 400, bad("project is required", "project"));
                }
                if fields["issuetype"]["id"].as_str().is_none() {
                    return self.reply(&method, path, marker, 400, bad("issue type is required", "issuetype"));
                }
                let summary = fields["summary"].as_str().unwrap_or("");
                if summary.is_empty() || summary.chars().count() > 255 {
                    return self.reply(
                        &method,
                        path,
                        marker,
                        400,
                        bad("You must specify a summary of the issue (≤ 255 characters).", "summary"),
                    );
                }
                if let Err(e) = check_adf(&fields["description"]) {
                    return self.reply(&method, path, marker, 400, bad(&format!("Operation value must be an Atlassian Document (see the Atlassian Document Format): {e}"), "description"));
                }
                if let Some(l) = labels.iter().find(|l| l.contains(' ')) {
                    return self.reply(
                        &method,
                        path,
                        marker,
                        400,
                        bad(&format!("The label '{l}' contains spaces which is invalid."), "labels"),
                    );
                }
                let after = match self.fault(&method, path, &marker).await {
                    Ok(a) => a,
                    Err(r) => return r,
                };
                let issue = self.store(labels, summary.to_owned(), fields["description"].to_string(), None);
                let out = json!({"id": issue.id, "key": issue.key, "self": format!("{}/rest/api/3/issue/{}", self.url(), issue.id)});
                self.after_create(&method, path, marker, after, 201, out).await
            }
            ("POST", "/rest/api/3/search/jql") => {
                let jql = body["jql"].as_str().unwrap_or("");
                if !jql.contains("project = ") {
                    return self.reply(
                        &method,
                        path,
                        None,
                        400,
                        json!({"errorMessages": ["Unbounded JQL queries are not allowed here."]}),
                    );
                }
                let Some(label) = jql.split("labels = \"").nth(1).and_then(|r| r.split('"').next()) else {
                    return self.reply(
                        &method,
                        path,
                        None,
                        400,
                        json!({"errorMessages": ["expected a labels clause"]}),
                    );
                };
                let label = label.to_owned();
                let (issues, lag) = {
                    let s = lock(&self.state);
                    (s.issues.clone(), s.search_lag)
                };
                // The index lags: issues show only after `lag`.
                let found: Vec<Value> = issues
                    .iter()
                    .filter(|i| i.labels.contains(&label) && i.created.elapsed() >= lag)
                    .take(body["maxResults"].as_u64().unwrap_or(50) as usize)
                    .map(|i| json!({"id": i.id, "key": i.key, "fields": {"labels": i.labels, "status": {"name": "To Do", "statusCategory": {"key": "new"}}}}))
                    .collect();
                self.reply(&method, path, Some(label), 200, json!({"isLast": true, "issues": found}))
            }
            ("POST", p) if p.starts_with("/rest/api/3/issue/") && p.ends_with("/comment") => {
                let key = p.trim_start_matches("/rest/api/3/issue/").trim_end_matches("/comment").to_owned();
                if let Err(e) = check_adf(&body["body"]) {
                    return self.reply(&method, path, None, 400, bad(&e, "comment"));
                }
                let text = body["body"].to_string();
                let mut s = lock(&self.state);
                let Some(issue) = s.issues.iter_mut().find(|i| i.key == key) else {
                    drop(s);
                    return self.reply(
                        &method,
                        path,
                        None,
                        404,
                        json!({"errorMessages": ["Issue does not exist or you do not have permission to see it."]}),
                    );
                };
                issue.comments.push(text);
                drop(s);
                self.reply(&method, path, None, 201, json!({"id": "1"}))
            }
            ("GET", p) if p.starts_with("/rest/api/3/issue/") && p.ends_with("/comment") => {
                let key = p.trim_start_matches("/rest/api/3/issue/").trim_end_matches("/comment").to_owned();
                let comments: Vec<Value> = lock(&self.state)
                    .issues
                    .iter()
                    .filter(|i| i.key == key)
                    .flat_map(|i| {
                        i.comments
                            .iter()
                            .map(
                                |c| json!({"id": "1", "body": serde_json::from_str::<Value>(c).unwrap_or(Value::Null)}),
                            )
                            .collect::<Vec<_>>()
                    })
                    .collect();
                self.reply(
                    &method,
                    path,
                    None,
                    200,
                    json!({"startAt": 0, "maxResults": 100, "total": comments.len(), "comments": comments}),
                )
            }
            ("POST", p) if p.starts_with("/rest/api/3/issue/") && p.ends_with("/transitions") => {
                let key = p.trim_start_matches("/rest/api/3/issue/").trim_end_matches("/transitions").to_owned();
                if body["transition"]["id"].as_str().is_none() {
                    return self.reply(&method, path, None, 400, bad("transition id required", "transition"));
                }
                if let Some(i) = lock(&self.state).issues.iter_mut().find(|i| i.key == key) {
                    i.open = true;
                }
                self.record(&method, path, None, 204);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => self.reply(&method, path, None, 404, json!({"errorMessages": ["no such endpoint"]})),
        }
    }

    async fn linear(&self, method: Method, path: &str, body: Value) -> Response {
        if method != Method::POST || path != "/graphql" {
            return self.reply(&method, path, None, 404, json!({"message": "not found"}));
        }
        let query = body["query"].as_str().unwrap_or("");
        let vars = &body["variables"];
        let gql_err = |kind: &str, msg: &str| json!({"data": null, "errors": [{"message": msg, "path": ["x"], "extensions": {"type": kind, "userError": true, "userPresentableMessage": msg}}]});
        if query.contains("issueCreate") {
            let input = &vars["input"];
            let id = input["id"].as_str().unwrap_or("").to_owned();
            let marker = Some(id.clone());
            if uuid::Uuid::parse_str(&id).map(|u| u.get_version_num()) != Ok(4) {
                return self.reply(&method, path, marker, 200, gql_err("invalid input", "id must be a UUID v4"));
            }
            if input["teamId"].as_str().is_none() || input["title"].as_str().is_none_or(str::is_empty) {
                return self.reply(
                    &method,
                    path,
                    marker,
                    200,
                    gql_err("invalid input", "teamId and title are required"),
                );
            }
            if let Some(k) = input.as_object().and_then(|o| {
                o.keys()
                    .find(|k| !["id", "teamId", "title", "description", "labelIds", "priority"].contains(&k.as_str()))
            }) {
                return self.reply(
                    &method,
                    path,
                    marker,
                    200,
                    gql_err("invalid input", &format!("Input object has key {k} not in type IssueCreateInput")),
                );
            }
            let after = match self.fault(&method, path, &marker).await {
                Ok(a) => a,
                Err(r) => return r,
            };
            if lock(&self.state).issues.iter().any(|i| i.id == id) {
                return self.reply(
                    &method,
                    path,
                    marker,
                    200,
                    gql_err("invalid input", "Entity with this id already exists"),
                );
            }
            let issue = self.store(
                vec![],
                input["title"].as_str().unwrap_or("").to_owned(),
                input["description"].as_str().unwrap_or("").to_owned(),
                Some(id),
            );
            let out = json!({"data": {"issueCreate": {"success": true, "issue": {"id": issue.id, "identifier": format!("ENG-{}", issue.number), "url": format!("https://linear.app/acme/issue/ENG-{}", issue.number)}}}});
            return self.after_create(&method, path, marker, after, 200, out).await;
        }
        if query.contains("issue(id:") {
            let id = vars["id"].as_str().unwrap_or("").to_owned();
            let found = lock(&self.state).issues.iter().find(|i| i.id == id).cloned();
            return match found {
                Some(i) => self.reply(&method, path, Some(id), 200, json!({"data": {"issue": {"id": i.id, "identifier": format!("ENG-{}", i.number), "url": "https://linear.app/x"}}})),
                None => self.reply(&method, path, Some(id), 200, gql_err("invalid input", "Entity not found: Issue")),
            };
        }
        if query.contains("issueUpdate") {
            // Linear's IssueUpdateInput: a workflow state moves a completed issue back (a reopen).
            let id = vars["id"].as_str().unwrap_or("").to_owned();
            let Some(state) = vars["input"]["stateId"].as_str().filter(|s| !s.is_empty()) else {
                return self.reply(&method, path, None, 200, gql_err("invalid input", "input.stateId: must be a UUID"));
            };
            let mut s = lock(&self.state);
            if let Some(i) = s.issues.iter_mut().find(|i| i.id == id) {
                i.open = true;
                i.body.push_str(&format!("\n(state {state})"));
                drop(s);
                return self.reply(&method, path, None, 200, json!({"data": {"issueUpdate": {"success": true}}}));
            }
            drop(s);
            return self.reply(&method, path, None, 200, gql_err("invalid input", "Entity not found: Issue"));
        }
        if query.contains("commentCreate") {
            let id = vars["input"]["issueId"].as_str().unwrap_or("").to_owned();
            let mut s = lock(&self.state);
            if let Some(i) = s.issues.iter_mut().find(|i| i.id == id) {
                i.comments.push(vars["input"]["body"].as_str().unwrap_or("").to_owned());
                drop(s);
                return self.reply(&method, path, None, 200, json!({"data": {"commentCreate": {"success": true}}}));
            }
            drop(s);
            return self.reply(&method, path, None, 200, gql_err("invalid input", "Entity not found: Issue"));
        }
        if query.contains("viewer") {
            return self.reply(&method, path, None, 200, json!({"data": {"viewer": {"id": "u1", "name": "Bot"}}}));
        }
        self.reply(&method, path, None, 200, gql_err("graphql error", "unknown operation"))
    }

    async fn github(&self, method: Method, uri: &Uri, body: Value) -> Response {
        let path = uri.path().to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["repos", o, r]) => self.reply(&method, &path, None, 200, json!({"full_name": format!("{o}/{r}")})),
            ("POST", ["repos", _, _, "issues"]) => {
                let labels: Vec<String> = body["labels"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l.as_str().map(str::to_owned))
                    .collect();
                let marker = labels.iter().find(|l| l.starts_with("frustration-")).cloned();
                if body["title"].as_str().is_none_or(str::is_empty) {
                    return self.reply(&method, &path, marker, 422, json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}]}));
                }
                let after = match self.fault(&method, &path, &marker).await {
                    Ok(a) => a,
                    Err(r) => return r,
                };
                let issue = self.store(
                    labels,
                    body["title"].as_str().unwrap_or("").to_owned(),
                    body["body"].as_str().unwrap_or("").to_owned(),
                    None,
                );
                let out = github_json(&issue);
                self.after_create(&method, &path, marker, after, 201, out).await
            }
            ("GET", ["repos", _, _, "issues"]) => {
                let query = uri.query().unwrap_or("");
                let label = query.split('&').find_map(|kv| kv.strip_prefix("labels=")).unwrap_or("").to_owned();
                if !query.contains("state=all") {
                    return self.reply(&method, &path, None, 400, json!({"message": "test fake expects state=all"}));
                }
                // The list endpoint is consistent (no lag); a PR with the label is listed too.
                let mut found: Vec<Value> =
                    lock(&self.state).issues.iter().filter(|i| i.labels.contains(&label)).map(github_json).collect();
                found.insert(
                    0,
                    json!({"id": 1, "number": 999, "html_url": "x", "pull_request": {}, "labels": [{"name": label}]}),
                );
                self.reply(&method, &path, Some(label), 200, Value::Array(found))
            }
            ("POST", ["repos", _, _, "issues", n, "comments"]) => {
                let n: i64 = n.parse().unwrap_or(-1);
                if body["body"].as_str().is_none_or(str::is_empty) {
                    return self.reply(&method, &path, None, 422, json!({"message": "Validation Failed"}));
                }
                if !lock(&self.state).issues.iter().any(|i| i.number == n) {
                    return self.reply(&method, &path, None, 404, json!({"message": "Not Found"}));
                }
                let after = match self.fault(&method, &path, &None).await {
                    Ok(a) => a,
                    Err(r) => return r,
                };
                if let Some(i) = lock(&self.state).issues.iter_mut().find(|i| i.number == n) {
                    i.comments.push(body["body"].as_str().unwrap_or("").to_owned());
                }
                self.after_create(&method, &path, None, after, 201, json!({"id": 1})).await
            }
            ("GET", ["repos", _, _, "issues", n, "comments"]) => {
                let n: i64 = n.parse().unwrap_or(-1);
                let comments: Vec<Value> = lock(&self.state)
                    .issues
                    .iter()
                    .filter(|i| i.number == n)
                    .flat_map(|i| i.comments.iter().map(|c| json!({"id": 1, "body": c})).collect::<Vec<_>>())
                    .collect();
                self.reply(&method, &path, None, 200, Value::Array(comments))
            }
            ("PATCH", ["repos", _, _, "issues", n]) => {
                let n: i64 = n.parse().unwrap_or(-1);
                let open = body["state"].as_str() == Some("open");
                if let Some(i) = lock(&self.state).issues.iter_mut().find(|i| i.number == n) {
                    i.open = open;
                }
                self.reply(&method, &path, None, 200, json!({"number": n}))
            }
            _ => self.reply(&method, &path, None, 404, json!({"message": "Not Found"})),
        }
    }

    async fn webhook(&self, method: Method, path: &str, headers: &HeaderMap, raw: &Bytes, body: Value) -> Response {
        let h = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let (id, ts, sig) = (h("webhook-id"), h("webhook-timestamp"), h("webhook-signature"));
        let marker = Some(id.clone());
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        let ts_ok = ts.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300);
        let key = B64.decode(self.credential.trim_start_matches("whsec_")).unwrap_or_default();
        let mut signed = format!("{id}.{ts}.").into_bytes();
        signed.extend_from_slice(raw);
        use hmac::Mac as _;
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
            return self.reply(&method, path, marker, 500, json!({}));
        };
        mac.update(&signed);
        let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
        if id.is_empty() || !ts_ok || !sig.split(' ').any(|s| s == expected) {
            return self.reply(&method, path, marker, 401, json!({"message": "bad signature"}));
        }
        let after = match self.fault(&method, path, &marker).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        {
            let mut s = lock(&self.state);
            s.deliveries.push((id.clone(), body));
            s.delivery_ids.insert(id);
        }
        self.after_create(&method, path, marker, after, 204, json!({})).await
    }
}

fn github_json(i: &FakeIssue) -> Value {
    json!({"id": 900_000 + i.number, "number": i.number, "html_url": format!("https://github.com/acme/web/issues/{}", i.number),
           "state": if i.open { "open" } else { "closed" }, "labels": i.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>(), "body": i.body})
}

/// The ADF rules the exporter must keep: a `doc` of version 1, known node types only, non-empty
/// text nodes, unmarked text in code blocks, links with an href.
pub fn check_adf(doc: &Value) -> Result<(), String> {
    if doc["type"] != "doc" || doc["version"] != 1 {
        return Err("not a doc of version 1".into());
    }
    fn walk(v: &Value, in_code: bool) -> Result<(), String> {
        let t = v["type"].as_str().ok_or("node without type")?;
        const KNOWN: &[&str] = &[
            "doc",
            "paragraph",
            "heading",
            "bulletList",
            "orderedList",
            "listItem",
            "codeBlock",
            "text",
            "hardBreak",
            "rule",
        ];
        if !KNOWN.contains(&t) {
            return Err(format!("unknown node {t}"));
        }
        if t == "text" {
            if v["text"].as_str().is_none_or(str::is_empty) {
                return Err("empty text node".into());
            }
            if in_code && v.get("marks").is_some() {
                return Err("marks in a codeBlock".into());
            }
            for m in v["marks"].as_array().into_iter().flatten() {
                if m["type"] == "link" && m["attrs"]["href"].as_str().is_none() {
                    return Err("link without href".into());
                }
            }
        }
        for c in v["content"].as_array().into_iter().flatten() {
            walk(c, in_code || t == "codeBlock")?;
        }
        Ok(())
    }
    walk(doc, false)
}

/// The `Authorization` header Jira Cloud expects for an API token: `Basic base64(email:token)`.
pub fn jira_basic(email: &str, token: &str) -> String {
    format!("Basic {}", B64.encode(format!("{email}:{token}")))
}
