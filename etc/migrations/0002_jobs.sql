-- Schema for the relationship jobs (jobs/*.c).

-- The receivables ledger: which invoice was chased at which ladder level by
-- which channel.  A customer's invoices that reach a level together go out
-- as ONE message, so the outbox's dedupe_key cannot be per invoice; this
-- table is the per-invoice "once" instead.  The planner inserts here and
-- into rapport.outbox in the same statement, and builds each message only
-- from the ledger rows that statement actually inserted (RETURNING), so an
-- invoice is never chased twice at a level and never dropped.  Kept for
-- good: an invoice chased at a level stays chased even after the outbox
-- row is purged by retention.
CREATE TABLE rapport.dunning_items (
    invoice_number text        NOT NULL,
    level_days     integer     NOT NULL,
    channel        text        NOT NULL CHECK (channel IN ('email', 'sms')),
    audience       text        NOT NULL CHECK (audience IN ('customer', 'rep', 'manager')),
    invoice_id     bigint      NOT NULL,
    customer_id    bigint      NOT NULL,
    run_id         bigint,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_number, level_days, channel)
);

