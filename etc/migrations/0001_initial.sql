-- rapport's own state.  rapport only ever writes to this schema; the CRM is
-- read through schema crm.
CREATE SCHEMA IF NOT EXISTS rapport;

-- One row per schedule occurrence.  The unique key is how several daemons
-- agree that each occurrence is planned exactly once: whoever inserts wins.
CREATE TABLE rapport.job_runs (
    id            bigserial PRIMARY KEY,
    job           text        NOT NULL,
    scheduled_for timestamptz NOT NULL,
    status        text        NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'ok', 'failed', 'skipped')),
    instance      text,
    started_at    timestamptz,
    finished_at   timestamptz,
    planned       bigint,
    skipped       bigint,
    cancelled     bigint,
    skip_reasons  jsonb,
    dry_run       boolean     NOT NULL DEFAULT false,
    manual        boolean     NOT NULL DEFAULT false, -- `rapportctl run`: not a schedule occurrence
    error         text,
    UNIQUE (job, scheduled_for)
);
CREATE INDEX job_runs_recent ON rapport.job_runs (job, scheduled_for DESC);

-- When each job was first enabled: the default effective_from, so that
-- switching a job on never plans years of history.
CREATE TABLE rapport.job_state (
    job           text PRIMARY KEY,
    first_enabled date NOT NULL
);

-- The outbox: one row per message.  dedupe_key makes planning idempotent;
-- lease_token fences a worker that lost its lease.
CREATE TABLE rapport.outbox (
    id              bigserial PRIMARY KEY,
    job             text        NOT NULL,
    run_id          bigint      REFERENCES rapport.job_runs (id) ON DELETE SET NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'sms')),
    audience        text        NOT NULL CHECK (audience IN ('customer', 'rep', 'manager')),
    recipient       text        NOT NULL,
    recipient_name  text,
    customer_id     bigint,
    rep_id          bigint,
    template        text        NOT NULL,
    locale          text        NOT NULL,
    time_zone       text        NOT NULL,
    context         jsonb       NOT NULL,
    marketing       boolean     NOT NULL DEFAULT false,
    dedupe_key      text        NOT NULL UNIQUE,
    state           text        NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    not_before      timestamptz NOT NULL,
    expires_at      timestamptz,
    next_attempt_at timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    lease_token     uuid,
    lease_until     timestamptz,
    leased_by       text,
    provider_id     text,
    rendered        text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due ON rapport.outbox (next_attempt_at) WHERE state = 'queued';
CREATE INDEX outbox_leases ON rapport.outbox (lease_until) WHERE state = 'sending';
CREATE INDEX outbox_finished ON rapport.outbox (updated_at) WHERE state IN ('sent', 'failed', 'cancelled');
CREATE INDEX outbox_job_state ON rapport.outbox (job, state);

-- What happened to each message, for `rapportctl show`.
CREATE TABLE rapport.outbox_events (
    id         bigserial PRIMARY KEY,
    outbox_id  bigint      NOT NULL REFERENCES rapport.outbox (id) ON DELETE CASCADE,
    at         timestamptz NOT NULL DEFAULT now(),
    event      text        NOT NULL,
    detail     text
);
CREATE INDEX outbox_events_msg ON rapport.outbox_events (outbox_id, at);

-- Opt-outs and hard bounces: never contacted again.  Addresses are stored
-- lower-cased (e-mail) or as E.164 (SMS).
CREATE TABLE rapport.suppression (
    address    text PRIMARY KEY,
    channel    text        NOT NULL CHECK (channel IN ('email', 'sms')),
    reason     text        NOT NULL DEFAULT 'manual',
    created_at timestamptz NOT NULL DEFAULT now()
);

-- CRM rows a job had to pass over (bad address, unknown time zone, …),
-- counted in `rapportctl status`.  One row per job, customer and reason a
-- day, so a permanently bad row does not flood the table.
CREATE TABLE rapport.skipped (
    job         text        NOT NULL,
    customer_id bigint      NOT NULL,
    reason      text        NOT NULL,
    day         date        NOT NULL,
    run_id      bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job, customer_id, reason, day)
);

-- Wake dispatchers when work is enqueued (LISTEN rapport_outbox): no polling.
CREATE FUNCTION rapport.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rapport_outbox', TG_OP);
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON rapport.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION rapport.notify_outbox();

-- Plausible e-mail address: one @, no whitespace, controls or specials.
-- The sender validates again; this keeps bad CRM rows out of the queue.
CREATE FUNCTION rapport.email_ok(addr text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT addr IS NOT NULL AND length(addr) <= 254
       AND addr ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$'
$$;

CREATE FUNCTION rapport.phone_ok(num text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT num IS NOT NULL AND num ~ '^\+[1-9][0-9]{7,14}$'
$$;
