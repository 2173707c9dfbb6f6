/* Private to the deploy module: the controller's per-service state, one running deployment
 * and the helpers shared between deployer.c (life cycle, services, store, events),
 * phases.c (one function per phase), control.c (rollback, promote, pause, resume, abort,
 * finish, clean-up), record.c (DEPLOYMENT JSON, revisions <-> JSON, requests), hooks.c
 * (hook commands), routes.c / feed.c / release.c (admin routes) and recover.c.
 * Everything runs on the control loop.
 */
#ifndef BG_DEPLOY_INTERNAL_H
#define BG_DEPLOY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "base/list.h"
#include "compat/compat.h"
#include "deploy/deploy.h"
#include "deploy/judge.h"
#include "deploy/plan.h"
#include "metrics/metrics.h"
#include "store/store.h"

typedef struct dp_deployment dp_deployment_t;
typedef struct dp_hook dp_hook_t;
typedef struct dp_unstored dp_unstored_t;

/* An instance the controller knows of (one stored target row). */
typedef struct dp_inst {
    int64_t store_id;
    int64_t revision;
    char address[80];
    char handle[128];
} dp_inst_t;

typedef struct dp_slot {
    int64_t revno;            /* 0: empty */
    bg_revision_config_t rev; /* valid when revno > 0 */
    dp_inst_t *insts;
    size_t n_insts;
} dp_slot_t;

typedef struct dp_service {
    const bg_service_config_t *cfg; /* borrowed from the deployer's config */
    dp_slot_t slot[BG_SLOT_COUNT];
    uint32_t weight[BG_SLOT_COUNT];
    int live;                  /* slot with production traffic */
    dp_deployment_t *running;  /* result "" */
    dp_deployment_t *retiring; /* succeeded; old slot kept for termination_wait */
    bg_metrics_deploys_t counts; /* results, rollbacks, gate refusals (GET /metrics) */
} dp_service_t;

/* A multi-service release running its plan's order (release.c). */
typedef struct dp_release dp_release_t;

struct dp_deployment {
    bg_deployer_t *d;
    dp_service_t *svc;
    int64_t id;
    int64_t from_rev, to_rev;
    int slot, old;            /* new and old slot */
    bg_revision_config_t rev; /* owned */
    bg_strategy_t strategy;   /* owned copy */
    bg_plan_step_t steps[BG_PLAN_MAX_STEPS];
    size_t n_steps, step; /* step: index of the next step to take */
    bg_deploy_phase_t phase;
    bg_deploy_result_t result;
    char reason[512];
    bool paused, promoted, stopping, traffic_shifted;
    bool cleanup_due;                   /* termination wait over: clean up when idle */
    bg_deploy_result_t rollback_result; /* what the rollback in progress ends as */
    uint64_t phase_started_ms;          /* monotonic */
    uint64_t wait_until_ms;             /* monotonic: end of the current wait */
    json_t *record;                     /* the DEPLOYMENT JSON (kept up to date) */
    json_t *api_source;                 /* where rev.api came from (dp_request_api) */
    bg_judge_t *judge;
    uv_timer_t timer;           /* phase timer (waits, polls) */
    unsigned handles_open;      /* 1 timer */
    dp_hook_t *hook;            /* the hook process running, if any */
    int pending;                /* async host calls in flight */
    unsigned starting;          /* SCALE_UP: asynchronous instance starts in flight */
    bool resolving;             /* PRE_SCALE_UP: the driver's resolve in flight */
    dp_release_t *release;      /* the release that started it, or NULL */
    bg_admin_req_t *answer_req; /* a manual rollback waiting for its verified switch */
    bool freeing;
};

