/* The admin API against the real server: proxy workers, health checks and fake backends on
 * loopback. A traffic switch answers only after every worker adopted it (so the very next
 * request sees it), registered targets get traffic only once healthy, deregistered ones
 * none at all, bad requests change nothing, and /metrics counts what was sent.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "server_fixture.h"
#include "unit/metrics/promparse.h"

static sfx_t f;

static json_t *ok_json(const cresp_t *r, int status)
{
    json_t *j;
    cr_assert_eq(r->status, status, "status %d: %s", r->status, r->body);
    j = json_loads(r->body, 0, NULL);
    cr_assert_not_null(j, "%s", r->body);
    return j;
}

static void expect_error(const cresp_t *r, int status, const char *code)
{
    json_t *j = ok_json(r, status);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code,
                     "%s", r->body);
    json_decref(j);
}

/* Sends <n> requests; all must come from backend <want>. */
static void expect_all_from(int want, int n)
{
    for (int i = 0; i < n; i++) {
        int status;
        int who = sfx_get(&f, "/x", &status);
        cr_assert_eq(who, want, "request %d answered by %d (status %d), want %d", i, who, status,
                     want);
    }
}

static void put_traffic(int blue, int green, cresp_t *r)
{
    char body[64];
    snprintf(body, sizeof(body), "{\"blue\":%d,\"green\":%d}", blue, green);
    cr_assert(sfx_admin(&f, "PUT", "/v1/services/orders/traffic", body, r));
}

Test(server_admin, services_describe_the_model, .timeout = 60)
{
    cresp_t r;
    json_t *j, *svc, *blue_t;
    struct stat st;

    sfx_start(&f, NULL);
    cr_assert_eq(stat(f.sock, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    cr_assert(sfx_admin(&f, "GET", "/v1/services", NULL, &r));
    j = ok_json(&r, 200);
    cr_assert_eq(json_array_size(json_object_get(j, "services")), 1);
    svc = json_array_get(json_object_get(j, "services"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(svc, "name")), "orders");
    cr_assert_str_eq(json_string_value(json_object_get(svc, "host")), "orders.local");
    cr_assert_str_eq(json_string_value(json_object_get(svc, "driver")), "static");
    cr_assert_str_eq(json_string_value(json_object_get(svc, "live_slot")), "blue");
    cr_assert_str_eq(json_string_value(json_object_get(svc, "preview_slot")), "green");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(svc, "traffic"), "blue")), 100);
    blue_t = json_array_get(
        json_object_get(json_object_get(json_object_get(svc, "slots"), "blue"), "targets"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(blue_t, "address")), sfx_addr(&f, SFX_BLUE));
    cr_assert(json_is_true(json_object_get(blue_t, "healthy")), "config targets start healthy");
    cr_assert(json_is_false(json_object_get(blue_t, "draining")));
    cr_assert(json_is_integer(json_object_get(blue_t, "id")));
    cr_assert(json_is_object(json_object_get(blue_t, "health")));
    cr_assert(json_is_object(json_object_get(blue_t, "requests")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(svc, "health"), "path")),
                     "/healthz");
    json_decref(j);
    cresp_fini(&r);

    cr_assert(sfx_admin(&f, "GET", "/v1/services/nope", NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    sfx_stop(&f);
}

Test(server_admin, traffic_switch_is_verified, .timeout = 60)
{
    cresp_t r;
    json_t *j;

    sfx_start(&f, NULL);
    expect_all_from(SFX_BLUE, 20);

    put_traffic(0, 100, &r);
    j = ok_json(&r, 200);
    cr_assert_str_eq(json_string_value(json_object_get(j, "service")), "orders");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "traffic"), "green")), 100);
    cr_assert_geq(json_integer_value(json_object_get(j, "generation")), 2);
    cr_assert(json_is_number(json_object_get(j, "switch_ms")));
    cr_assert_geq(json_number_value(json_object_get(j, "switch_ms")), 0.0);
    cr_assert_lt(json_number_value(json_object_get(j, "switch_ms")), 10000.0);
    json_decref(j);
    cresp_fini(&r);
    /* Answered after adoption: not one request may still reach blue. */
    expect_all_from(SFX_GREEN, 40);

    put_traffic(100, 0, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    expect_all_from(SFX_BLUE, 40);
    sfx_stop(&f);
}

