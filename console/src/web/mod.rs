//! The console's pages (docs/console.md "Pages"): rendered on the server with maud (every value
//! HTML-escaped unless wrapped in `PreEscaped`, which no user-controlled string ever is), one CSS
//! file and one small script embedded in the binary and served under `/assets/`, nothing loaded
//! from elsewhere; every action is a plain form, so the pages work without JavaScript.
//!
//! Pages need a session ([`PageCaller`]); without one they redirect to `/login`. Every form that
//! changes something carries the session's CSRF token (`csrf`).

pub mod analytics;
pub mod assets;
pub mod audit;
pub mod incidents;
pub mod integrations;
pub mod keys;
pub mod live;
pub mod login;
pub mod rules;
pub mod timeline;
pub mod tokens;
pub mod users;

use axum::extract::{FromRef, FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use friction_store::Role;
use maud::{html, Markup, DOCTYPE};

use crate::auth::{session_caller, Caller};
use crate::{session, ApiError, ConsoleState};

/// The page routes (merged into [`crate::router`]).
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::detail))
        .route("/incidents/{id}/status", post(incidents::set_status))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{username}", post(users::change))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", post(keys::change))
        .route("/projects", post(keys::create_project))
        .route("/integrations", get(integrations::list).post(integrations::create))
        .route("/integrations/{id}", post(integrations::change))
        .route("/rules", get(rules::list))
        .route("/rules/{project}", post(rules::save))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/audit", get(audit::list))
        .route("/analytics", get(analytics::show))
        .route("/live", get(live::feed))
        .route("/assets/{version}/{file}", get(assets::serve))
}

/// `GET /`: the incidents with a session, else the login page.
async fn home(_caller: PageCaller) -> Redirect {
    Redirect::to("/incidents")
}

/// The caller of a page: a valid session. Without one the page redirects (303) to `/login`,
/// remembering where it was going; an expired cookie is cleared.
pub struct PageCaller(pub Caller);

impl<S> FromRequestParts<S> for PageCaller
where
    S: Send + Sync,
    ConsoleState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = ConsoleState::from_ref(state);
        let target = parts.extensions.get::<OriginalUri>().map(|u| u.0.clone()).unwrap_or_else(|| parts.uri.clone());
        let next = target.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let to_login = |expired: bool| {
            let mut url = String::from("/login");
            let mut sep = '?';
            if expired {
                url.push_str("?expired=1");
                sep = '&';
            }
            if next != "/" && parts.method == axum::http::Method::GET {
                url.push(sep);
                url.push_str("next=");
                url.push_str(&encode_query(next));
            }
            url
        };
        match session_caller(&state, parts).await {
            Ok(Some(Ok(caller))) => Ok(PageCaller(caller)),
            Ok(Some(Err(_))) => {
                let secure = session::is_https(&parts.headers, &parts.uri);
                let mut response = Redirect::to(&to_login(true)).into_response();
                response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie(secure));
                Err(response)
            }
            Ok(None) => Err(Redirect::to(&to_login(false)).into_response()),
            Err(e) => Err(error_page(None, e)),
        }
    }
}

