//! `friction users`: the people who log in to the console (docs/console.md "Users and sessions").
//! `create` and `set-password` take the password from stdin (`--password-stdin`) or generate one
//! and print it once on stdout; the store keeps only its Argon2id hash. Every change is audited
//! with the actor `cli`.

use std::io::Read as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;

use crate::tokens::RoleArg;
use crate::StoreArgs;

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Create a user. Prints the generated password on stdout (once) unless --password-stdin.
    Create {
        /// Letters, digits, `.`, `_`, `-` and `@`; at most 64 characters.
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Limit the user to this project (name or id); default all projects.
        #[arg(long)]
        project: Option<String>,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List users (username, role, project, active/disabled); never passwords.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Disable a user: they cannot log in and their sessions end at once.
    Disable {
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Enable a disabled user again.
    Enable {
        username: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Give a user a new password (their sessions end). Prints a generated one unless --password-stdin.
    SetPassword {
        username: String,
        /// Read the password from the first line of stdin instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The password to set: stdin's first line, or a generated one (to print).
fn new_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        return Ok((friction_console::password::generate(), true));
    }
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the password from stdin")?;
    let password = text.lines().next().unwrap_or("").to_owned();
    friction_console::password::validate(&password)?;
    Ok((password, false))
}

pub async fn run(cmd: UsersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UsersCommand::Create { username, role, project, password_stdin, store } => {
            let (password, generated) = new_password(password_stdin)?;
            let store = store.open().await?;
            let project_id = match project.as_deref() {
                Some(p) => Some(crate::project_id(&store, p).await?),
                None => None,
            };
            let hash = friction_console::password::hash(&password).await?;
            let created = store.create_user(&username, &hash, role.into(), project_id.as_deref()).await;
            let detail = format!("role {}", friction_store::Role::from(role));
            store
                .audit("cli", "user.create", &format!("user:{username}"), created.is_ok(), None, Some(&detail))
                .await?;
            let user = created?;
            if generated {
                println!("{password}");
            }
            eprintln!(
                "created user {} ({}{}){}",
                user.username,
                user.role,
                user.project_id.as_deref().map(|p| format!(", project {p}")).unwrap_or_default(),
                if generated { "; the password above is shown once" } else { "" }
            );
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::List { store } => {
            let store = store.open().await?;
            let users = store.list_users().await?;
            if users.is_empty() {
                eprintln!("no users yet: `friction users create NAME --role admin` (or `friction up`)");
            }
            for u in users {
                let state = if u.disabled { "disabled" } else { "active" };
                println!("{}\t{}\t{}\t{}", u.username, u.role, u.project_id.as_deref().unwrap_or("*"), state);
            }
            Ok(ExitCode::SUCCESS)
        }
        UsersCommand::Disable { username, store } => set_disabled(&store, &username, true).await,
        UsersCommand::Enable { username, store } => set_disabled(&store, &username, false).await,
        UsersCommand::SetPassword { username, password_stdin, store } => {
            let (password, generated) = new_password(password_stdin)?;
            let store = store.open().await?;
            let hash = friction_console::password::hash(&password).await?;
            let changed = store.set_user_password(&username, &hash).await;
            store.audit("cli", "user.password", &format!("user:{username}"), changed.is_ok(), None, None).await?;
            changed?;
            if generated {
                println!("{password}");
            }
            eprintln!("new password set for {username}; their sessions ended");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn set_disabled(store: &StoreArgs, username: &str, disabled: bool) -> anyhow::Result<ExitCode> {
    let store = store.open().await?;
    let action = if disabled { "user.disable" } else { "user.enable" };
    let changed = store.set_user_disabled(username, disabled).await;
    store.audit("cli", action, &format!("user:{username}"), changed.is_ok(), None, None).await?;
    changed?;
    eprintln!("{} user {username}", if disabled { "disabled" } else { "enabled" });
    Ok(ExitCode::SUCCESS)
}
