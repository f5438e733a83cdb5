-- rapport.email_ok() is the planners' copy of the sender's check,
-- email_address_valid() in daemon/mime.c, and must agree with it on every
-- address: one it accepts and the sender refuses is planned and then ends
-- "failed | invalid e-mail address" instead of being skipped at planning
-- with its reason.  The first version let through a local part with a
-- leading, trailing or doubled dot (".a@", "a.@", "a..b@"), a local part
-- of more than 64 octets and a domain label of more than 63; and it
-- refused a domain of one label ("user@localhost"), which the sender
-- accepts (and delivers).
--
-- The sender's rules, all of them here:
--   * at most 254 octets in all, exactly one "@";
--   * local part: 1 to 64 octets, a dot-atom of printable ASCII without
--     specials: atext (letters, digits, !#$%&'*+-/=?^_`{|}~) and dots,
--     never first, last or two in a row; no quotes, spaces or controls;
--   * domain: LDH labels of 1 to 63 octets, separated by single dots, not
--     beginning or ending with "-"; a single label ("localhost") is
--     allowed, a trailing dot (an empty label) is not; no IP literals;
--   * ASCII only: an IDN must be written in its A-label (xn--) form;
--   * either case anywhere.
-- The pattern allows only ASCII, so octets and characters are the same
-- thing wherever it matches, whatever the database's encoding (SQL_ASCII
-- included).
--
-- Speed: this runs on every candidate row at planning, and costs what the
-- first version did (1M addresses: ~1.5 s either way).  One regex checks
-- the shape; an address of up to 65 octets can have neither a local part
-- of 65 nor a label of 64, so its lengths cost one comparison.  Only a
-- longer one pays for a second regex: 65 octets before the "@", or 64
-- octets without a dot or "@" that end at a dot or at the end (in a label,
-- then: such a run ending at a dot in the local part makes the local part
-- 65 or more).  Bounded repeats ([...]{0,61}) in the main pattern instead
-- made it ~4 times slower.  Still one SQL expression, IMMUTABLE: the
-- planners' queries inline it.
CREATE OR REPLACE FUNCTION rapport.email_ok(addr text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT addr IS NOT NULL
       AND addr ~ '^[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&''*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$'
       AND (octet_length(addr) <= 65
            OR (octet_length(addr) <= 254 AND addr !~ '^[^@]{65}|[^.@]{64}(?:\.|$)'))
$$;
