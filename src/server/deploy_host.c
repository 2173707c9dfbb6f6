/* The server's side of the deployment controller (src/deploy/deploy.h): what a deployment
 * may do to the model — start or re-adopt instances of a slot through the service's driver
 * (each a target that is health-checked from the first moment), set weights with a verified
 * switch, drain and stop a slot, and read a slot's health, counters, evidence and logs.
 * Everything runs on the control loop; the controller never touches the model directly.
 */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define DRAIN_POLL_MS 10
#define EVIDENCE_LOG_BYTES 2048

static srv_service_t *svc_of(bg_server_t *s, const char *name)
{
    srv_service_t *svc = srv_service_find(s, name);
    BG_ASSERT(svc != NULL); /* the controller only knows configured services */
    return svc;
}

static bg_driver_t *routing_driver(bg_server_t *s, srv_service_t *svc)
{
    bg_driver_t *drv = srv_driver_of(s, svc);
    return bg_driver_routes(drv) ? drv : NULL;
}

static void on_restored(void *arg, int status, double switch_ms, const char *msg)
{
    char *service = arg;

    if (status == 0)
        bg_log(BG_LOG_INFO, "route", "msg=\"stored weights routed\" service=%s switch_ms=%.1f",
               service, switch_ms);
    else
        bg_log(BG_LOG_WARN, "route", "msg=\"stored weights not confirmed\" service=%s err=\"%s\"",
               service, msg);
    free(service);
}

static void h_restore_weights(void *ctx, const char *service, const uint32_t w[2])
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, service);
    bg_driver_t *routes = routing_driver(s, svc);

    svc->weight[0] = w[0];
    svc->weight[1] = w[1];
    srv_publish(s);
    /* The platform routes: it gets the stored split too (a restart reconciles it). */
    if (routes != NULL)
        routes->vt->set_weights(routes, service, w, on_restored, bg_strdup(service));
}

typedef struct switch_call {
    bg_deploy_done_cb cb;
    void *arg;
} switch_call_t;

static void on_switched(bg_server_t *s, void *arg, int status, uint64_t generation,
                        double switch_ms)
{
    switch_call_t c = *(switch_call_t *)arg;

    (void)s;
    (void)generation;
    free(arg);
    c.cb(c.arg, status, switch_ms);
}

static void on_routed(void *arg, int status, double switch_ms, const char *msg)
{
    switch_call_t c = *(switch_call_t *)arg;

    free(arg);
    if (status != 0)
        bg_log(BG_LOG_WARN, "route", "msg=\"switch not verified\" err=\"%s\"", msg);
    c.cb(c.arg, status, switch_ms);
}

static void h_set_weights(void *ctx, const char *service, const uint32_t w[2], bg_deploy_done_cb cb,
                          void *arg)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, service);
    switch_call_t *c = BG_NEW(switch_call_t);
    bg_driver_t *routes = routing_driver(s, svc);
    uint64_t t0, gen;

    c->cb = cb;
    c->arg = arg;
    if (routes != NULL) {
        /* The platform's load balancer is the data plane: the driver writes and verifies. */
        bg_log(BG_LOG_INFO, "route",
               "msg=\"traffic change\" service=%s blue=%u green=%u by=deploy via=%s", service,
               w[0], w[1], routes->vt->name);
        svc->weight[0] = w[0];
        svc->weight[1] = w[1];
        srv_publish(s);
        routes->vt->set_weights(routes, service, w, on_routed, c);
        return;
    }

    bg_log(BG_LOG_INFO, "route", "msg=\"traffic change\" service=%s blue=%u green=%u by=deploy",
           service, w[0], w[1]);
    svc->weight[0] = w[0];
    svc->weight[1] = w[1];
    t0 = bg_now_us();
    gen = srv_publish(s);
    srv_switch_wait(s, gen, t0, svc, on_switched, c);
}

/* An instance the driver runs becomes a target of its slot, unhealthy until checked
 * (<healthy>: re-adopted targets that were serving start healthy, as static targets do). */
