//! GitHub Issues (REST API 2022-11-28): a bearer token; the marker as a label; reconcile by
//! listing the repository's issues with that label (pull requests skipped); reopen by state open.

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{json, Value};

use super::call::{any_comment_carries, CallError, NewComment, NewTicket, Remote, Reply, Target, Tracker};
use crate::outcome::Class;

pub(super) struct Github;

impl Tracker for Github {
    fn authorization(&self, t: &Target) -> Result<Option<String>, CallError> {
        Ok(Some(format!("Bearer {}", t.secret.expose())))
    }

    fn api_headers(&self, h: &mut HeaderMap) {
        h.insert("accept", HeaderValue::from_static("application/vnd.github+json"));
        h.insert("x-github-api-version", HeaderValue::from_static("2022-11-28"));
    }

    fn find<'a>(&'a self, t: &'a Target, h: HeaderMap, marker: &'a str) -> Reply<'a, Option<Remote>> {
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let url = format!("{}/repos/{repo}/issues", t.base());
            let v = t
                .json(t.http.get(url).headers(h).query(&[("labels", marker), ("state", "all"), ("per_page", "5")]))
                .await?;
            let found =
                v.as_array().into_iter().flatten().filter(|i| i.get("pull_request").is_none()).find_map(github_remote);
            Ok(found)
        })
    }

    fn create<'a>(&'a self, t: &'a Target, h: HeaderMap, new: &'a NewTicket) -> Reply<'a, Remote> {
        let NewTicket { content, marker, .. } = *new;
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let body = json!({ "title": content.title, "body": content.markdown(), "labels": ["frustration", marker] });
            let v = t.json(t.http.post(format!("{}/repos/{repo}/issues", t.base())).headers(h).json(&body)).await?;
            github_remote(&v).ok_or_else(|| CallError::new(Class::Ambiguous, "GitHub answered without an issue number"))
        })
    }

    fn comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, new: &'a NewComment) -> Reply<'a, ()> {
        let NewComment { text, .. } = *new;
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let url = format!("{}/repos/{repo}/issues/{}/comments", t.base(), remote.key);
            t.json(t.http.post(url).headers(h).json(&json!({ "body": text }))).await.map(|_| ())
        })
    }

    fn has_comment<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote, id: &'a str) -> Reply<'a, bool> {
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let url = format!("{}/repos/{repo}/issues/{}/comments", t.base(), remote.key);
            let v = t.json(t.http.get(url).headers(h).query(&[("per_page", "100")])).await?;
            Ok(any_comment_carries(&v, id))
        })
    }

    fn reopen<'a>(&'a self, t: &'a Target, h: HeaderMap, remote: &'a Remote) -> Reply<'a, ()> {
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let url = format!("{}/repos/{repo}/issues/{}", t.base(), remote.key);
            t.json(t.http.patch(url).headers(h).json(&json!({ "state": "open" }))).await.map(|_| ())
        })
    }

    fn check<'a>(&'a self, t: &'a Target, h: HeaderMap) -> Reply<'a, String> {
        Box::pin(async move {
            let repo = t.required(&t.cfg().repo, "repository")?;
            let v = t.json(t.http.get(format!("{}/repos/{repo}", t.base())).headers(h)).await?;
            Ok(format!("repository {} reachable", v["full_name"].as_str().unwrap_or(repo)))
        })
    }
}

/// The ticket of an issue in a GitHub answer (create or list).
fn github_remote(issue: &Value) -> Option<Remote> {
    let number = issue["number"].as_i64()?;
    Some(Remote {
        id: issue["id"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
        key: number.to_string(),
        url: issue["html_url"].as_str().unwrap_or_default().to_owned(),
    })
}
