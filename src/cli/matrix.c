/* `bluegreen matrix [--json]`: the API compatibility matrix (GET /v1/matrix, docs/design.md §6).
 *
 * On a terminal a services x services grid: a row per consumer, a column per provider, in
 * each cell the required range, the provider's live versions and ok/BROKEN (coloured),
 * then the broken edges spelled out. Piped, one `edge key=value...` line per edge. The
 * daemon's answer is {"services", "edges":[{consumer, consumer_version, api, range,
 * provider, live:[{version, slot, weight}], ok, message}]}, or the compat module's view
 * ({"cells", "missing"}, bg_compat_matrix_json), which is read into the same edges.
 * Exit 0 when every edge holds, 3 when one is broken (whatever the output form), so that
 * `bluegreen matrix` works as a CI check.
 */
#include "cli/internal.h"

#include "base/base.h"

typedef struct names {
    const char **v;
    size_t n;
} names_t;

static void names_add(names_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return;
    s->v = bg_xrealloc(s->v, (s->n + 1) * sizeof(*s->v));
    s->v[s->n++] = name;
}

static const char *provider(const json_t *e)
{
    return bg_cli_jstr(e, "provider", "(none)");
}

/* "1.9.2@blue:100,2.0.0@green:0" for scripts; "1.9.2" or "1.9.2+2.0.0" for people. A live
 * entry is {version, slot, weight}, or a text "1.9.2 (blue, 100%)" (the compat view). */
static void live_versions(const json_t *e, bool detail, bg_buf_t *b)
{
    const json_t *live = json_object_get(e, "live");

    for (size_t i = 0; i < json_array_size(live); i++) {
        const json_t *l = json_array_get(live, i);
        if (i > 0)
            bg_buf_puts(b, detail ? "," : "+");
        if (json_is_string(l)) {
            const char *t = json_string_value(l);
            bg_buf_append(b, t, detail ? strlen(t) : strcspn(t, " "));
            continue;
        }
        bg_buf_puts(b, bg_cli_jstr(l, "version", "?"));
        if (detail)
            bg_buf_printf(b, "@%s:%lld", bg_cli_jstr(l, "slot", "?"),
                          (long long)bg_cli_jint(l, "weight", 0));
    }
    if (json_array_size(live) == 0)
        bg_buf_puts(b, detail ? "" : "none");
    bg_buf_append(b, "", 0);
}

/* One edge from the compat module's view: a cell {consumer, consumer_version, provider,
 * api, range, provider_versions, status, message} or a missing provider. */
static json_t *edge_of(const json_t *c, bool missing)
{
    const json_t *pv = json_object_get(c, "provider_versions");

    return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:o, s:b, s:s}", "consumer",
                     bg_cli_jstr(c, "consumer", ""), "consumer_version",
                     bg_cli_jstr(c, "consumer_version", ""), "api", bg_cli_jstr(c, "api", ""),
                     "range", bg_cli_jstr(c, "range", ""), "provider",
                     missing ? NULL : bg_cli_jstr(c, "provider", NULL), "live",
                     pv != NULL ? json_incref((json_t *)pv) : json_array(), "ok",
                     !missing && strcmp(bg_cli_jstr(c, "status", ""), "ok") == 0, "message",
                     bg_cli_jstr(c, "message", ""));
}

/* The edges of <doc>: its "edges", or those of the compat view's "cells" and "missing".
 * New reference. */
static json_t *edges_of(const json_t *doc)
{
    const json_t *cells = json_object_get(doc, "cells"), *missing = json_object_get(doc, "missing");
    json_t *edges = json_object_get(doc, "edges");

    if (edges != NULL || cells == NULL)
        return json_is_array(edges) ? json_incref(edges) : json_array();
    edges = json_array();
    for (size_t i = 0; i < json_array_size(cells); i++)
        json_array_append_new(edges, edge_of(json_array_get(cells, i), false));
    for (size_t i = 0; i < json_array_size(missing); i++)
        json_array_append_new(edges, edge_of(json_array_get(missing, i), true));
    return edges;
}

/* The cell of <consumer> x <prov>: "^1.4 -> 1.9.2 ok", several edges joined by "; ", with
 * colour codes if <colour>. Its printable width goes to *<width>. Caller frees. */
static char *cell(bg_cli_t *cli, const json_t *edges, const char *consumer, const char *prov,
                  size_t *width, bool colour)
{
    bg_buf_t b, plain;

    bg_buf_init(&b);
    bg_buf_init(&plain);
    for (size_t i = 0; i < json_array_size(edges); i++) {
        const json_t *e = json_array_get(edges, i);
        bool ok = json_is_true(json_object_get(e, "ok"));
        bg_buf_t lv;
        if (strcmp(bg_cli_jstr(e, "consumer", ""), consumer) != 0 || strcmp(provider(e), prov) != 0)
            continue;
        bg_buf_init(&lv);
        live_versions(e, false, &lv);
        if (plain.len > 0) {
            bg_buf_puts(&plain, "; ");
            bg_buf_puts(&b, "; ");
        }
        bg_buf_printf(&plain, "%s -> %s %s", bg_cli_jstr(e, "range", "?"), lv.data,
                      ok ? "ok" : "BROKEN");
        bg_buf_printf(&b, "%s -> %s %s%s%s", bg_cli_jstr(e, "range", "?"), lv.data,
                      colour ? bg_cli_sgr(cli, ok ? BG_SGR_GREEN : BG_SGR_RED) : "",
                      ok ? "ok" : "BROKEN", colour ? bg_cli_sgr(cli, BG_SGR_RESET) : "");
        bg_buf_fini(&lv);
    }
    if (plain.len == 0) {
        bg_buf_puts(&plain, strcmp(consumer, prov) == 0 ? "-" : ".");
        bg_buf_puts(&b, strcmp(consumer, prov) == 0 ? "-" : ".");
    }
    *width = plain.len;
    bg_buf_fini(&plain);
    bg_buf_append(&b, "", 0);
    return bg_buf_steal(&b);
}

