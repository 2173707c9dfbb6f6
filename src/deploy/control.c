/* How deployments end, and the manual actions on them (docs/design.md §3): rollback (automatic or
 * manual: the old slot gets 100% in one stored-then-verified routing change, then the new
 * targets stop, or stay with keep_failed), finish (REFUSED/FAILED/ABORTED results), success
 * (CLEAN_UP after termination_wait; until then a rollback is an instant switch back), and
 * promote / pause / resume / abort.
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

dp_deployment_t *dp_deployment_new(bg_deployer_t *d, dp_service_t *svc)
{
    dp_deployment_t *dep = BG_NEW(dp_deployment_t);

    dep->d = d;
    dep->svc = svc;
    dep->old = svc->live;
    dep->slot = 1 - svc->live;
    dep->from_rev = svc->slot[svc->live].revno;
    dep->judge = bg_judge_new(&svc->cfg->rollback_on);
    uv_timer_init(d->loop, &dep->timer);
    dep->timer.data = dep;
    dep->handles_open = 1;
    d->handles_open++;
    return dep;
}

static void on_dep_timer_closed(uv_handle_t *h)
{
    dp_deployment_t *dep = h->data;
    bg_deployer_t *d = dep->d;

    bg_judge_free(dep->judge);
    bg_revision_config_fini(&dep->rev);
    bg_strategy_fini(&dep->strategy);
    json_decref(dep->record);
    json_decref(dep->api_source);
    free(dep);
    d->handles_open--;
    dp_maybe_closed(d);
}

/* The deployment stays alive while host calls are in flight: their callbacks see
 * <freeing> and come back here. */
void dp_deployment_release(dp_deployment_t *dep)
{
    dep->freeing = true;
    dp_hooks_kill(dep);
    if (dep->resolving) {
        /* The pull is not needed any more; its callback will not come. */
        bg_driver_t *drv = dp_driver(dep->d, dep->svc);
        if (drv != NULL)
            bg_driver_cancel_resolve(drv, dep);
        dep->resolving = false;
        dep->pending--;
    }
    if (dep->answer_req != NULL) {
        bg_admin_respond_errorf(dep->answer_req, BG_EUNAVAIL, "the daemon is shutting down");
        dep->answer_req = NULL;
    }
    if (dep->pending > 0 || dep->hook != NULL || uv_is_closing((uv_handle_t *)&dep->timer))
        return;
    uv_close((uv_handle_t *)&dep->timer, on_dep_timer_closed);
}

static void detach(dp_deployment_t *dep)
{
    if (dep->svc->running == dep)
        dep->svc->running = NULL;
}

void dp_finish(dp_deployment_t *dep, bg_deploy_result_t result, const char *reason)
{
    char *rec;

    dp_timer_stop(dep);
    dep->result = result;
    if (result != BG_RESULT_NONE)
        dep->svc->counts.results[result - 1]++;
    if (reason != dep->reason)
        snprintf(dep->reason, sizeof(dep->reason), "%s", reason ? reason : "");
    if (dep->svc->retiring != dep) {
        dep->phase = BG_PHASE_DONE;
        dp_record_phase(dep);
    }
    rec = json_dumps(dp_record_view(dep), JSON_COMPACT);
    dp_result_store(dep->d, dep->id, bg_deploy_phase_str(dep->phase), bg_deploy_result_str(result),
                    dep->reason, rec, dep->svc->weight);
    free(rec);
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.result", NULL, NULL, "%s%s%s",
             bg_deploy_result_str(result), dep->reason[0] ? ": " : "", dep->reason);
    detach(dep);
    if (dep->release != NULL)
        dp_release_step_done(dep);
    if (dep->svc->retiring != dep)
        dp_deployment_release(dep);
}

/* ---- rollback ---- */

static void on_rb_stopped(void *arg, int status, double ms)
{
    dp_deployment_t *dep = arg;

    (void)status;
    (void)ms;
    dep->pending--;
    dp_slot_clear(dep->d, dep->svc, dep->slot);
    dp_slot_set_rev(dep->svc, dep->slot, 0, NULL);
    dp_service_store(dep->d, dep->svc, NULL);
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    dp_finish(dep, dep->rollback_result, dep->reason);
}

