//! Who is calling (docs/console.md "Tokens and roles", "Users and sessions"): a bearer token
//! (`Authorization: Bearer frt_...`, looked up by hash) or a console session (the
//! `friction_session` cookie). Either gives a [`Caller`] with an actor for the audit log, a role
//! that each handler checks with [`Caller::require`], and an optional project scope
//! ([`Caller::may_see`]). A cookie-authenticated call that changes something must carry the
//! session's CSRF token (`X-CSRF-Token`, or the form field `csrf` on pages); a bearer-token call
//! needs none. Failed token authentications are counted (`friction_auth_failures_total{listener="console",reason}`),
//! logged at a bounded rate and throttled per source ([`friction_runtime::auth_guard`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::Method;
use friction_store::{ConsoleToken, Role, User};

use crate::session::{self, Expired};
use crate::{ApiError, ConsoleState};

/// How a caller authenticated.
#[derive(Debug, Clone)]
pub enum Via {
    /// A bearer token.
    Token(ConsoleToken),
    /// A console session: its cookie value, its user and its CSRF token.
    Session { id: String, user: User, csrf_token: String },
}

/// Who is calling: the actor the audit log names, their role, address and project scope.
#[derive(Debug, Clone)]
pub struct Caller {
    /// `token:<id>` or `user:<username>`.
    pub actor: String,
    pub role: Role,
    pub ip: Option<String>,
    /// `Some(project id)`: the caller sees only this project.
    pub project_id: Option<String>,
    pub via: Via,
}

impl Caller {
    /// A caller with this token.
    pub fn from_token(token: ConsoleToken, ip: Option<String>) -> Self {
        Caller {
            actor: format!("token:{}", token.id),
            role: token.role,
            ip,
            project_id: token.project_id.clone(),
            via: Via::Token(token),
        }
    }

    /// A caller logged in with this session.
    pub fn from_session(id: String, user: User, csrf_token: String, ip: Option<String>) -> Self {
        Caller {
            actor: format!("user:{}", user.username),
            role: user.role,
            ip,
            project_id: user.project_id.clone(),
            via: Via::Session { id, user, csrf_token },
        }
    }

    /// `token:<id>` or `user:<username>`, as the audit log names actors.
    pub fn actor(&self) -> String {
        self.actor.clone()
    }

    /// Whether the caller may see this project's data.
    pub fn may_see(&self, project_id: &str) -> bool {
        self.project_id.as_deref().is_none_or(|p| p == project_id)
    }

    /// The session's CSRF token (none for a token).
    pub fn csrf_token(&self) -> Option<&str> {
        match &self.via {
            Via::Session { csrf_token, .. } => Some(csrf_token),
            Via::Token(_) => None,
        }
    }

    /// The logged-in user (none for a token).
    pub fn user(&self) -> Option<&User> {
        match &self.via {
            Via::Session { user, .. } => Some(user),
            Via::Token(_) => None,
        }
    }

    /// For a session, refuses (403) unless `given` is its CSRF token; a token needs none.
    pub fn check_csrf(&self, given: Option<&str>) -> Result<(), ApiError> {
        match self.csrf_token() {
            None => Ok(()),
            Some(expected) if given.is_some_and(|g| session::same_secret(g, expected)) => Ok(()),
            Some(_) => Err(ApiError::Forbidden(
                "missing or wrong CSRF token: a change made with a session cookie must carry the session's token \
                 (form field `csrf` or header `X-CSRF-Token`)"
                    .into(),
            )),
        }
    }

    /// Refuses (403) unless the caller's role is at least `role`.
    pub fn require(&self, role: Role, action: &str) -> Result<(), ApiError> {
        if self.role >= role {
            return Ok(());
        }
        let who = match &self.via {
            Via::Token(t) => format!("this token ({})", t.prefix),
            Via::Session { user, .. } => format!("user {}", user.username),
        };
        Err(ApiError::Forbidden(format!(
            "{action} needs the {role} role (or higher); {who} has the {} role",
            self.role
        )))
    }

