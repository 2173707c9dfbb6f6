/* `bluegreen release RELEASE.yaml [--wait] [--json]`: runs a multi-service release
 * (POST /v1/releases, docs/design.md §6): the daemon plans it, then deploys each service in order,
 * each after the previous one succeeded, and stops at the first failure.
 *
 * We print each step's result, stop at the first failure and print what is live then
 * (exit 1; 3 when the gate refused the step or no order exists). A daemon that answers
 * before the release ended (result "") is followed with --wait by polling
 * GET /v1/releases/ID, printing each step as its result arrives. The controller answers
 * only once the release ended, possibly many minutes later: on a terminal the daemon's
 * events are shown meanwhile (the request runs on a thread of its own, the event stream
 * on this one), so the wait is never silent.
 */
#include "cli/internal.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>

#include "base/base.h"

#define POLL_MS 500

/* The release id: a number (the daemon's counter) or a string. */
static const char *release_id(const json_t *rel, char *buf, size_t size)
{
    const json_t *id = json_object_get(rel, "id");

    if (json_is_integer(id))
        snprintf(buf, size, "%lld", (long long)json_integer_value(id));
    else
        snprintf(buf, size, "%s", json_is_string(id) ? json_string_value(id) : "?");
    return buf;
}

/* Why no order exists, when the answer says so: "blocked" at the top or in its "plan". */
static const json_t *blocked(const json_t *rel)
{
    const json_t *b = json_object_get(rel, "blocked");

    if (json_is_object(b))
        return b;
    b = json_object_get(json_object_get(rel, "plan"), "blocked");
    return json_is_object(b) ? b : NULL;
}

static const char *step_result(const json_t *s)
{
    const char *r = bg_cli_jstr(s, "result", NULL);
    return r != NULL ? r : bg_cli_jstr(json_object_get(s, "deployment"), "result", "");
}

static bool failed(const char *result)
{
    return result[0] != '\0' && strcmp(result, "SUCCEEDED") != 0 &&
           strcmp(result, "UNCHANGED") != 0 && strcmp(result, "SKIPPED") != 0;
}

static void print_step(bg_cli_t *cli, size_t n, const json_t *s)
{
    const json_t *d = json_object_get(s, "deployment");
    const char *result = step_result(s);
    const char *reason = bg_cli_jstr(d, "reason", "");

    if (!cli->tty) {
        fprintf(cli->out, "step n=%zu", n);
        bg_cli_print_kv(cli->out, "service", bg_cli_jstr(s, "service", ""));
        fprintf(cli->out, " deployment=%lld", (long long)bg_cli_jint(d, "id", 0));
        bg_cli_print_kv(cli->out, "version", bg_cli_jstr(d, "version", ""));
        bg_cli_print_kv(cli->out, "result", result);
        bg_cli_print_kv(cli->out, "reason", reason);
        fputc('\n', cli->out);
        return;
    }
    fprintf(cli->out, "  %zu. %s", n, bg_cli_jstr(s, "service", "?"));
    if (d != NULL && !json_is_null(d))
        fprintf(cli->out, " %s (deployment %lld)", bg_cli_jstr(d, "version", "?"),
                (long long)bg_cli_jint(d, "id", 0));
    fprintf(cli->out, ": %s%s%s", bg_cli_sgr(cli, failed(result) ? BG_SGR_RED : BG_SGR_GREEN),
            result[0] ? result : "pending", bg_cli_sgr(cli, BG_SGR_RESET));
    fprintf(cli->out, "%s%s\n", reason[0] ? ": " : "", reason);
}

/* One live entry: [{version, slot, weight}...], {version...}, or anything else as JSON. */
static void live_text(const json_t *v, bg_buf_t *b)
{
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            const json_t *l = json_array_get(v, i);
            bg_buf_printf(b, "%s%s (%s %lld%%)", i ? ", " : "", bg_cli_jstr(l, "version", "?"),
                          bg_cli_jstr(l, "slot", "?"), (long long)bg_cli_jint(l, "weight", 0));
        }
    } else if (json_is_string(v)) {
        bg_buf_puts(b, json_string_value(v));
    } else if (bg_cli_jstr(v, "version", NULL) != NULL) {
        bg_buf_puts(b, bg_cli_jstr(v, "version", NULL));
        if (bg_cli_jstr(v, "slot", NULL) != NULL)
            bg_buf_printf(b, " (%s)", bg_cli_jstr(v, "slot", NULL));
    } else {
        char *s = json_dumps(v, JSON_COMPACT);
        bg_buf_puts(b, s != NULL ? s : "?");
        free(s);
    }
    bg_buf_append(b, "", 0);
}

