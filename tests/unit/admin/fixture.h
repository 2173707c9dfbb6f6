/* Admin test fixture: a bg_admin_t on its own loop thread with fake ops (a tiny model of
 * two services), plus a blocking raw HTTP client over Unix or TCP sockets.
 */
#ifndef BG_TESTS_ADMIN_FIXTURE_H
#define BG_TESTS_ADMIN_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "admin/admin.h"
#include "client.h"

typedef struct fx {
    uv_loop_t loop;
    uv_async_t stop_async;
    uv_timer_t defer_timer; /* answers the deferred traffic request */
    bg_admin_t *admin;
    pthread_t thread;
    char *dir;
    char *sock_path;
    /* fake model, touched on the loop thread only (read by tests after stop) */
    uint32_t weight[2];
    _Atomic unsigned traffic_calls, add_calls, remove_calls; /* read by the test thread */
    bg_admin_req_t *deferred; /* traffic request waiting for the timer */
    bg_admin_req_t *never;    /* "slow" service: answered only at stop */
    bg_admin_req_t *held;     /* /v1/stream-hold: written to every 20 ms until it fails */
    uv_timer_t held_timer;
    _Atomic unsigned held_failed; /* 1 once a write to the held stream failed */
    bool stopped;
} fx_t;

/* Starts the admin on <endpoint> ("unix" = a fresh socket in a tmp dir; or http://...)
 * with <token>. */
void fx_start(fx_t *f, const char *endpoint, const char *token);
/* Same with idle timeout and connection cap (0: defaults). */
void fx_start_limits(fx_t *f, const char *endpoint, const char *token, uint32_t idle_ms,
                     uint32_t max_conns);
/* Stops the admin on its thread, joins, checks the loop closes with no handle left. */
void fx_stop(fx_t *f);

/* Fresh connection to the fixture, one request: METHOD PATH with optional JSON body and
 * extra header lines (each ending in \r\n). */
bool fx_call(fx_t *f, const char *method, const char *path, const char *body,
             const char *extra_headers, cresp_t *out);

#endif
