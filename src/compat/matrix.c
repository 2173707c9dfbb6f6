/* The compatibility matrix (`bluegreen matrix`, the dashboard): every live consumer
 * requirement and every applicable rule as a cell of a services × services grid, with the
 * live versions on both sides and ok/broken, as JSON; and a renderer that turns that JSON
 * (local or fetched from the admin API) into a terminal table.
 */
#include "compat/compat.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

/* ---- JSON ---------------------------------------------------------------------------- */

static json_t *live_json(const cw_service_t *s)
{
    json_t *arr = json_array();

    for (int i = 0; i < BG_SLOT_COUNT; i++) {
        const cw_slot_t *sl = &s->slot[i];
        json_t *o, *prov, *req;
        if (!cw_slot_live(sl))
            continue;
        o = json_object();
        prov = json_object();
        req = json_object();
        for (size_t p = 0; p < sl->rev->n_prov; p++) {
            json_t *v = json_array();
            for (size_t j = 0; j < sl->rev->prov[p].n; j++)
                json_array_append_new(v, json_string(sl->rev->prov[p].texts[j]));
            json_object_set_new(prov, sl->rev->prov[p].api, v);
        }
        for (size_t r = 0; r < sl->rev->n_req; r++)
            json_object_set_new(req, sl->rev->req[r].api, json_string(sl->rev->req[r].range_text));
        json_object_set_new(o, "slot", json_string(bg_slot_str((bg_slot_t)i)));
        json_object_set_new(o, "weight_pct", json_integer(sl->weight_pct));
        json_object_set_new(o, "version", json_string(sl->rev->version));
        json_object_set_new(o, "provides", prov);
        json_object_set_new(o, "requires", req);
        json_array_append_new(arr, o);
    }
    return arr;
}

/* One cell from an evaluated edge; takes <e>: a broken one moves into <broken>. */
static void add_cell(json_t *cells, bg_compat_result_t *broken, bool ok, bg_compat_edge_t *e)
{
    json_t *c = json_object();
    json_t *pv = json_array();
    char *text;

    json_object_set_new(c, "consumer", json_string(e->consumer));
    json_object_set_new(c, "consumer_version", json_string(e->consumer_version));
    json_object_set_new(c, "consumer_slot", json_string(bg_slot_str(e->consumer_slot)));
    json_object_set_new(c, "provider", json_string(e->provider));
    json_object_set_new(c, "api", e->api != NULL ? json_string(e->api) : json_null());
    json_object_set_new(c, "rule", json_boolean(e->kind == BG_COMPAT_EDGE_RULE));
    json_object_set_new(c, "range", json_string(e->range));
    for (size_t i = 0; i < e->n_provider_live; i++) {
        bg_compat_edge_t one = *e;
        one.provider_live = &e->provider_live[i];
        one.n_provider_live = 1;
        text = cw_live_text(&one);
        json_array_append_new(pv, json_string(text));
        free(text);
    }
    json_object_set_new(c, "provider_versions", pv);
    json_object_set_new(c, "status", json_string(ok ? "ok" : "broken"));
    if (!ok)
        json_object_set_new(c, "message", json_string(e->message));
    json_array_append_new(cells, c);
    if (ok)
        cw_edge_fini(e);
    else
        cw_result_push(broken, e);
}

static void requirement_cells(const bg_compat_world_t *w, const cw_service_t *k, int slot,
                              const cw_require_t *req, json_t *cells, json_t *missing,
                              bg_compat_result_t *broken)
{
    bg_compat_edge_t e;
    bool any = false;

    for (size_t i = 0; i < w->n; i++) {
        const cw_service_t *p = &w->svcs[i];
        bool ok;
        if (!cw_service_provides_live(p, req->api))
            continue;
        any = true;
        ok = cw_requirement_edge(w, k, slot, req, p, false, &e);
        add_cell(cells, broken, ok, &e);
    }
    if (any)
        return;
    cw_requirement_edge(w, k, slot, req, NULL, false, &e);
    {
        json_t *m = json_object();
        json_object_set_new(m, "consumer", json_string(e.consumer));
        json_object_set_new(m, "consumer_version", json_string(e.consumer_version));
        json_object_set_new(m, "api", json_string(e.api));
        json_object_set_new(m, "range", json_string(e.range));
        json_object_set_new(m, "message", json_string(e.message));
        json_array_append_new(missing, m);
    }
    cw_result_push(broken, &e);
}

