//! The `friction` command line: `up` (every stage in one process), `topics apply`, `projects`,
//! `keys`, `tokens`, `users`, `migrate` and `doctor`. Commands are plain async functions so tests call them directly.

pub mod doctor;
pub mod integrations;
pub mod keys;
pub mod logwatch;
pub mod pipeline;
pub mod tokens;
pub mod up;
pub mod users;
pub mod warehouse;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use friction_runtime::{CommonArgs, KafkaArgs};
use friction_store::Store;

#[derive(Parser)]
#[command(
    name = "friction",
    version,
    about = "Friction turns what users struggle with in a web product into tickets engineers can act on.",
    long_about = "Friction turns what users struggle with in a web product into tickets engineers can act on.\n\n\
        Start everything on one machine with `friction up`; manage projects, API keys and Kafka topics with the other commands."
)]
pub struct Cli {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run every stage in one process: embedded broker (unless --brokers) and SQLite (unless DATABASE_URL).
    Up(Box<up::UpArgs>),
    /// Kafka topics from topics.yaml.
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Projects: each has its own API keys and incidents.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// API keys: shown once at creation, stored only as SHA-256.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Console bearer tokens with a role (viewer, engineer, admin): shown once, stored hashed.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Console users (viewer, engineer, admin): passwords stored as Argon2id hashes.
    #[command(subcommand)]
    Users(users::UsersCommand),
    /// Apply the database migrations (other commands do this too).
    Migrate(StoreArgs),
    /// The ClickHouse warehouse: `migrate` creates or upgrades its tables.
    #[command(subcommand)]
    Warehouse(warehouse::WarehouseCommand),
    /// Ticket integrations (Jira, Linear, GitHub, webhooks): add, list, test, enable, disable.
    #[command(subcommand)]
    Integrations(integrations::IntegrationsCommand),
    /// Check a deployment: broker, topics, store migrations, ClickHouse schema, integrations,
    /// consumer lag, clocks. Prints each check with its fix; exit 0 ok, 1 warnings, 2 failures.
    Doctor(doctor::DoctorArgs),
    /// Tail log files and post them to the gateway (friction-logwatch): rotation, stack traces, checkpoints.
    Logwatch(logwatch::LogwatchCommand),
}

