/* Traffic plans (docs/design.md §5): the sequence of weights a strategy moves the new slot
 * through. Pure. Thread: any.
 */
#ifndef BG_DEPLOY_PLAN_H
#define BG_DEPLOY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

typedef struct bg_plan_step {
    uint32_t percent;   /* weight of the new slot after this step (when !pause) */
    uint32_t wait_ms;   /* watch this long before the next step */
    bool pause;         /* wait for promote (or resume) */
} bg_plan_step_t;

#define BG_PLAN_MAX_STEPS 128

/* Fills <out> (room for BG_PLAN_MAX_STEPS) with the steps of <s>; returns the count.
 * all-at-once: 100. canary {p, wait}: p (wait), 100. linear {p, every}: p, 2p, ... (each
 * followed by `every`), 100. steps: as listed, percents capped at 100 and a final 100
 * added when the list does not end at 100. */
size_t bg_plan_steps(const bg_strategy_t *s, bg_plan_step_t *out);

/* Human summary: "canary 10% for 5m, then 100%"; "0 -> 100%"; "10% every 1m to 100%". */
char *bg_plan_describe(const bg_strategy_t *s, char *out, size_t size);

#endif
