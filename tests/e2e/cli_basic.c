/* e2e: the real bluegreen binary without a daemon. Help and the verb list, check-config on
 * good and bad files (exact file:line:column), local argument checks (exit 2 before any
 * connection), an unreachable daemon (exit 4), and the admin API client against a fake
 * admin endpoint on a real loopback socket: requests it sends, how it prints answers, how
 * it maps error answers to exit codes.
 */
#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "support/support.h"

static const char good_yaml[] =
    "listen: 127.0.0.1:18080\n"
    "admin: unix:./state/bg-test.sock\n"
    "services:\n"
    "  orders:\n"
    "    route: {host: orders.local, path_prefix: /}\n"
    "    count: 2\n"
    "    run: {command: [\"./build/sample-app\", \"--service\", \"orders\"]}\n"
    "    health: {path: /actuator/health, format: actuator, interval: 1s}\n"
    "    strategy: {canary: {percent: 10, wait: 30s}}\n"
    "  legacy:\n"
    "    route: {host: legacy.local}\n"
    "    driver: static\n"
    "    targets: {blue: [\"127.0.0.1:9001\"], green: [\"127.0.0.1:9002\"]}\n"
    "    traffic: {blue: 100, green: 0}\n";

/* The bad value sits on line 6, column 17. */
static const char bad_duration_yaml[] = "listen: 127.0.0.1:18080\n"
                                        "services:\n"
                                        "  orders:\n"
                                        "    route: {host: orders.local}\n"
                                        "    health:\n"
                                        "      interval: fast\n";

static const char *const verbs[] = {"serve",   "check-config", "status",  "traffic", "targets",
                                    "deploy",  "rollback",     "promote", "pause",   "resume",
                                    "abort",   "history",      "events",  "matrix",  "plan",
                                    "release", "logs",         "reopen-logs", "reload-certs",
                                    "tls"};

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

TestSuite(cli, .timeout = 60);

Test(cli, help_lists_every_verb_with_examples)
{
    cli_res_t r;
    CLI_RUN(&r, "--help");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    const char *examples = strstr(r.out, "\nExamples:\n");
    cr_assert_not_null(examples, "%s", r.out);
    cr_assert_null(strstr(r.out, "later"), "%s", r.out);
    for (size_t i = 0; i < BG_ARRAY_LEN(verbs); i++) {
        char *line = bg_asprintf("\n  %-13s ", verbs[i]);
        const char *at = strstr(r.out, line);
        cr_assert(at != NULL && at < examples, "%s not among the commands:\n%s", verbs[i], r.out);
        free(line);
    }
    cr_assert_not_null(strstr(examples, "bluegreen deploy orders --version 2.3.0"), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "--admin unix:PATH|http://HOST:PORT"));
    cli_res_fini(&r);

    CLI_RUN(&r, "-h");
    cr_assert_eq(r.code, 0);
    cr_assert_not_null(strstr(r.out, "\n  logs          print a service's target logs\n"), "%s",
                       r.out);
    cli_res_fini(&r);
}

Test(cli, help_for_one_verb)
{
    cli_res_t r;
    CLI_RUN(&r, "help", "traffic");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cr_assert(starts_with(r.out, "Usage: bluegreen traffic SERVICE blue=N green=M"), "%s", r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "status", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert(starts_with(r.out, "Usage: bluegreen status [SERVICE] [--json]"), "%s", r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "help", "deploy");
    cr_assert_eq(r.code, 0);
    cr_assert(starts_with(r.out, "Usage: bluegreen deploy SERVICE --version V (--cmd"), "%s",
              r.out);
    cr_assert_not_null(strstr(r.out, "--dry-run prints the gate verdict"), "%s", r.out);
    cr_assert_null(strstr(r.out, "Not available"), "%s", r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "rollback", "--help");
    cr_assert_eq(r.code, 0);
    cr_assert(starts_with(r.out, "Usage: bluegreen rollback SERVICE [--force] [--json]"), "%s",
              r.out);
    cli_res_fini(&r);

    CLI_RUN(&r, "help", "frobnicate");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "unknown command 'frobnicate'"), "%s", r.err);
    cli_res_fini(&r);
}

