-- With ENABLE_TIMESCALE=true: turn the table into a TimescaleDB hypertable on
-- its time column. A no-op otherwise. A hypertable's unique keys must contain
-- the time column, so a primary key on id alone becomes (id, "timestamp").
DO $$
DECLARE
    pk_name  text;
    pk_cols  text[];
BEGIN
    IF current_setting('db_writer.enable_timescale', true) IS DISTINCT FROM 'true' THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE EXCEPTION 'ENABLE_TIMESCALE is true but the timescaledb extension is not installed on this server'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    SELECT c.conname, array_agg(a.attname::text)
      INTO pk_name, pk_cols
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
     WHERE c.conrelid = '{{table}}'::regclass AND c.contype = 'p'
     GROUP BY c.conname;
    IF pk_name IS NOT NULL AND NOT ('timestamp' = ANY (pk_cols)) THEN
        EXECUTE format('ALTER TABLE {{table}} DROP CONSTRAINT %I', pk_name);
        ALTER TABLE {{table}} ADD PRIMARY KEY (id, "timestamp");
    END IF;
    PERFORM create_hypertable('{{table}}'::regclass, 'timestamp', if_not_exists => true, migrate_data => true);
END
$$;
