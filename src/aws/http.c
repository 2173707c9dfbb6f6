/* libcurl multi driven by a libuv loop: curl tells us which sockets to watch
 * (CURLMOPT_SOCKETFUNCTION) and when to wake (CURLMOPT_TIMERFUNCTION); uv_poll_t and one
 * uv_timer_t feed curl_multi_socket_action() back. No call blocks the loop: DNS is not
 * involved for loopback and numeric endpoints, and curl's threaded resolver covers the
 * rest. Every uv handle is closed and freed in its close callback.
 */
#include "aws/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "base/compat.h"

struct bg_aws_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    bg_list_t reqs;
    bg_list_t polls;
    unsigned open_handles; /* timer + polls still to close */
    void (*close_cb)(void *);
    void *close_arg;
    bool closing;
};

typedef struct poll_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    bg_aws_http_t *http;
    bg_list_t link;
} poll_ctx_t;

static void check_done(bg_aws_http_t *http)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(http->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        bg_aws_http_req_t *req = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&req);
        req->result = msg->data.result;
        curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &req->status);
        curl_multi_remove_handle(http->multi, req->easy);
        bg_list_remove(&req->link);
        req->cb(req->arg, req);
    }
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    poll_ctx_t *ctx = p->data;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    bg_aws_http_t *http = ctx->http;
    curl_multi_socket_action(http->multi, ctx->fd, flags, &running);
    check_done(http);
}

static void on_poll_closed(uv_handle_t *h)
{
    poll_ctx_t *ctx = h->data;
    bg_aws_http_t *http = ctx->http;
    free(ctx);
    if (--http->open_handles == 0 && http->closing) {
        void (*cb)(void *) = http->close_cb;
        void *arg = http->close_arg;
        free(http);
        if (cb)
            cb(arg);
    }
}

static int on_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    bg_aws_http_t *http = userp;
    poll_ctx_t *ctx = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (ctx) {
            uv_poll_stop(&ctx->poll);
            if (http->multi)
                curl_multi_assign(http->multi, s, NULL);
            bg_list_remove(&ctx->link);
            uv_close((uv_handle_t *)&ctx->poll, on_poll_closed);
        }
        return 0;
    }
    if (ctx == NULL) {
        ctx = BG_NEW(poll_ctx_t);
        ctx->fd = s;
        ctx->http = http;
        if (uv_poll_init_socket(http->loop, &ctx->poll, s) != 0) {
            free(ctx);
            return -1;
        }
        ctx->poll.data = ctx;
        bg_list_insert_tail(&http->polls, &ctx->link);
        http->open_handles++;
        curl_multi_assign(http->multi, s, ctx);
    }
    int events = 0;
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&ctx->poll, events, on_poll);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    bg_aws_http_t *http = t->data;
    int running;
    curl_multi_socket_action(http->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(http);
}

static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    bg_aws_http_t *http = userp;
    /* 0 means "as soon as possible", but a uv timer of 0 can fire before curl's own clock
     * has moved past the expiry it set; curl then does nothing and, as the expiry did not
     * change, never asks again: the transfer stalls. 1 ms (as curl's multi-uv example
     * does) always lands after it. */
    if (timeout_ms < 0)
        uv_timer_stop(&http->timer);
    else
        uv_timer_start(&http->timer, on_timer, timeout_ms == 0 ? 1 : (uint64_t)timeout_ms, 0);
    return 0;
}

static void global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

