/* The access log's writer thread: its own uv loop, woken by uv_async_send() when a worker
 * pushed a chunk (lock-free LIFO list, reversed on take so chunks of one worker stay in
 * order) or when a reopen was asked. It alone touches the file descriptor.
 */
#include "accesslog/accesslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "base/base.h"
#include "base/compat.h"

typedef struct chunk {
    struct chunk *next;
    size_t len;
    char *data;
} chunk_t;

struct bg_alog {
    char *path; /* NULL: stdout */
    bg_alog_format_t fmt;
    int fd;     /* owned by the writer thread once it runs */
    uv_loop_t loop;
    uv_async_t wake;
    uv_thread_t thread;
    _Atomic(chunk_t *) head;
    _Atomic uint64_t queued_bytes;
    _Atomic bool reopen_req;
    _Atomic bool stop_req;
    _Atomic uint64_t dropped;
    _Atomic uint64_t reopens;
};

static int open_log(const char *path, bg_err_t *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        bg_err_set(err, -errno, "access_log: cannot open %s: %s", path, strerror(errno));
    return fd;
}

static void write_all(bg_alog_t *l, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(l->fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            bg_log(BG_LOG_ERROR, "accesslog", "msg=\"write failed\" path=%s err=\"%s\"",
                   l->path ? l->path : "stdout", strerror(errno));
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

static void reopen(bg_alog_t *l)
{
    bg_err_t err;
    int fd;

    if (l->path == NULL)
        return;
    bg_err_clear(&err);
    fd = open_log(l->path, &err);
    if (fd < 0) {
        bg_log(BG_LOG_ERROR, "accesslog", "msg=\"reopen failed; still writing the old file\" "
               "err=\"%s\"", err.msg);
        return;
    }
    close(l->fd);
    l->fd = fd;
    atomic_fetch_add(&l->reopens, 1);
    bg_log(BG_LOG_INFO, "accesslog", "msg=reopened path=%s", l->path);
}

static void drain(bg_alog_t *l)
{
    chunk_t *c = atomic_exchange(&l->head, NULL), *rev = NULL;

    while (c != NULL) {
        chunk_t *next = c->next;
        c->next = rev;
        rev = c;
        c = next;
    }
    while (rev != NULL) {
        chunk_t *next = rev->next;
        write_all(l, rev->data, rev->len);
        atomic_fetch_sub(&l->queued_bytes, rev->len);
        free(rev->data);
        free(rev);
        rev = next;
    }
}

static void on_wake(uv_async_t *h)
{
    bg_alog_t *l = h->data;

    /* Lines queued before a reopen belong to the old file (logrotate's copy). */
    drain(l);
    if (atomic_exchange(&l->reopen_req, false))
        reopen(l);
    if (atomic_load(&l->stop_req)) {
        drain(l);
        uv_close((uv_handle_t *)&l->wake, NULL);
    }
}

static void run(void *arg)
{
    bg_alog_t *l = arg;
    uv_run(&l->loop, UV_RUN_DEFAULT);
}

const char *bg_alog_format_str(bg_alog_format_t f)
{
    return f == BG_ALOG_COMBINED ? "combined" : "json";
}

bool bg_alog_format_parse(const char *s, bg_alog_format_t *out)
{
    if (strcmp(s, "json") == 0)
        *out = BG_ALOG_JSON;
    else if (strcmp(s, "combined") == 0)
        *out = BG_ALOG_COMBINED;
    else
        return false;
    return true;
}

bg_alog_t *bg_alog_new(const char *path, bg_alog_format_t fmt, bg_err_t *err)
{
    bg_alog_t *l = BG_NEW(bg_alog_t);

    l->fmt = fmt;
    if (path == NULL || strcmp(path, "-") == 0 || strcmp(path, "stdout") == 0) {
        l->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
        if (l->fd < 0) {
            bg_err_set(err, -errno, "access_log: cannot use stdout: %s", strerror(errno));
            free(l);
            return NULL;
        }
    } else {
        l->path = bg_strdup(path);
        if ((l->fd = open_log(path, err)) < 0) {
            free(l->path);
            free(l);
            return NULL;
        }
    }
    BG_ASSERT(uv_loop_init(&l->loop) == 0);
    uv_async_init(&l->loop, &l->wake, on_wake);
    l->wake.data = l;
    BG_ASSERT(uv_thread_create(&l->thread, run, l) == 0);
    return l;
}

bg_alog_format_t bg_alog_format(const bg_alog_t *l)
{
    return l->fmt;
}

void bg_alog_submit(bg_alog_t *l, char *data, size_t len)
{
    chunk_t *c;

    if (len == 0 ||
        atomic_fetch_add_explicit(&l->queued_bytes, len, memory_order_relaxed) + len >
            BG_ALOG_MAX_QUEUED) {
        if (len > 0) {
            atomic_fetch_sub_explicit(&l->queued_bytes, len, memory_order_relaxed);
            atomic_fetch_add_explicit(&l->dropped, 1, memory_order_relaxed);
        }
        free(data);
        return;
    }
    c = bg_xmalloc(sizeof(*c));
    c->data = data;
    c->len = len;
    c->next = atomic_load_explicit(&l->head, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&l->head, &c->next, c, memory_order_release,
                                                  memory_order_relaxed))
        ;
    uv_async_send(&l->wake);
}

void bg_alog_reopen(bg_alog_t *l)
{
    atomic_store(&l->reopen_req, true);
    uv_async_send(&l->wake);
}

uint64_t bg_alog_dropped(const bg_alog_t *l)
{
    return atomic_load(&((bg_alog_t *)l)->dropped);
}

uint64_t bg_alog_reopens(const bg_alog_t *l)
{
    return atomic_load(&((bg_alog_t *)l)->reopens);
}

void bg_alog_free(bg_alog_t *l)
{
    if (l == NULL)
        return;
    atomic_store(&l->stop_req, true);
    uv_async_send(&l->wake);
    uv_thread_join(&l->thread);
    drain(l); /* anything pushed after the writer's last look */
    BG_ASSERT(uv_loop_close(&l->loop) == 0);
    close(l->fd);
    free(l->path);
    free(l);
}
