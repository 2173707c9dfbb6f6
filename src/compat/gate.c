/* The compatibility gate (docs/design.md §6): judges one service's edges in a world, both
 * directions, plus the explicit rules that name it, and reports each broken edge with a
 * sentence a human can act on (`orders 2.3.0 requires payments ^2.0; live payments is
 * 1.9.2 (blue, 100%)`). The deploy controller calls it before scale-up and before every
 * traffic step with the world after that step; the planner calls it on every state it
 * walks. Pure: reads the world, writes the result.
 */
#include "compat/compat.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

typedef struct gate {
    const bg_compat_world_t *w;
    const bg_compat_rules_t *rules;
    bool rollback; /* words: "after rollback X would be" */
    bg_compat_result_t *res;
} gate_t;

const char *bg_compat_edge_kind_str(bg_compat_edge_kind_t k)
{
    switch (k) {
    case BG_COMPAT_EDGE_REQUIRES:
        return "requires";
    case BG_COMPAT_EDGE_NO_PROVIDER:
        return "no_provider";
    case BG_COMPAT_EDGE_RULE:
        return "rule";
    }
    return "unknown";
}

/* ---- results ------------------------------------------------------------------------- */

void bg_compat_result_init(bg_compat_result_t *res)
{
    memset(res, 0, sizeof(*res));
}

static void live_fini(bg_compat_live_t *l)
{
    free(l->version);
    for (size_t i = 0; i < l->n_api_versions; i++)
        free(l->api_versions[i]);
    free(l->api_versions);
}

void cw_edge_fini(bg_compat_edge_t *e)
{
    free(e->consumer);
    free(e->consumer_version);
    free(e->api);
    free(e->range);
    free(e->provider);
    for (size_t i = 0; i < e->n_provider_live; i++)
        live_fini(&e->provider_live[i]);
    free(e->provider_live);
    free(e->reason);
    free(e->message);
    memset(e, 0, sizeof(*e));
}

void bg_compat_result_fini(bg_compat_result_t *res)
{
    for (size_t i = 0; i < res->n_edges; i++)
        cw_edge_fini(&res->edges[i]);
    free(res->edges);
    memset(res, 0, sizeof(*res));
}

void cw_result_push(bg_compat_result_t *res, bg_compat_edge_t *e)
{
    for (size_t i = 0; i < res->n_edges; i++) {
        if (strcmp(res->edges[i].message, e->message) == 0) {
            cw_edge_fini(e);
            return;
        }
    }
    res->edges = bg_xrealloc(res->edges, (res->n_edges + 1) * sizeof(*res->edges));
    res->edges[res->n_edges++] = *e;
    memset(e, 0, sizeof(*e));
}

void cw_edge_copy(bg_compat_edge_t *dst, const bg_compat_edge_t *src)
{
    *dst = *src;
    dst->consumer = bg_strdup(src->consumer);
    dst->consumer_version = bg_strdup(src->consumer_version);
    dst->api = bg_strdup(src->api);
    dst->range = bg_strdup(src->range);
    dst->provider = bg_strdup(src->provider);
    dst->reason = bg_strdup(src->reason);
    dst->message = bg_strdup(src->message);
    dst->provider_live = bg_xcalloc(src->n_provider_live + 1, sizeof(bg_compat_live_t));
    for (size_t i = 0; i < src->n_provider_live; i++) {
        const bg_compat_live_t *l = &src->provider_live[i];
        bg_compat_live_t *m = &dst->provider_live[i];
        *m = *l;
        m->version = bg_strdup(l->version);
        m->api_versions = bg_xcalloc(l->n_api_versions + 1, sizeof(char *));
        for (size_t j = 0; j < l->n_api_versions; j++)
            m->api_versions[j] = bg_strdup(l->api_versions[j]);
    }
}

/* ---- sentences ----------------------------------------------------------------------- */

static void live_one(bg_buf_t *b, const bg_compat_edge_t *e, const bg_compat_live_t *l)
{
    const char *where = bg_slot_str(l->slot);

    if (e->kind == BG_COMPAT_EDGE_RULE || l->n_api_versions == 0)
        bg_buf_puts(b, l->version);
    else if (l->n_api_versions == 1)
        bg_buf_puts(b, l->api_versions[0]);
    else {
        bg_buf_puts(b, "[");
        for (size_t i = 0; i < l->n_api_versions; i++)
            bg_buf_printf(b, "%s%s", i ? ", " : "", l->api_versions[i]);
        bg_buf_puts(b, "]");
    }
    bg_buf_printf(b, " (%s, %u%%)", where, l->weight_pct);
    if (e->kind != BG_COMPAT_EDGE_RULE && l->n_api_versions == 0)
        bg_buf_printf(b, " which does not provide %s", e->api);
}

