/* e2e: `bluegreen dashboard` with real processes (docs/internals/dashboard.md): a real
 * `bluegreen serve` on a Unix admin socket, the dashboard command in front of it printing a
 * one-time login URL, a browser launched through $BROWSER, the API and its event stream
 * forwarded with the session's cookie and CSRF rules, Ctrl-C ending it with exit 0; a
 * daemon with a TCP admin listener gets a login URL of its own dashboard instead.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "integration/dashboard_client.h"
#include "support/support.h"

#define WAIT_MS 20000
#define TOKEN "e2e-dashboard-token"

typedef struct daemon {
    char *dir, *cfg, *admin;
    int port, admin_port;
    pid_t serve;
} daemon_t;

static daemon_t d;

static bool socket_exists(void *arg)
{
    return access(arg, F_OK) == 0;
}

/* `serve` with a static service whose two slots point at ports nobody listens on (health
 * does not matter here); the admin API on a Unix socket, or TCP with TOKEN. */
static void daemon_start(bool tcp)
{
    char *yaml, *log;

    d.dir = bgt_tmpdir("cli-dashboard");
    d.port = bgt_free_port();
    if (tcp) {
        d.admin_port = bgt_free_port();
        d.admin = bg_asprintf("http://127.0.0.1:%d", d.admin_port);
    } else {
        d.admin = bg_asprintf("unix:%s/bg.sock", d.dir);
    }
    yaml = bg_asprintf("listen: 127.0.0.1:%d\n"
                       "admin: %s\n"
                       "%s"
                       "state_dir: %s/state\n"
                       "services:\n"
                       "  web:\n"
                       "    route: {host: web.local}\n"
                       "    driver: static\n"
                       "    targets: {blue: [\"127.0.0.1:%d\"], green: [\"127.0.0.1:%d\"]}\n"
                       "    traffic: {blue: 100, green: 0}\n",
                       d.port, d.admin, tcp ? "admin_token: " TOKEN "\n" : "", d.dir,
                       bgt_free_port(), bgt_free_port());
    d.cfg = cli_write_file(d.dir, "bluegreen.yaml", yaml);
    free(yaml);
    log = bg_asprintf("%s/serve.log", d.dir);
    d.serve = bgt_spawn((const char *const[]){bgt_bin("bluegreen"), "serve", "-c", d.cfg, NULL},
                        NULL, log);
    free(log);
    cr_assert(bgt_wait_port(d.port, WAIT_MS), "serve did not listen (see %s/serve.log)", d.dir);
    if (tcp)
        cr_assert(bgt_wait_port(d.admin_port, WAIT_MS), "no admin listener");
    else
        cr_assert(bgt_wait_until(socket_exists, d.admin + 5, WAIT_MS), "no admin socket");
}

static void daemon_stop(void)
{
    if (d.serve > 0)
        bgt_stop(d.serve, 10000);
    free(d.dir);
    free(d.cfg);
    free(d.admin);
    memset(&d, 0, sizeof(d));
}

static void start_unix(void)
{
    daemon_start(false);
}

static void start_tcp(void)
{
    daemon_start(true);
}

/* The capture file <fd> as text (owned). */
static char *capture(int fd)
{
    bg_buf_t b;
    char chunk[4096];
    ssize_t n;

    bg_buf_init(&b);
    for (off_t at = 0; (n = pread(fd, chunk, sizeof(chunk), at)) > 0; at += n)
        bg_buf_append(&b, chunk, (size_t)n);
    bg_buf_append(&b, "", 1);
    return bg_buf_steal(&b);
}

/* Starts `bluegreen dashboard --json <extra...>` against the daemon and returns its JSON
 * line (new reference) once printed. */
