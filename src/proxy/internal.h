/* Private structures of the data plane, shared by the files of src/proxy/.
 *
 * Ownership: a worker owns its loop, its listeners, its client and upstream connections,
 * its pools and its free lists; nothing here is touched by another thread except the
 * atomics named in bg_worker_t. A client owns at most one exchange (the request being
 * proxied); an exchange borrows an upstream connection from the pool while it runs.
 * Memory for reading (bg_iobuf_t) and exchanges is taken from per-worker free lists only
 * while a connection is busy, so idle connections cost a few hundred bytes.
 */
#ifndef BG_PROXY_INTERNAL_H
#define BG_PROXY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "base/base.h"
#include "h2/h2.h"
#include "http/http.h"
#include "proxy/proxy.h"
#include "route/route.h"
#include "tls/tls.h"

#define BG_OUTQ_IOV 64
#define BG_OUTQ_SCRATCH (BG_OUTQ_IOV * 20)
#define BG_MAX_TRIED 8
/* Request body bytes kept (as forwarded) so the request can be sent again after a target
 * connection failed before any response byte; a longer body makes the request final. */
#define BG_REPLAY_MAX (16 * 1024)
/* Sends of one request after the first (fresh connection or other target). */
#define BG_MAX_RESENDS 3
#define BG_LISTENERS 2 /* production, test */

typedef struct bg_worker bg_worker_t;
typedef struct bg_client bg_client_t;
typedef struct bg_upstream bg_upstream_t;
typedef struct bg_exchange bg_exchange_t;
typedef struct bg_pool bg_pool_t;
typedef struct bg_client_tls bg_client_tls_t; /* transport.c */

/* A read buffer from the worker's free list; <size> bytes of data follow. */
typedef struct bg_iobuf {
    struct bg_iobuf *next;
    char data[];
} bg_iobuf_t;

/* Bytes collected during one parse pass, written with one writev. */
typedef struct bg_outq {
    uv_buf_t iov[BG_OUTQ_IOV];
    unsigned n;
    size_t bytes;
    unsigned scratch_len;
    char scratch[BG_OUTQ_SCRATCH];
} bg_outq_t;

/* A snapshot this worker has adopted, with the number of its requests still running. */
typedef struct bg_snapref {
    bg_route_snapshot_t *snap;
    uint64_t inflight;
    struct bg_snapref *next;
} bg_snapref_t;

struct bg_proxy {
    bg_proxy_options_t opts;
    char *listen, *test_listen;
    unsigned n_workers;
    bg_worker_t *workers;
    int port, test_port;
    bool started;
    /* fd budget (proxy.c, fd_budget()): data-plane fds open, summed over workers, and the
     * most each kind may take so the control thread's reserve stays free. */
    _Atomic uint64_t n_clients, n_upstreams;
    uint64_t client_max, upstream_max;
    /* Listening sockets handed over by a previous process (bg_proxy_inherit), owned until
     * bind_all() gives them to workers, and the fds the workers listen on (borrowed from
     * their handles, for bg_proxy_listen_fds()). Index: 0 production, 1 test. */
    int *inherited[BG_LISTENERS];
    size_t n_inherited[BG_LISTENERS];
    int *listening[BG_LISTENERS];
};

/* Timeouts of clients and upstream connections. Each kind has one fixed duration, so a
 * worker keeps one FIFO list per kind ordered by deadline (arm = move to the tail, O(1))
 * and a single uv timer due at the earliest head: no uv_timer_t (152 bytes) per
 * connection and no timer-heap operation per request. */
typedef enum bg_tkind {
    BG_CT_HEADER = 0,           /* client: a request head must complete */
    BG_CT_IDLE = 1,             /* client: keep-alive idle */
    BG_CT_LINGER = 2,           /* client: lingering close */
    BG_CT_WRITE = 3,            /* client: a pending write must progress */
    BG_UT_CONNECT = 4,          /* upstream: connect */
    BG_UT_RESPONSE = 5,         /* upstream: response head after the request */
    BG_UT_POOL_IDLE = 6,        /* upstream: idle in its pool */
    BG_T_KINDS = 7,
} bg_tkind_t;
typedef bg_tkind_t bg_ctimer_kind_t;

typedef struct bg_tnode {
    bg_list_t link;             /* in w->tq[kind] while armed; empty (self-linked) if not */
    uint64_t deadline_ms;       /* loop time */
} bg_tnode_t;

#define BG_LINGER_MS 2000

