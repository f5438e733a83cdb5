/* rapportctl — the administrator's tool.  It shares the daemon's modules
 * and talks to the same database; every command has --help, prints what is
 * wrong in one clear line, and exits with a sysexits code. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <json-c/json.h>
#include <libconfig.h>
#include <locale.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <wchar.h>

#include "../jobs/jobs.h"
#include "channel.h"
#include "config.h"
#include "cron.h"
#include "db.h"
#include "json_doc.h"
#include "log.h"
#include "mime.h"
#include "mustache.h"
#include "planner.h"
#include "preview.h"
#include "sms_text.h"
#include "templates.h"
#include "tz.h"

struct ctl {
        const char *config_path;
        bool json;
};

struct command {
        const char *name, *args, *summary;
        int (*run)(struct ctl *ctl, int argc, char **argv);
        bool json; /* has --json output */
};

static int usage_error(const char *cmd, const char *fmt, const char *arg) {
        fprintf(stderr, "rapportctl %s: ", cmd);
        fprintf(stderr, fmt, arg);
        fprintf(stderr, "\nTry 'rapportctl %s --help'.\n", cmd);
        return EX_USAGE;
}

/* A job name on the command line that names no job: usage (64), with the
 * names that would do. */
static int unknown_job_error(const char *cmd, const char *job) {
        char known[256], msg[512];
        job_def_names(known, sizeof known);
        snprintf(msg, sizeof msg, "unknown job '%s' (known jobs: %s)", job, known);
        return usage_error(cmd, "%s", msg);
}

/* A database id (bigint, > 0) in decimal; -EINVAL otherwise. */
static int parse_positive_id(const char *s) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        return end == s || *end || v <= 0 || errno == ERANGE ? -EINVAL : 0;
}

static int load_config(struct ctl *ctl, bool secrets, struct rapport_config **c) {
        return config_load(ctl->config_path, secrets, c) < 0 ? EX_CONFIG : 0;
}

/* Connect with a configuration already loaded (see connect_db). */
static int open_db(const struct rapport_config *c, PGconn **conn, bool need_schema) {
        if (db_connect(c, "rapportctl", false, conn) < 0)
                return EX_UNAVAILABLE;
        if (need_schema) {
                int have, want;
                int r = db_check_migrated(*conn, &have, &want);
                if (r == -ESTALE) {
                        fprintf(stderr, "rapportctl: the database schema is at version %d of %d: run 'rapportctl migrate'\n", have, want);
                        return EX_UNAVAILABLE;
                }
                if (r < 0)
                        return EX_UNAVAILABLE;
                /* A newer rapportctl migrated it: this one's statements may
                 * miss what changed.  Said, not refused: reading still works. */
                if (have > want)
                        fprintf(stderr, "rapportctl: warning: the database schema is at version %d, newer than this "
                                        "rapportctl knows (%d): use the rapportctl of the release that migrated it\n",
                                have, want);
        }
        return 0;
}

static int connect_db(struct ctl *ctl, struct rapport_config **c, PGconn **conn, bool need_schema) {
        int r = load_config(ctl, true, c);
        return r ? r : open_db(*c, conn, need_schema);
}

/* Reset getopt for a subcommand's own options.  getopt's own complaints
 * (prefixed with the subcommand's name, as argv[0]) are off: bad_option
 * says what was wrong, in one line. */
static void reset_getopt(void) {
        optind = 1;
        opterr = 0;
}

/* After getopt_long returned '?': an unknown option, or a known one
 * without its value (getopt then sets optopt to the option's code). */
static int bad_option(const char *cmd, const char *shortopts, int argc, char **argv) {
        char msg[512];
        getopt_error(msg, sizeof msg, shortopts, argc, argv);
        return usage_error(cmd, "%s", msg);
}

/* Standard "--help" for subcommands taking no options of their own. */
static bool wants_help(int argc, char **argv) {
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--help") || streq(argv[i], "-h"))
                        return true;
        return false;
}

/* A result cell as JSON: integers and booleans as such (counts, ids,
 * attempts), NULL as null, everything else (numeric amounts included, to
 * keep their precision) as the text PostgreSQL gave. */
static json_object *json_cell(PGresult *res, int row, int col) {
        if (PQgetisnull(res, row, col))
                return NULL;
        const char *v = PQgetvalue(res, row, col);
        switch (PQftype(res, col)) {
        case 20: /* int8 */
        case 21: /* int2 */
        case 23: /* int4 */
                return json_object_new_int64(strtoll(v, NULL, 10));
        case 16: /* bool */
                return json_object_new_boolean(v[0] == 't');
        case 114:  /* json */
        case 3802: { /* jsonb: an object in the output, not a string holding one */
                json_object *j = json_tokener_parse(v);
                return j ? j : json_object_new_string(v);
        }
        case 1184: { /* timestamptz: ISO 8601, as status prints times */
                char iso[64];
                size_t n = strlen(v);
                if (n < 19 || n + 4 > sizeof iso || v[10] != ' ')
                        return json_object_new_string(v); /* infinity */
                memcpy(iso, v, n + 1);
                iso[10] = 'T';
                const char *sign = strpbrk(iso + 19, "+-");
                if (sign && strlen(sign) == 3) /* "+08" -> "+08:00" */
                        strcat(iso, ":00");
                return json_object_new_string(iso);
        }
        default:
                return json_object_new_string(v);
        }
}

/* One result row as an object keyed by column name. */
static json_object *json_row(PGresult *res, int row) {
        json_object *o = json_object_new_object();
        for (int k = 0; k < PQnfields(res); k++)
                json_object_object_add(o, PQfname(res, k), json_cell(res, row, k));
        return o;
}

/* Every row (none for a NULL result: a query that failed, logged). */
static json_object *json_rows(PGresult *res) {
        json_object *a = json_object_new_array();
        for (int i = 0; res && i < PQntuples(res); i++)
                json_object_array_add(a, json_row(res, i));
        return a;
}

/* A recipient as the journal shows it (log_mask_address): two characters
 * of a long local part, one of a short one, or a number's first four and
 * last two digits. */
#define MASKED_RECIPIENT_SQL                                                                                        \
        "CASE WHEN position('@' in recipient) > 0"                                                                  \
        " THEN left(recipient, CASE WHEN position('@' in recipient) > 4 THEN 2 WHEN position('@' in recipient) > 2" \
        "                           THEN 1 ELSE 0 END) || '***' || substr(recipient, position('@' in recipient))"   \
        " ELSE left(recipient, 4) || '****' || right(recipient, 2) END"

/* o as JSON text, pretty, '/' left alone, every line after the first
 * indented by indent.  Valid UTF-8 whatever the database held: text from
 * a SQL_ASCII database can hold bytes that are not UTF-8, which no JSON
 * parser takes; they are written as U+FFFD, as the daemon sends them.
 * (json-c writes only ASCII outside strings, and the repair replaces
 * single bytes, so only the strings' contents change.) */
static void write_json(json_object *o, const char *indent) {
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        _cleanup_free_ char *repaired = NULL;
        if (!utf8_valid(text) && (repaired = strdup(text)) && utf8_repair(&repaired) >= 0)
                text = repaired;
        for (const char *p = text, *nl; *p; p = nl + 1) {
                nl = strchrnul(p, '\n');
                fwrite(p, 1, (size_t)(nl - p), stdout);
                if (!*nl)
                        break;
                putchar('\n');
                fputs(indent, stdout);
        }
}

/* --json output; takes the object. */
static void print_json(json_object *o) {
        write_json(o, "");
        putchar('\n');
        json_object_put(o);
}

/* A result as a --json list of row objects, one row at a time: a queue of
 * a million rows is not built as one tree (and one string) first. */
static void print_json_rows(PGresult *res) {
        int rows = PQntuples(res);
        fputs("[\n", stdout);
        for (int i = 0; i < rows; i++) {
                json_object *row = json_row(res, i);
                fputs(i ? ",\n  " : "  ", stdout);
                write_json(row, "  ");
                json_object_put(row);
        }
        fputs(rows ? "\n]\n" : "]\n", stdout);
}

/* The columns a character takes on a terminal, as the C library's UTF-8
 * locale says (0 for a combining accent, 2 for a Chinese character or an
 * emoji), whatever locale this program runs in: a table of Chinese names
 * lines up by what the administrator sees, not by bytes. */
static int char_columns(uint32_t cp) {
        static locale_t utf8;
        if (cp < 0x80)
                return 1;
        if (!utf8)
                utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
        if (!utf8)
                return 1;
        locale_t old = uselocale(utf8);
        int w = wcwidth((wchar_t)cp);
        uselocale(old);
        return w < 0 ? 1 : w;
}

/* One character of a value as a table shows it (display_char(): no
 * control reaches the terminal, and bytes that are not UTF-8 from a
 * SQL_ASCII database are U+FFFD, so the terminal gets valid UTF-8), and
 * its columns. */
static size_t cell_char(const char *p, char out[4], size_t *len, int *cols) {
        uint32_t cp;
        size_t n = display_char(p, false, out, len, &cp);
        *cols = char_columns(cp);
        return n;
}

/* The columns value takes in a table. */
static int cell_columns(const char *value) {
        int total = 0, cols;
        char c[4];
        size_t len;
        for (const char *p = value; *p; total += cols)
                p += cell_char(p, c, &len, &cols);
        return total;
}

/* A value in a table or "name value" line, padded to width columns and
 * cut at max columns (max < 0: whole), never inside a character.  Values
 * are CRM data (a name, a locale, an error quoting them): a CR, LF or
 * other control character in one must not break the line, fake another
 * one, or drive the terminal (it is shown as a space). */
static void print_cell(const char *value, int width, int max) {
        int n = 0, cols;
        char c[4];
        size_t len;
        for (const char *p = value; *p;) {
                size_t used = cell_char(p, c, &len, &cols);
                if (max >= 0 && n + cols > max)
                        break;
                fwrite(c, 1, len, stdout);
                n += cols, p += used;
        }
        for (; n < width; n++)
                putchar(' ');
}

/* A label and a value on one line of its own. */
static void print_line(const char *label, const char *value) {
        fputs(label, stdout);
        print_cell(value, 0, -1);
        putchar('\n');
}

static void print_table(PGresult *res, bool json) {
        int rows = PQntuples(res), cols = PQnfields(res);
        if (json) {
                print_json_rows(res);
                return;
        }
        int width[32] = {0};
        for (int k = 0; k < cols && k < 32; k++) {
                width[k] = (int)strlen(PQfname(res, k));
                for (int i = 0; i < rows; i++) {
                        int w = PQgetisnull(res, i, k) ? 1 : cell_columns(PQgetvalue(res, i, k));
                        if (w > width[k])
                                width[k] = w > 60 ? 60 : w;
                }
        }
        for (int k = 0; k < cols && k < 32; k++)
                printf("%-*s%s", width[k], PQfname(res, k), k + 1 < cols ? "  " : "\n");
        for (int i = 0; i < rows; i++)
                for (int k = 0; k < cols && k < 32; k++) {
                        print_cell(PQgetisnull(res, i, k) ? "-" : PQgetvalue(res, i, k), width[k], width[k]);
                        fputs(k + 1 < cols ? "  " : "\n", stdout);
                }
        if (rows == 0)
                printf("(none)\n");
}

