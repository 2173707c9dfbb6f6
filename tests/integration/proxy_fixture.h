/* Proxy integration fixture: a router and a bg_proxy running in the test process (real
 * worker threads, real loopback sockets) in front of fake backends from tests/support.
 * Routing tables are described by pfx_svc_t and published as the control thread would;
 * targets are kept by address so a republished table reuses the same bg_target_t.
 */
#ifndef BG_TESTS_PROXY_FIXTURE_H
#define BG_TESTS_PROXY_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "proxy/proxy.h"
#include "route/route.h"
#include "support/support.h"

#define PFX_MAX_TARGETS 16
#define PFX_MAX_SERVICES 4

typedef struct pfx_svc {
    const char *name, *host, *prefix;
    const char *blue[4], *green[4];  /* target addresses, NULL-terminated */
    uint32_t blue_w, green_w;
    bool sticky;
    uint32_t passive_failures, drain_ms, retries;
} pfx_svc_t;

typedef struct pfx {
    bg_router_t *router;
    bg_proxy_t *proxy;
    bg_service_stats_t *stats[PFX_MAX_SERVICES];
    bg_target_t *targets[PFX_MAX_TARGETS];
    size_t n_targets;
    int port, test_port;
    uv_async_t *notify;
} pfx_t;

/* Default limits for tests (2 workers, short timeouts where a test does not care). */
bg_proxy_config_t pfx_limits(void);
/* Starts the proxy on 127.0.0.1:0 (and a test listener when <test_listener>). */
void pfx_start(pfx_t *f, const bg_proxy_config_t *limits, bool test_listener);
/* Builds, publishes and waits until every worker adopted the table. */
void pfx_publish(pfx_t *f, const pfx_svc_t *svcs, size_t n);
/* The target object for <addr> (created on first use, healthy). */
bg_target_t *pfx_target(pfx_t *f, const char *svc, int slot, const char *addr);
void pfx_stop(pfx_t *f);
/* "127.0.0.1:<port>" in a static rotating buffer. */
const char *pfx_addr(int port);

/* Keep-alive client helpers. */
int pfx_get_on(int fd, const char *host, const char *path, bgt_resp_t *out);

#endif
