//! Refused tokens in the audit log (docs/console.md "Audit log"): kept apart from the audit module
//! (which works on an authenticated caller) so that authentication can write them.

use crate::{ApiError, ConsoleState};

/// Audits a refused token (`auth.token`, failure): unknown, malformed, revoked or expired. A
/// request without any token is not audited (nothing was presented); the per-source failure
/// budget ([`friction_runtime::auth_guard`]) bounds how many rows one source can add.
pub(crate) async fn refused_token(
    state: &ConsoleState,
    parts: &axum::http::request::Parts,
    peer: Option<std::net::IpAddr>,
    reason: &str,
    error: &ApiError,
) {
    if reason == "missing" {
        return;
    }
    // The token's prefix names it (`frt_1a2b3c4d`) without revealing it.
    let presented = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.get(7..))
        .map(|t| t.trim().chars().take(friction_store::CONSOLE_TOKEN_PREFIX_LEN).collect::<String>())
        .filter(|p| {
            p.starts_with(friction_store::CONSOLE_TOKEN_PREFIX)
                && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .unwrap_or_else(|| "unknown".into());
    let ip = peer.map(|p| p.to_string());
    let detail = format!("{reason}: {error}");
    if let Err(e) = state
        .store
        .audit("anonymous", "auth.token", &format!("token:{presented}"), false, ip.as_deref(), Some(&detail))
        .await
    {
        tracing::warn!(error = %e, "could not write the audit log");
    }
}
