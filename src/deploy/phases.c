/* The phases of one deployment (docs/design.md §3), one function each, and the dispatch that runs
 * the current one. dp_enter() writes the phase to the store BEFORE the phase acts, then
 * records it in the DEPLOYMENT JSON and the audit trail. Phases that wait (health, hooks,
 * traffic steps, bake) arm the deployment's timer or a hook process and come back through
 * dp_run(). A weight change is stored first, then published; the next wait starts only
 * when the host reports that every worker serves it (the verified switch).
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define POLL_HEALTH_MS 25
#define JUDGE_TICK_MS 250

static void on_timer(uv_timer_t *t)
{
    dp_run(t->data);
}

void dp_timer(dp_deployment_t *dep, uint64_t ms, uv_timer_cb cb)
{
    uv_timer_start(&dep->timer, cb != NULL ? cb : on_timer, ms, 0);
}

void dp_timer_stop(dp_deployment_t *dep)
{
    uv_timer_stop(&dep->timer);
}

bool dp_rollback_judged(const bg_rollback_on_t *r)
{
    return r->has_error_rate || r->p99_ms > 0 || r->unhealthy_targets >= 0;
}

void dp_enter(dp_deployment_t *dep, bg_deploy_phase_t phase)
{
    bg_err_t err;
    const uint32_t *w = dep->svc->weight;

    bg_err_clear(&err);
    dp_tx(dep->d);
    if (bg_store_deployment_set_phase(dep->d->store, dep->id, bg_deploy_phase_str(phase), w,
                                      &err) != 0) {
        /* Not durable, so not done: the deployment cannot go on safely. */
        dep->phase = phase;
        dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, false, "state store: %s", err.msg);
        return;
    }
    dep->phase = phase;
    dep->phase_started_ms = bg_now_ms();
    dp_record_phase(dep);
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.phase", NULL, NULL, "phase %s",
             bg_deploy_phase_str(phase));
    dp_run(dep);
}

static uint32_t first_percent(const dp_deployment_t *dep)
{
    for (size_t i = 0; i < dep->n_steps; i++)
        if (!dep->steps[i].pause && dep->steps[i].percent > 0)
            return dep->steps[i].percent;
    return 100;
}

static void join_edges(const bg_compat_result_t *res, char *out, size_t size)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < res->n_edges && n + 1 < size; i++)
        n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "; " : "", res->edges[i].message);
}

/* ---- PRE_SCALE_UP: the artifact pinned by the driver (docker: tag -> digest) ---- */

static void on_progress(void *arg, const bg_driver_progress_t *p)
{
    dp_deployment_t *dep = arg;

    json_object_set_new(dep->record, "pull",
                        json_pack("{s:i,s:i,s:I,s:I,s:s?}", "layers_done", (int)p->layers_done,
                                  "layers_total", (int)p->layers_total, "bytes_done",
                                  (json_int_t)p->bytes_done, "bytes_total",
                                  (json_int_t)p->bytes_total, "status", p->status));
}

/* The pinned artifact replaces the one asked for in the revision (stored, so that a
 * rollback or a re-adopted slot runs exactly it even after the tag moves) and shows in the
 * record beside what was asked for. */
static int pin_artifact(dp_deployment_t *dep, const char *artifact, bg_err_t *err)
{
    json_t *a = json_object_get(dep->record, "artifact");
    int rc;

    if (dep->rev.image == NULL || strcmp(dep->rev.image, artifact) == 0)
        return 0;
    json_object_set_new(a, "resolved", json_string(artifact));
    if (strstr(artifact, "@sha256:") != NULL)
        json_object_set_new(a, "digest", json_string(strstr(artifact, "@sha256:") + 1));
    free(dep->rev.image);
    dep->rev.image = bg_strdup(artifact);
    rc = dp_rev_set_spec(dep->d, dep->svc->cfg->name, dep->to_rev, &dep->rev, err);
    dp_record_store(dep);
    return rc;
}

