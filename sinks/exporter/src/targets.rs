//! The remote calls per target: create with the marker, find by marker (reconcile), comment,
//! reopen, and a credentials check. Every failure is a [`CallError`] with its [`Class`] and a
//! summary scrubbed of the secret.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::{json, Value};
use sha2::Sha256;

use friction_schemas::IncidentChange;

use crate::body::{adf_paragraph, TicketContent};
use crate::integration::{Integration, Kind};
use crate::outcome::{classify_linear_error, classify_response, parse_retry_after, Class};
use crate::secret::Secret;

/// A remote ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub id: String,
    pub key: String,
    pub url: String,
}

/// A failed call: its class, the HTTP status if any, Retry-After, and a scrubbed summary.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{} ({}): {summary}", class.as_str(), status.map(|s| s.to_string()).unwrap_or_else(|| "no response".into()))]
pub struct CallError {
    pub class: Class,
    pub status: Option<u16>,
    pub retry_after: Option<Duration>,
    pub summary: String,
}

impl CallError {
    fn new(class: Class, summary: impl Into<String>) -> Self {
        CallError { class, status: None, retry_after: None, summary: summary.into() }
    }
}

const SUMMARY_MAX: usize = 400;

/// One integration, ready to call.
pub struct Target<'a> {
    pub integration: &'a Integration,
    pub secret: Secret,
    pub http: &'a reqwest::Client,
    pub timeout: Duration,
    /// Overrides the integration's SSRF opt-in for every webhook (tests).
    pub allow_private_network: bool,
}

