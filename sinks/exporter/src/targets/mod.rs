//! The remote calls per target: create with the marker, find by marker (reconcile), comment,
//! reopen, and a credentials check. Every failure is a [`CallError`] with its
//! [`Class`](crate::outcome::Class) and a summary scrubbed of the secret.
//!
//! One tracker per kind, each in its own file with its request shapes (`jira.rs`, `linear.rs`,
//! `github.rs`, `webhook.rs`), all implementing the `Tracker` trait of `call.rs` and built on what
//! it shares: the [`Target`], its headers, sending and classifying a request. This module picks
//! the tracker of an integration's kind and gives [`Target`] the operations the dispatcher calls.

mod call;
mod github;
mod jira;
mod linear;
mod webhook;

use friction_schemas::IncidentChange;

use crate::body::TicketContent;
use crate::integration::Kind;
use call::{NewComment, NewTicket, Tracker};

pub use call::{error_text, CallError, Remote, Target};
pub use linear::comment_uuid;
pub use webhook::{is_public, webhook_signature};

/// How long to wait for a connection: at most 10 s, and never more than the whole call's timeout.
/// A connect timeout is told apart from a timeout after sending (`Class::Unreachable`: nothing was
/// sent; `Class::Ambiguous`: it may have happened).
pub fn connect_timeout(request_timeout: std::time::Duration) -> std::time::Duration {
    request_timeout.min(std::time::Duration::from_secs(10))
}

/// The tracker of an integration's kind.
fn tracker(kind: Kind) -> &'static dyn Tracker {
    match kind {
        Kind::Jira => &jira::Jira,
        Kind::Linear => &linear::Linear,
        Kind::Github => &github::Github,
        Kind::Webhook => &webhook::Webhook,
    }
}

impl Target<'_> {
    /// Looks for a ticket carrying `marker` (after an ambiguous attempt).
    pub async fn find(&self, marker: &str) -> Result<Option<Remote>, CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.find(self, h, marker).await
    }

    /// Creates the ticket with `marker` embedded.
    pub async fn create(
        &self,
        content: &TicketContent,
        marker: &str,
        change: &IncidentChange,
        generation: i64,
    ) -> Result<Remote, CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.create(self, h, &NewTicket { content, marker, change, generation }).await
    }

    /// Adds a recurrence comment. `id` is stable per comment (webhook-id for webhooks).
    pub async fn comment(&self, remote: &Remote, text: &str, id: &str) -> Result<(), CallError> {
        self.comment_event(remote, text, id, "incident.recurred").await
    }

    /// Adds a comment; webhooks receive it as the event `event`.
    pub async fn comment_event(&self, remote: &Remote, text: &str, id: &str, event: &str) -> Result<(), CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.comment(self, h, remote, &NewComment { text, id, event }).await
    }

    /// Whether a comment carrying `id` is already on the ticket (after an ambiguous comment).
    /// Linear (client id) and webhooks (webhook-id) dedupe themselves.
    pub async fn has_comment(&self, remote: &Remote, id: &str) -> Result<bool, CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.has_comment(self, h, remote, id).await
    }

    /// Reopens a closed ticket (regression, reopen policy): Jira by its configured transition, Linear
    /// by moving it to its configured state, GitHub by state open. Webhooks get the event only.
    pub async fn reopen(&self, remote: &Remote) -> Result<(), CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.reopen(self, h, remote).await
    }

    /// Checks the credentials and the target (`friction integrations test`).
    pub async fn check(&self) -> Result<String, CallError> {
        let tracker = tracker(self.integration.kind);
        let h = self.auth_headers(tracker)?;
        tracker.check(self, h).await
    }
}
