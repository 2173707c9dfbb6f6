/* Zero-downtime restart, upgrade and reload of bluegreen itself (docs/design.md §7, §9): the way
 * HAProxy (`-x` + `-sf`) and Envoy (hot restart) do it. A new process takes the listening
 * sockets of the running one — the proxy listeners and the admin socket — as descriptors
 * sent with SCM_RIGHTS over the admin Unix socket, so no connection is ever refused and
 * clients that connect meanwhile wait in the accept queues. The old process stops its
 * controller and admin API at once (the new one owns the state store from then on), keeps
 * proxying until the new one says it serves, then stops accepting, finishes its in-flight
 * requests (answers carry `Connection: close`; idle keep-alive connections are closed
 * after BG_PROXY_STOP_IDLE_MS) and exits. Targets keep running and the new process
 * re-adopts them from the store, as after a SIGTERM.
 *
 *   new: connect(admin.sock) --POST /v1/takeover-->  old: checks (no deployment running),
 *                                                     stops controller + admin API
 *   new: <-- 200 {"pid","admin","listen","test_listen"} + fds --  (SCM_RIGHTS)
 *   new: admin API on the inherited socket, boot (store, re-adoption), proxy on the
 *        inherited listeners --"ready\n"-->           old: stops accepting, drains, exits
 *   new: <-- EOF (old process done)
 *
 * A reload (`bluegreen reload`, POST /v1/reload, SIGHUP) validates the config file, then
 * starts `serve --takeover` on it: the new process applies the whole new config. A config
 * that does not load is refused with its file:line:column error and nothing changes.
 */
#include "server/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "compat/compat.h"
#include "net/net.h"
#include "base/compat.h"

#define TAKEOVER_TIMEOUT_MS 30000 /* the old process closes its controller first */
#define SEND_TIMEOUT_MS 5000
#define TAKEOVER_REQUEST                                                                      \
    "POST /v1/takeover HTTP/1.1\r\nHost: bluegreen\r\nUser-Agent: bluegreen-takeover\r\n"   \
    "Content-Length: 0\r\nConnection: close\r\n\r\n"
#define READY_LINE "ready\n"

/* ---- the new process ---------------------------------------------------------------- */

/* A whole HTTP answer in <buf>: the status and where the body starts, or false when more
 * bytes are needed. */
