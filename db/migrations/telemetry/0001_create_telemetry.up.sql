-- The telemetry table in the iotDashboard's shape, for a database where that
-- project's own migrations have not created it (db-writer never runs this on
-- a table it did not create). Idempotency is its natural primary key.
CREATE TABLE IF NOT EXISTS {{table}} (
    "time"    TIMESTAMPTZ      NOT NULL,
    device_id TEXT             NOT NULL,
    metric    TEXT             NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    unit      TEXT,
    PRIMARY KEY ("time", device_id, metric)
);

CREATE INDEX IF NOT EXISTS {{index:device_id_time}} ON {{table}} (device_id, "time");

-- Readings reference the device registry when there is one (the dashboard's
-- `devices`, in the same schema); db-writer does not create it: it belongs to
-- that project. Without it every device id is accepted.
DO $$
BEGIN
    IF to_regclass('{{schema_prefix}}devices') IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM pg_constraint WHERE conrelid = '{{table}}'::regclass AND contype = 'f'
    ) THEN
        ALTER TABLE {{table}} ADD CONSTRAINT {{index:device_id_fkey}}
            FOREIGN KEY (device_id) REFERENCES {{schema_prefix}}devices (id) ON DELETE CASCADE;
    END IF;
END
$$;
