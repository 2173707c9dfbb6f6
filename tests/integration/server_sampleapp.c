/* The server in front of real sample-app processes with Actuator health checks: a blue /
 * green switch moves every request to the new version at once, a registered revision whose
 * Actuator health is DOWN never gets traffic (and says why), and gets it once it recovers.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "server_fixture.h"
#include "unit/metrics/promparse.h"

#define HEALTH_YAML                                                                                \
    "{format: actuator, interval: 100ms, timeout: 1s, healthy_threshold: 2, "                      \
    "unhealthy_threshold: 2}"

static sfx_t f;
static pid_t apps[3];
static int app_port[3];
static char app_addr[3][32];

static void start_app(int i, const char *version, const char *slot, bool fail_health)
{
    char port[16];
    char *log = bg_asprintf("/tmp/bgt-sampleapp-%d-%d.log", (int)getpid(), i);
    const char *argv[] = {bgt_bin("sample-app"),
                          "--service",
                          "orders",
                          "--version",
                          version,
                          "--slot",
                          slot,
                          "--port",
                          port,
                          fail_health ? "--fail-health" : NULL,
                          NULL};

    cr_assert_eq(access(argv[0], X_OK), 0, "%s is not built", argv[0]);
    app_port[i] = bgt_free_port();
    snprintf(port, sizeof(port), "%d", app_port[i]);
    snprintf(app_addr[i], sizeof(app_addr[i]), "127.0.0.1:%d", app_port[i]);
    apps[i] = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_port(app_port[i], 10000), "sample-app %s did not listen (%s)", version, log);
    free(log);
}

static void stop_apps(void)
{
    for (int i = 0; i < 3; i++)
        if (apps[i] > 0)
            bgt_stop(apps[i], 5000);
}

static void start_all(void)
{
    start_app(0, "1.0.0", "blue", false);
    start_app(1, "2.0.0", "green", false);
    sfx_start(&f, &(sfx_opts_t){.blue_addr = app_addr[0],
                                .green_addr = app_addr[1],
                                .health_yaml = HEALTH_YAML});
}

Test(server_sampleapp, switch_moves_every_request_to_the_new_version, .timeout = 90)
{
    char v[32];
    cresp_t r;
    prom_t p;
    bool found;

    start_all();
    for (int i = 0; i < 20; i++)
        cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "1.0.0");
    cr_assert(
        sfx_admin(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
    for (int i = 0; i < 20; i++)
        cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "2.0.0", "request %d after switch", i);

    cr_assert(sfx_admin(&f, "GET", "/metrics", NULL, &r));
    cr_assert(prom_parse(r.body, &p), "%s", p.err);
    cr_assert_eq(
        prom_get(&p, "bluegreen_requests_total", "service=orders,slot=blue,version=0.0.0,class=2xx", &found), 20);
    cr_assert_eq(
        prom_get(&p, "bluegreen_requests_total", "service=orders,slot=green,version=,class=2xx", &found),
        20);
    cr_assert_eq(prom_count(&p, "bluegreen_last_switch_seconds"), 1);
    prom_fini(&p);
    cresp_fini(&r);
    sfx_stop(&f);
    stop_apps();
}

Test(server_sampleapp, actuator_down_target_gets_no_traffic_until_it_recovers, .timeout = 90)
{
    char v[32], body[128];
    cresp_t r;
    json_t *svc, *t;
    bgt_resp_t rr;
    bool saw3 = false;

    start_all();
    start_app(2, "3.0.0", "green", true);
    snprintf(body, sizeof(body), "{\"slot\":\"green\",\"address\":\"%s\"}", app_addr[2]);
    cr_assert(sfx_admin(&f, "POST", "/v1/services/orders/targets", body, &r));
    cr_assert_eq(r.status, 201, "%s", r.body);
    cresp_fini(&r);
    cr_assert(
        sfx_admin(&f, "PUT", "/v1/services/orders/traffic", "{\"blue\":0,\"green\":100}", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);

    /* Wait until it has been judged (a failing check recorded), then check the reason. */
    for (int i = 0; i < 200; i++) {
        svc = sfx_service_json(&f);
        t = sfx_find_target(svc, app_addr[2]);
        cr_assert_not_null(t);
        if (json_integer_value(json_object_get(json_object_get(t, "health"), "consecutive_fail")) >=
            2)
            break;
        json_decref(svc);
        svc = NULL;
        usleep(20000);
    }
    cr_assert_not_null(svc, "the DOWN target was never checked");
    cr_assert(json_is_false(json_object_get(t, "healthy")));
    cr_assert_not_null(
        strstr(json_string_value(json_object_get(json_object_get(t, "health"), "reason")),
               "db: DOWN"),
        "%s", json_string_value(json_object_get(json_object_get(t, "health"), "reason")));
    /* The Actuator components as the dashboard shows them, and the body they came from. */
    {
        json_t *comps = json_object_get(json_object_get(t, "health"), "components");
        cr_assert(json_is_object(comps), "no components in the target's health");
        cr_assert_str_eq(json_string_value(json_object_get(comps, "db")), "DOWN");
        cr_assert_not_null(strstr(json_string_value(json_object_get(json_object_get(t, "health"),
                                                                    "last_body")),
                                  "\"components\""));
    }
    json_decref(svc);
    for (int i = 0; i < 30; i++)
        cr_assert_str_eq(sfx_version(&f, v, sizeof(v)), "2.0.0");

    /* It recovers: healthy after healthy_threshold passes, then it serves. */
    memset(&rr, 0, sizeof(rr));
    {
        const char *req = "POST /admin/recover HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                          "Connection: close\r\n\r\n";
        cr_assert(bgt_http_raw(app_port[2], req, strlen(req), &rr, 5000));
    }
    bgt_resp_fini(&rr);
    cr_assert(sfx_wait_healthy(&f, app_addr[2], true, 10000));
    for (int i = 0; i < 200 && !saw3; i++)
        saw3 = strcmp(sfx_version(&f, v, sizeof(v)), "3.0.0") == 0;
    cr_assert(saw3, "the recovered target got no traffic");
    sfx_stop(&f);
    stop_apps();
}
