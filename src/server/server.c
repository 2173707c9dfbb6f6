/* Life cycle of the daemon: composition (router, health, proxy, admin around the model),
 * start (state_dir, first snapshot, listeners, workers, signals, health checks, driver
 * instances), the control loop, and the clean stop: answer waiting calls, stop the admin
 * API, stop the proxy with a grace period, stop the instances we run, close the health
 * checker and every handle, and close the loop with nothing left on it.
 */
#include "server/server.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"
#include "compat/compat.h"
#include "server/internal.h"
#include "base/compat.h"

static int mkdir_p(const char *dir, bg_err_t *err)
{
    char *path = bg_strdup(dir);
    int rc = 0;

    for (char *p = path + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            rc = bg_err_set(err, -errno, "state_dir: mkdir %s: %s", path, strerror(errno));
            goto out;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        rc = bg_err_set(err, -errno, "state_dir: mkdir %s: %s", path, strerror(errno));
out:
    free(path);
    return rc;
}

/* A signal is a restart of bluegreen (service manager, upgrade): the instances keep
 * running and the next daemon re-adopts them (docs/design.md §8). */
static void on_signal(uv_signal_t *h, int signum)
{
    srv_shutdown(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM", false, NULL);
}

static void on_sighup(uv_signal_t *h, int signum)
{
    (void)signum;
    srv_reload(h->data, "SIGHUP", NULL);
}

static void on_stop_async(uv_async_t *h)
{
    bg_server_t *s = h->data;
    bool all = atomic_load(&s->stop_targets_req);

    srv_shutdown(s, all ? "stop requested (stop targets)" : "stop requested", all, NULL);
}

static int make_proxy(bg_server_t *s, bg_err_t *err)
{
    bg_proxy_options_t po = {
        .listen = s->cfg->listen,
        .test_listen = s->cfg->test_listen,
        .limits = s->cfg->proxy,
        .router = s->router,
        .passive_notify = bg_health_passive_async(s->health),
        .alog = s->alog,
        .tls = s->tls[0],
        .test_tls = s->tls[1],
        .redirect = s->cfg->listen_redirect,
        .test_redirect = s->cfg->test_listen_redirect,
        .challenges = s->challenges,
    };

    s->proxy = bg_proxy_new(&po, err);
    return s->proxy != NULL ? 0 : (err != NULL && err->code != 0 ? err->code : BG_EINVAL);
}

static int make_admin(bg_server_t *s, bg_err_t *err)
{
    bg_admin_options_t ao = {
        .endpoint = s->cfg->admin,
        .token = s->cfg->admin_token,
        .ops = &srv_admin_ops,
        .ctx = s,
    };
    char *fallback = NULL;

    if (ao.endpoint == NULL)
        ao.endpoint = fallback = bg_asprintf("unix:%s/bluegreen.sock",
                                             s->cfg->state_dir ? s->cfg->state_dir : "./state");
    s->admin = bg_admin_new(&s->loop, &ao, err);
    free(fallback);
    return s->admin != NULL ? 0 : (err != NULL && err->code != 0 ? err->code : BG_EINVAL);
}

static int make_deployer(bg_server_t *s, bg_err_t *err)
{
    bg_deploy_host_t host;

    srv_deploy_host(s, &host);
    s->deployer = bg_deployer_new(&s->loop, s->cfg, &host, err);
    return s->deployer != NULL ? 0 : BG_EINVAL;
}

static bg_server_t *server_new(bg_config_t *cfg, bool takeover, bg_err_t *err)
{
    bg_server_t *s = BG_NEW(bg_server_t);

    s->cfg = cfg;
    s->takeover = takeover;
    srv_notify_init(s);
    s->grace_ms = BG_SERVER_STOP_GRACE_MS;
    s->switch_timeout_ms = BG_SERVER_SWITCH_TIMEOUT_MS;
    s->health_closed = true;
    s->admin_stopped = true;
    bg_list_init(&s->waiters);
    bg_list_init(&s->instances);
    bg_list_init(&s->slot_stops);
    bg_list_init(&s->acme_waiters);
    BG_ASSERT(uv_loop_init(&s->loop) == 0);
    uv_signal_init(&s->loop, &s->sig_int);
    uv_signal_init(&s->loop, &s->sig_term);
    uv_signal_init(&s->loop, &s->sig_usr1);
    uv_signal_init(&s->loop, &s->sig_hup);
    s->sig_hup.data = s;
    s->takeover_fd = s->handover_fd = s->inherited_admin_fd = -1;
    uv_async_init(&s->loop, &s->stop_async, on_stop_async);
    uv_timer_init(&s->loop, &s->switch_timer);
    uv_timer_init(&s->loop, &s->live_timer);
    s->live_timer.data = s;
    uv_idle_init(&s->loop, &s->switch_idle);
    s->sig_int.data = s->sig_term.data = s->stop_async.data = s->sig_usr1.data = s;
    s->switch_timer.data = s->switch_idle.data = s;
    if (cfg == NULL) {
        bg_err_set(err, BG_EINVAL, "server: no configuration");
        goto fail;
    }
    s->router = bg_router_new();
    s->health = bg_health_new(&s->loop, srv_on_health, s);
    s->health_closed = false;
    if (srv_model_init(s, err) != 0 || srv_alog_new(s, err) != 0 || srv_tls_new(s, err) != 0 ||
        make_proxy(s, err) != 0 ||
        make_admin(s, err) != 0 || srv_metrics_new(s, err) != 0)
        goto fail;
    s->live = srv_live_new(s);
    /* With takeover the running daemon holds the state store (exclusively) until it hands
     * over: the controller is made at start, after the takeover. */
    if (!s->takeover && make_deployer(s, err) != 0)
        goto fail;
    return s;
fail:
    bg_server_free(s);
    return NULL;
}

bg_server_t *bg_server_new(bg_config_t *cfg, bg_err_t *err)
{
    return server_new(cfg, false, err);
}

bg_server_t *bg_server_new_takeover(bg_config_t *cfg, bg_err_t *err)
{
    bg_compat_rules_t *rules = NULL;

    /* What the controller would refuse later, refused before the running daemon is asked
     * to hand over. */
    if (cfg != NULL && cfg->matrix != NULL &&
        (rules = bg_compat_rules_load(cfg->matrix, err)) == NULL) {
        bg_config_free(cfg);
        return NULL;
    }
    bg_compat_rules_free(rules);
    return server_new(cfg, true, err);
}

static int watch_all(bg_server_t *s, bg_err_t *err)
{
    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            for (size_t k = 0; k < svc->slot[sl].n; k++) {
                bg_target_t *t = svc->slot[sl].targets[k];
                int rc = bg_health_watch(s->health, t, &svc->cfg->health);
                if (rc == BG_EEXIST)
                    continue; /* an instance, watched since the controller added it */
                if (rc != 0)
                    return bg_err_set(err, rc, "health: cannot watch %s: %s", t->addr_str,
                                      bg_strerror(rc));
            }
        }
    }
    return 0;
}

