/* The routing snapshot: built once by the control thread, sealed, then read by every
 * worker without locks until its last reference goes. Matching is a linear scan over a
 * list sorted so that the first hit is the right one (host-specific before any-host,
 * longer prefix first): services number in the tens, and a scan of a few cache lines
 * beats a trie at that size. */
#include "route/route.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

bg_route_snapshot_t *bg_route_snapshot_new(void)
{
    bg_route_snapshot_t *s = BG_NEW(bg_route_snapshot_t);
    atomic_init(&s->refs, 1);
    return s;
}

/* Host names compare case-insensitively and without a port: stored lower-cased. */
static char *host_normalise(const char *host)
{
    char *h = bg_strdup(host);
    char *colon = h[0] == '[' ? strstr(h, "]:") : strrchr(h, ':');

    if (colon != NULL)
        colon[h[0] == '[' ? 1 : 0] = '\0';
    for (char *p = h; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p + 32);
    return h;
}

bg_route_service_t *bg_route_snapshot_add_service(bg_route_snapshot_t *s, const char *name,
                                                  const char *host, const char *prefix,
                                                  bg_service_stats_t *stats)
{
    bg_route_service_t *svc;

    BG_ASSERT(!s->sealed);
    s->services = bg_xrealloc(s->services, (s->n_services + 1) * sizeof(*s->services));
    svc = &s->services[s->n_services++];
    memset(svc, 0, sizeof(*svc));
    svc->name = bg_strdup(name);
    if (host != NULL && host[0] != '\0') {
        svc->host = host_normalise(host);
        svc->host_len = strlen(svc->host);
    }
    svc->prefix = bg_strdup(prefix != NULL && prefix[0] == '/' ? prefix : "/");
    svc->prefix_len = strlen(svc->prefix);
    svc->slot[0].weight = 100;
    svc->live_slot = 0;
    svc->preview_slot = -1;
    svc->stats = bg_service_stats_ref(stats);
    return svc;
}

void bg_route_snapshot_add_target(bg_route_snapshot_t *s, size_t svc_index, int slot,
                                  bg_target_t *t)
{
    bg_route_slot_t *sl;

    BG_ASSERT(!s->sealed && svc_index < s->n_services && (slot == 0 || slot == 1));
    sl = &s->services[svc_index].slot[slot];
    sl->targets = bg_xrealloc(sl->targets, (sl->n_targets + 1) * sizeof(*sl->targets));
    sl->targets[sl->n_targets++] = bg_target_ref(t);
}

void bg_route_snapshot_set_weights(bg_route_snapshot_t *s, size_t svc_index, uint32_t blue,
                                   uint32_t green)
{
    BG_ASSERT(!s->sealed && svc_index < s->n_services && blue + green == 100);
    s->services[svc_index].slot[0].weight = blue;
    s->services[svc_index].slot[1].weight = green;
}

static int service_order(const void *a, const void *b)
{
    const bg_route_service_t *x = a, *y = b;

    if ((x->host == NULL) != (y->host == NULL))
        return x->host == NULL ? 1 : -1;
    if (x->prefix_len != y->prefix_len)
        return x->prefix_len > y->prefix_len ? -1 : 1;
    return strcmp(x->name, y->name);
}

void bg_route_snapshot_seal(bg_route_snapshot_t *s)
{
    BG_ASSERT(!s->sealed);
    for (size_t i = 0; i < s->n_services; i++) {
        bg_route_service_t *svc = &s->services[i];
        svc->live_slot = svc->slot[1].weight > svc->slot[0].weight ? 1 : 0;
        svc->preview_slot = svc->slot[1 - svc->live_slot].n_targets > 0 ? 1 - svc->live_slot : -1;
    }
    if (s->n_services > 1)
        qsort(s->services, s->n_services, sizeof(*s->services), service_order);
    s->sealed = true;
}

