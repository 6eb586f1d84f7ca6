//! Where accepted events go. `KafkaSink` encodes each event as Avro and enqueues it in request order
//! (librdkafka keeps per-partition order by call order), then waits for every acknowledgement:
//! the batch succeeds only if the broker took all of it.

use std::sync::Mutex;
use std::time::Instant;

use futures::future::BoxFuture;
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use friction_schemas::{encode, RawEvent};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SinkError {
    /// The broker (or the producer queue) could not take the batch now; the client should retry.
    #[error("the event broker cannot take the batch now: {0}")]
    Unavailable(String),
    /// One event is larger than the broker accepts.
    #[error("event {index} is larger than the broker accepts ({bytes} bytes encoded)")]
    TooLarge { index: usize, bytes: usize },
    #[error("event {index} could not be encoded: {message}")]
    Encode { index: usize, message: String },
}

pub trait EventSink: Send + Sync + 'static {
    /// Delivers every event or fails; on failure some events may have been delivered (the client's
    /// retry is deduplicated downstream by event id).
    fn send_batch<'a>(&'a self, topic: &'a str, events: &'a [RawEvent<'a>]) -> BoxFuture<'a, Result<(), SinkError>>;
}

pub struct KafkaSink {
    producer: FutureProducer,
    max_message_bytes: usize,
}

impl KafkaSink {
    pub fn new(producer: FutureProducer, max_message_bytes: usize) -> Self {
        KafkaSink { producer, max_message_bytes }
    }

    pub fn producer(&self) -> &FutureProducer {
        &self.producer
    }
}

fn classify(error: &KafkaError, index: usize, bytes: usize) -> SinkError {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::MessageSizeTooLarge) => SinkError::TooLarge { index, bytes },
        _ => SinkError::Unavailable(error.to_string()),
    }
}

impl EventSink for KafkaSink {
    fn send_batch<'a>(&'a self, topic: &'a str, events: &'a [RawEvent<'a>]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let started = Instant::now();
            let mut deliveries = Vec::with_capacity(events.len());
            let mut sizes = Vec::with_capacity(events.len());
            let mut buf = Vec::with_capacity(512);
            let mut key = String::with_capacity(64);
            for (index, event) in events.iter().enumerate() {
                buf.clear();
                encode(event, &mut buf).map_err(|e| SinkError::Encode { index, message: e.to_string() })?;
                if buf.len() > self.max_message_bytes {
                    return Err(SinkError::TooLarge { index, bytes: buf.len() });
                }
                key.clear();
                key.push_str(&event.project_id);
                key.push(':');
                key.push_str(&event.session_id);
                // librdkafka copies key and payload, so the buffers are reused for the next event.
                let record = FutureRecord::to(topic).key(key.as_str()).payload(buf.as_slice());
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        sizes.push(buf.len());
                    }
                    Err((e, _)) => return Err(classify(&e, index, buf.len())),
                }
            }
            let results = futures::future::join_all(deliveries).await;
            let mut outcome = Ok(());
            for (index, result) in results.into_iter().enumerate() {
                let err = match result {
                    Ok(Ok(_)) => continue,
                    Ok(Err((e, _))) => classify(&e, index, sizes[index]),
                    Err(_canceled) => SinkError::Unavailable("producer shut down before delivery".into()),
                };
                // A too-large event is the more specific answer; keep the first of those.
                if outcome.is_ok()
                    || matches!(err, SinkError::TooLarge { .. }) && !matches!(outcome, Err(SinkError::TooLarge { .. }))
                {
                    outcome = Err(err);
                }
            }
            metrics::histogram!("friction_gateway_produce_seconds").record(started.elapsed().as_secs_f64());
            outcome
        })
    }
}

impl Drop for KafkaSink {
    fn drop(&mut self) {
        // Deliver what is queued before the process exits (graceful shutdown).
        let _ = self.producer.flush(std::time::Duration::from_secs(5));
    }
}

/// A sink that keeps decoded copies in memory: for router tests that look at what was produced.
#[derive(Default)]
pub struct MemorySink {
    pub events: Mutex<Vec<(String, RawEvent<'static>)>>,
}

impl EventSink for MemorySink {
    fn send_batch<'a>(&'a self, topic: &'a str, events: &'a [RawEvent<'a>]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let mut buf = Vec::new();
            let mut decoded = Vec::with_capacity(events.len());
            for (index, event) in events.iter().enumerate() {
                buf.clear();
                encode(event, &mut buf).map_err(|e| SinkError::Encode { index, message: e.to_string() })?;
                let back: RawEvent<'static> =
                    friction_schemas::decode(&buf).map_err(|e| SinkError::Encode { index, message: e.to_string() })?;
                decoded.push((topic.to_string(), back));
            }
            if let Ok(mut stored) = self.events.lock() {
                stored.extend(decoded);
            }
            Ok(())
        })
    }
}
