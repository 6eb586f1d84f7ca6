//! One call to a target: the integration ready to call ([`Target`]), the ticket it answers with
//! ([`Remote`]), the failure ([`CallError`]), the [`Tracker`] trait each kind implements, and what
//! every tracker shares: the credential headers, sending and classifying a request, and the error
//! summaries scrubbed of the secret.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use serde_json::Value;

use friction_schemas::IncidentChange;

use crate::body::TicketContent;
use crate::integration::{Integration, IntegrationConfig};
use crate::outcome::{classify_response, parse_retry_after, Class};
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
    pub(super) fn new(class: Class, summary: impl Into<String>) -> Self {
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

/// A tracker call in flight (boxed, so that [`Tracker`] can be a trait object).
pub(super) type Reply<'a, T> = Pin<Box<dyn Future<Output = Result<T, CallError>> + Send + 'a>>;

/// The ticket to create: its content, the marker it carries, the incident change it is for.
pub(super) struct NewTicket<'a> {
    pub content: &'a TicketContent,
    pub marker: &'a str,
    pub change: &'a IncidentChange,
    pub generation: i64,
}

/// A comment to add: its text and its id, stable across retries of the same comment, and the
/// webhook event it is (`incident.recurred`, `incident.unconfirmed`).
pub(super) struct NewComment<'a> {
    pub text: &'a str,
    pub id: &'a str,
    pub event: &'a str,
}

/// What one kind of target does for each operation of [`Target`]. Every operation gets the
/// headers [`Target::auth_headers`] built from [`Tracker::authorization`] (empty for webhooks).
pub(super) trait Tracker: Sync {
    /// The `Authorization` header's value; `None`: no credential header (webhooks sign instead).
    fn authorization(&self, t: &Target) -> Result<Option<String>, CallError>;

    /// Headers the API asks for besides the credential.
    fn api_headers(&self, _headers: &mut HeaderMap) {}

    /// Looks for a ticket carrying `marker`.
    fn find<'a>(&'a self, t: &'a Target, h: HeaderMap, marker: &'a str) -> Reply<'a, Option<Remote>>;

    /// Creates the ticket with its marker embedded.
    fn create<'a>(&'a self, t: &'a Target, h: HeaderMap, new: &'a NewTicket) -> Reply<'a, Remote>;

    /// Adds a comment to the ticket.
    fn comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, new: &'a NewComment) -> Reply<'a, ()>;

    /// Whether a comment carrying `id` is already on the ticket.
    fn has_comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, id: &'a str) -> Reply<'a, bool>;

    /// Reopens a closed ticket.
    fn reopen<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote) -> Reply<'a, ()>;

    /// Checks the credentials and the target; what was checked.
    fn check<'a>(&'a self, t: &'a Target, h: HeaderMap) -> Reply<'a, String>;
}

impl Target<'_> {
    pub(super) fn cfg(&self) -> &IntegrationConfig {
        &self.integration.config
    }

    /// `text` without the secret in any form it is sent in (for Jira also base64 of
    /// `email:token`, the Basic credential), truncated.
    pub(super) fn scrub(&self, text: &str) -> String {
        let mut out = self.secret.scrub(text, usize::MAX);
        if let Some(email) = self.cfg().email.as_deref() {
            out = Secret::new(format!("{email}:{}", self.secret.expose())).scrub(&out, usize::MAX);
        }
        crate::secret::truncate(&out, SUMMARY_MAX)
    }

    pub(super) fn base(&self) -> &str {
        self.cfg().base_url.trim_end_matches('/')
    }

    pub(super) fn required<'s>(&self, value: &'s Option<String>, what: &str) -> Result<&'s str, CallError> {
        value
            .as_deref()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| CallError::new(Class::Configuration, format!("integration has no {what}")))
    }

    /// The credential headers `tracker` sends (none for webhooks).
    pub(super) fn auth_headers(&self, tracker: &dyn Tracker) -> Result<HeaderMap, CallError> {
        let mut h = HeaderMap::new();
        let Some(value) = tracker.authorization(self)? else {
            return Ok(h);
        };
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| CallError::new(Class::Configuration, "the credential has characters a header cannot carry"))?;
        value.set_sensitive(true);
        h.insert(AUTHORIZATION, value);
        tracker.api_headers(&mut h);
        h.insert("user-agent", HeaderValue::from_static("friction-exporter"));
        Ok(h)
    }

    /// Sends and classifies: Ok((status, body)) on 2xx.
    pub(super) async fn send(
        &self,
        client: &reqwest::Client,
        req: reqwest::RequestBuilder,
    ) -> Result<(u16, String), CallError> {
        let req = req
            .timeout(self.timeout)
            .build()
            .map_err(|e| CallError::new(Class::Permanent, self.scrub(&e.without_url().to_string())))?;
        let response = match client.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                // No connection (refused, unresolvable, TLS handshake, connect timeout): no byte
                // of the request was sent, so nothing happened remotely: retried as is, never
                // reconciled. Anything later (a timeout after sending, a reset) may have happened.
                let (class, what) = if e.is_connect() {
                    (Class::Unreachable, "connection failed")
                } else if e.is_timeout() {
                    (Class::Ambiguous, "timed out")
                } else {
                    (Class::Ambiguous, "transport error")
                };
                // Without the URL (it may carry a webhook token) and scrubbed.
                let detail = self.scrub(&e.without_url().to_string());
                return Err(CallError::new(class, format!("{what}: {detail}")));
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

    pub(super) async fn json(&self, req: reqwest::RequestBuilder) -> Result<Value, CallError> {
        let (_, body) = self.send(self.http, req).await?;
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|_| CallError::new(Class::Ambiguous, "the response was not JSON"))
    }
}

/// Whether a list of comments (Jira's `{"comments": [...]}` or GitHub's bare array) has one whose
/// body carries `id`.
pub(super) fn any_comment_carries(list: &Value, id: &str) -> bool {
    let comments = list["comments"].as_array().or(list.as_array()).cloned().unwrap_or_default();
    comments.iter().any(|c| c["body"].to_string().contains(id))
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
    fn error_bodies() {
        assert_eq!(
            error_text(r#"{"errorMessages":["Field 'priority' is required"],"errors":{}}"#),
            "Field 'priority' is required"
        );
        assert_eq!(error_text(r#"{"errorMessages":[],"errors":{"labels":"cannot be set"}}"#), "labels: cannot be set");
        assert_eq!(error_text("<html>oops</html>"), "<html>oops</html>");
    }
}
