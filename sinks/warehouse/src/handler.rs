//! The warehouse as a [`StageHandler`]: decode each message by its writer schema's family, buffer
//! the row, insert when the batch is full (`max_bytes`) and at every commit cycle (which the
//! runtime runs every `max_rows` messages or `max_time`), then let the runtime commit offsets.
//! Insert → commit, never the other way round: a crash in between replays the batch and the
//! tables' deduplication absorbs the repeat.

use std::sync::Arc;
use std::time::Duration;

use clickhouse::{Client, RowOwned, RowWrite};
use friction_runtime::isolate::isolate;
use friction_runtime::stage::{DeadLetter, Outputs, StageConfig, StageHandler};
use friction_schemas::registry::Registry;
use friction_schemas::{decode, IncidentChange, SessionSummary, Sessionized, SignalRecord};

use crate::writer::{insert_with_retries, Batch, PartitionTime, RetryPolicy};
use crate::{WarehouseConfig, WarehouseError};

/// The stage's handler. Build it with [`WarehouseHandler::new`] and run it with the runtime
/// (`spawn_stage` / `run_stage_process`) using [`WarehouseConfig::stage_config`].
pub struct WarehouseHandler {
    client: Client,
    policy: RetryPolicy,
    max_bytes: usize,
    batch: Batch,
    /// The first insert that failed outside a commit cycle; the next `persist` reports it.
    failed: Option<WarehouseError>,
    /// `migrate` has run (before the first insert), so the stage needs no separate setup step.
    migrated: bool,
    database: String,
    runtime: tokio::runtime::Runtime,
    /// Where each buffered row was read (partition, offset), per table in `batch`'s order: a row
    /// ClickHouse refuses on its own is dead-lettered with these coordinates.
    sources: TableSources,
    topics: [Arc<str>; 4],
    /// Dead letters of rows refused by an insert made while processing a message, for the next
    /// `persist` to hand over.
    refused: Vec<DeadLetter>,
}

#[derive(Debug, Default)]
struct TableSources {
    events: Vec<(i32, i64)>,
    sessions: Vec<(i32, i64)>,
    signals: Vec<(i32, i64)>,
    incidents: Vec<(i32, i64)>,
}

/// Rows of one table ClickHouse may refuse one by one before the insert counts as failed.
const MAX_REFUSED_PER_TABLE: usize = 100;

/// What a message's single-object header says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Sessionized,
    Session,
    Signal,
    Incident,
}

fn family_of(payload: &[u8]) -> Result<Family, String> {
    let fingerprint: [u8; 8] = payload
        .get(2..10)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| format!("message of {} bytes has no single-object header", payload.len()))?;
    let version = Registry::get()
        .by_fingerprint(&fingerprint)
        .ok_or_else(|| format!("writer schema {} is not one of the embedded schemas", hex_of(&fingerprint)))?;
    match version.family {
        "sessionized" => Ok(Family::Sessionized),
        "session" => Ok(Family::Session),
        "signal" => Ok(Family::Signal),
        "incident" => Ok(Family::Incident),
        other => Err(format!("the warehouse does not store `{other}` records")),
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl WarehouseHandler {
    pub fn new(config: &WarehouseConfig) -> Result<Self, WarehouseError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .thread_name("warehouse-insert")
            .build()
            .map_err(|e| WarehouseError::Config(format!("starting the insert runtime: {e}")))?;
        Ok(WarehouseHandler {
            client: config.clickhouse.client()?,
            policy: config.retry,
            max_bytes: config.batch.max_bytes,
            batch: Batch::default(),
            failed: None,
            migrated: false,
            database: config.clickhouse.database.clone(),
            runtime,
            sources: TableSources::default(),
            topics: [
                Arc::from(config.topics.sessionized.as_str()),
                Arc::from(config.topics.sessions.as_str()),
                Arc::from(config.topics.signals.as_str()),
                Arc::from(config.topics.incidents.as_str()),
            ],
            refused: Vec::new(),
        })
    }

    /// The tables are known to exist (the caller ran [`crate::migrate`]); skip it before the
    /// first insert.
    pub fn with_tables_ready(mut self) -> Self {
        self.migrated = true;
        self
    }

    /// Adds one message's row to the batch (no I/O). `Err` is a message that cannot be stored.
    pub fn add(&mut self, payload: &[u8]) -> Result<(), String> {
        self.add_from(0, -1, payload)
    }

    /// [`Self::add`] for the message at `offset` of `partition`.
    fn add_from(&mut self, partition: i32, offset: i64, payload: &[u8]) -> Result<(), String> {
        let family = family_of(payload)?;
        let e = |err: friction_schemas::CodecError| err.to_string();
        match family {
            Family::Sessionized => {
                let r: Sessionized<'static> = decode(payload).map_err(e)?;
                self.batch.events.push((&r).into());
                self.sources.events.push((partition, offset));
            }
            Family::Session => {
                let r: SessionSummary = decode(payload).map_err(e)?;
                self.batch.sessions.push((&r).into());
                self.sources.sessions.push((partition, offset));
            }
            Family::Signal => {
                let r: SignalRecord = decode(payload).map_err(e)?;
                self.batch.signals.push((&r).into());
                self.sources.signals.push((partition, offset));
            }
            Family::Incident => {
                let r: IncidentChange = decode(payload).map_err(e)?;
                self.batch.incidents.push((&r).into());
                self.sources.incidents.push((partition, offset));
            }
        }
        self.batch.bytes += payload.len();
        Ok(())
    }

    /// Inserts everything buffered (with retries). On error the rows stay buffered.
    pub fn flush(&mut self) -> Result<(), WarehouseError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = self.batch.rows();
        let bytes = self.batch.bytes;
        let started = std::time::Instant::now();
        if !self.migrated {
            self.runtime.block_on(migrate_with_retries(&self.client, &self.database, &self.policy))?;
            self.migrated = true;
        }
        let result = self.insert_batch();
        metrics::histogram!("friction_warehouse_batch_rows").record(rows as f64);
        metrics::histogram!("friction_warehouse_batch_bytes").record(bytes as f64);
        tracing::debug!(rows, bytes, ms = started.elapsed().as_millis() as u64, ok = result.is_ok(), "batch inserted");
        result
    }

    /// Each table's rows in one insert; when ClickHouse refuses what they hold, split down to the
    /// refused rows (docs/architecture.md §5), which are dead-lettered with their source
    /// coordinates. On error the rows not yet inserted stay buffered.
    fn insert_batch(&mut self) -> Result<(), WarehouseError> {
        let [events, sessions, signals, incidents] = &self.topics;
        let ctx = InsertContext { runtime: &self.runtime, client: &self.client, policy: &self.policy };
        ctx.table(
            crate::schema::EVENTS.name,
            &mut self.batch.events,
            &mut self.sources.events,
            events,
            &mut self.refused,
        )?;
        ctx.table(
            crate::schema::SESSIONS.name,
            &mut self.batch.sessions,
            &mut self.sources.sessions,
            sessions,
            &mut self.refused,
        )?;
        ctx.table(
            crate::schema::SIGNALS.name,
            &mut self.batch.signals,
            &mut self.sources.signals,
            signals,
            &mut self.refused,
        )?;
        ctx.table(
            crate::schema::INCIDENTS.name,
            &mut self.batch.incidents,
            &mut self.sources.incidents,
            incidents,
            &mut self.refused,
        )?;
        self.batch.bytes = 0;
        Ok(())
    }

    /// Rows buffered and not yet inserted.
    pub fn buffered_rows(&self) -> usize {
        self.batch.rows()
    }
}