int bg_server_start(bg_server_t *s, bg_err_t *err)
{
    int rc;

    BG_ASSERT(!s->started && !s->shutting_down);
    /* Writes to a peer that left must come back as EPIPE, not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    if (s->cfg->state_dir != NULL && (rc = mkdir_p(s->cfg->state_dir, err)) != 0)
        return rc;
    /* The admin endpoint first: a second daemon on the same state_dir stops here, before
     * its workers ever bind. Nothing is served before the loop runs. */
    s->admin_stopped = false;
    if (s->takeover && ((rc = srv_takeover(s, err)) != 0 || (rc = make_deployer(s, err)) != 0))
        return rc;
    rc = bg_admin_start_fd(s->admin, s->inherited_admin_fd, err);
    s->inherited_admin_fd = -1; /* the admin owns it now, also on failure */
    if (rc != 0)
        return rc;
    s->admin_started = true;
    /* Routing and targets come back from the store (or the first boot starts the
     * configured revisions) BEFORE the listeners accept: never a half-routed start. */
    if ((rc = srv_instances_start(s, err)) != 0 || (rc = bg_deployer_boot(s->deployer, err)) != 0)
        return rc;
    srv_publish(s);
    if ((rc = bg_proxy_start(s->proxy, err)) != 0)
        return rc;
    s->proxy_running = true;
    if ((rc = srv_metrics_start(s, err)) != 0)
        return rc;
    uv_signal_start(&s->sig_int, on_signal, SIGINT);
    uv_signal_start(&s->sig_term, on_signal, SIGTERM);
    uv_signal_start(&s->sig_usr1, srv_sig_usr1, SIGUSR1);
    uv_signal_start(&s->sig_hup, on_sighup, SIGHUP);
    if ((rc = watch_all(s, err)) != 0)
        return rc;
    srv_live_start(s);
    srv_acme_start(s); /* after the proxy: its plain listeners answer the challenges */
    s->started = true;
    srv_takeover_ready(s);
    bg_log(BG_LOG_INFO, "server",
           "msg=started listen=%s proxy_port=%d test_port=%d admin=%s "
           "services=%zu",
           s->cfg->listen, bg_proxy_port(s->proxy),
           s->cfg->test_listen ? bg_proxy_test_port(s->proxy) : -1,
           s->cfg->admin ? s->cfg->admin : "(default)", s->n_services);
    /* Listeners and admin endpoint are bound: a service manager may start what needs us. */
    srv_notify(s, "READY=1\nSTATUS=serving");
    return 0;
}

