-- Drops the table db-writer created, only while it holds no reading.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM {{table}} LIMIT 1) THEN
        RAISE EXCEPTION 'the table holds readings; not dropping it (drop it yourself if you mean to)'
            USING ERRCODE = 'object_in_use';
    END IF;
END
$$;
DROP TABLE {{table}};
