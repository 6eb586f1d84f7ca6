//! Failed authentications (API keys at the gateway, bearer tokens at the console): counted in
//! `friction_auth_failures_total{listener,reason}`, logged at a bounded rate (one line per second
//! per listener, with how many were left out), and throttled per source: a source (an IPv4 address,
//! or an IPv6 /64) that fails `limit` times within `window` gets 429 with `Retry-After` for every
//! authenticated request until the window ends (docs/operators.md, "Failed authentications").
//!
//! The decisions ([`FailureBudget`], [`LogThrottle`]) are pure and take the time as an argument;
//! [`AuthGuard`] wraps them with a lock, the metrics and the log.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Args;

/// Sources remembered at once; beyond it expired windows are dropped, then the oldest.
pub const MAX_TRACKED_SOURCES: usize = 10_000;

/// The per-source failure budget, from flags or environment.
#[derive(Debug, Clone, Copy, Args)]
pub struct AuthThrottleArgs {
    /// Failed authentications one source (IPv4 address or IPv6 /64) may have within the window
    /// before its requests get 429 until the window ends; 0 turns throttling off. Default 20.
    #[arg(long, env = "FRICTION_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// The window of `--auth-failure-limit`, in seconds, from a source's first failure. Default 60.
    #[arg(long, env = "FRICTION_AUTH_FAILURE_WINDOW_SECS", default_value_t = 60)]
    pub auth_failure_window_secs: u64,
}

impl Default for AuthThrottleArgs {
    fn default() -> Self {
        AuthThrottleArgs { auth_failure_limit: 20, auth_failure_window_secs: 60 }
    }
}

/// What one source did in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    failures: u32,
}

/// Failures per source in fixed windows, for at most `capacity` sources. A source is an address
/// ([`source_of`]) by default; any other key (a username at the console's login) with
/// [`FailureBudget::keyed`] and the `_key` methods.
#[derive(Debug)]
pub struct FailureBudget<K = IpAddr> {
    limit: u32,
    window: Duration,
    capacity: usize,
    entries: HashMap<K, Window>,
}

/// The source a failure is charged to: an IPv4 address, or the /64 of an IPv6 one (a single host
/// usually owns a whole /64), with IPv4-mapped IPv6 addresses as IPv4.
pub fn source_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

impl FailureBudget<IpAddr> {
    /// `limit` 0 never throttles.
    pub fn new(limit: u32, window: Duration, capacity: usize) -> Self {
        FailureBudget::keyed(limit, window, capacity)
    }

    /// `Err(wait)` when `ip`'s source has used its budget and its window ends in `wait`.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        self.check_key(&source_of(ip), now)
    }

    /// Counts one failure of `ip`'s source; true when this one used up its budget.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.record_failure_key(source_of(ip), now)
    }
}

impl<K: Eq + std::hash::Hash + Clone> FailureBudget<K> {
    /// A budget per `K`; `limit` 0 never throttles.
    pub fn keyed(limit: u32, window: Duration, capacity: usize) -> Self {
        FailureBudget { limit, window, capacity: capacity.max(1), entries: HashMap::new() }
    }