static json_t *dashboard_start(cli_proc_t *p, const char *const env[], const char *extra)
{
    const char *const args[] = {"--admin", d.admin, "dashboard", "--json", extra, NULL};
    char *out;
    json_t *j;

    cli_start(p, env, args);
    cr_assert(cli_wait_out(p, "\"login_url\"", WAIT_MS), "no login URL printed:\n%s",
              (out = capture(p->err)));
    out = capture(p->out);
    j = json_loads(out, JSON_DISABLE_EOF_CHECK, NULL);
    cr_assert_not_null(j, "%s", out);
    free(out);
    return j;
}

/* Port and path of an http://127.0.0.1:PORT/... URL. */
static int url_port(const char *url, const char **path)
{
    const char *colon = strchr(url + strlen("http://"), ':');
    cr_assert_not_null(colon, "%s", url);
    *path = strchr(colon, '/');
    cr_assert_not_null(*path, "%s", url);
    return (int)strtol(colon + 1, NULL, 10);
}

static int green_weight(void)
{
    cli_res_t r;
    json_t *j;
    int w;

    CLI_RUN(&r, "--admin", d.admin, "--token", TOKEN, "status", "web", "--json");
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j, "%s", r.out);
    w = (int)json_integer_value(json_object_get(json_object_get(j, "traffic"), "green"));
    json_decref(j);
    cli_res_fini(&r);
    return w;
}

static void cli_traffic(int blue)
{
    char b[16], g[16];
    cli_res_t r;

    snprintf(b, sizeof(b), "blue=%d", blue);
    snprintf(g, sizeof(g), "green=%d", 100 - blue);
    CLI_RUN(&r, "--admin", d.admin, "traffic", "web", b, g);
    cr_assert_eq(r.code, 0, "%s%s", r.out, r.err);
    cli_res_fini(&r);
}

/* Next event named <want> within the deadline; others skipped. */
static bool next_named(dc_sse_t *s, const char *want, char *id, size_t id_size, char **data)
{
    char event[64];
    uint64_t deadline = bg_now_ms() + WAIT_MS;

    while (bg_now_ms() < deadline) {
        if (!dc_sse_next(s, (int)(deadline - bg_now_ms()), id, id_size, event, sizeof(event), data))
            return false;
        if (strcmp(event, want) == 0)
            return true;
        free(*data);
    }
    return false;
}

