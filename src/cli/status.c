/* `bluegreen status [SERVICE] [--json] [--watch]`: every service (or one) as the daemon
 * sees it now: route, traffic split, live slot, a table of the slots' revisions and
 * versions with their weight and healthy targets, and per slot each target with its
 * health, the reason of its last check and its request counts (GET /v1/services[/NAME]).
 * --watch then follows SERVICE's running deployment to its result (watch.c).
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

/* "2/3" healthy of the slot's targets. */
static void healthy_of(const json_t *slot, char *out, size_t size)
{
    const json_t *targets = json_object_get(slot, "targets");
    size_t healthy = 0;

    for (size_t i = 0; i < json_array_size(targets); i++) {
        const json_t *t = json_array_get(targets, i);
        const json_t *h = json_object_get(t, "healthy");
        if (json_is_true(h) || strcmp(bg_cli_jstr(t, "health", ""), "healthy") == 0)
            healthy++;
    }
    snprintf(out, size, "%zu/%zu", healthy, json_array_size(targets));
}

/* The versions table: a row per slot with its revision, version, weight, healthy targets
 * and role (live / preview). */
static void print_versions_tty(bg_cli_t *cli, const json_t *svc)
{
    const json_t *traffic = json_object_get(svc, "traffic");

    fprintf(cli->out, "  %-6s %5s  %-16s %6s  %-8s %s\n", "SLOT", "REV", "VERSION", "WEIGHT",
            "HEALTHY", "ROLE");
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++) {
        const json_t *sl = json_object_get(json_object_get(svc, "slots"), slots[s]);
        long long rev = (long long)bg_cli_jint(sl, "revision", 0);
        const char *role = strcmp(bg_cli_jstr(svc, "live_slot", ""), slots[s]) == 0      ? "live"
                           : strcmp(bg_cli_jstr(svc, "preview_slot", ""), slots[s]) == 0 ? "preview"
                                                                                         : "";
        char healthy[32], revs[24];

        healthy_of(sl, healthy, sizeof(healthy));
        if (rev > 0)
            snprintf(revs, sizeof(revs), "%lld", rev);
        else
            snprintf(revs, sizeof(revs), "-");
        fprintf(cli->out, "  %-6s %5s  %-16.16s %5lld%%  %-8s %s\n", slots[s], revs,
                bg_cli_jstr(sl, "version", "-"), (long long)bg_cli_jint(traffic, slots[s], 0),
                healthy, role);
    }
}

/* Terminal layout: a heading per service, its versions table, then its targets. */
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
    print_versions_tty(cli, svc);
    bg_cli_print_target_header(cli);
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++)
        print_slot_targets(cli, name, svc, slots[s]);
}

/* Piped layout: `service ...` then its `target ...` lines; keys never change. */
static void print_service_plain(bg_cli_t *cli, const json_t *svc)
{
    const json_t *traffic = json_object_get(svc, "traffic");
    const char *name = bg_cli_jstr(svc, "name", "?");

    const json_t *sl = json_object_get(svc, "slots");

    fprintf(cli->out,
            "service name=%s host=%s path_prefix=%s driver=%s blue=%lld green=%lld "
            "live=%s preview=%s",
            name, bg_cli_jstr(svc, "host", "*"), bg_cli_jstr(svc, "path_prefix", "/"),
            bg_cli_jstr(svc, "driver", "?"), (long long)bg_cli_jint(traffic, "blue", 0),
            (long long)bg_cli_jint(traffic, "green", 0), bg_cli_jstr(svc, "live_slot", "-"),
            bg_cli_jstr(svc, "preview_slot", "-"));
    for (size_t s = 0; s < BG_ARRAY_LEN(slots); s++) {
        const json_t *one = json_object_get(sl, slots[s]);
        char key[32];
        fprintf(cli->out, " %s_revision=%lld", slots[s],
                (long long)bg_cli_jint(one, "revision", 0));
        snprintf(key, sizeof(key), "%s_version", slots[s]);
        bg_cli_print_kv(cli->out, key, bg_cli_jstr(one, "version", ""));
    }
    fputc('\n', cli->out);
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
    bool watch = false;
    const bg_cli_opt_t opts[] = {{"--watch", "-w", BG_OPT_FLAG, &watch}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    json_t *doc = NULL;
    char *path = NULL;
    int n_pos = 0, rc;

    rc = bg_cli_parse_opts(cli, "status", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);
    if (rc == BG_EXIT_OK && n_pos > 1)
        rc = bg_cli_usage(cli, "status", "unexpected argument '%s'", pos[1]);
    if (rc == BG_EXIT_OK && watch && n_pos == 0)
        rc = bg_cli_usage(cli, "status", "--watch follows one service: give SERVICE");
    if (rc != BG_EXIT_OK)
        goto out;
    path = n_pos == 1 ? bg_cli_service_path(pos[0], "") : bg_strdup("/v1/services");
    rc = bg_cli_api(cli, "GET", path, NULL, &doc);
    if (rc != BG_EXIT_OK)
        goto out;
    if (cli->json && !watch)
        bg_cli_print_json(cli, doc);
    else if (n_pos == 1 && !cli->json)
        print_service(cli, doc);
    else if (!cli->json)
        print_services(cli, json_object_get(doc, "services"));
    if (watch)
        rc = bg_cli_status_watch(cli, pos[0]);
out:
    json_decref(doc);
    free(path);
    free(pos);
    return rc;
}
