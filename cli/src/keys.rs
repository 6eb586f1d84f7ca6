//! `friction keys`: create (the secret is printed once, on stdout, and nothing else is), list,
//! revoke, and sync. Every change is audited (actor `cli`) and published to the compacted API-key
//! topic, which is where gateways learn about keys; records are signed with the key publishers'
//! secret (`FRICTION_KEYS_SECRET`, else `DATA_DIR/keys-secret` written by `friction up`), which
//! gateways verify (docs/operators.md, "Keys and projects").

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use friction_gateway::keys::KeysSecret;
use friction_runtime::kafka::producer_config;
use friction_runtime::KafkaArgs;
use friction_schemas::{encode_to_vec, ApiKeyRecord};
use friction_store::ApiKey;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::{resolve_brokers, StoreArgs};

/// The file in the data directory that holds the key publishers' secret `friction up` created.
pub fn keys_secret_file(data_dir: &Path) -> PathBuf {
    data_dir.join("keys-secret")
}

/// `--keys-secret` / `FRICTION_KEYS_SECRET`, else the secret `friction up` keeps in the data
/// directory, else none (records go out unsigned).
pub fn resolve_keys_secret(given: Option<&KeysSecret>, data_dir: &Path) -> anyhow::Result<Option<KeysSecret>> {
    if let Some(secret) = given {
        return Ok(Some(secret.clone()));
    }
    let path = keys_secret_file(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.parse().map_err(|e: String| anyhow::anyhow!("{}: {e}", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[derive(Args, Clone, Debug)]
pub struct PublishArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The compacted topic gateways read keys from.
    #[arg(long, env = "FRICTION_APIKEYS_TOPIC", default_value = friction_runtime::topics::APIKEYS)]
    pub apikeys_topic: String,
    /// The key publishers' secret records are signed with (what gateways have as
    /// FRICTION_KEYS_SECRET); default: DATA_DIR/keys-secret when `friction up` created one.
    #[arg(long, env = "FRICTION_KEYS_SECRET", hide_env_values = true)]
    pub keys_secret: Option<KeysSecret>,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a key for a project. Prints only the key on stdout; it is not shown again.
    Create {
        #[arg(long)]
        project: String,
        /// A note to tell keys apart (e.g. `web shop`).
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// List keys (prefix, project, created, revoked); never the secrets.
    List {
        #[arg(long)]
        project: Option<String>,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by id or prefix; gateways refuse it within seconds.
    Revoke {
        /// The key's id, or its prefix (as `keys list` shows it).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        publish: PublishArgs,
    },
    /// Publish every key in the store to the key topic, signed with the current publishers'
    /// secret (after restoring a broker, or after setting or changing FRICTION_KEYS_SECRET).
    Sync {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        publish: PublishArgs,
    },
}

/// The record gateways read for a key (its origins and rate included), signed with `secret` when given.
pub fn key_record(key: &ApiKey, secret: Option<&KeysSecret>) -> ApiKeyRecord {
    key.record(secret.map(KeysSecret::as_bytes))
}

/// Publishes keys (signed with `secret` when given) and waits for the broker to acknowledge each one.
pub async fn publish_keys(
    kafka: &KafkaArgs,
    topic: &str,
    keys: &[ApiKey],
    secret: Option<&KeysSecret>,
) -> anyhow::Result<usize> {
    let producer: FutureProducer = producer_config(kafka)?.create().context("creating the Kafka producer")?;
    let mut deliveries = Vec::with_capacity(keys.len());
    for key in keys {
        let payload = encode_to_vec(&key_record(key, secret))?;
        let record = FutureRecord::to(topic).key(key.key_hash.as_str()).payload(&payload);
        let delivery = producer.send_result(record).map_err(|(e, _)| e).context("queueing an API-key record")?;
        deliveries.push(delivery);
    }
    for d in deliveries {
        match d.await {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(e).with_context(|| format!("publishing API keys to {topic}")),
            Err(_) => anyhow::bail!("producer closed before the broker acknowledged the API keys"),
        }
    }
    let _ = producer.flush(Duration::from_secs(5));
    Ok(keys.len())
}

/// The publishers' secret for `publish`, with a warning on stderr when there is none.
fn publish_secret(store: &StoreArgs, publish: &PublishArgs) -> anyhow::Result<Option<KeysSecret>> {
    let secret = resolve_keys_secret(publish.keys_secret.as_ref(), &store.data_dir)?;
    if secret.is_none() {
        eprintln!(
            "warning: no key publishers' secret (FRICTION_KEYS_SECRET, or {} from `friction up`): \
             publishing unsigned records, which gateways with a secret ignore",
            keys_secret_file(&store.data_dir).display()
        );
    }
    Ok(secret)
}

async fn publish_or_warn(store: &StoreArgs, publish: &PublishArgs, keys: &[ApiKey]) -> anyhow::Result<()> {
    match resolve_brokers(&publish.kafka, &store.data_dir) {
        Some(kafka) => {
            let secret = publish_secret(store, publish)?;
            publish_keys(&kafka, &publish.apikeys_topic, keys, secret.as_ref()).await.with_context(|| {
                "the change is saved in the store but gateways have not seen it; rerun `friction keys sync` once the broker is reachable"
            })?;
            eprintln!("published to {} on {}", publish.apikeys_topic, kafka.brokers.unwrap_or_default());
        }
        None => eprintln!(
            "note: no broker given (--brokers / FRICTION_BROKERS) and no `friction up` running in {}; \
             gateways see this change when `friction up` starts or after `friction keys sync --brokers ...`",
            store.data_dir.display()
        ),
    }
    Ok(())
}

pub async fn run(cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Create { project, label, store, publish } => {
            let s = store.open().await?;
            let new = s.create_api_key(&project, label.as_deref()).await?;
            let detail =
                format!("project {} ({}), prefix {}", new.key.project_name, new.key.project_id, new.key.prefix);
            s.audit("cli", "key.create", &format!("key:{}", new.key.id), true, None, Some(&detail)).await?;
            publish_or_warn(&store, &publish, std::slice::from_ref(&new.key)).await?;
            eprintln!("created key {} for project {} (shown once; store it now)", new.key.id, new.key.project_name);
            println!("{}", new.secret);
        }
        KeysCommand::List { project, json, store } => {
            let s = store.open().await?;
            let keys = s.list_api_keys(project.as_deref()).await?;
            if json {
                for k in &keys {
                    println!("{}", serde_json::to_string(k)?);
                }
            } else {
                println!("{:<18} {:<14} {:<20} {:<10} label", "id", "prefix", "project", "status");
                for k in &keys {
                    let status = if k.revoked_at_ms.is_some() { "revoked" } else { "active" };
                    println!(
                        "{:<18} {:<14} {:<20} {:<10} {}",
                        k.id,
                        k.prefix,
                        k.project_name,
                        status,
                        k.label.as_deref().unwrap_or("")
                    );
                }
            }
        }
        KeysCommand::Revoke { id, store, publish } => {
            let s = store.open().await?;
            let key = s.revoke_api_key(&id).await?;
            let detail = format!("project {} ({}), prefix {}", key.project_name, key.project_id, key.prefix);
            s.audit("cli", "key.revoke", &format!("key:{}", key.id), true, None, Some(&detail)).await?;
            publish_or_warn(&store, &publish, std::slice::from_ref(&key)).await?;
            eprintln!("revoked key {} ({}) of project {}", key.id, key.prefix, key.project_name);
        }
        KeysCommand::Sync { store, publish } => {
            let s = store.open().await?;
            let keys = s.list_api_keys(None).await?;
            let kafka = resolve_brokers(&publish.kafka, &store.data_dir)
                .context("no broker: pass --brokers HOST:PORT or set FRICTION_BROKERS")?;
            let secret = publish_secret(&store, &publish)?;
            let n = publish_keys(&kafka, &publish.apikeys_topic, &keys, secret.as_ref()).await?;
            s.audit("cli", "key.sync", "keys:*", true, None, Some(&format!("{n} key(s) republished"))).await?;
            eprintln!("published {n} key(s) to {}", publish.apikeys_topic);
        }
    }
    Ok(ExitCode::SUCCESS)
}
