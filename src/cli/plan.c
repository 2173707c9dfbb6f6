/* `bluegreen plan RELEASE.yaml [--json]`: asks the daemon to order a multi-service release
 * so that every intermediate state, split traffic included, is compatible (POST /v1/plan,
 * docs/design.md §6), and prints the order with the reason for each place, or why no order
 * exists and which expand/contract version would unblock it (exit 3).
 *
 * The release file is sent as text with its absolute directory, so the daemon resolves
 * `file:` references where the file lives and names RELEASE.yaml:LINE:COLUMN on errors.
 */
#include "cli/internal.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>

#include "base/base.h"

int bg_cli_release_body(bg_cli_t *cli, const char *path, json_t **body)
{
    char *text = NULL, *copy = NULL;
    char dir[PATH_MAX];
    int rc;

    *body = NULL;
    rc = bg_cli_read_file(cli, path, &text);
    if (rc != BG_EXIT_OK)
        return rc;
    copy = bg_strdup(path);
    if (realpath(dirname(copy), dir) == NULL) {
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "%s: cannot resolve its directory: %s", path,
                         strerror(errno));
        goto out;
    }
    *body =
        json_pack("{s:{s:s, s:s, s:s}}", "release_file", "name", path, "yaml", text, "dir", dir);
out:
    free(copy);
    free(text);
    return rc;
}

/* The file argument of plan/release, with their options. */
int bg_cli_release_args(bg_cli_t *cli, const char *verb, int argc, char **argv, bool *wait,
                        const char **path)
{
    const bg_cli_opt_t opts[] = {{"--wait", NULL, BG_OPT_FLAG, wait}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, verb, argc, argv, opts, wait != NULL ? 1 : 0, pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos == 0)
        rc = bg_cli_usage(cli, verb, "missing RELEASE.yaml");
    else if (rc == BG_EXIT_OK && n_pos > 1)
        rc = bg_cli_usage(cli, verb, "unexpected argument '%s'", pos[1]);
    *path = rc == BG_EXIT_OK ? pos[0] : NULL;
    free(pos);
    return rc;
}

static void print_order(bg_cli_t *cli, const json_t *order)
{
    if (cli->tty)
        fprintf(cli->out,
                "%zu step%s, in this order (each one compatible with what is live "
                "then):\n",
                json_array_size(order), json_array_size(order) == 1 ? "" : "s");
    for (size_t i = 0; i < json_array_size(order); i++) {
        const json_t *s = json_array_get(order, i);
        if (cli->tty) {
            fprintf(cli->out, "  %zu. %s%s %s%s", i + 1, bg_cli_sgr(cli, BG_SGR_BOLD),
                    bg_cli_jstr(s, "service", "?"), bg_cli_jstr(s, "version", "?"),
                    bg_cli_sgr(cli, BG_SGR_RESET));
            if (bg_cli_jstr(s, "reason", "")[0] != '\0')
                fprintf(cli->out, ": %s", bg_cli_jstr(s, "reason", ""));
            fputc('\n', cli->out);
            continue;
        }
        fprintf(cli->out, "step n=%zu", i + 1);
        bg_cli_print_kv(cli->out, "service", bg_cli_jstr(s, "service", ""));
        bg_cli_print_kv(cli->out, "version", bg_cli_jstr(s, "version", ""));
        bg_cli_print_kv(cli->out, "reason", bg_cli_jstr(s, "reason", ""));
        fputc('\n', cli->out);
    }
}

/* The constraints that form the cycle: "orders before payments (why); ..." or, for plain
 * names, "orders -> payments -> orders". */
