/* Traffic plans: see plan.h. */
#include "deploy/plan.h"

#include <stdio.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static size_t add(bg_plan_step_t *out, size_t n, uint32_t pct, uint32_t wait_ms, bool pause)
{
    if (n >= BG_PLAN_MAX_STEPS)
        return n;
    out[n].percent = pct > 100 ? 100 : pct;
    out[n].wait_ms = wait_ms;
    out[n].pause = pause;
    return n + 1;
}

size_t bg_plan_steps(const bg_strategy_t *s, bg_plan_step_t *out)
{
    size_t n = 0;
    uint32_t last = 0;

    switch (s->kind) {
    case BG_STRATEGY_ALL_AT_ONCE:
        return add(out, 0, 100, 0, false);
    case BG_STRATEGY_CANARY:
        n = add(out, n, s->percent, s->wait_ms, false);
        return s->percent >= 100 ? n : add(out, n, 100, 0, false);
    case BG_STRATEGY_LINEAR:
        for (uint32_t p = s->percent; p < 100 && s->percent > 0 && n < BG_PLAN_MAX_STEPS - 1;
             p += s->percent)
            n = add(out, n, p, s->every_ms, false);
        return add(out, n, 100, 0, false);
    case BG_STRATEGY_STEPS:
        for (size_t i = 0; i < s->n_steps && n < BG_PLAN_MAX_STEPS - 1; i++) {
            n = add(out, n, s->steps[i].pause ? last : s->steps[i].percent, s->steps[i].wait_ms,
                    s->steps[i].pause);
            if (!s->steps[i].pause)
                last = out[n - 1].percent;
        }
        if (last < 100 || (n > 0 && out[n - 1].pause))
            n = add(out, n, 100, 0, false);
        return n;
    }
    return add(out, 0, 100, 0, false);
}

char *bg_plan_describe(const bg_strategy_t *s, char *out, size_t size)
{
    char a[32];
    bg_plan_step_t steps[BG_PLAN_MAX_STEPS];
    size_t n, len = 0;

    switch (s->kind) {
    case BG_STRATEGY_ALL_AT_ONCE:
        snprintf(out, size, "all-at-once: 0 -> 100%%");
        return out;
    case BG_STRATEGY_CANARY:
        snprintf(out, size, "canary: %u%% for %s, then 100%%", s->percent,
                 bg_duration_format(s->wait_ms, a, sizeof(a)));
        return out;
    case BG_STRATEGY_LINEAR:
        snprintf(out, size, "linear: +%u%% every %s to 100%%", s->percent,
                 bg_duration_format(s->every_ms, a, sizeof(a)));
        return out;
    case BG_STRATEGY_STEPS:
        break;
    }
    n = bg_plan_steps(s, steps);
    len = (size_t)snprintf(out, size, "steps:");
    for (size_t i = 0; i < n && len < size; i++) {
        if (steps[i].pause)
            len += (size_t)snprintf(out + len, size - len, "%s pause", i ? " ->" : "");
        else
            len += (size_t)snprintf(out + len, size - len, "%s %u%%", i ? " ->" : "",
                                    steps[i].percent);
    }
    return out;
}
