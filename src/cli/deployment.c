/* The DEPLOYMENT object of the admin API (docs/admin-api.md) as the verbs print it: a
 * summary after an action (deploy, promote, pause, resume, abort, rollback), the result
 * of a finished one with its reason and evidence, and a gate refusal's broken edges.
 * Terminal output is sentences; piped output is one `word key=value...` line per object.
 */
#include "cli/internal.h"

#include "base/base.h"

int bg_cli_result_exit(const char *result)
{
    if (result == NULL || result[0] == '\0' || strcmp(result, "SUCCEEDED") == 0)
        return BG_EXIT_OK;
    if (strcmp(result, "REFUSED") == 0)
        return BG_EXIT_REFUSED;
    return BG_EXIT_FAILED; /* ROLLED_BACK, FAILED, ABORTED, and any result we do not know */
}

static long long weight(const json_t *d, const char *slot)
{
    return (long long)bg_cli_jint(json_object_get(d, "traffic"), slot, 0);
}

/* "inherited from orders#3", "orders#3" naming the live revision (the config's initial
 * revision when none was stored yet). */
static void inherited_text(const json_t *src, char *out, size_t size)
{
    long long rev = (long long)bg_cli_jint(src, "revision", 0);

    if (rev > 0)
        snprintf(out, size, "inherited from %s#%lld", bg_cli_jstr(src, "service", "?"), rev);
    else
        snprintf(out, size, "inherited from %s's config", bg_cli_jstr(src, "service", "?"));
}

const char *bg_cli_api_source_text(const json_t *src, char *out, size_t size)
{
    const char *prov = bg_cli_jstr(src, "provides", "");
    const char *req = bg_cli_jstr(src, "requires", "");
    bool follows = json_is_true(json_object_get(src, "follows_version"));
    char inh[160];

    if (!json_is_object(src))
        return NULL;
    inherited_text(src, inh, sizeof(inh));
    if (strcmp(prov, "file") == 0)
        snprintf(out, size, "from %s", bg_cli_jstr(src, "file", "the revision file"));
    else if (strcmp(prov, "request") == 0 && strcmp(req, "request") == 0)
        snprintf(out, size, "from --provides/--requires");
    else if (strcmp(prov, "inherited") == 0 && strcmp(req, "inherited") == 0)
        snprintf(out, size, "%s%s", inh, follows ? " (own API version follows --version)" : "");
    else if (strcmp(prov, "request") == 0)
        snprintf(out, size, "provides from --provides, requires %s", inh);
    else
        snprintf(out, size, "provides %s%s, requires from --requires", inh,
                 follows ? " (own API version follows --version)" : "");
    return out;
}

void bg_cli_print_deployment(bg_cli_t *cli, const char *what, const json_t *d)
{
    char api[256];
    const char *api_text =
        bg_cli_api_source_text(json_object_get(d, "api_source"), api, sizeof(api));
    const char *result = bg_cli_jstr(d, "result", "");
    bool paused = json_is_true(json_object_get(d, "paused"));
    FILE *f = cli->out;

    if (!cli->tty) {
        fputs(what, f);
        bg_cli_print_kv(f, "service", bg_cli_jstr(d, "service", "?"));
        fprintf(f, " id=%lld", (long long)bg_cli_jint(d, "id", 0));
        bg_cli_print_kv(f, "version", bg_cli_jstr(d, "version", ""));
        fprintf(f, " from=%lld to=%lld", (long long)bg_cli_jint(d, "from_revision", 0),
                (long long)bg_cli_jint(d, "to_revision", 0));
        bg_cli_print_kv(f, "slot", bg_cli_jstr(d, "slot", ""));
        bg_cli_print_kv(f, "phase", bg_cli_jstr(d, "phase", ""));
        fprintf(f, " paused=%s blue=%lld green=%lld", paused ? "true" : "false", weight(d, "blue"),
                weight(d, "green"));
        bg_cli_print_kv(f, "result", result);
        bg_cli_print_kv(f, "reason", bg_cli_jstr(d, "reason", ""));
        if (api_text != NULL)
            bg_cli_print_kv(f, "api", api_text);
        fputc('\n', f);
        return;
    }
    fprintf(f,
            "%s: deployment %lld %s: %s (revision %lld -> %lld) in %s, phase %s%s, traffic "
            "blue %lld%% / green %lld%%",
            bg_cli_jstr(d, "service", "?"), (long long)bg_cli_jint(d, "id", 0), what,
            bg_cli_jstr(d, "version", "?"), (long long)bg_cli_jint(d, "from_revision", 0),
            (long long)bg_cli_jint(d, "to_revision", 0), bg_cli_jstr(d, "slot", "?"),
            bg_cli_jstr(d, "phase", "?"), paused ? " (paused)" : "", weight(d, "blue"),
            weight(d, "green"));
    if (result[0] != '\0')
        fprintf(f, "; result %s", result);
    fputc('\n', f);
    if (api_text != NULL && strcmp(what, "started") == 0)
        fprintf(f, "  api: %s\n", api_text);
}

