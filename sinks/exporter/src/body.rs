//! The ticket's words: title, facts, evidence and a plain-language explanation per signal kind,
//! rendered as Markdown (Linear, GitHub, webhooks) and as Atlassian Document Format (Jira v3).
//! Pure and deterministic: the same incident change gives the same ticket.

use friction_schemas::IncidentChange;
use serde_json::{json, Value};

use crate::secret::truncate;

/// Jira's summary limit.
pub const TITLE_MAX: usize = 255;

/// Everything a ticket says, before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketContent {
    pub title: String,
    pub heading: String,
    /// (label, value) facts: route, element, counts, first/last seen, releases, severity.
    pub facts: Vec<(String, String)>,
    pub explanation: String,
    /// One line per evidence sample.
    pub evidence: Vec<String>,
    /// The marker line that lets a ticket be found again (no secrets, no PII).
    pub marker_line: String,
    pub link: Option<String>,
}

/// A plain-language explanation of what users hit and where to look, per signal kind
/// (friction-incidents' `model::explanation`, which the console shows too), with the counts.
pub fn explain(change: &IncidentChange) -> String {
    let what = friction_incidents::model::explanation(&change.kind, &change.route_template, &change.element_key);
    format!("{what} It affected {} users in {} sessions ({} times).", change.users, change.sessions, change.occurrences)
}

