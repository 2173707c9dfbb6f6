/* The process driver: revisions run as local processes (docs/design.md §8 `process`).
 *
 * Each instance runs in its own session (UV_PROCESS_DETACHED -> setsid), so its process
 * group id is its pid and bluegreen can signal the whole group, and so it keeps running if
 * bluegreen dies: a restarted bluegreen re-adopts it from the handle stored in the state
 * store ("pid:<pid>:<start time>"; the start time from /proc guards against pid reuse) and
 * watches it through a pidfd. Output goes to <state_dir>/logs/<service>-<slot>-r<rev>-<i>.log.
 * Never blocks the loop: spawning and signalling are immediate, waits are timers.
 */
#include "driver/driver.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/base.h"
#include "driver/internal.h"
#include "base/compat.h"

extern char **environ;

#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS 30000u
#define STABLE_UPTIME_MS 60000u   /* a run this long resets the backoff */
#define ADOPT_POLL_MS 250u        /* liveness poll when pidfd_open is unavailable */

typedef struct proc_driver {
    bg_driver_t base;
    char *state_dir;
    char *log_dir;
    bg_list_t procs;
    void (*close_cb)(void *arg);
    void *close_arg;
    bool closing;
} proc_driver_t;

typedef struct proc {
    bg_instance_t pub;
    bg_list_t link;
    proc_driver_t *drv;
    uv_process_t process;
    uv_poll_t poll;
    uv_timer_t timer;
    int pidfd;
    bool is_child;          /* spawned by us (exit status known) vs adopted */
    bool process_open, poll_open;
    int open_handles;       /* handles not yet closed (timer + process + poll) */
    pid_t pid;
    uint64_t started_ms;
    unsigned recent_crashes;
    char **argv;            /* owned, for respawn */
    char **envp;            /* owned */
    uint16_t port;
    uint32_t stop_timeout_ms;
    bg_instance_cb stop_cb;
    void *stop_arg;
    bool freeing;
} proc_t;

static void proc_exited(proc_t *p, int64_t status, int term_signal);

static char **strv_dup(char *const *v)
{
    size_t n = 0;
    char **out;

    while (v[n] != NULL)
        n++;
    out = bg_xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = bg_strdup(v[i]);
    return out;
}

static void strv_free(char **v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

/* The environment of an instance: ours, then PORT and BLUEGREEN_*, then rev->env (which
 * may override anything but PORT). */
static char **build_env(const proc_driver_t *drv, const bg_instance_spec_t *spec, uint16_t port)
{
    size_t n_base = 0, n = 0;
    char **env;

    while (environ[n_base] != NULL)
        n_base++;
    env = bg_xcalloc(n_base + spec->rev->n_env + 7, sizeof(*env));
    for (size_t i = 0; i < n_base; i++) {
        if (strncmp(environ[i], "PORT=", 5) == 0 || strncmp(environ[i], "BLUEGREEN_", 10) == 0)
            continue;
        env[n++] = bg_strdup(environ[i]);
    }
    for (size_t i = 0; i < spec->rev->n_env; i++)
        if (strcmp(spec->rev->env[i].key, "PORT") != 0)
            env[n++] = bg_asprintf("%s=%s", spec->rev->env[i].key, spec->rev->env[i].value);
    env[n++] = bg_asprintf("PORT=%u", (unsigned)port);
    env[n++] = bg_asprintf("BLUEGREEN_SERVICE=%s", spec->service);
    env[n++] = bg_asprintf("BLUEGREEN_SLOT=%s", bg_slot_str((bg_slot_t)spec->slot));
    env[n++] = bg_asprintf("BLUEGREEN_VERSION=%s",
                           spec->rev->version ? spec->rev->version : "0.0.0");
    /* The markers scan.c finds instances by (no orphan survives a crash unnoticed). */
    env[n++] = bg_asprintf("BLUEGREEN_STATE_DIR=%s", drv->state_dir);
    if (spec->store_id != NULL)
        env[n++] = bg_asprintf("BLUEGREEN_STORE_ID=%s", spec->store_id);
    return env;
}


static uint64_t proc_start_time(pid_t pid, char *state)
{
    char path[64], buf[1024];
    unsigned long long start = 0;
    FILE *f;
    char *rp;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "re");
    if (f == NULL)
        return 0;
    if (fgets(buf, sizeof(buf), f) == NULL) {
        fclose(f);
        return 0;
    }
    fclose(f);
    /* comm may hold spaces and parentheses: fields resume after the last ')'. Field 3 is
     * the state, field 22 the start time. */
    rp = strrchr(buf, ')');
    if (rp == NULL || sscanf(rp + 2, "%c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                                     "%*s %*s %*s %*s %*s %llu",
                             state, &start) != 2)
        return 0;
    return start;
}

