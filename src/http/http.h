/* HTTP/1.1 message heads for the proxy: a strict request/response parser built on llhttp
 * (strict mode, no lenient flags) plus our own framing checks (RFC 9112 §6), a header
 * model whose names and values are views into the connection's read buffer, and the
 * writer that serialises the rewritten head sent to a target or back to a client.
 *
 * The parser never allocates and never copies: the bytes of a head must stay where they
 * are (the caller never moves its buffer while a head is being parsed). Body bytes are
 * handed to callbacks as views too. Thread: the owning worker.
 */
#ifndef BG_HTTP_HTTP_H
#define BG_HTTP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "base/buf.h"
#include "base/str.h"

#define BG_HTTP_MAX_HEADERS 100
#define BG_HTTP_MAX_CONN_TOKENS 8

/* Header names the proxy acts on, classified once while parsing. */
typedef enum bg_http_hdr_kind {
    BG_HDR_OTHER = 0,
    BG_HDR_HOST = 1,
    BG_HDR_CONTENT_LENGTH = 2,
    BG_HDR_TRANSFER_ENCODING = 3,
    BG_HDR_CONNECTION = 4,
    BG_HDR_KEEP_ALIVE = 5,
    BG_HDR_PROXY_CONNECTION = 6,
    BG_HDR_TE = 7,
    BG_HDR_TRAILER = 8,
    BG_HDR_UPGRADE = 9,
    BG_HDR_EXPECT = 10,
    BG_HDR_XFF = 11,
    BG_HDR_XFP = 12,
    BG_HDR_XFH = 13,
    BG_HDR_REQUEST_ID = 14,
    BG_HDR_BG_SLOT = 15,
    BG_HDR_COOKIE = 16,
    BG_HDR_VIA = 17,
} bg_http_hdr_kind_t;

typedef struct bg_http_header {
    bg_str_t name;
    bg_str_t value;      /* OWS trimmed */
    uint8_t kind;        /* bg_http_hdr_kind_t */
    bool hop;            /* hop-by-hop (fixed list or named in Connection) */
} bg_http_header_t;

/* How a message body is delimited (RFC 9112 §6.3). */
typedef enum bg_http_framing {
    BG_BODY_NONE = 0,
    BG_BODY_LENGTH = 1,
    BG_BODY_CHUNKED = 2,
    BG_BODY_EOF = 3,    /* responses only: until the target closes */
} bg_http_framing_t;

typedef enum bg_http_target_form {
    BG_TARGET_ORIGIN = 0,
    BG_TARGET_ABSOLUTE = 1,
    BG_TARGET_ASTERISK = 2,
} bg_http_target_form_t;

/* One parsed head (request or response). Views point into the caller's buffer. */
typedef struct bg_http_head {
    bg_str_t method;            /* request */
    bg_str_t target;            /* request-target as received */
    bg_str_t path;              /* origin-form to forward ("/x?y"; "*" for OPTIONS *) */
    bg_str_t host;              /* effective host: absolute-form authority, else Host */
    uint8_t form;               /* bg_http_target_form_t */
    bool is_head;               /* method HEAD */
    int status;                 /* response */
    bg_str_t reason;            /* response */
    uint8_t major, minor;
    uint8_t framing;            /* bg_http_framing_t */
    uint64_t content_length;
    bool keep_alive;            /* the sender allows another message on this connection */
    bool expect_continue;       /* Expect: 100-continue */
    bool upgrade;               /* Upgrade + Connection: upgrade */
    size_t head_bytes;          /* bytes of the head including the blank line */
    unsigned n_host;
    bg_http_header_t headers[BG_HTTP_MAX_HEADERS];
    size_t n_headers;
    bg_str_t conn_tokens[BG_HTTP_MAX_CONN_TOKENS];
    size_t n_conn_tokens;
} bg_http_head_t;

typedef struct bg_http_parser bg_http_parser_t;

/* Body events, called while bg_http_parser_execute() runs. Each may return non-zero to
 * pause the parser right after the event (the caller resumes with another execute). */
