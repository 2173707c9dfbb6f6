/* Drivers run revisions (docs/design.md §8): a vtable per kind (process.c, docker.c, static.c,
 * ecs.c), h2o-balancer style, so the controller never knows which one it talks to. What a
 * driver can do is in its capability flags (bg_driver_caps_t), never in its kind: code
 * outside src/driver/ must not branch on bg_driver_kind_t.
 *
 * An instance is one running copy of a revision as the driver sees it: where it listens
 * and the driver's handle (pid, container id, task ARN). The controller turns instances
 * into routing targets. A driver reports instances that die on their own through
 * bg_driver_events_t; drivers that replace crashed instances themselves (process and docker,
 * like the ECS scheduler) report the replacement too.
 *
 * Thread: control, for every function here. Drivers run on the control thread's loop and
 * never block it (I/O goes through the loop: libuv handles, libcurl multi), except adopt()
 * which runs at boot before the loop serves anything.
 * Ownership: instances are the driver's (bg_instance_free() gives them back); specs and
 * revisions passed in are borrowed for the call (the driver copies what it keeps); the
 * driver itself is freed by bg_driver_close().
 */
#ifndef BG_DRIVER_DRIVER_H
#define BG_DRIVER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"
#include "route/route-t.h"

typedef struct bg_driver bg_driver_t;
typedef struct bg_instance bg_instance_t;

typedef enum bg_instance_state {
    BG_INSTANCE_RUNNING = 0,    /* started (health is the controller's business) */
    BG_INSTANCE_RESTARTING = 1, /* crashed; a replacement is scheduled (backoff) */
    BG_INSTANCE_STOPPING = 2,
    BG_INSTANCE_STOPPED = 3,    /* gone; only bg_instance_free() is left */
    BG_INSTANCE_STARTING = 4,   /* start() in flight (asynchronous drivers) */
} bg_instance_state_t;
const char *bg_instance_state_str(bg_instance_state_t s);

/* What to run: borrowed for the duration of the start/adopt call (the driver copies what
 * it keeps). */
typedef struct bg_instance_spec {
    const char *service;
    int slot;                           /* bg_slot_t */
    int64_t revision;
    unsigned index;                     /* 0..count-1 within the revision */
    const bg_revision_config_t *rev;    /* version, command/image, env, port */
    uint32_t stop_timeout_ms;
    const char *store_id;               /* the state store's id, marked on the instance
                                           (scan() reports it); NULL: none */
} bg_instance_spec_t;

struct bg_instance {
    bg_driver_t *driver;
    char *service;
    int slot;
    int64_t revision;
    unsigned index;
    char version[64];
    char address[80];                   /* "127.0.0.1:PORT" the instance serves on */
    char handle[128];                   /* driver's id, stored for re-adoption */
    char log_path[512];                 /* "" if the driver keeps no log file */
    bg_instance_state_t state;
    unsigned restarts;                  /* crash replacements so far */
    int last_exit_status;               /* of the last exit; -1 if none or unknown */
    int last_term_signal;
    char error[512];                    /* why a start failed or the instance stopped ("" if
                                           none): the driver's or engine's own message */
    void *data;                         /* the controller's; never touched by the driver */
};

/* An instance found running by a driver's scan(): started from this state_dir by some
 * bluegreen, whatever the state store says of it. */
typedef struct bg_driver_found {
    bg_driver_t *driver;     /* the driver that found it (adopt and stop it through it) */
    int pid;                 /* process driver: the group leader; 0 for other drivers */
    char handle[128];        /* as adopt() takes it */
    char address[80];        /* "" if unknown */
    char service[64];        /* "" if unknown */
    int slot;
    char store_id[40];       /* the state store it was started from ("" if not marked) */
} bg_driver_found_t;
typedef int (*bg_driver_found_cb)(void *arg, const bg_driver_found_t *f);

typedef struct bg_driver_events {
    /* <inst> exited on its own (crash). state tells whether a replacement is scheduled
     * (RESTARTING) or not (STOPPED). */
    void (*exited)(void *ctx, bg_instance_t *inst);
    /* <inst> was replaced after a crash: same address, new handle. */
    void (*replaced)(void *ctx, bg_instance_t *inst);
    void *ctx;
} bg_driver_events_t;

typedef void (*bg_instance_cb)(void *arg, bg_instance_t *inst, int status);

