-- People who log in to the console, their sessions, project scopes, and the incident's stored
-- explanation (docs/console.md "Users and sessions").
--
-- Portable SQL only (see 0001).

-- A person: a unique username, an Argon2id password hash (PHC string), a role (viewer, engineer,
-- admin), optionally limited to one project; a disabled user cannot log in and loses their sessions.
CREATE TABLE users (
    id TEXT NOT NULL PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    project_id TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- A console login: the cookie's value is stored only as SHA-256 (`id_hash`), so a leaked table
-- holds no usable session. Ends at `idle_expires_at` (moved forward as it is used) or at
-- `absolute_expires_at`, whichever is first, or when `ended_at` is set (logout, user disabled).
CREATE TABLE console_sessions (
    id_hash TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    csrf_token TEXT NOT NULL,
    ip TEXT NULL,
    ended_at BIGINT NULL
);

CREATE INDEX console_sessions_user ON console_sessions (user_id);

-- A token may be limited to one project, like a user.
ALTER TABLE console_tokens ADD COLUMN project_id TEXT NULL;

-- The plain-language explanation of the incident's kind, written when the incident is made
-- (empty for incidents made before this migration: the console derives it then).
ALTER TABLE incidents ADD COLUMN explanation TEXT NOT NULL DEFAULT '';
