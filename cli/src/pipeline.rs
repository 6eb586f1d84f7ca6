//! The stages `friction up` runs in its process (sessionizer, detector, incidents, exporter and,
//! when `CLICKHOUSE_URL` is set, the warehouse), each built the way its own binary builds it, and
//! the topic and group names they run on ([`PipelineNames`]).

use std::path::Path;

use friction_detector::DetectorArgs;
use friction_exporter::ExporterArgs;
use friction_incidents::IncidentsArgs;
use friction_runtime::stage::{spawn_stage, StageError};
use friction_runtime::{topics, Health, KafkaArgs, Shutdown};
use friction_sessionizer::SessionizerArgs;
use friction_store::Store;
use friction_warehouse::WarehouseArgs;

use crate::warehouse::clickhouse_from_env;

/// A stage running on its own thread (see [`friction_runtime::stage::wait_stage`]).
pub type StageThread = std::thread::JoinHandle<Result<(), StageError>>;

/// Topic and consumer-group names of the stages `friction up` runs: the catalogue's by default;
/// tests run the same stages on throwaway topics and groups.
#[derive(Clone, Debug)]
pub struct PipelineNames {
    pub events: String,
    pub sessionized: String,
    pub sessions: String,
    pub signals: String,
    pub incidents: String,
    pub deadletter: String,
    pub sessionizer_changelog: String,
    pub detector_changelog: String,
    /// Put before each stage's consumer group (`friction-sessionizer`, ...). Default empty.
    pub group_prefix: String,
}

impl Default for PipelineNames {
    fn default() -> Self {
        PipelineNames {
            events: topics::EVENTS.into(),
            sessionized: topics::SESSIONIZED.into(),
            sessions: topics::SESSIONS.into(),
            signals: topics::SIGNALS.into(),
            incidents: topics::INCIDENTS.into(),
            deadletter: topics::DEADLETTER.into(),
            sessionizer_changelog: topics::SESSIONIZER_CHANGELOG.into(),
            detector_changelog: topics::DETECTOR_CHANGELOG.into(),
            group_prefix: String::new(),
        }
    }
}

impl PipelineNames {
    /// The catalogue's names with `prefix` put before every topic and consumer group
    /// (`friction up --topic-prefix`); an empty prefix gives [`PipelineNames::default`].
    pub fn with_prefix(prefix: &str) -> Self {
        let d = PipelineNames::default();
        let p = |name: String| format!("{prefix}{name}");
        PipelineNames {
            events: p(d.events),
            sessionized: p(d.sessionized),
            sessions: p(d.sessions),
            signals: p(d.signals),
            incidents: p(d.incidents),
            deadletter: p(d.deadletter),
            sessionizer_changelog: p(d.sessionizer_changelog),
            detector_changelog: p(d.detector_changelog),
            group_prefix: prefix.to_string(),
        }
    }

    /// The consumer group of the stage whose group is `stage_name` by default.
    fn group(&self, stage_name: &str) -> String {
        format!("{}{stage_name}", self.group_prefix)
    }
}

/// The sessionizer, the detector, the incidents stage, the exporter and (when `CLICKHOUSE_URL` is
/// set) the warehouse, each its own consumer group, with their binaries' default settings on
/// `names`. The incidents and exporter stages block on the current Tokio runtime for store calls.
/// The exporter's master key comes from `FRICTION_MASTER_KEY` ([`start_stages_with`] takes one).
pub fn start_stages(
    names: &PipelineNames,
    kafka: &KafkaArgs,
    rules_file: Option<&Path>,
    store: &Store,
    health: &Health,
    shutdown: &Shutdown,
) -> anyhow::Result<Vec<(&'static str, StageThread)>> {
    let exporter = ExporterSetup { master_key: friction_exporter::MasterKey::from_env(), console_url: None };
    start_stages_with(names, kafka, rules_file, store, health, shutdown, exporter)
}

/// What the in-process exporter gets from `friction up`: the master key (the environment's or
/// `DATA_DIR/master-key`) and the console URL for the tickets' links.
pub struct ExporterSetup {
    pub master_key: Result<friction_exporter::MasterKey, friction_exporter::secret::SecretError>,
    pub console_url: Option<String>,
}

