/* Private to the server module: the control thread's model and the pieces around it.
 * server.c: life cycle (new/start/run/shutdown, signals); model.c: services, targets,
 * snapshots and the verified switch; api.c: the admin ops, JSON views and metrics view.
 * Everything here runs on the control loop.
 */
#ifndef BG_SERVER_INTERNAL_H
#define BG_SERVER_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "admin/admin.h"
#include "base/list.h"
#include "config/config.h"
#include "deploy/deploy.h"
#include "driver/driver.h"
#include "health/health.h"
#include "metrics/metrics.h"
#include "proxy/proxy.h"
#include "tls/tls.h"

#define BG_SRV_TLS 2 /* listeners that may have TLS: listen, test_listen */
#include "route/route.h"
#include "server/server.h"

/* live.c: the dashboard's live figures, one sample every SRV_LIVE_INTERVAL_MS, the last
 * SRV_LIVE_SAMPLES kept (10 minutes). */
#define SRV_LIVE_INTERVAL_MS 2000
#define SRV_LIVE_SAMPLES 300
typedef struct srv_live srv_live_t;

/* The targets of one slot; each pointer holds one ref owned by the model. */
typedef struct srv_slot {
    bg_target_t **targets;
    size_t n, cap;
} srv_slot_t;

typedef struct srv_service {
    const bg_service_config_t *cfg; /* borrowed from the server's config */
    bg_service_stats_t *stats;      /* one ref */
    uint32_t weight[BG_SLOT_COUNT];
    srv_slot_t slot[BG_SLOT_COUNT];
    /* The last verified traffic change (0: none since start). */
    uint64_t last_switch_generation;
    double last_switch_ms;
    uint64_t last_switch_wall_ms;
    bg_metrics_switches_t switches; /* every verified switch since start */
    /* The revision each slot's metric series are labelled with, and the slot's counters
     * when it took the slot (subtracted: a version's series never mix revisions). */
    int64_t metrics_rev[BG_SLOT_COUNT];
    char metrics_version[BG_SLOT_COUNT][64];
    bg_traffic_stats_t metrics_base[BG_SLOT_COUNT];
} srv_service_t;

/* Called when every worker adopted the generation (<status> 0, <switch_ms> measured), or
 * with BG_ETIMEDOUT after BG_SERVER_SWITCH_TIMEOUT_MS, or BG_EUNAVAIL at shutdown. */
typedef void (*srv_switch_cb)(bg_server_t *s, void *arg, int status, uint64_t generation,
                              double switch_ms);

/* A routing change waiting until every worker adopted <generation>. */
typedef struct srv_waiter {
    bg_list_t link;
    uint64_t generation;
    uint64_t published_us; /* monotonic, when the snapshot was published */
    uint64_t deadline_ms;  /* monotonic */
    srv_service_t *svc;    /* records the verified switch in it, or NULL */
    srv_switch_cb cb;
    void *arg;
} srv_waiter_t;

#define SRV_DRIVER_KINDS 4 /* bg_driver_kind_t values */

/* An instance the daemon runs (a driver with BG_DRIVER_CAP_STARTS) and the target made from
 * it. */
typedef struct srv_instance {
    bg_list_t link;      /* in bg_server.instances */
    bg_instance_t *inst; /* the driver's until bg_instance_free() */
    bg_target_t *target; /* one ref */
} srv_instance_t;

struct bg_server {
    bg_config_t *cfg; /* owned */
    uv_loop_t loop;
    bg_router_t *router;
    bg_health_t *health;
    bg_proxy_t *proxy;
    bg_admin_t *admin;
    bg_admin_t *metrics; /* metrics_listen: GET /metrics only, or NULL (observe.c) */
    bool metrics_stopped;
    bg_alog_t *alog;     /* access_log, or NULL; freed after the proxy (observe.c) */
    bg_tls_t *tls[BG_SRV_TLS]; /* listen, test_listen; NULL = plain (tls.c) */
    struct srv_acme *acme[BG_SRV_TLS]; /* tls.acme of each listener, or NULL (acme.c) */
    bg_tls_challenges_t *challenges;   /* HTTP-01 answers the proxy gives; NULL = no acme */
    bg_list_t acme_waiters;            /* POST /v1/tls/renew waiting for orders (acme.c) */
    uv_signal_t sig_usr1; /* reopens the access log */
    srv_service_t *services; /* cfg->n_services, same order */
    size_t n_services;

