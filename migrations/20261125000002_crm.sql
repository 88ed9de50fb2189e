-- CRM truth: accounts, customers and their identifiers, leads, orders with lines, contracts,
-- loyalty memberships, tickets and sales activities.
--
-- Conventions every table follows:
-- * `workspace_id` on every row; references between CRM rows (and owners, through the
--   workspace `memberships` key) are composite `(workspace_id, x_id)` foreign keys, so a row can
--   never point into another workspace.
-- * `version` starts at 1 and is bumped by every update (optimistic concurrency, If-Match).
-- * `deleted_at` marks a soft delete that the UI can undo; unique keys are partial on live rows.
-- * Money is integer minor units (`*_minor bigint`) with an ISO-4217 `currency`; never float.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE accounts (
    id                   uuid PRIMARY KEY,
    workspace_id         uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    domain               text CHECK (domain IS NULL OR domain ~ '^[a-z0-9.-]+\.[a-z]{2,}$'),
    industry             text CHECK (industry IS NULL OR length(industry) <= 100),
    employees            integer CHECK (employees IS NULL OR employees >= 0),
    annual_revenue_minor bigint CHECK (annual_revenue_minor IS NULL OR annual_revenue_minor >= 0),
    currency             char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    owner_id             uuid,
    version              integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE INDEX accounts_name_idx ON accounts (workspace_id, lower(name), id) WHERE deleted_at IS NULL;
CREATE INDEX accounts_search_idx ON accounts USING gin ((lower(name || ' ' || coalesce(domain, ''))) gin_trgm_ops);
CREATE INDEX accounts_owner_idx ON accounts (workspace_id, owner_id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX accounts_domain_key ON accounts (workspace_id, domain) WHERE deleted_at IS NULL AND domain IS NOT NULL;

CREATE TABLE customers (
    id              uuid PRIMARY KEY,
    workspace_id    uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    account_id      uuid,
    first_name      text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name       text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    -- First email/phone, kept on the row for lists and sorting; the full sets are in customer_identifiers.
    primary_email   text,
    primary_phone   text,
    time_zone       text CHECK (time_zone IS NULL OR length(time_zone) <= 64),
    locale          text CHECK (locale IS NULL OR locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    lifecycle_stage text NOT NULL DEFAULT 'customer'
                    CHECK (lifecycle_stage IN ('prospect', 'customer', 'churned')),
    consent_email   boolean NOT NULL DEFAULT false,
    consent_sms     boolean NOT NULL DEFAULT false,
    consent_phone   boolean NOT NULL DEFAULT false,
    consent_push    boolean NOT NULL DEFAULT false,
    consent_updated_at timestamptz,
    owner_id        uuid,
    -- Names, emails, phones and external ids in one lower-case string for trigram search.
    search_text     text NOT NULL DEFAULT '',
    version         integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    deleted_at      timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (first_name <> '' OR last_name <> '' OR primary_email IS NOT NULL OR primary_phone IS NOT NULL),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE INDEX customers_name_idx ON customers (workspace_id, lower(last_name), lower(first_name), id) WHERE deleted_at IS NULL;
CREATE INDEX customers_created_idx ON customers (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_updated_idx ON customers (workspace_id, updated_at, id) WHERE deleted_at IS NULL;
CREATE INDEX customers_owner_idx ON customers (workspace_id, owner_id) WHERE deleted_at IS NULL;
CREATE INDEX customers_account_idx ON customers (workspace_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX customers_search_idx ON customers USING gin (search_text gin_trgm_ops);

-- Any number of emails, phones and external ids per customer. Emails and external ids are unique
-- per workspace so imports and the identity graph can match on them; phones are not (households).
CREATE TABLE customer_identifiers (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    customer_id   uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('email', 'phone', 'external_id')),
    -- For external ids: the system that issued it (e.g. 'shopify', 'zendesk'); '' otherwise.
    namespace     text NOT NULL DEFAULT '' CHECK (length(namespace) <= 50),
    value         text NOT NULL CHECK (length(value) BETWEEN 1 AND 254),
    label         text CHECK (label IS NULL OR length(label) <= 50),
    position      smallint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id) ON DELETE CASCADE,
    CHECK (kind <> 'email' OR value = lower(value)),
    CHECK (kind <> 'phone' OR value ~ '^\+[1-9][0-9]{6,14}$'),
    CHECK ((kind = 'external_id') = (namespace <> ''))
);
CREATE UNIQUE INDEX customer_identifiers_unique_key ON customer_identifiers (workspace_id, kind, namespace, value)
    WHERE kind IN ('email', 'external_id');
CREATE INDEX customer_identifiers_lookup_idx ON customer_identifiers (workspace_id, kind, value);
CREATE INDEX customer_identifiers_customer_idx ON customer_identifiers (customer_id, kind, position);

CREATE TABLE leads (
    id                     uuid PRIMARY KEY,
    workspace_id           uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    first_name             text NOT NULL DEFAULT '' CHECK (length(first_name) <= 100),
    last_name              text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    email                  text CHECK (email IS NULL OR email = lower(email)),
    phone                  text CHECK (phone IS NULL OR phone ~ '^\+[1-9][0-9]{6,14}$'),
    company_name           text CHECK (company_name IS NULL OR length(company_name) <= 200),
    title                  text CHECK (title IS NULL OR length(title) <= 100),
    source                 text NOT NULL DEFAULT 'other'
                           CHECK (source IN ('web', 'referral', 'event', 'outbound', 'partner', 'ads', 'import', 'other')),
    status                 text NOT NULL DEFAULT 'new'
                           CHECK (status IN ('new', 'contacted', 'qualified', 'converted', 'lost')),
    lost_reason            text CHECK (lost_reason IS NULL OR length(lost_reason) <= 500),
    estimated_value_minor  bigint CHECK (estimated_value_minor IS NULL OR estimated_value_minor >= 0),
    currency               char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    owner_id               uuid,
    converted_customer_id  uuid,
    converted_account_id   uuid,
    converted_at           timestamptz,
    search_text            text NOT NULL DEFAULT '',
    version                integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    deleted_at             timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (first_name <> '' OR last_name <> '' OR email IS NOT NULL OR company_name IS NOT NULL),
    CHECK ((status = 'converted') = (converted_customer_id IS NOT NULL AND converted_at IS NOT NULL)),
    CHECK (status = 'lost' OR lost_reason IS NULL),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id),
    FOREIGN KEY (workspace_id, converted_customer_id) REFERENCES customers (workspace_id, id),
    FOREIGN KEY (workspace_id, converted_account_id) REFERENCES accounts (workspace_id, id)
);
CREATE INDEX leads_status_idx ON leads (workspace_id, status, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_owner_idx ON leads (workspace_id, owner_id, status) WHERE deleted_at IS NULL;
CREATE INDEX leads_created_idx ON leads (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE INDEX leads_search_idx ON leads USING gin (search_text gin_trgm_ops);

CREATE TABLE orders (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    number        text NOT NULL CHECK (length(btrim(number)) BETWEEN 1 AND 50),
    customer_id   uuid NOT NULL,
    account_id    uuid,
    status        text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'paid', 'fulfilled', 'cancelled', 'refunded')),
    channel       text NOT NULL DEFAULT 'web'
                  CHECK (channel IN ('web', 'app', 'store', 'phone', 'partner', 'marketplace')),
    currency      char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    total_minor   bigint NOT NULL DEFAULT 0 CHECK (total_minor >= 0),
    ordered_at    timestamptz NOT NULL DEFAULT now(),
    owner_id      uuid,
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    UNIQUE (workspace_id, id),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE UNIQUE INDEX orders_number_key ON orders (workspace_id, number);
CREATE INDEX orders_customer_idx ON orders (workspace_id, customer_id, ordered_at DESC);
CREATE INDEX orders_ordered_idx ON orders (workspace_id, ordered_at, id) WHERE deleted_at IS NULL;
CREATE INDEX orders_status_idx ON orders (workspace_id, status, ordered_at) WHERE deleted_at IS NULL;

CREATE TABLE order_lines (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id       uuid NOT NULL,
    order_id           uuid NOT NULL,
    line_no            smallint NOT NULL CHECK (line_no >= 1),
    sku                text CHECK (sku IS NULL OR length(sku) <= 64),
    description        text NOT NULL CHECK (length(btrim(description)) BETWEEN 1 AND 300),
    quantity           integer NOT NULL CHECK (quantity > 0),
    unit_price_minor   bigint NOT NULL CHECK (unit_price_minor >= 0),
    discount_minor     bigint NOT NULL DEFAULT 0 CHECK (discount_minor >= 0),
    line_total_minor   bigint GENERATED ALWAYS AS (quantity * unit_price_minor - discount_minor) STORED,
    UNIQUE (order_id, line_no),
    CHECK (discount_minor <= quantity * unit_price_minor),
    FOREIGN KEY (workspace_id, order_id) REFERENCES orders (workspace_id, id) ON DELETE CASCADE
);

-- An order's total equals the sum of its lines, checked at commit so a service can rewrite
-- lines and total in any order inside one transaction.
CREATE FUNCTION orders_check_total() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    oid uuid;
    expected bigint;
    actual bigint;
BEGIN
    IF TG_TABLE_NAME = 'orders' THEN
        oid := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        oid := OLD.order_id;
    ELSE
        oid := NEW.order_id;
    END IF;
    SELECT total_minor INTO actual FROM orders WHERE id = oid;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT COALESCE(sum(line_total_minor), 0) INTO expected FROM order_lines WHERE order_id = oid;
    IF actual <> expected THEN
        RAISE EXCEPTION 'order % total % does not equal the sum of its lines %', oid, actual, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_total_matches_lines';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER orders_total_matches_lines AFTER INSERT OR UPDATE OF total_minor ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_check_total();
CREATE CONSTRAINT TRIGGER order_lines_total_matches AFTER INSERT OR UPDATE OR DELETE ON order_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_check_total();

CREATE TABLE contracts (
    id             uuid PRIMARY KEY,
    workspace_id   uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    title          text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
    customer_id    uuid,
    account_id     uuid,
    status         text NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'active', 'expired', 'cancelled', 'renewed')),
    start_date     date NOT NULL,
    end_date       date NOT NULL,
    renewal_date   date,
    auto_renew     boolean NOT NULL DEFAULT false,
    value_minor    bigint NOT NULL CHECK (value_minor >= 0),
    currency       char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    owner_id       uuid,
    version        integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    deleted_at     timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (customer_id IS NOT NULL OR account_id IS NOT NULL),
    CHECK (end_date >= start_date),
    CHECK (renewal_date IS NULL OR renewal_date >= start_date),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE INDEX contracts_renewal_idx ON contracts (workspace_id, renewal_date) WHERE deleted_at IS NULL AND status = 'active';
CREATE INDEX contracts_customer_idx ON contracts (workspace_id, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX contracts_account_idx ON contracts (workspace_id, account_id) WHERE account_id IS NOT NULL;
CREATE INDEX contracts_created_idx ON contracts (workspace_id, created_at, id) WHERE deleted_at IS NULL;

-- Loyalty programme memberships (not to be confused with workspace `memberships` of users).
CREATE TABLE loyalty_memberships (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL,
    program       text NOT NULL DEFAULT 'default' CHECK (length(btrim(program)) BETWEEN 1 AND 50),
    tier          text NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
    points        integer NOT NULL DEFAULT 0 CHECK (points >= 0),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'cancelled', 'expired')),
    joined_on     date NOT NULL DEFAULT current_date,
    expires_on    date,
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (expires_on IS NULL OR expires_on >= joined_on),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id)
);
CREATE UNIQUE INDEX loyalty_memberships_customer_key ON loyalty_memberships (workspace_id, customer_id, program)
    WHERE deleted_at IS NULL;
CREATE INDEX loyalty_memberships_created_idx ON loyalty_memberships (workspace_id, created_at, id) WHERE deleted_at IS NULL;

-- Every tier change, for "when did she become gold" and for the customer model downstream.
CREATE TABLE loyalty_tier_changes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workspace_id   uuid NOT NULL,
    membership_id  uuid NOT NULL,
    from_tier      text,
    to_tier        text NOT NULL,
    reason         text CHECK (reason IS NULL OR length(reason) <= 300),
    changed_by     uuid REFERENCES users (id) ON DELETE SET NULL,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (workspace_id, membership_id) REFERENCES loyalty_memberships (workspace_id, id) ON DELETE CASCADE
);
CREATE INDEX loyalty_tier_changes_membership_idx ON loyalty_tier_changes (membership_id, changed_at);

