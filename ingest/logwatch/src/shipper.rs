//! The sending side (docs/operators.md "Tailing log files"): batches records into `POST /v1/logs`
//! (at most `--batch-size` lines and `--batch-max-bytes`, or what arrived within
//! `--batch-interval-ms`), one request at a time so each file's records are acknowledged in order;
//! retries 408, 429, 5xx and connection errors with exponential backoff and full jitter (honouring
//! `Retry-After` up to the cap) until the gateway answers 202, then moves the files' offsets in the
//! checkpoint and writes it. Other answers are permanent for that batch: logged, counted, and the
//! batch skipped, so one bad batch cannot stop a service's logs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::mpsc;

use crate::checkpoint::Checkpoints;
use crate::identity::FileId;
use crate::record::Outgoing;

/// How the shipper sends.
#[derive(Debug, Clone)]
pub struct ShipConfig {
    /// `{gateway}/v1/logs`.
    pub url: String,
    pub api_key: String,
    pub batch_size: usize,
    pub batch_max_bytes: usize,
    pub batch_interval: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
}

/// What one request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 202: delivered (`rejected` lines were refused one by one and will never be accepted).
    Accepted { rejected: usize },
    /// Try again after this long at least (a `Retry-After`), or after the backoff.
    Retry(Option<Duration>),
    /// Will never succeed as it is (400, 413, ...).
    Permanent,
}

/// Decides what an answer means. Pure.
pub fn classify(status: u16, retry_after: Option<&str>, body: &str) -> Outcome {
    match status {
        202 | 200 => {
            let rejected = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("rejected").and_then(|r| r.as_array()).map(Vec::len))
                .unwrap_or(0);
            Outcome::Accepted { rejected }
        }
        // A key not (yet) known to the gateway or a network hiccup: keep trying, never drop.
        401 | 403 | 408 | 429 | 500..=599 => {
            Outcome::Retry(retry_after.and_then(|s| s.trim().parse::<u64>().ok()).map(Duration::from_secs))
        }
        _ => Outcome::Permanent,
    }
}

/// The delay before retry number `attempt` (0-based): uniform in [0, min(max, initial·2^attempt)]
/// ("full jitter"), at least `retry_after` (capped at `max`).
pub fn backoff(attempt: u32, initial: Duration, max: Duration, retry_after: Option<Duration>, unit: f64) -> Duration {
    let ceiling = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
    match retry_after {
        Some(r) => jittered.max(r.min(max)),
        None => jittered,
    }
}

pub struct Shipper {
    cfg: ShipConfig,
    client: reqwest::Client,
    rx: mpsc::Receiver<Outgoing>,
    checkpoints: Arc<Mutex<Checkpoints>>,
    /// Records taken from the channel but not in the current batch (the batch was full).
    carried: Option<Outgoing>,
}

impl Shipper {
    pub fn new(
        cfg: ShipConfig,
        client: reqwest::Client,
        rx: mpsc::Receiver<Outgoing>,
        checkpoints: Arc<Mutex<Checkpoints>>,
    ) -> Self {
        Shipper { cfg, client, rx, checkpoints, carried: None }
    }

