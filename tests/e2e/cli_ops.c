/* e2e: the operating verbs of the real bluegreen binary against a fake admin endpoint
 * (cli_fake.h): rollback (verified switch, gate refusal and --force, termination wait
 * over), promote/pause/resume/abort, history, events (list, --follow until SIGINT),
 * logs (--follow prints only new bytes), matrix, plan and release. Exit codes 0-3 (4 is
 * covered for every verb in cli_deploy.c).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>

#include "base/base.h"
#include "e2e/cli_fake.h"
#include "e2e/cli_run.h"
#include "support/support.h"

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static char *dep(int id, const char *phase, const char *result, const char *reason, int blue,
                 int green)
{
    return bg_asprintf(
        "{\"id\":%d,\"service\":\"orders\",\"from_revision\":3,\"to_revision\":4,"
        "\"version\":\"2.0.0\",\"slot\":\"green\",\"phase\":\"%s\",\"result\":\"%s\","
        "\"reason\":\"%s\",\"paused\":%s,\"traffic\":{\"blue\":%d,\"green\":%d},"
        "\"strategy\":\"canary: 10%% for 5m, then 100%%\",\"step\":1,\"steps\":2,"
        "\"targets\":{\"wanted\":2,\"running\":2,\"healthy\":2},\"actor\":\"ci\","
        "\"labels\":{\"git.sha\":\"abc123\"},\"switches\":[{\"traffic\":{\"blue\":%d,"
        "\"green\":%d},\"switch_ms\":0.4}],\"started\":\"2026-11-27T13:00:00.000Z\","
        "\"ended\":%s}",
        id, phase, result, reason, strcmp(phase, "PAUSED") == 0 ? "true" : "false", blue, green,
        blue, green, result[0] ? "\"2026-11-27T13:01:05.500Z\"" : "null");
}

static char *body_of(fake_admin_t *f, const char *line)
{
    char *b = fake_admin_body_of(f, line);
    cr_assert_not_null(b, "no request %s", line);
    return b;
}

TestSuite(cli_ops, .timeout = 90);

Test(cli_ops, rollback_prints_the_split_and_switch_time)
{
    char *rb = dep(7, "CLEAN_UP", "ROLLED_BACK", "rollback by ci", 100, 0);
    fake_route_t routes[] = {ROUTE("POST", "/v1/services/orders/rollback", 200, NULL, rb)};
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "rollback", "orders");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "rolled_back service=orders id=7 blue=100 green=0 switch_ms=0.400 "
                            "result=ROLLED_BACK reason=\"rollback by ci\"\n");
    char *b = body_of(f, "POST /v1/services/orders/rollback ");
    cr_assert_str_eq(b, "{\"force\":false}");
    free(b);
    cli_res_fini(&r);

    cli_run_tty(
        &r, NULL, 30000,
        (const char *const[]){"--admin", fake_admin_url(f), "rollback", "orders", "--force", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_str_eq(r.out, "orders: rolled back: traffic now blue 100% / green 0% (switch "
                            "verified on every worker in 0.400 ms); deployment 7 ROLLED_BACK\n");
    char *all = fake_admin_received(f);
    cr_assert_not_null(strstr(all, "{\"force\":true}"), "%s", all);
    free(all);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(rb);
}

Test(cli_ops, rollback_refused_by_the_gate_exits_3_and_names_force)
{
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/payments/rollback", 409, NULL,
              "{\"error\":{\"code\":\"conflict\",\"message\":\"orders 2.3.0 requires payments "
              "^2.0 and would break: live payments would be 1.9.2\"}}"),
        ROUTE("POST", "/v1/services/orders/rollback", 409, NULL,
              "{\"error\":{\"code\":\"conflict\",\"message\":\"the termination wait of "
              "deployment 7 is over: a rollback is now a new deployment of revision 3 "
              "(bluegreen deploy orders -f ...)\"}}"),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "rollback", "payments");
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: rollback refused by the compatibility gate: orders 2.3.0 "
                            "requires payments ^2.0 and would break: live payments would be "
                            "1.9.2\nhint: `bluegreen rollback payments --force` overrides the "
                            "gate (the consumer named above will break)\n");
    cr_assert_str_eq(r.out, "");
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "rollback", "orders");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: the termination wait of deployment 7 is over: a rollback "
                            "is now a new deployment of revision 3 (bluegreen deploy orders -f "
                            "...)\n");
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "rollback");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "missing SERVICE"), "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "rollback", "orders", "--frce");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "unknown option '--frce'"), "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);
}

Test(cli_ops, promote_pause_resume_abort_post_their_route)
{
    static const char *const verbs[][2] = {
        {"promote", "promoted"}, {"pause", "paused"}, {"resume", "resumed"}, {"abort", "aborted"}};
    char *d = dep(7, "PRODUCTION_TRAFFIC_SHIFT", "", "", 0, 100);
    for (size_t i = 0; i < BG_ARRAY_LEN(verbs); i++) {
        char *path = bg_asprintf("/v1/services/orders/%s", verbs[i][0]);
        fake_route_t routes[] = {
            ROUTE("POST", path, 200, NULL, d),
            ROUTE("POST", "/v1/services/idle/", 409, NULL,
                  "{\"error\":{\"code\":\"conflict\",\"message\":\"no deployment of idle is "
                  "running\"}}"),
        };
        fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
        cli_res_t r;
        CLI_RUN(&r, "--admin", fake_admin_url(f), verbs[i][0], "orders");
        cr_assert_eq(r.code, 0, "%s: %s", verbs[i][0], r.err);
        char *want = bg_asprintf("%s service=orders id=7 version=2.0.0 from=3 to=4 slot=green "
                                 "phase=PRODUCTION_TRAFFIC_SHIFT paused=false blue=0 green=100 "
                                 "result=\"\" reason=\"\"\n",
                                 verbs[i][1]);
        cr_assert_str_eq(r.out, want);
        cr_assert_eq(fake_admin_hits(f, 0), 1);
        free(want);
        cli_res_fini(&r);

        CLI_RUN(&r, "--admin", fake_admin_url(f), verbs[i][0], "idle");
        cr_assert_eq(r.code, 1, "%s", r.err);
        cr_assert_str_eq(r.err, "bluegreen: no deployment of idle is running\n");
        cli_res_fini(&r);

        CLI_RUN(&r, "--admin", fake_admin_url(f), verbs[i][0], "orders", "--json");
        cr_assert_eq(r.code, 0, "%s", r.err);
        json_t *j = json_loads(r.out, 0, NULL);
        cr_assert_eq(json_integer_value(json_object_get(j, "id")), 7, "%s", r.out);
        json_decref(j);
        cli_res_fini(&r);

        CLI_RUN(&r, "--admin", fake_admin_url(f), verbs[i][0], "orders", "--force");
        cr_assert_eq(r.code, 2, "%s", r.err);
        cli_res_fini(&r);
        fake_admin_stop(f);
        free(path);
    }
    free(d);
}

Test(cli_ops, history_lists_deployments)
{
    char *a = dep(8, "PRODUCTION_TRAFFIC_SHIFT", "", "", 90, 10);
    char *b = dep(7, "BAKE", "ROLLED_BACK", "p99 812ms > 500ms", 100, 0);
    char *list = bg_asprintf("{\"deployments\":[%s,%s]}", a, b);
    fake_route_t routes[] = {ROUTE("GET", "/v1/services/orders/deployments", 200, NULL, list)};
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "history", "orders", "--limit", "5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(starts_with(r.out, "deployment id=8 service=orders version=2.0.0 from=3 to=4 "
                                 "strategy=\"canary: 10% for 5m, then 100%\" result=\"\" "
                                 "phase=PRODUCTION_TRAFFIC_SHIFT reason=\"\" "
                                 "started=2026-11-27T13:00:00.000Z duration="),
              "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\ndeployment id=7 service=orders version=2.0.0 from=3 to=4 "
                                     "strategy=\"canary: 10% for 5m, then 100%\" "
                                     "result=ROLLED_BACK phase=BAKE reason=\"p99 812ms > 500ms\" "
                                     "started=2026-11-27T13:00:00.000Z duration=1m05s actor=ci "
                                     "git_sha=abc123\n"),
                       "%s", r.out);
    char *got = fake_admin_received(f);
    cr_assert(starts_with(got, "GET /v1/services/orders/deployments?limit=5 HTTP/1.1\r\n"), "%s",
              got);
    free(got);
    cli_res_fini(&r);

    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "history", "orders", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "   ID  VERSION  REV   STRATEGY                       RESULT"
                                     "                              STARTED              DURATION"
                                     "  ACTOR  GIT.SHA  REASON\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "running (PRODUCTION_TRAFFIC_SHIFT)  2026-11-27 13:00:00"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "    7  2.0.0    3->4  canary: 10% for 5m, then 100%  "
                                     "ROLLED_BACK                         2026-11-27 13:00:00     "
                                     "1m05s  ci     abc123   p99 812ms > 500ms\n"),
                       "%s", r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "history", "orders", "--json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *j = json_loads(r.out, 0, NULL), *w = json_loads(list, 0, NULL);
    cr_assert(json_equal(j, w), "%s", r.out);
    json_decref(j);
    json_decref(w);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "history", "orders", "--limit", "x");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(list);
    free(a);
    free(b);
}

#define EV1                                                                                        \
    "{\"id\":12,\"ts\":\"2026-11-27T13:00:00.000Z\",\"service\":\"orders\",\"deployment\":7,"      \
    "\"kind\":\"deploy.phase\",\"message\":\"SCALE_UP\",\"actor\":\"ci\",\"origin\":\"unix\"}"
#define EV2                                                                                        \
    "{\"id\":13,\"ts\":\"2026-11-27T13:00:01.000Z\",\"service\":\"orders\",\"deployment\":7,"      \
    "\"kind\":\"traffic\",\"message\":\"blue=90 green=10\",\"actor\":\"ci\",\"origin\":\"unix\"}"

Test(cli_ops, events_lists_the_audit_trail)
{
    fake_route_t routes[] = {
        ROUTE("GET", "/v1/events?", 200, NULL, "{\"events\":[" EV1 "," EV2 "]}"),
    };
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "events", "--service", "orders", "--limit", "2");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "event id=12 ts=2026-11-27T13:00:00.000Z service=orders deployment=7 "
                            "kind=deploy.phase actor=ci message=SCALE_UP\n"
                            "event id=13 ts=2026-11-27T13:00:01.000Z service=orders deployment=7 "
                            "kind=traffic actor=ci message=\"blue=90 green=10\"\n");
    char *got = fake_admin_received(f);
    cr_assert(starts_with(got, "GET /v1/events?service=orders&limit=2 HTTP/1.1\r\n"), "%s", got);
    free(got);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "events", "orders");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "use --service S"), "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);
}

Test(cli_ops, events_follow_streams_until_sigint)
{
    static const char stream[] = "retry: 1000\n: keep-alive\n\n"
                                 "id: 12\nevent: deploy.phase\ndata: " EV1 "\n\n"
                                 "id: 13\nevent: traffic\ndata: " EV2 "\n\n";
    fake_route_t routes[] = {
        HOLD_ROUTE("GET", "/v1/events/stream", 200, "text/event-stream", stream),
    };
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_proc_t p;
    cli_res_t r;

    cli_start(&p, NULL,
              (const char *const[]){"--admin", fake_admin_url(f), "events", "--follow", "--service",
                                    "orders", "--json", NULL});
    cr_assert(cli_wait_out(&p, "\"id\":13", 20000), "no second event");
    cli_finish(&p, SIGINT, 10000, &r);
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    /* --json while following: one compact object per line. */
    cr_assert_str_eq(r.out, EV1 "\n" EV2 "\n");
    cr_assert_str_eq(r.err, "");
    cr_assert_eq(fake_admin_hits(f, 0), 1, "the held stream was reopened");
    char *got = fake_admin_received(f);
    cr_assert(starts_with(got, "GET /v1/events/stream?service=orders HTTP/1.1\r\n"), "%s", got);
    free(got);
    cli_res_fini(&r);
    fake_admin_stop(f);

    /* A stream that ends is reopened with Last-Event-ID: nothing missed, nothing twice. */
    fake_route_t closing[] = {
        ROUTE("GET", "/v1/events/stream", 200, "text/event-stream", stream,
              "id: 14\ndata: {\"id\":14,\"kind\":\"health\",\"message\":\"up\"}\n\n", ""),
    };
    f = fake_admin_start(closing, 1);
    cli_start(&p, NULL,
              (const char *const[]){"--admin", fake_admin_url(f), "events", "--follow", NULL});
    cr_assert(cli_wait_out(&p, "event id=14", 20000));
    cli_finish(&p, SIGINT, 10000, &r);
    cr_assert_eq(r.code, 0, "exit %d: %s", r.code, r.err);
    cr_assert_str_eq(r.out, "event id=12 ts=2026-11-27T13:00:00.000Z service=orders deployment=7 "
                            "kind=deploy.phase actor=ci message=SCALE_UP\n"
                            "event id=13 ts=2026-11-27T13:00:01.000Z service=orders deployment=7 "
                            "kind=traffic actor=ci message=\"blue=90 green=10\"\n"
                            "event id=14 ts=\"\" service=\"\" deployment=0 kind=health actor=\"\" "
                            "message=up\n");
    got = fake_admin_received(f);
    const char *second = strstr(got + 1, "GET /v1/events/stream");
    cr_assert_not_null(second, "%s", got);
    char last[16];
    cr_assert(bgt_head_header(second, "Last-Event-ID", last, sizeof(last)), "%s", second);
    cr_assert_str_eq(last, "13");
    free(got);
    cli_res_fini(&r);
    fake_admin_stop(f);
}