/// [`start_stages`] with the exporter's master key and console URL given.
pub fn start_stages_with(
    names: &PipelineNames,
    kafka: &KafkaArgs,
    rules_file: Option<&Path>,
    store: &Store,
    health: &Health,
    shutdown: &Shutdown,
    exporter_setup: ExporterSetup,
) -> anyhow::Result<Vec<(&'static str, StageThread)>> {
    let sessionizer = SessionizerArgs {
        group: names.group(friction_sessionizer::STAGE_NAME),
        events_topic: names.events.clone(),
        sessionized_topic: names.sessionized.clone(),
        sessions_topic: names.sessions.clone(),
        changelog_topic: names.sessionizer_changelog.clone(),
        deadletter_topic: names.deadletter.clone(),
        ..SessionizerArgs::default()
    };
    let (config, handler) = sessionizer.stage()?;
    let s = spawn_stage(config, kafka, handler, shutdown.clone(), Some(health.register("sessionizer")))?;

    let detector = DetectorArgs {
        group: names.group(friction_detector::STAGE_NAME),
        input_topic: names.sessionized.clone(),
        signals_topic: names.signals.clone(),
        changelog_topic: names.detector_changelog.clone(),
        deadletter_topic: names.deadletter.clone(),
        rules_file: rules_file.map(Path::to_path_buf),
        ..DetectorArgs::default()
    };
    let (config, handler) = detector.stage()?;
    let d = spawn_stage(config, kafka, handler, shutdown.clone(), Some(health.register("detector")))?;

    let incidents = IncidentsArgs {
        group: names.group(friction_incidents::STAGE_NAME),
        signals_topic: names.signals.clone(),
        incidents_topic: names.incidents.clone(),
        deadletter_topic: names.deadletter.clone(),
        rules_file: rules_file.map(Path::to_path_buf),
        ..IncidentsArgs::default()
    };
    let (config, handler) = incidents.stage(store.clone(), tokio::runtime::Handle::current())?;
    let i = spawn_stage(config, kafka, handler, shutdown.clone(), Some(health.register("incidents")))?;

    let exporter = ExporterArgs {
        group: names.group(friction_exporter::STAGE_NAME),
        incidents_topic: names.incidents.clone(),
        deadletter_topic: names.deadletter.clone(),
    };
    let health_handle = Some(health.register("exporter"));
    let e = friction_exporter::spawn_in_process_with(
        &exporter,
        kafka,
        store,
        health_handle,
        shutdown.clone(),
        exporter_setup.master_key,
        exporter_setup.console_url,
    )?;
    let mut stages = vec![("sessionizer", s), ("detector", d), ("incidents", i), ("exporter", e)];
    if let Some(w) = start_warehouse(names, kafka, health, shutdown)? {
        stages.push(("warehouse", w));
    }
    Ok(stages)
}

/// Starts the warehouse stage on `names`' topics when `CLICKHOUSE_URL` is set. The tables are
/// created in the background at once (so the console's charts find them), and again, if need be,
/// before the first insert.
fn start_warehouse(
    names: &PipelineNames,
    kafka: &KafkaArgs,
    health: &Health,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<StageThread>> {
    let Some(clickhouse) = clickhouse_from_env() else { return Ok(None) };
    let warehouse = WarehouseArgs {
        group: names.group(friction_warehouse::STAGE_NAME),
        sessionized_topic: names.sessionized.clone(),
        sessions_topic: names.sessions.clone(),
        signals_topic: names.signals.clone(),
        incidents_topic: names.incidents.clone(),
        deadletter_topic: names.deadletter.clone(),
        ..WarehouseArgs::default()
    };
    let (config, handler) = warehouse.stage(clickhouse.clone())?;
    let wait = warehouse.connect_wait();
    {
        let clickhouse = clickhouse.clone();
        tokio::spawn(async move {
            if let Err(e) = friction_warehouse::connect_and_migrate(&clickhouse, wait).await {
                tracing::error!(error = %e, "could not create the warehouse tables yet; the stage retries before its first insert");
            }
        });
    }
    eprintln!("warehouse: ClickHouse at {} (database {})", clickhouse.url, clickhouse.database);
    let thread = spawn_stage(config, kafka, handler, shutdown.clone(), Some(health.register("warehouse")))?;
    Ok(Some(thread))
}
