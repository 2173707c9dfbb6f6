/* The controller's life cycle and per-service state: what runs in each slot (revision and
 * instances, mirrored in the store's services and targets tables), the compat world built
 * from it, the audit trail (events table + SSE followers), and the driver/health/traffic
 * notifications the server forwards. Phases live in phases.c, rollback and friends in
 * control.c.
 */
#include "deploy/deploy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "deploy/internal.h"
#include "base/compat.h"

const char *bg_deploy_phase_str(bg_deploy_phase_t p)
{
    static const char *const names[] = {
        "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC", "PRODUCTION_TRAFFIC_SHIFT",
        "BAKE",         "CLEAN_UP", "ROLLBACK",      "DONE"};
    return (unsigned)p < BG_ARRAY_LEN(names) ? names[p] : "?";
}

const char *bg_deploy_result_str(bg_deploy_result_t r)
{
    static const char *const names[] = {"",        "SUCCEEDED", "ROLLED_BACK",
                                        "REFUSED", "FAILED",    "ABORTED"};
    return (unsigned)r < BG_ARRAY_LEN(names) ? names[r] : "?";
}

bg_deployer_t *bg_deployer_new(uv_loop_t *loop, const bg_config_t *cfg,
                               const bg_deploy_host_t *host, bg_err_t *err)
{
    bg_deployer_t *d;
    bg_compat_rules_t *rules = NULL;

    /* The explicit matrix rules are part of the gate: a file that does not load stops the
     * daemon from starting rather than running with a weaker gate. */
    if (cfg->matrix != NULL && (rules = bg_compat_rules_load(cfg->matrix, err)) == NULL)
        return NULL;
    d = BG_NEW(bg_deployer_t);
    d->rules = rules;
    d->loop = loop;
    d->cfg = cfg;
    d->host = *host;
    d->n_services = cfg->n_services;
    d->services = bg_xcalloc(d->n_services ? d->n_services : 1, sizeof(*d->services));
    for (size_t i = 0; i < d->n_services; i++) {
        d->services[i].cfg = &cfg->services[i];
        d->services[i].weight[BG_SLOT_BLUE] = 100;
    }
    bg_list_init(&d->streams);
    bg_list_init(&d->boot_resolves);
    uv_timer_init(loop, &d->keepalive);
    uv_prepare_init(loop, &d->flush_prepare);
    uv_check_init(loop, &d->flush_check);
    uv_timer_init(loop, &d->retry_timer);
    bg_list_init(&d->unstored);
    d->keepalive.data = d->flush_prepare.data = d->flush_check.data = d->retry_timer.data = d;
    d->handles_open = 4;
    return d;
}

static void flush_logged(bg_deployer_t *d)
{
    bg_err_t err;

    bg_err_clear(&err);
    if (dp_flush(d, &err) != 0)
        bg_log(BG_LOG_ERROR, "deploy", "msg=\"state store commit failed\" err=\"%s\"", err.msg);
}

static void on_flush_prepare(uv_prepare_t *h)
{
    flush_logged(h->data);
}

static void on_flush_check(uv_check_t *h)
{
    flush_logged(h->data);
}

void dp_tx(bg_deployer_t *d)
{
    if (d->store == NULL || bg_store_in_tx(d->store))
        return;
    if (bg_store_begin(d->store, NULL) != 0)
        return; /* each write then is its own transaction */
    if (!d->closing) {
        uv_prepare_start(&d->flush_prepare, on_flush_prepare);
        uv_check_start(&d->flush_check, on_flush_check);
    }
}

int dp_flush(bg_deployer_t *d, bg_err_t *err)
{
    uv_prepare_stop(&d->flush_prepare);
    uv_check_stop(&d->flush_check);
    if (d->store == NULL || !bg_store_in_tx(d->store))
        return 0;
    return bg_store_commit(d->store, err);
}

dp_service_t *dp_service_find(bg_deployer_t *d, const char *name)
{
    for (size_t i = 0; i < d->n_services; i++)
        if (strcmp(d->services[i].cfg->name, name) == 0)
            return &d->services[i];
    return NULL;
}

bg_driver_t *dp_driver(bg_deployer_t *d, const dp_service_t *svc)
{
    return d->host.driver != NULL ? d->host.driver(d->host.ctx, svc->cfg->name) : NULL;
}

bool dp_starts(bg_deployer_t *d, const dp_service_t *svc)
{
    bg_driver_t *drv = dp_driver(d, svc);
    return drv == NULL || bg_driver_starts(drv);
}