static void rule_cells(const bg_compat_world_t *w, const bg_compat_rules_t *rules, json_t *cells,
                       bg_compat_result_t *broken)
{
    for (size_t i = 0; rules != NULL && i < rules->n; i++) {
        const cw_rule_t *r = &rules->v[i];
        const cw_service_t *a = cw_find(w, r->service), *o = cw_find(w, r->other);
        if (a == NULL || o == NULL || (!cw_slot_live(&o->slot[0]) && !cw_slot_live(&o->slot[1])))
            continue;
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            bg_compat_edge_t e;
            bool ok;
            if (!cw_slot_live(&a->slot[s]) || !cw_rule_side_matches(r->range, a->slot[s].rev))
                continue;
            ok = cw_rule_edge(w, r, a, s, o, false, &e);
            add_cell(cells, broken, ok, &e);
        }
    }
}

json_t *bg_compat_matrix_json(const bg_compat_world_t *w, const bg_compat_rules_t *rules)
{
    json_t *o = json_object(), *names = json_array(), *live = json_object();
    json_t *cells = json_array(), *missing = json_array(), *res;
    bg_compat_result_t broken;

    bg_compat_result_init(&broken);
    for (size_t i = 0; i < w->n; i++) {
        const cw_service_t *k = &w->svcs[i];
        json_array_append_new(names, json_string(k->name));
        json_object_set_new(live, k->name, live_json(k));
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            if (!cw_slot_live(&k->slot[s]))
                continue;
            for (size_t r = 0; r < k->slot[s].rev->n_req; r++)
                requirement_cells(w, k, s, &k->slot[s].rev->req[r], cells, missing, &broken);
        }
    }
    rule_cells(w, rules, cells, &broken);
    res = bg_compat_result_to_json(&broken);
    json_object_set(o, "ok", json_object_get(res, "ok"));
    json_object_set_new(o, "services", names);
    json_object_set_new(o, "live", live);
    json_object_set_new(o, "cells", cells);
    json_object_set_new(o, "missing", missing);
    json_object_set(o, "broken", json_object_get(res, "broken"));
    json_decref(res);
    bg_compat_result_fini(&broken);
    return o;
}

/* ---- text ---------------------------------------------------------------------------- */

#define GREEN "\033[32m"
#define RED "\033[31m"
#define BOLD "\033[1m"
#define RESET "\033[0m"

static const char *jstr(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));

    return s != NULL ? s : "";
}

