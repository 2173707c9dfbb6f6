/* `bluegreen serve` started with systemd semantics (Type=notify): $NOTIFY_SOCKET names a
 * datagram socket this test owns, as the service manager's. READY=1 must arrive, and only
 * once the production listener and the admin endpoint answer (checked the instant it
 * arrives, without waiting); the process-driver target it started must not inherit
 * NOTIFY_SOCKET; `bluegreen shutdown --stop-targets` must bring STOPPING=1 and a clean
 * exit. Both a filesystem socket and an abstract one ("@name") are tried.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "e2e/cli_run.h"
#include "support/support.h"

#define WAIT_MS 20000

typedef struct fixture {
    char *dir, *cfg, *admin, *notify_env;
    int port;
    int sock; /* the "service manager" end */
    pid_t serve;
} fixture_t;

static fixture_t f = {.sock = -1};

/* Binds the manager's datagram socket: at <dir>/notify.sock, or abstract when <abstract>. */
static void bind_manager(bool abstract)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len;

    f.sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert(f.sock >= 0);
    if (abstract) {
        int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "bg-notify-test-%d-%ld",
                         (int)getpid(), (long)time(NULL));
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
        f.notify_env = bg_asprintf("NOTIFY_SOCKET=@%s", sa.sun_path + 1);
    } else {
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/notify.sock", f.dir);
        len = sizeof(sa);
        f.notify_env = bg_asprintf("NOTIFY_SOCKET=%s", sa.sun_path);
    }
    cr_assert(bind(f.sock, (struct sockaddr *)&sa, len) == 0, "bind: %s", strerror(errno));
}

static void start(bool abstract)
{
    f.dir = bgt_tmpdir("sd-notify");
    f.port = bgt_free_port();
    bind_manager(abstract);
    char *yaml = bg_asprintf("listen: 127.0.0.1:%d\n"
                             "admin: unix:%s/bg.sock\n"
                             "state_dir: %s/state\n"
                             "proxy: {workers: 2}\n"
                             "services:\n"
                             "  web:\n"
                             "    route: {host: web.local}\n"
                             "    version: 1.0.0\n"
                             "    run: {command: [\"%s\", \"--service\", \"web\"]}\n"
                             "    health: {path: /actuator/health, interval: 100ms}\n",
                             f.port, f.dir, f.dir, bgt_bin("sample-app"));
    f.cfg = bg_asprintf("%s/bluegreen.yaml", f.dir);
    FILE *fp = fopen(f.cfg, "w");
    cr_assert(fp != NULL);
    fputs(yaml, fp);
    fclose(fp);
    free(yaml);
    f.admin = bg_asprintf("unix:%s/bg.sock", f.dir);

    char *log = bg_asprintf("%s/serve.log", f.dir);
    const char *const argv[] = {bgt_bin("bluegreen"), "serve", "-c", f.cfg, NULL};
    const char *const env[] = {f.notify_env, NULL};
    f.serve = bgt_spawn(argv, env, log);
    free(log);
}

static void stop(void)
{
    if (f.serve > 0) {
        /* Only when a test failed half-way: stop the targets too, then the daemon. */
        cli_res_t r;
        CLI_RUN(&r, "--admin", f.admin, "shutdown", "--stop-targets");
        cli_res_fini(&r);
        bgt_stop(f.serve, 10000);
    }
    if (f.sock >= 0)
        close(f.sock);
    free(f.dir);
    free(f.cfg);
    free(f.admin);
    free(f.notify_env);
    memset(&f, 0, sizeof(f));
    f.sock = -1;
}

/* The next datagram within <timeout_ms>, NUL-terminated in <buf>; false on timeout. */
static bool recv_state(char *buf, size_t size, int timeout_ms)
{
    struct pollfd p = {.fd = f.sock, .events = POLLIN};
    if (poll(&p, 1, timeout_ms) != 1)
        return false;
    ssize_t n = recv(f.sock, buf, size - 1, 0);
    cr_assert(n >= 0, "recv: %s", strerror(errno));
    buf[n] = '\0';
    return true;
}