typedef struct bg_http_body_cbs {
    int (*on_body)(void *arg, const char *p, size_t n);
    int (*on_chunk_header)(void *arg, uint64_t size);
    int (*on_chunk_complete)(void *arg);
    int (*on_message_complete)(void *arg);
} bg_http_body_cbs_t;

typedef enum bg_http_result {
    BG_HTTP_NEED_MORE = 0,      /* everything consumed; feed more */
    BG_HTTP_HEAD_DONE = 1,      /* head parsed and validated; paused before the body. With
                                   head->framing == BG_BODY_NONE the message is complete
                                   (llhttp needs no more bytes; call _next for another) */
    BG_HTTP_PAUSED = 2,         /* a body callback asked to pause */
    BG_HTTP_DONE = 3,           /* message complete; paused before the next one */
    BG_HTTP_ERROR = 4,          /* bad message: p->status says which (400, 413, 431, 501, 505) */
} bg_http_result_t;

struct bg_http_parser {
    llhttp_t ll;
    bg_http_head_t *head;
    const bg_http_body_cbs_t *cbs;
    void *arg;
    bool response;
    bool req_is_head;           /* response parser: the request was HEAD (no body) */
    bool in_value;
    bool method_subst;          /* unknown method token fed to llhttp as a stand-in */
    bool upgraded;              /* llhttp stopped at an upgrade (101 / CONNECT) */
    uint8_t pause_kind;         /* why the last callback paused */
    bool last_chunk;            /* inside the zero-size chunk (trailers follow) */
    bool self_chunked;          /* body decoded by chunked.c, not llhttp */
    uint8_t ch_state, ch_digits;
    uint32_t ch_line;
    uint64_t ch_size;
    int status;                 /* on BG_HTTP_ERROR: HTTP status to answer */
    const char *reason;         /* on BG_HTTP_ERROR: short reason for logs */
    uint32_t max_header_bytes;
    uint64_t max_body_bytes;    /* 0 = unlimited */
    uint64_t body_bytes;
    size_t consumed;            /* bytes of the message consumed so far */
};

/* Prepares <p> to parse one request (or response when <response>) into <head>.
 * Borrows <head>, <cbs> and <arg>; they must outlive the parse. Thread: owner. */
void bg_http_parser_init(bg_http_parser_t *p, bool response, bg_http_head_t *head,
                         const bg_http_body_cbs_t *cbs, void *arg);

/* Feeds <len> bytes at <data>; *<used> gets how many were consumed. Head views point into
 * <data>, so the bytes of the head must not move until the head has been used.
 * Returns what happened (see bg_http_result_t). After BG_HTTP_HEAD_DONE the caller
 * decides, then calls again with the rest to get the body. Thread: owner. */
bg_http_result_t bg_http_parser_execute(bg_http_parser_t *p, const char *data, size_t len,
                                        size_t *used);

/* A request whose head arrived as separate fields (HTTP/2): <p> (initialised for a
 * request, nothing fed yet) gets in its head what bg_http_parser_execute() would give
 * for the HTTP/1.1 text "<method> <target> HTTP/1.1\r\n" followed by one
 * "<name>: <value>\r\n" line per field of <p>->head->headers[0..n) (which the caller
 * filled with name and value views; they must outlive the head), then "\r\n", without
 * writing or scanning that text: <head_bytes> is its length. Only for the common shape:
 * a method among GET HEAD POST PUT DELETE OPTIONS PATCH, an origin-form target, no body,
 * and no field that frames a body or needs more than a character check (Content-Length,
 * Transfer-Encoding, TE, Expect, Connection and the other hop-by-hop fields). Every check
 * the text path would apply to such a request applies here (field name and value
 * characters, one Host and its characters, the request-target's characters, field count,
 * head size). Returns true with the head complete (as after BG_HTTP_HEAD_DONE, framing
 * BG_BODY_NONE); false, with the head reset and <p> untouched, when the request is of
 * another shape or fails a check: the caller then writes the text and parses it, which
 * gives the verdict and its status. Thread: owner. */
