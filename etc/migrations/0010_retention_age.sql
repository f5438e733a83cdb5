-- Retention counts a finished message's age from when it was planned
-- (created_at), as "older than retention_days" reads, not from its last
-- change: a message created three months ago is three months old whatever
-- touched it since.  least() also covers rows whose timestamps were set by
-- hand (an import, a restored backup): the oldest of them counts.  For the
-- daemon's own rows least() is created_at.  The index follows the
-- expression, so pruning still reads only what it deletes.
DROP INDEX IF EXISTS rapport.outbox_finished;
CREATE INDEX outbox_finished ON rapport.outbox ((least(created_at, updated_at, sent_at)))
    WHERE state IN ('sent', 'failed', 'cancelled');
