//! Per-key token buckets: each accepted event costs one token; tokens refill at the key's rate up to
//! its burst. A batch that does not fit gets a 429 with the seconds until it would.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

pub struct RateLimiter {
    default_rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub fn new(default_rate: f64, burst: f64) -> Self {
        RateLimiter {
            default_rate: default_rate.max(0.001),
            burst: burst.max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `cost` tokens from `key`'s bucket at time `now`. `Err(seconds)` says how long until the
    /// batch would fit. A batch larger than the burst needs a full bucket.
    pub fn check(&self, key: &str, cost: usize, rate: Option<f64>, now: Instant) -> Result<(), u64> {
        let rate = rate.filter(|r| *r > 0.0).unwrap_or(self.default_rate);
        let cost = (cost as f64).min(self.burst);
        let mut buckets = match self.buckets.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_string()).or_insert(Bucket { tokens: self.burst, updated: now }),
        };
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            Err(((cost - bucket.tokens) / rate).ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let limiter = RateLimiter::new(10.0, 20.0);
        let t0 = Instant::now();
        assert!(limiter.check("k", 20, None, t0).is_ok());
        assert_eq!(limiter.check("k", 5, None, t0), Err(1));
        assert!(limiter.check("other", 5, None, t0).is_ok(), "keys are independent");
        assert!(limiter.check("k", 5, None, t0 + Duration::from_millis(500)).is_ok());
        assert_eq!(limiter.check("k", 20, None, t0 + Duration::from_millis(500)), Err(2));
    }

    #[test]
    fn per_key_rate_overrides_default() {
        let limiter = RateLimiter::new(1000.0, 10.0);
        let t0 = Instant::now();
        assert!(limiter.check("k", 10, Some(1.0), t0).is_ok());
        assert_eq!(limiter.check("k", 10, Some(1.0), t0 + Duration::from_secs(1)), Err(9));
    }
}
