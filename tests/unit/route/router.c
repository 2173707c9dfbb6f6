/* Router: publication and concurrent acquisition. */
#include <criterion/criterion.h>
#include <pthread.h>

#include "route/route.h"

TestSuite(router, .timeout = 20);

static bg_route_snapshot_t *make(bg_service_stats_t *st, uint32_t blue)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_route_snapshot_add_service(s, "svc", NULL, "/", st);
    bg_route_snapshot_set_weights(s, 0, blue, 100 - blue);
    bg_route_snapshot_seal(s);
    return s;
}

Test(router, publish_generations)
{
    bg_router_t *r = bg_router_new();
    bg_service_stats_t *st = bg_service_stats_new();
    cr_expect_null(bg_router_acquire(r));
    cr_expect_eq(bg_router_generation(r), 0);
    cr_expect_eq(bg_router_publish(r, make(st, 100)), 1);
    bg_route_snapshot_t *a = bg_router_acquire(r);
    cr_expect_eq(a->generation, 1);
    cr_expect_eq(bg_router_publish(r, make(st, 0)), 2);
    /* the old snapshot stays valid for its holder */
    cr_expect_eq(a->services[0].slot[0].weight, 100);
    bg_route_snapshot_unref(a);
    a = bg_router_acquire(r);
    cr_expect_eq(a->services[0].slot[1].weight, 100);
    bg_route_snapshot_unref(a);
    bg_router_free(r);
    bg_service_stats_unref(st);
}

struct race {
    bg_router_t *r;
    _Atomic int stop;
    unsigned long seen;
};

static void *reader(void *arg)
{
    struct race *x = arg;
    uint64_t last = 0;
    while (!atomic_load(&x->stop)) {
        bg_route_snapshot_t *s = bg_router_acquire(x->r);
        if (s != NULL) {
            cr_assert(s->generation >= last);
            last = s->generation;
            cr_assert_eq(s->services[0].slot[0].weight + s->services[0].slot[1].weight, 100);
            bg_route_snapshot_unref(s);
            x->seen++;
        }
    }
    return NULL;
}

/* Readers acquiring while the control thread publishes never see a freed or torn snapshot
 * (ASan would report a use after free). */
Test(router, concurrent_acquire_publish)
{
    struct race x = {.r = bg_router_new()};
    bg_service_stats_t *st = bg_service_stats_new();
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, reader, &x);
    for (uint32_t i = 0; i < 20000; i++)
        bg_router_publish(x.r, make(st, i % 101));
    atomic_store(&x.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    cr_expect_eq(bg_router_generation(x.r), 20000);
    bg_router_free(x.r);
    bg_service_stats_unref(st);
}