    /// [`Caller::require`], and refuses (403) a caller limited to one project: what belongs to no
    /// one project (tokens, users, the audit log, new projects) needs a caller who sees them all
    /// (docs/console.md "Tokens and roles").
    pub fn require_global(&self, role: Role, action: &str) -> Result<(), ApiError> {
        self.require(role, action)?;
        match &self.project_id {
            None => Ok(()),
            Some(p) => Err(ApiError::Forbidden(format!(
                "{action} concerns every project; this caller is limited to project {p}"
            ))),
        }
    }
}

/// The peer address axum saw (present when served with connect info).
pub(crate) fn peer(parts: &Parts) -> Option<std::net::IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// The peer's address, as an extractor (none when served without connect info).
pub struct Peer(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(peer(parts)))
    }
}

/// The caller of a page: the valid session of the request's cookie, if any. `Err` only when the
/// store cannot answer; `Ok(Err(why))` for a cookie whose session is no longer valid.
pub(crate) async fn session_caller(
    state: &ConsoleState,
    parts: &Parts,
) -> Result<Option<Result<Caller, Expired>>, ApiError> {
    let Some(id) = session::cookie_value(&parts.headers) else { return Ok(None) };
    let Some(stored) = state.store.session_by_id(&id).await? else { return Ok(Some(Err(Expired::Ended))) };
    let now = state.sessions.now();
    if let Err(why) = session::check(&stored, now) {
        return Ok(Some(Err(why)));
    }
    if state.sessions.should_touch(stored.last_seen_at_ms, now) {
        state.store.touch_session(&id, now, state.sessions.idle_ms()).await?;
    }
    let ip = peer(parts).map(|ip| ip.to_string());
    Ok(Some(Ok(Caller::from_session(id, stored.user, stored.csrf_token, ip))))
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    ConsoleState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = ConsoleState::from_ref(state);
        let peer = peer(parts);
        // A source over its failure budget is refused before its token is looked at
        // (docs/operators.md, "Failed authentications").
        state.auth.check(peer).map_err(ApiError::TooManyAuthFailures)?;
        if !parts.headers.contains_key(axum::http::header::AUTHORIZATION) {
            match session_caller(&state, parts).await? {
                Some(Ok(caller)) => {
                    if !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS) {
                        let given = parts.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
                        caller.check_csrf(given)?;
                    }
                    return Ok(caller);
                }
                Some(Err(why)) => return Err(ApiError::Unauthorized(format!("{}; log in again", why.reason()))),
                None => {}
            }
        }
        match authenticate(&state, parts).await {
            Ok(token) => Ok(Caller::from_token(token, peer.map(|ip| ip.to_string()))),
            Err(Failure::Refused(reason, error)) => {
                state.auth.failure(peer, reason);
                crate::refusals::refused_token(&state, parts, peer, reason, &error).await;
                Err(error)
            }
            Err(Failure::Store(error)) => Err(error),
        }
    }
}

/// Why a request's token was not accepted: refused (an authentication failure, with its reason
/// for the metric) or not checked (the store could not answer).
enum Failure {
    Refused(&'static str, ApiError),
    Store(ApiError),
}

async fn authenticate(state: &ConsoleState, parts: &Parts) -> Result<ConsoleToken, Failure> {
    let refused = |reason: &'static str, message: String| Failure::Refused(reason, ApiError::Unauthorized(message));
    let header = parts.headers.get(axum::http::header::AUTHORIZATION).ok_or_else(|| {
        refused(
            "missing",
            "missing bearer token: send `Authorization: Bearer <token>` (create one with `friction tokens create`) \
             or log in at /login"
                .into(),
        )
    })?;
    let value =
        header.to_str().map_err(|_| refused("malformed", "the Authorization header is not valid text".into()))?;
    let secret = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| refused("malformed", "the Authorization header must be `Bearer <token>`".into()))?;
    let token = state
        .store
        .console_token_by_secret(secret)
        .await
        .map_err(|e| Failure::Store(e.into()))?
        .ok_or_else(|| refused("unknown", "unknown token".into()))?;
    if token.revoked_at_ms.is_some() {
        return Err(refused("revoked", format!("token {} was revoked", token.prefix)));
    }
    if token.is_expired(friction_runtime::now_ms()) {
        return Err(refused("expired", format!("token {} has expired", token.prefix)));
    }
    Ok(token)
}
