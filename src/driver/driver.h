/* Drivers run revisions (docs/design.md §8): a vtable per kind (process, docker, static, ecs),
 * h2o-balancer style, so the controller never knows which one it talks to.
 *
 * An instance is one running copy of a revision as the driver sees it: where it listens
 * and the driver's handle (pid, container id, task ARN). The controller turns instances
 * into routing targets. Drivers run on the control thread's loop and never block it.
 * A driver reports instances that die on their own through bg_driver_events_t; drivers that
 * replace crashed instances themselves (process, like the ECS scheduler) report the
 * replacement too.
 */
#ifndef BG_DRIVER_DRIVER_H
#define BG_DRIVER_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"

typedef struct bg_driver bg_driver_t;
typedef struct bg_instance bg_instance_t;

typedef enum bg_instance_state {
    BG_INSTANCE_RUNNING = 0,    /* started (health is the controller's business) */
    BG_INSTANCE_RESTARTING = 1, /* crashed; a replacement is scheduled (backoff) */
    BG_INSTANCE_STOPPING = 2,
    BG_INSTANCE_STOPPED = 3,    /* gone; only bg_instance_free() is left */
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

typedef struct bg_driver_vtable {
    const char *name;
    /* Starts a new instance; *out is owned by the driver until bg_instance_free().
     * <cb> is not used: start is synchronous for the process driver; drivers that need
     * I/O (docker, ecs) call <cb>(arg, inst, status) when the instance runs or failed. */
    int (*start)(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb, void *arg,
                 bg_instance_t **out, bg_err_t *err);
    /* Stops <inst> gracefully (SIGTERM / API stop), forcefully after
     * spec.stop_timeout_ms; <cb>(arg, inst, 0) when it is gone. */
    void (*stop)(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg);
    /* Takes over an instance started by an earlier bluegreen from its stored <address> and
     * <handle>. BG_ENOTFOUND if it is no longer running. */
    int (*adopt)(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                 const char *handle, bg_instance_t **out, bg_err_t *err);
    /* Calls <cb> for every instance this driver started from its state_dir that still
     * runs, found by the marker each instance carries (process: BLUEGREEN_STATE_DIR and
     * BLUEGREEN_STORE_ID in its environment); a non-zero return from <cb> stops the walk
     * and is returned. Boot only. May be NULL (a driver that starts nothing). */
    int (*scan)(bg_driver_t *d, bg_driver_found_cb cb, void *arg);
    /* Appends up to the last <max_bytes> of the instance's output to <out>. */
    int (*logs)(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out);
    /* Releases an instance in state STOPPED. */
    void (*free_instance)(bg_driver_t *d, bg_instance_t *inst);
    /* Stops watching everything (instances keep running: re-adoption picks them up) and
     * frees the driver once its handles are closed; then <cb>(arg). */
    void (*close)(bg_driver_t *d, void (*cb)(void *arg), void *arg);
} bg_driver_vtable_t;

struct bg_driver {
    const bg_driver_vtable_t *vt;
    uv_loop_t *loop;
    bg_driver_events_t events;
};

/* Convenience wrappers over the vtable. Thread: control. */
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
