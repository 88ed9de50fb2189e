-- A one-row table CDC touches every few seconds. It is in the publication so that a quiet CRM
-- still produces commits the CDC process can acknowledge: otherwise the slot's confirmed
-- position stays at the last CRM change and Postgres keeps all later WAL (sessions, the
-- embedded bus) for it.
CREATE TABLE cdc_heartbeat (
    id       integer PRIMARY KEY CHECK (id = 1),
    beat_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO cdc_heartbeat (id) VALUES (1);

-- The commit time of the last heartbeat the CDC process published past: the heartbeat's
-- beat_at minus this is how many seconds CDC trails the database.
ALTER TABLE cdc_slots ADD COLUMN heartbeat_seen_at timestamptz;
