/* Test support: the fake backend (kamal-proxy's testBackend). An accept thread hands each
 * connection to its own detached thread, which frames HTTP/1.1 requests (Content-Length or
 * chunked; strict enough to refuse CL+TE), answers them in order on the keep-alive
 * connection and records every byte it receives. A 101 answer from a handler turns the
 * connection into an echo tunnel (for Upgrade tests). Never used outside tests.
 */
#include "support/support.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "support/internal.h"

#define POLL_MS 20
#define HEAD_MAX (64 * 1024)
#define LINE_MAX_BYTES 4096

typedef struct conn {
    struct bgt_backend *b;
    int fd;
    struct conn *next;
} conn_t;

struct bgt_backend {
    char *name;
    int lfd;
    int port;
    pthread_t accept_thread;
    atomic_bool stopping;
    atomic_uint requests;
    atomic_uint connections;
    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t idle;
    bg_buf_t received;
    bgt_backend_handler_t handler;
    void *handler_arg;
    conn_t *conns; /* open connections (their threads are running) */
    unsigned nconns;
};

/* One request being framed out of a connection's input buffer. */
typedef struct parsed {
    size_t head_len; /* through the blank line */
    size_t total;    /* head + body as framed on the wire; 0 until known complete */
    bool chunked;
    bool has_body;
    uint64_t content_length;
} parsed_t;

/* Chunked body at <p>: bytes it spans (0 need more, -1 malformed). With <body> non-NULL the
 * de-chunked data is appended to it. RFC 9112 §7.1. */
static ssize_t dechunk(const char *p, size_t len, bg_buf_t *body)
{
    size_t pos = 0;
    for (;;) {
        const char *lf = memchr(p + pos, '\n', len - pos);
        if (lf == NULL)
            return len - pos > LINE_MAX_BYTES ? -1 : 0;
        size_t line_end = (size_t)(lf - p) + 1;
        uint64_t size = 0;
        size_t digits = 0;
        for (size_t i = pos; i < line_end; i++, digits++) {
            char c = p[i];
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
            if (v < 0)
                break;
            if (size > (UINT64_MAX >> 4))
                return -1;
            size = size * 16 + (uint64_t)v;
        }
        if (digits == 0)
            return -1;
        pos = line_end;
        if (size == 0)
            break;
        if (len - pos < size + 2)
            return 0;
        if (p[pos + size] != '\r' || p[pos + size + 1] != '\n')
            return -1;
        if (body)
            bg_buf_append(body, p + pos, (size_t)size);
        pos += (size_t)size + 2;
    }
    for (;;) { /* trailer section up to the empty line */
        const char *lf = memchr(p + pos, '\n', len - pos);
        if (lf == NULL)
            return 0;
        size_t line_len = (size_t)(lf - (p + pos)) + 1;
        pos += line_len;
        if (line_len <= 2)
            return (ssize_t)pos;
    }
}

/* Frames the request at the start of <in>: 1 complete, 0 need more, -1 malformed. */
static int frame_request(const bg_buf_t *in, parsed_t *r)
{
    char v[64];
    memset(r, 0, sizeof(*r));
    const char *end = in->len ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
    if (end == NULL)
        return in->len > HEAD_MAX ? -1 : 0;
    r->head_len = (size_t)(end - in->data) + 4;
    /* bgt_head_header() reads up to the NUL that bg_buf keeps; cut the view at the head. */
    char *head = bg_strndup(in->data, r->head_len);
    int rc = 1;
    bool has_cl = bgt_head_header(head, "Content-Length", v, sizeof(v));
    r->chunked = bgt_head_has_token(head, "Transfer-Encoding", "chunked");
    if (has_cl && r->chunked) {
        rc = -1; /* RFC 9112 §6.1: ambiguous framing */
        goto out;
    }
    if (has_cl && !bg_str_to_u64(bg_str(v), UINT32_MAX, &r->content_length)) {
        rc = -1;
        goto out;
    }
    r->has_body = r->chunked || r->content_length > 0;
    if (r->chunked) {
        ssize_t n = dechunk(in->data + r->head_len, in->len - r->head_len, NULL);
        if (n <= 0) {
            rc = (int)n;
            goto out;
        }
        r->total = r->head_len + (size_t)n;
    } else if (in->len - r->head_len >= r->content_length) {
        r->total = r->head_len + (size_t)r->content_length;
    } else {
        rc = 0;
    }
out:
    free(head);
    return rc;
}