#define HEAD_A "==> target 127.0.0.1:41001 (green, rev 4) <==\n"
#define HEAD_B "==> target 127.0.0.1:41002 (green, rev 4) <==\n"

Test(cli_ops, logs_prints_the_text_and_follow_prints_only_new_bytes)
{
    fake_route_t routes[] = {
        ROUTE("GET", "/v1/services/orders/logs", 200, "text/plain", HEAD_A "started\nready\n",
              HEAD_A "started\nready\nGET / 200\n",
              /* the window slid: the first line fell out, a line and a target came */
              HEAD_A "ready\nGET / 200\nGET / 500\n" HEAD_B "started\n",
              HEAD_A "ready\nGET / 200\nGET / 500\n" HEAD_B "started\nready\n"),
    };
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "logs", "orders", "--slot", "preview");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, HEAD_A "started\nready\n");
    char *got = fake_admin_received(f);
    cr_assert(starts_with(got, "GET /v1/services/orders/logs?slot=preview HTTP/1.1\r\n"), "%s",
              got);
    free(got);
    cli_res_fini(&r);
    fake_admin_stop(f);

    f = fake_admin_start(routes, 1);
    cli_proc_t p;
    cli_start(
        &p, NULL,
        (const char *const[]){"--admin", fake_admin_url(f), "logs", "orders", "--follow", NULL});
    cr_assert(cli_wait_out(&p, HEAD_B "started\nready\n", 20000), "follow did not catch up");
    cli_finish(&p, SIGINT, 10000, &r);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
                     HEAD_A "started\nready\nGET / 200\nGET / 500\n\n" HEAD_B "started\nready\n");
    got = fake_admin_received(f);
    cr_assert(starts_with(got, "GET /v1/services/orders/logs?slot=live&bytes=65536 HTTP/1.1\r\n"),
              "%s", got);
    free(got);
    cli_res_fini(&r);
    fake_admin_stop(f);

    CLI_RUN(&r, "--admin", "unix:/nonexistent/x.sock", "logs", "orders", "--slot", "blue");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--slot 'blue' must be live or preview"), "%s", r.err);
    cli_res_fini(&r);
}

