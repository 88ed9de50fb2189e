-- Events accepted with a time too far in the future (replaced by the receive time), per source
-- and minute, for the source page.
ALTER TABLE source_stats ADD COLUMN future_clamped bigint NOT NULL DEFAULT 0;