char *cw_live_text(const bg_compat_edge_t *e)
{
    bg_buf_t b;

    bg_buf_init(&b);
    for (size_t i = 0; i < e->n_provider_live; i++) {
        if (i > 0)
            bg_buf_puts(&b, ", ");
        live_one(&b, e, &e->provider_live[i]);
    }
    bg_buf_puts(&b, "");
    return bg_buf_steal(&b);
}

/* "live payments is" / "after rollback payments would be"; when the provider's name is
 * not the API's, "live stock serves inventory". */
static void sentence(const gate_t *g, bg_compat_edge_t *e)
{
    bg_buf_t b;
    char *live;
    bool serves;

    bg_buf_init(&b);
    if (e->kind == BG_COMPAT_EDGE_RULE) {
        bg_buf_printf(&b, "%s %s is incompatible with %s %s", e->consumer, e->consumer_version,
                      e->provider, e->range);
        if (e->reason != NULL)
            bg_buf_printf(&b, " (%s)", e->reason);
    } else {
        bg_buf_printf(&b, "%s %s requires %s %s", e->consumer, e->consumer_version, e->api,
                      e->range);
    }
    if (e->kind == BG_COMPAT_EDGE_NO_PROVIDER) {
        bg_buf_printf(&b,
                      g->rollback ? "; after rollback no service would provide %s"
                                  : "; no live service provides %s",
                      e->api);
        goto out;
    }
    serves = e->kind == BG_COMPAT_EDGE_REQUIRES && strcmp(e->provider, e->api) != 0;
    if (g->rollback)
        bg_buf_printf(&b, "; after rollback %s would %s", e->provider, serves ? "serve " : "be ");
    else
        bg_buf_printf(&b, "; live %s %s", e->provider, serves ? "serves " : "is ");
    if (serves)
        bg_buf_printf(&b, "%s ", e->api);
    live = cw_live_text(e);
    bg_buf_puts(&b, live);
    free(live);
out:
    e->message = bg_buf_steal(&b);
}

/* ---- edges --------------------------------------------------------------------------- */

static void edge_consumer(bg_compat_edge_t *e, bg_compat_edge_kind_t kind, const cw_service_t *cs,
                          int slot)
{
    memset(e, 0, sizeof(*e));
    e->kind = kind;
    e->consumer = bg_strdup(cs->name);
    e->consumer_version = bg_strdup(cs->slot[slot].rev->version);
    e->consumer_slot = (bg_slot_t)slot;
    e->consumer_weight_pct = cs->slot[slot].weight_pct;
}

static bool provide_satisfies(const cw_provide_t *p, const bg_range_t *r)
{
    for (size_t i = 0; p != NULL && i < p->n; i++)
        if (bg_range_satisfies(r, &p->v[i]))
            return true;
    return false;
}

/* Fills <e>'s provider side from <ps>'s live slots; returns whether all are ok. */
static bool provider_side(bg_compat_edge_t *e, const cw_service_t *ps, const char *api,
                          const bg_range_t *range, bool rule)
{
    bool all = true;

    e->provider = bg_strdup(ps->name);
    e->provider_live = bg_xcalloc(BG_SLOT_COUNT, sizeof(bg_compat_live_t));
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        const cw_slot_t *sl = &ps->slot[s];
        bg_compat_live_t *l;
        if (!cw_slot_live(sl))
            continue;
        l = &e->provider_live[e->n_provider_live++];
        l->slot = (bg_slot_t)s;
        l->weight_pct = sl->weight_pct;
        l->version = bg_strdup(sl->rev->version);
        if (rule) {
            l->ok = !cw_rule_side_matches(range, sl->rev);
        } else {
            const cw_provide_t *p = cw_rev_provides(sl->rev, api);
            l->ok = provide_satisfies(p, range);
            l->api_versions = bg_xcalloc((p ? p->n : 0) + 1, sizeof(char *));
            for (size_t i = 0; p != NULL && i < p->n; i++)
                l->api_versions[l->n_api_versions++] = bg_strdup(p->texts[i]);
        }
        all = all && l->ok;
    }
    return all;
}

