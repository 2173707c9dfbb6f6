/* e2e: the CLI against a real `bluegreen serve` with real build/sample-app backends.
 *
 * One static service `web` with a blue and a green sample-app; the CLI reads status,
 * switches traffic (and the proxy then answers from the other slot), registers and
 * deregisters a target, and reports API errors; `serve` itself refuses a bad config with
 * file:line:column and exit 2. Every wait is a condition with a deadline.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "support/support.h"

#define WAIT_MS 15000

typedef struct daemon {
    char *dir, *cfg, *admin;
    int port;        /* production listener */
    int app_port[2]; /* blue, green sample-apps */
    pid_t app[2];
    pid_t serve;
} daemon_t;

static daemon_t d;

static pid_t start_app(const char *slot, const char *version, int port)
{
    char port_s[16], *log = bg_asprintf("%s/app-%s-%d.log", d.dir, slot, port);
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *const argv[] = {bgt_bin("sample-app"),
                                "--service",
                                "web",
                                "--version",
                                version,
                                "--port",
                                port_s,
                                "--slot",
                                slot,
                                NULL};
    pid_t pid = bgt_spawn(argv, NULL, log);
    free(log);
    cr_assert(bgt_wait_port(port, WAIT_MS), "sample-app %s did not listen on %d", slot, port);
    return pid;
}

static bool socket_exists(void *arg)
{
    return access(arg, F_OK) == 0;
}

static void daemon_start(void)
{
    d.dir = bgt_tmpdir("cli-daemon");
    d.port = bgt_free_port();
    d.app_port[0] = bgt_free_port();
    d.app_port[1] = bgt_free_port();
    d.app[0] = start_app("blue", "1.0.0", d.app_port[0]);
    d.app[1] = start_app("green", "2.0.0", d.app_port[1]);
    char *yaml = bg_asprintf(
        "listen: 127.0.0.1:%d\n"
        "admin: unix:%s/bg.sock\n"
        "state_dir: %s/state\n"
        "proxy: {workers: 2}\n"
        "services:\n"
        "  web:\n"
        "    route: {host: web.local}\n"
        "    driver: static\n"
        "    health: {path: /actuator/health, format: actuator, interval: 100ms, timeout: 1s,\n"
        "             healthy_threshold: 1, unhealthy_threshold: 1}\n"
        "    targets: {blue: [\"127.0.0.1:%d\"], green: [\"127.0.0.1:%d\"]}\n"
        "    traffic: {blue: 100, green: 0}\n",
        d.port, d.dir, d.dir, d.app_port[0], d.app_port[1]);
    d.cfg = cli_write_file(d.dir, "bluegreen.yaml", yaml);
    free(yaml);
    d.admin = bg_asprintf("unix:%s/bg.sock", d.dir);

    char *log = bg_asprintf("%s/serve.log", d.dir);
    const char *const argv[] = {bgt_bin("bluegreen"), "serve", "-c", d.cfg, NULL};
    d.serve = bgt_spawn(argv, NULL, log);
    free(log);
    cr_assert(bgt_wait_port(d.port, WAIT_MS), "serve did not listen (see %s/serve.log)", d.dir);
    cr_assert(bgt_wait_until(socket_exists, d.admin + 5, WAIT_MS), "no admin socket");
}

static void daemon_stop(void)
{
    if (d.serve > 0)
        bgt_stop(d.serve, 10000);
    for (int i = 0; i < 2; i++)
        if (d.app[i] > 0)
            bgt_stop(d.app[i], 5000);
    free(d.dir);
    free(d.cfg);
    free(d.admin);
    memset(&d, 0, sizeof(d));
}

TestSuite(cli_daemon, .init = daemon_start, .fini = daemon_stop, .timeout = 90);

/* Runs `bluegreen --admin <unix socket> <args...>`. */
#define RUN(r, ...) CLI_RUN((r), "--admin", d.admin, __VA_ARGS__)

typedef struct until_status {
    const char *needle[4];
    char *last;
} until_status_t;

/* True once `status` (piped, so key=value lines) contains every needle. */
static bool status_has(void *arg)
{
    until_status_t *u = arg;
    cli_res_t r;
    RUN(&r, "status");
    bool ok = r.code == 0;
    for (size_t i = 0; ok && i < BG_ARRAY_LEN(u->needle) && u->needle[i] != NULL; i++)
        ok = strstr(r.out, u->needle[i]) != NULL;
    free(u->last);
    u->last = bg_asprintf("exit %d\n%s%s", r.code, r.out, r.err);
    cli_res_fini(&r);
    return ok;
}

