/* Boot and restart recovery (docs/internals/recovery.md). Runs before the listeners
 * accept: the routing of every service (weights, live slot, revision per slot) comes back
 * from the store; stored targets are re-adopted through the host (same pids, not
 * restarted), replacements are started only for those that are gone; an interrupted
 * deployment is resolved so that nothing stays stuck or half-routed:
 *   - before any production traffic reached the new slot: rolled back (new targets stop);
 *   - during the shift, the bake or a rollback: back to the old slot if it still has
 *     running targets, else the new revision is kept at 100% (result FAILED, said so);
 *   - succeeded and waiting out termination_wait (CLEAN_UP): the wait goes on for the time
 *     left while the old slot runs (re-adopted; rollback stays instant), else the clean-up
 *     is finished now.
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

typedef struct stop_ctx {
    bg_deployer_t *d;
    dp_service_t *svc;
    int slot;
    int64_t deployment; /* amended to DONE when > 0 (clean-up finished) */
} stop_ctx_t;

static void on_recovered_stop(void *arg, int status, double ms)
{
    stop_ctx_t *c = arg;

    (void)status;
    (void)ms;
    if (!c->d->closing) {
        dp_slot_clear(c->d, c->svc, c->slot);
        if (c->svc->weight[c->slot] == 0)
            dp_slot_set_rev(c->svc, c->slot, 0, NULL);
        dp_service_store(c->d, c->svc, NULL);
    }
    free(c);
}

static void stop_slot(bg_deployer_t *d, dp_service_t *svc, int slot)
{
    stop_ctx_t *c = BG_NEW(stop_ctx_t);

    c->d = d;
    c->svc = svc;
    c->slot = slot;
    dp_flush(d, NULL);
    d->host.stop_slot(d->host.ctx, svc->cfg->name, slot, on_recovered_stop, c);
}

typedef struct boot_start {
    bg_list_t link; /* in bg_deployer.boot_resolves while a resolve is pending */
    bg_deployer_t *d;
    dp_service_t *svc;
    int slot;
    int64_t revno;
    int64_t row; /* the intent row stored before the start (0: none) */
} boot_start_t;

/* An instance started at boot by an asynchronous driver runs (or failed: the slot stays
 * short of its count, said in the audit trail; health and status show it). */
static void on_boot_started(void *arg, int status, const bg_deploy_instance_t *inst,
                            const char *msg)
{
    boot_start_t *b = arg;

    if (!b->d->closing && status == 0 && b->svc->slot[b->slot].revno == b->revno)
        dp_inst_add(b->d, b->svc, b->slot, b->revno, b->row, inst);
    else if (status != 0)
        dp_inst_abandon(b->d, b->row);
    if (!b->d->closing && status != 0)
        dp_event(b->d, b->svc->cfg->name, 0, "target.failed", NULL, "recovery",
                 "starting an instance of rev %" PRId64 " in %s failed: %s", b->revno,
                 bg_slot_str((bg_slot_t)b->slot), msg ? msg : bg_strerror(status));
    free(b);
}

static int start_missing(bg_deployer_t *d, dp_service_t *svc, int slot, bg_err_t *err)
{
    dp_slot_t *sl = &svc->slot[slot];

    if (dp_flush(d, err) != 0)
        return err != NULL && err->code ? err->code : BG_EIO;
    for (unsigned i = (unsigned)sl->n_insts; i < sl->rev.count; i++) {
        bg_instance_spec_t spec = {.service = svc->cfg->name,
                                   .slot = slot,
                                   .revision = sl->revno,
                                   .index = i,
                                   .rev = &sl->rev,
                                   .stop_timeout_ms = svc->cfg->stop_timeout_ms,
                                   .store_id = bg_store_id(d->store)};
        bg_deploy_instance_t inst;
        int64_t row = dp_inst_intent(d, svc, slot, sl->revno, err);
        boot_start_t *b;
        int rc;
        if (row == 0)
            return err != NULL && err->code ? err->code : BG_EIO;
        b = BG_NEW(boot_start_t);
        *b = (boot_start_t){.d = d, .svc = svc, .slot = slot, .revno = sl->revno, .row = row};
        memset(&inst, 0, sizeof(inst));
        rc = d->host.start(d->host.ctx, &spec, on_boot_started, b, &inst, err);
        if (rc > 0)
            continue; /* b is freed by on_boot_started */
        free(b);
        if (rc < 0) {
            dp_inst_abandon(d, row);
            return rc;
        }
        dp_inst_add(d, svc, slot, sl->revno, row, &inst);
    }
    return 0;
}

