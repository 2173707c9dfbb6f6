/* Dashboard test client: blocking HTTP/1.1 over loopback TCP, one request per connection,
 * read to EOF (see dashboard_client.h).
 */
#include "dashboard_client.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "dashboard/dashboard.h"
#include "unit/admin/client.h"

void dc_resp_fini(dc_resp_t *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof(*r));
}

bool dc_call(int port, const char *method, const char *target, const char *headers,
                      const char *body, dc_resp_t *out)
{
    int fd = cl_connect_tcp(port);
    char *raw;
    bg_buf_t in;
    size_t off = 0;
    char *sep;

    memset(out, 0, sizeof(*out));
    if (fd < 0)
        return false;
    raw = bg_asprintf("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n%s",
                      method, target, headers ? headers : "", body ? strlen(body) : 0,
                      body ? body : "");
    while (off < strlen(raw)) {
        ssize_t n = write(fd, raw + off, strlen(raw) - off);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    free(raw);
    bg_buf_init(&in);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[16384];
        int pr = poll(&p, 1, 20000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            break;
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        bg_buf_append(&in, buf, (size_t)n);
    }
    close(fd);
    bg_buf_append(&in, "", 1);
    sep = in.data != NULL ? strstr(in.data, "\r\n\r\n") : NULL;
    if (sep == NULL || sscanf(in.data, "HTTP/1.1 %d", &out->status) != 1) {
        bg_buf_fini(&in);
        return false;
    }
    out->head = bg_strndup(in.data, (size_t)(sep - in.data) + 2);
    out->body_len = in.len - 1 - (size_t)(sep + 4 - in.data);
    out->body = bg_strndup(sep + 4, out->body_len);
    bg_buf_fini(&in);
    return true;
}

/* Value of header <name> in <head> (first one), or NULL; static buffer. */
const char *dc_header(const char *head, const char *name)
{
    static char out[4096];
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p != NULL && p[2] != '\0'; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2, *end = strstr(line, "\r\n");
        if (end == NULL)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, sizeof(out), "%.*s", (int)(end - v), v);
            return out;
        }
    }
    return NULL;
}

/* Logs in with <token>; returns the "Cookie: name=value\r\n" header line (owned). */
char *dc_login(int port, const char *token)
{
    dc_resp_t r;
    char *target = bg_asprintf("/dashboard/login?token=%s", token);
    const char *sc;
    char *line;

    cr_assert(dc_call(port, "GET", target, NULL, NULL, &r));
    free(target);
    cr_assert_eq(r.status, 303, "login: %d %s", r.status, r.body);
    cr_assert_str_eq(dc_header(r.head, "Location"), "/dashboard/");
    sc = dc_header(r.head, "Set-Cookie");
    cr_assert_not_null(sc);
    line = bg_asprintf("Cookie: %.*s\r\n", (int)strcspn(sc, ";"), sc);
    dc_resp_fini(&r);
    return line;
}

/* The session's CSRF token (owned). */
char *dc_csrf(int port, const char *cookie, const char *mode)
{
    dc_resp_t r;
    json_t *j;
    char *csrf;

    cr_assert(dc_call(port, "GET", "/dashboard/session", cookie, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "mode")), mode);
    csrf = bg_strdup(json_string_value(json_object_get(j, "csrf_token")));
    cr_assert_eq(strlen(csrf), BG_DASH_TOKEN_HEX);
    json_decref(j);
    dc_resp_fini(&r);
    return csrf;
}


/* Reads what is there within <timeout_ms>; false on EOF, error or timeout. */
static bool sse_fill(dc_sse_t *s, int timeout_ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    ssize_t n;
    int pr;

    do {
        pr = poll(&p, 1, timeout_ms);
    } while (pr < 0 && errno == EINTR);
    if (pr <= 0)
        return false;
    if (s->cap - s->len < 8193) {
        s->cap = s->cap * 2 + 16384;
        s->buf = realloc(s->buf, s->cap);
        cr_assert_not_null(s->buf);
    }
    do {
        n = read(s->fd, s->buf + s->len, s->cap - s->len - 1);
    } while (n < 0 && errno == EINTR);
    if (n <= 0)
        return false;
    s->len += (size_t)n;
    s->buf[s->len] = '\0';
    return true;
}

bool dc_sse_open(dc_sse_t *s, int port, const char *target, const char *headers)
{
    char *raw;
    char *end;
    uint64_t deadline = bg_now_ms() + 20000;

    memset(s, 0, sizeof(*s));
    s->fd = cl_connect_tcp(port);
    if (s->fd < 0)
        return false;
    raw = bg_asprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n%s\r\n",
                      target, headers ? headers : "");
    cr_assert_eq(write(s->fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    free(raw);
    while ((s->buf == NULL || (end = strstr(s->buf, "\r\n\r\n")) == NULL) && bg_now_ms() < deadline) {
        if (!sse_fill(s, (int)(deadline - bg_now_ms())))
            return false;
    }
    if (s->buf == NULL || (end = strstr(s->buf, "\r\n\r\n")) == NULL)
        return false;
    s->pos = (size_t)(end - s->buf) + 4;
    return strncmp(s->buf, "HTTP/1.1 200", 12) == 0;
}

/* Parses one event block <blk> of <len> bytes (WHATWG event stream, LF lines as we send). */
static void sse_parse(const char *blk, size_t len, char *id, size_t id_size, char *event,
                      size_t event_size, char **data)
{
    bg_buf_t d;
    bool has_data = false;

    snprintf(id, id_size, "%s", "");
    snprintf(event, event_size, "%s", "message");
    bg_buf_init(&d);
    for (const char *p = blk, *end = blk + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (ll >= 4 && strncmp(p, "id: ", 4) == 0)
            snprintf(id, id_size, "%.*s", (int)(ll - 4), p + 4);
        else if (ll >= 7 && strncmp(p, "event: ", 7) == 0)
            snprintf(event, event_size, "%.*s", (int)(ll - 7), p + 7);
        else if (ll >= 6 && strncmp(p, "data: ", 6) == 0) {
            if (has_data)
                bg_buf_append(&d, "\n", 1);
            bg_buf_append(&d, p + 6, ll - 6);
            has_data = true;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    bg_buf_append(&d, "", 1);
    *data = bg_buf_steal(&d);
}

bool dc_sse_next(dc_sse_t *s, int timeout_ms, char *id, size_t id_size, char *event,
                 size_t event_size, char **data)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        char *start = s->buf + s->pos;
        char *end = strstr(start, "\n\n");
        if (end != NULL) {
            size_t len = (size_t)(end - start);
            s->pos += len + 2;
            /* A block of comments and retry: lines only is no event. */
            if (len == 0 || (strstr(start, "data: ") == NULL || strstr(start, "data: ") > end))
                continue;
            sse_parse(start, len, id, id_size, event, event_size, data);
            return true;
        }
        if (bg_now_ms() >= deadline || !sse_fill(s, (int)(deadline - bg_now_ms())))
            return false;
    }
}

void dc_sse_close(dc_sse_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->buf);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}
