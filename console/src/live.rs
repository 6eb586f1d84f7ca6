//! `GET /v1/live`: incident changes as server-sent events, read from `friction.incidents.v1`
//! (docs/console.md "Live changes").
//!
//! One reader per console ([`LiveHub`]) follows the topic from its end, without a consumer group
//! (partitions assigned, nothing committed), with a short fetch wait so a change reaches connected
//! clients well within a second of its publication, and fans it out through a bounded broadcast
//! channel. Each client gets only the changes of the projects it may see ([`Caller::may_see`]).
//!
//! Every event's `id` is the stream's position: the next offset of every partition, joined by
//! `.` (`15.7.0`). A client that reconnects with `Last-Event-ID` gets exactly the changes after
//! it: the partitions behind the hub are read again from those offsets by a reader of its own,
//! then the client joins the live fan-out, skipping what it already got. A client that falls more
//! than the buffer behind (it does not read) is dropped, and resumes the same way when it comes
//! back: memory stays bounded by the buffer, whatever the client does. Comments keep idle
//! connections open (every 15 s).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::{decode, IncidentChange};
use friction_store::Role;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::broadcast;

use crate::auth::Caller;
use crate::body::rfc3339;
use crate::{ApiError, ConsoleState};

/// Changes a client may fall behind before it is dropped (`--live-buffer` / `FRICTION_LIVE_BUFFER`
/// of `friction up`, docs/operators.md "Console").
pub const DEFAULT_BUFFER: usize = 1024;

/// How often an idle stream gets a comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How long a resuming client's catch-up read may take before its stream ends (it reconnects).
const CATCH_UP_LIMIT: Duration = Duration::from_secs(30);

/// Most partitions an event id may name.
const MAX_PARTITIONS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Setup(#[from] friction_runtime::kafka::KafkaSetupError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("topic {0} not found (run `friction topics apply`)")]
    NoTopic(String),
}

/// One change read from the topic, ready to send.
#[derive(Debug)]
pub struct LiveChange {
    pub partition: i32,
    pub offset: i64,
    pub project_id: String,
    /// The event's JSON.
    pub data: String,
}

struct Shared {
    /// The next offset the hub reads, per partition.
    positions: Vec<i64>,
    sender: broadcast::Sender<Arc<LiveChange>>,
}

/// The console's one reader of the incidents topic and its fan-out to the live clients.
#[derive(Clone)]
pub struct LiveHub {
    kafka: KafkaArgs,
    topic: Arc<str>,
    shared: Arc<Mutex<Shared>>,
}

/// A reader without a group: short fetch waits (changes are on screen within a second), a small
/// prefetch queue.
fn reader(kafka: &KafkaArgs) -> Result<StreamConsumer, LiveError> {
    let mut config: ClientConfig = friction_runtime::kafka::reader_config(kafka)?;
    config.set("fetch.wait.max.ms", "20").set("queued.max.messages.kbytes", "4096");
    Ok(config.create()?)
}

/// The event JSON of a change (camelCase, like the incidents API).
fn change_json(c: &IncidentChange) -> String {
    serde_json::json!({
        "id": c.id,
        "projectId": c.project_id,
        "fingerprint": c.fingerprint,
        "kind": c.kind,
        "labels": c.labels,
        "title": c.title,
        "routeTemplate": c.route_template,
        "elementKey": c.element_key,
        "status": c.status,
        "previousStatus": c.previous_status,
        "change": c.change,
        "severity": c.severity,
        "priority": c.priority,
        "occurrences": c.occurrences,
        "sessions": c.sessions,
        "users": c.users,
        "firstSeen": rfc3339(c.first_seen_ms),
        "lastSeen": rfc3339(c.last_seen_ms),
        "confirmedAt": c.confirmed_at_ms.map(rfc3339),
        "releases": c.releases,
        "latestRelease": c.latest_release,
        "generation": c.generation,
        "version": c.version,
        "changedAt": rfc3339(c.changed_at_ms),
    })
    .to_string()
}

/// The change a message carries, or `None` for one that does not decode (skipped, logged).
fn to_change(m: &BorrowedMessage<'_>) -> Option<LiveChange> {
    let payload = m.payload()?;
    match decode::<IncidentChange>(payload) {
        Ok(c) => Some(LiveChange {
            partition: m.partition(),
            offset: m.offset(),
            project_id: c.project_id.clone(),
            data: change_json(&c),
        }),
        Err(e) => {
            tracing::warn!(partition = m.partition(), offset = m.offset(), error = %e, "live: skipping an undecodable incident change");
            None
        }
    }
}

