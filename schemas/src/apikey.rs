//! The API-key record published to the compacted `friction.apikeys.v1` topic.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::codec::Record;

/// The state of one API key; the gateway keeps the latest per `key_hash` in memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyRecord {
    pub key_hash: String,
    pub key_id: String,
    pub project_id: String,
    pub project_name: String,
    pub revoked: bool,
    pub allowed_origins: Vec<String>,
    pub rate_limit_per_sec: Option<f64>,
    pub updated_at: i64,
}

impl Record for ApiKeyRecord {
    const FAMILY: &'static str = "apikey";
}

/// Lowercase hex SHA-256 of an API key secret: the only form in which a key is stored or published.
pub fn hash_api_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
