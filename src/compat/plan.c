/* The release planner (`bluegreen plan|release RELEASE.yaml`, docs/design.md §6): an order of
 * single-service deployments such that every intermediate state passes the gate for the
 * service being deployed, both while its traffic is split (old and new live) and at 100%.
 *
 * A state is determined by the set of services already deployed, so the search is a
 * depth-first walk over orders with a memo of sets from which no completion exists
 * (2^n states for n changed services; releases are small). When the walk fails, the
 * explanation comes from the first states: which deployment needs which other one first,
 * and the cycle those constraints form; and, when a provider dropping an API closes the
 * cycle, the expand/contract revision (providing old and new at once) that opens it,
 * verified by searching again with that revision deployed first.
 */
#include "compat/compat.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

#define PLAN_MAX 20

typedef struct planner {
    const bg_compat_rules_t *rules;
    const bg_compat_release_t *rel;
    size_t entry[PLAN_MAX]; /* changed release entries */
    cw_rev_t *rev[PLAN_MAX];
    size_t n;
    uint8_t *dead; /* 1 << n: no completion from this set */
    size_t order[PLAN_MAX];
    size_t depth;
    uint32_t stuck; /* the largest set found dead, for explanations */
} planner_t;

typedef struct constraint {
    size_t first, then; /* indexes into planner arrays */
    char *reason;
    bool drops; /* <then> is a provider dropping <api> that <first> needs */
    char *api;
    char *range;
} constraint_t;

static const char *svc_name(const planner_t *p, size_t i)
{
    return p->rel->entries[p->entry[i]].service;
}

/* <w> with <rev> placed for <service> at <weight> in its next slot; a new world. */
static bg_compat_world_t *place(const bg_compat_world_t *w, const char *service, cw_rev_t *rev,
                                uint32_t weight)
{
    bg_compat_world_t *c = bg_compat_world_copy(w);
    bg_slot_t slot = bg_compat_world_next_slot(w, service);
    cw_service_t *s = cw_find(c, service);
    bg_slot_t other = slot == BG_SLOT_BLUE ? BG_SLOT_GREEN : BG_SLOT_BLUE;

    if (s == NULL) {
        c->svcs = bg_xrealloc(c->svcs, (c->n + 1) * sizeof(*c->svcs));
        s = &c->svcs[c->n++];
        memset(s, 0, sizeof(*s));
        s->name = bg_strdup(service);
        c->cap = c->n;
    }
    cw_rev_unref(s->slot[slot].rev);
    s->slot[slot].rev = cw_rev_ref(rev);
    s->slot[slot].weight_pct = weight;
    s->slot[other].weight_pct = s->slot[other].rev != NULL ? 100 - weight : 0;
    return c;
}

/* Gate of deploying <rev> of <service> from <w>: split, then full. Edges go to <res> when
 * given. Returns whether both states pass. */
static bool step_ok(const planner_t *p, const bg_compat_world_t *w, const char *service,
                    cw_rev_t *rev, bg_compat_result_t *res)
{
    bg_compat_result_t own;
    bg_compat_result_t *out = res != NULL ? res : &own;
    size_t before;
    bool ok;

    bg_compat_result_init(&own);
    before = out->n_edges;
    for (uint32_t weight = 50; weight <= 100; weight += 50) {
        bg_compat_world_t *after = place(w, service, rev, weight);
        cw_check(after, service, p->rules, false, out);
        bg_compat_world_free(after);
        if (res == NULL && out->n_edges > 0)
            break;
    }
    ok = out->n_edges == before;
    bg_compat_result_fini(&own);
    return ok;
}

static bool dfs(planner_t *p, const bg_compat_world_t *w, uint32_t mask)
{
    uint32_t full = (uint32_t)((1u << p->n) - 1);

    if (mask == full)
        return true;
    if (p->dead[mask])
        return false;
    for (size_t i = 0; i < p->n; i++) {
        bg_compat_world_t *next;
        bool done;
        if (mask & (1u << i) || !step_ok(p, w, svc_name(p, i), p->rev[i], NULL))
            continue;
        next = place(w, svc_name(p, i), p->rev[i], 100);
        p->order[p->depth++] = i;
        done = dfs(p, next, mask | (1u << i));
        bg_compat_world_free(next);
        if (done)
            return true;
        p->depth--;
    }
    p->dead[mask] = 1;
    if (__builtin_popcount(mask) > __builtin_popcount(p->stuck))
        p->stuck = mask;
    return false;
}

