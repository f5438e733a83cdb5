/* Template files and their cache.  See templates.h for the layout. */
#include "templates.h"

#include <dirent.h>
#include <ctype.h>
#include <errno.h>
#include <strings.h>
#include <sys/stat.h>

#include "../jobs/jobs.h"
#include "config.h"
#include "log.h"
#include "sms_text.h"

struct partial {
        char *name; /* "footer" or "footer.zh-CN" */
        struct mustache *tpl;
};

struct template_set {
        struct message_template **msgs;
        size_t n_msgs;
        struct partial *partials;
        size_t n_partials;
        /* template_set_load_all(): "NAME.CHANNEL.LOCALE" of the message
         * files that did not load, so `check` does not call them missing. */
        char **broken;
        size_t n_broken;
};

void message_template_free(struct message_template *t) {
        if (!t)
                return;
        free(t->path);
        free(t->name);
        free(t->channel);
        free(t->locale);
        mustache_free(t->subject);
        mustache_free(t->text);
        mustache_free(t->html);
        free(t);
}

/* Every problem of the part is logged, so that `rapportctl check` (and a
 * refused reload) lists them all at once, not one per edit, and counted in
 * *n_errors (may be NULL). */
static int parse_part(const char *path, const char *src, size_t len, int first_line, int first_column,
                      struct mustache **ret, int *n_errors) {
        struct mustache_error errs[TEMPLATE_MAX_ERRORS];
        size_t n = 0;
        int r = mustache_parse_all(src, len, first_line, first_column, ret, errs, ELEMENTSOF(errs), &n);
        if (r == -EINVAL) {
                for (size_t i = 0; i < n && i < ELEMENTSOF(errs); i++)
                        log_error("%s:%d:%d: %s", path, errs[i].line, errs[i].column, errs[i].message);
                if (n > ELEMENTSOF(errs))
                        log_error("%s: %zu more problem(s) not shown", path, n - ELEMENTSOF(errs));
        } else if (r < 0)
                log_error_errno(r, "%s: cannot parse: %m", path);
        if (r < 0 && n_errors)
                *n_errors += r == -EINVAL && n > 0 ? (n > 100000 ? 100000 : (int)n) : 1;
        return r;
}

/* A file that is one part from its first byte (an SMS template, a
 * partial), a leading byte-order mark aside. */
static int parse_whole_file(const char *path, const char *src, size_t len, struct mustache **ret, int *n_errors) {
        size_t bom = utf8_bom_len(src, len);
        return parse_part(path, src + bom, len - bom, 1, 1, ret, n_errors);
}

