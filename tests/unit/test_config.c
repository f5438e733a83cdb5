/* Configuration loader: defaults, conversions, job settings, errors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>

#include "config.h"
#include "log.h"

static const char *write_tmp(const char *content) {
        static char path[64];
        snprintf(path, sizeof path, "/tmp/rapport-conf-XXXXXX");
        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
        close(fd);
        return path;
}

static void test_parse_duration(void **state) {
        (void)state;
        static const struct {
                const char *in;
                int64_t out;
        } ok[] = {{"90", 90}, {"90s", 90}, {"15m", 900}, {"4h", 14400}, {"1d", 86400}, {"2w", 1209600}, {"1h30m", 5400}, {"0", 0}};
        for (size_t i = 0; i < ELEMENTSOF(ok); i++) {
                int64_t v = -1;
                assert_int_equal(parse_duration(ok[i].in, &v), 0);
                assert_int_equal(v, ok[i].out);
        }
        static const char *const bad[] = {"", "h", "1x", "-5", "1h30", "1.5h", " 1h", "1h "};
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int64_t v;
                assert_int_equal(parse_duration(bad[i], &v), -EINVAL);
        }
}

static void test_minimal_config_gets_defaults(void **state) {
        (void)state;
        const char *p = write_tmp("database: { conninfo = \"dbname=x\"; };\n"
                                  "email: { smtp_url = \"smtp://127.0.0.1:25\"; from = \"\\\"客户服务\\\" <care@example.com>\"; };\n"
                                  "jobs: { birthdays: { time_zone = \"Asia/Kolkata\"; send_at = \"9:05\"; }; };\n");
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        assert_int_equal(config_load(p, true, &c), 0);
        unlink(p);
        assert_string_equal(c->time_zone, "UTC");
        assert_string_equal(c->locale, "en");
        assert_string_equal(c->email.from_name, "客户服务");
        assert_string_equal(c->email.from_addr, "care@example.com");
        assert_int_equal(c->email.tls, TLS_REQUIRED);
        assert_int_equal(c->email.connections, 4);
        assert_int_equal(c->outbox.lease, 300);
        assert_int_equal(c->outbox.n_retry, 5);
        assert_int_equal(c->outbox.retry[4], 43200);
        assert_int_equal(c->sms.quiet_start, 21 * 60);
        assert_int_equal(c->sms.quiet_end, 8 * 60);
        assert_int_equal(c->n_jobs, 1);
        const struct job_config *j = config_job(c, "birthdays");
        assert_non_null(j);
        assert_true(j->enabled);
        assert_string_equal(j->time_zone, "Asia/Kolkata");
        assert_string_equal(j->schedule, "0 * * * *");
        assert_int_equal(j->catch_up, CATCH_UP_LATEST);
        assert_int_equal(j->catch_up_window, 86400);
        assert_string_equal(j->channels[0], "email");
        assert_null(j->channels[1]);
        json_object *s = json_tokener_parse(j->settings_json), *v;
        assert_true(json_object_object_get_ex(s, "send_at", &v));
        assert_string_equal(json_object_get_string(v), "09:05:00");
        assert_true(json_object_object_get_ex(s, "feb29", &v));
        assert_string_equal(json_object_get_string(v), "feb28");
        assert_true(json_object_object_get_ex(s, "max_lateness", &v));
        assert_int_equal(json_object_get_int64(v), 86400);
        json_object_put(s);
}

static void test_errors_are_all_counted(void **state) {
        (void)state;
        const char *p = write_tmp("database: { conninfo = 5; };\n"
                                  "email: { smtp_url = \"http://x\"; from = \"nobody\"; tls = \"maybe\"; bogus = 1; };\n"
                                  "outbox: { lease = \"forever\"; retry = []; };\n"
                                  "jobs: { birthdays: { schedule = \"61 * * * *\"; }; nosuch: {}; };\n");
        struct rapport_config *c = NULL;
        assert_int_equal(config_load(p, true, &c), -EINVAL);
        assert_null(c);
        unlink(p);
}

static void test_redirect_and_secrets(void **state) {
        (void)state;
        char secret[] = "/tmp/rapport-secret-XXXXXX";
        int fd = mkstemp(secret);
        assert_int_equal(write(fd, "hunter2\n", 8), 8);
        close(fd);
        char body[512];
        snprintf(body, sizeof body,
                 "database: { conninfo = \"dbname=x\"; password_file = \"%s\"; };\n"
                 "email: { smtp_url = \"smtps://mail\"; from = \"a@example.com\"; redirect_to = \"staging@example.com\"; };\n", secret);
        const char *p = write_tmp(body);
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        assert_int_equal(config_load(p, true, &c), 0);
        assert_string_equal(c->db_password, "hunter2"); /* newline stripped */
        assert_string_equal(c->email.redirect_to, "staging@example.com");
        unlink(p);
        unlink(secret);
}

