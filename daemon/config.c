/* Configuration loader.
 *
 * Like OpenBSD's ntpd, the file is parsed into a fresh struct and nothing
 * global changes until the whole file validated; the caller swaps the new
 * struct in.  Validation is table driven (one spec per group) so that every
 * unknown key, wrong type and bad value is reported — all of them, not just
 * the first — as "FILE:LINE: SETTING: reason". */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <libpq-fe.h>
#include <json-c/json.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../jobs/jobs.h"
#include "log.h"
#include "mime.h"
#include "sms_text.h"

struct loader {
        const char *file;
        const char *dir;     /* the file's directory, absolute: relative paths in it start there */
        const char *read_as; /* the name libconfig was given for it */
        int errors;
};

/* A file name as libconfig reports it (the main file as it was given to
 * libconfig, an @include'd one as its line names it, relative to the main
 * file's directory): the main file as the user named it, any other with
 * its directory. */
static const char *source_name(const struct loader *l, const char *file, char *buf, size_t size) {
        if (!file || streq(file, l->read_as))
                return l->file;
        if (file[0] == '/' || !l->dir)
                return file;
        snprintf(buf, size, "%s/%s", l->dir, file);
        return buf;
}

_printf_(3, 4) static void complain(struct loader *l, const config_setting_t *s, const char *fmt, ...) {
        char msg[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        char path[512] = "";
        /* Build the dotted path from the root down. */
        const config_setting_t *chain[32];
        int n = 0;
        for (const config_setting_t *p = s; p && n < 32; p = config_setting_parent(p))
                chain[n++] = p;
        size_t off = 0;
        for (int i = n - 1; i >= 0; i--) {
                const char *name = config_setting_name(chain[i]);
                if (name) {
                        off += snprintf(path + off, sizeof path - off, "%s%s", off ? "." : "", name);
                } else if (config_setting_parent(chain[i])) {
                        off += snprintf(path + off, sizeof path - off, "[%d]", config_setting_index(chain[i]));
                }
                if (off >= sizeof path)
                        break;
        }
        int line = s ? (int)config_setting_source_line(s) : 0;
        /* A setting read from an @include'd file is at a line of that file. */
        char buf[PATH_MAX + 256];
        const char *file = s && config_setting_parent(s) ? source_name(l, config_setting_source_file(s), buf, sizeof buf) : l->file;
        if (line > 0)
                log_error("%s:%d: %s: %s", file, line, path[0] ? path : "(top level)", msg);
        else if (path[0])
                log_error("%s: %s: %s", file, path, msg);
        else /* the file as a whole (a required group absent): no line to name */
                log_error("%s: %s", file, msg);
        l->errors++;
}

/* A connection string libpq cannot read is a configuration error here,
 * not a failure at every connection attempt; a password in it works, but
 * belongs in database.password_file or the credential db-password (the
 * configuration file is readable by group rapport): said, not refused. */
static void check_conninfo(struct loader *l, const config_setting_t *where, const char *conninfo) {
        char *err = NULL;
        PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
        if (!opts) {
                char msg[512];
                snprintf(msg, sizeof msg, "%s", err ? err : "out of memory");
                msg[strcspn(msg, "\n")] = '\0';
                complain(l, where, "not a valid libpq connection string: %s", msg);
                PQfreemem(err);
                return;
        }
        for (PQconninfoOption *o = opts; o->keyword; o++)
                if (streq(o->keyword, "password") && o->val && *o->val)
                        log_warning("%s:%d: database.conninfo: holds a password; move it to database.password_file"
                                    " or the credential db-password",
                                    l->file, where ? (int)config_setting_source_line(where) : 0);
        PQconninfoFree(opts);
}

int parse_duration(const char *s, int64_t *ret) {
        if (!s || !*s)
                return -EINVAL;
        int64_t total = 0;
        const char *p = s;
        while (*p) {
                if (!isdigit((unsigned char)*p))
                        return -EINVAL;
                errno = 0;
                char *end;
                long long v = strtoll(p, &end, 10);
                if (errno)
                        return -EINVAL;
                int64_t unit;
                switch (*end) {
                case '\0':
                        if (p != s)
                                return -EINVAL; /* "1h30" is ambiguous */
                        unit = 1;
                        break;
                case 's': unit = 1; end++; break;
                case 'm': unit = 60; end++; break;
                case 'h': unit = 3600; end++; break;
                case 'd': unit = 86400; end++; break;
                case 'w': unit = 7 * 86400; end++; break;
                default: return -EINVAL;
                }
                if (v > INT64_MAX / unit || total > INT64_MAX - v * unit)
                        return -ERANGE;
                total += v * unit;
                p = end;
        }
        *ret = total;
        return 0;
}

static const char *type_name(int t) {
        switch (t) {
        case CONFIG_TYPE_GROUP: return "a group";
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return "an integer";
        case CONFIG_TYPE_FLOAT: return "a number";
        case CONFIG_TYPE_STRING: return "a string";
        case CONFIG_TYPE_BOOL: return "a boolean";
        case CONFIG_TYPE_ARRAY: return "an array";
        case CONFIG_TYPE_LIST: return "a list";
        default: return "something else";
        }
}

static bool is_int(const config_setting_t *s) {
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
}

static bool is_date(const char *v) {
        int y, m, d;
        char tail;
        if (sscanf(v, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || strlen(v) != 10)
                return false;
        static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        if (y < 1900 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
                return false;
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        return !(m == 2 && d == 29 && !leap);
}

static int parse_time_of_day(const char *v, int *minutes) {
        int h, m;
        char tail;
        if (sscanf(v, "%2d:%2d%c", &h, &m, &tail) != 2 || h < 0 || h > 23 || m < 0 || m > 59)
                return -EINVAL;
        *minutes = h * 60 + m;
        return 0;
}

/* Convert any libconfig value to JSON (used for SET_ANY settings). */
static json_object *setting_to_json(const config_setting_t *s) {
        switch (config_setting_type(s)) {
        case CONFIG_TYPE_INT:
        case CONFIG_TYPE_INT64: return json_object_new_int64(config_setting_get_int64(s));
        case CONFIG_TYPE_FLOAT: return json_object_new_double(config_setting_get_float(s));
        case CONFIG_TYPE_BOOL: return json_object_new_boolean(config_setting_get_bool(s));
        case CONFIG_TYPE_STRING: return json_object_new_string(config_setting_get_string(s));
        case CONFIG_TYPE_GROUP: {
                json_object *o = json_object_new_object();
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        json_object_object_add(o, config_setting_name(e), setting_to_json(e));
                }
                return o;
        }
        default: {
                json_object *a = json_object_new_array();
                for (int i = 0; i < config_setting_length(s); i++)
                        json_object_array_add(a, setting_to_json(config_setting_get_elem(s, i)));
                return a;
        }
        }
}

/* "a, b, c" (or "\"a\", \"b\"" quoted) for a message; returns buf. */
static const char *join_choices(const char *const *v, bool quoted, char *buf, size_t len) {
        buf[0] = '\0';
        for (size_t k = 0; v[k]; k++)
                snprintf(buf + strlen(buf), len - strlen(buf), quoted ? "%s\"%s\"" : "%s%s", k ? ", " : "", v[k]);
        return buf;
}

/* Complain about each key of group g not in known (NULL-terminated). */
static bool only_known_keys(struct loader *l, const config_setting_t *g, const char *const *known, const char *what) {
        bool ok = true;
        for (int i = 0; i < config_setting_length(g); i++) {
                const config_setting_t *e = config_setting_get_elem(g, i);
                const char *n = config_setting_name(e);
                if (!strv_contains(known, n)) {
                        char list[256];
                        complain(l, e, "unknown setting '%s' in %s (known: %s)", n, what, join_choices(known, false, list, sizeof list));
                        ok = false;
                }
        }
        return ok;
}

/* Where a complaint about member name of g points: the member, or the
 * group when it is missing. */
static const config_setting_t *member_or_group(const config_setting_t *g, const char *name) {
        const config_setting_t *e = config_setting_get_member(g, name);
        return e ? e : g;
}

static const char *group_string(const config_setting_t *g, const char *name) {
        const config_setting_t *e = config_setting_get_member(g, name);
        return e && config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
}

static bool is_list(const config_setting_t *s) {
        int t = config_setting_type(s);
        return t == CONFIG_TYPE_LIST || t == CONFIG_TYPE_ARRAY;
}

/* A list of strings each one of choices (an empty list is allowed). */
static bool string_list_of(struct loader *l, const config_setting_t *s, const char *const *choices, const char *expected) {
        if (!is_list(s))
                return complain(l, s, "expected a list like %s", expected), false;
        bool ok = true;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
                if (!strv_contains(choices, v)) {
                        complain(l, e, "expected one of %s", expected);
                        ok = false;
                }
        }
        return ok;
}

/* Hours per key (complaint severities): a number of hours, or a duration
 * ("90m", "4h", "7d"), the way the issue and an administrator write
 * them. */
static json_object *convert_hours_map(struct loader *l, const config_setting_t *s, const struct setting_spec *spec) {
        if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                return complain(l, s, "expected a group like { critical = 4; high = 24; normal = 72; low = \"7d\"; }"), NULL;
        bool ok = only_known_keys(l, s, spec->choices, spec->name);
        json_object *o = json_object_new_object();
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                if (!strv_contains(spec->choices, config_setting_name(e)))
                        continue; /* complained about above */
                double hours = -1;
                int64_t secs;
                if (is_int(e))
                        hours = (double)config_setting_get_int64(e);
                else if (config_setting_type(e) == CONFIG_TYPE_FLOAT)
                        hours = config_setting_get_float(e);
                else if (config_setting_type(e) == CONFIG_TYPE_STRING && parse_duration(config_setting_get_string(e), &secs) == 0)
                        hours = (double)secs / 3600;
                else {
                        complain(l, e, "expected hours (a number) or a duration such as \"90m\", \"4h\" or \"7d\"");
                        ok = false;
                        continue;
                }
                if (!(hours > 0) || hours > 24 * 3660) {
                        complain(l, e, "expected more than 0 hours and at most 10 years");
                        ok = false;
                        continue;
                }
                json_object_object_add(o, config_setting_name(e),
                                       hours == (double)(int64_t)hours ? json_object_new_int64((int64_t)hours)
                                                                       : json_object_new_double(hours));
        }
        if (!ok) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

static const char *const channel_names_list[] = {"email", "sms", NULL};
static const char *const tier_names_list[] = {"A", "B", "C", NULL};

/* Whether a ladder level sends on channel NAME (`channel`, `channels`, or
 * neither: e-mail). */
static bool level_has_channel(const config_setting_t *g, const char *name) {
        const config_setting_t *chs = config_setting_get_member(g, "channels");
        if (config_setting_get_member(g, "channel"))
                return streq(group_string(g, "channel") ?: "", name);
        if (!chs)
                return streq(name, "email");
        for (int k = 0; k < config_setting_length(chs); k++) {
                const char *v = config_setting_get_string_elem(chs, k);
                if (v && streq(v, name))
                        return true;
        }
        return false;
}

/* A channel both ladder levels send on, or NULL. */
static const char *shared_channel(const config_setting_t *a, const config_setting_t *b) {
        for (size_t c = 0; channel_names_list[c]; c++)
                if (level_has_channel(a, channel_names_list[c]) && level_has_channel(b, channel_names_list[c]))
                        return channel_names_list[c];
        return NULL;
}

/* The receivables ladder: every level names its days, audience,
 * channel(s) and template, checked here so that a typo is a configuration
 * error (file, line, exit 78) and not a run failing every hour. */
static json_object *convert_ladder(struct loader *l, const config_setting_t *s, const struct setting_spec *spec) {
        static const char *const keys[] = {"days", "audience", "channel", "channels", "template", NULL};
        static const char *const audiences[] = {"customer", "rep", "manager", NULL};
        if (!is_list(s) || config_setting_length(s) == 0)
                return complain(l, s, "expected a list of levels like ( { days = 1; audience = \"customer\"; channels = [\"email\"]; template = \"dunning_friendly\"; } )"), NULL;
        bool ok = true;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *g = config_setting_get_elem(s, i);
                if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                        complain(l, g, "expected a group { days = ...; template = ...; }");
                        ok = false;
                        continue;
                }
                ok = only_known_keys(l, g, keys, spec->name) && ok;
                const config_setting_t *d = config_setting_get_member(g, "days");
                if (!d || !is_int(d) || llabs(config_setting_get_int64(d)) > 3650) {
                        complain(l, member_or_group(g, "days"), "days (past the due date; negative: before it) must be an integer from -3650 to 3650");
                        ok = false;
                }
                /* The ledger and the dedupe key know a level by its days,
                 * channel and audience: two levels sharing all three would
                 * silently lose one of them. */
                for (int j = 0; d && is_int(d) && j < i; j++) {
                        const config_setting_t *pg = config_setting_get_elem(s, j);
                        const config_setting_t *pd = config_setting_type(pg) == CONFIG_TYPE_GROUP ? config_setting_get_member(pg, "days") : NULL;
                        if (!pd || !is_int(pd) || config_setting_get_int64(pd) != config_setting_get_int64(d))
                                continue;
                        const char *aud = group_string(g, "audience") ?: "customer";
                        if (!streq(aud, group_string(pg, "audience") ?: "customer"))
                                continue;
                        const char *ch = shared_channel(g, pg);
                        if (ch) {
                                complain(l, d, "days = %lld on %s to the %s is already levels[%d]: a level is known by its days, channel and audience, so one of the two would never be sent",
                                         (long long)config_setting_get_int64(d), ch, aud, j);
                                ok = false;
                                break;
                        }
                }
                const config_setting_t *a = config_setting_get_member(g, "audience");
                const char *av = group_string(g, "audience");
                if (a && !strv_contains(audiences, av)) {
                        complain(l, a, "audience must be \"customer\", \"rep\" or \"manager\"");
                        ok = false;
                }
                const config_setting_t *ch = config_setting_get_member(g, "channel"), *chs = config_setting_get_member(g, "channels");
                if (ch && chs) {
                        complain(l, chs, "give channel or channels, not both");
                        ok = false;
                } else if (ch) {
                        const char *v = group_string(g, "channel");
                        if (!strv_contains(channel_names_list, v)) {
                                complain(l, ch, "channel must be \"email\" or \"sms\"");
                                ok = false;
                        }
                } else if (chs)
                        ok = string_list_of(l, chs, channel_names_list, "[\"email\", \"sms\"]") && ok;
                const char *t = group_string(g, "template");
                if (!t || !*t) {
                        complain(l, member_or_group(g, "template"), "template must name a template, e.g. \"dunning_friendly\"");
                        ok = false;
                }
        }
        return ok ? setting_to_json(s) : NULL;
}