/* Pid of a child of serve whose environment holds BLUEGREEN_SERVICE=web, or 0; its
 * environment in <env> (NUL-separated), <env_len> bytes. */
typedef struct target_env {
    pid_t pid;
    char env[16384];
    size_t len;
} target_env_t;

static bool read_file(const char *path, char *buf, size_t size, size_t *len)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL)
        return false;
    *len = fread(buf, 1, size - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return true;
}

static bool env_has(const char *env, size_t len, const char *prefix)
{
    for (size_t i = 0; i < len; i += strlen(env + i) + 1)
        if (strncmp(env + i, prefix, strlen(prefix)) == 0)
            return true;
    return false;
}

static bool find_target(void *arg)
{
    target_env_t *t = arg;
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[64], stat[512];
    size_t len;

    while (d != NULL && (e = readdir(d)) != NULL) {
        long pid = strtol(e->d_name, NULL, 10);
        if (pid <= 0)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if (!read_file(path, stat, sizeof(stat), &len))
            continue;
        char *rp = strrchr(stat, ')');
        int ppid = 0;
        if (rp == NULL || sscanf(rp + 2, "%*c %d", &ppid) != 1 || ppid != f.serve)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if (read_file(path, t->env, sizeof(t->env), &t->len) &&
            env_has(t->env, t->len, "BLUEGREEN_SERVICE=web")) {
            t->pid = (pid_t)pid;
            closedir(d);
            return true;
        }
    }
    if (d != NULL)
        closedir(d);
    return false;
}

static bool serve_exited(void *arg)
{
    return bgt_exited(f.serve, arg);
}

static void ready_then_stop(void)
{
    char state[256];
    bool got = recv_state(state, sizeof(state), WAIT_MS);
    cr_assert(got, "no notification from serve within %d ms (see %s/serve.log)", WAIT_MS, f.dir);
    cr_assert(strncmp(state, "READY=1", 7) == 0, "first notification is not READY=1: %s", state);

    /* The listeners are up at READY: no waiting, no retry. */
    int fd = bgt_connect(f.port);
    cr_assert(fd >= 0, "READY=1 came before the production listener accepted");
    close(fd);
    bgt_resp_t resp = {0};
    cr_assert(bgt_http_get(f.port, "nowhere.local", "/", &resp, 5000));
    cr_assert_eq(resp.status, 404, "unknown host: %d %s", resp.status, resp.body);
    bgt_resp_fini(&resp);
    cli_res_t r;
    CLI_RUN(&r, "--admin", f.admin, "status");
    cr_assert_eq(r.code, 0, "admin endpoint not up at READY=1: %s%s", r.out, r.err);
    cr_assert(strstr(r.out, "web") != NULL, "%s", r.out);
    cli_res_fini(&r);

    /* The target serve started does not inherit the manager's socket. */
    target_env_t t = {0};
    cr_assert(bgt_wait_until(find_target, &t, WAIT_MS), "no sample-app child of serve found");
    cr_assert(!env_has(t.env, t.len, "NOTIFY_SOCKET="), "target %d inherited NOTIFY_SOCKET",
              (int)t.pid);

    CLI_RUN(&r, "--admin", f.admin, "shutdown", "--stop-targets");
    cr_assert_eq(r.code, 0, "shutdown: %s%s", r.out, r.err);
    cli_res_fini(&r);
    cr_assert(recv_state(state, sizeof(state), WAIT_MS), "no STOPPING=1 after shutdown");
    cr_assert_str_eq(state, "STOPPING=1");
    int status = 0;
    cr_assert(bgt_wait_until(serve_exited, &status, 15000), "serve did not exit after STOPPING=1");
    f.serve = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "serve ended with status %d",
              status);
    cr_assert(kill(t.pid, 0) != 0, "target %d still runs after shutdown --stop-targets",
              (int)t.pid);
}

Test(sd_notify, ready_after_listeners_filesystem_socket, .fini = stop, .timeout = 90)
{
    start(false);
    ready_then_stop();
}

Test(sd_notify, ready_after_listeners_abstract_socket, .fini = stop, .timeout = 90)
{
    start(true);
    ready_then_stop();
}
