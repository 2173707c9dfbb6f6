/* A fake admin endpoint for CLI e2e tests: a real loopback HTTP server (the support
 * module's fake backend) answering by route, so a test states what each admin route
 * answers, in sequence (the n-th request of a route gets the n-th answer, the last one
 * repeating: a deployment moving through its phases under polling), and reads back every
 * request the CLI sent. Unknown routes get the admin API's own 404 "no such endpoint".
 */
#ifndef BG_TESTS_E2E_CLI_FAKE_H
#define BG_TESTS_E2E_CLI_FAKE_H

#include <stdbool.h>
#include <stddef.h>

#define FAKE_MAX_ANSWERS 16

typedef struct fake_route {
    const char *method; /* "GET" ... */
    const char *path;   /* matched as a prefix of the request target (path?query) */
    int status;         /* 0 = 200 */
    const char *type;   /* Content-Type; NULL = application/json */
    /* Bodies in order; the last repeats. For text/event-stream the body is the stream:
     * sent without a length, the connection closed after it unless <hold> is set. */
    const char *bodies[FAKE_MAX_ANSWERS];
    bool hold; /* keep the connection open after the body (a stream that goes on) */
    /* Per-answer status overriding <status> where not 0 (a daemon answering 503 while it
     * restarts, then 200). */
    int statuses[FAKE_MAX_ANSWERS];
    /* 1 + the index of a route that must have been asked before this one answers (up to
     * 10 s): a daemon that answers only after things happened (a release that ends after
     * its events were streamed). 0: answer at once. */
    size_t after_route;
} fake_route_t;

/* A route answering <bodies...> in turn; HOLD_ROUTE keeps a stream open after its body. */
/* clang-format off */
#define ROUTE(method, path, status, type, ...) \
    {(method), (path), (status), (type), {__VA_ARGS__}, false, {0}, 0}
#define HOLD_ROUTE(method, path, status, type, ...) \
    {(method), (path), (status), (type), {__VA_ARGS__}, true, {0}, 0}
/* clang-format on */

typedef struct fake_admin fake_admin_t;

/* Starts the fake with <n> routes (copied; the strings are borrowed and must outlive it). */
fake_admin_t *fake_admin_start(const fake_route_t *routes, size_t n);
/* The same on 127.0.0.1:<port> (a daemon restarting on its address). */
fake_admin_t *fake_admin_start_on(const fake_route_t *routes, size_t n, int port);
/* "http://127.0.0.1:PORT". Borrowed. */
const char *fake_admin_url(const fake_admin_t *f);
/* Requests route <i> answered so far. */
unsigned fake_admin_hits(fake_admin_t *f, size_t i);
/* Every byte received so far (caller frees). */
char *fake_admin_received(fake_admin_t *f);
/* The body of the first request whose request line starts with <line_prefix> (e.g.
 * "POST /v1/services/orders/deployments "), or NULL (caller frees). */
char *fake_admin_body_of(fake_admin_t *f, const char *line_prefix);
void fake_admin_stop(fake_admin_t *f);

#endif