static void stop_new_slot(dp_deployment_t *dep)
{
    if (dep->svc->cfg->keep_failed && dep->rollback_result != BG_RESULT_ABORTED &&
        dep->svc->slot[dep->slot].n_insts > 0) {
        dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.keep_failed", NULL, NULL,
                 "keep_failed: the %s targets stay up for inspection (preview)",
                 bg_slot_str((bg_slot_t)dep->slot));
        dp_finish(dep, dep->rollback_result, dep->reason);
        return;
    }
    dp_flush(dep->d, NULL);
    dep->pending++;
    dep->d->host.stop_slot(dep->d->host.ctx, dep->svc->cfg->name, dep->slot, on_rb_stopped, dep);
}

static void on_rb_switched(void *arg, int status, double switch_ms)
{
    dp_deployment_t *dep = arg;

    dep->pending--;
    if (dep->freeing) {
        dp_deployment_release(dep);
        return;
    }
    dp_record_switch(dep, dep->svc->weight, status == 0 ? switch_ms : -1.0);
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "traffic", NULL, NULL,
             "rolled back: %s 100%% (switch %.3f ms)", bg_slot_str((bg_slot_t)dep->old), switch_ms);
    dp_answer(dep);
    stop_new_slot(dep);
}

/* Old slot 100%: stored, then published and verified. */
static void switch_back(dp_deployment_t *dep, bg_deploy_done_cb cb)
{
    dp_service_t *svc = dep->svc;

    svc->weight[dep->old] = 100;
    svc->weight[dep->slot] = 0;
    svc->live = dep->old;
    /* A rollback goes on even when the store fails: the old slot is known to work. */
    if (dp_service_store(dep->d, svc, NULL) != 0 || dp_flush(dep->d, NULL) != 0)
        bg_log(BG_LOG_ERROR, "deploy", "service=%s msg=\"rollback routing not stored\"",
               svc->cfg->name);
    dep->pending++;
    dep->d->host.set_weights(dep->d->host.ctx, svc->cfg->name, svc->weight, cb, dep);
}

void dp_rollback(dp_deployment_t *dep, bg_deploy_result_t result, bg_metrics_rollback_t why,
                 bool evidence, const char *fmt, ...)
{
    dp_service_t *svc = dep->svc;
    va_list ap;

    if (dep->stopping)
        return;
    dep->stopping = true;
    svc->counts.rollbacks[why]++;
    dp_timer_stop(dep);
    dp_hooks_kill(dep);
    dep->rollback_result = result;
    va_start(ap, fmt);
    vsnprintf(dep->reason, sizeof(dep->reason), fmt, ap);
    va_end(ap);
    if (evidence)
        json_object_set_new(
            dep->record, "evidence",
            json_pack("{s:o}", "targets",
                      dep->d->host.evidence(dep->d->host.ctx, svc->cfg->name, dep->slot, true)));
    dp_event(dep->d, svc->cfg->name, dep->id, "deploy.rollback", NULL, NULL, "rolling back: %s",
             dep->reason);
    dep->phase = BG_PHASE_ROLLBACK;
    dp_tx(dep->d);
    bg_store_deployment_set_phase(dep->d->store, dep->id, "ROLLBACK", svc->weight, NULL);
    dp_record_phase(dep);
    if (svc->weight[dep->slot] > 0 || svc->live != dep->old) {
        switch_back(dep, on_rb_switched);
    } else {
        dp_answer(dep);
        stop_new_slot(dep);
    }
}

void dp_answer(dp_deployment_t *dep)
{
    bg_admin_req_t *req = dep->answer_req;

    if (req == NULL)
        return;
    dep->answer_req = NULL;
    dp_flush(dep->d, NULL);
    dep->result = dep->rollback_result; /* the switch back is done: the result stands */
    bg_admin_respond_json(req, 200, json_deep_copy(dp_record_view(dep)));
}

/* ---- success, termination wait, clean-up ---- */

static void on_termination_wait(uv_timer_t *t)
{
    dp_cleanup(t->data, "termination wait over");
}

