-- Tamper evidence. See docs/audit.md.
--
-- * Every event carries `hash` = sha256(prev_hash || digest), where digest is sha256 of
--   the event's canonical bytes (vibehq_event_digest) and prev_hash is the hash of the
--   stream's previous event (32 zero bytes for version 1). vibehq_append computes it in
--   the append's own transaction; writers to different streams never wait for each
--   other, exactly as before.
-- * The global order is chained after the fact by the `audit` follower, which reads the
--   log below the watermark (where it no longer changes): vibehq_log_chain holds one row
--   per event, log_hash = sha256(previous log_hash || position || event hash), and
--   vibehq_log_checkpoints holds Ed25519 signatures over the chain head every so often.
--   The signing key never enters the database.

-- One field of the canonical form: 4-byte big-endian length (-1 for NULL), then bytes.
CREATE FUNCTION vibehq_field(value bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN value IS NULL THEN int4send(-1) ELSE int4send(length(value)) || value END
$$;

CREATE FUNCTION vibehq_event_digest(
    p_event_id uuid, p_stream_id uuid, p_version bigint, p_stream_type text,
    p_event_type text, p_schema_version integer, p_recorded_at timestamptz,
    p_correlation_id uuid, p_causation_id uuid, p_actor text, p_traceparent text,
    p_tracestate text, p_topic text, p_state bytea, p_token_id uuid
) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sha256(
        vibehq_field(uuid_send(p_event_id)) ||
        vibehq_field(uuid_send(p_stream_id)) ||
        vibehq_field(int8send(p_version)) ||
        vibehq_field(convert_to(p_stream_type, 'UTF8')) ||
        vibehq_field(convert_to(p_event_type, 'UTF8')) ||
        vibehq_field(int4send(p_schema_version)) ||
        vibehq_field(int8send((extract(epoch FROM p_recorded_at) * 1000000)::bigint)) ||
        vibehq_field(uuid_send(p_correlation_id)) ||
        vibehq_field(uuid_send(p_causation_id)) ||
        vibehq_field(convert_to(p_actor, 'UTF8')) ||
        vibehq_field(convert_to(p_traceparent, 'UTF8')) ||
        vibehq_field(convert_to(p_tracestate, 'UTF8')) ||
        vibehq_field(convert_to(p_topic, 'UTF8')) ||
        vibehq_field(p_state) ||
        vibehq_field(uuid_send(p_token_id))
    )
$$;

-- Which API token the actor used (NULL: no token, e.g. auth off or an internal command).
ALTER TABLE vibehq_events
    ADD COLUMN token_id uuid, ADD COLUMN prev_hash bytea, ADD COLUMN hash bytea;
CREATE INDEX vibehq_events_actor ON vibehq_events (actor, recorded_at);

-- Chain what is already stored (a one-off: the append-only trigger steps aside for it).
ALTER TABLE vibehq_events DISABLE TRIGGER vibehq_events_append_only;
DO $$
DECLARE
    r vibehq_events%ROWTYPE;
    v_stream uuid;
    v_prev bytea;
BEGIN
    FOR r IN SELECT * FROM vibehq_events ORDER BY originator_id, originator_version LOOP
        IF v_stream IS DISTINCT FROM r.originator_id THEN
            v_stream := r.originator_id;
            v_prev := decode(repeat('00', 32), 'hex');
        END IF;
        UPDATE vibehq_events
        SET prev_hash = v_prev,
            hash = sha256(v_prev || vibehq_event_digest(
                r.event_id, r.originator_id, r.originator_version, r.stream_type,
                r.event_type, r.schema_version, r.recorded_at, r.correlation_id,
                r.causation_id, r.actor, r.traceparent, r.tracestate, r.topic, r.state,
                r.token_id))
        WHERE originator_id = r.originator_id AND originator_version = r.originator_version
        RETURNING hash INTO v_prev;
    END LOOP;
END
$$;
ALTER TABLE vibehq_events ENABLE TRIGGER vibehq_events_append_only;
ALTER TABLE vibehq_events ALTER COLUMN prev_hash SET NOT NULL, ALTER COLUMN hash SET NOT NULL;

DROP FUNCTION vibehq_append(uuid, text, bigint, text, bytea, uuid[], text[], integer[],
                            text[], bytea[], uuid, uuid, text, text, text);

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

    INSERT INTO vibehq_events (originator_id, originator_version, topic, state,
                               notification_id, event_id, stream_type, event_type,
                               schema_version, recorded_at, correlation_id, causation_id,
                               actor, traceparent, tracestate, token_id, prev_hash, hash)
    SELECT p_stream_id, p_expected_version + n, p_topics[n], p_states[n],
           v_base + n - 1, p_event_ids[n], p_stream_type, p_event_types[n],
           p_schema_versions[n], recorded_at, p_correlation_id, p_causation_id,
           p_actor, p_traceparent, p_tracestate, p_token_id, v_prevs[n], v_hashes[n]
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

-- The global chain, one row per event in log order, written by the `audit` follower.
CREATE TABLE vibehq_log_chain (
    position   bigint PRIMARY KEY,
    event_hash bytea  NOT NULL,
    log_hash   bytea  NOT NULL
);

-- Signed chain heads. The signature covers (to_position, events, log_hash); the key
-- that made it is named by its public half.
CREATE TABLE vibehq_log_checkpoints (
    id          bigserial   PRIMARY KEY,
    to_position bigint      NOT NULL UNIQUE,
    events      bigint      NOT NULL,
    log_hash    bytea       NOT NULL,
    public_key  bytea       NOT NULL,
    signature   bytea       NOT NULL,
    signed_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER vibehq_log_chain_append_only
    BEFORE UPDATE OR DELETE ON vibehq_log_chain
    FOR EACH ROW EXECUTE FUNCTION vibehq_refuse_change();
CREATE TRIGGER vibehq_log_checkpoints_append_only
    BEFORE UPDATE OR DELETE ON vibehq_log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION vibehq_refuse_change();
