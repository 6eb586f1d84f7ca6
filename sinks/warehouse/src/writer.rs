//! Batches of rows per table and the insert with bounded retries.

use std::time::Duration;

use clickhouse::{Client, RowOwned, RowWrite};
use friction_runtime::retry::Backoff;

use crate::rows::{EventRow, IncidentRow, SessionRow, SignalRow};
use crate::WarehouseError;

/// How often and how long an insert is retried before the warehouse gives up (and stops).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 15).
    pub max_retries: u32,
    /// Wait before the first retry; doubles per retry (default 250 ms)...
    pub initial_backoff: Duration,
    /// ...up to this (default 5 s). With the defaults a batch is retried for about 58 s.
    pub max_backoff: Duration,
    /// Longest one attempt may take, sending and waiting for the answer (default 30 s).
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 15,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1-based): the runtime's doubling schedule.
    pub fn backoff(&self, retry: u32) -> Duration {
        Backoff { first: self.initial_backoff, cap: self.max_backoff }.delay(retry)
    }
}

/// One `INSERT` of `rows` into `table` (the client's database).
pub async fn insert_once<T>(
    client: &Client,
    table: &str,
    rows: &[T],
    timeout: Duration,
) -> Result<(), clickhouse::error::Error>
where
    T: RowOwned + RowWrite,
{
    let mut insert = client.insert::<T>(table).await?.with_timeouts(Some(timeout), Some(timeout));
    for row in rows {
        insert.write(row).await?;
    }
    insert.end().await
}

/// Whether ClickHouse refused an insert for what its rows hold, so that the same rows fail again
/// and are not worth a retry: a value it cannot parse or convert, a string or array too large, and
/// (current ClickHouse, `max_partitions_per_insert_block`) rows spread over too many partitions,
/// which smaller inserts of the same rows pass. Code 252 also means "too many parts" (merges
/// lagging): that one passes with time, so only the partitions message counts.
pub fn refuses_content(error: &clickhouse::error::Error) -> bool {
    match error {
        clickhouse::error::Error::BadResponse(text) => response_refuses_content(text),
        _ => false,
    }
}

/// [`refuses_content`] on the text of ClickHouse's answer (`Code: N. DB::Exception: ...`, or
/// `Code: N, e.displayText() = ...` on 18.16).
pub fn response_refuses_content(text: &str) -> bool {
    let code = text
        .split_once("Code: ")
        .map(|(_, rest)| rest.chars().take_while(char::is_ascii_digit).collect::<String>())
        .and_then(|digits| digits.parse::<u32>().ok());
    match code {
        Some(252) => text.contains("partitions for single INSERT block"),
        // CANNOT_PARSE_TEXT, _QUOTED_STRING, _INPUT_ASSERTION_FAILED, _DATE, _DATETIME,
        // TYPE_MISMATCH, ARGUMENT_OUT_OF_BOUND, CANNOT_CONVERT_TYPE, CANNOT_PARSE_NUMBER,
        // INCORRECT_DATA, TOO_LARGE_ARRAY_SIZE, TOO_LARGE_STRING_SIZE, SIZES_OF_ARRAYS_DOESNT_MATCH,
        // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE.
        Some(6 | 26 | 27 | 38 | 41 | 53 | 69 | 70 | 72 | 117 | 128 | 131 | 190 | 321) => true,
        _ => false,
    }
}

/// Most monthly partitions one `INSERT` may touch. ClickHouse writes one part per partition an
/// insert touches: 18.16 took more than the 30 s attempt timeout for 150 events of a backfill, one
/// per month (found by cli/tests/hostile.rs); the insert timed out, was retried whole, and held the
/// warehouse (everything behind it waiting) for minutes, each attempt leaving copies. A batch over
/// more months is inserted in groups of at most this many.
pub const MAX_MONTHS_PER_INSERT: usize = 16;

/// The time a row's table is partitioned by (epoch ms; every table is partitioned by month).
pub trait PartitionTime {
    fn partition_ms(&self) -> i64;
}

impl PartitionTime for EventRow {
    fn partition_ms(&self) -> i64 {
        self.timestamp_ms
    }
}

impl PartitionTime for SessionRow {
    fn partition_ms(&self) -> i64 {
        self.start_ms
    }
}

impl PartitionTime for SignalRow {
    fn partition_ms(&self) -> i64 {
        self.start_ms
    }
}

