//! Ingest API keys (docs/architecture.md §6): 32 random bytes, shown once, stored only as their SHA-256.

/// The stored form of a secret. Defined once, in `friction-schemas`, because the gateway hashes
/// the keys it receives with it and must find the ones stored here.
pub use friction_schemas::hash_api_key;
use friction_schemas::ApiKeyRecord;
use rand::RngCore;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{now_ms, random_id, Store, StoreError};

/// What every secret starts with, so a leaked key is recognisable (e.g. by secret scanners).
pub const API_KEY_PREFIX: &str = "frk_";

/// How many leading characters of a secret are kept in clear as its display prefix: `frk_` and
/// 8 hex characters (32 bits), enough to tell a project's keys apart, far too few to guess the rest.
pub const API_KEY_PREFIX_LEN: usize = 12;

/// The longest label a key may carry.
const LABEL_MAX_LEN: usize = 200;

/// A stored API key. It never holds the secret, only its hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApiKey {
    /// 16 random lowercase hex characters.
    pub id: String,
    /// The project the key sends events to.
    pub project_id: String,
    /// That project's name.
    pub project_name: String,
    /// Lowercase hex SHA-256 of the secret ([`hash_api_key`]).
    pub key_hash: String,
    /// The first [`API_KEY_PREFIX_LEN`] characters of the secret, for display.
    pub prefix: String,
    /// What the key is for, as its creator put it.
    pub label: Option<String>,
    /// When it was created, epoch milliseconds.
    pub created_at_ms: i64,
    /// When it was revoked, epoch milliseconds; `None` while it is valid.
    pub revoked_at_ms: Option<i64>,
    /// Origins a browser may send events from with this key (the gateway refuses others with
    /// 403); empty: any origin the gateway's CORS setting allows.
    pub allowed_origins: Vec<String>,
    /// Events per second this key may send (the gateway's token bucket); `None`: its default.
    pub rate_limit_per_sec: Option<f64>,
    /// When origins or rate last changed, epoch milliseconds.
    pub updated_at_ms: Option<i64>,
}

impl ApiKey {
    /// Whether the key may still be used.
    pub fn is_active(&self) -> bool {
        self.revoked_at_ms.is_none()
    }

    /// The record gateways read for this key from `friction.apikeys.v1` (docs/architecture.md §6),
    /// signed with the key publishers' secret when given. Its `updated_at` is the key's latest
    /// change, so a gateway keeps the newest record.
    pub fn record(&self, secret: Option<&[u8]>) -> ApiKeyRecord {
        let updated_at = [Some(self.created_at_ms), self.updated_at_ms, self.revoked_at_ms]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(self.created_at_ms);
        let mut record = ApiKeyRecord {
            key_hash: self.key_hash.clone(),
            key_id: self.id.clone(),
            project_id: self.project_id.clone(),
            project_name: self.project_name.clone(),
            revoked: self.revoked_at_ms.is_some(),
            allowed_origins: self.allowed_origins.clone(),
            rate_limit_per_sec: self.rate_limit_per_sec,
            updated_at,
            mac: None,
        };
        if let Some(secret) = secret {
            friction_schemas::apikey::sign(&mut record, secret);
        }
        record
    }
}

/// The longest origin accepted, and how many a key may list.
const ORIGIN_MAX_LEN: usize = 200;
const ORIGINS_MAX: usize = 50;

/// Checks a key's allowed origins: `*`, or `scheme://host[:port]` with scheme http or https and
/// nothing after the authority (what browsers send in `Origin`). Returns them trimmed, without
/// duplicates, in the order given.
pub fn validate_origins(origins: &[String]) -> Result<Vec<String>, StoreError> {
    let invalid = |reason: String| StoreError::InvalidKeySettings { reason };
    if origins.len() > ORIGINS_MAX {
        return Err(invalid(format!("allowedOrigins: at most {ORIGINS_MAX} origins, got {}", origins.len())));
    }
    let mut out: Vec<String> = Vec::with_capacity(origins.len());
    for origin in origins {
        let o = origin.trim();
        let rest = o.strip_prefix("https://").or_else(|| o.strip_prefix("http://"));
        let valid = o == "*"
            || (o.len() <= ORIGIN_MAX_LEN
                && rest.is_some_and(|authority| {
                    !authority.is_empty()
                        && authority
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
                }));
        if !valid {
            return Err(invalid(format!(
                "allowedOrigins: {o:?} is not an origin (`https://shop.example`, `http://localhost:3000` or `*`)"
            )));
        }
        if !out.iter().any(|x| x.eq_ignore_ascii_case(o)) {
            out.push(o.to_owned());
        }
    }
    Ok(out)
}

