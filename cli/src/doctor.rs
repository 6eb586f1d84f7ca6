//! `friction doctor`: what is wrong with a deployment, and how to fix it (docs/operations.md,
//! "friction doctor"). It checks the broker (reachable, the Kafka APIs Friction uses), every topic
//! against topics.yaml, the store's migrations, the ClickHouse schema, the ticket integrations, each
//! stage's consumer lag and the clock against the store and ClickHouse, changing nothing.
//!
//! Each check is decided by a pure function over what was observed (the `*_check` functions), so
//! the decisions are tested without services; [`gather`] does the I/O. Exit code: 0 when every
//! check is ok, 1 when some only warn, 2 when one fails.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use friction_exporter::Integration;
use friction_runtime::topics::{ObservedTopic, TopicSpec};
use friction_runtime::KafkaArgs;
use friction_store::Migration;
use serde_json::json;

use crate::StoreArgs;

#[derive(Args, Clone, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// A topics file to check against instead of the built-in catalogue (as `topics apply --file`).
    #[arg(long)]
    pub topics_file: Option<PathBuf>,
    /// ClickHouse; without a URL there is no warehouse to check.
    #[command(flatten)]
    pub clickhouse: friction_warehouse::OptionalClickHouseArgs,
    /// Consumer groups of the stages (the same variables the stages read).
    #[arg(long, env = "FRICTION_SESSIONIZER_GROUP", default_value = friction_sessionizer::STAGE_NAME)]
    pub sessionizer_group: String,
    #[arg(long, env = "FRICTION_DETECTOR_GROUP", default_value = friction_detector::STAGE_NAME)]
    pub detector_group: String,
    #[arg(long, env = "FRICTION_INCIDENTS_GROUP", default_value = friction_incidents::STAGE_NAME)]
    pub incidents_group: String,
    #[arg(long, env = "FRICTION_EXPORTER_GROUP", default_value = friction_exporter::STAGE_NAME)]
    pub exporter_group: String,
    #[arg(long, env = "FRICTION_WAREHOUSE_GROUP", default_value = friction_warehouse::STAGE_NAME)]
    pub warehouse_group: String,
    /// A stage whose consumer lag (messages, over its partitions) reaches this is reported.
    #[arg(long, default_value_t = 100_000)]
    pub lag_warn: i64,
    /// Also call each enabled integration's API with its credential (needs FRICTION_MASTER_KEY).
    #[arg(long)]
    pub test_integrations: bool,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub check: String,
    pub status: Status,
    pub detail: String,
    /// What to do about it; empty when ok.
    pub fix: String,
}

impl Check {
    fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Ok, detail: detail.into(), fix: String::new() }
    }
    fn warn(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Warn, detail: detail.into(), fix: fix.into() }
    }
    fn fail(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Fail, detail: detail.into(), fix: fix.into() }
    }
}

/// Exit code of a report: 0 every check ok, 1 warnings only, 2 a failure.
pub fn exit_code(checks: &[Check]) -> u8 {
    match checks.iter().map(|c| c.status).max() {
        Some(Status::Fail) => 2,
        Some(Status::Warn) => 1,
        _ => 0,
    }
}

/// An API the broker supports: key, lowest and highest version.
pub type ApiRange = (i16, i16, i16);

/// The APIs Friction's clients call (librdkafka's producer, consumer groups, admin), by key.
const NEEDED_APIS: [(i16, &str); 14] = [
    (0, "Produce"),
    (1, "Fetch"),
    (2, "ListOffsets"),
    (3, "Metadata"),
    (8, "OffsetCommit"),
    (9, "OffsetFetch"),
    (10, "FindCoordinator"),
    (11, "JoinGroup"),
    (12, "Heartbeat"),
    (13, "LeaveGroup"),
    (14, "SyncGroup"),
    (18, "ApiVersions"),
    (19, "CreateTopics"),
    (32, "DescribeConfigs"),
];

