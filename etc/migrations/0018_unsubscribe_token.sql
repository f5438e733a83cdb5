-- A marketing message's one-click unsubscribe link (email.unsubscribe_url)
-- carried only the message's id: sequential, so anyone could unsubscribe
-- every customer by counting.  Each message now has a random token too,
-- and the link is ?id=N&token=T; the page behind it (or `rapportctl
-- unsubscribe N T`) honours a link only when the two match.  Rows queued
-- before this migration have none and keep the id-only link.  The default
-- is set after the column is added, so existing rows are not rewritten.
ALTER TABLE rapport.outbox ADD COLUMN unsubscribe_token uuid;
ALTER TABLE rapport.outbox ALTER COLUMN unsubscribe_token SET DEFAULT gen_random_uuid();
