-- The event log partitioned by position, on request (`vibehq db partition`). See
-- docs/scaling.md. Nothing here changes an unpartitioned log: the functions only run
-- when asked to.
--
-- * A partition holds a range of positions, i.e. of writing transactions: partition k
--   holds positions [k * span, (k + 1) * span) with span = transactions << 16. The log
--   as it stood when it was partitioned becomes the first partition, whole and unmoved.
-- * PostgreSQL enforces a unique index on a partitioned table only if it holds the
--   partition key, so (originator_id, originator_version) can no longer be the primary
--   key of the whole log. vibehq_stream_heads takes its place: a row per stream, moved
--   on by a trigger on every insert with a compare-and-set. A second writer at the same
--   version waits for the first and then fails with the same unique violation, on the
--   same constraint name, as the primary key gave; every append path is unchanged.
-- * Each partition keeps its own unique (stream, version) and event id indexes, and the
--   trigger also refuses an event id stored in another partition; the position index
--   is global (it holds the partition key).

CREATE TABLE vibehq_event_partitioning (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    transactions  bigint  NOT NULL CHECK (transactions >= 1),
    covered_to    bigint  NOT NULL
);

CREATE TABLE vibehq_stream_heads (
    stream_id uuid   PRIMARY KEY,
    version   bigint NOT NULL
);

CREATE FUNCTION vibehq_advance_stream_head() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.originator_version = 1 THEN
        INSERT INTO vibehq_stream_heads (stream_id, version) VALUES (NEW.originator_id, 1)
        ON CONFLICT (stream_id) DO NOTHING;
    ELSE
        UPDATE vibehq_stream_heads SET version = NEW.originator_version
        WHERE stream_id = NEW.originator_id AND version = NEW.originator_version - 1;
    END IF;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'stream % already has version %',
            NEW.originator_id, NEW.originator_version
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'vibehq_events_pkey';
    END IF;
    -- Event ids: each partition's unique index holds off concurrent twins (they come
    -- from transactions of the same moment, so of the same partition); this probe
    -- (one index look-up per partition) refuses an id stored in any other.
    IF EXISTS (SELECT 1 FROM vibehq_events WHERE event_id = NEW.event_id) THEN
        RAISE EXCEPTION 'event % is already in the log', NEW.event_id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'vibehq_events_event_id';
    END IF;
    RETURN NEW;
END
$$;

-- One partition, with the indexes and trigger every partition has.
CREATE FUNCTION vibehq_create_event_partition(p_name text, p_bounds text)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE TABLE %I PARTITION OF vibehq_events %s', p_name, p_bounds);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (originator_id, originator_version)',
                   p_name || '_stream', p_name);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (event_id)', p_name || '_event_id', p_name);
    EXECUTE format('CREATE TRIGGER vibehq_events_no_truncate BEFORE TRUNCATE ON %I '
                   'FOR EACH STATEMENT EXECUTE FUNCTION vibehq_refuse_change()', p_name);
END
$$;