static int add_instance(bg_server_t *s, srv_service_t *svc, bg_instance_t *inst, bool healthy,
                        bg_deploy_instance_t *out, bg_err_t *err)
{
    bg_target_t *t = bg_target_new(svc->cfg->name, inst->slot, inst->address, healthy, err);
    srv_instance_t *rec;

    BG_ASSERT(t != NULL); /* the driver made the address: 127.0.0.1:PORT */
    snprintf(t->version, sizeof(t->version), "%s", inst->version);
    rec = BG_NEW(srv_instance_t);
    rec->inst = inst;
    rec->target = bg_target_ref(t);
    inst->data = rec;
    bg_list_insert_tail(&s->instances, &rec->link);
    srv_slot_add(svc, inst->slot, t);
    snprintf(out->address, sizeof(out->address), "%s", inst->address);
    snprintf(out->handle, sizeof(out->handle), "%s", inst->handle);
    bg_health_watch(s->health, t, &svc->cfg->health);
    srv_publish(s);
    return 0;
}

static int add_routed_instance(bg_server_t *s, bg_instance_t *inst, bg_deploy_instance_t *out)
{
    srv_instance_t *rec = BG_NEW(srv_instance_t);

    rec->inst = inst;
    inst->data = rec;
    bg_list_insert_tail(&s->instances, &rec->link);
    snprintf(out->address, sizeof(out->address), "%s", inst->address);
    snprintf(out->handle, sizeof(out->handle), "%s", inst->handle);
    return 0;
}

static bg_driver_t *h_driver(void *ctx, const char *service)
{
    bg_server_t *s = ctx;
    return srv_driver_of(s, svc_of(s, service));
}

/* A driver's start with <driver-cb> to come: the controller's callback to call then. */
typedef struct start_call {
    bg_deploy_started_cb cb;
    void *arg;
} start_call_t;

static void on_inst_started(void *arg, bg_instance_t *inst, int status)
{
    start_call_t c = *(start_call_t *)arg;
    bg_deploy_instance_t out;

    free(arg);
    memset(&out, 0, sizeof(out));
    snprintf(out.address, sizeof(out.address), "%s", inst->address);
    snprintf(out.handle, sizeof(out.handle), "%s", inst->handle);
    /* A failed instance stays in its slot (STOPPED, unhealthy) until the slot is stopped,
     * so that the evidence still shows its last log lines. */
    c.cb(c.arg, status, &out, inst->error);
}

static int h_start(void *ctx, const bg_instance_spec_t *spec, bg_deploy_started_cb cb, void *arg,
                   bg_deploy_instance_t *out, bg_err_t *err)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, spec->service);
    bg_driver_t *drv = srv_driver_of(s, svc);
    start_call_t *c;
    bg_instance_t *inst = NULL;
    int rc;

    if (drv == NULL || !bg_driver_starts(drv))
        return bg_err_set(err, BG_EINVAL, "service %s: driver %s starts no instances",
                          spec->service, drv != NULL ? drv->vt->name : "(none)");
    c = BG_NEW(start_call_t);
    c->cb = cb;
    c->arg = arg;
    if ((rc = bg_driver_start(drv, spec, on_inst_started, c, &inst, err)) != 0) {
        free(c);
        return rc;
    }
    srv_metrics_slot_revision(svc, spec->slot, spec->revision, spec->rev->version);
    /* The address is known at once: the target is in its slot (unhealthy until checked)
     * while an asynchronous driver is still starting it. A routing driver's instances are
     * the platform's business: recorded, never proxy targets. */
    if (bg_driver_routes(drv))
        add_routed_instance(s, inst, out);
    else
        add_instance(s, svc, inst, false, out, err);
    if (inst->state == BG_INSTANCE_STARTING)
        return 1;
    free(c);
    return 0;
}

