-- The console API (docs/console.md): per-key allowed origins and rate (what the gateway enforces,
-- published in each key's record), token expiry (a token's project scope is 0006's `project_id`),
-- per-project rule documents.
--
-- Portable SQL only (see 0001). JSON lists are TEXT; times are epoch milliseconds.

-- JSON list of origins a browser may send events from with this key; NULL or empty: any origin
-- the gateway's CORS setting allows.
ALTER TABLE api_keys ADD COLUMN allowed_origins TEXT NULL;
-- Events per second for this key; NULL: the gateway's default.
ALTER TABLE api_keys ADD COLUMN rate_limit_per_sec DOUBLE PRECISION NULL;
-- When origins or rate last changed (the record's `updated_at`, so gateways take the newer one).
ALTER TABLE api_keys ADD COLUMN updated_at BIGINT NULL;

-- A token is refused (401) from this time on; NULL: never expires.
ALTER TABLE console_tokens ADD COLUMN expires_at BIGINT NULL;

-- A project's rule thresholds (a JSON object of detection rule fields, docs/detection.md
-- "Configuration"), validated by the console before it is saved.
CREATE TABLE project_rules (
    project_id TEXT NOT NULL PRIMARY KEY REFERENCES projects (id),
    rules TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

-- The audit log is read newest first, filtered by actor or action.
CREATE INDEX audit_log_actor_at ON audit_log (actor, at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