-- Partitions for the current range of transactions and p_ahead more. Returns how many
-- it made (0 on an unpartitioned log). Called by migrate (every start), by the worker
-- every minute and by `vibehq db partition`.
CREATE FUNCTION vibehq_add_event_partitions(p_ahead integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_plan vibehq_event_partitioning%ROWTYPE;
    v_span bigint;
    v_now bigint;
    v_until bigint;
    v_stray bigint;
    v_made integer := 0;
BEGIN
    SELECT * INTO v_plan FROM vibehq_event_partitioning FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    -- Making a partition locks the log (and its default partition) exclusively for a
    -- moment. Waiting for that lock behind a long transaction (an export, a verify)
    -- would make every reader and writer queue behind this one: give up after half a
    -- second instead, and try again the next minute.
    PERFORM set_config('lock_timeout', '500ms', true);
    v_span := v_plan.transactions << 16;
    SELECT (pg_snapshot_xmax(pg_current_snapshot())::text::bigint + xid_offset) << 16
    INTO v_now FROM vibehq_position_clock;
    v_until := (v_now / v_span + 1 + p_ahead) * v_span;
    -- Writes that outran the partitions (no worker for a while) wait in the default
    -- partition; a range that overlaps them cannot be made, so the next one starts
    -- after them and they stay where they are.
    SELECT max(notification_id) INTO v_stray FROM vibehq_events_default;
    IF v_stray >= v_plan.covered_to THEN
        v_plan.covered_to := (v_stray / v_span + 1) * v_span;
    END IF;
    WHILE v_plan.covered_to < v_until LOOP
        PERFORM vibehq_create_event_partition(
            format('vibehq_events_%s', lpad((v_plan.covered_to / v_span)::text, 6, '0')),
            format('FOR VALUES FROM (%s) TO (%s)', v_plan.covered_to,
                   v_plan.covered_to + v_span));
        v_plan.covered_to := v_plan.covered_to + v_span;
        v_made := v_made + 1;
    END LOOP;
    UPDATE vibehq_event_partitioning SET covered_to = v_plan.covered_to;
    RETURN v_made;
END
$$;

-- Turn the plain log into a partitioned one, in the caller's transaction. The stored
-- events stay where they are: the old table becomes the first partition (checked, not
-- copied), its indexes become the partitioned ones.
CREATE FUNCTION vibehq_partition_events(p_transactions bigint, p_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    v_span bigint := p_transactions << 16;
    v_next bigint;
    v_first text;
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = 'vibehq_events'::regclass) = 'p' THEN
        RAISE EXCEPTION 'the event log is already partitioned' USING ERRCODE = 'VH409';
    END IF;
    IF p_transactions < 1 OR p_ahead < 0 THEN
        RAISE EXCEPTION 'a partition needs at least one transaction, and ahead >= 0'
            USING ERRCODE = '22023';
    END IF;
    LOCK TABLE vibehq_events IN ACCESS EXCLUSIVE MODE;

    -- Every position a transaction that exists now can write lies below v_next.
    SELECT ((pg_snapshot_xmax(pg_current_snapshot())::text::bigint + xid_offset) << 16)
    INTO v_next FROM vibehq_position_clock;
    v_next := greatest(v_next, coalesce((SELECT max(notification_id) + 1 FROM vibehq_events), 0));
    v_next := (v_next / v_span + 1) * v_span;
    v_first := format('vibehq_events_%s', lpad((v_next / v_span - 1)::text, 6, '0'));

    INSERT INTO vibehq_stream_heads (stream_id, version)
    SELECT originator_id, max(originator_version) FROM vibehq_events GROUP BY originator_id;

    ALTER TABLE vibehq_events RENAME TO vibehq_events_old;
    EXECUTE format('ALTER TABLE vibehq_events_old RENAME TO %I', v_first);
    EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT vibehq_events_pkey TO %I',
                   v_first, v_first || '_stream');
    EXECUTE format('ALTER INDEX vibehq_events_position RENAME TO %I', v_first || '_position');
    EXECUTE format('ALTER INDEX vibehq_events_event_id RENAME TO %I', v_first || '_event_id');
    EXECUTE format('ALTER INDEX vibehq_events_actor RENAME TO %I', v_first || '_actor');
    EXECUTE format('DROP TRIGGER vibehq_events_append_only ON %I', v_first);

    EXECUTE format('CREATE TABLE vibehq_events (LIKE %I INCLUDING DEFAULTS '
                   'INCLUDING CONSTRAINTS) PARTITION BY RANGE (notification_id)', v_first);
    CREATE UNIQUE INDEX vibehq_events_position ON vibehq_events (notification_id);
    CREATE INDEX vibehq_events_actor ON vibehq_events (actor, recorded_at);
    CREATE TRIGGER vibehq_events_append_only
        BEFORE UPDATE OR DELETE ON vibehq_events
        FOR EACH ROW EXECUTE FUNCTION vibehq_refuse_change();
    CREATE TRIGGER vibehq_events_no_truncate
        BEFORE TRUNCATE ON vibehq_events
        FOR EACH STATEMENT EXECUTE FUNCTION vibehq_refuse_change();
    CREATE TRIGGER vibehq_events_stream_heads
        BEFORE INSERT ON vibehq_events
        FOR EACH ROW EXECUTE FUNCTION vibehq_advance_stream_head();
    EXECUTE format('ALTER TABLE vibehq_events ATTACH PARTITION %I '
                   'FOR VALUES FROM (MINVALUE) TO (%s)', v_first, v_next);
    -- Positions beyond the partitions made ahead still have a place to go.
    PERFORM vibehq_create_event_partition('vibehq_events_default', 'DEFAULT');

    INSERT INTO vibehq_event_partitioning (transactions, covered_to)
    VALUES (p_transactions, v_next);
    RETURN 1 + vibehq_add_event_partitions(p_ahead);
END
$$;
