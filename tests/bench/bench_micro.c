/* Micro-benchmarks for `make bench`: cron_next, template rendering and
 * MIME construction, linked against the daemon's own objects.
 *
 * Prints one line per figure: "name<TAB>value<TAB>unit<TAB>note"; the
 * bench script turns them into table rows.  Each timing is the best of
 * several rounds (the least disturbed by other processes), which is what a
 * per-call cost should report. */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "config.h"
#include "cron.h"
#include "db.h"
#include "jobs.h"
#include "mime.h"
#include "mustache.h"
#include "planner.h"
#include "templates.h"
#include "tz.h"
#include "util.h"

#define ROUNDS 5

static double now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* CPU time of this thread: what "renders per second on one core" means,
 * and unlike wall time not charged with other processes' turns on a busy
 * machine (page faults and other system time still count). */
static double cpu_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
        return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Render timings: the best of many short rounds, CPU time. */
#define RENDER_ROUNDS 25

static volatile int64_t sink;

struct cron_case {
        const char *expr, *zone, *label;
};

/* ns per cron_next call, each call from a different instant spread over ten
 * years (a daemon asks from "now", which is anywhere). */
static int bench_cron(void) {
        static const struct cron_case cases[] = {
                {"0 * * * *", "UTC", "hourly"},
                {"*/15 * * * *", "Europe/Berlin", "every 15 min"},
                {"0 9 * * 1-5", "Asia/Shanghai", "weekdays 09:00"},
                {"30 2 * * *", "America/New_York", "daily 02:30 (DST gap)"},
                {"0 8 1 * *", "Europe/Berlin", "monthly"},
                {"0 0 29 2 *", "UTC", "Feb 29 (leap years)"},
        };
        enum { CALLS = 200000 };
        double worst = 0, sum = 0;
        for (size_t k = 0; k < ELEMENTSOF(cases); k++) {
                _cleanup_(tz_freep) struct tz *tz = NULL;
                struct cron c;
                char err[128];
                if (tz_load(cases[k].zone, &tz) < 0 || cron_parse(cases[k].expr, &c, err, sizeof err) < 0) {
                        fprintf(stderr, "bench_micro: cannot set up '%s' in %s\n", cases[k].expr, cases[k].zone);
                        return -EINVAL;
                }
                double best = 1e30;
                for (int round = 0; round < ROUNDS; round++) {
                        int64_t base = 1704067200; /* 2024-01-01 */
                        double t0 = now_ns();
                        for (int i = 0; i < CALLS; i++) {
                                int64_t after = base + (int64_t)i * 1579 % (10LL * 365 * 86400), next;
                                if (cron_next(&c, tz, after, &next) < 0)
                                        return -ERANGE;
                                sink = next;
                        }
                        double per = (now_ns() - t0) / CALLS;
                        if (per < best)
                                best = per;
                }
                printf("cron_next %s\t%.0f\tns/call\t'%s' %s\n", cases[k].label, best, cases[k].expr, cases[k].zone);
                sum += best;
                if (best > worst)
                        worst = best;
        }
        printf("cron_next mean of typical\t%.0f\tns/call\t%zu expressions\n", sum / ELEMENTSOF(cases), ELEMENTSOF(cases));
        printf("cron_next worst\t%.0f\tns/call\tslowest of the above\n", worst);
        return 0;
}

/* A rep's daily digest: 200 items of mixed kinds, Chinese and Latin names,
 * amounts, dates, one nested section per item — the largest template
 * rapport renders. */
