-- CSV imports: the uploaded rows are kept with their outcome, so nothing in a file is ever
-- dropped without a record of what happened to it and why.

CREATE TABLE imports (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('customers', 'leads', 'orders')),
    filename        text NOT NULL CHECK (length(filename) <= 255),
    status          text NOT NULL DEFAULT 'uploaded'
                    CHECK (status IN ('uploaded', 'validated', 'running', 'done', 'failed')),
    headers         jsonb NOT NULL,
    mapping         jsonb NOT NULL DEFAULT '[]',
    duplicate_mode  text NOT NULL DEFAULT 'update' CHECK (duplicate_mode IN ('update', 'skip')),
    total_rows      integer NOT NULL CHECK (total_rows >= 0),
    to_create       integer NOT NULL DEFAULT 0,
    duplicates      integer NOT NULL DEFAULT 0,
    invalid         integer NOT NULL DEFAULT 0,
    processed       integer NOT NULL DEFAULT 0,
    created         integer NOT NULL DEFAULT 0,
    updated         integer NOT NULL DEFAULT 0,
    skipped         integer NOT NULL DEFAULT 0,
    failed          integer NOT NULL DEFAULT 0,
    error           text,
    created_by      uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imports_workspace_idx ON imports (workspace_id, created_at DESC);

CREATE TABLE import_rows (
    import_id  uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_no     integer NOT NULL CHECK (row_no >= 1),
    cells      jsonb NOT NULL,
    -- Problems found by validation or at import time: [{"column": .., "message": ..}].
    problems   jsonb NOT NULL DEFAULT '[]',
    -- The record this row matched before import, if any.
    match_id   uuid,
    outcome    text CHECK (outcome IN ('created', 'updated', 'skipped', 'failed')),
    record_id  uuid,
    PRIMARY KEY (import_id, row_no)
);
