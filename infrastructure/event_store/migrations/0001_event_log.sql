-- The event log. See docs/event-store.md for the design; the short version:
--
-- * Columns originator_id, originator_version, topic, state and notification_id are the
--   `eventsourcing` library's stored-event columns, so its Application (table name
--   "<app name>_events") can read aggregates we wrote.
-- * notification_id IS the global position. It is derived from the writing transaction's
--   id: ((xid8 + offset) << 16) | index-within-transaction. Readers only return positions
--   below the snapshot's xmin watermark, i.e. from transactions that can no longer commit,
--   so a follower never skips an event although writers never serialise on a lock.

CREATE TABLE vibehq_events (
    originator_id      uuid        NOT NULL,
    originator_version bigint      NOT NULL CHECK (originator_version >= 1),
    topic              text        NOT NULL,
    state              bytea       NOT NULL,
    notification_id    bigint      NOT NULL,
    event_id           uuid        NOT NULL,
    stream_type        text        NOT NULL,
    event_type         text        NOT NULL,
    schema_version     integer     NOT NULL,
    recorded_at        timestamptz NOT NULL,
    correlation_id     uuid        NOT NULL,
    causation_id       uuid,
    actor              text        NOT NULL,
    traceparent        text,
    tracestate         text,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX vibehq_events_position ON vibehq_events (notification_id);
CREATE UNIQUE INDEX vibehq_events_event_id ON vibehq_events (event_id);

COMMENT ON COLUMN vibehq_events.notification_id IS
    'Global position: ((xid8 + offset) << 16) | index in transaction. Ordered, not dense.';

-- Positions must keep growing even when the database is restored or imported into a
-- cluster whose transaction ids start low again: `offset` is raised so that the next
-- transaction's positions lie above every stored one (vibehq_raise_position_floor).
CREATE TABLE vibehq_position_clock (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    xid_offset bigint NOT NULL DEFAULT 0
);
INSERT INTO vibehq_position_clock DEFAULT VALUES;

CREATE TABLE vibehq_idempotency (
    key            text        PRIMARY KEY,
    request_hash   bytea       NOT NULL,
    stream_id      uuid        NOT NULL,
    first_version  bigint      NOT NULL,
    last_version   bigint      NOT NULL,
    first_position bigint      NOT NULL,
    last_position  bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL
);

-- The first position no running or future transaction can write below.
CREATE FUNCTION vibehq_watermark() RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT ((pg_snapshot_xmin(pg_current_snapshot())::text::bigint + xid_offset) << 16)
    FROM vibehq_position_clock
$$;

-- Called by migrate and import: make sure new positions sort after every stored one.
CREATE FUNCTION vibehq_raise_position_floor() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_max bigint;
    v_next_xid bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
    v_needed bigint;
BEGIN
    SELECT coalesce(max(notification_id), 0) INTO v_max FROM vibehq_events;
    v_needed := (v_max >> 16) + 1 - v_next_xid;
    UPDATE vibehq_position_clock SET xid_offset = v_needed WHERE xid_offset < v_needed;
    RETURN (SELECT xid_offset FROM vibehq_position_clock);
END
$$;

-- One command's append in one round trip: idempotency, optimistic concurrency, insert.
-- Outcomes: 'appended' or 'duplicate' (row returned describes the original append).
-- Errors: SQLSTATE VH409 = stale expected version (DETAIL holds the actual version),
--         VH422 = idempotency key reused with a different request,
--         23505 on vibehq_events_pkey = a concurrent append won the race.
CREATE FUNCTION vibehq_append(
    p_stream_id uuid,
    p_stream_type text,
    p_expected_version bigint,
    p_idempotency_key text,
    p_request_hash bytea,
    p_event_ids uuid[],
    p_event_types text[],
    p_schema_versions integer[],
    p_topics text[],
    p_states bytea[],
    p_correlation_id uuid,
    p_causation_id uuid,
    p_actor text,
    p_traceparent text,
    p_tracestate text,
    OUT outcome text,
    OUT first_version bigint,
    OUT last_version bigint,
    OUT first_position bigint,
    OUT last_position bigint,
    OUT recorded_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_event_ids);
    v_head bigint;
    v_in_tx integer;
    v_base bigint;
    v_previous vibehq_idempotency%ROWTYPE;
BEGIN
    IF v_count IS NULL OR v_count = 0 THEN
        RAISE EXCEPTION 'an append needs at least one event' USING ERRCODE = '22023';
    END IF;

    recorded_at := clock_timestamp();

    IF p_idempotency_key IS NOT NULL THEN
        -- Blocks on a concurrent append with the same key until it commits or aborts.
        INSERT INTO vibehq_idempotency AS i (key, request_hash, stream_id, first_version,
                                             last_version, first_position, last_position,
                                             recorded_at)
        VALUES (p_idempotency_key, p_request_hash, p_stream_id, 0, 0, 0, 0, recorded_at)
        ON CONFLICT (key) DO NOTHING;
        IF NOT FOUND THEN
            SELECT * INTO v_previous FROM vibehq_idempotency WHERE key = p_idempotency_key;
            IF v_previous.request_hash <> p_request_hash THEN
                RAISE EXCEPTION 'idempotency key reused for a different request'
                    USING ERRCODE = 'VH422', DETAIL = p_idempotency_key;
            END IF;
            outcome := 'duplicate';
            first_version := v_previous.first_version;
            last_version := v_previous.last_version;
            first_position := v_previous.first_position;
            last_position := v_previous.last_position;
            recorded_at := v_previous.recorded_at;
            RETURN;
        END IF;
    END IF;

    SELECT coalesce(max(e.originator_version), 0) INTO v_head
    FROM vibehq_events e WHERE e.originator_id = p_stream_id;
    IF v_head <> p_expected_version THEN
        RAISE EXCEPTION 'stream % is at version %, expected %',
            p_stream_id, v_head, p_expected_version
            USING ERRCODE = 'VH409', DETAIL = v_head::text;
    END IF;

    -- Index of the first event within this transaction, so several appends in one
    -- transaction get distinct positions.
    v_in_tx := coalesce(nullif(current_setting('vibehq.events_in_tx', true), ''), '0')::integer;
    IF v_in_tx + v_count > 65535 THEN
        RAISE EXCEPTION 'more than 65535 events in one transaction' USING ERRCODE = '54000';
    END IF;
    PERFORM set_config('vibehq.events_in_tx', (v_in_tx + v_count)::text, true);

    SELECT ((pg_current_xact_id()::text::bigint + c.xid_offset) << 16) + v_in_tx
    INTO v_base FROM vibehq_position_clock c;

    INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
                               notification_id, event_id, stream_type, event_type,
                               schema_version, recorded_at, correlation_id, causation_id,
                               actor, traceparent, tracestate)
    SELECT p_stream_id, p_expected_version + n, p_topics[n], p_states[n],
           v_base + n - 1, p_event_ids[n], p_stream_type, p_event_types[n],
           p_schema_versions[n], recorded_at, p_correlation_id, p_causation_id,
           p_actor, p_traceparent, p_tracestate
    FROM generate_series(1, v_count) AS n;

    outcome := 'appended';
    first_version := p_expected_version + 1;
    last_version := p_expected_version + v_count;
    first_position := v_base;
    last_position := v_base + v_count - 1;

    IF p_idempotency_key IS NOT NULL THEN
        UPDATE vibehq_idempotency AS i
        SET first_version = vibehq_append.first_version,
            last_version = vibehq_append.last_version,
            first_position = vibehq_append.first_position,
            last_position = vibehq_append.last_position
        WHERE i.key = p_idempotency_key;
    END IF;
END
$$;

-- Events are immutable: refuse UPDATE, DELETE and TRUNCATE at the database itself.
CREATE FUNCTION vibehq_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vibehq_events is append-only: % refused', TG_OP
        USING ERRCODE = 'VH403';
END
$$;
CREATE TRIGGER vibehq_events_append_only
    BEFORE UPDATE OR DELETE ON vibehq_events
    FOR EACH ROW EXECUTE FUNCTION vibehq_refuse_change();
CREATE TRIGGER vibehq_events_no_truncate
    BEFORE TRUNCATE ON vibehq_events
    FOR EACH STATEMENT EXECUTE FUNCTION vibehq_refuse_change();
