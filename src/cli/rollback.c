/* `bluegreen rollback SERVICE [--force]`: traffic back to the previous revision
 * (POST /v1/services/NAME/rollback, docs/design.md §3 and §6).
 *
 * Three outcomes besides the usual errors. Within the termination wait the old slot still
 * runs: one verified routing change, and we print the new split and the switch time.
 * After it the daemon answers 409 explaining that a rollback is now a new deployment of
 * revision N: printed as is, exit 1. And the compatibility gate may refuse (409
 * `conflict`, the message naming the consumer that already depends on the new API):
 * printed with the --force hint, exit 3.
 */
#include "cli/internal.h"

#include "base/base.h"

/* The daemon's two 409s share the code `conflict`; the gate's message names a broken
 * requirement (and may carry the broken edges), the termination wait's names the new
 * deployment to make instead. */
static bool refused_by_gate(const bg_cli_answer_t *ans)
{
    const json_t *e = json_object_get(ans->json, "error");
    const char *msg = bg_cli_answer_message(ans);

    if (ans->status != 409 || msg == NULL)
        return false;
    if (json_object_get(e, "broken") != NULL || json_is_true(json_object_get(e, "gate")))
        return true;
    if (strstr(msg, "new deployment") != NULL || strstr(msg, "termination") != NULL)
        return false;
    return strstr(msg, "requires") != NULL || strstr(msg, "consumer") != NULL ||
           strstr(msg, "--force") != NULL || strstr(msg, "would break") != NULL;
}

static void print_rolled_back(bg_cli_t *cli, const json_t *d)
{
    const json_t *switches = json_object_get(d, "switches");
    const json_t *last = json_array_get(switches, json_array_size(switches) - 1);
    const json_t *traffic = json_object_get(d, "traffic");
    const json_t *ms = json_object_get(last, "switch_ms");
    double switch_ms = json_is_number(ms) ? json_number_value(ms) : -1.0;
    long long blue = (long long)bg_cli_jint(traffic, "blue", 0);
    long long green = (long long)bg_cli_jint(traffic, "green", 0);

    if (!cli->tty) {
        fputs("rolled_back", cli->out);
        bg_cli_print_kv(cli->out, "service", bg_cli_jstr(d, "service", "?"));
        fprintf(cli->out, " id=%lld blue=%lld green=%lld switch_ms=%.3f",
                (long long)bg_cli_jint(d, "id", 0), blue, green, switch_ms);
        bg_cli_print_kv(cli->out, "result", bg_cli_jstr(d, "result", ""));
        bg_cli_print_kv(cli->out, "reason", bg_cli_jstr(d, "reason", ""));
        fputc('\n', cli->out);
        return;
    }
    fprintf(cli->out, "%s: rolled back: traffic now blue %lld%% / green %lld%%",
            bg_cli_jstr(d, "service", "?"), blue, green);
    if (switch_ms >= 0)
        fprintf(cli->out, " (switch verified on every worker in %.3f ms)", switch_ms);
    fprintf(cli->out, "; deployment %lld %s\n", (long long)bg_cli_jint(d, "id", 0),
            bg_cli_jstr(d, "result", ""));
}

static int rollback(bg_cli_t *cli, const char *service, bool force)
{
    bg_cli_client_t c;
    bg_cli_answer_t ans = {0};
    json_t *body = json_pack("{s:b}", "force", force);
    char *path = bg_cli_service_path(service, "/rollback");
    int rc = bg_cli_client_init(&c, cli);

    if (rc != BG_EXIT_OK)
        goto out;
    if (bg_cli_client_send(&c, "POST", path, body, &ans) != 0) {
        rc = bg_cli_client_report(&c);
        goto out;
    }
    if (refused_by_gate(&ans)) {
        rc = bg_cli_fail(cli, BG_EXIT_REFUSED, "rollback refused by the compatibility gate: %s",
                         bg_cli_answer_message(&ans));
        bg_cli_print_broken(cli, cli->err,
                            json_object_get(json_object_get(ans.json, "error"), "broken"));
        fprintf(cli->err,
                "hint: `bluegreen rollback %s --force` overrides the gate (the "
                "consumer named above will break)\n",
                service);
    } else if (ans.status < 200 || ans.status > 299) {
        rc = bg_cli_answer_report(cli, &ans);
    } else if (!json_is_object(ans.json)) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "the daemon answered with invalid JSON");
    } else if (cli->json) {
        bg_cli_print_json(cli, ans.json);
    } else {
        print_rolled_back(cli, ans.json);
    }
out:
    bg_cli_answer_fini(&ans);
    bg_cli_client_fini(&c);
    json_decref(body);
    free(path);
    return rc;
}

int bg_cli_rollback(bg_cli_t *cli, int argc, char **argv)
{
    bool force = false;
    const bg_cli_opt_t opts[] = {{"--force", NULL, BG_OPT_FLAG, &force}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "rollback", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos == 0)
        rc = bg_cli_usage(cli, "rollback", "missing SERVICE");
    else if (rc == BG_EXIT_OK && n_pos > 1)
        rc = bg_cli_usage(cli, "rollback", "unexpected argument '%s'", pos[1]);
    if (rc == BG_EXIT_OK)
        rc = rollback(cli, pos[0], force);
    free(pos);
    return rc;
}
