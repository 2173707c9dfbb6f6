/* Admin listener: endpoint parsing, the Unix socket's life (parent directory, stale file,
 * mode 0600), the TCP listener and its bearer token, and the admin object's life cycle.
 * A stale socket file is removed only after a connect() to it was refused: a live daemon's
 * socket is never taken over.
 */
#include "admin/admin.h"

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin/internal.h"
#include "base/base.h"
#include "base/compat.h"

#define UNIX_PREFIX "unix:"
#define HTTP_PREFIX "http://"

static int parse_tcp(bg_admin_t *a, const char *hostport, bg_err_t *err)
{
    const char *colon = strrchr(hostport, ':');
    const char *host = hostport;
    size_t host_len;
    uint64_t port;

    if (colon == NULL)
        return bg_err_set(err, BG_EINVAL, "admin endpoint '%s': expected http://HOST:PORT",
                          a->endpoint);
    host_len = (size_t)(colon - hostport);
    if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
        host++;
        host_len -= 2;
    }
    if (!bg_str_to_u64(bg_str(colon + 1), 65535, &port) || host_len == 0)
        return bg_err_set(err, BG_EINVAL, "admin endpoint '%s': expected http://HOST:PORT",
                          a->endpoint);
    a->host = bg_strndup(host, host_len);
    if (strcmp(a->host, "localhost") == 0) {
        free(a->host);
        a->host = bg_strdup("127.0.0.1");
    }
    a->port = (int)port;
    return 0;
}