/* True when the only live revision of <service> in <w> already is <rev> (same version
 * and declarations): nothing to deploy. */
static bool same_api(const cw_rev_t *a, const cw_rev_t *b)
{
    if (strcmp(a->version, b->version) != 0 || a->n_prov != b->n_prov || a->n_req != b->n_req)
        return false;
    for (size_t i = 0; i < a->n_prov; i++) {
        const cw_provide_t *q = cw_rev_provides(b, a->prov[i].api);
        if (q == NULL || q->n != a->prov[i].n)
            return false;
        for (size_t j = 0; j < q->n; j++)
            if (strcmp(q->texts[j], a->prov[i].texts[j]) != 0)
                return false;
    }
    for (size_t i = 0; i < a->n_req; i++)
        if (strcmp(a->req[i].api, b->req[i].api) != 0 ||
            strcmp(a->req[i].range_text, b->req[i].range_text) != 0)
            return false;
    return true;
}

static bool unchanged(const bg_compat_world_t *w, const char *service, const cw_rev_t *rev)
{
    const cw_service_t *s = cw_find(w, service);
    int live = 0;
    bool same = true;

    for (int i = 0; s != NULL && i < BG_SLOT_COUNT; i++) {
        if (!cw_slot_live(&s->slot[i]))
            continue;
        live++;
        same = same && same_api(s->slot[i].rev, rev);
    }
    return live > 0 && same;
}

static const char *live_version(const bg_compat_world_t *w, const char *service)
{
    const cw_service_t *s = cw_find(w, service);
    int best = -1;

    for (int i = 0; s != NULL && i < BG_SLOT_COUNT; i++)
        if (s->slot[i].rev != NULL &&
            (best < 0 || s->slot[i].weight_pct > s->slot[best].weight_pct))
            best = i;
    return best >= 0 ? s->slot[best].rev->version : NULL;
}

/* ---- explanations -------------------------------------------------------------------- */

static int index_of(const planner_t *p, const char *service)
{
    for (size_t i = 0; service != NULL && i < p->n; i++)
        if (strcmp(svc_name(p, i), service) == 0)
            return (int)i;
    return -1;
}

/* The release service whose target provides <api>, other than <not>. */
static int target_provider(const planner_t *p, const char *api, size_t not )
{
    for (size_t i = 0; i < p->n; i++)
        if (i != not &&cw_rev_provides(p->rev[i], api) != NULL)
            return (int)i;
    return -1;
}

/* Turns one broken edge of deploying <i> first into a constraint "j first", or returns
 * false when no other deployment of the release can fix it. */
static bool edge_constraint(const planner_t *p, size_t i, const bg_compat_edge_t *e,
                            constraint_t *c)
{
    const char *me = svc_name(p, i);
    const char *to = p->rev[i]->version;
    bool consumer = strcmp(e->consumer, me) == 0;
    int j;

    memset(c, 0, sizeof(*c));
    if (e->kind == BG_COMPAT_EDGE_RULE)
        j = index_of(p, consumer ? e->provider : e->consumer);
    else if (consumer)
        j = e->kind == BG_COMPAT_EDGE_REQUIRES ? index_of(p, e->provider)
                                               : target_provider(p, e->api, i);
    else
        j = index_of(p, e->consumer);
    if (j < 0 || (size_t)j == i)
        return false;
    c->first = (size_t)j;
    c->then = i;
    if (e->kind == BG_COMPAT_EDGE_RULE)
        c->reason = bg_asprintf("%s (%s first)", e->message, e->consumer);
    else if (consumer)
        c->reason =
            bg_asprintf("%s %s needs %s %s (%s first)", me, to, e->api, e->range, svc_name(p, j));
    else {
        c->drops = true;
        c->api = bg_strdup(e->api);
        c->range = bg_strdup(e->range);
        c->reason = bg_asprintf("%s %s drops %s %s that live %s %s requires (%s first)", me, to,
                                e->api, e->range, e->consumer, e->consumer_version, e->consumer);
    }
    return true;
}

typedef struct cgraph {
    constraint_t *v;
    size_t n;
} cgraph_t;

static void cgraph_fini(cgraph_t *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->v[i].reason);
        free(g->v[i].api);
        free(g->v[i].range);
    }
    free(g->v);
}