/// True for addresses a webhook may be sent to: not private, loopback, link-local, unspecified,
/// multicast, shared (CGNAT), or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// The Standard Webhooks signature header value `v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`.
/// `secret` is `whsec_<base64>` (the key is the decoded bytes) or a raw key.
pub fn webhook_signature(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let raw = secret.expose();
    let key = raw.strip_prefix("whsec_").and_then(|b| B64.decode(b).ok()).unwrap_or_else(|| raw.as_bytes().to_vec());
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// A JQL string literal.
fn jql_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl Target<'_> {
    fn cfg(&self) -> &crate::integration::IntegrationConfig {
        &self.integration.config
    }

    /// `text` without the secret in any form it is sent in (for Jira also base64 of
    /// `email:token`, the Basic credential), truncated.
    fn scrub(&self, text: &str) -> String {
        let mut out = self.secret.scrub(text, usize::MAX);
        if let Some(email) = self.cfg().email.as_deref() {
            out = Secret::new(format!("{email}:{}", self.secret.expose())).scrub(&out, usize::MAX);
        }
        crate::secret::truncate(&out, SUMMARY_MAX)
    }

    fn base(&self) -> &str {
        self.cfg().base_url.trim_end_matches('/')
    }

    fn required<'s>(&self, value: &'s Option<String>, what: &str) -> Result<&'s str, CallError> {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| CallError::new(Class::Configuration, format!("integration has no {what}")))
    }

    fn auth_headers(&self) -> Result<HeaderMap, CallError> {
        let mut h = HeaderMap::new();
        let value = match self.integration.kind {
            Kind::Jira => {
                let email = self.required(&self.cfg().email, "email")?;
                format!("Basic {}", B64.encode(format!("{email}:{}", self.secret.expose())))
            }
            // Personal API keys go without "Bearer" (research §2.1).
            Kind::Linear => self.secret.expose().to_owned(),
            Kind::Github => format!("Bearer {}", self.secret.expose()),
            Kind::Webhook => return Ok(h),
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| CallError::new(Class::Configuration, "the credential has characters a header cannot carry"))?;
        value.set_sensitive(true);
        h.insert(AUTHORIZATION, value);
        if self.integration.kind == Kind::Github {
            h.insert("accept", HeaderValue::from_static("application/vnd.github+json"));
            h.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
        }
        h.insert("user-agent", HeaderValue::from_static("friction-exporter"));
        Ok(h)
    }

    /// Sends and classifies: Ok((status, body)) on 2xx.
    async fn send(&self, client: &reqwest::Client, req: reqwest::RequestBuilder) -> Result<(u16, String), CallError> {
        let req = req
            .timeout(self.timeout)
            .build()
            .map_err(|e| CallError::new(Class::Permanent, self.scrub(&e.without_url().to_string())))?;
        let response = match client.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                let what = if e.is_timeout() {
                    "timed out"
                } else if e.is_connect() {
                    "connection failed"
                } else {
                    "transport error"
                };
                // Without the URL (it may carry a webhook token) and scrubbed.
                let detail = self.scrub(&e.without_url().to_string());
                return Err(CallError::new(Class::Ambiguous, format!("{what}: {detail}")));
            }
        };
        let status = response.status().as_u16();
        let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after_header = header("retry-after");
        let exhausted = header("x-ratelimit-remaining").is_some_and(|v| v.trim() == "0");
        let mut retry_after = parse_retry_after(retry_after_header.as_deref());
        if retry_after.is_none() && exhausted {
            // GitHub: wait until x-ratelimit-reset (epoch seconds), at least a minute otherwise.
            let reset = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<i64>().ok());
            let now_s = friction_runtime::now_ms() / 1000;
            retry_after =
                Some(Duration::from_secs(reset.map(|r| (r - now_s).clamp(1, 3600)).unwrap_or(60).unsigned_abs()));
        }
        let body = match response.text().await {
            Ok(b) => b,
            Err(e) if (200..300).contains(&status) => {
                return Err(CallError::new(
                    Class::Ambiguous,
                    format!("reading the response: {}", self.scrub(&e.without_url().to_string())),
                ))
            }
            Err(_) => String::new(),
        };
        let class = classify_response(status, retry_after_header.is_some(), exhausted);
        if class == Class::Success {
            return Ok((status, body));
        }
        Err(CallError { class, status: Some(status), retry_after, summary: self.scrub(&error_text(&body)) })
    }

    async fn json(&self, req: reqwest::RequestBuilder) -> Result<Value, CallError> {
        let (_, body) = self.send(self.http, req).await?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|_| CallError::new(Class::Ambiguous, "the response was not JSON"))
    }

    /// Looks for a ticket carrying `marker` (after an ambiguous attempt).
    pub async fn find(&self, marker: &str) -> Result<Option<Remote>, CallError> {
        let h = self.auth_headers()?;
        match self.integration.kind {
            Kind::Jira => {
                let project = self.required(&self.cfg().project_key, "project key")?;
                let body = json!({
                    "jql": format!("project = {} AND labels = {} ORDER BY created ASC", jql_quote(project), jql_quote(marker)),
                    "fields": ["labels", "status"],
                    "maxResults": 2,
                });
                let v = self
                    .json(self.http.post(format!("{}/rest/api/3/search/jql", self.base())).headers(h).json(&body))
                    .await?;
                let issues = v["issues"].as_array().cloned().unwrap_or_default();
                if issues.len() > 1 {
                    tracing::warn!(marker, found = issues.len(), "more than one Jira issue carries one marker");
                    metrics::counter!("friction_export_duplicates_detected_total").increment(1);
                }
                Ok(issues.first().and_then(|i| self.jira_remote(i)))
            }
            Kind::Linear => {
                let query = "query Issue($id: String!) { issue(id: $id) { id identifier url } }";
                match self.graphql(query, json!({ "id": marker })).await {
                    Ok(data) => Ok(linear_remote(&data["issue"])),
                    Err(e) if e.summary.to_ascii_lowercase().contains("not found") => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let url = format!("{}/repos/{repo}/issues", self.base());
                let v = self
                    .json(self.http.get(url).headers(h).query(&[
                        ("labels", marker),
                        ("state", "all"),
                        ("per_page", "5"),
                    ]))
                    .await?;
                let found = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|i| i.get("pull_request").is_none())
                    .find_map(github_remote);
                Ok(found)
            }
            // Resending with the same webhook-id is the reconcile: the receiver dedupes.
            Kind::Webhook => Ok(None),
        }
    }

    fn jira_remote(&self, issue: &Value) -> Option<Remote> {
        let key = issue["key"].as_str()?;
        Some(Remote {
            id: issue["id"].as_str().unwrap_or(key).to_owned(),
            key: key.to_owned(),
            url: format!("{}/browse/{key}", self.base()),
        })
    }

    async fn graphql(&self, query: &str, variables: Value) -> Result<Value, CallError> {
        let h = self.auth_headers()?;
        let v = self
            .json(
                self.http
                    .post(format!("{}/graphql", self.base()))
                    .headers(h)
                    .json(&json!({ "query": query, "variables": variables })),
            )
            .await?;
        // Linear reports failures in a 200 body.
        if let Some(errors) = v["errors"].as_array().filter(|e| !e.is_empty()) {
            let kind = errors[0]["extensions"]["type"].as_str().unwrap_or("unknown");
            let message = errors
                .iter()
                .map(|e| {
                    e["extensions"]["userPresentableMessage"]
                        .as_str()
                        .or(e["message"].as_str())
                        .unwrap_or("error")
                        .to_owned()
                })
                .collect::<Vec<_>>()
                .join("; ");
            return Err(CallError::new(classify_linear_error(kind), self.scrub(&format!("{kind}: {message}"))));
        }
        Ok(v["data"].clone())
    }

    /// Creates the ticket with `marker` embedded.
    pub async fn create(
        &self,
        content: &TicketContent,
        marker: &str,
        change: &IncidentChange,
        generation: i64,
    ) -> Result<Remote, CallError> {
        let h = self.auth_headers()?;
        match self.integration.kind {
            Kind::Jira => {
                let project = self.required(&self.cfg().project_key, "project key")?;
                let issue_type = self.required(&self.cfg().issue_type_id, "issue type id")?;
                let body = json!({
                    "fields": {
                        "project": { "key": project },
                        "issuetype": { "id": issue_type },
                        "summary": content.title,
                        "description": content.adf(),
                        "labels": ["frustration", marker],
                    },
                    "properties": [{ "key": "com.friction.incident", "value": { "marker": marker, "incident": change.id, "generation": generation } }],
                });
                let v = self
                    .json(self.http.post(format!("{}/rest/api/3/issue", self.base())).headers(h).json(&body))
                    .await?;
                self.jira_remote(&v)
                    .ok_or_else(|| CallError::new(Class::Ambiguous, "Jira answered without an issue key"))
            }
            Kind::Linear => {
                let team = self.required(&self.cfg().team_id, "team id")?;
                let query = "mutation CreateIssue($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier url } } }";
                let input =
                    json!({ "id": marker, "teamId": team, "title": content.title, "description": content.markdown() });
                match self.graphql(query, json!({ "input": input })).await {
                    Ok(data) if data["issueCreate"]["success"].as_bool() == Some(true) => {
                        linear_remote(&data["issueCreate"]["issue"])
                            .ok_or_else(|| CallError::new(Class::Ambiguous, "Linear answered success without an issue"))
                    }
                    Ok(_) => Err(CallError::new(Class::Ambiguous, "Linear answered success: false")),
                    // The id may already exist (a lost response before): look it up.
                    Err(e) if e.class == Class::Permanent => match self.find(marker).await {
                        Ok(Some(remote)) => Ok(remote),
                        _ => Err(e),
                    },
                    Err(e) => Err(e),
                }
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let body =
                    json!({ "title": content.title, "body": content.markdown(), "labels": ["frustration", marker] });
                let v = self
                    .json(self.http.post(format!("{}/repos/{repo}/issues", self.base())).headers(h).json(&body))
                    .await?;
                github_remote(&v)
                    .ok_or_else(|| CallError::new(Class::Ambiguous, "GitHub answered without an issue number"))
            }
            Kind::Webhook => {
                let payload = json!({
                    "type": "incident.ticket",
                    "timestamp": friction_runtime::now_ms(),
                    "data": { "marker": marker, "generation": generation, "title": content.title, "markdown": content.markdown(), "incident": change },
                });
                self.webhook(marker, &payload).await?;
                Ok(Remote { id: marker.to_owned(), key: marker.to_owned(), url: String::new() })
            }
        }
    }

    /// Adds a comment (recurrence). `id` is stable per comment (webhook-id for webhooks).
    pub async fn comment(&self, remote: &Remote, text: &str, id: &str) -> Result<(), CallError> {
        let h = self.auth_headers()?;
        match self.integration.kind {
            Kind::Jira => {
                let url = format!("{}/rest/api/3/issue/{}/comment", self.base(), remote.key);
                self.json(self.http.post(url).headers(h).json(&json!({ "body": adf_paragraph(text) })))
                    .await
                    .map(|_| ())
            }
            Kind::Linear => {
                let query =
                    "mutation Comment($input: CommentCreateInput!) { commentCreate(input: $input) { success } }";
                self.graphql(query, json!({ "input": { "id": comment_uuid(id), "issueId": remote.id, "body": text } }))
                    .await
                    .map(|_| ())
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let url = format!("{}/repos/{repo}/issues/{}/comments", self.base(), remote.key);
                self.json(self.http.post(url).headers(h).json(&json!({ "body": text }))).await.map(|_| ())
            }
            Kind::Webhook => {
                let payload = json!({ "type": "incident.recurred", "timestamp": friction_runtime::now_ms(), "data": { "marker": remote.id, "text": text } });
                self.webhook(id, &payload).await
            }
        }
    }

    /// Whether a comment carrying `id` is already on the ticket (after an ambiguous comment).
    /// Linear (client id) and webhooks (webhook-id) dedupe themselves.
    pub async fn has_comment(&self, remote: &Remote, id: &str) -> Result<bool, CallError> {
        let h = self.auth_headers()?;
        let v = match self.integration.kind {
            Kind::Jira => {
                let url = format!("{}/rest/api/3/issue/{}/comment", self.base(), remote.key);
                self.json(self.http.get(url).headers(h).query(&[("maxResults", "100"), ("orderBy", "-created")]))
                    .await?
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let url = format!("{}/repos/{repo}/issues/{}/comments", self.base(), remote.key);
                self.json(self.http.get(url).headers(h).query(&[("per_page", "100")])).await?
            }
            Kind::Linear | Kind::Webhook => return Ok(false),
        };
        let comments = v["comments"].as_array().or(v.as_array()).cloned().unwrap_or_default();
        Ok(comments.iter().any(|c| c["body"].to_string().contains(id)))
    }

    /// Reopens a closed ticket (regression, reopen policy): Jira by its configured transition, Linear
    /// by moving it to its configured state, GitHub by state open. Webhooks get the event only.
    pub async fn reopen(&self, remote: &Remote) -> Result<(), CallError> {
        let h = self.auth_headers()?;
        match self.integration.kind {
            Kind::Jira => {
                let Some(transition) = self.cfg().reopen_transition_id.as_deref() else { return Ok(()) };
                let url = format!("{}/rest/api/3/issue/{}/transitions", self.base(), remote.key);
                self.json(self.http.post(url).headers(h).json(&json!({ "transition": { "id": transition } })))
                    .await
                    .map(|_| ())
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let url = format!("{}/repos/{repo}/issues/{}", self.base(), remote.key);
                self.json(self.http.patch(url).headers(h).json(&json!({ "state": "open" }))).await.map(|_| ())
            }
            Kind::Linear => {
                let Some(state) = self.cfg().reopen_state_id.as_deref() else { return Ok(()) };
                let query = "mutation Reopen($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) { success } }";
                let data = self.graphql(query, json!({ "id": remote.id, "input": { "stateId": state } })).await?;
                if data["issueUpdate"]["success"].as_bool() == Some(true) {
                    Ok(())
                } else {
                    Err(CallError::new(Class::Ambiguous, "Linear answered success: false to the reopen"))
                }
            }
            Kind::Webhook => Ok(()),
        }
    }

    /// Checks the credentials and the target (`friction integrations test`).
    pub async fn check(&self) -> Result<String, CallError> {
        let h = self.auth_headers()?;
        match self.integration.kind {
            Kind::Jira => {
                let v = self.json(self.http.get(format!("{}/rest/api/3/myself", self.base())).headers(h)).await?;
                Ok(format!("authenticated as {}", v["displayName"].as_str().or(v["accountId"].as_str()).unwrap_or("?")))
            }
            Kind::Linear => {
                let data = self.graphql("query { viewer { id name } }", json!({})).await?;
                Ok(format!("authenticated as {}", data["viewer"]["name"].as_str().unwrap_or("?")))
            }
            Kind::Github => {
                let repo = self.required(&self.cfg().repo, "repository")?;
                let v = self.json(self.http.get(format!("{}/repos/{repo}", self.base())).headers(h)).await?;
                Ok(format!("repository {} reachable", v["full_name"].as_str().unwrap_or(repo)))
            }
            Kind::Webhook => {
                let id = format!("ping_{}", hex::encode(rand::random::<[u8; 6]>()));
                self.webhook(&id, &json!({ "type": "ping", "timestamp": friction_runtime::now_ms(), "data": {} }))
                    .await?;
                Ok("endpoint accepted a signed ping".into())
            }
        }
    }

    /// Posts a signed Standard Webhooks message, after the SSRF guard: the host is resolved once,
    /// every address must be public (unless allowed), the connection goes to that address, and
    /// redirects are not followed.
    async fn webhook(&self, id: &str, payload: &Value) -> Result<(), CallError> {
        let url = reqwest::Url::parse(&self.cfg().base_url)
            .map_err(|_| CallError::new(Class::Configuration, "the webhook URL is not a URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(CallError::new(Class::Configuration, "the webhook URL must be http or https"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| CallError::new(Class::Configuration, "the webhook URL has no host"))?
            .to_owned();
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|_| CallError::new(Class::Ambiguous, "the webhook host does not resolve"))?
                .collect(),
        };
        let allow = self.allow_private_network || self.cfg().allow_private_network;
        let Some(addr) = addrs.first().copied() else {
            return Err(CallError::new(Class::Ambiguous, "the webhook host has no address"));
        };
        if !allow && addrs.iter().any(|a| !is_public(a.ip())) {
            return Err(CallError::new(
                Class::Configuration,
                format!("refusing to send a webhook to a non-public address ({})", addr.ip()),
            ));
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(&host, addr)
            .build()
            .map_err(|_| CallError::new(Class::Ambiguous, "could not build the HTTP client"))?;
        let body = serde_json::to_vec(payload)
            .map_err(|_| CallError::new(Class::Permanent, "could not encode the payload"))?;
        let ts = friction_runtime::now_ms() / 1000;
        let req = client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", webhook_signature(&self.secret, id, ts, &body))
            .body(body);
        self.send(&client, req).await.map(|_| ())
    }
}

