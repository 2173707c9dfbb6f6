/* See fixture.h. */
#include "fixture.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "base/base.h"

/* ---- fake ops (loop thread) ---- */

static json_t *fake_service(fx_t *f, const char *name)
{
    return json_pack("{s:s,s:{s:i,s:i}}", "name", name, "traffic", "blue", f->weight[0], "green",
                     f->weight[1]);
}

static bool known(const char *name)
{
    return strcmp(name, "orders") == 0 || strcmp(name, "slow") == 0;
}

static void op_services(void *ctx, bg_admin_req_t *req)
{
    fx_t *f = ctx;
    bg_admin_respond_json(req, 200, json_pack("{s:[o]}", "services", fake_service(f, "orders")));
}

static void op_service(void *ctx, bg_admin_req_t *req, const char *name)
{
    if (!known(name)) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' not found", name);
        return;
    }
    bg_admin_respond_json(req, 200, fake_service(ctx, name));
}

static void on_defer(uv_timer_t *t)
{
    fx_t *f = t->data;
    bg_admin_req_t *req = f->deferred;

    f->deferred = NULL;
    bg_admin_respond_json(req, 200,
                          json_pack("{s:s,s:{s:i,s:i},s:i,s:f}", "service", "orders", "traffic",
                                    "blue", f->weight[0], "green", f->weight[1], "generation",
                                    (int)f->traffic_calls + 1, "switch_ms", 0.5));
}

static void op_traffic(void *ctx, bg_admin_req_t *req, const char *name, uint32_t blue,
                       uint32_t green)
{
    fx_t *f = ctx;

    if (!known(name)) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' not found", name);
        return;
    }
    f->traffic_calls++;
    f->weight[0] = blue;
    f->weight[1] = green;
    if (strcmp(name, "slow") == 0) {
        f->never = req;
        return;
    }
    /* Answer later, as the server does after every worker adopted the change. */
    f->deferred = req;
    uv_timer_start(&f->defer_timer, on_defer, 20, 0);
}

static void op_target_add(void *ctx, bg_admin_req_t *req, const char *name, bg_slot_t slot,
                          const char *address)
{
    fx_t *f = ctx;

    if (!known(name)) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' not found", name);
        return;
    }
    if (strchr(address, ':') == NULL) {
        bg_admin_respond_errorf(req, BG_EINVAL, "bad address '%s'", address);
        return;
    }
    f->add_calls++;
    bg_admin_respond_json(req, 201,
                          json_pack("{s:i,s:s,s:s,s:b}", "id", 7, "slot", bg_slot_str(slot),
                                    "address", address, "healthy", 0));
}

static void op_target_remove(void *ctx, bg_admin_req_t *req, const char *name, uint64_t id)
{
    fx_t *f = ctx;

    if (!known(name) || id != 7) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "target %llu not found", (unsigned long long)id);
        return;
    }
    f->remove_calls++;
    bg_admin_respond_json(req, 200, json_pack("{s:{s:i}}", "deregistered", "id", 7));
}

static void op_metrics(void *ctx, bg_buf_t *out)
{
    bg_buf_puts(out, "# HELP bluegreen_test a test\n# TYPE bluegreen_test gauge\n"
                     "bluegreen_test 1\n");
}

static void on_held_tick(uv_timer_t *t)
{
    fx_t *f = t->data;

    if (f->held == NULL)
        return;
    if (!bg_admin_stream_write(f->held, ": tick\n\n", 8)) {
        bg_admin_stream_end(f->held);
        f->held = NULL;
        f->held_failed = 1;
        uv_timer_stop(t);
    }
}

/* Routes added from outside the admin module (ops.other). */
static void op_other(void *ctx, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    fx_t *f = ctx;

    if (strcmp(http->path, "/v1/echo") == 0) {
        const char *x = bg_admin_req_header(req, "x-test");
        char *text = bg_asprintf("%s %s?%s x-test=%s body=%s", http->method, http->path,
                                 http->query, x ? x : "(none)", http->body);
        bg_admin_respond_text(req, 200, "text/plain", text, strlen(text));
        free(text);
    } else if (strcmp(http->path, "/v1/stream") == 0) {
        bg_admin_stream_begin(req, 200, "text/event-stream");
        cr_assert(bg_admin_stream_write(req, "data: 1\n\n", 9));
        cr_assert(bg_admin_stream_write(req, "data: 2\n\n", 9));
        bg_admin_stream_end(req);
    } else if (strcmp(http->path, "/v1/stream-hold") == 0 && f->held == NULL) {
        bg_admin_stream_begin(req, 200, "text/event-stream");
        bg_admin_stream_write(req, "data: hello\n\n", 13);
        f->held = req;
        uv_timer_start(&f->held_timer, on_held_tick, 20, 20);
    } else {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no such endpoint");
    }
}

