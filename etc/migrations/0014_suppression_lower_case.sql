-- Suppressed addresses are matched lower-cased: planning and the check
-- before sending compare the suppression list with lower(recipient), and
-- rapportctl suppress and hard bounces store addresses so.  A row written
-- any other way (an administrator's INSERT, an imported unsubscribe list)
-- as "Zhang.Wei@Example.CN" would match nothing, and a customer who opted
-- out would be written to again.  So every address written is lower-cased
-- here, whoever writes it.  lower() follows the collation it is given:
-- address is COLLATE "C" (0013), which would lower ASCII only, so it is
-- told the database's default, as the comparisons elsewhere use.
--
-- Rows already stored are lower-cased too; where two become one, the
-- oldest is kept (its reason is the original opt-out).
DELETE FROM rapport.suppression s
USING rapport.suppression t
WHERE lower(s.address COLLATE "default") = lower(t.address COLLATE "default")
  AND s.address <> t.address
  AND (t.created_at, t.address) < (s.created_at, s.address);
UPDATE rapport.suppression SET address = lower(address COLLATE "default")
WHERE address <> lower(address COLLATE "default");

CREATE FUNCTION rapport.suppression_lower_address() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.address := lower(NEW.address COLLATE "default");
    RETURN NEW;
END
$$;

CREATE TRIGGER suppression_lower_address
    BEFORE INSERT OR UPDATE OF address ON rapport.suppression
    FOR EACH ROW EXECUTE FUNCTION rapport.suppression_lower_address();