/* ---- migrate ---------------------------------------------------------- */
static int cmd_migrate(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl migrate\n\nApply the missing migrations of schema rapport in one transaction\n"
                       "(safe to run twice or concurrently).\n");
                return 0;
        }
        if (argc > 1)
                return usage_error("migrate", "unexpected argument '%s'", argv[1]);
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, false);
        if (r)
                return r;
        int applied;
        if (db_migrate(conn, &applied) < 0)
                return EX_SOFTWARE;
        int have, want;
        db_check_migrated(conn, &have, &want);
        if (applied)
                printf("applied %d migration(s); schema at version %d\n", applied, have);
        else if (have > want)
                printf("schema is at version %d, newer than this rapportctl knows (%d): nothing applied\n", have, want);
        else
                printf("schema is up to date (version %d)\n", have);
        /* A daemon started before the migration still runs the statements
         * of its own version: restart it (see rapportctl(8), migrate). */
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (applied && db_exec(conn, "Looking for running daemons",
                               "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'rapportd'"
                               " AND datname = current_database()", 0, NULL, &res) == 0 &&
            atol(PQgetvalue(res, 0, 0)) > 0)
                fprintf(stderr, "rapportctl migrate: %s rapportd session(s) are connected: restart every rapportd now "
                                "(one built before this schema may fail to plan against it)\n",
                        PQgetvalue(res, 0, 0));
        return 0;
}

/* ---- next ------------------------------------------------------------- */
static int cmd_next(struct ctl *ctl, int argc, char **argv) {
        (void)ctl;
        static const struct option opts[] = {{"tz", required_argument, NULL, 't'}, {"from", required_argument, NULL, 'f'},
                                             {"count", required_argument, NULL, 'n'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
        const char *zone = "UTC", *from = NULL;
        long count = 1;
        int o;
        static const char shortopts[] = "t:f:n:h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 't': zone = optarg; break;
                case 'f': from = optarg; break;
                case 'n': {
                        char *end;
                        count = strtol(optarg, &end, 10);
                        if (*end || count < 1 || count > 100000)
                                return usage_error("next", "--count: '%s' is not a number from 1 to 100000", optarg);
                        break;
                }
                case 'h':
                        printf("Usage: rapportctl next 'CRON' [-t|--tz ZONE] [-f|--from ISO8601] [-n|--count N] [--json]\n\n"
                               "Print the next N fire times of a cron expression (strictly after --from,\n"
                               "default now; a time without an offset is in ZONE) in ZONE (default UTC),\n"
                               "as ISO 8601 with the zone's offset.\n");
                        return 0;
                default: return bad_option("next", shortopts, argc, argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("next", "%s", "expected exactly one cron expression (quote it)");
        const char *expr = argv[optind];
        _cleanup_(tz_freep) struct tz *tz = NULL;
        if (tz_load(zone, &tz) < 0) {
                fprintf(stderr, "rapportctl next: unknown time zone '%s'\n", zone);
                return EX_USAGE;
        }
        struct cron cr;
        char err[256];
        if (cron_parse(expr, &cr, err, sizeof err) < 0) {
                fprintf(stderr, "rapportctl next: %s\n", err);
                return EX_DATAERR;
        }
        int64_t t = (int64_t)time(NULL);
        if (from && tz_parse_iso8601(from, tz, &t) < 0) {
                fprintf(stderr, "rapportctl next: --from: cannot parse '%s' (expected ISO 8601)\n", from);
                return EX_USAGE;
        }
        /* --json: a list of the same ISO 8601 strings. */
        json_object *times = ctl->json ? json_object_new_array() : NULL;
        long i = 0;
        for (; i < count; i++) {
                if (cron_next(&cr, tz, t, &t) < 0) {
                        fprintf(stderr, "rapportctl next: no further fire time found\n");
                        break;
                }
                char buf[64];
                tz_format_iso8601(tz, t, buf, sizeof buf);
                if (times)
                        json_object_array_add(times, json_object_new_string(buf));
                else
                        printf("%s\n", buf);
        }
        if (times)
                print_json(times);
        return i ? 0 : EX_DATAERR;
}

/* The --data file, strictly JSON (json_doc_parse()); every problem named
 * by line and column. */
static int parse_json_document(const char *path, const char *text, size_t len, json_object **ret) {
        struct json_doc_error err;
        int r = json_doc_parse(text, len, ret, &err);
        if (r == -EINVAL && err.line == 0)
                fprintf(stderr, "rapportctl render: %s: %s\n", path, err.message);
        else if (r == -EINVAL)
                fprintf(stderr, "rapportctl render: %s:%d:%d: invalid JSON: %s\n", path, err.line, err.column, err.message);
        else if (r < 0)
                fprintf(stderr, "rapportctl render: %s: %s\n", path, strerror(-r));
        return r;
}

/* ---- render ----------------------------------------------------------- */
/* By the file's own name, not its directory's. */
static bool is_html_file(const char *path) {
        const char *slash = strrchr(path, '/');
        const char *name = slash ? slash + 1 : path;
        static const char *const suffixes[] = {".html", ".htm", ".html.mustache", ".htm.mustache"};
        size_t n = strlen(name);
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                size_t k = strlen(suffixes[i]);
                if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
                        return true;
        }
        return false;
}

/* read_file(), but a directory is called one: fopen() opens a directory
 * and only the read fails, as EIO, which would misname the problem. */
static int read_input(const char *path, char **ret, size_t *len) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
                return -EISDIR;
        return read_file(path, ret, len);
}

static int cmd_render(struct ctl *ctl, int argc, char **argv) {
        (void)ctl;
        static const struct option opts[] = {{"template", required_argument, NULL, 't'}, {"data", required_argument, NULL, 'd'},
                                             {"partials", required_argument, NULL, 'p'}, {"escape", required_argument, NULL, 'e'},
                                             {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
        const char *file = NULL, *data = NULL, *partials = NULL, *escape = NULL;
        int o;
        static const char shortopts[] = "t:d:p:e:h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 't': file = optarg; break;
                case 'd': data = optarg; break;
                case 'p': partials = optarg; break;
                case 'e': escape = optarg; break;
                case 'h':
                        printf("Usage: rapportctl render [-t|--template] FILE -d|--data FILE.json [-p|--partials DIR] [-e|--escape html|none]\n\n"
                               "Render one Mustache file against a JSON context to standard output, byte for\n"
                               "byte, nothing appended.  The data is strict JSON (RFC 8259).  {{> name}} loads\n"
                               "a partial from DIR (default: the template's directory) as the daemon does for\n"
                               "the file's locale (TEMPLATE.CHANNEL.LOCALE.mustache or NAME.LOCALE.mustache):\n"
                               "name.LOCALE.mustache, then without each last subtag (name.zh.mustache), then\n"
                               "name.mustache, then a file called name.  Without --escape, an e-mail template\n"
                               "(NAME.email.LOCALE.mustache) renders part by part as it is sent: subject and\n"
                               "text unescaped, the HTML part HTML-escaped, the file's layout kept; an HTML\n"
                               "file (*.html, *.htm, *.html.mustache, *.htm.mustache) escapes html; anything\n"
                               "else none.  --escape applies one mode to the whole file.\n");
                        return 0;
                default: return bad_option("render", shortopts, argc, argv);
                }
        }
        if (!file && optind < argc)
                file = argv[optind++];
        if (optind < argc)
                return usage_error("render", "unexpected argument '%s'", argv[optind]);
        if (!file || !data)
                return usage_error("render", "%s", "a template FILE and --data FILE.json are required");
        enum mustache_escape esc;
        if (escape) {
                if (streq(escape, "html"))
                        esc = MUSTACHE_ESCAPE_HTML;
                else if (streq(escape, "none"))
                        esc = MUSTACHE_ESCAPE_NONE;
                else
                        return usage_error("render", "--escape must be html or none, not '%s'", escape);
        } else
                esc = is_html_file(file) ? MUSTACHE_ESCAPE_HTML : MUSTACHE_ESCAPE_NONE;
        /* An e-mail template holds parts escaped differently (text, HTML):
         * only an explicit --escape makes it one template. */
        bool by_parts = !escape && streq_ptr(template_file_channel(file), "email");
        _cleanup_free_ char *src = NULL, *json = NULL, *dir = NULL;
        size_t len, jlen;
        int r = read_input(file, &src, &len);
        if (r < 0) {
                fprintf(stderr, "rapportctl render: %s: %s\n", file, strerror(-r));
                return EX_NOINPUT;
        }
        r = read_input(data, &json, &jlen);
        if (r < 0) {
                fprintf(stderr, "rapportctl render: %s: %s\n", data, strerror(-r));
                return EX_NOINPUT;
        }
        char locale[32];
        template_file_locale(file, locale);
        _cleanup_(partial_dir_clear) struct partial_dir pd = PARTIAL_DIR_INIT(partials, locale);
        /* A --partials that names no directory is a mistake to say at
         * once, not partials silently rendered as nothing.  The template's
         * own directory is listed only when a partial is needed. */
        if (partials && partial_dir_list(&pd) < 0)
                return EX_NOINPUT;
        json_object *ctx = NULL;
        if (parse_json_document(data, json, jlen, &ctx) < 0)
                return EX_DATAERR;
        struct mustache_error merr[TEMPLATE_MAX_ERRORS];
        size_t n_merr = 0;
        _cleanup_(mustache_freep) struct mustache *tpl = NULL;
        size_t bom = utf8_bom_len(src, len);
        r = by_parts ? 0 : mustache_parse_all(src + bom, len - bom, 1, 1, &tpl, merr, ELEMENTSOF(merr), &n_merr);
        if (r < 0) {
                for (size_t i = 0; i < n_merr && i < ELEMENTSOF(merr); i++)
                        fprintf(stderr, "%s:%d:%d: %s\n", file, merr[i].line, merr[i].column, merr[i].message);
                if (n_merr > ELEMENTSOF(merr))
                        fprintf(stderr, "%s: %zu more problem(s) not shown\n", file, n_merr - ELEMENTSOF(merr));
                if (r != -EINVAL)
                        fprintf(stderr, "rapportctl render: %s: %s\n", file, strerror(-r));
                json_object_put(ctx);
                return r == -EINVAL ? EX_DATAERR : EX_SOFTWARE;
        }
        if (!partials) {
                dir = strdup(file);
                if (!dir) {
                        json_object_put(ctx);
                        return EX_SOFTWARE;
                }
                char *slash = strrchr(dir, '/');
                if (slash)
                        slash[slash == dir] = '\0'; /* /t.mustache: "/", not "" */
                else
                        strcpy(dir, ".");
                pd.dir = dir;
        }
        _cleanup_buf_ struct buf out = {0};
        if (by_parts)
                r = template_render_email_file(file, src, len, ctx, partial_dir_lookup, &pd, &out);
        else
                r = mustache_render(tpl, ctx, esc, partial_dir_lookup, &pd, &out);
        json_object_put(ctx);
        /* A partial that could not be used, said already. */
        if (r >= 0 && pd.error)
                return pd.error == -EINVAL ? EX_DATAERR : pd.error == -ENOMEM ? EX_SOFTWARE : EX_NOINPUT;
        if (r == -EINVAL && by_parts)
                return EX_DATAERR; /* the layout or parse errors are logged */
        if (r < 0) {
                fprintf(stderr, "rapportctl render: %s: %s\n", file, r == -ELOOP ? "partials nest too deeply" : strerror(-r));
                return EX_DATAERR;
        }
        if (out.len && fwrite(out.data, 1, out.len, stdout) != out.len)
                return EX_IOERR;
        return 0; /* main() flushes, and says so if the output was lost */
}

/* --now as epoch seconds and as ISO 8601 in the configuration's zone
 * (the clock and "" when not given; iso stays "" without a configuration
 * to read the zone from, which only `check` may lack). */
static int parse_now(const char *cmd, const struct rapport_config *c, const char *arg, char *iso, size_t len, int64_t *t) {
        iso[0] = '\0';
        if (!arg) {
                *t = (int64_t)time(NULL);
                return 0;
        }
        /* Without a configuration (check goes on when it does not load), a
         * time without an offset is read in UTC. */
        _cleanup_(tz_freep) struct tz *utc = NULL;
        if (!c && tz_load("UTC", &utc) < 0)
                utc = NULL;
        if (tz_parse_iso8601(arg, c ? c->tz : utc, t) < 0)
                return usage_error(cmd, "--now: cannot parse '%s' (expected ISO 8601)", arg);
        if (c)
                tz_format_iso8601(c->tz, *t, iso, len);
        return 0;
}

/* ---- check ------------------------------------------------------------ */
/* Renders tpl against ctx as an SMS and counts its segments (0 segments
 * when the text cannot be counted); fails only when it cannot render. */
static int render_sms_segments(const struct template_set *t, const struct message_template *tpl, json_object *ctx,
                               struct sms_segments *seg) {
        struct rendered r;
        int ret = template_render(t, tpl, ctx, &r);
        if (ret < 0)
                return ret;
        if (sms_count_segments(r.text ? r.text : "", seg) < 0)
                seg->segments = 0;
        rendered_clear(&r);
        return 0;
}

/* Render the SMS a job would send now (a dry run) and warn about any that
 * need more than one segment: each extra segment is billed. */
/* Whether a job can send SMS: on its channels, or on a level of its own
 * (the receivables ladder's `channel` or `channels`). */
static bool job_sends_sms(const struct job_config *j) {
        for (char **ch = j->channels; ch && *ch; ch++)
                if (streq(*ch, "sms"))
                        return true;
        bool sms = false;
        json_object *o = json_tokener_parse(j->settings_json);
        json_object_object_foreach(o, key, val) {
                (void)key;
                for (size_t i = 0; json_object_is_type(val, json_type_array) && i < json_object_array_length(val); i++) {
                        json_object *e = json_object_array_get_idx(val, i), *chans;
                        if (!json_object_is_type(e, json_type_object))
                                continue;
                        if (json_object_object_get_ex(e, "channel", &chans) && json_object_is_type(chans, json_type_string))
                                sms = sms || streq(json_object_get_string(chans), "sms");
                        if (json_object_object_get_ex(e, "channels", &chans) && json_object_is_type(chans, json_type_array))
                                for (size_t k = 0; k < json_object_array_length(chans); k++)
                                        sms = sms || streq(json_object_get_string(json_object_array_get_idx(chans, k)) ?: "", "sms");
                }
        }
        json_object_put(o);
        return sms;
}

static void warn_long_sms(PGconn *conn, const struct rapport_config *c, const struct template_set *t,
                          const struct job_config *j, int64_t now, const char *now_iso) {
        if (!job_sends_sms(j))
                return;
        struct plan_result res;
        if (planner_run(conn, c, j, now, now_iso, true, NULL, PLAN_MANUAL, &res) < 0 || !res.preview) {
                plan_result_clear(&res);
                return;
        }
        int n = 0, longer = 0, too_long = 0;
        size_t worst = 0;
        for (int i = 0; i < PQntuples(res.preview); i++) {
                if (!streq(PQgetvalue(res.preview, i, 1), "sms"))
                        continue;
                const struct message_template *tpl = template_find(t, PQgetvalue(res.preview, i, 5), "sms",
                                                                   PQgetvalue(res.preview, i, 6), c->locale);
                /* As the dispatcher renders it: with `sender` (the 【signature】
                 * of the Chinese SMS) and the other variables added at send time. */
                json_object *ctx = message_context(c, PQgetvalue(res.preview, i, 7),
                                                   strtoll(PQgetvalue(res.preview, i, 0), NULL, 10),
                                                   PQgetisnull(res.preview, i, 11) ? NULL : PQgetvalue(res.preview, i, 11),
                                                   PQgetvalue(res.preview, i, 10)[0] == 't');
                struct sms_segments seg;
                if (tpl && render_sms_segments(t, tpl, ctx, &seg) == 0) {
                        n++;
                        if (seg.segments > 1) {
                                longer++;
                                if (seg.segments > worst)
                                        worst = seg.segments;
                        }
                        too_long += (int)seg.segments > c->sms.max_segments;
                }
                json_object_put(ctx);
        }
        if (longer)
                printf("warning: job %s: %d of the %d SMS it would send %s need more than one segment (up to %zu)\n",
                       j->name, longer, n, now_iso ? "at --now" : "now", worst);
        /* The dispatcher refuses those: they fail rather than go out long. */
        if (too_long)
                printf("warning: job %s: %d of the %d SMS it would send %s need more than sms.max_segments = %d"
                       " segments: they would fail, not be sent\n",
                       j->name, too_long, n, now_iso ? "at --now" : "now", c->sms.max_segments);
        plan_result_clear(&res);
}

/* Whatever the data: an SMS template whose text, with every name empty,
 * already takes more than one segment costs that much or more on every
 * message.  (What the data adds is judged on the messages due, above.) */
/* A recipient whose locale has no template of its own, nor of its
 * language, gets the default locale's: a CRM that stores "zh" where the
 * templates say "zh-CN" would send its Chinese customers the default
 * locale's words.  Said with how many active people it concerns. */
static void warn_untemplated_locales(PGconn *conn, const struct rapport_config *c, const struct template_set *t) {
        static const char sql[] =
                "SELECT l, sum(nc)::bigint, sum(nr)::bigint FROM (\n"
                "  SELECT coalesce(nullif(locale, ''), $1::text) AS l, count(*) AS nc, 0 AS nr\n"
                "  FROM crm.customers WHERE active GROUP BY 1\n"
                "  UNION ALL\n"
                "  SELECT coalesce(nullif(locale, ''), $1::text), 0, count(*) FROM crm.reps WHERE active GROUP BY 1) x\n"
                "GROUP BY l ORDER BY sum(nc) + sum(nr) DESC, l LIMIT 200";
        const char *p[] = {c->locale};
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (db_exec(conn, "Reading the CRM's locales", sql, 1, p, &res) < 0)
                return;
        for (int i = 0; i < PQntuples(res); i++) {
                const char *locale = PQgetvalue(res, i, 0);
                const struct message_template *tpl;
                bool found = false;
                for (size_t k = 0; !found && (tpl = template_set_message(t, k)); k++)
                        found = template_find(t, tpl->name, tpl->channel, locale, NULL) != NULL;
                if (found)
                        continue;
                fputs("warning: locale \"", stdout);
                print_cell(locale, 0, 39);
                printf("\" (%s active customer(s), %s active rep(s)): no template is written for it "
                       "or its language, so they get the default locale's (%s)\n",
                       PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), c->locale);
        }
}