static void on_resolved(void *arg, int status, const char *artifact, const char *msg)
{
    dp_deployment_t *dep = arg;
    bg_err_t err;

    dep->pending--;
    dep->resolving = false;
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    if (dep->stopping)
        return;
    bg_err_clear(&err);
    if (status != 0) {
        /* Nothing started: the live slot never noticed. */
        dp_finish(dep, BG_RESULT_FAILED, msg != NULL && msg[0] ? msg : bg_strerror(status));
        return;
    }
    if (pin_artifact(dep, artifact, &err) != 0) {
        dp_finish(dep, BG_RESULT_FAILED, err.msg);
        return;
    }
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.artifact", NULL, NULL, "artifact %s",
             artifact);
    dp_enter(dep, BG_PHASE_SCALE_UP);
}

static void resolve_artifact(dp_deployment_t *dep)
{
    bg_driver_t *drv = dp_driver(dep->d, dep->svc);

    dep->pending++;
    dep->resolving = true;
    if (drv != NULL && bg_driver_resolve(drv, dep->svc->cfg->name, &dep->rev, on_progress,
                                         on_resolved, dep))
        return;
    dep->pending--;
    dep->resolving = false;
    dp_enter(dep, BG_PHASE_SCALE_UP);
}

static void ph_pre_scale_up(dp_deployment_t *dep)
{
    bg_compat_world_t *w;
    bg_compat_result_t res;
    char reason[512];
    bg_err_t err;
    int rc = BG_EINVAL;

    bg_err_clear(&err);
    bg_compat_result_init(&res);
    w = dp_world(dep->d, &err);
    if (w != NULL)
        rc = bg_compat_check_deploy(w, dep->svc->cfg->name, (bg_slot_t)dep->slot, &dep->rev,
                                    first_percent(dep), dep->d->rules, &res, &err);
    json_object_set_new(dep->record, "gate", bg_compat_result_to_json(&res));
    if (rc != 0) {
        dp_finish(dep, BG_RESULT_FAILED, err.msg);
    } else if (!bg_compat_result_ok(&res)) {
        join_edges(&res, reason, sizeof(reason));
        dep->svc->counts.gate_refusals[BG_METRICS_GATE_DEPLOY]++;
        dp_finish(dep, BG_RESULT_REFUSED, reason);
    } else {
        resolve_artifact(dep);
    }
    bg_compat_result_fini(&res);
    bg_compat_world_free(w);
}

static void on_slot_emptied(void *arg, int status, double ms)
{
    dp_deployment_t *dep = arg;

    (void)status;
    (void)ms;
    dep->pending--;
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    dp_slot_clear(dep->d, dep->svc, dep->slot);
    dp_slot_set_rev(dep->svc, dep->slot, 0, NULL);
    if (!dep->stopping)
        dp_run(dep);
}

/* The slot still holds the previous revision (its termination wait) or kept failed
 * targets: they go first. */
static bool empty_slot_first(dp_deployment_t *dep)
{
    dp_service_t *svc = dep->svc;
    bg_deploy_slot_status_t st = {0};

    dep->d->host.slot_status(dep->d->host.ctx, svc->cfg->name, dep->slot, &st);
    if (st.targets == 0 && svc->slot[dep->slot].n_insts == 0)
        return false;
    if (svc->retiring != NULL) {
        dp_deployment_t *old = svc->retiring;
        svc->retiring = NULL;
        dp_event(dep->d, svc->cfg->name, old->id, "deploy.cleanup", NULL, NULL,
                 "old slot %s cleaned up early: deployment %" PRId64 " needs it",
                 bg_slot_str((bg_slot_t)dep->slot), dep->id);
        dp_deployment_release(old);
    }
    dp_flush(dep->d, NULL);
    dep->pending++;
    dep->d->host.stop_slot(dep->d->host.ctx, svc->cfg->name, dep->slot, on_slot_emptied, dep);
    return true;
}

/* One start in flight: its deployment and the intent row stored before it. */
typedef struct start_ctx {
    dp_deployment_t *dep;
    int64_t row;
} start_ctx_t;

