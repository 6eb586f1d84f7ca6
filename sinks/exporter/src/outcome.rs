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
    /// No connection (refused, unresolvable, TLS handshake failed, connect timeout): nothing was
    /// sent, so nothing happened; safe to retry as is, with backoff. Counts towards the breaker.
    Unreachable,
    /// Timeout after sending, connection reset, 5xx: it may have happened; reconcile by marker
    /// before retrying. Counts towards the breaker.
    Ambiguous,
    /// 400/422 (and other 4xx): the payload or a field is wrong; dead, visible.
    Permanent,
    /// 401/403/404/410: credentials or target misconfigured; open the integration's breaker.
    Configuration,
}

impl Class {
    /// Whether the outcome says the tracker is unwell (no connection, timeout, 5xx): these count
    /// towards the integration's backoff and breaker. A 429, a 4xx and a success all mean it answered.
    pub fn is_transient(self) -> bool {
        matches!(self, Class::Unreachable | Class::Ambiguous)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::RateLimited => "rate_limited",
            Class::Unreachable => "unreachable",
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

/// Uniform in [c/2, c], c = min(cap, base · 2^exponent).
fn equal_jitter(base: Duration, cap: Duration, exponent: u32, unit: f64) -> Duration {
    let ceiling = base.saturating_mul(2u32.saturating_pow(exponent.min(30))).min(cap);
    let half = ceiling / 2;
    half + (ceiling - half).mul_f64(unit.clamp(0.0, 1.0))
}

/// Retry schedule: equal-jitter exponential, a cap, a maximum age.
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
    /// Equal jitter: uniform in [c/2, c] with c = min(cap, base · 2^attempt); `unit` is a random
    /// number in [0, 1). Half of the wait is fixed so it grows with every attempt (full jitter can
    /// draw 0 at any attempt, which is what let a dead tracker be retried every second or two); the
    /// other half spreads the rows and copies apart.
    pub fn backoff(&self, attempt: u32, unit: f64) -> Duration {
        equal_jitter(self.base, self.cap, attempt, unit)
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

/// An integration's circuit breaker (docs/exporter.md "Circuit breaker").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Breaker {
    /// Calls go out, once the integration's backoff (`retry_at`) has passed.
    Closed,
    /// Too many transient failures in a row: no row is tried; at `retry_at` one probe (the
    /// integration's credentials check) decides: an answer closes it, a failure cools it down again,
    /// longer.
    Cooling,
    /// A configuration error (401/403/404, a refused address): no calls until a person acts.
    Open,
}

impl Breaker {
    pub fn as_str(self) -> &'static str {
        match self {
            Breaker::Closed => "closed",
            Breaker::Cooling => "cooling",
            Breaker::Open => "open",
        }
    }

    /// The stored text; anything unknown reads as `open` (no calls), the safe side.
    pub fn parse(s: &str) -> Breaker {
        match s {
            "closed" => Breaker::Closed,
            "cooling" => Breaker::Cooling,
            _ => Breaker::Open,
        }
    }

    /// The value of the `friction_export_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            Breaker::Closed => 0.0,
            Breaker::Cooling => 1.0,
            Breaker::Open => 2.0,
        }
    }
}

/// An integration's health as stored in `integrations`: the breaker, the transient failures in a
/// row, how many times in a row the breaker cooled down (the cool-down grows with it), and the
/// time (epoch ms) before which nothing is called: the integration's backoff, or the cool-down's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Health {
    pub breaker: Breaker,
    pub failures: u32,
    pub opens: u32,
    pub retry_at: i64,
}

impl Health {
    pub const HEALTHY: Health = Health { breaker: Breaker::Closed, failures: 0, opens: 0, retry_at: 0 };

    /// Whether rows of the integration may be called at `now`.
    pub fn callable(&self, now: i64) -> bool {
        self.breaker == Breaker::Closed && self.retry_at <= now
    }

