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
    svc.slot[BG_SLOT_BLUE] = (bg_metrics_slot_t){80, blues, 1, "1.0.0", NULL};
    svc.slot[BG_SLOT_GREEN] = (bg_metrics_slot_t){20, greens, 1, "2.0.0", NULL};
    svc.has_switch = true;
    svc.last_switch_ms = 1.5;

    bg_buf_init(&out);
    bg_metrics_render(&out, &svc, 1, 17);
    cr_assert(prom_parse(out.data, &p), "%s\n%s", p.err, out.data);

    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=1.0.0,class=2xx"), 3);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=1.0.0,class=5xx"), 1);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=1.0.0,class=failed"), 1);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=green,version=2.0.0,class=4xx"), 1);
    cr_assert_eq(prom_count(&p, "bluegreen_requests_total"), 12);

    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,version=1.0.0,le=0.0005"),
        3);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,version=1.0.0,le=2.5"), 4);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,version=1.0.0,le=10"), 4);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,version=1.0.0,le=+Inf"),
        5);
    cr_assert_eq(get(&p, "bluegreen_request_duration_seconds_count", "service=orders,slot=blue,version=1.0.0"),
                 5);
    cr_assert_float_eq(
        get(&p, "bluegreen_request_duration_seconds_sum", "service=orders,slot=blue,version=1.0.0"), 22.0009,
        1e-9);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=green,version=2.0.0,le=0.005"),
        0);
    cr_assert_eq(
        get(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=green,version=2.0.0,le=0.01"),
        2);

    cr_assert_eq(get(&p, "bluegreen_bytes_total", "service=orders,slot=blue,version=1.0.0,direction=in"), 1234);
    cr_assert_eq(get(&p, "bluegreen_bytes_total", "service=orders,slot=blue,version=1.0.0,direction=out"), 5678);
    cr_assert_eq(get(&p, "bluegreen_active_requests", "service=orders,slot=green,version=2.0.0"), 2);
    cr_assert_float_eq(get(&p, "bluegreen_slot_weight_ratio", "service=orders,slot=blue,version=1.0.0"),
                       0.8, 1e-9);
    cr_assert_float_eq(
        get(&p, "bluegreen_slot_weight_ratio", "service=orders,slot=green,version=2.0.0"), 0.2, 1e-9);
    cr_assert_eq(get(&p, "bluegreen_no_target_total", "service=orders"), 4);
    cr_assert_eq(get(&p, "bluegreen_target_up", "service=orders,slot=blue,version=1.0.0,target=127.0.0.1:9001"),
                 1);
    cr_assert_eq(get(&p, "bluegreen_target_up", "service=orders,slot=green,version=2.0.0,target=127.0.0.1:9002"),
                 0);
    cr_assert_eq(
        get(&p, "bluegreen_target_connections", "service=orders,slot=blue,version=1.0.0,target=127.0.0.1:9001"),
        3);
    cr_assert_eq(get(&p, "bluegreen_target_requests_total",
                     "service=orders,slot=blue,version=1.0.0,target=127.0.0.1:9001,class=2xx"),
                 3);
    cr_assert_eq(get(&p, "bluegreen_client_connections", ""), 17);
    cr_assert_float_eq(get(&p, "bluegreen_last_switch_seconds", "service=orders"), 0.0015, 1e-9);

    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=succeeded"), 0);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_count", "service=orders"), 0);

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

Test(metrics, new_version_series_start_at_zero_and_controller_counters)
{
    bg_service_stats_t *stats = bg_service_stats_new();
    bg_traffic_stats_t base;
    bg_metrics_deploys_t deploys = {0};
    bg_metrics_switches_t sw = {0};
    bg_metrics_service_t svc = {.name = "orders", .stats = stats, .deploys = &deploys,
                                .switches = &sw};
    bg_buf_t out;
    prom_t p;

    memset(&base, 0, sizeof(base));
    for (int i = 0; i < 5; i++)
        bg_traffic_record(&stats->slot[BG_SLOT_GREEN], 200, 300);
    /* 3.0.0 takes green: what 2.0.0 served becomes the base. */
    atomic_store(&base.responses[2], 5);
    atomic_store(&base.latency_bucket[0], 5);
    atomic_store(&base.latency_us_sum, 1500);
    bg_traffic_record(&stats->slot[BG_SLOT_GREEN], 500, 300);
    svc.slot[BG_SLOT_GREEN] = (bg_metrics_slot_t){100, NULL, 0, "3.0.0", &base};
    deploys.results[0] = 2; /* succeeded */
    deploys.results[1] = 1; /* rolled_back */
    deploys.rollbacks[BG_METRICS_RB_ROLLBACK_ON] = 1;
    deploys.gate_refusals[BG_METRICS_GATE_ROLLBACK] = 3;
    bg_metrics_switch_record(&sw, 0.4); /* 0.0004 s: first bucket */
    bg_metrics_switch_record(&sw, 30);  /* 0.03 s: le=0.05 */
    bg_metrics_switch_record(&sw, 5000); /* past 1 s: +Inf only */

    bg_buf_init(&out);
    bg_metrics_render(&out, &svc, 1, 0);
    bg_metrics_render_build_info(&out, "9.9.9");
    cr_assert(prom_parse(out.data, &p), "%s\n%s", p.err, out.data);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=green,version=3.0.0,class=2xx"),
                 0);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=green,version=3.0.0,class=5xx"),
                 1);
    cr_assert_eq(get(&p, "bluegreen_request_duration_seconds_count",
                     "service=orders,slot=green,version=3.0.0"),
                 1);
    cr_assert_float_eq(get(&p, "bluegreen_request_duration_seconds_sum",
                           "service=orders,slot=green,version=3.0.0"),
                       0.0003, 1e-9);
    cr_assert_eq(get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=,class=2xx"),
                 0);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=succeeded"), 2);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=rolled_back"), 1);
    cr_assert_eq(get(&p, "bluegreen_deployments_total", "service=orders,result=aborted"), 0);
    cr_assert_eq(get(&p, "bluegreen_rollbacks_total", "service=orders,reason=rollback_on"), 1);
    cr_assert_eq(prom_count(&p, "bluegreen_rollbacks_total"), BG_METRICS_RB_COUNT);
    cr_assert_eq(get(&p, "bluegreen_gate_refusals_total", "service=orders,check=rollback"), 3);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=0.0005"), 1);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=0.025"), 1);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=0.05"), 2);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=1"), 2);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_bucket", "service=orders,le=+Inf"), 3);
    cr_assert_eq(get(&p, "bluegreen_switch_duration_seconds_count", "service=orders"), 3);
    cr_assert_float_eq(get(&p, "bluegreen_switch_duration_seconds_sum", "service=orders"), 5.0304,
                       1e-6);
    cr_assert_eq(get(&p, "bluegreen_build_info", "version=9.9.9"), 1);
    prom_fini(&p);
    bg_buf_fini(&out);
    bg_service_stats_unref(stats);
}
