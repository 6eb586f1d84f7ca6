//! Retrying a call that fails for a while (a database outage, a busy server) from a stage thread:
//! the thread blocks between attempts, so input waits and nothing is committed meanwhile. The
//! delays double from [`Backoff::first`] up to [`Backoff::cap`]; the call is retried until it
//! succeeds, fails with an error that is not transient, or a given time has passed since the
//! first attempt, and then the last error is returned.

use std::time::{Duration, Instant};

/// How long to wait before each retry: doubling from `first` up to `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub first: Duration,
    /// The longest wait between two attempts.
    pub cap: Duration,
}

impl Backoff {
    /// The stages' store writes: 50 ms, doubling up to 5 s.
    pub const STORE: Backoff = Backoff { first: Duration::from_millis(50), cap: Duration::from_secs(5) };

    /// The wait before retry number `retry` (1-based): `first · 2^(retry-1)`, at most `cap`.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.saturating_sub(1)).unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.cap)
    }
}

/// Calls `call` until it succeeds or gives up (see the module doc), sleeping the thread between
/// attempts. No retry starts once `give_up_after` has passed since the first attempt.
/// `transient` says which errors are worth another attempt; `on_retry` sees each of those with the
/// number of the attempt that failed (from 1) before the wait, to log or count it.
pub fn retry_blocking<T, E>(
    backoff: &Backoff,
    give_up_after: Duration,
    transient: impl FnMut(&E) -> bool,
    on_retry: impl FnMut(&E, u32),
    call: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let started = Instant::now();
    retry_with(backoff, give_up_after, || started.elapsed(), std::thread::sleep, transient, on_retry, call)
}

/// [`retry_blocking`] with the clock and the sleep passed in (tests run it on a fake clock).
fn retry_with<T, E>(
    backoff: &Backoff,
    give_up_after: Duration,
    elapsed: impl Fn() -> Duration,
    mut sleep: impl FnMut(Duration),
    mut transient: impl FnMut(&E) -> bool,
    mut on_retry: impl FnMut(&E, u32),
    mut call: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match call() {
            Ok(value) => return Ok(value),
            Err(e) if transient(&e) && elapsed() < give_up_after => {
                on_retry(&e, attempt);
                sleep(backoff.delay(attempt));
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs `retry_with` on a fake clock that only the sleeps advance; returns the result, the
    /// sleeps, and the attempts `on_retry` saw.
    fn run(
        give_up_after: Duration,
        mut results: impl FnMut(u32) -> Result<u32, &'static str>,
    ) -> (Result<u32, &'static str>, Vec<Duration>, Vec<u32>) {
        let now = Cell::new(Duration::ZERO);
        let mut sleeps = Vec::new();
        let mut retried = Vec::new();
        let mut calls = 0;
        let result = retry_with(
            &Backoff::STORE,
            give_up_after,
            || now.get(),
            |d| {
                sleeps.push(d);
                now.set(now.get() + d);
            },
            |e: &&str| *e == "transient",
            |_, attempt| retried.push(attempt),
            || {
                calls += 1;
                results(calls)
            },
        );
        (result, sleeps, retried)
    }

    #[test]
    fn the_store_schedule_doubles_from_50_ms_to_5_s() {
        let b = Backoff::STORE;
        let delays: Vec<u64> = (1..=10).map(|r| b.delay(r).as_millis() as u64).collect();
        assert_eq!(delays, [50, 100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000, 5_000]);
        assert_eq!(b.delay(0), 50 * MS);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(5));
    }

    #[test]
    fn retries_transient_errors_until_success() {
        let (result, sleeps, retried) = run(Duration::from_secs(60), |n| if n < 4 { Err("transient") } else { Ok(n) });
        assert_eq!(result, Ok(4));
        assert_eq!(sleeps, [50 * MS, 100 * MS, 200 * MS]);
        assert_eq!(retried, [1, 2, 3]);
    }

    #[test]
    fn an_error_that_is_not_transient_returns_at_once() {
        let (result, sleeps, retried) =
            run(Duration::from_secs(60), |n| if n < 3 { Err("transient") } else { Err("broken") });
        assert_eq!(result, Err("broken"));
        assert_eq!(sleeps.len(), 2);
        assert_eq!(retried, [1, 2]);
    }

    #[test]
    fn gives_up_with_the_last_error_once_the_time_is_spent() {
        // 50+100+200+400 = 750 ms slept after four failures: the fifth failure is past 700 ms.
        let (result, sleeps, retried) = run(700 * MS, |_| Err("transient"));
        assert_eq!(result, Err("transient"));
        assert_eq!(sleeps, [50 * MS, 100 * MS, 200 * MS, 400 * MS]);
        assert_eq!(retried, [1, 2, 3, 4]);
    }

    #[test]
    fn nothing_is_retried_when_no_time_is_given() {
        let (result, sleeps, _) = run(Duration::ZERO, |_| Err("transient"));
        assert_eq!(result, Err("transient"));
        assert!(sleeps.is_empty());
    }

    #[test]
    fn the_real_clock_sleeps_the_thread() {
        let started = Instant::now();
        let backoff = Backoff { first: 5 * MS, cap: 5 * MS };
        let mut calls = 0;
        let result = retry_blocking(
            &backoff,
            Duration::from_secs(5),
            |_: &()| true,
            |_, _| {},
            || {
                calls += 1;
                if calls < 3 {
                    Err(())
                } else {
                    Ok(calls)
                }
            },
        );
        assert_eq!(result, Ok(3));
        assert!(started.elapsed() >= 10 * MS);
    }
}