Test(cli, version)
{
    cli_res_t r;
    CLI_RUN(&r, "--version");
    cr_assert_eq(r.code, 0);
    cr_assert(starts_with(r.out, "bluegreen "), "%s", r.out);
    cli_res_fini(&r);
}

Test(cli, usage_errors_exit_2)
{
    cli_res_t r;
    cli_run_in(&r, NULL, NULL, 30000, (const char *const[]){NULL});
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "no command given"), "%s", r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "frobnicate");
    cr_assert_eq(r.code, 2);
    cr_assert_str_eq(r.err, "bluegreen: unknown command 'frobnicate' (see bluegreen --help)\n");
    cli_res_fini(&r);

    CLI_RUN(&r, "status", "--frob");
    cr_assert_eq(r.code, 2);
    cr_assert(starts_with(r.err, "bluegreen status: unknown option '--frob'\nusage: "), "%s",
              r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "check-config", "--json");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "--json is not supported"), "%s", r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "option --admin needs a value"), "%s", r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", "tcp://x", "status");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "bad admin endpoint"), "%s", r.err);
    cli_res_fini(&r);
}

Test(cli, check_config_ok_summarises_services)
{
    char *dir = bgt_tmpdir("cli-cfg");
    char *path = cli_write_file(dir, "good.yaml", good_yaml);
    cli_res_t r;

    CLI_RUN(&r, "check-config", "-c", path);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    char *first = bg_asprintf("ok: %s: 2 services, listen 127.0.0.1:18080, admin "
                              "unix:./state/bg-test.sock\n",
                              path);
    cr_assert(starts_with(r.out, first), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\n  orders  route orders.local/  driver process  2 x "
                                     "0.0.0 command ./build/sample-app  strategy "
                                     "canary:10%:30s  health http /actuator/health actuator "
                                     "every 1s\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\n  legacy  route legacy.local/  driver static  targets "
                                     "blue:1 green:1  traffic blue=100 green=0"),
                       "%s", r.out);
    cr_assert_str_eq(r.err, "");
    cli_res_fini(&r);

    /* -c before the verb and --config=FILE work the same. */
    CLI_RUN(&r, "-c", path, "check-config");
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cli_res_fini(&r);
    char *opt = bg_asprintf("--config=%s", path);
    CLI_RUN(&r, "check-config", opt);
    cr_assert_eq(r.code, 0, "stderr: %s", r.err);
    cli_res_fini(&r);
    free(opt);
    free(first);
    free(path);
    free(dir);
}

Test(cli, check_config_error_names_file_line_column_and_key)
{
    char *dir = bgt_tmpdir("cli-cfg");
    char *path = cli_write_file(dir, "bad.yaml", bad_duration_yaml);
    cli_res_t r;

    CLI_RUN(&r, "check-config", "-c", path);
    cr_assert_eq(r.code, 2);
    char *want = bg_asprintf("%s:6:17: services.orders.health.interval: expected a duration", path);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cr_assert_str_eq(r.out, "");
    cli_res_fini(&r);
    free(want);

    char *path2 = cli_write_file(dir, "typo.yaml",
                                 "services:\n  orders:\n    route: {host: a}\n    helth: {}\n");
    CLI_RUN(&r, "check-config", "-c", path2);
    cr_assert_eq(r.code, 2);
    want = bg_asprintf("%s:4:5: services.orders.helth: unknown key \"helth\"", path2);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cli_res_fini(&r);
    free(want);
    free(path2);
    free(path);
    free(dir);
}