static int h_adopt(void *ctx, const bg_instance_spec_t *spec, const char *address,
                   const char *handle, bg_deploy_instance_t *out, bg_err_t *err)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, spec->service);
    bg_driver_t *drv = srv_driver_of(s, svc);
    bg_instance_t *inst = NULL;
    int rc;

    if (drv == NULL || !bg_driver_starts(drv))
        return bg_err_set(err, BG_EINVAL, "service %s: driver %s adopts no instances",
                          spec->service, drv != NULL ? drv->vt->name : "(none)");
    if ((rc = bg_driver_adopt(drv, spec, address, handle, &inst, err)) != 0)
        return rc;
    srv_metrics_slot_revision(svc, spec->slot, spec->revision, spec->rev->version);
    if (bg_driver_routes(drv))
        return add_routed_instance(s, inst, out);
    return add_instance(s, svc, inst, true, out, err);
}

/* ---- instances found running that nothing claims ---- */

static int h_scan(void *ctx, bg_driver_found_cb cb, void *arg)
{
    bg_server_t *s = ctx;
    int rc = 0;

    /* Every driver open, each through its own scan (a driver that has none finds none). */
    for (unsigned k = 0; k < SRV_DRIVER_KINDS && rc == 0; k++)
        if (s->drivers[k] != NULL)
            rc = bg_driver_scan(s->drivers[k], cb, arg);
    return rc;
}

static void on_reaped(void *arg, bg_instance_t *inst, int status)
{
    bg_server_t *s = arg;

    (void)status;
    bg_instance_free(inst);
    BG_ASSERT(s->instances_stopping > 0);
    s->instances_stopping--;
    srv_instances_maybe_close(s);
}

/* Taken over by the driver only to be stopped: it never becomes a target. The shutdown
 * waits for it like for any instance being stopped (instances_stopping). */
static void h_reap(void *ctx, const bg_driver_found_t *f)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = srv_service_find(s, f->service);
    bg_revision_config_t rev;
    bg_instance_spec_t spec = {.service = f->service,
                               .slot = f->slot,
                               .rev = &rev,
                               .stop_timeout_ms = svc != NULL ? svc->cfg->stop_timeout_ms : 0};
    bg_instance_t *inst = NULL;
    bg_err_t err;

    memset(&rev, 0, sizeof(rev));
    bg_err_clear(&err);
    if (f->driver == NULL ||
        bg_driver_adopt(f->driver, &spec, f->address, f->handle, &inst, &err) != 0) {
        bg_log(BG_LOG_WARN, "server", "msg=\"orphan not stopped\" handle=%s err=\"%s\"",
               f->handle, err.msg);
        return;
    }
    s->instances_stopping++;
    bg_driver_stop(f->driver, inst, on_reaped, s);
}

/* ---- draining and stopping a slot ---- */

/* The slot's targets leave the model at once (workers stop picking them); their instances
 * leave bg_server.instances into here, so the shutdown path never stops them twice. */
typedef struct slot_stop {
    bg_list_t link; /* in bg_server.slot_stops while draining or stopping */
    bg_server_t *s;
    bg_target_t **targets; /* one ref each, removed from the model */
    size_t n;
    srv_instance_t **recs; /* the instances behind them */
    size_t n_recs;
    uint64_t deadline_ms;
    uint64_t generation;
    unsigned stopping;
    bool stops_issued;
    uv_timer_t timer;
    bg_deploy_done_cb cb;
    void *arg;
} slot_stop_t;

static void on_stop_timer_closed(uv_handle_t *h)
{
    slot_stop_t *st = h->data;

    for (size_t i = 0; i < st->n; i++)
        bg_target_unref(st->targets[i]);
    free(st->targets);
    free(st->recs);
    free(st);
}

static void slot_stop_done(slot_stop_t *st)
{
    bg_list_remove(&st->link);
    st->cb(st->arg, 0, 0);
    uv_close((uv_handle_t *)&st->timer, on_stop_timer_closed);
}