/* First boot of a driver that pins artifacts (docker: tag -> digest): the configured
 * revision is resolved first, as a deployment's PRE_SCALE_UP would, and stored pinned; its
 * instances start when that is done (the listeners accept meanwhile: no target yet). */
static void on_boot_resolved(void *arg, int status, const char *artifact, const char *msg)
{
    boot_start_t *b = arg;
    dp_slot_t *sl = &b->svc->slot[b->slot];
    bg_err_t err;

    bg_list_remove(&b->link);
    if (b->d->closing || sl->revno != b->revno)
        goto out;
    if (status != 0) {
        dp_event(b->d, b->svc->cfg->name, 0, "boot.failed", NULL, "recovery",
                 "revision %" PRId64 " cannot start: %s", b->revno, msg ? msg : "");
        goto out;
    }
    free(sl->rev.image);
    sl->rev.image = bg_strdup(artifact);
    dp_rev_set_spec(b->d, b->svc->cfg->name, b->revno, &sl->rev, NULL);
    dp_event(b->d, b->svc->cfg->name, 0, "deploy.artifact", NULL, "recovery",
             "revision %" PRId64 ": artifact %s", b->revno, artifact);
    bg_err_clear(&err);
    if (start_missing(b->d, b->svc, b->slot, &err) != 0)
        dp_event(b->d, b->svc->cfg->name, 0, "boot.failed", NULL, "recovery",
                 "revision %" PRId64 " cannot start: %s", b->revno, err.msg);
out:
    free(b);
}

static bool boot_resolve(bg_deployer_t *d, dp_service_t *svc, int slot)
{
    bg_driver_t *drv = dp_driver(d, svc);
    boot_start_t *b = BG_NEW(boot_start_t);

    *b = (boot_start_t){.d = d, .svc = svc, .slot = slot, .revno = svc->slot[slot].revno};
    bg_list_insert_tail(&d->boot_resolves, &b->link);
    if (drv != NULL && bg_driver_resolve(drv, svc->cfg->name, &svc->slot[slot].rev, NULL,
                                         on_boot_resolved, b))
        return true;
    bg_list_remove(&b->link);
    free(b);
    return false;
}

void dp_boot_resolves_cancel(bg_deployer_t *d)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &d->boot_resolves)
    {
        boot_start_t *b = BG_CONTAINER_OF(pos, boot_start_t, link);
        bg_driver_t *drv = dp_driver(d, b->svc);
        bg_list_remove(&b->link);
        if (drv != NULL)
            bg_driver_cancel_resolve(drv, b);
        free(b);
    }
}

/* First boot: revision 1 is the configured one, in the live slot of `traffic:`. */
static int first_boot(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err)
{
    const bg_service_config_t *c = svc->cfg;
    const char *version = c->rev.version ? c->rev.version : "0.0.0";
    int live = c->has_traffic && c->traffic[1] > c->traffic[0] ? BG_SLOT_GREEN : BG_SLOT_BLUE;
    int64_t number = 0;
    int rc;

    rc = dp_rev_add(d, c->name, version, &c->rev, &number, err);
    if (rc != 0)
        return rc;
    svc->live = live;
    if (c->has_traffic) {
        svc->weight[0] = c->traffic[0];
        svc->weight[1] = c->traffic[1];
    }
    dp_slot_set_rev(svc, live, number, &c->rev);
    /* Targets something else runs may serve both slots from the start (`traffic:`). */
    if (!dp_starts(d, svc) && svc->weight[1 - live] > 0)
        dp_slot_set_rev(svc, 1 - live, number, &c->rev);
    if ((rc = dp_service_store(d, svc, err)) != 0)
        return rc;
    if (dp_starts(d, svc) && !boot_resolve(d, svc, live) &&
        (rc = start_missing(d, svc, live, err)) != 0)
        return rc;
    d->host.restore_weights(d->host.ctx, c->name, svc->weight);
    dp_event(d, c->name, 0, "boot", NULL, NULL, "first boot: revision %" PRId64 " (%s) in %s",
             number, version, bg_slot_str((bg_slot_t)live));
    return 0;
}