static int count_lines(const char *from, const char *to) {
        int n = 0;
        for (const char *p = from; p < to; p++)
                n += *p == '\n';
        return n;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

enum separator { SEPARATOR_NONE, SEPARATOR_HTML, SEPARATOR_NEAR_MISS };

/* Whether the line [q, q + n) starts the HTML part.  Trailing blanks (an
 * editor's, or a CR) and the case of "html" are forgiven; any other
 * spelling of ---, blanks, html, --- (^-{3}\s*html\s*-{3}\s*$) is a near
 * miss, *column at its first difference: text would never look like that,
 * and taking it as text would send the HTML as the plain-text part. */
static enum separator classify_line(const char *q, size_t n, int *column) {
        const char *sep = TEMPLATE_HTML_SEPARATOR;
        size_t sep_len = strlen(sep), end = n, i = 3;
        while (end && is_blank(q[end - 1]))
                end--;
        if (end == sep_len && strncasecmp(q, sep, sep_len) == 0)
                return SEPARATOR_HTML;
        if (end < 3 || memcmp(q, "---", 3) != 0)
                return SEPARATOR_NONE;
        while (i < end && is_blank(q[i]))
                i++;
        if (end - i < 4 || strncasecmp(q + i, "html", 4) != 0)
                return SEPARATOR_NONE;
        i += 4;
        while (i < end && is_blank(q[i]))
                i++;
        if (end - i != 3 || memcmp(q + i, "---", 3) != 0)
                return SEPARATOR_NONE;
        size_t k = 0;
        while (k < end && k < sep_len && tolower((unsigned char)q[k]) == sep[k])
                k++;
        *column = (int)k + 1; /* the line is ASCII up to there */
        return SEPARATOR_NEAR_MISS;
}

int template_email_layout(const char *path, const char *src, size_t len, struct email_layout *ret) {
        const char *end = src + len, *p = src + utf8_bom_len(src, len);
        struct email_layout l = {0};
        bool have_subject = false;
        int line = 1;
        /* Header block: the "Subject: …" line up to the first empty line. */
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                if (!eol)
                        eol = end;
                const char *next = eol < end ? eol + 1 : end;
                size_t n = (size_t)(eol - p);
                if (n && p[n - 1] == '\r')
                        n--;
                if (n == 0) {
                        p = next;
                        line++;
                        break;
                }
                if (n >= 8 && strncasecmp(p, "Subject:", 8) == 0) {
                        /* A second one would silently win over the first. */
                        if (have_subject) {
                                log_error("%s:%d:1: a second \"Subject:\" line (an e-mail template has one)", path, line);
                                return -EINVAL;
                        }
                        size_t skip = 8;
                        while (skip < n && (p[skip] == ' ' || p[skip] == '\t'))
                                skip++;
                        l.subject_off = (size_t)(p - src) + skip;
                        l.subject_len = n - skip;
                        l.subject_line = line;
                        l.subject_column = (int)skip + 1; /* "Subject:" and blanks are ASCII */
                        have_subject = true;
                } else {
                        log_error("%s:%d:1: unknown header line (an e-mail template starts with \"Subject: …\", then an empty line, then the text)", path, line);
                        return -EINVAL;
                }
                p = next;
                line++;
        }
        if (!have_subject) {
                log_error("%s:1:1: e-mail template has no \"Subject:\" line", path);
                return -EINVAL;
        }

        /* Text part, then the optional HTML part after the separator line. */
        const char *text = p, *text_end = end, *html = NULL;
        int at = line;
        for (const char *q = p; q < end; at++) {
                const char *eol = memchr(q, '\n', (size_t)(end - q));
                const char *next = eol ? eol + 1 : end;
                int column = 1;
                enum separator k = classify_line(q, (size_t)((eol ? eol : end) - q), &column);
                if (k == SEPARATOR_NEAR_MISS) {
                        log_error("%s:%d:%d: almost the HTML separator: write it \"" TEMPLATE_HTML_SEPARATOR "\" (one space"
                                  " each side of \"html\"), or the HTML after it goes out as plain text", path, at, column);
                        return -EINVAL;
                }
                if (k == SEPARATOR_HTML) {
                        text_end = q;
                        html = next;
                        break;
                }
                q = next;
        }
        l.text_off = (size_t)(text - src);
        l.text_len = (size_t)(text_end - text);
        l.text_line = line;
        if (html) {
                l.has_html = true;
                l.html_off = (size_t)(html - src);
                l.html_len = (size_t)(end - html);
                l.html_line = line + count_lines(text, html);
        }
        *ret = l;
        return 0;
}

/* Parses every part even after one failed, so that each problem in the
 * file is reported; returns the first error and counts them all. */
static int parse_email_parts(const char *path, const char *src, const struct email_layout *l, struct mustache **subject,
                             struct mustache **text, struct mustache **html, int *n_errors) {
        const struct {
                size_t off, len;
                int line, column;
                struct mustache **dst;
        } parts[] = {
                {l->subject_off, l->subject_len, l->subject_line, l->subject_column, subject},
                {l->text_off, l->text_len, l->text_line, 1, text},
                {l->html_off, l->html_len, l->html_line, 1, l->has_html ? html : NULL},
        };
        int first = 0;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                if (!parts[i].dst)
                        continue;
                int r = parse_part(path, src + parts[i].off, parts[i].len, parts[i].line, parts[i].column, parts[i].dst,
                                   n_errors);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !first)
                        first = r;
        }
        return first;
}

static bool is_blank_text(const char *p, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!is_blank(p[i]) && p[i] != '\n')
                        return false;
        return true;
}

static int parse_email(struct message_template *t, const char *src, size_t len, int *n_errors) {
        struct email_layout l;
        int r = template_email_layout(t->path, src, len, &l);
        if (r < 0) {
                (*n_errors)++;
                return r;
        }
        if (is_blank_text(src + l.subject_off, l.subject_len)) {
                t->blank_subject_line = l.subject_line;
                t->blank_subject_column = l.subject_column;
        }
        if (is_blank_text(src + l.text_off, l.text_len))
                t->blank_text_line = l.text_line;
        return parse_email_parts(t->path, src, &l, &t->subject, &t->text, &t->html, n_errors);
}

