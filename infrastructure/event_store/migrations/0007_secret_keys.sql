-- The wrapped data keys of secret versions: the one table rows may be deleted from.
-- The secrets' events hold only ciphertext; each version's data key is here, wrapped
-- by a versioned master key kept outside the database. Shredding a secret deletes its
-- rows, and its ciphertext in the log can never be opened again, while the log and its
-- hash chain stay whole. Back this table up on a shorter schedule than the log.

CREATE TABLE vibehq_secret_keys (
    key_id      uuid        PRIMARY KEY,
    secret_id   uuid        NOT NULL,
    kek_version integer     NOT NULL,
    wrapped     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vibehq_secret_keys_secret ON vibehq_secret_keys (secret_id);
CREATE INDEX vibehq_secret_keys_kek ON vibehq_secret_keys (kek_version);