/// The broker check from its ApiVersions answer: `(api_key, min, max)` per API; `Ok(None)` when
/// the broker answered Metadata but its API versions were not asked (a TLS/SASL listener).
pub fn broker_check(brokers: &str, answer: Result<Option<Vec<ApiRange>>, String>) -> Check {
    let name = "broker";
    match answer {
        Ok(None) => Check::ok(name, format!("{brokers}: reachable (API versions not probed over TLS/SASL)")),
        Err(e) => Check::fail(
            name,
            format!("{brokers}: {e}"),
            "start the broker, or point FRICTION_BROKERS / --brokers at it (and --kafka-property for TLS/SASL)",
        ),
        Ok(Some(apis)) => {
            let max = |key: i16| apis.iter().find(|(k, _, _)| *k == key).map(|(_, _, max)| *max);
            let missing: Vec<&str> = NEEDED_APIS.iter().filter(|(k, _)| max(*k).is_none()).map(|(_, n)| *n).collect();
            let versions = format!(
                "{brokers}: {} APIs; Produce v{}, Fetch v{}, OffsetFetch v{}",
                apis.len(),
                max(0).unwrap_or(-1),
                max(1).unwrap_or(-1),
                max(9).unwrap_or(-1)
            );
            if missing.is_empty() {
                Check::ok(name, versions)
            } else {
                Check::fail(
                    name,
                    format!("{versions}; missing {}", missing.join(", ")),
                    "use Apache Kafka 3.x or later (or a broker speaking the same APIs)",
                )
            }
        }
    }
}

/// One topic against its catalogue entry.
pub fn topic_check(spec: &TopicSpec, observed: Option<&ObservedTopic>) -> Check {
    let name = format!("topic {}", spec.name);
    let Some(observed) = observed else {
        return Check::fail(name, "missing", "friction topics apply");
    };
    let (differences, unverified) = friction_runtime::topics::diff(spec, observed);
    if !differences.is_empty() {
        let detail: Vec<String> = differences
            .iter()
            .map(|d| format!("{} is {} on the broker, topics.yaml wants {}", d.setting, d.actual, d.wanted))
            .collect();
        // Fewer partitions than the catalogue caps how far the stages scale; friction never
        // alters a live topic, a person decides (docs/operations.md, "Upgrades").
        return Check::warn(
            name,
            detail.join("; "),
            "change the topic by hand (kafka-topics.sh --alter / kafka-configs.sh) or update topics.yaml",
        );
    }
    let mut detail = format!("{} partitions", observed.partitions);
    if !unverified.is_empty() {
        detail.push_str(&format!(" (the broker did not report {})", unverified.join(", ")));
    }
    Check::ok(name, detail)
}

/// The store's migrations: `applied` versions (an error when the bookkeeping table is unreadable).
pub fn store_check(display: &str, applied: Result<Vec<i64>, String>, known: &[Migration]) -> Check {
    let name = "store migrations";
    let applied = match applied {
        Ok(applied) => applied,
        Err(e) => {
            return Check::fail(name, format!("{display}: no migrations recorded ({e})"), "friction migrate");
        }
    };
    let pending: Vec<String> =
        known.iter().filter(|m| !applied.contains(&m.version)).map(|m| format!("{} {}", m.version, m.name)).collect();
    let unknown: Vec<String> =
        applied.iter().filter(|v| !known.iter().any(|m| m.version == **v)).map(i64::to_string).collect();
    if !pending.is_empty() {
        Check::fail(name, format!("{display}: pending {}", pending.join(", ")), "friction migrate")
    } else if !unknown.is_empty() {
        Check::warn(
            name,
            format!("{display}: applied by a newer version: {}", unknown.join(", ")),
            "run the newer friction binaries (this one is older than the store)",
        )
    } else {
        Check::ok(name, format!("{display}: {} applied, current", applied.len()))
    }
}

/// The warehouse schema from `pending` (what `warehouse migrate` would add); `None`: not configured.
pub fn warehouse_check(database: &str, pending: Option<Result<Vec<String>, String>>) -> Check {
    let name = "warehouse schema";
    match pending {
        None => Check::ok(name, "CLICKHOUSE_URL unset: no warehouse"),
        Some(Err(e)) => {
            Check::fail(name, e, "start ClickHouse, or fix CLICKHOUSE_URL / CLICKHOUSE_USER / CLICKHOUSE_PASSWORD")
        }
        Some(Ok(pending)) if pending.is_empty() => Check::ok(name, format!("database {database}: every table current")),
        Some(Ok(pending)) => Check::fail(
            name,
            format!("database {database}: missing {}", pending.join(", ")),
            "friction warehouse migrate",
        ),
    }
}