/* Constraints from deploying each service first from <w0>; unfixable edges to <blockers>. */
static void first_constraints(const planner_t *p, const bg_compat_world_t *w0, cgraph_t *g,
                              bg_compat_result_t *blockers)
{
    for (size_t i = 0; i < p->n; i++) {
        bg_compat_result_t res;
        bg_compat_result_init(&res);
        step_ok(p, w0, svc_name(p, i), p->rev[i], &res);
        for (size_t k = 0; k < res.n_edges; k++) {
            constraint_t c;
            if (edge_constraint(p, i, &res.edges[k], &c)) {
                g->v = bg_xrealloc(g->v, (g->n + 1) * sizeof(*g->v));
                g->v[g->n++] = c;
            } else {
                bg_compat_edge_t copy;
                cw_edge_copy(&copy, &res.edges[k]);
                cw_result_push(blockers, &copy);
            }
        }
        bg_compat_result_fini(&res);
    }
}

/* A cycle in "first -> then" through constraint indexes; returns its length (0: none). */
static bool cycle_from(const cgraph_t *g, size_t node, size_t start, uint32_t seen, size_t *path,
                       size_t depth, size_t *len)
{
    for (size_t k = 0; k < g->n; k++) {
        if (g->v[k].first != node)
            continue;
        path[depth] = k;
        if (g->v[k].then == start) {
            *len = depth + 1;
            return true;
        }
        if (seen & (1u << g->v[k].then) || depth + 1 >= PLAN_MAX)
            continue;
        if (cycle_from(g, g->v[k].then, start, seen | (1u << g->v[k].then), path, depth + 1, len))
            return true;
    }
    return false;
}

static size_t find_cycle(const planner_t *p, const cgraph_t *g, size_t *path)
{
    size_t len = 0;

    for (size_t s = 0; s < p->n; s++)
        if (cycle_from(g, s, s, 1u << s, path, 0, &len))
            return len;
    return 0;
}

/* ---- expand/contract ------------------------------------------------------------------ */

/* Live versions of <api> that <service> provides in <w> and that satisfy <range>. */
static void old_versions(const bg_compat_world_t *w, const char *service, const char *api,
                         const char *range, char ***out, size_t *n)
{
    const cw_service_t *s = cw_find(w, service);
    bg_range_t *r = bg_range_parse(range, NULL);

    for (int i = 0; s != NULL && r != NULL && i < BG_SLOT_COUNT; i++) {
        const cw_provide_t *q;
        if (!cw_slot_live(&s->slot[i]) || (q = cw_rev_provides(s->slot[i].rev, api)) == NULL)
            continue;
        for (size_t j = 0; j < q->n; j++) {
            bool dup = false;
            for (size_t k = 0; k < *n; k++)
                dup = dup || strcmp((*out)[k], q->texts[j]) == 0;
            if (dup || !bg_range_satisfies(r, &q->v[j]))
                continue;
            *out = bg_xrealloc(*out, (*n + 1) * sizeof(char *));
            (*out)[(*n)++] = bg_strdup(q->texts[j]);
        }
    }
    bg_range_free(r);
}

/* The target revision of <i> with <api> provided as <versions> (plus its own). */
static cw_rev_t *expanded_rev(const planner_t *p, size_t i, const char *api, char **versions,
                              size_t n)
{
    const bg_revision_config_t *base = &p->rel->entries[p->entry[i]].rev;
    bg_revision_config_t rev;
    bg_api_provide_t *pv;
    cw_rev_t *r;

    bg_revision_config_copy(&rev, base);
    pv = NULL;
    for (size_t k = 0; k < rev.api.n_provides; k++)
        if (strcmp(rev.api.provides[k].api, api) == 0)
            pv = &rev.api.provides[k];
    if (pv == NULL) {
        rev.api.provides =
            bg_xrealloc(rev.api.provides, (rev.api.n_provides + 1) * sizeof(*rev.api.provides));
        pv = &rev.api.provides[rev.api.n_provides++];
        memset(pv, 0, sizeof(*pv));
        pv->api = bg_strdup(api);
    }
    pv->versions = bg_xrealloc(pv->versions, (pv->n_versions + n + 1) * sizeof(char *));
    memmove(pv->versions + n, pv->versions, pv->n_versions * sizeof(char *));
    for (size_t k = 0; k < n; k++)
        pv->versions[k] = bg_strdup(versions[k]);
    pv->n_versions += n;
    pv->versions[pv->n_versions] = NULL;
    r = cw_rev_new(&rev, svc_name(p, i), NULL);
    bg_revision_config_fini(&rev);
    return r;
}

