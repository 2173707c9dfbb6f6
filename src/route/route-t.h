/* Layout of the routing snapshot and of targets, shared by the control thread (which
 * builds and publishes) and the data-plane workers (which read). Includes only system
 * headers and other -t.h (HAProxy's types-split rule).
 *
 * Sharing rules:
 *  - A snapshot is immutable after bg_route_snapshot_seal(); workers read it without locks.
 *  - A target (bg_target_t) outlives every snapshot that points at it (ref-counted). Its
 *    identity fields are immutable; its _Atomic fields are the only state shared between
 *    threads (health, passive-failure count, traffic counters), accessed with relaxed
 *    atomics. `ctl` is touched by the control thread only.
 */
#ifndef BG_ROUTE_ROUTE_T_H
#define BG_ROUTE_ROUTE_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Latency histogram bucket upper bounds in microseconds; the last bucket is +Inf. Keep in
 * sync with BG_LATENCY_BOUNDS_US in route.c. */
#define BG_LATENCY_BUCKETS 14

/* Counters for one target or one slot. Monotonic except `active`. */
typedef struct bg_traffic_stats {
    _Atomic uint64_t responses[6];  /* [0]: failed with no response from the target (502/504
                                       made by us); [1..5]: 1xx..5xx from the target */
    _Atomic uint64_t bytes_in;      /* request body+head bytes sent to targets */
    _Atomic uint64_t bytes_out;     /* response bytes sent back to clients */
    _Atomic uint64_t latency_us_sum;
    _Atomic uint64_t latency_bucket[BG_LATENCY_BUCKETS]; /* non-cumulative counts */
    _Atomic int64_t active;         /* requests in flight */
} bg_traffic_stats_t;

/* Per-service counters that outlive snapshots (owned by the control thread's service). */
typedef struct bg_service_stats {
    _Atomic uint32_t refs;
    bg_traffic_stats_t slot[2];     /* by bg_slot_t */
    _Atomic uint64_t no_target;     /* 503: slot had no healthy target */
} bg_service_stats_t;

typedef struct bg_target {
    _Atomic uint32_t refs;
    uint64_t id;                    /* unique in this process, > 0 */
    char *service;                  /* owned */
    int slot;                       /* bg_slot_t */
    char addr_str[80];              /* "127.0.0.1:9001" as configured */
    struct sockaddr_storage addr;
    socklen_t addr_len;

    _Atomic int healthy;            /* 1: may receive traffic */
    _Atomic int draining;           /* 1: deregistered: finish in-flight, take no new */
    _Atomic uint32_t passive_failures; /* consecutive connect failures / 5xx (workers) */
    _Atomic int passive_ejected;    /* set by a worker when it ejects; cleared by health */
    _Atomic int64_t conns;          /* open upstream connections, all workers */
    bg_traffic_stats_t stats;
    char version[64];               /* revision it runs ("" unknown: static targets); set
                                     * before the target is first published (access log) */

    void *ctl;                      /* control thread only (health state, driver handle) */
} bg_target_t;

typedef struct bg_route_slot {
    uint32_t weight;                /* 0..100; the two slots of a service sum to 100 */
    size_t n_targets;
    bg_target_t **targets;          /* each holds one ref owned by the snapshot */
} bg_route_slot_t;

typedef struct bg_route_service {
    const char *name;               /* owned by the snapshot, like host and prefix */
    const char *host;               /* NULL: any host; lower case, no port */
    size_t host_len;
    const char *prefix;             /* path prefix, starts with '/' */
    size_t prefix_len;
    bg_route_slot_t slot[2];        /* by bg_slot_t */
    int live_slot;                  /* slot with the larger weight (blue on a tie) */
    int preview_slot;               /* -1: none; else the non-live slot when it has targets
                                       (test listener and X-Bluegreen-Slot: preview) */
    bool sticky;                    /* cookie pins a client's slot while split */
    uint32_t drain_ms;              /* how long in-flight work to a weight-0 slot may last */
    uint32_t passive_failures;      /* threshold for passive ejection; 0 = off */
    uint32_t retries;               /* max other targets tried before any byte was sent */
    bg_service_stats_t *stats;      /* one ref owned by the snapshot */
} bg_route_service_t;

typedef struct bg_route_snapshot {
    _Atomic uint32_t refs;
    uint64_t generation;            /* set by bg_router_publish(); strictly increasing */
    size_t n_services;
    bg_route_service_t *services;   /* sorted: hosted before any-host, longer prefix first */
    bool sealed;
} bg_route_snapshot_t;

#endif