fn iso(ms: i64) -> String {
    // Seconds precision UTC without a date library: days from the civil epoch (Howard Hinnant).
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The content of the ticket for `change`; `marker` is the ledger row's marker; `explanation`
/// replaces the deterministic one (an LLM's) when given.
pub fn ticket_content(
    change: &IncidentChange,
    marker: &str,
    console_url: Option<&str>,
    explanation: Option<String>,
) -> TicketContent {
    let heading = if change.title.trim().is_empty() {
        format!("{} on {} › {}", change.kind.replace('_', " "), change.route_template, change.element_key)
    } else {
        change.title.trim().to_owned()
    };
    let title = truncate(
        &format!("[Frustration] {heading} ({} events, {} users)", change.occurrences, change.users),
        TITLE_MAX - 1,
    );
    let releases = if change.releases.is_empty() { "unknown".to_owned() } else { change.releases.join(", ") };
    let facts = vec![
        ("Route".to_owned(), change.route_template.clone()),
        ("Element".to_owned(), change.element_key.clone()),
        ("Kind".to_owned(), change.kind.clone()),
        ("Occurrences".to_owned(), change.occurrences.to_string()),
        ("Sessions".to_owned(), change.sessions.to_string()),
        ("Users".to_owned(), change.users.to_string()),
        ("First seen".to_owned(), iso(change.first_seen_ms)),
        ("Last seen".to_owned(), iso(change.last_seen_ms)),
        ("Releases".to_owned(), releases),
        ("Severity".to_owned(), format!("{:.1} ({})", change.severity, change.priority)),
        ("Status".to_owned(), format!("{} (generation {})", change.status, change.generation)),
    ];
    let evidence = change
        .samples
        .iter()
        .take(5)
        .map(|s| {
            let release = s.release.as_deref().map(|r| format!(", release {r}")).unwrap_or_default();
            truncate(
                &format!(
                    "{} at {} in session {}{release}{}",
                    if s.label.is_empty() { "signal" } else { &s.label },
                    iso(s.start_ms),
                    s.session_id,
                    log_line(&s.evidence_json)
                ),
                EVIDENCE_LINE_MAX,
            )
        })
        .collect();
    let link = console_url.map(|base| format!("{}/incidents/{}", base.trim_end_matches('/'), change.id));
    TicketContent {
        title,
        heading,
        facts,
        explanation: explanation.filter(|e| !e.trim().is_empty()).unwrap_or_else(|| explain(change)),
        evidence,
        marker_line: format!("friction-marker: {marker} incident: {}", change.id),
        link,
    }
}

/// Longest evidence line of a ticket (a log line's message and attributes included).
const EVIDENCE_LINE_MAX: usize = 1000;

/// For a server error's evidence: `: "<message>" (key=value, …)`, the line as logged and its
/// attributes (the detector copies both into the evidence details); empty for other signals.
fn log_line(evidence_json: &str) -> String {
    let Ok(evidence) = serde_json::from_str::<serde_json::Value>(evidence_json) else { return String::new() };
    let details = &evidence["details"];
    let Some(message) = details["message"].as_str() else { return String::new() };
    let mut line = format!(": \"{message}\"");
    let attributes = details["attributes"]
        .as_str()
        .and_then(|a| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(a).ok())
        .unwrap_or_default();
    if !attributes.is_empty() {
        let pairs: Vec<String> = attributes
            .iter()
            .map(|(k, v)| match v.as_str() {
                Some(v) => format!("{k}={v}"),
                None => format!("{k}={v}"),
            })
            .collect();
        line.push_str(&format!(" ({})", pairs.join(", ")));
    }
    line
}

impl TicketContent {
    /// Markdown, with the marker in an HTML comment (invisible on GitHub and Linear) and plain.
    pub fn markdown(&self) -> String {
        let mut s = format!("### {}\n\n{}\n\n", self.heading, self.explanation);
        for (k, v) in &self.facts {
            s.push_str(&format!("- **{k}:** {}\n", if v.is_empty() { "—" } else { v }));
        }
        if !self.evidence.is_empty() {
            s.push_str("\n**Evidence**\n\n");
            for e in &self.evidence {
                s.push_str(&format!("- {e}\n"));
            }
        }
        if let Some(link) = &self.link {
            s.push_str(&format!("\n[Open in Friction]({link})\n"));
        }
        s.push_str(&format!("\n<!-- {} -->\n", self.marker_line));
        s
    }

    /// An ADF document (heading, paragraphs, bullet list, code block, link): only nodes Jira
    /// supports, never an empty text node.
    pub fn adf(&self) -> Value {
        let mut content = vec![
            json!({"type": "heading", "attrs": {"level": 3}, "content": text_nodes(&self.heading)}),
            json!({"type": "paragraph", "content": text_nodes(&self.explanation)}),
        ];
        let items: Vec<Value> = self
            .facts
            .iter()
            .map(|(k, v)| {
                let mut nodes = vec![json!({"type": "text", "text": format!("{k}: "), "marks": [{"type": "strong"}]})];
                nodes.extend(text_nodes(v));
                json!({"type": "listItem", "content": [{"type": "paragraph", "content": nodes}]})
            })
            .collect();
        content.push(json!({"type": "bulletList", "content": items}));
        if !self.evidence.is_empty() {
            content.push(json!({"type": "paragraph", "content": [{"type": "text", "text": "Evidence", "marks": [{"type": "strong"}]}]}));
            let items: Vec<Value> = self
                .evidence
                .iter()
                .map(|e| json!({"type": "listItem", "content": [{"type": "paragraph", "content": text_nodes(e)}]}))
                .collect();
            content.push(json!({"type": "bulletList", "content": items}));
        }
        if let Some(link) = &self.link {
            content.push(json!({"type": "paragraph", "content": [{"type": "text", "text": "Open in Friction", "marks": [{"type": "link", "attrs": {"href": link}}]}]}));
        }
        content.push(json!({"type": "codeBlock", "attrs": {"language": "text"}, "content": [{"type": "text", "text": self.marker_line}]}));
        json!({"type": "doc", "version": 1, "content": content})
    }
}

/// A text node, or nothing for empty text (ADF rejects empty text nodes).
fn text_nodes(text: &str) -> Vec<Value> {
    if text.is_empty() {
        Vec::new()
    } else {
        vec![json!({"type": "text", "text": text})]
    }
}

/// A recurrence comment: what changed since the ticket or the last comment.
pub fn recurrence_comment(change: &IncidentChange, reported: i64) -> String {
    format!(
        "Recurred: {} more occurrences since the last update (now {} occurrences, {} sessions, {} users; last seen {}).",
        change.occurrences.saturating_sub(reported),
        change.occurrences,
        change.sessions,
        change.users,
        iso(change.last_seen_ms)
    )
}

/// The comment on a ticket whose incident is no longer confirmed: evidence was retracted (later
/// events contradicted some signals) and what is left is below its confirmation policy. The ticket
/// is kept.
pub fn unconfirmed_comment(change: &IncidentChange) -> String {
    format!(
        "No longer confirmed: some of the evidence was retracted (later events contradicted it), and what remains \
         ({} occurrences, {} sessions, {} users) is below the confirmation policy. The incident is open again; this \
         ticket is kept.",
        change.occurrences, change.sessions, change.users
    )
}

/// An ADF document of one paragraph.
pub fn adf_paragraph(text: &str) -> Value {
    json!({"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": text_nodes(text)}]})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change() -> IncidentChange {
        IncidentChange {
            id: "inc1".into(),
            kind: "rage_click".into(),
            title: "Rage clicks on Checkout › Pay".into(),
            route_template: "/checkout".into(),
            element_key: "button#pay".into(),
            occurrences: 42,
            sessions: 20,
            users: 17,
            first_seen_ms: 1_759_226_531_000,
            last_seen_ms: 1_759_226_535_000,
            releases: vec!["1.2.0".into()],
            ..Default::default()
        }
    }

    #[test]
    fn a_server_errors_evidence_shows_the_line_and_its_attributes() {
        let mut c = change();
        c.kind = "server_error".into();
        c.samples = vec![friction_schemas::EvidenceSample {
            label: "server_error".into(),
            session_id: "log:pos".into(),
            evidence_json: serde_json::json!({"details": {
                "service": "pos", "level": "error",
                "message": "MISSING_PRICE: product 999 has no price (order 51234)",
                "attributes": r#"{"orderId":"51234","productId":"999","retryable":"false"}"#,
            }})
            .to_string(),
            ..Default::default()
        }];
        let content = ticket_content(&c, "m1", None, None);
        let line = &content.evidence[0];
        assert!(line.contains(r#": "MISSING_PRICE: product 999 has no price (order 51234)""#), "{line}");
        assert!(line.contains("(orderId=51234, productId=999, retryable=false)"), "{line}");
        // Other signals' evidence lines are as before.
        assert_eq!(log_line(r#"{"details": {"rule": "rage"}}"#), "");
        assert_eq!(log_line("not json"), "");
    }

    #[test]
    fn iso_dates() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_759_226_535_000), "2025-09-30T10:02:15Z");
    }

    #[test]
    fn content_has_the_facts_and_marker() {
        let c = ticket_content(&change(), "frustration-abc-g1", Some("https://f.example/"), None);
        assert_eq!(c.title, "[Frustration] Rage clicks on Checkout › Pay (42 events, 17 users)");
        let md = c.markdown();
        for needle in [
            "/checkout",
            "button#pay",
            "**Users:** 17",
            "2025-09-30T10:02:11Z",
            "1.2.0",
            "frustration-abc-g1",
            "https://f.example/incidents/inc1",
            "did not respond",
        ] {
            assert!(md.contains(needle), "{needle} missing in {md}");
        }
        assert_eq!(c, ticket_content(&change(), "frustration-abc-g1", Some("https://f.example/"), None));
    }

    #[test]
    fn adf_never_has_empty_text() {
        let mut ch = change();
        ch.element_key.clear();
        ch.releases.clear();
        let doc = ticket_content(&ch, "m", None, None).adf();
        fn walk(v: &Value) {
            if v.get("type") == Some(&json!("text")) {
                assert!(v["text"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
            }
            for child in v.get("content").and_then(Value::as_array).into_iter().flatten() {
                walk(child);
            }
        }
        walk(&doc);
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["version"], 1);
    }

    #[test]
    fn every_kind_has_an_explanation() {
        // The fallback for an unknown kind, to tell a kind's own text from it.
        let fallback = |ch: &IncidentChange| {
            format!("Users met {} on {} at {}.", ch.kind.replace('_', " "), ch.route_template, ch.element_key)
        };
        let mut seen = std::collections::BTreeSet::new();
        for kind in friction_schemas::signal::KINDS {
            let mut ch = change();
            ch.kind = kind.into();
            let e = explain(&ch);
            assert!(!e.starts_with(&fallback(&ch)), "{kind} has no explanation of its own: {e}");
            assert!(e.contains("/checkout"), "{kind}: the route is missing in {e}");
            assert!(e.ends_with("It affected 17 users in 20 sessions (42 times)."), "{kind}: {e}");
            assert!(seen.insert(e.clone()), "{kind} shares its explanation with another kind: {e}");
        }
        let other = IncidentChange { kind: "other_kind".into(), ..change() };
        assert!(explain(&other).starts_with(&fallback(&other)), "{}", explain(&other));
        let long = IncidentChange { title: "x".repeat(400), ..change() };
        assert!(ticket_content(&long, "m", None, None).title.chars().count() <= TITLE_MAX);
        assert_eq!(ticket_content(&change(), "m", None, Some("LLM says".into())).explanation, "LLM says");
    }
}
