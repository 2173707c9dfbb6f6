/* The control thread's model of services, slots and targets, and the verified switch:
 * every change rebuilds a whole snapshot from the model (one service entry per configured
 * service), publishes it, wakes the workers and then polls bg_proxy_adopted() until every
 * worker serves it — never blocking the loop — before the API call that caused it is
 * answered with the measured switch time. Workers adopt within microseconds when they get
 * the CPU, so the first SWITCH_SPIN_US are polled on every loop turn (uv_idle) for a
 * precise switch time; after that a 1 ms timer takes over so that a busy machine is not
 * made busier by the control thread spinning.
 */
#include "server/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define SWITCH_POLL_MS 1
#define SWITCH_SPIN_US 2000

void srv_slot_add(srv_service_t *svc, int slot, bg_target_t *t)
{
    srv_slot_t *sl = &svc->slot[slot];

    if (sl->n == sl->cap) {
        sl->cap = sl->cap ? sl->cap * 2 : 4;
        sl->targets = bg_xrealloc(sl->targets, sl->cap * sizeof(*sl->targets));
    }
    sl->targets[sl->n++] = t;
}

bg_target_t *srv_service_take(srv_service_t *svc, uint64_t id)
{
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        srv_slot_t *sl = &svc->slot[s];
        for (size_t i = 0; i < sl->n; i++) {
            bg_target_t *t = sl->targets[i];
            if (t->id != id)
                continue;
            memmove(&sl->targets[i], &sl->targets[i + 1], (sl->n - i - 1) * sizeof(*sl->targets));
            sl->n--;
            return t;
        }
    }
    return NULL;
}

bg_target_t *srv_service_find_addr(srv_service_t *svc, int slot, const char *addr)
{
    for (size_t i = 0; i < svc->slot[slot].n; i++)
        if (strcmp(svc->slot[slot].targets[i]->addr_str, addr) == 0)
            return svc->slot[slot].targets[i];
    return NULL;
}

srv_service_t *srv_service_find(bg_server_t *s, const char *name)
{
    for (size_t i = 0; i < s->n_services; i++)
        if (strcmp(s->services[i].cfg->name, name) == 0)
            return &s->services[i];
    return NULL;
}

/* Static targets from the config start healthy (servers start UP, as in HAProxy) and are
 * checked from the first moment; anything wrong with them fails the start. */
static int add_config_targets(srv_service_t *svc, bg_err_t *err)
{
    for (int s = 0; s < BG_SLOT_COUNT; s++) {
        for (size_t i = 0; i < svc->cfg->n_targets[s]; i++) {
            const char *addr = svc->cfg->targets[s][i];
            bg_target_t *t;
            if (srv_service_find_addr(svc, s, addr) != NULL)
                return bg_err_set(err, BG_EINVAL, "services.%s.targets.%s: %s listed twice",
                                  svc->cfg->name, bg_slot_str((bg_slot_t)s), addr);
            t = bg_target_new(svc->cfg->name, s, addr, true, err);
            if (t == NULL)
                return err != NULL && err->code != 0 ? err->code : BG_EINVAL;
            srv_slot_add(svc, s, t);
        }
    }
    return 0;
}

int srv_model_init(bg_server_t *s, bg_err_t *err)
{
    s->n_services = s->cfg->n_services;
    s->services = bg_xcalloc(s->n_services ? s->n_services : 1, sizeof(*s->services));
    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        int rc;
        svc->cfg = &s->cfg->services[i];
        svc->stats = bg_service_stats_new();
        if (svc->cfg->has_traffic) {
            svc->weight[BG_SLOT_BLUE] = svc->cfg->traffic[BG_SLOT_BLUE];
            svc->weight[BG_SLOT_GREEN] = svc->cfg->traffic[BG_SLOT_GREEN];
        } else {
            svc->weight[BG_SLOT_BLUE] = 100;
        }
        if ((rc = add_config_targets(svc, err)) != 0)
            return rc;
    }
    return 0;
}

void srv_model_fini(bg_server_t *s)
{
    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            for (size_t k = 0; k < svc->slot[sl].n; k++)
                bg_target_unref(svc->slot[sl].targets[k]);
            free(svc->slot[sl].targets);
        }
        bg_service_stats_unref(svc->stats);
    }
    free(s->services);
    s->services = NULL;
    s->n_services = 0;
}

static bg_route_snapshot_t *build_snapshot(bg_server_t *s)
{
    bg_route_snapshot_t *snap = bg_route_snapshot_new();

    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        bg_route_service_t *rs = bg_route_snapshot_add_service(snap, svc->cfg->name, svc->cfg->host,
                                                               svc->cfg->path_prefix, svc->stats);
        rs->drain_ms = svc->cfg->drain_ms;
        rs->passive_failures = svc->cfg->health.passive_failures;
        rs->retries = s->cfg->proxy.retries;
        rs->sticky = svc->cfg->strategy.sticky;
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++)
            for (size_t k = 0; k < svc->slot[sl].n; k++)
                bg_route_snapshot_add_target(snap, i, sl, svc->slot[sl].targets[k]);
        bg_route_snapshot_set_weights(snap, i, svc->weight[BG_SLOT_BLUE],
                                      svc->weight[BG_SLOT_GREEN]);
    }
    bg_route_snapshot_seal(snap);
    return snap;
}