/* Returns how many templates no message could be sent with: their fixed
 * text alone is over sms.max_segments, which the dispatcher refuses. */
static int warn_long_sms_templates(const struct template_set *t, const struct rapport_config *c) {
        const struct message_template *tpl;
        int over_max = 0;
        /* The configuration's own values (`sender`) are fixed text too. */
        json_object *empty = c ? message_context(c, "{}", 0, NULL, false) : json_object_new_object();
        for (size_t i = 0; (tpl = template_set_message(t, i)); i++) {
                if (!streq(tpl->channel, "sms"))
                        continue;
                struct sms_segments seg;
                if (render_sms_segments(t, tpl, empty, &seg) < 0 || seg.segments <= 1)
                        continue;
                if (c && (int)seg.segments > c->sms.max_segments) {
                        over_max++;
                        printf("%s: its fixed text alone (every name empty) needs %zu SMS segments, more than"
                               " sms.max_segments = %d: every message from it would fail, not be sent\n",
                               tpl->path, seg.segments, c->sms.max_segments);
                } else
                        printf("warning: %s: its fixed text alone (every name empty) needs %zu SMS segments:"
                               " %zu %s unit(s), one segment holds %d\n",
                               tpl->path, seg.segments, seg.units, seg.ucs2 ? "UCS-2" : "GSM-7", seg.ucs2 ? 70 : 160);
        }
        json_object_put(empty);
        return over_max;
}

static void report_missing_partial(const struct message_template *t, const char *partial, void *userdata) {
        const char *dir = userdata;
        printf("warning: %s: {{> %s}} names no partial in %s (%s.mustache or %s.LOCALE.mustache): it renders as nothing\n",
               t->path, partial, dir, partial, partial);
}

/* An e-mail template carries a subject and a plain-text part (the HTML
 * part is the optional one): a file with a bare "Subject:" sends every
 * message without one, and one with only blank lines before the HTML part
 * sends an empty text/plain alternative, all that text-only readers show. */
static void warn_blank_email_parts(const struct template_set *t) {
        const struct message_template *tpl;
        for (size_t i = 0; (tpl = template_set_message(t, i)); i++) {
                if (tpl->blank_subject_line)
                        printf("warning: %s:%d:%d: the subject is empty: every message from it goes out without one\n",
                               tpl->path, tpl->blank_subject_line, tpl->blank_subject_column);
                if (tpl->blank_text_line)
                        printf("warning: %s:%d:1: no plain-text part (only blank lines%s): readers that show text get"
                               " an empty message; write the text after the subject's empty line\n",
                               tpl->path, tpl->blank_text_line, tpl->html ? " before the HTML part" : "");
        }
}

