//! People who log in to the console and their sessions (docs/console.md "Users and sessions").
//!
//! A user has a unique username, a password hash (a PHC string made by the console; the store
//! never sees a password), a role, a disabled flag and an optional project scope. A session's id
//! is 32 random bytes shown once (the cookie) and stored as SHA-256; its CSRF token is stored as
//! is. Times are passed in by the caller, so expiry can be tested with any clock.

use rand::RngCore;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::{hash_api_key, now_ms, random_id, Role, Store, StoreError};

/// The longest username.
pub const USERNAME_MAX_LEN: usize = 64;

/// A console user (never their password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    /// `Some(project id)`: this user sees only that project.
    pub project_id: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// A user with the hash their password is checked against.
#[derive(Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

impl std::fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCredentials").field("user", &self.user).field("password_hash", &"<hidden>").finish()
    }
}

/// A stored session with its user as they are now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    pub user: User,
    pub created_at_ms: i64,
    pub last_seen_at_ms: i64,
    pub idle_expires_at_ms: i64,
    pub absolute_expires_at_ms: i64,
    pub csrf_token: String,
    pub ip: Option<String>,
    /// When it was ended (logout, user disabled, password changed).
    pub ended_at_ms: Option<i64>,
}

/// A session just made: `id` is the cookie's value, shown once. `Debug` hides it.
#[derive(Clone)]
pub struct NewSession {
    pub id: String,
    pub session: ConsoleSession,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").field("id", &"<hidden>").field("session", &self.session).finish()
    }
}

/// Checks a username: 1 to 64 characters, ASCII letters, digits, `.`, `_`, `-` and `@`.
pub fn validate_username(name: &str) -> Result<(), StoreError> {
    let invalid = |reason: String| StoreError::InvalidUsername { name: name.to_owned(), reason };
    if name.is_empty() {
        return Err(invalid("a username must not be empty".into()));
    }
    let len = name.chars().count();
    if len > USERNAME_MAX_LEN {
        return Err(invalid(format!("a username must be at most {USERNAME_MAX_LEN} characters, this one has {len}")));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))) {
        return Err(invalid(format!(
            "a username may contain only letters, digits, '.', '_', '-' and '@', not {bad:?}"
        )));
    }
    Ok(())
}

const USER_COLUMNS: &str = "u.id, u.username, u.role, u.disabled, u.project_id, u.created_at, u.updated_at";

fn user_from_row(row: &AnyRow) -> Result<User, sqlx::Error> {
    let role: String = row.try_get(2)?;
    Ok(User {
        id: row.try_get(0)?,
        username: row.try_get(1)?,
        role: role.parse().map_err(|e| sqlx::Error::ColumnDecode { index: "role".into(), source: Box::new(e) })?,
        disabled: row.try_get::<i64, _>(3)? != 0,
        project_id: row.try_get(4)?,
        created_at_ms: row.try_get(5)?,
        updated_at_ms: row.try_get(6)?,
    })
}

/// 32 random bytes as 64 hex characters.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