static char *default_response(bgt_backend_t *b, unsigned n, bool close)
{
    char *body = bg_asprintf("{\"backend\":\"%s\",\"n\":%u}", b->name, n);
    char *resp = bg_asprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\n%s\r\n%s",
                             strlen(body), close ? "Connection: close\r\n" : "", body);
    free(body);
    return resp;
}

/* Answers the framed request <r> at the start of <in>. Returns false when the connection
 * must close after it; sets *tunnel on a 101 answer. */
static bool answer(bgt_backend_t *b, int fd, const bg_buf_t *in, const parsed_t *r, bool *tunnel)
{
    char *head = bg_strndup(in->data, r->head_len);
    char method[32] = "", path[2048] = "";
    bg_buf_t body;
    bool keep = false;
    char *resp = NULL;
    bg_buf_init(&body);
    sscanf(head, "%31s %2047s", method, path);
    if (r->chunked)
        dechunk(in->data + r->head_len, in->len - r->head_len, &body);
    else
        bg_buf_append(&body, in->data + r->head_len, (size_t)r->content_length);
    bgt_backend_req_t req = {method, path, head, body.data ? body.data : "", body.len};

    pthread_mutex_lock(&b->mu);
    bgt_backend_handler_t h = b->handler;
    void *arg = b->handler_arg;
    pthread_mutex_unlock(&b->mu);

    unsigned n = atomic_fetch_add(&b->requests, 1) + 1;
    resp = h ? h(arg, &req) : NULL;
    if (resp == NULL)
        resp = default_response(b, n, bgt_head_has_token(head, "Connection", "close"));
    if (*resp == '\0')
        goto out; /* the handler asked to drop the connection unanswered */
    if (!bgt_write_all(fd, resp, strlen(resp)))
        goto out;
    *tunnel = strncmp(resp, "HTTP/1.1 101", 12) == 0;
    const char *v10 = strstr(head, " HTTP/1.0\r\n");
    bool http10 = v10 != NULL && v10 < strchr(head, '\n');
    keep = !bgt_head_has_token(head, "Connection", "close") &&
           !bgt_head_has_token(resp, "Connection", "close") &&
           (!http10 || bgt_head_has_token(head, "Connection", "keep-alive"));
out:
    free(resp);
    free(head);
    bg_buf_fini(&body);
    return keep;
}

static void record(bgt_backend_t *b, const char *p, size_t n)
{
    pthread_mutex_lock(&b->mu);
    bg_buf_append(&b->received, p, n);
    pthread_mutex_unlock(&b->mu);
}

/* Serves requests on <c> until the peer closes, a request asks to close, or stop. */
static void serve(conn_t *c)
{
    bgt_backend_t *b = c->b;
    bg_buf_t in;
    bool tunnel = false, continued = false;
    char tmp[16384];
    bg_buf_init(&in);
    while (!atomic_load(&b->stopping)) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN};
        if (poll(&p, 1, POLL_MS) <= 0)
            continue;
        ssize_t n = recv(c->fd, tmp, sizeof(tmp), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        record(b, tmp, (size_t)n);
        if (tunnel) {
            if (!bgt_write_all(c->fd, tmp, (size_t)n))
                break;
            continue;
        }
        bg_buf_append(&in, tmp, (size_t)n);
        for (;;) {
            parsed_t r;
            int rc = frame_request(&in, &r);
            if (rc < 0) {
                const char *bad = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n";
                bgt_write_all(c->fd, bad, strlen(bad));
                goto out;
            }
            if (rc == 0) {
                /* RFC 9110 §10.1.1: answer Expect: 100-continue once the head is in. */
                if (r.head_len > 0 && r.has_body && !continued &&
                    memmem(in.data, r.head_len, "100-continue", 12)) {
                    const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
                    bgt_write_all(c->fd, cont, strlen(cont));
                    continued = true;
                }
                break;
            }
            continued = false;
            if (!answer(b, c->fd, &in, &r, &tunnel))
                goto out;
            bg_buf_consume(&in, r.total);
            if (tunnel) {
                if (in.len > 0 && !bgt_write_all(c->fd, in.data, in.len))
                    goto out;
                break;
            }
        }
    }
