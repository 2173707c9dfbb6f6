/* Prometheus rendering: format checked line by line by promparse, values against the
 * counters recorded, label escaping, seconds formatting. The checker itself is tested on
 * broken inputs, so a pass means something.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "base/base.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "promparse.h"
#include "route/route.h"

static double get(const prom_t *p, const char *name, const char *labels)
{
    bool found;
    double v = prom_get(p, name, labels, &found);
    cr_assert(found, "missing %s{%s}", name, labels);
    return v;
}

Test(metrics, renders_parsable_text_with_matching_values)
{
    bg_service_stats_t *stats = bg_service_stats_new();
    bg_target_t *blue = bg_target_new("orders", BG_SLOT_BLUE, "127.0.0.1:9001", true, NULL);
    bg_target_t *green = bg_target_new("orders", BG_SLOT_GREEN, "127.0.0.1:9002", false, NULL);
    bg_target_t *blues[1] = {blue}, *greens[1] = {green};
    bg_metrics_service_t svc = {.name = "orders", .stats = stats};
    bg_buf_t out;
    prom_t p;

    cr_assert_not_null(blue);
    /* 3 fast 2xx, 1 slow 5xx and one failed on blue; 2 on green. */
    for (int i = 0; i < 3; i++) {
        bg_traffic_record(&stats->slot[BG_SLOT_BLUE], 200, 300);
        bg_traffic_record(&blue->stats, 200, 300);
    }
    bg_traffic_record(&stats->slot[BG_SLOT_BLUE], 503, 2000000);
    bg_traffic_record(&stats->slot[BG_SLOT_BLUE], 0, 20000000);
    bg_traffic_record(&stats->slot[BG_SLOT_GREEN], 404, 7000);
    bg_traffic_record(&stats->slot[BG_SLOT_GREEN], 301, 7000);
    atomic_store_explicit(&stats->slot[BG_SLOT_BLUE].bytes_in, 1234, memory_order_relaxed);
    atomic_store_explicit(&stats->slot[BG_SLOT_BLUE].bytes_out, 5678, memory_order_relaxed);
    atomic_store_explicit(&stats->slot[BG_SLOT_GREEN].active, 2, memory_order_relaxed);
    atomic_store_explicit(&stats->no_target, 4, memory_order_relaxed);
    atomic_store_explicit(&blue->conns, 3, memory_order_relaxed);
    svc.slot[BG_SLOT_BLUE] = (bg_metrics_slot_t){80, blues, 1};
    svc.slot[BG_SLOT_GREEN] = (bg_metrics_slot_t){20, greens, 1};
    svc.has_switch = true;
    svc.last_switch_ms = 1.5;

    bg_buf_init(&out);
    bg_metrics_render(&out, &svc, 1, 17);
    cr_assert(prom_parse(out.data, &p), "%s\n%s", p.err, out.data);

    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,class=2xx"), 3);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,class=5xx"), 1);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,class=failed"), 1);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=green,class=4xx"), 1);
    cr_assert_eq(prom_count(&p, "bluegreen_requests_total"), 12);

    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,le=0.0005"),
        3);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,le=2.5"), 4);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,le=10"), 4);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,le=+Inf"),
        5);
    cr_assert_eq(get(&p, "bluegreen_request_duration_seconds_count", "service=orders,slot=blue"),
                 5);
    cr_assert_float_eq(
        get(&p, "bluegreen_request_duration_seconds_sum", "service=orders,slot=blue"), 22.0009,
        1e-9);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=green,le=0.005"),
        0);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=green,le=0.01"),
        2);

    cr_assert_eq(get(&p, "bluegreen_bytes_total", "service=orders,slot=blue,direction=in"), 1234);
    cr_assert_eq(get(&p, "bluegreen_bytes_total", "service=orders,slot=blue,direction=out"), 5678);
    cr_assert_eq(get(&p, "bluegreen_active_requests", "service=orders,slot=green"), 2);
    cr_assert_eq(get(&p, "bluegreen_slot_weight", "service=orders,slot=blue"), 80);
    cr_assert_eq(get(&p, "bluegreen_slot_weight", "service=orders,slot=green"), 20);
    cr_assert_eq(get(&p, "bluegreen_no_target_total", "service=orders"), 4);
    cr_assert_eq(get(&p, "bluegreen_target_up", "service=orders,slot=blue,target=127.0.0.1:9001"),
                 1);
    cr_assert_eq(get(&p, "bluegreen_target_up", "service=orders,slot=green,target=127.0.0.1:9002"),
                 0);
    cr_assert_eq(
        get(&p, "bluegreen_target_connections", "service=orders,slot=blue,target=127.0.0.1:9001"),
        3);
    cr_assert_eq(get(&p, "bluegreen_target_requests_total",
                     "service=orders,slot=blue,target=127.0.0.1:9001,class=2xx"),
                 3);
    cr_assert_eq(get(&p, "bluegreen_client_connections", ""), 17);
    cr_assert_float_eq(get(&p, "bluegreen_last_switch_seconds", "service=orders"), 0.0015, 1e-9);

    prom_fini(&p);
    bg_buf_fini(&out);
    bg_target_unref(blue);
    bg_target_unref(green);
    bg_service_stats_unref(stats);
}

