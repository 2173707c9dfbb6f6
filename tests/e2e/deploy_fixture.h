/* e2e fixture for deployments: a real `bluegreen serve` running one process-driver service
 * `orders` of real sample-apps, the admin API over its Unix socket, and a keep-alive load
 * loop through the production listener that counts every request that did not get a 2xx.
 * Test code only; blocking; every wait has a deadline.
 */
#ifndef BG_TESTS_E2E_DEPLOY_FIXTURE_H
#define BG_TESTS_E2E_DEPLOY_FIXTURE_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#define DFX_WAIT_MS 20000

typedef struct dfx_load {
    pthread_t thread;
    int port;
    int conns; /* keep-alive connections, used round robin */
    bool
        retry; /* a request that got no byte of an answer is sent again (dfx_load_start_retrying) */
    atomic_bool stop;
    atomic_ulong ok, failed;
    atomic_ulong retried;       /* requests sent again (retrying mode) */
    atomic_ulong by_version[8]; /* 2xx by the "version" of the answer: index in versions */
    char versions[8][16];
    char last_failure[256];
} dfx_load_t;

typedef struct dfx {
    char *dir, *cfg_path, *sock, *yaml;
    int port, test_port;
    pid_t serve;
    dfx_load_t load;
    bool load_running;
} dfx_t;

/* Writes a config whose `orders` service has the given extra YAML lines (each indented
 * by 4 spaces, e.g. "    strategy: all-at-once\n"), starts serve and waits until the
 * configured revision (1.0.0, count 2) answers on the production listener. */
void dfx_start(dfx_t *f, const char *service_extra);
/* dfx_start() with <prepare>(f) called once the directory and config exist, before serve
 * starts (e.g. to mount a filesystem on <f->dir>/state). */
void dfx_start_with(dfx_t *f, const char *service_extra, void (*prepare)(dfx_t *f));
/* Starts serve again on the same config and state (after dfx_kill9()). */
void dfx_restart(dfx_t *f);
/* kill -9 of the daemon only (its targets keep running). */
void dfx_kill9(dfx_t *f);
/* SIGTERM to the daemon only, waits until it exited (its targets keep running: the next
 * dfx_restart() re-adopts them). Returns the wait status. */
int dfx_sigterm(dfx_t *f);
/* POST /v1/shutdown {"stop_targets":true} and waits until the daemon exited (it answers
 * once every instance stopped). Returns the wait status. */
int dfx_shutdown_all(dfx_t *f);
/* Stops the load and the daemon with its sample-apps (dfx_shutdown_all(); if the daemon
 * does not answer, SIGTERM and the instances it had are ended by pid). Safe to call
 * twice. */
void dfx_stop(dfx_t *f);
/* dfx_stop() at the end of a test body, asserting that the daemon exited 0: a clean
 * shutdown (no handle left on the loop) and, under AddressSanitizer, no leak. */
void dfx_finish(dfx_t *f);
/* Pids of "pid:N:START ..." handles (as dfx_handles() prints them) into <pids>; count. */
int dfx_pids(const char *handles, pid_t *pids, int max);
/* True if <pid> still runs (and is not a zombie). */
bool dfx_alive(pid_t pid);

/* One admin request; returns the parsed JSON body (NULL if not JSON) and the status. */
json_t *dfx_api(dfx_t *f, const char *method, const char *path, const char *body, int *status);
/* POST a deployment of sample-app version <version> with <extra_args> appended to its
 * command line and <extra_json> members ("" or ",\"strategy\":\"all-at-once\"").
 * Returns the deployment id (asserts 201). */
long long dfx_deploy(dfx_t *f, const char *version, const char *extra_args, const char *extra_json);
/* Waits until deployment <id> has a result; returns the DEPLOYMENT JSON (caller decrefs). */
json_t *dfx_wait_result(dfx_t *f, long long id, int timeout_ms);
/* Waits until deployment <id> is in <phase>. */
bool dfx_wait_phase(dfx_t *f, long long id, const char *phase, int timeout_ms);
/* The service JSON's traffic weight of <slot>. */
int dfx_weight(dfx_t *f, const char *slot);
/* The "version" field answered by GET / on the production listener ("" on failure). */
void dfx_version(dfx_t *f, char *out, size_t size);
/* "pid:..." handles of every target of <slot>, space separated, sorted by address. */
void dfx_handles(dfx_t *f, const char *slot, char *out, size_t size);

/* The load loop: <conns> keep-alive connections sending GET / as fast as they can. */
void dfx_load_start(dfx_t *f, int conns);
/* The same, but a request that got no byte of an answer (connection refused while the
 * daemon restarts, or closed/reset before the status line) is sent again on a new
 * connection, as an HTTP client retries an idempotent request; only answers that are not
 * 2xx, cut answers and silences of 5 s count as failed. */
void dfx_load_start_retrying(dfx_t *f, int conns);
/* Stops it; returns the number of failed requests (and logs the totals). */
unsigned long dfx_load_stop(dfx_t *f);

#endif
