-- File contents, aggregate snapshots and API tokens.
--
-- * vibehq_blobs: content-addressed file contents (sha256 of the raw bytes), written in
--   the same transaction as the events that refer to them; never updated or deleted.
-- * vibehq_snapshots: derived aggregate state at a version, so loading a workspace costs
--   the same after 10 or 10,000 patches. Disposable: deleting rows only costs speed.
-- * vibehq_tokens: API tokens, stored as SHA-256 of the secret; revoked, never deleted.

CREATE TABLE vibehq_blobs (
    sha256     bytea       PRIMARY KEY CHECK (length(sha256) = 32),
    size       bigint      NOT NULL CHECK (size >= 0),
    encoding   text        NOT NULL CHECK (encoding IN ('raw', 'zlib')),
    data       bytea       NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER vibehq_blobs_append_only
    BEFORE UPDATE OR DELETE ON vibehq_blobs
    FOR EACH ROW EXECUTE FUNCTION vibehq_refuse_change();

CREATE TABLE vibehq_snapshots (
    stream_id  uuid        NOT NULL,
    version    bigint      NOT NULL CHECK (version >= 1),
    topic      text        NOT NULL,
    state      bytea       NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, version)
);

CREATE TABLE vibehq_tokens (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL,
    actor        text        NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('factory', 'user', 'service')),
    scopes       text[]      NOT NULL,
    secret_hash  bytea       NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
