/* Test support: processes, ports, raw HTTP clients and a fake backend, shared by unit,
 * integration and e2e tests (libuv's test helpers, kamal-proxy's testBackend).
 * Everything here is blocking and meant for test code only. Thread: test thread unless
 * stated.
 */
#ifndef BG_TESTS_SUPPORT_H
#define BG_TESTS_SUPPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Directory holding the built binaries: $BG_BUILD_DIR or "build". Borrowed. */
const char *bgt_build_dir(void);
/* "<build dir>/<name>" in one of 8 rotating thread-local buffers, so a few results can sit
 * in one argv array; copy it to keep it longer. */
const char *bgt_bin(const char *name);
/* A fresh private directory under /tmp (mkdtemp). Caller frees the string; the directory
 * is left for post-mortem reading. */
char *bgt_tmpdir(const char *tag);

/* A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, read it, close). */
int bgt_free_port(void);

/* Starts argv[0] with argv in its own process group, stdout+stderr appended to <log_path>
 * (NULL: inherit). <env> is a NULL-terminated list of "K=V" added to the environment (may
 * be NULL). Returns the pid; aborts the test on failure. */
pid_t bgt_spawn(const char *const argv[], const char *const env[], const char *log_path);
/* SIGTERM to the process group of <pid>, waits up to <timeout_ms>, then SIGKILL. Returns
 * the raw wait status. Safe on an already-reaped pid (returns -1). */
int bgt_stop(pid_t pid, int timeout_ms);
/* Non-blocking: true if <pid> has exited (and reaps it, storing the status). */
bool bgt_exited(pid_t pid, int *status);

/* Polls until a TCP connect to 127.0.0.1:<port> succeeds or <timeout_ms> passes. */
bool bgt_wait_port(int port, int timeout_ms);
/* Polls <cond>(arg) every few ms until true or <timeout_ms> passes. */
bool bgt_wait_until(bool (*cond)(void *arg), void *arg, int timeout_ms);

/* A parsed HTTP/1.1 response read by the raw client. */
typedef struct bgt_resp {
    int status; /* 0 if no status line was read */
    char *head; /* raw head (status line + headers), NUL-terminated; owned */
    char *body; /* de-chunked body, NUL-terminated; owned */
    size_t body_len;
    bool closed; /* peer closed the connection after this response */
} bgt_resp_t;
void bgt_resp_fini(bgt_resp_t *r);
/* Value of header <name> in r->head (case-insensitive) copied into <out>; false if absent. */
bool bgt_resp_header(const bgt_resp_t *r, const char *name, char *out, size_t size);

/* Header <name> of a raw HTTP head <head> (first line skipped, case-insensitive, OWS
 * trimmed) copied into <out> (may be NULL); false if absent. */
bool bgt_head_header(const char *head, const char *name, char *out, size_t size);
/* True if header <name> of <head> lists <token> (comma-separated, case-insensitive), as in
 * `Connection: keep-alive, Upgrade` or `Transfer-Encoding: gzip, chunked`. */
bool bgt_head_has_token(const char *head, const char *name, const char *token);

/* Connects to 127.0.0.1:<port>; returns the fd or -1. */
int bgt_connect(int port);
/* Writes all of <data>; false on error. */
bool bgt_write_all(int fd, const void *data, size_t len);
/* Reads one response from <fd> (Content-Length, chunked, or until close; HEAD-less).
 * Returns false on timeout or error before a full response. */
bool bgt_read_response(int fd, bgt_resp_t *out, int timeout_ms);
/* True if the peer closes <fd> (read returns 0 or ECONNRESET) within <timeout_ms>, after
 * draining any bytes. */
bool bgt_wait_closed(int fd, int timeout_ms);
/* One request on a fresh connection: sends <raw> and reads one response. */
bool bgt_http_raw(int port, const char *raw, size_t len, bgt_resp_t *out, int timeout_ms);
/* Convenience GET with Host header <host> (NULL: "localhost"). */
bool bgt_http_get(int port, const char *host, const char *path, bgt_resp_t *out, int timeout_ms);

/* Fake backend: a thread serving HTTP/1.1 keep-alive on 127.0.0.1:<port> (0 = pick).
 * It records every byte it receives (for "must never reach the backend" checks) and
 * answers each request with 200 and a JSON body {"backend":"<name>","n":<count>}, unless
 * a handler is set. */
typedef struct bgt_backend bgt_backend_t;
typedef struct bgt_backend_req {
    const char *method, *path; /* borrowed for the call */
    const char *head;          /* raw request head */
    const char *body;
    size_t body_len;
} bgt_backend_req_t;
/* Returns the full raw response to write (malloc'd; the backend frees it) or NULL for the
 * default answer; "" closes the connection without answering. A response with
 * `Connection: close` closes after it; a `HTTP/1.1 101` response turns the connection into
 * an echo tunnel. Runs on the connection's thread (one per connection), so it may sleep;
 * it must be thread-safe if several connections are open. */
typedef char *(*bgt_backend_handler_t)(void *arg, const bgt_backend_req_t *req);

bgt_backend_t *bgt_backend_start(const char *name, int port);
void bgt_backend_set_handler(bgt_backend_t *b, bgt_backend_handler_t h, void *arg);
int bgt_backend_port(const bgt_backend_t *b);
/* Requests answered / connections accepted so far (thread-safe). */
unsigned bgt_backend_requests(const bgt_backend_t *b);
unsigned bgt_backend_connections(const bgt_backend_t *b);
/* Copy of all bytes received so far (caller frees); *len gets the size. */
char *bgt_backend_received(bgt_backend_t *b, size_t *len);
/* Connections open right now. */
unsigned bgt_backend_open_connections(bgt_backend_t *b);
/* Shuts down every open connection (as a backend restart would); new ones are accepted. */
void bgt_backend_drop_connections(bgt_backend_t *b);
/* Stops accepting, closes every connection and frees <b> (NULL is a no-op). Requests are
 * framed with Content-Length or chunked; CL+TE or a bad chunk gets 400 and a close;
 * `Expect: 100-continue` gets an interim 100 once the head is in. */
void bgt_backend_stop(bgt_backend_t *b);

#endif