static int load_revision(bg_deployer_t *d, dp_service_t *svc, int slot, int64_t number,
                         bg_err_t *err)
{
    bg_store_revision_t row;
    bg_revision_config_t rev;
    json_t *j;
    int rc;

    if (number == 0)
        return 0;
    if ((rc = bg_store_revision_get(d->store, svc->cfg->name, number, &row, err)) != 0)
        return rc;
    j = json_loads(row.spec_json, 0, NULL);
    free(row.spec_json);
    memset(&rev, 0, sizeof(rev));
    rc = j != NULL ? dp_rev_from_json(j, svc->cfg, &rev, err)
                   : bg_err_set(err, BG_EIO, "revision %" PRId64 " of %s is not JSON", number,
                                svc->cfg->name);
    json_decref(j);
    if (rc == 0)
        dp_slot_set_rev(svc, slot, number, &rev);
    bg_revision_config_fini(&rev);
    return rc;
}

static int adopt_one(void *arg, const bg_store_target_t *t)
{
    void **a = arg;
    bg_deployer_t *d = a[0];
    dp_service_t *svc = a[1];
    dp_slot_t *sl = &svc->slot[t->slot];
    bg_instance_spec_t spec = {.service = svc->cfg->name,
                               .slot = t->slot,
                               .revision = t->revision,
                               .index = (unsigned)sl->n_insts,
                               .rev = &sl->rev,
                               .stop_timeout_ms = svc->cfg->stop_timeout_ms,
                               .store_id = bg_store_id(d->store)};
    bg_deploy_instance_t inst;
    dp_inst_t *di;

    memset(&inst, 0, sizeof(inst));
    if (sl->revno != t->revision || sl->n_insts >= sl->rev.count ||
        d->host.adopt(d->host.ctx, &spec, t->address, t->handle, &inst, NULL) != 0) {
        dp_tx(d);
        bg_store_target_set_state(d->store, t->id, "stopped", NULL);
        dp_event(d, svc->cfg->name, 0, "target.lost", NULL, "recovery",
                 "%s (%s, handle %s) is gone or no longer wanted", t->address,
                 bg_slot_str((bg_slot_t)t->slot), t->handle);
        return 0;
    }
    sl->insts = bg_xrealloc(sl->insts, (sl->n_insts + 1) * sizeof(*sl->insts));
    di = &sl->insts[sl->n_insts++];
    memset(di, 0, sizeof(*di));
    di->store_id = t->id;
    di->revision = t->revision;
    snprintf(di->address, sizeof(di->address), "%s", t->address);
    snprintf(di->handle, sizeof(di->handle), "%s", t->handle);
    dp_event(d, svc->cfg->name, 0, "target.adopted", NULL, "recovery",
             "%s (%s, rev %" PRId64 ") re-adopted, handle %s", t->address,
             bg_slot_str((bg_slot_t)t->slot), t->revision, t->handle);
    return 0;
}

static bool before_traffic(const char *phase)
{
    return strcmp(phase, "PRE_SCALE_UP") == 0 || strcmp(phase, "SCALE_UP") == 0 ||
           strcmp(phase, "POST_SCALE_UP") == 0 || strcmp(phase, "TEST_TRAFFIC") == 0;
}

static void resolve(bg_deployer_t *d, dp_service_t *svc, const bg_store_deployment_t *dep)
{
    int old = 1 - dep->slot;
    /* Keep the new revision only when it is all that still runs (the old slot's targets
     * died with no one to replace them); after `shutdown --stop-targets` nothing runs and
     * the old revision is started again. */
    bool back = before_traffic(dep->phase) || svc->slot[old].n_insts > 0 ||
                svc->slot[dep->slot].n_insts == 0;
    char reason[512];

    if (back) {
        snprintf(reason, sizeof(reason), "interrupted by a restart in %s: rolled back to %s",
                 dep->phase, bg_slot_str((bg_slot_t)old));
        svc->weight[old] = 100;
        svc->weight[dep->slot] = 0;
        svc->live = old;
    } else {
        snprintf(reason, sizeof(reason),
                 "interrupted by a restart in %s; the old slot %s has no running target: "
                 "kept the new revision at 100%%",
                 dep->phase, bg_slot_str((bg_slot_t)old));
        svc->weight[old] = 0;
        svc->weight[dep->slot] = 100;
        svc->live = dep->slot;
    }
    dp_service_store(d, svc, NULL);
    dp_tx(d);
    bg_store_deployment_set_weights(d->store, dep->id, svc->weight, NULL);
    bg_store_deployment_finish(d->store, dep->id, back ? "ROLLED_BACK" : "FAILED", reason, NULL,
                               NULL);
    dp_event(d, svc->cfg->name, dep->id, "deploy.result", NULL, "recovery", "%s: %s",
             back ? "ROLLED_BACK" : "FAILED", reason);
    if (back && svc->slot[dep->slot].revno == dep->to_revision)
        stop_slot(d, svc, dep->slot);
}