static void wait_status(const char *a, const char *b, const char *c)
{
    until_status_t u = {{a, b, c, NULL}, NULL};
    cr_assert(bgt_wait_until(status_has, &u, WAIT_MS), "status never showed %s / %s / %s:\n%s", a,
              b ? b : "", c ? c : "", u.last);
    free(u.last);
}

/* The "slot" of the sample-app that answered GET / through the production listener. */
static char *proxied_slot(void)
{
    bgt_resp_t resp = {0};
    cr_assert(bgt_http_get(d.port, "web.local", "/", &resp, 5000));
    cr_assert_eq(resp.status, 200, "%s", resp.body);
    json_t *doc = json_loads(resp.body, 0, NULL);
    char *slot = bg_strdup(json_string_value(json_object_get(doc, "slot")));
    json_decref(doc);
    bgt_resp_fini(&resp);
    return slot;
}

Test(cli_daemon, status_shows_route_split_and_healthy_targets)
{
    char *blue =
        bg_asprintf("slot=blue id=1 address=127.0.0.1:%d health=healthy reason=", d.app_port[0]);
    char *green =
        bg_asprintf("slot=green id=2 address=127.0.0.1:%d health=healthy reason=", d.app_port[1]);
    wait_status("service name=web host=web.local path_prefix=/ driver=static blue=100 "
                "green=0 live=blue preview=green blue_revision=",
                blue, green);
    free(blue);
    free(green);

    cli_res_t r;
    RUN(&r, "status", "web", "--json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *doc = json_loads(r.out, 0, NULL);
    cr_assert_not_null(doc, "%s", r.out);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "name")), "web");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(doc, "traffic"), "blue")), 100);
    json_decref(doc);
    cli_res_fini(&r);

    RUN(&r, "status", "nope");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: service 'nope' not found\n");
    cli_res_fini(&r);
}

Test(cli_daemon, traffic_switch_moves_the_proxy_to_green)
{
    char *green = bg_asprintf("address=127.0.0.1:%d health=healthy", d.app_port[1]);
    wait_status(green, NULL, NULL);
    free(green);
    char *slot = proxied_slot();
    cr_assert_str_eq(slot, "blue");
    free(slot);

    cli_res_t r;
    RUN(&r, "traffic", "web", "blue=0", "green=100");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "service=web blue=0 green=100 generation=", 40) == 0, "%s", r.out);
    cr_assert_not_null(strstr(r.out, " switch_ms="), "%s", r.out);
    cli_res_fini(&r);

    /* The answer came after every worker adopted the new routing: no waiting here. */
    for (int i = 0; i < 8; i++) {
        slot = proxied_slot();
        cr_assert_str_eq(slot, "green", "request %d", i);
        free(slot);
    }
    RUN(&r, "status", "web");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_not_null(strstr(r.out, "blue=0 green=100 live=green preview=blue blue_revision="), "%s", r.out);
    cli_res_fini(&r);

    RUN(&r, "traffic", "nope", "blue=0", "green=100");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert_str_eq(r.err, "bluegreen: service 'nope' not found\n");
    cli_res_fini(&r);
}

