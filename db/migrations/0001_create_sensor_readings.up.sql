-- The readings table, created fresh or upgraded in place when the previous
-- service already created and filled it (every existing row is kept).
CREATE TABLE IF NOT EXISTS {{table}} (
    id            BIGSERIAL PRIMARY KEY,
    "timestamp"   TIMESTAMPTZ      NOT NULL,
    device_id     VARCHAR(100)     NOT NULL,
    sensor_type   VARCHAR(100)     NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    metadata      JSONB,
    created_at    TIMESTAMPTZ      DEFAULT now(),
    source_stream TEXT,
    source_id     TEXT
);

-- Columns a table of the previous service may lack.
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS metadata JSONB;
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS created_at TIMESTAMPTZ DEFAULT now();
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS source_stream TEXT;
ALTER TABLE {{table}} ADD COLUMN IF NOT EXISTS source_id TEXT;

-- The idempotency key: a redelivered stream entry never becomes a second row.
-- Rows of the previous service have NULLs here and never conflict.
-- The time column is part of it so the same index works on a hypertable.
CREATE UNIQUE INDEX IF NOT EXISTS {{index:source_key}}
    ON {{table}} (source_stream, source_id, "timestamp");

-- Rows of the previous service carry no source id. It never acknowledged what
-- it stored, so its pending entries are redelivered to this service; they are
-- matched against these rows to avoid storing them twice. Partial: new rows
-- are not in it and cost it nothing.
CREATE INDEX IF NOT EXISTS {{index:legacy_rows}}
    ON {{table}} (device_id, sensor_type, "timestamp")
    WHERE source_id IS NULL;