static void print_live(bg_cli_t *cli, const json_t *live)
{
    const char *name;
    json_t *v;
    void *it;

    if (json_object_size(live) == 0)
        return;
    if (cli->tty)
        fputs("live now:\n", cli->out);
    for (it = json_object_iter((json_t *)live); it != NULL;
         it = json_object_iter_next((json_t *)live, it)) {
        bg_buf_t b;
        name = json_object_iter_key(it);
        v = json_object_iter_value(it);
        bg_buf_init(&b);
        live_text(v, &b);
        if (cli->tty) {
            fprintf(cli->out, "  %s: %s\n", name, b.data);
        } else {
            fputs("live", cli->out);
            bg_cli_print_kv(cli->out, "service", name);
            bg_cli_print_kv(cli->out, "versions", b.data);
            fputc('\n', cli->out);
        }
        bg_buf_fini(&b);
    }
}

/* Prints the steps of <rel> from *<shown> on that have a result (all of them once the
 * release ended), up to the first failure. */
static void print_steps(bg_cli_t *cli, const json_t *rel, size_t *shown)
{
    const json_t *steps = json_object_get(rel, "steps");
    bool ended = bg_cli_jstr(rel, "result", "")[0] != '\0';

    for (size_t i = 0; i < *shown; i++)
        if (failed(step_result(json_array_get(steps, i))))
            return;
    for (; *shown < json_array_size(steps); (*shown)++) {
        const json_t *s = json_array_get(steps, *shown);
        const char *r = step_result(s);
        if (r[0] == '\0' && !ended)
            break;
        print_step(cli, *shown + 1, s);
        if (failed(r)) {
            (*shown)++;
            return;
        }
    }
}

/* 0 when every step succeeded; else the first failed step's code, or the release's own
 * result's (REFUSED: 3, no order exists; any other failure 1). */
static int release_exit(const json_t *rel)
{
    const json_t *steps = json_object_get(rel, "steps");

    for (size_t i = 0; i < json_array_size(steps); i++) {
        const char *r = step_result(json_array_get(steps, i));
        if (failed(r))
            return bg_cli_result_exit(r) == BG_EXIT_REFUSED ? BG_EXIT_REFUSED : BG_EXIT_FAILED;
    }
    return bg_cli_result_exit(bg_cli_jstr(rel, "result", ""));
}

/* The release ended: what is left unrun, what is live, and the exit code. */
static int finish(bg_cli_t *cli, const json_t *rel, size_t shown)
{
    const json_t *steps = json_object_get(rel, "steps");
    const char *result = bg_cli_jstr(rel, "result", "");
    int rc = release_exit(rel);
    char id[32];

    if (rc != BG_EXIT_OK && shown < json_array_size(steps) && cli->tty) {
        fputs("stopped; not run:", cli->out);
        for (size_t i = shown; i < json_array_size(steps); i++)
            fprintf(cli->out, " %s", bg_cli_jstr(json_array_get(steps, i), "service", "?"));
        fputc('\n', cli->out);
    }
    if (cli->tty)
        fprintf(cli->out, "release %s: %s\n", release_id(rel, id, sizeof(id)), result);
    else {
        fputs("release", cli->out);
        bg_cli_print_kv(cli->out, "id", release_id(rel, id, sizeof(id)));
        bg_cli_print_kv(cli->out, "result", result);
        fputc('\n', cli->out);
    }
    print_live(cli, json_object_get(rel, "live"));
    return rc;
}

