/* The daemon behind `bluegreen serve`: the control thread's composition of router, proxy
 * (data plane workers), health checker and admin API around one model of services,
 * slots and targets (docs/design.md §1, §7, §8 static, §9).
 *
 * Every routing change goes the same way: rebuild a snapshot from the model, publish it,
 * wake the workers, and answer the API call only once every worker has adopted it (the
 * verified switch), with the time it took. The control loop runs on the thread that calls
 * bg_server_run(); nothing on it blocks except the final join of the workers at shutdown.
 */
#ifndef BG_SERVER_SERVER_H
#define BG_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "config/config.h"

typedef struct bg_server bg_server_t;

/* How long in-flight requests may finish at shutdown, and how long a published routing
 * change may wait for every worker before the API call answers 504. */
#define BG_SERVER_STOP_GRACE_MS 10000
#define BG_SERVER_SWITCH_TIMEOUT_MS 10000

/* Builds the server from <cfg>: the routing model (static targets start healthy, as
 * HAProxy servers start UP, and are health-checked), router, health checker, proxy and
 * admin objects. Binds nothing yet. Takes ownership of <cfg>, also on failure. Returns
 * NULL with <err> filled on bad input (e.g. a static target address that does not parse,
 * a TCP admin endpoint without a token). Thread: the future control thread. */
bg_server_t *bg_server_new(bg_config_t *cfg, bg_err_t *err);

/* As bg_server_new(), for `serve --takeover`: at start, instead of binding, the server
 * takes the listening sockets (proxy and admin) of the bluegreen running on the same admin
 * socket, which then stops accepting, finishes its in-flight requests and exits; its
 * targets are re-adopted. The state store is opened at start, once the running daemon has
 * let go of it. bg_server_start() fails (nothing bound, the running daemon unchanged) when
 * none runs, when it refuses (a deployment runs) or when the admin endpoint is not a unix:
 * socket. Takes ownership of <cfg>, also on failure. Thread: the future control thread. */
bg_server_t *bg_server_new_takeover(bg_config_t *cfg, bg_err_t *err);

/* Creates state_dir if missing, publishes the first routing snapshot, binds the proxy
 * listeners and starts the workers, binds the admin endpoint, installs the SIGINT/SIGTERM
 * handlers and starts health checks. After it returns 0 the ports are bound (connections
 * queue until the loop runs). On failure returns a negative code with <err> filled; the
 * caller then calls bg_server_free(). Optional: bg_server_run() starts if needed.
 * Thread: control (the thread that will call bg_server_run()). */
int bg_server_start(bg_server_t *s, bg_err_t *err);

/* Runs the control loop on the calling thread until SIGINT, SIGTERM, bg_server_stop(),
 * bg_server_shutdown() or POST /v1/shutdown, then stops cleanly: answers calls still
 * waiting (503), stops the admin API, stops the proxy with a grace period of
 * BG_SERVER_STOP_GRACE_MS, leaves the driver instances running (or stops them
 * all when asked to stop targets), closes the health checker and closes the loop with no
 * handle left. Returns 0, or a negative code with <err> filled
 * when starting failed or a handle was left open. Thread: control. */
int bg_server_run(bg_server_t *s, bg_err_t *err);

/* Asks a running server to stop as if it got SIGTERM: the listeners and the admin API
 * stop, the proxy drains, and driver instances keep running (their rows stay
 * `running` in the store) so that the next `serve` re-adopts them (same pids). Thread:
 * any, between bg_server_new() and the return of bg_server_run() (the wake-up handle is
 * closed then). */
void bg_server_stop(bg_server_t *s);

/* As bg_server_stop(), or with <stop_targets> like `POST /v1/shutdown
 * {"stop_targets":true}`: after the proxy drained, every instance is stopped (SIGTERM,
 * stop_timeout, SIGKILL) and marked stopped in the store, so the next `serve` starts
 * fresh ones. Thread: any (same window as bg_server_stop()). */
void bg_server_shutdown(bg_server_t *s, bool stop_targets);

/* Frees the server (stopping what still runs if bg_server_run() was never called or
 * failed) and its config. NULL is a no-op. Thread: control, after bg_server_run()
 * returned. */
void bg_server_free(bg_server_t *s);

/* Bound ports after bg_server_start(): production and test listeners (-1: none) and the
 * TCP admin endpoint (-1 for a Unix socket). Thread: any. */
int bg_server_proxy_port(const bg_server_t *s);
int bg_server_test_port(const bg_server_t *s);
int bg_server_admin_port(const bg_server_t *s);
/* Bound port of the metrics_listen endpoint, -1 when none is configured. Thread: any. */
int bg_server_metrics_port(const bg_server_t *s);
/* Admin socket path for a Unix endpoint (borrowed), or NULL. Thread: any. */
const char *bg_server_admin_path(const bg_server_t *s);

/* Overrides the shutdown grace period (tests). Thread: control, before run. */
void bg_server_set_stop_grace(bg_server_t *s, uint32_t grace_ms);
/* Overrides BG_SERVER_SWITCH_TIMEOUT_MS (tests). Thread: control, before run. */
void bg_server_set_switch_timeout(bg_server_t *s, uint32_t timeout_ms);

#endif
