/* Prometheus text exposition (format 0.0.4) of the data plane's counters: per service and
 * slot (bg_service_stats_t, weights), per target (bg_target_t.stats, health, upstream
 * connections) and process-wide client connections. Names and labels are those of
 * docs/admin-api.md. The renderer only reads relaxed atomics: it never locks and never
 * blocks the workers; a scrape sees each counter at some moment during the scrape.
 * Thread: any (the caller keeps the borrowed views alive for the call).
 */
#ifndef BG_METRICS_METRICS_H
#define BG_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "route/route-t.h"

/* One slot of a service as the control thread sees it now. Everything is borrowed. */
typedef struct bg_metrics_slot {
    uint32_t weight_pct;
    bg_target_t *const *targets;
    size_t n_targets;
} bg_metrics_slot_t;

typedef struct bg_metrics_service {
    const char *name;
    const bg_service_stats_t *stats;
    bg_metrics_slot_t slot[2]; /* by bg_slot_t */
    bool has_switch;           /* a verified traffic switch happened */
    double last_switch_ms;     /* how long its workers took to adopt it */
} bg_metrics_service_t;

/* Appends the whole exposition for <n> services to <out>: every family once, with its
 * HELP and TYPE lines, samples grouped under it. */
void bg_metrics_render(bg_buf_t *out, const bg_metrics_service_t *services, size_t n,
                       uint64_t client_connections);

/* Appends <value> escaped for a label value (backslash, double quote, newline). */
void bg_metrics_escape_label(bg_buf_t *out, const char *value);

/* Appends <us> microseconds as seconds in the shortest exact decimal form ("0.0005", "10"). */
void bg_metrics_format_seconds(bg_buf_t *out, uint64_t us);

#endif