Test(cli, check_config_reads_bluegreen_yaml_by_default)
{
    char *dir = bgt_tmpdir("cli-cfg");
    cli_res_t r;

    cli_run_in(&r, dir, NULL, 30000, (const char *const[]){"check-config", NULL});
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "tried ./bluegreen.yaml (use -c FILE)"), "%s", r.err);
    cli_res_fini(&r);

    free(cli_write_file(dir, "bluegreen.yaml", good_yaml));
    cli_run_in(&r, dir, NULL, 30000, (const char *const[]){"check-config", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(starts_with(r.out, "ok: bluegreen.yaml: 2 services"), "%s", r.out);
    cli_res_fini(&r);
    free(dir);
}

/* The daemon address of these runs does not exist: exit 2 proves the arguments were
 * refused locally, before any connection (which would give 4). */
Test(cli, traffic_arguments_are_checked_before_any_request)
{
    static const struct {
        const char *a, *b, *msg;
    } cases[] = {
        {"blue=60", "green=30", "blue=60 green=30 add up to 90; they must add up to 100"},
        {"blue=100", NULL, "missing green=N"},
        {"green=100", NULL, "missing blue=N"},
        {"blue=x", "green=100", "'blue=x': the weight must be an integer from 0 to 100"},
        {"blue=-5", "green=105", "'blue=-5': the weight must be an integer from 0 to 100"},
        {"blue=101", "green=0", "'blue=101': the weight must be an integer from 0 to 100"},
        {"blue=50.5", "green=49.5", "the weight must be an integer"},
        {"red=50", "green=50", "'red=50': the slot must be blue or green"},
        {"blue=50", "blue=50", "blue is given twice"},
        {"50", "50", "'50' is not blue=N or green=N"},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        cli_res_t r;
        if (cases[i].b != NULL)
            CLI_RUN(&r, "--admin", "unix:/nonexistent/bg.sock", "traffic", "orders", cases[i].a,
                    cases[i].b);
        else
            CLI_RUN(&r, "--admin", "unix:/nonexistent/bg.sock", "traffic", "orders", cases[i].a);
        cr_assert_eq(r.code, 2, "case %zu: exit %d, %s", i, r.code, r.err);
        cr_assert(starts_with(r.err, "bluegreen traffic: "), "%s", r.err);
        cr_assert_not_null(strstr(r.err, cases[i].msg), "case %zu: %s", i, r.err);
        cr_assert_not_null(strstr(r.err, "usage: bluegreen traffic SERVICE blue=N green=M"));
        cli_res_fini(&r);
    }
    cli_res_t r;
    CLI_RUN(&r, "--admin", "unix:/nonexistent/bg.sock", "traffic");
    cr_assert_eq(r.code, 2);
    cr_assert_not_null(strstr(r.err, "missing SERVICE"), "%s", r.err);
    cli_res_fini(&r);
}

Test(cli, targets_arguments_are_checked_before_any_request)
{
    static const char *const cases[][5] = {
        {"orders", "add", "purple", "127.0.0.1:9001", "slot 'purple' must be blue or green"},
        {"orders", "add", "blue", "127.0.0.1", "address '127.0.0.1' must be HOST:PORT"},
        {"orders", "add", "blue", "127.0.0.1:70000", "must be HOST:PORT (port 1-65535)"},
        {"orders", "add", "blue", NULL, "add needs SLOT and ADDRESS"},
        {"orders", "remove", "x1", NULL, "target id 'x1' must be a number"},
        {"orders", "drop", "1", NULL, "unknown operation 'drop'"},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        cli_res_t r;
        const char *const *c = cases[i];
        if (c[3] != NULL)
            CLI_RUN(&r, "--admin", "unix:/nonexistent/bg.sock", "targets", c[0], c[1], c[2], c[3]);
        else
            CLI_RUN(&r, "--admin", "unix:/nonexistent/bg.sock", "targets", c[0], c[1], c[2]);
        cr_assert_eq(r.code, 2, "case %zu: exit %d, %s", i, r.code, r.err);
        cr_assert_not_null(strstr(r.err, c[4]), "case %zu: %s", i, r.err);
        cli_res_fini(&r);
    }
}

Test(cli, unreachable_daemon_exits_4)
{
    char *dir = bgt_tmpdir("cli-unreach");
    char *sock = bg_asprintf("unix:%s/none.sock", dir);
    cli_res_t r;

    CLI_RUN(&r, "--admin", sock, "status");
    cr_assert_eq(r.code, 4, "%s", r.err);
    char *want = bg_asprintf("bluegreen: cannot reach the daemon at %s: No such file or "
                             "directory\n",
                             sock);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cr_assert_str_eq(r.out, "");
    cli_res_fini(&r);

    /* The same through BLUEGREEN_ADMIN, and for every verb that talks to the daemon. */
    char *env_admin = bg_asprintf("BLUEGREEN_ADMIN=%s", sock);
    const char *const env[] = {env_admin, NULL};
    cli_run_in(&r, NULL, env, 30000,
               (const char *const[]){"traffic", "orders", "blue=0", "green=100", NULL});
    cr_assert_eq(r.code, 4, "%s", r.err);
    cr_assert(starts_with(r.err, want), "%s", r.err);
    cli_res_fini(&r);
    cli_run_in(&r, NULL, env, 30000,
               (const char *const[]){"targets", "orders", "add", "green", "127.0.0.1:9", NULL});
    cr_assert_eq(r.code, 4, "%s", r.err);
    cli_res_fini(&r);
    cli_run_in(&r, NULL, env, 30000,
               (const char *const[]){"targets", "orders", "remove", "3", NULL});
    cr_assert_eq(r.code, 4, "%s", r.err);
    cli_res_fini(&r);

    /* TCP: a port nobody listens on. */
    char *http = bg_asprintf("http://127.0.0.1:%d", bgt_free_port());
    CLI_RUN(&r, "--admin", http, "status", "orders");
    cr_assert_eq(r.code, 4, "%s", r.err);
    char *want_http =
        bg_asprintf("bluegreen: cannot reach the daemon at %s: Connection refused", http);
    cr_assert(starts_with(r.err, want_http), "%s", r.err);
    cli_res_fini(&r);

    free(want_http);
    free(http);
    free(env_admin);
    free(want);
    free(sock);
    free(dir);
}

Test(cli, endpoint_comes_from_the_config_file_else_the_default)
{
    char *dir = bgt_tmpdir("cli-endpoint");
    cli_res_t r;

    /* No config file: unix:./state/bluegreen.sock. */
    cli_run_in(&r, dir, NULL, 30000, (const char *const[]){"status", NULL});
    cr_assert_eq(r.code, 4, "%s", r.err);
    cr_assert(starts_with(r.err, "bluegreen: cannot reach the daemon at "
                                 "unix:./state/bluegreen.sock: "),
              "%s", r.err);
    cli_res_fini(&r);

    /* ./bluegreen.yaml: its `admin`. */
    free(cli_write_file(dir, "bluegreen.yaml", good_yaml));
    cli_run_in(&r, dir, NULL, 30000, (const char *const[]){"status", NULL});
    cr_assert_eq(r.code, 4, "%s", r.err);
    cr_assert(starts_with(r.err, "bluegreen: cannot reach the daemon at "
                                 "unix:./state/bg-test.sock: "),
              "%s", r.err);
    cli_res_fini(&r);

    /* -c after the verb; a broken config is a config error (2), not "unreachable". */
    char *bad = cli_write_file(dir, "bad.yaml", bad_duration_yaml);
    CLI_RUN(&r, "status", "-c", bad);
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, ":6:17: services.orders.health.interval"), "%s", r.err);
    cli_res_fini(&r);

    /* --admin wins over the config file. */
    CLI_RUN(&r, "status", "-c", bad, "--admin", "unix:/nonexistent/x.sock");
    cr_assert_eq(r.code, 4, "%s", r.err);
    cli_res_fini(&r);
    free(bad);
    free(dir);
}

