/* Targets the daemon runs itself: on start, every service with `driver: process` gets
 * `count` instances of its configured (initial) revision in its live slot, through the
 * process driver (DESIGN §8, §10: "serve starts it on first boot"). Each instance becomes a
 * routing target that starts unhealthy and gets traffic once its health checks pass; the
 * driver replaces crashed instances on the same address, so the target stays.
 *
 * The state store is not wired in yet, so there is no re-adoption across restarts: at
 * shutdown the instances are stopped (SIGTERM, stop_timeout, SIGKILL) after the proxy has
 * drained, instead of being left for a next daemon that would not know them.
 * Docker and ECS services get a warning: no driver for them runs in this build.
 */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static bool any_process_service(const bg_server_t *s)
{
    for (size_t i = 0; i < s->n_services; i++)
        if (s->services[i].cfg->driver == BG_DRIVER_PROCESS)
            return true;
    return false;
}

static void on_exited(void *ctx, bg_instance_t *inst)
{
    /* The driver logged it and schedules a replacement; health checks see the target down
     * meanwhile. Nothing to change in routing: the replacement keeps the address. */
    (void)ctx;
    (void)inst;
}

static int start_instance(bg_server_t *s, srv_service_t *svc, int slot, unsigned index,
                          bg_err_t *err)
{
    bg_instance_spec_t spec = {
        .service = svc->cfg->name,
        .slot = slot,
        .revision = 1,
        .index = index,
        .rev = &svc->cfg->rev,
        .stop_timeout_ms = svc->cfg->stop_timeout_ms,
    };
    srv_instance_t *rec;
    bg_instance_t *inst = NULL;
    bg_target_t *t;
    int rc;

    if ((rc = bg_driver_start(s->driver, &spec, NULL, NULL, &inst, err)) != 0)
        return rc;
    t = bg_target_new(svc->cfg->name, slot, inst->address, false, err);
    BG_ASSERT(t != NULL); /* the driver made the address: 127.0.0.1:PORT */
    rec = BG_NEW(srv_instance_t);
    rec->inst = inst;
    rec->target = bg_target_ref(t);
    inst->data = rec;
    bg_list_insert_tail(&s->instances, &rec->link);
    srv_slot_add(svc, slot, t);
    return bg_health_watch(s->health, t, &svc->cfg->health);
}

int srv_instances_start(bg_server_t *s, bg_err_t *err)
{
    bg_driver_events_t events = {.exited = on_exited, .ctx = s};
    int rc;

    if (!any_process_service(s))
        return 0;
    s->driver = bg_process_driver_new(&s->loop, s->cfg->state_dir ? s->cfg->state_dir : "./state",
                                      &events, err);
    if (s->driver == NULL)
        return err != NULL && err->code != 0 ? err->code : BG_EIO;
    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        int live =
            svc->weight[BG_SLOT_GREEN] > svc->weight[BG_SLOT_BLUE] ? BG_SLOT_GREEN : BG_SLOT_BLUE;
        if (svc->cfg->driver != BG_DRIVER_PROCESS)
            continue;
        for (unsigned k = 0; k < svc->cfg->rev.count; k++) {
            if ((rc = start_instance(s, svc, live, k, err)) != 0)
                return rc;
        }
        bg_log(BG_LOG_INFO, "server",
               "service=%s slot=%s version=%s count=%u msg=\"started "
               "the configured revision\"",
               svc->cfg->name, bg_slot_str((bg_slot_t)live),
               svc->cfg->rev.version ? svc->cfg->rev.version : "0.0.0", svc->cfg->rev.count);
    }
    srv_publish(s);
    return 0;
}

srv_instance_t *srv_instance_of(bg_server_t *s, const bg_target_t *t)
{
    bg_list_t *pos;

    bg_list_foreach(pos, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        if (rec->target == t)
            return rec;
    }
    return NULL;
}

static void on_driver_closed(void *arg)
{
    bg_server_t *s = arg;
    s->driver = NULL;
}

static void maybe_close_driver(bg_server_t *s)
{
    bg_list_t *pos, *tmp;

    if (s->instances_stopping > 0 || s->driver == NULL || s->driver_closing)
        return;
    s->driver_closing = true;
    bg_list_foreach_safe(pos, tmp, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        bg_list_remove(&rec->link);
        bg_instance_free(rec->inst);
        bg_target_unref(rec->target);
        free(rec);
    }
    bg_driver_close(s->driver, on_driver_closed, s);
}

static void on_instance_stopped(void *arg, bg_instance_t *inst, int status)
{
    bg_server_t *s = arg;

    (void)inst;
    (void)status;
    BG_ASSERT(s->instances_stopping > 0);
    s->instances_stopping--;
    maybe_close_driver(s);
}

void srv_instances_stop(bg_server_t *s)
{
    bg_list_t *pos;

    if (s->driver == NULL)
        return;
    /* Count them all first: a stop may call back at once (already exited). */
    bg_list_foreach(pos, &s->instances)
    {
        s->instances_stopping++;
    }
    bg_list_foreach(pos, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        bg_driver_stop(s->driver, rec->inst, on_instance_stopped, s);
    }
    maybe_close_driver(s);
}
