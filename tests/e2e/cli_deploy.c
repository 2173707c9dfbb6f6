/* e2e: the deployment verbs of the real bluegreen binary against a fake admin endpoint
 * (cli_fake.h): deploy (request shape for --cmd/-f/labels/env/strategy, local checks,
 * dry runs, gate refusals, --wait following polled states and an SSE stream, --json,
 * the terminal progress line), rollback (verified switch, gate refusal and --force,
 * termination wait over), promote/pause/resume/abort and history. Exit codes 0-4.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <time.h>

#include "base/base.h"
#include "e2e/cli_fake.h"
#include "e2e/cli_run.h"
#include "support/support.h"

#define NOWHERE "unix:/nonexistent/bg.sock"

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A DEPLOYMENT (docs/admin-api.md) of orders; caller frees. */
static char *dep(int id, const char *phase, const char *result, const char *reason, int blue,
                 int green, int healthy)
{
    return bg_asprintf(
        "{\"id\":%d,\"service\":\"orders\",\"from_revision\":3,\"to_revision\":4,"
        "\"version\":\"2.0.0\",\"slot\":\"green\",\"phase\":\"%s\",\"result\":\"%s\","
        "\"reason\":\"%s\",\"paused\":false,\"traffic\":{\"blue\":%d,\"green\":%d},"
        "\"strategy\":\"canary: 10%% for 5m, then 100%%\",\"step\":1,\"steps\":2,"
        "\"targets\":{\"wanted\":2,\"running\":2,\"healthy\":%d},\"actor\":\"ci\","
        "\"labels\":{\"git.sha\":\"abc123\"},\"switches\":[{\"traffic\":{\"blue\":%d,"
        "\"green\":%d},\"switch_ms\":0.4}],\"started\":\"2026-11-27T13:00:00.000Z\","
        "\"ended\":%s}",
        id, phase, result, reason, blue, green, healthy, blue, green,
        result[0] ? "\"2026-11-27T13:01:05.500Z\"" : "null");
}

static json_t *body_json(fake_admin_t *f, const char *line)
{
    char *b = fake_admin_body_of(f, line);
    cr_assert_not_null(b, "no request %s", line);
    json_t *j = json_loads(b, 0, NULL);
    cr_assert_not_null(j, "not JSON: %s", b);
    free(b);
    return j;
}

static const char *jget(const json_t *o, const char *path)
{
    char *p = bg_strdup(path), *save = NULL;
    const json_t *cur = o;
    for (char *k = strtok_r(p, ".", &save); k != NULL; k = strtok_r(NULL, ".", &save))
        cur = json_object_get(cur, k);
    free(p);
    return json_string_value(cur);
}

TestSuite(cli_deploy, .timeout = 90);

Test(cli_deploy, arguments_are_checked_before_any_request)
{
    static const struct {
        const char *args[8];
        const char *msg;
    } cases[] = {
        {{"orders", "--version", "2.0.0"}, "give the artifact: --cmd"},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--image", "x:1"}, "only one of"},
        {{"orders", "--cmd", "./a"}, "missing --version V"},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--strategy", "canary:10"},
         "--strategy: bad strategy \"canary:10\""},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--label", "nokv"},
         "--label 'nokv' must be KEY=VALUE"},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--env", "=v"},
         "--env '=v' must be KEY=VALUE"},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--count", "0"},
         "--count '0' must be an integer from 1"},
        {{"orders", "--version", "2.0.0", "--cmd", "./a", "--frob"}, "unknown option '--frob'"},
        {{"--version", "2.0.0", "--cmd", "./a"}, "missing SERVICE"},
        {{"orders", "--version"}, "option --version needs a value"},
        {{"orders", "extra", "--version", "1", "--cmd", "./a"}, "unexpected argument 'extra'"},
        {{"orders", "-f", "/nonexistent/rev.yaml"}, "/nonexistent/rev.yaml: No such file"},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        const char *args[16] = {"--admin", NOWHERE, "deploy"};
        size_t n = 3;
        for (size_t k = 0; cases[i].args[k] != NULL; k++)
            args[n++] = cases[i].args[k];
        cli_res_t r;
        cli_run_in(&r, NULL, NULL, 30000, args);
        cr_assert_eq(r.code, 2, "case %zu: exit %d: %s", i, r.code, r.err);
        cr_assert_not_null(strstr(r.err, cases[i].msg), "case %zu: %s", i, r.err);
        cr_assert_str_eq(r.out, "");
        cli_res_fini(&r);
    }
}

