-- Removes only what this service added: the idempotency key and its columns.
-- The table and every reading in it are kept.
DROP INDEX IF EXISTS {{schema_prefix}}{{index:source_key}};
DROP INDEX IF EXISTS {{schema_prefix}}{{index:legacy_rows}};
ALTER TABLE {{table}} DROP COLUMN IF EXISTS source_id;
ALTER TABLE {{table}} DROP COLUMN IF EXISTS source_stream;
