//! Finding the records a store refuses in a batch it refused (docs/architecture.md §5 "Dead
//! letters"): a sink writes its batch in one go; when the store refuses it because of what some
//! record holds, the batch is split in halves and each half written on its own, down to single
//! records, so the good records are written and only the refused ones come back, to be
//! dead-lettered. A batch the store takes costs exactly the one write it costs without this.
//!
//! The writes are passed in (`write` does the I/O and its own retries of transient failures); the
//! splitting is all this module decides.

use std::sync::Arc;

use crate::stage::DeadLetter;

/// Where each message of a sink's batch was read, and its key and payload as read (copied into
/// one buffer reused from batch to batch), so that a record the store refuses later can be
/// dead-lettered as it came. The happy path costs one copy of each message into the buffer.
#[derive(Debug)]
pub struct Sources {
    topic: Arc<str>,
    entries: Vec<SourceEntry>,
    raw: Vec<u8>,
}

#[derive(Debug)]
struct SourceEntry {
    partition: i32,
    offset: i64,
    key: Option<std::ops::Range<usize>>,
    payload: std::ops::Range<usize>,
}

impl Sources {
    /// For messages read from `topic` (the dead letters' `source.topic`).
    pub fn new(topic: Arc<str>) -> Self {
        Sources { topic, entries: Vec::new(), raw: Vec::new() }
    }

    /// Remembers the next message of the batch.
    pub fn push(&mut self, partition: i32, offset: i64, key: Option<&[u8]>, payload: &[u8]) {
        let key = key.map(|k| {
            let start = self.raw.len();
            self.raw.extend_from_slice(k);
            start..self.raw.len()
        });
        let start = self.raw.len();
        self.raw.extend_from_slice(payload);
        self.entries.push(SourceEntry { partition, offset, key, payload: start..self.raw.len() });
    }

    /// The message at `index` of the batch as a dead letter with `error`.
    pub fn dead_letter(&self, index: usize, error: String) -> Option<DeadLetter> {
        let e = self.entries.get(index)?;
        Some(DeadLetter {
            topic: self.topic.clone(),
            partition: e.partition,
            offset: e.offset,
            key: e.key.clone().and_then(|k| self.raw.get(k)).map(<[u8]>::to_vec),
            payload: self.raw.get(e.payload.clone()).map(<[u8]>::to_vec).unwrap_or_default(),
            error,
        })
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets the batch, keeping the buffer unless it grew unusually large.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.raw.clear();
        if self.raw.capacity() > 16 << 20 {
            self.raw = Vec::new();
        }
    }
}

/// What [`isolate`] did with a batch.
#[derive(Debug, PartialEq)]
pub struct Isolated<R, E> {
    /// What each successful write returned, in input order.
    pub written: Vec<R>,
    /// The index in the batch and the store's error of each record refused on its own, in order.
    pub refused: Vec<(usize, E)>,
}