Test(cli_deploy, sends_the_revision_request_and_prints_the_deployment)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./build/sample-app --service orders", "--strategy=canary:10%:5m", "--label",
            "git.sha=abc123", "--label", "team=pay", "--env", "K=V=W", "--count", "3", "--actor",
            "ci");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "started service=orders id=7 version=2.0.0 from=3 to=4 slot=green "
                            "phase=PRE_SCALE_UP paused=false blue=100 green=0 result=\"\" "
                            "reason=\"\"\n");
    json_t *b = body_json(f, "POST /v1/services/orders/deployments HTTP/1.1");
    cr_assert_str_eq(jget(b, "version"), "2.0.0");
    cr_assert_str_eq(jget(b, "cmd"), "./build/sample-app --service orders");
    cr_assert_str_eq(jget(b, "strategy"), "canary:10%:5m");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "labels"), "git.sha")),
                     "abc123");
    cr_assert_str_eq(jget(b, "labels.team"), "pay");
    cr_assert_str_eq(jget(b, "env.K"), "V=W");
    cr_assert_eq(json_integer_value(json_object_get(b, "count")), 3);
    cr_assert_str_eq(jget(b, "actor"), "ci");
    cr_assert_null(json_object_get(b, "dry_run"));
    cr_assert_null(json_object_get(b, "image"));
    json_decref(b);
    cli_res_fini(&r);

    /* --json prints the DEPLOYMENT as the daemon sent it. */
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--image",
            "ghcr.io/acme/orders:2.0.0", "--json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *got = json_loads(r.out, 0, NULL), *want = json_loads(started, 0, NULL);
    cr_assert(json_equal(got, want), "%s", r.out);
    json_decref(got);
    json_decref(want);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(started);
}

Test(cli_deploy, a_revision_file_is_sent_as_text_and_its_errors_exit_2)
{
    static const char rev[] = "version: 3.0.0\nrun: {command: [\"./app\"]}\napi:\n"
                              "  provides: {orders: 3.0.0}\n";
    char *dir = bgt_tmpdir("cli-deploy");
    char *path = cli_write_file(dir, "orders-3.yaml", rev);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 400, NULL,
              "{\"error\":{\"code\":\"bad_request\",\"message\":\"orders-3.yaml:2:6: run: expected "
              "a mapping with command\"}}"),
    };
    fake_admin_t *f = fake_admin_start(routes, 1);
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "-f", path);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: orders-3.yaml:2:6: run: expected a mapping with "
                            "command\n");
    json_t *b = body_json(f, "POST /v1/services/orders/deployments ");
    cr_assert_str_eq(jget(b, "revision_file.name"), path);
    cr_assert_str_eq(jget(b, "revision_file.yaml"), rev);
    cr_assert_null(json_object_get(b, "version"));
    json_decref(b);
    cli_res_fini(&r);

    /* --version may repeat the file's version, not contradict it (checked before sending). */
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "-f", path, "--version", "3.0.1");
    cr_assert_eq(r.code, 2, "%s", r.err);
    char *want = bg_asprintf("bluegreen deploy: --version 3.0.1 contradicts %s, which says "
                             "version 3.0.0\n",
                             path);
    cr_assert(starts_with(r.err, want), "%s", r.err);
    free(want);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "-f", path, "--version", "3.0.0");
    cr_assert_eq(r.code, 2, "%s", r.err); /* the fake's 400 again: it was sent */
    cr_assert_eq(fake_admin_hits(f, 0), 2);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(path);
    free(dir);
}