impl PartitionTime for IncidentRow {
    fn partition_ms(&self) -> i64 {
        self.changed_at_ms
    }
}

/// `rows` in groups that each span at most `max` 28-day periods (so at most `2 * max` calendar
/// months, whatever ClickHouse's time zone), by time; `None` when all of them fit in one (the
/// common case: one insert, as before).
pub fn month_groups<T: PartitionTime + Clone>(rows: &[T], max: usize) -> Option<Vec<Vec<T>>> {
    const PERIOD_MS: i64 = 28 * 24 * 3600 * 1000;
    let period = |r: &T| r.partition_ms().div_euclid(PERIOD_MS);
    let mut periods: Vec<i64> = rows.iter().map(period).collect();
    periods.sort_unstable();
    periods.dedup();
    if periods.len() <= max.max(1) {
        return None;
    }
    let mut sorted: Vec<&T> = rows.iter().collect();
    sorted.sort_by_key(|r| period(r));
    let mut groups: Vec<Vec<T>> = Vec::new();
    let mut in_group = 0usize;
    let mut last = None;
    for row in sorted {
        let p = period(row);
        if last != Some(p) {
            if groups.is_empty() || in_group == max.max(1) {
                groups.push(Vec::new());
                in_group = 0;
            }
            in_group += 1;
            last = Some(p);
        }
        if let Some(g) = groups.last_mut() {
            g.push(row.clone());
        }
    }
    Some(groups)
}

/// Inserts `rows`, retrying with backoff (not when ClickHouse refuses the rows' content:
/// [`WarehouseError::InsertRefused`] at once); the error after the last retry names the table, the
/// number of attempts and ClickHouse's last answer. Rows spread over more than
/// [`MAX_MONTHS_PER_INSERT`] months go in several inserts ([`month_groups`]); the attempts
/// returned are the most any of them took.
pub async fn insert_with_retries<T>(
    client: &Client,
    table: &str,
    rows: &[T],
    policy: &RetryPolicy,
) -> Result<u32, WarehouseError>
where
    T: RowOwned + RowWrite + PartitionTime + Clone,
{
    let Some(groups) = month_groups(rows, MAX_MONTHS_PER_INSERT) else {
        return insert_group_with_retries(client, table, rows, policy).await;
    };
    let mut attempts = 0;
    for group in &groups {
        attempts = attempts.max(insert_group_with_retries(client, table, group, policy).await?);
    }
    Ok(attempts)
}

