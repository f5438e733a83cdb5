/* Template files and their cache.  See templates.h for the layout. */
#include "templates.h"

#include <dirent.h>
#include <errno.h>
#include <strings.h>

#include "log.h"

struct partial {
        char *name; /* "footer" or "footer.zh-CN" */
        struct mustache *tpl;
};

struct template_set {
        struct message_template **msgs;
        size_t n_msgs;
        struct partial *partials;
        size_t n_partials;
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

static int parse_part(const char *path, const char *src, size_t len, int first_line, struct mustache **ret) {
        struct mustache_error err = {0};
        int r = mustache_parse(src, len, first_line, ret, &err);
        if (r == -EINVAL)
                log_error("%s:%d:%d: %s", path, err.line, err.column, err.message);
        else if (r < 0)
                log_error_errno(r, "%s: cannot parse: %m", path);
        return r;
}

static int count_lines(const char *from, const char *to) {
        int n = 0;
        for (const char *p = from; p < to; p++)
                n += *p == '\n';
        return n;
}

static int parse_email(struct message_template *t, const char *src, size_t len) {
        const char *end = src + len, *p = src;
        const char *subject = NULL;
        size_t subject_len = 0;
        int line = 1, subject_line = 1;
        /* Header block: "Subject: …" lines up to the first empty line. */
        while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                if (!eol)
                        eol = end;
                size_t n = (size_t)(eol - p);
                if (n && p[n - 1] == '\r')
                        n--;
                if (n == 0) {
                        p = eol < end ? eol + 1 : end;
                        line++;
                        break;
                }
                if (n >= 8 && strncasecmp(p, "Subject:", 8) == 0) {
                        subject = p + 8;
                        subject_len = n - 8;
                        while (subject_len && (*subject == ' ' || *subject == '\t'))
                                subject++, subject_len--;
                        subject_line = line;
                } else {
                        log_error("%s:%d:1: unknown header line (an e-mail template starts with \"Subject: …\", then an empty line, then the text)", t->path, line);
                        return -EINVAL;
                }
                p = eol < end ? eol + 1 : end;
                line++;
        }
        if (!subject) {
                log_error("%s:1:1: e-mail template has no \"Subject:\" line", t->path);
                return -EINVAL;
        }
        int r = parse_part(t->path, subject, subject_len, subject_line, &t->subject);
        if (r < 0)
                return r;

        /* Text part, then the optional HTML part after the separator line. */
        const char *text = p, *text_end = end, *html = NULL;
        for (const char *q = p; q < end;) {
                const char *eol = memchr(q, '\n', (size_t)(end - q));
                const char *next = eol ? eol + 1 : end;
                size_t n = (size_t)((eol ? eol : end) - q);
                if (n && q[n - 1] == '\r')
                        n--;
                if (n == strlen(TEMPLATE_HTML_SEPARATOR) && memcmp(q, TEMPLATE_HTML_SEPARATOR, n) == 0) {
                        text_end = q;
                        html = next;
                        break;
                }
                q = next;
        }
        r = parse_part(t->path, text, (size_t)(text_end - text), line, &t->text);
        if (r < 0)
                return r;
        if (html)
                r = parse_part(t->path, html, (size_t)(end - html), line + count_lines(text, html), &t->html);
        return r;
}