Test(cli_deploy, conflicts_refusals_and_unknown_routes)
{
    char *refused = dep(8, "PRE_SCALE_UP", "REFUSED",
                        "orders 2.0.0 requires payments ^2.0; live payments is 1.9.2 (blue, "
                        "100%)",
                        100, 0, 0);
    fake_route_t routes[] = {
        ROUTE(
            "POST", "/v1/services/busy/deployments", 409, NULL,
            "{\"error\":{\"code\":\"conflict\",\"message\":\"deployment 6 of busy is running\"}}"),
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, refused),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "busy", "--version", "1", "--cmd", "./a");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: deployment 6 of busy is running\n");
    cli_res_fini(&r);

    /* The gate's refusal is a 201 whose result is REFUSED: exit 3, the edge named. */
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./a", "--wait");
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "result=REFUSED reason=\"orders 2.0.0 requires payments "
                                     "^2.0; live payments is 1.9.2 (blue, 100%)\""),
                       "%s", r.out);
    cli_res_fini(&r);

    fake_admin_stop(f);

    /* An older daemon without the route. */

    fake_route_t none[] = {ROUTE("GET", "/v1/health", 200, NULL, "{}")};
    f = fake_admin_start(none, 1);
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./a");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(starts_with(r.err, "bluegreen: the daemon does not support POST "
                                 "/v1/services/orders/deployments yet"),
              "%s", r.err);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(refused);
}

Test(cli_deploy, dry_run_prints_the_verdict_phases_and_steps)
{
    static const char ok[] =
        "{\"dry_run\":true,\"gate\":{\"ok\":true,\"broken\":[]},\"phases\":[\"PRE_SCALE_UP\","
        "\"SCALE_UP\",\"POST_SCALE_UP\",\"TEST_TRAFFIC\",\"PRODUCTION_TRAFFIC_SHIFT\",\"BAKE\","
        "\"CLEAN_UP\"],\"steps\":[{\"percent\":10,\"wait_ms\":300000},{\"percent\":100}],"
        "\"slot\":\"green\",\"revision\":{\"version\":\"2.0.0\"}}";
    static const char bad[] =
        "{\"dry_run\":true,\"gate\":{\"ok\":false,\"broken\":[{\"message\":\"orders 2.0.0 "
        "requires payments ^2.0; live payments is 1.9.2 (blue, 100%)\"}]},\"phases\":[],"
        "\"steps\":[],\"slot\":\"green\",\"revision\":{\"version\":\"2.0.0\"}}";
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 200, NULL, ok),
        ROUTE("POST", "/v1/services/pay/deployments", 200, NULL, bad),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./a", "--dry-run", "--strategy", "canary:10%:5m");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "dry_run service=orders version=2.0.0 slot=green gate=ok\n"
                            "phase n=1 name=PRE_SCALE_UP\nphase n=2 name=SCALE_UP\n"
                            "phase n=3 name=POST_SCALE_UP\nphase n=4 name=TEST_TRAFFIC\n"
                            "phase n=5 name=PRODUCTION_TRAFFIC_SHIFT\nphase n=6 name=BAKE\n"
                            "phase n=7 name=CLEAN_UP\n"
                            "step n=1 percent=10 wait_ms=300000 pause=false\n"
                            "step n=2 percent=100 wait_ms=0 pause=false\n");
    json_t *b = body_json(f, "POST /v1/services/orders/deployments ");
    cr_assert(json_is_true(json_object_get(b, "dry_run")));
    json_decref(b);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "pay", "--version", "2.0.0", "--cmd", "./a",
            "--dry-run");
    cr_assert_eq(r.code, 3, "%s", r.err);
    cr_assert_str_eq(r.out, "dry_run service=pay version=2.0.0 slot=green gate=refused\n"
                            "broken edge=\"orders 2.0.0 requires payments ^2.0; live payments "
                            "is 1.9.2 (blue, 100%)\"\n");
    cli_res_fini(&r);

    /* On a terminal: sentences. */
    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "deploy", "orders", "--version",
                                      "2.0.0", "--cmd", "./a", "--dry-run", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "orders: dry run (nothing was changed): 2.0.0 would go "
                                     "into green\n  gate:   ok\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  steps:  10% for 5m00s, 100%\n"), "%s", r.out);
    cli_res_fini(&r);
    fake_admin_stop(f);
}

/* The states a polled deployment goes through, ending in <last>. */
typedef struct states {
    char *v[8];
    size_t n;
} states_t;

static void states_fini(states_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
}

