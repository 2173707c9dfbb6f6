/* `bluegreen traffic SERVICE blue=N green=M`: sets the split by hand in one atomic routing
 * change (PUT /v1/services/NAME/traffic). The weights are checked here first (both given,
 * integers 0..100, sum 100) so a typo never reaches the daemon. The daemon answers once
 * every worker serves the new routing; we print the split and how long that took.
 */
#include "cli/internal.h"

#include "base/base.h"

static void print_result(bg_cli_t *cli, const json_t *doc)
{
    const json_t *traffic = json_object_get(doc, "traffic");
    const json_t *ms = json_object_get(doc, "switch_ms");
    double switch_ms = json_is_number(ms) ? json_number_value(ms) : -1.0;
    long long blue = (long long)bg_cli_jint(traffic, "blue", -1);
    long long green = (long long)bg_cli_jint(traffic, "green", -1);
    long long gen = (long long)bg_cli_jint(doc, "generation", -1);
    const char *name = bg_cli_jstr(doc, "service", "?");

    if (cli->tty)
        fprintf(cli->out,
                "%s: traffic now blue %lld%% / green %lld%% (generation %lld; "
                "switch verified on every worker in %.3f ms)\n",
                name, blue, green, gen, switch_ms);
    else
        fprintf(cli->out, "service=%s blue=%lld green=%lld generation=%lld switch_ms=%.3f\n", name,
                blue, green, gen, switch_ms);
}

int bg_cli_traffic(bg_cli_t *cli, int argc, char **argv)
{
    uint32_t w[BG_SLOT_COUNT];
    json_t *body = NULL, *doc = NULL;
    char why[256];
    char *path = NULL;
    int rc;

    if (argc < 1)
        return bg_cli_usage(cli, "traffic", "missing SERVICE");
    if (argc > 3)
        return bg_cli_usage(cli, "traffic", "unexpected argument '%s'", argv[3]);
    if (bg_cli_parse_traffic(argc - 1, argv + 1, w, why, sizeof(why)) != 0)
        return bg_cli_usage(cli, "traffic", "%s", why);
    body = json_pack("{s:i, s:i}", "blue", (json_int_t)w[BG_SLOT_BLUE], "green",
                     (json_int_t)w[BG_SLOT_GREEN]);
    path = bg_cli_service_path(argv[0], "/traffic");
    rc = bg_cli_api(cli, "PUT", path, body, &doc);
    if (rc != BG_EXIT_OK)
        goto out;
    if (cli->json)
        bg_cli_print_json(cli, doc);
    else
        print_result(cli, doc);
out:
    json_decref(doc);
    json_decref(body);
    free(path);
    return rc;
}