static const char matrix_json[] =
    "{\"services\":[\"orders\",\"payments\",\"inventory\"],\"edges\":["
    "{\"consumer\":\"orders\",\"consumer_version\":\"2.3.0\",\"api\":\"payments\","
    "\"range\":\"^2.0\",\"provider\":\"payments\",\"live\":[{\"version\":\"1.9.2\","
    "\"slot\":\"blue\",\"weight\":100}],\"ok\":false,\"message\":\"orders 2.3.0 requires payments "
    "^2.0; live payments is 1.9.2 (blue, 100%)\"},"
    "{\"consumer\":\"orders\",\"consumer_version\":\"2.3.0\",\"api\":\"inventory\","
    "\"range\":\"^3.1\",\"provider\":\"inventory\",\"live\":[{\"version\":\"3.1.0\","
    "\"slot\":\"green\",\"weight\":90},{\"version\":\"3.2.0\",\"slot\":\"blue\",\"weight\":10}],"
    "\"ok\":true,\"message\":\"\"}]}";

Test(cli_ops, matrix_prints_edges_and_a_grid)
{
    fake_route_t routes[] = {ROUTE("GET", "/v1/matrix", 200, NULL, matrix_json)};
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "matrix");
    cr_assert_eq(r.code, 3, "a broken edge exits 3: %s", r.err);
    cr_assert_str_eq(r.out, "edge consumer=orders consumer_version=2.3.0 api=payments range=^2.0 "
                            "provider=payments live=1.9.2@blue:100 ok=false message=\"orders 2.3.0 "
                            "requires payments ^2.0; live payments is 1.9.2 (blue, 100%)\"\n"
                            "edge consumer=orders consumer_version=2.3.0 api=inventory range=^3.1 "
                            "provider=inventory live=3.1.0@green:90,3.2.0@blue:10 ok=true "
                            "message=\"\"\n");
    cli_res_fini(&r);

    const char *const colour[] = {"NO_COLOR=", NULL};
    cli_run_tty(&r, colour, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "matrix", NULL});
    cr_assert_eq(r.code, 3, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "CONSUMER \\ PROVIDER  payments              inventory"), "%s",
                       r.out);
    cr_assert_not_null(strstr(r.out, "orders               ^2.0 -> 1.9.2 \033[31mBROKEN\033[0m  "
                                     "^3.1 -> 3.1.0+3.2.0 \033[32mok\033[0m\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "broken:\033[0m\n  orders 2.3.0 requires payments ^2.0; live "
                                     "payments is 1.9.2 (blue, 100%)\n"),
                       "%s", r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "matrix", "--json");
    cr_assert_eq(r.code, 3, "%s", r.err);
    json_t *j = json_loads(r.out, 0, NULL), *w = json_loads(matrix_json, 0, NULL);
    cr_assert(json_equal(j, w), "%s", r.out);
    json_decref(j);
    json_decref(w);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "matrix", "orders");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "unexpected argument 'orders'"), "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);

    /* The compat module's view (bg_compat_matrix_json): cells and missing providers. */
    fake_route_t view[] = {
        ROUTE("GET", "/v1/matrix", 200, NULL,
              "{\"ok\":false,\"services\":[\"orders\",\"payments\"],\"live\":{},\"cells\":[{"
              "\"consumer\":\"orders\",\"consumer_version\":\"2.3.0\",\"consumer_slot\":\"blue\","
              "\"provider\":\"payments\",\"api\":\"payments\",\"rule\":false,\"range\":\"^2.0\","
              "\"provider_versions\":[\"1.9.2 (blue, 100%)\"],\"status\":\"broken\",\"message\":"
              "\"orders 2.3.0 requires payments ^2.0; live payments is 1.9.2 (blue, 100%)\"}],"
              "\"missing\":[{\"consumer\":\"orders\",\"consumer_version\":\"2.3.0\",\"api\":"
              "\"stock\",\"range\":\"^1\",\"message\":\"orders 2.3.0 requires stock ^1; nothing "
              "live provides stock\"}],\"broken\":[]}")};
    f = fake_admin_start(view, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "matrix");
    cr_assert_eq(r.code, 3, "a broken edge exits 3: %s", r.err);
    cr_assert_str_eq(r.out, "edge consumer=orders consumer_version=2.3.0 api=payments range=^2.0 "
                            "provider=payments live=\"1.9.2 (blue, 100%)\" ok=false "
                            "message=\"orders 2.3.0 requires payments ^2.0; live payments is "
                            "1.9.2 (blue, 100%)\"\n"
                            "edge consumer=orders consumer_version=2.3.0 api=stock range=^1 "
                            "provider=\"\" live=\"\" ok=false message=\"orders 2.3.0 requires "
                            "stock ^1; nothing live provides stock\"\n");
    cli_res_fini(&r);
    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "matrix", NULL});
    cr_assert_eq(r.code, 3, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "CONSUMER \\ PROVIDER  payments              (none)\n"
                                     "orders               ^2.0 -> 1.9.2 BROKEN  ^1 -> none "
                                     "BROKEN\n"),
                       "%s", r.out);
    cli_res_fini(&r);
    fake_admin_stop(f);

    /* A daemon without the route. */
    fake_route_t none[] = {ROUTE("GET", "/v1/health", 200, NULL, "{}")};
    f = fake_admin_start(none, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "matrix");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: the daemon does not support GET /v1/matrix yet (HTTP 404: "
                            "no such endpoint): it needs a newer bluegreen serve\n");
    cli_res_fini(&r);
    fake_admin_stop(f);
}

