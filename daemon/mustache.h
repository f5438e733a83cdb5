/* Mustache templates (github.com/mustache/spec: interpolation, sections,
 * inverted sections, comments, partials, set delimiters; no lambdas, no
 * dynamic names, no inheritance) rendered against a json-c context.
 *
 * Parse once, render many times: a parsed template is immutable (but for
 * an atomic size hint, see mustache_render()) and may be rendered from
 * several threads at once. */
#pragma once

#include <stddef.h>

#include <json-c/json.h>

#include "util.h"

enum mustache_escape {
        MUSTACHE_ESCAPE_NONE, /* plain text (SMS, e-mail subjects, text/plain) */
        MUSTACHE_ESCAPE_HTML, /* {{name}} escapes & < > " */
};

/* line and column are 1-based and refer to the source file: line counts
 * from first_line as given to mustache_parse(); column counts characters
 * (UTF-8 code points) from the start of that line. */
struct mustache_error {
        int line;
        int column;
        char message[256];
};

struct mustache;

/* Parses src[0..len).  first_line is the file line on which src starts (a
 * template may be one part of a larger file).  Returns 0 and sets *ret, or
 * -EINVAL with *err describing the first problem (position = where the
 * offending tag starts), or -ENOMEM.  err may be NULL. */
int mustache_parse(const char *src, size_t len, int first_line, struct mustache **ret,
                   struct mustache_error *err);

/* mustache_parse() of a template that starts mid-line in its file (an
 * e-mail template's subject, after "Subject: "): first_column is the file
 * column of src[0], so positions on the first line are the file's too. */
int mustache_parse_at(const char *src, size_t len, int first_line, int first_column, struct mustache **ret,
                      struct mustache_error *err);

/* mustache_parse_at() that goes on after a problem (skipping the tag at
 * fault) to report the later ones too: the first max_errs of them are
 * stored in errs[], in the order found, and *n_errs (may be NULL) is set to
 * how many there were in all.  Sections still open at the end come last,
 * innermost first.  Returns 0 and sets *ret, -EINVAL when there was any
 * problem, or -ENOMEM. */
int mustache_parse_all(const char *src, size_t len, int first_line, int first_column, struct mustache **ret,
                       struct mustache_error *errs, size_t max_errs, size_t *n_errs);

/* Returns the already-parsed partial called name, or NULL (a missing partial
 * renders as the empty string, as the spec requires).  The returned template
 * must stay valid until mustache_render() returns. */
typedef const struct mustache *(*mustache_partial_fn)(const char *name, void *userdata);

/* Appends the rendering of tpl against ctx to out.  partials may be NULL.
 * out is grown once up front to about the size of tpl's previous rendering
 * (a relaxed atomic in tpl, the only thing a render writes there), so a
 * render allocates nothing else and memory per render stays within a small
 * factor of its output.
 * Returns 0, -ENOMEM, -EINVAL (tpl or out NULL), or -ELOOP when partials
 * nest deeper than 64 levels (or sections and partials together deeper than
 * 4096).  On error out
 * holds a partial rendering that the caller should discard.
 *
 * Values: strings verbatim, integers in decimal, doubles in their shortest
 * round-tripping form (1.210 -> "1.21"), booleans as "true"/"false", null,
 * missing names, objects and arrays as "".  Sections treat null, false, 0,
 * "", missing names and empty arrays as false; arrays repeat, anything else
 * is pushed onto the context stack once. */
int mustache_render(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                    mustache_partial_fn partials, void *userdata, struct buf *out);

/* mustache_render() for text that must be well-formed UTF-8 whatever the
 * data holds (a database that does not check encodings hands over any
 * bytes): each malformed sequence in what it appends becomes U+FFFD, as
 * utf8_repair() of the appended text would make it, and *replaced (may be
 * NULL) is set to the number of replacements, for the caller to report.
 * Template text is checked when parsed and each value as it is emitted,
 * so well-formed data costs no second pass over the output (a malformed
 * value costs a temporary copy of the output from where it starts). */
int mustache_render_utf8(const struct mustache *tpl, json_object *ctx, enum mustache_escape esc,
                         mustache_partial_fn partials, void *userdata, struct buf *out,
                         size_t *replaced);

/* Calls fn with the name of each partial tag ({{> name}}) in tpl, in
 * source order (a name used twice, twice).  tpl may be NULL. */
void mustache_for_each_partial(const struct mustache *tpl, void (*fn)(const char *name, void *userdata),
                               void *userdata);

/* Takes NULL, returns NULL. */
struct mustache *mustache_free(struct mustache *tpl);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct mustache *, mustache_free);