/* A fake admin endpoint: every request gets <resp> (a full raw HTTP response). */
typedef struct fake {
    bgt_backend_t *b;
    char *url;
    const char *resp;
} fake_t;

static char *fake_answer(void *arg, const bgt_backend_req_t *req)
{
    const fake_t *f = arg;
    return bg_strdup(f->resp);
}

static void fake_start(fake_t *f, int status, const char *reason, const char *body)
{
    f->resp = bg_asprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                          status, reason, strlen(body), body);
    f->b = bgt_backend_start("admin", 0);
    bgt_backend_set_handler(f->b, fake_answer, f);
    f->url = bg_asprintf("http://127.0.0.1:%d", bgt_backend_port(f->b));
}

static char *fake_stop(fake_t *f)
{
    char *got = bgt_backend_received(f->b, NULL);
    bgt_backend_stop(f->b);
    free((char *)f->resp);
    free(f->url);
    return got;
}

Test(cli, api_error_answers_print_the_message)
{
    static const struct {
        int status;
        const char *reason, *code, *msg;
        int exit_code;
    } cases[] = {
        {404, "Not Found", "not_found", "service 'nope' not found", 1},
        {400, "Bad Request", "bad_request", "traffic: blue + green must be 100", 2},
        {409, "Conflict", "conflict", "a deployment is running", 1},
        {401, "Unauthorized", "unauthorized", "missing or wrong bearer token", 1},
        {500, "Internal Server Error", "internal", "store: disk full", 1},
    };
    for (size_t i = 0; i < BG_ARRAY_LEN(cases); i++) {
        fake_t f;
        cli_res_t r;
        char *body = bg_asprintf("{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", cases[i].code,
                                 cases[i].msg);
        fake_start(&f, cases[i].status, cases[i].reason, body);
        CLI_RUN(&r, "--admin", f.url, "status", "nope");
        cr_assert_eq(r.code, cases[i].exit_code, "case %zu: %d %s", i, r.code, r.err);
        char *want = bg_asprintf("bluegreen: %s\n", cases[i].msg);
        cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
        cr_assert_str_eq(r.out, "");
        cli_res_fini(&r);
        free(fake_stop(&f));
        free(want);
        free(body);
    }

    /* Not our JSON at all: the status and the start of the body. */
    fake_t f;
    cli_res_t r;
    fake_start(&f, 502, "Bad Gateway", "upstream gone");
    CLI_RUN(&r, "--admin", f.url, "status");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.err, "bluegreen: the daemon answered HTTP 502: upstream gone\n");
    cli_res_fini(&r);
    free(fake_stop(&f));
}