static void canary_states(states_t *s, const char *result, const char *reason)
{
    s->n = 0;
    s->v[s->n++] = dep(7, "SCALE_UP", "", "", 100, 0, 0);
    s->v[s->n++] = dep(7, "POST_SCALE_UP", "", "", 100, 0, 1);
    s->v[s->n++] = dep(7, "POST_SCALE_UP", "", "", 100, 0, 1); /* unchanged: no new line */
    s->v[s->n++] = dep(7, "PRODUCTION_TRAFFIC_SHIFT", "", "", 90, 10, 2);
    s->v[s->n++] = dep(7, strcmp(result, "SUCCEEDED") == 0 ? "BAKE" : "PRODUCTION_TRAFFIC_SHIFT",
                       result, reason, strcmp(result, "SUCCEEDED") == 0 ? 0 : 100,
                       strcmp(result, "SUCCEEDED") == 0 ? 100 : 0, 2);
}

Test(cli_deploy, wait_polls_and_prints_one_line_per_change_when_piped)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    states_t s;
    canary_states(&s, "SUCCEEDED", "");
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
        ROUTE("GET", "/v1/deployments/7", 200, NULL, s.v[0], s.v[1], s.v[2], s.v[3], s.v[4]),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./a", "--wait");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(
        r.out,
        "started service=orders id=7 version=2.0.0 from=3 to=4 slot=green phase=PRE_SCALE_UP "
        "paused=false blue=100 green=0 result=\"\" reason=\"\"\n"
        "progress service=orders id=7 phase=PRE_SCALE_UP step=1/2 healthy=0/2 blue=100 green=0 "
        "paused=false\n"
        "progress service=orders id=7 phase=SCALE_UP step=1/2 healthy=0/2 blue=100 green=0 "
        "paused=false\n"
        "progress service=orders id=7 phase=POST_SCALE_UP step=1/2 healthy=1/2 blue=100 green=0 "
        "paused=false\n"
        "progress service=orders id=7 phase=PRODUCTION_TRAFFIC_SHIFT step=1/2 healthy=2/2 "
        "blue=90 green=10 paused=false\n"
        "progress service=orders id=7 phase=BAKE step=1/2 healthy=2/2 blue=0 green=100 "
        "paused=false\n"
        "result service=orders id=7 version=2.0.0 from=3 to=4 slot=green phase=BAKE "
        "paused=false blue=0 green=100 result=SUCCEEDED reason=\"\"\n");
    cr_assert_eq(fake_admin_hits(f, 1), 5);
    /* It asked for the event stream first (404 here: an older daemon), then polled. */
    char *got = fake_admin_received(f);
    cr_assert_not_null(strstr(got, "GET /v1/events/stream?service=orders HTTP/1.1\r\n"), "%s", got);
    free(got);
    cli_res_fini(&r);
    fake_admin_stop(f);
    states_fini(&s);
    free(started);
}

