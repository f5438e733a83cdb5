-- The dunning ledger knows a level by its days, channel and audience, so a
-- ladder may have the customer reminded and the rep asked to call on the
-- same day by the same channel (say, at +30 days: a firm e-mail to the
-- customer and an e-mail to the rep).  Keyed by days and channel only, one
-- of the two would never have been sent, and the configuration had to
-- refuse such ladders.  Rows already stored carry their audience, so
-- nothing charged before is charged again.
ALTER TABLE rapport.dunning_items DROP CONSTRAINT dunning_items_pkey;
ALTER TABLE rapport.dunning_items ADD PRIMARY KEY (invoice_number, level_days, channel, audience);
