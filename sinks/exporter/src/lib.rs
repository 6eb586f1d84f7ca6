//! The exporter (docs/architecture.md §4 "Exporter", docs/exporter.md "The ledger"): for each confirmed or
//! regressed incident and each enabled integration whose filters match, exactly one ticket per
//! (incident, integration, generation) in Jira Cloud, Linear, GitHub Issues or a signed webhook.
//!
//! Two halves share the store: the consumer ([`ExporterHandler`]) only writes ledger rows and
//! commits; the [`Dispatcher`] claims due rows with a lease and makes the remote calls, classifying
//! each outcome ([`outcome`]) — success, rate limited, ambiguous (reconciled by marker before any
//! retry), permanent (dead, visible) or configuration (circuit breaker open). Integration secrets
//! are encrypted at rest ([`secret`]) and never printed.

pub mod body;
pub mod dispatcher;
pub mod handler;
pub mod integration;
pub mod ledger;
pub mod llm;
pub mod outcome;
pub mod secret;
pub mod targets;

pub use dispatcher::{Dispatcher, DispatcherConfig};
pub use handler::ExporterHandler;
pub use integration::{Integration, IntegrationConfig, Kind, NewIntegration, RegressionPolicy};
pub use secret::{MasterKey, Secret};

/// The consumer group and metric label.
pub const STAGE_NAME: &str = "friction-exporter";

/// The longest an incident change waits in the consumer before its ledger row is written (the
/// stage's commit interval); the dispatcher of the same process is then woken at once.
pub const BATCH_WAIT_MS: u64 = 50;

/// What can go wrong in the exporter's own bookkeeping (remote failures are
/// [`targets::CallError`]s, recorded in the ledger).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("store: {0}")]
    Store(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] secret::SecretError),
    #[error("{0}")]
    Invalid(String),
}

/// The exporter stage's settings (its consumer, not the dispatcher): flags of `friction-exporter`
/// (each also read from an environment variable). `friction up` starts from
/// [`ExporterArgs::default`], the flags' defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ExporterArgs {
    #[arg(long, env = "FRICTION_EXPORTER_GROUP", default_value = STAGE_NAME)]
    pub group: String,
    #[arg(long, env = "FRICTION_INCIDENTS_TOPIC", default_value = friction_runtime::topics::INCIDENTS)]
    pub incidents_topic: String,
    #[arg(long, env = "FRICTION_DEADLETTER_TOPIC", default_value = friction_runtime::topics::DEADLETTER)]
    pub deadletter_topic: String,
}

impl Default for ExporterArgs {
    fn default() -> Self {
        ExporterArgs {
            group: STAGE_NAME.into(),
            incidents_topic: friction_runtime::topics::INCIDENTS.into(),
            deadletter_topic: friction_runtime::topics::DEADLETTER.into(),
        }
    }
}

impl ExporterArgs {
    /// The consumer stage: `incidents_topic` in as `group`, ledger rows written to `store` on
    /// `runtime` (see [`ExporterHandler::new`]).
    pub fn stage(
        &self,
        store: friction_store::Store,
        runtime: tokio::runtime::Handle,
    ) -> (friction_runtime::stage::StageConfig, ExporterHandler) {
        let mut stage =
            friction_runtime::stage::StageConfig::new(self.group.clone(), vec![self.incidents_topic.clone()]);
        // Also the longest a change waits before its ledger row is written (was 200 ms; issue 17).
        stage.commit_interval = std::time::Duration::from_millis(BATCH_WAIT_MS);
        stage.deadletter_topic = self.deadletter_topic.clone();
        (stage, ExporterHandler::new(store, runtime, std::sync::Arc::from(self.incidents_topic.as_str())))
    }
}

/// The integration-wide backoff and automatic breaker (docs/exporter.md "Circuit breaker"): flags
/// of `friction-exporter`, each also an environment variable; `friction up` uses the defaults.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct BreakerArgs {
    /// Transient failures in a row (no connection, timeout, 5xx; over every ticket of an
    /// integration) that open its breaker.
    #[arg(long, env = "FRICTION_EXPORTER_BREAKER_THRESHOLD", default_value_t = 5)]
    pub breaker_threshold: u32,
    /// The integration's wait after its first transient failure, in ms (doubles per failure).
    #[arg(long, env = "FRICTION_EXPORTER_BACKOFF_BASE_MS", default_value_t = 1_000)]
    pub backoff_base_ms: u64,
    /// The longest such wait, in ms.
    #[arg(long, env = "FRICTION_EXPORTER_BACKOFF_CAP_MS", default_value_t = 60_000)]
    pub backoff_cap_ms: u64,
    /// The first cool-down of an open breaker before its probe, in ms (doubles per failed probe).
    #[arg(long, env = "FRICTION_EXPORTER_COOLDOWN_BASE_MS", default_value_t = 30_000)]
    pub cooldown_base_ms: u64,
    /// The longest cool-down, in ms.
    #[arg(long, env = "FRICTION_EXPORTER_COOLDOWN_CAP_MS", default_value_t = 1_800_000)]
    pub cooldown_cap_ms: u64,
}

impl Default for BreakerArgs {
    fn default() -> Self {
        BreakerArgs::from_policy(&outcome::BreakerPolicy::default())
    }
}