void dp_slot_set_rev(dp_service_t *svc, int slot, int64_t revno, const bg_revision_config_t *rev)
{
    dp_slot_t *sl = &svc->slot[slot];

    if (sl->revno > 0)
        bg_revision_config_fini(&sl->rev);
    memset(&sl->rev, 0, sizeof(sl->rev));
    sl->revno = revno;
    if (revno > 0)
        bg_revision_config_copy(&sl->rev, rev);
}

bg_compat_world_t *dp_world(bg_deployer_t *d, bg_err_t *err)
{
    bg_compat_world_t *w = bg_compat_world_new();

    for (size_t i = 0; i < d->n_services; i++) {
        dp_service_t *svc = &d->services[i];
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            if (svc->slot[sl].revno == 0)
                continue;
            if (bg_compat_world_set_slot(w, svc->cfg->name, (bg_slot_t)sl, &svc->slot[sl].rev,
                                         svc->weight[sl], err) != 0) {
                bg_compat_world_free(w);
                return NULL;
            }
        }
    }
    return w;
}

int dp_service_store(bg_deployer_t *d, dp_service_t *svc, bg_err_t *err)
{
    bg_store_service_t row = {.live_slot = svc->live};

    snprintf(row.name, sizeof(row.name), "%s", svc->cfg->name);
    for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
        row.weight[sl] = svc->weight[sl];
        row.revision[sl] = svc->slot[sl].revno;
    }
    dp_tx(d);
    return bg_store_service_put(d->store, &row, err);
}

/* The actor who started deployment <id>, for the events the controller writes on its
 * behalf (the audit trail says whose deployment it was). */
static const char *deployment_actor(bg_deployer_t *d, int64_t id)
{
    for (size_t i = 0; id > 0 && i < d->n_services; i++) {
        dp_deployment_t *dep = d->services[i].running;
        if (dep == NULL || dep->id != id)
            dep = d->services[i].retiring;
        if (dep != NULL && dep->id == id && dep->record != NULL)
            return json_string_value(json_object_get(dep->record, "actor"));
    }
    return NULL;
}

void dp_event(bg_deployer_t *d, const char *service, int64_t deployment, const char *kind,
              const char *actor, const char *origin, const char *fmt, ...)
{
    bg_store_event_t ev = {.deployment = deployment};
    bg_err_t err;
    va_list ap;

    snprintf(ev.service, sizeof(ev.service), "%s", service ? service : "");
    snprintf(ev.kind, sizeof(ev.kind), "%s", kind);
    if (actor == NULL)
        actor = deployment_actor(d, deployment);
    snprintf(ev.actor, sizeof(ev.actor), "%s", actor ? actor : "bluegreen");
    snprintf(ev.origin, sizeof(ev.origin), "%s", origin ? origin : "controller");
    va_start(ap, fmt);
    vsnprintf(ev.message, sizeof(ev.message), fmt, ap);
    va_end(ap);
    bg_log(BG_LOG_INFO, "deploy", "event=%s service=%s deployment=%" PRId64 " msg=\"%s\"", kind,
           ev.service, deployment, ev.message);
    bg_err_clear(&err);
    if (d->store != NULL)
        dp_tx(d);
    if (d->store == NULL || bg_store_event_add(d->store, &ev, &err) != 0) {
        bg_log(BG_LOG_ERROR, "deploy", "msg=\"event not stored\" err=\"%s\"", err.msg);
        return;
    }
    dp_feed_publish(d, &ev);
}

int64_t dp_inst_intent(bg_deployer_t *d, dp_service_t *svc, int slot, int64_t revno,
                       bg_err_t *err)
{
    bg_store_target_t row = {.slot = slot, .revision = revno};

    snprintf(row.service, sizeof(row.service), "%s", svc->cfg->name);
    snprintf(row.driver, sizeof(row.driver), "%s", bg_driver_kind_str(svc->cfg->driver));
    snprintf(row.state, sizeof(row.state), "starting");
    dp_tx(d);
    if (bg_store_target_add(d->store, &row, err) != 0 || dp_flush(d, err) != 0) {
        if (bg_store_in_tx(d->store))
            bg_store_rollback(d->store);
        return 0;
    }
    return row.id;
}

void dp_inst_abandon(bg_deployer_t *d, int64_t row)
{
    dp_tx(d);
    bg_store_target_set_state(d->store, row, "stopped", NULL);
}

