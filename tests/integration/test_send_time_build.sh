#!/usr/bin/env bash
# A white-box review of the digest and the dunning ladder as built at send
# time; each case failed on the code before its fix:
#   1. a manager's escalations with a response deadline that is not a whole
#      number of hours (critical = "90m": the manager hears at 3 h, not 4 h);
#   2. amounts in the currency's own minor units (BHD 3 decimals, JPY none),
#      never rounded: a reminder states what is owed to the last fils;
#   3. a rep-level reminder planned for a customer who is given to another
#      rep before it goes is not sent to the old rep (who no longer owns
#      the customer): cancelled, and the next run asks the new rep;
#   4. a rep whose digest hour is out of 0-23 (a CRM view has no check) is
#      skipped with the reason; the other reps still get their digests;
#   5. a rep whose address is suppressed has no digest, and the run counts
#      that rep as skipped with the reason (it was in no count at all);
#   6. the same as 3 for any job's alert to a rep (here a complaint's): the
#      claim cancels it and the next run alerts the customer's new rep;
#   7. a complaint whose severity a CRM view spells otherwise (capitals,
#      NULL, a made-up word) is still chased, not silently never;
#   8. the digest never says "0+ days overdue" (a ladder starting at +15);
#   9. a customer handed to another rep within a team (see 6);
#  10. a dormancy alert or follow-up reminder about a customer deactivated
#      since planning is cancelled, not sent to the rep.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
source "$T_LIB_DIR/rapport.sh"

rapport_db
smtp_start
CONF=$T_TMP/rapport.conf
rapport_config "$CONF" 'digest: { effective_from = "2020-01-01"; };
  complaints: { effective_from = "2020-01-01"; response_hours = { critical = "90m"; }; };
  receivables: { effective_from = "2020-01-01"; };'
"$RAPPORTCTL" --config "$CONF" migrate >/dev/null
load() { psql -XAtq -v ON_ERROR_STOP=1 >/dev/null; }
load <<'SQL'
INSERT INTO crm.reps (id, name, email, phone, time_zone, locale, digest_hour, manager_id, active) VALUES
 (1, 'Mona Manager', 'mona@example.com', NULL, 'UTC', 'en', 8, NULL, true),
 (2, 'Rick Rep', 'rick@example.com', NULL, 'UTC', 'en', 8, 1, true),
 (3, 'Nora New', 'nora@example.com', NULL, 'UTC', 'en', 8, 1, true);
INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
 (1, 'Cora Critical', 'A', 'cora@example.com', 'UTC', 'en', 2, true, '2020-01-01', true),
 (2, 'Dinar Dan', 'A', 'dan@example.com', 'UTC', 'en', 2, true, '2020-01-01', true),
 (3, 'Rae Reassigned', 'B', 'rae@example.com', 'UTC', 'en', 2, true, '2020-01-01', true);
INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES
 (1, 2, 'call', '2027-03-09T10:00:00Z'), (2, 2, 'call', '2027-03-09T10:00:00Z'), (3, 2, 'call', '2027-03-09T10:00:00Z');
SQL

# ---- 1. escalations with a deadline of 90 minutes: the manager's digest
# at 08:00 lists a critical complaint opened at 04:30 (3.5 h, past 2 x 1.5 h).
psql_val "INSERT INTO crm.complaints (customer_id, severity, summary, opened_at) VALUES
            (1, 'critical', 'line down', '2027-03-10T04:30:00Z')" >/dev/null
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 1 --now 2027-03-10T08:00:00Z 2>&1)
assert_contains "$out" "YOUR TEAM: ESCALATIONS (1)" "90-minute deadline: the complaint open 3.5 h is in the manager's escalations"
assert_contains "$out" "Cora Critical [A], rep Rick Rep: complaint #1 line down" "... naming the customer and the rep"
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 2 --now 2027-03-10T08:00:00Z 2>&1)
assert_contains "$out" "escalated to your manager" "(the rep's own digest says it was escalated)"
psql_val "UPDATE crm.complaints SET resolved_at = '2027-03-10T05:00:00Z'" >/dev/null