/* template_parse_file() counting every problem logged in *n_errors. */
static int parse_file(const char *path, const char *channel, struct message_template **ret, int *n_errors) {
        struct message_template *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->path = strdup(path);
        t->channel = strdup(channel);
        _cleanup_free_ char *src = NULL;
        size_t len;
        int errors = 0;
        int r = read_file(path, &src, &len);
        if (r < 0) {
                log_error_errno(r, "%s: cannot read template: %m", path);
        } else if (strlen(src) != len) {
                log_error("%s: template contains a NUL byte", path);
                r = -EINVAL;
        } else if (streq(channel, "email"))
                r = parse_email(t, src, len, &errors);
        else
                r = parse_whole_file(path, src, len, &t->text, &errors);
        if (r < 0) {
                *n_errors += errors ? errors : 1;
                message_template_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

int template_parse_file(const char *path, const char *channel, struct message_template **ret) {
        int n_errors = 0;
        return parse_file(path, channel, ret, &n_errors);
}

/* NAME.CHANNEL.LOCALE.mustache → message; anything else → partial. */
/* The files a templates directory holds templates in: NAME.mustache, not
 * hidden (an editor's swap or backup file). */
static bool is_template_file(const char *file) {
        size_t n = strlen(file), suffix = strlen(".mustache");
        return file[0] != '.' && n > suffix && streq(file + n - suffix, ".mustache");
}

static bool split_name(const char *file, char **name, char **channel, char **locale) {
        size_t n = strlen(file);
        const char *suffix = ".mustache";
        if (n <= strlen(suffix) || strcmp(file + n - strlen(suffix), suffix) != 0)
                return false;
        _cleanup_free_ char *stem = strndup(file, n - strlen(suffix));
        char *dot2 = strrchr(stem, '.');
        if (!dot2)
                return false;
        *dot2 = '\0';
        char *dot1 = strrchr(stem, '.');
        if (!dot1 || (strcmp(dot1 + 1, "email") != 0 && strcmp(dot1 + 1, "sms") != 0))
                return false;
        *dot1 = '\0';
        *name = strdup(stem);
        *channel = strdup(dot1 + 1);
        *locale = strdup(dot2 + 1);
        return true;
}

const char *template_file_channel(const char *path) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *name = NULL, *channel = NULL, *locale = NULL;
        if (!split_name(slash ? slash + 1 : path, &name, &channel, &locale))
                return NULL;
        return streq(channel, "email") ? "email" : "sms";
}

static int add_message(struct template_set *s, struct message_template *t) {
        struct message_template **m = realloc(s->msgs, (s->n_msgs + 1) * sizeof *m);
        if (!m) {
                message_template_free(t);
                return log_error_errno(-ENOMEM, "Loading templates: %m");
        }
        s->msgs = m;
        s->msgs[s->n_msgs++] = t;
        return 0;
}

static int add_broken(struct template_set *s, const char *file, size_t len) {
        char **b = realloc(s->broken, (s->n_broken + 1) * sizeof *b);
        if (!b)
                return log_error_errno(-ENOMEM, "Loading templates: %m");
        s->broken = b;
        s->broken[s->n_broken] = strndup(file, len - strlen(".mustache"));
        if (!s->broken[s->n_broken])
                return log_error_errno(-ENOMEM, "Loading templates: %m");
        s->n_broken++;
        return 0;
}

static bool locale_key_eq(const char *a, const char *b);

/* Two files for one template (zh-CN and zh_cn are one locale) would leave
 * it to the directory's order which words go out, and an edited copy
 * could be the one ignored: a problem to fix, like a file that does not
 * parse.  Returns the file already loaded under that key, if any. */
static const char *twin_message(const struct template_set *s, const char *name, const char *channel, const char *locale) {
        for (size_t i = 0; i < s->n_msgs; i++)
                if (streq(s->msgs[i]->name, name) && streq(s->msgs[i]->channel, channel) &&
                    locale_key_eq(s->msgs[i]->locale, locale))
                        return s->msgs[i]->path;
        return NULL;
}

static const char *twin_partial(const struct template_set *s, const char *key) {
        for (size_t i = 0; i < s->n_partials; i++)
                if (locale_key_eq(s->partials[i].name, key))
                        return s->partials[i].name;
        return NULL;
}

static int load_partial(struct template_set *s, const char *path, const char *file, size_t len, int *n_errors) {
        _cleanup_free_ char *src = NULL;
        size_t slen;
        struct mustache *tpl = NULL;
        int r = read_file(path, &src, &slen);
        if (r < 0) {
                (*n_errors)++;
                log_error_errno(r, "%s: cannot read template: %m", path);
                return 0;
        }
        r = parse_whole_file(path, src, slen, &tpl, n_errors);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0;
        _cleanup_free_ char *key = strndup(file, len - strlen(".mustache"));
        const char *twin = key ? twin_partial(s, key) : NULL;
        if (twin) {
                (*n_errors)++;
                log_error("%s: the same partial as %s.mustache (in a locale, case and '_' or '-' do not matter): keep one of them",
                          path, twin);
                mustache_free(tpl);
                return 0;
        }
        struct partial *p = realloc(s->partials, (s->n_partials + 1) * sizeof *p);
        if (!p) {
                mustache_free(tpl);
                return log_error_errno(-ENOMEM, "Loading templates: %m");
        }
        s->partials = p;
        s->partials[s->n_partials++] = (struct partial){TAKE_PTR(key), tpl};
        return 0;
}

int template_set_load_all(const char *dir, struct template_set **ret, int *n_errors) {
        *n_errors = 0;
        _cleanup_(template_set_freep) struct template_set *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        struct dirent **list = NULL;
        int n = scandir(dir, &list, NULL, alphasort);
        if (n < 0) {
                (*n_errors)++;
                return log_error_errno(-errno, "%s: cannot read templates directory: %m", dir);
        }
        int r = 0;
        for (int i = 0; i < n && r >= 0; i++) {
                const char *file = list[i]->d_name;
                size_t len = strlen(file);
                if (!is_template_file(file))
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, file) < 0) {
                        r = log_error_errno(-ENOMEM, "Loading templates: %m");
                        break;
                }
                char *name = NULL, *channel = NULL, *locale = NULL;
                if (!split_name(file, &name, &channel, &locale)) {
                        r = load_partial(s, path, file, len, n_errors);
                        continue;
                }
                const char *twin = twin_message(s, name, channel, locale);
                if (twin) {
                        (*n_errors)++;
                        log_error("%s: the same template as %s (in a locale, case and '_' or '-' do not matter): keep one of them",
                                  path, twin);
                        free(name), free(channel), free(locale);
                        continue;
                }
                struct message_template *t = NULL;
                r = parse_file(path, channel, &t, n_errors);
                if (r < 0) {
                        free(name), free(channel), free(locale);
                        r = r == -ENOMEM ? r : add_broken(s, file, len);
                        continue;
                }
                free(t->channel);
                t->name = name, t->channel = channel, t->locale = locale;
                r = add_message(s, t);
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        /* Out of memory part way: a set missing templates is no set at all. */
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int template_set_load(const char *dir, struct template_set **ret, int *n_errors) {
        _cleanup_(template_set_freep) struct template_set *s = NULL;
        int r = template_set_load_all(dir, &s, n_errors);
        if (r < 0)
                return r;
        /* A set is all or nothing: a reload keeps the old one. */
        if (*n_errors > 0)
                return -EINVAL;
        *ret = TAKE_PTR(s);
        return 0;
}

struct template_set *template_set_free(struct template_set *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n_msgs; i++)
                message_template_free(s->msgs[i]);
        free(s->msgs);
        for (size_t i = 0; i < s->n_partials; i++) {
                free(s->partials[i].name);
                mustache_free(s->partials[i].tpl);
        }
        free(s->partials);
        for (size_t i = 0; i < s->n_broken; i++)
                free(s->broken[i]);
        free(s->broken);
        free(s);
        return NULL;
}