static void handle_closed(uv_handle_t *h)
{
    proc_t *p = h->data;

    if (--p->open_handles > 0)
        return;
    strv_free(p->argv);
    strv_free(p->envp);
    free(p->pub.service);
    free(p);
}

static void process_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    p->process_open = false;
    handle_closed(h);
}

static void poll_closed(uv_handle_t *h)
{
    proc_t *p = h->data;
    if (p->pidfd >= 0) {
        close(p->pidfd);
        p->pidfd = -1;
    }
    p->poll_open = false;
    handle_closed(h);
}

static void unwatch(proc_t *p)
{
    if (p->process_open && !uv_is_closing((uv_handle_t *)&p->process)) {
        p->open_handles++;
        uv_close((uv_handle_t *)&p->process, process_closed);
    }
    if (p->poll_open && !uv_is_closing((uv_handle_t *)&p->poll)) {
        p->open_handles++;
        uv_close((uv_handle_t *)&p->poll, poll_closed);
    }
}

static void on_child_exit(uv_process_t *h, int64_t status, int term_signal)
{
    proc_exited(h->data, status, term_signal);
}

static void on_pidfd(uv_poll_t *h, int status, int events)
{
    proc_exited(h->data, -1, 0);
}

static void on_adopt_poll(uv_timer_t *t)
{
    proc_t *p = t->data;
    char state = '?';

    if (kill(p->pid, 0) < 0 || proc_start_time(p->pid, &state) == 0 || state == 'Z')
        proc_exited(p, -1, 0);
}

