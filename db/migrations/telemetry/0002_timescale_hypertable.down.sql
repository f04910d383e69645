-- A hypertable cannot be turned back into a plain table in place; nothing to undo
-- for a plain table. To leave TimescaleDB, copy the rows into a new plain table.
SELECT 1;