/* A partial that is not there renders as the empty string (the Mustache
 * spec): legal, but after a typo a footer silently goes missing. */
static void warn_missing_partials(const struct template_set *t, const char *dir) {
        const struct message_template *tpl;
        for (size_t i = 0; (tpl = template_set_message(t, i)); i++)
                template_missing_partials(t, tpl, report_missing_partial, (void *)dir);
}

/* templates.dir read straight from a configuration that did not load, so
 * that `check` still checks the templates; the default when unset.  Only
 * from a file libconfig can read safely: it exits the whole process on some
 * @include targets, which config.c vets only as part of a whole load. */
static char *raw_templates_dir(const char *path) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        if (read_file(path, &text, &len) < 0 || strlen(text) != len || strstr(text, "@include"))
                return NULL;
        config_t cfg;
        config_init(&cfg);
        char *dir = NULL;
        const char *s;
        if (config_read_string(&cfg, text)) {
                if (config_lookup_string(&cfg, "templates.dir", &s))
                        dir = config_resolve_path(path, s);
                else if (!config_lookup(&cfg, "templates.dir"))
                        dir = strdup(RAPPORT_TEMPLATES_DIR);
        }
        config_destroy(&cfg);
        return dir;
}

/* The options of a command whose only one is --now (besides --help, which
 * prints HELP): *now_arg gets its value, or NULL.  Returns -1 to go on,
 * else the exit status (0 after --help). */
static int parse_now_option(const char *cmd, const char *help, int argc, char **argv, const char **now_arg) {
        static const struct option opts[] = {{"now", required_argument, NULL, 'N'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
        static const char shortopts[] = "h";
        int o;
        *now_arg = NULL;
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'N': *now_arg = optarg; break;
                case 'h': fputs(help, stdout); return 0;
                default: return bad_option(cmd, shortopts, argc, argv);
                }
        }
        if (optind != argc)
                return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

/* One of a job's statements prepared against the live database: a CRM
 * view missing a column is found now, not when the statement first runs
 * (for build_sql, when the first digest is sent).  Returns 1 for a
 * problem, said on stderr; 0 when it prepares, or the job has no such
 * statement. */
static int check_job_sql(PGconn *conn, const char *job, const char *what, const char *sql, int n_params,
                         const Oid *types) {
        if (!sql)
                return 0;
        _cleanup_(PQclearp) PGresult *res = PQprepare(conn, "", sql, n_params, types);
        if (PQresultStatus(res) == PGRES_COMMAND_OK)
                return 0;
        char msg[512];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
        msg[strcspn(msg, "\n")] = '\0';
        fprintf(stderr, "job %s: %s does not run against this database: %s\n", job, what, msg);
        return 1;
}

static int cmd_check(struct ctl *ctl, int argc, char **argv) {
        const char *now_arg;
        int done = parse_now_option("check",
                                    "Usage: rapportctl check [--now ISO8601]\n\nValidate the configuration, every template, the database connection and\n"
                                    "schema version, and each enabled job's SQL against the live database.\n"
                                    "Reports every problem found (an SMS template over sms.max_segments is one);\n"
                                    "exits 0 only when there are none.  Warns about SMS templates longer than one\n"
                                    "segment, about the SMS that enabled jobs would send now (or at --now) that\n"
                                    "are, or would fail over sms.max_segments, and about partials ({{> name}})\n"
                                    "that no file provides (they would render as nothing).\n",
                                    argc, argv, &now_arg);
        if (done >= 0)
                return done;
        /* A --now that is no time at all is a usage error before anything
         * is checked (the configuration's zone reads it again below). */
        if (now_arg) {
                char iso[64];
                int64_t t;
                if (parse_now("check", NULL, now_arg, iso, sizeof iso, &t))
                        return EX_USAGE;
        }
        /* Everything that can be checked is, whatever failed before it:
         * each problem printed, then their count. */
        int problems = 0;
        bool config_ok = true, db_problem = false;
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_free_ char *raw_dir = NULL;
        if (config_load(ctl->config_path, true, &c) < 0) {
                config_ok = false;
                problems++;
                printf("configuration: %s has errors (above)\n", ctl->config_path);
                /* Without its secrets it may still load (they are all that
                 * was wrong): then the jobs' templates can be checked too.
                 * Quietly: its errors were logged just now. */
                log_set_max_priority(LOG_CRIT);
                if (config_load(ctl->config_path, false, &c) < 0)
                        c = NULL;
                log_set_max_priority(LOG_WARNING);
                if (!c)
                        raw_dir = raw_templates_dir(ctl->config_path);
        } else
                printf("configuration: %s OK (%zu job(s))\n", ctl->config_path, c->n_jobs);
        int64_t now;
        char now_iso[64];
        int bad = parse_now("check", c, now_arg, now_iso, sizeof now_iso, &now);
        if (bad)
                return bad;

        /* A broken template does not stop the check: what did load is
         * checked against the jobs too. */
        _cleanup_(template_set_freep) struct template_set *t = NULL;
        const char *dir = c ? c->templates_dir : raw_dir;
        if (!dir)
                printf("templates: not checked (the configuration cannot be read for templates.dir)\n");
        else {
                int nerr = 0, missing = 0;
                if (template_set_load_all(dir, &t, &nerr) < 0 && nerr == 0)
                        nerr = 1; /* out of memory, logged */
                if (t && c)
                        missing = templates_check_config(t, c);
                if (t)
                        missing += warn_long_sms_templates(t, c);
                problems += nerr + missing;
                if (nerr + missing)
                        printf("templates: %d problem(s) in %s\n", nerr + missing, dir);
                else
                        printf("templates: %s OK%s\n", dir, c ? "" : " (jobs not checked against them)");
                if (t) {
                        warn_blank_email_parts(t);
                        warn_missing_partials(t, dir);
                }
        }

        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int have = 0, want = 0;
        if (!config_ok)
                printf("database: not checked (the configuration has errors)\n");
        else if (db_connect(c, "rapportctl", false, &conn) < 0) {
                printf("database: unreachable\n");
                problems++;
                db_problem = true;
        } else if (db_check_migrated(conn, &have, &want) < 0) {
                printf("database: schema at version %d of %d — run 'rapportctl migrate'\n", have, want);
                problems++;
                db_problem = true;
        } else {
                printf("database: OK (schema version %d%s)\n", have,
                       have > want ? ", newer than this rapportctl knows: use the rapportctl that migrated it" : "");
                for (size_t i = 0; i < c->n_jobs; i++) {
                        const struct job_config *j = &c->jobs[i];
                        int bad = check_job_sql(conn, j->name, "its SQL", j->def->plan_sql, JOB_PLAN_PARAMS,
                                                job_plan_param_types) +
                                  check_job_sql(conn, j->name, "its still-due check", j->def->still_due_sql,
                                                JOB_STILL_DUE_PARAMS, job_still_due_param_types) +
                                  check_job_sql(conn, j->name, "the SQL that builds its messages when sent",
                                                j->def->build_sql, JOB_BUILD_PARAMS, job_build_param_types);
                        if (!bad)
                                printf("job %s: SQL OK; schedule '%s' in %s%s\n", j->name, j->schedule, j->time_zone,
                                       j->enabled ? "" : " (disabled)");
                        problems += bad;
                        if (t && j->enabled)
                                warn_long_sms(conn, c, t, j, now, now_iso[0] ? now_iso : NULL);
                }
                if (t)
                        warn_untemplated_locales(conn, c, t);
        }
        if (!problems) {
                printf("all checks passed\n");
                return 0;
        }
        printf("%d problem(s) found\n", problems);
        /* 69 means "try again later": only when the database is all that
         * is wrong.  Anything else is for the administrator to fix (78). */
        return db_problem && problems == 1 ? EX_UNAVAILABLE : EX_CONFIG;
}

/* ---- status ----------------------------------------------------------- */
static int cmd_status(struct ctl *ctl, int argc, char **argv) {
        const char *now_arg;
        int done = parse_now_option("status",
                                    "Usage: rapportctl status [--now ISO8601] [--json]\n\nEach job's schedule, zone, last run and next run; queue depth by state and\n"
                                    "channel; the oldest queued message; failures in the last 24 hours; suppressed\n"
                                    "addresses; CRM rows skipped for bad data.  --now gives the next runs as seen\n"
                                    "from that time (after a run with --now, as `make demo` does) instead of now.\n",
                                    argc, argv, &now_arg);
        if (done >= 0)
                return done;
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = load_config(ctl, true, &c);
        if (r)
                return r;
        char now_iso[64];
        int64_t now;
        r = parse_now("status", c, now_arg, now_iso, sizeof now_iso, &now);
        if (r)
                return r;
        r = open_db(c, &conn, true);
        if (r)
                return r;
        json_object *root = json_object_new_object(), *jobs = json_object_new_array();
        /* A statement that fails leaves its part out (the error says which
         * and why); the rest is still shown, and the exit status says so. */
        bool incomplete = false;
        if (!ctl->json)
                printf("JOBS\n%-12s %-8s %-16s %-16s %-26s %-8s %-8s %-8s %-9s %s\n", "job", "enabled", "schedule", "zone", "last run",
                       "status", "planned", "skipped", "cancelled", "next run");
        for (size_t i = 0; i < c->n_jobs; i++) {
                const struct job_config *j = &c->jobs[i];
                const char *p[] = {j->name};
                _cleanup_(PQclearp) PGresult *res = NULL;
                if (db_exec(conn, "Reading job runs",
                        "SELECT extract(epoch FROM scheduled_for)::bigint, status, coalesce(planned, 0), coalesce(skipped, 0), coalesce(error, ''),"
                        " coalesce(cancelled, 0),"
                        /* "no e-mail consent 6, no e-mail address 3": what an
                         * administrator asks on seeing "skipped 9". */
                        " coalesce((SELECT string_agg(key || ' ' || value, ', ' ORDER BY value::bigint DESC, key)"
                        "           FROM jsonb_each_text(skip_reasons)), ''), coalesce(skip_reasons, '{}'),"
                        " attempts, coalesce(extract(epoch FROM retry_at)::bigint, 0)"
                        " FROM rapport.job_runs WHERE job = $1 AND status <> 'skipped' ORDER BY scheduled_for DESC LIMIT 1",
                        1, p, &res) < 0)
                        incomplete = true;
                char last[64] = "never", next[64] = "-", retry[64] = "";
                int attempts = 0;
                const char *status = "-", *planned = "0", *skipped = "0", *error = "", *cancelled = "0", *why = "",
                           *why_json = "{}";
                if (res && PQntuples(res) > 0) {
                        tz_format_iso8601(j->tz, strtoll(PQgetvalue(res, 0, 0), NULL, 10), last, sizeof last);
                        status = PQgetvalue(res, 0, 1);
                        planned = PQgetvalue(res, 0, 2);
                        skipped = PQgetvalue(res, 0, 3);
                        error = PQgetvalue(res, 0, 4);
                        cancelled = PQgetvalue(res, 0, 5);
                        why = PQgetvalue(res, 0, 6);
                        why_json = PQgetvalue(res, 0, 7);
                        attempts = atoi(PQgetvalue(res, 0, 8));
                        int64_t retry_at = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
                        if (retry_at > 0)
                                tz_format_iso8601(j->tz, retry_at, retry, sizeof retry);
                }
                _cleanup_free_ char *disabled = NULL;
                (void)planner_job_disabled(conn, j->name, &disabled);
                bool enabled = j->enabled && !disabled;
                /* The first occurrence after now that no run has taken
                 * (planned, or recorded skipped by a catch-up): a --once
                 * run with --now, as `make demo` does, may have taken the
                 * coming ones already, and the daemon will not plan them.
                 * One query for the taken ones ahead, walked in step. */
                int64_t n = now;
                char nows[32];
                snprintf(nows, sizeof nows, "%lld", (long long)n);
                const char *lp[] = {j->name, nows};
                _cleanup_(PQclearp) PGresult *ahead = NULL;
                if (db_exec(conn, "Reading job runs",
                            "SELECT extract(epoch FROM scheduled_for)::bigint FROM rapport.job_runs"
                            " WHERE job = $1 AND NOT manual AND scheduled_for > to_timestamp($2::bigint)"
                            " ORDER BY scheduled_for LIMIT 100000",
                            2, lp, &ahead) < 0) {
                        ahead = NULL;
                        incomplete = true;
                }
                int taken = ahead ? PQntuples(ahead) : 0, t = 0;
                for (int k = 0; enabled && k <= taken && cron_next(&j->cron, j->tz, n, &n) == 0; k++) {
                        while (t < taken && strtoll(PQgetvalue(ahead, t, 0), NULL, 10) < n)
                                t++;
                        if (t == taken || strtoll(PQgetvalue(ahead, t, 0), NULL, 10) != n) {
                                tz_format_iso8601(j->tz, n, next, sizeof next);
                                break;
                        }
                }
                if (ctl->json) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "job", json_object_new_string(j->name));
                        json_object_object_add(o, "enabled", json_object_new_boolean(enabled));
                        json_object_object_add(o, "disabled", disabled ? json_object_new_string(disabled) : NULL);
                        json_object_object_add(o, "schedule", json_object_new_string(j->schedule));
                        json_object_object_add(o, "time_zone", json_object_new_string(j->time_zone));
                        json_object_object_add(o, "last_run", json_object_new_string(last));
                        json_object_object_add(o, "last_status", json_object_new_string(status));
                        json_object_object_add(o, "last_planned", json_object_new_int64(atoll(planned)));
                        json_object_object_add(o, "last_skipped", json_object_new_int64(atoll(skipped)));
                        json_object *reasons = json_tokener_parse(why_json);
                        json_object_object_add(o, "last_cancelled", json_object_new_int64(atoll(cancelled)));
                        json_object_object_add(o, "last_skip_reasons", reasons ? reasons : json_object_new_object());
                        json_object_object_add(o, "last_error", json_object_new_string(error));
                        json_object_object_add(o, "last_attempts", json_object_new_int(attempts));
                        json_object_object_add(o, "retry_from", retry[0] ? json_object_new_string(retry) : NULL);
                        json_object_object_add(o, "next_run", json_object_new_string(next));
                        json_object_array_add(jobs, o);
                } else {
                        printf("%-12s %-8s %-16s %-16s %-26s %-8s %-8s %-8s %-9s %s\n", j->name, enabled ? "yes" : "no", j->schedule,
                               j->time_zone, last, status, planned, skipped, cancelled, next);
                        /* An error can quote CRM data, and disable's reason
                         * is free text: each stays on its one line. */
                        if (disabled)
                                print_line("  disabled with rapportctl disable ", disabled);
                        if (*why)
                                print_line("  skipped in the last run: ", why);
                        if (*error)
                                print_line("  last error: ", error);
                        if (retry[0] && streq(status, "failed"))
                                printf("  failed %d time(s); tried again from %s while inside catch_up_window,"
                                       " unless a later occurrence runs first\n",
                                       attempts, retry);
                        else if (attempts > 1 && streq(status, "ok"))
                                printf("  planned at attempt %d\n", attempts);
                }
        }
        json_object_object_add(root, "jobs", jobs);

        /* The skip records are dated by their run's clock (--now when a run
         * had one): they are read as of this --now too.  Failures are dated
         * by the database's clock, when they happened. */
        static const struct {
                const char *key, *title, *sql;
                bool uses_now; /* $1: this status's now, epoch seconds; $2: whether --now gave it */
        } sections[] = {
                {"queue", "QUEUE (by state and channel)",
                 "SELECT state, channel, count(*) AS messages FROM rapport.outbox GROUP BY 1, 2 ORDER BY 1, 2", false},
                {"oldest_queued", "OLDEST QUEUED",
                 "SELECT id, job, channel, not_before, next_attempt_at, attempts, coalesce(last_error, '') AS last_error"
                 " FROM ((SELECT * FROM rapport.outbox WHERE state = 'queued' AND channel = 'email' ORDER BY next_attempt_at LIMIT 1)"
                 "       UNION ALL"
                 "       (SELECT * FROM rapport.outbox WHERE state = 'queued' AND channel = 'sms' ORDER BY next_attempt_at LIMIT 1)) o"
                 " ORDER BY next_attempt_at LIMIT 1", false},
                {"failures_24h", "FAILURES IN THE LAST 24 HOURS",
                 "SELECT job, channel, count(*) AS failed, max(last_error) AS example FROM rapport.outbox"
                 " WHERE state = 'failed' AND updated_at > now() - interval '24 hours' GROUP BY 1, 2 ORDER BY 3 DESC", false},
                {"suppressed", "SUPPRESSED ADDRESSES",
                 "SELECT channel, count(*) AS addresses FROM rapport.suppression GROUP BY 1 ORDER BY 1", false},
                {"skipped", "CRM ROWS SKIPPED (last 7 days)",
                 "SELECT job, reason, count(DISTINCT customer_id) AS customers FROM rapport.skipped"
                 " WHERE day > (to_timestamp($1::double precision) AT TIME ZONE 'UTC')::date - 7"
                 /* A look back (--now) leaves out what came after it; without
                  * one, runs given a later --now of their own still count. */
                 "   AND (NOT $2::boolean OR day <= (to_timestamp($1::double precision) AT TIME ZONE 'UTC')::date)"
                 " GROUP BY 1, 2 ORDER BY 1, 3 DESC",
                 true},
        };
        char epoch[32];
        snprintf(epoch, sizeof epoch, "%lld", (long long)now);
        const char *now_param[] = {epoch, now_arg ? "true" : "false"};
        for (size_t i = 0; i < ELEMENTSOF(sections); i++) {
                _cleanup_(PQclearp) PGresult *res = NULL;
                if (db_exec(conn, sections[i].title, sections[i].sql, sections[i].uses_now ? 2 : 0, now_param, &res) < 0) {
                        incomplete = true;
                        continue;
                }
                if (ctl->json) {
                        json_object_object_add(root, sections[i].key, json_rows(res));
                } else {
                        printf("\n%s\n", sections[i].title);
                        print_table(res, false);
                }
        }
        if (ctl->json)
                print_json(root);
        else
                json_object_put(root);
        return incomplete ? EX_SOFTWARE : 0;
}

