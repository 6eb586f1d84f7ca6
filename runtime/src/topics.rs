//! The topic catalogue (`topics.yaml` at the repository root, compiled in), the name of every
//! pipeline topic as a constant (a test checks them against the catalogue), and `topics apply`:
//! create what is missing, report what differs. The comparison is a pure function so it is tested
//! without a broker.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use serde::Deserialize;

pub const EVENTS: &str = "friction.events.v1";
pub const SESSIONIZED: &str = "friction.sessionized.v1";
pub const SESSIONS: &str = "friction.sessions.v1";
pub const SIGNALS: &str = "friction.signals.v1";
pub const INCIDENTS: &str = "friction.incidents.v1";
pub const APIKEYS: &str = "friction.apikeys.v1";
pub const DEADLETTER: &str = "friction.deadletter.v1";
/// The sessionizer's state (compacted; one partition per partition of [`EVENTS`]).
pub const SESSIONIZER_CHANGELOG: &str = "friction.sessionizer.changelog.v1";
/// The detector's state (compacted; one partition per partition of [`SESSIONIZED`]).
pub const DETECTOR_CHANGELOG: &str = "friction.detector.changelog.v1";

/// Every topic above: exactly the topics of `topics.yaml`.
pub const ALL: [&str; 9] =
    [EVENTS, SESSIONIZED, SESSIONS, SIGNALS, INCIDENTS, APIKEYS, DEADLETTER, SESSIONIZER_CHANGELOG, DETECTOR_CHANGELOG];

/// The catalogue shipped with this build.
pub const CATALOGUE_YAML: &str = include_str!("../../topics.yaml");

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub partitions: i32,
    #[serde(default = "one")]
    pub replication: i32,
    /// `delete`, `compact` or `compact,delete`.
    pub cleanup: String,
    /// Milliseconds; -1 keeps data forever.
    pub retention_ms: i64,
    /// What the message key is (documentation for producers and consumers).
    pub key: String,
    /// The Avro schema family of the values (`schemas/avro/<family>.v<N>.avsc`).
    pub value_schema: String,
}

fn one() -> i32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    topics: Vec<TopicSpec>,
}

#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("topics file is not valid YAML: {0}")]
    Yaml(String),
    #[error("topic `{topic}`: {problem}")]
    Invalid { topic: String, problem: String },
    #[error("talking to the broker failed: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
}

/// Parses and validates a catalogue.
pub fn parse(yaml: &str) -> Result<Vec<TopicSpec>, TopicsError> {
    let catalogue: Catalogue = serde_norway::from_str(yaml).map_err(|e| TopicsError::Yaml(e.to_string()))?;
    let mut seen = std::collections::BTreeSet::new();
    for t in &catalogue.topics {
        let invalid = |problem: &str| TopicsError::Invalid { topic: t.name.clone(), problem: problem.into() };
        if t.name.is_empty()
            || t.name.len() > 249
            || !t.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(invalid("name must be 1-249 characters of [a-zA-Z0-9._-]"));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(invalid("is listed twice"));
        }
        if t.partitions < 1 {
            return Err(invalid("partitions must be at least 1"));
        }
        if t.replication < 1 {
            return Err(invalid("replication must be at least 1"));
        }
        if !matches!(t.cleanup.as_str(), "delete" | "compact" | "compact,delete" | "delete,compact") {
            return Err(invalid("cleanup must be delete, compact or compact,delete"));
        }
        if t.retention_ms < -1 || t.retention_ms == 0 {
            return Err(invalid("retention_ms must be -1 (forever) or a positive number of milliseconds"));
        }
    }
    Ok(catalogue.topics)
}

/// The compiled-in catalogue.
pub fn catalogue() -> Vec<TopicSpec> {
    // Covered by a test; the file ships with the binary.
    parse(CATALOGUE_YAML).unwrap_or_else(|e| panic!("built-in topics.yaml is invalid: {e}"))
}

/// What the broker says about an existing topic. A config the broker did not report is `None`
/// (some brokers, tansu among them, answer DescribeConfigs with nothing).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObservedTopic {
    pub partitions: i32,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub setting: &'static str,
    pub wanted: String,
    pub actual: String,
}