/* Case-insensitive, and "_" equals "-": a CRM (or a file) may write a
 * locale zh_CN, POSIX-style, where the templates say zh-CN. */
static char key_fold(char c) { return c == '_' ? '-' : (char)tolower((unsigned char)c); }

static bool locale_key_eq(const char *a, const char *b) {
        for (;; a++, b++) {
                char x = key_fold(*a), y = key_fold(*b);
                if (x != y)
                        return false;
                if (!x)
                        return true;
        }
}

static const struct message_template *find_exact(const struct template_set *s, const char *name, const char *channel, const char *locale) {
        for (size_t i = 0; i < s->n_msgs; i++) {
                const struct message_template *t = s->msgs[i];
                if (streq(t->name, name) && streq(t->channel, channel) && locale_key_eq(t->locale, locale))
                        return t;
        }
        return NULL;
}

/* The lookup of RFC 4647 (3.4): the locale, then the locale with its last
 * subtag removed, and so on (zh-Hant-TW → zh-Hant → zh), then the same for
 * the default locale.  A CRM may hold a POSIX locale name (zh_CN.UTF-8,
 * de_DE@euro): its codeset and modifier say nothing about the language, and
 * left on they would turn zh_CN.UTF-8 into "zh_CN.UTF" → "zh", losing the
 * country on the way to the default. */
