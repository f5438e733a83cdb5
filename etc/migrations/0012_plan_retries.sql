-- A schedule occurrence whose planning failed (a lock or statement timeout,
-- a CRM view broken for an hour) is tried again, backing off, while it is
-- inside its job's catch_up_window and no later occurrence has run.
-- attempts counts the tries; retry_at is when the next may start (on the
-- run's clock), NULL once it succeeded or for manual runs.
ALTER TABLE rapport.job_runs
    ADD COLUMN attempts int NOT NULL DEFAULT 1,
    ADD COLUMN retry_at timestamptz;
