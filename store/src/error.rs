//! The store's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the relational store.
///
/// Variants name the rule or the thing that is wrong, so the CLI and the console can show them to
/// people as they are. Database connection trouble is told apart by [`StoreError::is_unavailable`],
/// because stages react to it by pausing rather than by failing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the store can use.
    #[error("invalid database URL {url}: {reason}")]
    InvalidUrl {
        /// The URL, with any password hidden.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The data directory for the default SQLite database cannot be used.
    #[error("cannot use data directory {}: {reason}", path.display())]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// A project name breaks the naming rule.
    #[error("invalid project name {name:?}: {reason}")]
    InvalidProjectName {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: String,
    },

    /// An API key label is not acceptable.
    #[error("invalid API key label: {reason}")]
    InvalidKeyLabel {
        /// The rule it breaks.
        reason: String,
    },

    /// An API key's allowed origins or rate are not acceptable; the reason names the field.
    #[error("invalid API key settings: {reason}")]
    InvalidKeySettings {
        /// The rule it breaks.
        reason: String,
    },

    /// A project with this name already exists.
    #[error("project {0:?} already exists")]
    ProjectExists(String),

    /// No project has this name (or id).
    #[error("project {0:?} not found")]
    ProjectNotFound(String),

    /// No API key has this id or prefix.
    #[error("API key {0:?} not found (give the key's id or its prefix)")]
    KeyNotFound(String),

    /// A prefix matches more than one API key, so it cannot say which one is meant.
    #[error("API key prefix {prefix:?} matches {matches} keys; give the key's id or a longer prefix")]
    AmbiguousKeyPrefix {
        /// The prefix as given.
        prefix: String,
        /// How many keys it matches.
        matches: usize,
    },

    /// A console role name that is not viewer, engineer or admin.
    #[error("unknown role {0:?} (expected viewer, engineer or admin)")]
    UnknownRole(String),

    /// No console token has this id or prefix.
    #[error("console token {0:?} not found (give the token's id or its prefix)")]
    TokenNotFound(String),

    /// A prefix matches more than one console token.
    #[error("console token prefix {prefix:?} matches {matches} tokens; give the token's id")]
    AmbiguousTokenPrefix {
        /// The prefix as given.
        prefix: String,
        /// How many tokens it matches.
        matches: usize,
    },

    /// A username breaks the naming rule.
    #[error("invalid username {name:?}: {reason}")]
    InvalidUsername {
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: String,
    },

    /// A user with this username already exists.
    #[error("user {0:?} already exists")]
    UserExists(String),

    /// No user has this username.
    #[error("user {0:?} not found")]
    UserNotFound(String),

    /// A schema migration failed; the transaction it ran in was rolled back.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The database's error.
        #[source]
        source: sqlx::Error,
    },

    /// Any other database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl StoreError {
    /// Whether the error means the database cannot be reached right now (connection refused or
    /// lost, pool timed out, server shutting down, SQLite file busy), as opposed to a request or
    /// data that is wrong. Stages use it to pause their input and retry later instead of
    /// dead-lettering messages or exiting (docs/architecture.md §5: a database outage pauses the stages).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(e) | StoreError::Migration { source: e, .. } => sqlx_error_is_unavailable(e),
            _ => false,
        }
    }
}

impl StoreError {
    /// Whether the database refused the data of the request rather than the request itself: a
    /// value it cannot store (a NUL byte in PostgreSQL text, a number out of range), a constraint
    /// the values break, a key too long for an index. Trying the same data again fails again;
    /// stages dead-letter the record that carries it instead (docs/architecture.md §5). A unique
    /// violation is among these; callers for which it means a race check for that first.
    pub fn refuses_content(&self) -> bool {
        match self {
            StoreError::Database(e) => sqlx_error_refuses_content(e),
            _ => false,
        }
    }
}

