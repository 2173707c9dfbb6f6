/* `bluegreen logs SERVICE [--slot live|preview] [--bytes N] [--follow]`: the end of each
 * target's log (GET /v1/services/NAME/logs, text/plain, one part per target headed
 * `==> target ADDRESS (slot, rev N) <==`).
 *
 * --follow polls every 500 ms and prints only what is new, per target, as `tail -f` does
 * with several files (a header whenever the target changes). The daemon answers the last
 * N bytes of each log, so what is new is found by aligning the previous answer's end with
 * the new answer's start (the longest suffix of the old that is a prefix of the new). The
 * window is 64 KiB while following, far more than a target writes in half a second; when
 * no alignment exists (the log was rotated or outran the window) the whole part is new.
 */
#include "cli/internal.h"

#include <poll.h>

#include "base/base.h"

#define FOLLOW_EVERY_MS 500
#define FOLLOW_BYTES 65536
#define MAX_BYTES (16u << 20)

typedef struct part {
    char *header;  /* "==> target ... <==" line without its newline; "" before any */
    char *content; /* owned */
    size_t len;
} part_t;

typedef struct parts {
    part_t *v;
    size_t n;
} parts_t;

static void parts_fini(parts_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].header);
        free(p->v[i].content);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static bool is_header(const char *line, size_t len)
{
    return len >= 8 && strncmp(line, "==> ", 4) == 0 && strncmp(line + len - 4, " <==", 4) == 0;
}

static void add_part(parts_t *p, const char *header, size_t hlen)
{
    p->v = bg_xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
    p->v[p->n].header = bg_strndup(header, hlen);
    p->v[p->n].content = bg_strdup("");
    p->v[p->n].len = 0;
    p->n++;
}

static void append(part_t *t, const char *s, size_t n)
{
    t->content = bg_xrealloc(t->content, t->len + n + 1);
    memcpy(t->content + t->len, s, n);
    t->len += n;
    t->content[t->len] = '\0';
}

/* Splits the answer <text> into its parts. */
static void parse_parts(const char *text, size_t len, parts_t *out)
{
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t line = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        size_t step = line + (nl != NULL);
        if (is_header(p, line))
            add_part(out, p, line);
        else {
            if (out->n == 0)
                add_part(out, "", 0);
            append(&out->v[out->n - 1], p, step);
        }
        p += step;
    }
}

/* Length of the longest suffix of <old> that is a prefix of <new>. */
static size_t overlap(const char *old, size_t old_len, const char *new, size_t new_len)
{
    size_t k = old_len < new_len ? old_len : new_len;

    for (; k > 0; k--) {
        /* Cheap checks first: the alignment's first and last bytes. */
        if (new[0] != old[old_len - k] || new[k - 1] != old[old_len - 1])
            continue;
        if (memcmp(old + old_len - k, new, k) == 0)
            return k;
    }
    return 0;
}

static const part_t *find_part(const parts_t *p, const char *header)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].header, header) == 0)
            return &p->v[i];
    return NULL;
}

/* Prints what <now> has that <before> had not; <shown> is the header printed last. */
static void print_new(bg_cli_t *cli, const parts_t *before, const parts_t *now, char **shown)
{
    for (size_t i = 0; i < now->n; i++) {
        const part_t *t = &now->v[i], *old = find_part(before, t->header);
        size_t k = old != NULL ? overlap(old->content, old->len, t->content, t->len) : 0;

        if (k == t->len)
            continue;
        if (t->header[0] != '\0' && (*shown == NULL || strcmp(*shown, t->header) != 0)) {
            fprintf(cli->out, "%s%s\n", *shown != NULL ? "\n" : "", t->header);
            free(*shown);
            *shown = bg_strdup(t->header);
        }
        fwrite(t->content + k, 1, t->len - k, cli->out);
    }
    fflush(cli->out);
}

