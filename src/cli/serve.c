/* `bluegreen serve [-c FILE] [--takeover]`: loads the config and runs the daemon (load
 * balancer, controller, admin API) in the foreground until the server stops it. A config
 * error is printed as file:line:column: key: message and exits 2 before anything starts.
 * --takeover replaces the daemon running on the same admin socket without dropping a
 * request (restart, upgrade): it takes over its listening sockets and targets.
 */
#include "cli/internal.h"

#include <stdlib.h>

#include "base/base.h"
#include "server/server.h"

int bg_cli_serve(bg_cli_t *cli, int argc, char **argv)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];
    bg_server_t *srv = NULL;
    bg_config_t *cfg;
    bg_err_t err;
    bool takeover = false;
    const bg_cli_opt_t opts[] = {{"--takeover", NULL, BG_OPT_FLAG, &takeover}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "serve", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos > 0)
        rc = bg_cli_usage(cli, "serve", "unexpected argument '%s'", pos[0]);
    free(pos);
    if (rc != BG_EXIT_OK)
        return rc;
    /* Test builds: env BLUEGREEN_FAULTS arms fault points in the daemon (e2e tests). */
    bg_fault_init();
    cfg = bg_cli_config_load(cli);
    if (cfg == NULL)
        return BG_EXIT_USAGE;
    bg_err_clear(&err);
    /* Takes ownership of cfg, also on failure; NULL means the config cannot be served
     * (a target address that does not parse, a TCP admin without a token). */
    srv = takeover ? bg_server_new_takeover(cfg, &err) : bg_server_new(cfg, &err);
    if (srv == NULL) {
        bg_err_format(&err, line, sizeof(line));
        return bg_cli_fail(cli, BG_EXIT_USAGE, "serve: %s", line);
    }
    if (bg_server_run(srv, &err) != 0) {
        bg_err_format(&err, line, sizeof(line));
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "serve: %s", line);
    }
    bg_server_free(srv);
    return rc;
}