void dp_inst_add(bg_deployer_t *d, dp_service_t *svc, int slot, int64_t revno, int64_t row_id,
                 const bg_deploy_instance_t *inst)
{
    dp_slot_t *sl = &svc->slot[slot];
    bg_store_target_t row = {.id = row_id, .slot = slot, .revision = revno};
    dp_inst_t *di;
    bg_err_t err;
    int rc;

    snprintf(row.service, sizeof(row.service), "%s", svc->cfg->name);
    snprintf(row.address, sizeof(row.address), "%s", inst->address);
    snprintf(row.driver, sizeof(row.driver), "%s", bg_driver_kind_str(svc->cfg->driver));
    snprintf(row.handle, sizeof(row.handle), "%s", inst->handle);
    snprintf(row.state, sizeof(row.state), "running");
    bg_err_clear(&err);
    dp_tx(d);
    rc = row_id > 0 ? bg_store_target_started(d->store, row_id, inst->address, inst->handle, &err)
                    : bg_store_target_add(d->store, &row, &err);
    if (rc != 0)
        bg_log(BG_LOG_ERROR, "deploy", "msg=\"target not stored\" err=\"%s\"", err.msg);
    sl->insts = bg_xrealloc(sl->insts, (sl->n_insts + 1) * sizeof(*sl->insts));
    di = &sl->insts[sl->n_insts++];
    memset(di, 0, sizeof(*di));
    di->store_id = row.id;
    di->revision = revno;
    snprintf(di->address, sizeof(di->address), "%s", inst->address);
    snprintf(di->handle, sizeof(di->handle), "%s", inst->handle);
}

void dp_slot_clear(bg_deployer_t *d, dp_service_t *svc, int slot)
{
    dp_slot_t *sl = &svc->slot[slot];

    dp_tx(d);
    for (size_t i = 0; i < sl->n_insts; i++)
        if (sl->insts[i].store_id > 0)
            bg_store_target_set_state(d->store, sl->insts[i].store_id, "stopped", NULL);
    free(sl->insts);
    sl->insts = NULL;
    sl->n_insts = 0;
}

static dp_inst_t *inst_by_address(bg_deployer_t *d, const char *service, int slot,
                                  const char *address, dp_service_t **svc_out)
{
    dp_service_t *svc = dp_service_find(d, service);

    if (svc == NULL || slot < 0 || slot >= BG_SLOT_COUNT)
        return NULL;
    *svc_out = svc;
    for (size_t i = 0; i < svc->slot[slot].n_insts; i++)
        if (strcmp(svc->slot[slot].insts[i].address, address) == 0)
            return &svc->slot[slot].insts[i];
    return NULL;
}

void bg_deployer_instance_replaced(bg_deployer_t *d, const bg_instance_t *inst)
{
    dp_service_t *svc = NULL;
    dp_inst_t *di = inst_by_address(d, inst->service, inst->slot, inst->address, &svc);
    bg_store_target_t row = {.slot = inst->slot, .revision = inst->revision};

    dp_event(d, inst->service, 0, "target.replaced", NULL, "driver",
             "%s (%s) crashed and was replaced: handle %s, restarts %u", inst->address,
             bg_slot_str((bg_slot_t)inst->slot), inst->handle, inst->restarts);
    if (di == NULL)
        return;
    /* A new row for the new handle: re-adoption after a restart must find the new pid. */
    dp_tx(d);
    bg_store_target_set_state(d->store, di->store_id, "stopped", NULL);
    snprintf(row.service, sizeof(row.service), "%s", svc->cfg->name);
    snprintf(row.address, sizeof(row.address), "%s", inst->address);
    snprintf(row.driver, sizeof(row.driver), "%s", bg_driver_kind_str(svc->cfg->driver));
    snprintf(row.handle, sizeof(row.handle), "%s", inst->handle);
    snprintf(row.state, sizeof(row.state), "running");
    if (bg_store_target_add(d->store, &row, NULL) == 0)
        di->store_id = row.id;
    snprintf(di->handle, sizeof(di->handle), "%s", inst->handle);
}