bg_route_snapshot_t *bg_route_snapshot_ref(bg_route_snapshot_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

static void service_fini(bg_route_service_t *svc)
{
    for (int sl = 0; sl < 2; sl++) {
        for (size_t i = 0; i < svc->slot[sl].n_targets; i++)
            bg_target_unref(svc->slot[sl].targets[i]);
        free(svc->slot[sl].targets);
    }
    bg_service_stats_unref(svc->stats);
    free((char *)svc->name);
    free((char *)svc->host);
    free((char *)svc->prefix);
}

void bg_route_snapshot_unref(bg_route_snapshot_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->n_services; i++)
        service_fini(&s->services[i]);
    free(s->services);
    free(s);
}

/* The Host value without its port, compared case-insensitively with the stored name. */
static bool host_matches(const bg_route_service_t *svc, bg_str_t host)
{
    size_t n = host.len;

    if (n > 0 && host.ptr[0] == '[') {
        const char *close = memchr(host.ptr, ']', n);
        n = close ? (size_t)(close - host.ptr) + 1 : n;
    } else {
        const char *colon = memchr(host.ptr, ':', n);
        n = colon ? (size_t)(colon - host.ptr) : n;
    }
    if (n > 0 && host.ptr[n - 1] == '.') /* absolute FQDN form "example.com." */
        n--;
    return bg_str_case_eq((bg_str_t){host.ptr, n}, (bg_str_t){svc->host, svc->host_len});
}

/* Prefix match on segment boundaries: "/api" matches "/api", "/api/x", "/api?q" only. */
static bool prefix_matches(const bg_route_service_t *svc, bg_str_t path)
{
    size_t n = svc->prefix_len;

    if (path.len < n || memcmp(path.ptr, svc->prefix, n) != 0)
        return false;
    if (svc->prefix[n - 1] == '/' || path.len == n)
        return true;
    return path.ptr[n] == '/' || path.ptr[n] == '?';
}

const bg_route_service_t *bg_route_match(const bg_route_snapshot_t *s, bg_str_t host,
                                         bg_str_t path)
{
    for (size_t i = 0; i < s->n_services; i++) {
        const bg_route_service_t *svc = &s->services[i];
        if (svc->host != NULL && !host_matches(svc, host))
            continue;
        if (prefix_matches(svc, path))
            return svc;
    }
    return NULL;
}

int bg_route_pick_slot(const bg_route_service_t *svc, uint32_t rnd)
{
    uint32_t blue = svc->slot[0].weight, green = svc->slot[1].weight;

    if (blue + green == 0)
        return -1;
    return rnd % (blue + green) < blue ? 0 : 1;
}

static bool excluded(const bg_target_t *t, bg_target_t *const *exclude, size_t n_exclude)
{
    for (size_t i = 0; i < n_exclude; i++)
        if (exclude[i] == t)
            return true;
    return false;
}

bg_target_t *bg_route_pick_target(const bg_route_service_t *svc, int slot, uint32_t rnd,
                                  bg_target_t *const *exclude, size_t n_exclude)
{
    const bg_route_slot_t *sl = &svc->slot[slot];
    bg_target_t *best = NULL;
    int64_t best_active = INT64_MAX;
    size_t n = sl->n_targets;

    if (n == 0)
        return NULL;
    /* Start at a random index so that ties spread evenly instead of piling on target 0. */
    for (size_t k = 0, i = rnd % n; k < n; k++, i = (i + 1 == n) ? 0 : i + 1) {
        bg_target_t *t = sl->targets[i];
        int64_t active;
        if (!bg_target_is_healthy(t) || atomic_load_explicit(&t->draining, memory_order_relaxed))
            continue;
        if (n_exclude > 0 && excluded(t, exclude, n_exclude))
            continue;
        active = atomic_load_explicit(&t->stats.active, memory_order_relaxed);
        if (active < best_active) {
            best = t;
            best_active = active;
        }
    }
    return best;
}
