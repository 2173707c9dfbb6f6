/* The drivers the daemon runs its targets with (docs/design.md §8): one per kind a service uses,
 * all behind the same vtable. Which instances run is the deployment controller's business
 * (src/deploy: first boot, deployments, re-adoption after a restart, through
 * deploy_host.c); this file opens the drivers, forwards their crash and replacement events
 * to the controller, and at shutdown either leaves every instance running (SIGTERM/SIGINT: a
 * restart of bluegreen; the next daemon re-adopts them from the store, as after a crash)
 * or, for `shutdown --stop-targets`, stops them all (graceful stop, stop_timeout, kill)
 * after the proxy has drained.
 */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static void on_exited(void *ctx, bg_instance_t *inst)
{
    /* The driver logged it and schedules a replacement; health checks see the target down
     * meanwhile. Nothing to change in routing: the replacement keeps the address. */
    bg_server_t *s = ctx;
    if (s->deployer != NULL)
        bg_deployer_instance_exited(s->deployer, inst);
}

static void on_replaced(void *ctx, bg_instance_t *inst)
{
    bg_server_t *s = ctx;
    if (s->deployer != NULL)
        bg_deployer_instance_replaced(s->deployer, inst);
}

int srv_instances_start(bg_server_t *s, bg_err_t *err)
{
    bg_driver_events_t events = {.exited = on_exited, .replaced = on_replaced, .ctx = s};
    const char *dir = s->cfg->state_dir ? s->cfg->state_dir : "./state";

    for (size_t i = 0; i < s->n_services; i++) {
        bg_driver_kind_t kind = s->services[i].cfg->driver;
        BG_ASSERT((unsigned)kind < SRV_DRIVER_KINDS);
        if (s->drivers[kind] != NULL)
            continue;
        s->drivers[kind] = bg_driver_new(kind, &s->loop, dir, s->cfg, &events, err);
        if (s->drivers[kind] == NULL) {
            if (err != NULL)
                snprintf(err->key, sizeof(err->key), "services.%s.driver",
                         s->services[i].cfg->name);
            return err != NULL && err->code != 0 ? err->code : BG_EIO;
        }
        s->drivers_open++;
    }
    return 0;
}

bg_driver_t *srv_driver_of(bg_server_t *s, const srv_service_t *svc)
{
    return s->drivers[svc->cfg->driver];
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
    BG_ASSERT(s->drivers_open > 0);
    s->drivers_open--;
}

void srv_instances_maybe_close(bg_server_t *s)
{
    bg_list_t *pos, *tmp;

    if (!s->shutting_down || s->instances_stopping > 0 || s->driver_closing)
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
    /* Without stop_targets the instances still run: closing a driver only stops watching
     * them (their rows stay `running` for the next daemon to re-adopt). */
    for (unsigned k = 0; k < SRV_DRIVER_KINDS; k++) {
        bg_driver_t *drv = s->drivers[k];
        s->drivers[k] = NULL;
        if (drv != NULL)
            bg_driver_close(drv, on_driver_closed, s);
    }
    srv_targets_stopped(s);
}

static void on_instance_stopped(void *arg, bg_instance_t *inst, int status)
{
    bg_server_t *s = arg;

    (void)inst;
    (void)status;
    BG_ASSERT(s->instances_stopping > 0);
    s->instances_stopping--;
    srv_instances_maybe_close(s);
}

void srv_instances_stop(bg_server_t *s)
{
    bg_list_t *pos;

    /* Count them all first: a stop may call back at once (already exited). */
    bg_list_foreach(pos, &s->instances)
    {
        s->instances_stopping++;
    }
    bg_list_foreach(pos, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        bg_driver_stop(rec->inst->driver, rec->inst, on_instance_stopped, s);
    }
    srv_instances_maybe_close(s);
}