bool cw_requirement_edge(const bg_compat_world_t *w, const cw_service_t *cs, int slot,
                         const cw_require_t *req, const cw_service_t *ps, bool rollback,
                         bg_compat_edge_t *e)
{
    gate_t g = {.w = w, .rollback = rollback};
    bool ok;

    edge_consumer(e, ps != NULL ? BG_COMPAT_EDGE_REQUIRES : BG_COMPAT_EDGE_NO_PROVIDER, cs, slot);
    e->api = bg_strdup(req->api);
    e->range = bg_strdup(req->range_text);
    ok = ps != NULL && provider_side(e, ps, req->api, req->range, false);
    sentence(&g, e);
    return ok;
}

/* One requirement of consumer <cs> at <slot>, against every live provider of its API, or
 * only <only> when given. No live provider at all is a NO_PROVIDER edge either way. */
static void check_requirement(gate_t *g, const cw_service_t *cs, int slot, const cw_require_t *req,
                              const cw_service_t *only)
{
    bool any = false;
    bg_compat_edge_t e;

    for (size_t i = 0; i < g->w->n; i++) {
        const cw_service_t *ps = &g->w->svcs[i];
        if (!cw_service_provides_live(ps, req->api))
            continue;
        any = true;
        if (only != NULL && ps != only)
            continue;
        if (cw_requirement_edge(g->w, cs, slot, req, ps, g->rollback, &e))
            cw_edge_fini(&e);
        else
            cw_result_push(g->res, &e);
    }
    if (any)
        return;
    cw_requirement_edge(g->w, cs, slot, req, NULL, g->rollback, &e);
    cw_result_push(g->res, &e);
}

/* True when any revision in <s>'s slots, live or not, provides <api>: a consumer of an API
 * that <s> provided before this step is <s>'s business even if the new revision dropped it. */
static bool service_ever_provides(const cw_service_t *s, const char *api)
{
    for (int i = 0; i < BG_SLOT_COUNT; i++)
        if (s->slot[i].rev != NULL && cw_rev_provides(s->slot[i].rev, api) != NULL)
            return true;
    return false;
}

/* (a) what <c> requires, against every provider. */
static void check_outgoing(gate_t *g, const cw_service_t *c)
{
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        if (!cw_slot_live(&c->slot[s]))
            continue;
        for (size_t r = 0; r < c->slot[s].rev->n_req; r++)
            check_requirement(g, c, s, &c->slot[s].rev->req[r], NULL);
    }
}

/* (b) what every other live consumer requires of <c>. */
static void check_incoming(gate_t *g, const cw_service_t *c)
{
    for (size_t i = 0; i < g->w->n; i++) {
        const cw_service_t *k = &g->w->svcs[i];
        if (k == c)
            continue;
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            if (!cw_slot_live(&k->slot[s]))
                continue;
            for (size_t r = 0; r < k->slot[s].rev->n_req; r++) {
                const cw_require_t *req = &k->slot[s].rev->req[r];
                if (service_ever_provides(c, req->api))
                    check_requirement(g, k, s, req, c);
            }
        }
    }
}

bool cw_rule_side_matches(const bg_range_t *r, const cw_rev_t *rev)
{
    return r == NULL || bg_range_satisfies(r, &rev->v);
}

bool cw_rule_edge(const bg_compat_world_t *w, const cw_rule_t *rule, const cw_service_t *a,
                  int slot, const cw_service_t *o, bool rollback, bg_compat_edge_t *e)
{
    gate_t g = {.w = w, .rollback = rollback};
    bool ok;

    edge_consumer(e, BG_COMPAT_EDGE_RULE, a, slot);
    e->range = bg_strdup(rule->other_range_text);
    e->reason = bg_strdup(rule->reason);
    ok = provider_side(e, o, NULL, rule->other_range, true);
    sentence(&g, e);
    return ok;
}

static void check_rule(gate_t *g, const cw_rule_t *rule)
{
    const cw_service_t *a = cw_find(g->w, rule->service);
    const cw_service_t *o = cw_find(g->w, rule->other);

    if (a == NULL || o == NULL)
        return;
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        bg_compat_edge_t e;
        if (!cw_slot_live(&a->slot[s]) || !cw_rule_side_matches(rule->range, a->slot[s].rev))
            continue;
        if (cw_rule_edge(g->w, rule, a, s, o, g->rollback, &e))
            cw_edge_fini(&e);
        else
            cw_result_push(g->res, &e);
    }
}