Test(cli_dashboard, serves_logs_in_once_and_forwards_the_api, .init = start_unix,
     .fini = daemon_stop, .timeout = 180)
{
    cli_proc_t p;
    cli_res_t r;
    json_t *j = dashboard_start(&p, (const char *const[]){"BROWSER=", "DISPLAY=", NULL},
                                "--no-browser");
    const char *login_url = json_string_value(json_object_get(j, "login_url")), *login_path;
    int port = url_port(login_url, &login_path);
    char *cookie, *csrf, *hdrs, id[64], first[64], *data;
    dc_resp_t resp;
    dc_sse_t s;

    cr_assert(json_is_true(json_object_get(j, "proxy")));
    cr_assert(json_is_null(json_object_get(j, "browser")), "--no-browser opened one");
    cr_assert_str_eq(json_string_value(json_object_get(j, "admin")), d.admin);
    /* Nothing without logging in; the printed URL logs in once. */
    cr_assert(dc_call(port, "GET", "/v1/services", NULL, NULL, &resp));
    cr_assert_eq(resp.status, 401, "%s", resp.body);
    dc_resp_fini(&resp);
    cr_assert(dc_call(port, "GET", "/dashboard/", NULL, NULL, &resp));
    cr_assert_eq(resp.status, 401);
    dc_resp_fini(&resp);
    cookie = dc_login(port, strstr(login_path, "token=") + 6);
    cr_assert(dc_call(port, "GET", login_path, NULL, NULL, &resp));
    cr_assert_eq(resp.status, 401, "the one-time URL worked twice");
    dc_resp_fini(&resp);
    csrf = dc_csrf(port, cookie, "proxy");

    /* The pages, and the daemon's API through the Unix socket. */
    cr_assert(dc_call(port, "GET", "/dashboard/", cookie, NULL, &resp));
    cr_assert_eq(resp.status, 200);
    cr_assert(strstr(resp.body, "<html") != NULL);
    cr_assert_not_null(dc_header(resp.head, "Content-Security-Policy"));
    dc_resp_fini(&resp);
    cr_assert(dc_call(port, "GET", "/v1/services/web", cookie, NULL, &resp));
    cr_assert_eq(resp.status, 200, "%s", resp.body);
    cr_assert(strstr(resp.body, "\"name\":\"web\"") != NULL, "%s", resp.body);
    dc_resp_fini(&resp);
    cr_assert(dc_call(port, "GET", "/v1/services/nope", cookie, NULL, &resp));
    cr_assert_eq(resp.status, 404, "the daemon's status comes through: %s", resp.body);
    dc_resp_fini(&resp);

    /* A change needs the CSRF token; with it, it reaches the daemon. */
    cr_assert(dc_call(port, "PUT", "/v1/services/web/traffic", cookie, "{\"blue\":50,\"green\":50}",
                      &resp));
    cr_assert_eq(resp.status, 403, "%s", resp.body);
    dc_resp_fini(&resp);
    cr_assert_eq(green_weight(), 0);
    hdrs = bg_asprintf("%sX-CSRF-Token: %s\r\nContent-Type: application/json\r\n"
                       "X-Bluegreen-Actor: dashboard\r\n",
                       cookie, csrf);
    cr_assert(dc_call(port, "PUT", "/v1/services/web/traffic", hdrs, "{\"blue\":50,\"green\":50}",
                      &resp));
    cr_assert_eq(resp.status, 200, "%s", resp.body);
    dc_resp_fini(&resp);
    cr_assert_eq(green_weight(), 50);

    /* The event stream through the proxy: stats, live events, replay after a reconnect. */
    cr_assert(dc_sse_open(&s, port, "/v1/events/stream?stats=1", cookie), "%s", s.buf);
    cr_assert(next_named(&s, "stats", id, sizeof(id), &data), "no stats event");
    cr_assert(strstr(data, "\"web\"") != NULL, "%s", data);
    free(data);
    cli_traffic(90);
    cr_assert(next_named(&s, "traffic", first, sizeof(first), &data));
    cr_assert_neq(first[0], '\0');
    free(data);
    dc_sse_close(&s);
    cli_traffic(100);
    free(hdrs);
    hdrs = bg_asprintf("%sLast-Event-ID: %s\r\n", cookie, first);
    cr_assert(dc_sse_open(&s, port, "/v1/events/stream?stats=1", hdrs));
    cr_assert(next_named(&s, "traffic", id, sizeof(id), &data), "the missed event was not replayed");
    cr_assert_gt(strtoll(id, NULL, 10), strtoll(first, NULL, 10));
    free(data);
    dc_sse_close(&s);

    /* Ctrl-C ends it with 0, every handle closed (ASan would report a leak). */
    cli_finish(&p, SIGINT, WAIT_MS, &r);
    cr_assert_eq(r.code, 0, "exit %d\n%s", r.code, r.err);
    cr_assert(strstr(r.err, "ERROR") == NULL && strstr(r.err, "leak") == NULL &&
                  strstr(r.err, "handles left") == NULL,
              "%s", r.err);
    cli_res_fini(&r);
    free(hdrs);
    free(csrf);
    free(cookie);
    json_decref(j);
}