/* BCP 47 in the shape template file names use: a 2-3 letter language and
 * optional subtags (zh-CN, en, zh-Hant-TW).  It becomes part of a file name,
 * so nothing else is let through. */
bool language_tag_ok(const char *tag) {
        /* Template lookups keep 31 bytes of a locale; "zh_CN" is taken as
         * zh-CN there, so it is accepted here too. */
        if (!tag || strlen(tag) > 31)
                return false;
        size_t n = strspn(tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
        if (n < 2 || n > 3)
                return false;
        for (const char *p = tag + n; *p;) {
                if (*p != '-' && *p != '_')
                        return false;
                p++;
                size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
                if (k < 1 || k > 8)
                        return false;
                p += k;
        }
        return true;
}

/* Holiday dates: a name, a real date, optionally a template, tiers and
 * names per language. */
static json_object *convert_holidays(struct loader *l, const config_setting_t *s, const struct setting_spec *spec) {
        static const char *const keys[] = {"name", "names", "date", "template", "tiers", NULL};
        if (!is_list(s))
                return complain(l, s, "expected a list like ( { name = \"Spring Festival\"; date = \"2027-02-06\"; template = \"spring_festival\"; } )"), NULL;
        bool ok = true;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *g = config_setting_get_elem(s, i);
                if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                        complain(l, g, "expected a group { name = ...; date = ...; }");
                        ok = false;
                        continue;
                }
                ok = only_known_keys(l, g, keys, spec->name) && ok;
                const char *name = group_string(g, "name"), *date = group_string(g, "date");
                if (!name || !*name) {
                        complain(l, member_or_group(g, "name"), "name must be a non-empty string");
                        ok = false;
                }
                if (!date || !is_date(date)) {
                        complain(l, member_or_group(g, "date"), "date must be a real date \"YYYY-MM-DD\"");
                        ok = false;
                }
                const char *tpl = group_string(g, "template");
                if (config_setting_get_member(g, "template") && (!tpl || !*tpl)) {
                        complain(l, member_or_group(g, "template"), "template must name a template");
                        ok = false;
                }
                const config_setting_t *tiers = config_setting_get_member(g, "tiers");
                if (tiers)
                        ok = string_list_of(l, tiers, tier_names_list, "[\"A\", \"B\", \"C\"]") && ok;
                /* The name as each language says it: Spring Festival to an
                 * English reader, 春节 to a Chinese one. */
                const config_setting_t *names = config_setting_get_member(g, "names");
                if (names && config_setting_type(names) != CONFIG_TYPE_GROUP) {
                        complain(l, names, "names must be a group such as { en = \"Spring Festival\"; zh-CN = \"春节\"; }");
                        ok = false;
                }
                for (int k = 0; names && config_setting_type(names) == CONFIG_TYPE_GROUP && k < config_setting_length(names); k++) {
                        const config_setting_t *n = config_setting_get_elem(names, k);
                        const char *v = config_setting_type(n) == CONFIG_TYPE_STRING ? config_setting_get_string(n) : NULL;
                        if (!language_tag_ok(config_setting_name(n))) {
                                complain(l, n, "'%s' is not a language tag such as zh-CN or en", config_setting_name(n));
                                ok = false;
                        } else if (!v || !*v) {
                                complain(l, n, "the name in %s must be a non-empty string", config_setting_name(n));
                                ok = false;
                        }
                }
        }
        return ok ? setting_to_json(s) : NULL;
}

