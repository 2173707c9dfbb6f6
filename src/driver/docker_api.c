/* A small HTTP client for the Docker Engine API on its Unix socket: libcurl's multi
 * interface driven by the control loop (uv_poll per socket, one uv_timer for curl's
 * timeouts), so no request ever blocks the loop. Responses are either collected whole or
 * streamed to a callback (pull progress, followed logs). dk_request_sync() is the one
 * blocking call, for boot only (re-adoption before the loop serves anything).
 */
#include "driver/docker_api.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "base/base.h"
#include "base/compat.h"

#define API_PREFIX "http://docker/v1.41"

struct dk_client {
    uv_loop_t *loop;
    CURLM *multi;
    char *socket_path;
    uv_timer_t timer;
    bg_list_t reqs;
    int handles_open; /* timer + socket polls */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
};

struct dk_req {
    bg_list_t link;
    dk_client_t *c;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    bg_buf_t resp;
    dk_data_cb on_data;
    dk_done_cb on_done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    bool cancelled;
    bool in_cb; /* inside on_data or on_done: a cancel only marks it */
};

typedef struct sock_ctx {
    uv_poll_t poll;
    dk_client_t *c;
    curl_socket_t fd;
} sock_ctx_t;

static void maybe_closed(dk_client_t *c);

static void req_free(dk_req_t *r)
{
    bg_list_remove(&r->link);
    curl_multi_remove_handle(r->c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    free(r->body);
    bg_buf_fini(&r->resp);
    free(r);
}

static void finish(dk_req_t *r, CURLcode code)
{
    dk_client_t *c = r->c;
    dk_result_t res = {0};
    long status = 0;

    if (!r->cancelled && r->on_done != NULL) {
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        res.http_status = code == CURLE_OK ? (int)status : 0;
        res.body = r->resp.data != NULL ? r->resp.data : "";
        res.body_len = r->resp.len;
        /* curl's own words ("Couldn't connect to server"); its error buffer would name
         * the placeholder host of the URL instead of the socket. */
        res.transport_error = code == CURLE_OK ? NULL : curl_easy_strerror(code);
        res.engine = c->socket_path;
        r->in_cb = true;
        r->on_done(r, &res, r->arg);
    }
    req_free(r);
    (void)c; /* a close from inside that callback completes when the timer has closed */
}

static void check_done(dk_client_t *c)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        dk_req_t *r = NULL;
        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        finish(r, m->data.result);
    }
}

static void on_timer(uv_timer_t *t)
{
    dk_client_t *c = t->data;
    int running;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int timer_fn(CURLM *multi, long timeout_ms, void *userp)
{
    dk_client_t *c = userp;

    (void)multi;
    if (c->closing)
        return 0;
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else /* 0 too: from the loop, never from inside curl */
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx_t *s = h->data;
    dk_client_t *c = s->c;
    int flags = 0, running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, s->fd, flags, &running);
    check_done(c);
}

static void on_poll_closed(uv_handle_t *h)
{
    sock_ctx_t *s = h->data;
    dk_client_t *c = s->c;

    free(s);
    c->handles_open--;
    maybe_closed(c);
}

static int socket_fn(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    dk_client_t *c = userp;
    sock_ctx_t *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, on_poll_closed);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (s == NULL) {
        s = BG_NEW(sock_ctx_t);
        s->c = c;
        s->fd = fd;
        uv_poll_init_socket(c->loop, &s->poll, fd);
        s->poll.data = s;
        c->handles_open++;
        curl_multi_assign(c->multi, fd, s);
    }
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
    return 0;
}

dk_client_t *dk_client_new(uv_loop_t *loop, const char *socket_path)
{
    dk_client_t *c = BG_NEW(dk_client_t);

    c->loop = loop;
    c->socket_path = bg_strdup(socket_path);
    c->multi = curl_multi_init();
    BG_ASSERT(c->multi != NULL);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_fn);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_fn);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 1;
    bg_list_init(&c->reqs);
    return c;
}

const char *dk_client_socket(const dk_client_t *c)
{
    return c->socket_path;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userp)
{
    dk_req_t *r = userp;
    size_t n = size * nmemb;

    if (r->cancelled)
        return 0; /* aborts the transfer; finish() calls nobody */
    if (r->on_data != NULL) {
        r->in_cb = true;
        r->on_data(r, data, n, r->arg);
        r->in_cb = false;
    } else
        bg_buf_append(&r->resp, data, n);
    return r->cancelled ? 0 : n;
}

