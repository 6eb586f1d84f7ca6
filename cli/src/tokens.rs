//! `friction tokens`: console bearer tokens with a role. `create` prints only the token on stdout
//! (it is stored hashed and not shown again); `list` never shows secrets; `revoke` takes effect on
//! the next request.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use friction_store::Role;

use crate::StoreArgs;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RoleArg {
    /// Reads incidents and analytics.
    Viewer,
    /// Also changes incidents and rules.
    Engineer,
    /// Also manages keys, integrations, users and tokens.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Engineer => Role::Engineer,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create a console token. Prints only the token on stdout; it is not shown again.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// A note to tell tokens apart (e.g. `ci`, `alice`).
        #[arg(long)]
        label: Option<String>,
        /// Limit the token to this project (name or id); default all projects.
        #[arg(long)]
        project: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tokens (prefix, role, label, created, revoked); never the secrets.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by id or prefix; the console refuses it from the next request on.
    Revoke {
        /// The token's id, or its prefix (as `tokens list` shows it).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

pub async fn run(cmd: TokensCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokensCommand::Create { role, label, project, store } => {
            let store = store.open().await?;
            let project_id = match project.as_deref() {
                Some(p) => Some(crate::project_id(&store, p).await?),
                None => None,
            };
            let new = store.create_console_token_for(role.into(), label.as_deref(), project_id.as_deref()).await?;
            store.audit("cli", "token.create", &format!("token:{}", new.token.id), true, None, None).await?;
            println!("{}", new.secret);
            eprintln!(
                "created {} token {} (shown once; send it as `Authorization: Bearer ...`)",
                new.token.role, new.token.prefix
            );
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::List { store } => {
            let store = store.open().await?;
            let tokens = store.list_console_tokens().await?;
            if tokens.is_empty() {
                eprintln!("no tokens yet: `friction tokens create --role admin`");
            }
            for t in tokens {
                let state = if t.revoked_at_ms.is_some() { "revoked" } else { "active" };
                let project = t.project_id.as_deref().unwrap_or("*");
                println!("{}\t{}\t{}\t{}\t{}\t{project}", t.id, t.prefix, t.role, state, t.label.unwrap_or_default());
            }
            Ok(ExitCode::SUCCESS)
        }
        TokensCommand::Revoke { id, store } => {
            let store = store.open().await?;
            let t = store.revoke_console_token(&id).await?;
            store.audit("cli", "token.revoke", &format!("token:{}", t.id), true, None, None).await?;
            eprintln!("revoked token {} ({})", t.prefix, t.role);
            Ok(ExitCode::SUCCESS)
        }
    }
}
