//! `GET /live`: the live feed — incident changes listed as they arrive. The page is a frame; the
//! console's script (console/assets/console.js) opens an `EventSource` on `/v1/live` (the session
//! cookie authenticates it; the stream shows only the caller's projects) and adds one item per
//! change, newest first (docs/console.md "Live").

use axum::http::StatusCode;
use axum::response::Response;
use friction_store::Role;
use maud::html;

use super::{layout, page, PageCaller};

/// `GET /live`
pub async fn feed(
    axum::extract::State(state): axum::extract::State<crate::ConsoleState>,
    PageCaller(caller): PageCaller,
) -> Response {
    if let Some(r) = super::require_page(&caller, Role::Viewer, "watching incident changes") {
        return r;
    }
    let body = html! {
        h1 { "Live" }
        @if state.live.is_none() {
            p.error role="alert" id="live-unavailable" { "The live stream is not running on this console (it reads the incidents topic from the broker)." }
        }
        p.muted id="live-status" role="status" aria-live="polite" data-live-status {
            "Incident changes appear here as the pipeline publishes them. This page needs JavaScript; without it, reload "
            a href="/incidents" { "the incidents" } "."
        }
        ol id="live-feed" data-live-feed aria-label="Incident changes, newest first" {}
    };
    page(StatusCode::OK, layout("Live", Some(&caller), body))
}
