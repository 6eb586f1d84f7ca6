//! Jira Cloud (REST API v3): Basic auth with `email:token`; the marker as a label and in an issue
//! property; reconcile by a JQL search on the label; descriptions and comments in ADF; reopen by
//! the integration's configured transition.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use reqwest::header::HeaderMap;
use serde_json::{json, Value};

use super::call::{any_comment_carries, CallError, NewComment, NewTicket, Remote, Reply, Target, Tracker};
use crate::body::adf_paragraph;
use crate::outcome::Class;

pub(super) struct Jira;

impl Tracker for Jira {
    fn authorization(&self, t: &Target) -> Result<Option<String>, CallError> {
        let email = t.required(&t.cfg().email, "email")?;
        Ok(Some(format!("Basic {}", B64.encode(format!("{email}:{}", t.secret.expose())))))
    }

    fn find<'a>(&'a self, t: &'a Target, h: HeaderMap, marker: &'a str) -> Reply<'a, Option<Remote>> {
        Box::pin(async move {
            let project = t.required(&t.cfg().project_key, "project key")?;
            let body = json!({
                "jql": format!("project = {} AND labels = {} ORDER BY created ASC", jql_quote(project), jql_quote(marker)),
                "fields": ["labels", "status"],
                "maxResults": 2,
            });
            let v = t.json(t.http.post(format!("{}/rest/api/3/search/jql", t.base())).headers(h).json(&body)).await?;
            let issues = v["issues"].as_array().cloned().unwrap_or_default();
            if issues.len() > 1 {
                tracing::warn!(marker, found = issues.len(), "more than one Jira issue carries one marker");
                metrics::counter!("friction_export_duplicates_detected_total").increment(1);
            }
            Ok(issues.first().and_then(|i| jira_remote(t, i)))
        })
    }

    fn create<'a>(&'a self, t: &'a Target, h: HeaderMap, new: &'a NewTicket) -> Reply<'a, Remote> {
        let NewTicket { content, marker, change, generation } = *new;
        Box::pin(async move {
            let project = t.required(&t.cfg().project_key, "project key")?;
            let issue_type = t.required(&t.cfg().issue_type_id, "issue type id")?;
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
            let v = t.json(t.http.post(format!("{}/rest/api/3/issue", t.base())).headers(h).json(&body)).await?;
            jira_remote(t, &v).ok_or_else(|| CallError::new(Class::Ambiguous, "Jira answered without an issue key"))
        })
    }

    fn comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, new: &'a NewComment) -> Reply<'a, ()> {
        let NewComment { text, .. } = *new;
        Box::pin(async move {
            let url = format!("{}/rest/api/3/issue/{}/comment", t.base(), remote.key);
            t.json(t.http.post(url).headers(h).json(&json!({ "body": adf_paragraph(text) }))).await.map(|_| ())
        })
    }

    fn has_comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, id: &'a str) -> Reply<'a, bool> {
        Box::pin(async move {
            let url = format!("{}/rest/api/3/issue/{}/comment", t.base(), remote.key);
            let v = t.json(t.http.get(url).headers(h).query(&[("maxResults", "100"), ("orderBy", "-created")])).await?;
            Ok(any_comment_carries(&v, id))
        })
    }

    fn reopen<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote) -> Reply<'a, ()> {
        Box::pin(async move {
            let Some(transition) = t.cfg().reopen_transition_id.as_deref() else { return Ok(()) };
            let url = format!("{}/rest/api/3/issue/{}/transitions", t.base(), remote.key);
            t.json(t.http.post(url).headers(h).json(&json!({ "transition": { "id": transition } }))).await.map(|_| ())
        })
    }

    fn check<'a>(&'a self, t: &'a Target, h: HeaderMap) -> Reply<'a, String> {
        Box::pin(async move {
            let v = t.json(t.http.get(format!("{}/rest/api/3/myself", t.base())).headers(h)).await?;
            Ok(format!("authenticated as {}", v["displayName"].as_str().or(v["accountId"].as_str()).unwrap_or("?")))
        })
    }
}

/// The ticket of an issue in a Jira answer (create or search).
fn jira_remote(t: &Target<'_>, issue: &Value) -> Option<Remote> {
    let key = issue["key"].as_str()?;
    Some(Remote {
        id: issue["id"].as_str().unwrap_or(key).to_owned(),
        key: key.to_owned(),
        url: format!("{}/browse/{key}", t.base()),
    })
}

/// A JQL string literal.
fn jql_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jql_literals_escape_quotes_and_backslashes() {
        assert_eq!(jql_quote(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