bool bg_http_request_from_fields(bg_http_parser_t *p, bg_str_t method, bg_str_t target,
                                 size_t n, size_t head_bytes);

/* The peer closed: completes an EOF-delimited body. Returns BG_HTTP_DONE or
 * BG_HTTP_ERROR. */
bg_http_result_t bg_http_parser_finish(bg_http_parser_t *p);

/* Lets the parser accept a following message after BG_HTTP_DONE (keep-alive / pipeline).
 * Resets <head>. */
void bg_http_parser_next(bg_http_parser_t *p);

/* ---- headers ---- */

/* Classifies a header name (case-insensitive). */
bg_http_hdr_kind_t bg_http_hdr_classify(bg_str_t name);
/* True if <list> (a comma-separated header value) contains <token> (case-insensitive). */
bool bg_http_list_has(bg_str_t list, bg_str_t token);
/* First header of <kind>, or NULL. */
const bg_http_header_t *bg_http_head_find(const bg_http_head_t *h, bg_http_hdr_kind_t kind);
/* Value of the cookie <name> in the Cookie headers; false if absent. */
bool bg_http_cookie_get(const bg_http_head_t *h, bg_str_t name, bg_str_t *value);
/* True if <id> is acceptable as an X-Request-Id to keep (1..128 of [A-Za-z0-9._:-]). */
bool bg_http_request_id_is_valid(bg_str_t id);
/* Reason phrase for the statuses the proxy makes itself. */
const char *bg_http_reason(int status);

/* ---- writer ---- */

/* What the proxy adds to a forwarded request. */
typedef struct bg_http_fwd {
    bg_str_t client_ip;         /* appended to X-Forwarded-For */
    bg_str_t proto;             /* X-Forwarded-Proto */
    bg_str_t request_id;        /* X-Request-Id to send (client's if valid, else generated) */
    bool tunnel;                /* keep Upgrade / Connection: upgrade */
    bool h2;                    /* received over HTTP/2: "Via: 2 bluegreen" */
} bg_http_fwd_t;

/* Appends to <out> the request head to send to a target: request line in origin-form,
 * Host, end-to-end headers, framing (Content-Length or chunked), Via, X-Forwarded-*,
 * X-Request-Id. Hop-by-hop headers (RFC 9110 §7.6.1) and X-Bluegreen-Slot are dropped. */
void bg_http_write_request(bg_buf_t *out, const bg_http_head_t *req, const bg_http_fwd_t *fwd);

/* What the proxy changes in a response it relays. */
typedef struct bg_http_rsp_opts {
    bool close;                 /* add Connection: close */
    bool chunked;               /* re-frame the body as chunked for the client */
    bool tunnel;                /* 101: keep Upgrade and send Connection: upgrade */
    bg_str_t set_cookie;        /* extra Set-Cookie value (sticky slot) or empty */
    bg_str_t request_id;        /* X-Request-Id to return (replaces the target's), or empty */
} bg_http_rsp_opts_t;

/* Appends to <out> the response head to send to the client. */
void bg_http_write_response(bg_buf_t *out, const bg_http_head_t *rsp,
                            const bg_http_rsp_opts_t *o);

/* Appends a whole response made by the proxy: <status>, JSON <body>, Connection: close
 * when <close>, X-Request-Id when <request_id> is not empty. */
void bg_http_write_local(bg_buf_t *out, int status, const char *body, size_t body_len,
                         bool close, bg_str_t request_id);
/* The same with a Location field (<location> not empty): redirects. */
void bg_http_write_local_at(bg_buf_t *out, int status, const char *body, size_t body_len,
                            bool close, bg_str_t request_id, bg_str_t location);
/* Same with <content_type> instead of application/json (ACME HTTP-01 answers: text/plain). */
void bg_http_write_local_ct(bg_buf_t *out, int status, const char *content_type,
                            const char *body, size_t body_len, bool close, bg_str_t request_id,
                            bg_str_t location);

#endif
