/* Admin API: a small HTTP/1.1 + JSON server on the control thread's loop (docs/admin-api.md).
 *
 * It owns the listener (a Unix socket with mode 0600, or TCP that requires a bearer token),
 * the connections (llhttp, keep-alive, pipelining, size limits, timeouts), request
 * validation (JSON bodies, weights, slots, ids) and the mapping of our negative codes to
 * HTTP statuses and JSON error codes (one table, bg_admin_error_status()). It never touches
 * the server's model: it calls the bg_admin_ops_t it was given, and each operation answers
 * its request through bg_admin_respond_*() — at once or later (a traffic switch answers
 * only after every worker adopted the new routing). Garbage gets 400 and the connection
 * closed; a bad request changes nothing, because ops are only called with valid input.
 * A TCP listener also serves the web dashboard (src/admin/dashboard.c): sessions by cookie
 * stand in for the bearer token, changes need their CSRF token.
 * Thread: control (everything here runs on the loop given to bg_admin_new()).
 */
#ifndef BG_ADMIN_ADMIN_H
#define BG_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "config/config.h"

/* Limits of one admin request. */
#define BG_ADMIN_MAX_HEAD_BYTES (16 * 1024)     /* 431 beyond */
#define BG_ADMIN_MAX_BODY_BYTES (1024 * 1024)   /* 413 beyond */
#define BG_ADMIN_MAX_CONNS 256                  /* further connections are closed at once */
#define BG_ADMIN_IDLE_TIMEOUT_MS 60000          /* idle keep-alive / slow request head */
#define BG_ADMIN_MAX_STREAM_QUEUE (1024 * 1024) /* unsent stream bytes before we give up */

typedef struct bg_admin bg_admin_t;

/* One request waiting for its answer. Owned by the admin module; valid until one of the
 * bg_admin_respond_*() calls, which must happen exactly once per request (even when the
 * client went away meanwhile: the answer is then dropped). */
typedef struct bg_admin_req bg_admin_req_t;

/* A request as parsed, for routes outside the built-in ones (bg_admin_ops_t.other).
 * Everything is borrowed for the duration of the op call: copy what you keep. */
typedef struct bg_admin_http {
    const char *method; /* "GET", "POST", ... */
    const char *path;   /* "/v1/deployments/7" (no query), NUL-terminated */
    const char *query;  /* what follows '?', "" if none */
    const char *body;   /* NUL-terminated; "" if none */
    size_t body_len;
} bg_admin_http_t;

/* What the API does, implemented by the server. Every op answers <req> exactly once,
 * synchronously or later, with bg_admin_respond_json() / bg_admin_respond_error().
 * Strings are borrowed for the call. Arguments are already validated syntactically
 * (weights sum to 100, slot is a slot, id > 0); the op validates against its model
 * (unknown service -> BG_ENOTFOUND, bad address -> BG_EINVAL, ...). Thread: control. */
typedef struct bg_admin_ops {
    /* GET /v1/services -> 200 {"services":[SERVICE...]} */
    void (*services)(void *ctx, bg_admin_req_t *req);
    /* GET /v1/services/NAME -> 200 SERVICE */
    void (*service)(void *ctx, bg_admin_req_t *req, const char *name);
    /* PUT /v1/services/NAME/traffic -> 200 {"service","traffic","generation","switch_ms"} */
    void (*traffic)(void *ctx, bg_admin_req_t *req, const char *name, uint32_t blue,
                    uint32_t green);
    /* POST /v1/services/NAME/targets -> 201 TARGET */
    void (*target_add)(void *ctx, bg_admin_req_t *req, const char *name, bg_slot_t slot,
                       const char *address);
    /* DELETE /v1/services/NAME/targets/ID -> 200 {"deregistered":TARGET} */
    void (*target_remove)(void *ctx, bg_admin_req_t *req, const char *name, uint64_t id);
    /* GET /metrics: appends Prometheus text to <out>. Synchronous. */
    void (*metrics)(void *ctx, bg_buf_t *out);
    /* Any other (authenticated) request, so that other modules can add routes without
     * touching this one; it answers like the ops above (also with bg_admin_respond_text()
     * or a stream). NULL: 404 not_found. */
    void (*other)(void *ctx, bg_admin_req_t *req, const bg_admin_http_t *http);
} bg_admin_ops_t;

typedef struct bg_admin_options {
    /* "unix:PATH" or "http://HOST:PORT" (port 0 picks one; see bg_admin_port()). */
    const char *endpoint;
    /* Required (non-empty) for an http endpoint; ignored for unix. Copied. */
    const char *token;
    const bg_admin_ops_t *ops; /* copied */
    void *ctx;                 /* passed to every op; borrowed */
    uint32_t idle_timeout_ms;  /* 0: BG_ADMIN_IDLE_TIMEOUT_MS */
    uint32_t max_conns;        /* 0: BG_ADMIN_MAX_CONNS */
    /* The `metrics_listen` endpoint: serves GET /metrics (ops.metrics) and nothing else —
     * every other path is 404 whatever the credentials — so it needs no token and grants
     * no admin power. Only an http endpoint makes sense; <token> is ignored. */
    bool metrics_only;
    /* `bluegreen dashboard`: the listener serves /dashboard/ itself and hands every other
     * authorised request, built-in routes included, to ops.other unparsed (which forwards
     * it to the daemon). <token> then authorises only the API, never a dashboard login:
     * logins go through one-time tokens (bg_admin_login_token). */
    bool proxy;
} bg_admin_options_t;