struct bg_worker {
    bg_proxy_t *proxy;
    unsigned index;
    const bg_proxy_config_t *cfg;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_async_t async;
    uv_timer_t drain_timer;
    uv_timer_t stop_timer;
    uv_timer_t housekeep_timer;
    uint64_t busy_ticks;        /* buffers taken since the last housekeeping */
    bool trimmed;
    /* Listening sockets, accepted by hand (accept4) so accepting can pause at the fd
     * budget: a paused listener is not read, connections wait in its backlog. */
    uv_poll_t listeners[BG_LISTENERS];
    int listen_fd[BG_LISTENERS];
    bool has_listener[BG_LISTENERS];
    bool accept_paused;
    uv_timer_t accept_timer;    /* while paused: re-checks the budget */
    uv_timer_t tq_timer;        /* due at the earliest deadline of the lists below */
    uint64_t tq_due;            /* 0: not armed */
    bg_list_t tq[BG_T_KINDS];
    uint32_t tq_ms[BG_T_KINDS]; /* duration of each kind */

    bg_snapref_t *cur;          /* newest adopted snapshot (NULL before the first) */
    bg_snapref_t *old;          /* older ones with requests still running */
    _Atomic uint64_t adopted;   /* generation of cur; read by the control thread */
    _Atomic uint64_t n_clients; /* read by bg_proxy_client_connections() */
    bg_proxy_h2_counts_t h2;    /* HTTP/2 counters (src/h2/), read by bg_proxy_h2_counts() */
    _Atomic bool stop_requested;
    uint32_t grace_ms;

    bg_list_t clients;
    bg_list_t pools;
    size_t buf_size;
    bg_iobuf_t *free_bufs;
    unsigned n_free_bufs;
    unsigned n_bufs_out;        /* buffers held by connections */
    unsigned n_ex_out;          /* exchanges in use */
    unsigned peak_bufs_out, peak_ex_out; /* highest since the last housekeeping */
    bg_exchange_t *free_ex;
    unsigned n_free_ex;
    char scratch[64];           /* read sink for idle upstream connections */
    uint64_t rng[2];
    bool stopping;
    bool drain_timer_on;
    bg_buf_t alog_buf;          /* access log lines not yet handed to the writer */
    /* TLS clients (transport.c): plaintext waiting for delivery, scratch buffers */
    uv_idle_t tls_idle;
    bg_list_t tls_ready;
    bg_buf_t tls_out;
    char *tls_in;
};

typedef enum bg_client_state {
    BG_CLIENT_IDLE = 0,         /* between requests */
    BG_CLIENT_HEAD = 1,         /* reading a request head */
    BG_CLIENT_BUSY = 2,         /* an exchange is running */
    BG_CLIENT_TUNNEL = 3,       /* after 101: raw bytes both ways */
    BG_CLIENT_CLOSING = 4,
    BG_CLIENT_LINGER = 5,       /* FIN sent after an error; draining until close */
    BG_CLIENT_H2 = 6,           /* HTTP/2: c->h2 (src/h2/) drives the connection */
} bg_client_state_t;

struct bg_client {
    uv_tcp_t tcp;
    bg_tnode_t tn;
    bg_worker_t *w;
    bg_list_t link;
    bg_iobuf_t *buf;
    uint32_t len, off;          /* buffered bytes; parse offset */
    bg_exchange_t *ex;
    uint8_t state;              /* bg_client_state_t */
    uint8_t listener;           /* 0 production, 1 test */
    uint8_t tkind;              /* bg_ctimer_kind_t while armed */
    bool reading;
    bool writing_local;         /* a local response is being written, then close */
    bool timed_out;             /* closed by the header timeout */
    bool h2c_check;             /* fresh connection on an h2c listener: preface or not */
    uint8_t ip_len;
    char ip[46];
    uint32_t wq_last;           /* write queue size at the last write-timeout check */
    bg_client_tls_t *tls;       /* NULL: plain TCP (transport.c) */
    bg_h2_conn_t *h2;           /* BG_CLIENT_H2: the session (src/h2/) */
};

typedef enum bg_up_state {
    BG_UP_CONNECTING = 0,
    BG_UP_IDLE = 1,             /* in its pool */
    BG_UP_ACTIVE = 2,           /* serving an exchange */
    BG_UP_CLOSING = 3,
    BG_UP_TUNNEL = 4,           /* after 101 */
} bg_up_state_t;