void dp_succeed(dp_deployment_t *dep)
{
    dp_service_t *svc = dep->svc;

    svc->live = dep->slot;
    dp_service_store(dep->d, svc, NULL);
    dep->phase = BG_PHASE_CLEAN_UP;
    dp_tx(dep->d);
    bg_store_deployment_set_phase(dep->d->store, dep->id, "CLEAN_UP", svc->weight, NULL);
    dp_record_phase(dep);
    svc->retiring = dep;
    dp_finish(dep, BG_RESULT_SUCCEEDED, "");
    dep->release = NULL;
    dep->phase = BG_PHASE_CLEAN_UP;
    dp_tx(dep->d);
    bg_store_deployment_amend(dep->d->store, dep->id, "CLEAN_UP", "SUCCEEDED", "", NULL, NULL);
    dp_event(dep->d, svc->cfg->name, dep->id, "deploy.phase", NULL, NULL,
             "phase CLEAN_UP: the old slot %s stays for %u ms (instant rollback), then stops",
             bg_slot_str((bg_slot_t)dep->old), svc->cfg->termination_wait_ms);
    dp_timer(dep, svc->cfg->termination_wait_ms, on_termination_wait);
}

/* After a restart: a succeeded deployment whose old slot still runs gets its termination
 * wait back for the <remaining_ms> that were left, so `rollback` stays an instant switch
 * back. The in-memory deployment is rebuilt from its stored row and record. */
void dp_retiring_restore(bg_deployer_t *d, dp_service_t *svc, const bg_store_deployment_t *row,
                         uint64_t remaining_ms)
{
    dp_deployment_t *dep = dp_deployment_new(d, svc);
    json_t *rec = json_loads(row->record_json ? row->record_json : "{}", 0, NULL);
    json_int_t steps = json_integer_value(json_object_get(rec, "steps"));
    json_int_t step = json_integer_value(json_object_get(rec, "step"));

    dep->id = row->id;
    dep->slot = row->slot;
    dep->old = 1 - row->slot;
    dep->from_rev = row->from_revision;
    dep->to_rev = row->to_revision;
    dep->phase = BG_PHASE_CLEAN_UP;
    dep->result = BG_RESULT_SUCCEEDED;
    snprintf(dep->reason, sizeof(dep->reason), "%s", row->reason);
    if (svc->slot[dep->slot].revno == row->to_revision)
        bg_revision_config_copy(&dep->rev, &svc->slot[dep->slot].rev);
    /* only shown ("step of steps"); the plan itself is not needed any more */
    dep->n_steps = steps > 0 && steps <= BG_PLAN_MAX_STEPS ? (size_t)steps : 0;
    dep->step = step > 0 && (size_t)step <= dep->n_steps ? (size_t)step : dep->n_steps;
    if (!json_is_object(rec)) {
        json_decref(rec);
        rec = json_object();
    }
    dep->record = rec;
    svc->retiring = dep;
    dp_event(d, svc->cfg->name, dep->id, "deploy.phase", NULL, "recovery",
             "restart during the termination wait: the old slot %s stays for %" PRIu64
             " ms more (instant rollback), then stops",
             bg_slot_str((bg_slot_t)dep->old), remaining_ms);
    dp_timer(dep, remaining_ms, on_termination_wait);
}

static void on_old_stopped(void *arg, int status, double ms)
{
    dp_deployment_t *dep = arg;
    char *rec;

    (void)status;
    (void)ms;
    dep->pending--;
    dp_slot_clear(dep->d, dep->svc, dep->old);
    if (dep->svc->weight[dep->old] == 0)
        dp_slot_set_rev(dep->svc, dep->old, 0, NULL);
    dp_service_store(dep->d, dep->svc, NULL);
    dep->phase = BG_PHASE_DONE;
    dp_tx(dep->d);
    bg_store_deployment_set_phase(dep->d->store, dep->id, "DONE", dep->svc->weight, NULL);
    dp_record_phase(dep);
    rec = json_dumps(dp_record_view(dep), JSON_COMPACT);
    bg_store_deployment_amend(dep->d->store, dep->id, "DONE", bg_deploy_result_str(dep->result),
                              dep->reason, rec, NULL);
    free(rec);
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.cleanup", NULL, NULL,
             "old slot %s stopped", bg_slot_str((bg_slot_t)dep->old));
    dp_deployment_release(dep);
}

void dp_cleanup(dp_deployment_t *dep, const char *why)
{
    if (dep->svc->retiring == dep)
        dep->svc->retiring = NULL;
    dp_event(dep->d, dep->svc->cfg->name, dep->id, "deploy.cleanup", NULL, NULL,
             "%s: draining and stopping the old slot %s", why, bg_slot_str((bg_slot_t)dep->old));
    dp_flush(dep->d, NULL);
    dep->pending++;
    dep->d->host.stop_slot(dep->d->host.ctx, dep->svc->cfg->name, dep->old, on_old_stopped, dep);
}
