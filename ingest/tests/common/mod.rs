//! What the gateway's integration tests share.

use std::sync::Arc;

use friction_gateway::keys::KeyStore;
use friction_schemas::{hash_api_key, ApiKeyRecord};

/// A key store holding one active, unsigned key `secret` of project `project_id`.
pub fn one_key_store(secret: &str, project_id: &str) -> Arc<KeyStore> {
    Arc::new(KeyStore::with_records([ApiKeyRecord {
        key_hash: hash_api_key(secret),
        key_id: "id".into(),
        project_id: project_id.into(),
        project_name: "default".into(),
        revoked: false,
        allowed_origins: vec![],
        rate_limit_per_sec: None,
        updated_at: 1,
        mac: None,
    }]))
}
