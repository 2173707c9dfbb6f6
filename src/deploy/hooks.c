/* Hook commands (docs/design.md §3 hooks.test, §5 hooks.check): each runs as `/bin/sh -c CMD` in
 * its own process group on the control loop (uv_spawn; never waited for synchronously),
 * with the daemon's environment plus BLUEGREEN_TEST_URL and friends, output to the daemon's
 * stderr. They run one after another; the first non-zero exit ends the chain. A hook still
 * running after hooks.timeout (default 5m) is killed with its whole process group and
 * fails with status DP_HOOK_TIMED_OUT. A rollback or shutdown kills the running one (its
 * whole group).
 */
#include "deploy/internal.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

extern char **environ;

/* One chain of commands; dep->hook while it lives (also while its last process closes). */
struct dp_hook {
    dp_deployment_t *dep;
    char **cmds;
    size_t n, next;
    char **env;
    dp_hooks_cb cb;
    uv_process_t *proc; /* running, or NULL */
    size_t failed;      /* index + 1 of the failing command */
    int status;
    uint32_t timeout_ms;
    bool killed, done;
};

/* One command's process and its timeout timer; freed when both handles closed. */
typedef struct hook_proc {
    uv_process_t proc;
    uv_timer_t timer;
    dp_hook_t *chain;
    int open; /* handles not yet closed */
    bool timed_out;
} hook_proc_t;

static void chain_free(dp_hook_t *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->cmds[i]);
    free(h->cmds);
    for (size_t i = 0; h->env != NULL && h->env[i] != NULL; i++)
        free(h->env[i]);
    free(h->env);
    free(h);
}

static void spawn_next(dp_hook_t *h);

static void chain_end(dp_hook_t *h)
{
    dp_deployment_t *dep = h->dep;
    char cmd[256];

    snprintf(cmd, sizeof(cmd), "%s", h->failed > 0 ? h->cmds[h->failed - 1] : "");
    dep->hook = NULL;
    if (!h->killed && !dep->freeing && !dep->stopping)
        h->cb(dep, h->failed, h->status, cmd);
    else if (dep->freeing)
        dp_deployment_release(dep);
    chain_free(h);
}

static void on_proc_closed(uv_handle_t *handle)
{
    hook_proc_t *hp = handle->data;
    dp_hook_t *h = hp->chain;

    if (--hp->open > 0)
        return;
    free(hp);
    if (h->done || h->killed || h->next >= h->n)
        chain_end(h);
    else
        spawn_next(h);
}

static void on_exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
    hook_proc_t *hp = p->data;
    dp_hook_t *h = hp->chain;
    int status = term_signal != 0 ? 128 + term_signal : (int)exit_status;

    if (hp->timed_out)
        status = DP_HOOK_TIMED_OUT;
    bg_log(BG_LOG_INFO, "deploy", "msg=\"hook exited\" cmd=\"%s\" status=%d%s",
           h->cmds[h->next - 1], status, hp->timed_out ? " timed_out=yes" : "");
    h->proc = NULL;
    if (status != 0) {
        h->failed = h->next;
        h->status = status;
        h->done = true;
    }
    uv_close((uv_handle_t *)&hp->timer, on_proc_closed);
    uv_close((uv_handle_t *)p, on_proc_closed);
}

/* hooks.timeout: the command and everything it started (its process group) go. */
static void on_hook_timeout(uv_timer_t *t)
{
    hook_proc_t *hp = t->data;

    hp->timed_out = true;
    bg_log(BG_LOG_WARN, "deploy",
           "msg=\"hook timed out, killing its process group\" cmd=\"%s\" "
           "timeout_ms=%u",
           hp->chain->cmds[hp->chain->next - 1], hp->chain->timeout_ms);
    kill(-hp->proc.pid, SIGKILL);
}

static void spawn_next(dp_hook_t *h)
{
    const char *cmd = h->cmds[h->next++];
    char *args[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.exit_cb = on_exit_cb,
                              .file = args[0],
                              .args = args,
                              .env = h->env,
                              .flags = UV_PROCESS_DETACHED,
                              .stdio_count = 3,
                              .stdio = stdio};
    hook_proc_t *hp = BG_NEW(hook_proc_t);
    int rc;

    hp->chain = h;
    hp->proc.data = hp;
    hp->timer.data = hp;
    hp->open = 2;
    uv_timer_init(h->dep->d->loop, &hp->timer);
    bg_log(BG_LOG_INFO, "deploy", "msg=\"hook started\" service=%s cmd=\"%s\"",
           h->dep->svc->cfg->name, cmd);
    rc = uv_spawn(h->dep->d->loop, &hp->proc, &o);
    if (rc != 0) {
        bg_log(BG_LOG_ERROR, "deploy", "msg=\"hook failed to start\" cmd=\"%s\" err=%s", cmd,
               uv_strerror(rc));
        h->failed = h->next;
        h->status = 127;
        h->done = true;
        uv_close((uv_handle_t *)&hp->timer, on_proc_closed);
        uv_close((uv_handle_t *)&hp->proc, on_proc_closed);
        return;
    }
    h->proc = &hp->proc;
    uv_timer_start(&hp->timer, on_hook_timeout, h->timeout_ms, 0);
}

static char **make_env(const char *const *extra)
{
    size_t n = 0, m = 0, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    while (extra[m] != NULL)
        m++;
    env = bg_xcalloc(n + m + 1, sizeof(*env));
    for (size_t i = 0; i < m; i++)
        env[k++] = bg_strdup(extra[i]);
    for (size_t i = 0; i < n; i++) {
        bool shadowed = false;
        for (size_t j = 0; j < m && !shadowed; j++) {
            const char *eq = strchr(extra[j], '=');
            size_t len = eq ? (size_t)(eq - extra[j]) + 1 : 0;
            shadowed = len > 0 && strncmp(environ[i], extra[j], len) == 0;
        }
        if (!shadowed)
            env[k++] = bg_strdup(environ[i]);
    }
    return env;
}

void dp_hooks_run(dp_deployment_t *dep, char *const *cmds, size_t n, const char *const *env,
                  dp_hooks_cb cb)
{
    dp_hook_t *h = BG_NEW(dp_hook_t);

    BG_ASSERT(dep->hook == NULL && n > 0);
    h->dep = dep;
    h->cb = cb;
    h->n = n;
    h->cmds = bg_xcalloc(n, sizeof(*h->cmds));
    for (size_t i = 0; i < n; i++)
        h->cmds[i] = bg_strdup(cmds[i]);
    h->env = make_env(env);
    h->timeout_ms = dep->svc->cfg->hooks_timeout_ms ? dep->svc->cfg->hooks_timeout_ms : 300000;
    dep->hook = h;
    spawn_next(h);
}

void dp_hooks_kill(dp_deployment_t *dep)
{
    dp_hook_t *h = dep->hook;

    if (h == NULL || h->killed)
        return;
    h->killed = true;
    if (h->proc != NULL)
        kill(-h->proc->pid, SIGKILL);
}

void dp_hook_reason(char *out, size_t size, const char *kind, const char *cmd, int status,
                    uint32_t timeout_ms)
{
    char d[32];

    if (status == DP_HOOK_TIMED_OUT)
        snprintf(out, size, "%s hook '%s' timed out after %s (killed)", kind, cmd,
                 bg_duration_format(timeout_ms, d, sizeof(d)));
    else
        snprintf(out, size, "%s hook '%s' exited with status %d", kind, cmd, status);
}
