/* `bluegreen events [--service S] [--limit N] [--follow] [--json]`: the audit trail
 * (GET /v1/events, oldest first) or, with --follow, the live stream
 * (GET /v1/events/stream, Server-Sent Events) until Ctrl-C, which exits 0. A dropped
 * stream is reopened with Last-Event-ID, so nothing is missed or printed twice.
 */
#include "cli/internal.h"

#include <poll.h>

#include "base/base.h"

#define MAX_LIMIT 10000
#define PUMP_MS 250
#define RECONNECT_MS 1000

static void print_event(bg_cli_t *cli, const json_t *e)
{
    json_int_t dep = bg_cli_jint(e, "deployment", 0);
    FILE *f = cli->out;

    if (cli->json) {
        char *s = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fprintf(f, "%s\n", s != NULL ? s : "{}");
        free(s);
    } else if (cli->tty) {
        char ts[32], dep_s[24];
        snprintf(ts, sizeof(ts), "%.23s", bg_cli_jstr(e, "ts", "-"));
        if (strlen(ts) > 10 && ts[10] == 'T')
            ts[10] = ' ';
        dep_s[0] = '\0';
        if (dep > 0)
            snprintf(dep_s, sizeof(dep_s), "#%lld", (long long)dep);
        fprintf(f, "%-23s  %-10s %-5s %-16s %s", ts, bg_cli_jstr(e, "service", "-"), dep_s,
                bg_cli_jstr(e, "kind", "?"), bg_cli_jstr(e, "message", ""));
        if (bg_cli_jstr(e, "actor", "")[0] != '\0')
            fprintf(f, "  (%s)", bg_cli_jstr(e, "actor", ""));
        fputc('\n', f);
    } else {
        fprintf(f, "event id=%lld", (long long)bg_cli_jint(e, "id", 0));
        bg_cli_print_kv(f, "ts", bg_cli_jstr(e, "ts", ""));
        bg_cli_print_kv(f, "service", bg_cli_jstr(e, "service", ""));
        fprintf(f, " deployment=%lld", (long long)dep);
        bg_cli_print_kv(f, "kind", bg_cli_jstr(e, "kind", ""));
        bg_cli_print_kv(f, "actor", bg_cli_jstr(e, "actor", ""));
        bg_cli_print_kv(f, "message", bg_cli_jstr(e, "message", ""));
        fputc('\n', f);
    }
    fflush(f);
}

static void on_event(void *arg, const char *id, const char *event, const char *data)
{
    bg_cli_t *cli = arg;
    json_t *e = json_loads(data, 0, NULL);

    (void)id;
    (void)event;
    if (json_is_object(e))
        print_event(cli, e);
    json_decref(e);
}

static char *events_path(const char *base, const char *service, const char *limit)
{
    bg_buf_t b;
    char sep = '?';

    bg_buf_init(&b);
    bg_buf_puts(&b, base);
    if (service != NULL) {
        bg_buf_puts(&b, "?service=");
        bg_cli_escape(&b, service);
        sep = '&';
    }
    if (limit != NULL)
        bg_buf_printf(&b, "%climit=%s", sep, limit);
    return bg_buf_steal(&b);
}

/* Follows the stream until a signal. A refused stream ends it (404: an older daemon); a
 * broken connection is retried, an unreachable daemon is reported after the first try. */
static int follow(bg_cli_t *cli, const char *service)
{
    char *path = events_path("/v1/events/stream", service, NULL);
    char last_id[64] = "";
    bg_cli_client_t c;
    bg_cli_sse_t *s = NULL;
    bool connected_once = false;
    int rc = bg_cli_client_init(&c, cli);

    bg_cli_signals_catch();
    while (rc == BG_EXIT_OK && bg_cli_signal_caught() == 0) {
        int r;
        if (s == NULL)
            s = bg_cli_sse_open(&c, path, last_id, on_event, cli);
        r = bg_cli_sse_pump(s, PUMP_MS);
        if (r > 0) {
            connected_once = true;
            continue;
        }
        if (bg_cli_sse_answer(s) != NULL)
            rc = bg_cli_answer_report(cli, bg_cli_sse_answer(s));
        else if (r < 0 && c.unreachable && !connected_once)
            rc = bg_cli_client_report(&c);
        else if (r < 0 && connected_once && bg_cli_signal_caught() == 0)
            fprintf(cli->err, "bluegreen: lost the event stream (%s); reconnecting\n",
                    bg_cli_sse_error(s));
        if (r < 0)
            connected_once = false; /* say it once per lost connection */
        snprintf(last_id, sizeof(last_id), "%s", bg_cli_sse_last_id(s));
        bg_cli_sse_free(s);
        s = NULL;
        if (rc == BG_EXIT_OK)
            poll(NULL, 0, RECONNECT_MS);
    }
    bg_cli_sse_free(s);
    bg_cli_client_fini(&c);
    free(path);
    return rc;
}

static int list(bg_cli_t *cli, const char *service, const char *limit)
{
    char *path = events_path("/v1/events", service, limit);
    json_t *doc = NULL;
    int rc = bg_cli_api(cli, "GET", path, NULL, &doc);

    const json_t *events = json_object_get(doc, "events");

    if (rc == BG_EXIT_OK && cli->json) {
        bg_cli_print_json(cli, doc);
    } else if (rc == BG_EXIT_OK) {
        if (json_array_size(events) == 0 && cli->tty)
            fputs("no events\n", cli->out);
        for (size_t i = 0; i < json_array_size(events); i++)
            print_event(cli, json_array_get(events, i));
    }
    json_decref(doc);
    free(path);
    return rc;
}

int bg_cli_events(bg_cli_t *cli, int argc, char **argv)
{
    const char *service = NULL, *limit = NULL;
    bool follow_flag = false;
    const bg_cli_opt_t opts[] = {
        {"--service", "-s", BG_OPT_VALUE, &service},
        {"--limit", "-n", BG_OPT_VALUE, &limit},
        {"--follow", "-f", BG_OPT_FLAG, &follow_flag},
    };
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    uint64_t n;
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "events", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos > 0)
        rc = bg_cli_usage(cli, "events", "unexpected argument '%s' (use --service S)", pos[0]);
    if (rc == BG_EXIT_OK && limit != NULL &&
        (!bg_str_to_u64(bg_str(limit), MAX_LIMIT, &n) || n == 0))
        rc = bg_cli_usage(cli, "events", "--limit '%s' must be an integer from 1 to %d", limit,
                          MAX_LIMIT);
    if (rc == BG_EXIT_OK)
        rc = follow_flag ? follow(cli, service) : list(cli, service, limit);
    free(pos);
    return rc;
}
