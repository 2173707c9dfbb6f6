/* The world the gate judges: services, their two slots, the revision in each (version and
 * API declarations, parsed once and shared) and its weight. Worlds are cheap to copy so the
 * controller can describe "the state after this step" and the planner can walk many states.
 * Nothing here does I/O or judges compatibility; that is gate.c.
 */
#include "compat/compat.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "compat/internal.h"
#include "base/compat.h"

/* ---- declarations -------------------------------------------------------------------- */

static void key_of(char *out, size_t size, const char *prefix, const char *what, const char *api)
{
    bool has = prefix != NULL && prefix[0] != '\0';

    snprintf(out, size, "%s%sapi.%s.%s", has ? prefix : "", has ? "." : "", what, api);
}

/* semver's errors carry key "range"/"version" and a column in the value; keep the message
 * (it quotes the value and names the column) and put our key path in. */
static int rekey(bg_err_t *err, const char *key)
{
    if (err != NULL)
        snprintf(err->key, sizeof(err->key), "%s", key);
    return BG_EINVAL;
}

int bg_compat_api_validate(const bg_api_config_t *api, const char *key_prefix, bg_err_t *err)
{
    char key[BG_ERR_PATH_MAX];

    for (size_t i = 0; i < api->n_provides; i++) {
        const bg_api_provide_t *p = &api->provides[i];
        for (size_t j = 0; j < p->n_versions; j++) {
            bg_semver_t v;
            if (bg_semver_parse(p->versions[j], &v, err) != 0) {
                key_of(key, sizeof(key), key_prefix, "provides", p->api);
                if (p->n_versions > 1)
                    snprintf(key + strlen(key), sizeof(key) - strlen(key), "[%zu]", j);
                return rekey(err, key);
            }
            bg_semver_fini(&v);
        }
    }
    for (size_t i = 0; i < api->n_requires; i++) {
        bg_range_t *r = bg_range_parse(api->requires[i].range, err);
        if (r == NULL) {
            key_of(key, sizeof(key), key_prefix, "requires", api->requires[i].api);
            return rekey(err, key);
        }
        bg_range_free(r);
    }
    return 0;
}

/* ---- revisions ----------------------------------------------------------------------- */

static void rev_free(cw_rev_t *r)
{
    free(r->version);
    bg_semver_fini(&r->v);
    for (size_t i = 0; i < r->n_prov; i++) {
        for (size_t j = 0; j < r->prov[i].n; j++) {
            free(r->prov[i].texts[j]);
            bg_semver_fini(&r->prov[i].v[j]);
        }
        free(r->prov[i].texts);
        free(r->prov[i].v);
        free(r->prov[i].api);
    }
    free(r->prov);
    for (size_t i = 0; i < r->n_req; i++) {
        free(r->req[i].api);
        free(r->req[i].range_text);
        bg_range_free(r->req[i].range);
    }
    free(r->req);
    free(r);
}

static void rev_fill_api(cw_rev_t *r, const bg_api_config_t *api)
{
    r->prov = bg_xcalloc(api->n_provides + 1, sizeof(*r->prov));
    for (size_t i = 0; i < api->n_provides; i++) {
        const bg_api_provide_t *p = &api->provides[i];
        cw_provide_t *q = &r->prov[r->n_prov++];
        q->api = bg_strdup(p->api);
        q->texts = bg_xcalloc(p->n_versions + 1, sizeof(char *));
        q->v = bg_xcalloc(p->n_versions + 1, sizeof(bg_semver_t));
        for (size_t j = 0; j < p->n_versions; j++) {
            q->texts[j] = bg_strdup(p->versions[j]);
            /* validated by the caller */
            BG_ASSERT(bg_semver_parse(p->versions[j], &q->v[j], NULL) == 0);
            q->n++;
        }
    }
    r->req = bg_xcalloc(api->n_requires + 1, sizeof(*r->req));
    for (size_t i = 0; i < api->n_requires; i++) {
        cw_require_t *q = &r->req[r->n_req++];
        q->api = bg_strdup(api->requires[i].api);
        q->range_text = bg_strdup(api->requires[i].range);
        q->range = bg_range_parse(q->range_text, NULL);
        BG_ASSERT(q->range != NULL);
    }
}

