//! Bearer-token authentication: `Authorization: Bearer frt_...`, looked up by hash in the store;
//! the token's role is checked by each handler with [`Caller::require`]. Failed authentications
//! are counted (`friction_auth_failures_total{listener="console",reason}`), logged at a bounded
//! rate and throttled per source ([`friction_runtime::auth_guard`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use friction_store::{ConsoleToken, Role};

use crate::{ApiError, ConsoleState};

/// Who is calling: their token (with its role) and address.
#[derive(Debug, Clone)]
pub struct Caller {
    pub token: ConsoleToken,
    pub ip: Option<String>,
}

impl Caller {
    /// `token:<id>`, as the audit log names actors.
    pub fn actor(&self) -> String {
        format!("token:{}", self.token.id)
    }

    pub fn may_see(&self, _project_id: &str) -> bool {
        true
    }

    /// Refuses (403) unless the token's role is at least `role`.
    pub fn require(&self, role: Role, action: &str) -> Result<(), ApiError> {
        if self.token.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{action} needs the {role} role (or higher); this token ({}) has the {} role",
                self.token.prefix, self.token.role
            )))
        }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    ConsoleState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = ConsoleState::from_ref(state);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        // A source over its failure budget is refused before its token is looked at
        // (docs/operators.md, "Failed authentications").
        state.auth.check(peer).map_err(ApiError::TooManyAuthFailures)?;
        match authenticate(&state, parts).await {
            Ok(token) => Ok(Caller { token, ip: peer.map(|ip| ip.to_string()) }),
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
            "missing bearer token: send `Authorization: Bearer <token>` (create one with `friction tokens create`)"
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