Test(cli, traffic_sends_the_split_and_prints_the_verified_switch)
{
    fake_t f;
    cli_res_t r;

    fake_start(&f, 200, "OK",
               "{\"service\":\"orders\",\"traffic\":{\"blue\":0,\"green\":100},"
               "\"generation\":4,\"switch_ms\":1.25}");
    CLI_RUN(&r, "--admin", f.url, "--token", "sekrit", "traffic", "orders", "green=100", "blue=0");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "service=orders blue=0 green=100 generation=4 switch_ms=1.250\n");
    char *got = fake_stop(&f);
    cr_assert(starts_with(got, "PUT /v1/services/orders/traffic HTTP/1.1\r\n"), "%s", got);
    cr_assert(bgt_head_header(got, "Authorization", NULL, 0));
    char auth[64];
    bgt_head_header(got, "Authorization", auth, sizeof(auth));
    cr_assert_str_eq(auth, "Bearer sekrit");
    const char *body = strstr(got, "\r\n\r\n");
    cr_assert_not_null(body);
    cr_assert_str_eq(body + 4, "{\"blue\":0,\"green\":100}");
    free(got);
    cli_res_fini(&r);
}

static const char service_json[] =
    "{\"name\":\"orders\",\"host\":\"orders.local\",\"path_prefix\":\"/\",\"driver\":\"static\","
    "\"traffic\":{\"blue\":100,\"green\":0},\"live_slot\":\"blue\",\"preview_slot\":\"green\","
    "\"slots\":{\"blue\":{\"targets\":[{\"id\":3,\"slot\":\"blue\",\"address\":\"127.0.0.1:9001\","
    "\"healthy\":true,\"draining\":false,\"health\":{\"reason\":\"UP\",\"last_status\":200,"
    "\"last_check\":\"2026-11-27T13:00:00.000Z\",\"consecutive_ok\":5,\"consecutive_fail\":0},"
    "\"requests\":{\"1xx\":0,\"2xx\":10,\"3xx\":1,\"4xx\":2,\"5xx\":3,\"failed\":4},\"active\":5}]}"
    ","
    "\"green\":{\"targets\":[{\"id\":4,\"slot\":\"green\",\"address\":\"127.0.0.1:9002\","
    "\"healthy\":false,\"draining\":false,\"health\":{\"reason\":\"db: DOWN\",\"last_status\":503,"
    "\"consecutive_ok\":0,\"consecutive_fail\":2},"
    "\"requests\":{\"1xx\":0,\"2xx\":0,\"3xx\":0,\"4xx\":0,\"5xx\":0,\"failed\":0},\"active\":0}]}}"
    ","
    "\"health\":{\"type\":\"http\",\"path\":\"/actuator/health\",\"format\":\"actuator\","
    "\"interval_ms\":1000}}";

