-- The exporter (docs/architecture.md §4 "Exporter", docs/exporter.md "The ledger row"): integrations with their
-- secrets encrypted by the application, and the ticket ledger, one row per (incident,
-- integration, generation), written before any remote call.
--
-- Portable SQL only (see 0001). Times are epoch milliseconds; JSON is TEXT.

CREATE TABLE integrations (
    id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    -- Filters: a project id (NULL = every project), a JSON list of signal kinds (empty = all),
    -- and a minimum severity.
    project_id TEXT NULL,
    kinds TEXT NOT NULL,
    min_severity DOUBLE PRECISION NOT NULL,
    -- Non-secret settings (base URL, project key, team id, repository, policies) as JSON.
    config TEXT NOT NULL,
    -- AES-256-GCM of the credential, `v1:` + base64(nonce || ciphertext); never the plain text.
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL,
    -- Circuit breaker: closed | open; open stops every call until the configuration changes.
    breaker TEXT NOT NULL,
    breaker_reason TEXT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE ticket_links (
    incident_id TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    generation BIGINT NOT NULL,
    -- pending | creating | ambiguous | created | failed_permanent | blocked
    state TEXT NOT NULL,
    -- The remote marker (label / client id / webhook-id), fixed when the row is written.
    marker TEXT NOT NULL,
    attempt_id TEXT NULL,
    attempt_started_at BIGINT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    external_id TEXT NULL,
    external_key TEXT NULL,
    external_url TEXT NULL,
    -- The newest incident change seen for this row (JSON) and its version.
    snapshot TEXT NOT NULL,
    incident_version BIGINT NOT NULL,
    incident_generation BIGINT NOT NULL,
    -- Recurrence: occurrences reported in the ticket or the last comment, a comment is wanted,
    -- when the last one was made, a reopen is wanted.
    reported_occurrences BIGINT NOT NULL,
    comment_wanted BIGINT NOT NULL,
    last_commented_at BIGINT NULL,
    reopen_wanted BIGINT NOT NULL,
    last_error_class TEXT NULL,
    last_error_summary TEXT NULL,
    lease_owner TEXT NULL,
    lease_expires_at BIGINT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (incident_id, integration_id, generation)
);

CREATE INDEX ticket_links_next_attempt ON ticket_links (next_attempt_at);
CREATE INDEX ticket_links_integration_state ON ticket_links (integration_id, state);