uint64_t srv_publish(bg_server_t *s)
{
    uint64_t gen = bg_router_publish(s->router, build_snapshot(s));

    if (s->proxy_running)
        bg_proxy_notify(s->proxy);
    bg_log(BG_LOG_DEBUG, "route", "msg=published generation=%" PRIu64, gen);
    return gen;
}

/* The waiter is done: record the switch, call back, forget it. */
static void finish(bg_server_t *s, srv_waiter_t *w, int status, double switch_ms)
{
    if (status == 0 && w->svc != NULL) {
        w->svc->last_switch_generation = w->generation;
        w->svc->last_switch_ms = switch_ms;
        w->svc->last_switch_wall_ms = bg_wall_ms();
        bg_metrics_switch_record(&w->svc->switches, switch_ms);
    }
    bg_list_remove(&w->link);
    w->cb(s, w->arg, status, w->generation, switch_ms);
    free(w);
}

static void on_switch_timer(uv_timer_t *timer);

static void poll_waiters(bg_server_t *s)
{
    uint64_t now_ms = bg_now_ms();
    uint64_t now_us = bg_now_us();
    bool spin = false;
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &s->waiters)
    {
        srv_waiter_t *w = BG_CONTAINER_OF(pos, srv_waiter_t, link);
        /* Fault point: tests make workers look slow to confirm. */
        if (!bg_fault("server.switch.confirm") && bg_proxy_adopted(s->proxy, w->generation)) {
            double ms = (double)(bg_now_us() - w->published_us) / 1000.0;
            bg_log(BG_LOG_INFO, "route",
                   "msg=\"switch verified\" generation=%" PRIu64 " switch_ms=%.3f", w->generation,
                   ms);
            finish(s, w, 0, ms);
        } else if (now_ms >= w->deadline_ms) {
            bg_log(BG_LOG_ERROR, "route",
                   "msg=\"switch not confirmed\" generation=%" PRIu64 " timeout_ms=%u",
                   w->generation, s->switch_timeout_ms);
            finish(s, w, BG_ETIMEDOUT, 0);
        } else if (now_us - w->published_us < SWITCH_SPIN_US) {
            spin = true;
        }
    }
    if (!spin)
        uv_idle_stop(&s->switch_idle);
    if (bg_list_is_empty(&s->waiters))
        uv_timer_stop(&s->switch_timer);
    else if (!spin && !uv_is_active((uv_handle_t *)&s->switch_timer))
        uv_timer_start(&s->switch_timer, on_switch_timer, SWITCH_POLL_MS, SWITCH_POLL_MS);
}

static void on_switch_timer(uv_timer_t *timer)
{
    poll_waiters(timer->data);
}

static void on_switch_idle(uv_idle_t *idle)
{
    poll_waiters(idle->data);
}

void srv_switch_wait(bg_server_t *s, uint64_t generation, uint64_t published_us, srv_service_t *svc,
                     srv_switch_cb cb, void *arg)
{
    srv_waiter_t *w = BG_NEW(srv_waiter_t);

    w->generation = generation;
    w->published_us = published_us;
    w->deadline_ms = bg_now_ms() + s->switch_timeout_ms;
    w->svc = svc;
    w->cb = cb;
    w->arg = arg;
    bg_list_init(&w->link);
    bg_list_insert_tail(&s->waiters, &w->link);
    uv_idle_start(&s->switch_idle, on_switch_idle);
}

void srv_waiters_fail(bg_server_t *s, int code)
{
    while (!bg_list_is_empty(&s->waiters))
        finish(s, BG_CONTAINER_OF(s->waiters.next, srv_waiter_t, link), code, 0);
    uv_idle_stop(&s->switch_idle);
    uv_timer_stop(&s->switch_timer);
}

void srv_on_health(void *ctx, bg_target_t *t, bool healthy, const char *reason)
{
    bg_server_t *s = ctx;
    char clean[256];
    size_t n = 0;

    if (s->deployer != NULL)
        bg_deployer_health_event(s->deployer, t->service, t->slot, t->addr_str, healthy, reason);
    /* Keep the key=value line parseable: no quotes or newlines inside the quoted value. */
    for (const char *p = reason ? reason : ""; *p != '\0' && n + 1 < sizeof(clean); p++)
        clean[n++] = (*p == '"' || *p == '\n' || *p == '\r') ? '\'' : *p;
    clean[n] = '\0';
    bg_log(BG_LOG_INFO, "health", "service=%s slot=%s target=%s healthy=%s reason=\"%s\"",
           t->service, bg_slot_str((bg_slot_t)t->slot), t->addr_str, healthy ? "true" : "false",
           clean);
}
