/* Targets and traffic counters: the state shared between the control thread and the
 * workers. Identity is immutable after bg_target_new(); everything else is a relaxed
 * atomic (counters and flags need no ordering with other memory). */
#include "route/route.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

const uint64_t bg_latency_bounds_us[BG_LATENCY_BUCKETS] = {
    500,    1000,    2500,    5000,    10000,   25000,    50000,
    100000, 250000,  500000,  1000000, 2500000, 10000000, UINT64_MAX,
};

static _Atomic uint64_t next_target_id = 1;

/* Splits "host:port" / "[v6]:port" into <host> and <port>. */
static int split_host_port(const char *addr, char *host, size_t host_size, uint16_t *port,
                           bg_err_t *err)
{
    const char *colon;
    const char *h = addr;
    size_t hlen;
    uint64_t p;

    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL || close[1] != ':')
            return bg_err_set(err, BG_EINVAL, "address '%s': expected [ipv6]:port", addr);
        h = addr + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(addr, ':');
        if (colon == NULL)
            return bg_err_set(err, BG_EINVAL, "address '%s': expected host:port", addr);
        hlen = (size_t)(colon - addr);
    }
    if (hlen == 0 || hlen >= host_size)
        return bg_err_set(err, BG_EINVAL, "address '%s': missing or too long host", addr);
    if (!bg_str_to_u64(bg_str(colon + 1), 65535, &p) || p == 0)
        return bg_err_set(err, BG_EINVAL, "address '%s': port must be 1-65535", addr);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

int bg_addr_resolve(const char *addr, struct sockaddr_storage *out, socklen_t *out_len,
                    bg_err_t *err)
{
    char host[256];
    char port_str[8];
    uint16_t port = 0;
    struct addrinfo hints, *res = NULL;
    int rc;

    rc = split_host_port(addr, host, sizeof(host), &port, err);
    if (rc < 0)
        return rc;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    snprintf(port_str, sizeof(port_str), "%u", (unsigned)port);
    rc = getaddrinfo(host, port_str, &hints, &res);
    if (rc != 0 || res == NULL) {
        /* AI_ADDRCONFIG hides loopback-only families on a host with no network. */
        hints.ai_flags = AI_NUMERICSERV;
        rc = getaddrinfo(host, port_str, &hints, &res);
    }
    if (rc != 0 || res == NULL)
        return bg_err_set(err, BG_EINVAL, "address '%s': cannot resolve host: %s", addr,
                          gai_strerror(rc));
    memset(out, 0, sizeof(*out));
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *out_len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

bg_target_t *bg_target_new(const char *service, int slot, const char *addr, bool healthy,
                           bg_err_t *err)
{
    bg_target_t *t;
    struct sockaddr_storage ss;
    socklen_t len = 0;

    if (addr == NULL || strlen(addr) >= sizeof(t->addr_str)) {
        bg_err_set(err, BG_EINVAL, "address missing or too long");
        return NULL;
    }
    if (bg_addr_resolve(addr, &ss, &len, err) < 0)
        return NULL;
    t = BG_NEW(bg_target_t);
    atomic_init(&t->refs, 1);
    t->id = atomic_fetch_add(&next_target_id, 1);
    t->service = bg_strdup(service);
    t->slot = slot;
    snprintf(t->addr_str, sizeof(t->addr_str), "%s", addr);
    t->addr = ss;
    t->addr_len = len;
    atomic_init(&t->healthy, healthy ? 1 : 0);
    return t;
}

bg_target_t *bg_target_ref(bg_target_t *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void bg_target_unref(bg_target_t *t)
{
    if (t == NULL)
        return;
    if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    BG_ASSERT(t->ctl == NULL);
    free(t->service);
    free(t);
}

void bg_target_set_healthy(bg_target_t *t, bool healthy)
{
    atomic_store_explicit(&t->healthy, healthy ? 1 : 0, memory_order_relaxed);
}

void bg_traffic_record(bg_traffic_stats_t *s, int status, uint64_t latency_us)
{
    int cls = (status >= 100 && status < 600) ? status / 100 : 0;
    size_t b = 0;

    atomic_fetch_add_explicit(&s->responses[cls], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->latency_us_sum, latency_us, memory_order_relaxed);
    while (latency_us > bg_latency_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&s->latency_bucket[b], 1, memory_order_relaxed);
}

bg_service_stats_t *bg_service_stats_new(void)
{
    bg_service_stats_t *s = BG_NEW(bg_service_stats_t);
    atomic_init(&s->refs, 1);
    return s;
}

bg_service_stats_t *bg_service_stats_ref(bg_service_stats_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void bg_service_stats_unref(bg_service_stats_t *s)
{
    if (s == NULL)
        return;
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        free(s);
}
