-- What each outbox write pays for, cut to what the queue uses.
-- Every message is inserted once and updated at least twice (claimed, then
-- sent); none of those updates can be HOT, so each writes an entry into
-- every index of the outbox.  Two indexes served no statement on that path:
--   outbox_due       (next_attempt_at) over queued rows: the dispatcher
--                    claims per channel through outbox_due_by_channel, and
--                    "when is the next one due" is one probe of that index
--                    per channel;
--   outbox_job_state (job, state): only `rapportctl disable` counted with it.
-- Dropping them takes about a tenth off planning 20,000 dunning messages
-- and off each claim and record.
DROP INDEX IF EXISTS rapport.outbox_due;
DROP INDEX IF EXISTS rapport.outbox_job_state;

-- outbox.run_id names the run that planned the message.  As a foreign key
-- it cost a lookup of job_runs per planned message (~6 µs: a tenth of
-- planning 20,000 messages), and pruning a run had to search the whole
-- outbox (no index on run_id) to clear it.  Runs are pruned after
-- outbox.retention_days, as finished messages are, keeping each job's
-- latest; a queued message may now name a run no longer kept, which
-- nothing reads as more than a label (the cancelled count of a pruned run
-- simply has no row to update).
ALTER TABLE rapport.outbox DROP CONSTRAINT IF EXISTS outbox_run_id_fkey;
