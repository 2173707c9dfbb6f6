/* Health checks (docs/design.md §4): active HTTP / Actuator / TCP checks of every watched target,
 * run on the control thread's loop, and the control side of passive outlier detection.
 *
 * A target becomes healthy after `healthy_threshold` consecutive passing checks and
 * unhealthy after `unhealthy_threshold` consecutive failures; passive ejection (a worker
 * saw consecutive connect failures / 5xx) makes it unhealthy at once and it returns only
 * after passing `healthy_threshold` active checks. Each transition is reported once through
 * the callback with a reason ("db: DOWN", "status 503", "connect: connection refused").
 * The checker writes target->healthy; it never blocks.
 */
#ifndef BG_HEALTH_HEALTH_H
#define BG_HEALTH_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"
#include "route/route.h"

typedef struct bg_health bg_health_t;

/* Called on the control thread at every transition. <reason> is borrowed for the call. */
typedef void (*bg_health_cb)(void *ctx, bg_target_t *t, bool healthy, const char *reason);

/* Verdict of one Actuator body (also used by tests on the reference data). */
typedef enum bg_actuator_verdict {
    BG_ACTUATOR_HEALTHY = 0,
    BG_ACTUATOR_UNHEALTHY = 1,
    BG_ACTUATOR_INVALID = 2,   /* not Actuator JSON: judged unhealthy */
} bg_actuator_verdict_t;

/* Judges an Actuator health response: <http_status>, <body> of <len> bytes. Writes a
 * short reason into <reason> (e.g. "DOWN (db: DOWN)", nested "DOWN (broker/us1: DOWN)"
 * lists the failing components; "UP"). Healthy only for HTTP 2xx with top-level "status"
 * exactly "UP" (case-sensitive: "up" is not Actuator); DOWN, OUT_OF_SERVICE, UNKNOWN and
 * custom statuses are unhealthy; components never override the top-level status.
 * <reason> may be NULL when <reason_size> is 0. Thread: any. */
bg_actuator_verdict_t bg_actuator_judge(int http_status, const char *body, size_t len,
                                        char *reason, size_t reason_size);

/* True if <content_type> is one an Actuator endpoint produces: application/json or
 * application/vnd.spring-boot.actuator.v2/v3+json (any parameters). NULL/"" false. A 2xx
 * "UP" answer of another type is not Actuator (the checker and the ecs driver's check
 * through the test listener both apply it). Thread: any. */
bool bg_actuator_content_type_ok(const char *content_type);

/* Creates a checker on <loop> (borrowed; control thread). <cb>/<ctx> may be NULL. */
bg_health_t *bg_health_new(uv_loop_t *loop, bg_health_cb cb, void *ctx);

/* Async handle to pass as bg_proxy_options_t.passive_notify: workers send on it after a
 * passive ejection. Owned by the checker. */
uv_async_t *bg_health_passive_async(bg_health_t *h);

/* Starts checking <t> with <cfg> (copied); takes a ref on <t>. The first check runs at
 * once. <t>->healthy is left as the caller set it until the thresholds say otherwise.
 * Returns 0, or BG_EEXIST if already watched. */
int bg_health_watch(bg_health_t *h, bg_target_t *t, const bg_health_config_t *cfg);

/* Stops checking <t> and drops the ref taken by watch. No-op if not watched. */
void bg_health_unwatch(bg_health_t *h, bg_target_t *t);

/* What the last checks said about <t>, for status output and deployment evidence. */
typedef struct bg_health_info {
    bool watched;
    bool healthy;
    char reason[256];          /* last transition's or last failure's reason */
    int last_status;           /* HTTP status of the last check; 0 if none / tcp */
    char last_body[2048];      /* first bytes of the last response body */
    uint64_t last_check_ms;    /* wall clock of the last completed check; 0 none */
    uint32_t consecutive_ok, consecutive_fail;
    uint64_t checks, failures; /* totals */
} bg_health_info_t;

/* Fills <out>; out->watched = false when <t> is not watched. Thread: control. */
void bg_health_info(bg_health_t *h, const bg_target_t *t, bg_health_info_t *out);

/* Stops everything and closes handles; <cb>(arg) runs when memory is released (after the
 * loop has processed the closes). Thread: control. */
void bg_health_close(bg_health_t *h, void (*cb)(void *arg), void *arg);

#endif
