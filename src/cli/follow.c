/* Following a deployment until it ends (deploy --wait; release --wait per step).
 *
 * Two sources, so that neither is load-bearing alone: the event stream of the service
 * (GET /v1/events/stream?service=S) wakes us the moment something happens to our
 * deployment, and GET /v1/deployments/ID is the truth we render. With the stream up we
 * still poll every second (a missed event costs a second, not the wait); without it (an
 * older daemon, a dropped connection) every 200 ms, and the stream is reopened with
 * Last-Event-ID. A daemon that stops answering for FOLLOW_GONE_MS ends the wait with 4;
 * the deployment itself runs on in the daemon whatever happens to us.
 *
 * Output: on a terminal one line redrawn in place ("\r" + erase line) with the phase,
 * healthy targets, the split and a bar for the new slot's weight, plus a permanent line
 * per phase; piped, one `progress key=value...` line per change, nothing in between.
 */
#include "cli/internal.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "base/base.h"

#define POLL_ALONE_MS 200
#define POLL_WITH_STREAM_MS 1000
#define STREAM_RETRY_MS 2000
#define FOLLOW_GONE_MS 30000
#define BAR_WIDTH 20
#define EXIT_INTERRUPTED 130 /* 128 + SIGINT, as shells report it */

typedef struct follow {
    bg_cli_client_t *c;
    json_int_t id;
    char *path;        /* /v1/deployments/ID */
    char *stream_path; /* /v1/events/stream?service=S */
    bg_cli_sse_t *sse;
    bool stream_gone; /* the daemon has no stream route: poll only */
    char last_id[64]; /* of the last stream, for Last-Event-ID on the next */
    bool woken;       /* an event about our deployment arrived */
    uint64_t started_ms, stream_retry_at, failing_since;
    json_t *cur;     /* the latest DEPLOYMENT; owned */
    char *last_line; /* the last progress line printed (piped) */
    char last_phase[48];
    bool line_open; /* a progress line is on the terminal without a newline */
} follow_t;

/* "progress service=.. id=.. phase=.. ..." — the keys of one state, for change detection
 * and for piped output. */
static char *state_line(const json_t *d)
{
    const json_t *t = json_object_get(d, "targets");
    const json_t *w = json_object_get(d, "traffic");
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_printf(&b,
                  "progress service=%s id=%lld phase=%s step=%lld/%lld healthy=%lld/%lld "
                  "blue=%lld green=%lld paused=%s",
                  bg_cli_jstr(d, "service", "?"), (long long)bg_cli_jint(d, "id", 0),
                  bg_cli_jstr(d, "phase", "?"), (long long)bg_cli_jint(d, "step", 0),
                  (long long)bg_cli_jint(d, "steps", 0), (long long)bg_cli_jint(t, "healthy", 0),
                  (long long)bg_cli_jint(t, "wanted", 0), (long long)bg_cli_jint(w, "blue", 0),
                  (long long)bg_cli_jint(w, "green", 0),
                  json_is_true(json_object_get(d, "paused")) ? "true" : "false");
    return bg_buf_steal(&b);
}

static void clear_line(follow_t *f)
{
    if (f->line_open)
        fputs("\r\033[2K", f->c->cli->out);
    f->line_open = false;
}

/* On a terminal, what happens to our deployment besides its phases (health transitions,
 * hooks, weights) goes above the progress line; piped output stays one line per state. */
static void show_event(follow_t *f, const json_t *ev)
{
    bg_cli_t *cli = f->c->cli;
    const char *kind = bg_cli_jstr(ev, "kind", "");
    const char *ts = bg_cli_jstr(ev, "ts", "");

    if (!cli->tty || cli->json || strcmp(kind, "deploy.phase") == 0)
        return;
    clear_line(f);
    /* "2026-11-27T13:00:01.000Z" -> "13:00:01" */
    fprintf(cli->out, "  %.8s  %s: %s\n", strlen(ts) >= 19 ? ts + 11 : ts, kind,
            bg_cli_jstr(ev, "message", ""));
}

static void on_event(void *arg, const char *id, const char *event, const char *data)
{
    follow_t *f = arg;
    json_t *ev = json_loads(data, 0, NULL);

    (void)id;
    (void)event;
    /* Anything about our deployment, or an event we cannot read: look now. */
    if (ev == NULL || bg_cli_jint(ev, "deployment", -1) == f->id)
        f->woken = true;
    if (ev != NULL && bg_cli_jint(ev, "deployment", -1) == f->id)
        show_event(f, ev);
    json_decref(ev);
}

