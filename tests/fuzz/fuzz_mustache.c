/* libFuzzer target: mustache_parse + mustache_render (daemon/mustache.h).
 *
 * Input: TEMPLATE \0 JSON \0 PARTIAL — the template, the JSON context it is
 * rendered against (a digest-like default when missing or not JSON) and a
 * second template served as every partial except {{> self}}, which is the
 * template itself, so unbounded recursion must end in -ELOOP, not a stack
 * overflow.  Each parsed template renders in both escape modes; rendering
 * twice must give the same bytes (a parsed template is immutable). */
#include <errno.h>

#include "fuzz.h"
#include "mustache.h"

static const char default_ctx[] =
        "{\"rep\":{\"name\":\"王伟\",\"email\":\"wang@example.cn\"},\"date\":\"2027-03-14\","
        "\"total\":3,\"items\":[{\"kind\":\"follow_up\",\"customer\":{\"name\":\"李娜 & Co <b>\",\"tier\":\"A\"},"
        "\"due\":\"2027-03-14\",\"overdue\":true,\"amount\":1234.5},{\"kind\":\"birthday\",\"customer\":"
        "{\"name\":\"Anna\",\"tier\":\"C\"},\"overdue\":false,\"amount\":0,\"tags\":[\"x\",\"y\"]},"
        "{\"kind\":\"dormant\",\"customer\":null,\"days\":400}],\"empty\":[],\"flag\":false,\"none\":null}";

struct partials {
        const struct mustache *self, *other;
};

static const struct mustache *partial_lookup(const char *name, void *userdata) {
        const struct partials *p = userdata;
        if (strcmp(name, "self") == 0)
                return p->self;
        if (strcmp(name, "missing") == 0)
                return NULL;
        return p->other;
}

static void check_parse_error(int r, const struct mustache_error *e) {
        FUZZ_ASSERT(r == -EINVAL || r == -ENOMEM, "mustache_parse returned %d", r);
        if (r == -EINVAL) {
                FUZZ_ASSERT(e->line >= 1 && e->column >= 1, "error position %d:%d", e->line, e->column);
                FUZZ_ASSERT(memchr(e->message, '\0', sizeof e->message) && e->message[0], "empty error message");
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct fuzz_fields ff;
        if (size > 64 * 1024 || fuzz_split(data, size, 3, &ff) < 0)
                return 0;

        struct mustache_error err;
        struct mustache *tpl = NULL, *other = NULL;
        int r = mustache_parse(ff.f[0], ff.len[0], 1, &tpl, &err);
        if (r < 0) {
                check_parse_error(r, &err);
                fuzz_fields_free(&ff);
                return 0;
        }
        FUZZ_ASSERT(r == 0 && tpl, "mustache_parse returned %d", r);
        if (ff.n >= 3) {
                r = mustache_parse(ff.f[2], ff.len[2], 7, &other, &err);
                if (r < 0) {
                        check_parse_error(r, &err);
                        other = NULL;
                }
        }

        json_object *ctx = NULL;
        if (ff.n >= 2 && ff.len[1] > 0) {
                json_tokener *tok = json_tokener_new_ex(64);
                if (tok) {
                        ctx = json_tokener_parse_ex(tok, ff.f[1], (int)ff.len[1]);
                        if (json_tokener_get_error(tok) != json_tokener_success) {
                                json_object_put(ctx);
                                ctx = NULL;
                        }
                        json_tokener_free(tok);
                }
        }
        if (!ctx)
                ctx = json_tokener_parse(default_ctx);

        struct partials p = {tpl, other};
        for (int esc = MUSTACHE_ESCAPE_NONE; esc <= MUSTACHE_ESCAPE_HTML; esc++) {
                struct buf a = {0}, b = {0};
                int ra = mustache_render(tpl, ctx, (enum mustache_escape)esc, partial_lookup, &p, &a);
                FUZZ_ASSERT(ra == 0 || ra == -ELOOP || ra == -ENOMEM, "mustache_render returned %d", ra);
                int rb = mustache_render(tpl, ctx, (enum mustache_escape)esc, partial_lookup, &p, &b);
                FUZZ_ASSERT(ra == rb, "second render returned %d, first %d", rb, ra);
                if (ra == 0)
                        FUZZ_ASSERT(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0),
                                    "two renders of one template differ (%zu vs %zu bytes)", a.len, b.len);
                buf_free(&a);
                buf_free(&b);
        }
        /* No partial callback: every partial renders empty. */
        struct buf c = {0};
        r = mustache_render(tpl, ctx, MUSTACHE_ESCAPE_NONE, NULL, NULL, &c);
        FUZZ_ASSERT(r == 0 || r == -ELOOP || r == -ENOMEM, "render without partials returned %d", r);
        buf_free(&c);

        json_object_put(ctx);
        mustache_free(other);
        mustache_free(tpl);
        fuzz_fields_free(&ff);
        return 0;
}