Test(server_admin, split_traffic_reaches_both_slots, .timeout = 60)
{
    cresp_t r;
    int count[3] = {0};

    sfx_start(&f, NULL);
    put_traffic(50, 50, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    for (int i = 0; i < 200; i++) {
        int who = sfx_get(&f, "/x", NULL);
        cr_assert_geq(who, 0);
        count[who]++;
    }
    /* 50/50 over 200 requests: both far from zero (P(<40) is about 1e-18). */
    cr_assert_gt(count[SFX_BLUE], 40, "blue %d", count[SFX_BLUE]);
    cr_assert_gt(count[SFX_GREEN], 40, "green %d", count[SFX_GREEN]);
    sfx_stop(&f);
}

Test(server_admin, bad_requests_change_nothing, .timeout = 60)
{
    static const char *const bodies[] = {
        "{\"blue\":60,\"green\":60}",
        "{\"blue\":0}",
        "not json",
        "{\"blue\":0,\"green\":100,\"x\":1}",
    };
    cresp_t r;
    json_t *before, *after;
    char *b1, *b2;

    sfx_start(&f, NULL);
    before = sfx_service_json(&f);
    for (size_t i = 0; i < BG_ARRAY_LEN(bodies); i++) {
        cr_assert(sfx_admin(&f, "PUT", "/v1/services/orders/traffic", bodies[i], &r));
        expect_error(&r, 400, "bad_request");
        cresp_fini(&r);
    }
    put_traffic(0, 100, &r); /* valid weights, unknown service below */
    cresp_fini(&r);
    put_traffic(100, 0, &r);
    cresp_fini(&r);
    cr_assert(sfx_admin(&f, "PUT", "/v1/services/ghost/traffic", "{\"blue\":0,\"green\":100}", &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    cr_assert(sfx_admin(&f, "POST", "/v1/services/orders/targets",
                        "{\"slot\":\"green\",\"address\":\"127.0.0.1:notaport\"}", &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    cr_assert(sfx_admin(&f, "POST", "/v1/services/orders/targets",
                        "{\"slot\":\"green\",\"address\":\"999.1.1.1:80\"}", &r));
    expect_error(&r, 400, "bad_request");
    cresp_fini(&r);
    {
        char body[128];
        snprintf(body, sizeof(body), "{\"slot\":\"blue\",\"address\":\"%s\"}",
                 sfx_addr(&f, SFX_BLUE));
        cr_assert(sfx_admin(&f, "POST", "/v1/services/orders/targets", body, &r));
        expect_error(&r, 409, "conflict");
        cresp_fini(&r);
    }
    cr_assert(sfx_admin(&f, "DELETE", "/v1/services/orders/targets/999999", NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    cr_assert(sfx_admin(&f, "DELETE", "/v1/services/orders", NULL, &r));
    expect_error(&r, 405, "method_not_allowed");
    cresp_fini(&r);

    after = sfx_service_json(&f);
    /* Compare what a bad request could have touched: traffic and the target lists. */
    b1 = json_dumps(json_object_get(before, "traffic"), JSON_SORT_KEYS);
    b2 = json_dumps(json_object_get(after, "traffic"), JSON_SORT_KEYS);
    cr_assert_str_eq(b1, b2);
    free(b1);
    free(b2);
    for (int s = 0; s < 2; s++) {
        const char *slot = s ? "green" : "blue";
        json_t *tb =
            json_object_get(json_object_get(json_object_get(before, "slots"), slot), "targets");
        json_t *ta =
            json_object_get(json_object_get(json_object_get(after, "slots"), slot), "targets");
        cr_assert_eq(json_array_size(tb), json_array_size(ta), "slot %s", slot);
    }
    json_decref(before);
    json_decref(after);
    expect_all_from(SFX_BLUE, 10);
    sfx_stop(&f);
}

Test(server_admin, register_and_deregister_targets, .timeout = 60)
{
    cresp_t r;
    json_t *j;
    char body[128], path[128];
    json_int_t id;
    unsigned hits;

    sfx_start(&f, &(sfx_opts_t){.green_weight = 100});
    expect_all_from(SFX_GREEN, 5);

    snprintf(body, sizeof(body), "{\"slot\":\"green\",\"address\":\"%s\"}",
             sfx_addr(&f, SFX_EXTRA));
    cr_assert(sfx_admin(&f, "POST", "/v1/services/orders/targets", body, &r));
    j = ok_json(&r, 201);
    cr_assert(json_is_false(json_object_get(j, "healthy")), "registered targets start unhealthy");
    cr_assert_str_eq(json_string_value(json_object_get(j, "slot")), "green");
    id = json_integer_value(json_object_get(j, "id"));
    cr_assert_gt(id, 0);
    json_decref(j);
    cresp_fini(&r);

    cr_assert(sfx_wait_healthy(&f, sfx_addr(&f, SFX_EXTRA), true, 10000),
              "registered target never became healthy");
    /* Now both green targets serve. */
    for (int i = 0; i < 200 && atomic_load(&f.be[SFX_EXTRA].hits) == 0; i++)
        cr_assert_geq(sfx_get(&f, "/x", NULL), SFX_GREEN);
    cr_assert_gt(atomic_load(&f.be[SFX_EXTRA].hits), 0, "registered target got no traffic");

    snprintf(path, sizeof(path), "/v1/services/orders/targets/%lld", (long long)id);
    cr_assert(sfx_admin(&f, "DELETE", path, NULL, &r));
    j = ok_json(&r, 200);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "deregistered"), "id")), id);
    cr_assert(json_is_true(json_object_get(json_object_get(j, "deregistered"), "draining")));
    json_decref(j);
    cresp_fini(&r);
    hits = atomic_load(&f.be[SFX_EXTRA].hits);
    expect_all_from(SFX_GREEN, 40);
    cr_assert_eq(atomic_load(&f.be[SFX_EXTRA].hits), hits, "deregistered target got traffic");

    j = sfx_service_json(&f);
    cr_assert_eq(json_array_size(json_object_get(
                     json_object_get(json_object_get(j, "slots"), "green"), "targets")),
                 1);
    json_decref(j);
    cr_assert(sfx_admin(&f, "DELETE", path, NULL, &r));
    expect_error(&r, 404, "not_found");
    cresp_fini(&r);
    sfx_stop(&f);
}

Test(server_admin, health_transitions_show_and_route, .timeout = 60)
{
    json_t *j, *t;
    int status;

    sfx_start(&f, NULL);
    atomic_store(&f.be[SFX_BLUE].fail_health, 1);
    cr_assert(sfx_wait_healthy(&f, sfx_addr(&f, SFX_BLUE), false, 10000));
    j = sfx_service_json(&f);
    t = json_array_get(
        json_object_get(json_object_get(json_object_get(j, "slots"), "blue"), "targets"), 0);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(t, "health"), "last_status")),
                 503);
    cr_assert_geq(
        json_integer_value(json_object_get(json_object_get(t, "health"), "consecutive_fail")), 2);
    json_decref(j);
    /* The only blue target is down and blue has 100%: no healthy target -> 503. */
    cr_assert_eq(sfx_get(&f, "/x", &status), -1);
    cr_assert_eq(status, 503);

    atomic_store(&f.be[SFX_BLUE].fail_health, 0);
    cr_assert(sfx_wait_healthy(&f, sfx_addr(&f, SFX_BLUE), true, 10000));
    expect_all_from(SFX_BLUE, 5);
    sfx_stop(&f);
}

