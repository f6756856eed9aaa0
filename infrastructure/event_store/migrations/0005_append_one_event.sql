-- vibehq_append, unchanged in meaning, with a fast path for the one-event command.
-- See docs/benchmarks.md for what it measured.

CREATE OR REPLACE FUNCTION vibehq_append(
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
    p_token_id uuid,
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
    v_prev bytea;
    v_in_tx integer;
    v_base bigint;
    v_previous vibehq_idempotency%ROWTYPE;
    v_prevs bytea[] := '{}';
    v_hashes bytea[] := '{}';
BEGIN
    IF v_count IS NULL OR v_count = 0 THEN
        RAISE EXCEPTION 'an append needs at least one event' USING ERRCODE = '22023';
    END IF;

    recorded_at := date_trunc('microseconds', clock_timestamp());

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

    SELECT e.originator_version, e.hash INTO v_head, v_prev
    FROM vibehq_events e WHERE e.originator_id = p_stream_id
    ORDER BY e.originator_version DESC LIMIT 1;
    v_head := coalesce(v_head, 0);
    v_prev := coalesce(v_prev, decode(repeat('00', 32), 'hex'));
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

    FOR n IN 1..v_count LOOP
        v_prevs := v_prevs || v_prev;
        v_prev := sha256(v_prev || vibehq_event_digest(
            p_event_ids[n], p_stream_id, p_expected_version + n, p_stream_type,
            p_event_types[n], p_schema_versions[n], recorded_at, p_correlation_id,
            p_causation_id, p_actor, p_traceparent, p_tracestate, p_topics[n], p_states[n],
            p_token_id));
        v_hashes := v_hashes || v_prev;
    END LOOP;

    IF v_count = 1 THEN
        -- The common command: one event. A plain VALUES insert costs the server about
        -- half of the set-returning form below.
        INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
                                   notification_id, event_id, stream_type, event_type,
                                   schema_version, recorded_at, correlation_id, causation_id,
                                   actor, traceparent, tracestate, token_id, prev_hash, hash)
        VALUES (p_stream_id, p_expected_version + 1, p_topics[1], p_states[1],
                v_base, p_event_ids[1], p_stream_type, p_event_types[1],
                p_schema_versions[1], recorded_at, p_correlation_id, p_causation_id,
                p_actor, p_traceparent, p_tracestate, p_token_id, v_prevs[1], v_hashes[1]);
    ELSE
        INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
                                   notification_id, event_id, stream_type, event_type,
                                   schema_version, recorded_at, correlation_id, causation_id,
                                   actor, traceparent, tracestate, token_id, prev_hash, hash)
        SELECT p_stream_id, p_expected_version + n, p_topics[n], p_states[n],
               v_base + n - 1, p_event_ids[n], p_stream_type, p_event_types[n],
               p_schema_versions[n], recorded_at, p_correlation_id, p_causation_id,
               p_actor, p_traceparent, p_tracestate, p_token_id, v_prevs[n], v_hashes[n]
        FROM generate_series(1, v_count) AS n;
    END IF;

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
