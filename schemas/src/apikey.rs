//! The API-key record published to the compacted `friction.apikeys.v1` topic, the one hash by
//! which a key is stored (`friction-store`), published (here) and looked up (the gateway), and the
//! MAC that lets a gateway tell a record of the project's own publishers from one anybody with
//! access to the broker wrote (schema v2, docs/operators.md "Keys and projects").

use hmac::{Hmac, Mac};
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
    /// Lowercase hex HMAC-SHA256 of [`mac_input`] under the publishers' secret ([`sign`]); `None`
    /// in unsigned records (every v1 record).
    #[serde(default)]
    pub mac: Option<String>,
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

/// The domain tag that starts [`mac_input`]: a MAC made for anything else never verifies here.
const MAC_DOMAIN: &[u8] = b"friction.apikey.mac.v1\0";

/// The bytes a record's MAC covers: a domain tag, then every field except `mac`, in schema order,
/// each length-prefixed (strings and lists: u32 big-endian length), so no two records share them.
/// Fixed here, independent of the Avro encoding, so a later schema version still verifies records
/// signed under an earlier one; a new field that matters for authentication must be added here
/// (and old MACs then stop verifying: republish with `friction keys sync`).
pub fn mac_input(r: &ApiKeyRecord) -> Vec<u8> {
    fn put(out: &mut Vec<u8>, bytes: &[u8]) {
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
    }
    let mut out = Vec::with_capacity(160 + r.allowed_origins.iter().map(|o| o.len() + 4).sum::<usize>());
    out.extend_from_slice(MAC_DOMAIN);
    put(&mut out, r.key_hash.as_bytes());
    put(&mut out, r.key_id.as_bytes());
    put(&mut out, r.project_id.as_bytes());
    put(&mut out, r.project_name.as_bytes());
    out.push(u8::from(r.revoked));
    out.extend_from_slice(&u32::try_from(r.allowed_origins.len()).unwrap_or(u32::MAX).to_be_bytes());
    for o in &r.allowed_origins {
        put(&mut out, o.as_bytes());
    }
    match r.rate_limit_per_sec {
        None => out.push(0),
        Some(rate) => {
            out.push(1);
            out.extend_from_slice(&rate.to_bits().to_be_bytes());
        }
    }
    out.extend_from_slice(&r.updated_at.to_be_bytes());
    out
}

fn hmac_of(r: &ApiKeyRecord, secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(&mac_input(r));
    mac
}

/// Sets `r.mac` to the MAC of its other fields under `secret` (the publishers' secret,
/// `FRICTION_KEYS_SECRET`).
pub fn sign(r: &mut ApiKeyRecord, secret: &[u8]) {
    r.mac = Some(hex::encode(hmac_of(r, secret).finalize().into_bytes()));
}

/// What [`verify_mac`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacCheck {
    /// The MAC verifies under the secret.
    Valid,
    /// The record carries no MAC (an unsigned or v1 record).
    Missing,
    /// The record carries a MAC that is not one of this secret over these contents.
    Invalid,
}

impl MacCheck {
    /// A metric label and log word: `valid`, `missing_mac`, `bad_mac`.
    pub fn as_str(self) -> &'static str {
        match self {
            MacCheck::Valid => "valid",
            MacCheck::Missing => "missing_mac",
            MacCheck::Invalid => "bad_mac",
        }
    }
}

/// Checks `r.mac` against `secret`, in constant time.
pub fn verify_mac(r: &ApiKeyRecord, secret: &[u8]) -> MacCheck {
    let Some(mac) = r.mac.as_deref() else { return MacCheck::Missing };
    let Ok(bytes) = hex::decode(mac) else { return MacCheck::Invalid };
    match hmac_of(r, secret).verify_slice(&bytes) {
        Ok(()) => MacCheck::Valid,
        Err(_) => MacCheck::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ApiKeyRecord {
        ApiKeyRecord {
            key_hash: hash_api_key("frk_x"),
            key_id: "k1".into(),
            project_id: "p1".into(),
            project_name: "default".into(),
            revoked: false,
            allowed_origins: vec!["https://a.example".into()],
            rate_limit_per_sec: Some(10.0),
            updated_at: 1_700_000_000_000,
            mac: None,
        }
    }

    #[test]
    fn a_signed_record_verifies_only_under_its_secret_and_contents() {
        let mut r = record();
        assert_eq!(verify_mac(&r, b"secret-one-0123456789"), MacCheck::Missing);
        sign(&mut r, b"secret-one-0123456789");
        assert_eq!(verify_mac(&r, b"secret-one-0123456789"), MacCheck::Valid);
        assert_eq!(verify_mac(&r, b"secret-two-0123456789"), MacCheck::Invalid);
        // Any change to a field the gateway acts on breaks the MAC.
        let changes: Vec<fn(&mut ApiKeyRecord)> = vec![
            |r| r.key_hash = hash_api_key("frk_y"),
            |r| r.key_id.push('x'),
            |r| r.project_id.push('x'),
            |r| r.project_name.push('x'),
            |r| r.revoked = true,
            |r| r.allowed_origins.clear(),
            |r| r.rate_limit_per_sec = None,
            |r| r.updated_at += 1,
        ];
        for change in changes {
            let mut tampered = r.clone();
            change(&mut tampered);
            assert_eq!(verify_mac(&tampered, b"secret-one-0123456789"), MacCheck::Invalid, "{tampered:?}");
        }
        let mut garbage = r.clone();
        garbage.mac = Some("not hex".into());
        assert_eq!(verify_mac(&garbage, b"secret-one-0123456789"), MacCheck::Invalid);
    }

    /// Length prefixes: moving bytes from one field to the next changes the input.
    #[test]
    fn field_boundaries_are_part_of_the_mac_input() {
        let mut a = record();
        let mut b = record();
        a.key_id = "k1p".into();
        a.project_id = "1".into();
        b.key_id = "k1".into();
        b.project_id = "p1".into();
        assert_ne!(mac_input(&a), mac_input(&b));
    }

    /// Keys already stored and published were hashed like this: a change here locks every one out.
    #[test]
    fn the_hash_of_a_known_key_does_not_change() {
        // sha256("abc"), FIPS 180-2 test vector.
        assert_eq!(hash_api_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        let key = "frk_00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert_eq!(hash_api_key(key), "5d1e8a53a43a42979a1e2c65a6b1fd8a8362cc43f36c23b024dbcc63dabd91f6");
    }
}