cw_rev_t *cw_rev_new(const bg_revision_config_t *rev, const char *service, bg_err_t *err)
{
    const char *version = rev->version != NULL ? rev->version : "0.0.0";
    bg_semver_t v;
    cw_rev_t *r;

    if (bg_semver_parse(version, &v, err) != 0) {
        char key[BG_ERR_PATH_MAX];
        snprintf(key, sizeof(key), "%s.version", service);
        rekey(err, key);
        return NULL;
    }
    if (bg_compat_api_validate(&rev->api, service, err) != 0) {
        bg_semver_fini(&v);
        return NULL;
    }
    r = BG_NEW(cw_rev_t);
    atomic_init(&r->refs, 1);
    r->version = bg_strdup(version);
    r->v = v;
    rev_fill_api(r, &rev->api);
    return r;
}

cw_rev_t *cw_rev_ref(cw_rev_t *r)
{
    if (r != NULL)
        atomic_fetch_add(&r->refs, 1);
    return r;
}

void cw_rev_unref(cw_rev_t *r)
{
    if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1)
        rev_free(r);
}

const cw_provide_t *cw_rev_provides(const cw_rev_t *r, const char *api)
{
    for (size_t i = 0; i < r->n_prov; i++)
        if (strcmp(r->prov[i].api, api) == 0)
            return &r->prov[i];
    return NULL;
}

/* ---- world --------------------------------------------------------------------------- */

bg_compat_world_t *bg_compat_world_new(void)
{
    return BG_NEW(bg_compat_world_t);
}

void bg_compat_world_free(bg_compat_world_t *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->svcs[i].name);
        for (int s = 0; s < BG_SLOT_COUNT; s++)
            cw_rev_unref(w->svcs[i].slot[s].rev);
    }
    free(w->svcs);
    free(w);
}

bg_compat_world_t *bg_compat_world_copy(const bg_compat_world_t *w)
{
    bg_compat_world_t *c = BG_NEW(bg_compat_world_t);

    c->cap = w->n > 0 ? w->n : 1;
    c->svcs = bg_xcalloc(c->cap, sizeof(*c->svcs));
    for (size_t i = 0; i < w->n; i++) {
        c->svcs[i].name = bg_strdup(w->svcs[i].name);
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            c->svcs[i].slot[s].rev = cw_rev_ref(w->svcs[i].slot[s].rev);
            c->svcs[i].slot[s].weight_pct = w->svcs[i].slot[s].weight_pct;
        }
    }
    c->n = w->n;
    return c;
}

cw_service_t *cw_find(const bg_compat_world_t *w, const char *name)
{
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->svcs[i].name, name) == 0)
            return &w->svcs[i];
    return NULL;
}

bool cw_service_provides_live(const cw_service_t *s, const char *api)
{
    for (int i = 0; i < BG_SLOT_COUNT; i++)
        if (cw_slot_live(&s->slot[i]) && cw_rev_provides(s->slot[i].rev, api) != NULL)
            return true;
    return false;
}

static cw_service_t *find_or_add(bg_compat_world_t *w, const char *name)
{
    cw_service_t *s = cw_find(w, name);

    if (s != NULL)
        return s;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->svcs = bg_xrealloc(w->svcs, w->cap * sizeof(*w->svcs));
    }
    s = &w->svcs[w->n++];
    memset(s, 0, sizeof(*s));
    s->name = bg_strdup(name);
    return s;
}

int bg_compat_world_set_slot(bg_compat_world_t *w, const char *service, bg_slot_t slot,
                             const bg_revision_config_t *rev, uint32_t weight_pct, bg_err_t *err)
{
    cw_service_t *s;
    cw_rev_t *r;

    if (weight_pct > 100)
        return bg_err_set(err, BG_EINVAL, "weight %u%% is above 100%%", weight_pct);
    r = cw_rev_new(rev, service, err);
    if (r == NULL)
        return BG_EINVAL;
    s = find_or_add(w, service);
    cw_rev_unref(s->slot[slot].rev);
    s->slot[slot].rev = r;
    s->slot[slot].weight_pct = weight_pct;
    return 0;
}