/// One integration from its stored state, and the answer of a test call when one was made.
pub fn integration_check(integration: &Integration, tested: Option<Result<String, String>>, now_ms: i64) -> Check {
    let name = format!("integration {}", integration.name);
    let kind = integration.kind.as_str();
    if !integration.enabled {
        return Check::warn(
            name,
            format!("{kind}: disabled, no tickets"),
            format!("friction integrations enable {}", integration.name),
        );
    }
    if integration.breaker_open {
        return Check::fail(
            name,
            format!("{kind}: breaker open: {}", integration.breaker_reason.clone().unwrap_or_default()),
            format!("fix the credential or settings, then friction integrations test {}", integration.name),
        );
    }
    if let Some(Err(why)) = tested {
        return Check::fail(
            name,
            format!("{kind}: test call failed: {why}"),
            format!("fix the credential or settings, then friction integrations test {}", integration.name),
        );
    }
    if integration.health.failures > 0 {
        return Check::warn(
            name,
            format!(
                "{kind}: {} failures in a row, next call in {} s: {}",
                integration.health.failures,
                (integration.health.retry_at - now_ms).max(0) / 1000,
                integration.last_error.clone().unwrap_or_default()
            ),
            format!("friction integrations test {} (docs/exporter.md, Circuit breaker)", integration.name),
        );
    }
    match tested {
        Some(Ok(what)) => Check::ok(name, format!("{kind}: enabled; test call ok: {what}")),
        _ => Check::ok(name, format!("{kind}: enabled, no recent error")),
    }
}

/// One partition's position for a group: the committed offset (`None`: never committed) and the
/// watermarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionPosition {
    pub committed: Option<i64>,
    pub low: i64,
    pub high: i64,
}

/// A stage's consumer lag over its input partitions.
pub fn lag_check(stage: &str, group: &str, positions: Result<Vec<PartitionPosition>, String>, warn_at: i64) -> Check {
    let name = format!("lag {stage}");
    let positions = match positions {
        Ok(p) => p,
        Err(e) => return Check::warn(name, format!("group {group}: {e}"), "check the broker (see the broker check)"),
    };
    let lag: i64 = positions.iter().map(|p| (p.high - p.committed.unwrap_or(p.low).max(p.low)).max(0)).sum();
    let never = positions.iter().filter(|p| p.committed.is_none() && p.high > p.low).count();
    let detail = format!("group {group}: {lag} messages behind over {} partitions", positions.len());
    if never > 0 {
        Check::warn(
            name,
            format!("{detail}; {never} partitions with data never committed"),
            format!("start {stage} (or check its logs: it never committed)"),
        )
    } else if lag >= warn_at {
        Check::warn(
            name,
            detail,
            format!("add copies of {stage} (up to its partitions), docs/operations.md#frictionconsumerlaggrowing"),
        )
    } else {
        Check::ok(name, detail)
    }
}

/// This host's clock against `what`'s (`skew_ms` = theirs − ours); `None`: not measured.
pub fn skew_check(what: &str, skew_ms: Option<Result<i64, String>>) -> Check {
    let name = format!("clock vs {what}");
    match skew_ms {
        None => Check::ok(name, "not measured (same host)"),
        Some(Err(e)) => Check::warn(name, e, format!("make {what} reachable")),
        Some(Ok(skew)) if skew.abs() >= 60_000 => {
            Check::fail(name, format!("{skew} ms"), "synchronise the clocks (NTP / chrony) on every host")
        }
        Some(Ok(skew)) if skew.abs() >= 5_000 => {
            Check::warn(name, format!("{skew} ms"), "synchronise the clocks (NTP / chrony) on every host")
        }
        Some(Ok(skew)) => Check::ok(name, format!("{skew} ms")),
    }
}

/// The report as a table: check, status, detail, fix.
pub fn render_table(checks: &[Check]) -> String {
    let w = |f: fn(&Check) -> usize, head: usize| checks.iter().map(f).max().unwrap_or(0).max(head);
    let (wc, wd) = (w(|c| c.check.len(), 5), w(|c| c.detail.len(), 6).min(90));
    let mut out = format!("{:<wc$}  {:<6}  {:<wd$}  {}\n", "CHECK", "STATUS", "DETAIL", "FIX");
    for c in checks {
        out.push_str(format!("{:<wc$}  {:<6}  {:<wd$}  {}", c.check, c.status.as_str(), c.detail, c.fix).trim_end());
        out.push('\n');
    }
    out
}