static const char digest_tpl[] =
        "<!DOCTYPE html>\n<html lang=\"{{rep.locale}}\"><body>\n"
        "<h1>{{rep.name}}，您今天的客户提醒 ({{date}})</h1>\n"
        "<p>{{total}} item(s){{#overdue_count}}, <b>{{overdue_count}} overdue</b>{{/overdue_count}}.</p>\n"
        "<table>\n"
        "{{#items}}\n"
        "<tr class=\"{{kind}}{{#overdue}} overdue{{/overdue}}\">\n"
        "  <td>{{customer.name}}</td><td>{{customer.tier}}</td><td>{{customer.phone}}</td>\n"
        "  <td>{{#follow_up}}Follow up (last contact {{last_contact}}, {{days_since}} days){{/follow_up}}"
        "{{#invoice}}Invoice {{number}}: {{amount}} {{currency}}, {{days_overdue}} days overdue{{/invoice}}"
        "{{#birthday}}Birthday today{{/birthday}}{{#complaint}}Complaint: {{summary}}{{/complaint}}</td>\n"
        "  <td>{{^note}}—{{/note}}{{note}}</td>\n"
        "</tr>\n"
        "{{/items}}\n"
        "</table>\n"
        "{{^items}}<p>Nothing today.</p>{{/items}}\n"
        "<p>— rapport</p></body></html>\n";

static json_object *digest_context(int n) {
        json_object *ctx = json_object_new_object();
        json_object *rep = json_object_new_object();
        json_object_object_add(rep, "name", json_object_new_string("王伟"));
        json_object_object_add(rep, "locale", json_object_new_string("zh-CN"));
        json_object_object_add(ctx, "rep", rep);
        json_object_object_add(ctx, "date", json_object_new_string("2027-03-14"));
        json_object_object_add(ctx, "total", json_object_new_int(n));
        json_object_object_add(ctx, "overdue_count", json_object_new_int(n / 4));
        json_object *items = json_object_new_array();
        static const char *const names[] = {"李娜", "Anna O'Neil & Söhne", "张伟 <Zhang>", "Müller GmbH", "陈静"};
        for (int i = 0; i < n; i++) {
                json_object *it = json_object_new_object(), *cu = json_object_new_object();
                json_object_object_add(cu, "name", json_object_new_string(names[i % 5]));
                json_object_object_add(cu, "tier", json_object_new_string(i % 3 == 0 ? "A" : i % 3 == 1 ? "B" : "C"));
                json_object_object_add(cu, "phone", json_object_new_string("+8613800000000"));
                json_object_object_add(it, "customer", cu);
                json_object_object_add(it, "overdue", json_object_new_boolean(i % 4 == 0));
                switch (i % 4) {
                case 0: {
                        json_object *inv = json_object_new_object();
                        json_object_object_add(inv, "number", json_object_new_string("INV-0000007-1"));
                        json_object_object_add(inv, "amount", json_object_new_double(12345.5 + i));
                        json_object_object_add(inv, "currency", json_object_new_string("CNY"));
                        json_object_object_add(inv, "days_overdue", json_object_new_int(15 + i % 60));
                        json_object_object_add(it, "invoice", inv);
                        json_object_object_add(it, "kind", json_object_new_string("invoice"));
                        break;
                }
                case 1: {
                        json_object *f = json_object_new_object();
                        json_object_object_add(f, "last_contact", json_object_new_string("2027-01-02"));
                        json_object_object_add(f, "days_since", json_object_new_int(71));
                        json_object_object_add(it, "follow_up", f);
                        json_object_object_add(it, "kind", json_object_new_string("follow_up"));
                        json_object_object_add(it, "note", json_object_new_string("客户希望下周二上午联系"));
                        break;
                }
                case 2:
                        json_object_object_add(it, "birthday", json_object_new_boolean(1));
                        json_object_object_add(it, "kind", json_object_new_string("birthday"));
                        break;
                default: {
                        json_object *c = json_object_new_object();
                        json_object_object_add(c, "summary", json_object_new_string("Delivery late <again> & damaged"));
                        json_object_object_add(it, "complaint", c);
                        json_object_object_add(it, "kind", json_object_new_string("complaint"));
                }
                }
                json_object_array_add(items, it);
        }
        json_object_object_add(ctx, "items", items);
        return ctx;
}

/* The same 200 items in a plain table: four values a row, no per-kind
 * sections — the floor of what a digest costs. */
static const char digest_plain_tpl[] =
        "<h1>{{rep.name}} {{date}}</h1><table>\n"
        "{{#items}}<tr><td>{{customer.name}}</td><td>{{customer.tier}}</td><td>{{kind}}</td>"
        "<td>{{customer.phone}}</td></tr>\n{{/items}}</table>\n";