void bg_deployer_instance_exited(bg_deployer_t *d, const bg_instance_t *inst)
{
    dp_service_t *svc = dp_service_find(d, inst->service);
    dp_deployment_t *dep = svc != NULL ? svc->running : NULL;

    dp_event(d, inst->service, dep != NULL ? dep->id : 0, "target.exited", NULL, "driver",
             "%s (%s, rev %" PRId64 ") exited (status %d, signal %d)%s", inst->address,
             bg_slot_str((bg_slot_t)inst->slot), inst->revision, inst->last_exit_status,
             inst->last_term_signal,
             inst->state == BG_INSTANCE_RESTARTING ? "; a replacement is scheduled" : "");
    /* A new target that dies before it ever became healthy (a container exiting at once, a
     * port already in use) will not get better by waiting out startup_timeout: the
     * deployment rolls back now, with its last log lines as evidence. */
    if (dep != NULL && !dep->stopping && inst->slot == dep->slot &&
        inst->revision == dep->to_rev &&
        (dep->phase == BG_PHASE_SCALE_UP || dep->phase == BG_PHASE_POST_SCALE_UP))
        dp_rollback(dep, BG_RESULT_ROLLED_BACK, BG_METRICS_RB_STARTUP_TIMEOUT, true,
                    "%s exited during startup (status %d, signal %d)%s%s", inst->address,
                    inst->last_exit_status, inst->last_term_signal, inst->error[0] ? ": " : "",
                    inst->error);
}

void bg_deployer_event(bg_deployer_t *d, const char *kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dp_event(d, NULL, 0, kind, "bluegreen", kind, "%s", msg);
}

void bg_deployer_health_event(bg_deployer_t *d, const char *service, int slot, const char *address,
                              bool healthy, const char *reason)
{
    dp_service_t *svc = dp_service_find(d, service);
    int64_t dep = svc != NULL && svc->running != NULL ? svc->running->id : 0;

    dp_event(d, service, dep, "health", NULL, "health", "%s (%s) %s: %s", address,
             bg_slot_str((bg_slot_t)slot), healthy ? "healthy" : "unhealthy", reason ? reason : "");
}

int bg_deployer_traffic_changed(bg_deployer_t *d, const char *service, const uint32_t weight[2],
                                const char *actor, const char *origin, bg_err_t *err)
{
    dp_service_t *svc = dp_service_find(d, service);
    uint32_t was[2];
    int was_live, rc;

    if (svc == NULL)
        return bg_err_set(err, BG_ENOTFOUND, "service '%s' not found", service);
    if (svc->running != NULL)
        return bg_err_set(err, BG_ECONFLICT,
                          "deployment %" PRId64 " of %s is running: use promote, rollback "
                          "or abort",
                          svc->running->id, service);
    if ((rc = bg_store_status(d->store, err)) != 0)
        return rc;
    was[0] = svc->weight[0];
    was[1] = svc->weight[1];
    was_live = svc->live;
    svc->weight[0] = weight[0];
    svc->weight[1] = weight[1];
    if (weight[0] != weight[1])
        svc->live = weight[1] > weight[0] ? BG_SLOT_GREEN : BG_SLOT_BLUE;
    rc = dp_service_store(d, svc, err);
    if (rc == 0) {
        dp_event(d, service, 0, "traffic", actor ? actor : "admin", origin ? origin : "api",
                 "traffic set by hand: blue %u%%, green %u%%", weight[0], weight[1]);
        /* Acknowledged (and published by the caller) only once it is on disk. */
        rc = dp_flush(d, err);
    }
    if (rc != 0) {
        svc->weight[0] = was[0];
        svc->weight[1] = was[1];
        svc->live = was_live;
        bg_log(BG_LOG_ERROR, "deploy",
               "service=%s msg=\"traffic change refused: not stored\" err=\"%s\"", service,
               err != NULL ? err->msg : "");
        return err != NULL && err->code ? err->code : BG_EIO;
    }
    return 0;
}

int64_t bg_deployer_slot_revision(bg_deployer_t *d, const char *service, int slot,
                                  const char **version)
{
    dp_service_t *svc = dp_service_find(d, service);

    if (version != NULL)
        *version = NULL;
    if (svc == NULL || slot < 0 || slot >= BG_SLOT_COUNT || svc->slot[slot].revno == 0)
        return 0;
    if (version != NULL)
        *version = svc->slot[slot].rev.version;
    return svc->slot[slot].revno;
}

const bg_metrics_deploys_t *bg_deployer_counts(bg_deployer_t *d, const char *service)
{
    dp_service_t *svc = dp_service_find(d, service);

    return svc != NULL ? &svc->counts : NULL;
}

int bg_deployer_boot(bg_deployer_t *d, bg_err_t *err)
{
    const char *dir = d->cfg->state_dir ? d->cfg->state_dir : "./state";
    char *path = bg_asprintf("%s/bluegreen.db", dir);
    int rc = 0;

    dp_found_t found;

    d->store = bg_store_open(path, err);
    free(path);
    if (d->store == NULL)
        return err != NULL && err->code ? err->code : BG_EIO;
    /* What runs from this state_dir, read before anything starts. */
    if ((rc = dp_orphans_scan(d, &found, err)) != 0) {
        free(found.v);
        return rc;
    }
    dp_orphans_forget_removed(d);
    for (size_t i = 0; i < d->n_services && rc == 0; i++)
        rc = dp_recover_service(d, &d->services[i], err);
    if (rc == 0)
        dp_orphans_reap(d, &found);
    free(found.v);
    if (dp_flush(d, rc == 0 ? err : NULL) != 0 && rc == 0)
        rc = err != NULL && err->code ? err->code : BG_EIO;
    return rc;
}

