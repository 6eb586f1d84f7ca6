//! Console passwords: Argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1, the OWASP
//! minimum), stored as PHC strings (docs/console.md "Users and sessions"). Hashing runs on the
//! blocking pool, at most [`MAX_CONCURRENT`] at once, so a burst of logins cannot take all memory.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use tokio::sync::Semaphore;

/// Hashes computed at once (each takes ~19 MiB).
pub const MAX_CONCURRENT: usize = 4;

/// The shortest password `friction users` and the users page accept.
pub const MIN_LEN: usize = 10;

static PERMITS: Semaphore = Semaphore::const_new(MAX_CONCURRENT);

/// Verified for unknown usernames, so the answer takes as long as for a known one.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_now("friction-dummy-password").ok());

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("a password must have at least {MIN_LEN} characters")]
    TooShort,
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Checks a new password against the length rule.
pub fn validate(password: &str) -> Result<(), PasswordError> {
    if password.chars().count() < MIN_LEN {
        return Err(PasswordError::TooShort);
    }
    Ok(())
}

/// A random password: 20 characters of letters and digits (~119 bits).
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())])).collect()
}

fn hash_now(password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

fn verify_now(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

/// The PHC string of `password` (validated first).
pub async fn hash(password: &str) -> Result<String, PasswordError> {
    validate(password)?;
    let _permit = PERMITS.acquire().await.map_err(|e| PasswordError::Hash(e.to_string()))?;
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || hash_now(&password)).await.map_err(|e| PasswordError::Hash(e.to_string()))?
}

/// Whether `password` matches `phc`; with `None` (an unknown user) a dummy hash is checked and the
/// answer is false.
pub async fn verify(password: &str, phc: Option<&str>) -> bool {
    let Ok(_permit) = PERMITS.acquire().await else { return false };
    let (password, phc, known) = match phc {
        Some(p) => (password.to_owned(), p.to_owned(), true),
        None => (password.to_owned(), DUMMY_HASH.clone().unwrap_or_default(), false),
    };
    let matched = tokio::task::spawn_blocking(move || verify_now(&password, &phc)).await.unwrap_or(false);
    matched && known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() -> Result<(), PasswordError> {
        let phc = hash("correct horse battery").await?;
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify("correct horse battery", Some(&phc)).await);
        assert!(!verify("wrong horse battery", Some(&phc)).await);
        assert!(!verify("correct horse battery", None).await);
        assert!(!verify("x", Some("not a phc string")).await);
        assert!(matches!(hash("short").await, Err(PasswordError::TooShort)));
        let (a, b) = (generate(), generate());
        assert!(a.len() == 20 && a != b && validate(&a).is_ok());
        Ok(())
    }
}