static const char release_yaml[] = "services:\n  payments: {version: 2.0.0}\n"
                                   "  orders: {file: orders-3.yaml}\n";

Test(cli_ops, plan_prints_the_order_or_why_none_exists)
{
    char *dir = bgt_tmpdir("cli-plan");
    char *path = cli_write_file(dir, "release.yaml", release_yaml);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/plan", 200, NULL,
              "{\"ok\":true,\"order\":[{\"service\":\"payments\",\"version\":\"2.0.0\","
              "\"reason\":\"provides payments 1.10.0 and 2.0.0: live orders keeps working\"},"
              "{\"service\":\"orders\",\"version\":\"3.0.0\",\"reason\":\"requires payments "
              "^2.0, live after step 1\"}],\"blocked\":null}",
              "{\"ok\":false,\"order\":[],\"blocked\":{\"cycle\":[\"orders\",\"payments\","
              "\"orders\"],\"message\":\"orders 3.0.0 needs payments ^2.0 and payments 2.0.0 "
              "drops the API orders 2.x uses\",\"hint\":\"release payments 1.10.0 providing "
              "payments: [1.10.0, 2.0.0] first (expand), then orders, then payments 2.0.0 "
              "(contract)\"}}"),
    };
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "plan", path);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "step n=1 service=payments version=2.0.0 reason=\"provides payments "
                            "1.10.0 and 2.0.0: live orders keeps working\"\n"
                            "step n=2 service=orders version=3.0.0 reason=\"requires payments "
                            "^2.0, live after step 1\"\n");
    char *b = body_of(f, "POST /v1/plan ");
    json_t *j = json_loads(b, 0, NULL);
    const json_t *rf = json_object_get(j, "release_file");
    cr_assert_str_eq(json_string_value(json_object_get(rf, "name")), path);
    cr_assert_str_eq(json_string_value(json_object_get(rf, "yaml")), release_yaml);
    char real[4096];
    cr_assert_not_null(realpath(dir, real));
    cr_assert_str_eq(json_string_value(json_object_get(rf, "dir")), real);
    json_decref(j);
    free(b);
    cli_res_fini(&r);

    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "plan", path, NULL});
    cr_assert_eq(r.code, 3, "%s", r.out);
    cr_assert_str_eq(r.out, "no order exists: orders 3.0.0 needs payments ^2.0 and payments "
                            "2.0.0 drops the API orders 2.x uses\n"
                            "  cycle: orders -> payments -> orders\n"
                            "  hint:  release payments 1.10.0 providing payments: [1.10.0, "
                            "2.0.0] first (expand), then orders, then payments 2.0.0 "
                            "(contract)\n");
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "plan", "/nonexistent/release.yaml");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "plan");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "missing RELEASE.yaml"), "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(path);
    free(dir);
}

