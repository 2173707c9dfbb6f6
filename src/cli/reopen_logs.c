/* `bluegreen reopen-logs`: asks the daemon to reopen its access log (POST /v1/logs/reopen),
 * as SIGUSR1 does — after logrotate moved the file, the next lines go to a new one.
 */
#include "cli/internal.h"

#include "base/base.h"

int bg_cli_reopen_logs(bg_cli_t *cli, int argc, char **argv)
{
    json_t *doc = NULL;
    int rc;

    if (argc > 0)
        return bg_cli_usage(cli, "reopen-logs", "unexpected argument '%s'", argv[0]);
    rc = bg_cli_api(cli, "POST", "/v1/logs/reopen", NULL, &doc);
    if (rc != BG_EXIT_OK)
        return rc;
    if (cli->json)
        bg_cli_print_json(cli, doc);
    else
        fprintf(cli->out, "reopened access_log=%s\n",
                json_is_true(json_object_get(doc, "access_log")) ? "yes" : "none");
    json_decref(doc);
    return rc;
}
