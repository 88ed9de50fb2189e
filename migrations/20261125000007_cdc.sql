-- Replication slots whose initial snapshot reached the bus. A slot without a row here was
-- created by a CDC run that died before its snapshot was published: it is dropped and the
-- snapshot taken again, instead of streaming on with the existing rows missing.
CREATE TABLE cdc_slots (
    slot              text PRIMARY KEY,
    snapshot_done_at  timestamptz NOT NULL DEFAULT now()
);