    /// Whether the cool-down is over and a probe may be taken at `now`.
    pub fn probe_due(&self, now: i64) -> bool {
        self.breaker == Breaker::Cooling && self.retry_at <= now
    }
}

/// What happened to an integration's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The tracker answered (a success, a 429, a 4xx): it is reachable.
    Answered,
    /// A row's call failed without an answer worth the name (`Class::is_transient`).
    Transient,
    /// A dispatcher takes the probe of a cooled-down integration (for `lease`, so others do not).
    ProbeStarted,
    /// The probe failed transiently.
    ProbeFailed,
}

/// What a change of health is worth telling an operator: one line per change of state, never one
/// per attempt (docs/exporter.md "Circuit breaker").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// The first transient failure after health: the integration backs off.
    Failing,
    /// The breaker opened (cooling) after `threshold` failures in a row.
    Opened,
    /// The probe failed: cooling again, longer.
    ProbeFailed,
    /// Healthy again after failures or a cool-down.
    Recovered,
}

/// The integration-wide backoff and the automatic breaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerPolicy {
    /// Transient failures in a row (every row of the integration counts) that open the breaker.
    pub threshold: u32,
    /// The integration's wait after its first transient failure, doubling per failure...
    pub backoff_base: Duration,
    /// ...up to this.
    pub backoff_cap: Duration,
    /// The first cool-down, doubling each time the probe fails...
    pub cooldown_base: Duration,
    /// ...up to this.
    pub cooldown_cap: Duration,
    /// How long a probe holds the integration (other dispatcher copies do not probe meanwhile).
    pub probe_lease: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy {
            threshold: 5,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            cooldown_base: Duration::from_secs(30),
            cooldown_cap: Duration::from_secs(30 * 60),
            probe_lease: Duration::from_secs(60),
        }
    }
}

