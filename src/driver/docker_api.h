/* Private to the docker driver: an HTTP client for the Docker Engine API over its Unix
 * socket, on the control loop (libcurl multi). Thread: control.
 */
#ifndef BG_DRIVER_DOCKER_API_H
#define BG_DRIVER_DOCKER_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/list.h"

typedef struct dk_client dk_client_t;
typedef struct dk_req dk_req_t;

/* How a request ended: <http_status> 0 and <transport_error> set when the engine could not
 * be reached or the transfer broke; <body> is what was collected (empty for streamed
 * requests). Borrowed for the callback. */
typedef struct dk_result {
    int http_status;
    const char *body;
    size_t body_len;
    const char *transport_error;
    const char *engine; /* the socket path, for messages */
} dk_result_t;

typedef void (*dk_done_cb)(dk_req_t *r, const dk_result_t *res, void *arg);
/* Streamed response bytes as they arrive (pull progress, followed logs). */
typedef void (*dk_data_cb)(dk_req_t *r, const char *data, size_t n, void *arg);

/* A client for the engine at <socket_path> (copied) on <loop> (borrowed). */
dk_client_t *dk_client_new(uv_loop_t *loop, const char *socket_path);
const char *dk_client_socket(const dk_client_t *c);
/* Sends <method> <path> (below /v1.41; query included) with <body> (JSON, copied; may be
 * NULL) and one <extra_header> ("X-Registry-Auth: ..."; may be NULL). <timeout_ms> 0 = none
 * (streams). With <on_data>, the response is streamed to it; <on_done> comes once at the end,
 * never from inside dk_request(). The request is freed after <on_done> returns. */
dk_req_t *dk_request(dk_client_t *c, const char *method, const char *path, const char *body,
                     const char *extra_header, long timeout_ms, dk_data_cb on_data,
                     dk_done_cb on_done, void *arg);
/* Abandons <r>: no callback of it comes after this. NULL is a no-op. */
void dk_cancel(dk_req_t *r);
/* Cancels every request, closes the loop handles and frees the client; then <cb>(arg). */
void dk_client_close(dk_client_t *c, void (*cb)(void *arg), void *arg);

/* Blocking request (boot only, before the loop serves): 0 with <http_status> and the body
 * appended to <out>, or BG_EUNAVAIL when the engine cannot be reached. */
int dk_request_sync(const char *socket_path, const char *method, const char *path,
                    long timeout_ms, int *http_status, bg_buf_t *out, bg_err_t *err);

/* The engine's own error message of <res> ({"message": ...}) or a description of the
 * transport error, into <out>. Returns <out>. */
const char *dk_message(const dk_result_t *res, char *out, size_t size);
/* Percent-encodes <s> for a query string (caller frees). */
char *dk_urlencode(const char *s);

#endif
