/* Admin routes over a real Unix socket and over TCP: auth, every route, every error code,
 * deferred answers, and that a bad request never reaches the model.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "fixture.h"

static fx_t fx;

static void assert_still_serving_routes(void);

static json_t *body_json(const cresp_t *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    cr_assert_not_null(j, "body is not JSON: %s", r->body);
    return j;
}

/* Asserts <r> is a JSON error with <status> and <code>. */
static void expect_error(const cresp_t *r, int status, const char *code)
{
    char ct[128];
    json_t *j;

    cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
    cr_assert(cresp_header(r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/json");
    j = body_json(r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code);
    cr_assert_not_null(json_string_value(json_object_get(json_object_get(j, "error"), "message")));
    json_decref(j);
}

Test(admin_unix, socket_mode_0600_and_health, .timeout = 20)
{
    struct stat st;
    cresp_t r;
    json_t *j;

    fx_start(&fx, "unix", NULL);
    cr_assert_eq(stat(fx.sock_path, &st), 0);
    cr_assert(S_ISSOCK(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0600, "mode %o", st.st_mode & 0777);
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, NULL, &r));
    cr_assert_eq(r.status, 200);
    j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "ok");
    cr_assert_str_eq(json_string_value(json_object_get(j, "version")), BG_VERSION);
    cr_assert(json_is_integer(json_object_get(j, "uptime_ms")));
    json_decref(j);
    cresp_fini(&r);
    fx_stop(&fx);
    cr_assert_neq(access(fx.sock_path ? fx.sock_path : "/nonexistent", F_OK), 0,
                  "socket file left behind");
}

Test(admin_unix, services_and_service, .timeout = 20)
{
    cresp_t r;
    json_t *j;

    fx_start(&fx, "unix", NULL);
    cr_assert(fx_call(&fx, "GET", "/v1/services", NULL, NULL, &r));
    cr_assert_eq(r.status, 200);
    j = body_json(&r);
    cr_assert_eq(json_array_size(json_object_get(j, "services")), 1);
    json_decref(j);
    cresp_fini(&r);

    cr_assert(fx_call(&fx, "GET", "/v1/services/orders", NULL, NULL, &r));
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/v1/services/orders/", NULL, NULL, &r));
    cr_assert_eq(r.status, 200, "trailing slash");
    cresp_fini(&r);

    cr_assert(fx_call(&fx, "GET", "/v1/services/nope", NULL, NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/v2/whatever", NULL, NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    fx_stop(&fx);
}

Test(admin_unix, traffic_answers_after_the_op_confirms, .timeout = 20)
{
    cresp_t r;
    json_t *j;

    fx_start(&fx, "unix", NULL);
    cr_assert(fx_call(&fx, "PUT", "/v1/services/orders/traffic", "{\"blue\":30,\"green\":70}",
                      "Content-Type: application/json\r\n", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = body_json(&r);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "traffic"), "green")), 70);
    cr_assert(json_is_number(json_object_get(j, "switch_ms")));
    json_decref(j);
    cresp_fini(&r);
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 1);
    cr_assert_eq(fx.weight[0], 30);
}

