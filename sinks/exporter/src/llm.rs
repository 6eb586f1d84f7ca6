//! An optional explainer: any OpenAI-compatible chat endpoint (`POST {url}/chat/completions`)
//! writes the ticket's plain-language explanation. On timeout, error or an empty answer the
//! deterministic [`crate::body::explain`] is used, so a ticket never waits on it for long.

use std::time::Duration;

use serde_json::{json, Value};

use friction_schemas::IncidentChange;

use crate::body::explain;
use crate::secret::{truncate, Secret};

/// Where the LLM is. `Debug` hides the key (it is a [`Secret`]).
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// Base URL, e.g. `https://api.openai.com/v1`.
    pub url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    pub timeout: Duration,
}

/// The chat request for `change`: facts only (no user ids, no URLs with query strings).
pub fn prompt(change: &IncidentChange, model: &str) -> Value {
    let facts = format!(
        "Signal kind: {}\nRoute: {}\nElement: {}\nOccurrences: {}\nSessions: {}\nUsers: {}\nReleases: {}\nTitle: {}",
        change.kind,
        change.route_template,
        change.element_key,
        change.occurrences,
        change.sessions,
        change.users,
        change.releases.join(", "),
        change.title
    );
    json!({
        "model": model,
        "temperature": 0,
        "max_tokens": 300,
        "messages": [
            {"role": "system", "content": "You write the explanation paragraph of a bug ticket about user frustration detected in a web app. In at most 4 plain sentences: what users hit, where, and where an engineer should look first. No greetings, no markdown headings."},
            {"role": "user", "content": facts}
        ]
    })
}

/// The explanation: the LLM's when it answers in time, else the deterministic one.
pub async fn explanation(http: &reqwest::Client, config: Option<&LlmConfig>, change: &IncidentChange) -> String {
    let Some(config) = config else { return explain(change) };
    match ask(http, config, change).await {
        Some(text) => text,
        None => {
            metrics::counter!("friction_export_llm_fallbacks_total").increment(1);
            explain(change)
        }
    }
}

async fn ask(http: &reqwest::Client, config: &LlmConfig, change: &IncidentChange) -> Option<String> {
    let url = format!("{}/chat/completions", config.url.trim_end_matches('/'));
    let mut req = http.post(url).timeout(config.timeout).json(&prompt(change, &config.model));
    if let Some(key) = &config.api_key {
        req = req.bearer_auth(key.expose());
    }
    let response = match req.send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::warn!(status = r.status().as_u16(), "LLM explainer failed; using the deterministic one");
            return None;
        }
        Err(e) => {
            tracing::warn!(timeout = e.is_timeout(), "LLM explainer unreachable; using the deterministic one");
            return None;
        }
    };
    let body: Value = tokio::time::timeout(config.timeout, response.json()).await.ok()?.ok()?;
    let text = body["choices"][0]["message"]["content"].as_str()?.trim();
    (!text.is_empty()).then(|| truncate(text, 2000))
}

impl LlmConfig {
    /// From `FRICTION_LLM_URL` (unset: no LLM), `FRICTION_LLM_API_KEY`, `FRICTION_LLM_MODEL`
    /// (default `gpt-4o-mini`) and `FRICTION_LLM_TIMEOUT_MS` (default 5000).
    pub fn from_env() -> Option<LlmConfig> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Some(LlmConfig {
            url: var("FRICTION_LLM_URL")?,
            api_key: var("FRICTION_LLM_API_KEY").map(Secret::new),
            model: var("FRICTION_LLM_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
            timeout: Duration::from_millis(var("FRICTION_LLM_TIMEOUT_MS").and_then(|v| v.parse().ok()).unwrap_or(5000)),
        })
    }
}