out:
    bg_buf_fini(&in);
}

static void *conn_main(void *arg)
{
    conn_t *c = arg;
    bgt_backend_t *b = c->b;
    serve(c);
    pthread_mutex_lock(&b->mu);
    for (conn_t **pp = &b->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    close(c->fd);
    c->fd = -1;
    free(c);
    if (--b->nconns == 0)
        pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

static void *accept_main(void *arg)
{
    bgt_backend_t *b = arg;
    int one = 1;
    while (!atomic_load(&b->stopping)) {
        struct pollfd p = {.fd = b->lfd, .events = POLLIN};
        if (poll(&p, 1, POLL_MS) <= 0)
            continue;
        int fd = accept4(b->lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE)
                bgt_sleep_ms(POLL_MS);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        atomic_fetch_add(&b->connections, 1);
        conn_t *c = BG_NEW(conn_t);
        c->b = b;
        c->fd = fd;
        pthread_mutex_lock(&b->mu);
        c->next = b->conns;
        b->conns = c;
        b->nconns++;
        pthread_mutex_unlock(&b->mu);
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        BG_ASSERT(pthread_create(&t, &attr, conn_main, c) == 0);
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

static int listen_on(int port, int *bound)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof(sa);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        fprintf(stderr, "bgt_backend_start: port %d: %s\n", port, strerror(errno));
        close(fd);
        return -1;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

bgt_backend_t *bgt_backend_start(const char *name, int port)
{
    int bound = 0;
    int fd = listen_on(port, &bound);
    if (fd < 0)
        return NULL;
    bgt_backend_t *b = BG_NEW(bgt_backend_t);
    b->name = bg_strdup(name ? name : "backend");
    b->lfd = fd;
    b->port = bound;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->idle, NULL);
    bg_buf_init(&b->received);
    BG_ASSERT(pthread_create(&b->accept_thread, NULL, accept_main, b) == 0);
    return b;
}

void bgt_backend_set_handler(bgt_backend_t *b, bgt_backend_handler_t h, void *arg)
{
    pthread_mutex_lock(&b->mu);
    b->handler = h;
    b->handler_arg = arg;
    pthread_mutex_unlock(&b->mu);
}

int bgt_backend_port(const bgt_backend_t *b)
{
    return b->port;
}

unsigned bgt_backend_requests(const bgt_backend_t *b)
{
    return atomic_load(&((bgt_backend_t *)b)->requests);
}

unsigned bgt_backend_connections(const bgt_backend_t *b)
{
    return atomic_load(&((bgt_backend_t *)b)->connections);
}

unsigned bgt_backend_open_connections(bgt_backend_t *b)
{
    pthread_mutex_lock(&b->mu);
    unsigned n = b->nconns;
    pthread_mutex_unlock(&b->mu);
    return n;
}

char *bgt_backend_received(bgt_backend_t *b, size_t *len)
{
    pthread_mutex_lock(&b->mu);
    char *copy = bg_xmalloc(b->received.len + 1);
    if (b->received.len)
        memcpy(copy, b->received.data, b->received.len);
    copy[b->received.len] = '\0';
    if (len)
        *len = b->received.len;
    pthread_mutex_unlock(&b->mu);
    return copy;
}

void bgt_backend_drop_connections(bgt_backend_t *b)
{
    pthread_mutex_lock(&b->mu);
    for (conn_t *c = b->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR); /* the connection's thread sees EOF and closes it */
    pthread_mutex_unlock(&b->mu);
}

void bgt_backend_stop(bgt_backend_t *b)
{
    if (b == NULL)
        return;
    atomic_store(&b->stopping, true);
    pthread_join(b->accept_thread, NULL);
    close(b->lfd);
    b->lfd = -1;
    pthread_mutex_lock(&b->mu);
    for (conn_t *c = b->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    while (b->nconns > 0)
        pthread_cond_wait(&b->idle, &b->mu);
    pthread_mutex_unlock(&b->mu);
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->mu);
    bg_buf_fini(&b->received);
    free(b->name);
    free(b);
}