#[derive(Subcommand)]
pub enum TopicsCommand {
    /// Create every missing topic and report existing ones whose settings differ (exit code 3).
    Apply {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// A topics file to use instead of the built-in catalogue.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// Print the topic catalogue.
    List {
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum ProjectsCommand {
    /// Create a project.
    Create {
        /// Lowercase letters, digits, `-` and `_`; at most 64 characters.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List projects.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the relational store is.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Data directory: the SQLite database and the files `friction up` writes (api-key, brokers).
    #[arg(long, env = "FRICTION_DATA_DIR", default_value = "./friction-data")]
    pub data_dir: PathBuf,
    /// A PostgreSQL (`postgres://...`) or SQLite (`sqlite://...`) URL; default is SQLite in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
}

impl StoreArgs {
    /// Opens the store and applies pending migrations.
    pub async fn open(&self) -> anyhow::Result<Store> {
        let store = Store::from_env_or_dir(self.database_url.as_deref(), &self.data_dir)
            .await
            .with_context(|| "opening the store".to_string())?;
        store.migrate().await.context("applying migrations")?;
        Ok(store)
    }
}

/// The id of the project named `project` (or with that id); `users` and `tokens` take either.
pub(crate) async fn project_id(store: &Store, project: &str) -> anyhow::Result<String> {
    if let Some(found) = store.project_by_name(project).await? {
        return Ok(found.id);
    }
    Ok(store.project_by_id(project).await?.with_context(|| format!("project {project:?} not found"))?.id)
}

/// The file `friction up` writes with its embedded broker's address, so other commands on the
/// machine reach it without flags.
pub fn brokers_file(data_dir: &Path) -> PathBuf {
    data_dir.join("brokers")
}

/// `--brokers`, else the embedded broker of a running `friction up` in the same data directory.
pub fn resolve_brokers(kafka: &KafkaArgs, data_dir: &Path) -> Option<KafkaArgs> {
    if kafka.brokers.as_deref().is_some_and(|b| !b.is_empty()) {
        return Some(kafka.clone());
    }
    let found = std::fs::read_to_string(brokers_file(data_dir)).ok()?;
    let found = found.trim();
    (!found.is_empty()).then(|| KafkaArgs { brokers: Some(found.to_string()), ..kafka.clone() })
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Up(args) => up::run(*args).await.map(|_| ExitCode::SUCCESS),
        Command::Topics(TopicsCommand::Apply { kafka, file }) => topics_apply(&kafka, file.as_deref()).await,
        Command::Topics(TopicsCommand::List { file }) => {
            for t in load_catalogue(file.as_deref())? {
                println!(
                    "{:<36} partitions={:<3} cleanup={:<8} retention_ms={:<11} key={}",
                    t.name, t.partitions, t.cleanup, t.retention_ms, t.key
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Projects(ProjectsCommand::Create { name, store }) => {
            let store = store.open().await?;
            let project = store.create_project(&name).await?;
            println!("{}", project.id);
            eprintln!("created project {} ({})", project.name, project.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Projects(ProjectsCommand::List { store }) => {
            let store = store.open().await?;
            let projects = store.list_projects().await?;
            if projects.is_empty() {
                eprintln!("no projects yet: `friction projects create NAME` or `friction up`");
            }
            for p in projects {
                println!("{}\t{}", p.id, p.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys(cmd) => keys::run(cmd).await,
        Command::Warehouse(cmd) => warehouse::run(cmd).await,
        Command::Tokens(cmd) => tokens::run(cmd).await,
        Command::Users(cmd) => users::run(cmd).await,
        Command::Integrations(cmd) => integrations::run(cmd).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Logwatch(cmd) => logwatch::run(cmd).await.map(|_| ExitCode::SUCCESS),
        Command::Migrate(store) => {
            let s = Store::from_env_or_dir(store.database_url.as_deref(), &store.data_dir).await?;
            let applied = s.migrate().await?;
            eprintln!("{}: {} migration(s) applied", s.url_for_display(), applied.len());
            Ok(ExitCode::SUCCESS)
        }
    }
}

pub(crate) fn load_catalogue(file: Option<&Path>) -> anyhow::Result<Vec<friction_runtime::topics::TopicSpec>> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Ok(friction_runtime::topics::parse(&text).with_context(|| format!("in {}", path.display()))?)
        }
        None => Ok(friction_runtime::topics::catalogue()),
    }
}

/// Exit code when existing topics differ from the catalogue.
pub const EXIT_TOPICS_DIFFER: u8 = 3;

async fn topics_apply(kafka: &KafkaArgs, file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let specs = load_catalogue(file)?;
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        friction_runtime::kafka::producer_config(kafka)?.create().context("creating the Kafka admin client")?;
    let brokers = kafka.brokers.clone().unwrap_or_default();
    eprintln!("applying {} topics to {brokers}", specs.len());
    let report = friction_runtime::topics::apply(&admin, &specs, Duration::from_secs(15)).await?;
    for name in &report.created {
        println!("created    {name}");
    }
    for name in &report.unchanged {
        println!("ok         {name}");
    }
    for (name, settings) in &report.unverified {
        println!("unverified {name}: the broker did not report {}", settings.join(", "));
    }
    for (name, diffs) in &report.differing {
        for d in diffs {
            println!("DIFFERS    {name}: {} is {} on the broker, topics.yaml wants {}", d.setting, d.actual, d.wanted);
        }
    }
    if report.differing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{} topic(s) differ from the catalogue; friction never alters existing topics — change them by hand or update topics.yaml",
            report.differing.len()
        );
        Ok(ExitCode::from(EXIT_TOPICS_DIFFER))
    }
}
