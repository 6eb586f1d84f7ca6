//! `friction up`: the whole pipeline on one machine. An embedded broker (librdkafka's mock cluster)
//! unless `--brokers` names a real one, SQLite in the data directory unless `DATABASE_URL` is set,
//! the gateway, the stages ([`crate::pipeline`]), and the console API. On first start
//! it creates project `default`, an API key (printed as `api key: ...` and written to
//! `DIR/api-key`, mode 0600), an admin console token (`DIR/admin-token`, 0600), the console user
//! `admin` with a random password (printed once as `admin password: ...` and written to
//! `DIR/admin-password`, 0600) and, unless `FRICTION_MASTER_KEY` is set, the key that encrypts
//! integration secrets (`DIR/master-key`, 0600); later starts reuse them. Tickets link to this
//! console (`--console-url`, default its own address).
//!
//! Private by default (docs/operators.md, "Files and permissions"): the data directory is 0700
//! (an existing one others can read is tightened, with a log line), every file written here is
//! 0600, and API-key records are signed with the key publishers' secret (`FRICTION_KEYS_SECRET`,
//! else `DIR/keys-secret`, created at random on first start), which the gateway verifies.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use friction_gateway::GatewayArgs;
use friction_runtime::kafka::EmbeddedBroker;
use friction_runtime::{Health, KafkaArgs, Shutdown};
use friction_store::Store;

use crate::keys::{keys_secret_file, publish_keys};
use crate::pipeline::{start_stages_with, ExporterSetup, PipelineNames};
use crate::{brokers_file, StoreArgs};

pub const DEFAULT_PROJECT: &str = "default";

#[derive(Args, Clone, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// The console's listener, its bounds, sessions and live stream.
    #[command(flatten)]
    pub console: friction_console::ConsoleServeArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Put before every topic and consumer-group name (e.g. `staging.`), so that several
    /// pipelines can share one Kafka cluster (`--brokers`). Default: none.
    #[arg(long, env = "FRICTION_TOPIC_PREFIX", default_value = "")]
    pub topic_prefix: String,
    /// Detector thresholds per project (YAML/JSON with `default:` and `projects:`); defaults otherwise.
    #[arg(long, env = "FRICTION_RULES_FILE")]
    pub rules_file: Option<std::path::PathBuf>,
    /// Tail log files into this gateway as SERVICE's log: `SERVICE=GLOB`, repeatable (or
    /// comma-separated in the variable); checkpoints in DATA_DIR/logwatch.
    #[arg(long = "watch-logs", env = "FRICTION_WATCH_LOGS", value_delimiter = ',')]
    pub watch_logs: Vec<friction_logwatch::WatchSpec>,
    /// Pattern rules (YAML) for the files of --watch-logs.
    #[arg(long = "watch-logs-patterns", env = "FRICTION_WATCH_LOGS_PATTERNS")]
    pub watch_logs_patterns: Option<std::path::PathBuf>,
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
    let detail = format!("project {DEFAULT_PROJECT}, prefix {}", new.key.prefix);
    store.audit(UP_ACTOR, "key.create", &format!("key:{}", new.key.id), true, None, Some(&detail)).await?;
    write_secret_file(&path, &new.secret)?;
    Ok(new.secret)
}

/// Reuses the console token in `DIR/admin-token` if it is still an active admin token, or
/// creates one and writes it there (mode 0600).
async fn ensure_admin_token(store: &Store, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("admin-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let token = store.console_token_by_secret(existing.trim()).await?;
        if token.is_some_and(|t| t.revoked_at_ms.is_none() && t.role == friction_store::Role::Admin) {
            return Ok(());
        }
        tracing::warn!(path = %path.display(), "the saved admin token is unknown or revoked; creating a new one");
    }
    let new = store.create_console_token(friction_store::Role::Admin, Some("created by friction up")).await?;
    let detail = format!("role admin, prefix {}", new.token.prefix);
    store.audit(UP_ACTOR, "token.create", &format!("token:{}", new.token.id), true, None, Some(&detail)).await?;
    write_secret_file(&path, &new.secret)
}

/// The console user `friction up` creates on first start.
pub const ADMIN_USER: &str = "admin";