/* Does the release have an order once <rev> of <i> is deployed first? */
static bool verify_expand(const planner_t *p, const bg_compat_world_t *w0, size_t i, cw_rev_t *rev,
                          bg_compat_plan_t *out)
{
    planner_t q = *p;
    bg_compat_world_t *w1;
    bool ok;

    if (!step_ok(p, w0, svc_name(p, i), rev, NULL))
        return false;
    w1 = place(w0, svc_name(p, i), rev, 100);
    q.dead = bg_xcalloc((size_t)1 << p->n, 1);
    q.depth = 0;
    q.stuck = 0;
    ok = dfs(&q, w1, 0);
    free(q.dead);
    bg_compat_world_free(w1);
    if (ok) {
        bg_buf_t b;
        bg_buf_init(&b);
        for (size_t k = 0; k < q.depth; k++)
            bg_buf_printf(&b, ", then %s %s", svc_name(p, q.order[k]), q.rev[q.order[k]]->version);
        char *before = out->explanation;
        out->explanation = bg_asprintf("%s%s", before, b.data != NULL ? b.data : "");
        free(before);
        bg_buf_fini(&b);
    }
    return ok;
}

static char *major_x(const char *version)
{
    bg_semver_t v;
    char *s;

    if (bg_semver_parse(version, &v, NULL) != 0)
        return bg_strdup(version);
    s = v.major > 0 ? bg_asprintf("%llu.x", (unsigned long long)v.major)
                    : bg_asprintf("0.%llu.x", (unsigned long long)v.minor);
    bg_semver_fini(&v);
    return s;
}

static void strv_push(char ***v, size_t *n, const char *s)
{
    *v = bg_xrealloc(*v, (*n + 1) * sizeof(char *));
    (*v)[(*n)++] = bg_strdup(s);
}

/* Appends "to unblock it ... e.g. payments: [1.9.2, 2.0.0]" to the explanation. */
static void hint_text(bg_compat_plan_t *out, const char *old0, const cw_provide_t *mine)
{
    bg_buf_t list;
    char *older = major_x(old0), *before = out->explanation;

    bg_buf_init(&list);
    for (size_t j = 0; j < out->n_hint_versions; j++)
        bg_buf_printf(&list, "%s%s", j ? ", " : "", out->hint_versions[j]);
    out->explanation = bg_asprintf(
        "%s\nto unblock it (expand/contract), deploy %s providing [%s, %s] first, e.g. %s: [%s]",
        before, out->hint_service, older,
        mine != NULL && mine->n > 0 ? mine->texts[mine->n - 1] : "...", out->hint_api, list.data);
    free(before);
    free(older);
    bg_buf_fini(&list);
}

/* For the first "drops" constraint of the cycle: the provider serving the old versions
 * its live consumers need and the new ones at once, verified by a second search. */
static void expand_hint(const planner_t *p, const bg_compat_world_t *w0, const cgraph_t *g,
                        const size_t *cyc, size_t n_cyc, bg_compat_plan_t *out)
{
    for (size_t k = 0; k < n_cyc; k++) {
        const constraint_t *c = &g->v[cyc[k]];
        const cw_provide_t *mine;
        char **old = NULL, *before;
        size_t n_old = 0;
        cw_rev_t *rev;
        if (!c->drops)
            continue;
        old_versions(w0, svc_name(p, c->then), c->api, c->range, &old, &n_old);
        if (n_old == 0)
            continue;
        mine = cw_rev_provides(p->rev[c->then], c->api);
        out->hint_service = bg_strdup(svc_name(p, c->then));
        out->hint_api = bg_strdup(c->api);
        for (size_t j = 0; j < n_old; j++)
            strv_push(&out->hint_versions, &out->n_hint_versions, old[j]);
        for (size_t j = 0; mine != NULL && j < mine->n; j++)
            strv_push(&out->hint_versions, &out->n_hint_versions, mine->texts[j]);
        hint_text(out, old[0], mine);
        rev = expanded_rev(p, c->then, c->api, old, n_old);
        if (rev != NULL) {
            before = out->explanation;
            out->explanation =
                bg_asprintf("%s (as %s %s)", before, out->hint_service, rev->version);
            free(before);
            out->hint_verified = verify_expand(p, w0, c->then, rev, out);
        }
        cw_rev_unref(rev);
        for (size_t j = 0; j < n_old; j++)
            free(old[j]);
        free(old);
        return;
    }
}

/* Nothing blocks the first steps: say what blocks every step from the furthest set of
 * deployments the search reached. */