struct InsertContext<'a> {
    runtime: &'a tokio::runtime::Runtime,
    client: &'a Client,
    policy: &'a RetryPolicy,
}

impl InsertContext<'_> {
    /// Inserts `rows` into `table` (see [`WarehouseHandler::insert_batch`]) and empties them.
    fn table<T: RowOwned + RowWrite + PartitionTime + Clone>(
        &self,
        table: &str,
        rows: &mut Vec<T>,
        sources: &mut Vec<(i32, i64)>,
        topic: &Arc<str>,
        dead: &mut Vec<DeadLetter>,
    ) -> Result<(), WarehouseError> {
        if rows.is_empty() {
            return Ok(());
        }
        let done = isolate(
            rows,
            MAX_REFUSED_PER_TABLE,
            |chunk| self.runtime.block_on(insert_with_retries(self.client, table, chunk, self.policy)),
            |e| matches!(e, WarehouseError::InsertRefused { .. }),
        )?;
        for (index, e) in done.refused {
            metrics::counter!("friction_warehouse_rows_refused_total", "table" => table.to_string()).increment(1);
            let (partition, offset) = sources.get(index).copied().unwrap_or((0, -1));
            // The row, not the message, is what is at hand: the dead letter names where the
            // message is (its topic keeps it for days) and carries no payload.
            dead.push(DeadLetter {
                topic: topic.clone(),
                partition,
                offset,
                key: None,
                payload: Vec::new(),
                error: e.to_string(),
            });
        }
        rows.clear();
        sources.clear();
        Ok(())
    }
}

