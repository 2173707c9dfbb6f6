/* Registry logins kept by a docker credential helper (`credsStore` / `credHelpers` in
 * config.json): `docker-credential-<name> get` is run with the registry's server address on
 * its stdin and answers {"ServerURL","Username","Secret"} on stdout, or exits non-zero
 * with its message on stdout ("credentials not found in native keychain" when it has no
 * login for that server). The helper runs as a child of the control loop (uv_spawn, pipes,
 * a timer), never blocking it: a helper may take its time (a keychain, a cloud call). It is
 * found on PATH, as the docker CLI finds it.
 */
#include "driver/docker_internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define OUTPUT_MAX (64 * 1024)
#define NOT_FOUND "credentials not found in native keychain"

struct dk_cred {
    uv_process_t proc;
    uv_pipe_t in, out, err;
    uv_timer_t timer;
    uv_write_t wreq;
    uv_buf_t wbuf;
    char server[512];
    char helper[128]; /* "docker-credential-NAME" */
    char *input;
    bg_buf_t obuf, ebuf;
    dk_cred_cb cb;
    void *arg;
    int handles;    /* open libuv handles; freed at 0 */
    bool proc_init; /* uv_spawn was called: the process handle must be closed */
    bool spawned, exited, out_eof, err_eof, done;
    int64_t exit_status;
    int term_signal;
};

static void on_closed(uv_handle_t *h)
{
    dk_cred_t *c = h->data;

    if (--c->handles > 0)
        return;
    bg_buf_fini(&c->obuf);
    bg_buf_fini(&c->ebuf);
    free(c->input);
    free(c);
}

static void close_handle(dk_cred_t *c, uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_closed);
    (void)c;
}

/* Ends everything but the process handle, which closes once the child is reaped (closing
 * it earlier would leave a zombie: libuv reaps only the children it still watches). */
static void wind_down(dk_cred_t *c)
{
    c->done = true;
    close_handle(c, (uv_handle_t *)&c->in);
    close_handle(c, (uv_handle_t *)&c->out);
    close_handle(c, (uv_handle_t *)&c->err);
    close_handle(c, (uv_handle_t *)&c->timer);
    if (!c->proc_init)
        return;
    if (!c->spawned || c->exited)
        close_handle(c, (uv_handle_t *)&c->proc);
    else
        uv_process_kill(&c->proc, SIGKILL);
}

static void report(dk_cred_t *c, int status, const char *header, const char *who, const char *msg)
{
    dk_cred_cb cb = c->cb;

    c->cb = NULL;
    if (cb != NULL)
        cb(c->arg, status, header, who, msg);
}

/* The helper's message, trimmed: stdout first (the protocol's channel), else stderr. */
static void helper_words(dk_cred_t *c, char *out, size_t size)
{
    const bg_buf_t *b = c->obuf.len > 0 ? &c->obuf : &c->ebuf;
    size_t n = b->len;

    while (n > 0 && (b->data[n - 1] == '\n' || b->data[n - 1] == '\r' || b->data[n - 1] == ' '))
        n--;
    snprintf(out, size, "%.*s", (int)(n < 400 ? n : 400), n > 0 ? b->data : "");
}

static void finish(dk_cred_t *c)
{
    char words[420], msg[1200], who[160] = "";
    char *hdr = NULL;

    if (c->done || !c->exited || !c->out_eof || !c->err_eof)
        return;
    helper_words(c, words, sizeof(words));
    if (c->exit_status != 0 || c->term_signal != 0) {
        if (strcmp(words, NOT_FOUND) == 0) {
            snprintf(who, sizeof(who), "no login from %s", c->helper);
            report(c, 0, NULL, who, NULL);
        } else {
            snprintf(msg, sizeof(msg), "credential helper %s failed (exit %d%s%s): %s", c->helper,
                     (int)c->exit_status, c->term_signal ? ", signal " : "",
                     c->term_signal ? strsignal(c->term_signal) : "",
                     words[0] ? words : "(no output)");
            report(c, BG_EREFUSED, NULL, NULL, msg);
        }
    } else if ((hdr = dk_helper_auth(c->obuf.data ? c->obuf.data : "", c->obuf.len, c->server, who,
                                     sizeof(who))) != NULL) {
        char via[320];
        snprintf(via, sizeof(via), "%s via %s", who, c->helper);
        report(c, 0, hdr, via, NULL);
    } else {
        snprintf(msg, sizeof(msg),
                 "credential helper %s answered no Username/Secret JSON for %s: %s", c->helper,
                 c->server, words[0] ? words : "(no output)");
        report(c, BG_EPROTO, NULL, NULL, msg);
    }
    free(hdr);
    wind_down(c);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signal)
{
    dk_cred_t *c = p->data;

    c->exited = true;
    c->exit_status = status;
    c->term_signal = signal;
    if (c->done) {
        close_handle(c, (uv_handle_t *)&c->proc);
        return;
    }
    finish(c);
    if (c->done)
        close_handle(c, (uv_handle_t *)&c->proc);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char chunk[4096];

    (void)h;
    (void)suggested;
    *buf = uv_buf_init(chunk, sizeof(chunk));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    dk_cred_t *c = s->data;
    bool is_out = s == (uv_stream_t *)&c->out;
    bg_buf_t *b = is_out ? &c->obuf : &c->ebuf;

    if (n > 0) {
        if (b->len + (size_t)n <= OUTPUT_MAX)
            bg_buf_append(b, buf->base, (size_t)n);
        return;
    }
    if (n == 0)
        return;
    uv_read_stop(s);
    if (is_out)
        c->out_eof = true;
    else
        c->err_eof = true;
    finish(c);
}

