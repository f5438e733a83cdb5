/* Mustache engine: parse to a node tree once, render by walking it.
 *
 * Why this shape: the dispatcher renders the same few templates thousands of
 * times, so all the work that does not depend on the data happens in
 * mustache_parse(): delimiters, standalone-line trimming, section matching,
 * interning dotted names (see below), and attaching the text
 * before each tag to the tag's node (a typical row is text-tag-text-tag...,
 * so this halves the nodes to walk).  Rendering is a tree walk appending
 * straight into the caller's struct buf; the context stack lives on the C
 * stack, one frame per section level.
 *
 * Lookups dominate rendering a long list, and json-c's cost there is cache
 * misses on separately allocated keys, not hashing.  So each distinct name
 * and name prefix of a template is interned at parse time as a "path" with
 * its key's json-c hash, and a render keeps two things per path, never in
 * the template (which stays immutable and shareable between threads):
 *   - a memo: the value the path resolved to, and from which scope (frame
 *     holding an object).  A name resolves to the same value from a scope
 *     for as long as the scope lives, so in a list item
 *     {{#customer.email}}{{customer.email}}{{/customer.email}} looks "customer"
 *     and "email" up once, and {{customer.name}} reuses "customer".
 *     A name an item lacks is memoized under the next scope out too, so
 *     the items of a list share one walk to the scopes around the list;
 *   - a hint: the slot of the object's hash table where the key was last
 *     found.  The items of a list normally have the same keys, added in the
 *     same order, so the same slots: after the first item a lookup reads
 *     one slot and compares one key; when the hint fails the key is found
 *     by json-c's hash table with the precomputed hash
 *     (lh_table_lookup_entry_w_hash()), so a miss costs a probe or two
 *     rather than a comparison with every key.  (Whether an item has the
 *     "same shape" as the one before cannot be known without reading its
 *     keys, which is all a hinted lookup reads.)
 * The output buffer is reserved once, as large as the template's previous
 * rendering: apart from it a render allocates nothing (but a copy of the
 * tail when it repairs malformed UTF-8, below).
 *
 * Output that must be UTF-8 (mustache_render_utf8()) is made so as it is
 * written, not by a second pass over a rendering of 100 KB: template text
 * is checked when parsed, each value as it is emitted (short, and just
 * read anyway), and only a malformed one is repaired, in the output, with
 * utf8_repair()'s rule.  The only thing that can cross from one piece of
 * output to the next is a sequence cut short at the end of a value, which
 * the next value might complete: those bytes wait (struct render's
 * pending) until the next output decides them.
 *
 * Standalone lines are resolved at parse time by trimming the text around
 * the tag.  A standalone partial keeps its indentation in its node, and
 * the spec prepends it to every line of the partial's source: so each
 * template marks where its non-empty source lines start (an INDENT node,
 * which renders the indentation of the partial being rendered, or
 * nothing).  A mark sits where the line starts in the template's
 * structure: inside a section that opened on an earlier line it is
 * repeated for each item and skipped with the section, as if the source
 * had been indented; lines inside interpolated values are never indented,
 * and a standalone line, gone from the output, has none. */
#include "mustache.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define MAX_SECTION_NESTING 256
#define MAX_PARTIAL_DEPTH 64
#define MAX_RENDER_DEPTH 4096
#define MAX_DELIMITER_LEN 32

enum node_type {
        NODE_TEXT,
        NODE_VAR,      /* {{name}}: escaped in HTML mode */
        NODE_RAW,      /* {{{name}}} and {{&name}} */
        NODE_SECTION,  /* {{#name}}...{{/name}} */
        NODE_INVERTED, /* {{^name}}...{{/name}} */
        NODE_PARTIAL,  /* {{>name}} */
        NODE_INDENT,   /* a non-empty line of the source starts here */
};

/* Every distinct name and name prefix of a template ("customer" and
 * "customer.email" in {{customer.email}}) is one entry, its path: the last
 * key, its json-c hash and the entry of the prefix before it.  Entries are
 * numbered in the order they appear, a prefix before its extensions; the
 * number indexes the render's per-path memo and lookup hint. */
struct path {
        char *key;          /* NUL-terminated */
        unsigned long hash; /* mustache.hash_fn(key) */
        uint32_t parent;    /* NO_PATH for the first key of a name */
        bool anchored;      /* first key of a name with a leading dot */
};
#define NO_PATH UINT32_MAX

/* A name in a tag: the paths of its prefixes, shortest first, so that the
 * last one is the whole name. */
#define NAME_INLINE 2
struct name {
        uint32_t n_ids; /* 0: the implicit iterator {{.}} */
        bool anchored;  /* a leading dot: look up in the top context only */
        uint32_t inl[NAME_INLINE]; /* the ids of a name of up to NAME_INLINE keys */
        uint32_t *ext;             /* those of a longer one */
};

static inline const uint32_t *name_ids(const struct name *n) {
        return n->n_ids <= NAME_INLINE ? n->inl : n->ext;
}

struct node {
        enum node_type type;
        bool standalone; /* section or partial tag alone on its line */
        /* Whether text and prefix are well-formed UTF-8, known at parse
         * time so a render that must produce UTF-8 checks only values. */
        bool text_valid, prefix_valid;
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
        struct path *paths;
        size_t n_paths;
        lh_hash_fn *hash_fn; /* json-c's key hash when the template was parsed */
        /* Length of the last rendering, to size the output buffer once:
         * the one field a render writes (atomically: renders may run in
         * several threads at once). */
        _Atomic size_t last_len;
};

struct node_vec {
        struct node *v;
        size_t n, cap;
};

