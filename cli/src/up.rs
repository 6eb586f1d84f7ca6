//! `friction up`: the whole pipeline on one machine. An embedded broker (librdkafka's mock cluster)
//! unless `--brokers` names a real one, SQLite in the data directory unless `DATABASE_URL` is set,
//! the gateway, and every later stage as it arrives. On first start it creates project `default`
//! and an API key (printed as `api key: ...` and written to `DIR/api-key`, mode 0600); later starts
//! reuse them.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use friction_gateway::GatewayArgs;
use friction_runtime::kafka::EmbeddedBroker;
use friction_runtime::{serve_admin, Health, KafkaArgs, Shutdown};
use friction_store::Store;

use crate::keys::publish_keys;
use crate::{brokers_file, StoreArgs};

pub const DEFAULT_PROJECT: &str = "default";

#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Where the console (for now: /metrics, /healthz, /readyz) listens.
    #[arg(long, env = "FRICTION_CONSOLE_ADDR", default_value = "127.0.0.1:8081")]
    pub console_addr: SocketAddr,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Detector thresholds per project (YAML/JSON with `default:` and `projects:`); defaults otherwise.
    #[arg(long, env = "FRICTION_RULES_FILE")]
    pub rules_file: Option<std::path::PathBuf>,
}

type StageThread = std::thread::JoinHandle<Result<(), friction_runtime::stage::StageError>>;

/// The sessionizer and the detector, each its own consumer group, as their binaries run them.
fn start_stages(
    kafka: &KafkaArgs,
    rules_file: Option<&Path>,
    health: &Health,
    shutdown: &Shutdown,
) -> anyhow::Result<Vec<(&'static str, StageThread)>> {
    use friction_runtime::stage::{spawn_stage, StageConfig};
    use friction_runtime::topics;

    let mut sessionizer = StageConfig::new("friction-sessionizer", vec![topics::EVENTS.to_string()]);
    sessionizer.changelog_topic = Some("friction.sessionizer.changelog.v1".into());
    let handler = friction_sessionizer::handler::SessionizerHandler::new(
        friction_sessionizer::SessionizerConfig::default(),
        friction_sessionizer::handler::SessionizerTopics::default(),
    )?;
    let s = spawn_stage(sessionizer, kafka, handler, shutdown.clone(), Some(health.register("sessionizer")))?;

    let mut detector = StageConfig::new("friction-detector", vec![topics::SESSIONIZED.to_string()]);
    detector.changelog_topic = Some("friction.detector.changelog.v1".into());
    let rules = friction_detector::load_rules(rules_file)?;
    let handler = friction_detector::DetectorHandler::new(friction_detector::DetectorConfig::default(), rules);
    let d = spawn_stage(detector, kafka, handler, shutdown.clone(), Some(health.register("detector")))?;
    Ok(vec![("sessionizer", s), ("detector", d)])
}

/// Reuses the key in `DIR/api-key` if the store still has it active, or creates a new one.
async fn ensure_default_key(store: &Store, data_dir: &Path) -> anyhow::Result<String> {
    if store.project_by_name(DEFAULT_PROJECT).await?.is_none() {
        store.create_project(DEFAULT_PROJECT).await?;
    }
    let path = data_dir.join("api-key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim().to_string();
        let hash = friction_store::hash_api_key(&existing);
        if store.api_key_by_hash(&hash).await?.is_some_and(|k| k.revoked_at_ms.is_none()) {
            return Ok(existing);
        }
        tracing::warn!(path = %path.display(), "the saved API key is unknown or revoked; creating a new one");
    }
    let new = store.create_api_key(DEFAULT_PROJECT, Some("created by friction up")).await?;
    write_secret_file(&path, &new.secret)?;
    Ok(new.secret)
}

fn write_secret_file(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(path).with_context(|| format!("writing {}", path.display()))?;
    f.write_all(secret.as_bytes())?;
    f.write_all(b"\n")?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = args.store.data_dir.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();

    let store = args.store.open().await?;
    eprintln!("store: {} ({})", store.url_for_display(), store.backend());

    let catalogue = friction_runtime::topics::catalogue();
    let (embedded, kafka) = match args.kafka.brokers.as_deref().filter(|b| !b.is_empty()) {
        Some(brokers) => {
            let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
                friction_runtime::kafka::producer_config(&args.kafka)?.create()?;
            let report = friction_runtime::topics::apply(&admin, &catalogue, Duration::from_secs(15))
                .await
                .with_context(|| format!("creating topics on {brokers}"))?;
            for (name, diffs) in &report.differing {
                for d in diffs {
                    tracing::warn!(topic = %name, setting = d.setting, actual = %d.actual, wanted = %d.wanted, "topic differs from topics.yaml");
                }
            }
            eprintln!("broker: {brokers} ({} topics created)", report.created.len());
            (None, args.kafka.clone())
        }
        None => {
            let broker = EmbeddedBroker::start(&catalogue)?;
            let kafka = KafkaArgs { brokers: Some(broker.bootstrap_servers().to_string()), ..args.kafka.clone() };
            std::fs::write(brokers_file(&data_dir), broker.bootstrap_servers())?;
            eprintln!("broker: embedded, in memory, at {} (pass --brokers to use Kafka)", broker.bootstrap_servers());
            (Some(broker), kafka)
        }
    };

    let secret = ensure_default_key(&store, &data_dir).await?;
    let all_keys = store.list_api_keys(None).await?;
    publish_keys(&kafka, &args.gateway.apikeys_topic, &all_keys).await.context("publishing API keys")?;

    let health = Health::default();
    let store_health = health.register("store");
    store_health.set(store.ping().await.is_ok());
    {
        let store = store.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => store_health.set(store.ping().await.is_ok()),
                }
            }
        });
    }
    let console = serve_admin(args.console_addr, health.clone(), shutdown.clone())
        .await
        .with_context(|| format!("cannot listen on {}", args.console_addr))?;
    let gateway = friction_gateway::start(args.gateway.clone(), &kafka, &health, shutdown.clone()).await?;
    let stages = start_stages(&kafka, args.rules_file.as_deref(), &health, &shutdown)?;

    // Announce only once the gateway can authenticate the key it prints.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !gateway.keys.is_ready() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the gateway did not load API keys from {} within 30 s", args.gateway.apikeys_topic);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("api key: {secret}");
    eprintln!("gateway: http://{}/v1/events", gateway.addr);
    eprintln!("console: http://{console}/readyz (metrics at /metrics)");
    eprintln!("key file: {}", data_dir.join("api-key").display());
    eprintln!("stages: sessionizer, detector (signals on {})", friction_runtime::topics::SIGNALS);
    eprintln!("friction is up; Ctrl-C to stop");

    let result = gateway.server.await;
    shutdown.trigger();
    for (name, thread) in stages {
        if let Err(e) = friction_runtime::stage::wait_stage(name, thread).await {
            eprintln!("{name} stopped with an error: {e}");
        }
    }
    if embedded.is_some() {
        let _ = std::fs::remove_file(brokers_file(&data_dir));
    }
    store.close().await;
    drop(embedded);
    result.context("gateway task")?.context("gateway server")?;
    eprintln!("stopped");
    Ok(())
}