CREATE TABLE tickets (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    customer_id   uuid NOT NULL,
    subject       text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 300),
    description   text NOT NULL DEFAULT '' CHECK (length(description) <= 20000),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'pending', 'solved', 'closed')),
    priority      text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    channel       text NOT NULL DEFAULT 'email' CHECK (channel IN ('email', 'phone', 'chat', 'web', 'social')),
    -- CSAT on a 1–5 scale, given after the ticket is solved.
    satisfaction  smallint CHECK (satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5),
    external_ref  text CHECK (external_ref IS NULL OR length(external_ref) <= 100),
    owner_id      uuid,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    solved_at     timestamptz,
    search_text   text NOT NULL DEFAULT '',
    version       integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (satisfaction IS NULL OR status IN ('solved', 'closed')),
    CHECK (solved_at IS NULL OR solved_at >= opened_at),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE INDEX tickets_customer_idx ON tickets (workspace_id, customer_id, opened_at DESC);
CREATE INDEX tickets_status_idx ON tickets (workspace_id, status, priority) WHERE deleted_at IS NULL;
CREATE INDEX tickets_created_idx ON tickets (workspace_id, created_at, id) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX tickets_external_ref_key ON tickets (workspace_id, external_ref) WHERE external_ref IS NOT NULL;
CREATE INDEX tickets_search_idx ON tickets USING gin (search_text gin_trgm_ops);