/// Percent-encodes a query value (everything but unreserved characters).
pub(crate) fn encode_query(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An HTML response with the console's security headers: a strict CSP (only this origin's
/// script and style), no framing, no sniffing, no caching of authenticated pages.
pub fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The navigation: each page with the least role that may open it, and whether it is about
/// every project (a caller limited to one project may not open those).
const NAV: &[(&str, &str, Role, bool)] = &[
    ("/incidents", "Incidents", Role::Viewer, false),
    ("/live", "Live", Role::Viewer, false),
    ("/analytics", "Analytics", Role::Viewer, false),
    ("/rules", "Rules", Role::Viewer, false),
    ("/keys", "Projects & keys", Role::Admin, false),
    ("/integrations", "Integrations", Role::Admin, false),
    ("/tokens", "Tokens", Role::Admin, true),
    ("/users", "Users", Role::Admin, true),
    ("/audit", "Audit log", Role::Admin, true),
];

/// The frame of every page: the navigation (for a logged-in caller) and `body`.
pub fn layout(title: &str, caller: Option<&Caller>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Friction" }
                link rel="stylesheet" href=(assets::url("console.css"));
                script src=(assets::url("console.js")) defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                @if let Some(c) = caller {
                    header.top {
                        a.brand href="/incidents" { "Friction" }
                        nav aria-label="Main" {
                            ul {
                                @for (href, text, role, global) in NAV {
                                    @if c.role >= *role && (!*global || c.project_id.is_none()) {
                                        li { a href=(href) id={ "nav-" (href.trim_start_matches('/')) } { (text) } }
                                    }
                                }
                            }
                        }
                        div.who {
                            span { (c.user().map(|u| u.username.as_str()).unwrap_or("")) " · " (c.role) }
                            form method="post" action="/logout" {
                                (csrf_field(c))
                                button type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
}

/// A page's message after an action: `(text, is_error)`.
pub type Flash = Option<(String, bool)>;

/// The message of an action, as an alert (error) or a status line.
pub fn flash(message: &Flash) -> Markup {
    html! {
        @if let Some((text, is_error)) = message {
            @if *is_error { p.error role="alert" id="flash" { (text) } } @else { p.notice role="status" id="flash" { (text) } }
        }
    }
}

/// The 403 page unless the caller has `role` (`None`: allowed); for pages that only read.
pub fn require_page(caller: &Caller, role: Role, what: &str) -> Option<Response> {
    caller.require(role, what).err().map(|e| error_page(Some(caller), e))
}

/// The 403 page for a form without the session's CSRF token (`None`: the token is right).
pub fn require_csrf(caller: &Caller, given: &str) -> Option<Response> {
    caller.check_csrf(Some(given)).err().map(|e| error_page(Some(caller), e))
}

/// A JSON value as the body an API handler takes, so a form runs the same handler as the API.
pub fn json_body(value: serde_json::Value) -> axum::body::Bytes {
    axum::body::Bytes::from(value.to_string())
}

/// What a failed form shows: a wrong value, a conflict or an unavailable dependency is its page
/// again with the message and the error's status (`Ok`); a refusal (403) or a missing thing
/// (404) is the error page (`Err`).
pub fn form_error(error: ApiError) -> Result<(StatusCode, Flash), ApiError> {
    match error {
        e @ (ApiError::BadRequest(_) | ApiError::Conflict(_) | ApiError::Unavailable(_)) => {
            let (status, _) = e.status_and_code();
            Ok((status, Some((e.to_string(), true))))
        }
        e => Err(e),
    }
}

/// A failed form's answer ([`form_error`]): `again` renders its page with the message.
pub async fn form_failed<F, Fut>(caller: &Caller, error: ApiError, again: F) -> Response
where
    F: FnOnce(Flash) -> Fut,
    Fut: std::future::Future<Output = Response>,
{
    match form_error(error) {
        Ok((status, message)) => with_status(again(message).await, status),
        Err(e) => error_page(Some(caller), e),
    }
}

/// The message a 303 from [`done`] carries in `?done=`.
pub fn done_flash(query: &std::collections::HashMap<String, String>) -> Flash {
    query.get("done").map(|d| (d.clone(), false))
}

/// `response` with `status`.
pub fn with_status(mut response: Response, status: StatusCode) -> Response {
    *response.status_mut() = status;
    response
}

/// A 303 back to `path` with `done` as its message.
pub fn done(path: &str, message: &str) -> Response {
    Redirect::to(&format!("{path}?done={}", encode_query(message))).into_response()
}

/// The hidden CSRF field of a form.
pub fn csrf_field(caller: &Caller) -> Markup {
    html! { input type="hidden" name="csrf" value=(caller.csrf_token().unwrap_or("")); }
}

/// A page for an error: 403 (with what role is needed), 404, 400, 503...
pub fn error_page(caller: Option<&Caller>, error: ApiError) -> Response {
    let (status, _) = error.status_and_code();
    if status.is_server_error() {
        tracing::warn!(error = %error, "console page failed");
    }
    let heading = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::BAD_REQUEST => "Bad request",
        StatusCode::UNAUTHORIZED => "Not logged in",
        s if s.is_server_error() => "Not available now",
        _ => "Something went wrong",
    };
    let body = html! {
        h1 { (heading) }
        p.error role="alert" { (error.to_string()) }
        p { a href="/incidents" { "Back to the incidents" } }
    };
    page(status, layout(heading, caller, body))
}

/// The fallback: JSON under `/v1/`, a page elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/v1/") || uri.path() == "/v1" {
        return ApiError::NotFound("no such endpoint (see docs/console.md)".into()).into_response();
    }
    error_page(None, ApiError::NotFound(format!("no page at {}", uri.path())))
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn when(ms: i64) -> String {
    let text = crate::incidents::rfc3339(ms);
    match (text.get(..10), text.get(11..19)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => text,
    }
}

/// `url` when it is an http(s) address (a link target), else `None`: escaping does not stop a
/// `javascript:` link.
pub fn safe_link(url: &str) -> Option<&str> {
    let lower = url.trim_start().to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then_some(url)
}