Test(cli_ops, release_prints_each_step_and_stops_at_the_first_failure)
{
    char *dir = bgt_tmpdir("cli-release");
    char *path = cli_write_file(dir, "release.yaml", release_yaml);
    char *ok = dep(9, "CLEAN_UP", "SUCCEEDED", "", 0, 100);
    char *bad = dep(10, "PRODUCTION_TRAFFIC_SHIFT", "ROLLED_BACK", "green 5xx 9% > 1%", 100, 0);
    char *done = bg_asprintf(
        "{\"id\":\"r1\",\"steps\":[{\"service\":\"payments\",\"deployment\":%s,\"result\":"
        "\"SUCCEEDED\"},{\"service\":\"orders\",\"deployment\":%s,\"result\":\"ROLLED_BACK\"},"
        "{\"service\":\"inventory\",\"deployment\":null,\"result\":\"\"}],\"result\":\"FAILED\","
        "\"live\":{\"payments\":[{\"version\":\"2.0.0\",\"slot\":\"green\",\"weight\":100}],"
        "\"orders\":[{\"version\":\"2.3.0\",\"slot\":\"blue\",\"weight\":100}]}}",
        ok, bad);
    fake_route_t routes[] = {ROUTE("POST", "/v1/releases", 201, NULL, done)};
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path, "--label", "git.sha=abc123",
            "--actor", "ci-bot");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.out, "step n=1 service=payments deployment=9 version=2.0.0 "
                            "result=SUCCEEDED reason=\"\"\n"
                            "step n=2 service=orders deployment=10 version=2.0.0 "
                            "result=ROLLED_BACK reason=\"green 5xx 9% > 1%\"\n"
                            "release id=r1 result=FAILED\n"
                            "live service=payments versions=\"2.0.0 (green 100%)\"\n"
                            "live service=orders versions=\"2.3.0 (blue 100%)\"\n");
    {
        /* the release's actor and labels travel with it (the daemon gives them to each
         * deployment); the actor also as the header every request carries */
        char *b = body_of(f, "POST /v1/releases ");
        char *all = fake_admin_received(f);
        json_t *j = json_loads(b, 0, NULL);
        cr_assert_str_eq(json_string_value(json_object_get(j, "actor")), "ci-bot");
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(j, "labels"), "git.sha")), "abc123");
        cr_assert(strstr(all, "X-Bluegreen-Actor: ci-bot\r\n") != NULL, "%s", all);
        json_decref(j);
        free(all);
        free(b);
    }
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path, "--label", "nokv");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cli_res_fini(&r);

    fake_admin_stop(f);

    /* On a terminal the daemon's events show while the release runs (the controller
     * answers only when it ended: here, once the stream was asked for). */
    fake_route_t slow[] = {
        ROUTE("POST", "/v1/releases", 201, NULL, done),
        ROUTE("GET", "/v1/events/stream", 200, "text/event-stream",
              "id: 1\ndata: {\"id\":1,\"ts\":\"2026-11-27T13:00:02.000Z\",\"service\":"
              "\"payments\",\"deployment\":9,\"kind\":\"deploy.phase\",\"message\":"
              "\"SCALE_UP\"}\n\n"),
    };
    slow[0].after_route = 2;
    f = fake_admin_start(slow, BG_ARRAY_LEN(slow));
    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "release", path, NULL});
    cr_assert_eq(r.code, 1, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  13:00:02  payments #9  deploy.phase: SCALE_UP\n"), "%s",
                       r.out);
    cr_assert_not_null(strstr(r.out, "  2. orders 2.0.0 (deployment 10): ROLLED_BACK: green 5xx "
                                     "9% > 1%\nstopped; not run: inventory\nrelease r1: "
                                     "FAILED\nlive now:\n  payments: 2.0.0 (green 100%)\n"),
                       "%s", r.out);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(done);
    free(ok);
    free(bad);
    free(path);
    free(dir);
}