Test(cli, status_prints_stable_lines_when_piped)
{
    fake_t f;
    cli_res_t r;
    char *list = bg_asprintf("{\"services\":[%s]}", service_json);

    fake_start(&f, 200, "OK", list);
    CLI_RUN(&r, "--admin", f.url, "status");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
                     "service name=orders host=orders.local path_prefix=/ driver=static "
                     "blue=100 green=0 live=blue preview=green blue_revision=0 "
                     "blue_version=\"\" green_revision=0 green_version=\"\"\n"
                     "target service=orders slot=blue id=3 address=127.0.0.1:9001 "
                     "health=healthy reason=UP last_status=200 requests_2xx=10 requests_3xx=1 "
                     "requests_4xx=2 requests_5xx=3 requests_failed=4 active=5\n"
                     "target service=orders slot=green id=4 address=127.0.0.1:9002 "
                     "health=unhealthy reason=\"db: DOWN\" last_status=503 requests_2xx=0 "
                     "requests_3xx=0 requests_4xx=0 requests_5xx=0 requests_failed=0 "
                     "active=0\n");
    char *got = fake_stop(&f);
    cr_assert(starts_with(got, "GET /v1/services HTTP/1.1\r\n"), "%s", got);
    cr_assert_not(bgt_head_header(got, "Authorization", NULL, 0));
    free(got);
    cli_res_fini(&r);
    free(list);
}

Test(cli, status_json_prints_the_api_answer)
{
    fake_t f;
    cli_res_t r;

    fake_start(&f, 200, "OK", service_json);
    CLI_RUN(&r, "--admin", f.url, "status", "my orders", "--json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *got = json_loads(r.out, 0, NULL), *want = json_loads(service_json, 0, NULL);
    cr_assert_not_null(got, "%s", r.out);
    cr_assert(json_equal(got, want), "%s", r.out);
    json_decref(got);
    json_decref(want);
    char *req = fake_stop(&f);
    /* The service name is percent-encoded in the path (RFC 3986). */
    cr_assert(starts_with(req, "GET /v1/services/my%20orders HTTP/1.1\r\n"), "%s", req);
    free(req);
    cli_res_fini(&r);
}

Test(cli, targets_add_and_remove_send_the_documented_requests)
{
    static const char target[] =
        "{\"id\":7,\"slot\":\"green\",\"address\":\"127.0.0.1:9002\",\"healthy\":false,"
        "\"draining\":false}";
    fake_t f;
    cli_res_t r;

    fake_start(&f, 201, "Created", target);
    CLI_RUN(&r, "--admin", f.url, "targets", "orders", "add", "green", "127.0.0.1:9002");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "registered service=orders id=7 slot=green address=127.0.0.1:9002\n");
    char *got = fake_stop(&f);
    cr_assert(starts_with(got, "POST /v1/services/orders/targets HTTP/1.1\r\n"), "%s", got);
    json_t *body = json_loads(strstr(got, "\r\n\r\n") + 4, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(body, "slot")), "green");
    cr_assert_str_eq(json_string_value(json_object_get(body, "address")), "127.0.0.1:9002");
    json_decref(body);
    free(got);
    cli_res_fini(&r);

    char *dereg = bg_asprintf("{\"deregistered\":%s}", target);
    fake_start(&f, 200, "OK", dereg);
    CLI_RUN(&r, "--admin", f.url, "targets", "orders", "remove", "7");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "deregistered service=orders id=7 slot=green address=127.0.0.1:9002\n");
    got = fake_stop(&f);
    cr_assert(starts_with(got, "DELETE /v1/services/orders/targets/7 HTTP/1.1\r\n"), "%s", got);
    free(got);
    free(dereg);
    cli_res_fini(&r);
}

