/* Server integration fixture: a real bg_server_t (proxy workers, health checks, admin API)
 * running on its own thread, in front of three fake backends ("blue", "green" and a spare
 * "extra" to register at run time), with a static service `orders` (host orders.local).
 */
#ifndef BG_TESTS_SERVER_FIXTURE_H
#define BG_TESTS_SERVER_FIXTURE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <jansson.h>

#include "server/server.h"
#include "support/support.h"
#include "unit/admin/client.h"

#define SFX_BLUE 0
#define SFX_GREEN 1
#define SFX_EXTRA 2
#define SFX_TOKEN "integration-token"

typedef struct sfx sfx_t;

typedef struct sfx_backend {
    sfx_t *f;
    int idx;
    bgt_backend_t *b;
    _Atomic unsigned hits;   /* proxied requests (health checks not counted) */
    _Atomic int fail_health; /* 1: /healthz answers 503 */
} sfx_backend_t;

struct sfx {
    char *dir;
    sfx_backend_t be[3];
    bg_server_t *srv;
    pthread_t thread;
    bool running;
    int run_rc;
    int proxy_port;
    char *sock;     /* admin socket path (unix) */
    int admin_port; /* tcp admin, else -1 */
    int test_port;  /* test listener, else -1 */
};

typedef struct sfx_opts {
    bool tcp_admin;             /* http://127.0.0.1:0 with SFX_TOKEN */
    bool test_listener;         /* test_listen on a kernel-picked port */
    uint32_t switch_timeout_ms; /* 0: the default */
    int green_weight;           /* initial traffic to green */
    const char *dir;            /* state lives in <dir>/state; NULL: a fresh tmp dir */
    /* Overrides (NULL: the fake backends / the /healthz status check). */
    const char *blue_addr, *green_addr;
    const char *health_yaml;   /* flow mapping for `health:` */
    const char *services_yaml; /* replaces the whole `services:` block */
} sfx_opts_t;

/* The fixture's config for <f> (backends started, f->dir set). Caller owns it. */
bg_config_t *sfx_config(sfx_t *f, const sfx_opts_t *opts);

/* Builds the config, starts the server (ports bound) and runs it on a thread. Waits
 * until both configured targets have passed a health check. */
void sfx_start(sfx_t *f, const sfx_opts_t *opts);
/* Stops the server and the instances it runs (bg_server_shutdown(srv, true): no test
 * leaves a process behind), joins, asserts bg_server_run() returned 0 (loop closed with no
 * handle left), stops the backends. */
void sfx_stop(sfx_t *f);
/* The same with <stop_targets> false: as SIGTERM, process-driver instances keep running
 * for the next server on the same state_dir to re-adopt. */
void sfx_stop_with(sfx_t *f, bool stop_targets);

/* Admin call (adds the bearer token for a TCP admin). */
bool sfx_admin(sfx_t *f, const char *method, const char *path, const char *body, cresp_t *out);
/* One GET through the proxy to orders.local<path>: returns the answering backend's index,
 * -1 if no backend answered; *status gets the HTTP status (may be NULL). */
int sfx_get(sfx_t *f, const char *path, int *status);
/* The `version` field of the JSON answer to GET orders.local/ through the proxy, written
 * into <out> (<size> bytes) and returned; "" when no 200 JSON answer names one. */
const char *sfx_version(sfx_t *f, char *out, size_t size);
/* JSON of GET /v1/services/orders (new reference). */
void *sfx_service_json(sfx_t *f);
/* Polls GET /v1/services/orders until target <addr> has healthy == <healthy>. */
bool sfx_wait_healthy(sfx_t *f, const char *addr, bool healthy, int timeout_ms);
/* Target <addr> in a SERVICE document (borrowed), or NULL. */
json_t *sfx_find_target(json_t *svc, const char *addr);
/* "127.0.0.1:<port>" of backend <idx> (static buffer per idx). */
const char *sfx_addr(sfx_t *f, int idx);

#endif
