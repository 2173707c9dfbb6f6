/* Proxy integration fixture (see proxy_fixture.h). */
#include "integration/proxy_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "base/base.h"

bg_proxy_config_t pfx_limits(void)
{
    bg_proxy_config_t l = {0};
    l.workers = 2;
    l.header_timeout_ms = 5000;
    l.idle_timeout_ms = 10000;
    l.connect_timeout_ms = 1000;
    l.response_timeout_ms = 10000;
    l.max_header_bytes = 16 * 1024;
    l.max_body_bytes = 128ull * 1024 * 1024;
    l.retries = 2;
    l.pool_idle_per_target = 64;
    l.pool_idle_timeout_ms = 30000;
    l.max_connections = 10000;
    return l;
}

const char *pfx_addr(int port)
{
    static char bufs[8][32];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 32, "127.0.0.1:%d", port);
    return b;
}

void pfx_start(pfx_t *f, const bg_proxy_config_t *limits, bool test_listener)
{
    bg_err_t err = {0};
    bg_proxy_options_t o = {0};

    uv_async_t *notify = f->notify;
    memset(f, 0, sizeof(*f));
    f->notify = notify;
    f->router = bg_router_new();
    o.listen = "127.0.0.1:0";
    o.test_listen = test_listener ? "127.0.0.1:0" : NULL;
    o.limits = limits ? *limits : pfx_limits();
    o.router = f->router;
    o.passive_notify = f->notify;
    f->proxy = bg_proxy_new(&o, &err);
    cr_assert(f->proxy, "bg_proxy_new: %s", err.msg);
    cr_assert_eq(bg_proxy_start(f->proxy, &err), 0, "bg_proxy_start: %s", err.msg);
    f->port = bg_proxy_port(f->proxy);
    f->test_port = bg_proxy_test_port(f->proxy);
    cr_assert_gt(f->port, 0);
    for (int i = 0; i < PFX_MAX_SERVICES; i++)
        f->stats[i] = bg_service_stats_new();
}

bg_target_t *pfx_target(pfx_t *f, const char *svc, int slot, const char *addr)
{
    bg_err_t err = {0};

    for (size_t i = 0; i < f->n_targets; i++)
        if (strcmp(f->targets[i]->addr_str, addr) == 0 && f->targets[i]->slot == slot &&
            strcmp(f->targets[i]->service, svc) == 0)
            return f->targets[i];
    cr_assert_lt(f->n_targets, PFX_MAX_TARGETS);
    bg_target_t *t = bg_target_new(svc, slot, addr, true, &err);
    cr_assert(t, "target %s: %s", addr, err.msg);
    f->targets[f->n_targets++] = t;
    return t;
}

typedef struct adopted_arg {
    pfx_t *f;
    uint64_t gen;
} adopted_arg_t;

static bool adopted(void *arg)
{
    adopted_arg_t *a = arg;
    return bg_proxy_adopted(a->f->proxy, a->gen);
}

void pfx_publish(pfx_t *f, const pfx_svc_t *svcs, size_t n)
{
    bg_route_snapshot_t *s = bg_route_snapshot_new();

    cr_assert_leq(n, PFX_MAX_SERVICES);
    for (size_t i = 0; i < n; i++) {
        const pfx_svc_t *d = &svcs[i];
        bg_route_service_t *e =
            bg_route_snapshot_add_service(s, d->name, d->host, d->prefix, f->stats[i]);
        e->sticky = d->sticky;
        e->passive_failures = d->passive_failures;
        e->drain_ms = d->drain_ms ? d->drain_ms : 30000;
        e->retries = d->retries ? d->retries : 2;
        for (int k = 0; k < 4 && d->blue[k]; k++)
            bg_route_snapshot_add_target(s, i, 0, pfx_target(f, d->name, 0, d->blue[k]));
        for (int k = 0; k < 4 && d->green[k]; k++)
            bg_route_snapshot_add_target(s, i, 1, pfx_target(f, d->name, 1, d->green[k]));
        bg_route_snapshot_set_weights(s, i, d->blue_w, d->green_w);
    }
    bg_route_snapshot_seal(s);
    adopted_arg_t a = {f, bg_router_publish(f->router, s)};
    bg_proxy_notify(f->proxy);
    cr_assert(bgt_wait_until(adopted, &a, 5000), "workers did not adopt generation %lu",
              (unsigned long)a.gen);
}

void pfx_stop(pfx_t *f)
{
    bg_proxy_stop(f->proxy, 1000);
    cr_assert_eq(bg_proxy_client_connections(f->proxy), 0);
    bg_proxy_free(f->proxy);
    bg_router_free(f->router);
    for (size_t i = 0; i < f->n_targets; i++)
        bg_target_unref(f->targets[i]);
    for (int i = 0; i < PFX_MAX_SERVICES; i++)
        bg_service_stats_unref(f->stats[i]);
}

int pfx_get_on(int fd, const char *host, const char *path, bgt_resp_t *out)
{
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, host);
    if (!bgt_write_all(fd, req, (size_t)n))
        return -1;
    if (!bgt_read_response(fd, out, 5000))
        return -1;
    return out->status;
}
