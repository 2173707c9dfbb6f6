/* sample-app dependency calls (--call URL): one plain GET per dependency per request, on a
 * fresh libuv TCP connection with `Connection: close`, all in parallel. Any connect or I/O
 * error, a timeout or a non-2xx answer is a failure, and the app answers 502 naming the
 * dependency (docs/design.md §9: "calls a dependency per request; its failure is a 502").
 */
#include "sampleapp/internal.h"

#include <netdb.h>

#define CALL_TIMEOUT_MS 5000

typedef struct call {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t connect;
    uv_write_t write;
    llhttp_t parser;
    sa_conn_t *c;
    const sa_dep_t *dep;
    char *req;
    int status; /* HTTP status once the head is in */
    int err;    /* libuv error, 0 if none */
    bool done;
    unsigned handles_open;
} call_t;

static llhttp_settings_t resp_settings;
static char call_buf[16384];

bool sa_dep_parse(const char *url, sa_dep_t *dep)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char host[256], port[16] = "80";
    memset(dep, 0, sizeof(*dep));
    if (strncmp(url, "http://", 7) != 0) {
        fprintf(stderr, "sample-app: --call %s: only http://HOST[:PORT][/PATH] is supported\n",
                url);
        return false;
    }
    const char *h = url + 7;
    const char *slash = h + strcspn(h, "/");
    const char *colon = memchr(h, ':', (size_t)(slash - h));
    const char *hend = colon ? colon : slash;
    if (hend == h || (size_t)(hend - h) >= sizeof(host) ||
        (colon && (size_t)(slash - colon - 1) >= sizeof(port))) {
        fprintf(stderr, "sample-app: --call %s: bad host or port\n", url);
        return false;
    }
    snprintf(host, sizeof(host), "%.*s", (int)(hend - h), h);
    if (colon)
        snprintf(port, sizeof(port), "%.*s", (int)(slash - colon - 1), colon + 1);
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "sample-app: --call %s: %s\n", url, gai_strerror(rc));
        return false;
    }
    memcpy(&dep->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    dep->url = bg_strdup(url);
    dep->hostport = bg_strndup(h, (size_t)(slash - h));
    dep->path = bg_strdup(*slash ? slash : "/");
    return true;
}

void sa_dep_fini(sa_dep_t *dep)
{
    free(dep->url);
    free(dep->hostport);
    free(dep->path);
    memset(dep, 0, sizeof(*dep));
}

static void on_call_closed(uv_handle_t *h)
{
    call_t *k = h->data;
    if (--k->handles_open > 0)
        return;
    free(k->req);
    free(k);
}

/* Records the outcome once, releases the call and, for the last one, answers. */
static void call_end(call_t *k, int err)
{
    if (k->done)
        return;
    k->done = true;
    uv_close((uv_handle_t *)&k->tcp, on_call_closed);
    uv_close((uv_handle_t *)&k->timer, on_call_closed);
    sa_conn_t *c = k->c;
    bool ok = err == 0 && k->status >= 200 && k->status < 300;
    if (!ok && c->call_failed_url == NULL) {
        c->call_failed_url = k->dep->url;
        c->call_status = err ? err : k->status;
        if (err == 0 && k->status == 0)
            c->call_status = UV_EPROTO;
    }
    if (--c->calls_pending > 0)
        return;
    if (c->closing)
        sa_conn_close(c); /* it waited for us */
    else
        sa_route_app_finish(c);
}

static int on_resp_headers(llhttp_t *p)
{
    call_t *k = p->data;
    k->status = p->status_code;
    return 0;
}

static int on_resp_complete(llhttp_t *p)
{
    call_end(p->data, 0);
    return HPE_PAUSED; /* nothing after it matters */
}

static void on_call_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    *buf = uv_buf_init(call_buf, sizeof(call_buf));
}

static void on_call_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    call_t *k = s->data;
    if (k->done)
        return;
    if (nread == UV_EOF) {
        /* A body delimited by the close is complete now (RFC 9112 §6.3 rule 8). */
        call_end(k, llhttp_finish(&k->parser) == HPE_OK && k->status ? 0 : UV_EPROTO);
    } else if (nread < 0) {
        call_end(k, (int)nread);
    } else if (nread > 0) {
        llhttp_errno_t e = llhttp_execute(&k->parser, buf->base, (size_t)nread);
        if (e != HPE_OK && e != HPE_PAUSED)
            call_end(k, UV_EPROTO);
    }
}

static void on_call_written(uv_write_t *w, int status)
{
    call_t *k = w->data;
    if (status < 0)
        call_end(k, status);
}

static void on_call_connect(uv_connect_t *req, int status)
{
    call_t *k = req->data;
    if (k->done)
        return;
    if (status < 0) {
        call_end(k, status);
        return;
    }
    uv_buf_t b = uv_buf_init(k->req, (unsigned)strlen(k->req));
    k->write.data = k;
    int rc = uv_write(&k->write, (uv_stream_t *)&k->tcp, &b, 1, on_call_written);
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&k->tcp, on_call_alloc, on_call_read);
    if (rc != 0)
        call_end(k, rc);
}

static void on_call_timeout(uv_timer_t *t)
{
    call_end(t->data, UV_ETIMEDOUT);
}

static void call_start(sa_conn_t *c, const sa_dep_t *dep)
{
    call_t *k = BG_NEW(call_t);
    k->c = c;
    k->dep = dep;
    k->req = bg_asprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sample-app\r\n"
                         "Connection: close\r\n\r\n",
                         dep->path, dep->hostport);
    uv_tcp_init(c->app->loop, &k->tcp);
    uv_timer_init(c->app->loop, &k->timer);
    k->tcp.data = k->timer.data = k->connect.data = k;
    k->handles_open = 2;
    llhttp_init(&k->parser, HTTP_RESPONSE, &resp_settings);
    k->parser.data = k;
    c->calls_pending++;
    uv_timer_start(&k->timer, on_call_timeout, CALL_TIMEOUT_MS, 0);
    int rc =
        uv_tcp_connect(&k->connect, &k->tcp, (const struct sockaddr *)&dep->addr, on_call_connect);
    if (rc != 0)
        call_end(k, rc);
}

void sa_call_start_all(sa_conn_t *c)
{
    if (resp_settings.on_headers_complete == NULL) {
        llhttp_settings_init(&resp_settings);
        resp_settings.on_headers_complete = on_resp_headers;
        resp_settings.on_message_complete = on_resp_complete;
    }
    /* Count them all first: a call that fails at once must not answer early. */
    c->calls_pending++;
    for (size_t i = 0; i < c->app->opts.ndeps && !c->closing; i++)
        call_start(c, &c->app->opts.deps[i]);
    if (--c->calls_pending > 0)
        return;
    if (c->closing)
        sa_conn_close(c);
    else
        sa_route_app_finish(c);
}
