//! What a remote answer means for the ledger (docs/exporter.md "Outcome classes"), and when to try
//! again. Pure: no I/O, randomness passed in.

use std::time::Duration;

/// The class of a remote call's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 2xx: done.
    Success,
    /// 429 (or Linear `ratelimited`): not executed; wait at least Retry-After. Not a failure.
    RateLimited,
    /// Timeout, connection reset, 5xx: it may have happened; reconcile by marker before retrying.
    Ambiguous,
    /// 400/422 (and other 4xx): the payload or a field is wrong; dead, visible.
    Permanent,
    /// 401/403/404/410: credentials or target misconfigured; open the integration's breaker.
    Configuration,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::RateLimited => "rate_limited",
            Class::Ambiguous => "ambiguous",
            Class::Permanent => "permanent",
            Class::Configuration => "configuration",
        }
    }
}

/// The class of an HTTP status.
pub fn classify_status(status: u16) -> Class {
    match status {
        200..=299 => Class::Success,
        429 => Class::RateLimited,
        401 | 403 | 404 | 410 => Class::Configuration,
        408 | 500..=599 => Class::Ambiguous,
        _ => Class::Permanent,
    }
}

/// The class of an HTTP answer, headers included: GitHub signals its secondary rate limit with a
/// 403 carrying `retry-after` or `x-ratelimit-remaining: 0`, which is a wait, not a broken
/// configuration.
pub fn classify_response(status: u16, has_retry_after: bool, ratelimit_exhausted: bool) -> Class {
    if status == 403 && (has_retry_after || ratelimit_exhausted) {
        return Class::RateLimited;
    }
    classify_status(status)
}

/// Linear reports failures in a 200 body: the class of `errors[].extensions.type`.
pub fn classify_linear_error(kind: &str) -> Class {
    match kind {
        "ratelimited" => Class::RateLimited,
        "authentication error" | "forbidden" | "feature not accessible" => Class::Configuration,
        "lock timeout" | "internal error" | "network error" | "unknown" | "bootstrap error" => Class::Ambiguous,
        _ => Class::Permanent,
    }
}

/// `Retry-After` as seconds (the HTTP-date form is treated as absent: callers floor by backoff).
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: f64 = value?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Retry schedule: full-jitter exponential, a cap, a maximum age.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
    /// After this long since the first attempt, a row is given up (dead, visible).
    pub max_age: Duration,
    /// Extra random wait on top of Retry-After, at most this.
    pub rate_limit_jitter: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(2),
            cap: Duration::from_secs(15 * 60),
            max_age: Duration::from_secs(24 * 3600),
            rate_limit_jitter: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// Full jitter: uniform in [0, min(cap, base · 2^attempt)]; `unit` is a random number in [0, 1).
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(2u32.saturating_pow(attempt.min(30)));
        let ceiling = exp.min(self.cap);
        ceiling.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// The wait after a 429: at least Retry-After (or the backoff when there is none), plus jitter.
    pub fn rate_limited_wait(&self, retry_after: Option<Duration>, attempt: u32, unit: f64) -> Duration {
        let floor =
            retry_after.unwrap_or_else(|| self.base.saturating_mul(2u32.saturating_pow(attempt.min(10))).min(self.cap));
        floor + self.rate_limit_jitter.mul_f64(unit.clamp(0.0, 1.0))
    }

    /// True when a row first tried at `first_ms` is too old to try again at `now_ms`.
    pub fn expired(&self, first_ms: i64, now_ms: i64) -> bool {
        now_ms.saturating_sub(first_ms) > i64::try_from(self.max_age.as_millis()).unwrap_or(i64::MAX)
    }
}

/// When a recurrence comment is due: at most one per `window`, and only when occurrences grew by
/// at least `min_new` since the ticket or the last comment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommentPolicy {
    pub window: Duration,
    pub min_new: i64,
}

impl Default for CommentPolicy {
    fn default() -> Self {
        CommentPolicy { window: Duration::from_secs(6 * 3600), min_new: 10 }
    }
}

impl CommentPolicy {
    /// `None`: no comment wanted; `Some(at)`: comment at `at` (epoch ms) or later.
    pub fn comment_at(
        &self,
        reported: i64,
        current: i64,
        last_commented_ms: Option<i64>,
        created_ms: i64,
    ) -> Option<i64> {
        if current.saturating_sub(reported) < self.min_new.max(1) {
            return None;
        }
        let since = last_commented_ms.unwrap_or(created_ms);
        Some(since.saturating_add(i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn statuses() {
        assert_eq!(classify_status(201), Class::Success);
        assert_eq!(classify_status(429), Class::RateLimited);
        for s in [500, 502, 503, 504, 408] {
            assert_eq!(classify_status(s), Class::Ambiguous, "{s}");
        }
        for s in [400, 422, 413] {
            assert_eq!(classify_status(s), Class::Permanent, "{s}");
        }
        for s in [401, 403, 404, 410] {
            assert_eq!(classify_status(s), Class::Configuration, "{s}");
        }
        assert_eq!(classify_response(403, true, false), Class::RateLimited);
        assert_eq!(classify_response(403, false, true), Class::RateLimited);
        assert_eq!(classify_response(403, false, false), Class::Configuration);
        assert_eq!(classify_response(201, false, true), Class::Success);
        assert_eq!(classify_linear_error("ratelimited"), Class::RateLimited);
        assert_eq!(classify_linear_error("invalid input"), Class::Permanent);
        assert_eq!(classify_linear_error("authentication error"), Class::Configuration);
        assert_eq!(classify_linear_error("lock timeout"), Class::Ambiguous);
    }

    #[test]
    fn retry_after() {
        assert_eq!(parse_retry_after(Some("7")), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(Some(" 1.5 ")), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(parse_retry_after(Some("-3")), None);
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn comment_throttle() {
        let p = CommentPolicy { window: Duration::from_secs(60), min_new: 5 };
        assert_eq!(p.comment_at(10, 14, None, 1_000), None);
        assert_eq!(p.comment_at(10, 15, None, 1_000), Some(61_000));
        assert_eq!(p.comment_at(10, 50, Some(100_000), 1_000), Some(160_000));
    }

    proptest! {
        #[test]
        fn backoff_is_within_full_jitter_bounds(attempt in 0u32..100, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = p.backoff(attempt, unit);
            prop_assert!(d <= p.cap);
            prop_assert!(d <= p.base.saturating_mul(2u32.saturating_pow(attempt.min(30))));
        }

        #[test]
        fn rate_limited_never_earlier_than_retry_after(secs in 0u64..3600, attempt in 0u32..50, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let ra = Duration::from_secs(secs);
            let w = p.rate_limited_wait(Some(ra), attempt, unit);
            prop_assert!(w >= ra);
            prop_assert!(w <= ra + p.rate_limit_jitter);
        }
    }
}