/* Validate one setting against its spec; on success return its JSON form. */
static json_object *convert_setting(struct loader *l, const config_setting_t *s, const struct setting_spec *spec) {
        const char *str = config_setting_type(s) == CONFIG_TYPE_STRING ? config_setting_get_string(s) : NULL;
        switch (spec->type) {
        case SET_BOOL:
                if (config_setting_type(s) != CONFIG_TYPE_BOOL)
                        return complain(l, s, "expected true or false, got %s", type_name(config_setting_type(s))), NULL;
                return json_object_new_boolean(config_setting_get_bool(s));
        case SET_INT:
                if (!is_int(s))
                        return complain(l, s, "expected an integer, got %s", type_name(config_setting_type(s))), NULL;
                if (spec->max > spec->min && (config_setting_get_int64(s) < spec->min || config_setting_get_int64(s) > spec->max))
                        return complain(l, s, "%lld out of range %lld-%lld", (long long)config_setting_get_int64(s), spec->min, spec->max), NULL;
                return json_object_new_int64(config_setting_get_int64(s));
        case SET_FLOAT:
                if (!is_int(s) && config_setting_type(s) != CONFIG_TYPE_FLOAT)
                        return complain(l, s, "expected a number, got %s", type_name(config_setting_type(s))), NULL;
                return json_object_new_double(is_int(s) ? (double)config_setting_get_int64(s) : config_setting_get_float(s));
        case SET_STRING:
                if (!str)
                        return complain(l, s, "expected a string, got %s", type_name(config_setting_type(s))), NULL;
                /* A template setting names a file: an empty one would only
                 * show up later as "no template .email.en.mustache". */
                if (!*str && strstr(spec->name, "template"))
                        return complain(l, s, "must name a template (default %s)", spec->def ? spec->def : "none"), NULL;
                return json_object_new_string(str);
        case SET_DURATION: {
                int64_t v;
                if (is_int(s))
                        v = config_setting_get_int64(s);
                else if (!str || parse_duration(str, &v) < 0)
                        return complain(l, s, "expected a duration such as 90, \"15m\", \"4h\" or \"1d\""), NULL;
                if (v < 0 || (spec->max > spec->min && (v < spec->min || v > spec->max)))
                        return complain(l, s, "duration %llds out of range %lld-%llds", (long long)v, spec->min, spec->max), NULL;
                return json_object_new_int64(v);
        }
        case SET_TIME_OF_DAY: {
                int m;
                if (!str || parse_time_of_day(str, &m) < 0)
                        return complain(l, s, "expected a time of day \"HH:MM\""), NULL;
                char t[32];
                snprintf(t, sizeof t, "%02d:%02d:00", m / 60, m % 60);
                return json_object_new_string(t);
        }
        case SET_DATE:
                if (!str)
                        return complain(l, s, "expected a date \"YYYY-MM-DD\""), NULL;
                if (!is_date(str)) /* "2027-02-30" has the form: say what is wrong */
                        return complain(l, s, "\"%s\" is not a real date \"YYYY-MM-DD\"", str), NULL;
                return json_object_new_string(str);
        case SET_ENUM:
                if (strv_contains(spec->choices, str))
                        return json_object_new_string(str);
                {
                        char list[256];
                        complain(l, s, "expected one of %s", join_choices(spec->choices, true, list, sizeof list));
                }
                return NULL;
        case SET_STRING_LIST: {
                int t = config_setting_type(s);
                if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
                        return complain(l, s, "expected a list of strings like [\"a\", \"b\"]"), NULL;
                json_object *a = json_object_new_array();
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
                        if (!v || (spec->choices && !strv_contains(spec->choices, v))) {
                                char list[256];
                                if (!v)
                                        complain(l, e, "expected a string");
                                else
                                        complain(l, e, "\"%s\" is not one of %s", v, join_choices(spec->choices, true, list, sizeof list));
                                json_object_put(a);
                                return NULL;
                        }
                        json_object_array_add(a, json_object_new_string(v));
                }
                return a;
        }
        case SET_INT_LIST: {
                if (!is_list(s))
                        return complain(l, s, "expected a list of integers like [1, 15, 30, 60]"), NULL;
                json_object *a = json_object_new_array();
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        if (!is_int(e) || (spec->max > spec->min && (config_setting_get_int64(e) < spec->min ||
                                                                      config_setting_get_int64(e) > spec->max))) {
                                complain(l, e, "expected an integer from %lld to %lld", spec->min, spec->max);
                                json_object_put(a);
                                return NULL;
                        }
                        json_object_array_add(a, json_object_new_int64(config_setting_get_int64(e)));
                }
                return a;
        }
        case SET_TIER_MAP: {
                if (config_setting_type(s) != CONFIG_TYPE_GROUP)
                        return complain(l, s, "expected a group like { A = 7; B = 30; C = 90; }"), NULL;
                json_object *o = json_object_new_object();
                for (int i = 0; i < config_setting_length(s); i++) {
                        const config_setting_t *e = config_setting_get_elem(s, i);
                        const char *n = config_setting_name(e);
                        if (!streq(n, "A") && !streq(n, "B") && !streq(n, "C")) {
                                complain(l, e, "unknown tier (expected A, B or C)");
                                continue;
                        }
                        /* The job SQL reads these as int: bounded here,
                         * not as every run failing. */
                        if (!is_int(e) || config_setting_get_int64(e) < 0 || config_setting_get_int64(e) > 36500) {
                                complain(l, e, "expected an integer number of days from 0 to 36500");
                                continue;
                        }
                        json_object_object_add(o, n, json_object_new_int64(config_setting_get_int64(e)));
                }
                return o;
        }
        case SET_HOURS_MAP:
                return convert_hours_map(l, s, spec);
        case SET_LADDER:
                return convert_ladder(l, s, spec);
        case SET_HOLIDAYS:
                return convert_holidays(l, s, spec);
        case SET_ANY:
                return setting_to_json(s);
        }
        return NULL;
}

static const struct setting_spec *find_spec(const struct setting_spec *specs, const char *name) {
        for (size_t i = 0; specs && specs[i].name; i++)
                if (streq(specs[i].name, name))
                        return &specs[i];
        return NULL;
}

/* Case-blind edit distance between two setting names, or a large number
 * for names too long to be worth comparing. */
static size_t name_distance(const char *x, const char *y) {
        size_t nx = strlen(x), ny = strlen(y);
        if (nx > 63 || ny > 63)
                return SIZE_MAX;
        size_t row[64];
        for (size_t j = 0; j <= ny; j++)
                row[j] = j;
        for (size_t i = 1; i <= nx; i++) {
                size_t diagonal = row[0];
                row[0] = i;
                for (size_t j = 1; j <= ny; j++) {
                        size_t above = row[j];
                        size_t change = diagonal + (tolower((unsigned char)x[i - 1]) != tolower((unsigned char)y[j - 1]));
                        size_t insert_or_delete = above < row[j - 1] ? above + 1 : row[j - 1] + 1;
                        row[j] = change < insert_or_delete ? change : insert_or_delete;
                        diagonal = above;
                }
        }
        return row[ny];
}

/* Whether known is close enough to the misspelt name to suggest it: the
 * same but for case, or at most one edit (two for names of five letters or
 * more: "emial"), and closer than *best, which it then becomes. */
static bool name_is_close(const char *name, const char *known, size_t *best) {
        size_t d = name_distance(name, known);
        if (d > (strlen(name) >= 5 ? 2u : 1u) || d >= *best)
                return false;
        *best = d;
        return true;
}

static const char *closest_spec_name(const char *name, const struct setting_spec *a, const struct setting_spec *b, size_t *best) {
        const char *found = NULL;
        for (const struct setting_spec *const *set = (const struct setting_spec *const[]){a, b, NULL}; *set; set++)
                for (size_t i = 0; (*set)[i].name; i++)
                        if (name_is_close(name, (*set)[i].name, best))
                                found = (*set)[i].name;
        return found;
}

static void explain_unknown_setting(char *buf, size_t size, const char *name, const struct setting_spec *a,
                                    const struct setting_spec *b);

/* Check a group: every member known and well typed.  Returns an object with
 * all members converted plus the defaults of the missing ones. */