static int bench_one_digest(const char *label, const char *src, json_object *ctx) {
        struct mustache_error err;
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        if (mustache_parse(src, strlen(src), 1, &tpl, &err) < 0) {
                fprintf(stderr, "bench_micro: %s template: %d:%d: %s\n", label, err.line, err.column, err.message);
                return -EINVAL;
        }
        _cleanup_buf_ struct buf out = {0};
        double best = 1e30;
        enum { RENDERS = 400 };
        if (mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out) < 0)
                return -EIO;
        struct mallinfo2 before = mallinfo2();
        for (int round = 0; round < RENDER_ROUNDS; round++) {
                double t0 = cpu_ns();
                for (int i = 0; i < RENDERS; i++) {
                        out.len = 0;
                        if (mustache_render(tpl, ctx, MUSTACHE_ESCAPE_HTML, NULL, NULL, &out) < 0)
                                return -EIO;
                }
                double per = (cpu_ns() - t0) / RENDERS;
                if (per < best)
                        best = per;
        }
        struct mallinfo2 after = mallinfo2();
        printf("render %s\t%.0f\trenders/s\t%.1f µs CPU each, HTML escaping, one core; best of %d rounds\n", label,
               1e9 / best, best / 1e3, RENDER_ROUNDS);
        printf("render %s: output\t%zu\tbytes/render\t\n", label, out.len);
        printf("render %s: heap growth\t%lld\tbytes\tover %d renders after a warm-up; > 0 would be a leak\n", label,
               (long long)after.uordblks - (long long)before.uordblks, RENDER_ROUNDS * RENDERS);
        return 0;
}

static int bench_digest(void) {
        json_object *ctx = digest_context(200);
        int r = bench_one_digest("synthetic digest, 200 items", digest_tpl, ctx);
        if (r >= 0)
                r = bench_one_digest("synthetic digest, 200 items, plain table", digest_plain_tpl, ctx);
        json_object_put(ctx);
        return r;
}

/* The shipped digest template (templates/digest.email.*) with a context
 * shaped as templates/README.md documents the digest job's: 200 items over
 * every section, as the dispatcher renders it (subject, text, HTML). */
