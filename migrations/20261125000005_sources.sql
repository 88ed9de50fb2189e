-- Event sources (a website, an app, a server): each has a write key the SDKs send; only a
-- SHA-256 of the key is stored.

CREATE TABLE sources (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    kind            text NOT NULL DEFAULT 'web' CHECK (kind IN ('web', 'mobile', 'server')),
    write_key_hash  bytea NOT NULL UNIQUE,
    -- The first characters of the key, shown in lists.
    write_key_prefix text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz
);
CREATE UNIQUE INDEX sources_name_key ON sources (workspace_id, lower(name));
