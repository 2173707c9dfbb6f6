/* `bluegreen reload`: the daemon re-reads its config file and applies it without dropping
 * a request (POST /v1/reload; SIGHUP does the same). A config that does not load is
 * refused whole with its file:line:column error and the running config stays (exit 2); a
 * reload while a deployment runs is refused (exit 1). Otherwise a new daemon process on
 * the new config takes the listeners over (docs/internals/server.md) and this verb waits
 * until that process answers on the admin socket, then prints what changed.
 */
#include "cli/internal.h"

#include <time.h>

#include "base/base.h"

#define WAIT_NEW_MS 30000
#define POLL_MS 50

static void print_list(bg_cli_t *cli, const char *what, const json_t *names)
{
    size_t i;
    json_t *v;

    if (json_array_size(names) == 0)
        return;
    fprintf(cli->out, "  %s:", what);
    json_array_foreach(names, i, v)
        fprintf(cli->out, " %s", json_string_value(v));
    fputc('\n', cli->out);
}

static void print_done(bg_cli_t *cli, const json_t *doc)
{
    json_int_t pid = json_integer_value(json_object_get(doc, "pid"));
    json_int_t prev = json_integer_value(json_object_get(doc, "previous_pid"));
    const char *path = json_string_value(json_object_get(doc, "config"));

    if (cli->json) {
        bg_cli_print_json(cli, doc);
        return;
    }
    if (!cli->tty) {
        fprintf(cli->out, "reloaded config=%s pid=%lld previous_pid=%lld added=%zu removed=%zu\n",
                path ? path : "", (long long)pid, (long long)prev,
                json_array_size(json_object_get(doc, "added")),
                json_array_size(json_object_get(doc, "removed")));
        return;
    }
    fprintf(cli->out, "reloaded %s: pid %lld took over from pid %lld without dropping a request\n",
            path ? path : "", (long long)pid, (long long)prev);
    print_list(cli, "services added", json_object_get(doc, "added"));
    print_list(cli, "services removed (drained, their targets stopped)",
               json_object_get(doc, "removed"));
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Until the admin socket answers from process <pid> (the new daemon). */
static int wait_new(bg_cli_client_t *c, json_int_t pid)
{
    uint64_t deadline = bg_now_ms() + WAIT_NEW_MS;

    for (;;) {
        bg_cli_answer_t ans;
        bool done = false;
        memset(&ans, 0, sizeof(ans));
        if (bg_cli_client_send(c, "GET", "/v1/health", NULL, &ans) == 0)
            done = ans.status == 200 &&
                   json_integer_value(json_object_get(ans.json, "pid")) == pid;
        bg_cli_answer_fini(&ans);
        if (done)
            return BG_EXIT_OK;
        if (bg_now_ms() >= deadline)
            return bg_cli_fail(c->cli, BG_EXIT_FAILED,
                               "reload: the new daemon (pid %lld) does not answer on the admin "
                               "socket after %d s (see the daemon's log)",
                               (long long)pid, WAIT_NEW_MS / 1000);
        sleep_ms(POLL_MS);
    }
}

int bg_cli_reload(bg_cli_t *cli, int argc, char **argv)
{
    bg_cli_client_t c;
    json_t *doc = NULL;
    int rc;

    if (argc > 0)
        return bg_cli_usage(cli, "reload", "unexpected argument '%s'", argv[0]);
    rc = bg_cli_client_init(&c, cli);
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, "POST", "/v1/reload", NULL, &doc);
    if (rc == BG_EXIT_OK)
        rc = wait_new(&c, json_integer_value(json_object_get(doc, "pid")));
    if (rc == BG_EXIT_OK)
        print_done(cli, doc);
    json_decref(doc);
    bg_cli_client_fini(&c);
    return rc;
}
