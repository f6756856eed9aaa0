-- Followers of the global log: projections and the outbox relay.
--
-- * vibehq_checkpoints: how far each follower got. A projection updates its row in the
--   same transaction as its read-model rows, so a crash can neither lose nor repeat an
--   event's effect. The relay advances its row only after JetStream acknowledged.
--   `owner` names the process that holds the follower's lease (an advisory lock).
-- * Schema vibehq_read: the live read models. Each projection creates its own tables
--   there; a rebuild fills a private schema and moves the finished tables in, in one
--   transaction, so readers never see a half-built model.

CREATE TABLE vibehq_checkpoints (
    name          text        PRIMARY KEY,
    position      bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    model_version integer     NOT NULL DEFAULT 1,
    events_seen   bigint      NOT NULL DEFAULT 0,
    last_event_at timestamptz,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    owner         text,
    owner_since   timestamptz
);

CREATE SCHEMA vibehq_read;