/* One instance runs (synchronously or reported later): recorded with its handle. */
static void inst_running(dp_deployment_t *dep, int64_t row, const bg_deploy_instance_t *inst)
{
    dp_service_t *svc = dep->svc;

    dp_inst_add(dep->d, svc, dep->slot, dep->to_rev, row, inst);
    dp_event(dep->d, svc->cfg->name, dep->id, "target.started", NULL, NULL,
             "%s (%s, rev %" PRId64 ") started, handle %s", inst->address,
             bg_slot_str((bg_slot_t)dep->slot), dep->to_rev, inst->handle);
    dp_flush(dep->d, NULL); /* the handle is stored before anything else happens */
}

static void on_started(void *arg, int status, const bg_deploy_instance_t *inst, const char *msg)
{
    start_ctx_t sc = *(start_ctx_t *)arg;
    dp_deployment_t *dep = sc.dep;

    free(arg);
    dep->pending--;
    dep->starting--;
    if (status != 0 || dep->freeing || dep->stopping) {
        /* Not running (or no longer wanted: the rollback stops it): the row says so,
         * unless it did run, in which case it is recorded for the stop to clear. */
        if (status == 0 && !dep->freeing)
            dp_inst_add(dep->d, dep->svc, dep->slot, dep->to_rev, sc.row, inst);
        else
            dp_inst_abandon(dep->d, sc.row);
    }
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    if (dep->stopping)
        return;
    if (status != 0) {
        dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, true, "scale-up: %s",
                    msg != NULL && msg[0] ? msg : bg_strerror(status));
        return;
    }
    inst_running(dep, sc.row, inst);
    if (dep->starting == 0)
        dp_enter(dep, BG_PHASE_POST_SCALE_UP);
}

static void ph_scale_up(dp_deployment_t *dep)
{
    dp_service_t *svc = dep->svc;
    bg_err_t err;

    if (empty_slot_first(dep))
        return;
    bg_err_clear(&err);
    dp_slot_set_rev(svc, dep->slot, dep->to_rev, &dep->rev);
    if (dp_service_store(dep->d, svc, &err) != 0 || dp_flush(dep->d, &err) != 0) {
        dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, false, "state store: %s", err.msg);
        return;
    }
    for (unsigned i = 0; i < dep->rev.count; i++) {
        bg_instance_spec_t spec = {.service = svc->cfg->name,
                                   .slot = dep->slot,
                                   .revision = dep->to_rev,
                                   .index = i,
                                   .rev = &dep->rev,
                                   .stop_timeout_ms = svc->cfg->stop_timeout_ms,
                                   .store_id = bg_store_id(dep->d->store)};
        bg_deploy_instance_t inst;
        int64_t row = dp_inst_intent(dep->d, svc, dep->slot, dep->to_rev, &err);
        start_ctx_t *sc;
        int rc;
        if (row == 0) {
            dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, false, "state store: %s", err.msg);
            return;
        }
        memset(&inst, 0, sizeof(inst));
        sc = BG_NEW(start_ctx_t);
        sc->dep = dep;
        sc->row = row;
        rc = dep->d->host.start(dep->d->host.ctx, &spec, on_started, sc, &inst, &err);
        if (rc < 0) {
            free(sc);
            dp_inst_abandon(dep->d, row);
            dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, false, "scale-up: instance %u: %s",
                        i, err.msg);
            return;
        }
        if (rc > 0) {
            dep->starting++;
            dep->pending++;
            continue;
        }
        free(sc);
        /* Test builds: the daemon dies in the window between a start and the commit of
         * its row (tests/e2e/crash_safety.c); the next boot must stop what runs. */
        if (bg_fault("deploy.crash_after_start"))
            raise(SIGKILL);
        inst_running(dep, row, &inst);
    }
    if (dep->starting == 0)
        dp_enter(dep, BG_PHASE_POST_SCALE_UP);
}

