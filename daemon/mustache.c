/* Mustache engine: parse to a node tree once, render by walking it.
 *
 * Why this shape: the dispatcher renders the same few templates thousands of
 * times, so all the work that does not depend on the data happens in
 * mustache_parse(): delimiters, standalone-line trimming, section matching,
 * splitting dotted names into NUL-terminated keys, and attaching the text
 * before each tag to the tag's node (a typical row is text-tag-text-tag...,
 * so this halves the nodes to walk).  Rendering is a tree walk appending
 * straight into the caller's struct buf; the context stack lives on the C
 * stack, one frame per section level, so a render allocates nothing but
 * the output.
 *
 * Lookups dominate rendering a long list, and json-c's cost there is cache
 * misses on separately allocated keys, not hashing.  Small objects are
 * therefore scanned in member order, and each render keeps, per name in
 * the template, the position where the key was last found: the items of a
 * list normally share one key order, so after the first item a lookup
 * compares a single key.  The hints live in the render, never in the
 * template, which stays immutable and shareable between threads.
 *
 * Standalone lines are resolved at parse time by trimming the text around
 * the tag.  A standalone partial keeps its indentation in its node; the
 * renderer prefixes it to every line that comes from template text of the
 * partial (never to lines inside interpolated values), which is exactly
 * what indenting the partial's source would give. */
#include "mustache.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_SECTION_NESTING 256
#define MAX_PARTIAL_DEPTH 64
#define MAX_RENDER_DEPTH 4096
#define MAX_DELIMITER_LEN 32
/* Objects up to this size are searched in member order, larger ones hashed. */
#define LINEAR_LOOKUP_MAX 16
/* Name parts of one template that get a lookup hint during a render. */
#define MAX_HINTS 256

enum node_type {
        NODE_TEXT,
        NODE_VAR,      /* {{name}}: escaped in HTML mode */
        NODE_RAW,      /* {{{name}}} and {{&name}} */
        NODE_SECTION,  /* {{#name}}...{{/name}} */
        NODE_INVERTED, /* {{^name}}...{{/name}} */
        NODE_PARTIAL,  /* {{>name}} */
};

struct name {
        const char **keys; /* NUL-terminated parts of a dotted name */
        size_t n_keys;     /* 0 with anchored: the implicit iterator {{.}} */
        bool anchored;     /* leading dot: resolve against the top context only */
        size_t hint;       /* index of keys[0]'s lookup hint, see struct render */
};

struct node {
        enum node_type type;
        bool standalone; /* section or partial tag alone on its line */
        const char *text; /* TEXT: span in mustache.src; PARTIAL: its indentation */
        size_t len;
        /* Template text right before a tag travels with the tag's node:
         * half as many nodes to dispatch in the typical text-tag-text row. */
        const char *prefix;
        size_t prefix_len;
        struct name name;
        char *partial_name;
        struct node *children;
        size_t n_children;
};

struct mustache {
        char *src; /* private copy: text nodes point into it */
        struct node *nodes;
        size_t n_nodes;
        size_t n_hints; /* name parts in the template */
};

struct node_vec {
        struct node *v;
        size_t n, cap;
};

static void name_done(struct name *n) {
        free(n->keys); /* keys and their bytes are one allocation */
        *n = (struct name){0};
}

static void nodes_free(struct node *nodes, size_t n) {
        for (size_t i = 0; i < n; i++) {
                name_done(&nodes[i].name);
                free(nodes[i].partial_name);
                nodes_free(nodes[i].children, nodes[i].n_children);
        }
        free(nodes);
}

struct mustache *mustache_free(struct mustache *tpl) {
        if (!tpl)
                return NULL;
        nodes_free(tpl->nodes, tpl->n_nodes);
        free(tpl->src);
        free(tpl);
        return NULL;
}

