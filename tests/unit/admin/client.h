/* A blocking raw HTTP/1.1 client over Unix or TCP sockets for admin tests (unit and
 * integration): Content-Length framed responses, pipelining-aware reads, close detection.
 */
#ifndef BG_TESTS_ADMIN_CLIENT_H
#define BG_TESTS_ADMIN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cresp {
    int status;
    char head[8192];
    char *body; /* NUL-terminated, owned */
    size_t body_len;
} cresp_t;
void cresp_fini(cresp_t *r);

int cl_connect_unix(const char *path);
int cl_connect_tcp(int port);
/* Sends <raw> (may be NULL: send nothing) and reads one response (Content-Length framed). */
bool cl_exchange(int fd, const char *raw, size_t len, cresp_t *out);
/* Reads one response only. */
bool cl_read(int fd, cresp_t *out);
/* True if the peer closed <fd> within 3 s. */
bool cl_closed(int fd);
/* Header value lookup in a response head. */
bool cresp_header(const cresp_t *r, const char *name, char *out, size_t size);
/* Polls until *<counter> >= <want> or 5 s pass. */
bool fx_wait_count(_Atomic unsigned *counter, unsigned want);
/* One request on a fresh connection to a Unix socket (<path>) or, when <path> is NULL, to
 * 127.0.0.1:<port>: METHOD PATH, optional body, extra header lines (each ending \r\n). */
bool cl_call(const char *path, int port, const char *method, const char *target, const char *body,
             const char *extra_headers, cresp_t *out);

#endif
