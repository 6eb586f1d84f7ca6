//! `friction keys`: create (the secret is printed once, on stdout, and nothing else is), list,
//! revoke, and sync. Every change is published to the compacted API-key topic, which is where
//! gateways learn about keys.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use friction_runtime::kafka::producer_config;
use friction_runtime::KafkaArgs;
use friction_schemas::{encode_to_vec, ApiKeyRecord};
use friction_store::ApiKey;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};

use crate::{resolve_brokers, StoreArgs};

#[derive(Args, Clone, Debug)]
pub struct PublishArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    /// The compacted topic gateways read keys from.
    #[arg(long, env = "FRICTION_APIKEYS_TOPIC", default_value = friction_runtime::topics::APIKEYS)]
    pub apikeys_topic: String,
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
    /// Publish every key in the store to the key topic (after restoring a broker, say).
    Sync {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        publish: PublishArgs,
    },
}

/// The record gateways read for a key.
pub fn key_record(key: &ApiKey) -> ApiKeyRecord {
    ApiKeyRecord {
        key_hash: key.key_hash.clone(),
        key_id: key.id.clone(),
        project_id: key.project_id.clone(),
        project_name: key.project_name.clone(),
        revoked: key.revoked_at_ms.is_some(),
        allowed_origins: Vec::new(),
        rate_limit_per_sec: None,
        updated_at: key.revoked_at_ms.unwrap_or(key.created_at_ms),
        mac: None,
    }
}

/// Publishes keys and waits for the broker to acknowledge each one.
pub async fn publish_keys(kafka: &KafkaArgs, topic: &str, keys: &[ApiKey]) -> anyhow::Result<usize> {
    let producer: FutureProducer = producer_config(kafka)?.create().context("creating the Kafka producer")?;
    let mut deliveries = Vec::with_capacity(keys.len());
    for key in keys {
        let payload = encode_to_vec(&key_record(key))?;
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

async fn publish_or_warn(store: &StoreArgs, publish: &PublishArgs, keys: &[ApiKey]) -> anyhow::Result<()> {
    match resolve_brokers(&publish.kafka, &store.data_dir) {
        Some(kafka) => {
            publish_keys(&kafka, &publish.apikeys_topic, keys).await.with_context(|| {
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
            publish_or_warn(&store, &publish, std::slice::from_ref(&key)).await?;
            eprintln!("revoked key {} ({}) of project {}", key.id, key.prefix, key.project_name);
        }
        KeysCommand::Sync { store, publish } => {
            let s = store.open().await?;
            let keys = s.list_api_keys(None).await?;
            let kafka = resolve_brokers(&publish.kafka, &store.data_dir)
                .context("no broker: pass --brokers HOST:PORT or set FRICTION_BROKERS")?;
            let n = publish_keys(&kafka, &publish.apikeys_topic, &keys).await?;
            eprintln!("published {n} key(s) to {}", publish.apikeys_topic);
        }
    }
    Ok(ExitCode::SUCCESS)
}