/* What a driver does; the controller asks these, never the kind. */
typedef enum bg_driver_caps {
    /* It runs instances (start/stop/adopt/logs): deployments start the new revision in the
     * preview slot and the controller records and re-adopts them. Without it (static), the
     * slots' targets are given by the config or registered through the admin API, and
     * traffic moves by hand. */
    BG_DRIVER_CAP_STARTS = 1 << 0,
    /* The platform routes the service's traffic, not our proxy (ecs: the ALB's listener
     * rule with a weighted forward to the slots' target groups). The host moves traffic
     * with set_weights() (verified by the driver), and reads the slots' health,
     * traffic figures (for rollback_on) and evidence from slot_health()/slot_stats();
     * instances are never targets of the proxy. */
    BG_DRIVER_CAP_ROUTES = 1 << 1,
} bg_driver_caps_t;

/* One target of a routing driver's slot as the platform describes it (ecs: an entry of
 * DescribeTargetHealth). */
#define BG_DRIVER_SLOT_TARGETS_MAX 16
typedef struct bg_driver_slot_target {
    char address[80]; /* "10.0.1.7:8080" */
    char state[24];   /* the platform's word: initial, healthy, unhealthy, draining, ... */
    char reason[224]; /* "Target.FailedHealthChecks: Health checks failed ...", "" if none */
} bg_driver_slot_target_t;

/* A slot as a routing driver sees it (BG_DRIVER_CAP_ROUTES). */
typedef struct bg_driver_slot_health {
    uint32_t targets;         /* registered and not draining */
    uint32_t healthy;
    char detail[256];         /* the first non-healthy target's state and reason, or why the
                                 slot is not healthy (its Actuator answer), "" if none */
    char stopped_reason[512]; /* why the slot's latest task stopped, "" if none */
    bg_driver_slot_target_t target[BG_DRIVER_SLOT_TARGETS_MAX]; /* as last described */
    size_t n_target;
} bg_driver_slot_health_t;

/* A switch finished: <status> 0 once the platform shows the weights and the probe saw the
 * intended version (<switch_ms> from the write to that), or negative with <msg>. */
typedef void (*bg_driver_switch_cb)(void *arg, int status, double switch_ms, const char *msg);

/* Progress of a resolve (an image pull): layers and bytes so far; totals may grow as the
 * registry tells more. */
typedef struct bg_driver_progress {
    unsigned layers_done, layers_total;
    uint64_t bytes_done, bytes_total;
    const char *status; /* the engine's last status line ("Downloading"); may be NULL */
} bg_driver_progress_t;

/* <status> 0 and <artifact> the revision's artifact pinned (docker: "name:tag@sha256:..."),
 * or a negative code and <msg> (the registry's or engine's own words). Both borrowed for
 * the call. */
typedef void (*bg_driver_resolve_cb)(void *arg, int status, const char *artifact, const char *msg);
typedef void (*bg_driver_progress_cb)(void *arg, const bg_driver_progress_t *p);