/// Writes `items` with `write`; when it fails with an error `refused_content` says was caused by
/// the records' content, splits the batch in halves and writes each half the same way, down to
/// single records. Any other error stops everything and is returned (what was written so far
/// stays written: each write is one transaction, and the caller commits no offset after an error).
/// More than `max_refused` refused records also stop it, with the last refusal: a store refusing
/// that many is likely not refusing records but broken, and splitting a large batch down to every
/// single record would take thousands of writes.
pub fn isolate<T, R, E>(
    items: &[T],
    max_refused: usize,
    mut write: impl FnMut(&[T]) -> Result<R, E>,
    refused_content: impl Fn(&E) -> bool,
) -> Result<Isolated<R, E>, E> {
    let mut done = Isolated { written: Vec::new(), refused: Vec::new() };
    // Ranges still to write, the next one last.
    let mut todo: Vec<std::ops::Range<usize>> = Vec::with_capacity(16);
    todo.push(0..items.len());
    while let Some(range) = todo.pop() {
        if range.is_empty() {
            continue;
        }
        let Some(chunk) = items.get(range.clone()) else { continue };
        match write(chunk) {
            Ok(r) => done.written.push(r),
            Err(e) if !refused_content(&e) => return Err(e),
            Err(e) if range.len() == 1 => {
                if done.refused.len() >= max_refused {
                    return Err(e);
                }
                done.refused.push((range.start, e));
            }
            Err(_) => {
                let mid = range.start + range.len() / 2;
                todo.push(mid..range.end);
                todo.push(range.start..mid);
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Fail {
        Refused(u32),
        Down,
    }

    type Outcome = Result<Isolated<Vec<u32>, Fail>, Fail>;

    /// A store that refuses any chunk holding a multiple of 7 (or `down` at write number `down_at`);
    /// returns the result and the chunks it was asked to write.
    fn run(items: &[u32], max_refused: usize, down_at: Option<usize>) -> (Outcome, Vec<Vec<u32>>) {
        let mut calls = Vec::new();
        let result = isolate(
            items,
            max_refused,
            |chunk: &[u32]| {
                calls.push(chunk.to_vec());
                if down_at == Some(calls.len()) {
                    return Err(Fail::Down);
                }
                match chunk.iter().find(|v| *v % 7 == 0) {
                    Some(v) => Err(Fail::Refused(*v)),
                    None => Ok(chunk.to_vec()),
                }
            },
            |e| matches!(e, Fail::Refused(_)),
        );
        (result, calls)
    }

    #[test]
    fn a_batch_the_store_takes_is_written_once() {
        let items: Vec<u32> = (1..=6).collect();
        let (result, calls) = run(&items, 100, None);
        let done = result.expect("written");
        assert_eq!(calls, vec![items.clone()]);
        assert_eq!(done.written, vec![items]);
        assert!(done.refused.is_empty());
    }

    #[test]
    fn the_refused_records_are_found_and_every_other_one_is_written_in_order() {
        let items: Vec<u32> = (1..=20).collect();
        let (result, calls) = run(&items, 100, None);
        let done = result.expect("isolated");
        let written: Vec<u32> = done.written.into_iter().flatten().collect();
        let expected: Vec<u32> = items.iter().copied().filter(|v| v % 7 != 0).collect();
        assert_eq!(written, expected);
        assert_eq!(done.refused, vec![(6, Fail::Refused(7)), (13, Fail::Refused(14))]);
        // Two refused among 20: a few writes per refused record, not one per record.
        assert!(calls.len() <= 2 * 2 * 5 + 1, "{} writes", calls.len());
    }

    #[test]
    fn a_single_refused_record_comes_back_after_one_write() {
        let (result, calls) = run(&[7], 100, None);
        assert_eq!(result.expect("isolated").refused, vec![(0, Fail::Refused(7))]);
        assert_eq!(calls.len(), 1);
    }

    #[test]
    fn an_error_that_is_not_the_records_stops_the_isolation() {
        let items: Vec<u32> = (1..=20).collect();
        let (result, calls) = run(&items, 100, Some(2));
        assert_eq!(result.expect_err("stopped"), Fail::Down);
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn too_many_refused_records_stop_it() {
        let items: Vec<u32> = (1..=50).collect();
        let (result, _) = run(&items, 3, None);
        assert_eq!(result.expect_err("stopped"), Fail::Refused(28));
        let (result, _) = run(&items, 7, None);
        assert_eq!(result.expect("seven refused").refused.len(), 7);
    }

    #[test]
    fn sources_give_back_each_message_as_read() {
        let mut sources = Sources::new(Arc::from("in"));
        sources.push(2, 40, Some(b"k1"), b"payload-1");
        sources.push(3, 7, None, b"p2");
        assert_eq!(sources.len(), 2);
        let d = sources.dead_letter(1, "why".into()).expect("second");
        assert_eq!(
            (&*d.topic, d.partition, d.offset, d.key, d.payload.as_slice(), d.error.as_str()),
            ("in", 3, 7, None, &b"p2"[..], "why")
        );
        let d = sources.dead_letter(0, "e".into()).expect("first");
        assert_eq!((d.key.as_deref(), d.payload.as_slice()), (Some(&b"k1"[..]), &b"payload-1"[..]));
        assert!(sources.dead_letter(2, "e".into()).is_none());
        sources.clear();
        assert!(sources.is_empty());
    }

    #[test]
    fn an_empty_batch_writes_nothing() {
        let (result, calls) = run(&[], 100, None);
        assert!(result.expect("nothing").written.is_empty());
        assert!(calls.is_empty());
    }
}
