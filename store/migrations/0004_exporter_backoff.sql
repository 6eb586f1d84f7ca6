-- The exporter's integration-wide backoff and automatic breaker (docs/exporter.md "Circuit breaker").
-- `breaker` gains the value `cooling` (too many transient failures in a row: no row is tried until
-- `retry_at`, then one probe). Portable SQL only (see 0001); times are epoch milliseconds.

-- Transient failures (no connection, timeout, 5xx) in a row, over every row of the integration.
ALTER TABLE integrations ADD COLUMN failures BIGINT NOT NULL DEFAULT 0;
-- How many times in a row the breaker cooled down (the cool-down doubles with each).
ALTER TABLE integrations ADD COLUMN breaker_opens BIGINT NOT NULL DEFAULT 0;
-- No call before this: the integration's backoff, the end of a cool-down, or a probe's lease.
ALTER TABLE integrations ADD COLUMN retry_at BIGINT NOT NULL DEFAULT 0;
-- The last transient failure, class and scrubbed summary (what the console shows of the integration).
ALTER TABLE integrations ADD COLUMN last_error TEXT NULL;
