/* `bluegreen dashboard`: the web dashboard for a daemon whose admin API is its Unix socket
 * (docs/internals/dashboard.md), as `jupyter notebook` does it: a listener on 127.0.0.1
 * that serves the embedded pages itself and forwards the API (forward.c), a one-time login
 * URL printed on stdout, and a browser opened on it when the session has one. For a daemon
 * with a TCP admin listener, which serves the dashboard itself, it asks that daemon for a
 * one-time login URL instead and exits. Runs until SIGINT or SIGTERM (exit 0).
 */
#include "cli/internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "dashboard/dashboard.h"
#include "base/compat.h"

typedef struct dash {
    bg_cli_t *cli;
    uv_loop_t loop;
    bg_admin_t *admin;
    bg_cli_forward_t *forward;
    uv_signal_t sig_int, sig_term;
    uv_process_t browser;
    bool browser_running;
    bool stopping;
} dash_t;

static void on_other(void *ctx, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    dash_t *d = ctx;

    if (strncmp(http->path, "/v1/", 4) != 0 && strcmp(http->path, "/metrics") != 0) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no route for %s %s", http->method, http->path);
        return;
    }
    bg_cli_forward(d->forward, req, http);
}

/* Only `other` is called on a proxy listener (bg_admin_options_t.proxy). */
static const bg_admin_ops_t ops = {.other = on_other};

/* True for a loopback HOST of HOST:PORT: the listener carries the admin API's power. */
static bool loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

static void on_browser_exit(uv_process_t *p, int64_t status, int sig)
{
    dash_t *d = p->data;

    (void)status;
    (void)sig;
    d->browser_running = false;
    uv_close((uv_handle_t *)p, NULL);
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0';
}

/* Opens <url> in a browser as Python's webbrowser and Jupyter do: $BROWSER (its first
 * entry of a ':' list, split into words by the shell), else xdg-open when a graphical
 * session is there. Returns what was run, or NULL. */
static const char *open_browser(dash_t *d, const char *url)
{
    bool display = env_set("DISPLAY") || env_set("WAYLAND_DISPLAY");
    char *sh_args[] = {"/bin/sh", "-c", "exec ${BROWSER%%:*} \"$1\"", "sh", (char *)url, NULL};
    char *xdg_args[] = {"xdg-open", (char *)url, NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE}, {.flags = UV_IGNORE},
                                     {.flags = UV_IGNORE}};
    uv_process_options_t po = {.exit_cb = on_browser_exit, .stdio_count = 3, .stdio = stdio};

    if (env_set("BROWSER")) {
        po.file = sh_args[0];
        po.args = sh_args;
    } else if (display) {
        po.file = xdg_args[0];
        po.args = xdg_args;
    } else {
        return NULL;
    }
    d->browser.data = d;
    if (uv_spawn(&d->loop, &d->browser, &po) != 0) {
        /* uv_spawn() initialised the handle even on failure: it must be closed. */
        uv_close((uv_handle_t *)&d->browser, NULL);
        return NULL;
    }
    d->browser_running = true;
    return po.args == sh_args ? "$BROWSER" : "xdg-open";
}

static void stop(dash_t *d)
{
    if (d->stopping)
        return;
    d->stopping = true;
    bg_cli_forward_free(d->forward);
    d->forward = NULL;
    bg_admin_stop(d->admin, NULL, NULL);
    uv_close((uv_handle_t *)&d->sig_int, NULL);
    uv_close((uv_handle_t *)&d->sig_term, NULL);
    /* A browser launcher still running is left alone (it is the user's browser now): we
     * only stop watching it. */
    if (d->browser_running) {
        d->browser_running = false;
        uv_close((uv_handle_t *)&d->browser, NULL);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    stop(h->data);
}

/* Prints the URLs; <browser> is what opened them, or NULL. */
static void announce(bg_cli_t *cli, const char *base, const char *login, const char *admin,
                     const char *browser, bool proxy)
{
    if (cli->json) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:s?,s:b}", "url", base, "login_url", login, "admin",
                              admin, "browser", browser, "proxy", proxy);
        char *s = json_dumps(j, JSON_COMPACT);
        fprintf(cli->out, "%s\n", s);
        free(s);
        json_decref(j);
    } else {
        fprintf(cli->out,
                "%s %s (admin %s)\n"
                "Open this URL to log in (it works once, for 5 minutes):\n\n    %s\n\n%s",
                proxy ? "Dashboard on" : "The daemon serves its dashboard on", base, admin, login,
                browser != NULL ? "" : "No browser was opened: open the URL yourself.\n");
        if (proxy)
            fprintf(cli->out, "Press Ctrl-C to stop.\n");
    }
    fflush(cli->out);
}

