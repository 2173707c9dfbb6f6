/* Private interfaces between the files of the health module: one active check (check.c)
 * and the watch set that schedules checks and applies thresholds (health.c).
 * Thread: control (everything here runs on the checker's loop).
 */
#ifndef BG_HEALTH_INTERNAL_H
#define BG_HEALTH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config/config.h"

/* Largest response body a check keeps; a larger Actuator body is judged invalid. */
#define BG_HEALTH_BODY_MAX (64 * 1024)

#define BG_HEALTH_PATH_READINESS "/actuator/health/readiness"
#define BG_HEALTH_PATH_ACTUATOR "/actuator/health"

/* Outcome of one check, handed to the completion callback. */
typedef struct bg_check_result {
    bool ok;                 /* passed the matcher / Actuator judge / TCP connect */
    int status;              /* HTTP status; 0 when none (tcp, connect error, timeout) */
    char reason[256];        /* "status 200", "db: DOWN", "connect: connection refused" */
    const char *body;        /* borrowed for the callback; NUL-terminated; may be "" */
    size_t body_len;
} bg_check_result_t;

typedef struct bg_check bg_check_t;
typedef void (*bg_check_done_cb)(void *arg, const bg_check_result_t *res);

/* What to check: copied by bg_check_start(). */
typedef struct bg_check_spec {
    bg_health_type_t type;
    bg_health_format_t format;
    const char *path;        /* HTTP only; borrowed for the start call */
    const char *host;        /* Host header value; borrowed for the start call */
    const struct sockaddr *addr;
    uint32_t timeout_ms;     /* connect + whole check */
    const bg_status_range_t *matcher; /* status format; n_matcher 0 = 200-399 */
    size_t n_matcher;
} bg_check_spec_t;

/* Starts one check on <loop>. <done>(<arg>, result) runs exactly once, later (never from
 * inside this call), unless bg_check_abort() is called first. The check owns its handles
 * and frees itself in their close callbacks, then calls <released>(<arg2>) (may be NULL)
 * so the owner can count outstanding memory. The returned pointer is valid until <done>
 * runs or bg_check_abort() returns. */
bg_check_t *bg_check_start(uv_loop_t *loop, const bg_check_spec_t *spec, bg_check_done_cb done,
                           void *arg, void (*released)(void *arg2), void *arg2);

/* Cancels <c>: its done callback will not run; its handles close and it frees itself
 * (then calls <released>). */
void bg_check_abort(bg_check_t *c);

/* True if <status> is in one of the ranges (n == 0: default 200-399). */
bool bg_matcher_match(const bg_status_range_t *ranges, size_t n, int status);

#endif