/* ---- run / preview ---------------------------------------------------- */

/* A preview for one recipient that shows nothing most often means the job
 * planned it already (a message is planned once: its dedupe key), not that
 * nothing is due; say so when the outbox holds this job's recent messages
 * for that recipient, rather than leave "0 message(s)" to be read as
 * "nothing would go out". */
static void explain_already_planned(PGconn *conn, const char *job, const char *filter_col, const char *filter_val,
                                    const char *now) {
        bool customer = streq(filter_col, "customer");
        const char *p[] = {job, filter_val, now, customer ? "true" : "false"};
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (db_exec(conn, "Looking up messages already planned",
                    "SELECT state, count(*) FROM rapport.outbox WHERE job = $1"
                    "   AND CASE WHEN $4::bool THEN customer_id = $2::bigint"
                    "            ELSE rep_id = $2::bigint AND audience IN ('rep', 'manager') END"
                    "   AND not_before > coalesce($3::timestamptz, now()) - interval '31 days'"
                    " GROUP BY state ORDER BY state",
                    4, p, &res) < 0 || PQntuples(res) == 0)
                return;
        long long total = 0;
        char states[256] = "";
        size_t len = 0;
        for (int i = 0; i < PQntuples(res); i++) {
                total += atoll(PQgetvalue(res, i, 1));
                if (len < sizeof states) /* five states at most: never truncated in practice */
                        len += (size_t)snprintf(states + len, sizeof states - len, "%s%s %s", i ? ", " : "",
                                                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
        }
        printf("note: the outbox already holds %lld %s message(s) %s %s %s from the last 31 days (%s);\n"
               "      a message is planned once, so those are not planned again: rapportctl queue --job %s\n",
               total, job, customer ? "for" : "to", filter_col, filter_val, states, job);
}
static int plan_job(struct ctl *ctl, const char *cmd, const char *job, const char *now_arg, bool dry_run, bool show,
                    const char *filter_col, const char *filter_val, const char *channel) {
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        /* What the command line says is checked before the database is
         * asked anything: a typo is a usage error (64) even when the
         * database is down. */
        if (!job_def_find(job))
                return unknown_job_error(cmd, job);
        if (filter_val && parse_positive_id(filter_val) < 0)
                return usage_error(cmd, "'%s' is not a customer or rep id", filter_val);
        int r = load_config(ctl, true, &c);
        if (r)
                return r;
        const struct job_config *j = config_job(c, job);
        if (!j) {
                fprintf(stderr,
                        "rapportctl %s: job '%s' is not configured in %s; to try it with its default settings "
                        "without the daemon running it, add  %s: { enabled = false; };  to its jobs group\n",
                        cmd, job, c->path, job);
                return EX_CONFIG;
        }
        char iso[64];
        int64_t now;
        r = parse_now(cmd, c, now_arg, iso, sizeof iso, &now);
        if (r)
                return r;
        /* A job configured to plan without queueing stays that way when run
         * by hand: dry_run is how a new job is tried on production data. */
        bool config_dry = !dry_run && j->dry_run;
        if (config_dry) {
                fprintf(stderr, "rapportctl %s: job %s has dry_run = true in %s: %s, queueing nothing\n", cmd, job,
                        c->path, ctl->json ? "counting what it would queue" : "showing what it would queue");
                dry_run = true;
        } else if (!dry_run && !j->enabled)
                fprintf(stderr, "rapportctl %s: job %s has enabled = false in %s: planning it once, as asked\n", cmd, job, c->path);
        r = open_db(c, &conn, true);
        if (r)
                return r;
        if (filter_col) {
                /* Nothing due for a customer and no such customer are told apart. */
                const char *fp[] = {filter_val};
                _cleanup_(PQclearp) PGresult *fr = NULL;
                if (db_exec(conn, "Looking the recipient up",
                            streq(filter_col, "customer") ? "SELECT 1 FROM crm.customers WHERE id = $1::bigint"
                                                          : "SELECT 1 FROM crm.reps WHERE id = $1::bigint",
                            1, fp, &fr) < 0)
                        return EX_SOFTWARE;
                if (PQntuples(fr) == 0) {
                        fprintf(stderr, "rapportctl %s: no %s with id %s in the CRM\n", cmd, filter_col, filter_val);
                        return EX_DATAERR;
                }
        }
        _cleanup_(template_set_freep) struct template_set *t = NULL;
        int nerr;
        if (dry_run && template_set_load(c->templates_dir, &t, &nerr) < 0)
                return EX_CONFIG;
        struct plan_result res;
        /* A dry run selects the rows asked about before building them: a
         * digest built for one rep costs that rep's customers only. */
        struct plan_filter f = {filter_col, filter_val, channel};
        r = planner_run(conn, c, j, now, iso[0] ? iso : NULL, dry_run, &f, PLAN_MANUAL, &res);
        if (r < 0)
                return EX_SOFTWARE;
        if ((!dry_run || config_dry) && ctl->json) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "job", json_object_new_string(job));
                if (config_dry)
                        json_object_object_add(o, "dry_run", json_object_new_boolean(true));
                json_object_object_add(o, "planned", json_object_new_int64(res.planned));
                json_object_object_add(o, "skipped", json_object_new_int64(res.skipped));
                json_object *reasons = res.skip_reasons ? json_tokener_parse(res.skip_reasons) : NULL;
                json_object_object_add(o, "skip_reasons", reasons ? reasons : json_object_new_object());
                print_json(o);
                plan_result_clear(&res);
                return 0;
        }
        if (!dry_run) {
                printf("job %s: planned %lld message(s), skipped %lld %s\n", job, res.planned, res.skipped,
                       res.skipped ? res.skip_reasons : "");
                plan_result_clear(&res);
                return 0;
        }
        int bad = 0, shown = 0;
        PGresult *rows = res.preview;
        shown = PQntuples(rows);
        bad = preview_print(stdout, rows, c, t, now, show);
        printf("%s %s: %d message(s) would be queued (planned %lld in all, skipped %lld%s%s", cmd, job, shown,
               res.planned, res.skipped, res.skipped ? " " : "", res.skipped ? res.skip_reasons : "");
        if (res.cancelled_when_built)
                printf("; %lld would be cancelled when built, e.g. with nothing to report", res.cancelled_when_built);
        printf("); nothing was sent\n");
        if (shown == 0 && filter_col)
                explain_already_planned(conn, job, filter_col, filter_val, iso[0] ? iso : NULL);
        plan_result_clear(&res);
        return bad ? EX_DATAERR : 0;
}