static bool in_list(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

/* Distinct consumers (rows) and providers (columns) of the cells, services order first. */
typedef struct grid {
    char **rows, **cols;
    size_t n_rows, n_cols;
} grid_t;

static void grid_add(char ***v, size_t *n, const char *s)
{
    if (s[0] == '\0' || in_list(*v, *n, s))
        return;
    *v = bg_xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = bg_strdup(s);
}

static void grid_fini(grid_t *g)
{
    for (size_t i = 0; i < g->n_rows; i++)
        free(g->rows[i]);
    for (size_t i = 0; i < g->n_cols; i++)
        free(g->cols[i]);
    free(g->rows);
    free(g->cols);
}

/* The text of one grid cell: "^1.4 ok" entries joined by ", " (distinct), or "-". */
static char *cell_text(const json_t *cells, const char *row, const char *col, bool *broken)
{
    bg_buf_t b;
    size_t i;
    json_t *c;

    bg_buf_init(&b);
    *broken = false;
    json_array_foreach(cells, i, c)
    {
        char entry[160];
        bool bad = strcmp(jstr(c, "status"), "ok") != 0;
        if (strcmp(jstr(c, "consumer"), row) != 0 || strcmp(jstr(c, "provider"), col) != 0)
            continue;
        snprintf(entry, sizeof(entry), "%s%s %s",
                 json_is_true(json_object_get(c, "rule")) ? "!" : "", jstr(c, "range"),
                 bad ? "BROKEN" : "ok");
        *broken = *broken || bad;
        if (b.data != NULL && strstr(b.data, entry) != NULL)
            continue;
        bg_buf_printf(&b, "%s%s", b.len ? ", " : "", entry);
    }
    if (b.len == 0)
        bg_buf_puts(&b, "-");
    return bg_buf_steal(&b);
}

static void pad(bg_buf_t *b, size_t n)
{
    while (n-- > 0)
        bg_buf_puts(b, " ");
}

static void render_grid(bg_buf_t *b, const json_t *cells, const grid_t *g, bool color)
{
    size_t w0 = strlen("consumer \\ provider");
    size_t *w = bg_xcalloc(g->n_cols + 1, sizeof(size_t));
    bool broken;

    for (size_t r = 0; r < g->n_rows; r++)
        w0 = strlen(g->rows[r]) > w0 ? strlen(g->rows[r]) : w0;
    for (size_t c = 0; c < g->n_cols; c++) {
        w[c] = strlen(g->cols[c]);
        for (size_t r = 0; r < g->n_rows; r++) {
            char *t = cell_text(cells, g->rows[r], g->cols[c], &broken);
            w[c] = strlen(t) > w[c] ? strlen(t) : w[c];
            free(t);
        }
    }
    bg_buf_printf(b, "%s%s", color ? BOLD : "", "consumer \\ provider");
    pad(b, w0 - strlen("consumer \\ provider"));
    for (size_t c = 0; c < g->n_cols; c++) {
        bg_buf_printf(b, "  %s", g->cols[c]);
        pad(b, c + 1 < g->n_cols ? w[c] - strlen(g->cols[c]) : 0);
    }
    bg_buf_printf(b, "%s\n", color ? RESET : "");
    for (size_t r = 0; r < g->n_rows; r++) {
        bg_buf_puts(b, g->rows[r]);
        pad(b, w0 - strlen(g->rows[r]));
        for (size_t c = 0; c < g->n_cols; c++) {
            char *t = cell_text(cells, g->rows[r], g->cols[c], &broken);
            bool none = strcmp(t, "-") == 0;
            bg_buf_printf(b, "  %s%s%s", color && !none ? (broken ? RED : GREEN) : "", t,
                          color && !none ? RESET : "");
            pad(b, c + 1 < g->n_cols ? w[c] - strlen(t) : 0);
            free(t);
        }
        bg_buf_puts(b, "\n");
    }
    free(w);
}

static void render_live(bg_buf_t *b, const json_t *m)
{
    const json_t *live = json_object_get(m, "live");
    const char *name;
    json_t *slots;
    size_t wn = 0;

    json_object_foreach((json_t *)live, name, slots) wn = strlen(name) > wn ? strlen(name) : wn;
    bg_buf_puts(b, "\nlive versions:\n");
    json_object_foreach((json_t *)live, name, slots)
    {
        size_t i;
        json_t *s;
        bg_buf_printf(b, "  %s", name);
        pad(b, wn - strlen(name));
        if (json_array_size(slots) == 0)
            bg_buf_puts(b, "  (nothing live)");
        json_array_foreach(slots, i, s)
        {
            bg_buf_printf(b, "%s%s (%s, %lld%%)", i ? ", " : "  ", jstr(s, "version"),
                          jstr(s, "slot"),
                          (long long)json_integer_value(json_object_get(s, "weight_pct")));
        }
        bg_buf_puts(b, "\n");
    }
}

char *bg_compat_matrix_render(const json_t *matrix, bool color)
{
    const json_t *cells = json_object_get(matrix, "cells");
    const json_t *broken = json_object_get(matrix, "broken");
    grid_t g = {0};
    bg_buf_t b;
    size_t i;
    json_t *x;

    bg_buf_init(&b);
    json_array_foreach(json_object_get(matrix, "services"), i, x)
    {
        const char *name = json_string_value(x);
        json_t *c;
        size_t j;
        json_array_foreach(cells, j, c)
        {
            if (name != NULL && strcmp(jstr(c, "consumer"), name) == 0)
                grid_add(&g.rows, &g.n_rows, name);
            if (name != NULL && strcmp(jstr(c, "provider"), name) == 0)
                grid_add(&g.cols, &g.n_cols, name);
        }
    }
    json_array_foreach(cells, i, x)
    {
        grid_add(&g.rows, &g.n_rows, jstr(x, "consumer"));
        grid_add(&g.cols, &g.n_cols, jstr(x, "provider"));
    }
    if (g.n_rows > 0)
        render_grid(&b, cells, &g, color);
    else
        bg_buf_puts(&b, "no service requires an API of another\n");
    render_live(&b, matrix);
    if (json_array_size(broken) == 0) {
        bg_buf_printf(&b, "\n%sall live edges are compatible%s\n", color ? GREEN : "",
                      color ? RESET : "");
    } else {
        bg_buf_printf(&b, "\n%sbroken:%s\n", color ? RED BOLD : "", color ? RESET : "");
        json_array_foreach(broken, i, x) bg_buf_printf(&b, "  %s\n", jstr(x, "message"));
    }
    grid_fini(&g);
    return bg_buf_steal(&b);
}
