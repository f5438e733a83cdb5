-- A schedule occurrence is claimed by inserting (job, scheduled_for); a
-- manual run (`rapportctl run`) records itself at the instant it ran.  With
-- one unique key over both, a manual run in the same second as an
-- occurrence took that occurrence's claim (the scheduled run was silently
-- lost), and a second manual run in one second planned nothing.  Only
-- occurrences are unique; manual runs are a log.
ALTER TABLE rapport.job_runs DROP CONSTRAINT IF EXISTS job_runs_job_scheduled_for_key;
CREATE UNIQUE INDEX job_runs_occurrence ON rapport.job_runs (job, scheduled_for) WHERE NOT manual;