/// The report as one JSON object.
pub fn render_json(checks: &[Check]) -> serde_json::Value {
    let status = checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok);
    json!({
        "status": status.as_str(),
        "checks": checks.iter().map(|c| json!({
            "check": c.check, "status": c.status.as_str(), "detail": c.detail, "fix": c.fix,
        })).collect::<Vec<_>>(),
    })
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let checks = gather(&args).await?;
    if args.json {
        println!("{}", render_json(&checks));
    } else {
        print!("{}", render_table(&checks));
    }
    Ok(ExitCode::from(exit_code(&checks)))
}

/// How long one call to a service may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Runs every check (I/O), in the report's order.
pub async fn gather(args: &DoctorArgs) -> anyhow::Result<Vec<Check>> {
    let specs = crate::load_catalogue(args.topics_file.as_deref())?;
    let mut checks = Vec::new();

    // Broker and topics.
    let kafka = crate::resolve_brokers(&args.kafka, &args.store.data_dir);
    let mut observed: Vec<Option<ObservedTopic>> = vec![None; specs.len()];
    match &kafka {
        None => checks.push(broker_check("(none)", Err("no brokers: set FRICTION_BROKERS or --brokers".into()))),
        Some(kafka) => {
            let brokers = kafka.brokers.clone().unwrap_or_default();
            let answer = api_versions(kafka).await;
            let reachable = answer.is_ok();
            checks.push(broker_check(&brokers, answer));
            if reachable {
                match observe_topics(kafka, &specs).await {
                    Ok(found) => {
                        observed = found;
                        for (spec, o) in specs.iter().zip(&observed) {
                            checks.push(topic_check(spec, o.as_ref()));
                        }
                    }
                    Err(e) => checks.push(Check::fail("topics", e, "check the broker")),
                }
            }
        }
    }

    // Store, integrations, clock vs the store.
    let display = args
        .store
        .database_url
        .as_deref()
        .map(friction_store::redact_url)
        .unwrap_or_else(|| format!("sqlite in {}", args.store.data_dir.display()));
    let store = friction_store::Store::from_env_or_dir(args.store.database_url.as_deref(), &args.store.data_dir).await;
    match store {
        Err(e) => {
            checks.push(Check::fail("store", format!("{display}: {e}"), "start the database, or fix DATABASE_URL"))
        }
        Ok(store) => {
            let applied = store
                .applied_migrations()
                .await
                .map(|a| a.iter().map(|m| m.version).collect::<Vec<_>>())
                .map_err(|e| e.to_string());
            let migrated =
                applied.as_ref().is_ok_and(|a| friction_store::MIGRATIONS.iter().all(|m| a.contains(&m.version)));
            checks.push(store_check(&display, applied, friction_store::MIGRATIONS));
            if migrated {
                checks.extend(integration_checks(&store, args.test_integrations).await);
            } else {
                checks.push(Check::warn("integrations", "not checked: the store is not migrated", "friction migrate"));
            }
            if store.backend() == friction_store::Backend::Postgres {
                checks.push(skew_check("PostgreSQL", Some(postgres_skew(&store).await)));
            }
            store.close().await;
        }
    }

    // Warehouse, clock vs ClickHouse.
    match args.clickhouse.config() {
        None => checks.push(warehouse_check(&args.clickhouse.clickhouse_database, None)),
        Some(config) => match config.client() {
            Err(e) => checks.push(warehouse_check(&config.database, Some(Err(e.to_string())))),
            Ok(client) => {
                let pending =
                    friction_warehouse::schema::pending(&client, &config.database).await.map_err(|e| e.to_string());
                checks.push(warehouse_check(&config.database, Some(pending)));
                checks.push(skew_check("ClickHouse", Some(clickhouse_skew(&client).await)));
            }
        },
    }

    // Consumer lag per stage, on the topics the catalogue gives each stage's input.
    if let Some(kafka) = &kafka {
        for (stage, group, inputs) in stage_inputs(args) {
            let topics: Vec<(String, i32)> = specs
                .iter()
                .zip(&observed)
                .filter(|(s, _)| inputs.contains(&s.value_schema.as_str()))
                .filter_map(|(s, o)| o.as_ref().map(|o| (s.name.clone(), o.partitions)))
                .collect();
            if topics.is_empty() {
                checks.push(Check::warn(
                    format!("lag {stage}"),
                    "its input topics are missing",
                    "friction topics apply",
                ));
                continue;
            }
            let positions = positions(kafka, group, topics).await;
            checks.push(lag_check(stage, group, positions, args.lag_warn));
        }
    }
    Ok(checks)
}

