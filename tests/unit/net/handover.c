/* Unit tests for src/net/handover.c: descriptors sent with SCM_RIGHTS arrive and work, the
 * byte stream around them is whole, timeouts are bounded, and a listener is recognised by
 * its address (port 0 = any). Real sockets on loopback and socketpairs. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/base.h"
#include "net/net.h"

static int pair[2] = {-1, -1};

static void setup(void)
{
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair), 0);
}

static void teardown(void)
{
    close(pair[0]);
    close(pair[1]);
}

TestSuite(net_handover, .init = setup, .fini = teardown, .timeout = 20);

Test(net_handover, descriptors_arrive_and_work)
{
    int p[2], got[4];
    size_t n_got = 0;
    char buf[64] = {0}, c = 0;

    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    cr_assert_eq(bg_net_send_fds(pair[0], "hello", 5, &p[1], 1, 1000), 0);
    cr_assert_eq(bg_net_recv_fds(pair[1], buf, sizeof(buf), got, 4, &n_got, 1000), 5);
    cr_assert_str_eq(buf, "hello");
    cr_assert_eq(n_got, 1);
    cr_assert_neq(got[0], p[1], "the receiver gets its own descriptor");
    cr_assert(fcntl(got[0], F_GETFD) & FD_CLOEXEC, "received fds are close-on-exec");
    close(p[1]); /* ours closed: the pipe lives on in the received copy */
    cr_assert_eq(write(got[0], "x", 1), 1);
    cr_assert_eq(read(p[0], &c, 1), 1);
    cr_assert_eq(c, 'x');
    close(got[0]);
    close(p[0]);
}

Test(net_handover, many_descriptors_and_more_than_max_closed)
{
    int fds[8], got[3];
    size_t n_got = 0;
    char buf[8];

    for (int i = 0; i < 8; i++)
        fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    cr_assert_eq(bg_net_send_fds(pair[0], "x", 1, fds, 8, 1000), 0);
    cr_assert_eq(bg_net_recv_fds(pair[1], buf, sizeof(buf), got, 3, &n_got, 1000), 1);
    cr_assert_eq(n_got, 3, "only max_fds kept; the rest are closed, not leaked");
    for (int i = 0; i < 8; i++)
        close(fds[i]);
    for (size_t i = 0; i < n_got; i++)
        close(got[i]);
}

Test(net_handover, refuses_bad_arguments)
{
    int fd = 0;

    cr_assert_eq(bg_net_send_fds(pair[0], "", 0, NULL, 0, 100), BG_EINVAL);
    cr_assert_eq(bg_net_send_fds(pair[0], "x", 1, &fd, BG_NET_MAX_FDS + 1, 100), BG_EINVAL);
}

Test(net_handover, receive_times_out_and_sees_eof)
{
    char buf[8];
    size_t n = 0;
    int fds[1];
    uint64_t t0 = bg_now_ms();

    cr_assert_eq(bg_net_recv_fds(pair[1], buf, sizeof(buf), fds, 1, &n, 100), BG_ETIMEDOUT);
    cr_assert_geq(bg_now_ms() - t0, 90);
    shutdown(pair[0], SHUT_WR);
    cr_assert_eq(bg_net_recv_fds(pair[1], buf, sizeof(buf), fds, 1, &n, 1000), 0);
}

Test(net_handover, send_fails_on_a_closed_peer)
{
    close(pair[1]);
    pair[1] = -1;
    cr_assert_eq(bg_net_send_fds(pair[0], "x", 1, NULL, 0, 100), -EPIPE);
}

static int listen_on(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    bg_err_t err;
    int fd;

    cr_assert_eq(bg_net_addr_parse(addr, ss, len, &err), 0);
    fd = bg_net_listen((struct sockaddr *)ss, *len, 16, addr, &err);
    cr_assert_geq(fd, 0, "%s", err.msg);
    return fd;
}

Test(net_handover, listener_matches_its_address)
{
    struct sockaddr_storage ss, want;
    socklen_t len, wlen;
    bg_err_t err;
    int fd = listen_on("127.0.0.1:0", &ss, &len);
    int port = bg_net_local_port(fd);
    char spec[64];

    cr_assert_eq(bg_net_addr_parse("127.0.0.1:0", &want, &wlen, &err), 0);
    cr_assert(bg_net_listener_matches(fd, (struct sockaddr *)&want), "port 0 matches any port");
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
    cr_assert_eq(bg_net_addr_parse(spec, &want, &wlen, &err), 0);
    cr_assert(bg_net_listener_matches(fd, (struct sockaddr *)&want));
    snprintf(spec, sizeof(spec), "127.0.0.1:%d", port == 65535 ? 1 : port + 1);
    cr_assert_eq(bg_net_addr_parse(spec, &want, &wlen, &err), 0);
    cr_assert_not(bg_net_listener_matches(fd, (struct sockaddr *)&want), "another port");
    cr_assert_eq(bg_net_addr_parse("127.0.0.2:0", &want, &wlen, &err), 0);
    cr_assert_not(bg_net_listener_matches(fd, (struct sockaddr *)&want), "another address");
    cr_assert_eq(bg_net_addr_parse("[::1]:0", &want, &wlen, &err), 0);
    cr_assert_not(bg_net_listener_matches(fd, (struct sockaddr *)&want), "another family");
    cr_assert_eq(bg_net_addr_parse("127.0.0.1:0", &want, &wlen, &err), 0);
    cr_assert_not(bg_net_listener_matches(pair[0], (struct sockaddr *)&want), "not TCP");
    close(fd);
}

Test(net_handover, a_connected_socket_is_not_a_listener)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = listen_on("127.0.0.1:0", &ss, &len);
    int port = bg_net_local_port(lfd);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof(to)), 0);
    cr_assert_not(bg_net_listener_matches(c, (struct sockaddr *)&to));
    close(c);
    close(lfd);
}

/* The point of handing sockets over: a connection waiting in the accept queue of a
 * listener survives the sender closing its descriptor and is accepted by the receiver. */
Test(net_handover, queued_connection_survives_the_hand_over)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int lfd = listen_on("127.0.0.1:0", &ss, &len);
    int port = bg_net_local_port(lfd);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int got[1], a;
    size_t n = 0;
    char buf[8] = {0};

    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(connect(c, (struct sockaddr *)&to, sizeof(to)), 0); /* queued, not accepted */
    cr_assert_eq(write(c, "ping", 4), 4);
    cr_assert_eq(bg_net_send_fds(pair[0], "L", 1, &lfd, 1, 1000), 0);
    close(lfd); /* the "old process" lets go */
    cr_assert_eq(bg_net_recv_fds(pair[1], buf, sizeof(buf), got, 1, &n, 1000), 1);
    cr_assert_eq(n, 1);
    a = accept(got[0], NULL, NULL);
    for (int i = 0; a < 0 && errno == EAGAIN && i < 100; i++) { /* non-blocking listener */
        usleep(10000);
        a = accept(got[0], NULL, NULL);
    }
    cr_assert_geq(a, 0, "the queued connection was lost: %s", strerror(errno));
    memset(buf, 0, sizeof(buf));
    cr_assert_eq(read(a, buf, 4), 4);
    cr_assert_str_eq(buf, "ping");
    close(a);
    close(c);
    close(got[0]);
}
