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
    /* The revision serving in the slot ("" or NULL: none): every slot and target series
     * carries it as the `version` label. */
    const char *version;
    /* The slot's counters at the moment <version> took the slot, subtracted from the live
     * ones so that a version's series start at 0 and never mix revisions; NULL: none. */
    const bg_traffic_stats_t *base;
} bg_metrics_slot_t;

/* Deployment results, by bg_deploy_result_t - 1 (succeeded .. aborted). */
#define BG_METRICS_RESULTS 5

/* Why a deployment rolled back (label `reason` of bluegreen_rollbacks_total). */
typedef enum bg_metrics_rollback {
    BG_METRICS_RB_STARTUP_TIMEOUT = 0, /* the new targets never became healthy */
    BG_METRICS_RB_HOOK = 1,            /* a test or check hook failed */
    BG_METRICS_RB_ROLLBACK_ON = 2,     /* the judge: error rate / p99 past rollback_on */
    BG_METRICS_RB_GATE = 3,            /* the compatibility gate refused the next step */
    BG_METRICS_RB_MANUAL = 4,          /* `bluegreen rollback` */
    BG_METRICS_RB_ABORT = 5,           /* `bluegreen abort` */
    BG_METRICS_RB_ERROR = 6,           /* scale-up or state store failure */
    BG_METRICS_RB_COUNT = 7,
} bg_metrics_rollback_t;
const char *bg_metrics_rollback_str(bg_metrics_rollback_t r);

/* Where the compatibility gate refused (label `check` of bluegreen_gate_refusals_total). */
typedef enum bg_metrics_gate {
    BG_METRICS_GATE_DEPLOY = 0,   /* a deployment refused before scale-up */
    BG_METRICS_GATE_STEP = 1,     /* a traffic step refused mid-deployment */
    BG_METRICS_GATE_ROLLBACK = 2, /* a manual rollback refused (would break a consumer) */
    BG_METRICS_GATE_COUNT = 3,
} bg_metrics_gate_t;

/* Counters of the deployment controller for one service since the daemon started. */
typedef struct bg_metrics_deploys {
    uint64_t results[BG_METRICS_RESULTS];
    uint64_t rollbacks[BG_METRICS_RB_COUNT];
    uint64_t gate_refusals[BG_METRICS_GATE_COUNT];
} bg_metrics_deploys_t;

/* Verified traffic switches (publish -> every worker serves it) and their durations. */
#define BG_METRICS_SWITCH_BUCKETS 12
extern const double bg_metrics_switch_bounds_s[BG_METRICS_SWITCH_BUCKETS]; /* last: +Inf */
typedef struct bg_metrics_switches {
    uint64_t bucket[BG_METRICS_SWITCH_BUCKETS]; /* non-cumulative counts */
    double sum_s;
} bg_metrics_switches_t;

/* Records one switch of <ms> milliseconds in <sw>. Thread: the owner's. */
void bg_metrics_switch_record(bg_metrics_switches_t *sw, double ms);

typedef struct bg_metrics_service {
    const char *name;
    const bg_service_stats_t *stats;
    bg_metrics_slot_t slot[2];             /* by bg_slot_t */
    bool has_switch;                       /* a verified traffic switch happened */
    double last_switch_ms;                 /* how long its workers took to adopt it */
    const bg_metrics_switches_t *switches; /* NULL: none recorded */
    const bg_metrics_deploys_t *deploys;   /* NULL: no controller (all zero) */
} bg_metrics_service_t;

/* Appends the whole exposition for <n> services to <out>: every family once, with its
 * HELP and TYPE lines, samples grouped under it. */
void bg_metrics_render(bg_buf_t *out, const bg_metrics_service_t *services, size_t n,
                       uint64_t client_connections);

/* Appends bluegreen_build_info{version} 1. */
void bg_metrics_render_build_info(bg_buf_t *out, const char *version);

/* HTTP/2 to clients: <h2> = connections, streams, connection errors, stream resets since
 * start (bg_proxy_h2_counts()). */
void bg_metrics_render_http2(bg_buf_t *out, const uint64_t h2[4]);

/* Appends <value> escaped for a label value (backslash, double quote, newline). */
void bg_metrics_escape_label(bg_buf_t *out, const char *value);

/* Appends <us> microseconds as seconds in the shortest exact decimal form ("0.0005", "10"). */
void bg_metrics_format_seconds(bg_buf_t *out, uint64_t us);

#endif
