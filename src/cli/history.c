/* `bluegreen history SERVICE [--limit N] [--json]`: a service's deployments, newest first
 * (GET /v1/services/NAME/deployments?limit=N): what went out, how, with what result and
 * why, when, for how long, by whom, from which commit.
 */
#include "cli/internal.h"

#include "base/base.h"

#define MAX_LIMIT 10000

/* "3->4" */
static void revs(const json_t *d, char *out, size_t size)
{
    snprintf(out, size, "%lld->%lld", (long long)bg_cli_jint(d, "from_revision", 0),
             (long long)bg_cli_jint(d, "to_revision", 0));
}

/* How long it took, or how long it has been running ("-" when unknown). */
static void duration(const json_t *d, char *out, size_t size)
{
    uint64_t start, end;
    const char *ended = bg_cli_jstr(d, "ended", NULL);

    if (!bg_cli_time_parse(bg_cli_jstr(d, "started", NULL), &start)) {
        snprintf(out, size, "-");
        return;
    }
    if (ended == NULL)
        end = bg_wall_ms();
    else if (!bg_cli_time_parse(ended, &end)) {
        snprintf(out, size, "-");
        return;
    }
    bg_cli_duration_str(end > start ? end - start : 0, out, size);
}

/* The result, or "running (PHASE)" for the one still going. */
static void result(const json_t *d, char *out, size_t size)
{
    const char *r = bg_cli_jstr(d, "result", "");

    if (r[0] != '\0')
        snprintf(out, size, "%s", r);
    else
        snprintf(out, size, "running (%s)", bg_cli_jstr(d, "phase", "?"));
}

static const char *git_sha(const json_t *d)
{
    return bg_cli_jstr(json_object_get(d, "labels"), "git.sha", "-");
}

/* The image as asked for (tag), when the revision runs one; its digest is beside it. */
static const char *image_of(const json_t *d)
{
    return bg_cli_jstr(json_object_get(d, "artifact"), "image", NULL);
}

/* "127.0.0.1:5000/app:v2 @sha256:0123456789ab" (digest shortened), for the table. */
static void image_cell(const json_t *d, char *out, size_t size)
{
    const char *digest = bg_cli_jstr(json_object_get(d, "artifact"), "digest", NULL);

    snprintf(out, size, "%s%s%.19s", image_of(d) ? image_of(d) : "-", digest ? " @" : "",
             digest ? digest : "");
}

static void print_line(bg_cli_t *cli, const json_t *d)
{
    char dur[32], res[64];
    FILE *f = cli->out;

    duration(d, dur, sizeof(dur));
    result(d, res, sizeof(res));
    fprintf(f, "deployment id=%lld", (long long)bg_cli_jint(d, "id", 0));
    bg_cli_print_kv(f, "service", bg_cli_jstr(d, "service", "?"));
    bg_cli_print_kv(f, "version", bg_cli_jstr(d, "version", ""));
    fprintf(f, " from=%lld to=%lld", (long long)bg_cli_jint(d, "from_revision", 0),
            (long long)bg_cli_jint(d, "to_revision", 0));
    bg_cli_print_kv(f, "strategy", bg_cli_jstr(d, "strategy", ""));
    bg_cli_print_kv(f, "result", bg_cli_jstr(d, "result", ""));
    bg_cli_print_kv(f, "phase", bg_cli_jstr(d, "phase", ""));
    bg_cli_print_kv(f, "reason", bg_cli_jstr(d, "reason", ""));
    bg_cli_print_kv(f, "started", bg_cli_jstr(d, "started", ""));
    bg_cli_print_kv(f, "duration", dur);
    bg_cli_print_kv(f, "actor", bg_cli_jstr(d, "actor", ""));
    bg_cli_print_kv(f, "git_sha", git_sha(d));
    if (image_of(d) != NULL) {
        bg_cli_print_kv(f, "image", image_of(d));
        bg_cli_print_kv(f, "digest", bg_cli_jstr(json_object_get(d, "artifact"), "digest", "-"));
    }
    fputc('\n', f);
}

/* Columns of the terminal table: the text ones are as wide as their widest value. */
enum { C_VERSION, C_REV, C_STRATEGY, C_RESULT, C_ACTOR, C_GIT, C_COUNT };
static const char *const headers[C_COUNT] = {"VERSION", "REV",   "STRATEGY",
                                             "RESULT",  "ACTOR", "GIT.SHA"};

static void cells(const json_t *d, char out[C_COUNT][96])
{
    snprintf(out[C_VERSION], 96, "%s", bg_cli_jstr(d, "version", "?"));
    revs(d, out[C_REV], 96);
    snprintf(out[C_STRATEGY], 96, "%s", bg_cli_jstr(d, "strategy", "-"));
    result(d, out[C_RESULT], 96);
    snprintf(out[C_ACTOR], 96, "%s", bg_cli_jstr(d, "actor", "-"));
    snprintf(out[C_GIT], 96, "%s", git_sha(d));
}

