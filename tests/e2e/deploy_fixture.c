/* The deployments e2e fixture (deploy_fixture.h): config, daemon, admin client over the
 * Unix socket, and the keep-alive load loop. */
#include "e2e/deploy_fixture.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "support/support.h"

static bool sock_answers(void *arg)
{
    dfx_t *f = arg;
    int st = 0;
    json_t *j = dfx_api(f, "GET", "/v1/health", NULL, &st);
    json_decref(j);
    return st == 200;
}

static bool serves_ok(void *arg)
{
    dfx_t *f = arg;
    char v[32];
    dfx_version(f, v, sizeof(v));
    return v[0] != '\0';
}

static void spawn_serve(dfx_t *f)
{
    char *log = bg_asprintf("%s/serve.log", f->dir);
    const char *const argv[] = {bgt_bin("bluegreen"), "serve", "-c", f->cfg_path, NULL};

    f->serve = bgt_spawn(argv, NULL, log);
    free(log);
    cr_assert(bgt_wait_until(sock_answers, f, DFX_WAIT_MS), "admin API did not answer");
    cr_assert(bgt_wait_until(serves_ok, f, DFX_WAIT_MS), "orders did not answer");
}

void dfx_start(dfx_t *f, const char *service_extra)
{
    dfx_start_with(f, service_extra, NULL);
}

void dfx_start_with(dfx_t *f, const char *service_extra, void (*prepare)(dfx_t *f))
{
    memset(f, 0, sizeof(*f));
    f->dir = bgt_tmpdir("deploy");
    f->port = bgt_free_port();
    f->test_port = bgt_free_port();
    f->sock = bg_asprintf("%s/state/bg.sock", f->dir);
    f->yaml = bg_asprintf(
        "listen: 127.0.0.1:%d\n"
        "test_listen: 127.0.0.1:%d\n"
        "admin: unix:%s\n"
        "state_dir: %s/state\n"
        "proxy: {workers: 2}\n"
        "services:\n"
        "  orders:\n"
        "    route: {path_prefix: /}\n"
        "    version: 1.0.0\n"
        "    count: 2\n"
        "    run: {command: [\"%s\", \"--service\", \"orders\", \"--version\", \"1.0.0\"]}\n"
        "    health: {path: /actuator/health, format: actuator, interval: 100ms, timeout: 1s,\n"
        "             healthy_threshold: 1, unhealthy_threshold: 1}\n"
        "%s"
        "    drain: 1s\n"
        "    stop_timeout: 2s\n"
        "%s",
        f->port, f->test_port, f->sock, f->dir, bgt_bin("sample-app"),
        service_extra && strstr(service_extra, "startup_timeout:") ? ""
                                                                   : "    startup_timeout: 3s\n",
        service_extra ? service_extra : "");
    f->cfg_path = bg_asprintf("%s/bluegreen.yaml", f->dir);
    FILE *fp = fopen(f->cfg_path, "w");
    cr_assert(fp != NULL);
    fputs(f->yaml, fp);
    fclose(fp);
    if (prepare != NULL)
        prepare(f);
    spawn_serve(f);
}

void dfx_restart(dfx_t *f)
{
    spawn_serve(f);
}

void dfx_kill9(dfx_t *f)
{
    int st;
    kill(f->serve, SIGKILL);
    waitpid(f->serve, &st, 0);
    f->serve = 0;
}

int dfx_sigterm(dfx_t *f)
{
    int st;

    cr_assert_gt(f->serve, 0);
    kill(f->serve, SIGTERM);
    st = bgt_stop(f->serve, 30000); /* waits; SIGKILL only if it hangs */
    f->serve = 0;
    return st;
}

int dfx_pids(const char *handles, pid_t *pids, int max)
{
    int n = 0;

    for (const char *p = handles; p != NULL && (p = strstr(p, "pid:")) != NULL && n < max; p += 4) {
        long pid = strtol(p + 4, NULL, 10);
        if (pid > 1)
            pids[n++] = (pid_t)pid;
    }
    return n;
}

