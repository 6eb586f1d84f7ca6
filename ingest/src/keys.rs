//! API keys in memory, kept current from the compacted `friction.apikeys.v1` topic (the gateway has
//! no database). A request's key is hashed and looked up; revocations arrive as new records for the
//! same key hash and take effect as soon as they are read.
//!
//! Anybody who can write to the topic could add a key, so with a publishers' secret
//! ([`KeysSecret`], `FRICTION_KEYS_SECRET`) a record counts only when its MAC verifies
//! (`friction_schemas::apikey::verify_mac`); others, and tombstones, are ignored, counted in
//! `friction_gateway_apikey_records_refused_total{reason}` and logged at most once a second. A
//! revocation is final: a later record that would make a revoked key active again (an old record
//! replayed) is ignored (docs/operators.md, "Keys and projects").

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use friction_runtime::admin::HealthHandle;
use friction_runtime::auth_guard::LogThrottle;
use friction_runtime::kafka::reader_config;
use friction_runtime::{KafkaArgs, Shutdown};
use friction_schemas::apikey::verify_mac;
use friction_schemas::{decode, ApiKeyRecord, MacCheck};

/// Shortest publishers' secret accepted.
pub const MIN_KEYS_SECRET_LEN: usize = 16;

/// The secret the key publishers (`friction keys`, `friction up`) sign API-key records with and
/// gateways verify them with. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeysSecret(String);

impl KeysSecret {
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for KeysSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for KeysSecret {
    type Err = String;

    /// Surrounding whitespace (a file's newline) is not part of the secret.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.len() < MIN_KEYS_SECRET_LEN {
            return Err(format!(
                "the key publishers' secret (FRICTION_KEYS_SECRET) must be at least {MIN_KEYS_SECRET_LEN} characters"
            ));
        }
        Ok(KeysSecret(s.to_string()))
    }
}

/// What [`KeyStore::admit`] did with a record read from the topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Applied,
    /// Ignored: its MAC does not verify under the secret (`missing_mac`, `bad_mac`), or it is a
    /// tombstone while a secret is set (`tombstone`).
    Refused(&'static str),
    /// Ignored: older than what is known for the key, or making a revoked key active again.
    Stale,
}
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

/// What the gateway knows about one key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub key_id: String,
    pub project_id: Arc<str>,
    pub revoked: bool,
    pub allowed_origins: Vec<String>,
    pub rate_limit_per_sec: Option<f64>,
    /// Epoch ms of the change the entry reflects.
    pub updated_at: i64,
}

#[derive(Default)]
pub struct KeyStore {
    keys: RwLock<HashMap<String, Arc<KeyEntry>>>,
    ready: AtomicBool,
    secret: Option<KeysSecret>,
}

impl KeyStore {
    /// A store that trusts every record (no publishers' secret).
    pub fn new() -> Self {
        Self::default()
    }

    /// A store that admits only records signed with `secret` (when given).
    pub fn with_secret(secret: Option<KeysSecret>) -> Self {
        KeyStore { secret, ..Self::default() }
    }

    /// Whether records must carry a valid MAC.
    pub fn requires_mac(&self) -> bool {
        self.secret.is_some()
    }

    /// Applies a record read from the topic, unless its MAC does not verify (with a secret), or it
    /// is older than what is known for the key, or it would make a revoked key active again.
    pub fn admit(&self, record: ApiKeyRecord) -> Admission {
        if let Some(secret) = &self.secret {
            match verify_mac(&record, secret.as_bytes()) {
                MacCheck::Valid => {}
                refused => return Admission::Refused(refused.as_str()),
            }
        }
        if let Some(known) = self.lookup(&record.key_hash) {
            let reactivates = known.revoked && !record.revoked;
            let older = known.revoked == record.revoked && record.updated_at < known.updated_at;
            if reactivates || older {
                return Admission::Stale;
            }
        }
        self.apply(record);
        Admission::Applied
    }

    /// A tombstone (null value) for `key_hash`: removes the key, unless a secret is set (a
    /// tombstone carries no MAC, and the publishers never write one).
    pub fn admit_tombstone(&self, key_hash: &str) -> Admission {
        if self.secret.is_some() {
            return Admission::Refused("tombstone");
        }
        self.remove(key_hash);
        Admission::Applied
    }

    /// A store that is ready at once with the given records (tests, embedded use).
    pub fn with_records(records: impl IntoIterator<Item = ApiKeyRecord>) -> Self {
        let store = Self::new();
        for r in records {
            store.apply(r);
        }
        store.mark_ready();
        store
    }

