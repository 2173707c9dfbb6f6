/* bench/deploy_probe.c — runs a command (a bluegreen CLI call) and, at the same time,
 * sends GET / over one keep-alive connection to 127.0.0.1:PORT as fast as it answers,
 * until the answer's "version" is VERSION. Prints (milliseconds from just before the
 * command was started):
 *   cli_ms=<when the command exited> first_ms=<when the first VERSION answer arrived>
 * Used by bench/deploy_bench.sh; standalone (cc -O2 -o probe deploy_probe.c).
 * Usage: deploy_probe PORT VERSION -- CMD ARGS...
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int connect_port(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* One GET; true if the answer names <version>. Reconnects on errors. */
static int probe(int *fd, int port, const char *version)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: probe\r\n\r\n";
    char buf[8192], want[96];
    ssize_t n;
    size_t got = 0;

    if (*fd < 0 && (*fd = connect_port(port)) < 0)
        return 0;
    if (write(*fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
        goto reset;
    /* The sample-app's answers are small and end with "}": read until then. */
    while (got < sizeof(buf) - 1 && (n = read(*fd, buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL && buf[got - 1] == '}')
            break;
    }
    if (got == 0)
        goto reset;
    snprintf(want, sizeof(want), "\"version\":\"%s\"", version);
    return strstr(buf, want) != NULL;
reset:
    close(*fd);
    *fd = -1;
    return 0;
}

int main(int argc, char **argv)
{
    int port, fd = -1, status = 0;
    double t0, first = -1, cli = -1;
    pid_t pid;

    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: %s PORT VERSION -- CMD ARGS...\n", argv[0]);
        return 2;
    }
    port = atoi(argv[1]);      /* bench tool: base/compat.h poisoning does not apply here */
    probe(&fd, port, argv[2]); /* warm the keep-alive connection */
    t0 = now_ms();
    pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        execvp(argv[4], &argv[4]);
        _exit(127);
    }
    while (first < 0 || cli < 0) {
        if (first < 0 && probe(&fd, port, argv[2]))
            first = now_ms() - t0;
        if (cli < 0 && waitpid(pid, &status, WNOHANG) == pid)
            cli = now_ms() - t0;
        if (now_ms() - t0 > 120000)
            break;
    }
    printf("cli_ms=%.2f first_ms=%.2f exit=%d\n", cli, first,
           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