static void on_written(uv_write_t *w, int status)
{
    dk_cred_t *c = w->data;

    (void)status; /* a helper that exits without reading: its answer says why */
    close_handle(c, (uv_handle_t *)&c->in);
}

static void on_timeout(uv_timer_t *t)
{
    dk_cred_t *c = t->data;
    char msg[300];

    snprintf(msg, sizeof(msg), "credential helper %s did not answer within %llu ms", c->helper,
             (unsigned long long)uv_timer_get_repeat(t));
    report(c, BG_ETIMEDOUT, NULL, NULL, msg);
    wind_down(c);
}

/* A helper that could not start: answered from the loop (never inside dk_cred_start). */
static void on_spawn_failed(uv_timer_t *t)
{
    dk_cred_t *c = t->data;
    char msg[400];

    if (!c->proc_init)
        snprintf(msg, sizeof(msg),
                 "config.json names credential helper \"%s\": not a helper name (letters, "
                 "digits, '-', '_', '.')",
                 c->helper + strlen("docker-credential-"));
    else
        snprintf(msg, sizeof(msg), "cannot run credential helper %s (named by config.json): %s",
                 c->helper, uv_strerror((int)c->exit_status));
    report(c, BG_EREFUSED, NULL, NULL, msg);
    wind_down(c);
}

static bool plain_name(const char *s)
{
    if (s[0] == '\0')
        return false;
    for (; *s; s++)
        if (!(((*s | 0x20) >= 'a' && (*s | 0x20) <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
              *s == '_' || *s == '.'))
            return false;
    return true;
}

dk_cred_t *dk_cred_start(uv_loop_t *loop, const char *helper, const char *server,
                         uint64_t timeout_ms, dk_cred_cb cb, void *arg)
{
    dk_cred_t *c = BG_NEW(dk_cred_t);
    uv_process_options_t o;
    uv_stdio_container_t stdio[3];
    char *args[3];
    int rc;

    c->cb = cb;
    c->arg = arg;
    snprintf(c->server, sizeof(c->server), "%s", server);
    snprintf(c->helper, sizeof(c->helper), "docker-credential-%s", helper);
    bg_buf_init(&c->obuf);
    bg_buf_init(&c->ebuf);
    uv_pipe_init(loop, &c->in, 0);
    uv_pipe_init(loop, &c->out, 0);
    uv_pipe_init(loop, &c->err, 0);
    uv_timer_init(loop, &c->timer);
    c->in.data = c->out.data = c->err.data = c->timer.data = c;
    c->handles = 4;
    /* Only a name: the helper is looked up on PATH, never a path the config smuggles in. */
    if (!plain_name(helper)) {
        c->exit_status = UV_EINVAL;
        uv_timer_start(&c->timer, on_spawn_failed, 0, 0);
        return c;
    }
    memset(&o, 0, sizeof(o));
    args[0] = c->helper;
    args[1] = "get";
    args[2] = NULL;
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&c->in;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&c->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&c->err;
    o.file = c->helper;
    o.args = args;
    o.stdio = stdio;
    o.stdio_count = 3;
    o.exit_cb = on_exit_cb;
    rc = uv_spawn(loop, &c->proc, &o);
    c->proc.data = c;
    c->proc_init = true;
    c->handles++;
    if (rc != 0) {
        /* libuv initialised the handle anyway: it is closed with the others. */
        c->exit_status = rc;
        uv_timer_start(&c->timer, on_spawn_failed, 0, 0);
        return c;
    }
    c->spawned = true;
    c->input = bg_asprintf("%s\n", server);
    c->wbuf = uv_buf_init(c->input, (unsigned)strlen(c->input));
    c->wreq.data = c;
    uv_write(&c->wreq, (uv_stream_t *)&c->in, &c->wbuf, 1, on_written);
    uv_read_start((uv_stream_t *)&c->out, on_alloc, on_read);
    uv_read_start((uv_stream_t *)&c->err, on_alloc, on_read);
    uv_timer_start(&c->timer, on_timeout, timeout_ms, timeout_ms);
    return c;
}

void dk_cred_cancel(dk_cred_t *c)
{
    if (c == NULL)
        return;
    c->cb = NULL;
    if (!c->done)
        wind_down(c);
}