impl Store {
    /// Creates a user. `password_hash` is a PHC string; `project_id`, when given, must name a
    /// project (by id).
    pub async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        role: Role,
        project_id: Option<&str>,
    ) -> Result<User, StoreError> {
        validate_username(username)?;
        if let Some(p) = project_id {
            if self.project_by_id(p).await?.is_none() {
                return Err(StoreError::ProjectNotFound(p.to_owned()));
            }
        }
        if self.user_by_username(username).await?.is_some() {
            return Err(StoreError::UserExists(username.to_owned()));
        }
        let now = now_ms();
        let user = User {
            id: random_id(),
            username: username.to_owned(),
            role,
            disabled: false,
            project_id: project_id.map(str::to_owned),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, password_hash, role, disabled, project_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 0, $5, $6, $6)",
        )
        .bind(&user.id)
        .bind(&user.username)
        .bind(password_hash)
        .bind(role.as_str())
        .bind(&user.project_id)
        .bind(now)
        .execute(&self.pool)
        .await;
        if let Err(e) = inserted {
            // A concurrent creation of the same name may have won the race.
            if self.user_by_username(username).await?.is_some() {
                return Err(StoreError::UserExists(username.to_owned()));
            }
            return Err(e.into());
        }
        Ok(user)
    }

    /// The user with this username, with their password hash.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserCredentials>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.username = $1"))
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(UserCredentials { user: user_from_row(&row)?, password_hash: row.try_get(7)? }))
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(user_from_row).collect::<Result<_, _>>()?)
    }

    async fn update_user(&self, username: &str, set: &str, value: Bind<'_>) -> Result<User, StoreError> {
        let sql = format!("UPDATE users SET {set} = $1, updated_at = $2 WHERE username = $3");
        let query = match value {
            Bind::Text(t) => sqlx::query(&sql).bind(t.to_owned()),
            Bind::OptText(t) => sqlx::query(&sql).bind(t.map(str::to_owned)),
            Bind::Int(i) => sqlx::query(&sql).bind(i),
        };
        let done = query.bind(now_ms()).bind(username).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UserNotFound(username.to_owned()));
        }
        self.user_by_username(username)
            .await?
            .map(|c| c.user)
            .ok_or_else(|| StoreError::UserNotFound(username.to_owned()))
    }

    /// Replaces a user's password hash and ends their sessions.
    pub async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<User, StoreError> {
        let user = self.update_user(username, "password_hash", Bind::Text(password_hash)).await?;
        self.end_user_sessions(&user.id, now_ms()).await?;
        Ok(user)
    }

    /// Disables (ending their sessions) or enables a user.
    pub async fn set_user_disabled(&self, username: &str, disabled: bool) -> Result<User, StoreError> {
        let user = self.update_user(username, "disabled", Bind::Int(i64::from(disabled))).await?;
        if disabled {
            self.end_user_sessions(&user.id, now_ms()).await?;
        }
        Ok(user)
    }

    /// Changes a user's role; their sessions see it from their next request.
    pub async fn set_user_role(&self, username: &str, role: Role) -> Result<User, StoreError> {
        self.update_user(username, "role", Bind::Text(role.as_str())).await
    }

    /// Limits a user to one project (by id), or lifts the limit (`None`).
    pub async fn set_user_project(&self, username: &str, project_id: Option<&str>) -> Result<User, StoreError> {
        if let Some(p) = project_id {
            if self.project_by_id(p).await?.is_none() {
                return Err(StoreError::ProjectNotFound(p.to_owned()));
            }
        }
        self.update_user(username, "project_id", Bind::OptText(project_id)).await
    }

    /// Starts a session for `user_id` at `now_ms`: it ends after `idle_ms` without use or
    /// `absolute_ms` after now, whichever comes first.
    pub async fn create_session(
        &self,
        user_id: &str,
        ip: Option<&str>,
        now_ms: i64,
        idle_ms: i64,
        absolute_ms: i64,
    ) -> Result<NewSession, StoreError> {
        let id = random_secret();
        let csrf_token = random_secret();
        let absolute = now_ms.saturating_add(absolute_ms);
        let idle = now_ms.saturating_add(idle_ms).min(absolute);
        sqlx::query(
            "INSERT INTO console_sessions (id_hash, user_id, created_at, last_seen_at, idle_expires_at, \
             absolute_expires_at, csrf_token, ip) VALUES ($1, $2, $3, $3, $4, $5, $6, $7)",
        )
        .bind(hash_api_key(&id))
        .bind(user_id)
        .bind(now_ms)
        .bind(idle)
        .bind(absolute)
        .bind(&csrf_token)
        .bind(ip)
        .execute(&self.pool)
        .await?;
        let session = self.session_by_id(&id).await?.ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))?;
        Ok(NewSession { id, session })
    }

    /// The session whose cookie value is `id`, expired or ended or not (the caller decides).
    pub async fn session_by_id(&self, id: &str) -> Result<Option<ConsoleSession>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {USER_COLUMNS}, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, \
             s.csrf_token, s.ip, s.ended_at FROM console_sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.id_hash = $1"
        ))
        .bind(hash_api_key(id))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(ConsoleSession {
            user: user_from_row(&row)?,
            created_at_ms: row.try_get(7)?,
            last_seen_at_ms: row.try_get(8)?,
            idle_expires_at_ms: row.try_get(9)?,
            absolute_expires_at_ms: row.try_get(10)?,
            csrf_token: row.try_get(11)?,
            ip: row.try_get(12)?,
            ended_at_ms: row.try_get(13)?,
        }))
    }

    /// Marks the session used at `now_ms`: its idle expiry moves to `now_ms + idle_ms`, never past
    /// its absolute expiry.
    pub async fn touch_session(&self, id: &str, now_ms: i64, idle_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE console_sessions SET last_seen_at = $1, idle_expires_at = CASE WHEN $2 < absolute_expires_at \
             THEN $2 ELSE absolute_expires_at END WHERE id_hash = $3 AND ended_at IS NULL",
        )
        .bind(now_ms)
        .bind(now_ms.saturating_add(idle_ms))
        .bind(hash_api_key(id))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends one session (logout); false when there was none to end.
    pub async fn end_session(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE console_sessions SET ended_at = $1 WHERE id_hash = $2 AND ended_at IS NULL")
            .bind(now_ms)
            .bind(hash_api_key(id))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of a user (disabled, password changed).
    pub async fn end_user_sessions(&self, user_id: &str, now_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE console_sessions SET ended_at = $1 WHERE user_id = $2 AND ended_at IS NULL")
            .bind(now_ms)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Deletes sessions that ended or expired before `before_ms`; how many.
    pub async fn delete_old_sessions(&self, before_ms: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM console_sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) \
             OR idle_expires_at < $1 OR absolute_expires_at < $1",
        )
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

/// A value for [`Store::update_user`].
enum Bind<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Int(i64),
}
