/* `bluegreen serve` stops cleanly on SIGTERM and SIGINT: bg_server_run() returns 0 (the
 * loop closed with no handle left), the admin socket is removed, the proxy no longer
 * accepts, and a stale socket left by a crashed daemon does not block the next start.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "base/base.h"
#include "server_fixture.h"

static sfx_t f;

static void stop_with(int signum)
{
    char *sock;
    int port;

    sfx_start(&f, NULL);
    sock = bg_strdup(f.sock);
    port = f.proxy_port;
    cr_assert_eq(sfx_get(&f, "/x", NULL), SFX_BLUE);
    cr_assert_eq(kill(getpid(), signum), 0);
    pthread_join(f.thread, NULL);
    f.running = false;
    cr_assert_eq(f.run_rc, 0, "bg_server_run failed after signal %d", signum);
    cr_assert_neq(access(sock, F_OK), 0, "admin socket left behind");
    cr_assert_eq(bgt_connect(port), -1, "proxy still accepting after stop");
    sfx_stop(&f);
    free(sock);
}

Test(server_signal, sigterm_stops_cleanly, .timeout = 60)
{
    stop_with(SIGTERM);
}

Test(server_signal, sigint_stops_cleanly, .timeout = 60)
{
    stop_with(SIGINT);
}

Test(server_signal, stale_socket_is_replaced_live_one_is_not, .timeout = 60)
{
    char *dir = bgt_tmpdir("stale");
    char *state = bg_asprintf("%s/state", dir);
    char *path = bg_asprintf("%s/state/bluegreen.sock", dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    bg_server_t *second;
    bg_err_t err;
    cresp_t r;

    /* A socket file nobody listens on, as a crashed daemon leaves it. */
    cr_assert_eq(mkdir(state, 0700), 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    sfx_start(&f, &(sfx_opts_t){.dir = dir});
    cr_assert_str_eq(f.sock, path);
    cr_assert(sfx_admin(&f, "GET", "/v1/health", NULL, &r));
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);

    /* A second daemon on the same state_dir must refuse and leave the live socket alone. */
    bg_err_clear(&err);
    second = bg_server_new(sfx_config(&f, &(sfx_opts_t){.dir = dir}), &err);
    cr_assert_not_null(second, "%s", err.msg);
    cr_assert_eq(bg_server_start(second, &err), BG_EEXIST, "%s", err.msg);
    bg_server_free(second);
    cr_assert(sfx_admin(&f, "GET", "/v1/health", NULL, &r), "live socket was taken over");
    cr_assert_eq(r.status, 200);
    cresp_fini(&r);
    sfx_stop(&f);
    free(path);
    free(state);
    free(dir);
}

Test(server_signal, a_failed_start_cleans_up, .timeout = 60)
{
    sfx_t g;
    bg_config_t *cfg;
    bg_server_t *s;
    bg_err_t err;
    char *sock;
    int busy = bgt_free_port();
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)busy),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    /* Something else already listens on the production address. */
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    memset(&g, 0, sizeof(g));
    g.dir = bgt_tmpdir("startfail");
    cfg = sfx_config(&g, &(sfx_opts_t){.blue_addr = "127.0.0.1:1", .green_addr = "127.0.0.1:2"});
    free(cfg->listen);
    cfg->listen = bg_asprintf("127.0.0.1:%d", busy);
    bg_err_clear(&err);
    s = bg_server_new(cfg, &err);
    cr_assert_not_null(s, "%s", err.msg);
    cr_assert_neq(bg_server_start(s, &err), 0, "started on a busy port");
    cr_assert_neq(err.msg[0], '\0');
    sock = bg_strdup(bg_server_admin_path(s));
    bg_server_free(s); /* stops what started: admin socket removed, loop closed */
    cr_assert_neq(access(sock, F_OK), 0, "admin socket left behind by a failed start");
    close(fd);
    free(sock);
    free(g.dir);
}
