//! Console sessions (docs/console.md "Users and sessions"): the cookie, its flags, expiry and the
//! settings that govern them. The store keeps each session (its id only as SHA-256); the decisions
//! here are pure and take the time as an argument, from [`SessionSettings::now`], which tests
//! replace with a clock of their own.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use friction_runtime::auth_guard::AuthThrottleArgs;
use friction_store::ConsoleSession;

/// The session cookie's name.
pub const COOKIE: &str = "friction_session";

/// Epoch milliseconds now.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// How long sessions live, and the clock they are judged by.
#[derive(Clone)]
pub struct SessionSettings {
    /// A session unused this long ends (default 12 h).
    pub idle: Duration,
    /// A session ends this long after login whatever its use (default 7 days).
    pub absolute: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for SessionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionSettings").field("idle", &self.idle).field("absolute", &self.absolute).finish()
    }
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            idle: Duration::from_secs(12 * 3600),
            absolute: Duration::from_secs(7 * 24 * 3600),
            clock: Arc::new(friction_runtime::now_ms),
        }
    }
}

impl SessionSettings {
    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn idle_ms(&self) -> i64 {
        i64::try_from(self.idle.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn absolute_ms(&self) -> i64 {
        i64::try_from(self.absolute.as_millis()).unwrap_or(i64::MAX)
    }

    /// Whether a session last seen at `last_seen_ms` should be marked used at `now_ms`: at most
    /// once a minute (or a quarter of the idle time, when shorter), to spare the database.
    pub fn should_touch(&self, last_seen_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(last_seen_ms) >= (self.idle_ms() / 4).min(60_000)
    }
}

/// The console's operator settings: sessions and login throttling (docs/operators.md, "Console").
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct ConsoleArgs {
    /// A console session unused this many minutes ends. Default 720 (12 h).
    #[arg(long, env = "FRICTION_SESSION_IDLE_MINUTES", default_value_t = 720)]
    pub session_idle_minutes: u64,
    /// A console session ends this many minutes after login, used or not. Default 10080 (7 days).
    #[arg(long, env = "FRICTION_SESSION_ABSOLUTE_MINUTES", default_value_t = 10_080)]
    pub session_absolute_minutes: u64,
    /// Failed logins for one username within the window before its logins are refused until the
    /// window ends; 0 turns it off. Default 5.
    #[arg(long, env = "FRICTION_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    pub login_failures_per_user: u32,
    /// Failed logins from one address (IPv4, or IPv6 /64) within the window before its logins are
    /// refused until the window ends; 0 turns it off. Default 20.
    #[arg(long, env = "FRICTION_LOGIN_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_failures_per_address: u32,
    /// The window of both login limits, in seconds. Default 300.
    #[arg(long, env = "FRICTION_LOGIN_FAILURE_WINDOW_SECS", default_value_t = 300)]
    pub login_failure_window_secs: u64,
}

impl Default for ConsoleArgs {
    fn default() -> Self {
        ConsoleArgs {
            session_idle_minutes: 720,
            session_absolute_minutes: 10_080,
            login_failures_per_user: 5,
            login_failures_per_address: 20,
            login_failure_window_secs: 300,
        }
    }
}

impl ConsoleArgs {
    pub fn sessions(&self) -> SessionSettings {
        SessionSettings {
            idle: Duration::from_secs(self.session_idle_minutes.max(1) * 60),
            absolute: Duration::from_secs(self.session_absolute_minutes.max(1) * 60),
            ..SessionSettings::default()
        }
    }

    /// The per-address login budget, in the shape of the token guard's.
    pub fn address_throttle(&self) -> AuthThrottleArgs {
        AuthThrottleArgs {
            auth_failure_limit: self.login_failures_per_address,
            auth_failure_window_secs: self.login_failure_window_secs,
        }
    }
}

/// Why a stored session no longer lets its holder in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    Ended,
    Idle,
    Absolute,
    UserDisabled,
}

impl Expired {
    pub fn reason(self) -> &'static str {
        match self {
            Expired::Ended => "the session was ended (logged out)",
            Expired::Idle => "the session expired after a time without use",
            Expired::Absolute => "the session reached its longest lifetime",
            Expired::UserDisabled => "the user is disabled",
        }
    }
}

/// Whether `s` is still valid at `now_ms`.
pub fn check(s: &ConsoleSession, now_ms: i64) -> Result<(), Expired> {
    if s.ended_at_ms.is_some() {
        Err(Expired::Ended)
    } else if s.user.disabled {
        Err(Expired::UserDisabled)
    } else if now_ms >= s.absolute_expires_at_ms {
        Err(Expired::Absolute)
    } else if now_ms >= s.idle_expires_at_ms {
        Err(Expired::Idle)
    } else {
        Ok(())
    }
}

/// The session cookie's value in the request's `Cookie` headers.
pub fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether the request came over HTTPS: the URI says so, or a proxy in front set
/// `X-Forwarded-Proto: https` (its first value).
pub fn is_https(headers: &HeaderMap, uri: &axum::http::Uri) -> bool {
    uri.scheme_str() == Some("https")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

/// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, Secure over HTTPS, and kept by
/// the browser as long as the session can live at most.
pub fn set_cookie(id: &str, secure: bool, max_age: Duration) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", max_age.as_secs());
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("friction_session=; Max-Age=0"))
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    if secure {
        HeaderValue::from_static("friction_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure")
    } else {
        HeaderValue::from_static("friction_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }
}

/// Compares two secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use friction_store::{Role, User};

    fn session(idle: i64, absolute: i64) -> ConsoleSession {
        ConsoleSession {
            user: User {
                id: "u".into(),
                username: "alice".into(),
                role: Role::Viewer,
                disabled: false,
                project_id: None,
                created_at_ms: 0,
                updated_at_ms: 0,
            },
            created_at_ms: 0,
            last_seen_at_ms: 0,
            idle_expires_at_ms: idle,
            absolute_expires_at_ms: absolute,
            csrf_token: "c".into(),
            ip: None,
            ended_at_ms: None,
        }
    }

    #[test]
    fn a_session_expires_at_the_first_of_its_limits() {
        let s = session(100, 1000);
        assert_eq!(check(&s, 99), Ok(()));
        assert_eq!(check(&s, 100), Err(Expired::Idle));
        assert_eq!(check(&session(2000, 1000), 1000), Err(Expired::Absolute));
        let mut ended = session(100, 1000);
        ended.ended_at_ms = Some(5);
        assert_eq!(check(&ended, 1), Err(Expired::Ended));
        let mut disabled = session(100, 1000);
        disabled.user.disabled = true;
        assert_eq!(check(&disabled, 1), Err(Expired::UserDisabled));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_flagged() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; friction_session=abc ; b=2"));
        assert_eq!(cookie_value(&h).as_deref(), Some("abc"));
        assert_eq!(cookie_value(&HeaderMap::new()), None);
        let plain = set_cookie("x", false, Duration::from_secs(60));
        assert_eq!(plain, "friction_session=x; Path=/; HttpOnly; SameSite=Lax; Max-Age=60");
        assert!(set_cookie("x", true, Duration::from_secs(60)).to_str().is_ok_and(|v| v.ends_with("; Secure")));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(is_https(&h, &"/".parse().unwrap_or_default()));
        assert!(!is_https(&HeaderMap::new(), &"/".parse().unwrap_or_default()));
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab"));
    }
}