/* GETs the logs into <out>; the first time (<raw>) the answer is printed as it came. */
static int fetch(bg_cli_client_t *c, const char *path, parts_t *out, bool raw)
{
    bg_cli_answer_t ans;
    int rc = BG_EXIT_OK;

    if (bg_cli_client_send(c, "GET", path, NULL, &ans) != 0)
        return bg_cli_client_report(c);
    if (ans.status < 200 || ans.status > 299)
        rc = bg_cli_answer_report(c->cli, &ans);
    else
        parse_parts(ans.text, ans.len, out);
    if (rc == BG_EXIT_OK && raw)
        fwrite(ans.text, 1, ans.len, c->cli->out);
    bg_cli_answer_fini(&ans);
    return rc;
}

static int run(bg_cli_t *cli, const char *path, bool follow)
{
    parts_t before = {0}, now = {0};
    char *shown = NULL;
    bg_cli_client_t c;
    int rc = bg_cli_client_init(&c, cli);

    if (rc != BG_EXIT_OK)
        goto out;
    if (follow)
        bg_cli_signals_catch();
    for (bool first = true; rc == BG_EXIT_OK; first = false) {
        rc = fetch(&c, path, &now, first);
        if (rc != BG_EXIT_OK)
            break;
        if (first && now.n > 0 && now.v[now.n - 1].header[0] != '\0')
            shown = bg_strdup(now.v[now.n - 1].header);
        if (!first)
            print_new(cli, &before, &now, &shown);
        fflush(cli->out);
        parts_fini(&before);
        before = now;
        memset(&now, 0, sizeof(now));
        if (!follow)
            break;
        for (int waited = 0; waited < FOLLOW_EVERY_MS && bg_cli_signal_caught() == 0; waited += 100)
            poll(NULL, 0, 100);
        if (bg_cli_signal_caught() != 0)
            break; /* Ctrl-C ends a follow normally */
    }
out:
    parts_fini(&before);
    parts_fini(&now);
    free(shown);
    bg_cli_client_fini(&c);
    return rc;
}

int bg_cli_logs(bg_cli_t *cli, int argc, char **argv)
{
    const char *slot = "live", *bytes = NULL;
    bool follow = false;
    const bg_cli_opt_t opts[] = {
        {"--slot", NULL, BG_OPT_VALUE, &slot},
        {"--bytes", NULL, BG_OPT_VALUE, &bytes},
        {"--follow", "-f", BG_OPT_FLAG, &follow},
    };
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    char *path = NULL, *suffix = NULL;
    uint64_t n = 0;
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "logs", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc != BG_EXIT_OK)
        goto out;
    if (n_pos != 1) {
        rc = n_pos == 0 ? bg_cli_usage(cli, "logs", "missing SERVICE")
                        : bg_cli_usage(cli, "logs", "unexpected argument '%s'", pos[1]);
        goto out;
    }
    if (strcmp(slot, "live") != 0 && strcmp(slot, "preview") != 0) {
        rc = bg_cli_usage(cli, "logs", "--slot '%s' must be live or preview", slot);
        goto out;
    }
    if (bytes != NULL && (!bg_str_to_u64(bg_str(bytes), MAX_BYTES, &n) || n == 0)) {
        rc = bg_cli_usage(cli, "logs", "--bytes '%s' must be an integer from 1 to %u", bytes,
                          MAX_BYTES);
        goto out;
    }
    if (bytes != NULL)
        suffix = bg_asprintf("/logs?slot=%s&bytes=%llu", slot, (unsigned long long)n);
    else if (follow)
        suffix = bg_asprintf("/logs?slot=%s&bytes=%d", slot, FOLLOW_BYTES);
    else
        suffix = bg_asprintf("/logs?slot=%s", slot);
    path = bg_cli_service_path(pos[0], suffix);
    rc = run(cli, path, follow);
out:
    free(path);
    free(suffix);
    free(pos);
    return rc;
}