#define LOCALE_CHAIN_MAX 8
static int locale_chain(const char *locale, const char *def, char out[LOCALE_CHAIN_MAX][32]) {
        int n = 0;
        const char *cands[2] = {locale, def};
        for (int i = 0; i < 2; i++) {
                if (!cands[i] || !*cands[i])
                        continue;
                char tag[32];
                snprintf(tag, sizeof tag, "%.*s", (int)strcspn(cands[i], ".@"), cands[i]);
                while (tag[0] && n < LOCALE_CHAIN_MAX) {
                        snprintf(out[n++], 32, "%s", tag);
                        char *cut = strrchr(tag, '-'), *u = strrchr(tag, '_');
                        if (!cut || (u && u > cut))
                                cut = u;
                        if (!cut)
                                break;
                        *cut = '\0';
                }
        }
        return n;
}

const struct message_template *template_set_message(const struct template_set *s, size_t i) {
        return s && i < s->n_msgs ? s->msgs[i] : NULL;
}

const struct message_template *template_find(const struct template_set *s, const char *name, const char *channel,
                                             const char *locale, const char *default_locale) {
        char chain[LOCALE_CHAIN_MAX][32];
        int n = locale_chain(locale, default_locale, chain);
        for (int i = 0; i < n; i++) {
                const struct message_template *t = find_exact(s, name, channel, chain[i]);
                if (t)
                        return t;
        }
        return NULL;
}

bool template_broken(const struct template_set *s, const char *name, const char *channel, const char *locale,
                     const char *default_locale) {
        char chain[LOCALE_CHAIN_MAX][32];
        int n = locale_chain(locale, default_locale, chain);
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *key = NULL;
                if (asprintf(&key, "%s.%s.%s", name, channel, chain[i]) < 0)
                        return false;
                for (size_t k = 0; k < s->n_broken; k++)
                        if (locale_key_eq(s->broken[k], key))
                                return true;
        }
        return false;
}

struct partial_lookup {
        const struct template_set *set;
        const char *locale;
};

/* Whether a partial's key is NAME.LOCALE (NAME alone when locale is
 * NULL), compared as locale_key_eq() compares: without building the key,
 * since this runs for every partial tag of every render. */
static bool partial_key_eq(const char *key, const char *name, const char *locale) {
        for (; *name; key++, name++)
                if (key_fold(*key) != key_fold(*name))
                        return false;
        return locale ? *key == '.' && locale_key_eq(key + 1, locale) : !*key;
}

static const struct mustache *find_partial(const char *name, void *userdata) {
        const struct partial_lookup *pl = userdata;
        char chain[LOCALE_CHAIN_MAX][32];
        int n = locale_chain(pl->locale, NULL, chain);
        for (int i = 0; i <= n; i++) {
                for (size_t k = 0; k < pl->set->n_partials; k++)
                        if (partial_key_eq(pl->set->partials[k].name, name, i < n ? chain[i] : NULL))
                                return pl->set->partials[k].tpl;
        }
        return NULL;
}

struct partial_check {
        struct partial_lookup pl;
        const struct message_template *t;
        void (*report)(const struct message_template *, const char *, void *);
        void *userdata;
        const struct mustache *seen[64]; /* partials walked already: nesting and cycles */
        size_t n_seen;
        int missing;
};

static void check_partial(const char *name, void *userdata) {
        struct partial_check *pc = userdata;
        const struct mustache *p = find_partial(name, &pc->pl);
        if (!p) {
                pc->missing++;
                pc->report(pc->t, name, pc->userdata);
                return;
        }
        for (size_t i = 0; i < pc->n_seen; i++)
                if (pc->seen[i] == p)
                        return;
        if (pc->n_seen < ELEMENTSOF(pc->seen)) {
                pc->seen[pc->n_seen++] = p;
                mustache_for_each_partial(p, check_partial, pc);
        }
}

