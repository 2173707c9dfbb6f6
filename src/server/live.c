/* Live figures for the dashboard (docs/internals/dashboard.md "Live data"): every
 * SRV_LIVE_INTERVAL_MS the control thread reads the per-slot counters the workers already
 * keep (relaxed atomics: no lock, nothing added to the request path), turns the difference
 * since the last sample into requests/s, error % and p99, and keeps the last
 * SRV_LIVE_SAMPLES in a ring. GET /v1/stats serves the ring (sparkline history); each new
 * sample also goes out as an SSE `stats` event to the event streams that asked for it.
 * Thread: control.
 */
#include "server/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* One sample of one slot. p99_ms: NAN = no request; INFINITY = beyond the last bound. */
typedef struct live_point {
    double rps;
    double error_pct; /* NAN = no request */
    double p99_ms;
    char version[48];
} live_point_t;

typedef struct live_slot {
    live_point_t ring[SRV_LIVE_SAMPLES];
    uint64_t prev_responses[6];
    uint64_t prev_bucket[BG_LATENCY_BUCKETS];
} live_slot_t;

struct srv_live {
    double t[SRV_LIVE_SAMPLES]; /* unix seconds */
    size_t head;                /* next index written */
    size_t n;                   /* samples held */
    uint64_t prev_ms;           /* monotonic time of the previous sample */
    size_t n_services;
    live_slot_t (*slots)[BG_SLOT_COUNT]; /* by service index, then slot */
};

/* The controller while it is open (not during a hand-over or shutdown), else NULL. */
static bg_deployer_t *deployer_of(bg_server_t *s)
{
    return s->deployer_closing || s->deployer_closed ? NULL : s->deployer;
}

/* Reads the counters of <st> as they are now. */
static void read_counters(const bg_traffic_stats_t *st, uint64_t resp[6], uint64_t bucket[])
{
    bg_traffic_stats_t *m = (bg_traffic_stats_t *)st; /* atomics are read, never written */

    for (int c = 0; c < 6; c++)
        resp[c] = LOAD(m->responses[c]);
    for (size_t b = 0; b < BG_LATENCY_BUCKETS; b++)
        bucket[b] = LOAD(m->latency_bucket[b]);
}

/* Upper bound (ms) of the bucket holding the 99th percentile of <delta> (<total> samples):
 * NAN for none, INFINITY past the last finite bound. */
static double p99_of(const uint64_t delta[], uint64_t total)
{
    uint64_t rank, seen = 0;

    if (total == 0)
        return NAN;
    rank = total - total / 100; /* the smallest count that covers 99% */
    for (size_t b = 0; b < BG_LATENCY_BUCKETS; b++) {
        seen += delta[b];
        if (seen >= rank)
            return bg_latency_bounds_us[b] == UINT64_MAX ? INFINITY
                                                         : (double)bg_latency_bounds_us[b] / 1000.0;
    }
    return INFINITY;
}

/* The sample of <svc>/<sl> over the last <secs> seconds into <p>. */
static void sample_slot(bg_server_t *s, srv_service_t *svc, int sl, live_slot_t *ls, double secs,
                        live_point_t *p)
{
    uint64_t resp[6], bucket[BG_LATENCY_BUCKETS], dbucket[BG_LATENCY_BUCKETS];
    uint64_t total = 0, bad, lat_total = 0;
    const char *version = NULL;

    read_counters(&svc->stats->slot[sl], resp, bucket);
    for (int c = 0; c < 6; c++)
        total += resp[c] - ls->prev_responses[c];
    bad = (resp[0] - ls->prev_responses[0]) + (resp[5] - ls->prev_responses[5]);
    for (size_t b = 0; b < BG_LATENCY_BUCKETS; b++) {
        dbucket[b] = bucket[b] - ls->prev_bucket[b];
        lat_total += dbucket[b];
    }
    memcpy(ls->prev_responses, resp, sizeof(resp));
    memcpy(ls->prev_bucket, bucket, sizeof(bucket));
    p->rps = secs > 0 ? (double)total / secs : 0;
    p->error_pct = total > 0 ? 100.0 * (double)bad / (double)total : NAN;
    p->p99_ms = p99_of(dbucket, lat_total);
    if (deployer_of(s) != NULL)
        bg_deployer_slot_revision(s->deployer, svc->cfg->name, sl, &version);
    snprintf(p->version, sizeof(p->version), "%s", version != NULL ? version : "");
}

srv_live_t *srv_live_new(bg_server_t *s)
{
    srv_live_t *l = BG_NEW(srv_live_t);

    l->n_services = s->n_services;
    l->slots = bg_xcalloc(s->n_services ? s->n_services : 1, sizeof(*l->slots));
    /* Counting starts now: the first sample covers the first interval, not all history. */
    for (size_t i = 0; i < s->n_services; i++) {
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++)
            read_counters(&s->services[i].stats->slot[sl], l->slots[i][sl].prev_responses,
                          l->slots[i][sl].prev_bucket);
    }
    l->prev_ms = bg_now_ms();
    return l;
}

void srv_live_free(srv_live_t *l)
{
    if (l == NULL)
        return;
    free(l->slots);
    free(l);
}

static json_t *num_or_null(double v)
{
    return isnan(v) || isinf(v) ? json_null() : json_real(round(v * 1000.0) / 1000.0);
}

