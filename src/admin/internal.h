/* Private to the admin module: the server and connection layouts shared by listen.c
 * (listener, auth), conn.c (HTTP/1.1 framing and writing) and routes.c (the API).
 */
#ifndef BG_ADMIN_INTERNAL_H
#define BG_ADMIN_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>
#include <uv.h>

#include "admin/admin.h"
#include "base/buf.h"
#include "base/list.h"
#include "dashboard/dashboard.h"

struct bg_admin {
    uv_loop_t *loop;
    bg_admin_ops_t ops;
    void *ctx;
    char *endpoint; /* as given */
    char *token;    /* NULL for unix */
    bool is_unix;
    bool metrics_only; /* bg_admin_options_t.metrics_only */
    bool proxy;        /* bg_admin_options_t.proxy */
    bg_dash_auth_t *dash; /* dashboard sessions: TCP listeners but metrics_only, else NULL */
    char *path;     /* unix socket path */
    char *host;     /* tcp: numeric address */
    int port;       /* tcp: configured port (0: pick) */
    int bound_port; /* tcp: after start */
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } listener;
    bool listener_inited; /* uv_*_init done: must be closed */
    bool listener_closed; /* close callback ran (or never inited) */
    bool path_bound;      /* we created the socket file: remove on stop */
    bg_list_t conns;
    size_t n_conns;
    uint64_t started_ms; /* monotonic, for uptime_ms */
    uint32_t idle_timeout_ms;
    size_t max_conns;
    bool stopping;
    void (*stop_cb)(void *arg);
    void *stop_arg;
};

typedef struct admin_conn {
    bg_list_t link;
    bg_admin_t *admin;
    union {
        uv_handle_t handle;
        uv_stream_t stream;
        uv_pipe_t pipe;
        uv_tcp_t tcp;
    } h;
    uv_timer_t timer;
    int open_handles; /* 2 while alive; freed when both close callbacks ran */
    llhttp_t parser;
    bg_buf_t in; /* bytes read but not yet given to the parser */

    /* The request being parsed / served. */
    bg_buf_t url;
    bg_buf_t hname; /* current header name (may arrive in pieces) */
    bg_buf_t hval;
    char *authorization; /* Authorization header value, owned */
    bg_buf_t headers;    /* every header as "name\0value\0" pairs */
    size_t head_bytes;
    bg_buf_t body;
    int method; /* llhttp_method_t */
    bool keep_alive;
    int limit_error; /* UV_EMSGSIZE (431) / UV_E2BIG (413) from a callback, else 0 */

    bool busy;      /* a request is dispatched: parsing waits for its answer */
    bool streaming; /* a stream answer is being written: reads only watch for EOF */
    bool closing;
    struct bg_admin_req *req; /* the request waiting for an answer, or NULL */
} admin_conn_t;

struct bg_admin_req {
    admin_conn_t *conn; /* NULL once detached (client gone / admin stopped) */
    const char *allow;  /* Allow header for a 405, static string */
    bool close_after;   /* close the connection after this answer */
    bool streaming;     /* bg_admin_stream_begin() was called */
    char *extra_headers; /* owned: more header lines ("Name: value\r\n"...) for the answer */
    const char *cache_control; /* static; NULL: no-store */
};

/* conn.c */
void admin_conn_accept(bg_admin_t *a);
/* Closes <c> (idempotent); a waiting request is detached. */
void admin_conn_close(admin_conn_t *c);
/* Writes a full response on the request's connection and frees <req>. Takes <body>
 * (malloc'd, may be NULL) of <len> bytes. */
void admin_req_write(bg_admin_req_t *req, int status, const char *content_type, char *body,
                     size_t len);
/* Frees <req> and what it owns. */
void admin_req_free(bg_admin_req_t *req);
/* Called when the admin may have finished stopping. */
void admin_maybe_stopped(bg_admin_t *a);

/* Starts a streaming answer: head written, reads resumed to notice the client leaving. */
void admin_req_stream_head(bg_admin_req_t *req, int status, const char *content_type);
bool admin_req_stream_write(bg_admin_req_t *req, const char *data, size_t len);
void admin_req_stream_end(bg_admin_req_t *req);

/* routes.c: serves the parsed request of <c>; answers through <req> (maybe later). */
void admin_dispatch(admin_conn_t *c, bg_admin_req_t *req);

/* dashboard.c (docs/internals/dashboard.md) */
/* True for /dashboard and /dashboard/... (<url> of <len> bytes, query included). */
bool admin_dash_path(const char *url, size_t len);
/* Serves /dashboard/...: login, session, logout and the embedded pages. */
void admin_dash_route(admin_conn_t *c, bg_admin_req_t *req);
/* True when the request may use the API: the bearer token, or a dashboard session (plus
 * its CSRF token for a change). Otherwise answers 401 or 403 and returns false. */
bool admin_dash_auth(admin_conn_t *c, bg_admin_req_t *req);
/* POST /v1/dashboard/login-token. */
void admin_dash_route_login_token(bg_admin_t *a, bg_admin_req_t *req);

/* listen.c */
/* True if the Authorization value carries the right bearer token (constant time). */
bool admin_auth_ok(const bg_admin_t *a, const char *authorization);

#endif