static void cycle_text(const json_t *cycle, bg_buf_t *b)
{
    for (size_t i = 0; i < json_array_size(cycle); i++) {
        const json_t *x = json_array_get(cycle, i);
        const char *first = bg_cli_jstr(x, "first", NULL), *then = bg_cli_jstr(x, "then", NULL);
        char *dump = NULL;

        if (i > 0)
            bg_buf_puts(b, json_is_string(x) ? " -> " : "; ");
        if (json_is_string(x)) {
            bg_buf_puts(b, json_string_value(x));
        } else if (first != NULL && then != NULL) {
            bg_buf_printf(b, "%s before %s", first, then);
            if (bg_cli_jstr(x, "reason", "")[0] != '\0')
                bg_buf_printf(b, " (%s)", bg_cli_jstr(x, "reason", ""));
        } else {
            dump = json_dumps(x, JSON_COMPACT);
            bg_buf_puts(b, dump != NULL ? dump : "?");
        }
        free(dump);
    }
    bg_buf_append(b, "", 0);
}

/* The expand/contract way out: a sentence, or {service, api, versions, verified}. */
static void hint_text(const json_t *hint, bg_buf_t *b)
{
    const json_t *versions = json_object_get(hint, "versions");

    if (json_is_string(hint)) {
        bg_buf_puts(b, json_string_value(hint));
    } else if (bg_cli_jstr(hint, "service", NULL) != NULL) {
        bg_buf_printf(b, "first deploy a %s that provides %s at [",
                      bg_cli_jstr(hint, "service", ""), bg_cli_jstr(hint, "api", "?"));
        for (size_t i = 0; i < json_array_size(versions); i++)
            bg_buf_printf(b, "%s%s", i ? ", " : "",
                          json_string_value(json_array_get(versions, i)) ?: "?");
        bg_buf_puts(b, "] (expand), then the release, then drop the old version (contract)");
        if (json_is_true(json_object_get(hint, "verified")))
            bg_buf_puts(b, "; checked: the release then has an order");
    }
    bg_buf_append(b, "", 0);
}

void bg_cli_print_blocked(bg_cli_t *cli, const json_t *blocked)
{
    const char *msg = bg_cli_jstr(blocked, "message", "no order keeps every step compatible");
    bg_buf_t cyc, hb;
    const char *hint;

    bg_buf_init(&cyc);
    bg_buf_init(&hb);
    cycle_text(json_object_get(blocked, "cycle"), &cyc);
    hint_text(json_object_get(blocked, "hint"), &hb);
    hint = hb.data;
    if (!cli->tty) {
        fputs("blocked", cli->out);
        bg_cli_print_kv(cli->out, "message", msg);
        bg_cli_print_kv(cli->out, "cycle", cyc.data);
        bg_cli_print_kv(cli->out, "hint", hint);
        fputc('\n', cli->out);
    } else {
        fprintf(cli->out, "%sno order exists:%s %s\n", bg_cli_sgr(cli, BG_SGR_RED),
                bg_cli_sgr(cli, BG_SGR_RESET), msg);
        if (cyc.data[0] != '\0')
            fprintf(cli->out, "  cycle: %s\n", cyc.data);
        if (hint[0] != '\0')
            fprintf(cli->out, "  hint:  %s\n", hint);
    }
    bg_buf_fini(&cyc);
    bg_buf_fini(&hb);
}

int bg_cli_plan(bg_cli_t *cli, int argc, char **argv)
{
    const char *path;
    json_t *body = NULL, *doc = NULL;
    int rc = bg_cli_release_args(cli, "plan", argc, argv, NULL, &path);

    if (rc == BG_EXIT_OK)
        rc = bg_cli_release_body(cli, path, &body);
    if (rc == BG_EXIT_OK)
        rc = bg_cli_api(cli, "POST", "/v1/plan", body, &doc);
    if (rc != BG_EXIT_OK)
        goto out;
    if (cli->json)
        bg_cli_print_json(cli, doc);
    else if (json_is_true(json_object_get(doc, "ok")))
        print_order(cli, json_object_get(doc, "order"));
    else
        bg_cli_print_blocked(cli, json_object_get(doc, "blocked"));
    if (!json_is_true(json_object_get(doc, "ok")))
        rc = BG_EXIT_REFUSED;
out:
    json_decref(doc);
    json_decref(body);
    return rc;
}
