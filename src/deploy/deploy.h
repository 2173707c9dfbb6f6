/* The deployment controller (docs/design.md §3, §5, §6): the state machine that brings a new
 * revision up in the non-live slot, gates it on health and API compatibility, shifts
 * traffic, watches it bake, rolls back, and cleans up — plus restart recovery and the admin
 * routes for deployments, events, logs, matrix, plan and releases.
 *
 * It never touches the routing model or the driver itself: the server lends it a
 * bg_deploy_host_t (start/adopt/stop instances of a slot, set weights with a verified
 * switch, read slot health and counters). Every phase change and weight change is written
 * to the store BEFORE it takes effect; every change is an event (the audit trail).
 * Deployments are serialised globally: one runs at a time (a request while one runs gets
 * 409), so no two deployments can change each other's gate answer.
 * Thread: control (everything here runs on the loop given to bg_deployer_new()).
 */
#ifndef BG_DEPLOY_DEPLOY_H
#define BG_DEPLOY_DEPLOY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "admin/admin.h"
#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"
#include "driver/driver.h"
#include "metrics/metrics.h"
#include "route/route-t.h"

typedef enum bg_deploy_phase {
    BG_PHASE_PRE_SCALE_UP = 0,
    BG_PHASE_SCALE_UP = 1,
    BG_PHASE_POST_SCALE_UP = 2,
    BG_PHASE_TEST_TRAFFIC = 3,
    BG_PHASE_PRODUCTION_TRAFFIC_SHIFT = 4,
    BG_PHASE_BAKE = 5,
    BG_PHASE_CLEAN_UP = 6,
    BG_PHASE_ROLLBACK = 7, /* switching back / stopping the new slot */
    BG_PHASE_DONE = 8,
} bg_deploy_phase_t;
const char *bg_deploy_phase_str(bg_deploy_phase_t p);

typedef enum bg_deploy_result {
    BG_RESULT_NONE = 0,
    BG_RESULT_SUCCEEDED = 1,
    BG_RESULT_ROLLED_BACK = 2,
    BG_RESULT_REFUSED = 3,
    BG_RESULT_FAILED = 4,
    BG_RESULT_ABORTED = 5,
} bg_deploy_result_t;
const char *bg_deploy_result_str(bg_deploy_result_t r); /* "" for NONE */

/* <status> 0 when done (a switch: every worker serves it), negative otherwise. */
typedef void (*bg_deploy_done_cb)(void *arg, int status, double switch_ms);

/* What the host tells of an instance it started or adopted. */
typedef struct bg_deploy_instance {
    char address[80]; /* "127.0.0.1:PORT" */
    char handle[128]; /* the driver's id (pid, container id), stored for re-adoption */
} bg_deploy_instance_t;

/* An asynchronous host.start finished: <status> 0 and <inst> (borrowed for the call), or a
 * negative code and <msg> (the driver's or engine's own words). */
typedef void (*bg_deploy_started_cb)(void *arg, int status, const bg_deploy_instance_t *inst,
                                     const char *msg);

typedef struct bg_deploy_slot_status {
    uint32_t targets; /* targets in the slot */
    uint32_t healthy;
    uint32_t unhealthy; /* targets - healthy */
    char detail[256];   /* why not all are healthy, in the platform's words ("" if unknown):
                           a routing driver's first unhealthy target or Actuator answer */
} bg_deploy_slot_status_t;

/* What the server lends the controller. Every op runs on the control thread; strings are
 * borrowed for the call. */