static bool answer_complete(const char *buf, size_t len, int *status, size_t *body_off,
                            size_t *body_len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    const char *cl;
    uint64_t n = 0;

    if (end == NULL || sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        return false;
    *body_off = (size_t)(end + 4 - buf);
    cl = strcasestr(buf, "\r\ncontent-length:");
    if (cl == NULL || cl > end)
        return false;
    cl += strlen("\r\ncontent-length:");
    while (*cl == ' ')
        cl++;
    for (; *cl >= '0' && *cl <= '9'; cl++)
        n = n * 10 + (uint64_t)(*cl - '0');
    *body_len = (size_t)n;
    return len >= *body_off + *body_len;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* Reads the answer to POST /v1/takeover on <fd> with its descriptors. */
static int read_answer(int fd, char *buf, size_t size, int *fds, size_t *n_fds, int *status,
                       json_t **body, bg_err_t *err)
{
    size_t len = 0, off = 0, blen = 0;
    json_error_t jerr;

    for (;;) {
        ssize_t n = bg_net_recv_fds(fd, buf + len, size - 1 - len, fds, BG_NET_MAX_FDS, n_fds,
                                    TAKEOVER_TIMEOUT_MS);
        if (n < 0)
            return bg_err_set(err, (int)n, "takeover: reading the answer: %s",
                              bg_strerror((int)n));
        len += (size_t)n;
        buf[len] = '\0';
        if (answer_complete(buf, len, status, &off, &blen))
            break;
        if (n == 0 || len + 1 >= size)
            return bg_err_set(err, BG_EPROTO, "takeover: the running daemon closed the "
                                              "connection without a whole answer");
    }
    *body = json_loadb(buf + off, blen, 0, &jerr);
    if (*body == NULL)
        return bg_err_set(err, BG_EPROTO, "takeover: the answer is not JSON: %s", jerr.text);
    return 0;
}

/* Hands the received descriptors to the admin API and the proxy as the answer counts
 * them: admin socket first, then the production listeners, then the test listeners. */
static int adopt_fds(bg_server_t *s, json_t *body, int *fds, size_t n_fds, bg_err_t *err)
{
    json_int_t n_admin = json_integer_value(json_object_get(body, "admin"));
    json_int_t n_listen = json_integer_value(json_object_get(body, "listen"));
    json_int_t n_test = json_integer_value(json_object_get(body, "test_listen"));
    size_t i = 0;

    if (n_admin < 0 || n_admin > 1 || n_listen < 0 || n_test < 0 ||
        (size_t)(n_admin + n_listen + n_test) != n_fds)
        return bg_err_set(err, BG_EPROTO,
                          "takeover: the answer announces %lld+%lld+%lld sockets but %zu came",
                          (long long)n_admin, (long long)n_listen, (long long)n_test, n_fds);
    if (n_admin == 1)
        s->inherited_admin_fd = fds[i++];
    bg_proxy_inherit(s->proxy, false, fds + i, (size_t)n_listen);
    i += (size_t)n_listen;
    bg_proxy_inherit(s->proxy, true, fds + i, (size_t)n_test);
    return 0;
}

int srv_takeover(bg_server_t *s, bg_err_t *err)
{
    const char *path = bg_admin_socket_path(s->admin);
    char buf[8192];
    int fds[BG_NET_MAX_FDS];
    size_t n_fds = 0;
    json_t *body = NULL;
    int fd = -1, status = 0, rc;

    if (path == NULL)
        return bg_err_set(err, BG_EINVAL, "takeover: the admin endpoint must be a unix: socket "
                                          "(the listeners are handed over on it)");
    fd = bg_net_unix_connect(path, err);
    if (fd < 0) {
        bg_err_set(err, fd, "takeover: no running bluegreen answers on %s: %s", path,
                   bg_strerror(fd));
        return fd;
    }
    if ((rc = bg_net_send_fds(fd, TAKEOVER_REQUEST, strlen(TAKEOVER_REQUEST), NULL, 0,
                              SEND_TIMEOUT_MS)) != 0) {
        bg_err_set(err, rc, "takeover: sending the request: %s", bg_strerror(rc));
        goto fail;
    }
    if ((rc = read_answer(fd, buf, sizeof(buf), fds, &n_fds, &status, &body, err)) != 0)
        goto fail;
    if (status != 200) {
        const char *msg =
            json_string_value(json_object_get(json_object_get(body, "error"), "message"));
        rc = bg_err_set(err, status == 409 ? BG_ECONFLICT : BG_EUNAVAIL,
                        "takeover refused by the running daemon (HTTP %d): %s", status,
                        msg ? msg : "no reason given");
        goto fail;
    }
    if ((rc = adopt_fds(s, body, fds, n_fds, err)) != 0)
        goto fail;
    s->takeover_from = (int)json_integer_value(json_object_get(body, "pid"));
    s->takeover_fd = fd;
    bg_log(BG_LOG_INFO, "server",
           "msg=\"took over the listening sockets\" from_pid=%d sockets=%zu admin=%s",
           s->takeover_from, n_fds, path);
    json_decref(body);
    return 0;
fail:
    close_fds(fds, n_fds);
    json_decref(body);
    close(fd);
    return rc;
}

static void on_takeover_poll_closed(uv_handle_t *h)
{
    bg_server_t *s = h->data;

    if (s->takeover_fd >= 0)
        close(s->takeover_fd);
    s->takeover_fd = -1;
}

/* The old process closes the connection once its last in-flight request finished. */
static void on_old_gone(uv_poll_t *h, int status, int events)
{
    bg_server_t *s = h->data;
    char c[64];

    (void)events;
    if (status >= 0 && recv(s->takeover_fd, c, sizeof(c), MSG_DONTWAIT) > 0)
        return;
    bg_log(BG_LOG_INFO, "server", "msg=\"previous process finished its requests\" pid=%d",
           s->takeover_from);
    uv_close((uv_handle_t *)h, on_takeover_poll_closed);
}

void srv_takeover_ready(bg_server_t *s)
{
    int rc;

    if (s->takeover_fd < 0)
        return;
    rc = bg_net_send_fds(s->takeover_fd, READY_LINE, strlen(READY_LINE), NULL, 0,
                         SEND_TIMEOUT_MS);
    if (rc != 0)
        bg_log(BG_LOG_WARN, "server", "msg=\"could not tell the previous process\" pid=%d err=%s",
               s->takeover_from, bg_strerror(rc));
    uv_poll_init(&s->loop, &s->takeover_poll, s->takeover_fd);
    s->takeover_poll.data = s;
    s->takeover_poll_on = true;
    uv_poll_start(&s->takeover_poll, UV_READABLE | UV_DISCONNECT, on_old_gone);
}

/* ---- the running process -------------------------------------------------------------- */

/* Sends a whole HTTP answer on the raw connection <fd>, with <fds> attached. */
static int send_answer(int fd, int status, json_t *body, const int *fds, size_t n_fds)
{
    char *text = json_dumps(body, JSON_COMPACT);
    char *msg = bg_asprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                            "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
                            status, status == 200 ? "OK" : "Error", strlen(text), text);
    int rc = bg_net_send_fds(fd, msg, strlen(msg), fds, n_fds, SEND_TIMEOUT_MS);

    free(msg);
    free(text);
    json_decref(body);
    return rc;
}

/* Duplicates the proxy's listening fds of one listener into <fds> from <*n>. */
static int dup_listeners(bg_server_t *s, bool test, int *fds, size_t *n, json_int_t *count)
{
    int own[BG_NET_MAX_FDS];
    size_t k = bg_proxy_listen_fds(s->proxy, test, own, BG_NET_MAX_FDS - 1 - *n);

    for (size_t i = 0; i < k; i++) {
        int fd = fcntl(own[i], F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            return -errno;
        fds[(*n)++] = fd;
    }
    *count = (json_int_t)k;
    return 0;
}

static pid_t peer_pid(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return 0;
    return cred.pid;
}

/* A reload waiting for its new process: answered now that it took over. */
static void answer_reload(bg_server_t *s, pid_t pid)
{
    if (s->reload_req == NULL)
        return;
    json_object_set_new(s->reload_summary, "reloaded", json_true());
    json_object_set_new(s->reload_summary, "pid", json_integer(pid));
    json_object_set_new(s->reload_summary, "previous_pid", json_integer(getpid()));
    /* The answer is written before the admin API stops: a small write to a Unix socket
     * with an empty queue goes to the kernel inside uv_write(). */
    bg_admin_respond_json(s->reload_req, 200, s->reload_summary);
    s->reload_req = NULL;
    s->reload_summary = NULL;
}

static void on_handover_poll_closed(uv_handle_t *h)
{
    bg_server_t *s = h->data;

    if (s->handover_fd >= 0)
        close(s->handover_fd); /* tells the new process that we are done */
    s->handover_fd = -1;
}

/* The new process says it serves ("ready"), or went away. */
static void on_new_ready(uv_poll_t *h, int status, int events)
{
    bg_server_t *s = h->data;
    char buf[64];
    ssize_t n = status >= 0 ? recv(s->handover_fd, buf, sizeof(buf), MSG_DONTWAIT) : -1;

    (void)events;
    if (n < 0 && status >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    uv_poll_stop(h);
    if (n > 0 && !s->shutting_down) {
        char state[96];
        bg_log(BG_LOG_INFO, "server", "msg=\"new process serves; stopping\" new_pid=%d",
               s->handover_pid);
        /* Under systemd the new process becomes the service's main process (we are the
         * main one: NotifyAccess=main accepts this from us). */
        snprintf(state, sizeof(state), "MAINPID=%d\nREADY=1\nSTATUS=serving (pid %d took over)",
                 s->handover_pid, s->handover_pid);
        srv_notify(s, state);
        srv_shutdown(s, "taken over by a new process", false, NULL);
        /* srv_shutdown() returned after the proxy drained: our requests are all done. */
    } else {
        bg_log(BG_LOG_ERROR, "server",
               "msg=\"the new process went away before it served; this process keeps "
               "proxying but has no admin API or controller: restart bluegreen\" new_pid=%d",
               s->handover_pid);
    }
    if (!uv_is_closing((uv_handle_t *)h))
        uv_close((uv_handle_t *)h, on_handover_poll_closed);
}

/* Stops what the new process takes over from now on: the controller (so that only one
 * process writes the store and acts on targets; the store must be closed before the new
 * process can open it) and the admin API (the socket file stays: it names the new
 * process's listener). The proxy keeps serving until "ready". The answer with the sockets
 * goes out once the controller is closed (srv_handover_send). */
static void begin_handover(bg_server_t *s, int conn, pid_t pid)
{
    s->handing_over = true;
    s->handover_fd = conn;
    s->handover_pid = pid;
    answer_reload(s, pid);
    srv_waiters_fail(s, BG_EUNAVAIL);
    srv_admin_stop(s);
    /* The TCP metrics listener (metrics_listen) is not handed over: it closes now (uv_close
     * closes its socket at once) so that the new process can bind it; a scrape in the
     * few milliseconds between is refused and retried by Prometheus. */
    srv_metrics_stop(s);
    if (s->deployer == NULL || s->deployer_closed)
        srv_handover_send(s);
    else
        srv_deployer_close(s); /* srv_handover_send() from its close callback */
}

/* The next loop turn after the controller closed (never inside its close callback): frees
 * it, which closes the store, and sends the answer with the sockets. */
static void on_handover_writable(uv_poll_t *h, int status, int events)
{
    bg_server_t *s = h->data;
    json_t *body;
    int rc;

    (void)status;
    (void)events;
    /* The store closes with the controller: the new process opens it after our answer. */
    bg_deployer_free(s->deployer);
    s->deployer = NULL;
    body = json_pack("{s:i,s:i,s:i,s:i}", "pid", (int)getpid(), "admin", 1, "listen",
                     s->handover_n_listen, "test_listen", s->handover_n_test);
    rc = send_answer(s->handover_fd, 200, body, s->handover_fds, s->handover_n_fds);
    close_fds(s->handover_fds, s->handover_n_fds); /* the new process holds its own copies */
    free(s->handover_fds);
    s->handover_fds = NULL;
    if (rc != 0)
        bg_log(BG_LOG_ERROR, "server", "msg=\"sending the sockets failed\" err=%s",
               bg_strerror(rc));
    uv_poll_start(h, UV_READABLE | UV_DISCONNECT, on_new_ready);
}

void srv_handover_send(bg_server_t *s)
{
    if (s->handover_fds == NULL || s->handover_poll_on)
        return;
    uv_poll_init(&s->loop, &s->handover_poll, s->handover_fd);
    s->handover_poll.data = s;
    s->handover_poll_on = true;
    uv_poll_start(&s->handover_poll, UV_WRITABLE, on_handover_writable);
}

void srv_op_takeover(bg_server_t *s, bg_admin_req_t *req)
{
    int fds[BG_NET_MAX_FDS];
    size_t n = 0;
    json_int_t n_listen = 0, n_test = 0;
    char why[256];
    int admin_fd, conn, rc;
    pid_t pid;

    if (s->handing_over || s->shutting_down) {
        bg_admin_respond_errorf(req, BG_EUNAVAIL, "the daemon is already handing over or "
                                                  "shutting down");
        return;
    }
    if (s->deployer != NULL && bg_deployer_busy(s->deployer, why, sizeof(why))) {
        bg_admin_respond_errorf(req, BG_ECONFLICT,
                                "%s; a restart would interrupt it: try again when it ended "
                                "(or abort it)",
                                why);
        return;
    }
    fds[n++] = -1; /* the admin socket's place */
    if ((rc = dup_listeners(s, false, fds, &n, &n_listen)) != 0 ||
        (rc = dup_listeners(s, true, fds, &n, &n_test)) != 0) {
        close_fds(fds + 1, n - 1);
        bg_admin_respond_errorf(req, BG_EIO, "dup: %s", bg_strerror(rc));
        return;
    }
    if ((admin_fd = bg_admin_handover(s->admin)) < 0) {
        close_fds(fds + 1, n - 1);
        bg_admin_respond_errorf(req, BG_EINVAL, "only a unix: admin socket can be handed over");
        return;
    }
    fds[0] = admin_fd;
    if ((conn = bg_admin_req_take_fd(req)) < 0) {
        bg_log(BG_LOG_WARN, "server", "msg=\"takeover client left before the answer\"");
        close_fds(fds, n);
        return;
    }
    pid = peer_pid(conn);
    bg_log(BG_LOG_INFO, "server", "msg=\"handing over\" new_pid=%d listeners=%lld+%lld",
           (int)pid, (long long)n_listen, (long long)n_test);
    s->handover_fds = bg_xmalloc(n * sizeof(int));
    memcpy(s->handover_fds, fds, n * sizeof(int));
    s->handover_n_fds = n;
    s->handover_n_listen = (int)n_listen;
    s->handover_n_test = (int)n_test;
    begin_handover(s, conn, pid);
}

/* ---- reload -------------------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* What the new config adds, removes and keeps, for the answer and the log. */
static json_t *summary(const bg_config_t *old, const bg_config_t *cfg)
{
    json_t *added = json_array(), *removed = json_array(), *kept = json_array();

    for (size_t i = 0; i < cfg->n_services; i++)
        json_array_append_new(bg_config_service(old, cfg->services[i].name) ? kept : added,
                              json_string(cfg->services[i].name));
    for (size_t i = 0; i < old->n_services; i++)
        if (bg_config_service(cfg, old->services[i].name) == NULL)
            json_array_append_new(removed, json_string(old->services[i].name));
    return json_pack("{s:s,s:o,s:o,s:o}", "config", cfg->path ? cfg->path : "", "added", added,
                     "removed", removed, "kept", kept);
}

/* The keys a new process cannot change in place: where it finds the running one. */
static int check_fixed(const bg_config_t *old, const bg_config_t *cfg, bg_err_t *err)
{
    if (!same_str(old->admin, cfg->admin))
        return bg_err_set(err, BG_EINVAL,
                          "admin: changed from '%s' to '%s'; a reload keeps the admin socket "
                          "(restart bluegreen to move it)",
                          old->admin ? old->admin : "(default)",
                          cfg->admin ? cfg->admin : "(default)");
    if (!same_str(old->state_dir, cfg->state_dir))
        return bg_err_set(err, BG_EINVAL,
                          "state_dir: changed from '%s' to '%s'; a reload keeps the state "
                          "store (restart bluegreen to move it)",
                          old->state_dir ? old->state_dir : "(default)",
                          cfg->state_dir ? cfg->state_dir : "(default)");
    return 0;
}

static void reload_fail(bg_server_t *s, bg_admin_req_t *req, const char *why, const bg_err_t *e)
{
    char line[BG_ERR_MSG_MAX + 2 * BG_ERR_PATH_MAX + 64];

    bg_err_format(e, line, sizeof(line));
    bg_log(BG_LOG_ERROR, "server", "msg=\"reload refused; the running configuration stays\" "
                                   "trigger=\"%s\" err=\"%s\"",
           why, line);
    (void)s;
    if (req != NULL)
        bg_admin_respond_errorf(req, e->code, "reload refused, nothing changed: %s", line);
}

static void on_reload_proc_closed(uv_handle_t *h)
{
    bg_server_t *s = h->data;
    s->reload_proc_on = false;
}

static void on_reload_exit(uv_process_t *p, int64_t status, int sig)
{
    bg_server_t *s = p->data;
    bg_err_t e;

    if (!s->handing_over && s->reload_pid == p->pid) {
        bg_err_clear(&e);
        bg_err_set(&e, BG_EIO,
                   "the new process (pid %d) exited with status %lld%s%s before it took over "
                   "(its log lines say why)",
                   p->pid, (long long)status, sig ? " on signal " : "", sig ? strsignal(sig) : "");
        reload_fail(s, s->reload_req, "new process", &e);
        s->reload_req = NULL;
        json_decref(s->reload_summary);
        s->reload_summary = NULL;
    }
    s->reload_pid = 0;
    uv_close((uv_handle_t *)p, on_reload_proc_closed);
}

/* Our environment plus NOTIFY_SOCKET when we run under systemd (notify.c took it out of
 * ours), so that the new process can speak to the service manager once it is the main
 * process. NULL-terminated; the caller frees the array and its last added string. */
static char **child_env(const bg_server_t *s)
{
    extern char **environ;
    size_t n = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = bg_xcalloc(n + 2, sizeof(*env));
    memcpy(env, environ, n * sizeof(*env));
    if (s->notify_len > 0)
        env[n] = bg_asprintf("NOTIFY_SOCKET=%c%.*s", s->notify_path[0] ? s->notify_path[0] : '@',
                             (int)s->notify_len - 1, s->notify_path + 1);
    return env;
}

static void child_env_free(char **env)
{
    size_t n = 0;

    while (env[n] != NULL)
        n++;
    if (n > 0 && strncmp(env[n - 1], "NOTIFY_SOCKET=", 14) == 0)
        free(env[n - 1]);
    free(env);
}

/* Starts `serve -c PATH --takeover` with this binary; its log goes where ours goes. */
static int spawn_new(bg_server_t *s, const char *cfg_path, bg_err_t *err)
{
    char **env = child_env(s);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *args[] = {n > 0 ? exe : "bluegreen", "--config", (char *)cfg_path, "serve",
                    "--takeover", NULL};
    uv_stdio_container_t stdio[3] = {{.flags = UV_INHERIT_FD, .data.fd = 0},
                                     {.flags = UV_INHERIT_FD, .data.fd = 1},
                                     {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {.file = "/proc/self/exe",
                              .args = args,
                              .env = env,
                              .exit_cb = on_reload_exit,
                              .stdio = stdio,
                              .stdio_count = 3};
    int rc;

    if (n > 0)
        exe[n] = '\0';
    s->reload_proc.data = s;
    rc = uv_spawn(&s->loop, &s->reload_proc, &o);
    child_env_free(env);
    s->reload_proc_on = true; /* initialised even when uv_spawn fails: must be closed */
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->reload_proc, on_reload_proc_closed);
        return bg_err_set(err, rc, "starting the new process: %s", uv_strerror(rc));
    }
    s->reload_pid = s->reload_proc.pid;
    return 0;
}

void srv_reload(bg_server_t *s, const char *why, bg_admin_req_t *req)
{
    char path[PATH_MAX], busy[256];
    bg_config_t *cfg = NULL;
    bg_err_t e;

    bg_err_clear(&e);
    if (s->handing_over || s->shutting_down || s->reload_pid != 0 || s->reload_proc_on) {
        bg_err_set(&e, BG_ECONFLICT, "a reload or a hand-over is already in progress");
        goto fail;
    }
    if (s->cfg->path == NULL || realpath(s->cfg->path, path) == NULL) {
        bg_err_set(&e, BG_EINVAL, "config file %s: %s", s->cfg->path ? s->cfg->path : "(none)",
                   s->cfg->path ? strerror(errno) : "the daemon was started without one");
        goto fail;
    }
    if ((cfg = bg_config_load(path, &e)) == NULL || check_fixed(s->cfg, cfg, &e) != 0 ||
        bg_tls_check_config(cfg, &e) != 0)
        goto fail;
    if (cfg->matrix != NULL) { /* the new process would refuse to start without it */
        bg_compat_rules_t *rules = bg_compat_rules_load(cfg->matrix, &e);
        if (rules == NULL)
            goto fail;
        bg_compat_rules_free(rules);
    }
    if (bg_admin_socket_path(s->admin) == NULL) {
        bg_err_set(&e, BG_EINVAL, "admin: a reload needs a unix: admin socket (the new "
                                  "process takes the listeners over on it)");
        goto fail;
    }
    if (s->deployer != NULL && bg_deployer_busy(s->deployer, busy, sizeof(busy))) {
        bg_err_set(&e, BG_ECONFLICT,
                   "%s; reload when it ended (or abort it): changes to any service wait "
                   "for the running deployment",
                   busy);
        goto fail;
    }
    s->reload_summary = summary(s->cfg, cfg);
    if (spawn_new(s, path, &e) != 0) {
        json_decref(s->reload_summary);
        s->reload_summary = NULL;
        goto fail;
    }
    s->reload_req = req;
    bg_log(BG_LOG_INFO, "server", "msg=\"reloading: new process started\" trigger=\"%s\" "
                                  "config=%s new_pid=%d",
           why, path, s->reload_pid);
    bg_config_free(cfg);
    return;
fail:
    bg_config_free(cfg);
    reload_fail(s, req, why, &e);
}

void srv_handover_close(bg_server_t *s)
{
    if (s->reload_req != NULL) {
        bg_admin_respond_errorf(s->reload_req, BG_EUNAVAIL, "the daemon is shutting down");
        s->reload_req = NULL;
    }
    json_decref(s->reload_summary);
    s->reload_summary = NULL;
    if (s->takeover_poll_on && !uv_is_closing((uv_handle_t *)&s->takeover_poll))
        uv_close((uv_handle_t *)&s->takeover_poll, on_takeover_poll_closed);
    else if (!s->takeover_poll_on && s->takeover_fd >= 0) {
        close(s->takeover_fd); /* started no further than the takeover */
        s->takeover_fd = -1;
    }
    if (s->handover_poll_on && !uv_is_closing((uv_handle_t *)&s->handover_poll))
        uv_close((uv_handle_t *)&s->handover_poll, on_handover_poll_closed);
    else if (!s->handover_poll_on && s->handover_fd >= 0) {
        close(s->handover_fd); /* shut down before the answer went out */
        s->handover_fd = -1;
    }
    if (s->handover_fds != NULL) {
        close_fds(s->handover_fds, s->handover_n_fds);
        free(s->handover_fds);
        s->handover_fds = NULL;
    }
    if (s->reload_proc_on && !uv_is_closing((uv_handle_t *)&s->reload_proc))
        uv_close((uv_handle_t *)&s->reload_proc, on_reload_proc_closed);
    if (s->inherited_admin_fd >= 0) {
        close(s->inherited_admin_fd);
        s->inherited_admin_fd = -1;
    }
}
