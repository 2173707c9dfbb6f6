/* The publication point for routing snapshots. Publishing swaps one pointer under a
 * mutex; workers take the mutex only when they adopt a new snapshot (once per switch, not
 * per request), which closes the window between reading the pointer and taking a
 * reference in which a concurrent publish could free it. */
#include "route/route.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/base.h"
#include "base/compat.h"

struct bg_router {
    pthread_mutex_t lock;
    bg_route_snapshot_t *current;
    _Atomic uint64_t generation;
};

bg_router_t *bg_router_new(void)
{
    bg_router_t *r = BG_NEW(bg_router_t);
    pthread_mutex_init(&r->lock, NULL);
    return r;
}

void bg_router_free(bg_router_t *r)
{
    if (r == NULL)
        return;
    bg_route_snapshot_unref(r->current);
    r->current = NULL;
    pthread_mutex_destroy(&r->lock);
    free(r);
}

uint64_t bg_router_publish(bg_router_t *r, bg_route_snapshot_t *s)
{
    bg_route_snapshot_t *old;
    uint64_t gen;

    BG_ASSERT(s->sealed);
    pthread_mutex_lock(&r->lock);
    gen = atomic_load(&r->generation) + 1;
    s->generation = gen;
    old = r->current;
    r->current = s;
    atomic_store(&r->generation, gen);
    pthread_mutex_unlock(&r->lock);
    bg_route_snapshot_unref(old);
    return gen;
}

bg_route_snapshot_t *bg_router_acquire(bg_router_t *r)
{
    bg_route_snapshot_t *s;

    pthread_mutex_lock(&r->lock);
    s = r->current ? bg_route_snapshot_ref(r->current) : NULL;
    pthread_mutex_unlock(&r->lock);
    return s;
}

uint64_t bg_router_generation(bg_router_t *r)
{
    return atomic_load(&r->generation);
}
