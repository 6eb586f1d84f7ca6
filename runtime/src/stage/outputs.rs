//! What a handler produces while it processes a message or a tick: output records and state
//! changes, copied into buffers the stage reuses.

use std::sync::Arc;

/// One record a handler wants produced: its key and payload are ranges of [`Outputs`]' buffer.
#[derive(Debug, Clone)]
struct OutRecord {
    topic: Arc<str>,
    key: std::ops::Range<usize>,
    payload: std::ops::Range<usize>,
}

/// What a handler produces while processing: output records and state changes.
///
/// Output keys and payloads are appended to one buffer that the stage reuses from message to
/// message (librdkafka copies each record when it is enqueued), so producing an output allocates
/// nothing once the buffer has grown to a message's outputs.
#[derive(Debug, Default)]
pub struct Outputs {
    records: Vec<OutRecord>,
    bytes: Vec<u8>,
    state: StateWrites,
    /// Input messages a handler accepted earlier and found it cannot store after all (rare: owned
    /// copies, no reuse).
    dead_letters: Vec<DeadLetter>,
}

/// An input message a handler gives up on after accepting it (its store refused it in `persist`):
/// the runtime sends it to the dead-letter topic like a message `on_message` refused, with the same
/// headers (docs/architecture.md §5 "Dead letters").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Where the message was read: topic, partition, offset.
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    /// Why: the `error` header.
    pub error: String,
}

/// State changes a handler recorded since the last commit boundary: keys and values copied into one
/// buffer (one allocation per commit cycle, not two per write), in the order they were recorded.
#[derive(Debug, Default)]
pub(super) struct StateWrites {
    bytes: Vec<u8>,
    /// (partition, key, value; `None`: a tombstone) as ranges of `bytes`.
    entries: Vec<(i32, std::ops::Range<usize>, Option<std::ops::Range<usize>>)>,
}

impl StateWrites {
    fn push(&mut self, partition: i32, key: &[u8], value: Option<&[u8]>) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let key = start..self.bytes.len();
        let value = value.map(|v| {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(v);
            start..self.bytes.len()
        });
        self.entries.push((partition, key, value));
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (i32, &[u8], Option<&[u8]>)> + '_ {
        self.entries.iter().map(|(p, k, v)| (*p, &self.bytes[k.clone()], v.clone().map(|v| &self.bytes[v])))
    }
}

impl Outputs {
    pub fn send(&mut self, topic: &Arc<str>, key: impl AsRef<[u8]>, payload: impl AsRef<[u8]>) {
        let copied: Result<(), std::convert::Infallible> = self.send_with(topic, key.as_ref(), |out| {
            out.extend_from_slice(payload.as_ref());
            Ok(())
        });
        let Ok(()) = copied;
    }
    /// Like [`Self::send`], with the payload written by `write` straight into the outputs' buffer
    /// (`write` must only append to the `Vec` it is given). When it fails, nothing is added.
    pub fn send_with<E>(
        &mut self,
        topic: &Arc<str>,
        key: &[u8],
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let mid = self.bytes.len();
        match write(&mut self.bytes) {
            Ok(()) if self.bytes.len() >= mid => {
                self.records.push(OutRecord { topic: topic.clone(), key: start..mid, payload: mid..self.bytes.len() });
                Ok(())
            }
            result => {
                self.bytes.truncate(start);
                result
            }
        }
    }
    /// Records the new state of `key` in `partition` (written to the changelog at the next commit).
    /// Both are copied, so a handler can hand out bytes from a buffer it reuses.
    pub fn put_state(&mut self, partition: i32, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.state.push(partition, key.as_ref(), Some(value.as_ref()));
    }
    /// Records that `key` has no state any more (a tombstone in the changelog).
    pub fn delete_state(&mut self, partition: i32, key: impl AsRef<[u8]>) {
        self.state.push(partition, key.as_ref(), None);
    }
    /// Dead-letters an input message the handler accepted earlier (see [`DeadLetter`]); the runtime
    /// sends it with the outputs, before the offsets past it are committed.
    pub fn dead_letter(&mut self, message: DeadLetter) {
        self.dead_letters.push(message);
    }
    /// The dead letters recorded since the runtime last took them (tests that drive a handler
    /// directly read them too).
    pub fn dead_letters(&self) -> &[DeadLetter] {
        &self.dead_letters
    }
    pub(super) fn take_dead_letters(&mut self) -> Vec<DeadLetter> {
        std::mem::take(&mut self.dead_letters)
    }
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// The output records so far: (topic, key, payload). What the stage enqueues after each
    /// message; tests that drive a handler directly read them too.
    #[doc(hidden)]
    pub fn records(&self) -> impl Iterator<Item = (&str, &[u8], &[u8])> + '_ {
        self.records.iter().map(|r| {
            let (key, payload) = (self.bytes.get(r.key.clone()), self.bytes.get(r.payload.clone()));
            (&*r.topic, key.unwrap_or_default(), payload.unwrap_or_default())
        })
    }
    /// Forgets the output records, keeping the buffer's memory: what the stage does once it has
    /// enqueued them after each message (benches that drive a handler without a broker do too).
    #[doc(hidden)]
    pub fn clear_records(&mut self) {
        self.records.clear();
        self.bytes.clear();
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty() && self.state.is_empty() && self.dead_letters.is_empty()
    }
    /// The state changes recorded since the last call (a commit cycle's boundary).
    pub(super) fn take_state(&mut self) -> StateWrites {
        std::mem::take(&mut self.state)
    }
    /// Gives the buffer's memory back after an unusually large batch (a flush, a tick); call once
    /// the records are cleared.
    pub(super) fn shrink_after_large_batch(&mut self) {
        if self.bytes.capacity() > 1 << 20 {
            self.bytes = Vec::new();
            self.records = Vec::new();
        }
    }
}