/* Polls GET /v1/releases/ID until it has a result; prints steps as they end. */
static int follow(bg_cli_client_t *c, json_t **rel, size_t *shown)
{
    char *path = NULL, id[32];
    bg_buf_t b;
    int rc = BG_EXIT_OK;

    bg_buf_init(&b);
    bg_buf_puts(&b, "/v1/releases/");
    bg_cli_escape(&b, release_id(*rel, id, sizeof(id)));
    path = bg_buf_steal(&b);
    bg_cli_signals_catch();
    while (bg_cli_jstr(*rel, "result", "")[0] == '\0') {
        json_t *next = NULL;
        if (bg_cli_signal_caught() != 0) {
            fprintf(c->cli->err, "bluegreen: stopped following; release %s runs on\n",
                    release_id(*rel, id, sizeof(id)));
            rc = 130;
            break;
        }
        poll(NULL, 0, POLL_MS);
        if ((rc = bg_cli_client_call(c, "GET", path, NULL, &next)) != BG_EXIT_OK)
            break;
        if (json_is_object(next)) {
            json_decref(*rel);
            *rel = next;
        } else {
            json_decref(next);
        }
        if (!c->cli->json)
            print_steps(c->cli, *rel, shown);
    }
    free(path);
    return rc;
}

/* The release request on its own thread (bg_cli_client_send blocks). */
typedef struct post {
    bg_cli_client_t *c;
    const json_t *body;
    bg_cli_answer_t ans;
    int sent; /* bg_cli_client_send()'s answer */
    atomic_bool done;
} post_t;

static void *post_main(void *arg)
{
    post_t *p = arg;

    p->sent = bg_cli_client_send(p->c, "POST", "/v1/releases", p->body, &p->ans);
    atomic_store(&p->done, true);
    return NULL;
}

/* "  13:00:01  orders #7  deploy.phase: SCALE_UP" while a release runs. */
static void on_event(void *arg, const char *id, const char *event, const char *data)
{
    bg_cli_t *cli = arg;
    json_t *ev = json_loads(data, 0, NULL);
    const char *ts = bg_cli_jstr(ev, "ts", "");
    json_int_t dep = bg_cli_jint(ev, "deployment", 0);

    (void)id;
    (void)event;
    if (ev == NULL)
        return;
    fprintf(cli->out, "  %.8s  %s", strlen(ts) >= 19 ? ts + 11 : ts,
            bg_cli_jstr(ev, "service", ""));
    if (dep > 0)
        fprintf(cli->out, " #%lld", (long long)dep);
    fprintf(cli->out, "  %s: %s\n", bg_cli_jstr(ev, "kind", "?"), bg_cli_jstr(ev, "message", ""));
    fflush(cli->out);
    json_decref(ev);
}

/* Shows the daemon's events until <p> is done. The stream gets a shallow copy of the
 * session so that its failures never race with the request's (c->error). */
static void show_events(bg_cli_client_t *c, post_t *p)
{
    bg_cli_client_t view = *c;
    bg_cli_sse_t *sse;

    view.curl = NULL;
    view.curl_global = false;
    sse = bg_cli_sse_open(&view, "/v1/events/stream", NULL, on_event, c->cli);
    while (!atomic_load(&p->done)) {
        if (sse != NULL && bg_cli_sse_pump(sse, 200) <= 0) {
            bg_cli_sse_free(sse);
            sse = NULL; /* no stream (an older daemon): wait quietly */
        } else if (sse == NULL) {
            poll(NULL, 0, 200);
        }
    }
    /* Events written just before the answer may still be on their way: a last read. */
    for (uint64_t end = bg_now_ms() + 100; sse != NULL && bg_now_ms() < end;)
        if (bg_cli_sse_pump(sse, 20) <= 0)
            break;
    bg_cli_sse_free(sse);
}

/* POST /v1/releases; on a terminal with the events shown while it runs. Same contract
 * as bg_cli_client_call(). */
static int send_release(bg_cli_client_t *c, const json_t *body, json_t **out)
{
    post_t p = {.c = c, .body = body};
    pthread_t t;
    int rc = BG_EXIT_OK;

    *out = NULL;
    atomic_init(&p.done, false);
    if (!c->cli->tty || c->cli->json || pthread_create(&t, NULL, post_main, &p) != 0)
        return bg_cli_client_call(c, "POST", "/v1/releases", body, out);
    show_events(c, &p);
    pthread_join(t, NULL);
    if (p.sent != 0)
        rc = bg_cli_client_report(c);
    else if (p.ans.status < 200 || p.ans.status > 299)
        rc = bg_cli_answer_report(c->cli, &p.ans);
    else if (!json_is_object(p.ans.json))
        rc = bg_cli_fail(c->cli, BG_EXIT_FAILED, "the daemon answered with invalid JSON");
    else
        *out = json_incref(p.ans.json);
    bg_cli_answer_fini(&p.ans);
    return rc;
}