/// A UUID v4-shaped id derived from a stable comment id, so a retried Linear comment is the same
/// comment (Linear's `CommentCreateInput.id`).
pub fn comment_uuid(id: &str) -> String {
    use sha2::Digest as _;
    let digest = Sha256::digest(format!("linear-comment:{id}"));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(b).to_string()
}

fn linear_remote(issue: &Value) -> Option<Remote> {
    Some(Remote {
        id: issue["id"].as_str()?.to_owned(),
        key: issue["identifier"].as_str().unwrap_or_default().to_owned(),
        url: issue["url"].as_str().unwrap_or_default().to_owned(),
    })
}

fn github_remote(issue: &Value) -> Option<Remote> {
    let number = issue["number"].as_i64()?;
    Some(Remote {
        id: issue["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        key: number.to_string(),
        url: issue["html_url"].as_str().unwrap_or_default().to_owned(),
    })
}

/// The message of an error body: Jira's `errorMessages` + `errors`, GitHub's `message`, else the
/// text itself (HTML error pages included), all later truncated and scrubbed.
pub fn error_text(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return body.chars().filter(|c| !c.is_control()).collect();
    };
    let mut parts: Vec<String> =
        v["errorMessages"].as_array().into_iter().flatten().filter_map(|m| m.as_str().map(str::to_owned)).collect();
    if let Some(errors) = v["errors"].as_object() {
        parts.extend(errors.iter().map(|(k, m)| format!("{k}: {}", m.as_str().unwrap_or("invalid"))));
    }
    if let Some(m) = v["message"].as_str() {
        parts.push(m.to_owned());
    }
    if parts.is_empty() {
        body.to_owned()
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = webhook_signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn ssrf_ranges() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap_or(IpAddr::V4([1, 1, 1, 1].into()))), "{ip} must be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap_or(IpAddr::V4([10, 0, 0, 1].into()))), "{ip} is public");
        }
    }

    #[test]
    fn error_bodies() {
        assert_eq!(
            error_text(r#"{"errorMessages":["Field 'priority' is required"],"errors":{}}"#),
            "Field 'priority' is required"
        );
        assert_eq!(error_text(r#"{"errorMessages":[],"errors":{"labels":"cannot be set"}}"#), "labels: cannot be set");
        assert_eq!(error_text("<html>oops</html>"), "<html>oops</html>");
        assert_eq!(jql_quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
