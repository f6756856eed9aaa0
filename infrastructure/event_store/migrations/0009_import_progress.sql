-- `vibehq events import` commits as it goes, one transaction per checkpoint (a number
-- of lines), and keeps here how far it got: running it again on the same file resumes
-- after the last checkpoint. While the row is here the log is incomplete, and `serve`
-- and `worker` refuse to start on it. The import's last transaction deletes the row.
CREATE TABLE vibehq_import (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    source     text        NOT NULL,  -- the file as the import was given it
    identity   bytea       NOT NULL,  -- SHA-256 of its size and first MiB: the same file
    lines      bigint      NOT NULL,  -- lines of the file committed so far
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
