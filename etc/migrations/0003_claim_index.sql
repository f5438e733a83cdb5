-- The dispatcher claims per channel, oldest due first: an index that
-- matches (channel, next_attempt_at, id) over queued rows turns the claim
-- into a short index range scan whatever the queue holds of other channels.
CREATE INDEX outbox_due_by_channel ON rapport.outbox (channel, next_attempt_at, id) WHERE state = 'queued';
