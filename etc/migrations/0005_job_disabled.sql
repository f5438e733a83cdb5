-- Jobs switched off with `rapportctl disable JOB` (and on again with
-- `rapportctl enable JOB`), without editing the configuration: kept in the
-- database so that every instance sees it at once.  While a job is here,
-- each of its occurrences is recorded as skipped instead of planned, so
-- enabling it again does not catch up on what was missed.
CREATE TABLE rapport.job_disabled (
    job         text PRIMARY KEY,
    disabled_at timestamptz NOT NULL DEFAULT now(),
    disabled_by text,
    reason      text
);