void dp_maybe_closed(bg_deployer_t *d)
{
    if (!d->closing || d->handles_open > 0 || d->close_cb == NULL)
        return;
    void (*cb)(void *) = d->close_cb;
    d->close_cb = NULL;
    cb(d->close_arg);
}

static void on_handle_closed(uv_handle_t *h)
{
    bg_deployer_t *d = h->data;
    d->handles_open--;
    dp_maybe_closed(d);
}

void bg_deployer_close(bg_deployer_t *d, void (*cb)(void *arg), void *arg)
{
    d->closing = true;
    d->close_cb = cb;
    d->close_arg = arg;
    dp_feed_close(d);
    dp_release_abandon(d);
    dp_boot_resolves_cancel(d);
    for (size_t i = 0; i < d->n_services; i++) {
        dp_service_t *svc = &d->services[i];
        if (svc->running != NULL)
            dp_deployment_release(svc->running);
        if (svc->retiring != NULL && svc->retiring != svc->running)
            dp_deployment_release(svc->retiring);
        svc->running = svc->retiring = NULL;
    }
    flush_logged(d);
    dp_results_close(d);
    uv_close((uv_handle_t *)&d->retry_timer, on_handle_closed);
    uv_close((uv_handle_t *)&d->keepalive, on_handle_closed);
    uv_close((uv_handle_t *)&d->flush_prepare, on_handle_closed);
    uv_close((uv_handle_t *)&d->flush_check, on_handle_closed);
}

typedef struct stored_ids {
    int64_t *ids;
    size_t n;
} stored_ids_t;

static int collect_target(void *arg, const bg_store_target_t *t)
{
    stored_ids_t *c = arg;

    c->ids = bg_xrealloc(c->ids, (c->n + 1) * sizeof(*c->ids));
    c->ids[c->n++] = t->id;
    return 0;
}

void bg_deployer_targets_stopped(bg_deployer_t *d, const char *actor, const char *origin)
{
    if (d->store == NULL)
        return;
    for (size_t i = 0; i < d->n_services; i++) {
        dp_service_t *svc = &d->services[i];
        stored_ids_t c = {0};
        if (!dp_starts(d, svc))
            continue;
        /* Every row, not only those the controller holds: a slot that was being drained
         * when the shutdown began has left the controller's view but not the store. */
        bg_store_target_each(d->store, svc->cfg->name, collect_target, &c, NULL);
        dp_tx(d);
        for (size_t k = 0; k < c.n; k++)
            bg_store_target_set_state(d->store, c.ids[k], "stopped", NULL);
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            free(svc->slot[sl].insts);
            svc->slot[sl].insts = NULL;
            svc->slot[sl].n_insts = 0;
        }
        dp_event(d, svc->cfg->name, 0, "shutdown", actor ? actor : "admin", origin ? origin : "api",
                 "shutdown --stop-targets: %zu instance(s) stopped; the next start starts the "
                 "live revision again",
                 c.n);
        free(c.ids);
    }
    flush_logged(d);
}

void bg_deployer_free(bg_deployer_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n_services; i++) {
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            dp_slot_set_rev(&d->services[i], sl, 0, NULL);
            free(d->services[i].slot[sl].insts);
        }
    }
    free(d->services);
    if (d->store != NULL && bg_store_in_tx(d->store) && bg_store_commit(d->store, NULL) != 0)
        bg_log(BG_LOG_ERROR, "deploy", "msg=\"last writes not stored\"");
    bg_store_close(d->store);
    bg_compat_rules_free(d->rules);
    free(d);
}

bool bg_deployer_busy(bg_deployer_t *d, char *why, size_t size)
{
    for (size_t i = 0; i < d->n_services; i++) {
        const dp_deployment_t *dep = d->services[i].running;
        if (dep != NULL) {
            snprintf(why, size, "deployment %" PRId64 " of %s is running (phase %s)", dep->id,
                     d->services[i].cfg->name, bg_deploy_phase_str(dep->phase));
            return true;
        }
    }
    if (d->release != NULL) {
        snprintf(why, size, "a release is running");
        return true;
    }
    return false;
}