static double metric(const prom_t *p, const char *name, const char *labels)
{
    bool found;
    double v = prom_get(p, name, labels, &found);
    cr_assert(found, "missing %s{%s}", name, labels);
    return v;
}

Test(server_admin, metrics_count_proxied_requests, .timeout = 60)
{
    cresp_t r;
    prom_t p;
    char labels[256];
    const int n = 25;

    sfx_start(&f, NULL);
    expect_all_from(SFX_BLUE, n);
    cr_assert(sfx_admin(&f, "GET", "/metrics", NULL, &r));
    cr_assert_eq(r.status, 200);
    cr_assert(prom_parse(r.body, &p), "%s\n%s", p.err, r.body);
    cr_assert_eq(metric(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=0.0.0,class=2xx"), n);
    cr_assert_eq(metric(&p, "bluegreen_requests_total", "service=orders,slot=green,version=,class=2xx"), 0);
    cr_assert_eq(metric(&p, "bluegreen_request_duration_seconds_count", "service=orders,slot=blue,version=0.0.0"),
                 n);
    cr_assert_eq(
        metric(&p, "bluegreen_request_duration_seconds_bucket", "service=orders,slot=blue,version=0.0.0,le=+Inf"),
        n);
    cr_assert_gt(metric(&p, "bluegreen_request_duration_seconds_sum", "service=orders,slot=blue,version=0.0.0"),
                 0);
    cr_assert_gt(metric(&p, "bluegreen_bytes_total", "service=orders,slot=blue,version=0.0.0,direction=out"), 0);
    cr_assert_eq(metric(&p, "bluegreen_slot_weight_ratio", "service=orders,slot=blue,version=0.0.0"), 1);
    snprintf(labels, sizeof(labels), "service=orders,slot=blue,version=0.0.0,target=%s", sfx_addr(&f, SFX_BLUE));
    cr_assert_eq(metric(&p, "bluegreen_target_up", labels), 1);
    snprintf(labels, sizeof(labels), "service=orders,slot=blue,version=0.0.0,target=%s,class=2xx",
             sfx_addr(&f, SFX_BLUE));
    cr_assert_eq(metric(&p, "bluegreen_target_requests_total", labels), n);
    cr_assert_geq(metric(&p, "bluegreen_client_connections", ""), 0);
    cr_assert_eq(prom_count(&p, "bluegreen_last_switch_seconds"), 0, "no switch happened yet");
    prom_fini(&p);
    cresp_fini(&r);
    sfx_stop(&f);
}

Test(server_admin, tcp_admin_requires_the_token, .timeout = 60)
{
    cresp_t r;

    sfx_start(&f, &(sfx_opts_t){.tcp_admin = true});
    cr_assert_gt(f.admin_port, 0);
    cr_assert(cl_call(NULL, f.admin_port, "GET", "/v1/services", NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    cr_assert(cl_call(NULL, f.admin_port, "PUT", "/v1/services/orders/traffic",
                      "{\"blue\":0,\"green\":100}", "Authorization: Bearer nope\r\n", &r));
    expect_error(&r, 401, "unauthorized");
    cresp_fini(&r);
    expect_all_from(SFX_BLUE, 5);
    cr_assert(sfx_admin(&f, "GET", "/v1/services", NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    sfx_stop(&f);
}

Test(server_admin, no_traffic_to_an_empty_slot, .timeout = 60)
{
    cresp_t r;
    json_t *svc, *t;
    char path[128];

    sfx_start(&f, NULL);
    svc = sfx_service_json(&f);
    cr_assert(json_is_null(json_object_get(svc, "last_switch")));
    t = json_array_get(
        json_object_get(json_object_get(json_object_get(svc, "slots"), "green"), "targets"), 0);
    snprintf(path, sizeof(path), "/v1/services/orders/targets/%lld",
             (long long)json_integer_value(json_object_get(t, "id")));
    json_decref(svc);
    cr_assert(sfx_admin(&f, "DELETE", path, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);

    put_traffic(10, 90, &r);
    expect_error(&r, 409, "conflict");
    cresp_fini(&r);
    svc = sfx_service_json(&f);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(svc, "traffic"), "blue")), 100);
    cr_assert(json_is_null(json_object_get(svc, "preview_slot")));
    json_decref(svc);
    expect_all_from(SFX_BLUE, 10);

    put_traffic(100, 0, &r); /* weight 0 on the empty slot is fine */
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    svc = sfx_service_json(&f);
    cr_assert(json_is_object(json_object_get(svc, "last_switch")));
    cr_assert(json_is_number(json_object_get(json_object_get(svc, "last_switch"), "switch_ms")));
    json_decref(svc);
    sfx_stop(&f);
}

/* ---- switching under load ---- */

typedef struct load {
    pthread_t thread;
    _Atomic bool stop;
    _Atomic unsigned ok, failed;
    char last_error[256];
} load_t;

static const char keepalive_get[] = "GET /load HTTP/1.1\r\nHost: orders.local\r\n\r\n";

/* Keep-alive requests on one connection (reconnecting only when the proxy closes it). */
static void *load_main(void *arg)
{
    load_t *l = arg;
    int fd = -1;

    while (!atomic_load(&l->stop)) {
        bgt_resp_t r;
        if (fd < 0 && (fd = bgt_connect(f.proxy_port)) < 0) {
            atomic_fetch_add(&l->failed, 1);
            snprintf(l->last_error, sizeof(l->last_error), "connect failed");
            continue;
        }
        memset(&r, 0, sizeof(r));
        if (!bgt_write_all(fd, keepalive_get, sizeof(keepalive_get) - 1) ||
            !bgt_read_response(fd, &r, 5000) || r.status != 200) {
            atomic_fetch_add(&l->failed, 1);
            snprintf(l->last_error, sizeof(l->last_error), "status %d", r.status);
        } else {
            atomic_fetch_add(&l->ok, 1);
        }
        if (r.status == 0 || r.closed) {
            close(fd);
            fd = -1;
        }
        bgt_resp_fini(&r);
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

/* One request on the caller's keep-alive connection <fd>; the backend's index. */
static int keepalive_who(int fd)
{
    bgt_resp_t r;
    int who = -1;

    memset(&r, 0, sizeof(r));
    cr_assert(bgt_write_all(fd, keepalive_get, sizeof(keepalive_get) - 1));
    cr_assert(bgt_read_response(fd, &r, 5000));
    cr_assert_eq(r.status, 200);
    cr_assert_not(r.closed, "the proxy closed a keep-alive connection");
    if (strstr(r.body, "\"backend\":\"blue\"") != NULL)
        who = SFX_BLUE;
    else if (strstr(r.body, "\"backend\":\"green\"") != NULL)
        who = SFX_GREEN;
    bgt_resp_fini(&r);
    return who;
}

Test(server_admin, switching_under_load_drops_nothing, .timeout = 120)
{
    static load_t l;
    int fd;

    sfx_start(&f, NULL);
    fd = bgt_connect(f.proxy_port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(keepalive_who(fd), SFX_BLUE);
    cr_assert_eq(pthread_create(&l.thread, NULL, load_main, &l), 0);
    for (int i = 0; i < 20; i++) {
        int to_green = i % 2 == 0;
        cresp_t r;
        put_traffic(to_green ? 0 : 100, to_green ? 100 : 0, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cresp_fini(&r);
        /* The answer means every worker adopted: the same old connection sees it too. */
        for (int k = 0; k < 5; k++)
            cr_assert_eq(keepalive_who(fd), to_green ? SFX_GREEN : SFX_BLUE, "switch %d", i);
    }
    atomic_store(&l.stop, true);
    pthread_join(l.thread, NULL);
    close(fd);
    cr_assert_gt(atomic_load(&l.ok), 20, "load generator made no progress");
    cr_assert_eq(atomic_load(&l.failed), 0, "%u of %u requests failed during switches (%s)",
                 atomic_load(&l.failed), atomic_load(&l.ok) + atomic_load(&l.failed), l.last_error);
    sfx_stop(&f);
}

Test(server_admin, test_listener_reaches_the_preview_slot, .timeout = 60)
{
    bgt_resp_t r;
    cresp_t a;

    sfx_start(&f, &(sfx_opts_t){.test_listener = true});
    cr_assert_gt(f.test_port, 0);
    cr_assert_neq(f.test_port, f.proxy_port);
    expect_all_from(SFX_BLUE, 5);
    for (int i = 0; i < 5; i++) {
        memset(&r, 0, sizeof(r));
        cr_assert(bgt_http_get(f.test_port, "orders.local", "/x", &r, 5000));
        cr_assert_eq(r.status, 200);
        cr_assert(strstr(r.body, "\"backend\":\"green\"") != NULL, "%s", r.body);
        bgt_resp_fini(&r);
    }
    /* After a switch the old live slot becomes the preview. */
    put_traffic(0, 100, &a);
    cr_assert_eq(a.status, 200, "%s", a.body);
    cresp_fini(&a);
    memset(&r, 0, sizeof(r));
    cr_assert(bgt_http_get(f.test_port, "orders.local", "/x", &r, 5000));
    cr_assert(strstr(r.body, "\"backend\":\"blue\"") != NULL, "%s", r.body);
    bgt_resp_fini(&r);
    sfx_stop(&f);
}

Test(server_admin, unconfirmed_switch_answers_504_and_stays, .timeout = 60)
{
    cresp_t r;
    json_t *svc;

    /* Workers that never confirm (fault point), and a short deadline. */
    sfx_start(&f, &(sfx_opts_t){.switch_timeout_ms = 300});
    bg_fault_arm("server.switch.confirm", 1, true);
    put_traffic(0, 100, &r);
    expect_error(&r, 504, "timeout");
    cresp_fini(&r);
    bg_fault_reset();
    svc = sfx_service_json(&f);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(svc, "traffic"), "green")), 100,
                 "the published change must stay in effect");
    cr_assert(json_is_null(json_object_get(svc, "last_switch")),
              "an unverified switch was recorded");
    json_decref(svc);
    expect_all_from(SFX_GREEN, 5);
    sfx_stop(&f);
}