static void on_inst_stopped(void *arg, bg_instance_t *inst, int status)
{
    slot_stop_t *st = arg;
    srv_instance_t *rec = inst->data;
    bg_server_t *s = st->s;

    (void)status;
    bg_target_unref(rec->target);
    free(rec);
    bg_instance_free(inst);
    BG_ASSERT(s->instances_stopping > 0);
    s->instances_stopping--;
    if (--st->stopping == 0)
        slot_stop_done(st);
    srv_instances_maybe_close(s);
}

static bool drained(slot_stop_t *st)
{
    if (!bg_proxy_adopted(st->s->proxy, st->generation))
        return false;
    for (size_t i = 0; i < st->n; i++)
        if (atomic_load_explicit(&st->targets[i]->stats.active, memory_order_relaxed) > 0)
            return false;
    return true;
}

static void stop_instances(slot_stop_t *st)
{
    bg_server_t *s = st->s;

    uv_timer_stop(&st->timer);
    st->stops_issued = true;
    /* Count them all first: a stop may call back at once (already exited). */
    st->stopping = (unsigned)st->n_recs + 1;
    s->instances_stopping += (unsigned)st->n_recs;
    for (size_t i = 0; i < st->n_recs; i++)
        bg_driver_stop(st->recs[i]->inst->driver, st->recs[i]->inst, on_inst_stopped, st);
    if (--st->stopping == 0)
        slot_stop_done(st);
}

static void on_drain_poll(uv_timer_t *t)
{
    slot_stop_t *st = t->data;

    if (drained(st) || bg_now_ms() >= st->deadline_ms)
        stop_instances(st);
}

static void take_instances(bg_server_t *s, slot_stop_t *st)
{
    st->recs = bg_xcalloc(st->n ? st->n : 1, sizeof(*st->recs));
    for (size_t i = 0; i < st->n; i++) {
        srv_instance_t *rec = srv_instance_of(s, st->targets[i]);
        if (rec == NULL)
            continue;
        bg_list_remove(&rec->link);
        st->recs[st->n_recs++] = rec;
    }
}

static void take_routed_instances(bg_server_t *s, slot_stop_t *st, const char *service, int slot)
{
    bg_list_t *pos, *tmp;
    size_t n = 0;

    bg_list_foreach(pos, &s->instances)
    n++;
    st->recs = bg_xcalloc(n ? n : 1, sizeof(*st->recs));
    bg_list_foreach_safe(pos, tmp, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        if (rec->target != NULL || rec->inst->slot != slot ||
            strcmp(rec->inst->service, service) != 0)
            continue;
        bg_list_remove(&rec->link);
        st->recs[st->n_recs++] = rec;
    }
}

static void h_stop_slot(void *ctx, const char *service, int slot, bg_deploy_done_cb cb, void *arg)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, service);
    slot_stop_t *st = BG_NEW(slot_stop_t);
    srv_slot_t *sl = &svc->slot[slot];

    st->s = s;
    st->cb = cb;
    st->arg = arg;
    if (routing_driver(s, svc) != NULL) {
        /* Nothing of ours to drain: the driver drains on the platform (ecs: the target
         * group's deregistration delay) before it reports the instances stopped. */
        take_routed_instances(s, st, service, slot);
        bg_list_insert_tail(&s->slot_stops, &st->link);
        uv_timer_init(&s->loop, &st->timer);
        st->timer.data = st;
        stop_instances(st);
        return;
    }
    st->n = sl->n;
    st->targets = sl->targets; /* the model's refs move here */
    sl->targets = NULL;
    sl->n = sl->cap = 0;
    take_instances(s, st);
    for (size_t i = 0; i < st->n; i++) {
        /* Workers stop picking it at once; requests in flight finish (drain). */
        atomic_store_explicit(&st->targets[i]->draining, 1, memory_order_relaxed);
        bg_health_unwatch(s->health, st->targets[i]);
    }
    st->generation = srv_publish(s);
    st->deadline_ms = bg_now_ms() + svc->cfg->drain_ms;
    bg_list_insert_tail(&s->slot_stops, &st->link);
    uv_timer_init(&s->loop, &st->timer);
    st->timer.data = st;
    if (s->shutting_down)
        stop_instances(st);
    else
        uv_timer_start(&st->timer, on_drain_poll, 0, DRAIN_POLL_MS);
}