    uv_signal_t sig_int, sig_term;
    uv_async_t stop_async;
    uv_idle_t switch_idle;   /* polls bg_proxy_adopted() every loop turn, first ms */
    uv_timer_t switch_timer; /* then every SWITCH_POLL_MS while waiters exist */
    bg_list_t waiters;
    srv_live_t *live;      /* live.c */
    uv_timer_t live_timer; /* samples every SRV_LIVE_INTERVAL_MS once started */

    uint32_t grace_ms;
    uint32_t switch_timeout_ms;
    bool started;       /* bg_server_start() succeeded */
    bool proxy_running; /* bg_proxy_start() succeeded, not yet stopped */
    bool admin_started;
    bool shutting_down;
    bool health_closed;
    bool admin_stopped;
    bool admin_stopping; /* bg_admin_stop() called */
    bool loop_closed;    /* uv_loop_close() succeeded */

    bg_deployer_t *deployer; /* the deployment controller; owns the state store */
    bool deployer_closed;
    /* One driver per kind some service uses (indexed by bg_driver_kind_t; NULL: unused),
     * opened by srv_instances_start(). Everything else goes through the vtable. */
    bg_driver_t *drivers[SRV_DRIVER_KINDS];
    unsigned drivers_open; /* not yet closed */
    bg_list_t instances;  /* srv_instance_t */
    bg_list_t slot_stops; /* slots the controller is draining and stopping (deploy_host.c) */
    unsigned instances_stopping;
    bool driver_closing;

    /* Shutdown mode: keep the instances running for the next daemon to re-adopt (SIGTERM,
     * SIGINT, bg_server_stop), or stop them all (bg_server_shutdown(s, true), POST
     * /v1/shutdown {"stop_targets":true}). */
    atomic_bool stop_targets_req; /* set by bg_server_shutdown() from any thread */
    bool stop_targets;
    bool targets_done;            /* the instances were stopped and that is stored */
    bg_admin_req_t *shutdown_req; /* POST /v1/shutdown, answered when targets_done */
    char shutdown_actor[64];
    char shutdown_origin[160];

    /* $NOTIFY_SOCKET taken at bg_server_new() (notify.c); notify_len 0 = not under systemd. */
    char notify_path[108];
    size_t notify_len;
    bool deployer_closing; /* bg_deployer_close() called */

    /* Hand-over (handover.c). The new process (serve --takeover): */
    bool takeover;           /* take the sockets of the running daemon at start */
    int takeover_fd;         /* connection to the previous process until it is done */
    int takeover_from;       /* its pid */
    int inherited_admin_fd;  /* until bg_admin_start_fd() takes it */
    uv_poll_t takeover_poll; /* EOF: the previous process finished its requests */
    bool takeover_poll_on;
    /* The running process handing over: */
    bool handing_over;       /* controller and admin stopped; proxying until "ready" */
    int handover_fd;         /* connection to the new process */
    int handover_pid;
    int *handover_fds;       /* dups to send once the controller closed (then freed) */
    size_t handover_n_fds;
    int handover_n_listen, handover_n_test;
    uv_poll_t handover_poll; /* "ready" (or EOF) from the new process */
    bool handover_poll_on;
    /* Reload: the `serve --takeover` started on the new config. */
    uv_signal_t sig_hup;
    uv_process_t reload_proc;
    bool reload_proc_on;     /* reload_proc initialised, not yet closed */
    int reload_pid;          /* > 0 until it took over or exited */
    bg_admin_req_t *reload_req; /* POST /v1/reload, answered when it took over */
    json_t *reload_summary;     /* services added/removed/kept, for that answer */
};

/* notify.c: systemd readiness (sd_notify protocol). Takes $NOTIFY_SOCKET out of the
 * environment (targets must not inherit it). Thread: control, before any thread starts. */
void srv_notify_init(bg_server_t *s);
/* Sends <state> ("READY=1", "RELOADING=1", "STOPPING=1", optionally with "\nSTATUS=...")
 * to the service manager; a no-op returning 0 outside systemd. Logs and returns a negative
 * errno when the datagram cannot be sent. Thread: control. */
int srv_notify(bg_server_t *s, const char *state);