static CURL *easy_new(const char *socket_path, const char *method, const char *path,
                      const char *body, struct curl_slist *headers, long timeout_ms,
                      char *errbuf)
{
    CURL *e = curl_easy_init();
    char *url = bg_asprintf(API_PREFIX "%s", path);

    BG_ASSERT(e != NULL);
    curl_easy_setopt(e, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    if (timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (body != NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    free(url);
    return e;
}

dk_req_t *dk_request(dk_client_t *c, const char *method, const char *path, const char *body,
                     const char *extra_header, long timeout_ms, dk_data_cb on_data,
                     dk_done_cb on_done, void *arg)
{
    dk_req_t *r = BG_NEW(dk_req_t);

    BG_ASSERT(!c->closing);
    r->c = c;
    r->on_data = on_data;
    r->on_done = on_done;
    r->arg = arg;
    bg_buf_init(&r->resp);
    r->body = body != NULL ? bg_strdup(body) : NULL;
    if (body != NULL)
        r->headers = curl_slist_append(r->headers, "Content-Type: application/json");
    if (extra_header != NULL)
        r->headers = curl_slist_append(r->headers, extra_header);
    r->easy = easy_new(c->socket_path, method, path, r->body, r->headers, timeout_ms, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
    bg_list_insert_tail(&c->reqs, &r->link);
    curl_multi_add_handle(c->multi, r->easy);
    return r;
}

void dk_cancel(dk_req_t *r)
{
    if (r == NULL || r->cancelled)
        return;
    r->cancelled = true;
    /* Removing the handle from inside one of its own callbacks is not allowed: on_write
     * returns 0 instead and the transfer ends through check_done(). */
    if (!r->in_cb)
        req_free(r);
}

static size_t on_write_sync(char *data, size_t size, size_t nmemb, void *userp)
{
    bg_buf_append(userp, data, size * nmemb);
    return size * nmemb;
}

int dk_request_sync(const char *socket_path, const char *method, const char *path,
                    long timeout_ms, int *http_status, bg_buf_t *out, bg_err_t *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    CURL *e = easy_new(socket_path, method, path, NULL, NULL, timeout_ms, errbuf);
    long status = 0;
    CURLcode code;

    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write_sync);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    code = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    if (code != CURLE_OK)
        return bg_err_set(err, BG_EUNAVAIL, "cannot reach the engine at unix://%s: %s",
                          socket_path, curl_easy_strerror(code));
    *http_status = (int)status;
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    dk_client_t *c = h->data;
    c->handles_open--;
    maybe_closed(c);
}

static void maybe_closed(dk_client_t *c)
{
    if (!c->closing || c->handles_open > 0 || !bg_list_is_empty(&c->reqs))
        return;
    curl_multi_cleanup(c->multi);
    free(c->socket_path);
    if (c->close_cb != NULL)
        c->close_cb(c->close_arg);
    free(c);
}

void dk_client_close(dk_client_t *c, void (*cb)(void *arg), void *arg)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &c->reqs)
    {
        dk_req_t *r = BG_CONTAINER_OF(pos, dk_req_t, link);
        r->cancelled = true;
        if (!r->in_cb) /* one inside its callback is freed when that returns */
            req_free(r);
    }
    c->closing = true;
    c->close_cb = cb;
    c->close_arg = arg;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* ---- JSON helpers ---- */

const char *dk_message(const dk_result_t *res, char *out, size_t size)
{
    json_t *j;
    const char *m;

    if (res->transport_error != NULL) {
        snprintf(out, size, "cannot reach the engine at unix://%s: %s",
                 res->engine ? res->engine : "?", res->transport_error);
        return out;
    }
    j = json_loadb(res->body, res->body_len, 0, NULL);
    m = json_string_value(json_object_get(j, "message"));
    if (m != NULL)
        snprintf(out, size, "%s", m);
    else
        snprintf(out, size, "HTTP %d: %.*s", res->http_status, (int)(res->body_len > 200 ? 200 : res->body_len),
                 res->body);
    json_decref(j);
    return out;
}

char *dk_urlencode(const char *s)
{
    char *out = bg_xmalloc(strlen(s) * 3 + 1), *o = out;
    static const char hex[] = "0123456789ABCDEF";

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
            *p == '-' || *p == '_' || *p == '.' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}
