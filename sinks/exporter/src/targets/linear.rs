//! Linear (GraphQL): a personal API key without "Bearer"; the marker is the issue's own client id,
//! so reconcile is a lookup by id and a repeated create fails as a duplicate; comments carry a
//! client id derived from the comment's ([`comment_uuid`]); failures come in a 200 body.

use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use super::call::{CallError, NewComment, NewTicket, Remote, Reply, Target, Tracker};
use crate::outcome::{classify_linear_error, Class};

pub(super) struct Linear;

impl Tracker for Linear {
    fn authorization(&self, t: &Target) -> Result<Option<String>, CallError> {
        // Personal API keys go without "Bearer" (docs/exporter.md "What the fakes enforce").
        Ok(Some(t.secret.expose().to_owned()))
    }

    fn find<'a>(&'a self, t: &'a Target, _h: HeaderMap, marker: &'a str) -> Reply<'a, Option<Remote>> {
        Box::pin(issue_by_id(t, marker))
    }

    fn create<'a>(&'a self, t: &'a Target, _h: HeaderMap, new: &'a NewTicket) -> Reply<'a, Remote> {
        let NewTicket { content, marker, .. } = *new;
        Box::pin(async move {
            let team = t.required(&t.cfg().team_id, "team id")?;
            let query = "mutation CreateIssue($input: IssueCreateInput!) { issueCreate(input: $input) { success issue { id identifier url } } }";
            let input =
                json!({ "id": marker, "teamId": team, "title": content.title, "description": content.markdown() });
            match graphql(t, query, json!({ "input": input })).await {
                Ok(data) if data["issueCreate"]["success"].as_bool() == Some(true) => {
                    linear_remote(&data["issueCreate"]["issue"])
                        .ok_or_else(|| CallError::new(Class::Ambiguous, "Linear answered success without an issue"))
                }
                Ok(_) => Err(CallError::new(Class::Ambiguous, "Linear answered success: false")),
                // The id may already exist (a lost response before): look it up.
                Err(e) if e.class == Class::Permanent => match issue_by_id(t, marker).await {
                    Ok(Some(remote)) => Ok(remote),
                    _ => Err(e),
                },
                Err(e) => Err(e),
            }
        })
    }

    fn comment<'a>(&'a self, t: &'a Target, _h: HeaderMap, remote: &'a Remote, new: &'a NewComment) -> Reply<'a, ()> {
        let NewComment { text, id, .. } = *new;
        Box::pin(async move {
            let query = "mutation Comment($input: CommentCreateInput!) { commentCreate(input: $input) { success } }";
            graphql(t, query, json!({ "input": { "id": comment_uuid(id), "issueId": remote.id, "body": text } }))
                .await
                .map(|_| ())
        })
    }

    fn has_comment<'a>(&'a self, _t: &'a Target, _h: HeaderMap, _remote: &'a Remote, _id: &'a str) -> Reply<'a, bool> {
        // The comment's client id makes a repeated comment the same comment.
        Box::pin(async { Ok(false) })
    }

    fn reopen<'a>(&'a self, t: &'a Target, _h: HeaderMap, remote: &'a Remote) -> Reply<'a, ()> {
        Box::pin(async move {
            let Some(state) = t.cfg().reopen_state_id.as_deref() else { return Ok(()) };
            let query = "mutation Reopen($id: String!, $input: IssueUpdateInput!) { issueUpdate(id: $id, input: $input) { success } }";
            let data = graphql(t, query, json!({ "id": remote.id, "input": { "stateId": state } })).await?;
            if data["issueUpdate"]["success"].as_bool() == Some(true) {
                Ok(())
            } else {
                Err(CallError::new(Class::Ambiguous, "Linear answered success: false to the reopen"))
            }
        })
    }

    fn check<'a>(&'a self, t: &'a Target, _h: HeaderMap) -> Reply<'a, String> {
        Box::pin(async move {
            let data = graphql(t, "query { viewer { id name } }", json!({})).await?;
            Ok(format!("authenticated as {}", data["viewer"]["name"].as_str().unwrap_or("?")))
        })
    }
}

/// The issue whose id is `marker` (what [`Tracker::find`] asks); `None` when Linear knows none.
async fn issue_by_id(t: &Target<'_>, marker: &str) -> Result<Option<Remote>, CallError> {
    let query = "query Issue($id: String!) { issue(id: $id) { id identifier url } }";
    match graphql(t, query, json!({ "id": marker })).await {
        Ok(data) => Ok(linear_remote(&data["issue"])),
        Err(e) if e.summary.to_ascii_lowercase().contains("not found") => Ok(None),
        Err(e) => Err(e),
    }
}

/// One GraphQL request; its `data`, or the class and message of its first error.
async fn graphql(t: &Target<'_>, query: &str, variables: Value) -> Result<Value, CallError> {
    let h = t.auth_headers(&Linear)?;
    let v = t
        .json(
            t.http
                .post(format!("{}/graphql", t.base()))
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
        return Err(CallError::new(classify_linear_error(kind), t.scrub(&format!("{kind}: {message}"))));
    }
    Ok(v["data"].clone())
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

/// The ticket of an issue in a Linear answer.
fn linear_remote(issue: &Value) -> Option<Remote> {
    Some(Remote {
        id: issue["id"].as_str()?.to_owned(),
        key: issue["identifier"].as_str().unwrap_or_default().to_owned(),
        url: issue["url"].as_str().unwrap_or_default().to_owned(),
    })
}