int cw_check(const bg_compat_world_t *w, const char *changed, const bg_compat_rules_t *rules,
             bool rollback, bg_compat_result_t *res)
{
    gate_t g = {.w = w, .rules = rules, .rollback = rollback, .res = res};
    const cw_service_t *c = cw_find(w, changed);

    if (c == NULL)
        return BG_ENOTFOUND;
    check_outgoing(&g, c);
    check_incoming(&g, c);
    for (size_t i = 0; rules != NULL && i < rules->n; i++) {
        const cw_rule_t *rule = &rules->v[i];
        if (strcmp(rule->service, changed) == 0 || strcmp(rule->other, changed) == 0)
            check_rule(&g, rule);
    }
    return 0;
}

int bg_compat_check(const bg_compat_world_t *w, const char *changed, const bg_compat_rules_t *rules,
                    bg_compat_result_t *res)
{
    return cw_check(w, changed, rules, false, res);
}

int bg_compat_check_deploy(const bg_compat_world_t *w, const char *service, bg_slot_t slot,
                           const bg_revision_config_t *rev, uint32_t first_pct,
                           const bg_compat_rules_t *rules, bg_compat_result_t *res, bg_err_t *err)
{
    uint32_t weights[2] = {first_pct, 100};

    if (first_pct == 0 || first_pct > 100)
        return bg_err_set(err, BG_EINVAL, "first traffic step %u%% is not in 1..100", first_pct);
    for (size_t i = first_pct == 100 ? 1 : 0; i < 2; i++) {
        bg_compat_world_t *after =
            bg_compat_world_with_step(w, service, slot, rev, weights[i], err);
        if (after == NULL)
            return BG_EINVAL;
        cw_check(after, service, rules, false, res);
        bg_compat_world_free(after);
    }
    return 0;
}

int bg_compat_check_rollback(const bg_compat_world_t *w, const char *service, bg_slot_t back_to,
                             const bg_compat_rules_t *rules, bg_compat_result_t *res)
{
    const cw_service_t *s = cw_find(w, service);
    bg_compat_world_t *after;
    bg_slot_t other = back_to == BG_SLOT_BLUE ? BG_SLOT_GREEN : BG_SLOT_BLUE;
    int rc;

    if (s == NULL)
        return BG_ENOTFOUND;
    if (s->slot[back_to].rev == NULL)
        return BG_ECONFLICT;
    after = bg_compat_world_copy(w);
    rc = bg_compat_world_set_weights(after, service, back_to == BG_SLOT_BLUE ? 100 : 0,
                                     other == BG_SLOT_BLUE ? 100 : 0);
    if (rc == 0)
        rc = cw_check(after, service, rules, true, res);
    bg_compat_world_free(after);
    return rc;
}

/* ---- JSON ---------------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *cw_edge_to_json(const bg_compat_edge_t *e)
{
    json_t *o = json_object();
    json_t *live = json_array();

    json_object_set_new(o, "kind", json_string(bg_compat_edge_kind_str(e->kind)));
    json_object_set_new(o, "consumer", json_string(e->consumer));
    json_object_set_new(o, "consumer_version", json_string(e->consumer_version));
    json_object_set_new(o, "consumer_slot", json_string(bg_slot_str(e->consumer_slot)));
    json_object_set_new(o, "consumer_weight_pct", json_integer(e->consumer_weight_pct));
    json_object_set_new(o, "api", str_or_null(e->api));
    json_object_set_new(o, "range", str_or_null(e->range));
    json_object_set_new(o, "provider", str_or_null(e->provider));
    for (size_t i = 0; i < e->n_provider_live; i++) {
        const bg_compat_live_t *l = &e->provider_live[i];
        json_t *lo = json_object();
        json_t *av = json_array();
        for (size_t j = 0; j < l->n_api_versions; j++)
            json_array_append_new(av, json_string(l->api_versions[j]));
        json_object_set_new(lo, "slot", json_string(bg_slot_str(l->slot)));
        json_object_set_new(lo, "weight_pct", json_integer(l->weight_pct));
        json_object_set_new(lo, "version", json_string(l->version));
        json_object_set_new(lo, "api_versions", av);
        json_object_set_new(lo, "ok", json_boolean(l->ok));
        json_array_append_new(live, lo);
    }
    json_object_set_new(o, "provider_live", live);
    json_object_set_new(o, "reason", str_or_null(e->reason));
    json_object_set_new(o, "message", json_string(e->message));
    return o;
}

json_t *bg_compat_result_to_json(const bg_compat_result_t *res)
{
    json_t *o = json_object();
    json_t *broken = json_array();

    for (size_t i = 0; i < res->n_edges; i++)
        json_array_append_new(broken, cw_edge_to_json(&res->edges[i]));
    json_object_set_new(o, "ok", json_boolean(res->n_edges == 0));
    json_object_set_new(o, "broken", broken);
    return o;
}