Test(cli_daemon, targets_register_and_deregister)
{
    int port = bgt_free_port();
    pid_t extra = start_app("green", "2.0.1", port);
    char addr[32];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);

    cli_res_t r;
    RUN(&r, "targets", "web", "add", "green", addr);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char *prefix = bg_asprintf("registered service=web id=");
    cr_assert(strncmp(r.out, prefix, strlen(prefix)) == 0, "%s", r.out);
    long id = strtol(r.out + strlen(prefix), NULL, 10);
    cr_assert_gt(id, 0, "%s", r.out);
    char *tail = bg_asprintf(" slot=green address=%s\n", addr);
    cr_assert_not_null(strstr(r.out, tail), "%s", r.out);
    cli_res_fini(&r);

    /* It starts unhealthy and turns healthy once it passes its checks. */
    char *healthy = bg_asprintf("id=%ld address=%s health=healthy", id, addr);
    wait_status(healthy, NULL, NULL);

    /* `targets web` lists both slots' targets, the new one included. */
    RUN(&r, "targets", "web");
    cr_assert_eq(r.code, 0, "%s", r.err);
    char *listed = bg_asprintf("target service=web slot=green id=%ld address=%s health=", id, addr);
    cr_assert_not_null(strstr(r.out, listed), "%s", r.out);
    static const char first[] = "target service=web slot=blue id=1 ";
    cr_assert(strncmp(r.out, first, strlen(first)) == 0, "%s", r.out);
    free(listed);
    cli_res_fini(&r);

    char id_s[24];
    snprintf(id_s, sizeof(id_s), "%ld", id);
    RUN(&r, "targets", "web", "remove", id_s);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char *want = bg_asprintf("deregistered service=web id=%ld slot=green address=%s\n", id, addr);
    cr_assert_str_eq(r.out, want);
    cli_res_fini(&r);

    RUN(&r, "targets", "web", "remove", id_s);
    cr_assert_neq(r.code, 0, "removing twice must fail: %s", r.out);
    cli_res_fini(&r);

    RUN(&r, "targets", "web", "add", "green", "127.0.0.1:1", "--json");
    cr_assert_eq(r.code, 0, "%s", r.err);
    json_t *t = json_loads(r.out, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(t, "address")), "127.0.0.1:1");
    cr_assert(json_is_false(json_object_get(t, "healthy")), "a new target starts unhealthy");
    json_decref(t);
    cli_res_fini(&r);
    /* Nobody listens there: it stays unhealthy, and status says why (quoted: it has
     * spaces, like "connect: connection refused"). */
    wait_status("address=127.0.0.1:1 health=unhealthy reason=\"", NULL, NULL);

    bgt_stop(extra, 5000);
    free(want);
    free(healthy);
    free(tail);
    free(prefix);
}

Test(cli_daemon, default_endpoint_from_the_config_file)
{
    cli_res_t r;
    /* No --admin: `admin` of ./bluegreen.yaml in the working directory. */
    cli_run_in(&r, d.dir, NULL, 30000, (const char *const[]){"status", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "service name=web ", 17) == 0, "%s", r.out);
    cli_res_fini(&r);
}

Test(cli_daemon, serve_refuses_a_bad_config_with_its_position)
{
    char *bad = cli_write_file(d.dir, "bad.yaml",
                               "listen: 127.0.0.1:1\n"
                               "services:\n"
                               "  web:\n"
                               "    route: {host: web.local}\n"
                               "    health:\n"
                               "      interval: fast\n");
    cli_res_t r;
    CLI_RUN(&r, "serve", "-c", bad);
    cr_assert_eq(r.code, 2, "%s", r.err);
    char *want = bg_asprintf("%s:6:17: services.web.health.interval: ", bad);
    cr_assert(strncmp(r.err, want, strlen(want)) == 0, "want %s\ngot  %s", want, r.err);
    cli_res_fini(&r);
    free(want);
    free(bad);
}

/* A TCP admin endpoint needs the bearer token; the CLI takes it from --token,
 * BLUEGREEN_TOKEN or the config file's admin_token. */
static daemon_t h;

static void http_daemon_start(void)
{
    h.dir = bgt_tmpdir("cli-daemon-http");
    h.port = bgt_free_port();
    int admin_port = bgt_free_port();
    char *yaml = bg_asprintf("listen: 127.0.0.1:%d\n"
                             "admin: http://127.0.0.1:%d\n"
                             "admin_token: s3cret\n"
                             "state_dir: %s/state\n"
                             "services:\n"
                             "  web:\n"
                             "    route: {host: web.local}\n"
                             "    driver: static\n"
                             "    targets: {blue: [\"127.0.0.1:1\"]}\n",
                             h.port, admin_port, h.dir);
    h.cfg = cli_write_file(h.dir, "bluegreen.yaml", yaml);
    free(yaml);
    h.admin = bg_asprintf("http://127.0.0.1:%d", admin_port);
    char *log = bg_asprintf("%s/serve.log", h.dir);
    const char *const argv[] = {bgt_bin("bluegreen"), "serve", "-c", h.cfg, NULL};
    h.serve = bgt_spawn(argv, NULL, log);
    free(log);
    cr_assert(bgt_wait_port(admin_port, WAIT_MS), "no admin port (see %s/serve.log)", h.dir);
}

