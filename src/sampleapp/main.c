/* sample-app entry point: flags and environment, the listener, and graceful stop. SIGTERM
 * (or SIGINT) closes the listener, closes idle connections, lets in-flight requests finish
 * with `Connection: close`, and exits 0 once none remain (forced after STOP_FORCE_MS).
 */
#include "sampleapp/internal.h"

#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#define STOP_FORCE_MS 10000
#define BACKLOG 1024

static const char usage[] =
    "usage: sample-app --service NAME --version V [--port N] [--host ADDR]\n"
    "                  [--slot blue|green] [--fail-health] [--start-delay DUR]\n"
    "                  [--error-rate FRACTION] [--latency DUR] [--call URL]...\n"
    "  --port defaults to $PORT, --slot to $BLUEGREEN_SLOT, --version to\n"
    "  $BLUEGREEN_VERSION, --service to $BLUEGREEN_SERVICE; --host to 127.0.0.1.\n"
    "  DUR: 500ms, 2s, 1m. FRACTION: 0.1 or 10%.\n";

static const char *env_or(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

static bool parse_rate(const char *s, double *out)
{
    char *end = NULL;
    double pct = 0;
    if (strchr(s, '%')) {
        if (!bg_percent_parse(s, &pct))
            return false;
        *out = pct / 100.0;
    } else {
        *out = strtod(s, &end);
        if (end == s || *end != '\0')
            return false;
    }
    return *out >= 0.0 && *out <= 1.0;
}

static bool parse_port(const char *s, int *port)
{
    uint64_t v = 0;
    if (!bg_str_to_u64(bg_str(s), 65535, &v))
        return false;
    *port = (int)v;
    return true;
}

static void add_dep(sa_opts_t *o, const char *url)
{
    o->deps = bg_xrealloc(o->deps, (o->ndeps + 1) * sizeof(*o->deps));
    if (!sa_dep_parse(url, &o->deps[o->ndeps]))
        exit(2);
    o->ndeps++;
}

/* Fills <o> from argv and the environment; exits 2 with a message on bad input. */
static void parse_args(int argc, char **argv, sa_opts_t *o)
{
    static const struct option longopts[] = {{"service", required_argument, NULL, 's'},
                                             {"version", required_argument, NULL, 'v'},
                                             {"port", required_argument, NULL, 'p'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"slot", required_argument, NULL, 'S'},
                                             {"fail-health", no_argument, NULL, 'f'},
                                             {"start-delay", required_argument, NULL, 'd'},
                                             {"error-rate", required_argument, NULL, 'e'},
                                             {"latency", required_argument, NULL, 'l'},
                                             {"call", required_argument, NULL, 'c'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *port = getenv("PORT");
    int ch;
    o->service = env_or("BLUEGREEN_SERVICE", "sample");
    o->version = env_or("BLUEGREEN_VERSION", "0.0.0");
    o->slot = env_or("BLUEGREEN_SLOT", "none");
    o->host = "127.0.0.1";
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 's':
            o->service = optarg;
            break;
        case 'v':
            o->version = optarg;
            break;
        case 'p':
            port = optarg;
            break;
        case 'H':
            o->host = optarg;
            break;
        case 'S':
            o->slot = optarg;
            break;
        case 'f':
            o->fail_health = true;
            break;
        case 'd':
            ok = bg_duration_parse(optarg, &o->start_delay_ms);
            break;
        case 'e':
            ok = parse_rate(optarg, &o->error_rate);
            break;
        case 'l':
            ok = bg_duration_parse(optarg, &o->latency_ms);
            break;
        case 'c':
            add_dep(o, optarg);
            break;
        case 'h':
            fputs(usage, stdout);
            exit(0);
        default:
            fputs(usage, stderr);
            exit(2);
        }
        if (!ok) {
            const char *name = "?";
            for (size_t i = 0; longopts[i].name; i++)
                if (longopts[i].val == ch)
                    name = longopts[i].name;
            fprintf(stderr, "sample-app: bad value for --%s: %s\n", name, optarg);
            exit(2);
        }
    }
    if (optind < argc || port == NULL || !parse_port(port, &o->port)) {
        fprintf(stderr, "sample-app: %s\n%s",
                optind < argc ? "unexpected argument" : "need --port N or $PORT", usage);
        exit(2);
    }
}

static void on_connection(uv_stream_t *server, int status)
{
    sa_app_t *app = server->data;
    if (status < 0) {
        bg_log(BG_LOG_WARN, "sampleapp", "msg=\"accept failed\" err=%s", uv_err_name(status));
        return;
    }
    sa_conn_accept(app, server);
}

static void app_fail(sa_app_t *app, const char *what, int rc);

static void start_listening(sa_app_t *app)
{
    struct sockaddr_storage sa;
    int len = sizeof(sa);
    int rc = uv_ip4_addr(app->opts.host, app->opts.port, (struct sockaddr_in *)&sa);
    if (rc != 0)
        rc = uv_ip6_addr(app->opts.host, app->opts.port, (struct sockaddr_in6 *)&sa);
    if (rc != 0) {
        app_fail(app, "bad --host", rc);
        return;
    }
    uv_tcp_init(app->loop, &app->listener);
    app->listener.data = app;
    rc = uv_tcp_bind(&app->listener, (struct sockaddr *)&sa, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&app->listener, BACKLOG, on_connection);
    if (rc == 0)
        rc = uv_tcp_getsockname(&app->listener, (struct sockaddr *)&sa, &len);
    if (rc != 0) {
        app_fail(app, "listen failed", rc);
        return;
    }
    int port = ntohs(((struct sockaddr_in *)&sa)->sin_port); /* same offset for v6 */
    bg_log(BG_LOG_INFO, "sampleapp",
           "msg=listening addr=%s:%d service=%s version=%s slot=%s pid=%d health=%s",
           app->opts.host, port, app->opts.service, app->opts.version, app->opts.slot, app->pid,
           app->health_down ? "DOWN" : "UP");
}

static void on_start_delay(uv_timer_t *t)
{
    start_listening(t->data);
}

static void close_if_open(uv_handle_t *h)
{
    if (h->loop != NULL && !uv_is_closing(h))
        uv_close(h, NULL);
}

static void close_all_conns(sa_app_t *app, bool idle_only)
{
    bg_list_t *pos, *tmp;
    bg_list_foreach_safe(pos, tmp, &app->conns)
    {
        sa_conn_t *c = BG_CONTAINER_OF(pos, sa_conn_t, node);
        if (!idle_only)
            sa_conn_close(c);
        else if (!c->in_request || c->tunnel)
            sa_conn_close_after_writes(c); /* a response may still be on its way out */
    }
}

static void on_force_stop(uv_timer_t *t)
{
    sa_app_t *app = t->data;
    bg_log(BG_LOG_WARN, "sampleapp", "msg=\"stop timeout: closing busy connections\"");
    close_all_conns(app, false);
}

static void app_stop(sa_app_t *app)
{
    if (app->stopping)
        return;
    app->stopping = true;
    bg_log(BG_LOG_INFO, "sampleapp", "msg=stopping pid=%d", app->pid);
    close_if_open((uv_handle_t *)&app->listener);
    close_if_open((uv_handle_t *)&app->start_timer);
    close_if_open((uv_handle_t *)&app->sigterm);
    close_if_open((uv_handle_t *)&app->sigint);
    close_all_conns(app, true);
    uv_timer_start(&app->force_timer, on_force_stop, STOP_FORCE_MS, 0);
    uv_unref((uv_handle_t *)&app->force_timer);
}

static void app_fail(sa_app_t *app, const char *what, int rc)
{
    bg_log(BG_LOG_ERROR, "sampleapp", "msg=\"%s\" host=%s port=%d err=%s", what, app->opts.host,
           app->opts.port, uv_strerror(rc));
    app->exit_code = 1;
    app_stop(app);
}

static void on_signal(uv_signal_t *s, int signum)
{
    app_stop(s->data);
}

static void on_walk_close(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int main(int argc, char **argv)
{
    sa_app_t app = {0};
    signal(SIGPIPE, SIG_IGN);
    bg_log_init();
    parse_args(argc, argv, &app.opts);
    app.loop = uv_default_loop();
    app.pid = (int)getpid();
    app.health_down = app.opts.fail_health;
    bg_list_init(&app.conns);

    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigint);
    uv_timer_init(app.loop, &app.start_timer);
    uv_timer_init(app.loop, &app.force_timer);
    app.sigterm.data = app.sigint.data = app.start_timer.data = app.force_timer.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    if (app.opts.start_delay_ms > 0)
        uv_timer_start(&app.start_timer, on_start_delay, app.opts.start_delay_ms, 0);
    else
        start_listening(&app);

    uv_run(app.loop, UV_RUN_DEFAULT);
    uv_walk(app.loop, on_walk_close, NULL);
    uv_run(app.loop, UV_RUN_DEFAULT);
    uv_loop_close(app.loop);
    for (size_t i = 0; i < app.opts.ndeps; i++)
        sa_dep_fini(&app.opts.deps[i]);
    free(app.opts.deps);
    bg_log(BG_LOG_INFO, "sampleapp", "msg=stopped pid=%d", app.pid);
    return app.exit_code;
}
