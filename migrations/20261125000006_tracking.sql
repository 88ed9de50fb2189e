-- Tracking plans, consent policies, the browsable quarantine and per-source counters.

ALTER TABLE sources
    ADD COLUMN tracking_plan  jsonb NOT NULL DEFAULT '{"mode": "allow", "events": []}',
    ADD COLUMN consent_policy jsonb NOT NULL DEFAULT '{"activation": []}',
    -- Bumped on every settings change so gateways know their cached copy is stale.
    ADD COLUMN settings_version integer NOT NULL DEFAULT 1,
    ADD COLUMN key_rotated_at timestamptz;

-- The browsable copy of the events.quarantine topic, written by its consumer. The topic is the
-- record; (partition, offset) makes the copy idempotent when the consumer replays after a crash.
CREATE TABLE quarantine (
    id            bigserial PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    source_id     uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    bus_partition integer NOT NULL,
    bus_offset    bigint NOT NULL,
    received_at   timestamptz NOT NULL,
    reason        text NOT NULL,
    -- blocked: held back from events.raw; flagged: delivered with its violations marked.
    disposition   text NOT NULL CHECK (disposition IN ('blocked', 'flagged')),
    message_id    text,
    event_name    text,
    payload       jsonb NOT NULL,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'flagged')),
    replayed_at   timestamptz,
    replayed_by   uuid,
    UNIQUE (bus_partition, bus_offset)
);
CREATE INDEX quarantine_by_reason ON quarantine (workspace_id, status, reason);
CREATE INDEX quarantine_by_source ON quarantine (source_id, id DESC);

-- Events per source per minute; gateways add what they counted since their last flush.
CREATE TABLE source_stats (
    source_id    uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    minute       timestamptz NOT NULL,
    accepted     bigint NOT NULL DEFAULT 0,
    flagged      bigint NOT NULL DEFAULT 0,
    quarantined  bigint NOT NULL DEFAULT 0,
    not_activatable bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, minute)
);