Test(admin_unix, bad_traffic_requests_change_nothing, .timeout = 30)
{
    static const struct {
        const char *body;
        int status;
        const char *code;
    } cases[] = {
        {"{\"blue\":50,\"green\":60}", 400, "bad_request"}, /* sum 110 */
        {"{\"blue\":50}", 400, "bad_request"},              /* green missing */
        {"{\"blue\":-10,\"green\":110}", 400, "bad_request"},
        {"{\"blue\":\"50\",\"green\":50}", 400, "bad_request"},
        {"{\"blue\":50,\"green\":50,\"red\":0}", 400, "bad_request"},
        {"{\"blue\":50,\"green\":50,\"blue\":50}", 400, "bad_request"}, /* duplicate key */
        {"{\"blue\":50,", 400, "bad_request"},                          /* bad JSON */
        {"[50,50]", 400, "bad_request"},
        {"", 400, "bad_request"},
        {"{\"blue\":50.5,\"green\":49.5}", 400, "bad_request"},
    };
    cresp_t r;

    fx_start(&fx, "unix", NULL);
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        cr_assert(fx_call(&fx, "PUT", "/v1/services/orders/traffic", cases[i].body, NULL, &r));
        expect_error(&r, cases[i].status, cases[i].code);
        cresp_fini(&r);
    }
    cr_assert(
        fx_call(&fx, "PUT", "/v1/services/nope/traffic", "{\"blue\":0,\"green\":100}", NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "POST", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}",
                      NULL, &r));
    expect_error(&r, 405, "method_not_allowed");
    {
        char allow[32];
        cr_assert(cresp_header(&r, "Allow", allow, sizeof(allow)));
        cr_assert_str_eq(allow, "PUT");
    }
    cresp_fini(&r);
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 0, "a bad request reached the model");
    cr_assert_eq(fx.weight[0], 100);
}