/// `migrate`, retried like an insert.
async fn migrate_with_retries(client: &Client, database: &str, policy: &RetryPolicy) -> Result<(), WarehouseError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match crate::migrate(client, database).await {
            Ok(_) => return Ok(()),
            Err(e @ WarehouseError::ClickHouse { .. }) if attempt <= policy.max_retries => {
                tracing::warn!(error = %e, attempt, "creating the warehouse tables failed; retrying");
                tokio::time::sleep(policy.backoff(attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

impl StageHandler for WarehouseHandler {
    fn on_message(
        &mut self,
        partition: i32,
        offset: i64,
        _key: Option<&[u8]>,
        payload: &[u8],
        _now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        self.add_from(partition, offset, payload)?;
        if self.failed.is_none() && self.batch.bytes >= self.max_bytes {
            // Inserted now, committed at the next cycle: the order the contract needs. A failure
            // (after every retry) is reported by the next `persist`, which stops the stage.
            if let Err(e) = self.flush() {
                self.failed = Some(e);
            }
        }
        Ok(())
    }

    fn persist(&mut self, out: &mut Outputs) -> Result<(), String> {
        if let Some(e) = self.failed.take() {
            return Err(e.to_string());
        }
        let flushed = self.flush().map_err(|e| e.to_string());
        for letter in self.refused.drain(..) {
            out.dead_letter(letter);
        }
        flushed
    }
}

/// Batch limits. The runtime's commit cycle closes a batch after `max_rows` messages or
/// `max_time`; `max_bytes` closes it early inside the cycle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchLimits {
    /// Messages per batch, all tables together (default 50,000).
    pub max_rows: usize,
    /// Approximate bytes per batch, counted as encoded input (default 16 MiB).
    pub max_bytes: usize,
    /// Longest a row waits for its insert (default 1 s).
    pub max_time: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { max_rows: 50_000, max_bytes: 16 * 1024 * 1024, max_time: Duration::from_secs(1) }
    }
}

/// The four input topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarehouseTopics {
    pub sessionized: String,
    pub sessions: String,
    pub signals: String,
    pub incidents: String,
}

impl Default for WarehouseTopics {
    fn default() -> Self {
        use friction_runtime::topics;
        WarehouseTopics {
            sessionized: topics::SESSIONIZED.into(),
            sessions: topics::SESSIONS.into(),
            signals: topics::SIGNALS.into(),
            incidents: topics::INCIDENTS.into(),
        }
    }
}

impl WarehouseConfig {
    /// The runtime settings of the warehouse stage: stateless, four inputs, commit cycle = batch.
    pub fn stage_config(&self, group: impl Into<String>) -> StageConfig {
        let t = &self.topics;
        let mut stage = StageConfig::new(
            group,
            vec![t.sessionized.clone(), t.sessions.clone(), t.signals.clone(), t.incidents.clone()],
        );
        stage.commit_max_messages = self.batch.max_rows.max(1);
        stage.commit_interval = self.batch.max_time;
        stage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClickHouseConfig;
    use friction_schemas::{encode_to_vec, ApiKeyRecord};

    fn handler() -> WarehouseHandler {
        // No I/O until the first insert, so any address will do.
        WarehouseHandler::new(&WarehouseConfig::new(ClickHouseConfig::new("http://127.0.0.1:9"))).expect("handler")
    }

    #[test]
    fn records_go_to_their_table_by_writer_schema() {
        let mut h = handler();
        let mut e = Sessionized::default();
        e.event.event_id = "e1".into();
        h.add(&encode_to_vec(&e).expect("encode")).expect("event");
        let s = SessionSummary { session_key: "s#1".into(), ..SessionSummary::default() };
        h.add(&encode_to_vec(&s).expect("encode")).expect("session");
        let g = SignalRecord { id: "g1".into(), ..SignalRecord::default() };
        h.add(&encode_to_vec(&g).expect("encode")).expect("signal");
        let i = IncidentChange { id: "i1".into(), version: 3, ..IncidentChange::default() };
        h.add(&encode_to_vec(&i).expect("encode")).expect("incident");
        assert_eq!(h.batch.events.len(), 1);
        assert_eq!(h.batch.events[0].event_id, "e1");
        assert_eq!(h.batch.sessions[0].session_key, "s#1");
        assert_eq!(h.batch.signals[0].signal_id, "g1");
        assert_eq!((h.batch.incidents[0].incident_id.as_str(), h.batch.incidents[0].version), ("i1", 3));
        assert_eq!(h.buffered_rows(), 4);
        assert!(h.batch.bytes > 40);
    }

    #[test]
    fn what_cannot_be_stored_is_refused_with_a_reason() {
        let mut h = handler();
        assert!(h.add(b"short").expect_err("refused").contains("no single-object header"));
        assert!(h
            .add(&[0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0])
            .expect_err("refused")
            .contains("not one of the embedded"));
        let key = ApiKeyRecord {
            key_hash: "h".into(),
            key_id: "k".into(),
            project_id: "p".into(),
            project_name: "p".into(),
            revoked: false,
            allowed_origins: Vec::new(),
            rate_limit_per_sec: None,
            updated_at: 0,
            mac: None,
        };
        let err = h.add(&encode_to_vec(&key).expect("encode")).expect_err("refused");
        assert!(err.contains("does not store"), "{err}");
        let mut bad = encode_to_vec(&SignalRecord::default()).expect("encode");
        bad.truncate(12);
        assert!(h.add(&bad).is_err(), "a truncated datum is refused");
        assert_eq!(h.buffered_rows(), 0);
    }

    #[test]
    fn the_stage_config_is_the_batch() {
        let mut c = WarehouseConfig::new(ClickHouseConfig::new("http://127.0.0.1:9"));
        c.batch = BatchLimits { max_rows: 1234, max_bytes: 1, max_time: Duration::from_millis(1500) };
        let s = c.stage_config("g");
        assert_eq!(s.input_topics.len(), 4);
        assert_eq!(s.commit_max_messages, 1234);
        assert_eq!(s.commit_interval, Duration::from_millis(1500));
        assert!(s.changelog_topic.is_none(), "stateless");
    }
}
