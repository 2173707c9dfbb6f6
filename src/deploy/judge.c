/* Sliding-window rollback judge: see judge.h. */
#include "deploy/judge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "route/route.h"
#include "base/compat.h"

#define JUDGE_MAX_SAMPLES 4096 /* bounds memory for very long windows sampled fast */

typedef struct sample {
    uint64_t at_ms;
    uint64_t responses[6];
    uint64_t buckets[BG_LATENCY_BUCKETS];
} sample_t;

struct bg_judge {
    bg_rollback_on_t cfg;
    sample_t *ring;
    size_t cap, head, n; /* head: index of the oldest sample */
};

bg_judge_t *bg_judge_new(const bg_rollback_on_t *cfg)
{
    bg_judge_t *j = BG_NEW(bg_judge_t);

    j->cfg = *cfg;
    if (j->cfg.window_ms == 0)
        j->cfg.window_ms = 30000;
    /* one sample a second over the window, plus slack for jittery sampling */
    j->cap = j->cfg.window_ms / 250 + 8;
    if (j->cap > JUDGE_MAX_SAMPLES)
        j->cap = JUDGE_MAX_SAMPLES;
    j->ring = bg_xcalloc(j->cap, sizeof(sample_t));
    return j;
}

void bg_judge_free(bg_judge_t *j)
{
    if (j == NULL)
        return;
    free(j->ring);
    free(j);
}

void bg_judge_reset(bg_judge_t *j)
{
    j->head = j->n = 0;
}

static const sample_t *nth(const bg_judge_t *j, size_t i)
{
    return &j->ring[(j->head + i) % j->cap];
}

void bg_judge_sample(bg_judge_t *j, uint64_t now_ms, const bg_traffic_stats_t *stats)
{
    sample_t *s;

    if (j->n == j->cap) {
        j->head = (j->head + 1) % j->cap;
        j->n--;
    }
    s = &j->ring[(j->head + j->n) % j->cap];
    j->n++;
    s->at_ms = now_ms;
    for (int i = 0; i < 6; i++)
        s->responses[i] = atomic_load_explicit(&stats->responses[i], memory_order_relaxed);
    for (int i = 0; i < BG_LATENCY_BUCKETS; i++)
        s->buckets[i] = atomic_load_explicit(&stats->latency_bucket[i], memory_order_relaxed);
    /* Drop samples older than the window, keeping one at or before its start so that the
     * window is covered whole. */
    while (j->n >= 2 && now_ms - nth(j, 1)->at_ms >= j->cfg.window_ms) {
        j->head = (j->head + 1) % j->cap;
        j->n--;
    }
}

static uint64_t p99_of(const sample_t *old, const sample_t *new, uint64_t total)
{
    uint64_t need = total - total / 100; /* ceil(0.99 * total) for integers */
    uint64_t seen = 0;

    if (total == 0)
        return 0;
    for (int b = 0; b < BG_LATENCY_BUCKETS; b++) {
        seen += new->buckets[b] - old->buckets[b];
        if (seen >= need)
            return bg_latency_bounds_us[b];
    }
    return bg_latency_bounds_us[BG_LATENCY_BUCKETS - 1];
}

static void fmt_window(uint64_t ms, char *out, size_t size)
{
    bg_duration_format(ms, out, size);
}

void bg_judge_evaluate(const bg_judge_t *j, uint32_t unhealthy_targets, bg_judge_verdict_t *out)
{
    const bg_rollback_on_t *c = &j->cfg;
    char win[32];

    memset(out, 0, sizeof(*out));
    if (c->unhealthy_targets >= 0 && unhealthy_targets > (uint32_t)c->unhealthy_targets) {
        out->breach = true;
        snprintf(out->reason, sizeof(out->reason), "%u unhealthy targets > %d allowed",
                 unhealthy_targets, c->unhealthy_targets);
    }
    if (j->n < 2)
        return;
    const sample_t *old = nth(j, 0), *new = nth(j, j->n - 1);
    for (int i = 0; i < 6; i++)
        out->requests += new->responses[i] - old->responses[i];
    out->errors = (new->responses[5] - old->responses[5]) + (new->responses[0] - old->responses[0]);
    out->window_ms = new->at_ms - old->at_ms;
    out->error_rate = out->requests ? (double)out->errors / (double)out->requests : 0.0;
    out->p99_us = p99_of(old, new, out->requests);
    out->enough_data = out->requests >= c->min_requests && out->requests > 0;
    if (out->breach || !out->enough_data)
        return;
    fmt_window(out->window_ms, win, sizeof(win));
    if (c->has_error_rate && out->error_rate > c->error_rate) {
        out->breach = true;
        snprintf(out->reason, sizeof(out->reason),
                 "error rate %.1f%% > %.4g%% (%llu of %llu requests in %s)",
                 out->error_rate * 100.0, c->error_rate * 100.0, (unsigned long long)out->errors,
                 (unsigned long long)out->requests, win);
    } else if (c->p99_ms > 0 && out->p99_us > (uint64_t)c->p99_ms * 1000u) {
        out->breach = true;
        if (out->p99_us == UINT64_MAX)
            snprintf(out->reason, sizeof(out->reason), "p99 latency > 10s > %ums (%llu requests in %s)",
                     c->p99_ms, (unsigned long long)out->requests, win);
        else
            snprintf(out->reason, sizeof(out->reason),
                     "p99 latency up to %llums > %ums (%llu requests in %s)",
                     (unsigned long long)(out->p99_us / 1000), c->p99_ms,
                     (unsigned long long)out->requests, win);
    }
}