Test(cli_deploy, wait_follows_the_event_stream_and_exits_1_on_rollback)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    states_t s;
    canary_states(&s, "ROLLED_BACK", "green error_rate 12% > 1% over 30s");
    /* The evidence the daemon keeps on a rollback. */
    char *last = s.v[s.n - 1];
    last[strlen(last) - 1] = '\0';
    s.v[s.n - 1] = bg_asprintf("%s,\"evidence\":{\"targets\":[{\"address\":\"127.0.0.1:41234\","
                               "\"health\":{\"reason\":\"DOWN (db: DOWN)\",\"last_status\":503},"
                               "\"log_tail\":\"boot\\nerror: db down\\n\"}]}}",
                               last);
    free(last);
    static const char stream[] =
        ": keep-alive\n\n"
        "id: 40\nevent: deploy.phase\ndata: {\"id\":40,\"service\":\"orders\",\"deployment\":7,"
        "\"kind\":\"deploy.phase\",\"message\":\"SCALE_UP\"}\n\n"
        "id: 41\r\nevent: traffic\r\ndata: {\"id\":41,\"service\":\"orders\",\"deployment\":7,\r\n"
        "data: \"kind\":\"traffic\",\"message\":\"blue=90 green=10\"}\r\n\r\n";
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
        ROUTE("GET", "/v1/deployments/7", 200, NULL, s.v[0], s.v[1], s.v[2], s.v[3], s.v[4]),
        ROUTE("GET", "/v1/events/stream", 200, "text/event-stream", stream),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    CLI_RUN(&r, "--admin", fake_admin_url(f), "--token", "t0k", "deploy", "orders", "--version",
            "2.0.0", "--cmd", "./a", "--wait");
    cr_assert_eq(r.code, 1, "%s\n%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "progress service=orders id=7 phase=PRODUCTION_TRAFFIC_SHIFT "
                                     "step=1/2 healthy=2/2 blue=90 green=10 paused=false\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "result=ROLLED_BACK reason=\"green error_rate 12% > 1% over "
                                     "30s\"\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "evidence address=127.0.0.1:41234 health=\"DOWN (db: "
                                     "DOWN)\" last_status=503 log_tail=\"boot\\nerror: db "
                                     "down\\n\"\n"),
                       "%s", r.out);
    char *got = fake_admin_received(f);
    const char *req = strstr(got, "GET /v1/events/stream?service=orders HTTP/1.1\r\n");
    cr_assert_not_null(req, "%s", got);
    cr_assert(bgt_head_has_token(req, "Accept", "text/event-stream"), "%s", req);
    char auth[64];
    cr_assert(bgt_head_header(req, "Authorization", auth, sizeof(auth)));
    cr_assert_str_eq(auth, "Bearer t0k");
    free(got);
    cli_res_fini(&r);

    /* --json: only the final DEPLOYMENT, the exit code still from its result. */
    fake_admin_stop(f);
    f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    CLI_RUN(&r, "--admin", fake_admin_url(f), "deploy", "orders", "--version", "2.0.0", "--cmd",
            "./a", "--wait", "--json");
    cr_assert_eq(r.code, 1, "%s", r.err);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "result")), "ROLLED_BACK");
    json_decref(j);
    cli_res_fini(&r);
    fake_admin_stop(f);
    states_fini(&s);
    free(started);
}

