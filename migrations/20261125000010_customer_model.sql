-- The live customer model: label definitions (declared in the UI), the pipeline's checkpoint
-- (its whole state together with the offsets it covers) and the sales inbox the label
-- triggers fill.

CREATE TABLE label_definitions (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name ~ '^[a-z0-9_]{1,64}$'),
    description   text NOT NULL DEFAULT '',
    rule          jsonb NOT NULL,
    is_trigger    boolean NOT NULL DEFAULT false,
    -- Profiles carrying it now, as of the pipeline's last checkpoint.
    live_count    bigint,
    counted_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, name)
);

CREATE TABLE pipeline_checkpoints (
    name        text PRIMARY KEY,
    state       bytea NOT NULL,
    -- Per partition, the next offset the state has not applied (also inside the state).
    offsets     jsonb NOT NULL,
    taken_at    timestamptz NOT NULL DEFAULT now()
);

-- In-app alerts for the sales rep who owns the customer (or the workspace's managers when the
-- profile is no known customer). The id is the trigger's deterministic id: a replayed trigger
-- does not alert twice.
CREATE TABLE alerts (
    id            text PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    owner_id      uuid REFERENCES users (id) ON DELETE SET NULL,
    customer_id   uuid,
    profile       text NOT NULL,
    label         text NOT NULL,
    reason        text NOT NULL,
    -- Event time of the label change.
    at            timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    read_at       timestamptz
);
CREATE INDEX alerts_inbox_idx ON alerts (workspace_id, owner_id, created_at DESC);
