/* Targets: address parsing, refcounts, traffic counters. */
#include <arpa/inet.h>
#include <criterion/criterion.h>

#include "route/route.h"

TestSuite(target, .timeout = 10);

Test(target, addresses)
{
    bg_err_t err;
    bg_target_t *t = bg_target_new("svc", 1, "127.0.0.1:9001", false, &err);
    cr_assert_not_null(t);
    cr_expect_eq(((struct sockaddr_in *)&t->addr)->sin_port, htons(9001));
    cr_expect_eq(t->slot, 1);
    cr_expect(!bg_target_is_healthy(t));
    bg_target_unref(t);

    t = bg_target_new("svc", 0, "[::1]:80", true, &err);
    cr_assert_not_null(t);
    cr_expect_eq(t->addr.ss_family, AF_INET6);
    bg_target_unref(t);

    t = bg_target_new("svc", 0, "localhost:8080", true, &err);
    cr_assert_not_null(t);
    bg_target_unref(t);

    const char *bad[] = {"127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":80", "[::1]80",
                         "127.0.0.1:8x", "no-such-host.invalid:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        bg_err_clear(&err);
        cr_expect_null(bg_target_new("svc", 0, bad[i], true, &err), "%s accepted", bad[i]);
        cr_expect_eq(err.code, BG_EINVAL);
        cr_expect(strstr(err.msg, bad[i]) != NULL, "message '%s' names the address", err.msg);
    }
}

Test(target, ids_unique_and_refcount)
{
    bg_target_t *a = bg_target_new("svc", 0, "127.0.0.1:1", true, NULL);
    bg_target_t *b = bg_target_new("svc", 0, "127.0.0.1:1", true, NULL);
    cr_expect_neq(a->id, b->id);
    cr_expect_eq(bg_target_ref(a), a);
    cr_expect_eq(atomic_load(&a->refs), 2);
    bg_target_unref(a);
    bg_target_unref(a);
    bg_target_unref(b);
    bg_target_unref(NULL);
}

Test(target, traffic_record_buckets)
{
    bg_traffic_stats_t s;
    memset(&s, 0, sizeof(s));
    bg_traffic_record(&s, 200, 100);
    bg_traffic_record(&s, 503, 600);
    bg_traffic_record(&s, 0, 20000000);
    cr_expect_eq(atomic_load(&s.responses[2]), 1);
    cr_expect_eq(atomic_load(&s.responses[5]), 1);
    cr_expect_eq(atomic_load(&s.responses[0]), 1);
    cr_expect_eq(atomic_load(&s.latency_bucket[0]), 1);
    cr_expect_eq(atomic_load(&s.latency_bucket[1]), 1);
    cr_expect_eq(atomic_load(&s.latency_bucket[BG_LATENCY_BUCKETS - 1]), 1);
    cr_expect_eq(atomic_load(&s.latency_us_sum), 20000700);
}