struct bg_upstream {
    uv_tcp_t tcp;
    bg_tnode_t tn;
    uv_connect_t connect_req;
    bg_worker_t *w;
    bg_pool_t *pool;
    bg_list_t link;             /* pool->conns */
    bg_list_t idle_link;        /* pool->idle when idle */
    bg_exchange_t *ex;
    bg_iobuf_t *buf;
    uint32_t len, off;
    uint8_t state;              /* bg_up_state_t */
    bool reading;
    bool reused;                /* served a request before */
    uint64_t idle_since_ms;
};

struct bg_pool {
    bg_list_t link;             /* worker->pools */
    bg_target_t *target;        /* one ref */
    bg_list_t conns;
    bg_list_t idle;
    unsigned n_idle, n_conns;
    bool draining;
    uint64_t drain_deadline_ms;
};

typedef enum bg_ex_phase {
    BG_EX_HEAD = 0,             /* reading the request head */
    BG_EX_CONNECT = 1,          /* waiting for an upstream connection */
    BG_EX_BODY = 2,             /* forwarding the request body */
    BG_EX_SENT = 3,             /* request fully forwarded */
} bg_ex_phase_t;

struct bg_exchange {
    bg_exchange_t *next_free;
    bg_worker_t *w;
    bg_client_t *c;
    bg_upstream_t *up;
    bg_h2_stream_t *h2;         /* HTTP/2 stream this exchange answers; NULL: HTTP/1.x */
    bg_http_parser_t rp;        /* request parser */
    bg_http_parser_t sp;        /* response parser */
    bg_http_head_t req;
    bg_http_head_t rsp;
    bg_buf_t head_out;          /* rewritten request head, then the forwarded body bytes
                                 * while replay_ok (a resend writes it all again) */
    uint32_t head_len;          /* bytes of head_out that are the head */
    bg_buf_t rsp_out;           /* relayed response head or a local response */
    bg_buf_t alog_req;          /* access log: the request's strings, copied at dispatch */
    bg_outq_t to_up, to_client;
    uv_write_t up_wreq, cl_wreq;
    unsigned pending_writes;
    bool dead;                  /* detached; freed when pending_writes reaches 0 */

    uint8_t phase;              /* bg_ex_phase_t */
    bool up_writing, cl_writing;
    bool byte_sent;             /* some byte of the request reached a target */
    bool rsp_any;               /* some byte came back on the current upstream connection */
    bool req_done;              /* the request body was read to its end */
    bool req_idempotent;        /* RFC 9110 §9.2.2 method */
    bool replay_ok;             /* head_out holds every byte forwarded so far */
    bool other_target_tried;    /* the one resend to another target was used */
    uint8_t resends;            /* sends after the first (BG_MAX_RESENDS) */
    bool rsp_head_done;         /* final response head parsed */
    bool rsp_started;           /* some byte of a response went to the client */
    bool rsp_done;              /* response fully parsed */
    bool rsp_chunked;           /* re-frame the response as chunked to the client */
    bool rsp_eof_chunks;        /* upstream EOF-delimited: one chunk per body piece */
    bool close_client;          /* close the client after this response */
    bool req_keep_alive, req_is_head, req_http10, req_expect, req_upgrade;
    bool tunnel;
    bool counted;               /* active counters were incremented */
    bool is_h2;                 /* came on an HTTP/2 stream (stays after the detach) */

    bg_snapref_t *sref;
    const bg_route_service_t *svc;
    int slot;
    bg_target_t *target;
    bg_target_t *tried[BG_MAX_TRIED];
    unsigned n_tried;
    unsigned attempts;
    uint64_t start_us;
    uint64_t bytes_in, bytes_out;
    int status;                 /* status sent to the client */
    int target_status;          /* final status from the target; 0 = none (stats) */
    char set_cookie[48];
    char request_id[40];
    uint8_t request_id_len;
    uint16_t alog_len[5];       /* method, target, host, user agent, referer in alog_req */
    uint64_t up_start_us;       /* the last target was picked (0: none) */
    uint64_t up_head_us;        /* its response head arrived (0: none) */
};

/* exchange.c: the access log line of <ex> into the worker's buffer (access.c). */
void bg_access_capture(bg_exchange_t *ex);
void bg_access_line(bg_exchange_t *ex);
/* Hands the worker's buffered lines to the writer (housekeeping, stop). */
void bg_access_flush(bg_worker_t *w);