static json_object *real_digest_context(void) {
        _cleanup_buf_ struct buf b = {0};
        static const char *const names[] = {"李娜", "Anna O'Neil & Söhne", "张伟 <Zhang>", "Müller GmbH", "陈静"};
#define CUSTOMER(i)                                                                                        \
        buf_printf(&b, "\"customer\":{\"id\":%d,\"name\":\"%s\",\"tier\":\"%s\",\"email\":\"c%d@example.cn\",\"phone\":\"+86138%08d\"}", \
                   (i), names[(i) % 5], (i) % 3 == 0 ? "A" : (i) % 3 == 1 ? "B" : "C", (i), (i))
        buf_puts(&b, "{\"rep\":{\"id\":7,\"name\":\"王伟\"},\"date\":\"2027-03-14\",\"month\":3,\"day\":14,"
                     "\"total\":200,\"total_plural\":true,\"empty\":false,\"is_manager\":true,\"max_items\":100,");
        buf_puts(&b, "\"follow_ups\":{\"count\":50,\"more\":0,\"items\":[");
        for (int i = 0; i < 50; i++) {
                buf_printf(&b, "%s{", i ? "," : "");
                CUSTOMER(i);
                buf_printf(&b, ",\"due_on\":\"2027-03-%02d\",\"days_overdue\":%d,\"days_overdue_plural\":%s,\"overdue\":%s,"
                           "\"planned\":%s,\"cadence_days\":30,\"last_contact\":%s,\"days_since_contact\":%d,\"never_contacted\":%s}",
                           1 + i % 14, i % 9, i % 9 > 1 ? "true" : "false", i % 9 ? "true" : "false", i % 4 ? "false" : "true",
                           i % 7 ? "\"2027-01-05\"" : "null", 40 + i, i % 7 ? "false" : "true");
        }
        buf_puts(&b, "]},\"birthdays\":{\"count\":30,\"more\":0,\"lookahead_days\":7,\"items\":[");
        for (int i = 0; i < 30; i++) {
                buf_printf(&b, "%s{", i ? "," : "");
                CUSTOMER(100 + i);
                buf_printf(&b, ",\"date\":\"2027-03-%02d\",\"month\":3,\"day\":%d,\"in_days\":%d,\"today\":%s,\"tomorrow\":%s,\"age\":%d}",
                           14 + i % 7, 14 + i % 7, i % 7, i % 7 == 0 ? "true" : "false", i % 7 == 1 ? "true" : "false", 30 + i);
        }
        buf_puts(&b, "]},\"dormant\":{\"count\":40,\"more\":0,\"items\":[");
        for (int i = 0; i < 40; i++) {
                buf_printf(&b, "%s{", i ? "," : "");
                CUSTOMER(200 + i);
                buf_printf(&b, ",\"last_activity\":\"2026-01-%02d\",\"days_inactive\":%d,\"dormant_days\":180}", 1 + i % 28, 400 + i);
        }
        buf_puts(&b, "]},\"receivables\":{\"count\":40,\"levels\":[");
        for (int l = 0; l < 2; l++) {
                buf_printf(&b, "%s{\"days\":%d,\"count\":20,\"bad_debt_risk\":%s,\"more\":0,"
                           "\"totals\":[{\"currency\":\"CNY\",\"amount\":\"123456.70\"},{\"currency\":\"EUR\",\"amount\":\"980.00\"}],\"items\":[",
                           l ? "," : "", l ? 15 : 60, l ? "false" : "true");
                for (int i = 0; i < 20; i++) {
                        buf_printf(&b, "%s{", i ? "," : "");
                        CUSTOMER(300 + 20 * l + i);
                        buf_printf(&b, ",\"number\":\"INV-%07d-1\",\"amount\":\"%d.50\",\"currency\":\"CNY\",\"due_on\":\"2027-01-10\","
                                   "\"days_overdue\":%d,\"days_overdue_plural\":true,\"bad_debt_risk\":%s}",
                                   300 + i, 1000 + 37 * i, l ? 15 + i : 60 + i, l ? "false" : "true");
                }
                buf_puts(&b, "]}");
        }
        buf_puts(&b, "]},\"complaints\":{\"count\":20,\"more\":0,\"items\":[");
        for (int i = 0; i < 20; i++) {
                buf_printf(&b, "%s{", i ? "," : "");
                CUSTOMER(400 + i);
                buf_printf(&b, ",\"id\":%d,\"severity\":\"%s\",\"critical\":%s,\"summary\":\"送货延迟，包装破损 <again> & again\","
                           "\"opened_on\":\"2027-03-10\",\"hours_open\":%d,\"response_hours\":24,\"hours_late\":%d,\"escalated\":%s}",
                           900 + i, i % 4 == 3 ? "critical" : "high", i % 4 == 3 ? "true" : "false", 30 + i, 6 + i,
                           i % 3 ? "false" : "true");
        }
        buf_puts(&b, "]},\"escalations\":{\"count\":20,\"invoices\":10,\"complaints\":10,\"more\":0,\"items\":[");
        for (int i = 0; i < 20; i++) {
                buf_printf(&b, "%s{", i ? "," : "");
                CUSTOMER(500 + i);
                if (i % 2)
                        buf_printf(&b, ",\"rep\":{\"name\":\"Li Lei\",\"inactive\":false},\"invoice\":{\"number\":\"INV-%07d-2\","
                                   "\"amount\":\"5000.00\",\"currency\":\"CNY\",\"due_on\":\"2026-12-01\",\"days_overdue\":%d}}",
                                   500 + i, 90 + i);
                else
                        buf_printf(&b, ",\"rep\":{\"name\":\"Li Lei\",\"inactive\":true},\"complaint\":{\"id\":%d,\"severity\":\"critical\","
                                   "\"critical\":true,\"summary\":\"No answer for a week\",\"opened_on\":\"2027-03-01\",\"hours_open\":300,"
                                   "\"response_hours\":4}}",
                                   950 + i);
        }
        buf_puts(&b, "]}}");
#undef CUSTOMER
        return json_tokener_parse(b.data);
}