static void name_done(struct name *n) {
        free(n->ext);
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

static void nodes_for_each_partial(const struct node *nodes, size_t n, void (*fn)(const char *, void *), void *userdata) {
        for (size_t i = 0; i < n; i++) {
                if (nodes[i].type == NODE_PARTIAL)
                        fn(nodes[i].partial_name, userdata);
                nodes_for_each_partial(nodes[i].children, nodes[i].n_children, fn, userdata);
        }
}

void mustache_for_each_partial(const struct mustache *tpl, void (*fn)(const char *name, void *userdata),
                               void *userdata) {
        if (tpl)
                nodes_for_each_partial(tpl->nodes, tpl->n_nodes, fn, userdata);
}

struct mustache *mustache_free(struct mustache *tpl) {
        if (!tpl)
                return NULL;
        nodes_free(tpl->nodes, tpl->n_nodes);
        for (size_t i = 0; i < tpl->n_paths; i++)
                free(tpl->paths[i].key);
        free(tpl->paths);
        free(tpl->src);
        free(tpl);
        return NULL;
}

static int vec_push(struct node_vec *vec, struct node *node) {
        if (node->type != NODE_TEXT && vec->n > 0 && vec->v[vec->n - 1].type == NODE_TEXT) {
                vec->n--;
                node->prefix = vec->v[vec->n].text;
                node->prefix_len = vec->v[vec->n].len;
                node->prefix_valid = vec->v[vec->n].text_valid;
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

/* A finished level's nodes, their array cut to its length.  Growth by
 * doubling leaves a level up to half empty, and the template set is parsed
 * once and kept for the daemon's life: most levels are sections of a node
 * or two in an array of at least eight, and the shipped templates' arrays
 * held 1.03 MB for 0.34 MB of nodes, the largest block of the daemon's
 * heap.  realloc to a smaller size keeps the data and, should it ever fail,
 * the larger array stays as it was. */
static struct node *vec_take(struct node_vec *vec, size_t *n) {
        if (vec->n > 0 && vec->n < vec->cap) {
                struct node *v = realloc(vec->v, vec->n * sizeof *v);
                if (v)
                        vec->v = v;
        }
        struct node *v = vec->v;
        *n = vec->n;
        *vec = (struct node_vec){0};
        return v;
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
        json_object *probe; /* an empty object whose table hashes names */
        struct path *paths;
        size_t n_paths, cap_paths;
        uint32_t *index; /* open addressing over paths: id + 1, 0 = empty */
        size_t index_cap;  /* a power of two, at least twice n_paths */
        const char *src;
        size_t len;
        int first_line, first_column;
        struct mustache_error *errs; /* the first max_errs problems found */
        size_t max_errs, n_errs;
        bool stop; /* a problem after which nothing further can be told */
        struct frame *frames;
        size_t depth; /* frames in use */
        bool line_pending; /* at a line start not yet marked (see NODE_INDENT) */
};

static void parser_done(struct parser *p) {
        for (size_t i = 0; i < p->depth; i++) {
                nodes_free(p->frames[i].nodes.v, p->frames[i].nodes.n);
                name_done(&p->frames[i].name);
        }
        free(p->frames);
        p->frames = NULL;
        p->depth = 0;
        json_object_put(p->probe);
        p->probe = NULL;
        for (size_t i = 0; i < p->n_paths; i++)
                free(p->paths[i].key);
        free(p->paths);
        p->paths = NULL;
        p->n_paths = 0;
        free(p->index);
        p->index = NULL;
}

/* first_column applies to the first line only: the later ones start at
 * the start of a line of the file. */
static void position_of(const char *src, size_t off, int first_line, int first_column, int *line, int *column) {
        int l = first_line;
        size_t line_start = 0;
        for (size_t i = 0; i < off; i++)
                if (src[i] == '\n') {
                        l++;
                        line_start = i + 1;
                }
        int c = l == first_line ? first_column : 1;
        for (size_t i = line_start; i < off; i++)
                if (((unsigned char)src[i] & 0xC0) != 0x80)
                        c++;
        *line = l;
        *column = c;
}

/* Records a problem and returns -EINVAL.  The parser goes on after most
 * problems (the tag is skipped, see parse()), so that one pass over a
 * template reports all of them, not just the first. */
_printf_(3, 4) static int parse_error(struct parser *p, size_t off, const char *fmt, ...) {
        if (p->n_errs < p->max_errs) {
                struct mustache_error *e = &p->errs[p->n_errs];
                *e = (struct mustache_error){0};
                position_of(p->src, off, p->first_line, p->first_column, &e->line, &e->column);
                va_list ap;
                va_start(ap, fmt);
                vsnprintf(e->message, sizeof e->message, fmt, ap);
                va_end(ap);
        }
        p->n_errs++;
        return -EINVAL;
}

static bool is_space(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static bool memchr_space(const char *s, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (is_space(s[i]))
                        return true;
        return false;
}

static const char *find(const char *hay, size_t hay_len, const char *needle, size_t needle_len) {
        return memmem(hay, hay_len, needle, needle_len);
}

static size_t path_slot(const struct parser *p, unsigned long hash, uint32_t parent) {
        uint64_t h = (uint64_t)hash * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)parent + 1) * 0xC2B2AE3D27D4EB4FULL;
        return (size_t)(h ^ (h >> 29)) & (p->index_cap - 1);
}

static int index_grow(struct parser *p) {
        size_t cap = p->index_cap ? p->index_cap * 2 : 64;
        uint32_t *index = calloc(cap, sizeof *index);
        if (!index)
                return -ENOMEM;
        free(p->index);
        p->index = index;
        p->index_cap = cap;
        for (size_t i = 0; i < p->n_paths; i++) {
                size_t k = path_slot(p, p->paths[i].hash, p->paths[i].parent);
                while (p->index[k])
                        k = (k + 1) & (cap - 1);
                p->index[k] = (uint32_t)i + 1;
        }
        return 0;
}

/* The id of the path (parent, anchored, key[0..len)), added if new. */
static int intern_path(struct parser *p, uint32_t parent, bool anchored, const char *key, size_t len,
                       uint32_t *ret) {
        if (!p->probe) {
                /* Any object's table: they all hash keys with one function. */
                p->probe = json_object_new_object();
                if (!p->probe)
                        return -ENOMEM;
        }
        if (p->n_paths >= UINT32_MAX - 1)
                return -ENOMEM;
        if (2 * (p->n_paths + 1) > p->index_cap) {
                int r = index_grow(p);
                if (r < 0)
                        return r;
        }
        _cleanup_free_ char *k = strndup(key, len);
        if (!k)
                return -ENOMEM;
        unsigned long hash = lh_get_hash(json_object_get_object(p->probe), k);
        size_t slot = path_slot(p, hash, parent);
        for (; p->index[slot]; slot = (slot + 1) & (p->index_cap - 1)) {
                const struct path *q = &p->paths[p->index[slot] - 1];
                if (q->hash == hash && q->parent == parent && q->anchored == anchored && streq(q->key, k)) {
                        *ret = p->index[slot] - 1;
                        return 0;
                }
        }
        if (p->n_paths == p->cap_paths) {
                size_t cap = p->cap_paths ? p->cap_paths * 2 : 16;
                struct path *v = realloc(p->paths, cap * sizeof *v);
                if (!v)
                        return -ENOMEM;
                p->paths = v;
                p->cap_paths = cap;
        }
        uint32_t id = (uint32_t)p->n_paths++;
        p->paths[id] = (struct path){.key = TAKE_PTR(k), .hash = hash, .parent = parent, .anchored = anchored};
        p->index[slot] = id + 1;
        *ret = id;
        return 0;
}

/* Splits a dotted name into its paths (see struct path). */
static int parse_name(struct parser *p, size_t tag_off, const char *s, size_t len,
                      struct name *ret) {
        size_t i = 0;
        if (len == 1 && s[0] == '.') {
                *ret = (struct name){0};
                return 0;
        }
        bool anchored = s[0] == '.';
        if (anchored)
                i = 1;
        /* Keys end at NUL when they are looked up: a NUL inside the name
         * would cut it short, and no real name contains one. */
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
        if (n_keys > UINT32_MAX)
                return -ENOMEM;
        struct name n = {.n_ids = (uint32_t)n_keys, .anchored = anchored};
        if (n_keys > NAME_INLINE) {
                n.ext = malloc(n_keys * sizeof *n.ext);
                if (!n.ext)
                        return -ENOMEM;
        }
        uint32_t *ids = n_keys > NAME_INLINE ? n.ext : n.inl;
        uint32_t parent = NO_PATH;
        size_t k = 0;
        for (size_t j = i, start = i; j <= len; j++)
                if (j == len || s[j] == '.') {
                        int r = intern_path(p, parent, anchored && k == 0, s + start, j - start, &parent);
                        if (r < 0) {
                                free(n.ext);
                                return r;
                        }
                        ids[k++] = parent;
                        start = j + 1;
                }
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
        if (p->depth > MAX_SECTION_NESTING) {
                p->stop = true; /* every close tag after it would mismatch */
                return parse_error(p, tag_off, "sections nested deeper than %d",
                                   MAX_SECTION_NESTING);
        }
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

/* Ends the innermost open section: it becomes a node of the one around it. */
static int pop_section(struct parser *p) {
        struct frame *f = &p->frames[p->depth - 1];
        struct node node = {
                .type = f->type,
                .standalone = f->standalone,
                .name = f->name,
        };
        node.children = vec_take(&f->nodes, &node.n_children);
        f->name = (struct name){0};
        p->depth--;
        int r = vec_push(&p->frames[p->depth - 1].nodes, &node);
        if (r < 0) {
                nodes_free(node.children, node.n_children);
                name_done(&node.name);
        }
        return r;
}

static bool frame_named(const struct parser *p, size_t depth, const char *name, size_t name_len) {
        const struct frame *f = &p->frames[depth];
        return f->name_len == name_len && memcmp(p->src + f->name_off, name, name_len) == 0;
}

static int close_section(struct parser *p, size_t tag_off, const char *name, size_t name_len) {
        if (p->depth <= 1)
                return parse_error(p, tag_off, "closing tag '%.*s' without an open section",
                                   (int)(name_len > 64 ? 64 : name_len), name);
        if (frame_named(p, p->depth - 1, name, name_len))
                return pop_section(p);
        const struct frame *f = &p->frames[p->depth - 1];
        int r = parse_error(p, tag_off, "closing tag '%.*s' does not match open section '%.*s'",
                            (int)(name_len > 64 ? 64 : name_len), name,
                            (int)(f->name_len > 64 ? 64 : f->name_len), p->src + f->name_off);
        /* To go on: when an outer section has this name, the sections
         * inside it were left open by mistake and end here too; otherwise
         * the tag is a stray one and is ignored. */
        size_t match = p->depth - 1;
        while (match > 0 && !frame_named(p, match, name, name_len))
                match--;
        while (match > 0 && p->depth > match) {
                int q = pop_section(p);
                if (q < 0)
                        return q;
        }
        return r;
}

/* Marks the start of a non-empty source line, once per line. */
static int mark_line(struct parser *p) {
        if (!p->line_pending)
                return 0;
        p->line_pending = false;
        struct node node = {.type = NODE_INDENT};
        return vec_push(&p->frames[p->depth - 1].nodes, &node);
}

/* Template text, a node per source line so that each line's start can be
 * marked (an empty line is not). */
static int add_text(struct parser *p, const char *s, size_t len) {
        while (len > 0) {
                int r = s[0] == '\n' ? 0 : mark_line(p);
                if (r < 0)
                        return r;
                p->line_pending = false;
                const char *nl = memchr(s, '\n', len);
                size_t n = nl ? (size_t)(nl - s) + 1 : len;
                struct node node = {.type = NODE_TEXT, .text = s, .len = n,
                                    .text_valid = utf8_valid_prefix(s, n) == n};
                r = vec_push(&p->frames[p->depth - 1].nodes, &node);
                if (r < 0)
                        return r;
                s += n;
                len -= n;
                p->line_pending = nl != NULL;
        }
        return 0;
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
                if (!hit) {
                        int r = add_text(p, src + pos, len - pos);
                        if (r < 0)
                                return r;
                        break;
                }
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
                                const char *close = find(src + cs, len - cs, ctag, clen);
                                if (!close)
                                        return parse_error(p, t, "unclosed tag");
                                parse_error(p, t, "%s: expected '%c' before the closing delimiter",
                                            sigil == '{' ? "unclosed triple mustache" : "invalid set-delimiter tag",
                                            pattern[0]);
                                pos = (size_t)(close - src) + clen; /* skip the tag */
                                at_line_start = false;
                                p->line_pending = false;
                                continue;
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
                /* A tag that keeps its line starts it, or follows text
                 * that did. */
                if (r >= 0 && !standalone)
                        r = mark_line(p);
                if (r < 0)
                        return r;
                pos = after;
                at_line_start = standalone;

                const char *name = src + cs;
                size_t name_len = ce - cs;
                while (name_len > 0 && is_space(name[0])) {
                        name++;
                        name_len--;
                }
                while (name_len > 0 && is_space(name[name_len - 1]))
                        name_len--;
                if (kind != T_COMMENT && kind != T_DELIM) {
                        if (name_len == 0) {
                                parse_error(p, t, "empty tag name");
                                continue;
                        }
                        /* "{{ #a }}": the type comes first, right after the
                         * delimiter (as in the Ruby reference).  Read as a
                         * variable named "#a", it would render nothing and
                         * the section be silently lost. */
                        if (kind == T_VAR && name != src + cs && strchr("#^/!>=&{", name[0])) {
                                parse_error(p, t, "'%c' after a space: a tag's type goes right after the opening delimiter ('%.*s%c')",
                                            name[0], (int)olen, otag, name[0]);
                                continue;
                        }
                        if (memchr_space(name, name_len)) {
                                parse_error(p, t, "invalid tag name '%.*s'", (int)(name_len > 64 ? 64 : name_len), name);
                                continue;
                        }
                }

                switch (kind) {
                case T_VAR:
                case T_RAW: {
                        struct node node = {.type = kind == T_VAR ? NODE_VAR : NODE_RAW};
                        r = parse_name(p, t, name, name_len, &node.name);
                        if (r < 0)
                                break;
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
                        break;
                case T_CLOSE:
                        r = close_section(p, t, name, name_len);
                        break;
                case T_PARTIAL: {
                        struct node node = {
                                .type = NODE_PARTIAL,
                                .standalone = standalone,
                                .text = src + ls,
                                .len = standalone ? t - ls : 0,
                                .text_valid = true, /* blanks */
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
                        break;
                case T_COMMENT:
                        break;
                }
                /* A problem in a tag is recorded and the tag skipped (the
                 * delimiters stay as they were): the rest of the template
                 * is still checked. */
                if (r < 0 && (r != -EINVAL || p->stop))
                        return r;
        }
        return p->n_errs ? -EINVAL : 0;
}

int mustache_parse(const char *src, size_t len, int first_line, struct mustache **ret,
                   struct mustache_error *err) {
        return mustache_parse_at(src, len, first_line, 1, ret, err);
}

int mustache_parse_at(const char *src, size_t len, int first_line, int first_column, struct mustache **ret,
                      struct mustache_error *err) {
        return mustache_parse_all(src, len, first_line, first_column, ret, err, err ? 1 : 0, NULL);
}

int mustache_parse_all(const char *src, size_t len, int first_line, int first_column, struct mustache **ret,
                       struct mustache_error *errs, size_t max_errs, size_t *n_errs) {
        if (n_errs)
                *n_errs = 0;
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
                .first_column = first_column,
                .errs = errs,
                .max_errs = errs ? max_errs : 0,
                .frames = calloc(MAX_SECTION_NESTING + 2, sizeof(struct frame)),
                .depth = 1,
                .line_pending = true,
        };
        if (!p.frames)
                return -ENOMEM;
        int r = parse(&p);
        /* Sections still open at the end, innermost first. */
        for (size_t d = p.depth; (r >= 0 || (r == -EINVAL && !p.stop)) && d > 1; d--) {
                struct frame *f = &p.frames[d - 1];
                int line, column;
                position_of(p.src, f->tag_off, first_line, first_column, &line, &column);
                r = parse_error(&p, f->tag_off, "unclosed section '%.*s' opened at line %d column %d",
                                (int)(f->name_len > 64 ? 64 : f->name_len), p.src + f->name_off,
                                line, column);
        }
        if (n_errs)
                *n_errs = p.n_errs;
        if (r < 0) {
                parser_done(&p);
                return r;
        }
        tpl->nodes = vec_take(&p.frames[0].nodes, &tpl->n_nodes);
        if (p.n_paths > 0 && p.n_paths < p.cap_paths) { /* kept as long, cut as the nodes are */
                struct path *v = realloc(p.paths, p.n_paths * sizeof *v);
                if (v)
                        p.paths = v;
        }
        tpl->paths = TAKE_PTR(p.paths);
        tpl->n_paths = p.n_paths;
        p.n_paths = 0;
        tpl->hash_fn = p.probe ? json_object_get_object(p.probe)->hash_fn : NULL;
        p.frames[0].nodes = (struct node_vec){0};
        parser_done(&p);
        *ret = TAKE_PTR(tpl);
        return 0;
}

/* ---- rendering ---- */

/* One frame of the context stack.  Names are only ever found in frames
 * whose value is an object ("scopes"); the others are skipped. */
struct context {
        json_object *obj;
        struct lh_table *table;       /* obj's members, NULL unless obj is an object */
        const struct context *scope;  /* the innermost scope: this frame or an outer one */
        const struct context *outer;  /* in a scope: the next scope out */
        uint64_t serial;              /* in a scope: its number, unique within the render */
};

/* Indentation of nested standalone partials, innermost first. */
struct indent {
        const char *s;
        size_t len;
        const struct indent *outer;
};

/* Per path of the template being rendered: its value as last resolved, and
 * from which scope.  A path resolves to the same value from a scope for as
 * long as that scope lives, so repeated names in a list item
 * ({{#customer.email}}{{customer.email}}{{/customer.email}}) look their
 * keys up once, and every name under {{customer.*}} shares the lookup of
 * "customer". */
struct memo {
        uint64_t serial; /* the scope's; 0: none */
        json_object *v;
};
/* Paths of one template that get memos and a lookup hint in a render (the
 * shipped templates have at most 50): 4.2 KB of stack a template, and as
 * much a partial level.  Paths past it are looked up every time. */
#define MEMO_MAX 128

struct render {
        struct buf *out;
        bool html;
        /* mustache_render_utf8(): the output is well-formed UTF-8.  Values
         * are checked as they are emitted; a malformed one is repaired in
         * the output together with what it follows, as utf8_repair() would
         * repair the whole output.  The last pending bytes of out are a
         * sequence a value left cut short, judged once the next output
         * shows whether it completes them. */
        bool utf8;
        size_t pending;
        size_t replaced;
        mustache_partial_fn partials;
        void *userdata;
        int partial_depth;
        int depth;
        const struct indent *indent; /* NULL outside indented partials */
        uint64_t serial;              /* scopes numbered so far */
        /* The template (or partial) whose nodes are being rendered, and
         * for its first n_memo paths: the memo, and 1 + the slot of the
         * object's hash table where the path's key was last found (0:
         * unknown).  The items of a list normally have the same keys added
         * in the same order, so the same slots: after the first item most
         * lookups compare a single key. */
        const struct mustache *tpl;
        struct memo *memo;
        struct memo *outer_memo; /* a path's first key from the scope out of the memo's */
        uint16_t *hints;
        size_t n_memo;
};

/* table: obj's members, NULL unless obj is an object. */
static void push(struct render *st, struct context *c, json_object *obj, struct lh_table *table,
                 const struct context *up) {
        c->obj = obj;
        c->table = table;
        if (table) {
                c->scope = c;
                c->outer = up ? up->scope : NULL;
                c->serial = ++st->serial;
        } else {
                c->scope = up ? up->scope : NULL;
                c->outer = NULL;
                c->serial = 0;
        }
}

/* A plain loop: keys are short, and libc's strcmp() costs more in its
 * set-up than it saves on them. */
static inline bool key_eq(const char *a, const char *b) {
        while (*a == *b) {
                if (!*a)
                        return true;
                a++;
                b++;
        }
        return false;
}

/* Looks path's key up in t (the members of an object; NULL for any other
 * value): first in the slot the hint names, then by hash.  The hash comes
 * from the template unless t hashes with another function than the one the
 * template was parsed with (json_global_set_string_hash()).
 *
 * The slot is read from the table's public layout (json-c's linkhash.h):
 * a slot holds a key, LH_EMPTY or LH_FREED, and the key is compared, so a
 * stale hint costs one comparison, never a wrong value. */
static inline __attribute__((always_inline)) bool table_get(const struct render *st, struct lh_table *t,
                                                            const struct path *path, uint16_t *hint,
                                                            json_object **ret) {
        if (!t)
                return false;
        if (hint && *hint && *hint <= t->size) {
                const struct lh_entry *e = &t->table[*hint - 1];
                if (e->k != LH_EMPTY && e->k != LH_FREED && key_eq(e->k, path->key)) {
                        *ret = (json_object *)e->v;
                        return true;
                }
        }
        unsigned long h = t->hash_fn == st->tpl->hash_fn ? path->hash : lh_get_hash(t, path->key);
        struct lh_entry *e = lh_table_lookup_entry_w_hash(t, path->key, h);
        if (!e)
                return false;
        if (hint) {
                ptrdiff_t slot = e - t->table;
                *hint = slot >= 0 && slot < UINT16_MAX ? (uint16_t)(slot + 1) : 0;
        }
        *ret = (json_object *)lh_entry_v(e);
        return true;
}

static inline void memo_set(struct render *st, uint32_t id, uint64_t serial, json_object *v) {
        if (id < st->n_memo)
                st->memo[id] = (struct memo){serial, v};
}

/* The value of name in ctx: NULL when it does not resolve, which renders
 * exactly like a null value. */
static json_object *lookup(struct render *st, const struct context *ctx, const struct name *name) {
        if (name->n_ids == 0)
                return ctx->obj;
        const uint32_t *ids = name_ids(name);
        const struct context *scope = name->anchored ? ctx->scope == ctx ? ctx : NULL : ctx->scope;
        if (!scope)
                return NULL;
        uint64_t serial = scope->serial;
        /* The longest prefix of the name already resolved from this scope. */
        size_t n = name->n_ids, k = n;
        for (; k > 0; k--) {
                uint32_t id = ids[k - 1];
                if (id < st->n_memo && st->memo[id].serial == serial)
                        break;
        }
        const struct path *paths = st->tpl->paths;
        json_object *v = NULL;
        if (k > 0)
                v = st->memo[ids[k - 1]].v;
        else {
                uint32_t id = ids[0];
                const struct path *first = &paths[id];
                uint16_t *hint = id < st->n_memo ? &st->hints[id] : NULL;
                if (table_get(st, scope->table, first, hint, &v) || name->anchored || !scope->outer) {
                        /* found in the innermost scope, or nowhere else to look */
                } else if (id < st->n_memo && st->outer_memo[id].serial == scope->outer->serial) {
                        v = st->outer_memo[id].v;
                } else {
                        /* Not in the innermost scope: what the walk finds
                         * from the next scope out holds for every item of a
                         * list, so it is memoized under that scope. */
                        for (const struct context *c = scope->outer; c; c = c->outer)
                                if (table_get(st, c->table, first, hint, &v))
                                        break;
                        if (id < st->n_memo)
                                st->outer_memo[id] = (struct memo){scope->outer->serial, v};
                }
                memo_set(st, id, serial, v);
                k = 1;
        }
        for (; k < n && v; k++) {
                uint32_t id = ids[k];
                json_object *w = NULL;
                table_get(st, json_object_get_object(v), &paths[id], id < st->n_memo ? &st->hints[id] : NULL, &w);
                v = w;
                memo_set(st, id, serial, v);
        }
        return v;
}

static bool truthy(json_object *v, enum json_type type) {
        switch (type) {
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
        if (__builtin_expect(out->cap - out->len <= n, 0))
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

/* Repairs the output from `from` on (where the unjudged bytes start, see
 * struct render) after something that may be malformed was appended:
 * rare, so it copies.  final: nothing follows (or only output that starts
 * with a byte no sequence can continue, which judges alike). */
__attribute__((noinline)) static int repair_tail(struct render *st, size_t from, bool final) {
        struct buf *out = st->out;
        size_t n = out->len - from;
        _cleanup_free_ char *tail = malloc(n ? n : 1);
        if (!tail)
                return -ENOMEM;
        memcpy(tail, out->data + from, n);
        out->len = from;
        return utf8_repair_append(out, tail, n, final, &st->replaced, &st->pending);
}

/* Before output known to be well-formed and not empty (template text,
 * numbers, indentation): it starts with a byte that cannot continue a
 * sequence, so unjudged bytes are judged as at the end. */
static inline int settle(struct render *st) {
        if (__builtin_expect(st->pending != 0, 0))
                return repair_tail(st, st->out->len - st->pending, true);
        return 0;
}

/* Template text; valid: it is well-formed UTF-8 (checked when parsed). */
static inline __attribute__((always_inline)) int emit_text(struct render *st, const char *s, size_t len,
                                                           bool valid) {
        if (__builtin_expect(!st->pending && (valid || !st->utf8), 1))
                return append(st->out, s, len);
        int r;
        if (valid || !st->utf8) {
                r = settle(st);
                if (r >= 0)
                        r = append(st->out, s, len);
                return r;
        }
        size_t from = st->out->len - st->pending;
        r = append(st->out, s, len);
        return r < 0 ? r : repair_tail(st, from, false);
}

/* Non-zero for the bytes HTML escaping replaces: the index of their entity. */
static const uint8_t escape_index[256] = {['&'] = 1, ['<'] = 2, ['>'] = 3, ['"'] = 4};
static const struct {
        char s[7];
        uint8_t len;
} entities[] = {{"", 0}, {"&amp;", 5}, {"&lt;", 4}, {"&gt;", 4}, {"&quot;", 6}};

/* Non-zero when one of the 8 bytes of x is & < > or ".  '<' and '>' differ
 * only in bit 1, '"' and '&' only in bit 2, so two zero-byte tests cover
 * all four.  Such a test may also flag a byte above a flagged one (a
 * borrow), never one below: the lowest flag is exact. */
static inline uint64_t word_needs_escape(uint64_t x) {
        const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
        uint64_t angle = (x | 0x0202020202020202ULL) ^ 0x3E3E3E3E3E3E3E3EULL;
        uint64_t amp_quote = (x | 0x0404040404040404ULL) ^ 0x2626262626262626ULL;
        return (((angle - ones) & ~angle) | ((amp_quote - ones) & ~amp_quote)) & highs;
}

/* Length of the prefix of s that HTML escaping leaves alone: values are
 * short, so a word at a time including one last word that overlaps the
 * bytes already seen, rather than a byte loop for the tail. */
static size_t plain_prefix(const char *s, size_t len) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (len >= 8) {
                uint64_t x, m;
                size_t i = 0;
                for (; i + 8 <= len; i += 8) {
                        memcpy(&x, s + i, 8);
                        if ((m = word_needs_escape(x)))
                                return i + (size_t)__builtin_ctzll(m) / 8;
                }
                if (i == len)
                        return len;
                memcpy(&x, s + len - 8, 8);
                m = word_needs_escape(x);
                return m ? len - 8 + (size_t)__builtin_ctzll(m) / 8 : len;
        }
#endif
        size_t i = 0;
        while (i < len && !escape_index[(unsigned char)s[i]])
                i++;
        return i;
}

static int emit_escaped(struct buf *out, const char *s, size_t len) {
        for (;;) {
                size_t n = plain_prefix(s, len);
                int r = append(out, s, n);
                if (r < 0 || n == len)
                        return r;
                unsigned k = escape_index[(unsigned char)s[n]];
                r = append(out, entities[k].s, entities[k].len);
                if (r < 0)
                        return r;
                s += n + 1;
                len -= n + 1;
        }
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

/* The shortest decimal that reads back as the same double, spelled as
 * JavaScript's Number#toString spells it (so 1.210 prints as 1.21, 1e16 as
 * 10000000000000000 and 2.5e-7 as 2.5e-7): what mustache.js, the reference
 * most administrators try a template with, prints for the same data. */
static size_t format_double(double d, char buf[static 32]) {
        /* Most amounts have at most three decimals: such a d is m / 10^k
         * with an integer m below 10^15, and the decimal m·10^-k, having at
         * most 15 significant digits (DBL_DIG), is exactly what %.15g
         * prints and reads back as d.  Written directly, without printf. */
        static const double pow10[] = {1, 10, 100, 1000};
        double a = fabs(d);
        if (a >= 1e-3 && a < 1e15)
                for (int k = 0; k < 4; k++) {
                        double m = a * pow10[k];
                        if (m >= 1e15 || m != floor(m) || m / pow10[k] != a)
                                continue;
                        uint64_t u = (uint64_t)m, p = (uint64_t)pow10[k];
                        size_t n = format_u64(u / p, d < 0, buf);
                        if (k > 0) {
                                uint64_t f = u % p;
                                buf[n++] = '.';
                                for (int i = k - 1; i >= 0; i--) {
                                        buf[n + (size_t)i] = (char)('0' + f % 10);
                                        f /= 10;
                                }
                                n += (size_t)k;
                                while (buf[n - 1] == '0') /* as %g: no trailing zeros */
                                        n--;
                                if (buf[n - 1] == '.')
                                        n--;
                        }
                        return n;
                }
        if (d == 0) { /* -0 too */
                buf[0] = '0';
                return 1;
        }
        if (!isfinite(d)) {
                const char *s = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
                size_t n = strlen(s);
                memcpy(buf, s, n);
                return n;
        }
        /* digits[0..k) and the decimal exponent e: d = 0.digits × 10^(e+1). */
        char tmp[40], digits[20];
        int k = 0, e = 0;
        for (int prec = 0; prec <= 16; prec++) {
                int m = snprintf(tmp, sizeof tmp, "%.*e", prec, fabs(d));
                if (m < 0 || (size_t)m >= sizeof tmp)
                        return 0;
                for (int i = 0; i < m; i++)
                        if (tmp[i] == ',') /* a locale's decimal comma */
                                tmp[i] = '.';
                if (prec < 16 && strtod(tmp, NULL) != fabs(d))
                        continue;
                k = 0;
                const char *c = tmp;
                for (; *c && *c != 'e'; c++)
                        if (*c >= '0' && *c <= '9')
                                digits[k++] = *c;
                e = *c == 'e' ? atoi(c + 1) : 0;
                break;
        }
        while (k > 1 && digits[k - 1] == '0')
                k--;
        size_t n = 0;
        if (d < 0)
                buf[n++] = '-';
        int point = e + 1; /* digits before the decimal point */
        if (point >= k && point <= 21) {
                memcpy(buf + n, digits, (size_t)k);
                n += (size_t)k;
                for (int i = k; i < point; i++)
                        buf[n++] = '0';
        } else if (point > 0 && point <= 21) {
                memcpy(buf + n, digits, (size_t)point);
                n += (size_t)point;
                buf[n++] = '.';
                memcpy(buf + n, digits + point, (size_t)(k - point));
                n += (size_t)(k - point);
        } else if (point > -6 && point <= 0) {
                buf[n++] = '0';
                buf[n++] = '.';
                for (int i = point; i < 0; i++)
                        buf[n++] = '0';
                memcpy(buf + n, digits, (size_t)k);
                n += (size_t)k;
        } else {
                buf[n++] = digits[0];
                if (k > 1) {
                        buf[n++] = '.';
                        memcpy(buf + n, digits + 1, (size_t)(k - 1));
                        n += (size_t)(k - 1);
                }
                int m = snprintf(buf + n, 32 - n, "e%c%d", e < 0 ? '-' : '+', abs(e));
                n += m > 0 ? (size_t)m : 0;
        }
        return n;
}

/* Whether s[0..len) is ASCII: most values are (dates, numbers, e-mail
 * addresses, codes), and those need no closer look to be well-formed. */
static inline bool is_ascii(const char *s, size_t len) {
        const uint64_t highs = 0x8080808080808080ULL;
        uint64_t x, y;
        if (len >= 8) {
                uint64_t acc = 0;
                for (size_t i = 0; i + 8 <= len; i += 8) {
                        memcpy(&x, s + i, 8);
                        acc |= x;
                }
                memcpy(&y, s + len - 8, 8);
                return ((acc | y) & highs) == 0;
        }
        if (len >= 4) {
                uint32_t a, b;
                memcpy(&a, s, 4);
                memcpy(&b, s + len - 4, 4);
                return ((a | b) & 0x80808080U) == 0;
        }
        unsigned acc = 0;
        for (size_t i = 0; i < len; i++)
                acc |= (unsigned char)s[i];
        return acc < 0x80;
}

static int emit_value(struct render *st, json_object *v, bool escape) {
        char num[32];
        size_t n;
        switch (json_object_get_type(v)) {
        case json_type_string: {
                const char *s = json_object_get_string(v);
                size_t len = (size_t)json_object_get_string_len(v);
                if (st->utf8 && len > 0) {
                        if (!is_ascii(s, len) && utf8_valid_prefix(s, len) != len) {
                                /* Escaping only replaces ASCII with ASCII: it
                                 * changes no verdict on the other bytes. */
                                size_t from = st->out->len - st->pending;
                                int r = escape ? emit_escaped(st->out, s, len) : append(st->out, s, len);
                                return r < 0 ? r : repair_tail(st, from, false);
                        }
                        int r = settle(st);
                        if (r < 0)
                                return r;
                }
                return escape ? emit_escaped(st->out, s, len) : append(st->out, s, len);
        }
        case json_type_int:
                n = format_int(v, num);
                break;
        case json_type_double:
                n = format_double(json_object_get_double(v), num);
                break;
        case json_type_boolean:
                n = json_object_get_boolean(v) ? 4 : 5;
                memcpy(num, n == 4 ? "true" : "false", n);
                break;
        case json_type_null:
        case json_type_object:
        case json_type_array:
        default:
                return 0;
        }
        if (n == 0)
                return 0;
        int r = settle(st);
        return r < 0 ? r : append(st->out, num, n);
}

static int render_nodes(struct render *st, const struct node *nodes, size_t n,
                        const struct context *ctx);

/* Not inlined: its memo arrays must not land in render_nodes()' frame,
 * which recursion repeats for every section level. */
__attribute__((noinline)) static int render_partial(struct render *st, const struct node *node,
                                                    const struct context *ctx) {
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
        } else
                st->indent = NULL; /* inline partials are not indented, like the spec says */
        const struct mustache *saved_tpl = st->tpl;
        struct memo *saved_memo = st->memo, *saved_outer_memo = st->outer_memo;
        uint16_t *saved_hints = st->hints;
        size_t saved_n_memo = st->n_memo;
        struct memo memo[MEMO_MAX], outer_memo[MEMO_MAX];
        uint16_t hints[MEMO_MAX];
        st->tpl = partial;
        st->memo = memo;
        st->outer_memo = outer_memo;
        st->hints = hints;
        st->n_memo = partial->n_paths < MEMO_MAX ? partial->n_paths : MEMO_MAX;
        memset(memo, 0, st->n_memo * sizeof *memo);
        memset(outer_memo, 0, st->n_memo * sizeof *outer_memo);
        memset(hints, 0, st->n_memo * sizeof *hints);
        st->partial_depth++;
        r = render_nodes(st, partial->nodes, partial->n_nodes, ctx);
        st->partial_depth--;
        st->tpl = saved_tpl;
        st->memo = saved_memo;
        st->outer_memo = saved_outer_memo;
        st->hints = saved_hints;
        st->n_memo = saved_n_memo;
        st->indent = saved;
        return r;
}

static int render_section(struct render *st, const struct node *node, const struct context *ctx) {
        json_object *v = lookup(st, ctx, &node->name);
        enum json_type type = json_object_get_type(v);
        bool on = truthy(v, type);

        if (node->type == NODE_INVERTED)
                return on ? 0 : render_nodes(st, node->children, node->n_children, ctx);
        if (!on)
                return 0;
        if (type != json_type_array) {
                struct context c;
                push(st, &c, v, type == json_type_object ? json_object_get_object(v) : NULL, ctx);
                return render_nodes(st, node->children, node->n_children, &c);
        }
        /* The items straight from the array (arraylist.h is public). */
        const struct array_list *items = json_object_get_array(v);
        for (size_t i = 0; i < items->length; i++) {
                struct context c;
                json_object *item = items->array[i];
                push(st, &c, item, json_object_get_object(item), ctx);
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
                        r = emit_text(st, node->prefix, node->prefix_len, node->prefix_valid);
                        if (r < 0)
                                break;
                }
                switch (node->type) {
                case NODE_TEXT:
                        r = emit_text(st, node->text, node->len, node->text_valid);
                        break;
                case NODE_VAR:
                case NODE_RAW:
                        r = emit_value(st, lookup(st, ctx, &node->name), st->html && node->type == NODE_VAR);
                        break;
                case NODE_SECTION:
                case NODE_INVERTED:
                        r = render_section(st, node, ctx);
                        break;
                case NODE_PARTIAL:
                        r = render_partial(st, node, ctx);
                        break;
                case NODE_INDENT:
                        if (st->indent) {
                                r = settle(st);
                                if (r >= 0)
                                        r = emit_indent(st->out, st->indent);
                        }
                        break;
                }
        }
        st->depth--;
        return r;
}

static int render(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                  mustache_partial_fn partials, void *userdata, struct buf *out, size_t *replaced) {
        if (!tpl || !out)
                return -EINVAL;
        struct render st = {
                .out = out,
                .html = esc == MUSTACHE_ESCAPE_HTML,
                .utf8 = replaced != NULL,
                .partials = partials,
                .userdata = userdata,
        };
        /* One reserve up front, as large as the last rendering of this
         * template (a little more): renders of one template are alike, so
         * the buffer is normally allocated once, not grown step by step. */
        size_t start = out->len;
        size_t guess = atomic_load_explicit(&tpl->last_len, memory_order_relaxed);
        if (guess > 0)
                guess += guess / 16 + 64;
        /* Also gives out a buffer, which append() relies on. */
        if (out->cap - out->len <= guess || !out->data) {
                int r = buf_reserve(out, guess);
                if (r < 0)
                        return r;
        }
        struct memo memo[MEMO_MAX], outer_memo[MEMO_MAX];
        uint16_t hints[MEMO_MAX];
        st.tpl = tpl;
        st.memo = memo;
        st.outer_memo = outer_memo;
        st.hints = hints;
        st.n_memo = tpl->n_paths < MEMO_MAX ? tpl->n_paths : MEMO_MAX;
        memset(memo, 0, st.n_memo * sizeof *memo);
        memset(outer_memo, 0, st.n_memo * sizeof *outer_memo);
        memset(hints, 0, st.n_memo * sizeof *hints);
        struct context root;
        push(&st, &root, ctx, json_object_get_object(ctx), NULL);
        int r = render_nodes(&st, tpl->nodes, tpl->n_nodes, &root);
        if (r >= 0 && st.pending)
                r = repair_tail(&st, out->len - st.pending, true);
        if (out->data)
                out->data[out->len] = '\0';
        if (r >= 0 && out->len - start != guess)
                /* The template is shared, but this hint is only ever read
                 * and written atomically: casting const away is sound (the
                 * template was allocated by mustache_parse(), not const). */
                atomic_store_explicit(&((struct mustache *)tpl)->last_len, out->len - start,
                                      memory_order_relaxed);
        if (replaced)
                *replaced = st.replaced;
        return r;
}

int mustache_render(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                    mustache_partial_fn partials, void *userdata, struct buf *out) {
        return render(tpl, ctx, esc, partials, userdata, out, NULL);
}

int mustache_render_utf8(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                         mustache_partial_fn partials, void *userdata, struct buf *out,
                         size_t *replaced) {
        size_t dummy;
        return render(tpl, ctx, esc, partials, userdata, out, replaced ? replaced : &dummy);
}
