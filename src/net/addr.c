/* Address parsing and formatting for listeners and targets. */
#include "net/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static int split_host_port(const char *s, char *host, size_t host_size, uint64_t *port,
                           bg_err_t *err)
{
    const char *colon;
    size_t hlen;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return bg_err_set(err, BG_EINVAL, "address \"%s\": expected [ipv6]:port", s);
        hlen = (size_t)(close - s - 1);
        if (hlen >= host_size)
            return bg_err_set(err, BG_EINVAL, "address \"%s\": host too long", s);
        memcpy(host, s + 1, hlen);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return bg_err_set(err, BG_EINVAL, "address \"%s\": expected host:port", s);
        hlen = (size_t)(colon - s);
        if (hlen >= host_size)
            return bg_err_set(err, BG_EINVAL, "address \"%s\": host too long", s);
        memcpy(host, s, hlen);
    }
    host[hlen] = '\0';
    if (!bg_str_to_u64(bg_str(colon + 1), 65535, port))
        return bg_err_set(err, BG_EINVAL, "address \"%s\": invalid port", s);
    return 0;
}

int bg_net_addr_parse(const char *s, struct sockaddr_storage *out, socklen_t *out_len,
                      bg_err_t *err)
{
    char host[256] = ""; /* both set by split_host_port() whenever it returns 0 */
    uint64_t port = 0;
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    struct addrinfo hints, *res = NULL;
    int rc;

    if (!s)
        return bg_err_set(err, BG_EINVAL, "address missing");
    rc = split_host_port(s, host, sizeof(host), &port, err);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    if (host[0] == '\0' || strcmp(host, "*") == 0)
        memcpy(host, "0.0.0.0", 8);
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        *out_len = sizeof(*in4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        *out_len = sizeof(*in6);
        return 0;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_family = AF_UNSPEC;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return bg_err_set(err, BG_EINVAL, "address \"%s\": cannot resolve %s: %s", s, host,
                          gai_strerror(rc));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    if (res->ai_family == AF_INET6)
        in6->sin6_port = htons((uint16_t)port);
    else
        in4->sin_port = htons((uint16_t)port);
    freeaddrinfo(res);
    return 0;
}

size_t bg_net_ip_format(const struct sockaddr *sa, char *out, size_t size)
{
    const void *a;

    if (sa->sa_family == AF_INET)
        a = &((const struct sockaddr_in *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    else
        return 0;
    if (!inet_ntop(sa->sa_family, a, out, (socklen_t)size))
        return 0;
    return strlen(out);
}

int bg_net_local_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);

    memset(&ss, 0, sizeof(ss)); /* the analyzer does not model what getsockname() writes */
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return -errno;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

void bg_net_nodelay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
