//! Console bearer tokens with a role (docs/architecture.md §6) and the audit log.
//!
//! A token is like an API key: 32 random bytes, shown once, stored as SHA-256 with a display
//! prefix. Its role decides what it may do: a viewer reads, an engineer changes incidents and
//! rules, an admin manages keys, integrations and users.

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::incidents::Bind;
use crate::{hash_api_key, now_ms, random_id, Store, StoreError};

/// What every console token starts with.
pub const CONSOLE_TOKEN_PREFIX: &str = "frt_";

/// Display prefix length: `frt_` and 8 hex characters.
pub const CONSOLE_TOKEN_PREFIX_LEN: usize = 12;

/// What a token may do. Ordered: each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads incidents and analytics.
    Viewer,
    /// Also changes incidents and rules.
    Engineer,
    /// Also manages keys, integrations, users and tokens.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Engineer => "engineer",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "engineer" => Ok(Role::Engineer),
            "admin" => Ok(Role::Admin),
            other => Err(StoreError::UnknownRole(other.to_owned())),
        }
    }
}

/// A stored token (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsoleToken {
    pub id: String,
    pub prefix: String,
    pub role: Role,
    pub label: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    /// `Some(project id)`: this token sees only that project.
    pub project_id: Option<String>,
    /// Refused from this time on (epoch ms); `None`: never expires.
    pub expires_at_ms: Option<i64>,
}

impl ConsoleToken {
    /// Whether the token has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: i64) -> bool {
        self.expires_at_ms.is_some_and(|at| at <= now_ms)
    }
}

/// A token just created, with the secret shown once. `Debug` hides the secret.
#[derive(Clone, Serialize)]
pub struct NewConsoleToken {
    pub secret: String,
    pub token: ConsoleToken,
}

impl fmt::Debug for NewConsoleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewConsoleToken").field("secret", &"<hidden>").field("token", &self.token).finish()
    }
}

/// One audit row: who did what to what, whether it worked, from where, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub id: String,
    pub at_ms: i64,
    /// `token:<id>` for console tokens, `cli` for the command line.
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub success: bool,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// Which audit rows [`Store::audit_query`] returns: every given field must match exactly; times
/// are epoch ms (`from` inclusive, `to` exclusive); `before` is the `(at, id)` of the last row of
/// the previous page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub success: Option<bool>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub before: Option<(i64, String)>,
    pub limit: u32,
}

fn audit_from_row(r: &AnyRow) -> Result<AuditEntry, sqlx::Error> {
    Ok(AuditEntry {
        id: r.try_get(0)?,
        at_ms: r.try_get(1)?,
        actor: r.try_get(2)?,
        action: r.try_get(3)?,
        resource: r.try_get(4)?,
        success: r.try_get::<i64, _>(5)? != 0,
        ip: r.try_get(6)?,
        detail: r.try_get(7)?,
    })
}

const TOKEN_SELECT: &str =
    "SELECT id, prefix, role, label, created_at, revoked_at, project_id, expires_at FROM console_tokens";

fn token_from_row(row: &AnyRow) -> Result<ConsoleToken, sqlx::Error> {
    let role: String = row.try_get(2)?;
    Ok(ConsoleToken {
        project_id: row.try_get(6)?,
        expires_at_ms: row.try_get(7)?,
        id: row.try_get(0)?,
        prefix: row.try_get(1)?,
        role: role.parse().map_err(|e| sqlx::Error::ColumnDecode { index: "role".into(), source: Box::new(e) })?,
        label: row.try_get(3)?,
        created_at_ms: row.try_get(4)?,
        revoked_at_ms: row.try_get(5)?,
    })
}

impl Store {
    /// Creates a token with `role`; its secret is returned once and stored only as a hash.
    pub async fn create_console_token(&self, role: Role, label: Option<&str>) -> Result<NewConsoleToken, StoreError> {
        self.create_console_token_with(role, label, None, None).await
    }