static void ph_post_scale_up(dp_deployment_t *dep)
{
    bg_deploy_slot_status_t st = {0};
    uint64_t waited = bg_now_ms() - dep->phase_started_ms;
    uint32_t limit = dep->svc->cfg->startup_timeout_ms;
    char dur[32];

    dep->d->host.slot_status(dep->d->host.ctx, dep->svc->cfg->name, dep->slot, &st);
    if (st.healthy >= dep->rev.count) {
        dp_enter(dep, BG_PHASE_TEST_TRAFFIC);
    } else if (waited >= limit) {
        dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_STARTUP_TIMEOUT, true,
                    "startup timeout: %u of %u targets healthy after %s%s%s", st.healthy,
                    dep->rev.count, bg_duration_format(limit, dur, sizeof(dur)),
                    st.detail[0] ? "; " : "", st.detail);
    } else {
        dp_timer(dep, POLL_HEALTH_MS, NULL);
    }
}

static void on_test_hooks(dp_deployment_t *dep, size_t failed, int status, const char *cmd)
{
    if (failed == 0) {
        dp_enter(dep, BG_PHASE_PRODUCTION_TRAFFIC_SHIFT);
        return;
    }
    char why[400];

    dp_hook_reason(why, sizeof(why), "test", cmd, status, dep->svc->cfg->hooks_timeout_ms);
    dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_HOOK, true, "%s", why);
}

/* "http://HOST:PORT" of the test listener (else the production one, where the preview is
 * reached with X-Bluegreen-Slot: preview), with the port actually bound (":0" in a config
 * picks one) and a wildcard host replaced by 127.0.0.1. */
static char *test_base(dp_deployment_t *dep)
{
    const bg_config_t *cfg = dep->d->cfg;
    bool test = cfg->test_listen != NULL;
    const char *where = test ? cfg->test_listen : cfg->listen ? cfg->listen : "127.0.0.1:8080";
    const char *colon = strrchr(where, ':');
    int port = dep->d->host.listen_port ? dep->d->host.listen_port(dep->d->host.ctx, test) : -1;
    int hlen = colon ? (int)(colon - where) : (int)strlen(where);

    if (hlen == 0 || (hlen == 7 && strncmp(where, "0.0.0.0", 7) == 0) ||
        (hlen == 4 && strncmp(where, "[::]", 4) == 0)) {
        where = "127.0.0.1";
        hlen = 9;
    }
    if (port <= 0)
        return bg_asprintf("http://%s", where);
    return bg_asprintf("http://%.*s:%d", hlen, where, port);
}

static void hook_env(dp_deployment_t *dep, char *vars[4])
{
    const char *ext = dep->d->host.test_url != NULL
                          ? dep->d->host.test_url(dep->d->host.ctx, dep->svc->cfg->name)
                          : NULL;

    if (ext != NULL) {
        vars[0] = bg_asprintf("BLUEGREEN_TEST_URL=%s", ext);
    } else {
        char *base = test_base(dep);
        vars[0] = bg_asprintf("BLUEGREEN_TEST_URL=%s%s", base,
                              dep->svc->cfg->path_prefix ? dep->svc->cfg->path_prefix : "/");
        free(base);
    }
    vars[1] = bg_asprintf("BLUEGREEN_SERVICE=%s", dep->svc->cfg->name);
    vars[2] = bg_asprintf("BLUEGREEN_HOST=%s", dep->svc->cfg->host ? dep->svc->cfg->host : "");
    vars[3] = bg_asprintf("BLUEGREEN_VERSION=%s", dep->rev.version ? dep->rev.version : "");
}

static void run_hooks(dp_deployment_t *dep, char *const *cmds, size_t n, dp_hooks_cb cb)
{
    char *vars[4];
    const char *env[5];

    hook_env(dep, vars);
    for (int i = 0; i < 4; i++)
        env[i] = vars[i];
    env[4] = NULL;
    dp_hooks_run(dep, cmds, n, env, cb);
    for (int i = 0; i < 4; i++)
        free(vars[i]);
}

