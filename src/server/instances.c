/* The process driver the daemon runs its targets with (docs/design.md §8). Which instances run is
 * the deployment controller's business (src/deploy: first boot, deployments, re-adoption
 * after a restart, through deploy_host.c); this file opens the driver, forwards its crash
 * and replacement events to the controller, and at shutdown either leaves every instance
 * running (SIGTERM/SIGINT: a restart of bluegreen; the next daemon re-adopts them from the
 * store, as after a crash) or, for `shutdown --stop-targets`, stops them all (SIGTERM,
 * stop_timeout, SIGKILL) after the proxy has drained.
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

    if (!any_process_service(s))
        return 0;
    s->driver = bg_process_driver_new(&s->loop, s->cfg->state_dir ? s->cfg->state_dir : "./state",
                                      &events, err);
    if (s->driver == NULL)
        return err != NULL && err->code != 0 ? err->code : BG_EIO;
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

void srv_instances_maybe_close(bg_server_t *s)
{
    bg_list_t *pos, *tmp;

    if (!s->shutting_down || s->instances_stopping > 0 || s->driver_closing)
        return;
    if (s->driver == NULL) {
        srv_targets_stopped(s); /* nothing ran (no process service) */
        return;
    }
    s->driver_closing = true;
    bg_list_foreach_safe(pos, tmp, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        bg_list_remove(&rec->link);
        bg_instance_free(rec->inst);
        bg_target_unref(rec->target);
        free(rec);
    }
    /* Without stop_targets the instances still run: closing the driver only stops
     * watching them (their rows stay `running` for the next daemon to re-adopt). */
    bg_driver_close(s->driver, on_driver_closed, s);
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

    if (s->driver == NULL) {
        srv_instances_maybe_close(s);
        return;
    }
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
    srv_instances_maybe_close(s);
}