static void explain_stuck(const planner_t *p, const bg_compat_world_t *w0, bg_compat_plan_t *out,
                          bg_buf_t *b)
{
    bg_compat_world_t *w = bg_compat_world_copy(w0);
    bool first = true;

    bg_buf_puts(b, "\n  once ");
    for (size_t i = 0; i < p->n; i++) {
        bg_compat_world_t *next;
        if (!(p->stuck & (1u << i)))
            continue;
        bg_buf_printf(b, "%s%s %s", first ? "" : ", ", svc_name(p, i), p->rev[i]->version);
        first = false;
        next = place(w, svc_name(p, i), p->rev[i], 100);
        bg_compat_world_free(w);
        w = next;
    }
    bg_buf_printf(b, "%s %s live, every remaining step breaks:", first ? "nothing" : "",
                  first || __builtin_popcount(p->stuck) == 1 ? "is" : "are");
    for (size_t i = 0; i < p->n; i++)
        if (!(p->stuck & (1u << i)))
            step_ok(p, w, svc_name(p, i), p->rev[i], &out->blockers);
    bg_compat_world_free(w);
}

static void explain(planner_t *p, const bg_compat_world_t *w0, bg_compat_plan_t *out)
{
    cgraph_t g = {0};
    size_t cyc[PLAN_MAX];
    size_t n_cyc;
    bg_buf_t b;

    first_constraints(p, w0, &g, &out->blockers);
    n_cyc = find_cycle(p, &g, cyc);
    bg_buf_init(&b);
    bg_buf_puts(&b, "no order of this release keeps every intermediate state compatible:");
    if (n_cyc > 0) {
        out->cycle = bg_xcalloc(n_cyc, sizeof(*out->cycle));
        for (size_t k = 0; k < n_cyc; k++) {
            const constraint_t *c = &g.v[cyc[n_cyc - 1 - k]];
            out->cycle[k].first = bg_strdup(svc_name(p, c->first));
            out->cycle[k].then = bg_strdup(svc_name(p, c->then));
            out->cycle[k].reason = bg_strdup(c->reason);
            bg_buf_printf(&b, "\n  %s", c->reason);
        }
        out->n_cycle = n_cyc;
    }
    if (out->blockers.n_edges == 0 && n_cyc == 0)
        explain_stuck(p, w0, out, &b);
    if (n_cyc == 0)
        for (size_t k = 0; k < out->blockers.n_edges; k++)
            bg_buf_printf(&b, "\n  %s", out->blockers.edges[k].message);
    out->explanation = bg_buf_steal(&b);
    if (n_cyc > 0)
        expand_hint(p, w0, &g, cyc, n_cyc, out);
    cgraph_fini(&g);
}

/* ---- entry points -------------------------------------------------------------------- */

static int planner_init(planner_t *p, const bg_compat_world_t *w, const bg_compat_release_t *rel,
                        bg_compat_plan_t *out, bg_err_t *err)
{
    for (size_t e = 0; e < rel->n_entries; e++) {
        const char *name = rel->entries[e].service;
        cw_rev_t *r = cw_rev_new(&rel->entries[e].rev, name, err);
        if (r == NULL)
            return BG_EINVAL;
        if (unchanged(w, name, r)) {
            out->unchanged = bg_xrealloc(out->unchanged, (out->n_unchanged + 1) * sizeof(char *));
            out->unchanged[out->n_unchanged++] = bg_strdup(name);
            cw_rev_unref(r);
            continue;
        }
        if (p->n == PLAN_MAX) {
            cw_rev_unref(r);
            return bg_err_set(err, BG_EINVAL, "a release may change at most %d services", PLAN_MAX);
        }
        p->entry[p->n] = e;
        p->rev[p->n++] = r;
    }
    p->dead = bg_xcalloc((size_t)1 << p->n, 1);
    return 0;
}

