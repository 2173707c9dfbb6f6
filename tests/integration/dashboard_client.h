/* A blocking HTTP/1.1 client for the dashboard tests: one request per connection with
 * `Connection: close`, read to EOF (pages may exceed the admin client's buffer), plus the
 * login steps a browser takes and a reader for Server-Sent Events.
 */
#ifndef BG_TESTS_DASHBOARD_CLIENT_H
#define BG_TESTS_DASHBOARD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

typedef struct dc_resp {
    int status;
    char *head; /* status line and headers, each line ending in \r\n */
    char *body;
    size_t body_len;
} dc_resp_t;
void dc_resp_fini(dc_resp_t *r);

/* METHOD TARGET to 127.0.0.1:<port> with extra header lines <headers> (each ending \r\n;
 * may be NULL) and <body> (may be NULL). False if no response came within 20 s. */
bool dc_call(int port, const char *method, const char *target, const char *headers,
             const char *body, dc_resp_t *out);
/* Value of header <name> in <head> (the first), or NULL. Static buffer. */
const char *dc_header(const char *head, const char *name);
/* /dashboard/login?token=<token> must answer 303 with a cookie: returns the request header
 * line "Cookie: name=value\r\n" (owned). */
char *dc_login(int port, const char *token);
/* The session's CSRF token from /dashboard/session (owned); asserts its `mode`. */
char *dc_csrf(int port, const char *cookie, const char *mode);

/* An open Server-Sent Events connection. */
typedef struct dc_sse {
    int fd;
    char *buf; /* everything read so far, NUL-terminated */
    size_t len, cap;
    size_t pos; /* start of the first event not yet returned by dc_sse_next() */
} dc_sse_t;
/* Connects and sends GET <target> with <headers>; true once a 200 head came. */
bool dc_sse_open(dc_sse_t *s, int port, const char *target, const char *headers);
/* The next complete event (blank-line terminated) within <timeout_ms>: its id ("" if none)
 * and event name ("message" if none) and data are copied into the outputs. False on
 * timeout or EOF. */
bool dc_sse_next(dc_sse_t *s, int timeout_ms, char *id, size_t id_size, char *event,
                 size_t event_size, char **data);
void dc_sse_close(dc_sse_t *s);

#endif
