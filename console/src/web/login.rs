//! `GET /login`, `POST /login`, `POST /logout` (docs/console.md "Users and sessions"). A
//! successful login always starts a new session (a new id: no fixation) and sets its cookie; a
//! failed one answers the form again (401) with one message for every cause, is audited, and
//! counts against the address and the username: past either budget, logins are refused (429)
//! until the window ends.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use friction_runtime::auth_guard::{AuthGuard, FailureBudget, MAX_TRACKED_SOURCES};
use maud::html;
use serde::Deserialize;

use super::{layout, page, PageCaller};
use crate::auth::{session_caller, Peer};
use crate::session::{self, ConsoleArgs};
use crate::{ApiError, ConsoleState};

/// Failed logins per address (with the token guard's metrics and log) and per username.
#[derive(Debug)]
pub struct LoginGuard {
    addresses: AuthGuard,
    users: Mutex<FailureBudget<String>>,
}

impl LoginGuard {
    pub fn new(args: &ConsoleArgs) -> Self {
        LoginGuard {
            addresses: AuthGuard::new("console-login", args.address_throttle()),
            users: Mutex::new(FailureBudget::keyed(
                args.login_failures_per_user,
                Duration::from_secs(args.login_failure_window_secs.max(1)),
                MAX_TRACKED_SOURCES,
            )),
        }
    }

