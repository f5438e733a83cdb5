#include "preview.h"

#include <json-c/json.h>

#include "config.h"
#include "log.h"
#include "sms_text.h"
#include "templates.h"

int preview_print(FILE *out, PGresult *rows, const struct rapport_config *c, const struct template_set *t,
                  bool show_recipients) {
        int bad = 0;
        int n = PQntuples(rows);
        for (int i = 0; i < n; i++) {
                const char *channel = PQgetvalue(rows, i, 1);
                const char *recipient = PQgetvalue(rows, i, 3);
                const char *tname = PQgetvalue(rows, i, 5), *locale = PQgetvalue(rows, i, 6);
                char masked[128];
                log_mask_address(recipient, masked, sizeof masked);
                fprintf(out, "=== %s to %s <%s> (%s, template %s, locale %s, not before %s)\n", channel,
                        PQgetvalue(rows, i, 4), show_recipients ? recipient : masked, PQgetvalue(rows, i, 2), tname,
                        locale, PQgetvalue(rows, i, 8));
                const struct message_template *tpl = template_find(t, tname, channel, locale, c->locale);
                if (!tpl) {
                        fprintf(out, "!!! no template %s.%s for locale %s\n\n", tname, channel, locale);
                        bad++;
                        continue;
                }
                json_object *ctx = json_tokener_parse(PQgetvalue(rows, i, 7));
                if (c->email.from_name)
                        json_object_object_add(ctx, "sender", json_object_new_string(c->email.from_name));
                if (PQgetvalue(rows, i, 10)[0] == 't' && c->email.unsubscribe_url)
                        json_object_object_add(ctx, "unsubscribe_url", json_object_new_string(c->email.unsubscribe_url));
                struct rendered r;
                int rr = template_render(t, tpl, ctx, &r);
                json_object_put(ctx);
                if (rr < 0) {
                        fprintf(out, "!!! cannot render %s: %s\n\n", tpl->path, strerror(-rr));
                        bad++;
                        continue;
                }
                if (streq(channel, "email")) {
                        fprintf(out, "From: %s%s<%s>\n", c->email.from_name ? c->email.from_name : "",
                                c->email.from_name ? " " : "", c->email.from_addr ? c->email.from_addr : "");
                        fprintf(out, "To: %s <%s>\n", PQgetvalue(rows, i, 4), show_recipients ? recipient : masked);
                        if (c->email.redirect_to)
                                fprintf(out, "(redirected to %s by email.redirect_to)\n", c->email.redirect_to);
                        if (PQgetvalue(rows, i, 10)[0] == 't' && (c->email.unsubscribe_mailto || c->email.unsubscribe_url))
                                fprintf(out, "List-Unsubscribe: %s%s%s\n", c->email.unsubscribe_mailto ? "<mailto:" : "",
                                        c->email.unsubscribe_mailto ? c->email.unsubscribe_mailto : "",
                                        c->email.unsubscribe_mailto ? ">" : "");
                } else
                        fprintf(out, "To: %s\n", show_recipients ? recipient : masked);
                if (r.subject)
                        fprintf(out, "Subject: %s\n", r.subject);
                fprintf(out, "\n%s", r.text ? r.text : "");
                if (r.text && r.text[0] && r.text[strlen(r.text) - 1] != '\n')
                        fputc('\n', out);
                if (r.html)
                        fprintf(out, "--- html ---\n%s%s", r.html, r.html[0] && r.html[strlen(r.html) - 1] == '\n' ? "" : "\n");
                if (streq(channel, "sms")) {
                        struct sms_segments seg;
                        if (sms_count_segments(r.text ? r.text : "", &seg) == 0) {
                                fprintf(out, "--- %zu %s unit(s), %zu segment(s)\n", seg.units, seg.ucs2 ? "UCS-2" : "GSM-7", seg.segments);
                                if (seg.segments > 1)
                                        fprintf(out, "warning: this SMS needs %zu segments (more than one)\n", seg.segments);
                        }
                }
                fputc('\n', out);
                rendered_clear(&r);
        }
        return bad;
}