    /// [`Store::create_console_token`] limited to one project (by id) when `project_id` is given.
    pub async fn create_console_token_for(
        &self,
        role: Role,
        label: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<NewConsoleToken, StoreError> {
        self.create_console_token_with(role, label, None, project_id).await
    }

    /// [`Store::create_console_token`] with an expiry (epoch ms; refused from then on) and a
    /// project scope (`Some(project id)`: it sees only that project).
    pub async fn create_console_token_with(
        &self,
        role: Role,
        label: Option<&str>,
        expires_at_ms: Option<i64>,
        project_id: Option<&str>,
    ) -> Result<NewConsoleToken, StoreError> {
        if let Some(p) = project_id {
            if self.project_by_id(p).await?.is_none() {
                return Err(StoreError::ProjectNotFound(p.to_owned()));
            }
        }
        let label = crate::api_keys::normalize_label(label)?;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("{CONSOLE_TOKEN_PREFIX}{}", hex::encode(bytes));
        let token = ConsoleToken {
            id: random_id(),
            prefix: secret.chars().take(CONSOLE_TOKEN_PREFIX_LEN).collect(),
            role,
            label,
            created_at_ms: now_ms(),
            revoked_at_ms: None,
            project_id: project_id.map(str::to_owned),
            expires_at_ms,
        };
        sqlx::query(
            "INSERT INTO console_tokens (id, token_hash, prefix, role, label, created_at, project_id, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&token.id)
        .bind(hash_api_key(&secret))
        .bind(&token.prefix)
        .bind(role.as_str())
        .bind(&token.label)
        .bind(token.created_at_ms)
        .bind(&token.project_id)
        .bind(token.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(NewConsoleToken { secret, token })
    }

    /// The token whose secret this is, revoked or not (the caller checks `revoked_at_ms`).
    pub async fn console_token_by_secret(&self, secret: &str) -> Result<Option<ConsoleToken>, StoreError> {
        let row = sqlx::query(&format!("{TOKEN_SELECT} WHERE token_hash = $1"))
            .bind(hash_api_key(secret))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(token_from_row).transpose()?)
    }

    /// Every token, oldest first.
    pub async fn list_console_tokens(&self) -> Result<Vec<ConsoleToken>, StoreError> {
        let rows = sqlx::query(&format!("{TOKEN_SELECT} ORDER BY created_at, id")).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(token_from_row).collect::<Result<_, _>>()?)
    }

    /// Revokes the token with this id or display prefix (`frt_1a2b3c4d`).
    pub async fn revoke_console_token(&self, id_or_prefix: &str) -> Result<ConsoleToken, StoreError> {
        let not_found = || StoreError::TokenNotFound(id_or_prefix.to_owned());
        if id_or_prefix.is_empty() {
            return Err(not_found());
        }
        let rows = sqlx::query(&format!("{TOKEN_SELECT} WHERE id = $1 OR prefix = $1"))
            .bind(id_or_prefix)
            .fetch_all(&self.pool)
            .await?;
        let token = match rows.as_slice() {
            [] => return Err(not_found()),
            [row] => token_from_row(row)?,
            more => {
                return Err(StoreError::AmbiguousTokenPrefix { prefix: id_or_prefix.to_owned(), matches: more.len() })
            }
        };
        sqlx::query("UPDATE console_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(&token.id)
            .execute(&self.pool)
            .await?;
        let row =
            sqlx::query(&format!("{TOKEN_SELECT} WHERE id = $1")).bind(&token.id).fetch_optional(&self.pool).await?;
        row.as_ref().map(token_from_row).transpose()?.ok_or_else(not_found)
    }

    /// Appends an audit row.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        resource: &str,
        success: bool,
        ip: Option<&str>,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO audit_log (id, at, actor, action, resource, success, ip, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(random_id())
        .bind(now_ms())
        .bind(actor)
        .bind(action)
        .bind(resource)
        .bind(i64::from(success))
        .bind(ip)
        .bind(detail)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Audit rows matching `filter`, newest first (ties by id, descending), at most `filter.limit`.
    pub async fn audit_query(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let mut clauses: Vec<String> = Vec::new();
        let mut binds: Vec<Bind<'_>> = Vec::new();
        // `?N` in a clause is its N-th value; it becomes the statement's `$k`.
        let mut push = |clause: &str, values: Vec<Bind<'static>>, binds: &mut Vec<Bind<'_>>| {
            let mut clause = clause.to_owned();
            for (i, v) in values.into_iter().enumerate() {
                binds.push(v);
                clause = clause.replace(&format!("?{}", i + 1), &format!("${}", binds.len()));
            }
            clauses.push(clause);
        };
        for (column, value) in [("actor", &filter.actor), ("action", &filter.action), ("resource", &filter.resource)] {
            if let Some(v) = value {
                push(&format!("{column} = ?1"), vec![Bind::Text(v.clone())], &mut binds);
            }
        }
        if let Some(success) = filter.success {
            push("success = ?1", vec![Bind::Int(i64::from(success))], &mut binds);
        }
        if let Some(from) = filter.from_ms {
            push("at >= ?1", vec![Bind::Int(from)], &mut binds);
        }
        if let Some(to) = filter.to_ms {
            push("at < ?1", vec![Bind::Int(to)], &mut binds);
        }
        if let Some((at, id)) = &filter.before {
            push(
                "(at < ?1 OR (at = ?2 AND id < ?3))",
                vec![Bind::Int(*at), Bind::Int(*at), Bind::Text(id.clone())],
                &mut binds,
            );
        }
        let mut sql = "SELECT id, at, actor, action, resource, success, ip, detail FROM audit_log".to_owned();
        if !clauses.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&clauses.join(" AND "));
        }
        sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT {}", filter.limit));
        let mut query = sqlx::query(&sql);
        for b in binds {
            query = b.bind_to(query);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(audit_from_row).collect::<Result<_, sqlx::Error>>().map_err(StoreError::from)
    }

    /// The newest `limit` audit rows, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT id, at, actor, action, resource, success, ip, detail FROM audit_log ORDER BY at DESC, id LIMIT {limit}"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect::<Result<_, sqlx::Error>>().map_err(StoreError::from)
    }
}
