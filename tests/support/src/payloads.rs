//! Ingest API bodies that the end-to-end tests and the latency bench post as a user's SDK would.

use serde_json::json;

/// One shopper rage-clicking a dead button, as the SDK sends it when it happens: a page load, then
/// four clicks 300 ms apart on `button` that nothing answers (no mutation, request or navigation).
/// The last click is at `last_click_ms`.
pub fn rage_batch(session: &str, user: &str, button: &str, last_click_ms: i64) -> String {
    let t0 = last_click_ms - 1900;
    let click = |i: i64| {
        json!({"eventType": "click", "timestamp": t0 + 1000 + i * 300, "sessionId": session, "userId": user,
               "route": "/checkout", "release": "1.4.0",
               "target": {"type": "button", "tag": "button", "key": button, "interactive": true, "x": 200, "y": 300}})
    };
    json!({"events": [
        {"eventType": "pageview", "timestamp": t0, "sessionId": session, "userId": user, "route": "/checkout",
         "release": "1.4.0", "navigation": {"kind": "load", "to": "/checkout"}},
        click(0), click(1), click(2), click(3)
    ]})
    .to_string()
}