/* worker.c */
void *bg_worker_big_alloc(size_t size);
void bg_worker_big_free(void *p, size_t size);
bg_iobuf_t *bg_worker_buf_get(bg_worker_t *w);
void bg_worker_buf_put(bg_worker_t *w, bg_iobuf_t *b);
uint32_t bg_worker_rand(bg_worker_t *w);
void bg_worker_snap_release(bg_worker_t *w, bg_snapref_t *sref);
int bg_worker_init(bg_worker_t *w, bg_proxy_t *p, unsigned index);
void bg_worker_fini(bg_worker_t *w);
void bg_worker_maybe_finish_stop(bg_worker_t *w);

/* Timer lists (worker.c): arms <n> for its kind's duration from now (re-arming moves
 * it); stop is a no-op on an unarmed node. Expiry calls bg_client_on_timer() or
 * bg_upstream_on_timer() with the node already stopped. */
void bg_timer_start(bg_worker_t *w, bg_tnode_t *n, bg_tkind_t kind);
void bg_timer_stop(bg_tnode_t *n);
void bg_client_timer_start(bg_client_t *c, bg_tkind_t kind);
void bg_client_timer_stop(bg_client_t *c);
void bg_client_on_timer(bg_client_t *c, bg_tkind_t kind);
void bg_upstream_on_timer(bg_upstream_t *up, bg_tkind_t kind);

/* Accepting paused at the fd budget resumes once below it. Thread: the worker's. */
void bg_worker_accept_resume(bg_worker_t *w);

/* client.c */
/* Takes the accepted socket <fd> (peer <peer>). */
void bg_client_accept(bg_worker_t *w, int fd, const struct sockaddr *peer, uint8_t listener);
/* A write to the client is pending: closes the client if it takes nothing for the write
 * timeout. */
void bg_client_write_pending(bg_client_t *c);
void bg_client_write_done(bg_client_t *c);
void bg_client_close(bg_client_t *c);
/* Half-closes after what was written, drains what the client still sends, then closes
 * (RFC 9112 §9.6; also the end of an HTTP/2 connection after its GOAWAY). */
void bg_client_linger(bg_client_t *c);
/* HTTP/2 (src/h2/) drives reading itself: starts or stops it. */
void bg_client_read_enable(bg_client_t *c, bool on);
/* Stopping: closes <c>, idle between requests, once the (shortened) idle duration
 * w->tq_ms[BG_CT_IDLE] passed, unless its idle timer fires sooner; a request arriving
 * meanwhile is served (and answered with `Connection: close`). */
void bg_client_close_idle_in(bg_client_t *c);
/* The exchange finished; <reuse>: the connection may take another request. */
void bg_client_exchange_done(bg_client_t *c, bool reuse);
void bg_client_update_reading(bg_client_t *c);
/* Sends a response made by the proxy and closes when <close> (always after errors). */
void bg_client_local_response(bg_client_t *c, int status, const char *body, size_t len,
                              bool close);
/* Sends <body> (copied at once) as text/plain, keeping the connection when it may
 * (ACME HTTP-01 answers). */
void bg_client_local_text(bg_client_t *c, int status, const char *body, size_t len);
/* Answers <status> (301/308) with Location: <location> (copied at once). */
void bg_client_redirect(bg_client_t *c, int status, bg_str_t location);
void bg_client_process(bg_client_t *c);

/* transport.c: the client's stream, plain or TLS, behind libuv-shaped calls (same
 * arguments, return values and callback rules as uv_read_start, uv_read_stop,
 * uv_try_write, uv_write, uv_shutdown on &c->tcp). With TLS, try_write takes all or
 * nothing (UV_EAGAIN while an earlier write is pending). Thread: the worker's. */
void bg_transport_worker_init(bg_worker_t *w);
void bg_transport_worker_close(bg_worker_t *w);
void bg_transport_worker_fini(bg_worker_t *w);
/* Makes <c> a TLS client of <tls> (NULL: plain). Borrows <tls>; it outlives the proxy. */
void bg_cio_accept(bg_client_t *c, bg_tls_t *tls);
int bg_cio_read_start(bg_client_t *c, uv_alloc_cb alloc_cb, uv_read_cb read_cb);
void bg_cio_read_stop(bg_client_t *c);
int bg_cio_try_write(bg_client_t *c, const uv_buf_t *bufs, unsigned n);
int bg_cio_write(uv_write_t *req, bg_client_t *c, const uv_buf_t *bufs, unsigned n,
                 uv_write_cb cb);