static void on_admin_stopped(void *arg)
{
    bg_server_t *s = arg;
    s->admin_stopped = true;
}

static void on_health_closed(void *arg)
{
    bg_server_t *s = arg;
    s->health = NULL;
    s->health_closed = true;
}

static void on_deployer_closed(void *arg)
{
    bg_server_t *s = arg;
    s->deployer_closed = true;
    if (s->handing_over)
        srv_handover_send(s); /* frees the controller: the store is the new process's */
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

void srv_admin_stop(bg_server_t *s)
{
    if (s->admin_stopped || s->admin_stopping)
        return;
    s->admin_stopping = true;
    bg_admin_stop(s->admin, on_admin_stopped, s);
}

void srv_deployer_close(bg_server_t *s)
{
    if (s->deployer == NULL || s->deployer_closed || s->deployer_closing)
        return;
    s->deployer_closing = true;
    bg_deployer_close(s->deployer, on_deployer_closed, s);
}

void srv_targets_stopped(bg_server_t *s)
{
    if (!s->stop_targets || s->targets_done)
        return;
    s->targets_done = true;
    if (s->deployer != NULL)
        bg_deployer_targets_stopped(s->deployer, s->shutdown_actor[0] ? s->shutdown_actor : NULL,
                                    s->shutdown_origin[0] ? s->shutdown_origin : NULL);
    bg_log(BG_LOG_INFO, "server", "msg=\"every instance stopped\"");
    if (s->shutdown_req != NULL) {
        bg_admin_respond_json(
            s->shutdown_req, 200,
            json_pack("{s:b,s:b,s:b}", "shutdown", 1, "stop_targets", 1, "targets_stopped", 1));
        s->shutdown_req = NULL;
    }
    srv_admin_stop(s);
}

/* Idempotent; everything it starts finishes through close callbacks on the loop.
 * Order: waiting calls 503 -> controller closed (deployments stay as stored) -> admin API
 * (kept until the instances are gone with <stop_targets>, to answer the request) -> proxy
 * drained -> slots being drained stop -> the instances are stopped (<stop_targets>) or
 * left running for the next daemon -> health checker and handles. */
void srv_shutdown(bg_server_t *s, const char *why, bool stop_targets, bg_admin_req_t *req)
{
    if (s->shutting_down) {
        if (req != NULL)
            bg_admin_respond_errorf(req, BG_EUNAVAIL, "the daemon is shutting down");
        return;
    }
    s->shutting_down = true;
    if (!s->handing_over) /* else the new process is the service's main process now */
        srv_notify(s, "STOPPING=1");
    s->stop_targets = stop_targets;
    bg_log(BG_LOG_INFO, "server", "msg=stopping reason=\"%s\" grace_ms=%u targets=%s", why,
           s->grace_ms, stop_targets ? "stop" : "keep running");
    srv_waiters_fail(s, BG_EUNAVAIL);
    srv_acme_shutdown(s);
    srv_handover_close(s);
    srv_deployer_close(s);
    if (stop_targets)
        s->shutdown_req = req;
    else if (req != NULL)
        bg_admin_respond_json(
            req, 200,
            json_pack("{s:b,s:b,s:b}", "shutdown", 1, "stop_targets", 0, "targets_stopped", 0));
    if (!stop_targets)
        srv_admin_stop(s);
    srv_metrics_stop(s);
    if (s->proxy_running) {
        bg_proxy_stop(s->proxy, s->grace_ms);
        s->proxy_running = false;
    }
    srv_deploy_host_shutdown(s);
    if (stop_targets)
        srv_instances_stop(s); /* srv_targets_stopped() once every instance is gone */
    else
        srv_instances_maybe_close(s);
    if (s->health != NULL && !s->health_closed)
        bg_health_close(s->health, on_health_closed, s);
    close_handle((uv_handle_t *)&s->sig_int);
    close_handle((uv_handle_t *)&s->sig_term);
    close_handle((uv_handle_t *)&s->sig_usr1);
    close_handle((uv_handle_t *)&s->sig_hup);
    close_handle((uv_handle_t *)&s->stop_async);
    close_handle((uv_handle_t *)&s->switch_timer);
    close_handle((uv_handle_t *)&s->live_timer);
    close_handle((uv_handle_t *)&s->switch_idle);
}

static void log_leftover(uv_handle_t *h, void *arg)
{
    (void)arg;
    bg_log(BG_LOG_ERROR, "server", "msg=\"handle left open at shutdown\" type=%s closing=%d",
           uv_handle_type_name(uv_handle_get_type(h)), uv_is_closing(h));
}

/* Runs the loop until every handle is closed, then closes it. */
static int drain_loop(bg_server_t *s, bg_err_t *err)
{
    int rc;

    uv_run(&s->loop, UV_RUN_DEFAULT);
    rc = uv_loop_close(&s->loop);
    if (rc != 0) {
        uv_walk(&s->loop, log_leftover, NULL);
        return bg_err_set(err, BG_EIO, "server: handles left open on the control loop");
    }
    return 0;
}

int bg_server_run(bg_server_t *s, bg_err_t *err)
{
    int rc;

    if (!s->started && (rc = bg_server_start(s, err)) != 0)
        return rc; /* the caller reports <err> */
    uv_run(&s->loop, UV_RUN_DEFAULT);
    /* uv_run returns only when nothing is active, i.e. after begin_shutdown(). */
    srv_shutdown(s, "loop ended", false, NULL);
    rc = drain_loop(s, err);
    s->started = false;
    s->loop_closed = true;
    if (rc == 0)
        bg_log(BG_LOG_INFO, "server", "msg=stopped");
    return rc;
}

void bg_server_stop(bg_server_t *s)
{
    uv_async_send(&s->stop_async);
}

void bg_server_shutdown(bg_server_t *s, bool stop_targets)
{
    if (stop_targets)
        atomic_store(&s->stop_targets_req, true);
    uv_async_send(&s->stop_async);
}

void bg_server_free(bg_server_t *s)
{
    if (s == NULL)
        return;
    if (!s->loop_closed) {
        srv_shutdown(s, "freed", false, NULL);
        drain_loop(s, NULL);
    }
    bg_proxy_free(s->proxy);
    bg_alog_free(s->alog); /* after the workers: they hand it their last lines */
    srv_tls_free(s);       /* after the workers: their connections hold certificate sets */
    srv_acme_free(s);
    bg_tls_challenges_free(s->challenges); /* after the workers: they read it */
    bg_admin_free(s->admin);
    bg_admin_free(s->metrics);
    bg_deployer_free(s->deployer);
    srv_live_free(s->live);
    srv_model_fini(s);
    bg_router_free(s->router);
    bg_config_free(s->cfg);
    free(s);
}

int bg_server_proxy_port(const bg_server_t *s)
{
    return bg_proxy_port(s->proxy);
}

int bg_server_test_port(const bg_server_t *s)
{
    return s->cfg->test_listen != NULL ? bg_proxy_test_port(s->proxy) : -1;
}

int bg_server_admin_port(const bg_server_t *s)
{
    return bg_admin_port(s->admin);
}

int bg_server_metrics_port(const bg_server_t *s)
{
    return s->metrics != NULL ? bg_admin_port(s->metrics) : -1;
}

const char *bg_server_admin_path(const bg_server_t *s)
{
    return bg_admin_socket_path(s->admin);
}

void bg_server_set_stop_grace(bg_server_t *s, uint32_t grace_ms)
{
    s->grace_ms = grace_ms;
}

void bg_server_set_switch_timeout(bg_server_t *s, uint32_t timeout_ms)
{
    s->switch_timeout_ms = timeout_ms;
}