    /// Sends until the channel closes and is drained, or `stop` resolves.
    pub async fn run(mut self, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let batch = tokio::select! {
                b = self.next_batch() => b,
                _ = &mut stop => return,
            };
            let Some(batch) = batch else { return };
            tokio::select! {
                _ = self.deliver(&batch) => {}
                _ = &mut stop => return,
            }
            self.acknowledge(&batch);
        }
    }

    /// The next batch: waits for a first record, then takes more until a limit or the interval.
    async fn next_batch(&mut self) -> Option<Vec<Outgoing>> {
        let first = match self.carried.take() {
            Some(r) => r,
            None => self.rx.recv().await?,
        };
        let mut bytes = first.json.as_ref().map_or(0, |j| j.len() + 1);
        let mut lines = usize::from(first.json.is_some());
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + self.cfg.batch_interval;
        while lines < self.cfg.batch_size.max(1) {
            let next = match self.rx.try_recv() {
                Ok(r) => r,
                Err(mpsc::error::TryRecvError::Disconnected) => break,
                Err(mpsc::error::TryRecvError::Empty) => {
                    match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                        Ok(Some(r)) => r,
                        Ok(None) | Err(_) => break,
                    }
                }
            };
            let size = next.json.as_ref().map_or(0, |j| j.len() + 1);
            if lines > 0 && bytes + size > self.cfg.batch_max_bytes {
                self.carried = Some(next);
                break;
            }
            bytes += size;
            lines += usize::from(next.json.is_some());
            batch.push(next);
        }
        metrics::gauge!("friction_logwatch_buffer_records").set(self.rx.len() as f64);
        Some(batch)
    }

    /// Posts the batch until it is accepted or refused for good.
    async fn deliver(&self, batch: &[Outgoing]) {
        let lines = batch.iter().filter(|r| r.json.is_some()).count();
        if lines == 0 {
            return;
        }
        let mut body =
            Vec::with_capacity(batch.iter().map(|r| r.json.as_ref().map_or(0, Vec::len) + 1).sum::<usize>() + 16);
        body.extend_from_slice(b"{\"logs\":[");
        for json in batch.iter().filter_map(|r| r.json.as_ref()) {
            if body.len() > 9 {
                body.push(b',');
            }
            body.extend_from_slice(json);
        }
        body.extend_from_slice(b"]}");
        let body = bytes::Bytes::from(body);
        let mut attempt = 0u32;
        loop {
            let sent = self
                .client
                .post(&self.cfg.url)
                .header("content-type", "application/json")
                .header("x-api-key", &self.cfg.api_key)
                .body(reqwest::Body::from(body.clone()))
                .send()
                .await;
            let (outcome, reason) = match sent {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after =
                        resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                    let text = resp.text().await.unwrap_or_default();
                    let outcome = classify(status, retry_after.as_deref(), &text);
                    if outcome == Outcome::Permanent || matches!(status, 401 | 403) {
                        tracing::error!(status, body = %text, "the gateway refused a batch of log lines");
                    } else if matches!(outcome, Outcome::Retry(_)) && attempt == 0 {
                        tracing::warn!(status, "the gateway cannot take log lines now; retrying with backoff");
                    }
                    (outcome, status.to_string())
                }
                Err(e) => {
                    if attempt == 0 {
                        tracing::warn!(error = %e, "sending log lines failed; retrying with backoff");
                    } else {
                        tracing::debug!(error = %e, attempt, "sending log lines failed");
                    }
                    (Outcome::Retry(None), "connection".to_string())
                }
            };
            match outcome {
                Outcome::Accepted { rejected } => {
                    metrics::counter!("friction_logwatch_records_sent_total")
                        .increment((lines - rejected.min(lines)) as u64);
                    if rejected > 0 {
                        tracing::warn!(rejected, "the gateway rejected log lines (see its answer's messages)");
                        metrics::counter!("friction_logwatch_records_rejected_total").increment(rejected as u64);
                    }
                    return;
                }
                Outcome::Permanent => {
                    metrics::counter!("friction_logwatch_records_rejected_total").increment(lines as u64);
                    return;
                }
                Outcome::Retry(after) => {
                    metrics::counter!("friction_logwatch_send_retries_total", "reason" => reason).increment(1);
                    let unit: f64 = rand::rng().random();
                    let wait = backoff(attempt, self.cfg.retry_initial, self.cfg.retry_max, after, unit);
                    attempt = attempt.saturating_add(1);
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// Moves each file's offset past its last record in the batch and writes the checkpoint.
    fn acknowledge(&self, batch: &[Outgoing]) {
        let mut ends: HashMap<(FileId, u32), u64> = HashMap::new();
        for r in batch {
            let e = ends.entry((r.file, r.generation)).or_insert(0);
            *e = (*e).max(r.end);
        }
        let Ok(mut c) = self.checkpoints.lock() else { return };
        for ((file, generation), end) in ends {
            c.acknowledge(&file, generation, end);
        }
        if let Err(e) = c.save_if_changed() {
            tracing::error!(error = %e, "writing the checkpoint failed; a restart would send these lines again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(202, None, r#"{"accepted":2,"rejected":[]}"#), Outcome::Accepted { rejected: 0 });
        assert_eq!(
            classify(202, None, r#"{"accepted":1,"rejected":[{"index":1}]}"#),
            Outcome::Accepted { rejected: 1 }
        );
        assert_eq!(classify(503, Some("5"), ""), Outcome::Retry(Some(Duration::from_secs(5))));
        assert_eq!(classify(429, Some("soon"), ""), Outcome::Retry(None));
        assert_eq!(classify(401, None, ""), Outcome::Retry(None));
        assert_eq!(classify(400, None, ""), Outcome::Permanent);
        assert_eq!(classify(413, None, ""), Outcome::Permanent);
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        let (i, m) = (Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(backoff(0, i, m, None, 1.0), Duration::from_millis(100));
        assert_eq!(backoff(3, i, m, None, 1.0), Duration::from_millis(800));
        assert_eq!(backoff(30, i, m, None, 1.0), m);
        assert_eq!(backoff(3, i, m, None, 0.0), Duration::ZERO);
        assert_eq!(backoff(0, i, m, Some(Duration::from_secs(1)), 0.5), Duration::from_secs(1));
        assert_eq!(backoff(0, i, m, Some(Duration::from_secs(60)), 0.5), m);
    }
}
