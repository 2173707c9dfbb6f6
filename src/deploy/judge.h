/* The rollback judge (docs/design.md §5 rollback_on): sliding windows over one slot's live
 * traffic. The controller samples the slot's cumulative counters (bg_traffic_stats_t)
 * about once a second; the judge keeps the samples that cover the window and compares the
 * newest with the oldest, so a window costs a ring of small arrays, not per-request work.
 * Pure: no I/O, no clocks of its own. Thread: control.
 */
#ifndef BG_DEPLOY_JUDGE_H
#define BG_DEPLOY_JUDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "route/route-t.h"

typedef struct bg_judge bg_judge_t;

typedef struct bg_judge_verdict {
    bool breach;              /* a threshold was crossed with enough data */
    bool enough_data;         /* requests in window >= min_requests */
    uint64_t requests;        /* responses (and failures) in the window */
    uint64_t errors;          /* 5xx + failed without response */
    double error_rate;        /* errors / requests; 0 without requests */
    uint64_t p99_us;          /* upper bound of the bucket holding the 99th percentile */
    uint64_t window_ms;       /* span actually covered by the samples */
    char reason[256];         /* "error rate 7.5% > 1% (15 of 200 requests in 30s)" */
} bg_judge_verdict_t;

/* Creates a judge for <cfg> (copied). Never NULL. */
bg_judge_t *bg_judge_new(const bg_rollback_on_t *cfg);
void bg_judge_free(bg_judge_t *j);
/* Forgets all samples (e.g. when the judged slot changes). */
void bg_judge_reset(bg_judge_t *j);
/* Records the cumulative counters of <stats> at <now_ms> (monotonic). */
void bg_judge_sample(bg_judge_t *j, uint64_t now_ms, const bg_traffic_stats_t *stats);
/* Judges the current window. <unhealthy_targets> is the number of the slot's targets now
 * unhealthy (checked against cfg.unhealthy_targets when that is set). */
void bg_judge_evaluate(const bg_judge_t *j, uint32_t unhealthy_targets, bg_judge_verdict_t *out);

#endif