/// Each stage, its consumer group, and the value schemas of its input topics (topics.yaml).
fn stage_inputs(args: &DoctorArgs) -> [(&'static str, &str, &'static [&'static str]); 5] {
    [
        ("sessionizer", args.sessionizer_group.as_str(), &["event"]),
        ("detector", args.detector_group.as_str(), &["sessionized"]),
        ("incidents", args.incidents_group.as_str(), &["signal"]),
        ("exporter", args.exporter_group.as_str(), &["incident"]),
        ("warehouse", args.warehouse_group.as_str(), &["sessionized", "session", "signal", "incident"]),
    ]
}

async fn integration_checks(store: &friction_store::Store, test: bool) -> Vec<Check> {
    let list = match friction_exporter::integration::list_integrations(store).await {
        Ok(list) => list,
        Err(e) => return vec![Check::fail("integrations", e.to_string(), "friction migrate")],
    };
    if list.is_empty() {
        return vec![Check::ok("integrations", "none configured: incidents get no tickets")];
    }
    let key = if test { Some(friction_exporter::MasterKey::from_env()) } else { None };
    let mut checks = Vec::new();
    for integration in &list {
        let tested = match &key {
            Some(Ok(key)) if integration.enabled => Some(friction_exporter::check_integration(integration, key).await),
            Some(Err(e)) => Some(Err(e.to_string())),
            _ => None,
        };
        checks.push(integration_check(integration, tested, friction_runtime::now_ms()));
    }
    checks
}

/// The broker's ApiVersions answer (v0) from the first bootstrap server, over plain TCP; a
/// TLS/SASL listener is not probed this way (then the Metadata call below still proves reachability).
async fn api_versions(kafka: &KafkaArgs) -> Result<Option<Vec<ApiRange>>, String> {
    let brokers = kafka.brokers.clone().unwrap_or_default();
    let secured = kafka.kafka_properties.iter().any(|p| {
        p.split_once('=')
            .is_some_and(|(k, v)| k.trim() == "security.protocol" && !v.trim().eq_ignore_ascii_case("plaintext"))
    });
    if secured {
        let admin = admin_client(kafka)?;
        tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(None, TIMEOUT).map(|_| ()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        return Ok(None);
    }
    let first = brokers.split(',').next().unwrap_or_default().trim().to_string();
    tokio::time::timeout(TIMEOUT, api_versions_from(&first))
        .await
        .map_err(|_| format!("no answer from {first} within {TIMEOUT:?}"))?
        .map(Some)
}

async fn api_versions_from(addr: &str) -> Result<Vec<ApiRange>, String> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("{addr}: {e}"))?;
    let client_id = b"friction-doctor";
    let mut request = Vec::new();
    request.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    request.extend_from_slice(&0i16.to_be_bytes()); // version 0
    request.extend_from_slice(&1i32.to_be_bytes()); // correlation id
    request.extend_from_slice(&(client_id.len() as i16).to_be_bytes());
    request.extend_from_slice(client_id);
    let mut framed = (request.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&request);
    stream.write_all(&framed).await.map_err(|e| e.to_string())?;
    let size = stream.read_i32().await.map_err(|e| e.to_string())?;
    if !(6..=1_000_000).contains(&size) {
        return Err(format!("not a Kafka answer (size {size})"));
    }
    let mut body = vec![0u8; size as usize];
    stream.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    parse_api_versions(&body)
}

/// An ApiVersions v0 response body (after the size): correlation id, error code, the API array.
pub fn parse_api_versions(body: &[u8]) -> Result<Vec<ApiRange>, String> {
    let i16_at = |at: usize| body.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let i32_at = |at: usize| body.get(at..at + 4).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let error = i16_at(4).ok_or("short answer")?;
    if error != 0 {
        return Err(format!("ApiVersions error code {error}"));
    }
    let count = i32_at(6).ok_or("short answer")?;
    let mut apis = Vec::new();
    for i in 0..count.clamp(0, 1000) as usize {
        let at = 10 + i * 6;
        match (i16_at(at), i16_at(at + 2), i16_at(at + 4)) {
            (Some(k), Some(min), Some(max)) => apis.push((k, min, max)),
            _ => return Err("truncated API list".into()),
        }
    }
    Ok(apis)
}

fn admin_client(
    kafka: &KafkaArgs,
) -> Result<rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext>, String> {
    friction_runtime::kafka::producer_config(kafka).map_err(|e| e.to_string())?.create().map_err(|e| e.to_string())
}

async fn observe_topics(kafka: &KafkaArgs, specs: &[TopicSpec]) -> Result<Vec<Option<ObservedTopic>>, String> {
    let admin = admin_client(kafka)?;
    friction_runtime::topics::observe(&admin, specs, TIMEOUT).await.map_err(|e| e.to_string())
}

/// The group's committed offset and the watermarks of every partition of `topics`.
async fn positions(
    kafka: &KafkaArgs,
    group: &str,
    topics: Vec<(String, i32)>,
) -> Result<Vec<PartitionPosition>, String> {
    use rdkafka::consumer::{BaseConsumer, Consumer as _};
    let mut config = friction_runtime::kafka::reader_config(kafka).map_err(|e| e.to_string())?;
    config.set("group.id", group);
    let consumer: BaseConsumer = config.create().map_err(|e| e.to_string())?;
    tokio::task::spawn_blocking(move || {
        let mut list = rdkafka::TopicPartitionList::new();
        for (topic, partitions) in &topics {
            for p in 0..*partitions {
                list.add_partition(topic, p);
            }
        }
        let committed = consumer.committed_offsets(list, TIMEOUT).map_err(|e| e.to_string())?;
        let mut found = BTreeMap::new();
        for e in committed.elements() {
            let offset = match e.offset() {
                rdkafka::Offset::Offset(o) => Some(o),
                _ => None,
            };
            found.insert((e.topic().to_string(), e.partition()), offset);
        }
        let mut out = Vec::new();
        for ((topic, p), committed) in found {
            let (low, high) = consumer.fetch_watermarks(&topic, p, TIMEOUT).map_err(|e| format!("{topic}/{p}: {e}"))?;
            out.push(PartitionPosition { committed, low, high });
        }
        Ok(out)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// The store's clock minus ours, in ms (the midpoint of the round trip).
async fn postgres_skew(store: &friction_store::Store) -> Result<i64, String> {
    let before = friction_runtime::now_ms();
    let theirs: i64 = sqlx::query_scalar("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)")
        .fetch_one(store.pool())
        .await
        .map_err(|e| e.to_string())?;
    let after = friction_runtime::now_ms();
    Ok(theirs - (before + after) / 2)
}

/// ClickHouse's clock minus ours, in ms (its `now()` has whole seconds).
async fn clickhouse_skew(client: &clickhouse::Client) -> Result<i64, String> {
    let before = friction_runtime::now_ms();
    let theirs: u64 = client
        .clone()
        .with_database("system")
        .query("SELECT toUInt64(now())")
        .fetch_one()
        .await
        .map_err(|e| e.to_string())?;
    let after = friction_runtime::now_ms();
    let ours = (before + after) / 2;
    // Whole seconds on their side: within a second of ours counts as none.
    let skew = theirs as i64 * 1000 - ours;
    Ok(if (-1000..=0).contains(&skew) { 0 } else { skew })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, partitions: i32) -> TopicSpec {
        let yaml = format!(
            "topics:\n  - name: {name}\n    description: t\n    partitions: {partitions}\n    replication: 1\n    cleanup: delete\n    retention_ms: 1000\n    key: k\n    value_schema: event\n"
        );
        friction_runtime::topics::parse(&yaml).expect("spec").remove(0)
    }

    #[test]
    fn exit_code_is_the_worst_status() {
        let ok = Check::ok("a", "");
        let warn = Check::warn("b", "", "x");
        let fail = Check::fail("c", "", "y");
        assert_eq!(exit_code(std::slice::from_ref(&ok)), 0);
        assert_eq!(exit_code(&[ok.clone(), warn.clone()]), 1);
        assert_eq!(exit_code(&[warn, ok, fail]), 2);
        assert_eq!(exit_code(&[]), 0);
    }

    #[test]
    fn missing_and_differing_topics_say_what_to_do() {
        let s = spec("t.events", 12);
        let missing = topic_check(&s, None);
        assert_eq!((missing.status, missing.fix.as_str()), (Status::Fail, "friction topics apply"));
        let fewer = topic_check(&s, Some(&ObservedTopic { partitions: 3, configs: BTreeMap::new() }));
        assert_eq!(fewer.status, Status::Warn);
        assert!(fewer.detail.contains("partitions is 3"), "{}", fewer.detail);
        let same = topic_check(&s, Some(&ObservedTopic { partitions: 12, configs: BTreeMap::new() }));
        assert_eq!(same.status, Status::Ok, "{same:?}");
    }

    #[test]
    fn store_pending_and_newer_migrations() {
        let known = friction_store::MIGRATIONS;
        let all: Vec<i64> = known.iter().map(|m| m.version).collect();
        assert_eq!(store_check("db", Ok(all.clone()), known).status, Status::Ok);
        let first_only = store_check("db", Ok(vec![1]), known);
        assert_eq!((first_only.status, first_only.fix.as_str()), (Status::Fail, "friction migrate"));
        let none = store_check("db", Err("no such table".into()), known);
        assert_eq!(none.status, Status::Fail);
        let mut newer = all;
        newer.push(9999);
        assert_eq!(store_check("db", Ok(newer), known).status, Status::Warn);
    }

    #[test]
    fn lag_counts_from_the_committed_offset_or_the_start() {
        let p = |committed, low, high| PartitionPosition { committed, low, high };
        let empty = lag_check("s", "g", Ok(vec![p(None, 0, 0), p(None, 5, 5)]), 100);
        assert_eq!(empty.status, Status::Ok, "{empty:?}");
        let behind = lag_check("s", "g", Ok(vec![p(Some(10), 0, 150), p(Some(0), 0, 0)]), 100);
        assert_eq!(behind.status, Status::Warn);
        assert!(behind.detail.contains("140 messages"), "{}", behind.detail);
        let never = lag_check("s", "g", Ok(vec![p(None, 0, 3)]), 100);
        assert_eq!(never.status, Status::Warn);
        // A committed offset below the low watermark (data deleted by retention) counts from it.
        let trimmed = lag_check("s", "g", Ok(vec![p(Some(2), 50, 60)]), 100);
        assert!(trimmed.detail.contains("10 messages"), "{}", trimmed.detail);
    }

    #[test]
    fn skew_thresholds() {
        assert_eq!(skew_check("x", Some(Ok(300))).status, Status::Ok);
        assert_eq!(skew_check("x", Some(Ok(-7_000))).status, Status::Warn);
        assert_eq!(skew_check("x", Some(Ok(120_000))).status, Status::Fail);
        assert_eq!(skew_check("x", None).status, Status::Ok);
    }

    #[test]
    fn api_versions_answers_are_parsed_and_judged() {
        let mut body = vec![0, 0, 0, 1, 0, 0];
        body.extend_from_slice(&(NEEDED_APIS.len() as i32).to_be_bytes());
        for (key, _) in NEEDED_APIS {
            body.extend_from_slice(&key.to_be_bytes());
            body.extend_from_slice(&0i16.to_be_bytes());
            body.extend_from_slice(&7i16.to_be_bytes());
        }
        let apis = parse_api_versions(&body).expect("parsed");
        assert_eq!(broker_check("b", Ok(Some(apis.clone()))).status, Status::Ok);
        assert_eq!(broker_check("b", Ok(Some(apis[1..].to_vec()))).status, Status::Fail);
        assert_eq!(broker_check("b", Ok(None)).status, Status::Ok);
        assert!(parse_api_versions(&body[..body.len() - 1]).is_err());
        assert!(parse_api_versions(&[0, 0, 0, 1, 0, 35]).is_err());
        assert_eq!(broker_check("b", Err("refused".into())).status, Status::Fail);
    }

    #[test]
    fn table_has_every_column() {
        let table = render_table(&[Check::fail("topic t", "missing", "friction topics apply")]);
        assert!(table.starts_with("CHECK"), "{table}");
        assert!(
            table.contains("topic t") && table.contains("fail") && table.contains("friction topics apply"),
            "{table}"
        );
    }
}
