-- What each signal contributes to its incident, per version (docs/architecture.md §4 "Incidents",
-- "Time: decide early, settle later"). A signal is published again with the same id and a higher
-- version when the detector corrects it, or with `retracted` when later events contradict it; the
-- incidents stage keeps the newest version per (incident, signal) and derives the counts from the
-- live rows, so any delivery order of the versions gives the same incident.
--
-- Portable SQL only (see 0001).

CREATE TABLE incident_contributions (
    incident_id TEXT NOT NULL,
    signal_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    -- 1 counts, 0 retracted (kept, so an older version arriving late changes nothing).
    live BIGINT NOT NULL,
    session_id TEXT NOT NULL,
    user_key TEXT NOT NULL,
    start_ms BIGINT NOT NULL,
    end_ms BIGINT NOT NULL,
    -- A server error's log level (what its confirmation policy reads); NULL for other kinds.
    log_level TEXT NULL,
    -- JSON list: the signal's kind, label and episode labels.
    labels TEXT NOT NULL,
    release_name TEXT NULL,
    -- JSON evidence sample, to refill an incident's samples when one of them is retracted.
    sample TEXT NULL,
    PRIMARY KEY (incident_id, signal_id)
);

-- What the confirmation window reads (start and session of the live rows), from the index alone.
CREATE INDEX incident_contributions_live_start ON incident_contributions (incident_id, live, start_ms, session_id);

-- Signals counted before versions existed: version 1, live. Their user, end, release and evidence
-- were not kept per signal: each counts its session as its user and ends where it starts.
INSERT INTO incident_contributions
    (incident_id, signal_id, version, live, session_id, user_key, start_ms, end_ms, log_level, labels, release_name, sample)
SELECT s.incident_id, s.signal_id, 1, 1, s.session_id, 's:' || s.session_id, s.start_ms, s.start_ms, NULL, i.labels, NULL, NULL
FROM incident_signals s JOIN incidents i ON i.id = s.incident_id;

DROP TABLE incident_users;
DROP TABLE incident_sessions;
DROP TABLE incident_signals;

-- An engineer confirmed it by hand (console PATCH): a retraction does not un-confirm it.
ALTER TABLE incidents ADD COLUMN confirmed_manually BIGINT NOT NULL DEFAULT 0;