bg_aws_http_t *bg_aws_http_new(uv_loop_t *loop)
{
    static uv_once_t once = UV_ONCE_INIT;
    uv_once(&once, global_init);
    bg_aws_http_t *http = BG_NEW(bg_aws_http_t);
    http->loop = loop;
    http->multi = curl_multi_init();
    BG_ASSERT(http->multi != NULL);
    bg_list_init(&http->reqs);
    bg_list_init(&http->polls);
    uv_timer_init(loop, &http->timer);
    http->timer.data = http;
    http->open_handles = 1;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    return http;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    bg_aws_http_req_t *req = arg;
    /* AWS answers are small; a runaway body is cut off rather than buffered unbounded. */
    if (req->resp.len + size * n > 16u << 20)
        return 0;
    bg_buf_append(&req->resp, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    bg_aws_http_req_t *req = arg;
    if (req->resp_head.len + size * n > 64u << 10)
        return 0;
    bg_buf_append(&req->resp_head, p, size * n);
    return size * n;
}

bg_aws_http_req_t *bg_aws_http_start(bg_aws_http_t *http, const char *method, const char *url,
                                     struct curl_slist *headers, const void *body, size_t body_len,
                                     uint64_t timeout_ms, bg_aws_http_cb cb, void *arg)
{
    BG_ASSERT(!http->closing);
    bg_aws_http_req_t *req = BG_NEW(bg_aws_http_req_t);
    req->http = http;
    req->cb = cb;
    req->arg = arg;
    req->headers = curl_slist_append(headers, "Expect:");
    bg_buf_init(&req->resp);
    bg_buf_init(&req->resp_head);
    bg_list_init(&req->link);
    CURL *e = req->easy = curl_easy_init();
    BG_ASSERT(e != NULL);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, req);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 10000 ? timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, req);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers);
    /* Proxies from the environment would see signed requests to loopback endpoints. */
    curl_easy_setopt(e, CURLOPT_NOPROXY, "127.0.0.1,localhost,169.254.169.254,169.254.170.2");
    if (body != NULL) {
        req->body = bg_xmalloc(body_len + 1);
        memcpy(req->body, body, body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "PUT") == 0 && body == NULL) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
    }
    bg_list_insert_tail(&http->reqs, &req->link);
    /* curl_multi_add_handle only arms the timer: the transfer starts from the loop. */
    curl_multi_add_handle(http->multi, e);
    return req;
}

void bg_aws_http_req_free(bg_aws_http_req_t *req)
{
    if (req == NULL)
        return;
    if (!bg_list_is_empty(&req->link)) {
        curl_multi_remove_handle(req->http->multi, req->easy);
        bg_list_remove(&req->link);
    }
    curl_easy_cleanup(req->easy);
    curl_slist_free_all(req->headers);
    free(req->body);
    bg_buf_fini(&req->resp);
    bg_buf_fini(&req->resp_head);
    free(req);
}

bool bg_aws_http_header(const bg_aws_http_req_t *req, const char *name, char *out, size_t size)
{
    const char *p = req->resp_head.data;
    size_t nlen = strlen(name);
    bool found = false;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        /* Several responses (100 Continue, redirects) may be recorded: the last one wins. */
        if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
            found = false;
        } else if (len > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
            bg_str_t v = bg_str_trim((bg_str_t){p + nlen + 1, len - nlen - 1});
            snprintf(out, size, "%.*s", (int)v.len, v.ptr);
            found = true;
        }
        p += len + (eol ? 2 : 0);
    }
    return found;
}

void bg_aws_http_close(bg_aws_http_t *http, void (*cb)(void *), void *arg)
{
    BG_ASSERT(bg_list_is_empty(&http->reqs));
    http->closing = true;
    http->close_cb = cb;
    http->close_arg = arg;
    uv_timer_stop(&http->timer);
    /* Cached connections give their sockets back through CURL_POLL_REMOVE here; whatever
     * curl did not hand back is closed by us. */
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    while (!bg_list_is_empty(&http->polls)) {
        poll_ctx_t *p = BG_CONTAINER_OF(http->polls.next, poll_ctx_t, link);
        bg_list_remove(&p->link);
        uv_poll_stop(&p->poll);
        uv_close((uv_handle_t *)&p->poll, on_poll_closed);
    }
    /* The timer shares on_poll_closed's accounting: its data is rewritten to a fake ctx. */
    poll_ctx_t *ctx = BG_NEW(poll_ctx_t);
    ctx->http = http;
    http->timer.data = ctx;
    uv_close((uv_handle_t *)&http->timer, on_poll_closed);
}
