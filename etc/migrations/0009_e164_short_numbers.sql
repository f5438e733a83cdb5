-- E.164 numbers are a country code and a subscriber number of up to 15
-- digits in all; the shortest in service have 7 (Niue, Tokelau, Saint
-- Helena: a 3-digit country code and 4 digits).  The first check asked for
-- 8, so those customers could never get an SMS.  Same rule as the
-- daemon's send-time check (sms_number_valid).
CREATE OR REPLACE FUNCTION rapport.phone_ok(num text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT num IS NOT NULL AND num ~ '^\+[1-9][0-9]{6,14}$'
$$;