int template_missing_partials(const struct template_set *s, const struct message_template *t,
                              void (*report)(const struct message_template *t, const char *partial, void *userdata),
                              void *userdata) {
        struct partial_check pc = {.pl = {s, t->locale}, .t = t, .report = report, .userdata = userdata};
        mustache_for_each_partial(t->subject, check_partial, &pc);
        mustache_for_each_partial(t->text, check_partial, &pc);
        mustache_for_each_partial(t->html, check_partial, &pc);
        return pc.missing;
}

void rendered_clear(struct rendered *r) {
        free(r->subject);
        free(r->text);
        free(r->html);
        *r = (struct rendered){0};
}

/* A subject is one line whatever the data held. */
static void flatten_line(char *s) {
        for (char *p = s; *p; p++)
                if (*p == '\r' || *p == '\n' || *p == '\t')
                        *p = ' ';
        size_t n = strlen(s);
        while (n && s[n - 1] == ' ')
                s[--n] = '\0';
        size_t lead = strspn(s, " ");
        memmove(s, s + lead, n - lead + 1);
}

/* A subject is what a mail client shows in one list row: a name of a
 * megabyte must not make one of that size (some parsers choke on it).  Cut
 * at a character boundary, marked with an ellipsis, and said in the log. */
#define SUBJECT_MAX_CHARS 250
static void shorten_subject(const char *template_name, char *s) {
        size_t total = utf8_shorten(s, SUBJECT_MAX_CHARS);
        if (total)
                log_warning("%s: rendered subject of %zu characters shortened to %d", template_name, total, SUBJECT_MAX_CHARS);
}

int template_render(const struct template_set *s, const struct message_template *t, json_object *ctx, struct rendered *out) {
        struct partial_lookup pl = {s, t->locale};
        *out = (struct rendered){0};
        struct {
                struct mustache *tpl;
                char **dst;
                enum mustache_escape esc;
        } parts[] = {
                {t->subject, &out->subject, MUSTACHE_ESCAPE_NONE},
                {t->text, &out->text, MUSTACHE_ESCAPE_NONE},
                {t->html, &out->html, MUSTACHE_ESCAPE_HTML},
        };
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                if (!parts[i].tpl)
                        continue;
                /* Data from a database that does not check its encoding
                 * (SQL_ASCII) can hold any bytes: what goes out is UTF-8
                 * whatever came in. */
                _cleanup_buf_ struct buf b = {0};
                size_t replaced = 0;
                int r = mustache_render_utf8(parts[i].tpl, ctx, parts[i].esc, s ? find_partial : NULL, &pl, &b,
                                             &replaced);
                if (r < 0) {
                        rendered_clear(out);
                        return r;
                }
                if (replaced > 0)
                        log_warning("%s: %zu malformed UTF-8 sequence(s) in the data replaced by U+FFFD", t->name,
                                    replaced);
                *parts[i].dst = buf_steal(&b);
                if (!*parts[i].dst) {
                        rendered_clear(out);
                        return -ENOMEM;
                }
        }
        if (out->subject) {
                flatten_line(out->subject);
                shorten_subject(t->name, out->subject);
        }
        if (streq(t->channel, "sms") && out->text) {
                size_t n = strlen(out->text);
                while (n && (out->text[n - 1] == '\n' || out->text[n - 1] == '\r'))
                        out->text[--n] = '\0';
                /* The text as the gateway gets it (channel_sms.c cleans it
                 * the same way): a tab or a CRLF line end from the
                 * template's editor counted as it is would make preview and
                 * check count UCS-2 segments for what goes out as GSM-7. */
                sms_text_clean(out->text);
        }
        return 0;
}

void template_file_locale(const char *path, char locale[static 32]) {
        const char *slash = strrchr(path, '/');
        const char *file = slash ? slash + 1 : path;
        _cleanup_free_ char *name = NULL, *channel = NULL, *tag = NULL;
        locale[0] = '\0';
        if (split_name(file, &name, &channel, &tag)) {
                snprintf(locale, 32, "%s", tag);
                return;
        }
        size_t n = strlen(file), suffix = strlen(".mustache");
        if (n <= suffix || !streq(file + n - suffix, ".mustache"))
                return;
        _cleanup_free_ char *stem = strndup(file, n - suffix);
        const char *dot = stem ? strrchr(stem, '.') : NULL;
        if (dot && language_tag_ok(dot + 1))
                snprintf(locale, 32, "%s", dot + 1);
}