/// Checks a key's rate: a finite number of events per second above 0 and at most 1,000,000.
pub fn validate_rate(rate: Option<f64>) -> Result<Option<f64>, StoreError> {
    match rate {
        Some(r) if !(r.is_finite() && r > 0.0 && r <= 1_000_000.0) => Err(StoreError::InvalidKeySettings {
            reason: format!("rateLimitPerSec: {r} must be above 0 and at most 1000000 (events per second)"),
        }),
        other => Ok(other),
    }
}

/// A key just created: the only time its secret exists outside the client. Its `Debug` hides the
/// secret, so logging the value does not leak it; serialising it (to show it once) does not.
#[derive(Clone, serde::Serialize)]
pub struct NewApiKey {
    /// The secret, to show once to whoever created the key. It is not stored.
    pub secret: String,
    /// The stored key.
    pub key: ApiKey,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey").field("secret", &"<hidden>").field("key", &self.key).finish()
    }
}

/// A new secret: `frk_` and 64 lowercase hex characters (32 random bytes), 68 characters.
///
/// The bytes come from `rand::rng()`, a ChaCha12 generator seeded from the operating system and
/// reseeded regularly: a cryptographically secure source that cannot fail at this point.
pub fn generate_api_key_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{API_KEY_PREFIX}{}", hex::encode(bytes))
}

pub(crate) fn normalize_label(label: Option<&str>) -> Result<Option<String>, StoreError> {
    let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    let len = label.chars().count();
    if len > LABEL_MAX_LEN {
        return Err(StoreError::InvalidKeyLabel {
            reason: format!("a label must be at most {LABEL_MAX_LEN} characters, this one has {len}"),
        });
    }
    if label.chars().any(char::is_control) {
        return Err(StoreError::InvalidKeyLabel {
            reason: "a label must not contain control characters (newlines, tabs, ...)".to_owned(),
        });
    }
    Ok(Some(label.to_owned()))
}

const KEY_SELECT: &str = "SELECT k.id, k.project_id, p.name, k.key_hash, k.prefix, k.label, \
     k.created_at, k.revoked_at, k.allowed_origins, k.rate_limit_per_sec, k.updated_at \
     FROM api_keys k JOIN projects p ON p.id = k.project_id";

fn key_from_row(row: &AnyRow) -> Result<ApiKey, sqlx::Error> {
    let origins: Option<String> = row.try_get(8)?;
    let allowed_origins = match origins.as_deref().filter(|o| !o.is_empty()) {
        Some(text) => serde_json::from_str(text)
            .map_err(|e| sqlx::Error::ColumnDecode { index: "allowed_origins".into(), source: Box::new(e) })?,
        None => Vec::new(),
    };
    Ok(ApiKey {
        allowed_origins,
        rate_limit_per_sec: row.try_get(9)?,
        updated_at_ms: row.try_get(10)?,
        id: row.try_get(0)?,
        project_id: row.try_get(1)?,
        project_name: row.try_get(2)?,
        key_hash: row.try_get(3)?,
        prefix: row.try_get(4)?,
        label: row.try_get(5)?,
        created_at_ms: row.try_get(6)?,
        revoked_at_ms: row.try_get(7)?,
    })
}

impl Store {
    /// Creates a key for the project named `project_name` and returns it with its secret, which
    /// is stored nowhere: only its hash and display prefix are. A blank label counts as none.
    pub async fn create_api_key(&self, project_name: &str, label: Option<&str>) -> Result<NewApiKey, StoreError> {
        let label = normalize_label(label)?;
        let project = self
            .project_by_name(project_name)
            .await?
            .ok_or_else(|| StoreError::ProjectNotFound(project_name.to_owned()))?;
        let secret = generate_api_key_secret();
        let key = ApiKey {
            id: random_id(),
            project_id: project.id,
            project_name: project.name,
            key_hash: hash_api_key(&secret),
            prefix: secret.chars().take(API_KEY_PREFIX_LEN).collect(),
            label,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
            allowed_origins: Vec::new(),
            rate_limit_per_sec: None,
            updated_at_ms: None,
        };
        // The foreign key catches a project deleted since the lookup.
        sqlx::query(
            "INSERT INTO api_keys (id, project_id, key_hash, prefix, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&key.id)
        .bind(&key.project_id)
        .bind(&key.key_hash)
        .bind(&key.prefix)
        .bind(&key.label)
        .bind(key.created_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(NewApiKey { secret, key })
    }

    /// Keys, of one project (by name) or of all, oldest first; revoked ones included.
    pub async fn list_api_keys(&self, project: Option<&str>) -> Result<Vec<ApiKey>, StoreError> {
        let rows = match project {
            Some(name) => {
                if self.project_by_name(name).await?.is_none() {
                    return Err(StoreError::ProjectNotFound(name.to_owned()));
                }
                sqlx::query(&format!("{KEY_SELECT} WHERE p.name = $1 ORDER BY k.created_at, k.id"))
                    .bind(name)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(&format!("{KEY_SELECT} ORDER BY p.name, k.created_at, k.id")).fetch_all(&self.pool).await?
            }
        };
        Ok(rows.iter().map(key_from_row).collect::<Result<_, _>>()?)
    }

    /// The key whose secret hashes to `key_hash`, revoked or not (callers check
    /// [`ApiKey::is_active`]); this is how the gateway authenticates.
    pub async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("{KEY_SELECT} WHERE k.key_hash = $1"))
            .bind(key_hash)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// The key with this id, if any.
    pub async fn api_key_by_id(&self, id: &str) -> Result<Option<ApiKey>, StoreError> {
        let row = sqlx::query(&format!("{KEY_SELECT} WHERE k.id = $1")).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(key_from_row).transpose()?)
    }

