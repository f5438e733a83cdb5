-- Each run counts the messages it planned that were cancelled later
-- (job_runs.cancelled), whoever cancels them: the dispatcher's checks at
-- send time, an empty digest, `rapportctl cancel`, or an administrator's
-- own UPDATE.  The WHEN clause is evaluated without calling the function,
-- so the dispatcher's other state changes pay almost nothing for it.
CREATE FUNCTION rapport.count_cancelled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rapport.job_runs SET cancelled = coalesce(cancelled, 0) + 1 WHERE id = NEW.run_id;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_count_cancelled AFTER UPDATE OF state ON rapport.outbox
    FOR EACH ROW WHEN (NEW.state = 'cancelled' AND OLD.state <> 'cancelled' AND NEW.run_id IS NOT NULL)
    EXECUTE FUNCTION rapport.count_cancelled();
