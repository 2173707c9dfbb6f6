/* `bluegreen status [SERVICE] [--json]`: every service (or one) as the daemon sees it now:
 * route, traffic split, live slot and, per slot, each target with its health, the reason
 * of its last check and its request counts (GET /v1/services[/NAME]).
 */
#include "cli/internal.h"

#include "base/base.h"

static const char *const slots[] = {"blue", "green"};

static void print_slot_targets(bg_cli_t *cli, const char *name, const json_t *svc, const char *slot)
{
    const json_t *targets =
        json_object_get(json_object_get(json_object_get(svc, "slots"), slot), "targets");

    if (json_array_size(targets) == 0 && cli->tty)
        fprintf(cli->out, "  %-6s    -  (no targets)\n", slot);
    for (size_t i = 0; i < json_array_size(targets); i++)
        bg_cli_print_target(cli, name, json_array_get(targets, i));
}

/* Terminal layout: a heading per service, then its targets as a table. */
static void print_service_tty(bg_cli_t *cli, const json_t *svc)
{
    const json_t *traffic = json_object_get(svc, "traffic");
    const char *name = bg_cli_jstr(svc, "name", "?");
    const char *live = bg_cli_jstr(svc, "live_slot", "-");

    fprintf(cli->out, "%s%s%s  %s%s  (%s)\n", bg_cli_sgr(cli, BG_SGR_BOLD), name,
            bg_cli_sgr(cli, BG_SGR_RESET), bg_cli_jstr(svc, "host", "*"),
            bg_cli_jstr(svc, "path_prefix", "/"), bg_cli_jstr(svc, "driver", "?"));
    fprintf(cli->out, "  traffic  %sblue %lld%%%s  %sgreen %lld%%%s   live %s, preview %s\n",
            bg_cli_sgr(cli, BG_SGR_BLUE), (long long)bg_cli_jint(traffic, "blue", 0),
            bg_cli_sgr(cli, BG_SGR_RESET), bg_cli_sgr(cli, BG_SGR_GREEN),
            (long long)bg_cli_jint(traffic, "green", 0), bg_cli_sgr(cli, BG_SGR_RESET), live,
            bg_cli_jstr(svc, "preview_slot", "-"));
    bg_cli_print_target_header(cli);
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++)
        print_slot_targets(cli, name, svc, slots[s]);
}

/* Piped layout: `service ...` then its `target ...` lines; keys never change. */
static void print_service_plain(bg_cli_t *cli, const json_t *svc)
{
    const json_t *traffic = json_object_get(svc, "traffic");
    const char *name = bg_cli_jstr(svc, "name", "?");

    fprintf(cli->out,
            "service name=%s host=%s path_prefix=%s driver=%s blue=%lld green=%lld "
            "live=%s preview=%s\n",
            name, bg_cli_jstr(svc, "host", "*"), bg_cli_jstr(svc, "path_prefix", "/"),
            bg_cli_jstr(svc, "driver", "?"), (long long)bg_cli_jint(traffic, "blue", 0),
            (long long)bg_cli_jint(traffic, "green", 0), bg_cli_jstr(svc, "live_slot", "-"),
            bg_cli_jstr(svc, "preview_slot", "-"));
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++)
        print_slot_targets(cli, name, svc, slots[s]);
}

static void print_service(bg_cli_t *cli, const json_t *svc)
{
    if (cli->tty)
        print_service_tty(cli, svc);
    else
        print_service_plain(cli, svc);
}

static void print_services(bg_cli_t *cli, const json_t *list)
{
    if (json_array_size(list) == 0 && cli->tty)
        fputs("no services\n", cli->out);
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (i > 0 && cli->tty)
            fputc('\n', cli->out); /* a blank line between tables */
        print_service(cli, json_array_get(list, i));
    }
}

int bg_cli_status(bg_cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL;
    char *path;
    int rc;

    if (argc > 1)
        return bg_cli_usage(cli, "status", "unexpected argument '%s'", argv[1]);
    path = argc == 1 ? bg_cli_service_path(argv[0], "") : bg_strdup("/v1/services");
    rc = bg_cli_api(cli, "GET", path, NULL, &doc);
    free(path);
    if (rc != BG_EXIT_OK)
        return rc;
    if (cli->json) {
        bg_cli_print_json(cli, doc);
    } else if (argc == 1) {
        print_service(cli, doc);
    } else {
        print_services(cli, json_object_get(doc, "services"));
    }
    json_decref(doc);
    return BG_EXIT_OK;
}