/// Creates the user `admin` (role admin) with a random password written to `DIR/admin-password`
/// (0600) when the store has no such user; returns the password to print once.
async fn ensure_admin_user(store: &Store, data_dir: &Path) -> anyhow::Result<Option<String>> {
    if store.user_by_username(ADMIN_USER).await?.is_some() {
        return Ok(None);
    }
    let password = friction_console::password::generate();
    let hash = friction_console::password::hash(&password).await?;
    let user = store.create_user(ADMIN_USER, &hash, friction_store::Role::Admin, None).await?;
    store.audit(UP_ACTOR, "user.create", &format!("user:{}", user.username), true, None, Some("role admin")).await?;
    write_secret_file(&data_dir.join("admin-password"), &password)?;
    Ok(Some(password))
}

/// The file with the key that encrypts integration secrets when `FRICTION_MASTER_KEY` is not set.
pub fn master_key_file(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("master-key")
}

/// The master key: `FRICTION_MASTER_KEY` when set (it wins), else `DIR/master-key`, created (32
/// random bytes, hex, 0600) when missing and `create` is true.
pub fn master_key(data_dir: &Path, create: bool) -> anyhow::Result<friction_exporter::MasterKey> {
    use friction_exporter::secret::{SecretError, MASTER_KEY_ENV};
    use friction_exporter::MasterKey;
    match MasterKey::from_env() {
        Ok(key) => return Ok(key),
        Err(SecretError::MissingMasterKey) => {}
        Err(e) => return Err(e.into()),
    }
    let path = master_key_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            tighten_file(&path)?;
            MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
            let key = MasterKey::random();
            write_secret_file(&path, &key.to_hex())?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(anyhow::anyhow!(
            "{MASTER_KEY_ENV} is not set and {} does not exist (`friction up` creates it)",
            path.display()
        )),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The audit log's actor for what `friction up` creates by itself.
const UP_ACTOR: &str = "friction up";

/// Creates the data directory (0700), or tightens an existing one that others can read or enter
/// to 0700, saying so; a directory it may not change (not its owner) is left with a warning.
pub fn prepare_data_dir(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        friction_store::create_private_dir(dir)
            .with_context(|| format!("creating data directory {}", dir.display()))?;
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir).with_context(|| format!("reading {}", dir.display()))?.permissions().mode();
        if mode & 0o077 != 0 {
            match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)) {
                Ok(()) => tracing::warn!(
                    path = %dir.display(),
                    was = format!("{:o}", mode & 0o777),
                    "the data directory was open to other users; set it to 0700"
                ),
                Err(e) => tracing::warn!(
                    path = %dir.display(),
                    mode = format!("{:o}", mode & 0o777),
                    error = %e,
                    "the data directory is open to other users and cannot be changed; make it 0700"
                ),
            }
        }
    }
    Ok(())
}