typedef struct bg_driver_vtable {
    const char *name;
    unsigned caps; /* bg_driver_caps_t */
    /* Checks that <rev> is something this driver can run (artifact present and well
     * formed), for a deployment request of <service>, before anything is stored. May be
     * NULL (anything goes). */
    int (*validate)(const bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                    bg_err_t *err);
    /* PRE_SCALE_UP: makes the artifact of <rev> ready and pins it (docker: pull, then tag ->
     * digest), calling <progress> (may be NULL) as it goes and <cb> exactly once, never from
     * inside resolve(). May be NULL (nothing to resolve: the artifact runs as written).
     * A pending resolve is cancelled by close() (<cb> with BG_EUNAVAIL) or by
     * cancel_resolve(<arg>). */
    void (*resolve)(bg_driver_t *d, const char *service, const bg_revision_config_t *rev,
                    bg_driver_progress_cb progress, bg_driver_resolve_cb cb, void *arg);
    /* Cancels the pending resolve started with <arg>: its <cb> is never called. */
    void (*cancel_resolve)(bg_driver_t *d, void *arg);
    /* Starts a new instance; *out is owned by the driver until bg_instance_free(), and
     * (*out)->address is known at once. Either the instance runs when start() returns
     * (state RUNNING; <cb> is never called: the process driver), or it is STARTING and
     * <cb>(arg, inst, status) comes once, later, from the loop: 0 running (handle set), or
     * negative with inst->error set and state STOPPED. A negative return: nothing started,
     * <err> says why. Not for drivers without BG_DRIVER_CAP_STARTS. */
    int (*start)(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb, void *arg,
                 bg_instance_t **out, bg_err_t *err);
    /* Stops <inst> gracefully (SIGTERM / API stop), forcefully after
     * spec.stop_timeout_ms; <cb>(arg, inst, 0) when it is gone. On a STARTING instance the
     * start's <cb> comes first (BG_EUNAVAIL), then this one. */
    void (*stop)(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg);
    /* Takes over an instance started by an earlier bluegreen from its stored <address> and
     * <handle>, without restarting it. BG_ENOTFOUND if it is no longer running. Boot only
     * (it may wait for a local engine's answer before the loop runs). */
    int (*adopt)(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                 const char *handle, bg_instance_t **out, bg_err_t *err);
    /* Calls <cb> for every instance this driver started from its state_dir that still
     * runs, found by the marker each instance carries (process: BLUEGREEN_STATE_DIR and
     * BLUEGREEN_STORE_ID in its environment); a non-zero return from <cb> stops the walk
     * and is returned. Boot only. May be NULL (a driver that starts nothing). */
    int (*scan)(bg_driver_t *d, bg_driver_found_cb cb, void *arg);
    /* Appends up to the last <max_bytes> of the instance's output to <out> (from a file or
     * a buffer the driver keeps; never waits for I/O). */
    int (*logs)(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out);
    /* ---- BG_DRIVER_CAP_ROUTES only (NULL otherwise) ---- */
    /* Routes <weight> (blue, green; sum 100) of <service> on the platform and verifies it;
     * <cb> exactly once, never from inside. A newer call supersedes one not yet written
     * (its <cb> gets the newer call's outcome). */
    void (*set_weights)(bg_driver_t *d, const char *service, const uint32_t weight[2],
                        bg_driver_switch_cb cb, void *arg);
    /* The slot's last known health (polled on the loop while the slot holds instances). */
    void (*slot_health)(bg_driver_t *d, const char *service, int slot,
                        bg_driver_slot_health_t *out);
    /* The slot's cumulative traffic counters as the platform measures them (ecs: from
     * CloudWatch), kept up to date while they are being asked for. Borrowed, live. */
    const bg_traffic_stats_t *(*slot_stats)(bg_driver_t *d, const char *service, int slot);
    /* Where the preview slot is reached for hooks.test (the test listener's URL); NULL if
     * none. Borrowed. */
    const char *(*test_url)(bg_driver_t *d, const char *service);
    /* Releases an instance in state STOPPED. */
    void (*free_instance)(bg_driver_t *d, bg_instance_t *inst);
    /* Stops watching everything (instances keep running: re-adoption picks them up),
     * answers pending resolves (BG_EUNAVAIL) and frees the driver once its handles are
     * closed; then <cb>(arg), possibly before close() returns. */
    void (*close)(bg_driver_t *d, void (*cb)(void *arg), void *arg);
} bg_driver_vtable_t;

struct bg_driver {
    const bg_driver_vtable_t *vt;
    uv_loop_t *loop;
    bg_driver_events_t events;
};