/* model.c */
int srv_model_init(bg_server_t *s, bg_err_t *err);
void srv_model_fini(bg_server_t *s);
srv_service_t *srv_service_find(bg_server_t *s, const char *name);
/* Appends <t> (the model takes the caller's ref) to its slot. */
void srv_slot_add(srv_service_t *svc, int slot, bg_target_t *t);
/* Removes and returns the target with <id> (the caller gets the model's ref), or NULL. */
bg_target_t *srv_service_take(srv_service_t *svc, uint64_t id);
bg_target_t *srv_service_find_addr(srv_service_t *svc, int slot, const char *addr);
/* Builds a snapshot of the model, publishes it and wakes the workers. Returns the new
 * generation. */
uint64_t srv_publish(bg_server_t *s);
/* The verified switch: waits on the loop (never blocking it) until every worker serves
 * <generation> (published at <published_us>), then calls <cb>(arg) once. With <svc>, a
 * success is recorded as the service's last switch. Any control-thread code that changes
 * routing (the admin ops, a deployment controller) waits through this. */
void srv_switch_wait(bg_server_t *s, uint64_t generation, uint64_t published_us, srv_service_t *svc,
                     srv_switch_cb cb, void *arg);
/* Calls back every waiting change with <code> (shutdown). */
void srv_waiters_fail(bg_server_t *s, int code);
/* The health checker's transition callback. */
void srv_on_health(void *ctx, bg_target_t *t, bool healthy, const char *reason);

/* instances.c */
/* Opens the driver of every kind a service uses; which instances run is the controller's
 * business (bg_deployer_boot, deployments), through deploy_host.c. */
int srv_instances_start(bg_server_t *s, bg_err_t *err);
/* The driver of <svc> (NULL before srv_instances_start() or after the drivers closed). */
bg_driver_t *srv_driver_of(bg_server_t *s, const srv_service_t *svc);
/* Stops every instance, then closes the drivers (asynchronously, on the loop). */
void srv_instances_stop(bg_server_t *s);
/* Shutdown with stop_targets: every instance is gone (or there was none); stores that,
 * answers the waiting POST /v1/shutdown and stops the admin API. (server.c) */
void srv_targets_stopped(bg_server_t *s);
/* Starts the shutdown (idempotent): from a signal, bg_server_stop()/_shutdown() or
 * POST /v1/shutdown (<req>, answered once the shutdown got that far; may be NULL).
 * (server.c) */
void srv_shutdown(bg_server_t *s, const char *why, bool stop_targets, bg_admin_req_t *req);
srv_instance_t *srv_instance_of(bg_server_t *s, const bg_target_t *t);
/* Closes the drivers once no instance stop is pending and shutdown began (driver_closing). */
void srv_instances_maybe_close(bg_server_t *s);

/* server.c: closes the controller / stops the admin API once (idempotent). */
void srv_deployer_close(bg_server_t *s);
void srv_admin_stop(bg_server_t *s);

/* handover.c: zero-downtime restart, upgrade and reload (docs/internals/server.md). */
/* New process, before the admin API starts: takes the running daemon's sockets (POST
 * /v1/takeover on its admin socket); the proxy and admin then listen on them. */
int srv_takeover(bg_server_t *s, bg_err_t *err);
/* New process, once it serves: tells the previous one, then waits for it to finish. */
void srv_takeover_ready(bg_server_t *s);
/* POST /v1/takeover: hands the sockets over and stops once the new process serves. */
void srv_op_takeover(bg_server_t *s, bg_admin_req_t *req);
/* The controller closed during a hand-over: frees it (closing the store) and sends the
 * sockets to the new process. */
void srv_handover_send(bg_server_t *s);
/* POST /v1/reload (<req>) or SIGHUP (<req> NULL): validates the config file and starts
 * `serve --takeover` on it, or refuses with the error (nothing changes). */
void srv_reload(bg_server_t *s, const char *why, bg_admin_req_t *req);
/* Shutdown: answers a waiting reload, closes the hand-over handles. */
void srv_handover_close(bg_server_t *s);

/* deploy_host.c: what the deployment controller may do to the model. */
void srv_deploy_host(bg_server_t *s, bg_deploy_host_t *out);
/* Shutdown: slots still draining stop their instances now (before srv_instances_stop). */
void srv_deploy_host_shutdown(bg_server_t *s);

