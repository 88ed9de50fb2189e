-- The country calling code a workspace's phone numbers take when written without one (the CRM
-- and the pipeline apply the same rule, domain::phone). 1 is what both assumed before.
ALTER TABLE workspaces
    ADD COLUMN phone_country smallint NOT NULL DEFAULT 1 CHECK (phone_country BETWEEN 1 AND 999);