/* The files the daemon takes for partials (template_set_load_all()). */
static int is_partial_file(const struct dirent *d) {
        return is_template_file(d->d_name) && !template_file_channel(d->d_name);
}

int partial_dir_list(struct partial_dir *pd) {
        if (pd->n_files >= 0)
                return 0;
        int n = scandir(pd->dir, &pd->files, is_partial_file, alphasort);
        if (n < 0)
                return pd->error = log_error_errno(-errno, "partials directory %s: %m", pd->dir);
        pd->n_files = n;
        return 0;
}

/* The file {{> name}} loads (*ret NULL for none): as find_partial() picks
 * among the daemon's partials, then a file called just NAME. */
static int partial_dir_path(struct partial_dir *pd, const char *name, char **ret) {
        char chain[LOCALE_CHAIN_MAX][32];
        int n = locale_chain(pd->locale, NULL, chain);
        for (int i = 0; i <= n; i++)
                for (int k = 0; k < pd->n_files; k++) {
                        const char *file = pd->files[k]->d_name;
                        _cleanup_free_ char *key = strndup(file, strlen(file) - strlen(".mustache"));
                        if (!key)
                                return -ENOMEM;
                        if (partial_key_eq(key, name, i < n ? chain[i] : NULL))
                                return asprintf(ret, "%s/%s", pd->dir, file) < 0 ? -ENOMEM : 0;
                }
        _cleanup_free_ char *bare = NULL;
        if (asprintf(&bare, "%s/%s", pd->dir, name) < 0)
                return -ENOMEM;
        struct stat st;
        *ret = stat(bare, &st) == 0 && !S_ISDIR(st.st_mode) ? TAKE_PTR(bare) : NULL;
        return 0;
}

static int partial_dir_load(struct partial_dir *pd, const char *name, struct mustache **ret) {
        _cleanup_free_ char *path = NULL, *src = NULL;
        size_t len;
        *ret = NULL;
        int r = partial_dir_list(pd);
        if (r >= 0)
                r = partial_dir_path(pd, name, &path);
        if (r < 0 || !path)
                return r;
        r = read_file(path, &src, &len);
        if (r < 0)
                return log_error_errno(r, "%s: cannot read partial: %m", path);
        return parse_whole_file(path, src, len, ret, NULL);
}

const struct mustache *partial_dir_lookup(const char *name, void *userdata) {
        struct partial_dir *pd = userdata;
        for (size_t i = 0; i < pd->n; i++)
                if (streq(pd->entries[i].name, name))
                        return pd->entries[i].tpl;
        if (pd->error || !pd->dir || strchr(name, '/'))
                return NULL;
        struct mustache *tpl = NULL;
        int r = partial_dir_load(pd, name, &tpl);
        if (r < 0) {
                pd->error = r;
                return NULL;
        }
        /* A miss is kept too: {{> name}} in a list asks again per item. */
        struct partial_dir_entry *e = realloc(pd->entries, (pd->n + 1) * sizeof *e);
        if (e)
                pd->entries = e;
        char *key = strdup(name);
        if (!e || !key) {
                free(key);
                mustache_free(tpl);
                pd->error = log_error_errno(-ENOMEM, "Loading partials: %m");
                return NULL;
        }
        pd->entries[pd->n++] = (struct partial_dir_entry){key, tpl};
        return tpl;
}

void partial_dir_clear(struct partial_dir *pd) {
        for (size_t i = 0; i < pd->n; i++) {
                free(pd->entries[i].name);
                mustache_free(pd->entries[i].tpl);
        }
        free(pd->entries);
        pd->entries = NULL;
        pd->n = 0;
        for (int i = 0; i < pd->n_files; i++)
                free(pd->files[i]);
        free(pd->files);
        pd->files = NULL;
        pd->n_files = -1;
}