Test(cli_deploy, wait_on_a_terminal_redraws_one_progress_line)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    char *half = dep(7, "PRODUCTION_TRAFFIC_SHIFT", "", "", 50, 50, 2);
    char *done = dep(7, "BAKE", "SUCCEEDED", "", 0, 100, 2);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
        ROUTE("GET", "/v1/deployments/7", 200, NULL, half, half, done),
        ROUTE("GET", "/v1/events/stream", 200, "text/event-stream",
              "id: 3\ndata: {\"id\":3,\"ts\":\"2026-11-27T13:00:01.000Z\",\"deployment\":7,"
              "\"kind\":\"health\",\"message\":\"target 127.0.0.1:41234 healthy\"}\n\n"
              "id: 4\ndata: {\"id\":4,\"deployment\":6,\"kind\":\"health\",\"message\":"
              "\"another deployment's\"}\n\n"),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_res_t r;

    cli_run_tty(&r, NULL, 30000,
                (const char *const[]){"--admin", fake_admin_url(f), "deploy", "orders", "--version",
                                      "2.0.0", "--cmd", "./a", "--wait", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "orders: deployment 7 started: 2.0.0 (revision 3 -> 4) in "
                                     "green, phase PRE_SCALE_UP, traffic blue 100% / green 0%\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "orders #7: PRODUCTION_TRAFFIC_SHIFT\n"), "%s", r.out);
    /* Its events go above the progress line; other deployments' do not. */
    cr_assert_not_null(strstr(r.out, "\033[2K  13:00:01  health: target 127.0.0.1:41234 "
                                     "healthy\n"),
                       "%s", r.out);
    cr_assert_null(strstr(r.out, "another deployment's"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\033[2KPRODUCTION_TRAFFIC_SHIFT  healthy 2/2  blue 50% "
                                     "green 50%  [##########----------] 50% green  "),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\033[2Korders: deployment 7 SUCCEEDED: 2.0.0 live in "
                                     "green (blue 0% / green 100%)\n"),
                       "%s", r.out);
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(started);
    free(half);
    free(done);
}

Test(cli_deploy, every_verb_exits_4_when_the_daemon_is_unreachable)
{
    char *dir = bgt_tmpdir("cli-unreach");
    char *rel = cli_write_file(dir, "release.yaml", "services: {}\n");
    const char *const cases[][6] = {
        {"deploy", "orders", "--version", "1", "--cmd", "./a"},
        {"rollback", "orders"},
        {"promote", "orders"},
        {"pause", "orders"},
        {"resume", "orders"},
        {"abort", "orders"},
        {"history", "orders"},
        {"events"},
        {"events", "--follow"},
        {"logs", "orders"},
        {"matrix"},
        {"plan", rel},
        {"release", rel},
    };
    char *sock = bg_asprintf("unix:%s/none.sock", dir);
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        const char *args[12] = {"--admin", sock};
        size_t n = 2;
        for (size_t k = 0; k < 6 && cases[i][k] != NULL; k++)
            args[n++] = cases[i][k];
        cli_res_t r;
        cli_run_in(&r, NULL, NULL, 30000, args);
        cr_assert_eq(r.code, 4, "%s: exit %d: %s", cases[i][0], r.code, r.err);
        cr_assert(starts_with(r.err, "bluegreen: cannot reach the daemon at "), "%s", r.err);
        cli_res_fini(&r);
    }
    free(sock);
    free(rel);
    free(dir);
}

static bool hits_at_least(fake_admin_t *f, size_t route, unsigned n, int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    while (fake_admin_hits(f, route) < n) {
        if (bg_now_ms() >= deadline)
            return false;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return true;
}

Test(cli_deploy, wait_survives_a_daemon_restart)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    char *running = dep(7, "SCALE_UP", "", "", 100, 0, 1);
    char *done = dep(7, "BAKE", "SUCCEEDED", "", 0, 100, 2);
    fake_route_t before[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
        ROUTE("GET", "/v1/deployments/7", 200, NULL, running),
    };
    fake_admin_t *f = fake_admin_start(before, BG_ARRAY_LEN(before));
    int port = atoi(strrchr(fake_admin_url(f), ':') + 1);
    cli_proc_t p;
    cli_res_t r;

    cli_start(&p, NULL,
              (const char *const[]){"--admin", fake_admin_url(f), "deploy", "orders", "--version",
                                    "2.0.0", "--cmd", "./a", "--wait", NULL});
    cr_assert(cli_wait_out(&p, "phase=SCALE_UP", 20000));
    fake_admin_stop(f);

    /* The daemon comes back, answering 503 while it finishes starting, then the truth. */
    fake_route_t after[] = {
        {"GET", "/v1/deployments/7", 200, NULL, {done, done, done}, false, {503, 503, 200}, 0},
    };
    after[0].bodies[0] = "{\"error\":{\"code\":\"unavailable\",\"message\":\"starting\"}}";
    after[0].bodies[1] = after[0].bodies[0];
    f = fake_admin_start_on(after, 1, port);
    cr_assert(hits_at_least(f, 0, 3, 20000));
    cli_finish(&p, 0, 20000, &r);
    cr_assert_eq(r.code, 0, "%s\n%s", r.out, r.err);
    cr_assert_not_null(strstr(r.out, "result=SUCCEEDED"), "%s", r.out);
    cr_assert_str_eq(r.err, "");
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(started);
    free(running);
    free(done);
}

Test(cli_deploy, ctrl_c_stops_following_and_says_the_deployment_runs_on)
{
    char *started = dep(7, "PRE_SCALE_UP", "", "", 100, 0, 0);
    char *running = dep(7, "BAKE", "", "", 0, 100, 2);
    fake_route_t routes[] = {
        ROUTE("POST", "/v1/services/orders/deployments", 201, NULL, started),
        ROUTE("GET", "/v1/deployments/7", 200, NULL, running),
    };
    fake_admin_t *f = fake_admin_start(routes, BG_ARRAY_LEN(routes));
    cli_proc_t p;
    cli_res_t r;

    cli_start(&p, NULL,
              (const char *const[]){"--admin", fake_admin_url(f), "deploy", "orders", "--version",
                                    "2.0.0", "--cmd", "./a", "--wait", NULL});
    cr_assert(cli_wait_out(&p, "phase=BAKE", 20000));
    cli_finish(&p, SIGINT, 10000, &r);
    cr_assert_eq(r.code, 130, "%d %s", r.code, r.err);
    cr_assert_str_eq(r.err, "bluegreen: stopped following; deployment 7 runs on (bluegreen "
                            "status orders, bluegreen abort orders)\n");
    cli_res_fini(&r);
    fake_admin_stop(f);
    free(started);
    free(running);
}