int bg_compat_world_set_weights(bg_compat_world_t *w, const char *service, uint32_t blue_pct,
                                uint32_t green_pct)
{
    cw_service_t *s = cw_find(w, service);

    if (s == NULL)
        return BG_ENOTFOUND;
    if (blue_pct > 100 || green_pct > 100)
        return BG_EINVAL;
    if ((blue_pct > 0 && s->slot[BG_SLOT_BLUE].rev == NULL) ||
        (green_pct > 0 && s->slot[BG_SLOT_GREEN].rev == NULL))
        return BG_EINVAL;
    s->slot[BG_SLOT_BLUE].weight_pct = blue_pct;
    s->slot[BG_SLOT_GREEN].weight_pct = green_pct;
    return 0;
}

void bg_compat_world_clear_slot(bg_compat_world_t *w, const char *service, bg_slot_t slot)
{
    cw_service_t *s = cw_find(w, service);

    if (s == NULL)
        return;
    cw_rev_unref(s->slot[slot].rev);
    s->slot[slot].rev = NULL;
    s->slot[slot].weight_pct = 0;
}

bg_compat_world_t *bg_compat_world_with_step(const bg_compat_world_t *w, const char *service,
                                             bg_slot_t slot, const bg_revision_config_t *rev,
                                             uint32_t weight_pct, bg_err_t *err)
{
    bg_compat_world_t *c = bg_compat_world_copy(w);
    cw_service_t *s;
    bg_slot_t other = slot == BG_SLOT_BLUE ? BG_SLOT_GREEN : BG_SLOT_BLUE;

    if (bg_compat_world_set_slot(c, service, slot, rev, weight_pct, err) != 0) {
        bg_compat_world_free(c);
        return NULL;
    }
    s = cw_find(c, service);
    s->slot[other].weight_pct = s->slot[other].rev != NULL ? 100 - weight_pct : 0;
    return c;
}

bg_compat_world_t *bg_compat_world_from_config(const bg_config_t *cfg, bg_err_t *err)
{
    bg_compat_world_t *w = bg_compat_world_new();

    for (size_t i = 0; i < cfg->n_services; i++) {
        const bg_service_config_t *svc = &cfg->services[i];
        uint32_t blue = svc->has_traffic ? svc->traffic[BG_SLOT_BLUE] : 100;
        uint32_t green = svc->has_traffic ? svc->traffic[BG_SLOT_GREEN] : 0;
        int rc = bg_compat_world_set_slot(w, svc->name, BG_SLOT_BLUE, &svc->rev, blue, err);
        if (rc == 0 && green > 0)
            rc = bg_compat_world_set_slot(w, svc->name, BG_SLOT_GREEN, &svc->rev, green, err);
        if (rc != 0) {
            bg_compat_world_free(w);
            return NULL;
        }
    }
    return w;
}

bg_slot_t bg_compat_world_next_slot(const bg_compat_world_t *w, const char *service)
{
    const cw_service_t *s = cw_find(w, service);

    if (s == NULL)
        return BG_SLOT_BLUE;
    if (s->slot[BG_SLOT_BLUE].rev == NULL && s->slot[BG_SLOT_GREEN].rev == NULL)
        return BG_SLOT_BLUE;
    return s->slot[BG_SLOT_BLUE].weight_pct >= s->slot[BG_SLOT_GREEN].weight_pct ? BG_SLOT_GREEN
                                                                                 : BG_SLOT_BLUE;
}

size_t bg_compat_world_size(const bg_compat_world_t *w)
{
    return w->n;
}

const char *bg_compat_world_service(const bg_compat_world_t *w, size_t i)
{
    return i < w->n ? w->svcs[i].name : NULL;
}

const char *bg_compat_world_version(const bg_compat_world_t *w, const char *service, bg_slot_t slot,
                                    uint32_t *weight_pct)
{
    const cw_service_t *s = cw_find(w, service);

    if (weight_pct != NULL)
        *weight_pct = s != NULL ? s->slot[slot].weight_pct : 0;
    return s != NULL && s->slot[slot].rev != NULL ? s->slot[slot].rev->version : NULL;
}