/// The settings of `observed` that differ from `spec`, and the settings that could not be verified.
pub fn diff(spec: &TopicSpec, observed: &ObservedTopic) -> (Vec<Difference>, Vec<&'static str>) {
    let mut differences = Vec::new();
    let mut unverified = Vec::new();
    if observed.partitions != spec.partitions {
        differences.push(Difference {
            setting: "partitions",
            wanted: spec.partitions.to_string(),
            actual: observed.partitions.to_string(),
        });
    }
    let normalize = |s: &str| {
        let mut parts: Vec<&str> = s.split(',').map(str::trim).collect();
        parts.sort_unstable();
        parts.join(",")
    };
    match observed.configs.get("cleanup.policy") {
        Some(actual) if normalize(actual) != normalize(&spec.cleanup) => differences.push(Difference {
            setting: "cleanup.policy",
            wanted: spec.cleanup.clone(),
            actual: actual.clone(),
        }),
        Some(_) => {}
        None => unverified.push("cleanup.policy"),
    }
    match observed.configs.get("retention.ms") {
        Some(actual) if actual.trim() != spec.retention_ms.to_string() => differences.push(Difference {
            setting: "retention.ms",
            wanted: spec.retention_ms.to_string(),
            actual: actual.clone(),
        }),
        Some(_) => {}
        None => unverified.push("retention.ms"),
    }
    (differences, unverified)
}