bool dfx_alive(pid_t pid)
{
    char path[64], buf[512];
    FILE *fp;
    char *rp;
    bool alive = false;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fp = fopen(path, "re");
    if (fp == NULL)
        return false;
    if (fgets(buf, sizeof(buf), fp) != NULL && (rp = strrchr(buf, ')')) != NULL)
        alive = rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
    fclose(fp);
    return alive;
}

/* Stops the daemon with its targets; a daemon that does not answer gets SIGTERM and the
 * instances it had (read before) are ended by pid, so no test leaves a sample-app. */
static int shutdown_all(dfx_t *f)
{
    char h[2][512];
    pid_t pids[32];
    int n = 0, st, status = 0;
    json_t *j;

    dfx_handles(f, "blue", h[0], sizeof(h[0]));
    dfx_handles(f, "green", h[1], sizeof(h[1]));
    n = dfx_pids(h[0], pids, 16);
    n += dfx_pids(h[1], pids + n, 16);
    j = dfx_api(f, "POST", "/v1/shutdown", "{\"stop_targets\":true}", &status);
    json_decref(j);
    if (status == 200) {
        uint64_t end = bg_now_ms() + 30000;
        while (!bgt_exited(f->serve, &st) && bg_now_ms() < end)
            usleep(10000);
        if (bg_now_ms() >= end)
            st = bgt_stop(f->serve, 1000);
    } else {
        st = bgt_stop(f->serve, 15000);
    }
    f->serve = 0;
    for (int i = 0; i < n; i++) {
        if (!dfx_alive(pids[i]))
            continue;
        cr_log_warn("sample-app pid %d still runs after the daemon stopped: killing it",
                    (int)pids[i]);
        kill(-pids[i], SIGKILL);
    }
    return st;
}

int dfx_shutdown_all(dfx_t *f)
{
    cr_assert_gt(f->serve, 0);
    return shutdown_all(f);
}

void dfx_stop(dfx_t *f)
{
    if (f->load_running)
        dfx_load_stop(f);
    if (f->serve > 0)
        shutdown_all(f);
    f->serve = 0;
}

void dfx_finish(dfx_t *f)
{
    int st;

    if (f->load_running)
        dfx_load_stop(f);
    cr_assert_gt(f->serve, 0);
    st = shutdown_all(f);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "serve did not exit cleanly (status 0x%x): see %s/serve.log", st, f->dir);
}

/* ---- admin client over the Unix socket ---- */

static int unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

json_t *dfx_api(dfx_t *f, const char *method, const char *path, const char *body, int *status)
{
    int fd = unix_connect(f->sock);
    char *req;
    bgt_resp_t r = {0};
    json_t *j = NULL;

    *status = 0;
    if (fd < 0)
        return NULL;
    req = bg_asprintf("%s %s HTTP/1.1\r\nHost: bluegreen\r\nUser-Agent: e2e\r\n"
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\n\r\n%s",
                      method, path, body ? strlen(body) : 0, body ? body : "");
    if (bgt_write_all(fd, req, strlen(req)) && bgt_read_response(fd, &r, 30000)) {
        *status = r.status;
        j = json_loadb(r.body ? r.body : "", r.body_len, 0, NULL);
    }
    free(req);
    bgt_resp_fini(&r);
    close(fd);
    return j;
}

long long dfx_deploy(dfx_t *f, const char *version, const char *extra_args, const char *extra_json)
{
    char *body = bg_asprintf("{\"version\":\"%s\",\"cmd\":\"%s --service orders --version %s%s%s\""
                             ",\"actor\":\"e2e\",\"labels\":{\"git.sha\":\"abc123\"}%s}",
                             version, bgt_bin("sample-app"), version, extra_args ? " " : "",
                             extra_args ? extra_args : "", extra_json ? extra_json : "");
    int st;
    json_t *j = dfx_api(f, "POST", "/v1/services/orders/deployments", body, &st);
    long long id = (long long)json_integer_value(json_object_get(j, "id"));

    cr_assert_eq(st, 201, "deploy answered %d: %s", st,
                 json_string_value(json_object_get(json_object_get(j, "error"), "message")));
    json_decref(j);
    free(body);
    return id;
}