static void print_grid(bg_cli_t *cli, const json_t *edges)
{
    names_t rows = {0}, cols = {0};
    size_t *w, label = strlen("CONSUMER \\ PROVIDER");

    for (size_t i = 0; i < json_array_size(edges); i++) {
        names_add(&rows, bg_cli_jstr(json_array_get(edges, i), "consumer", "?"));
        names_add(&cols, provider(json_array_get(edges, i)));
    }
    if (rows.n == 0) {
        fputs("no service requires an API of another\n", cli->out);
        goto out;
    }
    w = bg_xcalloc(cols.n, sizeof(*w));
    for (size_t r = 0; r < rows.n; r++)
        label = strlen(rows.v[r]) > label ? strlen(rows.v[r]) : label;
    for (size_t c = 0; c < cols.n; c++) {
        w[c] = strlen(cols.v[c]);
        for (size_t r = 0; r < rows.n; r++) {
            size_t cw;
            free(cell(cli, edges, rows.v[r], cols.v[c], &cw, false));
            w[c] = cw > w[c] ? cw : w[c];
        }
    }
    fprintf(cli->out, "%s%-*s", bg_cli_sgr(cli, BG_SGR_BOLD), (int)label, "CONSUMER \\ PROVIDER");
    for (size_t c = 0; c < cols.n; c++) /* no trailing blanks after the last column */
        fprintf(cli->out, "  %-*s", c + 1 < cols.n ? (int)w[c] : 0, cols.v[c]);
    fprintf(cli->out, "%s\n", bg_cli_sgr(cli, BG_SGR_RESET));
    for (size_t r = 0; r < rows.n; r++) {
        fprintf(cli->out, "%-*s", (int)label, rows.v[r]);
        for (size_t c = 0; c < cols.n; c++) {
            size_t cw;
            char *s = cell(cli, edges, rows.v[r], cols.v[c], &cw, true);
            fprintf(cli->out, "  %s%*s", s, c + 1 < cols.n ? (int)(w[c] - cw) : 0, "");
            free(s);
        }
        fputc('\n', cli->out);
    }
    free(w);
out:
    free(rows.v);
    free(cols.v);
}

static void print_broken(bg_cli_t *cli, const json_t *edges)
{
    bool any = false;

    for (size_t i = 0; i < json_array_size(edges); i++) {
        const json_t *e = json_array_get(edges, i);
        if (json_is_true(json_object_get(e, "ok")))
            continue;
        if (!any)
            fprintf(cli->out, "\n%sbroken:%s\n", bg_cli_sgr(cli, BG_SGR_RED),
                    bg_cli_sgr(cli, BG_SGR_RESET));
        any = true;
        fprintf(cli->out, "  %s\n", bg_cli_jstr(e, "message", "?"));
    }
    if (!any && json_array_size(edges) > 0)
        fprintf(cli->out, "\n%sall live edges are compatible%s\n", bg_cli_sgr(cli, BG_SGR_GREEN),
                bg_cli_sgr(cli, BG_SGR_RESET));
}

static void print_lines(bg_cli_t *cli, const json_t *edges)
{
    for (size_t i = 0; i < json_array_size(edges); i++) {
        const json_t *e = json_array_get(edges, i);
        bg_buf_t lv;
        bg_buf_init(&lv);
        live_versions(e, true, &lv);
        fputs("edge", cli->out);
        bg_cli_print_kv(cli->out, "consumer", bg_cli_jstr(e, "consumer", ""));
        bg_cli_print_kv(cli->out, "consumer_version", bg_cli_jstr(e, "consumer_version", ""));
        bg_cli_print_kv(cli->out, "api", bg_cli_jstr(e, "api", ""));
        bg_cli_print_kv(cli->out, "range", bg_cli_jstr(e, "range", ""));
        bg_cli_print_kv(cli->out, "provider", bg_cli_jstr(e, "provider", ""));
        bg_cli_print_kv(cli->out, "live", lv.data);
        fprintf(cli->out, " ok=%s", json_is_true(json_object_get(e, "ok")) ? "true" : "false");
        bg_cli_print_kv(cli->out, "message", bg_cli_jstr(e, "message", ""));
        fputc('\n', cli->out);
        bg_buf_fini(&lv);
    }
}

/* A broken edge makes `matrix` exit 3 (the gate's code), so CI can use it as a check. */
static bool any_broken(const json_t *edges)
{
    for (size_t i = 0; i < json_array_size(edges); i++)
        if (!json_is_true(json_object_get(json_array_get(edges, i), "ok")))
            return true;
    return false;
}

int bg_cli_matrix(bg_cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL, *edges;
    int rc;

    if (argc > 0)
        return bg_cli_usage(cli, "matrix", "unexpected argument '%s'", argv[0]);
    rc = bg_cli_api(cli, "GET", "/v1/matrix", NULL, &doc);
    if (rc != BG_EXIT_OK)
        return rc;
    edges = edges_of(doc);
    if (cli->json) {
        bg_cli_print_json(cli, doc);
    } else if (cli->tty) {
        print_grid(cli, edges);
        print_broken(cli, edges);
    } else {
        print_lines(cli, edges);
    }
    rc = any_broken(edges) ? BG_EXIT_REFUSED : BG_EXIT_OK;
    json_decref(edges);
    json_decref(doc);
    return rc;
}