static void http_daemon_stop(void)
{
    if (h.serve > 0)
        bgt_stop(h.serve, 10000);
    free(h.dir);
    free(h.cfg);
    free(h.admin);
    memset(&h, 0, sizeof(h));
}

TestSuite(cli_daemon_http, .init = http_daemon_start, .fini = http_daemon_stop, .timeout = 90);

Test(cli_daemon_http, bearer_token_from_flag_env_or_config)
{
    cli_res_t r;

    CLI_RUN(&r, "--admin", h.admin, "status");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cr_assert(strncmp(r.err, "bluegreen: ", 11) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "hint: pass --token or set BLUEGREEN_TOKEN."), "%s", r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", h.admin, "--token", "wrong", "status");
    cr_assert_eq(r.code, 1, "%s", r.err);
    cli_res_fini(&r);

    CLI_RUN(&r, "--admin", h.admin, "--token", "s3cret", "status");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "service name=web ", 17) == 0, "%s", r.out);
    cli_res_fini(&r);

    const char *const env[] = {"BLUEGREEN_TOKEN=s3cret", NULL};
    char *admin_env = bg_asprintf("BLUEGREEN_ADMIN=%s", h.admin);
    const char *const env2[] = {"BLUEGREEN_TOKEN=s3cret", admin_env, NULL};
    cli_run_in(&r, NULL, env, 30000, (const char *const[]){"--admin", h.admin, "status", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cli_res_fini(&r);
    cli_run_in(&r, NULL, env2, 30000,
               (const char *const[]){"traffic", "web", "blue=100", "green=0", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "service=web blue=100 green=0 generation=", 40) == 0, "%s", r.out);
    cli_res_fini(&r);
    free(admin_env);

    /* Endpoint and token both from the config file. */
    CLI_RUN(&r, "status", "web", "-c", h.cfg);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cli_res_fini(&r);
}

Test(cli_daemon, serve_exits_0_on_sigterm_and_the_cli_then_reports_it_unreachable)
{
    cli_res_t r;
    RUN(&r, "status");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cli_res_fini(&r);

    int st = bgt_stop(d.serve, 15000);
    d.serve = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve ended with wait status %#x", st);

    RUN(&r, "status");
    cr_assert_eq(r.code, 4, "%s", r.err);
    char *want = bg_asprintf("bluegreen: cannot reach the daemon at %s: ", d.admin);
    cr_assert(strncmp(r.err, want, strlen(want)) == 0, "%s", r.err);
    free(want);
    cli_res_fini(&r);
}

Test(cli_daemon, a_second_serve_on_the_same_admin_socket_exits_1)
{
    char *yaml = bg_asprintf("listen: 127.0.0.1:%d\n"
                             "admin: %s\n"
                             "state_dir: %s/state2\n"
                             "services:\n"
                             "  web:\n"
                             "    route: {host: web.local}\n"
                             "    driver: static\n"
                             "    targets: {blue: [\"127.0.0.1:1\"]}\n",
                             bgt_free_port(), d.admin, d.dir);
    char *cfg = cli_write_file(d.dir, "second.yaml", yaml);
    cli_res_t r;

    CLI_RUN(&r, "serve", "-c", cfg);
    cr_assert_eq(r.code, 1, "%s", r.err);
    char *want =
        bg_asprintf("bluegreen: serve: admin: another process is listening on %s", d.admin + 5);
    cr_assert_not_null(strstr(r.err, want), "%s", r.err);
    cli_res_fini(&r);

    /* The first daemon still answers. */
    RUN(&r, "status");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cli_res_fini(&r);
    free(want);
    free(cfg);
    free(yaml);
}

static bool serve_exited(void *arg)
{
    int *st = arg;
    return bgt_exited(d.serve, st);
}

Test(cli_daemon, shutdown_verb_stops_the_daemon)
{
    cli_res_t r;
    int st = -1;

    RUN(&r, "shutdown", "extra");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cli_res_fini(&r);

    RUN(&r, "shutdown", "--stop-targets");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert_str_eq(r.out, "shutdown stop_targets=true targets_stopped=true\n");
    cli_res_fini(&r);
    cr_assert(bgt_wait_until(serve_exited, &st, 15000), "serve did not exit after shutdown");
    d.serve = 0;
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "serve ended with wait status %#x", st);

    RUN(&r, "shutdown");
    cr_assert_eq(r.code, 4, "%s", r.err);
    cli_res_fini(&r);
}