static void ph_test_traffic(dp_deployment_t *dep)
{
    const bg_service_config_t *c = dep->svc->cfg;

    if (c->n_hooks_test == 0) {
        dp_enter(dep, BG_PHASE_PRODUCTION_TRAFFIC_SHIFT);
        return;
    }
    run_hooks(dep, c->hooks_test, c->n_hooks_test, on_test_hooks);
}

/* ---- watching: traffic step waits and the bake ---- */

static void advance(dp_deployment_t *dep);

static bool judge_breach(dp_deployment_t *dep)
{
    const bg_rollback_on_t *r = &dep->svc->cfg->rollback_on;
    const bg_traffic_stats_t *st;
    bg_deploy_slot_status_t ss = {0};
    bg_judge_verdict_t v;

    if (!dp_rollback_judged(r))
        return false;
    st = dep->d->host.slot_stats(dep->d->host.ctx, dep->svc->cfg->name, dep->slot);
    dep->d->host.slot_status(dep->d->host.ctx, dep->svc->cfg->name, dep->slot, &ss);
    bg_judge_sample(dep->judge, bg_now_ms(), st);
    bg_judge_evaluate(dep->judge, ss.unhealthy, &v);
    if (!v.breach)
        return false;
    dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_ROLLBACK_ON, true, "rollback_on: %s", v.reason);
    return true;
}

static void on_watch_tick(uv_timer_t *t)
{
    dp_deployment_t *dep = t->data;
    uint64_t now = bg_now_ms();

    if (dep->stopping || judge_breach(dep))
        return;
    if (now >= dep->wait_until_ms && !dep->paused) {
        advance(dep);
        return;
    }
    dp_timer(dep,
             dep->paused || dep->wait_until_ms - now > JUDGE_TICK_MS ? JUDGE_TICK_MS
                                                                     : dep->wait_until_ms - now,
             on_watch_tick);
}

static void watch(dp_deployment_t *dep, uint64_t ms)
{
    dep->wait_until_ms = bg_now_ms() + ms;
    on_watch_tick(&dep->timer);
}

/* The wait after a step (or the bake) is over and nothing breached. */
static void advance(dp_deployment_t *dep)
{
    if (dep->phase == BG_PHASE_BAKE) {
        dp_succeed(dep);
        return;
    }
    dep->step++;
    dp_run(dep);
}

static void on_check_hooks(dp_deployment_t *dep, size_t failed, int status, const char *cmd)
{
    if (failed != 0) {
        char why[400];
        dp_hook_reason(why, sizeof(why), "check", cmd, status, dep->svc->cfg->hooks_timeout_ms);
        dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_HOOK, true, "%s", why);
        return;
    }
    watch(dep, dep->promoted ? 0 : dep->steps[dep->step].wait_ms);
}

static void on_step_switched(void *arg, int status, double switch_ms)
{
    dp_deployment_t *dep = arg;
    const bg_service_config_t *c = dep->svc->cfg;

    dep->pending--;
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    if (dep->stopping)
        return;
    dp_record_switch(dep, dep->svc->weight, status == 0 ? switch_ms : -1.0);
    dp_event(dep->d, c->name, dep->id, "traffic", NULL, NULL,
             "step %zu/%zu: blue %u%%, green %u%% (switch %.3f ms%s)", dep->step + 1, dep->n_steps,
             dep->svc->weight[0], dep->svc->weight[1], switch_ms,
             status == 0 ? "" : ", not confirmed by every worker");
    if (c->n_hooks_check > 0)
        run_hooks(dep, c->hooks_check, c->n_hooks_check, on_check_hooks);
    else
        on_check_hooks(dep, 0, 0, NULL);
}