void bg_cli_print_broken(bg_cli_t *cli, FILE *f, const json_t *broken)
{
    for (size_t i = 0; i < json_array_size(broken); i++) {
        const json_t *e = json_array_get(broken, i);
        const char *msg =
            json_is_string(e) ? json_string_value(e) : bg_cli_jstr(e, "message", NULL);
        char *dump = msg == NULL ? json_dumps(e, JSON_COMPACT) : NULL;

        if (cli->tty)
            fprintf(f, "  %s\n", msg != NULL ? msg : dump);
        else {
            fputs("broken", f);
            bg_cli_print_kv(f, "edge", msg != NULL ? msg : dump != NULL ? dump : "?");
            fputc('\n', f);
        }
        free(dump);
    }
}

/* The last lines of <text> (at most <max_lines>), each indented by <indent>. */
static void print_tail(FILE *f, const char *text, int max_lines, const char *indent)
{
    const char *start = text + strlen(text);
    int lines = 0;

    if (start > text && start[-1] == '\n')
        start--;
    while (start > text && lines < max_lines) {
        start--;
        if (*start == '\n' && ++lines == max_lines) {
            start++;
            break;
        }
    }
    while (*start != '\0') {
        size_t n = strcspn(start, "\n");
        fprintf(f, "%s%.*s\n", indent, (int)n, start);
        start += n + (start[n] == '\n');
    }
}

/* What the daemon kept of the failing targets (docs/design.md §3: health and log tails). */
static void print_evidence(bg_cli_t *cli, const json_t *d)
{
    const json_t *targets = json_object_get(json_object_get(d, "evidence"), "targets");

    for (size_t i = 0; i < json_array_size(targets); i++) {
        const json_t *t = json_array_get(targets, i);
        const json_t *h = json_object_get(t, "health");
        const char *tail = bg_cli_jstr(t, "log_tail", "");

        if (!cli->tty) {
            fputs("evidence", cli->out);
            bg_cli_print_kv(cli->out, "address", bg_cli_jstr(t, "address", "?"));
            bg_cli_print_kv(cli->out, "health", bg_cli_jstr(h, "reason", ""));
            fprintf(cli->out, " last_status=%lld", (long long)bg_cli_jint(h, "last_status", 0));
            bg_cli_print_kv(cli->out, "log_tail", tail);
            fputc('\n', cli->out);
            continue;
        }
        fprintf(cli->out, "  target %s: health %s (last status %lld)\n",
                bg_cli_jstr(t, "address", "?"), bg_cli_jstr(h, "reason", "?"),
                (long long)bg_cli_jint(h, "last_status", 0));
        if (tail[0] != '\0') {
            fputs("    log tail:\n", cli->out);
            print_tail(cli->out, tail, 10, "      ");
        }
    }
}

int bg_cli_print_result(bg_cli_t *cli, const json_t *d)
{
    const char *result = bg_cli_jstr(d, "result", "");
    const char *reason = bg_cli_jstr(d, "reason", "");
    int code = bg_cli_result_exit(result);
    const char *colour = code == BG_EXIT_OK ? BG_SGR_GREEN : BG_SGR_RED;

    if (!cli->tty) {
        bg_cli_print_deployment(cli, "result", d);
    } else {
        fprintf(cli->out, "%s: deployment %lld %s%s%s", bg_cli_jstr(d, "service", "?"),
                (long long)bg_cli_jint(d, "id", 0), bg_cli_sgr(cli, colour), result,
                bg_cli_sgr(cli, BG_SGR_RESET));
        if (code == BG_EXIT_OK)
            fprintf(cli->out, ": %s live in %s (blue %lld%% / green %lld%%)\n",
                    bg_cli_jstr(d, "version", "?"), bg_cli_jstr(d, "slot", "?"), weight(d, "blue"),
                    weight(d, "green"));
        else
            fprintf(cli->out, "%s%s\n", reason[0] ? ": " : "", reason);
    }
    if (strcmp(result, "ROLLED_BACK") == 0 || strcmp(result, "FAILED") == 0)
        print_evidence(cli, d);
    return code;
}