typedef struct bg_deploy_host {
    void *ctx;
    /* Sets the weights of <service> in the model and publishes at once, without waiting
     * (boot, before the listeners accept). */
    void (*restore_weights)(void *ctx, const char *service, const uint32_t weight[2]);
    /* Sets the weights, publishes, and calls <cb> once every worker serves the new
     * routing (status 0 and the switch time) or it timed out (negative). */
    void (*set_weights)(void *ctx, const char *service, const uint32_t weight[2],
                        bg_deploy_done_cb cb, void *arg);
    /* The driver of <service> (borrowed; lives as long as the host), or NULL when the host
     * runs none (then the service is taken to start instances and to need no validation
     * or resolve). The controller asks it for capabilities, validation and the artifact's
     * resolve; instances themselves always go through the host ops below. */
    bg_driver_t *(*driver)(void *ctx, const char *service);
    /* Starts an instance of <spec> through the driver and adds it as a target (unhealthy
     * until its checks pass, health-watched) to its slot. Returns 0 when it runs and <out>
     * holds the driver's view (address and handle); 1 when the driver starts it
     * asynchronously: <cb>(arg, ...) comes once, later, from the loop (never from inside
     * start); negative when nothing started (<err>). */
    int (*start)(void *ctx, const bg_instance_spec_t *spec, bg_deploy_started_cb cb, void *arg,
                 bg_deploy_instance_t *out, bg_err_t *err);
    /* Re-adopts an instance an earlier daemon started (same handle; not restarted). */
    int (*adopt)(void *ctx, const bg_instance_spec_t *spec, const char *address, const char *handle,
                 bg_deploy_instance_t *out, bg_err_t *err);
    /* Calls <cb> for every instance the drivers find running from this state_dir (their
     * markers), whatever the store says: the boot checks for orphans and for a lost or
     * replaced database. May be NULL (nothing to scan). */
    int (*scan)(void *ctx, bg_driver_found_cb cb, void *arg);
    /* Stops <f> (found by scan, claimed by no stored target): taken over without ever being
     * routed, then stopped (graceful, stop_timeout, kill). May be NULL. */
    void (*reap)(void *ctx, const bg_driver_found_t *f);
    /* Drains the slot's targets (no new requests), removes them from routing and stops
     * their instances; <cb> when every instance is gone. */
    void (*stop_slot)(void *ctx, const char *service, int slot, bg_deploy_done_cb cb, void *arg);
    void (*slot_status)(void *ctx, const char *service, int slot, bg_deploy_slot_status_t *out);
    /* The slot's cumulative counters (borrowed, live atomics). */
    const bg_traffic_stats_t *(*slot_stats)(void *ctx, const char *service, int slot);
    /* [{address, healthy, health: {reason, last_status, last_body}, log_tail}] for the
     * slot's targets (only unhealthy ones when <failing_only>). New reference. */
    json_t *(*evidence)(void *ctx, const char *service, int slot, bool failing_only);
    /* Appends the last <bytes> of each target's log, each headed
     * `==> target ADDRESS (slot, rev N) <==`. */
    void (*logs)(void *ctx, const char *service, int slot, size_t bytes, bg_buf_t *out);
    /* Bound port of the test listener (<test>) or the production listener; -1 if none.
     * May be NULL: the configured addresses are used as written. */
    int (*listen_port)(void *ctx, bool test);
    /* Where <service>'s preview is reached when its platform routes it (ecs: the test
     * listener's URL), used as BLUEGREEN_TEST_URL; NULL (or op NULL): our test listener. */
    const char *(*test_url)(void *ctx, const char *service);
} bg_deploy_host_t;

typedef struct bg_deployer bg_deployer_t;

/* Creates the controller for <cfg> (borrowed; outlives it) on <loop>, with its store at
 * <state_dir>/bluegreen.db. <host> is copied. NULL + <err> when the store cannot open.
 * Thread: control. */
bg_deployer_t *bg_deployer_new(uv_loop_t *loop, const bg_config_t *cfg,
                               const bg_deploy_host_t *host, bg_err_t *err);

/* Brings routing and targets back (docs/design.md §8, docs/internals/recovery.md), BEFORE the
 * listeners accept: first boot records revision 1 of each service and starts the
 * configured revision of process services in blue; a restart restores weights, live slot
 * and revisions from the store, re-adopts stored targets through host.adopt (starting
 * replacements only for those that are gone), then resolves an interrupted deployment.
 * 0 or a negative code with <err>. Thread: control. */