Test(cli, on_a_terminal_status_is_a_table_with_colour)
{
    fake_t f;
    cli_res_t r;
    char *list = bg_asprintf("{\"services\":[%s]}", service_json);

    fake_start(&f, 200, "OK", list);
    const char *const colour[] = {"NO_COLOR=", NULL};
    cli_run_tty(&r, colour, 30000, (const char *const[]){"--admin", f.url, "status", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\033[1morders\033[0m  orders.local/  (static)\n"), "%s",
                       r.out);
    cr_assert_not_null(strstr(r.out, "  traffic  \033[34mblue 100%\033[0m  \033[32mgreen "
                                     "0%\033[0m   live blue, preview green\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  SLOT     REV  VERSION          WEIGHT  HEALTHY  ROLE\n"
                                     "  blue       -  -                  100%  1/1      live\n"
                                     "  green      -  -                    0%  0/1      preview\n"),
                       "versions table: %s", r.out);
    cr_assert_not_null(strstr(r.out, "  SLOT     ID  ADDRESS               HEALTH        2XX    "
                                     "3XX    4XX    5XX FAILED ACTIVE  REASON\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  blue      3  127.0.0.1:9001        \033[32mhealthy   "
                                     "\033[0m     10      1      2      3      4      5  UP\n"),
                       "%s", r.out);
    cr_assert_not_null(strstr(r.out, "\033[31munhealthy \033[0m      0      0      0      0   "
                                     "   0      0  db: DOWN\n"),
                       "%s", r.out);
    cli_res_fini(&r);

    /* NO_COLOR (not empty) keeps the layout and drops the escapes. */
    const char *const plain[] = {"NO_COLOR=1", NULL};
    cli_run_tty(&r, plain, 30000, (const char *const[]){"--admin", f.url, "status", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_null(strchr(r.out, '\033'), "%s", r.out);
    cr_assert_not_null(strstr(r.out, "  blue      3  127.0.0.1:9001        healthy   "), "%s",
                       r.out);
    cli_res_fini(&r);
    free(fake_stop(&f));
    free(list);
}

Test(cli, on_a_terminal_traffic_explains_the_switch)
{
    fake_t f;
    cli_res_t r;

    fake_start(&f, 200, "OK",
               "{\"service\":\"orders\",\"traffic\":{\"blue\":0,\"green\":100},"
               "\"generation\":4,\"switch_ms\":1.25}");
    cli_run_tty(
        &r, NULL, 30000,
        (const char *const[]){"--admin", f.url, "traffic", "orders", "blue=0", "green=100", NULL});
    cr_assert_eq(r.code, 0, "%s", r.out);
    cr_assert_str_eq(r.out, "orders: traffic now blue 0% / green 100% (generation 4; switch "
                            "verified on every worker in 1.250 ms)\n");
    cli_res_fini(&r);
    free(fake_stop(&f));
}

/* ---- issue 11 item 4 ---- */

/* --json: every error is one line of JSON on stderr with a stable code
 * (docs/cli-errors.md), whatever found it: the argument parser, the endpoint, the daemon. */
Test(cli, json_errors_are_json_on_stderr_with_a_stable_code)
{
    char *dir = bgt_tmpdir("cli-json-err");
    char *sock = bg_asprintf("unix:%s/none.sock", dir);
    json_error_t jerr;
    cli_res_t r;
    json_t *j;

    CLI_RUN(&r, "--json", "status", "--frob");
    cr_assert_eq(r.code, 2, "%s", r.err);
    j = json_loads(r.err, 0, &jerr);
    cr_assert_not_null(j, "stderr is not JSON: %s", r.err);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "usage");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(j, "error"), "exit")), 2);
    cr_assert_str_eq(r.out, "");
    json_decref(j);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", sock, "status", "--json");
    cr_assert_eq(r.code, 4, "%s", r.err);
    j = json_loads(r.err, 0, &jerr);
    cr_assert_not_null(j, "stderr is not JSON: %s", r.err);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")),
                     "unreachable");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "admin")),
                     sock);
    json_decref(j);
    cli_res_fini(&r);

    /* a daemon's answer: the CLI's code, the HTTP status and the daemon's own code */
    fake_t f;
    fake_start(&f, 409, "Conflict",
               "{\"error\":{\"code\":\"conflict\",\"message\":\"a deployment is running\"}}");
    CLI_RUN(&r, "--admin", f.url, "--json", "status", "orders");
    cr_assert_eq(r.code, 1, "%s", r.err);
    j = json_loads(r.err, 0, &jerr);
    cr_assert_not_null(j, "stderr is not JSON: %s", r.err);
    json_t *e = json_object_get(j, "error");
    cr_assert_str_eq(json_string_value(json_object_get(e, "code")), "conflict");
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "a deployment is running");
    cr_assert_eq(json_integer_value(json_object_get(e, "status")), 409);
    json_decref(j);
    cli_res_fini(&r);
    free(fake_stop(&f));

    /* without --json, the same error stays a sentence */
    fake_start(&f, 409, "Conflict",
               "{\"error\":{\"code\":\"conflict\",\"message\":\"a deployment is running\"}}");
    CLI_RUN(&r, "--admin", f.url, "status", "orders");
    cr_assert_str_eq(r.err, "bluegreen: a deployment is running\n");
    cli_res_fini(&r);
    free(fake_stop(&f));
    free(sock);
    free(dir);
}

