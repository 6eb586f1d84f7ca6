//! The API-key record published to the compacted `friction.apikeys.v1` topic, and the one hash by
//! which a key is stored (`friction-store`), published (here) and looked up (the gateway).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::record::Record;

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

/// Lowercase hex SHA-256 of an API key secret's UTF-8 bytes: the only form in which a key is stored
/// or published. A plain hash (no salt, no slow KDF) is right here: the secret has 256 random bits,
/// so nothing is gained by slowing a guesser down, and the gateway must find a key by its hash on
/// every request. The store, the topic and the gateway all use this one function: if two copies
/// drifted apart, every key would stop working without an error.
pub fn hash_api_key(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys already stored and published were hashed like this: a change here locks every one out.
    #[test]
    fn the_hash_of_a_known_key_does_not_change() {
        // sha256("abc"), FIPS 180-2 test vector.
        assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let key = "frk_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(hash_api_key(key), "5d1e8a53a43a42979a1e2c65a6b1fd8a8362cc43f36c23b024dbcc63dabd91f6");
    }
}