#[derive(Debug, Default)]
pub struct ApplyReport {
    pub created: Vec<String>,
    pub unchanged: Vec<String>,
    pub differing: Vec<(String, Vec<Difference>)>,
    /// Topics whose settings the broker did not report, with the settings left unchecked.
    pub unverified: Vec<(String, Vec<&'static str>)>,
}

/// Creates every missing topic and compares the existing ones. Never alters an existing topic:
/// changing partitions or cleanup of live data is an operator's decision.
pub async fn apply(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<ApplyReport, TopicsError> {
    let existing = existing_partitions(admin, timeout)?;
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let mut report = ApplyReport::default();

    let missing: Vec<&TopicSpec> = specs.iter().filter(|s| !existing.contains_key(&s.name)).collect();
    if !missing.is_empty() {
        let retention: Vec<String> = missing.iter().map(|s| s.retention_ms.to_string()).collect();
        let new_topics: Vec<NewTopic> = missing
            .iter()
            .zip(&retention)
            .map(|(s, r)| {
                NewTopic::new(&s.name, s.partitions, TopicReplication::Fixed(s.replication))
                    .set("cleanup.policy", &s.cleanup)
                    .set("retention.ms", r)
            })
            .collect();
        for result in admin.create_topics(&new_topics, &options).await? {
            match result {
                Ok(name) => report.created.push(name),
                // Another process created it between our metadata read and now: fine.
                Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => report.unchanged.push(name),
                Err((name, code)) => {
                    return Err(TopicsError::Invalid { topic: name, problem: format!("creation failed: {code}") })
                }
            }
        }
    }

    let present: Vec<&TopicSpec> = specs.iter().filter(|s| existing.contains_key(&s.name)).collect();
    let observed = describe(admin, &present, &existing, timeout).await;
    for (spec, observed) in present.iter().zip(&observed) {
        let (differences, unverified) = diff(spec, observed);
        if !unverified.is_empty() {
            report.unverified.push((spec.name.clone(), unverified));
        }
        if differences.is_empty() {
            report.unchanged.push(spec.name.clone());
        } else {
            report.differing.push((spec.name.clone(), differences));
        }
    }
    Ok(report)
}

/// What the broker holds of each of `specs`: `None` for a topic it does not have. Changes nothing
/// (`friction doctor`; [`apply`] creates the missing ones).
pub async fn observe(
    admin: &AdminClient<DefaultClientContext>,
    specs: &[TopicSpec],
    timeout: Duration,
) -> Result<Vec<Option<ObservedTopic>>, TopicsError> {
    let existing = existing_partitions(admin, timeout)?;
    let present: Vec<&TopicSpec> = specs.iter().filter(|s| existing.contains_key(&s.name)).collect();
    let mut described = describe(admin, &present, &existing, timeout).await.into_iter();
    Ok(specs.iter().map(|s| if existing.contains_key(&s.name) { described.next() } else { None }).collect())
}

/// Every topic the broker reports without an error, with its partition count.
fn existing_partitions(
    admin: &AdminClient<DefaultClientContext>,
    timeout: Duration,
) -> Result<BTreeMap<String, i32>, TopicsError> {
    let metadata = admin.inner().fetch_metadata(None, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| (t.name().to_string(), t.partitions().len() as i32))
        .collect())
}

/// The partitions and reported configs of `present` (topics in `existing`), in their order.
async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    present: &[&TopicSpec],
    existing: &BTreeMap<String, i32>,
    timeout: Duration,
) -> Vec<ObservedTopic> {
    if present.is_empty() {
        return Vec::new();
    }
    let options = AdminOptions::new().operation_timeout(Some(timeout)).request_timeout(Some(timeout));
    let resources: Vec<ResourceSpecifier> = present.iter().map(|s| ResourceSpecifier::Topic(&s.name)).collect();
    let described = admin.describe_configs(&resources, &options).await.unwrap_or_default();
    present
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let mut observed = ObservedTopic {
                partitions: existing.get(&spec.name).copied().unwrap_or_default(),
                configs: BTreeMap::new(),
            };
            if let Some(Ok(resource)) = described.get(i) {
                for entry in &resource.entries {
                    if let Some(value) = &entry.value {
                        observed.configs.insert(entry.name.clone(), value.clone());
                    }
                }
            }
            observed
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_names_every_design_topic() {
        let specs = catalogue();
        for name in ALL {
            assert!(specs.iter().any(|s| s.name == name), "{name} missing from topics.yaml");
        }
        for spec in &specs {
            assert!(ALL.contains(&spec.name.as_str()), "{} has no constant in runtime::topics", spec.name);
        }
        for changelog in [SESSIONIZER_CHANGELOG, DETECTOR_CHANGELOG] {
            let spec = specs.iter().find(|s| s.name == changelog).expect("changelog");
            assert_eq!(spec.cleanup, "compact", "{changelog}");
        }
        let apikeys = specs.iter().find(|s| s.name == APIKEYS).expect("apikeys");
        assert_eq!(apikeys.cleanup, "compact");
    }

    #[test]
    fn parse_names_the_bad_topic_and_rule() {
        let bad = "topics:\n  - {name: a, partitions: 0, cleanup: delete, retention_ms: 1, key: k, value_schema: v}\n";
        let err = parse(bad).expect_err("zero partitions").to_string();
        assert!(err.contains("`a`") && err.contains("partitions"), "{err}");
        let dup = "topics:\n  - {name: a, partitions: 1, cleanup: delete, retention_ms: 1, key: k, value_schema: v}\n  - {name: a, partitions: 1, cleanup: delete, retention_ms: 1, key: k, value_schema: v}\n";
        assert!(parse(dup).expect_err("dup").to_string().contains("twice"));
        let cleanup =
            "topics:\n  - {name: a, partitions: 1, cleanup: keep, retention_ms: 1, key: k, value_schema: v}\n";
        assert!(parse(cleanup).expect_err("cleanup").to_string().contains("cleanup"));
        assert!(matches!(parse("topics: [").expect_err("yaml"), TopicsError::Yaml(_)));
    }

    #[test]
    fn diff_reports_each_differing_setting() {
        let spec = catalogue().into_iter().find(|s| s.name == APIKEYS).expect("apikeys");
        let same = ObservedTopic {
            partitions: spec.partitions,
            configs: BTreeMap::from([
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("retention.ms".to_string(), "-1".to_string()),
            ]),
        };
        assert_eq!(diff(&spec, &same), (vec![], vec![]));
        let other = ObservedTopic {
            partitions: 3,
            configs: BTreeMap::from([("cleanup.policy".to_string(), "delete".to_string())]),
        };
        let (d, unverified) = diff(&spec, &other);
        let settings: Vec<_> = d.iter().map(|d| d.setting).collect();
        assert_eq!(settings, vec!["partitions", "cleanup.policy"]);
        assert_eq!(d[0].actual, "3");
        assert_eq!(unverified, vec!["retention.ms"]);
    }
}