    /// Revokes the key whose id is `id_or_prefix` or, failing that, the one key whose display
    /// prefix starts with it (`frk_1a2b3c4d`, or a shorter start of it). Revoking a revoked key
    /// changes nothing and returns it with its original `revoked_at_ms`.
    ///
    /// Fails with [`StoreError::KeyNotFound`] when nothing matches and with
    /// [`StoreError::AmbiguousKeyPrefix`] when several keys do.
    pub async fn revoke_api_key(&self, id_or_prefix: &str) -> Result<ApiKey, StoreError> {
        let key = self.resolve_key(id_or_prefix).await?;
        sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(&key.id)
            .execute(&self.pool)
            .await?;
        self.api_key_by_id(&key.id).await?.ok_or_else(|| StoreError::KeyNotFound(id_or_prefix.to_owned()))
    }

    /// Sets the origins a key may be used from and its rate (both validated: [`validate_origins`],
    /// [`validate_rate`]); returns the key as stored. Publish its [`ApiKey::record`] afterwards so
    /// gateways apply it.
    pub async fn set_api_key_limits(
        &self,
        id_or_prefix: &str,
        allowed_origins: &[String],
        rate_limit_per_sec: Option<f64>,
    ) -> Result<ApiKey, StoreError> {
        let origins = validate_origins(allowed_origins)?;
        let rate = validate_rate(rate_limit_per_sec)?;
        let key = self.resolve_key(id_or_prefix).await?;
        let origins_json = serde_json::to_string(&origins)
            .map_err(|e| StoreError::InvalidKeySettings { reason: format!("allowedOrigins: {e}") })?;
        // Strictly after the previous change, so the record always wins over the older one.
        let now = now_ms().max(key.updated_at_ms.unwrap_or(0) + 1).max(key.created_at_ms + 1);
        sqlx::query("UPDATE api_keys SET allowed_origins = $1, rate_limit_per_sec = $2, updated_at = $3 WHERE id = $4")
            .bind(origins_json)
            .bind(rate)
            .bind(now)
            .bind(&key.id)
            .execute(&self.pool)
            .await?;
        self.api_key_by_id(&key.id).await?.ok_or_else(|| StoreError::KeyNotFound(id_or_prefix.to_owned()))
    }

    /// Finds the one key `id_or_prefix` names (see [`Store::revoke_api_key`]).
    async fn resolve_key(&self, id_or_prefix: &str) -> Result<ApiKey, StoreError> {
        let not_found = || StoreError::KeyNotFound(id_or_prefix.to_owned());
        if id_or_prefix.is_empty() {
            return Err(not_found());
        }
        if let Some(key) = self.api_key_by_id(id_or_prefix).await? {
            return Ok(key);
        }
        // substr/length rather than LIKE, where `_` and `%` in the input would be wildcards.
        let rows = sqlx::query(&format!(
            "{KEY_SELECT} WHERE substr(k.prefix, 1, length($1)) = $1 ORDER BY k.created_at, k.id"
        ))
        .bind(id_or_prefix)
        .fetch_all(&self.pool)
        .await?;
        match rows.as_slice() {
            [] => Err(not_found()),
            [row] => Ok(key_from_row(row)?),
            more => Err(StoreError::AmbiguousKeyPrefix { prefix: id_or_prefix.to_owned(), matches: more.len() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_have_the_documented_shape() {
        let secret = generate_api_key_secret();
        assert_eq!(secret.len(), 68);
        assert!(secret.starts_with("frk_"));
        assert!(secret[4..].chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
        assert_ne!(secret, generate_api_key_secret());
    }

    #[test]
    fn hash_is_hex_sha256() {
        // sha256("abc"), FIPS 180-2 test vector.
        assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn labels_are_trimmed_and_checked() -> Result<(), StoreError> {
        assert_eq!(normalize_label(None)?, None);
        assert_eq!(normalize_label(Some("  "))?, None);
        assert_eq!(normalize_label(Some(" web "))?, Some("web".to_owned()));
        assert!(matches!(normalize_label(Some(&"x".repeat(201))), Err(StoreError::InvalidKeyLabel { .. })));
        assert!(matches!(normalize_label(Some("a\nb")), Err(StoreError::InvalidKeyLabel { .. })));
        Ok(())
    }
}
