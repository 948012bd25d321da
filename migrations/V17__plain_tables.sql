-- Every hash-partitioned view becomes one plain table (issue #17), keeping
-- its columns, keys, indexes, fill factor and rows.
--
-- Why: the services run every statement as a generic plan (core/src/db.rs).
-- In PostgreSQL 15 a generic plan over a partitioned table locks every
-- partition and every partition index at each execution, and where the
-- partition is picked by a value from another row (a LATERAL probe: a
-- batch's rows, an inbox entry's message) it sets up a scan of all eight
-- partitions before reading one. perf of the backends at 500 msg/s: a third
-- of their CPU in ExecutorStart (ExecInitAppend, ExecInitIndexScan); a
-- user's empty inbox read cost 35-47 µs over the partitions and 9-14 µs
-- over one table. Eight hash partitions on one server bought nothing back:
-- same disk, same cores, and retention deletes by age, not by partition.
--
-- The scale-out path is unchanged: every table is still keyed, and every
-- hot statement still probed, by user or by conversation, which is what
-- distributing the tables by that column (Citus) needs.
DO $$
DECLARE
    t          record;
    fillfactor text;
    ddl        text[];
    stmt       text;
BEGIN
    FOR t IN
        SELECT p.partrelid AS oid, cl.relname AS name
        FROM pg_partitioned_table p
        JOIN pg_class cl ON cl.oid = p.partrelid
        WHERE cl.relnamespace = current_schema()::regnamespace
        ORDER BY cl.relname
    LOOP
        -- V11 and V12 gave the partitions of the tables updated on every
        -- message room for HOT updates; the plain table keeps it.
        SELECT option_value INTO fillfactor
        FROM pg_inherits h, pg_options_to_table((SELECT reloptions FROM pg_class WHERE oid = h.inhrelid))
        WHERE h.inhparent = t.oid AND option_name = 'fillfactor'
        LIMIT 1;

        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)%s',
                       t.name || '_plain', t.name,
                       CASE WHEN fillfactor IS NULL THEN '' ELSE format(' WITH (fillfactor = %s)', fillfactor) END);
        EXECUTE format('INSERT INTO %I SELECT * FROM %I', t.name || '_plain', t.name);

        -- Keys and indexes, recreated under their old names once the old
        -- table is gone.
        ddl := ARRAY(
            SELECT format('ALTER TABLE %I ADD CONSTRAINT %I %s', t.name, conname, pg_get_constraintdef(oid))
            FROM pg_constraint
            WHERE conrelid = t.oid AND contype IN ('p', 'u')
            ORDER BY conname);
        ddl := ddl || ARRAY(
            SELECT replace(pg_get_indexdef(x.indexrelid), ' ON ONLY ', ' ON ')
            FROM pg_index x
            WHERE x.indrelid = t.oid
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)
            ORDER BY x.indexrelid::regclass::text);

        EXECUTE format('DROP TABLE %I', t.name);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t.name || '_plain', t.name);
        FOREACH stmt IN ARRAY ddl LOOP
            EXECUTE stmt;
        END LOOP;
    END LOOP;
END
$$;