    /// `Err(wait)` when `key` has used its budget and its window ends in `wait`.
    pub fn check_key(&self, key: &K, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        match self.entries.get(key) {
            Some(w) if w.failures >= self.limit => {
                let end = w.start + self.window;
                if end > now {
                    Err(end - now)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts one failure of `key`; true when this one used up its budget.
    pub fn record_failure_key(&mut self, key: K, now: Instant) -> bool {
        if self.limit == 0 {
            return false;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            let window = self.window;
            self.entries.retain(|_, w| w.start + window > now);
            if self.entries.len() >= self.capacity {
                if let Some(oldest) = self.entries.iter().min_by_key(|(_, w)| w.start).map(|(k, _)| k.clone()) {
                    self.entries.remove(&oldest);
                }
            }
        }
        let w = self.entries.entry(key).or_insert(Window { start: now, failures: 0 });
        if w.start + self.window <= now {
            *w = Window { start: now, failures: 0 };
        }
        w.failures = w.failures.saturating_add(1);
        w.failures == self.limit
    }

    /// Sources remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// At most one log line per `interval`; the lines left out in between are counted and reported
/// with the next one.
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl LogThrottle {
    pub fn new(interval: Duration) -> Self {
        LogThrottle { interval, last: None, suppressed: 0 }
    }

    /// `Some(n)`: log now, mentioning the `n` lines left out since the last one; `None`: leave this
    /// one out.
    pub fn admit(&mut self, now: Instant) -> Option<u64> {
        match self.last {
            Some(last) if now.duration_since(last) < self.interval => {
                self.suppressed += 1;
                None
            }
            _ => {
                self.last = Some(now);
                Some(std::mem::take(&mut self.suppressed))
            }
        }
    }
}

/// One listener's failure accounting: metrics, a bounded log and the per-source budget.
#[derive(Debug)]
pub struct AuthGuard {
    listener: &'static str,
    state: Mutex<(FailureBudget, LogThrottle)>,
    /// Until when (ms after `since`) some source may be throttled; 0: none ever was. Lets
    /// [`AuthGuard::check`], which runs on every authenticated request, skip the lock and the clock
    /// while no source is over its budget.
    throttling_until_ms: AtomicU64,
    since: Instant,
    window: Duration,
}

impl AuthGuard {
    /// `listener` labels the metrics and log lines (`gateway`, `console`).
    pub fn new(listener: &'static str, args: AuthThrottleArgs) -> Self {
        let budget = FailureBudget::new(
            args.auth_failure_limit,
            Duration::from_secs(args.auth_failure_window_secs.max(1)),
            MAX_TRACKED_SOURCES,
        );
        AuthGuard {
            listener,
            state: Mutex::new((budget, LogThrottle::new(Duration::from_secs(1)))),
            throttling_until_ms: AtomicU64::new(0),
            since: Instant::now(),
            window: Duration::from_secs(args.auth_failure_window_secs.max(1)),
        }
    }

    fn ms_since_start(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.since).as_millis()).unwrap_or(u64::MAX)
    }

    /// Before authenticating: `Err(retry_after_secs)` when the caller's source is over its budget
    /// (counted in `friction_auth_throttled_total{listener}`).
    pub fn check(&self, ip: Option<IpAddr>) -> Result<(), u64> {
        let Some(ip) = ip else { return Ok(()) };
        let until = self.throttling_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return Ok(());
        }
        let now = Instant::now();
        if self.ms_since_start(now) >= until {
            return Ok(());
        }
        let verdict = match self.state.lock() {
            Ok(state) => state.0.check(ip, now),
            Err(_) => Ok(()),
        };
        verdict.map_err(|wait| {
            metrics::counter!("friction_auth_throttled_total", "listener" => self.listener).increment(1);
            (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
        })
    }

    /// One failed authentication from `ip` for `reason` (`missing`, `unknown`, `revoked`,
    /// `malformed`): counted, logged at a bounded rate, charged to the source's budget.
    pub fn failure(&self, ip: Option<IpAddr>, reason: &'static str) {
        metrics::counter!("friction_auth_failures_total", "listener" => self.listener, "reason" => reason).increment(1);
        let now = Instant::now();
        let (exhausted, log) = match self.state.lock() {
            Ok(mut state) => {
                let exhausted = ip.is_some_and(|ip| state.0.record_failure(ip, now));
                (exhausted, state.1.admit(now))
            }
            Err(_) => (false, None),
        };
        let source = ip.map(|ip| source_of(ip).to_string()).unwrap_or_else(|| "unknown".into());
        if exhausted {
            // The source's window began at or before now, so it ends by now + window at the latest.
            let until = self.ms_since_start(now).saturating_add(1).saturating_add(self.window.as_millis() as u64);
            self.throttling_until_ms.fetch_max(until, Ordering::Relaxed);
            tracing::warn!(listener = self.listener, source, "too many failed authentications: throttling this source");
        }
        if let Some(suppressed) = log {
            tracing::warn!(
                listener = self.listener,
                reason,
                source,
                suppressed,
                "authentication failed ({suppressed} similar lines left out since the last one)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn a_source_is_throttled_after_its_budget_until_the_window_ends() {
        let t0 = Instant::now();
        let mut b = FailureBudget::new(3, Duration::from_secs(60), 100);
        assert!(!b.record_failure(ip("10.0.0.1"), t0));
        assert!(!b.record_failure(ip("10.0.0.1"), t0));
        assert!(b.check(ip("10.0.0.1"), t0).is_ok());
        assert!(b.record_failure(ip("10.0.0.1"), t0 + Duration::from_secs(1)));
        assert_eq!(b.check(ip("10.0.0.1"), t0 + Duration::from_secs(10)), Err(Duration::from_secs(50)));
        assert!(b.check(ip("10.0.0.2"), t0).is_ok(), "other sources are not affected");
        assert!(b.check(ip("10.0.0.1"), t0 + Duration::from_secs(60)).is_ok(), "a new window");
        assert!(!b.record_failure(ip("10.0.0.1"), t0 + Duration::from_secs(61)), "counted afresh");
    }

    #[test]
    fn an_ipv6_host_is_one_source_per_slash_64() {
        let t0 = Instant::now();
        let mut b = FailureBudget::new(2, Duration::from_secs(60), 100);
        b.record_failure(ip("2001:db8:1:2::1"), t0);
        b.record_failure(ip("2001:db8:1:2:ffff::9"), t0);
        assert!(b.check(ip("2001:db8:1:2::77"), t0).is_err());
        assert!(b.check(ip("2001:db8:1:3::1"), t0).is_ok());
        assert_eq!(source_of(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
    }

    #[test]
    fn memory_is_bounded_by_the_capacity() {
        let t0 = Instant::now();
        let mut b = FailureBudget::new(2, Duration::from_secs(60), 50);
        for i in 0..10_000u32 {
            b.record_failure(IpAddr::V4(std::net::Ipv4Addr::from(i)), t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(b.len() <= 50, "{}", b.len());
        // The newest sources are the ones kept.
        let newest = IpAddr::V4(std::net::Ipv4Addr::from(9_999u32));
        b.record_failure(newest, t0 + Duration::from_secs(10));
        assert!(b.check(newest, t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn the_guard_refuses_only_a_source_over_its_budget() {
        let guard = AuthGuard::new("test", AuthThrottleArgs { auth_failure_limit: 2, auth_failure_window_secs: 60 });
        let (bad, good) = (Some(ip("192.0.2.1")), Some(ip("192.0.2.2")));
        assert_eq!(guard.check(bad), Ok(()));
        guard.failure(bad, "unknown");
        assert_eq!(guard.check(bad), Ok(()), "one failure is within the budget");
        guard.failure(bad, "unknown");
        assert!(guard.check(bad).is_err_and(|secs| (1..=60).contains(&secs)), "over the budget");
        assert_eq!(guard.check(good), Ok(()), "another source is not throttled");
        assert_eq!(guard.check(None), Ok(()));
    }

    #[test]
    fn limit_zero_never_throttles() {
        let t0 = Instant::now();
        let mut b = FailureBudget::new(0, Duration::from_secs(60), 10);
        for _ in 0..100 {
            b.record_failure(ip("10.0.0.1"), t0);
        }
        assert!(b.check(ip("10.0.0.1"), t0).is_ok());
        assert!(b.is_empty());
    }

    #[test]
    fn the_log_admits_one_line_per_interval_and_counts_the_rest() {
        let t0 = Instant::now();
        let mut log = LogThrottle::new(Duration::from_secs(1));
        assert_eq!(log.admit(t0), Some(0));
        for i in 1..=99 {
            assert_eq!(log.admit(t0 + Duration::from_millis(i * 10)), None);
        }
        assert_eq!(log.admit(t0 + Duration::from_millis(1000)), Some(99));
        assert_eq!(log.admit(t0 + Duration::from_millis(1500)), None);
        assert_eq!(log.admit(t0 + Duration::from_millis(2100)), Some(1));
    }
}