static int spawn(proc_t *p, bg_err_t *err)
{
    uv_process_options_t opts;
    uv_stdio_container_t stdio[3];
    int fd = open(p->pub.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int rc;

    if (fd < 0)
        return bg_err_set(err, -errno, "log file %s: %s", p->pub.log_path, strerror(errno));
    memset(&opts, 0, sizeof(opts));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_INHERIT_FD;
    stdio[1].data.fd = fd;
    stdio[2].flags = UV_INHERIT_FD;
    stdio[2].data.fd = fd;
    opts.file = p->argv[0];
    opts.args = p->argv;
    opts.env = p->envp;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.flags = UV_PROCESS_DETACHED;
    opts.exit_cb = on_child_exit;
    p->process.data = p;
    if (bg_fault("driver.process.spawn"))
        rc = BG_EFAULT_INJECTED;
    else
        rc = uv_spawn(p->drv->base.loop, &p->process, &opts);
    close(fd);
    if (rc < 0) {
        /* uv_spawn initialised the handle even on failure; it must still be closed. */
        p->process_open = true;
        return bg_err_set(err, rc, "starting %s: %s", p->argv[0], bg_strerror(rc));
    }
    p->process_open = true;
    p->is_child = true;
    p->pid = p->process.pid;
    p->started_ms = bg_now_ms();
    {
        char state;
        uint64_t st = proc_start_time(p->pid, &state);
        snprintf(p->pub.handle, sizeof(p->pub.handle), "pid:%d:%llu", (int)p->pid,
                 (unsigned long long)st);
    }
    p->pub.state = BG_INSTANCE_RUNNING;
    bg_log(BG_LOG_INFO, "driver", "process started service=%s slot=%s rev=%lld pid=%d addr=%s",
           p->pub.service, bg_slot_str((bg_slot_t)p->pub.slot), (long long)p->pub.revision,
           (int)p->pid, p->pub.address);
    return 0;
}

static proc_t *proc_new(proc_driver_t *drv, const bg_instance_spec_t *spec)
{
    proc_t *p = BG_NEW(proc_t);

    p->drv = drv;
    p->pidfd = -1;
    p->pub.driver = &drv->base;
    p->pub.service = bg_strdup(spec->service);
    p->pub.slot = spec->slot;
    p->pub.revision = spec->revision;
    p->pub.index = spec->index;
    p->pub.last_exit_status = -1;
    p->stop_timeout_ms = spec->stop_timeout_ms ? spec->stop_timeout_ms : 10000;
    snprintf(p->pub.version, sizeof(p->pub.version), "%s",
             spec->rev->version ? spec->rev->version : "0.0.0");
    snprintf(p->pub.log_path, sizeof(p->pub.log_path), "%s/%s-%s-r%lld-%u.log", drv->log_dir,
             spec->service, bg_slot_str((bg_slot_t)spec->slot), (long long)spec->revision,
             spec->index);
    uv_timer_init(drv->base.loop, &p->timer);
    p->timer.data = p;
    p->open_handles = 1; /* the timer; closed in free_instance */
    bg_list_insert_tail(&drv->procs, &p->link);
    return p;
}

static int proc_validate(const bg_driver_t *d, const char *service,
                         const bg_revision_config_t *rev, bg_err_t *err)
{
    (void)d;
    if (rev->command == NULL || rev->command[0] == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s runs processes: give run.command or cmd",
                          service);
    return 0;
}

static int proc_start(bg_driver_t *d, const bg_instance_spec_t *spec, bg_instance_cb cb,
                      void *arg, bg_instance_t **out, bg_err_t *err)
{
    proc_driver_t *drv = (proc_driver_t *)d;
    proc_t *p;
    uint16_t port = spec->rev->port;
    int rc;

    if (spec->rev->command == NULL || spec->rev->command[0] == NULL)
        return bg_err_set(err, BG_EINVAL, "service %s: the process driver needs run.command",
                          spec->service);
    if (port == 0 && (rc = bg_driver_pick_port(&port, err)) < 0)
        return rc;
    p = proc_new(drv, spec);
    p->port = port;
    snprintf(p->pub.address, sizeof(p->pub.address), "127.0.0.1:%u", (unsigned)port);
    p->argv = strv_dup(spec->rev->command);
    p->envp = build_env(drv, spec, port);
    rc = spawn(p, err);
    if (rc < 0) {
        p->pub.state = BG_INSTANCE_STOPPED;
        bg_instance_free(&p->pub);
        return rc;
    }
    *out = &p->pub;
    return 0;
}

static void restart_due(uv_timer_t *t)
{
    proc_t *p = t->data;
    bg_err_t err;

    if (p->pub.state != BG_INSTANCE_RESTARTING)
        return;
    if (p->process_open) {
        /* The old handle is still closing; try again shortly. */
        uv_timer_start(&p->timer, restart_due, 10, 0);
        return;
    }
    bg_err_clear(&err);
    if (spawn(p, &err) < 0) {
        bg_log(BG_LOG_WARN, "driver", "restart failed service=%s pid=? err=\"%s\"",
               p->pub.service, err.msg);
        unwatch(p);
        p->recent_crashes++;
        p->pub.state = BG_INSTANCE_RESTARTING;
        uv_timer_start(&p->timer, restart_due, BACKOFF_MAX_MS, 0);
        return;
    }
    p->pub.restarts++;
    if (p->drv->base.events.replaced != NULL)
        p->drv->base.events.replaced(p->drv->base.events.ctx, &p->pub);
}

static uint32_t backoff_ms(unsigned crashes)
{
    uint32_t ms = BACKOFF_FIRST_MS;

    for (unsigned i = 1; i < crashes && ms < BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS;
}

/* The process is gone: either the stop we asked for, or a crash to replace. */
static void proc_exited(proc_t *p, int64_t status, int term_signal)
{
    bool was_stopping = p->pub.state == BG_INSTANCE_STOPPING;

    uv_timer_stop(&p->timer);
    unwatch(p);
    p->pub.last_exit_status = (int)status;
    p->pub.last_term_signal = term_signal;
    bg_log(was_stopping ? BG_LOG_INFO : BG_LOG_WARN, "driver",
           "process exited service=%s slot=%s pid=%d status=%lld signal=%d expected=%s",
           p->pub.service, bg_slot_str((bg_slot_t)p->pub.slot), (int)p->pid, (long long)status,
           term_signal, was_stopping ? "yes" : "no");
    if (was_stopping || p->drv->closing) {
        p->pub.state = BG_INSTANCE_STOPPED;
        if (p->stop_cb != NULL)
            p->stop_cb(p->stop_arg, &p->pub, 0);
        return;
    }
    if (p->argv == NULL) {
        /* adopted without the command line: nothing to replace it with */
        p->pub.state = BG_INSTANCE_STOPPED;
    } else {
        if (bg_now_ms() - p->started_ms >= STABLE_UPTIME_MS)
            p->recent_crashes = 0;
        p->recent_crashes++;
        p->pub.state = BG_INSTANCE_RESTARTING;
        uv_timer_start(&p->timer, restart_due, backoff_ms(p->recent_crashes), 0);
    }
    if (p->drv->base.events.exited != NULL)
        p->drv->base.events.exited(p->drv->base.events.ctx, &p->pub);
}

static void stop_timeout(uv_timer_t *t)
{
    proc_t *p = t->data;

    bg_log(BG_LOG_WARN, "driver", "stop timeout service=%s pid=%d: SIGKILL to group",
           p->pub.service, (int)p->pid);
    kill(-p->pid, SIGKILL);
}

static void proc_stop(bg_driver_t *d, bg_instance_t *inst, bg_instance_cb cb, void *arg)
{
    proc_t *p = (proc_t *)inst;

    p->stop_cb = cb;
    p->stop_arg = arg;
    if (p->pub.state == BG_INSTANCE_STOPPED || p->pub.state == BG_INSTANCE_RESTARTING) {
        uv_timer_stop(&p->timer);
        p->pub.state = BG_INSTANCE_STOPPED;
        if (cb != NULL)
            cb(arg, inst, 0);
        return;
    }
    if (p->pub.state == BG_INSTANCE_STOPPING)
        return;
    p->pub.state = BG_INSTANCE_STOPPING;
    /* The whole group: shells and workers the app started go too. */
    if (kill(-p->pid, SIGTERM) < 0 && kill(p->pid, SIGTERM) < 0 && errno == ESRCH) {
        proc_exited(p, -1, 0);
        return;
    }
    uv_timer_start(&p->timer, stop_timeout, p->stop_timeout_ms, 0);
}

static int parse_handle(const char *handle, pid_t *pid, unsigned long long *start)
{
    int ipid = 0;

    if (sscanf(handle, "pid:%d:%llu", &ipid, start) != 2 || ipid <= 1)
        return BG_EINVAL;
    *pid = (pid_t)ipid;
    return 0;
}

static int proc_adopt(bg_driver_t *d, const bg_instance_spec_t *spec, const char *address,
                      const char *handle, bg_instance_t **out, bg_err_t *err)
{
    proc_driver_t *drv = (proc_driver_t *)d;
    unsigned long long start = 0;
    pid_t pid;
    char state = '?';
    proc_t *p;

    if (parse_handle(handle, &pid, &start) < 0)
        return bg_err_set(err, BG_EINVAL, "bad process handle '%s'", handle);
    if (proc_start_time(pid, &state) != start || state == 'Z')
        return bg_err_set(err, BG_ENOTFOUND, "process %d (%s) is no longer running", (int)pid,
                          handle);
    p = proc_new(drv, spec);
    p->pid = pid;
    p->started_ms = bg_now_ms();
    snprintf(p->pub.address, sizeof(p->pub.address), "%s", address);
    snprintf(p->pub.handle, sizeof(p->pub.handle), "%s", handle);
    if (spec->rev != NULL && spec->rev->command != NULL) {
        const char *colon = strrchr(address, ':');
        p->argv = strv_dup(spec->rev->command);
        p->port = colon ? (uint16_t)strtoul(colon + 1, NULL, 10) : 0;
        p->envp = build_env(drv, spec, p->port);
    }
    p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (p->pidfd >= 0 && uv_poll_init(d->loop, &p->poll, p->pidfd) == 0) {
        p->poll.data = p;
        p->poll_open = true;
        uv_poll_start(&p->poll, UV_READABLE, on_pidfd);
    } else {
        if (p->pidfd >= 0)
            close(p->pidfd);
        p->pidfd = -1;
        uv_timer_start(&p->timer, on_adopt_poll, ADOPT_POLL_MS, ADOPT_POLL_MS);
    }
    p->pub.state = BG_INSTANCE_RUNNING;
    bg_log(BG_LOG_INFO, "driver", "process adopted service=%s slot=%s pid=%d addr=%s",
           p->pub.service, bg_slot_str((bg_slot_t)p->pub.slot), (int)pid, address);
    *out = &p->pub;
    return 0;
}

static int proc_logs(bg_driver_t *d, bg_instance_t *inst, size_t max_bytes, bg_buf_t *out)
{
    return bg_driver_tail_file(inst->log_path, max_bytes, out);
}

static int proc_scan(bg_driver_t *d, bg_driver_found_cb cb, void *arg)
{
    return bg_driver_proc_scan(d, ((proc_driver_t *)d)->state_dir, cb, arg);
}

static void proc_free_instance(bg_driver_t *d, bg_instance_t *inst)
{
    proc_t *p = (proc_t *)inst;

    if (p->freeing)
        return;
    p->freeing = true;
    bg_list_remove(&p->link);
    uv_timer_stop(&p->timer);
    unwatch(p);
    uv_close((uv_handle_t *)&p->timer, handle_closed);
}

static void proc_close(bg_driver_t *d, void (*cb)(void *arg), void *arg)
{
    proc_driver_t *drv = (proc_driver_t *)d;
    bg_list_t *pos, *tmp;

    drv->closing = true;
    bg_list_foreach_safe(pos, tmp, &drv->procs)
    {
        proc_t *p = BG_CONTAINER_OF(pos, proc_t, link);
        proc_free_instance(d, &p->pub);
    }
    free(drv->state_dir);
    free(drv->log_dir);
    free(drv);
    /* Instances' handles finish closing on the next loop iteration; they no longer point
     * at the driver. */
    if (cb != NULL)
        cb(arg);
}

static const bg_driver_vtable_t process_vtable = {
    .name = "process",
    .caps = BG_DRIVER_CAP_STARTS,
    .validate = proc_validate,
    .start = proc_start,
    .stop = proc_stop,
    .adopt = proc_adopt,
    .scan = proc_scan,
    .logs = proc_logs,
    .free_instance = proc_free_instance,
    .close = proc_close,
};

bg_driver_t *bg_process_driver_new(uv_loop_t *loop, const char *state_dir,
                                   const bg_driver_events_t *events, bg_err_t *err)
{
    proc_driver_t *drv;
    char *log_dir = bg_asprintf("%s/logs", state_dir);

    if (bg_driver_mkdirs(log_dir, err) < 0) {
        free(log_dir);
        return NULL;
    }
    drv = BG_NEW(proc_driver_t);
    drv->base.vt = &process_vtable;
    drv->base.loop = loop;
    if (events != NULL)
        drv->base.events = *events;
    /* Absolute: it is the marker every instance carries (scan.c). */
    drv->state_dir = realpath(state_dir, NULL);
    if (drv->state_dir == NULL)
        drv->state_dir = bg_strdup(state_dir);
    drv->log_dir = log_dir;
    bg_list_init(&drv->procs);
    return &drv->base;
}