static int bench_real_digest(const char *templates_dir) {
        _cleanup_(template_set_freep) struct template_set *set = NULL;
        int nerr = 0;
        if (template_set_load(templates_dir, &set, &nerr) < 0)
                return -EINVAL;
        json_object *ctx = real_digest_context();
        if (!ctx)
                return -EINVAL;
        static const char *const locales[] = {"zh-CN", "en"};
        for (size_t k = 0; k < ELEMENTSOF(locales); k++) {
                const struct message_template *t = template_find(set, "digest", "email", locales[k], "en");
                if (!t) {
                        printf("render shipped digest (%s), 200 items\tn/a\trenders/s\tno digest e-mail template\n", locales[k]);
                        continue;
                }
                enum { RENDERS = 200 };
                double best = 1e30;
                size_t bytes = 0, held = 0;
                for (int round = 0; round < RENDER_ROUNDS; round++) {
                        double t0 = cpu_ns();
                        for (int i = 0; i < RENDERS; i++) {
                                struct rendered r = {0};
                                if (template_render(set, t, ctx, &r) < 0) {
                                        json_object_put(ctx);
                                        return -EIO;
                                }
                                bytes = strlen(r.subject) + strlen(r.text) + (r.html ? strlen(r.html) : 0);
                                rendered_clear(&r);
                        }
                        double per = (cpu_ns() - t0) / RENDERS;
                        if (per < best)
                                best = per;
                }
                /* Memory a render takes: the heap it holds when it returns
                 * (the renderer allocates nothing but its output). */
                struct mallinfo2 m0 = mallinfo2();
                struct rendered r = {0};
                if (template_render(set, t, ctx, &r) < 0) {
                        json_object_put(ctx);
                        return -EIO;
                }
                struct mallinfo2 m1 = mallinfo2();
                held = m1.uordblks > m0.uordblks ? m1.uordblks - m0.uordblks : 0;
                rendered_clear(&r);
                printf("render shipped digest (%s), 200 items\t%.0f\trenders/s\t%.1f µs CPU each: subject, text and HTML parts, %zu bytes; one core, best of %d rounds\n",
                       locales[k], 1e9 / best, best / 1e3, bytes, RENDER_ROUNDS);
                /* Not named "render shipped digest…": bench.sh gives those
                 * rows the renders/s target. */
                printf("memory per shipped digest render (%s)\t%zu\tbytes\theap held by one rendering: its output buffers\n",
                       locales[k], held);
        }
        json_object_put(ctx);
        return 0;
}