/* api.c */
extern const bg_admin_ops_t srv_admin_ops;
/* Revision <revno> (<version>) serves in <slot> of <svc> from now on: when it differs from
 * the one the slot's series carry, the series restart at 0 under the new version label. */
void srv_metrics_slot_revision(srv_service_t *svc, int slot, int64_t revno, const char *version);

/* live.c: made after the model (reads its counters as the starting point); the timer
 * starts with the server; GET /v1/stats answers the ring. */
srv_live_t *srv_live_new(bg_server_t *s);
void srv_live_free(srv_live_t *l);
void srv_live_start(bg_server_t *s);
/* Takes one sample now (the timer's work; tests call it through the timer only). */
void srv_live_sample(bg_server_t *s);
void srv_live_route(bg_server_t *s, bg_admin_req_t *req);

/* observe.c: the metrics_listen endpoint. */
int srv_metrics_new(bg_server_t *s, bg_err_t *err);
int srv_metrics_start(bg_server_t *s, bg_err_t *err);
void srv_metrics_stop(bg_server_t *s);
/* Opens the access log of the config (before the proxy, which borrows it). */
int srv_alog_new(bg_server_t *s, bg_err_t *err);
/* SIGUSR1 and POST /v1/logs/reopen (<req> answered at once; NULL for the signal). */
void srv_reopen_logs(bg_server_t *s, bg_admin_req_t *req);
void srv_sig_usr1(uv_signal_t *h, int signum);
json_t *srv_target_json(bg_server_t *s, const bg_target_t *t);

/* acme.c: automatic certificates (docs/tls.md "Automatic certificates (ACME)") */
typedef struct srv_acme srv_acme_t;
/* Makes listener <k>'s ACME state (<block> has acme) and the TLS config to start with:
 * *<eff> (caller frees) is <block> plus the stored certificate, or a temporary self-signed
 * one made in memory. 0 or an error (state_dir/acme not writable). */
int srv_acme_prepare(bg_server_t *s, int k, const char *name, const bg_tls_config_t *block,
                     bg_tls_config_t **eff, bg_err_t *err);
/* When the stored files of srv_acme_prepare() do not load with the listener (<err> says
 * why): *<eff> is <block> plus a temporary self-signed certificate and an order runs at
 * once. 0, or BG_EINVAL when there were no stored files to blame (<err> kept). */
int srv_acme_fallback(bg_server_t *s, int k, const bg_tls_config_t *block, bg_tls_config_t **eff,
                      bg_err_t *err);
/* Schedules the first orders (at once without a stored certificate, else at renew_at). */
void srv_acme_start(bg_server_t *s);
/* POST /v1/tls/renew: orders new certificates for every acme listener now and answers
 * <req> once they are in use (200, GET /v1/tls's body) or with the first error. */
void srv_acme_renew(bg_server_t *s, bg_admin_req_t *req);
/* Cancels a running order (joins its thread), answers waiting requests 503, closes the
 * handles. */
void srv_acme_shutdown(bg_server_t *s);
/* Frees the state (after the loop is drained). */
void srv_acme_free(bg_server_t *s);
/* Listener <k>'s "acme" object for GET /v1/tls (new reference), NULL without acme. */
json_t *srv_acme_json(bg_server_t *s, int k);
/* bluegreen_acme_renewals_total and bluegreen_acme_next_renewal_timestamp_seconds. */
void srv_acme_metrics(bg_server_t *s, bg_buf_t *out);

/* tls.c: TLS listeners, certificate reload, GET /v1/tls, POST /v1/tls/reload */
/* The TLS block of listener <k> (0 listen, 1 test_listen) of <cfg>, or NULL. */
const bg_tls_config_t *srv_tls_block(const bg_config_t *cfg, int k);
int srv_tls_new(bg_server_t *s, bg_err_t *err);
void srv_tls_free(bg_server_t *s);
json_t *srv_tls_json(bg_server_t *s);
void srv_tls_metrics(bg_server_t *s, bg_buf_t *out);
int srv_tls_reload(bg_server_t *s, const char *why, bg_err_t *err);
void srv_op_tls(bg_server_t *s, bg_admin_req_t *req, const bg_admin_http_t *http);

#endif