impl LiveHub {
    /// Starts following `topic` from its current end, until `shutdown`. `buffer`: changes a
    /// client may fall behind before it is dropped.
    pub fn start(kafka: &KafkaArgs, topic: &str, buffer: usize, shutdown: Shutdown) -> Result<LiveHub, LiveError> {
        let consumer = reader(kafka)?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let partitions = metadata
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map(|t| t.partitions().len())
            .filter(|n| *n > 0)
            .ok_or_else(|| LiveError::NoTopic(topic.to_owned()))?;
        let mut positions = Vec::with_capacity(partitions);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions as i32 {
            let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
            positions.push(high.max(0));
            tpl.add_partition_offset(topic, p, Offset::Offset(high.max(0)))?;
        }
        consumer.assign(&tpl)?;
        let (sender, _) = broadcast::channel(buffer.max(1));
        let shared = Arc::new(Mutex::new(Shared { positions, sender }));
        let hub = LiveHub { kafka: kafka.clone(), topic: Arc::from(topic), shared: shared.clone() };
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    msg = consumer.recv() => match msg {
                        Ok(m) => {
                            let change = to_change(&m);
                            let (p, next) = (m.partition(), m.offset() + 1);
                            if let Ok(mut s) = shared.lock() {
                                if let Some(pos) = usize::try_from(p).ok().and_then(|p| s.positions.get_mut(p)) {
                                    *pos = (*pos).max(next);
                                }
                                if let Some(change) = change {
                                    // No receivers is fine: nobody is watching.
                                    let _ = s.sender.send(Arc::new(change));
                                }
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "live: reading the incidents topic failed; retrying");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }
        });
        Ok(hub)
    }

    /// A receiver of every change from now on, and the positions it starts after.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<LiveChange>>, Vec<i64>) {
        match self.shared.lock() {
            Ok(s) => (s.sender.subscribe(), s.positions.clone()),
            Err(poisoned) => {
                let s = poisoned.into_inner();
                (s.sender.subscribe(), s.positions.clone())
            }
        }
    }
}

/// An event id: the next offset of every partition, joined by `.`.
pub fn encode_event_id(positions: &[i64]) -> String {
    positions.iter().map(i64::to_string).collect::<Vec<_>>().join(".")
}

/// The positions a `Last-Event-ID` names, or 400 naming the header.
pub fn parse_event_id(text: &str) -> Result<Vec<i64>, ApiError> {
    let bad = || ApiError::BadRequest(format!("Last-Event-ID {text:?} is not an id this stream sent"));
    let parts: Vec<&str> = text.trim().split('.').collect();
    if parts.is_empty() || parts.len() > MAX_PARTITIONS {
        return Err(bad());
    }
    parts.iter().map(|p| p.parse::<i64>().ok().filter(|o| *o >= 0).ok_or_else(bad)).collect()
}

/// The partitions a resuming client must read again, from its positions up to the hub's.
struct CatchUp {
    consumer: StreamConsumer,
    topic: Arc<str>,
    /// Partition → the hub's position when the client subscribed (read up to it).
    ends: HashMap<i32, i64>,
    deadline: Instant,
}

/// One client's stream.
struct Client {
    caller: Caller,
    rx: broadcast::Receiver<Arc<LiveChange>>,
    positions: Vec<i64>,
    catch_up: Option<CatchUp>,
    started: bool,
}

impl Client {
    fn event(&self, change: &LiveChange) -> Event {
        Event::default().event("incident").id(encode_event_id(&self.positions)).data(change.data.as_str())
    }

    /// Moves this client's position past `partition:offset`; whether the change is new to it.
    fn advance(&mut self, partition: i32, offset: i64) -> bool {
        let Ok(p) = usize::try_from(partition) else { return false };
        if p >= self.positions.len() {
            self.positions.resize(p + 1, 0);
        }
        if offset < self.positions[p] {
            return false;
        }
        self.positions[p] = offset + 1;
        true
    }