static int bench_message(const char *templates_dir) {
        /* A real message: the shipped birthday e-mail, rendered as the
         * dispatcher does (subject, text, HTML), then built into MIME. */
        _cleanup_(template_set_freep) struct template_set *set = NULL;
        int nerr = 0;
        if (template_set_load(templates_dir, &set, &nerr) < 0) {
                fprintf(stderr, "bench_micro: cannot load templates from %s\n", templates_dir);
                return -EINVAL;
        }
        const struct message_template *bt = template_find(set, "birthday", "email", "zh-CN", "en");
        if (!bt) {
                fprintf(stderr, "bench_micro: no birthday e-mail template\n");
                return -ENOENT;
        }
        json_object *bctx = json_tokener_parse(
                "{\"customer\":{\"id\":1,\"name\":\"李娜\",\"tier\":\"A\",\"key_account\":true},"
                "\"rep\":{\"name\":\"王伟\",\"email\":\"wang@example.cn\",\"phone\":\"+8613800000000\"},"
                "\"birthday\":\"2027-03-14\",\"month\":3,\"day\":14,\"year\":2027,\"sender\":\"Acme 客户关怀\","
                "\"unsubscribe_url\":\"https://example.com/unsubscribe?id=1\"}");
        enum { MSGS = 20000 };
        double best_r = 1e30, best_m = 1e30;
        size_t mbytes = 0;
        for (int round = 0; round < ROUNDS; round++) {
                double tr = 0, tm = 0;
                for (int i = 0; i < MSGS; i++) {
                        struct rendered r = {0};
                        double t0 = now_ns();
                        if (template_render(set, bt, bctx, &r) < 0)
                                return -EIO;
                        double t1 = now_ns();
                        struct mail_header lu = {"List-Unsubscribe", "<mailto:unsubscribe@example.com>, <https://example.com/u?id=1>"};
                        struct mail_message m = {
                                .from_name = "Acme 客户关怀", .from_addr = "care@example.com",
                                .to_name = "李娜", .to_addr = "lina@example.cn",
                                .subject = r.subject, .text = r.text, .html = r.html,
                                .date = 1805000000, .extra = &lu, .n_extra = 1,
                        };
                        struct buf mb = {0};
                        char *mid = NULL;
                        if (smtp_build_message(&m, &mb, &mid) < 0)
                                return -EIO;
                        double t2 = now_ns();
                        mbytes = mb.len;
                        free(mid);
                        buf_free(&mb);
                        rendered_clear(&r);
                        tr += t1 - t0;
                        tm += t2 - t1;
                }
                if (tr / MSGS < best_r)
                        best_r = tr / MSGS;
                if (tm / MSGS < best_m)
                        best_m = tm / MSGS;
        }
        json_object_put(bctx);
        printf("render birthday e-mail (subject+text+html)\t%.1f\tµs/message\ttemplates/birthday.email.zh-CN\n", best_r / 1e3);
        printf("MIME build birthday e-mail\t%.1f\tµs/message\t%zu bytes, RFC 2047 + QP\n", best_m / 1e3, mbytes);
        return 0;
}

/* The message the baselines send: the same birthday e-mail, built the same
 * way, so curl and smtp-source move the bytes rapportd moves. */
static int emit_message(const char *templates_dir) {
        _cleanup_(template_set_freep) struct template_set *set = NULL;
        int nerr = 0;
        if (template_set_load(templates_dir, &set, &nerr) < 0)
                return -EINVAL;
        const struct message_template *bt = template_find(set, "birthday", "email", "zh-CN", "en");
        if (!bt)
                return -ENOENT;
        json_object *ctx = json_tokener_parse(
                "{\"customer\":{\"id\":1,\"name\":\"李娜\",\"tier\":\"A\",\"key_account\":true},"
                "\"rep\":{\"name\":\"王伟\",\"email\":\"wang@example.cn\",\"phone\":\"+8613800000000\"},"
                "\"birthday\":\"2027-03-14\",\"month\":3,\"day\":14,\"year\":2027,\"sender\":\"Acme 客户关怀\","
                "\"unsubscribe_url\":\"https://example.com/unsubscribe?id=1\"}");
        struct rendered r = {0};
        int rr = template_render(set, bt, ctx, &r);
        json_object_put(ctx);
        if (rr < 0)
                return rr;
        struct mail_header lu = {"List-Unsubscribe", "<mailto:unsubscribe@example.com>, <https://example.com/u?id=1>"};
        struct mail_message m = {
                .from_name = "Acme 客户关怀", .from_addr = "care@example.com",
                .to_name = "李娜", .to_addr = "lina@example.cn",
                .subject = r.subject, .text = r.text, .html = r.html,
                .date = time(NULL), .extra = &lu, .n_extra = 1,
        };
        _cleanup_buf_ struct buf mb = {0};
        char *mid = NULL;
        rr = smtp_build_message(&m, &mb, &mid);
        rendered_clear(&r);
        free(mid);
        if (rr < 0)
                return rr;
        fwrite(mb.data, 1, mb.len, stdout);
        return 0;
}

/* Everything rapport keeps except the schema version and the zone list
 * (outbox, runs, ledgers), so that each timed run plans from scratch on clean tables: no
 * dead rows or index entries left by the run before. */
static int bench_reset_queue(PGconn *conn) {
        static const char sql[] =
                "DO $$ BEGIN EXECUTE (SELECT 'TRUNCATE ' || string_agg(format('%I.%I', schemaname, tablename), ', ')"
                " FROM pg_tables WHERE schemaname = 'rapport' AND tablename NOT IN ('schema_migrations', 'time_zones')); END $$";
        return db_exec(conn, "Emptying rapport's tables", sql, 0, NULL, NULL);
}