void srv_deploy_host_shutdown(bg_server_t *s)
{
    bg_list_t *pos, *tmp;

    /* The proxy has stopped: nothing is left to drain. */
    bg_list_foreach_safe(pos, tmp, &s->slot_stops)
    {
        slot_stop_t *st = BG_CONTAINER_OF(pos, slot_stop_t, link);
        if (!st->stops_issued)
            stop_instances(st);
    }
}

/* ---- reading a slot ---- */

/* Instances a routing driver runs in <slot> (recorded, not stopped). */
static uint32_t slot_instances(bg_server_t *s, const char *service, int slot)
{
    bg_list_t *pos;
    uint32_t n = 0;

    bg_list_foreach(pos, &s->instances)
    {
        srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
        if (rec->target == NULL && rec->inst->slot == slot &&
            strcmp(rec->inst->service, service) == 0)
            n++;
    }
    return n;
}

static void h_slot_status(void *ctx, const char *service, int slot, bg_deploy_slot_status_t *out)
{
    srv_service_t *svc = svc_of(ctx, service);
    bg_driver_t *routes = routing_driver(ctx, svc);

    memset(out, 0, sizeof(*out));
    if (routes != NULL) {
        bg_driver_slot_health_t h;
        routes->vt->slot_health(routes, service, slot, &h);
        out->targets = h.targets > slot_instances(ctx, service, slot)
                           ? h.targets
                           : slot_instances(ctx, service, slot);
        out->healthy = h.healthy;
        out->unhealthy = out->targets > h.healthy ? out->targets - h.healthy : 0;
        snprintf(out->detail, sizeof(out->detail), "%s", h.detail);
        return;
    }
    out->targets = (uint32_t)svc->slot[slot].n;
    for (size_t i = 0; i < svc->slot[slot].n; i++)
        if (bg_target_is_healthy(svc->slot[slot].targets[i]))
            out->healthy++;
    out->unhealthy = out->targets - out->healthy;
}

static const bg_traffic_stats_t *h_slot_stats(void *ctx, const char *service, int slot)
{
    srv_service_t *svc = svc_of(ctx, service);
    bg_driver_t *routes = routing_driver(ctx, svc);

    if (routes != NULL)
        return routes->vt->slot_stats(routes, service, slot);
    return &svc->stats->slot[slot];
}

static void h_logs(void *ctx, const char *service, int slot, size_t bytes, bg_buf_t *out);

static json_t *log_tail(bg_server_t *s, const bg_target_t *t, size_t bytes)
{
    srv_instance_t *rec = srv_instance_of(s, t);
    bg_buf_t b;
    json_t *j;

    if (rec == NULL)
        return json_null();
    bg_buf_init(&b);
    bg_driver_logs(rec->inst->driver, rec->inst, bytes, &b);
    j = json_stringn(b.data ? b.data : "", b.len);
    bg_buf_fini(&b);
    return j != NULL ? j : json_string("(log is not UTF-8)");
}