CREATE TABLE activities (
    id                uuid PRIMARY KEY,
    workspace_id      uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    kind              text NOT NULL CHECK (kind IN ('call', 'meeting', 'email', 'note', 'task')),
    subject           text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 300),
    body              text NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    customer_id       uuid,
    lead_id           uuid,
    account_id        uuid,
    occurred_at       timestamptz NOT NULL DEFAULT now(),
    duration_minutes  integer CHECK (duration_minutes IS NULL OR duration_minutes BETWEEN 0 AND 1440),
    due_at            timestamptz,
    done_at           timestamptz,
    owner_id          uuid,
    version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    deleted_at        timestamptz,
    UNIQUE (workspace_id, id),
    CHECK (kind = 'task' OR (due_at IS NULL AND done_at IS NULL)),
    FOREIGN KEY (workspace_id, customer_id) REFERENCES customers (workspace_id, id),
    FOREIGN KEY (workspace_id, lead_id) REFERENCES leads (workspace_id, id),
    FOREIGN KEY (workspace_id, account_id) REFERENCES accounts (workspace_id, id),
    FOREIGN KEY (workspace_id, owner_id) REFERENCES memberships (workspace_id, user_id)
);
CREATE INDEX activities_customer_idx ON activities (workspace_id, customer_id, occurred_at DESC) WHERE customer_id IS NOT NULL;
CREATE INDEX activities_lead_idx ON activities (workspace_id, lead_id, occurred_at DESC) WHERE lead_id IS NOT NULL;
CREATE INDEX activities_account_idx ON activities (workspace_id, account_id, occurred_at DESC) WHERE account_id IS NOT NULL;
CREATE INDEX activities_open_tasks_idx ON activities (workspace_id, owner_id, due_at)
    WHERE kind = 'task' AND done_at IS NULL AND deleted_at IS NULL;
CREATE INDEX activities_occurred_idx ON activities (workspace_id, occurred_at, id) WHERE deleted_at IS NULL;

-- Who may edit records owned by someone else: with `reps_edit_own_only` a sales rep edits only
-- records they own; without it, any record in the workspace.
CREATE TABLE crm_settings (
    workspace_id        uuid PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    reps_edit_own_only  boolean NOT NULL DEFAULT true,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- API tokens for system callers: only a SHA-256 of the secret is stored.
CREATE TABLE api_tokens (
    id            uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 100),
    -- The first characters of the token, shown in lists so people can tell tokens apart.
    prefix        text NOT NULL,
    secret_hash   bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL CHECK (cardinality(scopes) >= 1),
    created_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX api_tokens_workspace_idx ON api_tokens (workspace_id, created_at DESC);

-- System callers appear in the audit log by token.
ALTER TABLE audit_log ADD COLUMN actor_token_id uuid REFERENCES api_tokens (id) ON DELETE SET NULL;