static void print_row(bg_cli_t *cli, const json_t *d, const int w[C_COUNT])
{
    const char *r = bg_cli_jstr(d, "result", "");
    const char *colour = r[0] == '\0'                  ? BG_SGR_YELLOW
                         : strcmp(r, "SUCCEEDED") == 0 ? BG_SGR_GREEN
                                                       : BG_SGR_RED;
    const char *reason = bg_cli_jstr(d, "reason", "");
    char c[C_COUNT][96], dur[32], started[32];

    cells(d, c);
    duration(d, dur, sizeof(dur));
    /* "2026-11-27T13:00:00.000Z" -> "2026-11-27 13:00:00" */
    snprintf(started, sizeof(started), "%.19s", bg_cli_jstr(d, "started", "-"));
    if (strlen(started) > 10 && started[10] == 'T')
        started[10] = ' ';
    fprintf(cli->out, "%5lld  %-*s  %-*s  %-*s  %s%-*s%s  %-19s  %8s  %-*s  %-*s  %s\n",
            (long long)bg_cli_jint(d, "id", 0), w[C_VERSION], c[C_VERSION], w[C_REV], c[C_REV],
            w[C_STRATEGY], c[C_STRATEGY], bg_cli_sgr(cli, colour), w[C_RESULT], c[C_RESULT],
            bg_cli_sgr(cli, BG_SGR_RESET), started, dur, w[C_ACTOR], c[C_ACTOR], w[C_GIT], c[C_GIT],
            reason[0] ? reason : "-");
    if (image_of(d) != NULL) {
        char img[640];
        image_cell(d, img, sizeof(img));
        fprintf(cli->out, "       image %s\n", img);
    }
}

static void print_table(bg_cli_t *cli, const json_t *list)
{
    int w[C_COUNT];

    if (json_array_size(list) == 0) {
        fputs("no deployments yet\n", cli->out);
        return;
    }
    for (int k = 0; k < C_COUNT; k++)
        w[k] = (int)strlen(headers[k]);
    for (size_t i = 0; i < json_array_size(list); i++) {
        char c[C_COUNT][96];
        cells(json_array_get(list, i), c);
        for (int k = 0; k < C_COUNT; k++)
            w[k] = (int)strlen(c[k]) > w[k] ? (int)strlen(c[k]) : w[k];
    }
    fprintf(cli->out, "%5s  %-*s  %-*s  %-*s  %-*s  %-19s  %8s  %-*s  %-*s  %s\n", "ID",
            w[C_VERSION], headers[C_VERSION], w[C_REV], headers[C_REV], w[C_STRATEGY],
            headers[C_STRATEGY], w[C_RESULT], headers[C_RESULT], "STARTED", "DURATION", w[C_ACTOR],
            headers[C_ACTOR], w[C_GIT], headers[C_GIT], "REASON");
    for (size_t i = 0; i < json_array_size(list); i++)
        print_row(cli, json_array_get(list, i), w);
}

int bg_cli_history(bg_cli_t *cli, int argc, char **argv)
{
    const char *limit = NULL;
    const bg_cli_opt_t opts[] = {{"--limit", "-n", BG_OPT_VALUE, &limit}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    json_t *doc = NULL;
    char *path = NULL, *suffix = NULL;
    uint64_t n = 20;
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "history", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc != BG_EXIT_OK)
        goto out;
    if (n_pos != 1) {
        rc = n_pos == 0 ? bg_cli_usage(cli, "history", "missing SERVICE")
                        : bg_cli_usage(cli, "history", "unexpected argument '%s'", pos[1]);
        goto out;
    }
    if (limit != NULL && (!bg_str_to_u64(bg_str(limit), MAX_LIMIT, &n) || n == 0)) {
        rc = bg_cli_usage(cli, "history", "--limit '%s' must be an integer from 1 to %d", limit,
                          MAX_LIMIT);
        goto out;
    }
    suffix = bg_asprintf("/deployments?limit=%llu", (unsigned long long)n);
    path = bg_cli_service_path(pos[0], suffix);
    rc = bg_cli_api(cli, "GET", path, NULL, &doc);
    if (rc != BG_EXIT_OK)
        goto out;
    if (cli->json) {
        bg_cli_print_json(cli, doc);
    } else if (cli->tty) {
        print_table(cli, json_object_get(doc, "deployments"));
    } else {
        const json_t *list = json_object_get(doc, "deployments");
        for (size_t i = 0; i < json_array_size(list); i++)
            print_line(cli, json_array_get(list, i));
    }
out:
    json_decref(doc);
    free(path);
    free(suffix);
    free(pos);
    return rc;
}