/* Convenience wrappers over the vtable. Thread: control. */
static inline unsigned bg_driver_caps(const bg_driver_t *d)
{
    return d->vt->caps;
}
static inline bool bg_driver_starts(const bg_driver_t *d)
{
    return (d->vt->caps & BG_DRIVER_CAP_STARTS) != 0;
}
static inline bool bg_driver_routes(const bg_driver_t *d)
{
    return d != NULL && (d->vt->caps & BG_DRIVER_CAP_ROUTES) != 0;
}
/* 0 when the driver has no validate(). */
static inline int bg_driver_validate(const bg_driver_t *d, const char *service,
                                     const bg_revision_config_t *rev, bg_err_t *err)
{
    return d->vt->validate != NULL ? d->vt->validate(d, service, rev, err) : 0;
}
/* False (and nothing called) when the driver has nothing to resolve. */
static inline bool bg_driver_resolve(bg_driver_t *d, const char *service,
                                     const bg_revision_config_t *rev,
                                     bg_driver_progress_cb progress, bg_driver_resolve_cb cb,
                                     void *arg)
{
    if (d->vt->resolve == NULL)
        return false;
    d->vt->resolve(d, service, rev, progress, cb, arg);
    return true;
}
static inline void bg_driver_cancel_resolve(bg_driver_t *d, void *arg)
{
    if (d->vt->cancel_resolve != NULL)
        d->vt->cancel_resolve(d, arg);
}
static inline int bg_driver_start(bg_driver_t *d, const bg_instance_spec_t *spec,
                                  bg_instance_cb cb, void *arg, bg_instance_t **out,
                                  bg_err_t *err)
{
    return d->vt->start(d, spec, cb, arg, out, err);
}
static inline void bg_driver_stop(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb,
                                  void *arg)
{
    d->vt->stop(d, inst, cb, arg);
}
static inline int bg_driver_adopt(bg_driver_t *d, const bg_instance_spec_t *spec,
                                  const char *address, const char *handle, bg_instance_t **out,
                                  bg_err_t *err)
{
    return d->vt->adopt(d, spec, address, handle, out, err);
}
static inline int bg_driver_logs(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes,
                                 bg_buf_t *out)
{
    return d->vt->logs(d, inst, max_bytes, out);
}
/* 0 and nothing called when the driver cannot scan. */
static inline int bg_driver_scan(bg_driver_t *d, bg_driver_found_cb cb, void *arg)
{
    return d->vt->scan != NULL ? d->vt->scan(d, cb, arg) : 0;
}
static inline void bg_instance_free(bg_instance_t *inst)
{
    if (inst != NULL)
        inst->driver->vt->free_instance(inst->driver, inst);
}
static inline void bg_driver_close(bg_driver_t *d, void (*cb)(void *arg), void *arg)
{
    d->vt->close(d, cb, arg);
}

/* Opens the driver of <kind> on <loop> (borrowed; outlives it) with <state_dir> for its
 * files and <events> (copied); <cfg> (borrowed, outlives the driver; may be NULL for the
 * drivers that need none) gives the ecs driver its services' ecs: blocks. NULL with <err>
 * when it cannot open (or the kind is not in this build). Thread: control. */
bg_driver_t *bg_driver_new(bg_driver_kind_t kind, uv_loop_t *loop, const char *state_dir,
                           const bg_config_t *cfg, const bg_driver_events_t *events,
                           bg_err_t *err);

/* The ecs driver (ecs.c): each slot of each ecs service is an ECS service
 * `<name>-<slot>` on the slot's target group; traffic moves on the ALB listener rule.
 * <cfg> borrowed (outlives the driver). Thread: control. */
bg_driver_t *bg_ecs_driver_new(uv_loop_t *loop, const bg_config_t *cfg,
                               const bg_driver_events_t *events, bg_err_t *err);

/* The static driver: runs nothing (no BG_DRIVER_CAP_STARTS); a service's targets are listed
 * in the config or registered through the admin API. */
bg_driver_t *bg_static_driver_new(uv_loop_t *loop, bg_err_t *err);

/* The docker driver: containers of the Docker Engine at DOCKER_HOST (unix://PATH only) or
 * /var/run/docker.sock, driven through the engine API on <loop> (src/driver/docker.c says
 * how). Every container is labelled with <state_dir> (made absolute; copied) and the store
 * id of its spec, which scan() finds them by. Opening asks the engine (briefly, blocking:
 * boot) whether it has a bridge network. Thread: control. */
bg_driver_t *bg_docker_driver_new(uv_loop_t *loop, const char *state_dir,
                                  const bg_driver_events_t *events, bg_err_t *err);

/* The process driver: runs rev->command with PORT (a port picked on 127.0.0.1, or
 * rev->port), BLUEGREEN_SERVICE/SLOT/VERSION and rev->env; each instance in its own
 * session and process group; output appended to <state_dir>/logs/; crashes replaced with
 * exponential backoff (1s doubling to 30s; the count resets after 60s of uptime).
 * <loop> and <events> are borrowed/copied. Thread: control. */
bg_driver_t *bg_process_driver_new(uv_loop_t *loop, const char *state_dir,
                                   const bg_driver_events_t *events, bg_err_t *err);

/* registry.c: whether the driver of <kind> is compiled into this build. Thread: any. */
bool bg_driver_in_build(bg_driver_kind_t kind);
/* "process, static": the kinds in this build, into <out>. Returns <out>. */
const char *bg_driver_in_build_list(char *out, size_t size);

#endif