static json_object *convert_group(struct loader *l, const config_setting_t *g, const struct setting_spec *a, const struct setting_spec *b) {
        json_object *o = json_object_new_object();
        for (const struct setting_spec *const *set = (const struct setting_spec *const[]){a, b, NULL}; *set; set++)
                for (size_t i = 0; (*set)[i].name; i++)
                        if ((*set)[i].def) {
                                json_object *v = json_tokener_parse((*set)[i].def);
                                int64_t secs;
                                /* A duration default may be written "3d": store seconds, as for values. */
                                if ((*set)[i].type == SET_DURATION && json_object_is_type(v, json_type_string) &&
                                    parse_duration(json_object_get_string(v), &secs) == 0) {
                                        json_object_put(v);
                                        v = json_object_new_int64(secs);
                                }
                                json_object_object_add(o, (*set)[i].name, v);
                        }
        if (!g)
                return o;
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
                complain(l, g, "expected a group { ... }");
                return o;
        }
        for (int i = 0; i < config_setting_length(g); i++) {
                const config_setting_t *s = config_setting_get_elem(g, i);
                const char *name = config_setting_name(s);
                /* A job's own spec re-declaring a common setting (digest's
                 * max_lateness, at most 7 days) wins, as its default does. */
                const struct setting_spec *spec = find_spec(b, name);
                if (!spec)
                        spec = find_spec(a, name);
                if (!spec) {
                        /* A typo or a setting put in the wrong group: say
                         * which one was probably meant. */
                        char hint[512];
                        explain_unknown_setting(hint, sizeof hint, name, a, b);
                        complain(l, s, "unknown setting%s", hint);
                        continue;
                }
                json_object *v = convert_setting(l, s, spec);
                if (v)
                        json_object_object_add(o, name, v);
        }
        return o;
}

static const char *const tls_choices[] = {"required", "opportunistic", "none", NULL};
static const char *const sms_format_choices[] = {"twilio", "json", NULL};

