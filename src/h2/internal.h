/* Private structures of src/h2/: the session of one client connection (conn.c: I/O,
 * nghttp2 callbacks, defences, GOAWAY) and its streams (stream.c: the request head
 * rewritten for the exchange, the request body under flow control, the response).
 *
 * Ownership: a bg_h2_conn_t belongs to its client (c->h2) until bg_h2_client_close();
 * its memory is freed when its idle and flush handles have closed. A stream belongs to its
 * connection from the first HEADERS until nghttp2 closes it; it borrows at most one
 * exchange (st->ex, ex->h2), which the exchange's release detaches.
 */
#ifndef BG_H2_INTERNAL_H
#define BG_H2_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "base/base.h"
#include "h2/h2.h"
#include "http/http.h"

/* Flood defences (docs/http2.md): a token bucket per connection and kind. */
typedef struct bg_h2_bucket {
    double tokens;
    uint64_t at_ms;             /* loop time of the last refill; 0: full */
} bg_h2_bucket_t;

typedef enum bg_h2_flood {
    BG_H2_FLOOD_RST = 0,        /* RST_STREAM from the client (CVE-2023-44487) */
    BG_H2_FLOOD_PING = 1,
    BG_H2_FLOOD_SETTINGS = 2,
    BG_H2_FLOOD_EMPTY = 3,      /* empty DATA / HEADERS-only trailers without END_STREAM */
    BG_H2_FLOODS = 4,
} bg_h2_flood_t;

struct bg_h2_conn {
    bg_client_t *c;             /* NULL once closed */
    nghttp2_session *s;
    bg_list_t streams;          /* bg_h2_stream_t.link */
    unsigned n_streams;
    unsigned max_streams;       /* our SETTINGS_MAX_CONCURRENT_STREAMS */
    int32_t last_client_id;     /* highest stream id the client opened */
    int32_t refuse_id;          /* stream being refused (REFUSED_STREAM) */
    bool settings_patched;
    bg_list_t ready;            /* streams whose queued body was taken (idle handle) */
    uv_idle_t idle;
    bool idle_on;
    uv_check_t flush;           /* writes h->out once per loop turn, after the I/O callbacks */
    bool flush_on;
    unsigned handles;           /* of idle and flush, not closed yet */
    bg_buf_t out;               /* frames gathered, then being written (one write at a time) */
    uv_write_t wreq;
    bool writing;
    bool in_recv, in_send;      /* inside nghttp2_session_mem_recv / _mem_send */
    bool closed;
    bool broken;                /* a write or mem_send failed: ends from the idle handle */
    int broken_rv;
    bool shutting_down;         /* GOAWAY notice sent; the final one follows the PING ACK */
    bool final_goaway;
    uint32_t calm_code;         /* our own defence tripped: GOAWAY with this code */
    const char *calm_why;
    unsigned continuations;     /* CONTINUATION frames of the header block being read */
    int32_t cont_stream;
    bg_h2_stream_t *flushing;   /* in bg_h2_flush() */
    bg_h2_stream_t *receiving;  /* the stream whose request header block is being read */
    bg_h2_stream_t *spare;      /* closed streams kept with their buffers (next: spare_next) */
    unsigned n_spare;
    bg_buf_t names;             /* response field names lowercased (bg_h2_response_head) */
    bg_h2_bucket_t flood[BG_H2_FLOODS];
};

