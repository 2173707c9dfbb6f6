/* Manual actions on a service's deployment (docs/design.md §3): rollback, promote, pause, resume,
 * abort. A rollback of a running deployment, or of a succeeded one still in its
 * termination wait, is an instant switch back (gated by bg_compat_check_rollback unless
 * forced) answered once every worker serves it; after the termination wait the old slot is
 * gone and the answer says that a rollback is now a new deployment of the previous revision.
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static int rollback_gate(bg_deployer_t *d, dp_service_t *svc, int back_to, json_t **broken,
                         bg_err_t *err)
{
    bg_compat_world_t *w = dp_world(d, err);
    bg_compat_result_t res;
    int rc = 0;

    if (w == NULL)
        return err != NULL && err->code ? err->code : BG_EINVAL;
    bg_compat_result_init(&res);
    if (bg_compat_check_rollback(w, svc->cfg->name, (bg_slot_t)back_to, d->rules, &res) == 0 &&
        !bg_compat_result_ok(&res)) {
        size_t n = (size_t)snprintf(err->msg, sizeof(err->msg),
                                    "rollback would break a consumer "
                                    "(use force): ");
        for (size_t i = 0; i < res.n_edges && n + 1 < sizeof(err->msg); i++)
            n += (size_t)snprintf(err->msg + n, sizeof(err->msg) - n, "%s%s", i ? "; " : "",
                                  res.edges[i].message);
        err->code = rc = BG_ECONFLICT;
        json_t *rj = bg_compat_result_to_json(&res);
        *broken = json_incref(json_object_get(rj, "broken"));
        json_decref(rj);
    }
    bg_compat_result_fini(&res);
    bg_compat_world_free(w);
    return rc;
}

typedef struct last_ok {
    int64_t id, from_rev;
} last_ok_t;

static int find_last_success(void *arg, const bg_store_deployment_t *row)
{
    last_ok_t *l = arg;
    if (strcmp(row->result, "SUCCEEDED") != 0)
        return 0;
    l->id = row->id;
    l->from_rev = row->from_revision;
    return 1;
}

/* Nothing to switch back to: say how to go back now. */
static int rollback_is_new_deployment(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err)
{
    last_ok_t l = {0};
    bg_store_revision_t rev;

    bg_store_deployment_list(d->store, svc->cfg->name, 0, find_last_success, &l, NULL);
    if (l.id == 0 || l.from_rev == 0)
        return bg_err_set(err, BG_ECONFLICT, "%s has no deployment to roll back", svc->cfg->name);
    memset(&rev, 0, sizeof(rev));
    if (bg_store_revision_get(d->store, svc->cfg->name, l.from_rev, &rev, NULL) != 0)
        snprintf(rev.version, sizeof(rev.version), "?");
    free(rev.spec_json);
    return bg_err_set(err, BG_ECONFLICT,
                      "the termination wait of deployment %" PRId64 " is over and the old slot "
                      "was stopped: a rollback is now a new deployment of revision %" PRId64
                      " (version %s): bluegreen deploy %s --version %s ...",
                      l.id, l.from_rev, rev.version, svc->cfg->name, rev.version);
}

int dp_manual_rollback(bg_deployer_t *d, dp_service_t *svc, bool force, const char *actor,
                       const char *origin, bg_admin_req_t *req, json_t **broken, bg_err_t *err)
{
    dp_deployment_t *dep = svc->running != NULL ? svc->running : svc->retiring;
    int rc;

    if (dep == NULL)
        return rollback_is_new_deployment(d, svc, err);
    if (dep->stopping)
        return bg_err_set(err, BG_ECONFLICT, "deployment %" PRId64 " is already rolling back",
                          dep->id);
    if (!force && svc->weight[dep->slot] > 0 &&
        (rc = rollback_gate(d, svc, dep->old, broken, err)) != 0) {
        if (rc == BG_ECONFLICT)
            svc->counts.gate_refusals[BG_METRICS_GATE_ROLLBACK]++;
        return rc;
    }
    if (svc->retiring == dep) {
        svc->retiring = NULL;
        svc->running = dep; /* for the rollback's duration */
    }
    dep->answer_req = req;
    dp_event(d, svc->cfg->name, dep->id, "deploy.manual", actor, origin, "rollback by %s%s",
             actor ? actor : "admin", force ? " (forced)" : "");
    dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_MANUAL, false, "manual rollback by %s%s",
                actor ? actor : "admin", force ? " (forced past the gate)" : "");
    return 0;
}

static int act(dp_deployment_t *dep, const char *action, bg_err_t *err)
{
    if (strcmp(action, "pause") == 0) {
        dep->paused = true;
    } else if (strcmp(action, "resume") == 0) {
        dep->paused = false;
    } else if (strcmp(action, "promote") == 0) {
        dep->promoted = true;
        dep->paused = false;
        /* A wait in progress ends at the next tick; a phase before the shift reads the flag. */
        dep->wait_until_ms = 0;
        if ((dep->phase == BG_PHASE_PRODUCTION_TRAFFIC_SHIFT || dep->phase == BG_PHASE_BAKE) &&
            uv_is_active((uv_handle_t *)&dep->timer))
            uv_timer_start(&dep->timer, dep->timer.timer_cb, 0, 0);
    } else {
        return bg_err_set(err, BG_ENOTFOUND, "no action '%s'", action);
    }
    return 0;
}

int dp_manual(bg_deployer_t *d, dp_service_t *svc, const char *action, const char *actor,
              const char *origin, bg_err_t *err)
{
    dp_deployment_t *dep = svc->running;

    if (dep == NULL || dep->stopping)
        return bg_err_set(err, BG_ECONFLICT, "no deployment of %s is running", svc->cfg->name);
    dp_event(d, svc->cfg->name, dep->id, "deploy.manual", actor, origin, "%s by %s", action,
             actor ? actor : "admin");
    if (strcmp(action, "abort") == 0) {
        dp_rollback(dep, BG_RESULT_ABORTED, BG_METRICS_RB_ABORT, false, "aborted by %s", actor ? actor : "admin");
        return 0;
    }
    return act(dep, action, err);
}