/* While the driver pulls the image: "PRE_SCALE_UP  pulling: layers 2/5  12.3/40.1 MB  Downloading". */
static void pull_line(const json_t *p, char *out, size_t size)
{
    snprintf(out, size, "PRE_SCALE_UP  pulling: layers %lld/%lld  %.1f/%.1f MB  %s",
             (long long)bg_cli_jint(p, "layers_done", 0), (long long)bg_cli_jint(p, "layers_total", 0),
             (double)bg_cli_jint(p, "bytes_done", 0) / 1e6,
             (double)bg_cli_jint(p, "bytes_total", 0) / 1e6, bg_cli_jstr(p, "status", ""));
}

/* The terminal line, "SCALE_UP  healthy 1/2  blue 100% green 0%  [####----] 20% green  3.2s",
 * redrawn in place below a permanent "orders #7: PHASE" line per phase. */
static void draw_tty(follow_t *f, const json_t *d)
{
    bg_cli_t *cli = f->c->cli;
    const json_t *t = json_object_get(d, "targets");
    const char *slot = bg_cli_jstr(d, "slot", "green");
    long long pct = (long long)bg_cli_jint(json_object_get(d, "traffic"), slot, 0);
    const char *phase = bg_cli_jstr(d, "phase", "?");
    char bar[BAR_WIDTH + 1], el[32], line[256];
    struct winsize ws;
    int fill = (int)(pct < 0 ? 0 : pct > 100 ? BAR_WIDTH : pct * BAR_WIDTH / 100);

    if (strcmp(phase, f->last_phase) != 0) {
        clear_line(f);
        fprintf(cli->out, "%s #%lld: %s%s%s\n", bg_cli_jstr(d, "service", "?"), (long long)f->id,
                bg_cli_sgr(cli, BG_SGR_BOLD), phase, bg_cli_sgr(cli, BG_SGR_RESET));
        snprintf(f->last_phase, sizeof(f->last_phase), "%s", phase);
    }
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < fill ? '#' : '-';
    bar[BAR_WIDTH] = '\0';
    if (strcmp(phase, "PRE_SCALE_UP") == 0 && json_is_object(json_object_get(d, "pull")))
        pull_line(json_object_get(d, "pull"), line, sizeof(line));
    else
        snprintf(line, sizeof(line),
             "%s%s  healthy %lld/%lld  blue %lld%% green %lld%%  [%s] %lld%% %s  %s", phase,
             json_is_true(json_object_get(d, "paused")) ? " (paused)" : "",
             (long long)bg_cli_jint(t, "healthy", 0), (long long)bg_cli_jint(t, "wanted", 0),
             (long long)bg_cli_jint(json_object_get(d, "traffic"), "blue", 0),
             (long long)bg_cli_jint(json_object_get(d, "traffic"), "green", 0), bar, pct, slot,
             bg_cli_duration_str(bg_now_ms() - f->started_ms, el, sizeof(el)));
    /* A line longer than the terminal wraps, and "\r" + erase would then redraw only its
     * last row: cut it to the width. */
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 && strlen(line) >= ws.ws_col)
        line[ws.ws_col - 1] = '\0';
    clear_line(f);
    fputs(line, cli->out);
    fflush(cli->out);
    f->line_open = true;
}

static void render(follow_t *f)
{
    bg_cli_t *cli = f->c->cli;
    char *line;

    if (cli->json)
        return;
    if (cli->tty) {
        draw_tty(f, f->cur);
        return;
    }
    line = state_line(f->cur);
    if (f->last_line == NULL || strcmp(line, f->last_line) != 0) {
        fprintf(cli->out, "%s\n", line);
        fflush(cli->out);
        free(f->last_line);
        f->last_line = line;
        return;
    }
    free(line);
}

/* One GET of the deployment. Returns BG_EXIT_OK (also while the daemon is briefly away:
 * no connection, or 503 while it shuts down for a restart) or the exit code that ends
 * the wait, printed. */
