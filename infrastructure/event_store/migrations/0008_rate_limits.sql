-- Rate limits and quotas, decided in PostgreSQL in one round trip, exact across every
-- process and host that shares the database. State is UNLOGGED: it is not a record
-- (a crash forgets it, and limits start afresh), and it costs no WAL.
--
-- GCRA (generic cell rate): a key's theoretical arrival time `tat`; a request of cost
-- n is admitted when greatest(tat, now) + n*T - now <= burst*T, T being the emission
-- interval (seconds per unit). Quotas: units used per calendar window (aligned to the
-- epoch, so 86400 s is the UTC day); admitted when used + n <= limit.
-- Times come from the database clock only (clock_timestamp()).

CREATE UNLOGGED TABLE vibehq_rate_gcra (
    key text        PRIMARY KEY,
    tat timestamptz NOT NULL
);

CREATE UNLOGGED TABLE vibehq_rate_quota (
    key          text             NOT NULL,
    window_start timestamptz      NOT NULL,
    used         double precision NOT NULL,
    PRIMARY KEY (key, window_start)
);

-- Several limits at once, all or nothing: if any denies, none is consumed. Rows are
-- created first (a brand-new key's race is settled by the primary key) and locked in
-- key order (no deadlock between two calls sharing keys).
-- Returns whether it was allowed, the first limit that denied (1-based, or NULL), the
-- seconds to wait before it would be allowed, and per limit: what remains after this
-- request and the seconds until the limit is whole again.
CREATE FUNCTION vibehq_rate_check(
    p_keys text[], p_kinds text[], p_periods float8[], p_limits float8[], p_costs float8[]
) RETURNS TABLE (
    allowed boolean, denied integer, retry_after float8, remaining float8[], reset_after float8[]
) LANGUAGE plpgsql AS $$
DECLARE
    now_ts timestamptz := clock_timestamp();
    n integer := coalesce(array_length(p_keys, 1), 0);
    i integer;
    windows timestamptz[] := '{}';
    new_tats timestamptz[] := '{}';
    tat_v timestamptz;
    used_v float8;
    ahead float8;
    ok boolean := true;
    first_denied integer := NULL;
    wait float8 := 0;
    rem float8[] := '{}';
    rst float8[] := '{}';
BEGIN
    FOR i IN 1..n LOOP
        windows := windows || CASE WHEN p_kinds[i] = 'quota' THEN
            to_timestamp(floor(extract(epoch FROM now_ts) / p_periods[i]) * p_periods[i])
            ELSE NULL END;
    END LOOP;
    INSERT INTO vibehq_rate_gcra (key, tat)
        SELECT k, '-infinity' FROM unnest(p_keys, p_kinds) AS u(k, kind)
        WHERE kind = 'gcra' ORDER BY k
        ON CONFLICT DO NOTHING;
    INSERT INTO vibehq_rate_quota (key, window_start, used)
        SELECT k, w, 0 FROM unnest(p_keys, p_kinds, windows) AS u(k, kind, w)
        WHERE kind = 'quota' ORDER BY k
        ON CONFLICT DO NOTHING;
    PERFORM 1 FROM vibehq_rate_gcra WHERE key = ANY (p_keys) ORDER BY key FOR UPDATE;
    PERFORM 1 FROM vibehq_rate_quota q
        JOIN unnest(p_keys, windows) AS u(k, w) ON q.key = u.k AND q.window_start = u.w
        ORDER BY q.key FOR UPDATE OF q;
    FOR i IN 1..n LOOP
        IF p_kinds[i] = 'gcra' THEN
            SELECT tat INTO tat_v FROM vibehq_rate_gcra WHERE key = p_keys[i];
            tat_v := greatest(tat_v, now_ts) + make_interval(secs => p_costs[i] * p_periods[i]);
            ahead := extract(epoch FROM tat_v - now_ts);
            new_tats := new_tats || tat_v;
            rem := rem || floor((p_limits[i] * p_periods[i] - ahead) / p_periods[i]);
            rst := rst || ahead;
            IF ahead > p_limits[i] * p_periods[i] + 1e-9 THEN
                ok := false;
                first_denied := coalesce(first_denied, i);
                wait := greatest(wait, ahead - p_limits[i] * p_periods[i]);
            END IF;
        ELSE
            SELECT used INTO used_v FROM vibehq_rate_quota
                WHERE key = p_keys[i] AND window_start = windows[i];
            new_tats := new_tats || NULL::timestamptz;
            rem := rem || (p_limits[i] - used_v - p_costs[i]);
            rst := rst || extract(epoch FROM windows[i] - now_ts) + p_periods[i];
            IF used_v + p_costs[i] > p_limits[i] THEN
                ok := false;
                first_denied := coalesce(first_denied, i);
                wait := greatest(wait, extract(epoch FROM windows[i] - now_ts) + p_periods[i]);
            END IF;
        END IF;
    END LOOP;
    IF ok THEN
        FOR i IN 1..n LOOP
            IF p_kinds[i] = 'gcra' THEN
                UPDATE vibehq_rate_gcra SET tat = new_tats[i] WHERE key = p_keys[i];
            ELSE
                UPDATE vibehq_rate_quota SET used = used + p_costs[i]
                    WHERE key = p_keys[i] AND window_start = windows[i];
            END IF;
        END LOOP;
    END IF;
    RETURN QUERY SELECT ok, first_denied, wait, rem, rst;
END
$$;