Test(cli_dashboard, opens_the_browser_from_BROWSER, .init = start_unix, .fini = daemon_stop,
     .timeout = 120)
{
    char *script = bg_asprintf("%s/browser.sh", d.dir), *seen = bg_asprintf("%s/seen", d.dir);
    char *text = bg_asprintf("#!/bin/sh\necho \"$1\" > %s.tmp && mv %s.tmp %s\n", seen, seen, seen);
    char *env_browser = bg_asprintf("BROWSER=%s", script);
    cli_proc_t p;
    cli_res_t r;
    json_t *j;

    free(cli_write_file(d.dir, "browser.sh", text));
    cr_assert_eq(chmod(script, 0755), 0);
    j = dashboard_start(&p, (const char *const[]){env_browser, "DISPLAY=", NULL}, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(j, "browser")), "$BROWSER");
    cr_assert(bgt_wait_until(socket_exists, seen, WAIT_MS), "the browser was not started");
    {
        FILE *fp = fopen(seen, "r");
        char line[512] = "";
        cr_assert_not_null(fp);
        cr_assert_not_null(fgets(line, sizeof(line), fp));
        fclose(fp);
        line[strcspn(line, "\n")] = '\0';
        cr_assert_str_eq(line, json_string_value(json_object_get(j, "login_url")));
    }
    cli_finish(&p, SIGTERM, WAIT_MS, &r);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "handles left") == NULL, "%s", r.err);
    cli_res_fini(&r);
    json_decref(j);

    /* No $BROWSER and no display: nothing is launched, the URL is printed for the user. */
    {
        const char *const args[] = {"--admin", d.admin, "dashboard", NULL};
        cli_start(&p, (const char *const[]){"BROWSER=", "DISPLAY=", "WAYLAND_DISPLAY=", NULL},
                  args);
        cr_assert(cli_wait_out(&p, "open the URL yourself", WAIT_MS));
        cli_finish(&p, SIGINT, WAIT_MS, &r);
        cr_assert_eq(r.code, 0, "%s", r.err);
        cr_assert(strstr(r.out, "/dashboard/login?token=") != NULL, "%s", r.out);
        cli_res_fini(&r);
    }
    free(env_browser);
    free(text);
    free(seen);
    free(script);
}

Test(cli_dashboard, refuses_bad_listen_and_unreachable_daemon, .init = start_unix,
     .fini = daemon_stop, .timeout = 60)
{
    cli_res_t r;
    char *gone = bg_asprintf("unix:%s/nothing.sock", d.dir);

    CLI_RUN(&r, "--admin", d.admin, "dashboard", "--listen", "0.0.0.0:0", "--no-browser");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cr_assert(strstr(r.err, "loopback") != NULL, "%s", r.err);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", gone, "dashboard", "--no-browser");
    cr_assert_eq(r.code, 4, "%s%s", r.out, r.err);
    cr_assert(strstr(r.out, "login") == NULL, "printed a URL for nothing: %s", r.out);
    cli_res_fini(&r);
    CLI_RUN(&r, "--admin", d.admin, "dashboard", "extra");
    cr_assert_eq(r.code, 2, "%s", r.err);
    cli_res_fini(&r);
    free(gone);
}

Test(cli_dashboard, tcp_daemon_gets_a_login_url_of_its_own, .init = start_tcp, .fini = daemon_stop,
     .timeout = 60)
{
    cli_res_t r;
    json_t *j;
    const char *path;
    int port;
    char *cookie;

    CLI_RUN(&r, "--admin", d.admin, "--token", TOKEN, "dashboard", "--json", "--no-browser");
    cr_assert_eq(r.code, 0, "%s", r.err);
    j = json_loads(r.out, 0, NULL);
    cr_assert_not_null(j, "%s", r.out);
    cr_assert(json_is_false(json_object_get(j, "proxy")));
    port = url_port(json_string_value(json_object_get(j, "login_url")), &path);
    cr_assert_eq(port, d.admin_port);
    cookie = dc_login(port, strstr(path, "token=") + 6);
    free(dc_csrf(port, cookie, "serve"));
    free(cookie);
    json_decref(j);
    cli_res_fini(&r);
    /* Without the token the daemon makes no login URL. */
    CLI_RUN(&r, "--admin", d.admin, "dashboard", "--json", "--no-browser");
    cr_assert_neq(r.code, 0, "%s", r.out);
    cli_res_fini(&r);
}