static const struct setting_spec top_specs[] = {
        {"time_zone", SET_STRING, "\"UTC\"", NULL, 0, 0},
        {"locale", SET_STRING, "\"en\"", NULL, 0, 0},
        {"instance", SET_STRING, NULL, NULL, 0, 0},
        {"database", SET_ANY, NULL, NULL, 0, 0},
        {"templates", SET_ANY, NULL, NULL, 0, 0},
        {"email", SET_ANY, NULL, NULL, 0, 0},
        {"sms", SET_ANY, NULL, NULL, 0, 0},
        {"outbox", SET_ANY, NULL, NULL, 0, 0},
        {"jobs", SET_ANY, NULL, NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const struct setting_spec database_specs[] = {
        {"conninfo", SET_STRING, NULL, NULL, 0, 0},
        {"password_file", SET_STRING, NULL, NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const struct setting_spec templates_specs[] = {
        {"dir", SET_STRING, NULL, NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const struct setting_spec email_specs[] = {
        {"smtp_url", SET_STRING, NULL, NULL, 0, 0},
        {"from", SET_STRING, NULL, NULL, 0, 0},
        {"username", SET_STRING, NULL, NULL, 0, 0},
        {"password_file", SET_STRING, NULL, NULL, 0, 0},
        {"tls", SET_ENUM, "\"required\"", tls_choices, 0, 0},
        {"ca_file", SET_STRING, NULL, NULL, 0, 0},
        {"redirect_to", SET_STRING, NULL, NULL, 0, 0},
        {"unsubscribe_mailto", SET_STRING, NULL, NULL, 0, 0},
        {"unsubscribe_url", SET_STRING, NULL, NULL, 0, 0},
        {"connections", SET_INT, "4", NULL, 1, 256},
        {"rate", SET_FLOAT, "0", NULL, 0, 0},
        {"timeout", SET_DURATION, "60", NULL, 1, 3600},
        {"quiet_hours", SET_STRING, "\"\"", NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const struct setting_spec sms_specs[] = {
        {"gateway_url", SET_STRING, NULL, NULL, 0, 0},
        {"format", SET_ENUM, "\"json\"", sms_format_choices, 0, 0},
        {"from", SET_STRING, NULL, NULL, 0, 0},
        {"username", SET_STRING, NULL, NULL, 0, 0},
        {"token_file", SET_STRING, NULL, NULL, 0, 0},
        {"connections", SET_INT, "4", NULL, 1, 256},
        {"rate", SET_FLOAT, "0", NULL, 0, 0},
        {"timeout", SET_DURATION, "30", NULL, 1, 3600},
        {"quiet_hours", SET_STRING, "\"21:00-08:00\"", NULL, 0, 0},
        {"max_segments", SET_INT, "3", NULL, 1, 20},
        {"redirect_to", SET_STRING, NULL, NULL, 0, 0},
        {"json_fields", SET_ANY, NULL, NULL, 0, 0},
        {"json_reply_id", SET_ANY, NULL, NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

/* sms.json_fields: the member names of a "json" request. */
static const struct setting_spec sms_json_fields_specs[] = {
        {"to", SET_STRING, "\"to\"", NULL, 0, 0},
        {"from", SET_STRING, "\"from\"", NULL, 0, 0},
        {"text", SET_STRING, "\"text\"", NULL, 0, 0},
        {"idempotency_key", SET_STRING, "\"idempotency_key\"", NULL, 0, 0},
        {NULL, 0, NULL, NULL, 0, 0},
};

static const struct setting_spec outbox_specs[] = {
        {"lease", SET_DURATION, "300", NULL, 10, 86400},
        {"batch", SET_INT, "100", NULL, 1, 10000},
        {"retry", SET_ANY, "[60, 300, 1800, 7200, 43200]", NULL, 0, 0},
        {"max_attempts", SET_INT, "6", NULL, 1, 100},
        {"max_age", SET_DURATION, "259200", NULL, 60, 366LL * 86400}, /* 3 days */
        {"retention_days", SET_INT, "90", NULL, 1, 36500},
        {NULL, 0, NULL, NULL, 0, 0},
};

/* After "unknown setting": "; did you mean 'lease'?" for a near miss in
 * this group, or "; max_segments is a setting of sms, not of this group"
 * (or of the jobs that have it) for one that belongs elsewhere; empty when
 * neither applies. */
static void explain_unknown_setting(char *buf, size_t size, const char *name, const struct setting_spec *a,
                                    const struct setting_spec *b) {
        buf[0] = '\0';
        size_t best = SIZE_MAX;
        const char *near = closest_spec_name(name, a, b, &best);
        if (near) {
                snprintf(buf, size, "; did you mean '%s'?", near);
                return;
        }
        static const struct {
                const char *group;
                const struct setting_spec *specs;
        } groups[] = {
                {"the top level", top_specs}, {"database", database_specs}, {"templates", templates_specs},
                {"email", email_specs},       {"sms", sms_specs},           {"sms.json_fields", sms_json_fields_specs},
                {"outbox", outbox_specs},     {"every job", job_common_settings},
        };
        for (size_t i = 0; i < ELEMENTSOF(groups); i++)
                if (groups[i].specs != a && groups[i].specs != b && find_spec(groups[i].specs, name)) {
                        snprintf(buf, size, "; %s is a setting of %s, not of this group", name, groups[i].group);
                        return;
                }
        /* One job's setting in another job: the jobs that have it. */
        size_t used = 0;
        for (size_t i = 0; job_defs[i]; i++)
                if (job_defs[i]->settings != b && find_spec(job_defs[i]->settings, name)) {
                        int n = used ? snprintf(buf + used, size - used, ", %s", job_defs[i]->name)
                                     : snprintf(buf, size, "; %s is a setting of the jobs %s", name, job_defs[i]->name);
                        if (n < 0 || (size_t)n >= size - used)
                                break;
                        used += (size_t)n;
                }
        if (used && used + 1 < size)
                snprintf(buf + used, size - used, ", not of this one");
}

static char *json_dup_string(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
                return NULL;
        return strdup(json_object_get_string(v));
}

static int64_t json_get_int(json_object *o, const char *key) {
        json_object *v;
        return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* A channel's rate (messages per second, 0: unlimited) from its converted
 * group o; g is the group in the file, for a complaint's line. */
static double group_rate(struct loader *l, config_setting_t *g, json_object *o) {
        json_object *v;
        double rate = json_object_object_get_ex(o, "rate", &v) ? json_object_get_double(v) : 0;
        if (rate < 0)
                complain(l, config_setting_lookup(g, "rate"), "must not be negative");
        return rate;
}

/* A relative file or directory setting is relative to the configuration
 * file's directory, never to the current one: the service runs from /, so
 * the current directory would name another file there than in the shell
 * that checked it (rapportd -n, rapportctl check in /etc/rapport).  Takes
 * *v and leaves an absolute path in its place (NULL stays NULL). */
static int resolve_path(const char *dir, char **v) {
        if (!*v || (*v)[0] == '/')
                return 0;
        char *abs = NULL;
        if (asprintf(&abs, "%s/%s", dir, *v) < 0)
                return -ENOMEM;
        free(*v);
        *v = abs;
        return 0;
}

/* The directory relative paths in a configuration file start from:
 * absolute when it can be (a daemon started as rapportd --config
 * rapport.conf reloads from the same place).  Returns a malloc'd string. */
static char *config_dir(const char *config_file) {
        _cleanup_free_ char *copy = strdup(config_file);
        if (!copy)
                return NULL;
        char *abs = realpath(dirname(copy), NULL);
        return abs ? abs : strdup(copy);
}

char *config_resolve_path(const char *config_file, const char *value) {
        _cleanup_free_ char *dir = config_dir(config_file);
        char *v = strdup(value);
        if (!dir || !v || resolve_path(dir, &v) < 0) {
                free(v);
                return NULL;
        }
        return v;
}

/* Secrets: a *_file setting wins; otherwise systemd's credential of the
 * given name if the service has one. */
static char *load_secret(struct loader *l, const config_setting_t *group, const char *key, const char *file,
                         const char *credential, bool required) {
        /* Complaints name the setting (email.password_file), not its group. */
        const config_setting_t *where = group ? config_setting_lookup((config_setting_t *)group, key) : NULL;
        if (!where)
                where = group;
        _cleanup_free_ char *path = NULL;
        if (file) {
                path = strdup(file);
                if (resolve_path(l->dir, &path) < 0)
                        return NULL;
        } else {
                const char *dir = getenv("CREDENTIALS_DIRECTORY");
                if (dir) {
                        if (asprintf(&path, "%s/%s", dir, credential) < 0)
                                return NULL;
                        if (access(path, F_OK) < 0)
                                return NULL;
                } else {
                        /* Outside the unit (rapportctl, or rapportd run by
                         * hand): the file the unit's LoadCredential= reads,
                         * beside the configuration, when this user may read
                         * it; otherwise no secret, as before. */
                        path = strdup(credential);
                        if (!path || resolve_path(l->dir, &path) < 0)
                                return NULL;
                        if (access(path, R_OK) < 0)
                                return NULL;
                }
        }
        char *data = NULL;
        int r = read_file(path, &data, NULL);
        if (r < 0) {
                if (required)
                        complain(l, where, "cannot read secret file %s: %s", path, strerror(-r));
                return NULL;
        }
        data[strcspn(data, "\r\n")] = '\0';
        if (!data[0]) {
                /* An empty secret is no secret: don't send empty credentials. */
                free(data);
                return NULL;
        }
        return data;
}

/* "Name <address>", "\"Name, Inc.\" <address>" or a bare address.  The
 * address is in the last <…> (a quoted name may hold '<'); a quoted name
 * loses its quotes and its backslash escapes (\" is a quote). */
static int parse_from(const char *v, char **name, char **addr) {
        const char *lt = strrchr(v, '<');
        if (!lt) {
                *addr = strdup(v);
                *name = NULL;
                return *addr ? 0 : -ENOMEM;
        }
        const char *gt = strchr(lt, '>');
        if (!gt || gt[1])
                return -EINVAL;
        size_t n = (size_t)(lt - v);
        while (n > 0 && v[n - 1] == ' ')
                n--;
        *name = NULL;
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                char *out = malloc(n);
                if (!out)
                        return -ENOMEM;
                size_t k = 0;
                for (size_t i = 1; i + 1 < n; i++) {
                        if (v[i] == '\\' && i + 2 < n)
                                i++;
                        out[k++] = v[i];
                }
                out[k] = '\0';
                if (k)
                        *name = out;
                else
                        free(out);
        } else if (n)
                *name = strndup(v, n);
        *addr = strndup(lt + 1, (size_t)(gt - lt - 1));
        return *addr ? 0 : -ENOMEM;
}

static void load_job(struct loader *l, struct rapport_config *c, config_setting_t *g, const struct job_def *def, struct job_config *j) {
        j->def = def;
        j->name = def->name;
        json_object *o = convert_group(l, g, job_common_settings, def->settings);
        json_object *v;

        j->enabled = json_object_object_get_ex(o, "enabled", &v) && json_object_get_boolean(v);
        j->dry_run = json_object_object_get_ex(o, "dry_run", &v) && json_object_get_boolean(v);
        j->schedule = json_dup_string(o, "schedule");
        if (!j->schedule)
                j->schedule = strdup(def->default_schedule);
        char err[256];
        if (cron_parse(j->schedule, &j->cron, err, sizeof err) < 0)
                complain(l, config_setting_lookup(g, "schedule") ?: g, "%s", err);

        j->time_zone = json_dup_string(o, "time_zone");
        if (!j->time_zone)
                j->time_zone = strdup(c->time_zone);
        int r = tz_load(j->time_zone, &j->tz);
        /* A zone inherited from the top level was reported there already:
         * once, at the line that has it, not again at every job. */
        const config_setting_t *tzs = config_setting_lookup(g, "time_zone");
        if (r < 0 && tzs)
                complain(l, tzs, "unknown time zone \"%s\"", j->time_zone);

        const char *cu = json_object_object_get_ex(o, "catch_up", &v) ? json_object_get_string(v) : "latest";
        j->catch_up = streq(cu, "all") ? CATCH_UP_ALL : streq(cu, "none") ? CATCH_UP_NONE : CATCH_UP_LATEST;
        j->catch_up_window = json_get_int(o, "catch_up_window");
        j->catch_up_max = (int)json_get_int(o, "catch_up_max");

        if (json_object_object_get_ex(o, "channels", &v)) {
                size_t n = json_object_array_length(v);
                j->channels = calloc(n + 1, sizeof(char *));
                for (size_t i = 0; j->channels && i < n; i++)
                        j->channels[i] = strdup(json_object_get_string(json_object_array_get_idx(v, i)));
        }
        j->settings_json = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
        json_object_put(o);
}

/* The dunning ladder's levels after the due date, for the digest's
 * sections: [1, 15, 30, 60] from the default ladder. */
static json_object *ladder_days_of(json_object *levels) {
        int days[64];
        size_t n = 0;
        for (size_t i = 0; json_object_is_type(levels, json_type_array) && i < json_object_array_length(levels); i++) {
                json_object *d;
                if (!json_object_object_get_ex(json_object_array_get_idx(levels, i), "days", &d) ||
                    !json_object_is_type(d, json_type_int))
                        continue;
                int v = json_object_get_int(d);
                bool seen = v < 1;
                for (size_t k = 0; k < n && !seen; k++)
                        seen = days[k] == v;
                if (!seen && n < sizeof days / sizeof *days)
                        days[n++] = v;
        }
        if (n == 0)
                return NULL;
        for (size_t a = 0; a < n; a++)
                for (size_t b = a + 1; b < n; b++)
                        if (days[b] < days[a]) {
                                int x = days[a];
                                days[a] = days[b], days[b] = x;
                        }
        json_object *arr = json_object_new_array();
        for (size_t i = 0; arr && i < n; i++)
                json_object_array_add(arr, json_object_new_int(days[i]));
        return arr;
}

/* The digest shows what the other jobs act on, so it uses their
 * thresholds: each one the digest's own group does not set is copied from
 * the job that owns it (as configured there, defaults included), and one
 * place in the configuration changes both the messages and the digest. */
static int share_digest_settings(struct rapport_config *c, config_setting_t *jobs_group) {
        static const struct {
                const char *digest_key, *job, *key;
        } shared[] = {
                {"birthday_lookahead_days", "birthdays", "lookahead_days"},
                {"feb29", "birthdays", "feb29"},
                {"cadence_days", "follow_ups", "cadence_days"},
                {"dormant_days", "dormant", "dormant_days"},
                {"response_hours", "complaints", "response_hours"},
                {"bad_debt_days", "receivables", "bad_debt_days"},
                {"ladder_days", "receivables", "levels"},
        };
        /* The loader's own configuration, not yet handed out: writable. */
        struct job_config *digest = (struct job_config *)config_job(c, "digest");
        config_setting_t *dg = jobs_group ? config_setting_lookup(jobs_group, "digest") : NULL;
        if (!digest || !digest->settings_json)
                return 0;
        json_object *ds = json_tokener_parse(digest->settings_json);
        if (!ds)
                return -ENOMEM;
        bool changed = false;
        for (size_t i = 0; i < sizeof shared / sizeof *shared; i++) {
                const struct job_config *src = config_job(c, shared[i].job);
                if (!src || !src->settings_json || (dg && config_setting_lookup(dg, shared[i].digest_key)))
                        continue;
                json_object *ss = json_tokener_parse(src->settings_json), *v;
                if (ss && json_object_object_get_ex(ss, shared[i].key, &v)) {
                        json_object *copy = streq(shared[i].digest_key, "ladder_days") ? ladder_days_of(v) : NULL;
                        if (!copy && !streq(shared[i].digest_key, "ladder_days"))
                                json_object_deep_copy(v, &copy, NULL);
                        if (copy) {
                                json_object_object_add(ds, shared[i].digest_key, copy);
                                changed = true;
                        }
                }
                json_object_put(ss);
        }
        int r = 0;
        if (changed) {
                char *js = strdup(json_object_to_json_string_ext(ds, JSON_C_TO_STRING_PLAIN));
                if (js) {
                        free(digest->settings_json);
                        digest->settings_json = js;
                } else
                        r = -ENOMEM;
        }
        json_object_put(ds);
        return r;
}

static int load_retry(struct loader *l, struct rapport_config *c, config_setting_t *g) {
        const config_setting_t *s = g ? config_setting_lookup(g, "retry") : NULL;
        static const int64_t def[] = {60, 300, 1800, 7200, 43200};
        if (!s) {
                c->outbox.retry = malloc(sizeof def);
                if (!c->outbox.retry)
                        return -ENOMEM;
                memcpy(c->outbox.retry, def, sizeof def);
                c->outbox.n_retry = ELEMENTSOF(def);
                return 0;
        }
        int t = config_setting_type(s);
        if ((t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) || config_setting_length(s) == 0) {
                complain(l, s, "expected a non-empty list of durations, e.g. [\"1m\", \"5m\", \"30m\", \"2h\", \"12h\"]");
                return 0;
        }
        c->outbox.n_retry = (size_t)config_setting_length(s);
        c->outbox.retry = calloc(c->outbox.n_retry, sizeof(int64_t));
        if (!c->outbox.retry)
                return -ENOMEM;
        for (int i = 0; i < config_setting_length(s); i++) {
                const config_setting_t *e = config_setting_get_elem(s, i);
                int64_t v = -1;
                if (is_int(e))
                        v = config_setting_get_int64(e);
                else if (config_setting_type(e) == CONFIG_TYPE_STRING)
                        (void)parse_duration(config_setting_get_string(e), &v);
                if (v <= 0)
                        complain(l, e, "expected a positive duration");
                c->outbox.retry[i] = v;
        }
        return 0;
}

/* "21:00-08:00" (may wrap midnight) or "" for none. */
static void load_quiet_hours(struct loader *l, config_setting_t *g, json_object *o, int *start, int *end) {
        _cleanup_free_ char *q = json_dup_string(o, "quiet_hours");
        int a, b, used = -1;
        char s1[8], s2[8];
        *start = *end = 0;
        if (!q || !*q)
                return;
        /* The whole value: "21:00-08:00 Mon-Fri" must not pass as every day. */
        if (sscanf(q, "%5[0-9:]-%5[0-9:]%n", s1, s2, &used) != 2 || used < 0 || q[used] != '\0' ||
            parse_time_of_day(s1, &a) < 0 || parse_time_of_day(s2, &b) < 0)
                complain(l, config_setting_lookup(g, "quiet_hours"), "expected \"HH:MM-HH:MM\" or \"\" for none");
        else
                *start = a, *end = b;
}

/* sms.json_fields and sms.json_reply_id: a provider's own names for the
 * request's members and the reply's message id.  Checked here, with the
 * file and line, because a clash or an empty name would otherwise only
 * show as every SMS failing (or silently losing a field) at send time. */
static int load_sms_json(struct loader *l, struct rapport_config *c, config_setting_t *g) {
        config_setting_t *f = g ? config_setting_lookup(g, "json_fields") : NULL;
        config_setting_t *rid = g ? config_setting_lookup(g, "json_reply_id") : NULL;
        if (c->sms.format != SMS_FORMAT_JSON) {
                if (f)
                        complain(l, f, "only used with format = \"json\"");
                if (rid)
                        complain(l, rid, "only used with format = \"json\"");
        }

        json_object *o = convert_group(l, f, sms_json_fields_specs, NULL);
        c->sms.json_to = json_dup_string(o, "to");
        c->sms.json_from = json_dup_string(o, "from");
        c->sms.json_text = json_dup_string(o, "text");
        c->sms.json_idempotency_key = json_dup_string(o, "idempotency_key");
        json_object_put(o);
        if (!c->sms.json_to || !c->sms.json_from || !c->sms.json_text || !c->sms.json_idempotency_key)
                return -ENOMEM;
        const char *const names[] = {"to", "from", "text", "idempotency_key"};
        const char *const values[] = {c->sms.json_to, c->sms.json_from, c->sms.json_text, c->sms.json_idempotency_key};
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                config_setting_t *where = f ? config_setting_lookup(f, names[i]) ?: f : g;
                if (!*values[i] && i < 3)
                        complain(l, where, "must not be empty");
                else if (!utf8_valid(values[i]))
                        complain(l, where, "not valid UTF-8");
                for (size_t k = 0; k < i; k++)
                        if (*values[i] && streq(values[i], values[k]))
                                complain(l, where, "\"%s\" is already the name of json_fields.%s", values[i], names[k]);
        }

        if (!rid)
                return 0;
        int t = config_setting_type(rid);
        bool list = t == CONFIG_TYPE_ARRAY || t == CONFIG_TYPE_LIST;
        if ((!list && t != CONFIG_TYPE_STRING) || (list && config_setting_length(rid) == 0)) {
                complain(l, rid, "expected a member name or path, or a non-empty list of them, e.g. [\"id\", \"data.id\"]");
                return 0;
        }
        int n = list ? config_setting_length(rid) : 1;
        c->sms.json_reply_id = calloc((size_t)n + 1, sizeof(char *));
        if (!c->sms.json_reply_id)
                return -ENOMEM;
        for (int i = 0; i < n; i++) {
                config_setting_t *e = list ? config_setting_get_elem(rid, i) : rid;
                const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
                if (!sms_reply_path_valid(v)) {
                        complain(l, e, "expected a member name or a dotted path such as \"data.id\" or \"messages.0.id\"");
                        continue;
                }
                c->sms.json_reply_id[i] = strdup(v);
                if (!c->sms.json_reply_id[i])
                        return -ENOMEM;
        }
        return 0;
}

static bool url_scheme_is(const char *url, const char *const *schemes) {
        for (size_t i = 0; schemes[i]; i++)
                if (strncmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])])
                        return true;
        return false;
}

/* libconfig 1.5 reads a decimal or hexadecimal integer without an L suffix
 * into 32 bits and says nothing when it does not fit: "connections =
 * 4294967300" would read as 4.  Find such literals in the text first, as
 * its scanner would tokenise it (strings and comments skipped). */
static int check_integer_literals(const char *path, const char *text) {
        /* The setting a literal belongs to, for the message: the names of
         * the groups around it and the last name seen. */
        char where[512] = "";
        size_t depth_len[32], depth = 0;
        const char *name = NULL;
        int name_len = 0, line = 1;
        for (const char *p = text; *p;) {
                if (*p == '\n') {
                        line++;
                        p++;
                } else if (*p == '"') {
                        for (p++; *p && *p != '"'; p++) {
                                if (*p == '\\' && p[1])
                                        p++;
                                line += *p == '\n';
                        }
                        if (*p)
                                p++;
                } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
                        p += strcspn(p, "\n");
                } else if (p[0] == '/' && p[1] == '*') {
                        const char *end = strstr(p + 2, "*/");
                        for (const char *q = p; *q && q != end; q++)
                                line += *q == '\n';
                        p = end ? end + 2 : p + strlen(p);
                } else if (isalpha((unsigned char)*p) || *p == '*') {
                        /* A name: digits in it are no number. */
                        name = p;
                        while (isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '*')
                                p++;
                        name_len = (int)(p - name);
                } else if (*p == '{') {
                        if (depth < ELEMENTSOF(depth_len)) {
                                size_t used = strlen(where);
                                depth_len[depth++] = used;
                                if (name)
                                        snprintf(where + used, sizeof where - used, "%.*s.", name_len, name);
                        }
                        name = NULL;
                        p++;
                } else if (*p == '}') {
                        if (depth > 0)
                                where[depth_len[--depth]] = '\0';
                        name = NULL;
                        p++;
                } else if (isdigit((unsigned char)*p) || ((*p == '-' || *p == '+') && isdigit((unsigned char)p[1]))) {
                        const char *start = p;
                        p += *p == '-' || *p == '+';
                        bool hex = p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
                        const char *digits = hex ? p + 2 : p;
                        p = digits;
                        while (hex ? isxdigit((unsigned char)*p) : isdigit((unsigned char)*p))
                                p++;
                        if (!hex && (*p == '.' || *p == 'e' || *p == 'E')) {
                                /* A float: the rest of it is no integer. */
                                for (p++; isalnum((unsigned char)*p) || *p == '.' ||
                                          ((*p == '-' || *p == '+') && (p[-1] == 'e' || p[-1] == 'E'));
                                     p++)
                                        ;
                                continue;
                        }
                        if (*p == 'L')
                                continue; /* 64 bits, as written */
                        size_t n = (size_t)(p - digits);
                        while (n > 1 && *digits == '0')
                                digits++, n--;
                        bool too_big;
                        if (hex)
                                too_big = n > 8;
                        else {
                                /* INT_MIN's magnitude fits only with its sign. */
                                const char *limit = start[0] == '-' ? "2147483648" : "2147483647";
                                too_big = n > 10 || (n == 10 && strncmp(digits, limit, 10) > 0);
                        }
                        if (too_big) {
                                log_error("%s:%d: %s%.*s: %.*s does not fit a 32-bit integer (-2147483648 to 2147483647); "
                                          "write it with an L suffix if a 64-bit value is meant",
                                          path, line, where, name ? name_len : 1, name ? name : "?", (int)(p - start), start);
                                return -ERANGE;
                        }
                } else
                        p++;
        }
        return 0;
}

/* libconfig 1.5 exits the whole process (its scanner's fatal error) when an
 * @include names a directory, and has no hook to intercept includes; so
 * vet every @include, recursively, before handing the file over. */
static int check_includes(const char *path, const char *include_dir, int depth) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        if (read_file(path, &text, &len) < 0)
                return 0; /* libconfig reports unreadable files itself */
        /* libconfig's scanner reads past a NUL byte (and then exits the whole
         * process on some directives behind it), while the scan below would
         * stop there: a text configuration never holds one, so refuse it. */
        const char *nul = memchr(text, '\0', len);
        if (nul) {
                int at = 1;
                for (const char *p = text; p < nul; p++)
                        at += *p == '\n';
                log_error("%s:%d: contains a NUL byte: not a text configuration file", path, at);
                return -EINVAL;
        }
        if (check_integer_literals(path, text) < 0)
                return -EINVAL;
        int line = 1;
        for (char *p = text; *p; line++) {
                char *eol = strchr(p, '\n');
                if (eol)
                        *eol = '\0';
                char *q = p + strspn(p, " \t");
                if (strncmp(q, "@include", 8) == 0) {
                        char name[4096], target[8192];
                        if (sscanf(q + 8, " \"%4095[^\"]\"", name) == 1) {
                                /* As libconfig will read it: relative to the
                                 * main file's directory (config_set_include_dir
                                 * below), not to wherever rapportd was started. */
                                snprintf(target, sizeof target, "%s%s%s", name[0] == '/' ? "" : include_dir,
                                         name[0] == '/' ? "" : "/", name);
                                struct stat st;
                                if (depth >= 10) {
                                        log_error("%s:%d: @include nested too deeply", path, line);
                                        return -EINVAL;
                                }
                                if (stat(target, &st) < 0 || !S_ISREG(st.st_mode) || access(target, R_OK) < 0) {
                                        log_error("%s:%d: @include \"%s\": not a readable regular file", path, line, target);
                                        return -EINVAL;
                                }
                                int r = check_includes(target, include_dir, depth + 1);
                                if (r < 0)
                                        return r;
                        }
                }
                if (!eol)
                        break;
                p = eol + 1;
        }
        return 0;
}

int config_load(const char *path, bool check_secrets, struct rapport_config **ret) {
        _cleanup_(config_freep) struct rapport_config *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->path = strdup(path);

        /* libconfig says only "file I/O error", and leaves errno as it
         * happens to be. */
        if (access(path, R_OK) < 0) {
                log_error_errno(-errno, "%s: cannot read configuration: %m", path);
                return -EINVAL;
        }
        _cleanup_free_ char *path_copy = strdup(path), *base_copy = strdup(path);
        if (!path_copy || !base_copy)
                return -ENOMEM;
        const char *include_dir = dirname(path_copy);
        _cleanup_free_ char *dir = config_dir(path);
        if (!dir)
                return -ENOMEM;
        if (check_includes(path, include_dir, 0) < 0)
                return -EINVAL;
        /* An @include "name" is read relative to the main file's directory.
         * libconfig 1.5's config_set_include_dir would do that for a
         * relative name but also prefixes an absolute one ("/etc/rapport/"
         * + "/etc/rapport/x.conf"), so libconfig reads the file from that
         * directory as its current one instead, and the current one is
         * restored at once. */
        struct loader l = {.file = path, .dir = dir, .read_as = path};
        config_t cfg;
        config_init(&cfg);
        int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool moved = cwd >= 0 && chdir(include_dir) == 0;
        if (moved && path[0] != '/')
                l.read_as = basename(base_copy);
        else if (!moved)
                config_set_include_dir(&cfg, include_dir);
        int ok = config_read_file(&cfg, l.read_as);
        int read_errno = errno;
        if (moved && fchdir(cwd) < 0) {
                log_error_errno(-errno, "Cannot return to the current directory after reading %s: %m", path);
                ok = 0;
        }
        if (cwd >= 0)
                close(cwd);
        if (!ok) {
                char buf[PATH_MAX + 256];
                errno = read_errno;
                if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
                        log_error("%s: cannot read configuration: %m", path);
                else if (config_error_type(&cfg) != CONFIG_ERR_NONE)
                        log_error("%s:%d: %s", source_name(&l, config_error_file(&cfg), buf, sizeof buf),
                                  config_error_line(&cfg), config_error_text(&cfg));
                config_destroy(&cfg);
                return -EINVAL;
        }

        config_setting_t *root = config_root_setting(&cfg);
        json_object *top = convert_group(&l, root, top_specs, NULL);
        c->time_zone = json_dup_string(top, "time_zone");
        c->locale = json_dup_string(top, "locale");
        if (!language_tag_ok(c->locale))
                complain(&l, config_setting_lookup(root, "locale") ?: root,
                         "\"%s\" is not a language tag such as zh-CN or en", c->locale ? c->locale : "");
        c->instance = json_dup_string(top, "instance");
        json_object_put(top);
        if (tz_load(c->time_zone, &c->tz) < 0)
                complain(&l, config_setting_lookup(root, "time_zone") ?: root, "unknown time zone \"%s\"", c->time_zone);
        if (!c->instance) {
                char host[256] = "localhost";
                gethostname(host, sizeof host - 1);
                if (asprintf(&c->instance, "%s:%d", host, (int)getpid()) < 0)
                        c->instance = NULL;
        }

        /* database */
        config_setting_t *g = config_setting_lookup(root, "database");
        json_object *o = convert_group(&l, g, database_specs, NULL);
        c->conninfo = json_dup_string(o, "conninfo");
        if (!c->conninfo)
                complain(&l, g ?: root, "database.conninfo is required");
        else
                check_conninfo(&l, config_setting_lookup(g, "conninfo"), c->conninfo);
        {
                _cleanup_free_ char *pf = json_dup_string(o, "password_file");
                c->db_password = load_secret(&l, g, "password_file", pf, "db-password", check_secrets);
        }
        json_object_put(o);

        /* templates */
        g = config_setting_lookup(root, "templates");
        o = convert_group(&l, g, templates_specs, NULL);
        c->templates_dir = json_dup_string(o, "dir");
        if (!c->templates_dir)
                c->templates_dir = strdup(RAPPORT_TEMPLATES_DIR);
        else
                resolve_path(l.dir, &c->templates_dir);
        json_object_put(o);

        /* email */
        g = config_setting_lookup(root, "email");
        o = convert_group(&l, g, email_specs, NULL);
        c->email.smtp_url = json_dup_string(o, "smtp_url");
        if (c->email.smtp_url && !url_scheme_is(c->email.smtp_url, (const char *const[]){"smtp://", "smtps://", NULL}))
                complain(&l, config_setting_lookup(g, "smtp_url"), "expected an smtp:// or smtps:// URL");
        {
                _cleanup_free_ char *from = json_dup_string(o, "from");
                if (from && parse_from(from, &c->email.from_name, &c->email.from_addr) < 0)
                        complain(&l, config_setting_lookup(g, "from"), "expected \"Name <address>\" or an address");
                if (c->email.smtp_url && !c->email.from_addr)
                        complain(&l, g, "email.from is required when email.smtp_url is set");
                /* The message builder's own test: an address it would refuse
                 * would fail every message, permanently, at send time. */
                if (c->email.from_addr && !email_address_valid(c->email.from_addr))
                        complain(&l, config_setting_lookup(g, "from"), "\"%s\" is not an e-mail address", c->email.from_addr);
                _cleanup_free_ char *pf = json_dup_string(o, "password_file");
                c->email.password = load_secret(&l, g, "password_file", pf, "smtp-password", check_secrets);
        }
        c->email.username = json_dup_string(o, "username");
        /* Without a password libcurl still offers AUTH, and every message
         * would come back 535 and wait out its retries: caught here. */
        if (check_secrets && c->email.smtp_url && c->email.username && !c->email.password)
                complain(&l, config_setting_lookup(g, "username"),
                         "given, but no password: set email.password_file or the credential smtp-password");
        {
                _cleanup_free_ char *tls = json_dup_string(o, "tls");
                c->email.tls = streq_ptr(tls, "none") ? TLS_NONE : streq_ptr(tls, "opportunistic") ? TLS_OPPORTUNISTIC : TLS_REQUIRED;
        }
        /* libcurl logs in wherever the session went on: a server (or a man
         * in the middle) that does not offer STARTTLS gets the password. */
        if (c->email.username && c->email.tls != TLS_REQUIRED && c->email.smtp_url &&
            strncasecmp(c->email.smtp_url, "smtps://", 8) != 0)
                log_warning("%s:%d: email.tls = \"%s\" with email.username: the SMTP password goes in clear text to a "
                            "server that does not start TLS; \"required\" never sends it so",
                            l.file, config_setting_source_line(config_setting_lookup(g, "tls") ?: g),
                            c->email.tls == TLS_NONE ? "none" : "opportunistic");
        c->email.ca_file = json_dup_string(o, "ca_file");
        /* Read by libcurl at each TLS handshake: a file that is not there
         * would fail every message, so say so now. */
        resolve_path(l.dir, &c->email.ca_file);
        if (c->email.ca_file && access(c->email.ca_file, R_OK) < 0) {
                int e = errno;
                complain(&l, config_setting_lookup(g, "ca_file"), "cannot read %s: %s", c->email.ca_file, strerror(e));
        }
        c->email.redirect_to = json_dup_string(o, "redirect_to");
        if (c->email.redirect_to && !email_address_valid(c->email.redirect_to))
                complain(&l, config_setting_lookup(g, "redirect_to"), "\"%s\" is not an e-mail address (just the address, no name)",
                         c->email.redirect_to);
        load_quiet_hours(&l, g, o, &c->email.quiet_start, &c->email.quiet_end);
        c->email.unsubscribe_mailto = json_dup_string(o, "unsubscribe_mailto");
        if (c->email.unsubscribe_mailto && !email_address_valid(c->email.unsubscribe_mailto))
                complain(&l, config_setting_lookup(g, "unsubscribe_mailto"), "\"%s\" is not an e-mail address",
                         c->email.unsubscribe_mailto);
        c->email.unsubscribe_url = json_dup_string(o, "unsubscribe_url");
        if (c->email.unsubscribe_url && !url_scheme_is(c->email.unsubscribe_url, (const char *const[]){"https://", "http://", NULL}))
                complain(&l, config_setting_lookup(g, "unsubscribe_url"), "expected an https:// URL (http:// is accepted for testing; one-click unsubscribe, RFC 8058, needs https)");
        c->email.connections = (int)json_get_int(o, "connections");
        c->email.rate = group_rate(&l, g, o);
        c->email.timeout = (int)json_get_int(o, "timeout");
        json_object_put(o);

        /* sms */
        g = config_setting_lookup(root, "sms");
        o = convert_group(&l, g, sms_specs, NULL);
        c->sms.gateway_url = json_dup_string(o, "gateway_url");
        if (c->sms.gateway_url && !url_scheme_is(c->sms.gateway_url, (const char *const[]){"http://", "https://", NULL}))
                complain(&l, config_setting_lookup(g, "gateway_url"), "expected an http:// or https:// URL");
        {
                _cleanup_free_ char *fmt = json_dup_string(o, "format");
                c->sms.format = streq_ptr(fmt, "twilio") ? SMS_FORMAT_TWILIO : SMS_FORMAT_JSON;
                _cleanup_free_ char *tf = json_dup_string(o, "token_file");
                c->sms.token = load_secret(&l, g, "token_file", tf, "sms-token", check_secrets);
                load_quiet_hours(&l, g, o, &c->sms.quiet_start, &c->sms.quiet_end);
        }
        c->sms.from = json_dup_string(o, "from");
        c->sms.username = json_dup_string(o, "username");
        c->sms.redirect_to = json_dup_string(o, "redirect_to");
        if (c->sms.redirect_to && !sms_number_valid(c->sms.redirect_to))
                complain(&l, config_setting_lookup(g, "redirect_to"), "\"%s\" is not a phone number in E.164 form (+8613800000000)",
                         c->sms.redirect_to);
        /* A staging system redirects its e-mail; its SMS would still reach
         * the customers' real phones. */
        if (c->email.redirect_to && !c->sms.redirect_to && c->sms.gateway_url)
                log_warning("%s: email.redirect_to is set but sms.redirect_to is not: SMS still go to the real numbers", l.file);
        /* Twilio's Messages API takes nothing without all three: caught
         * here, not as every SMS failing at send time. */
        if (c->sms.gateway_url && c->sms.format == SMS_FORMAT_TWILIO) {
                if (!c->sms.username)
                        complain(&l, g, "sms.format = \"twilio\" needs sms.username (the account SID)");
                if (!c->sms.from)
                        complain(&l, g, "sms.format = \"twilio\" needs sms.from (the sending number)");
                if (check_secrets && !c->sms.token)
                        complain(&l, g, "sms.format = \"twilio\" needs the auth token: sms.token_file or the credential sms-token");
                char *url = NULL;
                if (c->sms.username && sms_twilio_url(c->sms.gateway_url, c->sms.username, &url) < 0) {
                        config_destroy(&cfg);
                        return -ENOMEM;
                }
                if (url) {
                        free(c->sms.gateway_url);
                        c->sms.gateway_url = url;
                }
        }
        c->sms.connections = (int)json_get_int(o, "connections");
        c->sms.rate = group_rate(&l, g, o);
        c->sms.timeout = (int)json_get_int(o, "timeout");
        c->sms.max_segments = (int)json_get_int(o, "max_segments");
        json_object_put(o);
        if (load_sms_json(&l, c, g) < 0) {
                config_destroy(&cfg);
                return -ENOMEM;
        }

        /* outbox */
        g = config_setting_lookup(root, "outbox");
        o = convert_group(&l, g, outbox_specs, NULL);
        c->outbox.lease = json_get_int(o, "lease");
        c->outbox.batch = (int)json_get_int(o, "batch");
        c->outbox.max_attempts = (int)json_get_int(o, "max_attempts");
        c->outbox.max_age = json_get_int(o, "max_age");
        c->outbox.retention_days = (int)json_get_int(o, "retention_days");
        json_object_put(o);
        if (load_retry(&l, c, g) < 0) {
                config_destroy(&cfg);
                return -ENOMEM;
        }

        /* jobs */
        g = config_setting_lookup(root, "jobs");
        if (g && config_setting_type(g) != CONFIG_TYPE_GROUP)
                complain(&l, g, "expected a group of jobs");
        else if (g) {
                c->jobs = calloc((size_t)config_setting_length(g) + 1, sizeof *c->jobs);
                for (int i = 0; c->jobs && i < config_setting_length(g); i++) {
                        config_setting_t *jg = config_setting_get_elem(g, i);
                        const struct job_def *def = job_def_find(config_setting_name(jg));
                        if (!def) {
                                char known[256], hint[64] = "";
                                job_def_names(known, sizeof known);
                                size_t best = SIZE_MAX;
                                const char *near = NULL;
                                for (size_t k = 0; job_defs[k]; k++)
                                        if (name_is_close(config_setting_name(jg), job_defs[k]->name, &best))
                                                near = job_defs[k]->name;
                                if (near)
                                        snprintf(hint, sizeof hint, "; did you mean '%s'?", near);
                                complain(&l, jg, "unknown job (known jobs: %s)%s", known, hint);
                                continue;
                        }
                        load_job(&l, c, jg, def, &c->jobs[c->n_jobs++]);
                }
                if (share_digest_settings(c, g) < 0) {
                        config_destroy(&cfg);
                        return log_error_errno(-ENOMEM, "Loading %s: %m", path);
                }
        }

        for (size_t i = 0; !c->email.smtp_url && i < c->n_jobs; i++) {
                bool uses_email = false;
                for (char **ch = c->jobs[i].channels; ch && *ch; ch++)
                        uses_email = uses_email || streq(*ch, "email");
                if (c->jobs[i].enabled && uses_email) {
                        complain(&l, g, "job %s sends e-mail but email.smtp_url is not set", c->jobs[i].name);
                        break;
                }
        }
        config_destroy(&cfg);
        if (l.errors > 0) {
                log_error("%s: %d error%s in configuration", path, l.errors, l.errors == 1 ? "" : "s");
                return -EINVAL;
        }
        *ret = TAKE_PTR(c);
        return 0;
}

const struct job_config *config_job(const struct rapport_config *c, const char *name) {
        for (size_t i = 0; i < c->n_jobs; i++)
                if (streq(c->jobs[i].name, name))
                        return &c->jobs[i];
        return NULL;
}

static void erase_free(char *secret) {
        if (secret)
                explicit_bzero(secret, strlen(secret));
        free(secret);
}

struct rapport_config *config_free(struct rapport_config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_jobs; i++) {
                struct job_config *j = &c->jobs[i];
                free(j->schedule);
                free(j->time_zone);
                tz_free(j->tz);
                strv_free(j->channels);
                free(j->settings_json);
        }
        free(c->jobs);
        free(c->path);
        free(c->conninfo);
        erase_free(c->db_password);
        free(c->time_zone);
        tz_free(c->tz);
        free(c->locale);
        free(c->templates_dir);
        free(c->instance);
        free(c->email.smtp_url);
        free(c->email.from_addr);
        free(c->email.from_name);
        free(c->email.username);
        erase_free(c->email.password);
        free(c->email.redirect_to);
        free(c->email.unsubscribe_mailto);
        free(c->email.unsubscribe_url);
        free(c->email.ca_file);
        free(c->sms.gateway_url);
        free(c->sms.from);
        free(c->sms.username);
        free(c->sms.redirect_to);
        erase_free(c->sms.token);
        free(c->sms.json_to);
        free(c->sms.json_from);
        free(c->sms.json_text);
        free(c->sms.json_idempotency_key);
        strv_free(c->sms.json_reply_id);
        free(c->outbox.retry);
        free(c);
        return NULL;
}