Test(cli_ops, release_wait_follows_a_background_release)
{
    char *dir = bgt_tmpdir("cli-release");
    char *path = cli_write_file(dir, "release.yaml", release_yaml);
    char *ok = dep(9, "CLEAN_UP", "SUCCEEDED", "", 0, 100);
    char *running = dep(10, "SCALE_UP", "", "", 100, 0);
    char *ok2 = dep(10, "CLEAN_UP", "SUCCEEDED", "", 0, 100);
    char *start = bg_asprintf("{\"id\":\"r2\",\"steps\":[{\"service\":\"payments\","
                              "\"deployment\":null,\"result\":\"\"},{\"service\":\"orders\","
                              "\"deployment\":null,\"result\":\"\"}],\"result\":\"\","
                              "\"live\":{}}");
    char *mid = bg_asprintf("{\"id\":\"r2\",\"steps\":[{\"service\":\"payments\","
                            "\"deployment\":%s,\"result\":\"SUCCEEDED\"},{\"service\":\"orders\","
                            "\"deployment\":%s,\"result\":\"\"}],\"result\":\"\",\"live\":{}}",
                            ok, running);
    char *end = bg_asprintf("{\"id\":\"r2\",\"steps\":[{\"service\":\"payments\","
                            "\"deployment\":%s,\"result\":\"SUCCEEDED\"},{\"service\":\"orders\","
                            "\"deployment\":%s,\"result\":\"SUCCEEDED\"}],\"result\":"
                            "\"SUCCEEDED\",\"live\":{\"orders\":\"2.0.0\"}}",
                            ok, ok2);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/releases", 201, NULL, start),
        ROUTE("GET", "/v1/releases/r2", 200, NULL, mid, mid, end),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path, "--wait");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "step n=1 service=payments deployment=9 version=2.0.0 "
                            "result=SUCCEEDED reason=\"\"\n"
                            "step n=2 service=orders deployment=10 version=2.0.0 "
                            "result=SUCCEEDED reason=\"\"\n"
                            "release id=r2 result=SUCCEEDED\n"
                            "live service=orders versions=2.0.0\n");
    cr_assert_eq(fake_admin_hits(f, 1), 3);
    cli_res_fini(&r);

    /* Blocked: no order exists, exit 3. */
    fake_admin_stop(f);
    fake_route_t blocked[] = {
        ROUTE("POST", "/v1/releases", 200, NULL,
              "{\"id\":\"r3\",\"steps\":[],\"result\":\"\",\"blocked\":{\"cycle\":[\"a\",\"b\","
              "\"a\"],\"message\":\"a and b need each other\",\"hint\":\"expand b first\"}}"),
    };
    f = fake_admin_start(blocked, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path, "--wiat");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "unknown option '--wiat'"), "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path);
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert_str_eq(r.out, "blocked message=\"a and b need each other\" cycle=\"a -> b -> a\" "
                            "hint=\"expand b first\"\n");
    cli_res_fini(&r);
    fake_admin_stop(f);

    /* The controller's own shape: a numeric id, the verdict inside "plan", the cycle as
     * constraints and the hint as {service, api, versions, verified}. */
    fake_route_t refused[] = {
        ROUTE("POST", "/v1/releases", 200, NULL,
              "{\"id\":4,\"steps\":[],\"result\":\"REFUSED\",\"live\":{\"orders\":{"
              "\"version\":\"2.3.0\",\"slot\":\"blue\",\"revision\":3}},\"plan\":{\"ok\":false,"
              "\"order\":[],\"blocked\":{\"cycle\":[{\"first\":\"payments\",\"then\":"
              "\"orders\",\"reason\":\"orders 3.0.0 requires payments ^2.0\"},{\"first\":"
              "\"orders\",\"then\":\"payments\",\"reason\":\"orders 2.3.0 requires payments "
              "^1.4\"}],\"message\":\"no order\",\"hint\":{\"service\":\"payments\",\"api\":"
              "\"payments\",\"versions\":[\"1.10.0\",\"2.0.0\"],\"verified\":true}}}}"),
    };
    f = fake_admin_start(refused, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path);
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert_str_eq(r.out, "blocked message=\"no order\" cycle=\"payments before orders (orders "
                            "3.0.0 requires payments ^2.0); orders before payments (orders 2.3.0 "
                            "requires payments ^1.4)\" hint=\"first deploy a payments that "
                            "provides payments at [1.10.0, 2.0.0] (expand), then the release, "
                            "then drop the old version (contract); checked: the release then has "
                            "an order\"\n");
    cli_res_fini(&r);
    fake_admin_stop(f);

    /* A finished release with a numeric id and live {version, slot} objects. */
    char *numeric = bg_asprintf("{\"id\":5,\"steps\":[{\"service\":\"payments\",\"deployment\":"
                                "%s,\"result\":\"SUCCEEDED\"}],\"result\":\"SUCCEEDED\","
                                "\"live\":{\"payments\":{\"version\":\"2.0.0\",\"slot\":"
                                "\"green\",\"revision\":4}}}",
                                ok);
    fake_route_t fin[] = {ROUTE("POST", "/v1/releases", 200, NULL, numeric)};
    f = fake_admin_start(fin, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "release", path);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "step n=1 service=payments deployment=9 version=2.0.0 "
                            "result=SUCCEEDED reason=\"\"\n"
                            "release id=5 result=SUCCEEDED\n"
                            "live service=payments versions=\"2.0.0 (green)\"\n");
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(numeric);
    free(start);
    free(mid);
    free(end);
    free(ok);
    free(ok2);
    free(running);
    free(path);
    free(dir);
}
