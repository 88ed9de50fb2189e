-- The customer model is checkpointed per partition of events.raw (rows named
-- `events.raw/<partition>`), so pipeline instances in one consumer group hand partitions and
-- their state over through this table. `position` is the next offset of that partition the
-- state covers: a write never replaces a checkpoint that is further ahead, so an instance that
-- lost the partition in a rebalance cannot overwrite its new owner's progress.
ALTER TABLE pipeline_checkpoints ADD COLUMN position bigint NOT NULL DEFAULT 0;
-- Which pipeline instance stored the row (`<host>/<pid>/<random>`): who holds a partition now.
ALTER TABLE pipeline_checkpoints ADD COLUMN owner text;