    /// `Err(seconds to wait)` when the address or the username is over its budget.
    pub fn check(&self, ip: Option<IpAddr>, username: &str) -> Result<(), u64> {
        self.addresses.check(ip)?;
        let key = username.to_lowercase();
        let verdict = match self.users.lock() {
            Ok(users) => users.check_key(&key, Instant::now()),
            Err(_) => Ok(()),
        };
        verdict.map_err(|wait| (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
    }

    /// One failed login from `ip` for `username`.
    pub fn failure(&self, ip: Option<IpAddr>, username: &str) {
        self.addresses.failure(ip, "password");
        if let Ok(mut users) = self.users.lock() {
            users.record_failure_key(username.to_lowercase(), Instant::now());
        }
    }
}

/// How long an ended or expired session stays in the store (it is deleted at a later login).
const OLD_SESSIONS_KEPT_MS: i64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Default, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Where to go after logging in: a path on this site only (not `//host`), in visible ASCII (it
/// becomes a `Location` header), else the incidents.
fn next_target(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.starts_with("/\\")
                && !n.contains("://")
                && n.bytes().all(|b| (0x21..0x7f).contains(&b)) =>
        {
            n
        }
        _ => "/incidents",
    }
}

fn login_page(status: StatusCode, message: Option<(&str, bool)>, username: &str, next: Option<&str>) -> Response {
    let body = html! {
        div.login {
            h1 { "Log in to Friction" }
            @if let Some((text, is_error)) = message {
                @if is_error { p.error role="alert" { (text) } } @else { p.notice role="status" { (text) } }
            }
            form.stack method="post" action="/login" {
                label { "Username" input type="text" name="username" value=(username) autocomplete="username" required autofocus; }
                label { "Password" input type="password" name="password" autocomplete="current-password" required; }
                @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                button.primary type="submit" { "Log in" }
            }
            p.muted { "The first admin's password is in the data directory's admin-password file." }
        }
    };
    page(status, layout("Log in", None, body))
}

/// `GET /login`: the form, or the incidents when already logged in.
pub async fn form(State(state): State<ConsoleState>, Query(q): Query<LoginQuery>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    if matches!(session_caller(&state, &parts).await, Ok(Some(Ok(_)))) {
        return Redirect::to(next_target(q.next.as_deref())).into_response();
    }
    let message = q.expired.is_some().then_some(("Your session ended; log in again.", false));
    login_page(StatusCode::OK, message, "", q.next.as_deref().map(|n| next_target(Some(n))))
}

/// Whether a browser's `Origin` (when it sent one) is this site: a cross-site form cannot log
/// someone in to another account.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else { return true };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let authority = origin.split_once("://").map(|(_, rest)| rest).unwrap_or(origin);
    origin == "null" && host.is_empty() || authority.eq_ignore_ascii_case(host)
}

/// `POST /login` with `username` and `password`.
pub async fn submit(
    State(state): State<ConsoleState>,
    Peer(ip): Peer,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<LoginForm>,
) -> Response {
    let ip_text = ip.map(|i| i.to_string());
    let username = form.username.trim().to_owned();
    let next = next_target(form.next.as_deref()).to_owned();
    let audit = |success: bool, detail: &str| {
        let (state, username, ip) = (state.clone(), username.clone(), ip_text.clone());
        let detail = detail.to_owned();
        async move {
            let actor = format!("user:{username}");
            if let Err(e) = state.store.audit(&actor, "login", &actor, success, ip.as_deref(), Some(&detail)).await {
                tracing::warn!(error = %e, "could not write the audit log");
            }
        }
    };
    if !same_origin(&headers) {
        audit(false, "refused: cross-site login form").await;
        return login_page(StatusCode::FORBIDDEN, Some(("This form must be sent from this site.", true)), "", None);
    }
    if let Err(wait) = state.logins.check(ip, &username) {
        audit(false, "refused: too many failed logins").await;
        let message = format!("Too many failed logins; try again in {wait} s.");
        let mut response = login_page(StatusCode::TOO_MANY_REQUESTS, Some((&message, true)), &username, Some(&next));
        if let Ok(v) = header::HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let credentials = match state.store.user_by_username(&username).await {
        Ok(c) => c,
        Err(e) => return super::error_page(None, ApiError::from(e)),
    };
    let matched = crate::password::verify(&form.password, credentials.as_ref().map(|c| c.password_hash.as_str())).await;
    let user = match credentials {
        Some(c) if matched && !c.user.disabled => c.user,
        other => {
            state.logins.failure(ip, &username);
            let why = match other {
                None => "unknown username",
                Some(c) if c.user.disabled => "user disabled",
                Some(_) => "wrong password",
            };
            audit(false, why).await;
            return login_page(
                StatusCode::UNAUTHORIZED,
                Some(("Wrong username or password.", true)),
                &username,
                Some(&next),
            );
        }
    };
    let now = state.sessions.now();
    // Whatever session the browser had ends: the new one has a new id (no fixation).
    if let Some(old) = session::cookie_value(&headers) {
        if let Err(e) = state.store.end_session(&old, now).await {
            return super::error_page(None, e.into());
        }
    }
    let new = match state
        .store
        .create_session(&user.id, ip_text.as_deref(), now, state.sessions.idle_ms(), state.sessions.absolute_ms())
        .await
    {
        Ok(new) => new,
        Err(e) => return super::error_page(None, e.into()),
    };
    audit(true, "session started").await;
    // Sessions that ended or expired a day ago or more are of no use to anyone: drop them now and then.
    if let Err(e) = state.store.delete_old_sessions(now - OLD_SESSIONS_KEPT_MS).await {
        tracing::warn!(error = %e, "could not delete old sessions");
    }
    let secure = session::is_https(&headers, &uri);
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::set_cookie(&new.id, secure, state.sessions.absolute));
    response.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    response
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`: ends the session in the store and clears the cookie.
pub async fn logout(
    State(state): State<ConsoleState>,
    PageCaller(caller): PageCaller,
    headers: HeaderMap,
    uri: Uri,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = caller.check_csrf(Some(&form.csrf)) {
        return super::error_page(Some(&caller), e);
    }
    if let crate::auth::Via::Session { id, .. } = &caller.via {
        if let Err(e) = state.store.end_session(id, state.sessions.now()).await {
            return super::error_page(Some(&caller), e.into());
        }
    }
    if let Err(e) =
        state.store.audit(&caller.actor(), "logout", &caller.actor(), true, caller.ip.as_deref(), None).await
    {
        tracing::warn!(error = %e, "could not write the audit log");
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(header::SET_COOKIE, session::clear_cookie(session::is_https(&headers, &uri)));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_plain_path_on_this_site_is_a_target() {
        assert_eq!(next_target(Some("/incidents/abc?x=1")), "/incidents/abc?x=1");
        for bad in ["//evil.example", "/\\evil.example", "https://evil.example", "/a\r\nSet-Cookie: x", "/é", "x", ""]
        {
            assert_eq!(next_target(Some(bad)), "/incidents", "{bad:?}");
        }
        assert_eq!(next_target(None), "/incidents");
    }
}
