-- With ENABLE_TIMESCALE=true: turn the table into a TimescaleDB hypertable on
-- its time column (its primary key already holds it). A no-op otherwise.
DO $$
BEGIN
    IF current_setting('db_writer.enable_timescale', true) IS DISTINCT FROM 'true' THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        RAISE EXCEPTION 'ENABLE_TIMESCALE is true but the timescaledb extension is not installed on this server'
            USING ERRCODE = 'feature_not_supported';
    END IF;
    CREATE EXTENSION IF NOT EXISTS timescaledb;
    PERFORM create_hypertable('{{table}}'::regclass, 'time', if_not_exists => true, migrate_data => true);
END
$$;