/* Validates <opts> (endpoint syntax, token for TCP) and creates the admin on <loop>
 * (borrowed; must outlive the admin). Binds nothing yet. NULL + <err> on bad input.
 * Thread: control. */
bg_admin_t *bg_admin_new(uv_loop_t *loop, const bg_admin_options_t *opts, bg_err_t *err);

/* Binds and listens. For a Unix socket: creates the parent directory if missing, removes
 * a stale socket file only when nothing answers on it (BG_EEXIST if something does, or if
 * the path is not a socket), binds with mode 0600. Returns 0 or a negative code with
 * <err> naming the endpoint. Thread: control. */
int bg_admin_start(bg_admin_t *a, bg_err_t *err);

/* As bg_admin_start(), but listens on <fd> (when >= 0): the Unix socket at our path that
 * a previous bluegreen process handed over (bg_admin_handover), so that clients connecting
 * during the hand-over wait in its queue instead of being refused. Takes ownership of
 * <fd>. A TCP endpoint cannot be handed over (BG_EINVAL). Thread: control. */
int bg_admin_start_fd(bg_admin_t *a, int fd, bg_err_t *err);

/* Hands the listening Unix socket to another process: returns a duplicate of its fd (the
 * caller owns it and sends it) and gives up the socket file, which bg_admin_stop() then
 * leaves in place for the other process. A negative code for a TCP endpoint or an admin
 * not listening. Thread: control. */
int bg_admin_handover(bg_admin_t *a);

/* Takes <req>'s connection out of the HTTP layer: returns a duplicate of its fd (the
 * caller owns it and speaks on it directly, e.g. to send descriptors with SCM_RIGHTS),
 * closes the admin's side of the connection without an answer and frees <req> (this
 * counts as its one answer). A negative code (and <req> answered 500) when the client is
 * already gone. Thread: control. */
int bg_admin_req_take_fd(bg_admin_req_t *req);

/* Makes a one-time dashboard login token (64 hex digits + NUL into <out> of <size> bytes,
 * valid 5 minutes, redeemed once at /dashboard/login?token=) for TCP listener <a>;
 * *<expires_wall_ms> (may be NULL) gets its expiry on the wall clock. BG_EINVAL for a Unix
 * or metrics-only listener. docs/internals/dashboard.md. Thread: control. */
int bg_admin_login_token(bg_admin_t *a, char *out, size_t size, uint64_t *expires_wall_ms);

/* Bound TCP port (after start), or -1 for a Unix socket. */
int bg_admin_port(const bg_admin_t *a);
/* Socket path for a Unix endpoint (borrowed), or NULL for TCP. */
const char *bg_admin_socket_path(const bg_admin_t *a);

/* Stops listening, closes every connection (requests still waiting for an answer are
 * detached: their later answer is dropped) and removes the socket file. <cb>(arg) runs
 * once every handle is closed; after it, bg_admin_free(). <cb> may be NULL.
 * Thread: control. */
void bg_admin_stop(bg_admin_t *a, void (*cb)(void *arg), void *arg);

/* Frees a stopped (after its callback) or never started admin. NULL is a no-op.
 * Requests still waiting were detached by bg_admin_stop(): they do not point at the admin
 * and are freed by their (dropped) answer. */
void bg_admin_free(bg_admin_t *a);

/* ---- answering a request (Thread: control) ---- */

/* Answers <req> with <status> and JSON <body> (takes ownership of the reference). */
void bg_admin_respond_json(bg_admin_req_t *req, int status, json_t *body);
/* Answers <req> with the JSON error for err->code (table of bg_admin_error_status())
 * and err->msg. */
void bg_admin_respond_error(bg_admin_req_t *req, const bg_err_t *err);
/* Shorthand: builds the bg_err_t from <code> and a message. */
void bg_admin_respond_errorf(bg_admin_req_t *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers <req> with <status> and a copy of <body> (<len> bytes) as <content_type>. */
void bg_admin_respond_text(bg_admin_req_t *req, int status, const char *content_type,
                           const char *body, size_t len);

/* Value of request header <name> (case-insensitive; the first if repeated), or NULL.
 * Only during the op call that received <req>. */
const char *bg_admin_req_header(const bg_admin_req_t *req, const char *name);

/* The peer of <req> for the audit trail, into <out>: "unix:uid=U pid=P" (SO_PEERCRED) or
 * "tcp:ADDRESS:PORT"; "" once the client is gone. (peer.c) */
void bg_admin_req_peer(const bg_admin_req_t *req, char *out, size_t size);

/* ---- streaming answers (Server-Sent Events) ----
 * bg_admin_stream_begin() sends the head (no length, `Connection: close`); then
 * bg_admin_stream_write() any number of times, and bg_admin_stream_end() exactly once,
 * which closes the connection after the bytes written and frees <req>. */
void bg_admin_stream_begin(bg_admin_req_t *req, int status, const char *content_type);
/* Queues a copy of <data>. False when the client is gone, the admin stopped, or the client
 * reads so slowly that more than BG_ADMIN_MAX_STREAM_QUEUE bytes wait (the connection is
 * then closed): stop writing and call bg_admin_stream_end(). */
bool bg_admin_stream_write(bg_admin_req_t *req, const char *data, size_t len);
void bg_admin_stream_end(bg_admin_req_t *req);

/* ---- the error table ---- */

/* HTTP status and JSON error code ("not_found") for a negative code; unknown codes give
 * 500 "internal". Thread: any. */
int bg_admin_error_status(int code, const char **json_code);

/* {"error":{"code":...,"message":<msg>}} for <code>. New reference. Thread: any. */
json_t *bg_admin_error_json(int code, const char *msg);

#endif
