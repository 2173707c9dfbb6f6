/* Routing snapshot: matching, slot weights, target choice. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "route/route.h"

static bg_service_stats_t *stats;

static void setup(void)
{
    stats = bg_service_stats_new();
}

static void teardown(void)
{
    bg_service_stats_unref(stats);
}

TestSuite(snapshot, .init = setup, .fini = teardown, .timeout = 10);

static const char *match(bg_route_snapshot_t *s, const char *host, const char *path)
{
    const bg_route_service_t *svc = bg_route_match(s, bg_str(host), bg_str(path));
    return svc ? svc->name : "(none)";
}

Test(snapshot, host_and_longest_prefix)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_route_snapshot_add_service(s, "any-root", NULL, "/", stats);
    bg_route_snapshot_add_service(s, "orders", "Orders.Local", "/", stats);
    bg_route_snapshot_add_service(s, "orders-api", "orders.local", "/api", stats);
    bg_route_snapshot_add_service(s, "any-static", NULL, "/static/", stats);
    bg_route_snapshot_seal(s);

    cr_expect_str_eq(match(s, "orders.local", "/api/x"), "orders-api");
    cr_expect_str_eq(match(s, "ORDERS.local:8080", "/api"), "orders-api");
    cr_expect_str_eq(match(s, "orders.local.", "/api?q=1"), "orders-api");
    cr_expect_str_eq(match(s, "orders.local", "/apix"), "orders");
    cr_expect_str_eq(match(s, "orders.local", "/static/a.css"), "orders");
    cr_expect_str_eq(match(s, "other", "/static/a.css"), "any-static");
    cr_expect_str_eq(match(s, "other", "/static"), "any-root");
    cr_expect_str_eq(match(s, "", "/"), "any-root");
    bg_route_snapshot_unref(s);
}

Test(snapshot, no_route)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_route_snapshot_add_service(s, "orders", "orders.local", "/api", stats);
    bg_route_snapshot_seal(s);
    cr_expect_str_eq(match(s, "orders.local", "/"), "(none)");
    cr_expect_str_eq(match(s, "payments.local", "/api"), "(none)");
    cr_expect_str_eq(match(s, "[::1]:80", "/api"), "(none)");
    bg_route_snapshot_unref(s);
}

Test(snapshot, weights_split_and_live_slot)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_target_t *b = bg_target_new("svc", 0, "127.0.0.1:9001", true, NULL);
    bg_target_t *g = bg_target_new("svc", 1, "127.0.0.1:9002", true, NULL);
    unsigned counts[2] = {0, 0};

    bg_route_snapshot_add_service(s, "svc", NULL, "/", stats);
    bg_route_snapshot_add_target(s, 0, 0, b);
    bg_route_snapshot_add_target(s, 0, 1, g);
    bg_route_snapshot_set_weights(s, 0, 30, 70);
    bg_route_snapshot_seal(s);
    const bg_route_service_t *svc = &s->services[0];
    cr_expect_eq(svc->live_slot, 1);
    cr_expect_eq(svc->preview_slot, 0);
    for (uint32_t r = 0; r < 10000; r++)
        counts[bg_route_pick_slot(svc, r * 2654435761u)]++;
    cr_expect(counts[0] > 2800 && counts[0] < 3200, "blue got %u of 10000", counts[0]);
    bg_target_unref(b);
    bg_target_unref(g);
    bg_route_snapshot_unref(s);
}

Test(snapshot, preview_absent_without_targets)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_target_t *b = bg_target_new("svc", 0, "127.0.0.1:9001", true, NULL);
    bg_route_snapshot_add_service(s, "svc", NULL, "/", stats);
    bg_route_snapshot_add_target(s, 0, 0, b);
    bg_route_snapshot_seal(s);
    cr_expect_eq(s->services[0].live_slot, 0);
    cr_expect_eq(s->services[0].preview_slot, -1);
    cr_expect_eq(bg_route_pick_slot(&s->services[0], 12345), 0);
    bg_target_unref(b);
    bg_route_snapshot_unref(s);
}

Test(snapshot, pick_target_least_active_healthy)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();
    bg_target_t *t[3];
    bg_route_snapshot_add_service(s, "svc", NULL, "/", stats);
    for (int i = 0; i < 3; i++) {
        char addr[32];
        snprintf(addr, sizeof(addr), "127.0.0.1:%d", 9001 + i);
        t[i] = bg_target_new("svc", 0, addr, true, NULL);
        bg_route_snapshot_add_target(s, 0, 0, t[i]);
    }
    bg_route_snapshot_seal(s);
    const bg_route_service_t *svc = &s->services[0];

    atomic_store(&t[0]->stats.active, 5);
    atomic_store(&t[1]->stats.active, 1);
    atomic_store(&t[2]->stats.active, 3);
    for (uint32_t r = 0; r < 10; r++)
        cr_expect_eq(bg_route_pick_target(svc, 0, r, NULL, 0), t[1]);
    bg_target_set_healthy(t[1], false);
    cr_expect_eq(bg_route_pick_target(svc, 0, 7, NULL, 0), t[2]);
    cr_expect_eq(bg_route_pick_target(svc, 0, 7, &t[2], 1), t[0]);
    atomic_store(&t[0]->draining, 1);
    cr_expect_null(bg_route_pick_target(svc, 0, 7, &t[2], 1));
    cr_expect_null(bg_route_pick_target(svc, 1, 7, NULL, 0));

    /* ties spread over all targets */
    unsigned hits[3] = {0, 0, 0};
    atomic_store(&t[0]->draining, 0);
    bg_target_set_healthy(t[1], true);
    for (int i = 0; i < 3; i++)
        atomic_store(&t[i]->stats.active, 0);
    for (uint32_t r = 0; r < 300; r++) {
        bg_target_t *p = bg_route_pick_target(svc, 0, r, NULL, 0);
        for (int i = 0; i < 3; i++)
            hits[i] += p == t[i];
    }
    cr_expect(hits[0] == 100 && hits[1] == 100 && hits[2] == 100);
    for (int i = 0; i < 3; i++)
        bg_target_unref(t[i]);
    bg_route_snapshot_unref(s);
}