Test(admin_unix, targets_register_and_deregister, .timeout = 20)
{
    cresp_t r;
    json_t *j;

    fx_start(&fx, "unix", NULL);
    cr_assert(fx_call(&fx, "POST", "/v1/services/orders/targets",
                      "{\"slot\":\"green\",\"address\":\"127.0.0.1:9002\"}", NULL, &r));
    cr_assert_eq(r.status, 201, "%s", r.body);
    j = body_json(&r);
    cr_assert_str_eq(json_string_value(json_object_get(j, "slot")), "green");
    json_decref(j);
    cresp_fini(&r);

    cr_assert(fx_call(&fx, "POST", "/v1/services/orders/targets",
                      "{\"slot\":\"purple\",\"address\":\"127.0.0.1:9002\"}", NULL, &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "POST", "/v1/services/orders/targets", "{\"slot\":\"blue\"}", NULL, &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "POST", "/v1/services/orders/targets",
                      "{\"slot\":\"blue\",\"address\":\"nonsense\"}", NULL, &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);

    cr_assert(fx_call(&fx, "DELETE", "/v1/services/orders/targets/abc", NULL, NULL, &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "DELETE", "/v1/services/orders/targets/0", NULL, NULL, &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "DELETE", "/v1/services/orders/targets/99", NULL, NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "DELETE", "/v1/services/orders/targets/7", NULL, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    fx_stop(&fx);
    cr_assert_eq(fx.add_calls, 1);
    cr_assert_eq(fx.remove_calls, 1);
}

Test(admin_unix, metrics_is_prometheus_text, .timeout = 20)
{
    cresp_t r;
    char ct[128];

    fx_start(&fx, "unix", NULL);
    cr_assert(fx_call(&fx, "GET", "/metrics", NULL, NULL, &r));
    cr_assert_eq(r.status, 200);
    cr_assert(cresp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert(strstr(ct, "text/plain; version=0.0.4") == ct, "%s", ct);
    cr_assert(strstr(r.body, "bluegreen_test 1\n") != NULL);
    cresp_fini(&r);
    fx_stop(&fx);
}

Test(admin_unix, pending_answer_after_stop_is_dropped, .timeout = 20)
{
    int fd;
    const char *raw = "PUT /v1/services/slow/traffic HTTP/1.1\r\nHost: x\r\n"
                      "Content-Length: 22\r\n\r\n{\"blue\":0,\"green\":100}";

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, raw, strlen(raw)), (ssize_t)strlen(raw));
    cr_assert(fx_wait_count(&fx.traffic_calls, 1));
    /* The op holds the request; stopping closes the connection without an answer. */
    fx_stop(&fx);
    cr_assert(cl_closed(fd));
    close(fd);
    cr_assert_eq(fx.traffic_calls, 1);
}

Test(admin_unix, stale_socket_is_replaced_live_one_is_not, .timeout = 20)
{
    bg_admin_t *a;
    bg_err_t err;
    uv_loop_t loop;
    char *ep;
    bg_admin_ops_t ops = {0};

    fx_start(&fx, "unix", NULL);
    /* A second admin on the same live socket must refuse. */
    uv_loop_init(&loop);
    ep = bg_asprintf("unix:%s", fx.sock_path);
    a = bg_admin_new(&loop, &(bg_admin_options_t){.endpoint = ep, .ops = &ops}, &err);
    cr_assert_not_null(a);
    cr_assert_eq(bg_admin_start(a, &err), BG_EEXIST, "%s", err.msg);
    cr_assert(strstr(err.msg, "another process") != NULL, "%s", err.msg);
    bg_admin_stop(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    bg_admin_free(a);
    cr_assert_eq(uv_loop_close(&loop), 0);
    free(ep);
    fx_stop(&fx);
}

Test(admin_unix, not_a_socket_is_left_alone, .timeout = 20)
{
    char *dir = bg_asprintf("/tmp/bgt-admin-XXXXXX");
    char *path, *ep;
    FILE *fp;
    bg_admin_t *a;
    bg_err_t err;
    uv_loop_t loop;
    bg_admin_ops_t ops = {0};

    cr_assert_not_null(mkdtemp(dir));
    path = bg_asprintf("%s/bluegreen.sock", dir);
    fp = fopen(path, "w");
    cr_assert_not_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    uv_loop_init(&loop);
    ep = bg_asprintf("unix:%s", path);
    a = bg_admin_new(&loop, &(bg_admin_options_t){.endpoint = ep, .ops = &ops}, &err);
    cr_assert_eq(bg_admin_start(a, &err), BG_EEXIST);
    bg_admin_stop(a, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    bg_admin_free(a);
    cr_assert_eq(uv_loop_close(&loop), 0);
    cr_assert_eq(access(path, F_OK), 0, "a regular file was removed");
    free(ep);
    free(path);
    free(dir);
}

Test(admin_new, tcp_without_token_is_refused)
{
    uv_loop_t loop;
    bg_err_t err;
    bg_admin_ops_t ops = {0};

    uv_loop_init(&loop);
    cr_assert_null(bg_admin_new(
        &loop, &(bg_admin_options_t){.endpoint = "http://127.0.0.1:0", .ops = &ops}, &err));
    cr_assert(strstr(err.msg, "admin_token") != NULL, "%s", err.msg);
    cr_assert_null(bg_admin_new(
        &loop, &(bg_admin_options_t){.endpoint = "ftp://x", .token = "t", .ops = &ops}, &err));
    cr_assert_null(bg_admin_new(
        &loop, &(bg_admin_options_t){.endpoint = "http://127.0.0.1", .token = "t", .ops = &ops},
        &err));
    cr_assert_eq(uv_loop_close(&loop), 0);
}

Test(admin_tcp, bearer_token_required, .timeout = 20)
{
    cresp_t r;

    fx_start(&fx, "http://127.0.0.1:0", "s3cret-token");
    cr_assert_gt(bg_admin_port(fx.admin), 0);
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    {
        char www[64];
        cr_assert(cresp_header(&r, "WWW-Authenticate", www, sizeof(www)));
    }
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, "Authorization: Bearer wrong\r\n", &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, "Authorization: Bearer s3cret-toke\r\n", &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/metrics", NULL, "Authorization: Basic czNjcmV0\r\n", &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    /* Unauthorized writes change nothing. */
    cr_assert(
        fx_call(&fx, "PUT", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}", NULL, &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);

    cr_assert(
        fx_call(&fx, "GET", "/v1/health", NULL, "Authorization: Bearer s3cret-token\r\n", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "PUT", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}",
                      "authorization: bearer s3cret-token\r\n", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    fx_stop(&fx);
    cr_assert_eq(fx.traffic_calls, 1);
}

Test(admin_error, one_table)
{
    const char *code;

    cr_assert_eq(bg_admin_error_status(BG_EINVAL, &code), 400);
    cr_assert_str_eq(code, "bad_request");
    cr_assert_eq(bg_admin_error_status(BG_ENOTFOUND, &code), 404);
    cr_assert_str_eq(code, "not_found");
    cr_assert_eq(bg_admin_error_status(BG_ECONFLICT, &code), 409);
    cr_assert_str_eq(code, "conflict");
    cr_assert_eq(bg_admin_error_status(UV_EACCES, &code), 401);
    cr_assert_str_eq(code, "unauthorized");
    cr_assert_eq(bg_admin_error_status(UV_ENOTSUP, &code), 405);
    cr_assert_str_eq(code, "method_not_allowed");
    cr_assert_eq(bg_admin_error_status(UV_E2BIG, &code), 413);
    cr_assert_str_eq(code, "too_large");
    cr_assert_eq(bg_admin_error_status(BG_EIO, &code), 500);
    cr_assert_str_eq(code, "internal");
    cr_assert_eq(bg_admin_error_status(-12345, &code), 500);
}

Test(admin_other, routes_from_other_modules, .timeout = 20)
{
    cresp_t r;
    char ct[64];

    fx_start(&fx, "unix", NULL);
    cr_assert(fx_call(&fx, "POST", "/v1/echo?limit=3&x=y", "hello", "X-Test: 42\r\n", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(cresp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "text/plain");
    cr_assert_str_eq(r.body, "POST /v1/echo?limit=3&x=y x-test=42 body=hello");
    cresp_fini(&r);
    /* Built-in service routes still win; unknown ones reach ops.other (here: 404). */
    cr_assert(fx_call(&fx, "GET", "/v1/services/orders", NULL, NULL, &r));
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);
    cr_assert(fx_call(&fx, "GET", "/v1/services/orders/deployments", NULL, NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    fx_stop(&fx);
}

Test(admin_other, tcp_other_routes_need_the_token_too, .timeout = 20)
{
    cresp_t r;

    fx_start(&fx, "http://127.0.0.1:0", "tok");
    cr_assert(fx_call(&fx, "GET", "/v1/echo", NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    fx_stop(&fx);
}

/* Reads everything until the server closes. */
static char *read_to_close(int fd)
{
    bg_buf_t b;
    char chunk[4096];
    ssize_t n;

    bg_buf_init(&b);
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        bg_buf_append(&b, chunk, (size_t)n);
    return bg_buf_steal(&b);
}

Test(admin_other, stream_answers, .timeout = 20)
{
    const char *req = "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    char *all, *body;
    int fd;

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    all = read_to_close(fd);
    close(fd);
    cr_assert(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", all);
    cr_assert(strstr(all, "Content-Type: text/event-stream\r\n") != NULL, "%s", all);
    cr_assert(strstr(all, "Content-Length") == NULL);
    body = strstr(all, "\r\n\r\n");
    cr_assert_not_null(body);
    cr_assert_str_eq(body + 4, "data: 1\n\ndata: 2\n\n");
    free(all);
    fx_stop(&fx);
}

Test(admin_other, stream_notices_the_client_leaving, .timeout = 20)
{
    const char *req = "GET /v1/stream-hold HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[256];
    ssize_t n;
    size_t got = 0;
    int fd;

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "data: hello\n\n") != NULL)
            break;
    }
    cr_assert(strstr(buf, "data: hello\n\n") != NULL, "%s", buf);
    close(fd);
    cr_assert(fx_wait_count(&fx.held_failed, 1), "writes to a gone client kept succeeding");
    assert_still_serving_routes();
    fx_stop(&fx);
}

Test(admin_other, stream_detached_at_stop, .timeout = 20)
{
    const char *req = "GET /v1/stream-hold HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd;
    char c;

    fx_start(&fx, "unix", NULL);
    fd = cl_connect_unix(fx.sock_path);
    cr_assert_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    cr_assert_eq(read(fd, &c, 1), 1); /* the stream started */
    fx_stop(&fx);
    cr_assert_eq(fx.held_failed, 1);
    cr_assert(cl_closed(fd));
    close(fd);
}

static void assert_still_serving_routes(void)
{
    cresp_t r;
    cr_assert(fx_call(&fx, "GET", "/v1/health", NULL, NULL, &r), "admin stopped serving");
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);
}