static int cmd_run(struct ctl *ctl, int argc, char **argv) {
        static const struct option opts[] = {{"now", required_argument, NULL, 'N'}, {"dry-run", no_argument, NULL, 'd'},
                                             {"show-recipients", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
        const char *now = NULL;
        bool dry = false, show = false;
        int o;
        static const char shortopts[] = "h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'N': now = optarg; break;
                case 'd': dry = true; break;
                case 's': show = true; break;
                case 'h':
                        printf("Usage: rapportctl run JOB [--now ISO8601] [--dry-run] [--show-recipients] [--json]\n\n"
                               "Plan JOB once now (outside its schedule); the running daemon sends what it\n"
                               "queued.  --dry-run renders what would be queued and changes nothing.\n");
                        return 0;
                default: return bad_option("run", shortopts, argc, argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("run", "%s", "expected one JOB name");
        if (dry && ctl->json)
                return usage_error("run", "%s", "--json: a dry run prints messages, not counts (plan without --dry-run, or use preview)");
        return plan_job(ctl, "run", argv[optind], now, dry, show, NULL, NULL, NULL);
}

static int cmd_preview(struct ctl *ctl, int argc, char **argv) {
        static const struct option opts[] = {{"now", required_argument, NULL, 'N'}, {"customer", required_argument, NULL, 'c'},
                                             {"rep", required_argument, NULL, 'r'}, {"channel", required_argument, NULL, 'C'},
                                             {"show-recipients", no_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
                                             {0, 0, 0, 0}};
        const char *now = NULL, *customer = NULL, *rep = NULL, *channel = NULL;
        bool show = false;
        int o;
        static const char shortopts[] = "h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'N': now = optarg; break;
                case 'c': customer = optarg; break;
                case 'r': rep = optarg; break;
                case 'C': channel = optarg; break;
                case 's': show = true; break;
                case 'h':
                        printf("Usage: rapportctl preview JOB [--customer ID | --rep ID] [--channel email|sms] [--now ISO8601]\n"
                               "                          [--show-recipients]\n\n"
                               "Show the complete messages JOB would produce now (or at --now): e-mail headers\n"
                               "as the dispatcher builds them (decoded for reading), text and HTML, and SMS\n"
                               "with segment counts — without sending or queueing anything.\n\n"
                               "  --customer ID  messages to that customer, and to reps about them\n"
                               "  --rep ID       messages that rep or manager receives\n");
                        return 0;
                default: return bad_option("preview", shortopts, argc, argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("preview", "%s", "expected one JOB name");
        if (channel && !streq(channel, "email") && !streq(channel, "sms"))
                return usage_error("preview", "--channel must be email or sms, not '%s'", channel);
        /* One recipient filter: with both, one would silently win. */
        if (customer && rep)
                return usage_error("preview", "%s", "--customer and --rep exclude each other: give one");
        return plan_job(ctl, "preview", argv[optind], now, true, show, customer ? "customer" : rep ? "rep" : NULL,
                        customer ? customer : rep, channel);
}

/* ---- queue, show, retry, cancel, suppress ----------------------------- */
static int cmd_queue(struct ctl *ctl, int argc, char **argv) {
        static const struct option opts[] = {{"state", required_argument, NULL, 's'}, {"job", required_argument, NULL, 'j'},
                                             {"limit", required_argument, NULL, 'l'}, {"show-recipients", no_argument, NULL, 'r'},
                                             {"json", no_argument, NULL, 'J'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
        const char *state = NULL, *job = NULL, *limit = "50";
        bool show = false;
        int o;
        static const char shortopts[] = "h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 's': state = optarg; break;
                case 'j': job = optarg; break;
                case 'l': limit = optarg; break;
                case 'r': show = true; break;
                case 'J': ctl->json = true; break;
                case 'h':
                        printf("Usage: rapportctl queue [--state queued|sending|sent|failed|cancelled] [--job JOB]\n"
                               "                        [--limit N] [--show-recipients] [--json]\n\n"
                               "List outbox messages, newest first.  Recipients are masked unless\n"
                               "--show-recipients is given.\n");
                        return 0;
                default: return bad_option("queue", shortopts, argc, argv);
                }
        }
        if (optind != argc)
                return usage_error("queue", "unexpected argument '%s'", argv[optind]);
        static const char *const states[] = {"queued", "sending", "sent", "failed", "cancelled", NULL};
        if (state && !strv_contains(states, state))
                return usage_error("queue", "unknown state '%s' (queued, sending, sent, failed, cancelled)", state);
        if (job && !job_def_find(job))
                return unknown_job_error("queue", job);
        char *end;
        errno = 0;
        long lim = strtol(limit, &end, 10);
        if (end == limit || *end || lim < 1 || lim > 1000000 || errno == ERANGE)
                return usage_error("queue", "--limit: '%s' is not a number from 1 to 1000000", limit);
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        const char *p[] = {state, job, limit, show ? "t" : "f"};
        _cleanup_(PQclearp) PGresult *res = NULL;
        r = db_exec(conn, "Listing the queue",
                    "SELECT id, job, channel, state,"
                    " CASE WHEN $4::bool THEN recipient ELSE " MASKED_RECIPIENT_SQL " END AS recipient,"
                    " template, locale, attempts, date_trunc('second', not_before) AS not_before,"
                    " date_trunc('second', coalesce(sent_at, next_attempt_at)) AS at,"
                    " last_error"
                    " FROM rapport.outbox WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR job = $2)"
                    " ORDER BY id DESC LIMIT $3::int",
                    4, p, &res);
        if (r < 0)
                return EX_SOFTWARE;
        print_table(res, ctl->json);
        return 0;
}

static int parse_id(const char *cmd, const char *s) {
        if (parse_positive_id(s) < 0)
                return usage_error(cmd, "'%s' is not a message id", s);
        return 0;
}

/* The addresses in a message's context (every "email" and "phone" member,
 * at any depth: the customer's, the rep's) as the journal shows them, as
 * the recipient is: --show-recipients is the one way to see them whole.
 * The rendered text is the message itself and is shown as it went. */
static void mask_context_addresses(json_object *o) {
        if (json_object_is_type(o, json_type_array)) {
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        mask_context_addresses(json_object_array_get_idx(o, i));
                return;
        }
        if (!json_object_is_type(o, json_type_object))
                return;
        json_object_object_foreach(o, key, val) {
                if ((streq(key, "email") || streq(key, "phone")) && json_object_is_type(val, json_type_string)) {
                        char masked[256];
                        log_mask_address(json_object_get_string(val), masked, sizeof masked);
                        /* Replacing an existing member's value keeps the
                         * entry, so the walk goes on safely. */
                        json_object_object_add(o, key, json_object_new_string(masked));
                } else
                        mask_context_addresses(val);
        }
}

static int cmd_show(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl show ID [--show-recipients] [--json]\n\nOne message: its state, recipient and the context's addresses (masked unless\n--show-recipients), history, rendered text and errors.\n");
                return 0;
        }
        bool show_recipient = false;
        for (int i = 1; i < argc; i++)
                if (streq(argv[i], "--show-recipients")) {
                        show_recipient = true;
                        memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
                        argc--, i--;
                }
        if (argc != 2)
                return usage_error("show", "%s", "expected one message ID");
        if (parse_id("show", argv[1]))
                return EX_USAGE;
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        const char *p[] = {argv[1], show_recipient ? "t" : "f"};
        _cleanup_(PQclearp) PGresult *res = NULL, *ev = NULL;
        r = db_exec(conn, "Reading the message",
                    "SELECT id, job, channel, audience, state,"
                    " CASE WHEN $2::bool THEN recipient ELSE " MASKED_RECIPIENT_SQL " END AS recipient,"
                    " recipient_name, template, locale, time_zone,"
                    " dedupe_key, attempts, not_before, next_attempt_at, expires_at, created_at, sent_at, provider_id,"
                    " last_error, context, rendered FROM rapport.outbox WHERE id = $1::bigint",
                    2, p, &res);
        if (r < 0)
                return EX_SOFTWARE;
        if (PQntuples(res) == 0) {
                fprintf(stderr, "rapportctl show: no message with id %s\n", argv[1]);
                return EX_DATAERR;
        }
        db_exec(conn, "Reading the message history",
                /* Planning itself writes no event: its row's creation is
                 * the first line of the history. */
                "SELECT at, event, detail FROM ("
                " SELECT created_at AS at, 'planned' AS event,"
                "  'by ' || job || coalesce(' run ' || run_id, '') AS detail, 0::bigint AS seq"
                "  FROM rapport.outbox WHERE id = $1::bigint"
                " UNION ALL"
                " SELECT at, event, coalesce(detail, ''), id FROM rapport.outbox_events WHERE outbox_id = $1::bigint) h"
                " ORDER BY at, seq",
                1, p, &ev);
        json_object *o = json_row(res, 0);
        json_object *ctx = json_object_object_get(o, "context");
        if (!show_recipient)
                mask_context_addresses(ctx);
        if (ctl->json) {
                json_object_object_add(o, "history", json_rows(ev));
                print_json(o);
                return 0;
        }
        int context_col = PQfnumber(res, "context");
        for (int k = 0; k < PQnfields(res) - 1; k++) {
                printf("%-16s ", PQfname(res, k));
                print_cell(PQgetisnull(res, 0, k) ? "-"
                           : k == context_col     ? json_object_to_json_string_ext(ctx, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                                                  : PQgetvalue(res, 0, k),
                           0, -1);
                putchar('\n');
        }
        json_object_put(o);
        printf("\nHISTORY\n");
        if (ev)
                print_table(ev, false);
        int last = PQnfields(res) - 1;
        const char *state = PQgetvalue(res, 0, 4);
        /* The text as lines, as preview shows it: a CRM name's ESC or
         * other control as a space (display_char()). */
        if (streq(state, "failed") && !PQgetisnull(res, 0, last))
                printf("\nRENDERED (as offered by the last attempt, which failed: see last_error)\n");
        else
                printf("\nRENDERED\n");
        fput_display(!PQgetisnull(res, 0, last) ? PQgetvalue(res, 0, last)
                     : streq(state, "queued") || streq(state, "sending")
                             ? "(not sent yet: the text is made when it is sent; 'rapportctl preview' shows what its job produces)"
                             : "(never sent, so there is no text: see last_error and the history above)",
                     true, stdout);
        putchar('\n');
        return 0;
}

/* One statement; done_fmt gets the rows it changed.  Changing none is
 * fine when when_none is NULL, else that (why) and EX_DATAERR. */
#define NO_MATCHING_MESSAGE "nothing to do (no matching message in a state that allows it)"
static int simple_update(struct ctl *ctl, const char *cmd, const char *what, const char *sql, int n, const char *const *p,
                         const char *done_fmt, const char *when_none) {
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (db_exec(conn, what, sql, n, p, &res) < 0)
                return EX_SOFTWARE;
        long rows = atol(PQcmdTuples(res));
        if (rows == 0 && when_none) {
                fprintf(stderr, "rapportctl %s: %s\n", cmd, when_none);
                return EX_DATAERR;
        }
        printf(done_fmt, rows);
        printf("\n");
        return 0;
}

static int cmd_retry(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl retry ID | --failed\n\nPut a failed or cancelled message (or every failed one) back in the queue:\ndue now, or at its planned time if that is still ahead.  Its attempts start\nagain from 0; the error it had stays in its history (show ID).\n");
                return 0;
        }
        if (argc != 2)
                return usage_error("retry", "%s", "expected a message ID or --failed");
        if (streq(argv[1], "--failed"))
                return simple_update(ctl, "retry", "Retrying failed messages",
                                     "WITH u AS (UPDATE rapport.outbox SET state = 'queued', next_attempt_at = not_before, attempts = 0,"
                                     " expires_at = NULL, last_error = NULL, updated_at = now() WHERE state = 'failed' RETURNING id)"
                                     " INSERT INTO rapport.outbox_events (outbox_id, event, detail) SELECT id, 'requeued', 'rapportctl retry' FROM u",
                                     0, NULL, "requeued %ld failed message(s)", NULL);
        if (parse_id("retry", argv[1]))
                return EX_USAGE;
        const char *p[] = {argv[1]};
        return simple_update(ctl, "retry", "Retrying a message",
                             "WITH u AS (UPDATE rapport.outbox SET state = 'queued', next_attempt_at = not_before, attempts = 0,"
                             " expires_at = NULL, last_error = NULL, updated_at = now() WHERE id = $1::bigint AND state IN ('failed', 'cancelled') RETURNING id)"
                             " INSERT INTO rapport.outbox_events (outbox_id, event, detail) SELECT id, 'requeued', 'rapportctl retry' FROM u",
                             1, p, "requeued %ld message(s)", NO_MATCHING_MESSAGE);
}

static int cmd_cancel(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl cancel ID\n\nCancel a queued message so it is never sent.\n");
                return 0;
        }
        if (argc != 2 || parse_id("cancel", argv[1]))
                return argc != 2 ? usage_error("cancel", "%s", "expected one message ID") : EX_USAGE;
        const char *p[] = {argv[1]};
        return simple_update(ctl, "cancel", "Cancelling a message",
                             "WITH u AS (UPDATE rapport.outbox SET state = 'cancelled', last_error = 'cancelled by rapportctl',"
                             " lease_token = NULL, updated_at = now() WHERE id = $1::bigint AND state = 'queued' RETURNING id)"
                             " INSERT INTO rapport.outbox_events (outbox_id, event, detail) SELECT id, 'cancelled', 'rapportctl cancel' FROM u",
                             1, p, "cancelled %ld message(s)", NO_MATCHING_MESSAGE);
}

/* ---- enable / disable -------------------------------------------------- */
/* Kept in the database (rapport.job_disabled), not the configuration: it
 * takes effect at every instance's next occurrence of the job, with no
 * reload, and says who switched it off and why. */
static int switch_job(struct ctl *ctl, int argc, char **argv, bool disable) {
        const char *cmd = disable ? "disable" : "enable";
        static const struct option opts[] = {{"reason", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
        const char *reason = NULL;
        int o;
        static const char shortopts[] = "h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'r':
                        if (!disable)
                                return usage_error(cmd, "%s", "--reason goes with disable");
                        reason = optarg;
                        break;
                case 'h':
                        if (disable)
                                printf("Usage: rapportctl disable JOB [--reason TEXT]\n\nStop planning JOB without editing the configuration: from its next\n"
                                       "occurrence on, every rapportd instance records the occurrence as skipped\n"
                                       "instead of planning it, until 'rapportctl enable JOB'.  Messages it has\n"
                                       "already queued are still sent ('rapportctl cancel ID' stops one);\n"
                                       "'rapportctl run JOB' still plans it once when asked.\n");
                        else
                                printf("Usage: rapportctl enable JOB\n\nUndo 'rapportctl disable JOB': its next occurrence is planned as usual.\n"
                                       "Occurrences missed while it was disabled are not caught up.  A job the\n"
                                       "configuration disables (enabled = false) stays disabled.\n");
                        return 0;
                default: return bad_option(cmd, shortopts, argc, argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error(cmd, "%s", "expected one JOB");
        const char *job = argv[optind];
        if (!job_def_find(job))
                return unknown_job_error(cmd, job);
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        const struct job_config *j = config_job(c, job);
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (disable) {
                const struct passwd *pw = getpwuid(getuid());
                const char *who = getenv("SUDO_USER") ? getenv("SUDO_USER") : pw ? pw->pw_name : NULL;
                const char *p[] = {job, who, reason};
                if (db_exec(conn, "Disabling the job",
                            "WITH d AS (INSERT INTO rapport.job_disabled (job, disabled_by, reason) VALUES ($1, $2, $3)"
                            "           ON CONFLICT (job) DO UPDATE SET reason = coalesce(EXCLUDED.reason, rapport.job_disabled.reason)"
                            "           RETURNING 1)"
                            " SELECT (SELECT count(*) FROM rapport.outbox WHERE job = $1 AND state IN ('queued', 'sending'))",
                            3, p, &res) < 0)
                        return EX_SOFTWARE;
                long queued = atol(PQgetvalue(res, 0, 0));
                printf("job %s disabled: rapportd plans nothing for it until 'rapportctl enable %s'\n", job, job);
                if (queued)
                        printf("%ld message(s) it planned earlier are still queued and will be sent ('rapportctl queue --job %s' lists them, 'rapportctl cancel ID' stops one)\n",
                               queued, job);
        } else {
                const char *p[] = {job};
                if (db_exec(conn, "Enabling the job", "DELETE FROM rapport.job_disabled WHERE job = $1", 1, p, &res) < 0)
                        return EX_SOFTWARE;
                if (atol(PQcmdTuples(res)) == 0)
                        printf("job %s was not disabled with 'rapportctl disable': nothing to do\n", job);
                else
                        printf("job %s enabled: its next occurrence is planned as usual (those missed while disabled are not caught up)\n", job);
        }
        if (!j)
                printf("note: the configuration does not configure job %s, so rapportd does not run it either way\n", job);
        else if (!j->enabled)
                printf("note: the configuration disables job %s (enabled = false), which only a configuration change undoes\n", job);
        return 0;
}

static int cmd_disable(struct ctl *ctl, int argc, char **argv) { return switch_job(ctl, argc, argv, true); }
static int cmd_enable(struct ctl *ctl, int argc, char **argv) { return switch_job(ctl, argc, argv, false); }

static int cmd_suppress(struct ctl *ctl, int argc, char **argv) {
        static const struct option opts[] = {{"reason", required_argument, NULL, 'r'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
        const char *reason = "manual";
        int o;
        static const char shortopts[] = "h";
        reset_getopt();
        while ((o = getopt_long(argc, argv, shortopts, opts, NULL)) >= 0) {
                switch (o) {
                case 'r': reason = optarg; break;
                case 'h':
                        printf("Usage: rapportctl suppress ADDRESS [--reason TEXT]\n\nNever contact this e-mail address or phone number (E.164) again;\n"
                               "queued messages to it are cancelled when their turn comes.\n");
                        return 0;
                default: return bad_option("suppress", shortopts, argc, argv);
                }
        }
        if (optind + 1 != argc)
                return usage_error("suppress", "%s", "expected one ADDRESS");
        const char *addr = argv[optind];
        const char *channel = strchr(addr, '@') ? "email" : "sms";
        /* A suppression must match what the dispatcher compares: a bare
         * address or number, not "Name <a@b>" (which would never match and
         * leave the person contactable). */
        if (streq(channel, "email") ? !email_address_valid(addr) : !sms_number_valid(addr))
                return usage_error("suppress", "'%s' is neither a bare e-mail address nor an E.164 phone number", addr);
        const char *p[] = {addr, channel, reason};
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        int r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        if (db_exec(conn, "Suppressing", "INSERT INTO rapport.suppression (address, channel, reason) VALUES (lower($1), $2, $3)"
                    " ON CONFLICT (address) DO UPDATE SET reason = EXCLUDED.reason", 3, p, NULL) < 0)
                return EX_SOFTWARE;
        printf("suppressed (%s)\n", channel);
        return 0;
}

static int cmd_unsuppress(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl unsuppress ADDRESS\n\nAllow an address that was suppressed to be contacted again.\n");
                return 0;
        }
        if (argc != 2)
                return usage_error("unsuppress", "%s", "expected one ADDRESS");
        if (argv[1][0] == '-')
                return usage_error("unsuppress", "unknown option '%s'", argv[1]);
        const char *p[] = {argv[1]};
        _cleanup_free_ char *none = NULL;
        if (asprintf(&none, "'%s' is not suppressed", argv[1]) < 0)
                return EX_SOFTWARE;
        return simple_update(ctl, "unsuppress", "Unsuppressing", "DELETE FROM rapport.suppression WHERE address = lower($1)", 1, p,
                             "removed %ld suppression(s)", none);
}

/* The page behind email.unsubscribe_url runs this with the link's id and
 * token: the recipient of that message is suppressed on its channel.  A
 * link whose token does not match (forged, mistyped, or of a message
 * pruned since) changes nothing and says so, exit 1. */
static int cmd_unsubscribe(struct ctl *ctl, int argc, char **argv) {
        if (wants_help(argc, argv)) {
                printf("Usage: rapportctl unsubscribe MESSAGE-ID TOKEN\n\nHonour a one-click unsubscribe link (email.unsubscribe_url?id=MESSAGE-ID&token=TOKEN):\n"
                       "suppress the address that message went to, if the token is that message's.\n"
                       "Exits 0 when suppressed (also when it already was), 1 when no message has\n"
                       "that id and token (a forged or mistyped link, or one pruned after\n"
                       "outbox.retention_days).\n");
                return 0;
        }
        if (argc != 3)
                return usage_error("unsubscribe", "%s", "expected MESSAGE-ID and TOKEN");
        if (argv[1][0] == '-' || argv[2][0] == '-')
                return usage_error("unsubscribe", "unknown option '%s'", argv[1][0] == '-' ? argv[1] : argv[2]);
        int r = parse_id("unsubscribe", argv[1]);
        if (r)
                return r;
        /* A UUID, in any case, with or without hyphens: what PostgreSQL reads. */
        size_t hex = 0;
        for (const char *t = argv[2]; *t; t++)
                if (isxdigit((unsigned char)*t))
                        hex++;
                else if (*t != '-')
                        return usage_error("unsubscribe", "'%s' is not a token", argv[2]);
        if (hex != 32)
                return usage_error("unsubscribe", "'%s' is not a token", argv[2]);
        _cleanup_(config_freep) struct rapport_config *c = NULL;
        _cleanup_(PQfinishp) PGconn *conn = NULL;
        r = connect_db(ctl, &c, &conn, true);
        if (r)
                return r;
        const char *p[] = {argv[1], argv[2]};
        _cleanup_(PQclearp) PGresult *res = NULL;
        if (db_exec(conn, "Unsubscribing",
                    "WITH m AS (SELECT lower(recipient) AS address, channel, id FROM rapport.outbox"
                    "           WHERE id = $1::bigint AND unsubscribe_token = $2::uuid AND marketing),"
                    " s AS (INSERT INTO rapport.suppression (address, channel, reason)"
                    "       SELECT address, channel, 'unsubscribed (message ' || id || ')' FROM m"
                    "       ON CONFLICT (address) DO NOTHING RETURNING 1)"
                    " SELECT channel, (SELECT count(*) FROM s) FROM m",
                    2, p, &res) < 0)
                return EX_SOFTWARE;
        if (PQntuples(res) == 0) {
                fprintf(stderr, "rapportctl unsubscribe: no marketing message %s with that token "
                                "(a forged or mistyped link, or the message was pruned)\n", argv[1]);
                return 1;
        }
        printf("%s (%s)\n", streq(PQgetvalue(res, 0, 1), "0") ? "already suppressed" : "suppressed", PQgetvalue(res, 0, 0));
        return 0;
}

static const struct command commands[] = {
        {"check", "[--now ISO8601]", "validate config, templates, database and job SQL", cmd_check, false},
        {"migrate", "", "apply missing database migrations", cmd_migrate, false},
        {"status", "[--now T]", "jobs, queue depth, failures, suppressions (--json)", cmd_status, true},
        {"queue", "[--state S] [--job J] [--limit N] [--show-recipients]", "list messages (--json)", cmd_queue, true},
        {"show", "ID [--show-recipients] [--json]", "one message with its history", cmd_show, true},
        {"retry", "ID|--failed", "requeue failed messages", cmd_retry, false},
        {"cancel", "ID", "cancel a queued message", cmd_cancel, false},
        {"suppress", "ADDRESS [--reason R]", "never contact an address", cmd_suppress, false},
        {"unsuppress", "ADDRESS", "lift a suppression", cmd_unsuppress, false},
        {"unsubscribe", "MESSAGE-ID TOKEN", "honour an unsubscribe link (suppress its recipient)", cmd_unsubscribe, false},
        {"run", "JOB [--now T] [--dry-run] [--show-recipients]", "plan a job once now (--json)", cmd_run, true},
        {"disable", "JOB [--reason TEXT]", "stop planning a job (no config edit)", cmd_disable, false},
        {"enable", "JOB", "undo disable", cmd_enable, false},
        {"preview", "JOB [--customer ID|--rep ID] [--channel C] [--now T] [--show-recipients]", "render what a job would send", cmd_preview, false},
        {"render", "[--template] F --data F.json [--partials DIR] [--escape html|none]", "render one template file", cmd_render, false},
        {"next", "'CRON' [--tz Z] [--from T] [--count N]", "print next fire times (--json)", cmd_next, true},
};

static void help(void) {
        printf("Usage: rapportctl [--config FILE] COMMAND [ARGS]\n\n"
               "The administrator's tool for rapport.  Commands:\n");
        for (size_t i = 0; i < ELEMENTSOF(commands); i++)
                if (strlen(commands[i].args) <= 39)
                        printf("  %-10s %-39s %s\n", commands[i].name, commands[i].args, commands[i].summary);
                else /* every option named: the summary goes below */
                        printf("  %-10s %s\n  %-10s %-39s %s\n", commands[i].name, commands[i].args, "", "", commands[i].summary);
        printf("\nOptions:\n"
               "  -c, --config FILE   configuration (default $RAPPORT_CONFIG or %s)\n"
               "      --json          machine-readable output (status, queue, show, run, next)\n"
               "  -h, --help          this help; 'rapportctl COMMAND --help' for a command\n"
               "      --version       show the version\n"
               "\nExit codes follow sysexits(3): 64 usage, 65 bad data, 69 database unavailable,\n"
               "78 configuration error; unsubscribe exits 1 for a link that matches no message.\n"
               "See rapportctl(8).\n",
               RAPPORT_CONFIG);
}

/* What a command printed and the disk (or a pipe's reader) did not take is
 * lost: a preview or status cut short must not exit 0 as if complete. */
static int output_flushed(int exit_code) {
        int error = fflush(stdout) == 0 ? 0 : errno;
        if (!error && !ferror(stdout))
                return exit_code;
        fprintf(stderr, "rapportctl: cannot write to standard output%s%s\n", error ? ": " : "", error ? strerror(error) : "");
        return exit_code == 0 ? EX_IOERR : exit_code;
}

int main(int argc, char **argv) {
        struct ctl ctl = {.config_path = getenv("RAPPORT_CONFIG") ? getenv("RAPPORT_CONFIG") : RAPPORT_CONFIG};
        log_setup("rapportctl", LOG_WARNING);
        int i = 1;
        for (; i < argc && argv[i][0] == '-'; i++) {
                if ((streq(argv[i], "-c") || streq(argv[i], "--config")) && i + 1 < argc)
                        ctl.config_path = argv[++i];
                else if (streq(argv[i], "-c") || streq(argv[i], "--config")) {
                        fprintf(stderr, "rapportctl: %s needs a FILE\nTry 'rapportctl --help'.\n", argv[i]);
                        return EX_USAGE;
                }
                else if (strncmp(argv[i], "--config=", 9) == 0)
                        ctl.config_path = argv[i] + 9;
                else if (streq(argv[i], "--json"))
                        ctl.json = true;
                else if (streq(argv[i], "-h") || streq(argv[i], "--help")) {
                        help();
                        return output_flushed(0);
                } else if (streq(argv[i], "--version")) {
                        printf("rapportctl %s\n", RAPPORT_VERSION);
                        return output_flushed(0);
                } else {
                        fprintf(stderr, "rapportctl: unknown option '%s'\nTry 'rapportctl --help'.\n", argv[i]);
                        return EX_USAGE;
                }
        }
        if (i >= argc) {
                fprintf(stderr, "rapportctl: no command given\nTry 'rapportctl --help'.\n");
                return EX_USAGE;
        }
        /* Accept --config / --json after the command name too. */
        char **sub = argv + i;
        int subc = argc - i;
        for (int k = 1; k < subc; k++) {
                int taken = 0; /* arguments consumed here, removed from sub */
                if ((streq(sub[k], "--config") || streq(sub[k], "-c")) && k + 1 < subc) {
                        ctl.config_path = sub[k + 1];
                        taken = 2;
                } else if (strncmp(sub[k], "--config=", 9) == 0) {
                        ctl.config_path = sub[k] + 9;
                        taken = 1;
                } else if (streq(sub[k], "--json") && !streq(sub[0], "queue")) {
                        ctl.json = true;
                        taken = 1;
                }
                if (taken) {
                        memmove(&sub[k], &sub[k + taken], (size_t)(subc - k - taken) * sizeof *sub);
                        subc -= taken, k--;
                }
        }
        sub[subc] = NULL;
        for (size_t k = 0; k < ELEMENTSOF(commands); k++)
                if (streq(sub[0], commands[k].name)) {
                        if (ctl.json && !commands[k].json)
                                return usage_error(sub[0], "%s", "--json: this command has no JSON output (status, queue, show, run and next do)");
                        return output_flushed(commands[k].run(&ctl, subc, sub));
                }
        fprintf(stderr, "rapportctl: unknown command '%s'\nTry 'rapportctl --help'.\n", sub[0]);
        return EX_USAGE;
}