/* Loads a configuration of these email settings, top-level settings and
 * jobs; returns config_load's result. */
static int load_conf(const char *email_settings, const char *top, const char *jobs) {
        char body[1024];
        snprintf(body, sizeof body,
                 "database: { conninfo = \"dbname=x\"; };\n"
                 "email: { smtp_url = \"smtp://127.0.0.1:25\"; %s };\n"
                 "%s\njobs: { %s };\n", email_settings, top, jobs);
        const char *p = write_tmp(body);
        struct rapport_config *c = NULL;
        int r = config_load(p, true, &c);
        config_free(c);
        unlink(p);
        return r;
}

/* Addresses the message builder would refuse are refused at load time:
 * accepted, every message would fail permanently at send time. */
static int load_email(const char *email_settings) { return load_conf(email_settings, "", ""); }

static void test_addresses_the_builder_accepts(void **state) {
        (void)state;
        assert_int_equal(load_email("from = \"Care <care@example.com>\"; redirect_to = \"qa@example.com\";"
                                    " unsubscribe_mailto = \"unsubscribe@example.com\";"), 0);
        assert_int_equal(load_email("from = \"Care <care@mail_out.example.com>\";"), -EINVAL);
        assert_int_equal(load_email("from = \"care@example.com\"; redirect_to = \"QA <qa@example.com>\";"), -EINVAL);
        assert_int_equal(load_email("from = \"care@example.com\"; unsubscribe_mailto = \"unsubscribe\";"), -EINVAL);
}

/* A quoted display name loses its quotes and escapes, and may hold '<';
 * quiet_hours is the whole value or an error. */
static void test_from_and_quiet_hours(void **state) {
        (void)state;
        const char *p = write_tmp("database: { conninfo = \"dbname=x\"; };\n"
                                  "email: { smtp_url = \"smtp://127.0.0.1:25\"; from = \"\\\"Smith \\\\\\\"Jr\\\\\\\" <Sales>\\\" <a@example.com>\"; };\n");
        struct rapport_config *c = NULL;
        assert_int_equal(config_load(p, true, &c), 0);
        assert_string_equal(c->email.from_name, "Smith \"Jr\" <Sales>");
        assert_string_equal(c->email.from_addr, "a@example.com");
        config_free(c);
        unlink(p);
        assert_int_equal(load_email("from = \"a@example.com\"; quiet_hours = \"22:00-07:00\";"), 0);
        assert_int_equal(load_email("from = \"a@example.com\"; quiet_hours = \"22:00-07:00 Mon-Fri\";"), -EINVAL);
}

/* What rapport.conf(5) promises about ranges holds at load time, so that a
 * value the job SQL cannot use is exit 78, not every run failing later. */
static int load_jobs(const char *top, const char *jobs) { return load_conf("from = \"a@example.com\";", top, jobs); }

static void test_documented_ranges(void **state) {
        (void)state;
        /* digest re-declares max_lateness with at most 7 days. */
        assert_int_equal(load_jobs("", "digest: { max_lateness = \"7d\"; };"), 0);
        assert_int_equal(load_jobs("", "digest: { max_lateness = \"8d\"; };"), -EINVAL);
        assert_int_equal(load_jobs("", "dormant: { max_lateness = \"366d\"; };"), 0);
        /* ladder_days: a list of integers. */
        assert_int_equal(load_jobs("", "digest: { ladder_days = [1, 15, 30, 60, 90]; };"), 0);
        assert_int_equal(load_jobs("", "digest: { ladder_days = \"foo\"; };"), -EINVAL);
        assert_int_equal(load_jobs("", "digest: { ladder_days = [\"x\"]; };"), -EINVAL);
        assert_int_equal(load_jobs("", "digest: { ladder_days = [0]; };"), -EINVAL);
        /* tier maps: days the SQL can read as int. */
        assert_int_equal(load_jobs("", "follow_ups: { cadence_days = { A = 0; B = 36500; }; };"), 0);
        assert_int_equal(load_jobs("", "follow_ups: { cadence_days = { A = 3000000000L; }; };"), -EINVAL);
        /* sms.rate, like email.rate, is not negative. */
        assert_int_equal(load_jobs("sms: { rate = 1.5; };", ""), 0);
        assert_int_equal(load_jobs("sms: { rate = -1; };", ""), -EINVAL);
}

int main(void) {
        log_setup("test", LOG_CRIT); /* the error paths log; keep output quiet */
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_duration),
                cmocka_unit_test(test_minimal_config_gets_defaults),
                cmocka_unit_test(test_errors_are_all_counted),
                cmocka_unit_test(test_redirect_and_secrets),
                cmocka_unit_test(test_addresses_the_builder_accepts),
                cmocka_unit_test(test_from_and_quiet_hours),
                cmocka_unit_test(test_documented_ranges),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