static int vec_push(struct node_vec *vec, struct node *node) {
        if (node->type != NODE_TEXT && vec->n > 0 && vec->v[vec->n - 1].type == NODE_TEXT) {
                vec->n--;
                node->prefix = vec->v[vec->n].text;
                node->prefix_len = vec->v[vec->n].len;
        }
        if (vec->n == vec->cap) {
                size_t cap = vec->cap ? vec->cap * 2 : 8;
                struct node *v = realloc(vec->v, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                vec->v = v;
                vec->cap = cap;
        }
        vec->v[vec->n++] = *node;
        *node = (struct node){0};
        return 0;
}

/* ---- parsing ---- */

/* An open section waiting for its close tag, with the nodes parsed so far at
 * its level (frame 0 is the template's top level). */
struct frame {
        struct node_vec nodes;
        enum node_type type;
        bool standalone;
        struct name name;
        size_t tag_off;             /* where the open tag starts */
        size_t name_off, name_len;  /* raw name, compared with the close tag */
};

struct parser {
        size_t n_hints;
        const char *src;
        size_t len;
        int first_line;
        struct mustache_error *err;
        struct frame *frames;
        size_t depth; /* frames in use */
};

static void parser_done(struct parser *p) {
        for (size_t i = 0; i < p->depth; i++) {
                nodes_free(p->frames[i].nodes.v, p->frames[i].nodes.n);
                name_done(&p->frames[i].name);
        }
        free(p->frames);
        p->frames = NULL;
        p->depth = 0;
}

static void position_of(const char *src, size_t off, int first_line, int *line, int *column) {
        int l = first_line;
        size_t line_start = 0;
        for (size_t i = 0; i < off; i++)
                if (src[i] == '\n') {
                        l++;
                        line_start = i + 1;
                }
        int c = 1;
        for (size_t i = line_start; i < off; i++)
                if (((unsigned char)src[i] & 0xC0) != 0x80)
                        c++;
        *line = l;
        *column = c;
}

_printf_(3, 4) static int parse_error(struct parser *p, size_t off, const char *fmt, ...) {
        if (p->err) {
                *p->err = (struct mustache_error){0};
                position_of(p->src, off, p->first_line, &p->err->line, &p->err->column);
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static const char *find(const char *hay, size_t hay_len, const char *needle, size_t needle_len) {
        return memmem(hay, hay_len, needle, needle_len);
}

/* Splits a dotted name into NUL-terminated keys held in one allocation. */
static int parse_name(struct parser *p, size_t tag_off, const char *s, size_t len,
                      struct name *ret) {
        struct name n = {0};
        size_t i = 0;
        if (len == 1 && s[0] == '.') {
                *ret = (struct name){.anchored = true};
                return 0;
        }
        if (s[0] == '.') {
                n.anchored = true;
                i = 1;
        }
        /* Keys are split at NUL-terminated dots below: a NUL inside the
         * name would leave keys unset, and no real name contains one. */
        if (memchr(s, '\0', len))
                return parse_error(p, tag_off, "invalid character (NUL) in tag name");
        size_t n_keys = 1;
        for (size_t j = i; j < len; j++)
                if (s[j] == '.')
                        n_keys++;
        for (size_t j = i, start = i; j <= len; j++)
                if (j == len || s[j] == '.') {
                        if (j == start)
                                return parse_error(p, tag_off, "invalid tag name '%.*s'",
                                                   (int)(len > 64 ? 64 : len), s);
                        start = j + 1;
                }
        char **keys = malloc(n_keys * sizeof(char *) + (len - i) + 1);
        if (!keys)
                return -ENOMEM;
        char *bytes = (char *)(keys + n_keys);
        memcpy(bytes, s + i, len - i);
        bytes[len - i] = '\0';
        keys[0] = bytes;
        size_t k = 1;
        for (char *c = bytes; *c; c++)
                if (*c == '.') {
                        *c = '\0';
                        keys[k++] = c + 1;
                }
        n.keys = (const char **)keys;
        n.n_keys = n_keys;
        n.hint = p->n_hints;
        p->n_hints += n_keys;
        *ret = n;
        return 0;
}

static int parse_delimiters(struct parser *p, size_t tag_off, const char *s, size_t len,
                            const char **otag, size_t *olen, const char **ctag, size_t *clen) {
        const char *tok[3];
        size_t tok_len[3];
        size_t n = 0;
        for (size_t i = 0; i < len;) {
                if (is_space(s[i])) {
                        i++;
                        continue;
                }
                size_t start = i;
                while (i < len && !is_space(s[i]))
                        i++;
                if (n < 3) {
                        tok[n] = s + start;
                        tok_len[n] = i - start;
                }
                n++;
        }
        if (n != 2)
                return parse_error(p, tag_off,
                                   "invalid set-delimiter tag: expected two delimiters "
                                   "separated by whitespace");
        for (size_t i = 0; i < 2; i++) {
                if (memchr(tok[i], '=', tok_len[i]))
                        return parse_error(p, tag_off,
                                           "invalid set-delimiter tag: delimiter '%.*s' contains '='",
                                           (int)(tok_len[i] > 64 ? 64 : tok_len[i]), tok[i]);
                if (tok_len[i] > MAX_DELIMITER_LEN)
                        return parse_error(p, tag_off,
                                           "invalid set-delimiter tag: delimiter longer than %d bytes",
                                           MAX_DELIMITER_LEN);
        }
        *otag = tok[0];
        *olen = tok_len[0];
        *ctag = tok[1];
        *clen = tok_len[1];
        return 0;
}

static int open_section(struct parser *p, enum node_type type, bool standalone, size_t tag_off,
                        const char *name, size_t name_len) {
        if (p->depth > MAX_SECTION_NESTING)
                return parse_error(p, tag_off, "sections nested deeper than %d",
                                   MAX_SECTION_NESTING);
        struct frame f = {
                .type = type,
                .standalone = standalone,
                .tag_off = tag_off,
                .name_off = (size_t)(name - p->src),
                .name_len = name_len,
        };
        int r = parse_name(p, tag_off, name, name_len, &f.name);
        if (r < 0)
                return r;
        p->frames[p->depth++] = f;
        return 0;
}

static int close_section(struct parser *p, size_t tag_off, const char *name, size_t name_len) {
        if (p->depth <= 1)
                return parse_error(p, tag_off, "closing tag '%.*s' without an open section",
                                   (int)(name_len > 64 ? 64 : name_len), name);
        struct frame *f = &p->frames[p->depth - 1];
        if (f->name_len != name_len || memcmp(p->src + f->name_off, name, name_len) != 0)
                return parse_error(p, tag_off, "closing tag '%.*s' does not match open section '%.*s'",
                                   (int)(name_len > 64 ? 64 : name_len), name,
                                   (int)(f->name_len > 64 ? 64 : f->name_len),
                                   p->src + f->name_off);
        struct node node = {
                .type = f->type,
                .standalone = f->standalone,
                .name = f->name,
                .children = f->nodes.v,
                .n_children = f->nodes.n,
        };
        f->name = (struct name){0};
        f->nodes = (struct node_vec){0};
        p->depth--;
        int r = vec_push(&p->frames[p->depth - 1].nodes, &node);
        if (r < 0) {
                nodes_free(node.children, node.n_children);
                name_done(&node.name);
        }
        return r;
}

static int add_text(struct parser *p, const char *s, size_t len) {
        if (len == 0)
                return 0;
        struct node node = {.type = NODE_TEXT, .text = s, .len = len};
        return vec_push(&p->frames[p->depth - 1].nodes, &node);
}

/* Parses the template held in src (the template's private copy). */
static int parse(struct parser *p) {
        const char *src = p->src;
        size_t len = p->len;
        const char *otag = "{{", *ctag = "}}";
        size_t olen = 2, clen = 2;
        size_t pos = 0;
        bool at_line_start = true;

        while (pos < len) {
                const char *hit = find(src + pos, len - pos, otag, olen);
                if (!hit)
                        return add_text(p, src + pos, len - pos);
                size_t t = (size_t)(hit - src);
                size_t cs = t + olen; /* content start */
                if (cs >= len)
                        return parse_error(p, t, "unclosed tag");

                char sigil = src[cs];
                enum { T_VAR, T_RAW, T_SECTION, T_INVERTED, T_CLOSE, T_COMMENT, T_PARTIAL, T_DELIM } kind;
                switch (sigil) {
                case '{': kind = T_RAW; break;
                case '&': kind = T_RAW; break;
                case '#': kind = T_SECTION; break;
                case '^': kind = T_INVERTED; break;
                case '/': kind = T_CLOSE; break;
                case '!': kind = T_COMMENT; break;
                case '>': kind = T_PARTIAL; break;
                case '=': kind = T_DELIM; break;
                default: kind = T_VAR; break;
                }
                if (kind != T_VAR)
                        cs++;

                /* Find the end of the tag: {{{x}}} and {{=a b=}} close with
                 * an extra character before the closing delimiter. */
                size_t ce, e;
                if (sigil == '{' || sigil == '=') {
                        char pattern[MAX_DELIMITER_LEN + 1];
                        pattern[0] = sigil == '{' ? '}' : '=';
                        memcpy(pattern + 1, ctag, clen);
                        const char *end = find(src + cs, len - cs, pattern, clen + 1);
                        if (!end) {
                                if (!find(src + cs, len - cs, ctag, clen))
                                        return parse_error(p, t, "unclosed tag");
                                return parse_error(p, t, "%s: expected '%c' before the closing delimiter",
                                                   sigil == '{' ? "unclosed triple mustache"
                                                                : "invalid set-delimiter tag",
                                                   pattern[0]);
                        }
                        ce = (size_t)(end - src);
                        e = ce + 1 + clen;
                } else {
                        const char *end = find(src + cs, len - cs, ctag, clen);
                        if (!end)
                                return parse_error(p, t, "unclosed tag");
                        ce = (size_t)(end - src);
                        e = ce + clen;
                }

                /* Standalone: only blanks between the line start and the tag
                 * and between the tag and the end of line (or of file). */
                bool standalone = false;
                size_t ls = t, after = e;
                if (kind != T_VAR && kind != T_RAW) {
                        while (ls > pos && is_blank(src[ls - 1]))
                                ls--;
                        bool line_ok = ls > pos ? src[ls - 1] == '\n' : at_line_start;
                        if (line_ok) {
                                size_t q = e;
                                while (q < len && is_blank(src[q]))
                                        q++;
                                if (q == len) {
                                        standalone = true;
                                        after = q;
                                } else if (src[q] == '\n') {
                                        standalone = true;
                                        after = q + 1;
                                } else if (src[q] == '\r' && q + 1 < len && src[q + 1] == '\n') {
                                        standalone = true;
                                        after = q + 2;
                                }
                        }
                }

                int r = add_text(p, src + pos, (standalone ? ls : t) - pos);
                if (r < 0)
                        return r;

                const char *name = src + cs;
                size_t name_len = ce - cs;
                while (name_len > 0 && is_space(name[0])) {
                        name++;
                        name_len--;
                }
                while (name_len > 0 && is_space(name[name_len - 1]))
                        name_len--;
                if (kind != T_COMMENT && kind != T_DELIM) {
                        if (name_len == 0)
                                return parse_error(p, t, "empty tag name");
                        for (size_t i = 0; i < name_len; i++)
                                if (is_space(name[i]))
                                        return parse_error(p, t, "invalid tag name '%.*s'",
                                                           (int)(name_len > 64 ? 64 : name_len), name);
                }

                switch (kind) {
                case T_VAR:
                case T_RAW: {
                        struct node node = {.type = kind == T_VAR ? NODE_VAR : NODE_RAW};
                        r = parse_name(p, t, name, name_len, &node.name);
                        if (r < 0)
                                return r;
                        r = vec_push(&p->frames[p->depth - 1].nodes, &node);
                        if (r < 0) {
                                name_done(&node.name);
                                return r;
                        }
                        break;
                }
                case T_SECTION:
                case T_INVERTED:
                        r = open_section(p, kind == T_SECTION ? NODE_SECTION : NODE_INVERTED,
                                         standalone, t, name, name_len);
                        if (r < 0)
                                return r;
                        break;
                case T_CLOSE:
                        r = close_section(p, t, name, name_len);
                        if (r < 0)
                                return r;
                        break;
                case T_PARTIAL: {
                        struct node node = {
                                .type = NODE_PARTIAL,
                                .standalone = standalone,
                                .text = src + ls,
                                .len = standalone ? t - ls : 0,
                                .partial_name = strndup(name, name_len),
                        };
                        if (!node.partial_name)
                                return -ENOMEM;
                        r = vec_push(&p->frames[p->depth - 1].nodes, &node);
                        if (r < 0) {
                                free(node.partial_name);
                                return r;
                        }
                        break;
                }
                case T_DELIM:
                        r = parse_delimiters(p, t, name, name_len, &otag, &olen, &ctag, &clen);
                        if (r < 0)
                                return r;
                        break;
                case T_COMMENT:
                        break;
                }

                pos = after;
                at_line_start = standalone;
        }
        return 0;
}

int mustache_parse(const char *src, size_t len, int first_line, struct mustache **ret,
                   struct mustache_error *err) {
        _cleanup_(mustache_freep) struct mustache *tpl = calloc(1, sizeof *tpl);
        if (!tpl)
                return -ENOMEM;
        tpl->src = malloc(len + 1);
        if (!tpl->src)
                return -ENOMEM;
        if (len)
                memcpy(tpl->src, src, len);
        tpl->src[len] = '\0';

        struct parser p = {
                .src = tpl->src,
                .len = len,
                .first_line = first_line,
                .err = err,
                .frames = calloc(MAX_SECTION_NESTING + 2, sizeof(struct frame)),
                .depth = 1,
        };
        if (!p.frames)
                return -ENOMEM;
        int r = parse(&p);
        if (r >= 0 && p.depth > 1) {
                struct frame *f = &p.frames[p.depth - 1];
                int line, column;
                position_of(p.src, f->tag_off, first_line, &line, &column);
                r = parse_error(&p, f->tag_off, "unclosed section '%.*s' opened at line %d column %d",
                                (int)(f->name_len > 64 ? 64 : f->name_len), p.src + f->name_off,
                                line, column);
        }
        if (r < 0) {
                parser_done(&p);
                return r;
        }
        tpl->nodes = p.frames[0].nodes.v;
        tpl->n_nodes = p.frames[0].nodes.n;
        tpl->n_hints = p.n_hints;
        p.frames[0].nodes = (struct node_vec){0};
        parser_done(&p);
        *ret = TAKE_PTR(tpl);
        return 0;
}

/* ---- rendering ---- */

struct context {
        json_object *obj;
        struct lh_table *table; /* obj's members, NULL unless obj is an object */
        const struct context *up;
};

/* Indentation of nested standalone partials, innermost first. */
struct indent {
        const char *s;
        size_t len;
        const struct indent *outer;
};

struct render {
        struct buf *out;
        bool html;
        mustache_partial_fn partials;
        void *userdata;
        int partial_depth;
        int depth;
        const struct indent *indent; /* NULL outside indented partials */
        bool line_start;              /* next template output starts a line */
        /* Per name part of the template being rendered: 1 + the position of
         * the key in the object where it was last found, 0 if unknown.
         * Items of a list usually share one key order, so after the first
         * item most lookups compare a single key. */
        uint8_t *hints;
        size_t n_hints;
};

static inline bool key_eq(const char *a, const char *b) {
        while (*a == *b) {
                if (!*a)
                        return true;
                a++;
                b++;
        }
        return false;
}

static bool table_get(struct lh_table *t, json_object *obj, const char *key, uint8_t *hint,
                      json_object **ret) {
        if (!t)
                return false;
        struct lh_entry *e = lh_table_head(t);
        if (hint && *hint) {
                struct lh_entry *h = e;
                for (unsigned i = 1; h && i < *hint; i++)
                        h = lh_entry_next(h);
                if (h && key_eq(lh_entry_k(h), key)) {
                        *ret = (json_object *)lh_entry_v(h);
                        return true;
                }
        }
        for (unsigned pos = 1; e; e = lh_entry_next(e), pos++) {
                if (pos > LINEAR_LOOKUP_MAX)
                        return json_object_object_get_ex(obj, key, ret);
                if (key_eq(lh_entry_k(e), key)) {
                        if (hint)
                                *hint = (uint8_t)pos;
                        *ret = (json_object *)lh_entry_v(e);
                        return true;
                }
        }
        return false;
}

/* Returns false when the name does not resolve (renders like null). */
static bool lookup(struct render *st, const struct context *ctx, const struct name *name,
                   json_object **ret) {
        json_object *v;
        uint8_t *hints = name->hint + name->n_keys <= st->n_hints ? st->hints + name->hint : NULL;
        if (name->anchored) {
                if (name->n_keys == 0) {
                        *ret = ctx->obj;
                        return true;
                }
                if (!table_get(ctx->table, ctx->obj, name->keys[0], hints, &v))
                        return false;
        } else {
                const struct context *c = ctx;
                for (; c; c = c->up)
                        if (table_get(c->table, c->obj, name->keys[0], hints, &v))
                                break;
                if (!c)
                        return false;
        }
        for (size_t i = 1; i < name->n_keys; i++)
                if (!table_get(json_object_get_object(v), v, name->keys[i], hints ? hints + i : NULL, &v))
                        return false;
        *ret = v;
        return true;
}

static bool truthy(json_object *v) {
        switch (json_object_get_type(v)) {
        case json_type_null:
                return false;
        case json_type_boolean:
                return json_object_get_boolean(v);
        case json_type_int:
                return json_object_get_int64(v) != 0;
        case json_type_double:
                return json_object_get_double(v) != 0.0;
        case json_type_string:
                return json_object_get_string_len(v) > 0;
        case json_type_array:
                return json_object_array_length(v) > 0;
        case json_type_object:
                return true;
        }
        return false;
}

/* buf_append() with the common case (room left) inlined: rendering is
 * mostly short appends.  The fast path leaves room for but does not write
 * the terminating NUL; mustache_render() writes it once at the end. */
static inline int append(struct buf *out, const char *s, size_t n) {
        if (out->cap - out->len <= n || !out->data)
                return buf_append(out, s, n);
        char *d = out->data + out->len;
        if (n >= 8 && n <= 16) {
                memcpy(d, s, 8);
                memcpy(d + n - 8, s + n - 8, 8);
        } else if (n >= 4 && n < 8) {
                memcpy(d, s, 4);
                memcpy(d + n - 4, s + n - 4, 4);
        } else
                memcpy(d, s, n);
        out->len += n;
        return 0;
}

static int emit_indent(struct buf *out, const struct indent *in) {
        if (!in)
                return 0;
        int r = emit_indent(out, in->outer);
        if (r < 0)
                return r;
        return append(out, in->s, in->len);
}

/* Called before any output of a node: inside an indented partial, the first
 * output on a template line gets the indentation. */
static inline int begin_output(struct render *st) {
        if (!st->indent || !st->line_start)
                return 0;
        st->line_start = false;
        return emit_indent(st->out, st->indent);
}

static int emit_text(struct render *st, const char *s, size_t len) {
        if (!st->indent)
                return append(st->out, s, len);
        while (len > 0) {
                int r = begin_output(st);
                if (r < 0)
                        return r;
                const char *nl = memchr(s, '\n', len);
                size_t n = nl ? (size_t)(nl - s) + 1 : len;
                r = append(st->out, s, n);
                if (r < 0)
                        return r;
                s += n;
                len -= n;
                st->line_start = nl != NULL;
        }
        return 0;
}

static inline bool needs_escape(char c) { return c == '&' || c == '<' || c == '>' || c == '"'; }

/* Non-zero when one of the 8 bytes of x is & < > or " (exact: the classic
 * zero-byte test applied to x xor each character). */
/* Non-zero when one of the 8 bytes of x is & < > or ".  '<' and '>' differ
 * only in bit 1, '"' and '&' only in bit 2, so two exact zero-byte tests
 * cover all four. */
static inline uint64_t word_needs_escape(uint64_t x) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t angle = (x | 0x0202020202020202ULL) ^ 0x3E3E3E3E3E3E3E3EULL;
        uint64_t amp_quote = (x | 0x0404040404040404ULL) ^ 0x2626262626262626ULL;
        return (((angle - ones) & ~angle) | ((amp_quote - ones) & ~amp_quote)) & highs;
}

static size_t plain_prefix(const char *s, size_t len) {
        size_t i = 0;
        for (; i + 8 <= len; i += 8) {
                uint64_t x;
                memcpy(&x, s + i, 8);
                if (word_needs_escape(x))
                        break;
        }
        while (i < len && !needs_escape(s[i]))
                i++;
        return i;
}

static int emit_escaped(struct buf *out, const char *s, size_t len) {
        while (len > 0) {
                size_t n = plain_prefix(s, len);
                int r = append(out, s, n);
                if (r < 0 || n == len)
                        return r;
                switch (s[n]) {
                case '&': r = append(out, "&amp;", 5); break;
                case '<': r = append(out, "&lt;", 4); break;
                case '>': r = append(out, "&gt;", 4); break;
                default: r = append(out, "&quot;", 6); break;
                }
                if (r < 0)
                        return r;
                s += n + 1;
                len -= n + 1;
        }
        return 0;
}

static size_t format_u64(uint64_t u, bool negative, char buf[static 24]) {
        char tmp[24];
        size_t n = 0;
        do {
                tmp[n++] = (char)('0' + u % 10);
                u /= 10;
        } while (u);
        size_t k = 0;
        if (negative)
                buf[k++] = '-';
        while (n)
                buf[k++] = tmp[--n];
        return k;
}

static size_t format_int(json_object *v, char buf[static 24]) {
        int64_t i = json_object_get_int64(v);
        if (i == INT64_MAX) /* saturated: may be a larger unsigned value */
                return format_u64(json_object_get_uint64(v), false, buf);
        if (i < 0)
                return format_u64((uint64_t)0 - (uint64_t)i, true, buf);
        return format_u64((uint64_t)i, false, buf);
}

/* Shortest of %.15g/%.16g/%.17g that reads back as the same double, so 1.210
 * prints as 1.21 rather than 1.2100000000000000 or the source spelling. */
static size_t format_double(double d, char buf[static 32]) {
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
                n = snprintf(buf, 32, "%.*g", prec, d);
                if (!isfinite(d) || strtod(buf, NULL) == d)
                        break;
        }
        if (n < 0)
                return 0;
        for (int i = 0; i < n; i++)
                if (buf[i] == ',') /* a locale's decimal comma */
                        buf[i] = '.';
        return (size_t)n;
}

static int emit_value(struct render *st, json_object *v, bool escape) {
        char num[32];
        size_t n;
        switch (json_object_get_type(v)) {
        case json_type_string: {
                const char *s = json_object_get_string(v);
                size_t len = (size_t)json_object_get_string_len(v);
                return escape ? emit_escaped(st->out, s, len) : append(st->out, s, len);
        }
        case json_type_int:
                n = format_int(v, num);
                return append(st->out, num, n);
        case json_type_double:
                n = format_double(json_object_get_double(v), num);
                return append(st->out, num, n);
        case json_type_boolean:
                return json_object_get_boolean(v) ? append(st->out, "true", 4)
                                                  : append(st->out, "false", 5);
        case json_type_null:
        case json_type_object:
        case json_type_array:
                return 0;
        }
        return 0;
}

static int render_nodes(struct render *st, const struct node *nodes, size_t n,
                        const struct context *ctx);

static int render_partial(struct render *st, const struct node *node, const struct context *ctx) {
        const struct mustache *partial =
                st->partials ? st->partials(node->partial_name, st->userdata) : NULL;
        if (!partial)
                return 0;
        if (st->partial_depth >= MAX_PARTIAL_DEPTH)
                return -ELOOP;

        const struct indent *saved = st->indent;
        struct indent own = {.s = node->text, .len = node->len, .outer = st->indent};
        int r;
        if (node->standalone) {
                if (own.len > 0)
                        st->indent = &own;
                st->line_start = true;
        } else {
                /* Inline partials are not indented, like the spec says. */
                r = begin_output(st);
                if (r < 0)
                        return r;
                st->indent = NULL;
        }
        uint8_t *saved_hints = st->hints;
        size_t saved_n_hints = st->n_hints;
        uint8_t hints[MAX_HINTS];
        st->hints = hints;
        st->n_hints = partial->n_hints < MAX_HINTS ? partial->n_hints : MAX_HINTS;
        memset(hints, 0, st->n_hints);
        st->partial_depth++;
        r = render_nodes(st, partial->nodes, partial->n_nodes, ctx);
        st->partial_depth--;
        st->hints = saved_hints;
        st->n_hints = saved_n_hints;
        st->indent = saved;
        /* A standalone tag took its line with it, so the parent continues on
         * a fresh line; after an inline one it continues mid-line. */
        st->line_start = node->standalone;
        return r;
}

static int render_section(struct render *st, const struct node *node, const struct context *ctx) {
        json_object *v = NULL;
        bool found = lookup(st, ctx, &node->name, &v);
        bool is_array = found && json_object_get_type(v) == json_type_array;
        bool on = found && truthy(v);

        if (node->type == NODE_INVERTED) {
                if (on)
                        return 0;
                if (!node->standalone) {
                        int r = begin_output(st);
                        if (r < 0)
                                return r;
                }
                return render_nodes(st, node->children, node->n_children, ctx);
        }
        if (!on)
                return 0;
        if (!node->standalone) {
                int r = begin_output(st);
                if (r < 0)
                        return r;
        }
        if (!is_array) {
                struct context c = {.obj = v, .table = json_object_get_object(v), .up = ctx};
                return render_nodes(st, node->children, node->n_children, &c);
        }
        size_t count = json_object_array_length(v);
        for (size_t i = 0; i < count; i++) {
                json_object *item = json_object_array_get_idx(v, i);
                struct context c = {.obj = item, .table = json_object_get_object(item), .up = ctx};
                int r = render_nodes(st, node->children, node->n_children, &c);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int render_nodes(struct render *st, const struct node *nodes, size_t n,
                        const struct context *ctx) {
        if (++st->depth > MAX_RENDER_DEPTH) {
                st->depth--;
                return -ELOOP;
        }
        int r = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                const struct node *node = &nodes[i];
                if (node->prefix_len) {
                        r = emit_text(st, node->prefix, node->prefix_len);
                        if (r < 0)
                                break;
                }
                switch (node->type) {
                case NODE_TEXT:
                        r = emit_text(st, node->text, node->len);
                        break;
                case NODE_VAR:
                case NODE_RAW: {
                        r = begin_output(st);
                        json_object *v;
                        if (r >= 0 && lookup(st, ctx, &node->name, &v))
                                r = emit_value(st, v, st->html && node->type == NODE_VAR);
                        break;
                }
                case NODE_SECTION:
                case NODE_INVERTED:
                        r = render_section(st, node, ctx);
                        break;
                case NODE_PARTIAL:
                        r = render_partial(st, node, ctx);
                        break;
                }
        }
        st->depth--;
        return r;
}

int mustache_render(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                    mustache_partial_fn partials, void *userdata, struct buf *out) {
        if (!tpl || !out)
                return -EINVAL;
        struct render st = {
                .out = out,
                .html = esc == MUSTACHE_ESCAPE_HTML,
                .partials = partials,
                .userdata = userdata,
        };
        uint8_t hints[MAX_HINTS];
        st.hints = hints;
        st.n_hints = tpl->n_hints < MAX_HINTS ? tpl->n_hints : MAX_HINTS;
        memset(hints, 0, st.n_hints);
        struct context root = {.obj = ctx, .table = json_object_get_object(ctx)};
        int r = render_nodes(&st, tpl->nodes, tpl->n_nodes, &root);
        if (out->data)
                out->data[out->len] = '\0';
        return r;
}