/* Gate for the world after the step, then store, then publish. */
static void take_step(dp_deployment_t *dep, uint32_t pct)
{
    dp_service_t *svc = dep->svc;
    bg_compat_world_t *w, *after = NULL;
    bg_compat_result_t res;
    char reason[512];
    bg_err_t err;

    bg_err_clear(&err);
    bg_compat_result_init(&res);
    w = dp_world(dep->d, &err);
    if (w != NULL)
        after = bg_compat_world_with_step(w, svc->cfg->name, (bg_slot_t)dep->slot, &dep->rev, pct,
                                          &err);
    if (after != NULL)
        bg_compat_check(after, svc->cfg->name, dep->d->rules, &res);
    bg_compat_world_free(after);
    bg_compat_world_free(w);
    if (after == NULL || !bg_compat_result_ok(&res)) {
        join_edges(&res, reason, sizeof(reason));
        bg_compat_result_fini(&res);
        dep->svc->counts.gate_refusals[BG_METRICS_GATE_STEP]++;
        dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_GATE, false, "gate before step to %u%%: %s", pct,
                    after == NULL ? err.msg : reason);
        return;
    }
    bg_compat_result_fini(&res);
    uint32_t was[2] = {svc->weight[0], svc->weight[1]};
    svc->weight[dep->slot] = pct;
    svc->weight[dep->old] = 100 - pct;
    if (dp_service_store(dep->d, svc, &err) != 0 ||
        bg_store_deployment_set_phase(dep->d->store, dep->id, bg_deploy_phase_str(dep->phase),
                                      svc->weight, &err) != 0 ||
        dp_flush(dep->d, &err) != 0) {
        /* Not stored, so not done: routing stays as it was. */
        svc->weight[0] = was[0];
        svc->weight[1] = was[1];
        dp_rollback(dep, BG_RESULT_FAILED, BG_METRICS_RB_ERROR, false, "state store: %s", err.msg);
        return;
    }
    dep->traffic_shifted = true;
    dep->pending++;
    dep->d->host.set_weights(dep->d->host.ctx, svc->cfg->name, svc->weight, on_step_switched, dep);
}

static void ph_shift(dp_deployment_t *dep)
{
    if (dep->promoted && dep->step + 1 < dep->n_steps)
        dep->step = dep->n_steps - 1; /* the last step is always 100 */
    if (dep->step >= dep->n_steps) {
        dp_enter(dep, BG_PHASE_BAKE);
        return;
    }
    if (dep->paused && !dep->steps[dep->step].pause) {
        /* paused by hand before this step: hold here until resume or promote */
        dp_timer(dep, JUDGE_TICK_MS, NULL);
        return;
    }
    if (dep->steps[dep->step].pause) {
        dep->paused = true;
        dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.paused", NULL, NULL,
                 "paused at step %zu (blue %u%%, green %u%%): waiting for promote or resume",
                 dep->step + 1, dep->svc->weight[0], dep->svc->weight[1]);
        dep->wait_until_ms = 0;
        dp_timer(dep, JUDGE_TICK_MS, on_watch_tick);
        return;
    }
    take_step(dep, dep->steps[dep->step].percent);
}

static void ph_bake(dp_deployment_t *dep)
{
    watch(dep, dep->promoted ? 0 : dep->svc->cfg->bake_ms);
}

/* One function per phase; CLEAN_UP, ROLLBACK and DONE are driven by control.c. */
void dp_run(dp_deployment_t *dep)
{
    if (dep->stopping || dep->freeing)
        return;
    switch (dep->phase) {
    case BG_PHASE_PRE_SCALE_UP:
        ph_pre_scale_up(dep);
        break;
    case BG_PHASE_SCALE_UP:
        ph_scale_up(dep);
        break;
    case BG_PHASE_POST_SCALE_UP:
        ph_post_scale_up(dep);
        break;
    case BG_PHASE_TEST_TRAFFIC:
        ph_test_traffic(dep);
        break;
    case BG_PHASE_PRODUCTION_TRAFFIC_SHIFT:
        ph_shift(dep);
        break;
    case BG_PHASE_BAKE:
        ph_bake(dep);
        break;
    case BG_PHASE_CLEAN_UP:
    case BG_PHASE_ROLLBACK:
    case BG_PHASE_DONE:
        break;
    }
}