struct bg_deployer {
    uv_loop_t *loop;
    const bg_config_t *cfg;
    bg_deploy_host_t host;
    bg_store_t *store;
    bg_compat_rules_t *rules;   /* config `matrix:` rules (owned); NULL = none */
    dp_service_t *services;
    size_t n_services;
    bg_list_t streams; /* dp_stream_t: SSE followers */
    uv_timer_t keepalive;
    dp_release_t *release; /* running release, if any */
    bg_list_t boot_resolves; /* first boot: artifacts being pinned (recover.c) */
    int64_t release_seq;
    uv_prepare_t flush_prepare; /* commit the batch before the loop blocks ... */
    uv_check_t flush_check;     /* ... and after the I/O callbacks of an iteration */
    bg_list_t unstored;         /* dp_unstored_t: results whose commit failed (results.c) */
    uv_timer_t retry_timer;     /* writes them again */
    unsigned handles_open;
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* deployer.c */
dp_service_t *dp_service_find(bg_deployer_t *d, const char *name);
/* The driver of <svc> as the host lends it (NULL: the host runs none). */
bg_driver_t *dp_driver(bg_deployer_t *d, const dp_service_t *svc);
/* Whether <svc>'s driver starts instances (true when the host runs no driver). */
bool dp_starts(bg_deployer_t *d, const dp_service_t *svc);
/* A compat world of everything the controller knows (caller frees). */
bg_compat_world_t *dp_world(bg_deployer_t *d, bg_err_t *err);
/* Writes the routing state of <svc> to the store. */
int dp_service_store(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err);
/* Appends an event to the store (logged at info) and to the SSE followers. */
void dp_event(bg_deployer_t *d, const char *service, int64_t deployment, const char *kind,
              const char *actor, const char *origin, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* The intent to start an instance in <slot>, durable BEFORE the driver is asked: a target
 * row in state "starting", committed. Its id, or 0 with <err> when the store refused (then
 * nothing may start). A crash after the start and before dp_inst_add() leaves the row
 * "starting" (marked stopped at the next boot) and the process is found by its marker and
 * stopped (orphans.c). */
int64_t dp_inst_intent(bg_deployer_t *d, dp_service_t *svc, int slot, int64_t revno,
                       bg_err_t *err);
/* The start of intent <row> failed: the row is marked stopped. */
void dp_inst_abandon(bg_deployer_t *d, int64_t row);
/* Records a started instance in <slot> and in the store: row <row_id> (from
 * dp_inst_intent) gets its address and handle; <row_id> 0 adds a new row. */
void dp_inst_add(bg_deployer_t *d, dp_service_t *svc, int slot, int64_t revno, int64_t row_id,
                 const bg_deploy_instance_t *inst);
/* Marks every instance of <slot> stopped in the store and forgets them. */
void dp_slot_clear(bg_deployer_t *d, dp_service_t *svc, int slot);
/* Puts a copy of <rev> (number <revno>) into <slot>. */
void dp_slot_set_rev(dp_service_t *svc, int slot, int64_t revno, const bg_revision_config_t *rev);
void dp_maybe_closed(bg_deployer_t *d);
/* Write batching: every store write of the controller goes into one transaction per loop
 * iteration (SQLite with synchronous=FULL pays one fsync per commit). dp_tx() opens it if
 * needed; dp_flush() commits it and MUST be called before any effect (publish, start,
 * stop) so that what is stored always precedes what happens, and before answering an API
 * call. The loop commits whatever is left before it blocks. */
void dp_tx(bg_deployer_t *d);
int dp_flush(bg_deployer_t *d, bg_err_t *err);

/* phases.c */
void dp_enter(dp_deployment_t *dep, bg_deploy_phase_t phase);
void dp_run(dp_deployment_t *dep);
/* Starts the deployment's timer for <ms> calling dp_run() (or <cb>). */
void dp_timer(dp_deployment_t *dep, uint64_t ms, uv_timer_cb cb);
void dp_timer_stop(dp_deployment_t *dep);
bool dp_rollback_judged(const bg_rollback_on_t *r);

/* control.c */
dp_deployment_t *dp_deployment_new(bg_deployer_t *d, dp_service_t *svc);
void dp_deployment_release(dp_deployment_t *dep); /* closes the timer, frees after */
/* Rolls back: old slot 100% (stored first, verified), new slot stopped (or kept), result
 * <result> with <reason>; <why> is counted in bluegreen_rollbacks_total; <evidence>
 * attaches the failing targets' health and logs. */
void dp_rollback(dp_deployment_t *dep, bg_deploy_result_t result, bg_metrics_rollback_t why,
                 bool evidence, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Answers the manual rollback waiting on <dep>, if any, with its record. */
void dp_answer(dp_deployment_t *dep);
/* Ends the deployment with <result> (no routing change). */
void dp_finish(dp_deployment_t *dep, bg_deploy_result_t result, const char *reason);
/* Bake done: SUCCEEDED, CLEAN_UP after termination_wait. */
void dp_succeed(dp_deployment_t *dep);
/* Restart recovery: rebuilds the retiring deployment of stored <row> (phase CLEAN_UP, its
 * old slot re-adopted) and re-arms its termination wait for <remaining_ms>. */
void dp_retiring_restore(bg_deployer_t *d, dp_service_t *svc, const bg_store_deployment_t *row,
                         uint64_t remaining_ms);
/* Stops the old slot of a retiring deployment now (termination wait over or superseded). */
void dp_cleanup(dp_deployment_t *dep, const char *why);
/* Manual actions; 0 or a negative code with <err>. */
/* A gate refusal of the rollback also fills <broken> (new reference: the broken edges). */
int dp_manual_rollback(bg_deployer_t *d, dp_service_t *svc, bool force, const char *actor,
                       const char *origin, bg_admin_req_t *req, json_t **broken, bg_err_t *err);
int dp_manual(bg_deployer_t *d, dp_service_t *svc, const char *action, const char *actor,
              const char *origin, bg_err_t *err);

/* record.c */
json_t *dp_record_new(dp_deployment_t *dep, const char *actor, const char *origin, json_t *labels);
void dp_record_phase(dp_deployment_t *dep);
void dp_record_switch(dp_deployment_t *dep, const uint32_t w[2], double switch_ms);
/* Refreshes the live fields (phase, result, traffic, targets, paused...) and returns the
 * record (borrowed). */
json_t *dp_record_view(dp_deployment_t *dep);
/* Writes the record to the store. */
void dp_record_store(dp_deployment_t *dep);
json_t *dp_rev_to_json(const bg_revision_config_t *rev);
/* Stores <rev> as a new revision of <service> named <version> (in the write batch,
 * dp_tx); sets *number to the number the store gave it. Borrows everything. */
int dp_rev_add(bg_deployer_t *d, const char *service, const char *version,
               const bg_revision_config_t *rev, int64_t *number, bg_err_t *err);
/* Replaces the stored spec of revision <number> of <service> with <rev>'s (in the write
 * batch, dp_tx). Borrows everything; <err> may be NULL. */
int dp_rev_set_spec(bg_deployer_t *d, const char *service, int64_t number,
                    const bg_revision_config_t *rev, bg_err_t *err);
int dp_rev_from_json(const json_t *j, const bg_service_config_t *svc, bg_revision_config_t *out,
                     bg_err_t *err);
/* REVISION_REQUEST -> revision + strategy (service's when not given). */
int dp_request_parse(const json_t *body, const bg_service_config_t *svc, bg_revision_config_t *rev,
                     bg_strategy_t *strategy, bg_err_t *err);
void dp_strategy_copy(bg_strategy_t *out, const bg_strategy_t *in);

/* inherit.c: fills what the request <body> left out of <rev>'s API from <svc>'s live
 * revision (the config's when none is live yet), see the file comment. Returns the new
 * `api_source` JSON: {provides, requires: "inherited" | "request" | "file", file | service,
 * revision, version (of the revision inherited from), follows_version}. */
json_t *dp_request_api(const json_t *body, const dp_service_t *svc, bg_revision_config_t *rev);

/* hooks.c: runs <cmds> one after another through /bin/sh -c with <env> added; <cb> gets
 * 0 when all exited 0, else the failing command's index + 1 and its exit status (128 +
 * signal), or DP_HOOK_TIMED_OUT when it ran past hooks.timeout and was killed. */
#define DP_HOOK_TIMED_OUT (-1)
/* "test hook 'CMD' exited with status N" / "... timed out after 30s (killed)" into <out>. */
void dp_hook_reason(char *out, size_t size, const char *kind, const char *cmd, int status,
                    uint32_t timeout_ms);
typedef void (*dp_hooks_cb)(dp_deployment_t *dep, size_t failed, int status, const char *cmd);
void dp_hooks_run(dp_deployment_t *dep, char *const *cmds, size_t n, const char *const *env,
                  dp_hooks_cb cb);
void dp_hooks_kill(dp_deployment_t *dep);

/* feed.c: events routes and SSE */
void dp_feed_publish(bg_deployer_t *d, const bg_store_event_t *ev);
void dp_feed_route_list(bg_deployer_t *d, bg_admin_req_t *req, const char *query);
void dp_feed_route_stream(bg_deployer_t *d, bg_admin_req_t *req, const char *query);
void dp_feed_close(bg_deployer_t *d);
json_t *dp_event_json(const bg_store_event_t *ev);
/* Value of <key> in a query string copied into <out>; false if absent. */
bool dp_query(const char *query, const char *key, char *out, size_t size);

/* release.c */
void dp_route_matrix(bg_deployer_t *d, bg_admin_req_t *req);
void dp_route_plan(bg_deployer_t *d, bg_admin_req_t *req, const char *body, size_t len);
/* <actor>, <origin> and <labels> (borrowed; NULL: none) are recorded with the release
 * and with each of its deployments. */
void dp_route_release(bg_deployer_t *d, bg_admin_req_t *req, const char *body, size_t len,
                      const char *actor, const char *origin, const json_t *labels);
/* A deployment of a release ended: start the next step or answer. */
void dp_release_step_done(dp_deployment_t *dep);
void dp_release_note(dp_release_t *r, dp_deployment_t *dep);
/* Answers a running release 503 at shutdown. */
void dp_release_abandon(bg_deployer_t *d);

/* routes.c */
/* Starts a deployment of <svc> from a REVISION_REQUEST; on success *out is the running
 * deployment (or NULL for a dry run, answered into <dry> when given). */
int dp_deploy_start(bg_deployer_t *d, dp_service_t *svc, const json_t *body, const char *actor,
                    const char *origin, dp_deployment_t **out, json_t **dry, bg_err_t *err);

/* The DEPLOYMENT JSON of <id> (running, retiring or stored); NULL if unknown. */
json_t *dp_deployment_json(bg_deployer_t *d, int64_t id);

/* results.c: a deployment's final rows (weights, result, reason, <record> (NULL: kept);
 * phase <phase> when it had already finished) written and committed now; when that fails
 * the result is kept, reported as not stored, and written again until it lands. */
void dp_result_store(bg_deployer_t *d, int64_t id, const char *phase, const char *result,
                     const char *reason, const char *record, const uint32_t weight[2]);
/* Sets phase/result/reason and "stored": false on the JSON <j> of deployment <id> when its
 * result is still waiting to be stored. */
void dp_result_overlay(bg_deployer_t *d, int64_t id, json_t *j);
/* Shutdown: one last try, then what is left is logged as lost. */
void dp_results_close(bg_deployer_t *d);

/* orphans.c: instances found running from this state_dir (host.scan) at boot. */
typedef struct dp_found {
    bg_driver_found_t *v;
    size_t n;
} dp_found_t;
/* Fills <out> (caller passes it to dp_orphans_reap); BG_ECONFLICT with <err> when some
 * were started from another state store (the database was lost or replaced). */
int dp_orphans_scan(bg_deployer_t *d, dp_found_t *out, bg_err_t *err);
/* After recovery: stops (host.reap) every instance of <found> no slot claims, with an
 * event each; frees <found>'s list. */
void dp_orphans_reap(bg_deployer_t *d, dp_found_t *found);
/* Marks stopped the stored targets of services no longer in the config (event each). */
void dp_orphans_forget_removed(bg_deployer_t *d);

/* recover.c */
int dp_recover_service(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err);
/* Close: first-boot resolves still pending are cancelled. */
void dp_boot_resolves_cancel(bg_deployer_t *d);

#endif