# ---- 2. amounts as the currency writes them.
load <<'SQL'
INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
 (2, 'INV-BHD1', 10.125, 'BHD', '2027-01-01', '2027-03-09'),
 (2, 'INV-BHD2', 0.5, 'BHD', '2027-01-01', '2027-03-09'),
 (2, 'INV-JPY', 1500, 'JPY', '2027-01-01', '2027-03-09'),
 (2, 'INV-USD', 12.5, 'USD', '2027-01-01', '2027-03-09');
SQL
out=$("$RAPPORTCTL" --config "$CONF" preview receivables --customer 2 --now 2027-03-10T12:00:00Z 2>&1)
assert_contains "$out" "INV-BHD1: BHD 10.125, due" "reminder: three decimals for the dinar, not rounded"
assert_contains "$out" "INV-BHD2: BHD 0.500, due" "... and always three"
assert_contains "$out" "INV-JPY: JPY 1,500, due" "no decimals for the yen"
assert_contains "$out" "INV-USD: USD 12.50, due" "two for the dollar"
assert_contains "$out" "  BHD 10.625" "totals per currency in its own units"
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 2 --now 2027-03-10T08:00:00Z 2>&1)
assert_contains "$out" "total BHD 10.625 JPY 1,500 USD 12.50" "digest: level totals per currency"
assert_contains "$out" "INV-BHD1, BHD 10.125," "digest: each invoice's amount"
psql_val "UPDATE crm.invoices SET paid_on = '2027-03-10'" >/dev/null

# ---- 3. the rep-level (+30) reminder for customer 3, planned for Rick at
# 09:00 and due at 10:00; at 09:30 the customer is given to Nora.
psql_val "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
            (3, 'INV-R30', 500, 'EUR', '2027-01-01', '2027-02-08')" >/dev/null
"$RAPPORTCTL" --config "$CONF" run receivables --now 2027-03-10T09:00:00Z >/dev/null
assert_eq "rick@example.com" "$(psql_val "SELECT string_agg(recipient, ',') FROM rapport.outbox WHERE job = 'receivables' AND audience = 'rep'")" \
    "planned for the owning rep"
psql_val "UPDATE crm.customers SET rep_id = 3 WHERE id = 3" >/dev/null
mark
run "send after the reassignment" "$CONF" 2027-03-10T10:30:00Z
settle
got=$(who_since)
assert_not_contains "$got" "rick@example.com|Please call Rae Reassigned" "the old rep is not asked to call a customer no longer theirs"
assert_eq "the customer now has another rep or manager" \
    "$(psql_val "SELECT last_error FROM rapport.outbox WHERE job = 'receivables' AND recipient = 'rick@example.com'")" \
    "cancelled with the reason"
mark
run "the next run" "$CONF" 2027-03-10T11:30:00Z
settle
got=$(who_since)
assert_contains "$got" "nora@example.com|Please call Rae Reassigned" "the next run asks the new rep"
assert_eq "1" "$(psql_val "SELECT count(*) FROM rapport.dunning_items WHERE invoice_number = 'INV-R30'")" "one ledger row for the level"

# ---- 4. a CRM view's rep with a digest hour out of range (or none).
psql_val "ALTER TABLE crm.reps DROP CONSTRAINT reps_digest_hour_check, ALTER digest_hour DROP NOT NULL;
          INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active) VALUES
            (7, 'Hal Hour', 'hal@example.com', 'UTC', 'en', 30, 1, true),
            (8, 'Nell Null', 'nell@example.com', 'UTC', 'en', NULL, 1, true)" >/dev/null
