-- The instant a job was first enabled, beside the day (first_enabled, the
-- earliest date anywhere then).  A job whose effective_from is left to its
-- default plans nothing due before that instant's date in each
-- recipient's own zone: switched on at 09:00 UTC on the 23rd, it sends a
-- customer in London nothing due on the 22nd, and still greets one in
-- Honolulu whose birthday it still is.  Jobs enabled before this column
-- existed keep the day alone (NULL here).
ALTER TABLE rapport.job_state ADD COLUMN first_enabled_at timestamptz;
