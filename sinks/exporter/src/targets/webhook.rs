//! Signed webhooks (Standard Webhooks): no credential header but a `webhook-signature` over the
//! body with the integration's secret, after an SSRF guard on the endpoint. The receiver dedupes
//! by `webhook-id`, so resending with the same id is the reconcile.

use std::net::{IpAddr, SocketAddr};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::{json, Value};
use sha2::Sha256;

use super::call::{CallError, NewComment, NewTicket, Remote, Reply, Target, Tracker};
use crate::outcome::Class;
use crate::secret::Secret;

pub(super) struct Webhook;

impl Tracker for Webhook {
    fn authorization(&self, _t: &Target) -> Result<Option<String>, CallError> {
        Ok(None)
    }

    fn find<'a>(&'a self, _t: &'a Target, _h: HeaderMap, _marker: &'a str) -> Reply<'a, Option<Remote>> {
        // Resending with the same webhook-id is the reconcile: the receiver dedupes.
        Box::pin(async { Ok(None) })
    }

    fn create<'a>(&'a self, t: &'a Target, _h: HeaderMap, new: &'a NewTicket) -> Reply<'a, Remote> {
        let NewTicket { content, marker, change, generation } = *new;
        Box::pin(async move {
            let payload = json!({
                "type": "incident.ticket",
                "timestamp": friction_runtime::now_ms(),
                "data": { "marker": marker, "generation": generation, "title": content.title, "markdown": content.markdown(), "incident": change },
            });
            post_signed(t, marker, &payload).await?;
            Ok(Remote { id: marker.to_owned(), key: marker.to_owned(), url: String::new() })
        })
    }

    fn comment<'a>(&'a self, t: &'a Target, _h: HeaderMap, remote: &'a Remote, new: &'a NewComment) -> Reply<'a, ()> {
        let NewComment { text, id, event } = *new;
        Box::pin(async move {
            let payload = json!({ "type": event, "timestamp": friction_runtime::now_ms(), "data": { "marker": remote.id, "text": text } });
            post_signed(t, id, &payload).await
        })
    }

    fn has_comment<'a>(&'a self, _t: &'a Target, _h: HeaderMap, _remote: &'a Remote, _id: &'a str) -> Reply<'a, bool> {
        // The receiver dedupes by webhook-id.
        Box::pin(async { Ok(false) })
    }

    fn reopen<'a>(&'a self, _t: &'a Target, _h: HeaderMap, _remote: &'a Remote) -> Reply<'a, ()> {
        // Webhooks get the event only.
        Box::pin(async { Ok(()) })
    }

    fn check<'a>(&'a self, t: &'a Target, _h: HeaderMap) -> Reply<'a, String> {
        Box::pin(async move {
            let id = format!("ping_{}", hex::encode(rand::random::<[u8; 6]>()));
            post_signed(t, &id, &json!({ "type": "ping", "timestamp": friction_runtime::now_ms(), "data": {} }))
                .await?;
            Ok("endpoint accepted a signed ping".into())
        })
    }
}

/// Posts a signed Standard Webhooks message, after the SSRF guard: the host is resolved once,
/// every address must be public (unless allowed), the connection goes to that address, and
/// redirects are not followed.
async fn post_signed(t: &Target<'_>, id: &str, payload: &Value) -> Result<(), CallError> {
    let url = reqwest::Url::parse(&t.cfg().base_url)
        .map_err(|_| CallError::new(Class::Configuration, "the webhook URL is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(CallError::new(Class::Configuration, "the webhook URL must be http or https"));
    }
    let host =
        url.host_str().ok_or_else(|| CallError::new(Class::Configuration, "the webhook URL has no host"))?.to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| CallError::new(Class::Unreachable, "the webhook host does not resolve"))?
            .collect(),
    };
    let allow = t.allow_private_network || t.cfg().allow_private_network;
    let Some(addr) = addrs.first().copied() else {
        return Err(CallError::new(Class::Unreachable, "the webhook host has no address"));
    };
    if !allow && addrs.iter().any(|a| !is_public(a.ip())) {
        return Err(CallError::new(
            Class::Configuration,
            format!("refusing to send a webhook to a non-public address ({})", addr.ip()),
        ));
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&host, addr)
        .connect_timeout(crate::targets::connect_timeout(t.timeout))
        .build()
        .map_err(|_| CallError::new(Class::Unreachable, "could not build the HTTP client"))?;
    let body =
        serde_json::to_vec(payload).map_err(|_| CallError::new(Class::Permanent, "could not encode the payload"))?;
    let ts = friction_runtime::now_ms() / 1000;
    let req = client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", webhook_signature(&t.secret, id, ts, &body))
        .body(body);
    t.send(&client, req).await.map(|_| ())
}

/// True for addresses a webhook may be sent to: not private, loopback, link-local, unspecified,
/// multicast, shared (CGNAT), or unique-local.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80)
        }
    }
}

/// The Standard Webhooks signature header value `v1,<base64 HMAC-SHA256(key, "{id}.{ts}.{body}")>`.
/// `secret` is `whsec_<base64>` (the key is the decoded bytes) or a raw key.
pub fn webhook_signature(secret: &Secret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let raw = secret.expose();
    let key = raw.strip_prefix("whsec_").and_then(|b| B64.decode(b).ok()).unwrap_or_else(|| raw.as_bytes().to_vec());
    // HMAC takes keys of any length.
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let sig = webhook_signature(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1_614_265_330, br#"{"test": 2432232314}"#);
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn ssrf_ranges() {
        for ip in [
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap_or(IpAddr::V4([1, 1, 1, 1].into()))), "{ip} must be refused");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(ip.parse().unwrap_or(IpAddr::V4([10, 0, 0, 1].into()))), "{ip} is public");
        }
    }
}