assert_exit 0 "digest run with a bad digest hour" -- "$RAPPORTCTL" --config "$CONF" run digest --now 2027-03-11T08:30:00Z
assert_contains "$T_OUT" '{"rep has an invalid digest hour": 2}' "... the two reps skipped with the reason"
assert_eq "digest:1:2027-03-11,digest:2:2027-03-11,digest:3:2027-03-11" \
    "$(psql_val "SELECT string_agg(dedupe_key, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE job = 'digest' AND dedupe_key LIKE '%2027-03-11'")" \
    "every other rep's digest is planned"

# ---- 5. a rep's address suppressed (a hard bounce): no digest, counted.
psql_val "INSERT INTO rapport.suppression (address, channel, reason) VALUES ('nora@example.com', 'email', 'hard bounce')" >/dev/null
assert_exit 0 "digest run with a suppressed rep" -- "$RAPPORTCTL" --config "$CONF" run digest --now 2027-03-12T08:30:00Z
assert_contains "$T_OUT" '"address suppressed": 1' "the suppressed rep counted as skipped, with the reason"
assert_eq "digest:1:2027-03-12,digest:2:2027-03-12" \
    "$(psql_val "SELECT string_agg(dedupe_key, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE job = 'digest' AND dedupe_key LIKE '%2027-03-12'")" \
    "... and not planned"

# ---- 6. any job's alert to a rep, not only dunning: a complaint alert
# planned for Rick about Cora, who is given to Olga before it goes, is not
# sent to Rick, and the next run alerts Olga.  A manager standing in for a
# rep, or alerted past twice the deadline, still gets hers.
psql_val "INSERT INTO crm.complaints (customer_id, severity, summary, opened_at) VALUES
            (1, 'critical', 'no dial tone', '2027-03-13T06:00:00Z')" >/dev/null
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-13T08:00:00Z >/dev/null
assert_eq "rick@example.com" \
    "$(psql_val "SELECT string_agg(recipient, ',') FROM rapport.outbox WHERE job = 'complaints' AND dedupe_key = 'complaint:2:rep'")" \
    "complaint alert planned for the owning rep"
psql_val "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active)
            VALUES (9, 'Olga Other', 'olga@example.com', 'UTC', 'en', 8, 1, true);
          UPDATE crm.customers SET rep_id = 9 WHERE id = 1" >/dev/null
mark
run "send the complaint alert after the reassignment" "$CONF" 2027-03-13T08:05:00Z
settle
got=$(who_since)
assert_not_contains "$got" "rick@example.com|" "the old rep gets no alert about a customer no longer theirs"
assert_eq "the customer now has another rep or manager" \
    "$(psql_val "SELECT last_error FROM rapport.outbox WHERE job = 'complaints' AND recipient = 'rick@example.com'")" \
    "... cancelled with the reason"
mark
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-13T08:30:00Z >/dev/null
run "the next run" "$CONF" 2027-03-13T08:35:00Z
settle
got=$(who_since)
assert_contains "$got" "olga@example.com|" "the next run alerts the new rep"
assert_eq "1" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE job = 'complaints' AND state = 'sent' AND recipient = 'olga@example.com'")" \
    "... once"
mark
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-13T09:00:00Z >/dev/null
run "past twice the deadline" "$CONF" 2027-03-13T09:05:00Z
settle
got=$(who_since)
assert_contains "$got" "mona@example.com|" "the manager of the customer's (new) rep is alerted past twice the deadline"

# ---- 7. severities a CRM view may spell otherwise: 'Critical ' is critical,
# NULL or 'urgent' are chased as normal (72 h), not never.
psql_val "ALTER TABLE crm.complaints DROP CONSTRAINT complaints_severity_check, ALTER severity DROP NOT NULL;
          INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at) VALUES
            (71, 2, 'Critical ', 'spelt in capitals', '2027-03-14T06:00:00Z'),
            (72, 2, NULL, 'no severity', '2027-03-11T06:00:00Z'),
            (73, 2, 'urgent', 'made-up severity', '2027-03-11T06:00:00Z')" >/dev/null
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-14T08:00:00Z >/dev/null
assert_eq "complaint:71:rep,complaint:72:rep,complaint:73:rep" \
    "$(psql_val "SELECT string_agg(dedupe_key, ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE job = 'complaints' AND dedupe_key LIKE 'complaint:7_:rep'")" \
    "odd severities: each complaint alerted (critical after 90 min, the others after 72 h)"
assert_eq "critical,normal,normal" \
    "$(psql_val "SELECT string_agg(context->'complaint'->>'severity', ',' ORDER BY dedupe_key) FROM rapport.outbox WHERE dedupe_key LIKE 'complaint:7_:rep'")" \
    "... with the severity they were chased as"
out=$("$RAPPORTCTL" --config "$CONF" preview digest --rep 2 --now 2027-03-14T08:00:00Z 2>&1)
assert_contains "$out" "spelt in capitals" "the rep's digest lists them too"
assert_contains "$out" "made-up severity" "... all of them"

# ---- 8. a ladder whose first level after the due date is +15: an invoice
# 5 days overdue is "1+ days overdue" in the digest, not "0+".
LADDER=$T_TMP/ladder.conf
sed 's|receivables: { effective_from = "2020-01-01"; };|receivables: { effective_from = "2020-01-01"; levels = ( { days = 15; audience = "customer"; channels = ["email"]; template = "dunning_firm"; } ); };|' "$CONF" >"$LADDER"
assert_contains "$(cat "$LADDER")" "days = 15;" "(ladder configured)"
psql_val "INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
            (2, 'INV-5D', 70, 'EUR', '2027-03-01', '2027-03-09')" >/dev/null
out=$("$RAPPORTCTL" --config "$LADDER" preview digest --rep 2 --now 2027-03-14T08:00:00Z 2>&1)
assert_contains "$out" "1+ days overdue (1)" "an invoice short of the first level: 1+ days overdue"
assert_not_contains "$out" "0+ days overdue" "... never 0+"

# ---- 9. the claim's check names the one recipient the job would choose
# now, not "the customer's rep or that rep's manager" whatever the job: a
# complaint alert for Mona as the owning rep of Gil, who is then given to
# Rick (Mona's report), is Rick's now; Mona, his manager, was still let
# through, and Rick never heard (the key stayed taken).
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active)
            VALUES (10, 'Gil Given', 'B', 'gil@example.com', 'UTC', 'en', 1, true, '2020-01-01', true);
          INSERT INTO crm.complaints (id, customer_id, severity, summary, opened_at)
            VALUES (91, 10, 'critical', 'handed down', '2027-03-20T06:00:00Z')" >/dev/null
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-20T08:00:00Z >/dev/null
assert_eq "mona@example.com" \
    "$(psql_val "SELECT string_agg(recipient, ',') FROM rapport.outbox WHERE dedupe_key = 'complaint:91:rep'")" \
    "complaint alert planned for the owning rep (a manager herself)"
psql_val "UPDATE crm.customers SET rep_id = 2 WHERE id = 10" >/dev/null
mark
run "send after giving the customer to the rep's report" "$CONF" 2027-03-20T08:05:00Z
settle
assert_eq "the customer now has another rep or manager" \
    "$(psql_val "SELECT last_error FROM rapport.outbox WHERE dedupe_key LIKE 'complaint:91:rep%' AND recipient = 'mona@example.com'")" \
    "the old rep's alert is cancelled, though she manages the new rep"
"$RAPPORTCTL" --config "$CONF" run complaints --now 2027-03-20T08:30:00Z >/dev/null
run "the next run" "$CONF" 2027-03-20T08:35:00Z
settle
assert_eq "1" "$(psql_val "SELECT count(*) FROM rapport.outbox WHERE dedupe_key = 'complaint:91:rep' AND state = 'sent' AND recipient = 'rick@example.com'")" \
    "... and the new rep is alerted"

# ---- 10. a rep's dormancy alert and follow-up reminder about a customer
# deactivated between planning and sending are cancelled with the reason.
GONE=$T_TMP/gone.conf
rapport_config "$GONE" 'dormant: { effective_from = "2020-01-01"; };
  follow_ups: { effective_from = "2020-01-01"; tier_a_reminder = true; };'
psql_val "INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active,
                                     next_follow_up) VALUES
            (20, 'Quinn Quiet', 'A', 'quinn@example.com', 'UTC', 'en', 2, true, '2020-01-01', true, NULL),
            (21, 'Fern Follow', 'A', 'fern@example.com', 'UTC', 'en', 2, true, '2020-01-01', true, '2027-03-20');
          INSERT INTO crm.interactions (customer_id, rep_id, kind, happened_at) VALUES
            (20, 2, 'call', '2027-02-18T10:00:00Z'), (21, 2, 'call', '2027-03-19T10:00:00Z')" >/dev/null
