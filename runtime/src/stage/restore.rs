//! A partition's state restored from its changelog partition when the partition is assigned, and
//! the changelog's reserved keys (the offset marker, the restore sentinel).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::core::Core;
use super::handler::{StageError, StageHandler};
use crate::kafka::reader_config;

/// The changelog key under which the runtime stores, per partition, the next input offset whose
/// effects are not yet in the state. Handlers never see it.
pub const OFFSET_MARKER_KEY: &[u8] = b"\0friction.offset";

/// The changelog key of the record a restore appends and reads up to (see
/// `Core::restore_partitions` below). Handlers never see it.
pub const RESTORE_SENTINEL_KEY: &[u8] = b"\0friction.restore";

/// A value no other restore writes: process id, wall-clock nanoseconds, partition and a counter.
fn restore_sentinel(partition: i32) -> Vec<u8> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut v = Vec::with_capacity(28);
    v.extend_from_slice(&std::process::id().to_be_bytes());
    v.extend_from_slice(&nanos.to_be_bytes());
    v.extend_from_slice(&partition.to_be_bytes());
    v.extend_from_slice(&COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes());
    v
}

impl<H: StageHandler> Core<H> {
    /// Reads the changelog partitions of `partitions` into the handler, each up to its real end.
    ///
    /// The end is not taken from the broker's high watermark (ListOffsets): a restarted stage may
    /// start while its dead predecessor's last writes are still being appended, and a broker may
    /// answer ListOffsets from a view that lags. Instead the stage appends to each partition a
    /// sentinel record with a value unique to this restore, waits for the acknowledgements, and
    /// reads each partition until it sees its sentinel: everything appended before it — every
    /// acknowledged write of any earlier owner — is then in the restored state. All partitions are
    /// read by one reader at once (a rebalance restores them in one round trip, not one by one).
    pub(super) fn restore_partitions(&mut self, partitions: &BTreeSet<i32>) -> Result<(), StageError> {
        let Some(changelog) = self.changelog_topic.clone() else {
            return Ok(());
        };
        if partitions.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let stage = self.config.name.clone();
        let fail = |partition: i32, detail: String| StageError::Restore {
            stage: stage.clone(),
            topic: changelog.to_string(),
            partition,
            detail,
        };
        // Partition → (its sentinel, records restored, offset markers read).
        let mut pending: BTreeMap<i32, (Vec<u8>, u64, u64)> = BTreeMap::new();
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            let sentinel = restore_sentinel(p);
            self.enqueue(&changelog, RESTORE_SENTINEL_KEY, Some(&sentinel), Some(p), None)?;
            pending.insert(p, (sentinel, 0, 0));
            tpl.add_partition_offset(&changelog, p, Offset::Beginning)?;
        }
        self.flush_producer("the restore sentinels")?;

        let reader: BaseConsumer = reader_config(&self.kafka)?.create()?;
        reader.assign(&tpl)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        while let Some((&first, _)) = pending.first_key_value() {
            if Instant::now() > deadline {
                return Err(fail(
                    first,
                    "the sentinel written at the start of the restore was not read back within 120 s".into(),
                ));
            }
            let Some(result) = reader.poll(Duration::from_millis(100)) else { continue };
            let msg = result.map_err(|e| fail(first, e.to_string()))?;
            let partition = msg.partition();
            // A partition already restored: what follows its sentinel is not ours to read.
            let Some(entry) = pending.get_mut(&partition) else { continue };
            let key = msg.key().unwrap_or(&[]);
            if key == RESTORE_SENTINEL_KEY {
                if msg.payload() == Some(&entry.0[..]) {
                    let (_, records, markers) = entry.clone();
                    pending.remove(&partition);
                    self.handler.restored(partition, crate::now_ms());
                    let took = started.elapsed();
                    metrics::histogram!("friction_stage_restore_seconds", "stage" => self.stage())
                        .record(took.as_secs_f64());
                    tracing::info!(
                        stage = %self.config.name,
                        partition,
                        records,
                        markers,
                        sentinel_offset = msg.offset(),
                        next_offset_marker = self.skip_below.get(&partition).copied(),
                        ms = took.as_millis() as u64,
                        "partition state restored"
                    );
                }
                continue;
            }
            if key == OFFSET_MARKER_KEY {
                if let Some(bytes) = msg.payload().and_then(|p| <[u8; 8]>::try_from(p).ok()) {
                    self.skip_below.insert(partition, i64::from_be_bytes(bytes));
                }
                entry.2 += 1;
            } else {
                entry.1 += 1;
                self.handler.restore(partition, key, msg.payload()).map_err(|e| fail(partition, e))?;
            }
        }
        Ok(())
    }
}
