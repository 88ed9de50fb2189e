-- The embedded bus: a durable, partitioned log with consumer-group offsets, in the Postgres
-- Pulse already runs. Same semantics as the Kafka path: records keyed to partitions, offsets
-- per partition, groups committing "next offset to read", replay by resetting a group.

CREATE TABLE bus_topics (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,200}$'),
    partitions    integer NOT NULL CHECK (partitions BETWEEN 1 AND 1024),
    retention_ms  bigint NOT NULL DEFAULT 604800000 CHECK (retention_ms > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The next offset of each partition; its row lock serialises appends to the partition.
CREATE TABLE bus_partitions (
    topic        text NOT NULL REFERENCES bus_topics (name) ON DELETE CASCADE,
    partition    integer NOT NULL CHECK (partition >= 0),
    next_offset  bigint NOT NULL DEFAULT 0 CHECK (next_offset >= 0),
    PRIMARY KEY (topic, partition)
);

CREATE TABLE bus_records (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    "offset"     bigint NOT NULL,
    key          text NOT NULL,
    value        bytea NOT NULL,
    ts           timestamptz NOT NULL,
    appended_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition, "offset")
);
CREATE INDEX bus_records_retention_idx ON bus_records (topic, appended_at);

CREATE TABLE bus_group_offsets (
    group_id     text NOT NULL,
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL CHECK (next_offset >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, partition)
);

-- Members of each group, for sharing partitions. A member holds a session advisory lock on
-- `lock_key` while alive; a member whose lock is gone (its connection closed or crashed) is
-- removed at the next rebalance, and its partition locks are gone with it.
CREATE TABLE bus_group_members (
    group_id      text NOT NULL,
    topic         text NOT NULL,
    member_id     uuid NOT NULL,
    lock_key      bigint NOT NULL,
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, topic, member_id)
);