int template_render_email_file(const char *path, const char *src, size_t len, json_object *ctx,
                               mustache_partial_fn partials, void *userdata, struct buf *out) {
        struct email_layout l;
        int r = template_email_layout(path, src, len, &l);
        if (r < 0)
                return r;
        _cleanup_(mustache_freep) struct mustache *subject = NULL, *text = NULL, *html = NULL;
        int n_errors = 0;
        r = parse_email_parts(path, src, &l, &subject, &text, &html, &n_errors);
        if (r < 0)
                return r;
        /* Each part preceded by the file's bytes since the previous one. */
        const struct {
                size_t off, len;
                const struct mustache *tpl;
                enum mustache_escape esc;
        } parts[] = {
                {l.subject_off, l.subject_len, subject, MUSTACHE_ESCAPE_NONE},
                {l.text_off, l.text_len, text, MUSTACHE_ESCAPE_NONE},
                {l.html_off, l.html_len, html, MUSTACHE_ESCAPE_HTML},
        };
        /* A byte-order mark is no part of the template (as for every
         * other file render reads): the output starts at "Subject:". */
        size_t done = utf8_bom_len(src, len);
        for (size_t i = 0; i < ELEMENTSOF(parts); i++) {
                if (!parts[i].tpl)
                        continue;
                if (parts[i].off > done && (r = buf_append(out, src + done, parts[i].off - done)) < 0)
                        return r;
                r = mustache_render(parts[i].tpl, ctx, parts[i].esc, partials, userdata, out);
                if (r < 0)
                        return r;
                done = parts[i].off + parts[i].len;
        }
        return 0;
}

static int need_template(const struct rapport_config *c, const struct template_set *t, const struct job_config *j,
                         const char *name, const char *channel) {
        if (template_find(t, name, channel, c->locale, c->locale))
                return 0;
        /* Its file is there but broken: reported (and counted) already. */
        if (template_broken(t, name, channel, c->locale, c->locale))
                return 0;
        log_error("%s: job %s sends %s but there is no template %s.%s.%s.mustache", c->templates_dir, j->name,
                  channel, name, channel, c->locale);
        return 1;
}

static bool is_template_key(const char *key) {
        size_t n = strlen(key);
        return streq(key, "template") || (n > 9 && streq(key + n - 9, "_template"));
}

/* Every template a job's settings name must exist for each channel it goes
 * out on (see job_def.channel_templates).  Returns the number missing. */
static int check_job_templates(const struct rapport_config *c, const struct template_set *t, const struct job_config *j) {
        int missing = 0;
        json_object *o = json_tokener_parse(j->settings_json);
        json_object_object_foreach(o, key, val) {
                if (is_template_key(key) && json_object_is_type(val, json_type_string)) {
                        bool on_channels = false;
                        for (const char *const *k = j->def->channel_templates; k && *k; k++)
                                on_channels = on_channels || streq(*k, key);
                        if (!on_channels)
                                missing += need_template(c, t, j, json_object_get_string(val), "email");
                        for (char **ch = j->channels; on_channels && ch && *ch; ch++)
                                missing += need_template(c, t, j, json_object_get_string(val), *ch);
                } else if (json_object_is_type(val, json_type_array)) {
                        /* receivables levels, holiday dates: their own template and channels */
                        for (size_t i = 0; i < json_object_array_length(val); i++) {
                                json_object *e = json_object_array_get_idx(val, i), *name, *chans;
                                if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "template", &name) ||
                                    !json_object_is_type(name, json_type_string))
                                        continue;
                                if (json_object_object_get_ex(e, "channels", &chans) && json_object_is_type(chans, json_type_array)) {
                                        for (size_t k = 0; k < json_object_array_length(chans); k++)
                                                missing += need_template(c, t, j, json_object_get_string(name),
                                                                         json_object_get_string(json_object_array_get_idx(chans, k)));
                                } else if (json_object_object_get_ex(e, "channel", &chans) &&
                                           json_object_is_type(chans, json_type_string)) {
                                        missing += need_template(c, t, j, json_object_get_string(name),
                                                                 json_object_get_string(chans));
                                } else
                                        for (char **ch = j->channels; ch && *ch; ch++)
                                                missing += need_template(c, t, j, json_object_get_string(name), *ch);
                        }
                }
        }
        json_object_put(o);
        return missing;
}

int templates_check_config(const struct template_set *t, const struct rapport_config *c) {
        int missing = 0;
        for (size_t i = 0; i < c->n_jobs; i++)
                if (c->jobs[i].enabled)
                        missing += check_job_templates(c, t, &c->jobs[i]);
        return missing;
}
