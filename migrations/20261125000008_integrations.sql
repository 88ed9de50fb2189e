-- The Data Router: third-party systems (integrations) that post webhooks, the mapping that
-- says what each payload writes, and every delivery with its outcome.

CREATE TABLE integrations (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    -- The URL segment: /api/v1/integrations/{slug}/{kind}.
    slug          text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,47}$'),
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- The template it started from: shopify, zendesk, sendgrid or custom.
    system        text NOT NULL,
    -- The credential is an API token (crm:write) so CRM writes are audited under it.
    token_id      uuid NOT NULL REFERENCES api_tokens (id),
    mapping       jsonb NOT NULL,
    mapping_version integer NOT NULL DEFAULT 1,
    -- Webhook requests per minute before 429.
    rate_per_minute integer NOT NULL DEFAULT 600 CHECK (rate_per_minute BETWEEN 1 AND 100000),
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, slug),
    UNIQUE (token_id)
);

CREATE TABLE integration_deliveries (
    id              bigserial PRIMARY KEY,
    integration_id  uuid NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    -- From Idempotency-Key or the system's delivery id header, else a hash of the body.
    idempotency_key text NOT NULL,
    kind            text NOT NULL,
    payload         jsonb NOT NULL,
    status          text NOT NULL CHECK (status IN ('ok', 'failed')),
    -- Field errors named in the sending system's terms, or a message.
    error           jsonb,
    -- What was written: one line per write.
    written         jsonb NOT NULL DEFAULT '[]',
    attempts        integer NOT NULL DEFAULT 1,
    received_at     timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (integration_id, idempotency_key)
);
CREATE INDEX integration_deliveries_recent ON integration_deliveries (integration_id, id DESC);
CREATE INDEX integration_deliveries_failed ON integration_deliveries (integration_id, id) WHERE status = 'failed';