int bg_deployer_boot(bg_deployer_t *d, bg_err_t *err);

/* Stops timers, hook processes and event streams (deployments stay as stored: a restart
 * resolves them); <cb>(arg) once every handle is closed. Thread: control. */
void bg_deployer_close(bg_deployer_t *d, void (*cb)(void *arg), void *arg);
/* `shutdown --stop-targets`: the host stopped every instance; marks every stored target
 * `stopped` (the next boot starts fresh ones instead of re-adopting) and records event
 * `shutdown` per service with <actor>/<origin> (NULL: "admin"/"api"). Works on a closed
 * controller (the store stays open until bg_deployer_free()). Thread: control. */
void bg_deployer_targets_stopped(bg_deployer_t *d, const char *actor, const char *origin);
/* Frees a closed (or never booted) controller. NULL is a no-op. */
void bg_deployer_free(bg_deployer_t *d);

/* Answers the admin routes of docs/admin-api.md "Deployments" (and events, logs, matrix,
 * plan, releases). Returns false (and leaves <req> alone) for a path it does not serve.
 * Thread: control. */
bool bg_deployer_route(bg_deployer_t *d, bg_admin_req_t *req, const bg_admin_http_t *http);

/* Driver events forwarded by the host: a crashed instance replaced (new handle, same
 * address) or gone for good. Recorded in the store and the audit trail. */
void bg_deployer_instance_replaced(bg_deployer_t *d, const bg_instance_t *inst);
void bg_deployer_instance_exited(bg_deployer_t *d, const bg_instance_t *inst);
/* An event of the daemon itself (no service), e.g. kind "acme" for certificate orders
 * (src/server/acme.c): stored in the audit trail and sent to the event streams. */
void bg_deployer_event(bg_deployer_t *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A health transition of a target of <service>/<slot> (audit trail). */
void bg_deployer_health_event(bg_deployer_t *d, const char *service, int slot, const char *address,
                              bool healthy, const char *reason);
/* A manual `bluegreen traffic` change (audit trail + stored routing); <weight> is the new
 * split, <actor>/<origin> who made it and from where (NULL: "admin"/"api"). Returns 0 only
 * once the change is committed to the store: the caller publishes it after that. BG_EIO
 * (with <err>) when the store refuses or fails (read-only, deleted, disk full): the
 * controller's view is left as it was, so the caller must not publish. BG_ECONFLICT while
 * a deployment of <service> runs. */
int bg_deployer_traffic_changed(bg_deployer_t *d, const char *service, const uint32_t weight[2],
                                const char *actor, const char *origin, bg_err_t *err);

/* Deployments by result, rollbacks by reason and gate refusals of <service> since start
 * (borrowed, live; NULL for an unknown service). Thread: control. */
const bg_metrics_deploys_t *bg_deployer_counts(bg_deployer_t *d, const char *service);

/* True while a deployment or a release runs, with what runs in <why> (<size> bytes): a
 * restart or reload of bluegreen would interrupt it. Thread: control. */
bool bg_deployer_busy(bg_deployer_t *d, char *why, size_t size);

/* True while some event stream asked for `stats` (GET /v1/events/stream?stats=1). */
bool bg_deployer_feed_wants_stats(bg_deployer_t *d);
/* Sends <stats> (borrowed; {"t","interval_ms","services":{NAME:...}}) as an SSE event
 * `stats` without an id to every stream that asked for it; a stream following one service
 * gets only that service. Thread: control. */
void bg_deployer_feed_stats(bg_deployer_t *d, json_t *stats);

/* Revision number and version in <slot> of <service> (0 / NULL when empty). */
int64_t bg_deployer_slot_revision(bg_deployer_t *d, const char *service, int slot,
                                  const char **version);

#endif