/* Plan JOB `runs` times on one connection, as the daemon does (its
 * connection lives as long as it does).  Each run is a real one, committed
 * as the daemon commits it; rapport's tables are emptied between runs,
 * untimed.  (Dry runs would leave each run's rolled-back rows behind as
 * dead tuples for the next to step over, and read the planned rows back,
 * which the daemon never does.)  The first run pays for the session's
 * first touch of every page it reads; the median of the rest is what a
 * long-running daemon pays. */
static int bench_plan(const char *config, const char *job, const char *now, int runs) {
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        if (config_load(config, false, &c) < 0)
                return -EINVAL;
        const struct job_config *cj = config_job(c, job);
        if (!cj)
                return -ENOENT;
        /* BENCH_PLAN_SQL=FILE times a variant of the job's statement (same
         * parameters) in its place: for trying a rewrite on real data. */
        struct job_def def = *cj->def;
        struct job_config jc = *cj;
        const struct job_config *j = cj;
        _cleanup_free_ char *variant = NULL;
        const char *variant_path = getenv("BENCH_PLAN_SQL");
        if (variant_path && *variant_path) {
                size_t len;
                if (read_file(variant_path, &variant, &len) < 0) {
                        fprintf(stderr, "bench_micro: cannot read %s\n", variant_path);
                        return -EINVAL;
                }
                def.plan_sql = variant;
                jc.def = &def;
                j = &jc;
        }
        PGconn *conn = NULL;
        int r = db_connect(c, "rapport-bench", false, &conn);
        if (r < 0)
                return r;
        double ms[32];
        runs = runs < 2 ? 2 : runs > 32 ? 32 : runs;
        for (int i = 0; i < runs && r >= 0; i++) {
                struct plan_result res;
                r = bench_reset_queue(conn);
                if (r < 0)
                        break;
                double t0 = now_ns();
                r = planner_run(conn, c, j, 0, now, false, NULL, PLAN_MANUAL, &res);
                ms[i] = (now_ns() - t0) / 1e6;
                if (r >= 0 && i == 0)
                        printf("plan %s, first run on a new connection\t%.1f\tms\t%lld message(s) planned\n", job, ms[0], res.planned);
                plan_result_clear(&res);
        }
        if (r >= 0)
                r = bench_reset_queue(conn);
        PQfinish(conn);
        if (r < 0)
                return r;
        for (int a = 1; a < runs; a++)
                for (int b = a + 1; b < runs; b++)
                        if (ms[b] < ms[a]) {
                                double x = ms[a];
                                ms[a] = ms[b], ms[b] = x;
                        }
        printf("plan %s, warm connection\t%.1f\tms\tmedian of %d runs after the first on the same connection, as in the daemon\n",
               job, ms[1 + (runs - 1) / 2], runs - 1);
        return 0;
}

/* bench_micro [TEMPLATES_DIR [cron|digest|message|eml]] — the second
 * argument runs one part alone (for `perf record`); eml prints the
 * benchmark's e-mail instead.  bench_micro plan CONFIG JOB NOW [RUNS]
 * times one job's planning on one connection. */
int main(int argc, char **argv) {
        if (argc >= 5 && streq(argv[1], "plan"))
                return bench_plan(argv[2], argv[3], argv[4], argc > 5 ? atoi(argv[5]) : 4) < 0 ? 1 : 0;
        const char *templates_dir = argc > 1 ? argv[1] : "templates";
        const char *only = argc > 2 ? argv[2] : NULL;
        if (only && streq(only, "eml"))
                return emit_message(templates_dir) < 0 ? 1 : 0;
        if ((!only || streq(only, "cron")) && bench_cron() < 0)
                return 1;
        if ((!only || streq(only, "digest")) && (bench_real_digest(templates_dir) < 0 || bench_digest() < 0))
                return 1;
        if ((!only || streq(only, "message")) && bench_message(templates_dir) < 0)
                return 1;
        return 0;
}