static json_t *get_dep(dfx_t *f, long long id)
{
    char path[64];
    int st;
    snprintf(path, sizeof(path), "/v1/deployments/%lld", id);
    return dfx_api(f, "GET", path, NULL, &st);
}

json_t *dfx_wait_result(dfx_t *f, long long id, int timeout_ms)
{
    uint64_t end = bg_now_ms() + (uint64_t)timeout_ms;

    for (;;) {
        json_t *j = get_dep(f, id);
        const char *res = json_string_value(json_object_get(j, "result"));
        if (res != NULL && res[0] != '\0')
            return j;
        json_decref(j);
        cr_assert(bg_now_ms() < end, "deployment %lld has no result after %d ms", id, timeout_ms);
        usleep(20000);
    }
}

bool dfx_wait_phase(dfx_t *f, long long id, const char *phase, int timeout_ms)
{
    uint64_t end = bg_now_ms() + (uint64_t)timeout_ms;

    while (bg_now_ms() < end) {
        json_t *j = get_dep(f, id);
        bool in =
            j != NULL && strcmp(json_string_value(json_object_get(j, "phase")) ?: "", phase) == 0;
        json_decref(j);
        if (in)
            return true;
        usleep(10000);
    }
    return false;
}

int dfx_weight(dfx_t *f, const char *slot)
{
    int st;
    json_t *j = dfx_api(f, "GET", "/v1/services/orders", NULL, &st);
    int w = (int)json_integer_value(json_object_get(json_object_get(j, "traffic"), slot));
    json_decref(j);
    return w;
}

static void version_of(const char *body, char *out, size_t size)
{
    const char *p = body ? strstr(body, "\"version\":\"") : NULL;
    const char *e = p ? strchr(p + 11, '"') : NULL;

    out[0] = '\0';
    if (e != NULL)
        snprintf(out, size, "%.*s", (int)(e - (p + 11)), p + 11);
}

void dfx_version(dfx_t *f, char *out, size_t size)
{
    bgt_resp_t r = {0};

    out[0] = '\0';
    if (bgt_http_get(f->port, "orders.local", "/", &r, 2000) && r.status == 200)
        version_of(r.body, out, size);
    bgt_resp_fini(&r);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void dfx_handles(dfx_t *f, const char *slot, char *out, size_t size)
{
    int st;
    json_t *j = dfx_api(f, "GET", "/v1/services/orders", NULL, &st);
    json_t *ts = json_object_get(json_object_get(json_object_get(j, "slots"), slot), "targets");
    const char *h[16];
    size_t n = 0, len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(ts) && n < 16; i++)
        h[n++] = json_string_value(
            json_object_get(json_object_get(json_array_get(ts, i), "instance"), "handle"));
    qsort(h, n, sizeof(*h), cmp_str);
    for (size_t i = 0; i < n && len + 1 < size; i++)
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? " " : "", h[i] ? h[i] : "?");
    json_decref(j);
}

/* ---- load ---- */

static void count_version(dfx_load_t *l, const char *body)
{
    char v[16];

    version_of(body, v, sizeof(v));
    for (int i = 0; i < 8; i++) {
        if (l->versions[i][0] == '\0')
            snprintf(l->versions[i], sizeof(l->versions[i]), "%s", v);
        if (strcmp(l->versions[i], v) == 0) {
            atomic_fetch_add(&l->by_version[i], 1);
            return;
        }
    }
}

static const char REQ[] = "GET / HTTP/1.1\r\nHost: orders.local\r\n\r\n";

/* Retrying mode: whether the first byte of an answer arrives on <fd>: 1 yes, 0 the
 * connection was closed or reset before it (nothing was answered: safe to send again),
 * -1 nothing within <timeout_ms> (a hang counts as a failure). */
