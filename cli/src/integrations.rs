//! `friction integrations add|list|test|enable|disable`: where tickets go. The credential is read
//! from an environment variable or stdin (never a command-line argument, which `ps` shows),
//! encrypted with `FRICTION_MASTER_KEY` (AES-256-GCM) and never printed again.

use std::io::BufRead as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Subcommand, ValueEnum};
use friction_exporter::integration::{add_integration, close_breaker, integration, list_integrations, set_enabled};
use friction_exporter::{check_integration, IntegrationConfig, Kind, NewIntegration, RegressionPolicy, Secret};

use crate::StoreArgs;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum KindArg {
    Jira,
    Linear,
    Github,
    Webhook,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RegressionArg {
    /// Reopen the existing ticket and comment.
    Reopen,
    /// A new ticket per incident generation.
    NewGeneration,
}

// Parsed once per run; boxing the big variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum IntegrationsCommand {
    /// Add an integration. The secret comes from --secret-env (default
    /// FRICTION_INTEGRATION_SECRET) or, when that is unset, the first line of stdin.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum)]
        kind: KindArg,
        /// Jira site, Linear API, GitHub API base URL, or the webhook endpoint.
        #[arg(long)]
        url: String,
        /// Jira: the account e-mail of the API token.
        #[arg(long)]
        email: Option<String>,
        /// Jira: project key.
        #[arg(long)]
        project_key: Option<String>,
        /// Jira: issue type id.
        #[arg(long)]
        issue_type_id: Option<String>,
        /// Jira: the transition id that reopens an issue.
        #[arg(long)]
        reopen_transition_id: Option<String>,
        /// Linear: team id.
        #[arg(long)]
        team_id: Option<String>,
        /// Linear: the workflow state id a regressed issue moves back to (reopen policy).
        #[arg(long)]
        reopen_state_id: Option<String>,
        /// GitHub: owner/name.
        #[arg(long)]
        repo: Option<String>,
        /// Only incidents of this Friction project.
        #[arg(long)]
        project: Option<String>,
        /// Only these signal kinds (comma-separated; default all).
        #[arg(long, value_delimiter = ',')]
        kinds: Vec<String>,
        #[arg(long, default_value_t = 0.0)]
        min_severity: f64,
        #[arg(long, value_enum, default_value = "reopen")]
        regression: RegressionArg,
        /// Webhooks: allow private/loopback addresses (local receivers only).
        #[arg(long)]
        allow_private_network: bool,
        #[arg(long, default_value = "FRICTION_INTEGRATION_SECRET")]
        secret_env: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List integrations (never their secrets), with breaker state.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Check the credentials against the target and report what is wrong; closes the breaker on success.
    Test {
        /// Id or name.
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable (and close the breaker of) an integration.
    Enable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable an integration: no new tickets, no calls.
    Disable {
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn read_secret(var: &str) -> anyhow::Result<Secret> {
    if let Some(v) = std::env::var(var).ok().filter(|v| !v.is_empty()) {
        return Ok(Secret::new(v));
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the secret from stdin")?;
    let line = line.trim().to_owned();
    anyhow::ensure!(!line.is_empty(), "no secret: set {var} or pass it on stdin");
    Ok(Secret::new(line))
}

pub async fn run(cmd: IntegrationsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        IntegrationsCommand::Add {
            name,
            kind,
            url,
            email,
            project_key,
            issue_type_id,
            reopen_transition_id,
            team_id,
            reopen_state_id,
            repo,
            project,
            kinds,
            min_severity,
            regression,
            allow_private_network,
            secret_env,
            store,
        } => {
            let key = crate::up::master_key(&store.data_dir, false)?;
            let secret = read_secret(&secret_env)?;
            let store = store.open().await?;
            let kind = match kind {
                KindArg::Jira => Kind::Jira,
                KindArg::Linear => Kind::Linear,
                KindArg::Github => Kind::Github,
                KindArg::Webhook => Kind::Webhook,
            };
            let config = IntegrationConfig {
                base_url: url,
                email,
                project_key,
                issue_type_id,
                reopen_transition_id,
                team_id,
                reopen_state_id,
                repo,
                regression: match regression {
                    RegressionArg::Reopen => RegressionPolicy::Reopen,
                    RegressionArg::NewGeneration => RegressionPolicy::NewGeneration,
                },
                allow_private_network,
                ..Default::default()
            };
            let new = NewIntegration { name, kind, project_id: project, kinds, min_severity, config, secret };
            let added = add_integration(&store, &key, &new).await;
            let ok = added.is_ok();
            let resource = added
                .as_ref()
                .map(|i| format!("integration:{}", i.id))
                .unwrap_or_else(|_| format!("integration:{}", new.name));
            store.audit("cli", "integration.add", &resource, ok, None, None).await?;
            let added = added?;
            println!("{}", added.id);
            eprintln!(
                "added {} integration {} (secret encrypted; run `friction integrations test {}`)",
                added.kind.as_str(),
                added.name,
                added.name
            );
            Ok(ExitCode::SUCCESS)
        }
        IntegrationsCommand::List { store } => {
            let store = store.open().await?;
            for i in list_integrations(&store).await? {
                let state = if !i.enabled {
                    "disabled".to_owned()
                } else if i.breaker_open {
                    format!("breaker open: {}", i.breaker_reason.unwrap_or_default())
                } else if i.health.failures > 0 {
                    // Transient failures: backing off, or cooling down until one probe.
                    format!(
                        "breaker {} after {} failures in a row (next call in {} s): {}",
                        i.health.breaker.as_str(),
                        i.health.failures,
                        (i.health.retry_at - friction_runtime::now_ms()).max(0) / 1000,
                        i.last_error.unwrap_or_default()
                    )
                } else {
                    "enabled".to_owned()
                };
                println!("{}\t{}\t{}\t{}\t{}", i.id, i.name, i.kind.as_str(), i.config.base_url, state);
            }
            Ok(ExitCode::SUCCESS)
        }
        IntegrationsCommand::Test { id, store } => {
            let key = crate::up::master_key(&store.data_dir, false)?;
            let store = store.open().await?;
            let found = integration(&store, &id).await?.with_context(|| format!("no integration {id:?}"))?;
            match check_integration(&found, &key).await {
                Ok(what) => {
                    close_breaker(&store, &found.id).await?;
                    store
                        .audit("cli", "integration.test", &format!("integration:{}", found.id), true, None, None)
                        .await?;
                    println!("ok: {what}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(why) => {
                    store
                        .audit("cli", "integration.test", &format!("integration:{}", found.id), false, None, Some(&why))
                        .await?;
                    println!("failed: {why}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        IntegrationsCommand::Enable { id, store } => toggle(&id, &store, true).await,
        IntegrationsCommand::Disable { id, store } => toggle(&id, &store, false).await,
    }
}

async fn toggle(id: &str, store: &StoreArgs, enabled: bool) -> anyhow::Result<ExitCode> {
    let store = store.open().await?;
    let found = set_enabled(&store, id, enabled).await?;
    let action = if enabled { "integration.enable" } else { "integration.disable" };
    store.audit("cli", action, &format!("integration:{id}"), found, None, None).await?;
    anyhow::ensure!(found, "no integration {id:?}");
    eprintln!("{} {id}", if enabled { "enabled" } else { "disabled" });
    Ok(ExitCode::SUCCESS)
}
