-- Keys that only machines read compare byte by byte (COLLATE "C").
-- A unique index on text compares keys with the database's collation
-- (strcoll() or ICU), which costs more than comparing bytes and buys
-- nothing for keys like "dormant:4711:2026-10-30".  Planning inserts one
-- outbox row per message, and ON CONFLICT searches dedupe_key's index
-- before inserting into it.  Measured here, 18,626 such keys inserted with
-- ON CONFLICT: 96-102 ms with "C", 109-124 ms with C.UTF-8, 141 ms with
-- ICU's en-US; a small share of a plan (about 2 s for that many dormant
-- alerts at 1M customers), but paid on every planned row and claim, and
-- the same holds for receivables' ledger and the suppression list.
--
-- Nothing changes in what the keys mean: a deterministic collation calls
-- two strings equal only when their bytes are, so uniqueness and lookups
-- are the same; only the order of keys inside the indexes changes, and no
-- statement orders by them.  The CRM's text compared with these columns
-- (an invoice number, a lowered address) takes "C" for the comparison, so
-- the indexes still serve it.  Changing a column's collation rebuilds its
-- index but does not rewrite the table.
ALTER TABLE rapport.outbox ALTER COLUMN dedupe_key TYPE text COLLATE "C";
ALTER TABLE rapport.dunning_items ALTER COLUMN invoice_number TYPE text COLLATE "C";
ALTER TABLE rapport.suppression ALTER COLUMN address TYPE text COLLATE "C";
ALTER TABLE rapport.skipped
    ALTER COLUMN job TYPE text COLLATE "C",
    ALTER COLUMN reason TYPE text COLLATE "C";