/* --label KEY=VALUE arguments as {"KEY":"VALUE",...} (checked by the caller). */
static json_t *labels_json(const bg_cli_list_t *l)
{
    json_t *o = json_object();

    for (size_t i = 0; i < l->n; i++) {
        const char *eq = strchr(l->v[i], '=');
        char *key = bg_strndup(l->v[i], (size_t)(eq - l->v[i]));
        json_object_set_new(o, key, json_string(eq + 1));
        free(key);
    }
    return o;
}

static int run(bg_cli_t *cli, const char *file, bool wait, const bg_cli_list_t *labels)
{
    bg_cli_client_t c;
    json_t *body = NULL, *rel = NULL;
    size_t shown = 0;
    char id[32];
    int rc = bg_cli_release_body(cli, file, &body);

    /* who (also sent as X-Bluegreen-Actor) and the labels go with each deployment */
    if (rc == BG_EXIT_OK && bg_cli_actor(cli) != NULL)
        json_object_set_new(body, "actor", json_string(bg_cli_actor(cli)));
    if (rc == BG_EXIT_OK && labels->n > 0)
        json_object_set_new(body, "labels", labels_json(labels));

    memset(&c, 0, sizeof(c));
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_init(&c, cli);
    /* The daemon may answer only once the last deployment ended: no deadline. */
    c.no_timeout = true;
    if (rc == BG_EXIT_OK)
        rc = send_release(&c, body, &rel);
    if (rc != BG_EXIT_OK)
        goto out;
    if (blocked(rel) != NULL) {
        if (cli->json)
            bg_cli_print_json(cli, rel);
        else
            bg_cli_print_blocked(cli, blocked(rel));
        rc = BG_EXIT_REFUSED;
        goto out;
    }
    if (!cli->json && cli->tty)
        fprintf(cli->out, "release %s: %zu step%s\n", release_id(rel, id, sizeof(id)),
                json_array_size(json_object_get(rel, "steps")),
                json_array_size(json_object_get(rel, "steps")) == 1 ? "" : "s");
    if (!cli->json)
        print_steps(cli, rel, &shown);
    if (wait && bg_cli_jstr(rel, "result", "")[0] == '\0' &&
        (rc = follow(&c, &rel, &shown)) != BG_EXIT_OK)
        goto out; /* interrupted, or the daemon stopped answering: already said */
    if (cli->json) {
        bg_cli_print_json(cli, rel);
        rc = release_exit(rel);
    } else if (bg_cli_jstr(rel, "result", "")[0] == '\0') {
        if (cli->tty)
            fputs("running in the daemon; follow it with --wait\n", cli->out);
        else
            fprintf(cli->out, "release id=%s result=\"\"\n", release_id(rel, id, sizeof(id)));
    } else {
        rc = finish(cli, rel, shown);
    }
out:
    bg_cli_client_fini(&c);
    json_decref(rel);
    json_decref(body);
    return rc;
}

int bg_cli_release(bg_cli_t *cli, int argc, char **argv)
{
    bool wait = false;
    const char *actor = NULL;
    bg_cli_list_t labels = {0};
    const bg_cli_opt_t opts[] = {{"--wait", NULL, BG_OPT_FLAG, &wait},
                                 {"--actor", NULL, BG_OPT_VALUE, &actor},
                                 {"--label", NULL, BG_OPT_LIST, &labels}};
    char **pos = bg_xcalloc((size_t)argc + 1, sizeof(*pos));
    int n_pos = 0;
    int rc = bg_cli_parse_opts(cli, "release", argc, argv, opts, BG_ARRAY_LEN(opts), pos, &n_pos);

    if (rc == BG_EXIT_OK && n_pos == 0)
        rc = bg_cli_usage(cli, "release", "missing RELEASE.yaml");
    else if (rc == BG_EXIT_OK && n_pos > 1)
        rc = bg_cli_usage(cli, "release", "unexpected argument '%s'", pos[1]);
    for (size_t i = 0; rc == BG_EXIT_OK && i < labels.n; i++)
        if (!bg_cli_check_kv(cli, "release", "--label", labels.v[i]))
            rc = BG_EXIT_USAGE;
    if (rc == BG_EXIT_OK && actor != NULL)
        cli->actor = actor;
    if (rc == BG_EXIT_OK)
        rc = run(cli, pos[0], wait, &labels);
    free(labels.v);
    free(pos);
    return rc;
}
