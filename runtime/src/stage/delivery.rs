//! The producer's delivery callback: failed deliveries, and records not yet acknowledged per epoch
//! (see the epochs in the [module doc](super)).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::producer::{DeliveryResult, ProducerContext};

/// How many epochs' acknowledgements are counted at once (see the module doc). Far more than the
/// stage ever has in flight (each pending cycle spans two epochs).
pub(super) const EPOCH_SLOTS: usize = 64;

/// Counts delivery failures so a commit cycle can refuse to commit past lost output, and the
/// records not yet acknowledged per epoch (the delivery opaque is the epoch number).
pub struct DeliveryTracker {
    pub(super) failures: AtomicU64,
    pub(super) last_error: Mutex<Option<String>>,
    outstanding: [AtomicU64; EPOCH_SLOTS],
}

impl Default for DeliveryTracker {
    fn default() -> Self {
        DeliveryTracker {
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            outstanding: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl DeliveryTracker {
    pub(super) fn slot(&self, epoch: u64) -> &AtomicU64 {
        &self.outstanding[(epoch % EPOCH_SLOTS as u64) as usize]
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;
    fn delivery(&self, result: &DeliveryResult<'_>, epoch: usize) {
        if let Err((e, _)) = result {
            self.failures.fetch_add(1, Ordering::SeqCst);
            if let Ok(mut last) = self.last_error.lock() {
                *last = Some(e.to_string());
            }
        }
        // After the failure count: a cycle that sees its epoch drained also sees its failures.
        self.slot(epoch as u64).fetch_sub(1, Ordering::SeqCst);
    }
}
