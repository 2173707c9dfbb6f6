/* Rollback judge over sliding windows of cumulative counters. */
#include <criterion/criterion.h>
#include <string.h>

#include "deploy/judge.h"
#include "route/route.h"

TestSuite(judge, .timeout = 10);

static bg_traffic_stats_t stats;

static void traffic(unsigned ok, unsigned err5xx, uint64_t latency_us)
{
    for (unsigned i = 0; i < ok; i++)
        bg_traffic_record(&stats, 200, latency_us);
    for (unsigned i = 0; i < err5xx; i++)
        bg_traffic_record(&stats, 503, latency_us);
}

static bg_rollback_on_t cfg(void)
{
    bg_rollback_on_t c = {.has_error_rate = true, .error_rate = 0.01, .p99_ms = 500,
                          .min_requests = 50, .unhealthy_targets = -1, .window_ms = 10000};
    return c;
}

Test(judge, error_rate_breach_with_enough_data)
{
    memset(&stats, 0, sizeof(stats));
    bg_rollback_on_t c = cfg();
    bg_judge_t *j = bg_judge_new(&c);
    bg_judge_verdict_t v;

    bg_judge_sample(j, 1000, &stats);
    traffic(30, 3, 1000);
    bg_judge_sample(j, 2000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect(!v.enough_data, "33 < min_requests");
    cr_expect(!v.breach);
    traffic(170, 12, 1000);
    bg_judge_sample(j, 3000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect(v.enough_data);
    cr_expect_eq(v.requests, 215);
    cr_expect_eq(v.errors, 15);
    cr_expect(v.breach);
    cr_expect(strstr(v.reason, "error rate 7.0% > 1%") != NULL, "%s", v.reason);
    bg_judge_free(j);
}

Test(judge, old_errors_slide_out_of_the_window)
{
    memset(&stats, 0, sizeof(stats));
    bg_rollback_on_t c = cfg();
    bg_judge_t *j = bg_judge_new(&c);
    bg_judge_verdict_t v;

    bg_judge_sample(j, 0, &stats);
    traffic(100, 50, 1000); /* a bad burst */
    bg_judge_sample(j, 1000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect(v.breach);
    for (uint64_t t = 2000; t <= 20000; t += 1000) {
        traffic(100, 0, 1000);
        bg_judge_sample(j, t, &stats);
    }
    bg_judge_evaluate(j, 0, &v);
    cr_expect(!v.breach, "burst 19s ago is outside a 10s window: %s", v.reason);
    cr_expect_eq(v.errors, 0);
    cr_expect_geq(v.window_ms, 10000);
    cr_expect_leq(v.window_ms, 11000);
    bg_judge_free(j);
}

Test(judge, p99_latency)
{
    memset(&stats, 0, sizeof(stats));
    bg_rollback_on_t c = cfg();
    bg_judge_t *j = bg_judge_new(&c);
    bg_judge_verdict_t v;

    bg_judge_sample(j, 0, &stats);
    traffic(990, 0, 2000);
    traffic(10, 0, 700000); /* 1% slow: p99 still fast */
    bg_judge_sample(j, 1000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect(!v.breach, "%s", v.reason);
    cr_expect_eq(v.p99_us, 2500);
    traffic(0, 0, 0);
    traffic(30, 0, 700000); /* now 4% slow */
    bg_judge_sample(j, 2000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect(v.breach);
    cr_expect(strstr(v.reason, "p99 latency up to 1000ms > 500ms") != NULL, "%s", v.reason);
    bg_judge_free(j);
}

Test(judge, unhealthy_targets_need_no_traffic)
{
    memset(&stats, 0, sizeof(stats));
    bg_rollback_on_t c = cfg();
    c.unhealthy_targets = 0;
    bg_judge_t *j = bg_judge_new(&c);
    bg_judge_verdict_t v;
    bg_judge_evaluate(j, 0, &v);
    cr_expect(!v.breach);
    bg_judge_evaluate(j, 1, &v);
    cr_expect(v.breach);
    cr_expect_str_eq(v.reason, "1 unhealthy targets > 0 allowed");
    bg_judge_free(j);
}

Test(judge, failed_requests_count_as_errors)
{
    memset(&stats, 0, sizeof(stats));
    bg_rollback_on_t c = cfg();
    bg_judge_t *j = bg_judge_new(&c);
    bg_judge_verdict_t v;
    bg_judge_sample(j, 0, &stats);
    traffic(95, 0, 1000);
    for (int i = 0; i < 5; i++)
        bg_traffic_record(&stats, 0, 1000);
    bg_judge_sample(j, 1000, &stats);
    bg_judge_evaluate(j, 0, &v);
    cr_expect_eq(v.errors, 5);
    cr_expect(v.breach);
    bg_judge_free(j);
}
