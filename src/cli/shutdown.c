/* `bluegreen shutdown [--stop-targets]`: stops the daemon (POST /v1/shutdown).
 *
 * Without --stop-targets it is what SIGTERM does: the listeners and the admin API stop,
 * the proxy drains, and the targets the daemon runs keep running for the next `serve` to
 * re-adopt (an upgrade or restart of bluegreen). With --stop-targets the daemon drains
 * and stops every instance, records that in its store, answers, then exits: the next
 * `serve` starts fresh instances.
 */
#include "cli/internal.h"

#include "base/base.h"

static void print_done(bg_cli_t *cli, const json_t *doc, bool stop_targets)
{
    bool stopped = json_is_true(json_object_get(doc, "targets_stopped"));

    if (cli->json) {
        bg_cli_print_json(cli, doc);
    } else if (!cli->tty) {
        fprintf(cli->out, "shutdown stop_targets=%s targets_stopped=%s\n",
                stop_targets ? "true" : "false", stopped ? "true" : "false");
    } else if (stopped) {
        fputs("bluegreen is shutting down; every target was drained and stopped\n", cli->out);
    } else {
        fputs("bluegreen is shutting down; its targets keep running and the next `bluegreen "
              "serve` re-adopts them\n",
              cli->out);
    }
}

int bg_cli_shutdown(bg_cli_t *cli, int argc, char **argv)
{
    bool stop_targets = false;
    const bg_cli_opt_t opts[] = {{"--stop-targets", NULL, BG_OPT_FLAG, &stop_targets}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0;
    json_t *body = NULL, *doc = NULL;
    int rc = bg_cli_parse_opts(cli, "shutdown", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos > 0)
        rc = bg_cli_usage(cli, "shutdown", "unexpected argument '%s'", pos[0]);
    if (rc != BG_EXIT_OK)
        goto out;
    body = json_pack("{s:b}", "stop_targets", stop_targets);
    rc = bg_cli_api(cli, "POST", "/v1/shutdown", body, &doc);
    if (rc == BG_EXIT_OK)
        print_done(cli, doc, stop_targets);
out:
    json_decref(doc);
    json_decref(body);
    free(pos);
    return rc;
}