"$RAPPORTCTL" --config "$GONE" run dormant --now 2027-03-20T08:00:00Z >/dev/null
"$RAPPORTCTL" --config "$GONE" run follow_ups --now 2027-03-20T08:00:00Z >/dev/null
assert_eq "dormant:20,follow_ups:21" \
    "$(psql_val "SELECT string_agg(job || ':' || customer_id, ',' ORDER BY job) FROM rapport.outbox WHERE customer_id IN (20, 21) AND audience = 'rep'")" \
    "a dormancy alert and a follow-up reminder planned for the rep"
psql_val "UPDATE crm.customers SET active = false WHERE id IN (20, 21)" >/dev/null
mark
run "send after the customers were deactivated" "$GONE" 2027-03-20T09:30:00Z
settle
assert_not_contains "$(who_since)" "rick@example.com|" "the rep gets neither"
assert_eq "cancelled:the customer is no longer active,cancelled:the customer is no longer active" \
    "$(psql_val "SELECT string_agg(state || ':' || last_error, ',' ORDER BY job) FROM rapport.outbox WHERE customer_id IN (20, 21) AND audience = 'rep'")" \
    "... both cancelled with the reason"

# A manager's escalations cut by max_items keep the same items every time:
# two team invoices overdue by the same days go in invoice-number order.
TIE=$T_TMP/tie.conf
rapport_config "$TIE" 'digest: { effective_from = "2020-01-01"; max_items = 1; };'
psql_val "INSERT INTO crm.reps (id, name, email, time_zone, locale, digest_hour, manager_id, active) VALUES
            (90, 'Mona Manager', 'mona@example.com', 'UTC', 'en', 8, NULL, true),
            (91, 'Teo Team', 'teo@example.com', 'UTC', 'en', 8, 90, true);
          INSERT INTO crm.customers (id, name, tier, email, time_zone, locale, rep_id, consent_email, created_at, active) VALUES
            (90, 'Tied Buyer', 'B', 'tied@example.com', 'UTC', 'en', 91, true, '2020-01-01', true);
          INSERT INTO crm.invoices (customer_id, number, amount, currency, issued_on, due_on) VALUES
            (90, 'TIE-B', 100, 'EUR', '2026-12-01', '2027-01-01'), (90, 'TIE-A', 200, 'EUR', '2026-12-01', '2027-01-01')" >/dev/null
for i in 1 2 3; do
    out=$("$RAPPORTCTL" --config "$TIE" preview digest --rep 90 --now 2027-05-03T08:30:00Z --show-recipients 2>&1)
    assert_contains "$out" "invoice TIE-A, EUR 200.00, 122 days overdue" "escalations at max_items = 1, preview $i: the lower invoice number"
    assert_not_contains "$out" "invoice TIE-B" "... and not the other"
done

t_summary