int bg_compat_plan(const bg_compat_world_t *w, const bg_compat_release_t *rel,
                   const bg_compat_rules_t *rules, bg_compat_plan_t *out, bg_err_t *err)
{
    planner_t p = {.rules = rules, .rel = rel};
    int rc;

    memset(out, 0, sizeof(*out));
    bg_compat_result_init(&out->blockers);
    rc = planner_init(&p, w, rel, out, err);
    if (rc != 0)
        goto out;
    out->ok = dfs(&p, w, 0);
    if (!out->ok) {
        explain(&p, w, out);
        goto out;
    }
    out->steps = bg_xcalloc(p.depth + 1, sizeof(*out->steps));
    for (size_t k = 0; k < p.depth; k++) {
        size_t i = p.order[k];
        bg_compat_plan_step_t *s = &out->steps[out->n_steps++];
        s->service = bg_strdup(svc_name(&p, i));
        s->entry = p.entry[i];
        s->from_version = bg_strdup(live_version(w, s->service));
        s->to_version = bg_strdup(p.rev[i]->version);
        s->slot = bg_compat_world_next_slot(w, s->service);
    }
out:
    for (size_t i = 0; i < p.n; i++)
        cw_rev_unref(p.rev[i]);
    free(p.dead);
    if (rc != 0)
        bg_compat_plan_fini(out);
    return rc;
}

void bg_compat_plan_fini(bg_compat_plan_t *plan)
{
    if (plan == NULL)
        return;
    for (size_t i = 0; i < plan->n_steps; i++) {
        free(plan->steps[i].service);
        free(plan->steps[i].from_version);
        free(plan->steps[i].to_version);
    }
    free(plan->steps);
    for (size_t i = 0; i < plan->n_unchanged; i++)
        free(plan->unchanged[i]);
    free(plan->unchanged);
    for (size_t i = 0; i < plan->n_cycle; i++) {
        free(plan->cycle[i].first);
        free(plan->cycle[i].then);
        free(plan->cycle[i].reason);
    }
    free(plan->cycle);
    bg_compat_result_fini(&plan->blockers);
    free(plan->hint_service);
    free(plan->hint_api);
    for (size_t i = 0; i < plan->n_hint_versions; i++)
        free(plan->hint_versions[i]);
    free(plan->hint_versions);
    free(plan->explanation);
    memset(plan, 0, sizeof(*plan));
}

static json_t *strs(char **v, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

json_t *bg_compat_plan_to_json(const bg_compat_plan_t *plan)
{
    json_t *o = json_object(), *steps = json_array(), *cycle = json_array(), *res;

    for (size_t i = 0; i < plan->n_steps; i++) {
        const bg_compat_plan_step_t *s = &plan->steps[i];
        json_array_append_new(steps, json_pack("{s:s, s:s?, s:s, s:s}", "service", s->service,
                                               "from_version", s->from_version, "to_version",
                                               s->to_version, "slot", bg_slot_str(s->slot)));
    }
    for (size_t i = 0; i < plan->n_cycle; i++)
        json_array_append_new(cycle,
                              json_pack("{s:s, s:s, s:s}", "first", plan->cycle[i].first, "then",
                                        plan->cycle[i].then, "reason", plan->cycle[i].reason));
    res = bg_compat_result_to_json(&plan->blockers);
    json_object_set_new(o, "ok", json_boolean(plan->ok));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "unchanged", strs(plan->unchanged, plan->n_unchanged));
    json_object_set_new(o, "cycle", cycle);
    json_object_set(o, "blockers", json_object_get(res, "broken"));
    json_decref(res);
    if (plan->hint_service != NULL)
        json_object_set_new(o, "hint",
                            json_pack("{s:s, s:s, s:o, s:b}", "service", plan->hint_service, "api",
                                      plan->hint_api, "versions",
                                      strs(plan->hint_versions, plan->n_hint_versions), "verified",
                                      plan->hint_verified));
    else
        json_object_set_new(o, "hint", json_null());
    json_object_set_new(o, "explanation",
                        plan->explanation != NULL ? json_string(plan->explanation) : json_null());
    return o;
}

char *bg_compat_plan_format(const bg_compat_plan_t *plan)
{
    bg_buf_t b;

    bg_buf_init(&b);
    if (!plan->ok) {
        bg_buf_printf(&b, "%s\n", plan->explanation != NULL ? plan->explanation : "no order");
        return bg_buf_steal(&b);
    }
    if (plan->n_steps == 0)
        bg_buf_puts(&b, "nothing to deploy\n");
    for (size_t i = 0; i < plan->n_steps; i++) {
        const bg_compat_plan_step_t *s = &plan->steps[i];
        bg_buf_printf(&b, "%zu. %s %s -> %s (%s)\n", i + 1, s->service,
                      s->from_version != NULL ? s->from_version : "(new)", s->to_version,
                      bg_slot_str(s->slot));
    }
    for (size_t i = 0; i < plan->n_unchanged; i++)
        bg_buf_printf(&b, "%s already live at its target\n", plan->unchanged[i]);
    return bg_buf_steal(&b);
}
