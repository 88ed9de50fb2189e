-- Label definitions reach the customer model as versions recorded in its log: every save or
-- archive writes the workspace's whole set of live definitions as the next version here (an
-- outbox), and the pipeline's runner publishes each version to events.raw once, at a position
-- every replay meets in the same place.
CREATE TABLE label_versions (
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    version       bigint NOT NULL CHECK (version > 0),
    -- The live definitions as `domain::labels::LabelDefinition` values, in name order.
    definitions   jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    PRIMARY KEY (workspace_id, version)
);
CREATE INDEX label_versions_unpublished_idx ON label_versions (workspace_id)
    WHERE published_at IS NULL;

-- Workspaces that already have labels start at version 1.
INSERT INTO label_versions (workspace_id, version, definitions)
SELECT workspace_id, 1,
       jsonb_agg(jsonb_build_object('name', name, 'description', description, 'rule', rule,
                                    'trigger', is_trigger) ORDER BY name)
  FROM label_definitions
 WHERE archived_at IS NULL
 GROUP BY workspace_id;