/// The classification behind [`StoreError::refuses_content`], for code that holds a bare
/// [`sqlx::Error`].
pub fn sqlx_error_refuses_content(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_code_refuses_content(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                db.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(sqlite_code_refuses_content)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// SQLSTATEs caused by the values sent: class 22 (data exception: 22021 invalid byte sequence such
/// as a NUL, 22P05 untranslatable character, 22001 string too long, 22003 out of range...), class 23
/// (integrity constraint violation), and 54000 (program limit exceeded: an index row too large for
/// a btree). Not 42 (a wrong statement or schema) nor 53 (out of resources): those are the
/// deployment's, and every record would fail alike.
fn postgres_code_refuses_content(code: &str) -> bool {
    code.starts_with("22") || code.starts_with("23") || code == "54000"
}

/// SQLite's SQLITE_TOOBIG (18), SQLITE_CONSTRAINT (19, also raised by a trigger's `RAISE(ABORT)`)
/// and SQLITE_MISMATCH (20), in any of their extended forms.
fn sqlite_code_refuses_content(code: i32) -> bool {
    matches!(code & 0xff, 18..=20)
}

/// The classification behind [`StoreError::is_unavailable`], for code that holds a bare
/// [`sqlx::Error`].
pub fn sqlx_error_is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                postgres_code_is_unavailable(pg.code())
            } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                db.code().and_then(|code| code.parse::<i32>().ok()).is_some_and(sqlite_code_is_unavailable)
            } else {
                false
            }
        }
        _ => false,
    }
}

/// SQLSTATEs that mean "the server cannot serve you now": class 08 (connection exception),
/// 57P01..57P03 (shutting down, crashed, starting up), 53300 (too many connections).
fn postgres_code_is_unavailable(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6), in any of their extended forms: another
/// connection holds the lock for longer than the busy timeout.
fn sqlite_code_is_unavailable(code: i32) -> bool {
    matches!(code & 0xff, 5 | 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectivity_errors_are_unavailable() {
        assert!(StoreError::Database(sqlx::Error::PoolTimedOut).is_unavailable());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(StoreError::Database(sqlx::Error::Io(io)).is_unavailable());
        assert!(StoreError::Migration { version: 1, name: "x", source: sqlx::Error::PoolTimedOut }.is_unavailable());
    }

    #[test]
    fn request_errors_are_not_unavailable() {
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::Database(sqlx::Error::PoolClosed).is_unavailable());
        assert!(!StoreError::ProjectExists("a".into()).is_unavailable());
        assert!(!StoreError::KeyNotFound("a".into()).is_unavailable());
    }

    #[test]
    fn content_errors_are_told_apart_from_outages_and_broken_statements() {
        // PostgreSQL: a NUL in text, an untranslatable character, a value too long or out of
        // range, constraints, an index row too large.
        for code in ["22021", "22P05", "22001", "22003", "22P02", "23502", "23503", "23505", "23514", "54000"] {
            assert!(postgres_code_refuses_content(code), "{code}");
            assert!(!postgres_code_is_unavailable(code), "{code}");
        }
        // An outage, a missing table, a syntax error, a full disk, a deadlock: not the data's.
        for code in ["08006", "57P01", "53300", "42P01", "42601", "53100", "40P01", "40001", "XX000"] {
            assert!(!postgres_code_refuses_content(code), "{code}");
        }
        // SQLite: SQLITE_TOOBIG, SQLITE_CONSTRAINT_NOTNULL / _UNIQUE / _TRIGGER, SQLITE_MISMATCH.
        for code in [18, 19, 1299, 2067, 1811, 20] {
            assert!(sqlite_code_refuses_content(code), "{code}");
            assert!(!sqlite_code_is_unavailable(code), "{code}");
        }
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL, SQLITE_ERROR (a wrong statement).
        for code in [5, 517, 6, 13, 1] {
            assert!(!sqlite_code_refuses_content(code), "{code}");
        }
        assert!(!StoreError::Database(sqlx::Error::PoolTimedOut).refuses_content());
        assert!(!StoreError::Database(sqlx::Error::RowNotFound).refuses_content());
        assert!(!StoreError::ProjectExists("a".into()).refuses_content());
    }

    #[test]
    fn sqlstate_and_sqlite_codes() {
        assert!(postgres_code_is_unavailable("08006"));
        assert!(postgres_code_is_unavailable("57P01"));
        assert!(postgres_code_is_unavailable("53300"));
        assert!(!postgres_code_is_unavailable("23505"));
        assert!(sqlite_code_is_unavailable(5));
        assert!(sqlite_code_is_unavailable(517)); // SQLITE_BUSY_SNAPSHOT
        assert!(sqlite_code_is_unavailable(262)); // SQLITE_LOCKED_SHAREDCACHE
        assert!(!sqlite_code_is_unavailable(2067)); // SQLITE_CONSTRAINT_UNIQUE
    }
}
