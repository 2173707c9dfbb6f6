/* `bluegreen serve [-c FILE]`: loads the config and runs the daemon (load balancer,
 * controller, admin API) in the foreground until the server stops it. A config error is
 * printed as file:line:column: key: message and exits 2 before anything starts.
 */
#include "cli/internal.h"

#include "base/base.h"
#include "server/server.h"

int bg_cli_serve(bg_cli_t *cli, int argc, char **argv)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    bg_server_t *srv = NULL;
    bg_config_t *cfg;
    bg_err_t err;
    int rc = BG_EXIT_OK;

    if (argc > 0)
        return bg_cli_usage(cli, "serve", "unexpected argument '%s'", argv[0]);
    cfg = bg_cli_config_load(cli);
    if (cfg == NULL)
        return BG_EXIT_USAGE;
    bg_err_clear(&err);
    srv = bg_server_new(cfg, &err); /* takes ownership of cfg, even on failure */
    if (srv == NULL || bg_server_run(srv, &err) != 0) {
        rc = err.code == BG_EINVAL ? BG_EXIT_USAGE : BG_EXIT_FAILED;
        bg_err_format(&err, line, sizeof(line));
        bg_cli_fail(cli, rc, "serve: %s", line);
    }
    bg_server_free(srv);
    return rc;
}