/// Sets an existing file others can read to 0600 (files written before this version).
fn tighten_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .with_context(|| format!("making {} private", path.display()))?;
                tracing::warn!(path = %path.display(), "the file was readable by other users; set it to 0600");
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The key publishers' secret in `DIR/keys-secret`, created (32 random bytes, hex, 0600) when
/// missing.
pub fn load_or_create_keys_secret(data_dir: &Path) -> anyhow::Result<friction_gateway::keys::KeysSecret> {
    let path = keys_secret_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            tighten_file(&path)?;
            text.parse().map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = hex::encode(rand::random::<[u8; 32]>());
            write_secret_file(&path, &secret)?;
            secret.parse().map_err(|e: String| anyhow::anyhow!(e))
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
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
    prepare_data_dir(&data_dir)?;
    for file in ["api-key", "admin-token", "admin-password"] {
        tighten_file(&data_dir.join(file))?;
    }
    let prefix = args.topic_prefix.as_str();
    let names = PipelineNames::with_prefix(prefix);
    let mut gateway_args = args.gateway.clone();
    gateway_args.events_topic = format!("{prefix}{}", gateway_args.events_topic);
    gateway_args.apikeys_topic = format!("{prefix}{}", gateway_args.apikeys_topic);
    let keys_secret = match gateway_args.keys_secret.clone() {
        Some(secret) => secret,
        None => load_or_create_keys_secret(&data_dir)?,
    };
    gateway_args.keys_secret = Some(keys_secret.clone());
    let shutdown = Shutdown::new();
    shutdown.trigger_on_signals();

    let store = args.store.open().await?;
    eprintln!("store: {} ({})", store.url_for_display(), store.backend());

    let mut catalogue = friction_runtime::topics::catalogue();
    for topic in &mut catalogue {
        topic.name = format!("{prefix}{}", topic.name);
    }
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
            write_secret_file(&brokers_file(&data_dir), broker.bootstrap_servers())?;
            eprintln!("broker: embedded, in memory, at {} (pass --brokers to use Kafka)", broker.bootstrap_servers());
            (Some(broker), kafka)
        }
    };

    let secret = ensure_default_key(&store, &data_dir).await?;
    let all_keys = store.list_api_keys(None).await?;
    publish_keys(&kafka, &gateway_args.apikeys_topic, &all_keys, Some(&keys_secret))
        .await
        .context("publishing API keys")?;

    let health = Health::default();
    ensure_admin_token(&store, &data_dir).await?;
    let admin_password = ensure_admin_user(&store, &data_dir).await?;
    let master_key = master_key(&data_dir, true)?;
    let setup = friction_console::ConsoleSetup {
        store: store.clone(),
        kafka: kafka.clone(),
        incidents_topic: names.incidents.clone(),
        apikeys_topic: gateway_args.apikeys_topic.clone(),
        keys_secret: Some(keys_secret.as_bytes().to_vec()),
        auth: args.gateway.auth,
        clickhouse: crate::warehouse::clickhouse_from_env(),
        master_key: Some(master_key.clone()),
        // The gateway below checks the broker.
        check_broker: false,
    };
    let console = friction_console::serve(&args.console, setup, &health, &shutdown).await?;
    let apikeys_topic = gateway_args.apikeys_topic.clone();
    let gateway = friction_gateway::start(gateway_args, &kafka, &health, shutdown.clone()).await?;
    let console_url = match args.console.console_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{console}"),
    };
    let exporter = ExporterSetup { master_key: Ok(master_key), console_url: Some(console_url.clone()) };
    let stages = start_stages_with(&names, &kafka, args.rules_file.as_deref(), &store, &health, &shutdown, exporter)?;

    // Announce only once the gateway can authenticate the key it prints.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !gateway.keys.is_ready() {
        if std::time::Instant::now() > deadline {
            anyhow::bail!("the gateway did not load API keys from {} within 30 s", apikeys_topic);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let logwatch = crate::logwatch::start_for_up(
        &args.watch_logs,
        args.watch_logs_patterns.clone(),
        &data_dir,
        gateway.addr,
        &secret,
        shutdown.clone(),
    )?;
    // One write: a reader that takes the first line and closes the pipe (a script, the tests) must
    // not make the next line fail, and a failed write to stdout must not stop the server.
    let mut announcement = format!("api key: {secret}\n");
    if let Some(password) = &admin_password {
        announcement.push_str(&format!("admin password: {password}\n"));
    }
    {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(announcement.as_bytes()).and_then(|()| out.flush());
    }
    eprintln!("gateway: http://{}/v1/events", gateway.addr);
    eprintln!(
        "console: http://{console}/ (log in as admin; API at /v1/incidents, health at /readyz, metrics at /metrics)"
    );
    eprintln!("key file: {}", data_dir.join("api-key").display());
    eprintln!("admin password file: {} (user admin)", data_dir.join("admin-password").display());
    eprintln!("admin token file: {} (send as `Authorization: Bearer ...`)", data_dir.join("admin-token").display());
    if console_url != format!("http://{console}") {
        eprintln!("tickets link to {console_url}/incidents/ID");
    }
    eprintln!("stages: sessionizer, detector, incidents (incident changes on {})", names.incidents);
    eprintln!("friction is up; Ctrl-C to stop");

    let result = gateway.server.await;
    shutdown.trigger();
    if let Some(logwatch) = logwatch {
        logwatch.join().await;
    }
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