/* The figures of a slot that are not a series: revision, weight, targets. */
static json_t *slot_head(bg_server_t *s, srv_service_t *svc, int sl)
{
    const char *version = NULL;
    int64_t rev = deployer_of(s) != NULL
                      ? bg_deployer_slot_revision(s->deployer, svc->cfg->name, sl, &version)
                      : 0;
    size_t healthy = 0;

    for (size_t k = 0; k < svc->slot[sl].n; k++)
        healthy += bg_target_is_healthy(svc->slot[sl].targets[k]);
    return json_pack("{s:s,s:I,s:i,s:{s:I,s:I}}", "version", version != NULL ? version : "",
                     "revision", (json_int_t)rev, "weight", (int)svc->weight[sl], "targets",
                     "healthy", (json_int_t)healthy, "total", (json_int_t)svc->slot[sl].n);
}

static void add_point(json_t *obj, const live_point_t *p)
{
    json_object_set_new(obj, "rps", num_or_null(p->rps));
    json_object_set_new(obj, "error_pct", num_or_null(p->error_pct));
    json_object_set_new(obj, "p99_ms", num_or_null(p->p99_ms));
    if (isinf(p->p99_ms))
        json_object_set_new(obj, "p99_over_10s", json_true());
}

/* The newest sample of every service, as the SSE `stats` event carries it. */
static json_t *last_json(bg_server_t *s, srv_live_t *l, double t)
{
    size_t idx = (l->head + SRV_LIVE_SAMPLES - 1) % SRV_LIVE_SAMPLES;
    json_t *services = json_object();

    for (size_t i = 0; i < l->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        json_t *one = json_object();
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            json_t *o = slot_head(s, svc, sl);
            add_point(o, &l->slots[i][sl].ring[idx]);
            json_object_set_new(one, bg_slot_str((bg_slot_t)sl), o);
        }
        json_object_set_new(services, svc->cfg->name, one);
    }
    return json_pack("{s:f,s:i,s:o}", "t", t, "interval_ms", SRV_LIVE_INTERVAL_MS, "services",
                     services);
}

void srv_live_sample(bg_server_t *s)
{
    srv_live_t *l = s->live;
    uint64_t now = bg_now_ms();
    double secs = (double)(now - l->prev_ms) / 1000.0;
    double t = (double)bg_wall_ms() / 1000.0;

    l->prev_ms = now;
    for (size_t i = 0; i < l->n_services; i++) {
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++)
            sample_slot(s, &s->services[i], sl, &l->slots[i][sl], secs,
                        &l->slots[i][sl].ring[l->head]);
    }
    l->t[l->head] = t;
    l->head = (l->head + 1) % SRV_LIVE_SAMPLES;
    if (l->n < SRV_LIVE_SAMPLES)
        l->n++;
    /* Built only when a dashboard listens: an idle daemon does no JSON work here. */
    if (deployer_of(s) != NULL && bg_deployer_feed_wants_stats(s->deployer)) {
        json_t *j = last_json(s, l, t);
        bg_deployer_feed_stats(s->deployer, j);
        json_decref(j);
    }
}

static void on_live_timer(uv_timer_t *timer)
{
    srv_live_sample(timer->data);
}

void srv_live_start(bg_server_t *s)
{
    uv_timer_start(&s->live_timer, on_live_timer, SRV_LIVE_INTERVAL_MS, SRV_LIVE_INTERVAL_MS);
}

/* One slot's series, oldest first. */
static json_t *series_json(bg_server_t *s, srv_service_t *svc, int sl, const live_slot_t *ls)
{
    const srv_live_t *l = s->live;
    json_t *o = slot_head(s, svc, sl);
    json_t *rps = json_array(), *err = json_array(), *p99 = json_array(), *ver = json_array();

    for (size_t k = 0; k < l->n; k++) {
        const live_point_t *p = &ls->ring[(l->head + SRV_LIVE_SAMPLES - l->n + k) % SRV_LIVE_SAMPLES];
        json_array_append_new(rps, num_or_null(p->rps));
        json_array_append_new(err, num_or_null(p->error_pct));
        json_array_append_new(p99, num_or_null(p->p99_ms));
        json_array_append_new(ver, json_string(p->version));
    }
    json_object_set_new(o, "rps", rps);
    json_object_set_new(o, "error_pct", err);
    json_object_set_new(o, "p99_ms", p99);
    json_object_set_new(o, "versions", ver);
    return o;
}

void srv_live_route(bg_server_t *s, bg_admin_req_t *req)
{
    const srv_live_t *l = s->live;
    json_t *t = json_array(), *services = json_object();

    for (size_t k = 0; k < l->n; k++)
        json_array_append_new(t, json_real(l->t[(l->head + SRV_LIVE_SAMPLES - l->n + k) %
                                                 SRV_LIVE_SAMPLES]));
    for (size_t i = 0; i < l->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        json_t *one = json_object();
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++)
            json_object_set_new(one, bg_slot_str((bg_slot_t)sl),
                                series_json(s, svc, sl, &l->slots[i][sl]));
        json_object_set_new(services, svc->cfg->name, one);
    }
    bg_admin_respond_json(req, 200,
                          json_pack("{s:i,s:i,s:o,s:o}", "interval_ms", SRV_LIVE_INTERVAL_MS,
                                    "capacity", SRV_LIVE_SAMPLES, "t", t, "services", services));
}
