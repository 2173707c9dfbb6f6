/* `bluegreen promote|pause|resume|abort SERVICE`: act on the running deployment of a
 * service (POST /v1/services/NAME/<action>, docs/design.md §3) and print where it stands.
 *
 * One file for four verbs: they differ only in their route and past participle, and a
 * file each would be four copies of the same twenty lines. The daemon answers 409 when
 * nothing is running; that message is printed as the daemon wrote it (exit 1).
 */
#include "cli/internal.h"

#include "base/base.h"

static int act(bg_cli_t *cli, const char *verb, const char *done, int argc, char **argv)
{
    json_t *doc = NULL;
    char *suffix, *path;
    int rc;

    if (argc < 1)
        return bg_cli_usage(cli, verb, "missing SERVICE");
    if (argc > 1)
        return bg_cli_usage(cli, verb, "unexpected argument '%s'", argv[1]);
    suffix = bg_asprintf("/%s", verb);
    path = bg_cli_service_path(argv[0], suffix);
    rc = bg_cli_api(cli, "POST", path, NULL, &doc);
    if (rc == BG_EXIT_OK) {
        if (cli->json)
            bg_cli_print_json(cli, doc);
        else
            bg_cli_print_deployment(cli, done, doc);
    }
    json_decref(doc);
    free(path);
    free(suffix);
    return rc;
}

int bg_cli_promote(bg_cli_t *cli, int argc, char **argv)
{
    return act(cli, "promote", "promoted", argc, argv);
}

int bg_cli_pause(bg_cli_t *cli, int argc, char **argv)
{
    return act(cli, "pause", "paused", argc, argv);
}

int bg_cli_resume(bg_cli_t *cli, int argc, char **argv)
{
    return act(cli, "resume", "resumed", argc, argv);
}

int bg_cli_abort(bg_cli_t *cli, int argc, char **argv)
{
    return act(cli, "abort", "aborted", argc, argv);
}
