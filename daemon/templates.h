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
 * (one Subject line, case-insensitive, as the only header).  The separator
 * may have blanks (a CR) after it and "html" in any case; a line that is
 * otherwise ---, blanks, html, blanks, --- is an error, not text.  Subject
 * and text render with no escaping, the HTML part with HTML escaping.  An
 * SMS template is plain text; line breaks at its end are dropped.  A UTF-8
 * byte-order mark at the start of any template file is skipped.  Every
 * problem is reported as FILE:LINE:COLUMN, the position in the file
 * whichever part it is in. */
#include <json-c/json.h>
#include <stdbool.h>

#include "mustache.h"
#include "util.h"

#define TEMPLATE_HTML_SEPARATOR "--- html ---"
/* How many problems of one template part are listed (then a count of the rest). */
#define TEMPLATE_MAX_ERRORS 20

struct message_template {
        char *path;
        char *name, *channel, *locale;
        struct mustache *subject, *text, *html; /* sms: text only */
        /* E-mail parts with nothing but blanks in the file (no text, no
         * tag): where they start, for `check` to warn; 0 when not blank. */
        int blank_subject_line, blank_subject_column, blank_text_line;
};

struct template_set;

/* Loads every template in dir, logging each problem as FILE:LINE:COLUMN:
 * message.  Returns 0, or -EINVAL after reporting all problems (*n_errors). */
int template_set_load(const char *dir, struct template_set **ret, int *n_errors);
/* template_set_load() for `rapportctl check`, which reports everything: it
 * goes on past broken files and returns 0 with the set of those that did
 * load, so what depends on them can be checked too, *n_errors counting the
 * problems logged.  Fails (*n_errors 1) only when dir cannot be read, or
 * with -ENOMEM.  Such a set must never be used to send. */
int template_set_load_all(const char *dir, struct template_set **ret, int *n_errors);
/* After template_find() found nothing: whether a file for it exists in
 * the same locale chain but failed to load (so was reported already, and
 * is not missing).  Only a set from template_set_load_all() has any. */
bool template_broken(const struct template_set *s, const char *name, const char *channel, const char *locale,
                     const char *default_locale);
struct template_set *template_set_free(struct template_set *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct template_set *, template_set_free);

const struct message_template *template_find(const struct template_set *s, const char *name,
                                             const char *channel, const char *locale,
                                             const char *default_locale);

/* The set's message templates in turn: NULL once i is past the last. */
const struct message_template *template_set_message(const struct template_set *s, size_t i);
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

/* "email" or "sms" for a message template's file name
 * (TEMPLATE.CHANNEL.LOCALE.mustache, in any directory), NULL for anything
 * else. */
const char *template_file_channel(const char *path);

/* Where the parts of an e-mail template lie in its source: byte ranges, and
 * the file position (1-based) each starts at.  The subject comes after a
 * leading byte-order mark, if any; the text part runs to the separator line
 * or the end, the HTML part from after that line to the end. */
struct email_layout {
        size_t subject_off, subject_len;
        size_t text_off, text_len;
        size_t html_off, html_len;
        bool has_html;
        int subject_line, subject_column, text_line, html_line;
};
/* Logs a layout problem (a header other than one Subject, a near miss of
 * the separator) as PATH:LINE:COLUMN and returns -EINVAL. */
int template_email_layout(const char *path, const char *src, size_t len, struct email_layout *ret);

/* Appends a whole e-mail template file rendered as the daemon renders its
 * parts — subject and text unescaped, the HTML part HTML-escaped — with the
 * file's own bytes around them ("Subject: ", the empty line, the separator
 * line) kept as they are: the bytes a render of the whole file with no
 * escaping gives, but for the HTML part's escaping.  The subject is not made
 * one line or shortened (that is for sending).  Returns 0; -EINVAL after
 * logging every layout or parse problem as PATH:LINE:COLUMN; or what
 * mustache_render() returns. */
int template_render_email_file(const char *path, const char *src, size_t len, json_object *ctx,
                               mustache_partial_fn partials, void *userdata, struct buf *out);

/* The locale a template file is rendered in, by its name: LOCALE of
 * NAME.CHANNEL.LOCALE.mustache, or of a partial NAME.LOCALE.mustache when
 * LOCALE is a language tag (page.html.mustache has none); "" otherwise. */
void template_file_locale(const char *path, char locale[static 32]);

/* Partials from one directory, for `rapportctl render --partials DIR`:
 * among the files the daemon would take for partials, {{> name}} loads the
 * one the daemon would for a template of `locale` (name.zh-CN.mustache,
 * then name.zh.mustache, then name.mustache), else a file called just
 * name; none renders as nothing.  Each is parsed once, when first named.
 * Initialise with PARTIAL_DIR_INIT. */
struct partial_dir {
        const char *dir;
        const char *locale; /* NULL or "": name.mustache only */
        struct dirent **files;
        int n_files; /* -1 until listed */
        struct partial_dir_entry {
                char *name;
                struct mustache *tpl; /* NULL: there is none */
        } *entries;
        size_t n;
        /* The first problem, logged: a partial that could not be read
         * (-errno), parsed (-EINVAL) or kept (-ENOMEM).  The render is then
         * not what the template says, and must not pass for one. */
        int error;
};
#define PARTIAL_DIR_INIT(d, l) {.dir = (d), .locale = (l), .n_files = -1}
/* Lists the directory now, rather than at the first partial: 0, or -errno
 * (logged) when it cannot be read, e.g. it does not exist. */
int partial_dir_list(struct partial_dir *pd);
const struct mustache *partial_dir_lookup(const char *name, void *partial_dir);
void partial_dir_clear(struct partial_dir *pd);

struct rapport_config;
/* The templates the configuration needs: each one an enabled job's
 * settings name, for every channel it goes out on, in the default locale
 * (the last fallback).  Each one missing is logged; returns how many. */
int templates_check_config(const struct template_set *t, const struct rapport_config *c);
/* Calls report with each partial that message template t names
 * ({{> name}}, in any of its parts or in the partials it includes) and
 * that s does not have for t's locale: it would render as nothing, as
 * Mustache requires, so `check` warns.  Returns how many. */
int template_missing_partials(const struct template_set *s, const struct message_template *t,
                              void (*report)(const struct message_template *t, const char *partial, void *userdata),
                              void *userdata);