static const bg_admin_ops_t fake_ops = {
    .services = op_services,
    .service = op_service,
    .traffic = op_traffic,
    .target_add = op_target_add,
    .target_remove = op_target_remove,
    .metrics = op_metrics,
    .other = op_other,
};

/* ---- loop thread ---- */

static void on_admin_stopped(void *arg)
{
    fx_t *f = arg;
    f->stopped = true;
}

static void on_stop(uv_async_t *h)
{
    fx_t *f = h->data;

    bg_admin_stop(f->admin, on_admin_stopped, f);
    /* Requests still waiting are answered after the stop: the answers are dropped. */
    if (f->never != NULL)
        bg_admin_respond_errorf(f->never, BG_EUNAVAIL, "shutting down");
    f->never = NULL;
    if (f->deferred != NULL)
        bg_admin_respond_errorf(f->deferred, BG_EUNAVAIL, "shutting down");
    f->deferred = NULL;
    uv_close((uv_handle_t *)&f->stop_async, NULL);
    uv_close((uv_handle_t *)&f->defer_timer, NULL);
    if (f->held != NULL) {
        /* Stopped admin: the stream is detached, writing says so. */
        if (!bg_admin_stream_write(f->held, "x", 1))
            f->held_failed = 1;
        bg_admin_stream_end(f->held);
        f->held = NULL;
    }
    uv_close((uv_handle_t *)&f->held_timer, NULL);
}

static void *loop_main(void *arg)
{
    fx_t *f = arg;
    uv_run(&f->loop, UV_RUN_DEFAULT);
    return NULL;
}

void fx_start(fx_t *f, const char *endpoint, const char *token)
{
    fx_start_limits(f, endpoint, token, 0, 0);
}

void fx_start_limits(fx_t *f, const char *endpoint, const char *token, uint32_t idle_ms,
                     uint32_t max_conns)
{
    bg_admin_options_t opts = {.token = token,
                               .ops = &fake_ops,
                               .ctx = f,
                               .idle_timeout_ms = idle_ms,
                               .max_conns = max_conns};
    char *ep = NULL;
    bg_err_t err;

    memset(f, 0, sizeof(*f));
    signal(SIGPIPE, SIG_IGN); /* a client that left must not kill the test */
    f->weight[0] = 100;
    cr_assert_eq(uv_loop_init(&f->loop), 0);
    uv_async_init(&f->loop, &f->stop_async, on_stop);
    f->stop_async.data = f;
    uv_timer_init(&f->loop, &f->defer_timer);
    f->defer_timer.data = f;
    uv_timer_init(&f->loop, &f->held_timer);
    f->held_timer.data = f;
    if (strcmp(endpoint, "unix") == 0) {
        f->dir = bg_asprintf("/tmp/bgt-admin-XXXXXX");
        cr_assert_not_null(mkdtemp(f->dir));
        f->sock_path = bg_asprintf("%s/state/bluegreen.sock", f->dir);
        ep = bg_asprintf("unix:%s", f->sock_path);
    } else {
        ep = bg_strdup(endpoint);
    }
    opts.endpoint = ep;
    f->admin = bg_admin_new(&f->loop, &opts, &err);
    cr_assert_not_null(f->admin, "bg_admin_new: %s", err.msg);
    cr_assert_eq(bg_admin_start(f->admin, &err), 0, "bg_admin_start: %s", err.msg);
    free(ep);
    cr_assert_eq(pthread_create(&f->thread, NULL, loop_main, f), 0);
}

void fx_stop(fx_t *f)
{
    uv_async_send(&f->stop_async);
    pthread_join(f->thread, NULL);
    cr_assert(f->stopped, "admin stop callback did not run");
    bg_admin_free(f->admin);
    cr_assert_eq(uv_loop_close(&f->loop), 0, "handles left on the loop");
    free(f->sock_path);
    free(f->dir);
}

bool fx_call(fx_t *f, const char *method, const char *path, const char *body,
             const char *extra_headers, cresp_t *out)
{
    int port = bg_admin_port(f->admin);
    return cl_call(port > 0 ? NULL : f->sock_path, port, method, path, body, extra_headers, out);
}
