-- Incidents (signals grouped by fingerprint), what makes counting them idempotent, console tokens
-- and the audit log.
--
-- Portable SQL only (see 0001). JSON lists (labels, releases, samples) are TEXT written and read by
-- the application; DOUBLE PRECISION is the one non-integer column type, known to both databases.

CREATE TABLE incidents (
    id TEXT NOT NULL PRIMARY KEY,
    project_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    labels TEXT NOT NULL,
    title TEXT NOT NULL,
    route_template TEXT NOT NULL,
    element_key TEXT NOT NULL,
    status TEXT NOT NULL,
    severity DOUBLE PRECISION NOT NULL,
    priority TEXT NOT NULL,
    occurrences BIGINT NOT NULL,
    sessions BIGINT NOT NULL,
    users BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    confirmed_at BIGINT NULL,
    resolved_at BIGINT NULL,
    resolved_releases TEXT NULL,
    releases TEXT NOT NULL,
    latest_release TEXT NULL,
    generation BIGINT NOT NULL,
    samples TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE INDEX incidents_project_severity ON incidents (project_id, severity);
CREATE INDEX incidents_project_last_seen ON incidents (project_id, last_seen);

-- One row per signal ever counted: the primary key makes a replayed signal a no-op, whichever
-- copy of the stage sees it.
CREATE TABLE incident_signals (
    signal_id TEXT NOT NULL PRIMARY KEY,
    incident_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    start_ms BIGINT NOT NULL
);

CREATE INDEX incident_signals_incident_start ON incident_signals (incident_id, start_ms);

-- Distinct affected sessions and users per incident, each counted once.
CREATE TABLE incident_sessions (
    incident_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    PRIMARY KEY (incident_id, session_id)
);

CREATE TABLE incident_users (
    incident_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    PRIMARY KEY (incident_id, user_key)
);

-- Console bearer tokens: stored as SHA-256 like API keys; the role decides what a token may do.
CREATE TABLE console_tokens (
    id TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    role TEXT NOT NULL,
    label TEXT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);

-- Who did what, to what, whether it worked, from where and when (docs/architecture.md §6).
CREATE TABLE audit_log (
    id TEXT NOT NULL PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    success BIGINT NOT NULL,
    ip TEXT NULL,
    detail TEXT NULL
);

CREATE INDEX audit_log_at ON audit_log (at);