int template_parse_file(const char *path, const char *channel, struct message_template **ret) {
        struct message_template *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->path = strdup(path);
        t->channel = strdup(channel);
        _cleanup_free_ char *src = NULL;
        size_t len;
        int r = read_file(path, &src, &len);
        if (r < 0) {
                log_error_errno(r, "%s: cannot read template: %m", path);
        } else if (strlen(src) != len) {
                log_error("%s: template contains a NUL byte", path);
                r = -EINVAL;
        } else if (streq(channel, "email"))
                r = parse_email(t, src, len);
        else
                r = parse_part(path, src, len, 1, &t->text);
        if (r < 0) {
                message_template_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

/* NAME.CHANNEL.LOCALE.mustache → message; anything else → partial. */
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

int template_set_load(const char *dir, struct template_set **ret, int *n_errors) {
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
        for (int i = 0; i < n; i++) {
                const char *file = list[i]->d_name;
                size_t len = strlen(file);
                if (file[0] == '.' || len < 10 || strcmp(file + len - 9, ".mustache") != 0)
                        continue;
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/%s", dir, file) < 0)
                        break;
                char *name = NULL, *channel = NULL, *locale = NULL;
                if (split_name(file, &name, &channel, &locale)) {
                        struct message_template *t = NULL;
                        if (template_parse_file(path, channel, &t) < 0) {
                                (*n_errors)++;
                                free(name), free(channel), free(locale);
                                continue;
                        }
                        free(t->channel);
                        t->name = name, t->channel = channel, t->locale = locale;
                        struct message_template **m = realloc(s->msgs, (s->n_msgs + 1) * sizeof *m);
                        if (!m) {
                                message_template_free(t);
                                break;
                        }
                        s->msgs = m;
                        s->msgs[s->n_msgs++] = t;
                } else {
                        _cleanup_free_ char *src = NULL;
                        size_t slen;
                        struct mustache *tpl = NULL;
                        if (read_file(path, &src, &slen) < 0 || parse_part(path, src, slen, 1, &tpl) < 0) {
                                (*n_errors)++;
                                continue;
                        }
                        struct partial *p = realloc(s->partials, (s->n_partials + 1) * sizeof *p);
                        if (!p) {
                                mustache_free(tpl);
                                break;
                        }
                        s->partials = p;
                        s->partials[s->n_partials++] = (struct partial){strndup(file, len - 9), tpl};
                }
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
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
        free(s);
        return NULL;
}

static const struct message_template *find_exact(const struct template_set *s, const char *name, const char *channel, const char *locale) {
        for (size_t i = 0; i < s->n_msgs; i++) {
                const struct message_template *t = s->msgs[i];
                if (streq(t->name, name) && streq(t->channel, channel) && strcasecmp(t->locale, locale) == 0)
                        return t;
        }
        return NULL;
}

/* zh-CN → zh-CN, zh, then the default locale and its language. */
static int locale_chain(const char *locale, const char *def, char out[4][32]) {
        int n = 0;
        const char *cands[2] = {locale, def};
        for (int i = 0; i < 2; i++) {
                if (!cands[i] || !*cands[i])
                        continue;
                snprintf(out[n++], 32, "%s", cands[i]);
                size_t lang = strcspn(cands[i], "-_");
                if (cands[i][lang] && lang < 32)
                        snprintf(out[n++], 32, "%.*s", (int)lang, cands[i]);
        }
        return n;
}

const struct message_template *template_find(const struct template_set *s, const char *name, const char *channel,
                                             const char *locale, const char *default_locale) {
        char chain[4][32];
        int n = locale_chain(locale, default_locale, chain);
        for (int i = 0; i < n; i++) {
                const struct message_template *t = find_exact(s, name, channel, chain[i]);
                if (t)
                        return t;
        }
        return NULL;
}

struct partial_lookup {
        const struct template_set *set;
        const char *locale;
};

static const struct mustache *find_partial(const char *name, void *userdata) {
        const struct partial_lookup *pl = userdata;
        char chain[4][32];
        int n = locale_chain(pl->locale, NULL, chain);
        char key[256];
        for (int i = 0; i <= n; i++) {
                if (i < n)
                        snprintf(key, sizeof key, "%s.%s", name, chain[i]);
                else
                        snprintf(key, sizeof key, "%s", name);
                for (size_t k = 0; k < pl->set->n_partials; k++)
                        if (strcasecmp(pl->set->partials[k].name, key) == 0)
                                return pl->set->partials[k].tpl;
        }
        return NULL;
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
        }
        return 0;
}

const struct mustache *partial_dir_lookup(const char *name, void *userdata) {
        struct partial_dir *pd = userdata;
        for (size_t i = 0; i < pd->n; i++)
                if (streq(pd->entries[i].name, name))
                        return pd->entries[i].tpl;
        if (!pd->dir || strchr(name, '/'))
                return NULL;
        const char *fmts[] = {"%s/%s.mustache", "%s/%s"};
        for (size_t f = 0; f < ELEMENTSOF(fmts); f++) {
                _cleanup_free_ char *path = NULL, *src = NULL;
                size_t len;
                if (asprintf(&path, fmts[f], pd->dir, name) < 0 || read_file(path, &src, &len) < 0)
                        continue;
                struct mustache *tpl = NULL;
                if (parse_part(path, src, len, 1, &tpl) < 0)
                        return NULL;
                struct partial_dir_entry *e = realloc(pd->entries, (pd->n + 1) * sizeof *e);
                if (!e) {
                        mustache_free(tpl);
                        return NULL;
                }
                pd->entries = e;
                pd->entries[pd->n++] = (struct partial_dir_entry){strdup(name), tpl};
                return tpl;
        }
        return NULL;
}

void partial_dir_clear(struct partial_dir *pd) {
        for (size_t i = 0; i < pd->n; i++) {
                free(pd->entries[i].name);
                mustache_free(pd->entries[i].tpl);
        }
        free(pd->entries);
        pd->entries = NULL;
        pd->n = 0;
}
