//! Helpers shared by the sessionizer tests.
#![allow(dead_code)]

use std::collections::BTreeMap;

use friction_schemas::event::{LogLine, Navigation};
use friction_schemas::{RawEvent, SessionSummary, Sessionized};
use friction_sessionizer::{Emitted, Ingested, PartitionState, SessionizerConfig};

pub const SEC: i64 = 1_000;
pub const MIN: i64 = 60 * SEC;

/// An event of session `session` in project `p`.
pub fn ev(session: &str, id: &str, ts: i64, event_type: &str) -> RawEvent<'static> {
    RawEvent {
        project_id: "p".into(),
        session_id: session.to_owned().into(),
        event_id: id.to_owned().into(),
        event_type: event_type.to_owned().into(),
        timestamp: ts,
        client_timestamp: ts,
        received_at: ts,
        metadata: "{}".into(),
        ..RawEvent::default()
    }
}

pub fn pageview(session: &str, id: &str, ts: i64, route: &str) -> RawEvent<'static> {
    RawEvent {
        route: Some(route.to_owned().into()),
        navigation: Some(Navigation { from: None, to: Some(route.to_owned().into()), kind: "push".into() }),
        ..ev(session, id, ts, "pageview")
    }
}

pub fn log_line(service: &str, id: &str, ts: i64, level: &str) -> RawEvent<'static> {
    RawEvent {
        log: Some(LogLine {
            service: service.to_owned().into(),
            level: level.to_owned().into(),
            message: "m".into(),
            attributes: BTreeMap::new(),
        }),
        ..ev(&format!("log:{service}"), id, ts, "log")
    }
}

/// A partition state fed with consecutive offsets.
pub struct Run {
    pub state: PartitionState,
    pub next_offset: i64,
    pub out: Vec<Emitted>,
}

impl Run {
    pub fn new(cfg: SessionizerConfig) -> Self {
        Self { state: PartitionState::new(cfg).expect("valid config"), next_offset: 0, out: Vec::new() }
    }

    pub fn default_config() -> Self {
        Self::new(SessionizerConfig::default())
    }

    /// Ingests at wall clock 0 (so the idle rule never moves the watermark).
    pub fn push(&mut self, event: RawEvent<'static>) -> Ingested {
        self.push_at(event, 0)
    }

    pub fn push_at(&mut self, event: RawEvent<'static>, now: i64) -> Ingested {
        let offset = self.next_offset;
        self.next_offset += 1;
        self.state.ingest(offset, event, now, &mut self.out)
    }

    pub fn advance(&mut self, now: i64) {
        self.state.advance(now, &mut self.out);
    }

    /// Lets a very long wall-clock time pass with no input: releases and closes everything of data
    /// whose time is in a sane range. Two calls, because right after a restore the first one only
    /// starts the idle clock.
    pub fn flush(&mut self) {
        self.advance(i64::MAX / 8);
        self.advance(i64::MAX / 4);
    }

    pub fn take(&mut self) -> Vec<Emitted> {
        std::mem::take(&mut self.out)
    }
}

pub fn records(out: &[Emitted]) -> Vec<&Sessionized<'static>> {
    out.iter()
        .filter_map(|e| match e {
            Emitted::Sessionized { record, .. } => Some(&**record),
            Emitted::Summary { .. } => None,
        })
        .collect()
}

pub fn summaries(out: &[Emitted]) -> Vec<&SessionSummary> {
    out.iter()
        .filter_map(|e| match e {
            Emitted::Summary { record, .. } => Some(&**record),
            Emitted::Sessionized { .. } => None,
        })
        .collect()
}

pub fn ids(out: &[Emitted]) -> Vec<String> {
    records(out).iter().map(|r| r.event.event_id.to_string()).collect()
}

/// A compacted changelog topic: the latest value per key, tombstones removing the key.
#[derive(Debug, Default, Clone)]
pub struct Compacted(pub BTreeMap<String, Vec<u8>>);

impl Compacted {
    pub fn write(&mut self, records: &[friction_sessionizer::ChangelogRecord]) {
        for r in records {
            match &r.value {
                Some(v) => {
                    self.0.insert(r.key.clone(), v.clone());
                }
                None => {
                    self.0.remove(&r.key);
                }
            }
        }
    }

    pub fn restore_into(&self, state: &mut PartitionState) {
        for (k, v) in &self.0 {
            state.restore(k, Some(v)).expect("restore");
        }
    }
}
