//! The detector stage handler: a thin adapter that runs one [`PartitionDetector`] per assigned
//! partition on the stateful stage runtime, sends the episode records it judges to the signals
//! topic and its state changes to the changelog.

use std::collections::HashMap;

use friction_runtime::stage::{Outputs, StageHandler};
use friction_schemas::sessionized::Sessionized;
use friction_schemas::{decode, encode_to_vec};

use crate::config::DetectorConfig;
use crate::partition::PartitionDetector;
use crate::rules_file::RulesByProject;

/// The detector stage handler: one [`PartitionDetector`] per assigned partition.
pub struct DetectorHandler {
    config: DetectorConfig,
    rules: RulesByProject,
    partitions: HashMap<i32, PartitionDetector>,
}

impl DetectorHandler {
    pub fn new(config: DetectorConfig, rules: RulesByProject) -> Self {
        DetectorHandler { config, rules, partitions: HashMap::new() }
    }

    /// Judges the partition and sends what it publishes. `at_end`: the partition is read to its
    /// end, so quiet wall-clock time counts (see [`PartitionDetector::judge_reading`]).
    fn emit(&mut self, partition: i32, now_ms: i64, at_end: bool, out: &mut Outputs) {
        let Some(p) = self.partitions.get_mut(&partition) else { return };
        let judged = if at_end {
            p.judge(now_ms, &self.config, &self.rules)
        } else {
            p.judge_reading(now_ms, &self.config, &self.rules)
        };
        let c = judged.corrections;
        metrics::counter!("friction_detector_records_total", "sort" => "new").increment(u64::from(c.new));
        metrics::counter!("friction_detector_records_total", "sort" => "updated").increment(u64::from(c.updated));
        metrics::counter!("friction_detector_records_total", "sort" => "retracted").increment(u64::from(c.retracted));
        for reason in judged.suppressed {
            metrics::counter!("friction_detector_suppressed_total", "reason" => reason).increment(1);
        }
        for record in judged.signals {
            if record.version == 1 {
                metrics::counter!("friction_detector_signals_total", "kind" => record.kind.clone()).increment(1);
            }
            match encode_to_vec(&record) {
                Ok(bytes) => out.send(&self.config.signals_topic, record.fingerprint.clone(), bytes),
                Err(e) => tracing::error!(error = %e, signal = %record.id, "could not encode a signal"),
            }
        }
    }
}

impl StageHandler for DetectorHandler {
    fn on_message(
        &mut self,
        partition: i32,
        _offset: i64,
        _key: Option<&[u8]>,
        payload: &[u8],
        now_ms: i64,
        _out: &mut Outputs,
    ) -> Result<(), String> {
        let s: Sessionized<'static> = decode(payload).map_err(|e| format!("not a sessionized event: {e}"))?;
        self.partitions.entry(partition).or_default().ingest(&s, now_ms);
        Ok(())
    }

    fn on_tick(&mut self, partition: i32, now_ms: i64, out: &mut Outputs) {
        self.emit(partition, now_ms, true, out);
    }

    fn flush_state(&mut self, out: &mut Outputs) {
        let partitions: Vec<i32> = self.partitions.keys().copied().collect();
        for p in partitions {
            // The partition's clocks move by event time alone here: wall-clock idleness only
            // counts for a partition read to its end, which is what `on_tick` is called for. A
            // commit cycle also runs in the middle of a backlog, where a pause in reading is not
            // a quiet partition (advancing then would judge windows whose next events are
            // already waiting in the topic).
            self.emit(p, friction_runtime::now_ms(), false, out);
            if let Some(det) = self.partitions.get_mut(&p) {
                for (key, value) in det.take_changes() {
                    match value {
                        Some(v) => out.put_state(p, key, v),
                        None => out.delete_state(p, key),
                    }
                }
            }
        }
    }

    fn restore(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) -> Result<(), String> {
        let key = std::str::from_utf8(key).map_err(|e| format!("state key is not UTF-8: {e}"))?;
        self.partitions.entry(partition).or_default().restore(key, value)
    }

    fn revoke(&mut self, partition: i32) {
        self.partitions.remove(&partition);
    }

    fn state_stats(&self) -> (usize, usize) {
        let sessions = self.partitions.values().map(|p| p.open_sessions()).sum();
        let bytes = self.partitions.values().map(|p| p.approx_bytes()).sum();
        (sessions, bytes)
    }
}