impl BreakerArgs {
    fn from_policy(p: &outcome::BreakerPolicy) -> Self {
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        BreakerArgs {
            breaker_threshold: p.threshold,
            backoff_base_ms: ms(p.backoff_base),
            backoff_cap_ms: ms(p.backoff_cap),
            cooldown_base_ms: ms(p.cooldown_base),
            cooldown_cap_ms: ms(p.cooldown_cap),
        }
    }

    pub fn policy(&self) -> outcome::BreakerPolicy {
        use std::time::Duration;
        outcome::BreakerPolicy {
            threshold: self.breaker_threshold.max(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_cap: Duration::from_millis(self.backoff_cap_ms),
            cooldown_base: Duration::from_millis(self.cooldown_base_ms),
            cooldown_cap: Duration::from_millis(self.cooldown_cap_ms),
            ..Default::default()
        }
    }
}

/// Starts the exporter inside another process (`friction up`): the consumer stage and, when
/// `FRICTION_MASTER_KEY` is set, the dispatcher as a task on the current Tokio runtime. Without a
/// key, ledger rows are still written and wait for a dispatcher.
pub fn spawn_in_process(
    args: &ExporterArgs,
    kafka: &friction_runtime::KafkaArgs,
    store: &friction_store::Store,
    health: Option<friction_runtime::admin::HealthHandle>,
    shutdown: friction_runtime::Shutdown,
) -> Result<std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>, friction_runtime::stage::StageError>
{
    let key = MasterKey::from_env();
    spawn_in_process_with(args, kafka, store, health, shutdown, key, None)
}

/// [`spawn_in_process`] with the master key given (`friction up` reads `DATA_DIR/master-key`
/// when the environment has none) and the console's URL for the tickets' links.
pub fn spawn_in_process_with(
    args: &ExporterArgs,
    kafka: &friction_runtime::KafkaArgs,
    store: &friction_store::Store,
    health: Option<friction_runtime::admin::HealthHandle>,
    shutdown: friction_runtime::Shutdown,
    key: Result<MasterKey, secret::SecretError>,
    console_url: Option<String>,
) -> Result<std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>, friction_runtime::stage::StageError>
{
    let mut waker = None;
    match key {
        Ok(key) => match Dispatcher::new(
            store.clone(),
            key,
            DispatcherConfig { llm: llm::LlmConfig::from_env(), console_url, ..Default::default() },
        ) {
            Ok(dispatcher) => {
                waker = Some(dispatcher.waker());
                tokio::spawn(dispatcher.run());
            }
            Err(e) => tracing::error!(error = %e, "exporter dispatcher not started"),
        },
        Err(e) => tracing::info!(reason = %e, "exporter dispatcher off; tickets wait in the ledger"),
    }
    let (stage, mut handler) = args.stage(store.clone(), tokio::runtime::Handle::current());
    if let Some(waker) = waker {
        handler = handler.wake_on_write(waker);
    }
    friction_runtime::stage::spawn_stage(stage, kafka, handler, shutdown, health)
}

/// `friction integrations test`: checks the credentials and the target; `Ok` with what was
/// checked, or `Err` with the class and a scrubbed reason.
pub async fn check_integration(integration: &Integration, key: &MasterKey) -> Result<String, String> {
    let outcome = test_integration(integration, key).await;
    if outcome.ok {
        Ok(outcome.message)
    } else {
        Err(outcome.message)
    }
}

/// What one credentials check of an integration found (the console's "test connection").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckOutcome {
    /// The target answered the check with success.
    pub ok: bool,
    /// The HTTP status of a refusal (401, 404, 5xx...); `None` on success (a 2xx) or when the
    /// target did not answer.
    pub status: Option<u16>,
    /// What was checked (`authenticated as ...`), or the failure's class and scrubbed reason.
    pub message: String,
}

/// One read-only call to the target's "who am I" (Jira `/rest/api/3/myself`, Linear `viewer`,
/// GitHub the repository, a webhook a signed `ping`) through the exporter's own client code.
pub async fn test_integration(integration: &Integration, key: &MasterKey) -> CheckOutcome {
    let failed = |message: String| CheckOutcome { ok: false, status: None, message };
    let secret = match integration.secret(key) {
        Ok(secret) => secret,
        Err(e) => return failed(e.to_string()),
    };
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(targets::connect_timeout(std::time::Duration::from_secs(15)))
        .build()
    {
        Ok(http) => http,
        Err(e) => return failed(e.without_url().to_string()),
    };
    let target = targets::Target {
        integration,
        secret,
        http: &http,
        timeout: std::time::Duration::from_secs(15),
        allow_private_network: false,
    };
    match target.check().await {
        Ok(message) => CheckOutcome { ok: true, status: None, message },
        Err(e) => CheckOutcome { ok: false, status: e.status, message: e.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_args_are_the_flags_defaults() {
        let flags: ExporterArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, ExporterArgs::default());
        let flags: BreakerArgs = friction_runtime::config::flag_defaults().expect("every flag has a default");
        assert_eq!(flags, BreakerArgs::default());
        assert_eq!(flags.policy(), outcome::BreakerPolicy::default());
    }
}