static int first_byte(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;
    ssize_t n;
    int r;

    /* SIGCHLD from the in-process server's instances interrupts poll(); that is no hang. */
    while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return -1;
    n = recv(fd, &c, 1, MSG_PEEK);
    return n == 1 ? 1 : 0;
}

/* Connects (again) and sends the request until the first byte of an answer arrives, the
 * load stops, or the answer does not come in time. Returns false when stopped. */
static bool send_retrying(dfx_load_t *l, int *fd, int *fb)
{
    while (!atomic_load(&l->stop)) {
        if (*fd < 0)
            *fd = bgt_connect(l->port);
        if (*fd >= 0 && bgt_write_all(*fd, REQ, sizeof(REQ) - 1) &&
            (*fb = first_byte(*fd, 5000)) != 0)
            return true;
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        atomic_fetch_add(&l->retried, 1);
        usleep(2000);
    }
    return false;
}

/* One request on *fd (a keep-alive connection, opened again when the proxy closed it).
 * Strict: anything but a 2xx response counts as failed (in retrying mode, a request that
 * got no byte of an answer is sent again first). */
static void one_request(dfx_load_t *l, int *fd)
{
    bgt_resp_t r = {0};
    int fb = 1;

    if (l->retry && !send_retrying(l, fd, &fb))
        return;
    if (!l->retry && *fd < 0)
        *fd = bgt_connect(l->port);
    if (fb < 0 || *fd < 0 || (!l->retry && !bgt_write_all(*fd, REQ, sizeof(REQ) - 1)) ||
        !bgt_read_response(*fd, &r, 5000)) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        atomic_fetch_add(&l->failed, 1);
        snprintf(l->last_failure, sizeof(l->last_failure), "%s",
                 fb < 0 ? "no answer within 5 s" : "no response (connect/write/read)");
        bgt_resp_fini(&r);
        return;
    }
    if (r.status >= 200 && r.status < 300) {
        atomic_fetch_add(&l->ok, 1);
        count_version(l, r.body);
    } else {
        atomic_fetch_add(&l->failed, 1);
        snprintf(l->last_failure, sizeof(l->last_failure), "status %d: %.200s", r.status,
                 r.body ? r.body : "");
    }
    if (r.closed) {
        close(*fd);
        *fd = -1;
    }
    bgt_resp_fini(&r);
}

static void *load_main(void *arg)
{
    dfx_load_t *l = arg;
    int fds[16];

    for (int i = 0; i < l->conns; i++)
        fds[i] = -1;
    for (unsigned k = 0; !atomic_load(&l->stop); k++)
        one_request(l, &fds[k % (unsigned)l->conns]);
    for (int i = 0; i < l->conns; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return NULL;
}

static void load_start(dfx_t *f, int conns, bool retry)
{
    dfx_load_t *l = &f->load;

    memset(l, 0, sizeof(*l));
    l->port = f->port;
    l->retry = retry;
    l->conns = conns > 16 ? 16 : conns;
    f->load_running = true;
    cr_assert_eq(pthread_create(&l->thread, NULL, load_main, l), 0);
}

void dfx_load_start(dfx_t *f, int conns)
{
    load_start(f, conns, false);
}

void dfx_load_start_retrying(dfx_t *f, int conns)
{
    load_start(f, conns, true);
}

unsigned long dfx_load_stop(dfx_t *f)
{
    dfx_load_t *l = &f->load;

    if (!f->load_running)
        return 0;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    f->load_running = false;
    cr_log_info("load: %lu ok, %lu failed, %lu sent again%s%s", atomic_load(&l->ok),
                atomic_load(&l->failed), atomic_load(&l->retried),
                l->last_failure[0] ? "; last: " : "", l->last_failure);
    for (int i = 0; i < 8 && l->versions[i][0]; i++)
        cr_log_info("load: version %s answered %lu", l->versions[i],
                    atomic_load(&l->by_version[i]));
    return atomic_load(&l->failed);
}