/* A succeeded deployment whose old slot was kept for its termination wait: the wait is
 * re-armed for the time left, or (over, or the old slot is gone) the clean-up is finished
 * now. */
static int finish_cleanup(void *arg, const bg_store_deployment_t *row)
{
    void **a = arg;
    bg_deployer_t *d = a[0];
    dp_service_t *svc = a[1];
    int old = 1 - row->slot;

    uint64_t now = bg_wall_ms(), waited, wait_ms = svc->cfg->termination_wait_ms;

    if (strcmp(row->phase, "CLEAN_UP") != 0)
        return 1; /* only the newest deployment can still be in its termination wait */
    /* The wait began when the deployment succeeded (ended_ms). While the old slot still
     * runs (re-adopted) and time is left, the wait goes on: rollback stays instant. */
    waited = row->ended_ms > 0 && now > row->ended_ms ? now - row->ended_ms : 0;
    if (svc->weight[old] == 0 && svc->slot[old].revno != 0 && svc->slot[old].n_insts > 0 &&
        svc->weight[row->slot] > 0 && waited < wait_ms) {
        dp_retiring_restore(d, svc, row, wait_ms - waited);
        return 1;
    }
    dp_tx(d);
    bg_store_deployment_amend(d->store, row->id, "DONE", row->result, row->reason, NULL, NULL);
    if (svc->weight[old] == 0 && svc->slot[old].revno != 0) {
        dp_event(d, svc->cfg->name, row->id, "deploy.cleanup", NULL, "recovery",
                 "restart during the termination wait: stopping the old slot %s now",
                 bg_slot_str((bg_slot_t)old));
        stop_slot(d, svc, old);
    }
    return 1;
}

static int restore(bg_deployer_t *d, dp_service_t *svc, const bg_store_service_t *row,
                   bg_err_t *err)
{
    bg_store_deployment_t dep;
    void *arg[2] = {d, svc};
    int rc;

    svc->live = row->live_slot;
    for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
        svc->weight[sl] = row->weight[sl];
        if ((rc = load_revision(d, svc, sl, row->revision[sl], err)) != 0)
            return rc;
    }
    d->host.restore_weights(d->host.ctx, svc->cfg->name, svc->weight);
    if (dp_starts(d, svc))
        bg_store_target_each(d->store, svc->cfg->name, adopt_one, arg, NULL);
    if (bg_store_deployment_active(d->store, svc->cfg->name, &dep, NULL) == 0) {
        resolve(d, svc, &dep);
        bg_store_deployment_fini(&dep);
        d->host.restore_weights(d->host.ctx, svc->cfg->name, svc->weight);
    } else {
        bg_store_deployment_list(d->store, svc->cfg->name, 1, finish_cleanup, arg, NULL);
    }
    if (dp_starts(d, svc) && svc->slot[svc->live].revno != 0)
        return start_missing(d, svc, svc->live, err);
    return 0;
}

int dp_recover_service(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err)
{
    bg_store_service_t row;

    if (bg_store_service_get(d->store, svc->cfg->name, &row, NULL) != 0)
        return first_boot(d, svc, err);
    dp_event(d, svc->cfg->name, 0, "boot", NULL, "recovery",
             "restart: routing restored (blue %u%%, green %u%%, live %s, revisions %" PRId64
             "/%" PRId64 ")",
             row.weight[0], row.weight[1], bg_slot_str((bg_slot_t)row.live_slot), row.revision[0],
             row.revision[1]);
    return restore(d, svc, &row, err);
}