struct bg_h2_stream {
    int32_t id;
    bg_h2_conn_t *conn;
    bg_exchange_t *ex;
    bg_list_t link;             /* conn->streams */
    bg_list_t ready_link;       /* conn->ready; self-linked when not there */
    bg_buf_t pseudo;            /* :method, :path, :authority, :scheme values */
    uint32_t p_off[4], p_len[4];
    bool p_set[4];
    bg_buf_t hdrs;              /* regular fields as HTTP/1.1 lines */
    uint32_t n_fields;          /* lines of hdrs (f_off: where each starts) */
    bg_buf_t cookie;            /* cookie crumbs joined by "; " (RFC 9113 §8.2.3) */
    bg_buf_t head;              /* the whole HTTP/1.1 head the parser reads */
    uint32_t hdr_bytes;         /* RFC 9113 §6.5.2 size of the field list so far */
    bool too_large;             /* over max_header_bytes: 431 */
    bool req_end;               /* END_STREAM received */
    bool chunked;               /* body framed as chunked to the target (no content-length) */
    bool responded;             /* a final response was submitted */
    bool eof;                   /* the response body is complete */
    bool ended;                 /* END_STREAM sent */
    bg_buf_t body_in;           /* request body received, not yet handed to the target */
    bg_buf_t body_out;          /* handed to the target (views in ex->to_up) */
    size_t sending;             /* bytes of body_out not yet given back to the window */
    uint64_t body_total;
    bg_buf_t local;             /* a response body made by the proxy */
    size_t local_off;
    bool local_body;
    unsigned out_i;             /* ex->to_client: first iovec not fully taken */
    bg_h2_stream_t *spare_next; /* conn->spare */
    /* last: not cleared when a kept stream is reused (n_fields says what is valid) */
    uint32_t f_off[BG_HTTP_MAX_HEADERS];
    uint32_t f_nlen[BG_HTTP_MAX_HEADERS];
};

/* conn.c */
/* nghttp2 has frames to send (or may have): they are taken and written at the end of
 * the loop turn, from the flush handle (one write for the frames of every stream that
 * produced some in that turn). */
void bg_h2_conn_send(bg_h2_conn_t *h);
/* Takes what nghttp2 has to send into the connection's output now (unless inside a
 * callback or while a write is pending), so a stream's data source takes its exchange's
 * queued bytes (bg_h2_flush); written at the end of the loop turn, or at once when 64 KiB
 * are gathered. */
void bg_h2_conn_take(bg_h2_conn_t *h);
/* The stream's queued response body was taken by nghttp2 outside bg_h2_flush(): its
 * exchange continues from the idle handle. */
void bg_h2_conn_ready(bg_h2_conn_t *h, bg_h2_stream_t *st);
/* Flood accounting: false when the connection must end (calm_code set). */
bool bg_h2_conn_budget(bg_h2_conn_t *h, bg_h2_flood_t kind);
/* Stream count changed: the idle timer runs while there is none. */
void bg_h2_conn_update_timer(bg_h2_conn_t *h);

/* stream.c */
bg_h2_stream_t *bg_h2_stream_new(bg_h2_conn_t *h, int32_t id);
/* nghttp2 closed the stream (or the session ends): aborts its exchange, frees it (or,
 * while the connection lives, keeps it with its buffers for the next stream). */
void bg_h2_stream_free(bg_h2_stream_t *st);
/* Frees the kept streams (connection teardown). */
void bg_h2_stream_free_spares(bg_h2_conn_t *h);
/* One field of the request head; false when the field list passes all reason (the
 * connection ends: ENHANCE_YOUR_CALM). */
bool bg_h2_stream_header(bg_h2_stream_t *st, const uint8_t *name, size_t nlen,
                         const uint8_t *value, size_t vlen);
/* END_HEADERS of the request: the exchange starts. */
void bg_h2_stream_request(bg_h2_stream_t *st, bool end_stream);
/* Request body bytes and END_STREAM. */
void bg_h2_stream_data(bg_h2_stream_t *st, const uint8_t *data, size_t len);
void bg_h2_stream_end(bg_h2_stream_t *st);
/* A DATA frame was read (<end>: with END_STREAM): the body moves on if it can. */
void bg_h2_stream_body(bg_h2_stream_t *st, bool end);
/* nghttp2's data source for response bodies. */
ssize_t bg_h2_stream_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user);

#endif