    /// Applies one record: the latest state of a key replaces the previous one.
    pub fn apply(&self, record: ApiKeyRecord) {
        let entry = Arc::new(KeyEntry {
            key_id: record.key_id,
            project_id: Arc::from(record.project_id.as_str()),
            revoked: record.revoked,
            allowed_origins: record.allowed_origins,
            rate_limit_per_sec: record.rate_limit_per_sec,
            updated_at: record.updated_at,
        });
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(record.key_hash, entry);
        }
    }

    /// A tombstone (null value) removes the key entirely.
    pub fn remove(&self, key_hash: &str) {
        if let Ok(mut keys) = self.keys.write() {
            keys.remove(key_hash);
        }
    }

    pub fn lookup(&self, key_hash: &str) -> Option<Arc<KeyEntry>> {
        self.keys.read().ok().and_then(|k| k.get(key_hash).cloned())
    }

    pub fn len(&self) -> usize {
        self.keys.read().map(|k| k.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the topic has been read up to where it was when the gateway started; before that
    /// an unknown key may just not be loaded yet, so requests get 503, not 401.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyFollowError {
    #[error(transparent)]
    Setup(#[from] friction_runtime::kafka::KafkaSetupError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Reads the key topic from the beginning into `store` and keeps following it until shutdown.
/// Marks `store` (and `health`) ready once caught up with the topic's end as of start.
pub fn follow_apikeys(
    store: Arc<KeyStore>,
    kafka: &KafkaArgs,
    topic: &str,
    health: Option<HealthHandle>,
    shutdown: Shutdown,
) -> Result<tokio::task::JoinHandle<()>, KeyFollowError> {
    let consumer: StreamConsumer = reader_config(kafka)?.create()?;
    let topic = topic.to_string();
    if !store.requires_mac() {
        tracing::warn!(
            topic,
            "no key publishers' secret (FRICTION_KEYS_SECRET): every record on the API-key topic is trusted, \
             so anybody who can write to it can add keys (docs/operators.md, \"Keys and projects\")"
        );
    }
    Ok(tokio::spawn(async move {
        let mut refusal_log = LogThrottle::new(Duration::from_secs(1));
        let partitions = loop {
            match consumer.fetch_metadata(Some(&topic), Duration::from_secs(5)) {
                Ok(md) => {
                    let n = md.topics().first().filter(|t| t.error().is_none()).map(|t| t.partitions().len());
                    if let Some(n) = n.filter(|n| *n > 0) {
                        break n as i32;
                    }
                    tracing::warn!(topic, "API-key topic not found yet; run `friction topics apply`");
                }
                Err(e) => tracing::warn!(topic, error = %e, "cannot read API-key topic metadata yet"),
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        };
        let mut highs = Vec::with_capacity(partitions as usize);
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            let high = loop {
                match consumer.fetch_watermarks(&topic, p, Duration::from_secs(5)) {
                    Ok((_, high)) => break high,
                    Err(e) => {
                        tracing::warn!(topic, partition = p, error = %e, "cannot read watermarks yet");
                        tokio::select! {
                            _ = shutdown.wait() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            };
            highs.push(high);
            let _ = tpl.add_partition_offset(&topic, p, Offset::Beginning);
        }
        if let Err(e) = consumer.assign(&tpl) {
            tracing::error!(topic, error = %e, "cannot assign API-key partitions");
            return;
        }
        let caught_up = |consumer: &StreamConsumer| -> bool {
            let Ok(position) = consumer.position() else { return false };
            highs.iter().enumerate().all(|(p, high)| {
                *high <= 0
                    || matches!(
                        position.find_partition(&topic, p as i32).map(|e| e.offset()),
                        Some(Offset::Offset(o)) if o >= *high
                    )
            })
        };
        let mut ready = false;
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        loop {
            if !ready && caught_up(&consumer) {
                ready = true;
                store.mark_ready();
                if let Some(h) = &health {
                    h.set(true);
                }
                tracing::info!(keys = store.len(), "API keys loaded");
            }
            tokio::select! {
                _ = shutdown.wait() => return,
                _ = tick.tick(), if !ready => {}
                msg = consumer.recv() => match msg {
                    Ok(m) => {
                        let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                        let admission = match (m.payload(), key) {
                            (None, Some(hash)) => store.admit_tombstone(&hash),
                            (Some(payload), _) => match decode::<ApiKeyRecord>(payload) {
                                Ok(record) => store.admit(record),
                                Err(e) => {
                                    tracing::warn!(offset = m.offset(), error = %e, "skipping undecodable API-key record");
                                    Admission::Refused("undecodable")
                                }
                            },
                            (None, None) => Admission::Refused("tombstone"),
                        };
                        match admission {
                            Admission::Applied => {}
                            Admission::Stale => {
                                metrics::counter!("friction_gateway_apikey_records_ignored_total", "reason" => "stale").increment(1);
                            }
                            Admission::Refused(reason) => {
                                metrics::counter!("friction_gateway_apikey_records_refused_total", "reason" => reason).increment(1);
                                if let Some(suppressed) = refusal_log.admit(Instant::now()) {
                                    tracing::warn!(
                                        topic,
                                        partition = m.partition(),
                                        offset = m.offset(),
                                        reason,
                                        suppressed,
                                        "ignoring an API-key record not signed with the key publishers' secret \
                                         ({suppressed} more left out of the log since the last line)"
                                    );
                                }
                            }
                        }
                        metrics::gauge!("friction_gateway_api_keys").set(store.len() as f64);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "API-key topic read failed; retrying");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        }
    }))
}
