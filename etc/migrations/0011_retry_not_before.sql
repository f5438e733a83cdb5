-- A queued message is due at next_attempt_at, which every write keeps at or
-- after not_before.  `rapportctl retry` of a message cancelled before its
-- time used to set it to now(), ahead of not_before: the dispatcher then
-- saw a message due that no claim would take (and `rapportd --once` never
-- finished).  Put such rows right.
UPDATE rapport.outbox SET next_attempt_at = not_before
WHERE state = 'queued' AND next_attempt_at < not_before;