    /// The next event, or `None` when the stream ends (a slow client, a failed catch-up).
    async fn next(&mut self) -> Option<Event> {
        if !self.started {
            self.started = true;
            return Some(
                Event::default()
                    .event("ready")
                    .id(encode_event_id(&self.positions))
                    .retry(Duration::from_secs(1))
                    .data(serde_json::json!({ "partitions": self.positions.len() }).to_string()),
            );
        }
        loop {
            if let Some(c) = &mut self.catch_up {
                if c.ends.is_empty() {
                    self.catch_up = None;
                    continue;
                }
                if Instant::now() > c.deadline {
                    tracing::warn!("live: a resuming client could not catch up in time; ending its stream");
                    return None;
                }
                match tokio::time::timeout(Duration::from_millis(250), c.consumer.recv()).await {
                    Ok(Ok(m)) => {
                        let (p, o) = (m.partition(), m.offset());
                        let end = c.ends.get(&p).copied().unwrap_or(0);
                        if o + 1 >= end {
                            c.ends.remove(&p);
                        }
                        if o >= end {
                            continue;
                        }
                        let change = to_change(&m);
                        drop(m);
                        if self.advance(p, o) {
                            if let Some(change) = change.filter(|c| self.caller.may_see(&c.project_id)) {
                                return Some(self.event(&change));
                            }
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(error = %e, "live: catch-up read failed; ending the stream");
                        return None;
                    }
                    Err(_) => {
                        // Nothing within the wait: partitions whose remaining offsets are gone
                        // (compacted, control records) are done once the reader is past them.
                        if let Ok(position) = c.consumer.position() {
                            let topic = c.topic.clone();
                            c.ends.retain(|p, end| {
                                !matches!(position.find_partition(&topic, *p).map(|e| e.offset()),
                                    Some(Offset::Offset(o)) if o >= *end)
                            });
                        }
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(change) => {
                    if self.advance(change.partition, change.offset) && self.caller.may_see(&change.project_id) {
                        return Some(self.event(&change));
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    metrics::counter!("friction_console_live_dropped_total").increment(1);
                    tracing::info!(missed, "live: dropping a client that fell behind (it resumes with Last-Event-ID)");
                    return None;
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// `GET /v1/live`: server-sent events of incident changes (viewer).
#[utoipa::path(get, path = "/v1/live", tag = "live",
    params(("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received: resume after it")),
    responses(
        (status = 200, content_type = "text/event-stream",
            description = "`event: ready` (its id is the starting position), then `event: incident` with the change as JSON; comments every 15 s"),
        (status = 400), (status = 401), (status = 503)))]
pub async fn live(State(state): State<ConsoleState>, caller: Caller, headers: HeaderMap) -> Result<Response, ApiError> {
    caller.require(Role::Viewer, "following live incident changes")?;
    let hub = state.live.clone().ok_or_else(|| {
        ApiError::Unavailable(
            "the live stream needs the broker, and this console has no reader of the incidents topic".into(),
        )
    })?;
    let resume = match headers.get("last-event-id") {
        Some(v) => Some(parse_event_id(
            v.to_str().map_err(|_| ApiError::BadRequest("Last-Event-ID is not valid text".into()))?,
        )?),
        None => None,
    };
    let (rx, snapshot) = hub.subscribe();
    let mut positions = snapshot.clone();
    let mut ends = HashMap::new();
    if let Some(resume) = resume {
        for (p, hub_position) in snapshot.iter().enumerate() {
            if let Some(&from) = resume.get(p) {
                positions[p] = from;
                if from < *hub_position {
                    ends.insert(p as i32, *hub_position);
                }
            }
        }
    }
    let catch_up = if ends.is_empty() {
        None
    } else {
        let consumer = reader(&hub.kafka).map_err(|e| ApiError::Unavailable(format!("live: {e}")))?;
        let mut tpl = TopicPartitionList::new();
        for p in ends.keys() {
            let from = positions.get(*p as usize).copied().unwrap_or(0);
            tpl.add_partition_offset(&hub.topic, *p, Offset::Offset(from))
                .map_err(|e| ApiError::Unavailable(format!("live: {e}")))?;
        }
        consumer.assign(&tpl).map_err(|e| ApiError::Unavailable(format!("live: {e}")))?;
        Some(CatchUp { consumer, topic: hub.topic.clone(), ends, deadline: Instant::now() + CATCH_UP_LIMIT })
    };
    let client = Client { caller, rx, positions, catch_up, started: false };
    let stream = futures::stream::unfold(client, |mut client| async move {
        client.next().await.map(|event| (Ok::<Event, Infallible>(event), client))
    });
    let sse = Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    // Proxies (nginx) must pass events on at once.
    Ok(([(HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no"))], sse).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_bad_ones_are_refused() {
        assert_eq!(parse_event_id(&encode_event_id(&[15, 7, 0])).ok(), Some(vec![15, 7, 0]));
        for bad in ["", "a.b", "1..2", "-1", "1.2.x"] {
            assert!(parse_event_id(bad).is_err(), "{bad:?}");
        }
    }
}