static int poll_once(follow_t *f)
{
    bg_cli_answer_t ans;
    int rc = BG_EXIT_OK;

    if (bg_cli_client_send(f->c, "GET", f->path, NULL, &ans) != 0 || ans.status == 503) {
        uint64_t now = bg_now_ms();
        bool unavailable = ans.status == 503;
        if (f->failing_since == 0)
            f->failing_since = now;
        if (now - f->failing_since < FOLLOW_GONE_MS) {
            bg_cli_answer_fini(&ans);
            return BG_EXIT_OK; /* a restarting daemon re-adopts its deployments */
        }
        clear_line(f);
        rc = unavailable ? bg_cli_answer_report(f->c->cli, &ans) : bg_cli_client_report(f->c);
        bg_cli_answer_fini(&ans);
        fprintf(f->c->cli->err,
                "bluegreen: deployment %lld may still be running; see "
                "`bluegreen status` once the daemon answers\n",
                (long long)f->id);
        return rc;
    }
    f->failing_since = 0;
    if (ans.status >= 200 && ans.status <= 299 && json_is_object(ans.json)) {
        json_decref(f->cur);
        f->cur = json_incref(ans.json);
    } else if (ans.status < 200 || ans.status > 299) {
        clear_line(f);
        rc = bg_cli_answer_report(f->c->cli, &ans);
    }
    bg_cli_answer_fini(&ans);
    return rc;
}

/* Keeps the stream open (reopening it after a drop) and reads it for up to <ms>. */
static void pump_stream(follow_t *f, int ms)
{
    uint64_t now = bg_now_ms();
    int r;

    if (f->sse == NULL && !f->stream_gone && now >= f->stream_retry_at)
        f->sse = bg_cli_sse_open(f->c, f->stream_path, f->last_id, on_event, f);
    if (f->sse == NULL) {
        poll(NULL, 0, ms); /* EINTR on a signal ends it early, as wanted */
        return;
    }
    r = bg_cli_sse_pump(f->sse, ms);
    if (r > 0)
        return;
    if (r < 0 && bg_cli_sse_answer(f->sse) != NULL) {
        const bg_cli_answer_t *a = bg_cli_sse_answer(f->sse);
        f->stream_gone = a->status == 404 || a->status == 405;
    }
    snprintf(f->last_id, sizeof(f->last_id), "%s", bg_cli_sse_last_id(f->sse));
    bg_cli_sse_free(f->sse);
    f->sse = NULL;
    f->stream_retry_at = bg_now_ms() + STREAM_RETRY_MS;
}

static int follow_loop(follow_t *f)
{
    uint64_t next_poll = bg_now_ms() + POLL_ALONE_MS;
    int rc;

    render(f);
    for (;;) {
        uint64_t now = bg_now_ms();
        if (bg_cli_signal_caught() != 0) {
            clear_line(f);
            fprintf(f->c->cli->err,
                    "bluegreen: stopped following; deployment %lld runs on "
                    "(bluegreen status %s, bluegreen abort %s)\n",
                    (long long)f->id, bg_cli_jstr(f->cur, "service", "?"),
                    bg_cli_jstr(f->cur, "service", "?"));
            return EXIT_INTERRUPTED;
        }
        if (bg_cli_jstr(f->cur, "result", "")[0] != '\0')
            return BG_EXIT_OK;
        if (f->woken || now >= next_poll) {
            f->woken = false;
            if ((rc = poll_once(f)) != BG_EXIT_OK)
                return rc;
            render(f);
            now = bg_now_ms();
            next_poll = now + (f->sse != NULL ? POLL_WITH_STREAM_MS : POLL_ALONE_MS);
            continue;
        }
        /* Wake for the next poll, an event, or at least every 250 ms for the elapsed time
         * on a terminal and for Ctrl-C. */
        pump_stream(f, next_poll - now < 250 ? (int)(next_poll - now) : 250);
        if (f->c->cli->tty && !f->c->cli->json)
            draw_tty(f, f->cur);
    }
}

int bg_cli_follow(bg_cli_client_t *c, const json_t *d, json_t **final)
{
    follow_t f;
    bg_buf_t b;
    int rc;

    memset(&f, 0, sizeof(f));
    f.c = c;
    f.id = bg_cli_jint(d, "id", 0);
    f.cur = json_deep_copy(d);
    f.started_ms = bg_now_ms();
    f.path = bg_asprintf("/v1/deployments/%lld", (long long)f.id);
    bg_buf_init(&b);
    bg_buf_puts(&b, "/v1/events/stream?service=");
    bg_cli_escape(&b, bg_cli_jstr(d, "service", ""));
    f.stream_path = bg_buf_steal(&b);
    bg_cli_signals_catch();
    rc = follow_loop(&f);
    clear_line(&f);
    fflush(c->cli->out);
    *final = rc == BG_EXIT_OK ? json_incref(f.cur) : NULL;
    bg_cli_sse_free(f.sse);
    json_decref(f.cur);
    free(f.last_line);
    free(f.stream_path);
    free(f.path);
    return rc;
}