/// [`insert_with_retries`] of one `INSERT`.
async fn insert_group_with_retries<T>(
    client: &Client,
    table: &str,
    rows: &[T],
    policy: &RetryPolicy,
) -> Result<u32, WarehouseError>
where
    T: RowOwned + RowWrite,
{
    if rows.is_empty() {
        return Ok(0);
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let started = std::time::Instant::now();
        match insert_once(client, table, rows, policy.attempt_timeout).await {
            Ok(()) => {
                metrics::counter!("friction_warehouse_rows_inserted_total", "table" => table.to_string())
                    .increment(rows.len() as u64);
                metrics::histogram!("friction_warehouse_insert_seconds", "table" => table.to_string())
                    .record(started.elapsed().as_secs_f64());
                if attempt > 1 {
                    tracing::info!(table, rows = rows.len(), attempt, "insert succeeded after retries");
                }
                return Ok(attempt);
            }
            Err(e) if refuses_content(&e) => {
                return Err(WarehouseError::InsertRefused {
                    table: table.to_string(),
                    rows: rows.len(),
                    last: e.to_string(),
                })
            }
            Err(e) if attempt <= policy.max_retries => {
                let wait = policy.backoff(attempt);
                metrics::counter!("friction_warehouse_insert_retries_total", "table" => table.to_string()).increment(1);
                tracing::warn!(table, rows = rows.len(), attempt, error = %e, wait_ms = wait.as_millis() as u64, "insert failed; retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => {
                return Err(WarehouseError::InsertFailed {
                    table: table.to_string(),
                    rows: rows.len(),
                    attempts: attempt,
                    last: e.to_string(),
                })
            }
        }
    }
}

/// Rows waiting for their insert, per table, and their approximate size (the encoded input).
#[derive(Debug, Default, Clone)]
pub struct Batch {
    pub events: Vec<EventRow>,
    pub sessions: Vec<SessionRow>,
    pub signals: Vec<SignalRow>,
    pub incidents: Vec<IncidentRow>,
    pub bytes: usize,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.events.len() + self.sessions.len() + self.signals.len() + self.incidents.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0
    }

    /// Inserts every table's rows (each table one `INSERT`, retried by `policy`), then empties the
    /// batch. On error the batch keeps its rows.
    pub async fn insert(&mut self, client: &Client, policy: &RetryPolicy) -> Result<(), WarehouseError> {
        insert_with_retries(client, crate::schema::EVENTS.name, &self.events, policy).await?;
        self.events.clear();
        insert_with_retries(client, crate::schema::SESSIONS.name, &self.sessions, policy).await?;
        self.sessions.clear();
        insert_with_retries(client, crate::schema::SIGNALS.name, &self.signals, policy).await?;
        self.signals.clear();
        insert_with_retries(client, crate::schema::INCIDENTS.name, &self.incidents, policy).await?;
        self.incidents.clear();
        self.bytes = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_of_the_rows_are_told_apart_from_outages() {
        for text in [
            "Code: 252. DB::Exception: Too many partitions for single INSERT block (more than 100). (TOO_MANY_PARTS)",
            "Code: 27, e.displayText() = DB::Exception: Cannot parse input: expected '\t' before: 'x'",
            "Code: 53. DB::Exception: Type mismatch in IN or VALUES section",
            "Code: 131. DB::Exception: Too large string size",
            "Code: 6. DB::Exception: Cannot parse string 'x' as Int64",
        ] {
            assert!(response_refuses_content(text), "{text}");
        }
        for text in [
            "Code: 252. DB::Exception: Too many parts (300). Merges are processing significantly slower than inserts",
            "Code: 241. DB::Exception: Memory limit (total) exceeded",
            "Code: 60. DB::Exception: Table friction.events doesn't exist",
            "Code: 81. DB::Exception: Database friction doesn't exist",
            "Code: 516. DB::Exception: default: Authentication failed",
            "Code: 46, e.displayText() = DB::Exception: Unknown function char",
            "502 Bad Gateway",
            "",
        ] {
            assert!(!response_refuses_content(text), "{text}");
        }
        assert!(!refuses_content(&clickhouse::error::Error::TimedOut));
        assert!(refuses_content(&clickhouse::error::Error::BadResponse("Code: 70. DB::Exception: x".into())));
    }

    #[derive(Clone, Debug, PartialEq)]
    struct At(i64);
    impl PartitionTime for At {
        fn partition_ms(&self) -> i64 {
            self.0
        }
    }

    #[test]
    fn rows_over_many_months_are_grouped_few_months_stay_one_insert() {
        const DAY: i64 = 24 * 3600 * 1000;
        // A few months: one insert, as before.
        let few: Vec<At> = (0..500).map(|i| At(1_700_000_000_000 + (i % 3) * 30 * DAY)).collect();
        assert_eq!(month_groups(&few, 16), None);
        // 150 months, shuffled: groups of at most 16 periods, every row once, in time order.
        let many: Vec<At> = (0..150i64).map(|m| At(946_684_800_000 + ((m * 37) % 150) * 31 * DAY)).collect();
        let groups = month_groups(&many, 16).expect("grouped");
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 150);
        for g in &groups {
            let mut periods: Vec<i64> = g.iter().map(|r| r.0.div_euclid(28 * DAY)).collect();
            periods.dedup();
            assert!(periods.len() <= 16, "{} periods", periods.len());
        }
        let flat: Vec<i64> = groups.concat().iter().map(|r| r.0).collect();
        assert!(flat.windows(2).all(|w| w[0] <= w[1]));
        // Times before 1970 and at the extremes neither panic nor overflow.
        let odd = [At(i64::MIN), At(-1), At(0), At(i64::MAX)];
        assert_eq!(month_groups(&odd, 1).map(|g| g.len()), Some(4));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1), Duration::from_millis(250));
        assert_eq!(p.backoff(2), Duration::from_millis(500));
        assert_eq!(p.backoff(5), Duration::from_secs(4));
        assert_eq!(p.backoff(6), Duration::from_secs(5));
        assert_eq!(p.backoff(40), Duration::from_secs(5));
        let total: Duration = (1..=p.max_retries).map(|r| p.backoff(r)).sum();
        assert!(total >= Duration::from_secs(45), "default retries should outlast a restart of ClickHouse: {total:?}");
    }
}