fn add_ms(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl BreakerPolicy {
    /// The integration's wait after `failures` transient failures in a row (1, 2, ...): equal
    /// jitter around `backoff_base · 2^(failures-1)`, at most `backoff_cap`.
    pub fn backoff(&self, failures: u32, unit: f64) -> Duration {
        equal_jitter(self.backoff_base, self.backoff_cap, failures.saturating_sub(1), unit)
    }

    /// The `opens`-th cool-down in a row (1, 2, ...): equal jitter around
    /// `cooldown_base · 2^(opens-1)`, at most `cooldown_cap`.
    pub fn cooldown(&self, opens: u32, unit: f64) -> Duration {
        equal_jitter(self.cooldown_base, self.cooldown_cap, opens.saturating_sub(1), unit)
    }

    /// The health after `event` at `now`. `Open` changes only by a person (`integrations
    /// test`/`enable`); a call that was in flight when the breaker opened does not extend the cool-down.
    pub fn next(&self, h: Health, event: Event, now: i64, unit: f64) -> Health {
        match (h.breaker, event) {
            (Breaker::Open, _) => h,
            (_, Event::Answered) => Health::HEALTHY,
            (Breaker::Closed, Event::ProbeStarted) => h,
            (Breaker::Closed, Event::Transient | Event::ProbeFailed) => {
                let failures = h.failures.saturating_add(1);
                if failures >= self.threshold.max(1) {
                    let opens = h.opens.saturating_add(1);
                    Health {
                        breaker: Breaker::Cooling,
                        failures,
                        opens,
                        retry_at: add_ms(now, self.cooldown(opens, unit)),
                    }
                } else {
                    Health {
                        breaker: Breaker::Closed,
                        failures,
                        opens: 0,
                        retry_at: add_ms(now, self.backoff(failures, unit)),
                    }
                }
            }
            (Breaker::Cooling, Event::Transient) => h,
            (Breaker::Cooling, Event::ProbeStarted) => {
                if h.retry_at <= now {
                    Health { retry_at: add_ms(now, self.probe_lease), ..h }
                } else {
                    h
                }
            }
            (Breaker::Cooling, Event::ProbeFailed) => {
                let opens = h.opens.saturating_add(1);
                Health {
                    breaker: Breaker::Cooling,
                    failures: h.failures.saturating_add(1),
                    opens,
                    retry_at: add_ms(now, self.cooldown(opens, unit)),
                }
            }
        }
    }
}

/// The note (if any) for a change from `old` to `new`.
pub fn note(old: &Health, new: &Health) -> Option<Note> {
    match (old.breaker, new.breaker) {
        (Breaker::Closed, Breaker::Closed) if old.failures == 0 && new.failures > 0 => Some(Note::Failing),
        (Breaker::Closed, Breaker::Cooling) => Some(Note::Opened),
        (Breaker::Cooling, Breaker::Cooling) if new.opens > old.opens => Some(Note::ProbeFailed),
        (Breaker::Closed | Breaker::Cooling, Breaker::Closed)
            if new.failures == 0 && (old.failures > 0 || old.breaker == Breaker::Cooling) =>
        {
            Some(Note::Recovered)
        }
        _ => None,
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
    /// When to note on a ticket that its incident is no longer confirmed (a retraction took it
    /// below its policy, docs/exporter.md "Recurrence and retraction comments"): throttled like a
    /// recurrence comment, whatever the occurrences did.
    pub fn unconfirmed_comment_at(&self, last_commented_ms: Option<i64>, created_ms: i64) -> i64 {
        let since = last_commented_ms.unwrap_or(created_ms);
        since.saturating_add(i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX))
    }

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
        assert_eq!(p.unconfirmed_comment_at(None, 1_000), 61_000);
        assert_eq!(p.unconfirmed_comment_at(Some(100_000), 1_000), 160_000);
    }

    fn policy() -> BreakerPolicy {
        BreakerPolicy {
            threshold: 3,
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_secs(10),
            cooldown_base: Duration::from_secs(1),
            cooldown_cap: Duration::from_secs(8),
            probe_lease: Duration::from_secs(5),
        }
    }

    #[test]
    fn breaker_opens_after_threshold_failures_then_probes_and_closes() {
        let p = policy();
        let mut h = Health::HEALTHY;
        let mut notes = Vec::new();
        let mut step = |h: &mut Health, e: Event, now: i64| {
            let n = p.next(*h, e, now, 0.5);
            notes.extend(note(h, &n));
            *h = n;
        };
        step(&mut h, Event::Transient, 0);
        assert_eq!((h.breaker, h.failures), (Breaker::Closed, 1));
        assert!(!h.callable(0) && h.retry_at >= 50 && h.retry_at <= 100, "{h:?}");
        step(&mut h, Event::Transient, 1_000);
        assert_eq!((h.breaker, h.failures), (Breaker::Closed, 2));
        assert!(h.retry_at >= 1_100 && h.retry_at <= 1_200, "the integration's wait doubles: {h:?}");
        step(&mut h, Event::Transient, 2_000);
        assert_eq!((h.breaker, h.opens), (Breaker::Cooling, 1));
        assert!(!h.callable(2_000) && !h.probe_due(2_000) && h.retry_at >= 2_500 && h.retry_at <= 3_000);
        // A call that was in flight when it opened changes nothing.
        let before = h;
        step(&mut h, Event::Transient, 2_100);
        assert_eq!(h, before);
        // The probe: too early changes nothing; when due it is leased, so one copy probes.
        step(&mut h, Event::ProbeStarted, 2_200);
        assert_eq!(h, before);
        step(&mut h, Event::ProbeStarted, 3_000);
        assert_eq!(h.retry_at, 8_000);
        assert!(!h.probe_due(3_000), "leased");
        step(&mut h, Event::ProbeFailed, 3_500);
        assert_eq!((h.breaker, h.opens), (Breaker::Cooling, 2));
        assert!(h.retry_at >= 4_500 && h.retry_at <= 5_500, "the second cool-down is longer: {h:?}");
        step(&mut h, Event::ProbeStarted, 6_000);
        step(&mut h, Event::Answered, 6_100);
        assert_eq!(h, Health::HEALTHY);
        assert_eq!(notes, vec![Note::Failing, Note::Opened, Note::ProbeFailed, Note::Recovered]);
        // Open (a configuration error) is left to a person.
        let open = Health { breaker: Breaker::Open, ..Health::HEALTHY };
        for e in [Event::Answered, Event::Transient, Event::ProbeStarted, Event::ProbeFailed] {
            assert_eq!(p.next(open, e, 0, 0.3), open);
        }
        assert_eq!(Breaker::parse("cooling"), Breaker::Cooling);
        assert_eq!(Breaker::parse("garbage"), Breaker::Open);
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            Just(Event::Answered),
            Just(Event::Transient),
            Just(Event::Transient),
            Just(Event::Transient),
            Just(Event::ProbeStarted),
            Just(Event::ProbeFailed),
        ]
    }

    proptest! {
        #[test]
        fn backoff_is_within_equal_jitter_bounds(attempt in 0u32..100, unit in 0.0f64..1.0) {
            let p = RetryPolicy::default();
            let d = p.backoff(attempt, unit);
            let ceiling = p.base.saturating_mul(2u32.saturating_pow(attempt.min(30))).min(p.cap);
            prop_assert!(d <= ceiling);
            prop_assert!(d >= ceiling / 2);
        }

        #[test]
        fn backoff_grows_whatever_the_jitter(attempt in 0u32..40, a in 0.0f64..1.0, b in 0.0f64..1.0) {
            // The next attempt's shortest wait is at least this attempt's longest, until the cap.
            let p = RetryPolicy::default();
            let (now, next) = (p.backoff(attempt, a), p.backoff(attempt + 1, b));
            prop_assert!(next >= now || now > p.cap / 2, "{now:?} then {next:?}");
            let q = policy();
            let (c1, c2) = (q.cooldown(attempt + 1, a), q.cooldown(attempt + 2, b));
            prop_assert!(c2 >= c1 || c1 > q.cooldown_cap / 2);
            prop_assert!(c1 <= q.cooldown_cap && q.backoff(attempt + 1, a) <= q.backoff_cap);
        }

        #[test]
        fn breaker_opens_exactly_at_the_threshold(threshold in 1u32..10, unit in 0.0f64..1.0) {
            let p = BreakerPolicy { threshold, ..policy() };
            let mut h = Health::HEALTHY;
            for i in 1..=threshold {
                h = p.next(h, Event::Transient, i64::from(i) * 1000, unit);
                prop_assert_eq!(h.breaker == Breaker::Cooling, i == threshold);
            }
        }

        #[test]
        fn notes_are_bounded_by_state_changes_not_attempts(
            events in proptest::collection::vec(event(), 0..300),
            unit in 0.0f64..1.0,
        ) {
            // However many calls fail, an episode logs at most: failing, opened, recovered, plus
            // one line per failed probe (and probes come only after a growing cool-down).
            let p = policy();
            let mut h = Health::HEALTHY;
            let mut notes = 0usize;
            let (mut answered, mut probes_failed) = (0usize, 0usize);
            for (i, e) in events.iter().enumerate() {
                let now = i64::try_from(i).unwrap_or(0) * 500;
                let n = p.next(h, *e, now, unit);
                notes += usize::from(note(&h, &n).is_some());
                answered += usize::from(*e == Event::Answered);
                probes_failed += usize::from(*e == Event::ProbeFailed);
                prop_assert!(n.breaker != Breaker::Cooling || n.failures >= p.threshold);
                prop_assert!(n.breaker != Breaker::Closed || n.failures < p.threshold);
                h = n;
            }
            prop_assert!(notes <= 3 * (answered + 1) + probes_failed, "{notes} notes");
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