int bg_cio_shutdown(uv_shutdown_t *req, bg_client_t *c, uv_shutdown_cb cb);
/* The ALPN protocol the TLS handshake chose ("h2", "http/1.1"), NULL for none or plain
 * TCP: where the HTTP/2 code decides how to speak to <c>. */
const char *bg_cio_alpn(const bg_client_t *c);
/* bg_client_close(): no callbacks to the caller after this. */
void bg_cio_close(bg_client_t *c);
/* The client's handle closed: frees the TLS state (<timed_out>: a handshake still
 * unfinished is counted as a timeout, else as closed). */
void bg_cio_free(bg_client_t *c, bool timed_out);

/* exchange.c */
bg_exchange_t *bg_exchange_new(bg_client_t *c);
void bg_exchange_release(bg_exchange_t *ex);
/* Frees a released exchange for good (worker free-list trimming). */
void bg_exchange_free(bg_exchange_t *ex);
/* The request head is parsed: route, pick, connect. */
void bg_exchange_dispatch(bg_exchange_t *ex);
/* Client input arrived while forwarding the body. */
void bg_exchange_pump_request(bg_exchange_t *ex);
/* An upstream connection is ready (connected or taken from the pool). */
void bg_exchange_upstream_ready(bg_exchange_t *ex, bg_upstream_t *up);
/* Connecting failed (<status> error); retries or answers. */
void bg_exchange_upstream_failed(bg_exchange_t *ex, int status, bool connect_failure);
/* The upstream connection failed (EOF, reset, write error <err>) after request bytes were
 * written and before any response byte: sends the request again when that is safe
 * (docs/internals/proxy.md, "Retries"), else answers 502. */
void bg_exchange_upstream_lost(bg_exchange_t *ex, int err);
/* Abort: the client went away or a fatal error; tears down the upstream side. */
void bg_exchange_abort(bg_exchange_t *ex);
void bg_exchange_passive(bg_exchange_t *ex, bool failure);
/* Writes the queued bytes: 1 all written, 0 a write is pending (its callback continues
 * the flow), -1 failed (already handled: <ex> may be gone). */
int bg_outq_flush(bg_exchange_t *ex, bool to_client);
/* A response made by the proxy on the exchange's client (HTTP/1.x or HTTP/2 stream). */
void bg_exchange_local_response(bg_exchange_t *ex, int status, const char *body, size_t len,
                                bool close);
/* Keeps a copy of forwarded request body bytes for a resend while the body is small. */
void bg_exchange_keep(bg_exchange_t *ex, const char *p, size_t n);
/* Ends the exchange with <status> made by the proxy (502/503/504). */
void bg_exchange_fail(bg_exchange_t *ex, int status, const char *error);
void bg_outq_reset(bg_outq_t *q);
void bg_outq_add(bg_outq_t *q, const char *p, size_t n);
void bg_outq_addf_chunk(bg_outq_t *q, uint64_t size);
void bg_outq_add_scratch(bg_outq_t *q, const char *p, size_t n);

/* response.c */
void bg_response_pump(bg_exchange_t *ex);
void bg_response_eof(bg_exchange_t *ex, int err);
void bg_response_timeout(bg_exchange_t *ex);
void bg_exchange_finish(bg_exchange_t *ex);
extern const bg_http_body_cbs_t bg_response_cbs;

/* upstream.c */
bg_upstream_t *bg_upstream_connect(bg_worker_t *w, bg_pool_t *pool, bg_exchange_t *ex);
void bg_upstream_close(bg_upstream_t *up);
void bg_upstream_update_reading(bg_upstream_t *up);
void bg_upstream_start_response_timer(bg_upstream_t *up);

/* pool.c */
/* Closes the longest-idle pooled connection of <w>; false if none. */
bool bg_pool_shed_idle(bg_worker_t *w);
bg_pool_t *bg_pool_get(bg_worker_t *w, bg_target_t *t);
bg_upstream_t *bg_pool_take(bg_pool_t *pool);
void bg_pool_put(bg_upstream_t *up);
void bg_pool_adopt(bg_worker_t *w, const bg_route_snapshot_t *snap);
void bg_pool_close_all(bg_worker_t *w);
void bg_pool_detach(bg_upstream_t *up);
void bg_pool_drain_tick(uv_timer_t *t);

/* tunnel.c */
void bg_tunnel_start(bg_exchange_t *ex);
void bg_tunnel_client_read(bg_client_t *c, ssize_t nread);
void bg_tunnel_upstream_read(bg_upstream_t *up, ssize_t nread);

#endif
