/* HTTP/2 to clients (RFC 9113), server side, on libnghttp2: one client connection of the
 * proxy (bg_client_t) that starts with the HTTP/2 connection preface (prior knowledge,
 * "h2c", when `http2: {h2c: true}`) or negotiated "h2" by ALPN is handed to this module,
 * which runs an nghttp2 server session on it. Each stream becomes one exchange
 * (src/proxy/exchange.c) through the same routing, slots, targets, retries, stats, access
 * log and draining as an HTTP/1.1 request; the target still speaks HTTP/1.1 from the
 * worker's keep-alive pool.
 *
 * The request head of a stream gets every check of docs/design.md §7 from the strict
 * parser's code (src/http/parser.c): the common request's head is built from views of
 * its fields (bg_http_request_from_fields), any other is rewritten as an HTTP/1.1 head
 * and parsed. Its body goes to the target as it arrives, and the stream's flow-control
 * window is opened (nghttp2_session_consume) only once the target took the bytes: a
 * stream never buffers more than its window. Response bodies are read by nghttp2's data source straight from
 * the exchange's output queue, so the target's connection is read no faster than the
 * client's windows let the bytes go.
 *
 * Defences (docs/http2.md): max concurrent streams, header list size, rapid reset
 * (CVE-2023-44487), CONTINUATION floods (CVE-2024-27316), SETTINGS/PING floods and window
 * overflow are answered as RFC 9113 says, on the offending stream or connection only.
 * Stop and idle timeout end a connection with GOAWAY; streams in flight finish.
 *
 * Thread: the worker owning the client, always.
 */
#ifndef BG_H2_H2_H
#define BG_H2_H2_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct bg_client bg_client_t;
typedef struct bg_exchange bg_exchange_t;
typedef struct bg_h2_conn bg_h2_conn_t;
typedef struct bg_h2_stream bg_h2_stream_t;

/* Length of the client connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n". */
#define BG_H2_PREFACE_LEN 24

/* 1: <p> (<n> bytes) starts with the preface; 0: it is a proper prefix of it (read more);
 * -1: it is not HTTP/2. */
int bg_h2_preface_match(const char *p, size_t n);

/* Takes over client <c>: an HTTP/2 session on its socket. The bytes already read
 * (c->buf, c->off..c->len) are the first ones the session reads. The client's state
 * becomes BG_CLIENT_H2 and c->h2 owns the session until bg_h2_client_close(). */
void bg_h2_start(bg_client_t *c);

/* client.c: <nread> bytes were read into c->buf at c->len (or an error/EOF < 0). */
void bg_h2_client_read(bg_client_t *c, ssize_t nread);

/* client.c, from bg_client_close(): aborts every stream's exchange and frees the session;
 * the socket is closed by the caller. */
void bg_h2_client_close(bg_client_t *c);

/* Stop (worker stopping) or idle timeout: GOAWAY with the last stream processed; streams
 * in flight finish, then the connection closes. */
void bg_h2_shutdown(bg_client_t *c);

/* ---- the exchange's side (exchange.c, response.c) ---- */

/* The exchange's to_client queue holds body bytes: hands them to the stream. 1 all taken,
 * 0 pending (ex->cl_writing; the flow continues when the stream took them). */
int bg_h2_flush(bg_exchange_t *ex);
/* The target's final (or interim 1xx) response head is in ex->rsp: submit it. */
void bg_h2_response_head(bg_exchange_t *ex, bool interim);
/* A response made by the proxy (404, 502, 503, 504, 413...): the exchange ends. */
void bg_h2_local_response(bg_exchange_t *ex, int status, const char *body, size_t len);
/* The response is complete (ex->rsp_done, queue empty): the stream ends, the exchange is
 * released by the caller. */
void bg_h2_exchange_done(bg_exchange_t *ex);
/* Failure after part of the response went out: RST_STREAM INTERNAL_ERROR. The exchange
 * ends. */
void bg_h2_reset(bg_exchange_t *ex);
/* The exchange is released (bg_exchange_release): the stream forgets it and gives the
 * window of request bytes not sent back; a stream left without any answer is reset. */
void bg_h2_detach(bg_exchange_t *ex);
/* Moves the stream's received request body to the target (BG_EX_BODY) and opens its
 * window for what the target took. */
void bg_h2_pump_request(bg_exchange_t *ex);

#endif