Test(metrics, no_services_still_declares_families)
{
    bg_buf_t out;
    prom_t p;

    bg_buf_init(&out);
    bg_metrics_render(&out, NULL, 0, 0);
    cr_assert(prom_parse(out.data, &p), "%s", p.err);
    cr_assert(strstr(out.data, "# TYPE bluegreen_request_duration_seconds histogram\n") != NULL);
    cr_assert_eq(p.n, 1);
    prom_fini(&p);
    bg_buf_fini(&out);
}

Test(metrics, label_values_are_escaped)
{
    bg_buf_t out;
    prom_t p;
    bg_service_stats_t *stats = bg_service_stats_new();
    bg_metrics_service_t svc = {.name = "we\"ird\\na\nme", .stats = stats};

    bg_buf_init(&out);
    bg_metrics_escape_label(&out, "a\"b\\c\nd");
    cr_assert_str_eq(out.data, "a\\\"b\\\\c\\nd");
    bg_buf_reset(&out);
    bg_metrics_render(&out, &svc, 1, 0);
    cr_assert(prom_parse(out.data, &p), "%s\n%s", p.err, out.data);
    cr_assert_eq(get(&p, "bluegreen_no_target_total", "service=we\"ird\\na\nme"), 0);
    prom_fini(&p);
    bg_buf_fini(&out);
    bg_service_stats_unref(stats);
}

Test(metrics, seconds_are_exact)
{
    static const struct {
        uint64_t us;
        const char *s;
    } cases[] = {{0, "0"},         {500, "0.0005"}, {1000, "0.001"},          {2500000, "2.5"},
                 {10000000, "10"}, {1, "0.000001"}, {123456789, "123.456789"}};
    bg_buf_t out;

    bg_buf_init(&out);
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        bg_buf_reset(&out);
        bg_metrics_format_seconds(&out, cases[i].us);
        cr_assert_str_eq(out.data, cases[i].s);
    }
    bg_buf_fini(&out);
}

Test(promparse, rejects_broken_exposition)
{
    static const char *const bad[] = {
        "x_total 1\n",                                    /* no HELP/TYPE */
        "# HELP x h\n# TYPE x counter\nx{a=\"b} 1\n",     /* unterminated */
        "# HELP x h\n# TYPE x counter\nx{a=\"\\q\"} 1\n", /* bad escape */
        "# HELP x h\n# TYPE x counter\nx one\n",          /* bad value */
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\n"
        "h_bucket{le=\"+Inf\"} 5\nh_count 5\n",                                 /* not cumulative */
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_count 5\n",    /* no +Inf */
        "# HELP h h\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 5\nh_count 4\n", /* count */
        "# HELP x h\n# TYPE x gauge\nx 1\n# HELP y h\n# TYPE y gauge\ny 1\n"
        "# HELP x h\n",                    /* split family */
        "# HELP x h\n# TYPE x gauge\nx 1", /* no final newline */
    };
    prom_t p;

    for (size_t i = 0; i < BG_ARRAY_LEN(bad); i++) {
        cr_assert_not(prom_parse(bad[i], &p), "case %zu accepted", i);
        prom_fini(&p);
    }
}
