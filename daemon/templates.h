#pragma once
/* The template set: every file under templates.dir parsed once at load or
 * reload, cached, and looked up by (template, channel, locale) with the
 * fallback exact → language → default locale.
 *
 * File names: TEMPLATE.CHANNEL.LOCALE.mustache for messages
 * (birthday.email.zh-CN.mustache, birthday.sms.en.mustache); any other
 * NAME.mustache or NAME.LOCALE.mustache is a partial ({{> NAME}}), looked up
 * with the same locale fallback.
 *
 * E-mail layout, one file:
 *     Subject: {{customer.name}}, happy birthday
 *     <blank line>
 *     plain-text part …
 *     --- html ---
 *     optional HTML part …
 * Subject and text render with no escaping, the HTML part with HTML
 * escaping.  An SMS template is plain text; one trailing newline is dropped. */
#include <json-c/json.h>
#include <stdbool.h>

#include "mustache.h"
#include "util.h"

#define TEMPLATE_HTML_SEPARATOR "--- html ---"

struct message_template {
        char *path;
        char *name, *channel, *locale;
        struct mustache *subject, *text, *html; /* sms: text only */
};

struct template_set;

/* Loads every template in dir, logging each problem as FILE:LINE:COLUMN:
 * message.  Returns 0, or -EINVAL after reporting all problems (*n_errors). */
int template_set_load(const char *dir, struct template_set **ret, int *n_errors);
struct template_set *template_set_free(struct template_set *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct template_set *, template_set_free);

const struct message_template *template_find(const struct template_set *s, const char *name,
                                             const char *channel, const char *locale,
                                             const char *default_locale);

struct rendered {
        char *subject, *text, *html;
};
void rendered_clear(struct rendered *r);

int template_render(const struct template_set *s, const struct message_template *t,
                    json_object *ctx, struct rendered *out);

/* Parse a single file as a message template of the given channel (for
 * `rapportctl check`/tests); logs errors like template_set_load. */
int template_parse_file(const char *path, const char *channel, struct message_template **ret);
void message_template_free(struct message_template *t);

/* Partials loaded on demand from one directory (NAME.mustache, or NAME),
 * for `rapportctl render --partials DIR`; parsed once per run. */
struct partial_dir {
        const char *dir;
        struct partial_dir_entry {
                char *name;
                struct mustache *tpl;
        } *entries;
        size_t n;
};
const struct mustache *partial_dir_lookup(const char *name, void *partial_dir);
void partial_dir_clear(struct partial_dir *pd);
