//! Integration secrets: a [`Secret`] that never prints itself, and AES-256-GCM encryption at rest
//! under a master key from the environment (`FRICTION_MASTER_KEY`, 32 bytes as 64 hex characters
//! or base64).

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "FRICTION_MASTER_KEY";

/// A credential (API token, key, webhook secret). `Debug` and `Display` print `***`; the value is
/// read only through [`Secret::expose`], at the one place it goes into a header or a MAC.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The plain value. Call it only where it is sent or used as a key.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Removes the secret, every part of it after a `:` (Basic auth `email:token`), and their
    /// base64 forms from `text`; then truncates to `max` characters. For error summaries that come
    /// from a remote body or a library error.
    pub fn scrub(&self, text: &str, max: usize) -> String {
        let mut out = text.to_owned();
        let mut needles: Vec<String> = vec![self.0.clone(), B64.encode(&self.0)];
        for part in self.0.split(':') {
            if part.len() >= 6 {
                needles.push(part.to_owned());
                needles.push(B64.encode(part));
            }
        }
        for needle in needles.iter().filter(|n| n.len() >= 6) {
            out = out.replace(needle.as_str(), "***");
        }
        truncate(&out, max)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// At most `max` characters of `text` (on a character boundary), with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("{MASTER_KEY_ENV} is not set; integration secrets cannot be encrypted or read")]
    MissingMasterKey,
    #[error("{MASTER_KEY_ENV} must be 32 bytes, as 64 hex characters or base64")]
    BadMasterKey,
    #[error("a stored secret is not in the expected format")]
    BadCiphertext,
    #[error("a stored secret does not decrypt with this master key (wrong key, or the row was altered)")]
    DecryptFailed,
}

/// The key that encrypts integration secrets. `Debug` hides it.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// Parses 64 hex characters or base64 of 32 bytes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| SecretError::BadMasterKey)?
        } else {
            B64.decode(text).map_err(|_| SecretError::BadMasterKey)?
        };
        let key: [u8; 32] = bytes.try_into().map_err(|_| SecretError::BadMasterKey)?;
        Ok(MasterKey(key))
    }

    /// From `FRICTION_MASTER_KEY`.
    pub fn from_env() -> Result<Self, SecretError> {
        match std::env::var(MASTER_KEY_ENV) {
            Ok(v) if !v.trim().is_empty() => MasterKey::parse(&v),
            _ => Err(SecretError::MissingMasterKey),
        }
    }

    /// A random key (tests, `friction up` on a fresh data directory).
    pub fn random() -> Self {
        MasterKey(rand::random())
    }

    /// The key as 64 hex characters, to be stored by whoever generated it.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `v1:` + base64(nonce || ciphertext). `context` (the integration id) is authenticated, so a
    /// ciphertext copied to another row does not decrypt.
    pub fn encrypt(&self, secret: &Secret, context: &str) -> String {
        let cipher = Aes256Gcm::new((&self.0).into());
        let nonce_bytes: [u8; 12] = rand::random();
        let nonce = Nonce::from_slice(&nonce_bytes);
        // Encryption with a valid key and nonce cannot fail for inputs this small.
        let ciphertext = cipher
            .encrypt(nonce, Payload { msg: secret.expose().as_bytes(), aad: context.as_bytes() })
            .unwrap_or_default();
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("v1:{}", B64.encode(blob))
    }

    pub fn decrypt(&self, stored: &str, context: &str) -> Result<Secret, SecretError> {
        let blob = stored.strip_prefix("v1:").ok_or(SecretError::BadCiphertext)?;
        let blob = B64.decode(blob).map_err(|_| SecretError::BadCiphertext)?;
        if blob.len() < 12 + 16 {
            return Err(SecretError::BadCiphertext);
        }
        let (nonce, ciphertext) = blob.split_at(12);
        let cipher = Aes256Gcm::new((&self.0).into());
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| SecretError::DecryptFailed)?;
        String::from_utf8(plain).map(Secret).map_err(|_| SecretError::DecryptFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_context_binding() {
        let key = MasterKey::random();
        let secret = Secret::new("bot@acme.com:ATATT3xFfGF0-token");
        let stored = key.encrypt(&secret, "int1");
        assert!(!stored.contains("ATATT3"));
        assert_eq!(key.decrypt(&stored, "int1"), Ok(secret.clone()));
        assert_eq!(key.decrypt(&stored, "int2"), Err(SecretError::DecryptFailed));
        assert_eq!(MasterKey::random().decrypt(&stored, "int1"), Err(SecretError::DecryptFailed));
        assert_eq!(key.decrypt("garbage", "int1"), Err(SecretError::BadCiphertext));
    }

    #[test]
    fn never_prints_itself() {
        let secret = Secret::new("s3cr3t-value");
        assert_eq!(format!("{secret} {secret:?}"), "*** Secret(***)");
        assert_eq!(format!("{:?}", MasterKey::random()), "MasterKey(***)");
    }

    #[test]
    fn scrub_removes_plain_parts_and_base64() {
        let secret = Secret::new("bot@acme.com:tok-123456");
        let b64 = B64.encode("bot@acme.com:tok-123456");
        let text = format!("auth Basic {b64} token tok-123456 raw bot@acme.com:tok-123456");
        let scrubbed = secret.scrub(&text, 500);
        assert!(!scrubbed.contains("tok-123456") && !scrubbed.contains(&b64), "{scrubbed}");
        assert_eq!(truncate("héllo", 2), "hé…");
    }

    #[test]
    fn master_key_formats() {
        let key = MasterKey::random();
        assert!(MasterKey::parse(&key.to_hex()).is_ok());
        assert!(MasterKey::parse(&B64.encode([7u8; 32])).is_ok());
        assert_eq!(MasterKey::parse("short").map(|_| ()), Err(SecretError::BadMasterKey));
    }
}