/* The daemon's admin listener is TCP: it serves the dashboard; a one-time URL for it. */
static int daemon_login(bg_cli_t *cli, bg_cli_client_t *c, bool no_browser)
{
    json_t *doc = NULL;
    char *base, *login;
    const char *browser = NULL;
    dash_t d = {.cli = cli};
    int rc = bg_cli_client_call(c, "POST", "/v1/dashboard/login-token", NULL, &doc);

    if (rc != BG_EXIT_OK)
        return rc;
    base = bg_asprintf("%s/dashboard/", c->ep.base_url);
    login = bg_asprintf("%s%s", c->ep.base_url, bg_cli_jstr(doc, "path", ""));
    if (!no_browser) {
        BG_ASSERT(uv_loop_init(&d.loop) == 0);
        browser = open_browser(&d, login);
        uv_run(&d.loop, UV_RUN_DEFAULT); /* reaps the launcher (xdg-open returns at once) */
        uv_loop_close(&d.loop);
    }
    announce(cli, base, login, c->ep.spec, browser, false);
    free(login);
    free(base);
    json_decref(doc);
    return BG_EXIT_OK;
}

/* Listens on <listen>, forwards to <socket_path>, runs until a signal. */
static int serve_proxy(bg_cli_t *cli, const char *listen, const char *socket_path,
                       const char *admin_spec, bool no_browser)
{
    dash_t d = {.cli = cli};
    char token[BG_DASH_TOKEN_HEX + 1], login_tok[BG_DASH_TOKEN_HEX + 1];
    char *endpoint = bg_asprintf("http://%s", listen), *base = NULL, *login = NULL;
    bg_admin_options_t ao = {.endpoint = endpoint, .ops = &ops, .ctx = &d, .proxy = true};
    const char *browser = NULL, *host_end = strrchr(listen, ':');
    bg_err_t err;
    int rc = BG_EXIT_OK;

    bg_err_clear(&err);
    BG_ASSERT(uv_loop_init(&d.loop) == 0);
    /* A token nobody is told: the listener needs one; logins go by one-time tokens. */
    if (bg_dash_random_token(token, sizeof(token)) != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "dashboard: no randomness for a token");
        goto out_loop;
    }
    ao.token = token;
    d.admin = bg_admin_new(&d.loop, &ao, &err);
    if (d.admin == NULL) {
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "dashboard: --listen %s: %s", listen, err.msg);
        goto out_loop;
    }
    if (bg_admin_start(d.admin, &err) != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "dashboard: %s", err.msg);
        bg_admin_stop(d.admin, NULL, NULL);
        uv_run(&d.loop, UV_RUN_DEFAULT);
        goto out_admin;
    }
    d.forward = bg_cli_forward_new(&d.loop, socket_path);
    uv_signal_init(&d.loop, &d.sig_int);
    uv_signal_init(&d.loop, &d.sig_term);
    d.sig_int.data = d.sig_term.data = &d;
    uv_signal_start(&d.sig_int, on_signal, SIGINT);
    uv_signal_start(&d.sig_term, on_signal, SIGTERM);
    base = bg_asprintf("http://%.*s:%d/dashboard/", (int)(host_end - listen), listen,
                       bg_admin_port(d.admin));
    BG_ASSERT(bg_admin_login_token(d.admin, login_tok, sizeof(login_tok), NULL) == 0);
    login = bg_asprintf("%slogin?token=%s", base, login_tok);
    if (!no_browser)
        browser = open_browser(&d, login);
    announce(cli, base, login, admin_spec, browser, true);
    bg_log(BG_LOG_INFO, "dashboard", "msg=serving url=%s admin=%s", base, admin_spec);
    uv_run(&d.loop, UV_RUN_DEFAULT);
    bg_log(BG_LOG_INFO, "dashboard", "msg=stopped");
out_admin:
    bg_admin_free(d.admin);
out_loop:
    uv_run(&d.loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&d.loop) != 0)
        bg_log(BG_LOG_WARN, "dashboard", "msg=\"loop closed with handles left\"");
    explicit_bzero(token, sizeof(token));
    free(login);
    free(base);
    free(endpoint);
    return rc;
}

int bg_cli_dashboard(bg_cli_t *cli, int argc, char **argv)
{
    const char *listen = "127.0.0.1:0";
    bool no_browser = false;
    const bg_cli_opt_t opts[] = {
        {"--listen", "-l", BG_OPT_VALUE, &listen},
        {"--no-browser", NULL, BG_OPT_FLAG, &no_browser},
    };
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    bg_cli_client_t c;
    json_t *health = NULL;
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "dashboard", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    memset(&c, 0, sizeof(c));
    if (rc == BG_EXIT_OK && n_pos > 0)
        rc = bg_cli_usage(cli, "dashboard", "unexpected argument '%s'", pos[0]);
    if (rc == BG_EXIT_OK && !loopback(listen))
        rc = bg_cli_usage(cli, "dashboard",
                          "--listen '%s' must be a loopback HOST:PORT (127.0.0.1:PORT or "
                          "[::1]:PORT): the dashboard carries the admin API's power",
                          listen);
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_init(&c, cli);
    /* The daemon must answer before anything is served or opened. */
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, "GET", "/v1/health", NULL, &health);
    if (rc == BG_EXIT_OK) {
        if (c.ep.unix_path == NULL)
            rc = daemon_login(cli, &c, no_browser);
        else
            rc = serve_proxy(cli, listen, c.ep.unix_path, c.ep.spec, no_browser);
    }
    json_decref(health);
    bg_cli_client_fini(&c);
    free(pos);
    return rc;
}