static int parse_endpoint(bg_admin_t *a, const bg_admin_options_t *opts, bg_err_t *err)
{
    const char *ep = opts->endpoint;

    if (strncmp(ep, UNIX_PREFIX, strlen(UNIX_PREFIX)) == 0) {
        const char *path = ep + strlen(UNIX_PREFIX);
        if (*path == '\0' || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
            return bg_err_set(err, BG_EINVAL,
                              "admin endpoint '%s': socket path is empty or "
                              "longer than %zu bytes",
                              ep, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
        a->is_unix = true;
        a->path = bg_strdup(path);
        return 0;
    }
    if (strncmp(ep, HTTP_PREFIX, strlen(HTTP_PREFIX)) == 0) {
        char *hostport = bg_strdup(ep + strlen(HTTP_PREFIX));
        char *slash = strchr(hostport, '/');
        int rc;
        if (slash != NULL && slash[1] == '\0')
            *slash = '\0';
        rc = parse_tcp(a, hostport, err);
        free(hostport);
        if (rc != 0)
            return rc;
        if (opts->metrics_only)
            return 0; /* serves nothing but GET /metrics: no token */
        if (opts->token == NULL || *opts->token == '\0')
            return bg_err_set(err, BG_EINVAL,
                              "admin endpoint '%s' is TCP: admin_token is "
                              "required",
                              ep);
        a->token = bg_strdup(opts->token);
        return 0;
    }
    return bg_err_set(err, BG_EINVAL,
                      "admin endpoint '%s': expected unix:PATH or "
                      "http://HOST:PORT",
                      ep);
}

bg_admin_t *bg_admin_new(uv_loop_t *loop, const bg_admin_options_t *opts, bg_err_t *err)
{
    bg_admin_t *a = NULL;

    if (loop == NULL || opts == NULL || opts->endpoint == NULL || opts->ops == NULL) {
        bg_err_set(err, BG_EINVAL, "admin: loop, endpoint and ops are required");
        return NULL;
    }
    a = BG_NEW(bg_admin_t);
    a->loop = loop;
    a->ops = *opts->ops;
    a->ctx = opts->ctx;
    a->endpoint = bg_strdup(opts->endpoint);
    a->metrics_only = opts->metrics_only;
    a->proxy = opts->proxy;
    a->bound_port = -1;
    a->idle_timeout_ms = opts->idle_timeout_ms ? opts->idle_timeout_ms : BG_ADMIN_IDLE_TIMEOUT_MS;
    a->max_conns = opts->max_conns ? opts->max_conns : BG_ADMIN_MAX_CONNS;
    a->listener_closed = true;
    bg_list_init(&a->conns);
    if (parse_endpoint(a, opts, err) != 0)
        goto fail;
    if (!a->is_unix && !a->metrics_only)
        a->dash = bg_dash_auth_new();
    return a;
fail:
    bg_admin_free(a);
    return NULL;
}

static int mkdir_parent(const char *path, bg_err_t *err)
{
    char *dir = bg_strdup(path);
    char *slash = strrchr(dir, '/');
    int rc = 0;

    if (slash == NULL || slash == dir)
        goto out;
    *slash = '\0';
    for (char *p = dir + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            rc = bg_err_set(err, -errno, "admin: mkdir %s: %s", dir, strerror(errno));
            goto out;
        }
        *p = '/';
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        rc = bg_err_set(err, -errno, "admin: mkdir %s: %s", dir, strerror(errno));
out:
    free(dir);
    return rc;
}

/* Removes <path> if it is a socket nobody listens on. */
static int clear_stale_socket(const char *path, bg_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct stat st;
    int fd = -1;
    int rc = 0;

    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return bg_err_set(err, -errno, "admin: stat %s: %s", path, strerror(errno));
    }
    if (!S_ISSOCK(st.st_mode))
        return bg_err_set(err, BG_EEXIST, "admin: %s exists and is not a socket", path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = bg_err_set(err, -errno, "admin: socket: %s", strerror(errno));
        goto out;
    }
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        rc = bg_err_set(err, BG_EEXIST, "admin: another process is listening on %s", path);
        goto out;
    }
    if (errno != ECONNREFUSED) {
        rc = bg_err_set(err, -errno, "admin: probing %s: %s", path, strerror(errno));
        goto out;
    }
    if (unlink(path) != 0 && errno != ENOENT)
        rc = bg_err_set(err, -errno, "admin: removing stale %s: %s", path, strerror(errno));
    else
        bg_log(BG_LOG_INFO, "admin", "msg=\"removed stale socket\" path=%s", path);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

static void on_connection(uv_stream_t *server, int status)
{
    bg_admin_t *a = server->data;

    if (status < 0) {
        bg_log(BG_LOG_WARN, "admin", "msg=\"accept failed\" err=%s", uv_strerror(status));
        return;
    }
    admin_conn_accept(a);
}

/* The socket is bound here rather than with uv_pipe_bind(): libuv removes the file of a
 * pipe it bound when the handle closes, which would take the path away from a new process
 * that the socket was handed over to (bg_admin_handover). We remove it ourselves on stop. */
static int bind_unix(const char *path, bg_err_t *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    mode_t old_mask;
    int fd, rc;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return bg_err_set(err, -errno, "admin: socket: %s", strerror(errno));
    /* umask closes the window between bind() and chmod() in which others could connect. */
    old_mask = umask(0177);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old_mask);
    if (rc != 0) {
        rc = bg_err_set(err, -errno, "admin: bind %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    return fd;
}

static int start_unix(bg_admin_t *a, bg_err_t *err)
{
    int rc, fd;

    if ((rc = mkdir_parent(a->path, err)) != 0)
        return rc;
    if ((rc = clear_stale_socket(a->path, err)) != 0)
        return rc;
    if ((fd = bind_unix(a->path, err)) < 0)
        return fd;
    a->path_bound = true;
    uv_pipe_init(a->loop, &a->listener.pipe, 0);
    a->listener_inited = true;
    a->listener_closed = false;
    if ((rc = uv_pipe_open(&a->listener.pipe, fd)) != 0) {
        close(fd);
        return bg_err_set(err, rc, "admin: %s: %s", a->path, uv_strerror(rc));
    }
    if (chmod(a->path, 0600) != 0)
        return bg_err_set(err, -errno, "admin: chmod %s: %s", a->path, strerror(errno));
    return 0;
}

static int start_tcp(bg_admin_t *a, bg_err_t *err)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    int rc;

    if (uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss) != 0)
        return bg_err_set(err, BG_EINVAL,
                          "admin endpoint '%s': host must be a numeric "
                          "address",
                          a->endpoint);
    uv_tcp_init(a->loop, &a->listener.tcp);
    a->listener_inited = true;
    a->listener_closed = false;
    rc = uv_tcp_bind(&a->listener.tcp, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_tcp_getsockname(&a->listener.tcp, (struct sockaddr *)&ss, &len);
    if (rc != 0)
        return bg_err_set(err, rc, "admin: bind %s: %s", a->endpoint, uv_strerror(rc));
    a->bound_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                  : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

/* Listens on <fd>, a Unix socket another bluegreen listened on at our path. */
static int start_inherited(bg_admin_t *a, int fd, bg_err_t *err)
{
    int rc;

    if (!a->is_unix) {
        close(fd);
        return bg_err_set(err, BG_EINVAL,
                          "admin endpoint '%s' is TCP: only a unix: admin socket can be "
                          "handed over",
                          a->endpoint);
    }
    uv_pipe_init(a->loop, &a->listener.pipe, 0);
    a->listener_inited = true;
    a->listener_closed = false;
    if ((rc = uv_pipe_open(&a->listener.pipe, fd)) != 0) {
        close(fd);
        return bg_err_set(err, rc, "admin: adopting the socket of %s: %s", a->path,
                          uv_strerror(rc));
    }
    a->path_bound = true; /* ours to remove now */
    return 0;
}

int bg_admin_start(bg_admin_t *a, bg_err_t *err)
{
    return bg_admin_start_fd(a, -1, err);
}

int bg_admin_start_fd(bg_admin_t *a, int fd, bg_err_t *err)
{
    int rc;

    BG_ASSERT(!a->listener_inited);
    if (fd >= 0)
        rc = start_inherited(a, fd, err);
    else
        rc = a->is_unix ? start_unix(a, err) : start_tcp(a, err);
    if (rc != 0)
        return rc;
    a->listener.handle.data = a;
    rc = uv_listen(&a->listener.stream, 128, on_connection);
    if (rc != 0)
        return bg_err_set(err, rc, "admin: listen %s: %s", a->endpoint, uv_strerror(rc));
    a->started_ms = bg_now_ms();
    bg_log(BG_LOG_INFO, "admin", "msg=listening endpoint=%s%s%s", a->is_unix ? "unix:" : "",
           a->is_unix ? a->path : a->endpoint,
           a->is_unix ? " mode=0600" : a->metrics_only ? " serves=/metrics" : " auth=bearer");
    return 0;
}

int bg_admin_port(const bg_admin_t *a)
{
    return a->is_unix ? -1 : a->bound_port;
}

const char *bg_admin_socket_path(const bg_admin_t *a)
{
    return a->is_unix ? a->path : NULL;
}

int bg_admin_handover(bg_admin_t *a)
{
    uv_os_fd_t fd;
    int dup_fd;

    if (!a->is_unix || !a->listener_inited || a->stopping ||
        uv_fileno(&a->listener.handle, &fd) != 0)
        return BG_EINVAL;
    dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return -errno;
    a->path_bound = false; /* the socket file now names the other process's listener */
    return dup_fd;
}

static void on_listener_closed(uv_handle_t *h)
{
    bg_admin_t *a = h->data;
    a->listener_closed = true;
    admin_maybe_stopped(a);
}

void admin_maybe_stopped(bg_admin_t *a)
{
    void (*cb)(void *) = a->stop_cb;

    if (!a->stopping || !a->listener_closed || !bg_list_is_empty(&a->conns))
        return;
    a->stop_cb = NULL;
    if (cb != NULL)
        cb(a->stop_arg);
}

void bg_admin_stop(bg_admin_t *a, void (*cb)(void *arg), void *arg)
{
    bg_list_t *pos, *tmp;

    BG_ASSERT(!a->stopping);
    a->stopping = true;
    a->stop_cb = cb;
    a->stop_arg = arg;
    if (a->path_bound) {
        unlink(a->path);
        a->path_bound = false;
    }
    bg_list_foreach_safe(pos, tmp, &a->conns)
    {
        admin_conn_close(BG_CONTAINER_OF(pos, admin_conn_t, link));
    }
    if (a->listener_inited && !uv_is_closing(&a->listener.handle)) {
        a->listener.handle.data = a;
        uv_close(&a->listener.handle, on_listener_closed);
        return;
    }
    admin_maybe_stopped(a);
}

void bg_admin_free(bg_admin_t *a)
{
    if (a == NULL)
        return;
    BG_ASSERT(a->listener_closed && bg_list_is_empty(&a->conns));
    free(a->endpoint);
    free(a->token);
    free(a->path);
    free(a->host);
    bg_dash_auth_free(a->dash);
    free(a);
}

bool admin_auth_ok(const bg_admin_t *a, const char *authorization)
{
    static const char scheme[] = "Bearer ";
    size_t want, got;
    unsigned char diff;
    const char *tok;

    if (a->is_unix || a->metrics_only)
        return true; /* the socket's mode 0600 is the access control; metrics are public */
    if (authorization == NULL || strncasecmp(authorization, scheme, sizeof(scheme) - 1) != 0)
        return false;
    tok = authorization + sizeof(scheme) - 1;
    want = strlen(a->token);
    got = strlen(tok);
    /* Constant time in the token's content: always walk the expected token's length. */
    diff = (unsigned char)(want != got);
    for (size_t i = 0; i < want; i++)
        diff |= (unsigned char)(a->token[i] ^ (i < got ? tok[i] : 0));
    return diff == 0;
}