static json_t *h_evidence(void *ctx, const char *service, int slot, bool failing_only)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, service);
    json_t *arr = json_array();
    bg_driver_t *routes = routing_driver(s, svc);

    if (routes != NULL) {
        /* The platform's words: its target health and why its last task stopped. */
        bg_driver_slot_health_t h;
        bg_buf_t b;
        routes->vt->slot_health(routes, service, slot, &h);
        bg_buf_init(&b);
        h_logs(ctx, service, slot, EVIDENCE_LOG_BYTES, &b);
        json_array_append_new(arr, json_pack("{s:s,s:i,s:i,s:s,s:s,s:s%}", "driver", routes->vt->name,
                                             "targets", (int)h.targets, "healthy", (int)h.healthy,
                                             "health", h.detail, "stopped_reason",
                                             h.stopped_reason, "log_tail",
                                             b.data ? b.data : "", b.len));
        bg_buf_fini(&b);
        (void)failing_only;
        return arr;
    }
    for (size_t i = 0; i < svc->slot[slot].n; i++) {
        bg_target_t *t = svc->slot[slot].targets[i];
        bg_health_info_t info;
        if (failing_only && bg_target_is_healthy(t) && svc->slot[slot].n > 1)
            continue;
        bg_health_info(s->health, t, &info);
        json_array_append_new(arr, json_pack("{s:s,s:b,s:{s:s,s:i,s:s,s:I,s:I},s:o}", "address",
                                             t->addr_str, "healthy", bg_target_is_healthy(t),
                                             "health", "reason", info.reason, "last_status",
                                             info.last_status, "last_body", info.last_body,
                                             "consecutive_fail", (json_int_t)info.consecutive_fail,
                                             "checks", (json_int_t)info.checks, "log_tail",
                                             log_tail(s, t, EVIDENCE_LOG_BYTES)));
    }
    return arr;
}

static void h_logs(void *ctx, const char *service, int slot, size_t bytes, bg_buf_t *out)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = svc_of(s, service);

    if (routing_driver(s, svc) != NULL) {
        bg_list_t *pos;
        bg_list_foreach(pos, &s->instances)
        {
            srv_instance_t *rec = BG_CONTAINER_OF(pos, srv_instance_t, link);
            if (rec->target != NULL || rec->inst->slot != slot ||
                strcmp(rec->inst->service, service) != 0)
                continue;
            bg_buf_printf(out, "==> %s (%s, rev %lld) <==\n", rec->inst->address,
                          bg_slot_str((bg_slot_t)slot), (long long)rec->inst->revision);
            bg_driver_logs(rec->inst->driver, rec->inst, bytes, out);
            break; /* one service per slot: its instances share what the driver knows */
        }
        return;
    }

    for (size_t i = 0; i < svc->slot[slot].n; i++) {
        bg_target_t *t = svc->slot[slot].targets[i];
        srv_instance_t *rec = srv_instance_of(s, t);
        bg_buf_printf(out, "==> target %s (%s, rev %lld) <==\n", t->addr_str,
                      bg_slot_str((bg_slot_t)slot),
                      rec != NULL ? (long long)rec->inst->revision : 0LL);
        if (rec != NULL)
            bg_driver_logs(rec->inst->driver, rec->inst, bytes, out);
        if (out->len > 0 && out->data[out->len - 1] != '\n')
            bg_buf_puts(out, "\n");
    }
}

static const char *h_test_url(void *ctx, const char *service)
{
    bg_server_t *s = ctx;
    bg_driver_t *routes = routing_driver(s, svc_of(s, service));

    return routes != NULL && routes->vt->test_url != NULL ? routes->vt->test_url(routes, service)
                                                          : NULL;
}

static int h_listen_port(void *ctx, bool test)
{
    bg_server_t *s = ctx;
    return test ? bg_server_test_port(s) : bg_server_proxy_port(s);
}

void srv_deploy_host(bg_server_t *s, bg_deploy_host_t *out)
{
    *out = (bg_deploy_host_t){
        .ctx = s,
        .restore_weights = h_restore_weights,
        .set_weights = h_set_weights,
        .driver = h_driver,
        .start = h_start,
        .adopt = h_adopt,
        .scan = h_scan,
        .reap = h_reap,
        .stop_slot = h_stop_slot,
        .slot_status = h_slot_status,
        .slot_stats = h_slot_stats,
        .evidence = h_evidence,
        .logs = h_logs,
        .listen_port = h_listen_port,
        .test_url = h_test_url,
    };
}
