/* The access log (issue 12 item 5): one line per proxied request, JSON lines or the
 * `combined` format, to a file (reopened on SIGUSR1 / `bluegreen reopen-logs`) or stdout.
 *
 * Workers never do file I/O (docs/shared STYLE: never block a worker): each formats its
 * lines into its own buffer and hands a full buffer (or, every housekeeping tick, a
 * partial one) to the log's writer thread through a lock-free list and a uv_async; the
 * writer thread alone owns the file descriptor, writes and reopens. The queue is bounded
 * (BG_ALOG_MAX_QUEUED bytes): past it whole chunks are dropped and counted, so a stuck
 * disk never grows the daemon's memory.
 */
#ifndef BG_ACCESSLOG_ACCESSLOG_H
#define BG_ACCESSLOG_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"

#define BG_ALOG_MAX_QUEUED (64u * 1024 * 1024)
#define BG_ALOG_CHUNK_BYTES (32u * 1024) /* a worker hands its buffer over past this */

typedef enum bg_alog_format {
    BG_ALOG_JSON = 0,     /* one JSON object per line */
    BG_ALOG_COMBINED = 1, /* Apache/nginx combined, bluegreen fields appended as key=value */
} bg_alog_format_t;
const char *bg_alog_format_str(bg_alog_format_t f);
/* "json" / "combined" -> <out>; false otherwise. */
bool bg_alog_format_parse(const char *s, bg_alog_format_t *out);

typedef struct bg_alog bg_alog_t;

/* One request as logged. Strings are borrowed views (not NUL-terminated) for the call. */
typedef struct bg_alog_record {
    uint64_t wall_ms;                 /* when the request ended */
    const char *request_id; size_t request_id_len;
    const char *client; size_t client_len;   /* client IP */
    const char *host; size_t host_len;
    const char *method; size_t method_len;
    const char *target; size_t target_len;   /* request target as sent */
    int minor;                        /* HTTP/1.<minor> */
    bool h2;                          /* HTTP/2 (then <minor> is not used) */
    int status;                       /* sent to the client; 0 if none */
    uint64_t bytes_in, bytes_out;     /* forwarded to the target / sent to the client */
    const char *service;              /* NULL: no route */
    const char *slot;                 /* "blue" / "green" / NULL */
    const char *version;              /* revision of the target; NULL/"" unknown */
    const char *upstream;             /* target address; NULL: none */
    int64_t upstream_us;              /* request sent -> response head; -1: none */
    uint64_t total_us;                /* request head complete -> end */
    unsigned retries;                 /* sends after the first */
    const char *user_agent; size_t user_agent_len; /* combined format */
    const char *referer; size_t referer_len;       /* combined format */
} bg_alog_record_t;

/* Appends one line (with its "\n") for <r> in <fmt> to <out>. JSON strings are escaped
 * (RFC 8259 §7: quote, backslash, control characters; bytes >= 0x80 pass as they are);
 * combined fields are quoted and their quotes and control bytes escaped as nginx does
 * (\xHH). Thread: any. */
void bg_alog_format_line(bg_buf_t *out, bg_alog_format_t fmt, const bg_alog_record_t *r);

/* Opens <path> for appending (created 0640; NULL or "-": stdout) and starts the writer
 * thread. NULL + <err> when the file cannot be opened. Thread: control. */
bg_alog_t *bg_alog_new(const char *path, bg_alog_format_t fmt, bg_err_t *err);
bg_alog_format_t bg_alog_format(const bg_alog_t *l);

/* Hands <len> bytes of whole lines at <data> (malloc'd; the log takes ownership) to the
 * writer. Never blocks and never does I/O. Thread: any (workers). */
void bg_alog_submit(bg_alog_t *l, char *data, size_t len);

/* Asks the writer thread to reopen the file (after logrotate moved it). Thread: any,
 * including a signal handler's uv callback. */
void bg_alog_reopen(bg_alog_t *l);

/* Chunks dropped because the queue was full; reopen count (tests, metrics). */
uint64_t bg_alog_dropped(const bg_alog_t *l);
uint64_t bg_alog_reopens(const bg_alog_t *l);

/* Writes what is queued, stops the writer thread, closes the file and frees <l>. Call
 * after every worker stopped submitting. NULL is a no-op. Thread: control. */
void bg_alog_free(bg_alog_t *l);

#endif
