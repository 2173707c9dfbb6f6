/* sample-app: the small HTTP/1.1 service of docs/design.md §9 that demos, tests and benchmarks run
 * behind bluegreen. One libuv loop, one thread; llhttp frames requests; bodies are counted
 * as they stream and never buffered whole. It misbehaves on request (--fail-health,
 * --error-rate, --latency, --call to a failing dependency) so tests can drive rollbacks.
 * Files: main.c (flags, listen, signals), conn.c (connections, framing, writes),
 * routes.c (endpoints, JSON), call.c (outbound GET per --call URL), ws.c (WebSocket key).
 */
#ifndef BG_SAMPLEAPP_INTERNAL_H
#define BG_SAMPLEAPP_INTERNAL_H

#include <llhttp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "base/base.h"

/* A dependency named by --call, resolved once at start-up. */
typedef struct sa_dep {
    char *url;      /* as given; owned */
    char *hostport; /* Host header value; owned */
    char *path;     /* request target; owned */
    struct sockaddr_storage addr;
} sa_dep_t;

typedef struct sa_opts {
    const char *service, *version, *slot, *host; /* borrowed from argv/environ */
    int port;
    bool fail_health;
    uint64_t start_delay_ms, latency_ms;
    double error_rate; /* 0..1 */
    sa_dep_t *deps;
    size_t ndeps;
} sa_opts_t;

typedef struct sa_app {
    uv_loop_t *loop;
    sa_opts_t opts;
    uv_tcp_t listener;
    uv_signal_t sigterm, sigint;
    uv_timer_t start_timer, force_timer;
    bg_list_t conns;
    bool health_down; /* --fail-health, flipped by POST /admin/fail-health|recover */
    bool stopping;    /* SIGTERM seen: no new connections, readiness OUT_OF_SERVICE */
    double error_acc; /* error-rate accumulator: fails exactly that share of requests */
    int pid;
    int exit_code;
} sa_app_t;

/* One client connection. Requests are answered strictly in order: when a response cannot
 * be written at once (latency timer, dependency calls, a streamed /bytes body) the parser
 * pauses, reading stops and any pipelined bytes wait in <in>. */
typedef struct sa_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* --latency */
    uv_shutdown_t shutdown;
    sa_app_t *app;
    bg_list_t node;
    llhttp_t parser;
    bg_buf_t in;  /* unparsed bytes held while busy */
    bg_buf_t url; /* request target of the current request */
    bg_buf_t hfield, hvalue;
    char accept[128];    /* Accept header (truncated) */
    char ws_key[64];     /* Sec-WebSocket-Key */
    char ws_upgrade[32]; /* Upgrade header */
    int method;          /* llhttp_method_t */
    uint64_t received_bytes;
    uint64_t bytes_left; /* of a /bytes/N body still to queue */
    unsigned calls_pending;
    int call_status; /* first failing dependency: HTTP status or libuv error */
    const char *call_failed_url;
    unsigned handles_open;
    bool keep_alive;
    bool in_request; /* from the first byte of a request until its response is queued */
    bool busy;       /* request complete, response not yet fully queued */
    bool app_error;  /* --error-rate picked this request */
    bool peer_eof;
    bool closing;
    bool reading;
    bool feeding; /* inside the parse loop: a synchronous answer must not re-enter it */
    bool tunnel;  /* after a WebSocket 101: echo raw bytes */
} sa_conn_t;

/* conn.c */
/* Accepts one connection from <server>. Thread: loop. */
void sa_conn_accept(sa_app_t *app, uv_stream_t *server);
/* Closes <c> now (in-flight dependency calls finish first). */
void sa_conn_close(sa_conn_t *c);
/* Closes <c> once every queued write has gone out (uv_shutdown). */
void sa_conn_close_after_writes(sa_conn_t *c);
/* Queues a full response with <status>, <ctype> and <body> of <len> bytes, then finishes
 * the request (keep-alive or close). Copies the bytes. */
void sa_conn_respond(sa_conn_t *c, int status, const char *ctype, const char *body, size_t len);
/* Queues a response head announcing <len> body bytes, then streams the /bytes pattern. */
void sa_conn_respond_bytes(sa_conn_t *c, uint64_t len);
/* Queues raw bytes (WebSocket 101 and echoes). Copies them. */
void sa_conn_write_raw(sa_conn_t *c, const char *p, size_t len);
/* Ends the request whose response is fully queued; continues with pipelined input. */
void sa_conn_request_done(sa_conn_t *c);

/* routes.c */
/* Dispatches the complete request on <c>; answers now or later. */
void sa_route(sa_conn_t *c);
/* Finishes an app request after its latency and dependency calls. */
void sa_route_app_finish(sa_conn_t *c);
/* Answers a WebSocket upgrade (GET /ws); false if <c> does not ask for one. */
bool sa_route_upgrade(sa_conn_t *c);
/* Appends <s> to <b> as a JSON string with quotes. */
void sa_json_str(bg_buf_t *b, const char *s, size_t len);

/* call.c */
/* Resolves "http://host[:port][/path]" into <dep>; false with a message on stderr. */
bool sa_dep_parse(const char *url, sa_dep_t *dep);
void sa_dep_fini(sa_dep_t *dep);
/* Starts one GET per --call dependency for <c>; sa_route_app_finish() runs when the last
 * one ends. */
void sa_call_start_all(sa_conn_t *c);

/* ws.c */
/* Sec-WebSocket-Accept for <key> (RFC 6455 §4.2.2) into <out> (>= 32 bytes). */
void sa_ws_accept(const char *key, char *out, size_t size);

#endif
