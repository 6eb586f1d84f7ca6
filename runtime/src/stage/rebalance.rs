//! The consumer context: a commit cycle and the handler's `revoke` when partitions are revoked,
//! the restore of their state when partitions are assigned.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::core::{lock, Core};
use super::handler::StageHandler;

/// The consumer context: runs the commit cycle and the state hand-over inside rebalances.
pub struct StageContext<H: StageHandler> {
    pub(super) core: Arc<Mutex<Core<H>>>,
}

impl<H: StageHandler> ClientContext for StageContext<H> {
    fn error(&self, error: KafkaError, reason: &str) {
        // Reaching a partition's end is how ticks are gated, not an error.
        if !matches!(error, KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)) {
            tracing::error!(error = %error, reason, "librdkafka error");
        }
    }
}

impl<H: StageHandler> ConsumerContext for StageContext<H> {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let mut core = lock(&self.core);
            if core.fatal.is_some() {
                return;
            }
            if let Err(e) = core.commit_cycle(consumer) {
                tracing::error!(error = %e, "commit before revocation failed");
                core.fatal = Some(e);
                return;
            }
            for elem in tpl.elements() {
                let p = elem.partition();
                core.assigned.remove(&(elem.topic().to_string(), p));
                core.skip_below.remove(&p);
                core.handler.revoke(p);
                lock(&core.committed).remove(&(elem.topic().to_string(), p));
                tracing::info!(stage = %core.config.name, topic = elem.topic(), partition = p, "partition revoked");
            }
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            let mut core = lock(&self.core);
            if core.fatal.is_some() {
                return;
            }
            let partitions: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
            if let Err(e) = core.restore_partitions(&partitions) {
                tracing::error!(error = %e, "restore failed");
                core.fatal = Some(e);
                return;
            }
            // Where input resumes (for diagnosis: the committed offset, or none).
            let committed = consumer.committed_offsets((*tpl).clone(), Duration::from_secs(10)).ok();
            for elem in tpl.elements() {
                // No ticks until the partition has been read to its end.
                core.at_end.remove(&elem.partition());
                core.assigned.insert((elem.topic().to_string(), elem.partition()));
                let resume = committed
                    .as_ref()
                    .and_then(|c| c.find_partition(elem.topic(), elem.partition()))
                    .map(|e| format!("{:?}", e.offset()));
                tracing::info!(stage = %core.config.name, topic = elem.topic(), partition = elem.partition(), committed = resume.as_deref().unwrap_or("?"), "partition assigned");
            }
        }
    }
}
