//! Load generators and benchmarks. Each bench measures Friction against a baseline in the same run
//! and reports the ratio (docs/architecture.md §9); absolute numbers depend on the machine.

pub mod anchors;
pub mod broker;
pub mod corpus;
pub mod quality;
pub mod report;
pub mod rng;
pub mod stream;

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    Client::builder(TokioExecutor::new()).pool_max_idle_per_host(256).build_http()
}

/// A realistic SDK batch: a session's mix of pageviews, clicks, mutations, network calls, scrolls
/// and inputs, with the fields the browser SDK sends.
pub fn realistic_batch(session: usize, events: usize) -> String {
    let mut out = Vec::with_capacity(events);
    let base = 1_705_312_800_000i64 + session as i64 * 1000;
    for i in 0..events {
        let ts = base + i as i64 * 150;
        let common = json!({"timestamp": ts, "sessionId": format!("bench-session-{session}"), "tabId": "tab-1",
            "userId": format!("user-{}", session % 97), "url": "https://shop.example/products/42?ref=home",
            "route": "/products/42", "release": "web@1.4.2", "eventId": format!("{:08x}-0000-4000-8000-{:012x}", session, i)});
        let mut e = common;
        match i % 6 {
            0 => {
                e["eventType"] = json!("pageview");
                e["navigation"] = json!({"kind": "push", "from": "/", "to": "/products/42"});
            }
            1 | 4 => {
                e["eventType"] = json!("click");
                e["target"] = json!({"selector": "main > div.product > button.add-to-cart", "key": "add-to-cart",
                    "tag": "button", "role": "button", "text": "Add to cart", "x": 412.5, "y": 318.0, "interactive": true});
                e["button"] = json!(0);
            }
            2 => {
                e["eventType"] = json!("mutation");
                e["mutation"] = json!({"count": 12, "nearTarget": true});
            }
            3 => {
                e["eventType"] = json!("network");
                e["network"] = json!({"method": "POST", "url": "https://api.shop.example/cart", "status": 200, "durationMs": 84.2});
            }
            _ => {
                e["eventType"] = json!("scroll");
                e["scroll"] = json!({"dy": 240, "y": 1200});
            }
        }
        e["metadata"] = json!({"viewport": "1440x900"});
        out.push(e);
    }
    json!({"sentAt": base + events as i64 * 150, "events": out}).to_string()
}

/// Latency samples and totals of one load run.
pub struct RunResult {
    pub events: u64,
    pub batches: u64,
    pub failures: u64,
    pub elapsed: Duration,
    pub latencies_us: Vec<u64>,
}

impl RunResult {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64()
    }
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let idx = ((self.latencies_us.len() as f64 - 1.0) * p).round() as usize;
        self.latencies_us[idx] as f64 / 1000.0
    }
}

/// Posts batches from `connections` concurrent clients for `duration`. With `rate_batches_per_sec`
/// the load is paced (open loop, for latency at a given load); without, each client sends as fast as
/// answers come back (closed loop, for the maximum rate).
pub async fn run_load(
    url: &str,
    key: &str,
    bodies: &[Bytes],
    events_per_batch: usize,
    connections: usize,
    duration: Duration,
    rate_batches_per_sec: Option<f64>,
) -> RunResult {
    let client = http_client();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..connections {
        let client = client.clone();
        let url = url.to_string();
        let key = key.to_string();
        let bodies: Vec<Bytes> = bodies.to_vec();
        let interval = rate_batches_per_sec.map(|r| Duration::from_secs_f64(connections as f64 / r));
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut i = c;
            let mut next = Instant::now();
            while started.elapsed() < duration {
                if let Some(iv) = interval {
                    next += iv;
                    let now = Instant::now();
                    if next > now {
                        tokio::time::sleep(next - now).await;
                    }
                }
                let body = bodies[i % bodies.len()].clone();
                i += connections;
                let req = hyper::Request::post(url.as_str())
                    .header("content-type", "application/json")
                    .header("x-api-key", key.as_str())
                    .body(Full::new(body))
                    .expect("request");
                let t = Instant::now();
                match client.request(req).await {
                    Ok(resp) => {
                        let status = resp.status();
                        let _ = resp.into_body().collect().await;
                        if status.as_u16() == 202 || status.as_u16() == 200 {
                            ok += 1;
                            lat.push(t.elapsed().as_micros() as u64);
                        } else {
                            failed += 1;
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            (ok, failed, lat)
        }));
    }
    let mut result =
        RunResult { events: 0, batches: 0, failures: 0, elapsed: Duration::ZERO, latencies_us: Vec::new() };
    for t in tasks {
        if let Ok((ok, failed, lat)) = t.await {
            result.batches += ok;
            result.failures += failed;
            result.latencies_us.extend(lat);
        }
    }
    result.elapsed = started.elapsed();
    result.events = result.batches * events_per_batch as u64;
    result
}

/// POSTs a JSON body with an API key; (status, body).
pub async fn post_json(client: &HttpClient, url: &str, key: &str, body: String) -> (u16, String) {
    let req = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("x-api-key", key)
        .body(Full::new(Bytes::from(body)));
    let Ok(req) = req else { return (0, "bad request".into()) };
    match client.request(req).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }
        Err(e) => (0, e.to_string()),
    }
}
