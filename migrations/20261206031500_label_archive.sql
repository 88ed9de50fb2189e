-- Archived labels stay on record (and keep their name) but are neither listed nor evaluated.
ALTER TABLE label_definitions ADD COLUMN archived_at timestamptz;