Test(cli, check_config_empty_file_is_an_error)
{
    char *dir = bgt_tmpdir("cli-cfg");
    char *path = cli_write_file(dir, "empty.yaml", "");
    cli_res_t r;

    CLI_RUN(&r, "check-config", "-c", path);
    cr_assert_eq(r.code, 2, "%s", r.out);
    char *want = bg_asprintf("%s:1:1: the config is empty", path);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cli_res_fini(&r);
    free(want);
    free(path);
    free(dir);
}

/* requires naming what no service provides: a warning at the key, exit 0; a driver this
 * build lacks: an error at the driver key, exit 2. */
Test(cli, check_config_warns_unknown_requires_and_refuses_missing_drivers)
{
    char *dir = bgt_tmpdir("cli-cfg");
    char *path = cli_write_file(dir, "req.yaml",
                                "services:\n"
                                "  orders:\n"
                                "    route: {host: orders.local}\n"
                                "    run: {command: ./app}\n"
                                "    api:\n"
                                "      requires: {paymnts: \"^1.4\", orders: \"^1\"}\n");
    cli_res_t r;

    CLI_RUN(&r, "check-config", "-c", path);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char *want = bg_asprintf("%s:6:18: services.orders.api.requires.paymnts: warning: no "
                             "service in this config provides API \"paymnts\"",
                             path);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cr_assert(strstr(r.err, "requires.orders") == NULL, "orders is a service: %s", r.err);
    cr_assert(starts_with(r.out, "ok: "), "%s", r.out);
    cli_res_fini(&r);
    free(want);

    char *path2 = cli_write_file(dir, "ecs.yaml",
                                 "services:\n"
                                 "  orders:\n"
                                 "    route: {host: orders.local}\n"
                                 "    driver: ecs\n"
                                 "    image: acme/orders:1\n");
    CLI_RUN(&r, "check-config", "-c", path2);
    cr_assert_eq(r.code, 2, "%s", r.err);
    /* Every driver is in this build now: an ecs service without its ecs: block is the
     * error, at the service. */
    want = bg_asprintf("%s:3:5: services.orders: the ecs driver needs an ecs: mapping (cluster, "
                       "listener_rule_arn, target_groups: {blue, green}, ...)",
                       path2);
    cr_assert(starts_with(r.err, want), "want %s\ngot  %s", want, r.err);
    cr_assert_str_eq(r.out, "");
    cli_res_fini(&r);
    free(want);
    free(path2);
    free(path);
    free(dir);
}

Test(cli, status_watch_and_deployment_arguments)
{
    cli_res_t r;

    CLI_RUN(&r, "--admin", "unix:/nonexistent.sock", "status", "--watch");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "--watch follows one service"), "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", "unix:/nonexistent.sock", "deployment");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "missing ID"), "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", "unix:/nonexistent.sock", "deployment", "x7");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "must be a positive integer"), "%s", r.err);
    cli_res_fini(&r);
}
