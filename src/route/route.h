/* Routing: targets, the immutable routing snapshot, and the router that publishes it.
 *
 * Flow: the control thread builds a snapshot from its model of services and targets
 * (bg_route_snapshot_new/add_service/add_target/seal), publishes it with
 * bg_router_publish() (one pointer swap), then wakes the workers (proxy module). A worker
 * adopts it with bg_router_acquire() and drops its previous snapshot when its last request
 * on it ends. Request-path functions (match, pick) never lock, never allocate.
 */
#ifndef BG_ROUTE_ROUTE_H
#define BG_ROUTE_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "base/str.h"
#include "route/route-t.h"

/* Latency histogram bounds (µs) for bg_traffic_stats_t.latency_bucket; the last is +Inf
 * (UINT64_MAX). Length BG_LATENCY_BUCKETS. */
extern const uint64_t bg_latency_bounds_us[BG_LATENCY_BUCKETS];

/* ---- targets ---- */

/* Resolves "host:port" ("127.0.0.1:80", "[::1]:80", "localhost:80") into <out>.
 * Returns 0 or BG_EINVAL with <err> saying what is wrong. Thread: control (may block on
 * name resolution). */
int bg_addr_resolve(const char *addr, struct sockaddr_storage *out, socklen_t *out_len,
                    bg_err_t *err);

/* Makes a target for <service>/<slot> at <addr> ("127.0.0.1:9001", "[::1]:80",
 * "localhost:8080"). Starts with refs=1 (the caller's), healthy=<healthy>. Returns NULL
 * with <err> filled when the address is invalid. Thread: control (may resolve names). */
bg_target_t *bg_target_new(const char *service, int slot, const char *addr, bool healthy,
                           bg_err_t *err);
/* Takes / drops a reference; the last unref frees. Thread: any. */
bg_target_t *bg_target_ref(bg_target_t *t);
void bg_target_unref(bg_target_t *t);
static inline bool bg_target_is_healthy(const bg_target_t *t)
{
    return atomic_load_explicit(&((bg_target_t *)t)->healthy, memory_order_relaxed) != 0;
}
/* Thread: any. */
void bg_target_set_healthy(bg_target_t *t, bool healthy);

/* Records one finished request: status 0 = no response from the target. Thread: any. */
void bg_traffic_record(bg_traffic_stats_t *s, int status, uint64_t latency_us);

/* ---- service stats ---- */
bg_service_stats_t *bg_service_stats_new(void); /* refs=1 */
bg_service_stats_t *bg_service_stats_ref(bg_service_stats_t *s);
void bg_service_stats_unref(bg_service_stats_t *s);

/* ---- snapshot building (control thread) ---- */

bg_route_snapshot_t *bg_route_snapshot_new(void);
/* Adds a service; copies the strings; takes a new ref on <stats>. <host> NULL = any host
 * (stored lower-cased, port stripped); <prefix> NULL = "/". Returns the service entry,
 * valid until seal (the array may move on the next add_service). */
bg_route_service_t *bg_route_snapshot_add_service(bg_route_snapshot_t *s, const char *name,
                                                  const char *host, const char *prefix,
                                                  bg_service_stats_t *stats);
/* Adds <t> to <slot> of service <svc_index> (order of add_service); takes a new ref. */
void bg_route_snapshot_add_target(bg_route_snapshot_t *s, size_t svc_index, int slot,
                                  bg_target_t *t);
/* Sets weights of service <svc_index>: blue + green must be 100. */
void bg_route_snapshot_set_weights(bg_route_snapshot_t *s, size_t svc_index, uint32_t blue,
                                   uint32_t green);
/* Sorts services for matching and computes live/preview slots. After this the snapshot is
 * immutable. */
void bg_route_snapshot_seal(bg_route_snapshot_t *s);
bg_route_snapshot_t *bg_route_snapshot_ref(bg_route_snapshot_t *s);
/* Drops a ref; the last frees the snapshot and unrefs its targets and stats. NULL ok. */
void bg_route_snapshot_unref(bg_route_snapshot_t *s);

/* ---- request path (worker threads; no locks, no allocation) ---- */

/* Service for <host> (the Host header value; port and case are ignored) and <path>:
 * exact host match first, then any-host services; longest path prefix wins (prefix match
 * on path segments: "/api" matches "/api" and "/api/x", not "/apix"). NULL: no route. */
const bg_route_service_t *bg_route_match(const bg_route_snapshot_t *s, bg_str_t host,
                                         bg_str_t path);
/* Slot for a request by weight; <rnd> is a uniform random 32-bit value from the caller.
 * Returns -1 if both weights are 0. */
int bg_route_pick_slot(const bg_route_service_t *svc, uint32_t rnd);
/* Healthy, non-draining target of <slot> with the least requests in flight (ties broken
 * by <rnd>), skipping those in <exclude> (n_exclude entries). NULL: none left. */
bg_target_t *bg_route_pick_target(const bg_route_service_t *svc, int slot, uint32_t rnd,
                                  bg_target_t *const *exclude, size_t n_exclude);

/* ---- the router (publication point) ---- */

typedef struct bg_router bg_router_t;

/* Thread: control. */
bg_router_t *bg_router_new(void);
/* Frees the router and drops its ref on the current snapshot. Workers must be stopped. */
void bg_router_free(bg_router_t *r);
/* Publishes <s> (sealed); takes ownership of the caller's reference. Returns the new
 * generation (1, 2, ...). Thread: control. */
uint64_t bg_router_publish(bg_router_t *r, bg_route_snapshot_t *s);
/* Returns a new reference to the current snapshot (NULL before the first publish).
 * Thread: any (takes a short lock: call on adoption, not per request). */
bg_route_snapshot_t *bg_router_acquire(bg_router_t *r);
/* Generation of the current snapshot (0 before the first publish). Thread: any. */
uint64_t bg_router_generation(bg_router_t *r);

#endif
