/* Prometheus text format 0.0.4 renderer. Families are written one after another (the
 * format requires a family's samples to be contiguous), each walking all services, so a
 * family's order is stable: services in the given order, blue before green, targets in
 * list order. Histogram buckets are stored non-cumulative by the workers
 * (bg_traffic_record) and accumulated here; _count is the sum of the same bucket reads so
 * that the +Inf bucket and _count always agree within one scrape.
 */
#include "metrics/metrics.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "base/base.h"
#include "config/config.h"
#include "route/route.h"
#include "base/compat.h"

static const char *const class_names[6] = {"failed", "1xx", "2xx", "3xx", "4xx", "5xx"};

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
/* A slot counter of the version now in the slot: live value minus the base taken when the
 * version took the slot (counters only grow, so this never goes below 0). */
#define SLOT_V(sl, st, field)                                                                   \
    (LOAD((st)->field) - ((sl)->base != NULL ? LOAD(((bg_traffic_stats_t *)(sl)->base)->field) : 0))

static const char *const result_names[BG_METRICS_RESULTS] = {"succeeded", "rolled_back",
                                                               "refused", "failed", "aborted"};
static const char *const gate_names[BG_METRICS_GATE_COUNT] = {"deploy", "step", "rollback"};

const double bg_metrics_switch_bounds_s[BG_METRICS_SWITCH_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 0 /* +Inf */};

const char *bg_metrics_rollback_str(bg_metrics_rollback_t r)
{
    static const char *const names[BG_METRICS_RB_COUNT] = {
        "startup_timeout", "hook", "rollback_on", "gate", "manual", "abort", "error"};
    return (unsigned)r < BG_METRICS_RB_COUNT ? names[r] : "unknown";
}

void bg_metrics_switch_record(bg_metrics_switches_t *sw, double ms)
{
    double s = ms / 1000.0;
    size_t b = 0;

    while (b + 1 < BG_METRICS_SWITCH_BUCKETS && s > bg_metrics_switch_bounds_s[b])
        b++;
    sw->bucket[b]++;
    sw->sum_s += s;
}

void bg_metrics_escape_label(bg_buf_t *out, const char *value)
{
    for (const char *p = value; *p != '\0'; p++) {
        if (*p == '\\')
            bg_buf_puts(out, "\\\\");
        else if (*p == '"')
            bg_buf_puts(out, "\\\"");
        else if (*p == '\n')
            bg_buf_puts(out, "\\n");
        else
            bg_buf_append(out, p, 1);
    }
}

void bg_metrics_format_seconds(bg_buf_t *out, uint64_t us)
{
    uint64_t frac = us % 1000000;
    int digits = 6;

    bg_buf_printf(out, "%" PRIu64, us / 1000000);
    if (frac == 0)
        return;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    bg_buf_printf(out, ".%0*" PRIu64, digits, frac);
}

static void family(bg_buf_t *out, const char *name, const char *type, const char *help)
{
    bg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* `name{service="..",slot="..",version=".."` — the caller adds more labels and closes
 * with "} v". */
static void open_sample(bg_buf_t *out, const char *name, const bg_metrics_service_t *svc, int slot)
{
    const char *version = svc->slot[slot].version;

    bg_buf_printf(out, "%s{service=\"", name);
    bg_metrics_escape_label(out, svc->name);
    bg_buf_printf(out, "\",slot=\"%s\",version=\"", bg_slot_str((bg_slot_t)slot));
    bg_metrics_escape_label(out, version != NULL ? version : "");
    bg_buf_puts(out, "\"");
}

/* `name{service=".."` for the per-service families. */
static void open_service_sample(bg_buf_t *out, const char *name, const bg_metrics_service_t *svc)
{
    bg_buf_printf(out, "%s{service=\"", name);
    bg_metrics_escape_label(out, svc->name);
    bg_buf_puts(out, "\"");
}

static void open_target_sample(bg_buf_t *out, const char *name, const bg_target_t *t,
                               const bg_metrics_service_t *service, int slot)
{
    open_sample(out, name, service, slot);
    bg_buf_puts(out, ",target=\"");
    bg_metrics_escape_label(out, t->addr_str);
    bg_buf_puts(out, "\"");
}

static void render_requests(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    family(out, "bluegreen_requests_total", "counter",
           "Requests answered per service and slot, by status class (failed: no response "
           "from a target).");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            const bg_traffic_stats_t *st = &svcs[i].stats->slot[s];
            const bg_metrics_slot_t *sl = &svcs[i].slot[s];
            for (int c = 1; c <= 6; c++) {
                int cls = c % 6; /* 1xx..5xx, then failed */
                open_sample(out, "bluegreen_requests_total", &svcs[i], s);
                bg_buf_printf(out, ",class=\"%s\"} %" PRIu64 "\n", class_names[cls],
                              SLOT_V(sl, st, responses[cls]));
            }
        }
    }
}

static void render_histogram(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    static const char name[] = "bluegreen_request_duration_seconds";

    family(out, name, "histogram", "Request latency per service and slot, in seconds.");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            const bg_traffic_stats_t *st = &svcs[i].stats->slot[s];
            const bg_metrics_slot_t *sl = &svcs[i].slot[s];
            uint64_t cum = 0;
            for (size_t b = 0; b < BG_LATENCY_BUCKETS; b++) {
                cum += SLOT_V(sl, st, latency_bucket[b]);
                open_sample(out, "bluegreen_request_duration_seconds_bucket", &svcs[i], s);
                bg_buf_puts(out, ",le=\"");
                if (bg_latency_bounds_us[b] == UINT64_MAX)
                    bg_buf_puts(out, "+Inf");
                else
                    bg_metrics_format_seconds(out, bg_latency_bounds_us[b]);
                bg_buf_printf(out, "\"} %" PRIu64 "\n", cum);
            }
            open_sample(out, "bluegreen_request_duration_seconds_sum", &svcs[i], s);
            bg_buf_puts(out, "} ");
            bg_metrics_format_seconds(out, SLOT_V(sl, st, latency_us_sum));
            bg_buf_puts(out, "\n");
            open_sample(out, "bluegreen_request_duration_seconds_count", &svcs[i], s);
            bg_buf_printf(out, "} %" PRIu64 "\n", cum);
        }
    }
}

static void render_slot_values(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    family(out, "bluegreen_bytes_total", "counter",
           "Bytes per service and slot: in = sent to targets, out = sent back to clients.");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            const bg_traffic_stats_t *st = &svcs[i].stats->slot[s];
            const bg_metrics_slot_t *sl = &svcs[i].slot[s];
            open_sample(out, "bluegreen_bytes_total", &svcs[i], s);
            bg_buf_printf(out, ",direction=\"in\"} %" PRIu64 "\n", SLOT_V(sl, st, bytes_in));
            open_sample(out, "bluegreen_bytes_total", &svcs[i], s);
            bg_buf_printf(out, ",direction=\"out\"} %" PRIu64 "\n", SLOT_V(sl, st, bytes_out));
        }
    }
    family(out, "bluegreen_active_requests", "gauge", "Requests in flight per service and slot.");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            open_sample(out, "bluegreen_active_requests", &svcs[i], s);
            bg_buf_printf(out, "} %" PRId64 "\n", LOAD(svcs[i].stats->slot[s].active));
        }
    }
    family(out, "bluegreen_slot_weight_ratio", "gauge",
           "Share of production traffic routed to the slot, from 0 to 1.");
    for (size_t i = 0; i < n; i++) {
        for (int s = 0; s < BG_SLOT_COUNT; s++) {
            uint32_t pct = svcs[i].slot[s].weight_pct;
            open_sample(out, "bluegreen_slot_weight_ratio", &svcs[i], s);
            bg_buf_printf(out, "} %" PRIu32 ".%02" PRIu32 "\n", pct / 100, pct % 100);
        }
    }
    family(out, "bluegreen_no_target_total", "counter",
           "Requests answered 503 because the chosen slot had no healthy target.");
    for (size_t i = 0; i < n; i++) {
        bg_buf_puts(out, "bluegreen_no_target_total{service=\"");
        bg_metrics_escape_label(out, svcs[i].name);
        bg_buf_printf(out, "\"} %" PRIu64 "\n", LOAD(svcs[i].stats->no_target));
    }
}

/* What a per-target family shows of <t>. */
typedef void (*target_value_fn)(bg_buf_t *out, const char *name, const bg_target_t *t,
                                const bg_metrics_service_t *service, int slot);

static void each_target(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n, const char *name,
                        target_value_fn fn)
{
    for (size_t i = 0; i < n; i++)
        for (int s = 0; s < BG_SLOT_COUNT; s++)
            for (size_t k = 0; k < svcs[i].slot[s].n_targets; k++)
                fn(out, name, svcs[i].slot[s].targets[k], &svcs[i], s);
}

static void target_up(bg_buf_t *out, const char *name, const bg_target_t *t,
                      const bg_metrics_service_t *service, int slot)
{
    open_target_sample(out, name, t, service, slot);
    bg_buf_printf(out, "} %d\n", bg_target_is_healthy(t) ? 1 : 0);
}

static void target_conns(bg_buf_t *out, const char *name, const bg_target_t *t,
                         const bg_metrics_service_t *service, int slot)
{
    open_target_sample(out, name, t, service, slot);
    bg_buf_printf(out, "} %" PRId64 "\n", LOAD(((bg_target_t *)t)->conns));
}

static void target_active(bg_buf_t *out, const char *name, const bg_target_t *t,
                          const bg_metrics_service_t *service, int slot)
{
    open_target_sample(out, name, t, service, slot);
    bg_buf_printf(out, "} %" PRId64 "\n", LOAD(((bg_target_t *)t)->stats.active));
}

static void target_requests(bg_buf_t *out, const char *name, const bg_target_t *t,
                            const bg_metrics_service_t *service, int slot)
{
    for (int c = 1; c <= 6; c++) {
        int cls = c % 6;
        open_target_sample(out, name, t, service, slot);
        bg_buf_printf(out, ",class=\"%s\"} %" PRIu64 "\n", class_names[cls],
                      LOAD(((bg_target_t *)t)->stats.responses[cls]));
    }
}

static void render_targets(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    family(out, "bluegreen_target_up", "gauge", "1 if the target passes its health checks.");
    each_target(out, svcs, n, "bluegreen_target_up", target_up);
    family(out, "bluegreen_target_connections", "gauge",
           "Open upstream connections to the target, all workers.");
    each_target(out, svcs, n, "bluegreen_target_connections", target_conns);
    family(out, "bluegreen_target_active_requests", "gauge", "Requests in flight to the target.");
    each_target(out, svcs, n, "bluegreen_target_active_requests", target_active);
    family(out, "bluegreen_target_requests_total", "counter",
           "Requests answered per target, by status class.");
    each_target(out, svcs, n, "bluegreen_target_requests_total", target_requests);
}

static void render_deploys(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    static const bg_metrics_deploys_t zero;

    family(out, "bluegreen_deployments_total", "counter",
           "Deployments ended per service, by result (a rollback within the termination wait "
           "ends a succeeded deployment a second time, as rolled_back).");
    for (size_t i = 0; i < n; i++) {
        const bg_metrics_deploys_t *d = svcs[i].deploys ? svcs[i].deploys : &zero;
        for (int r = 0; r < BG_METRICS_RESULTS; r++) {
            open_service_sample(out, "bluegreen_deployments_total", &svcs[i]);
            bg_buf_printf(out, ",result=\"%s\"} %" PRIu64 "\n", result_names[r], d->results[r]);
        }
    }
    family(out, "bluegreen_rollbacks_total", "counter",
           "Rollbacks started per service, by reason.");
    for (size_t i = 0; i < n; i++) {
        const bg_metrics_deploys_t *d = svcs[i].deploys ? svcs[i].deploys : &zero;
        for (int r = 0; r < BG_METRICS_RB_COUNT; r++) {
            open_service_sample(out, "bluegreen_rollbacks_total", &svcs[i]);
            bg_buf_printf(out, ",reason=\"%s\"} %" PRIu64 "\n",
                          bg_metrics_rollback_str((bg_metrics_rollback_t)r), d->rollbacks[r]);
        }
    }
    family(out, "bluegreen_gate_refusals_total", "counter",
           "Refusals of the compatibility gate per service, by check.");
    for (size_t i = 0; i < n; i++) {
        const bg_metrics_deploys_t *d = svcs[i].deploys ? svcs[i].deploys : &zero;
        for (int g = 0; g < BG_METRICS_GATE_COUNT; g++) {
            open_service_sample(out, "bluegreen_gate_refusals_total", &svcs[i]);
            bg_buf_printf(out, ",check=\"%s\"} %" PRIu64 "\n", gate_names[g],
                          d->gate_refusals[g]);
        }
    }
}

static void render_switches(bg_buf_t *out, const bg_metrics_service_t *svcs, size_t n)
{
    static const bg_metrics_switches_t zero;
    static const char name[] = "bluegreen_switch_duration_seconds";

    family(out, name, "histogram",
           "Verified traffic switches per service: time from publishing the routing change "
           "until every worker served it, in seconds (_count: the number of switches).");
    for (size_t i = 0; i < n; i++) {
        const bg_metrics_switches_t *sw = svcs[i].switches ? svcs[i].switches : &zero;
        uint64_t cum = 0;
        for (size_t b = 0; b < BG_METRICS_SWITCH_BUCKETS; b++) {
            cum += sw->bucket[b];
            open_service_sample(out, "bluegreen_switch_duration_seconds_bucket", &svcs[i]);
            if (b + 1 == BG_METRICS_SWITCH_BUCKETS)
                bg_buf_puts(out, ",le=\"+Inf\"");
            else
                bg_buf_printf(out, ",le=\"%g\"", bg_metrics_switch_bounds_s[b]);
            bg_buf_printf(out, "} %" PRIu64 "\n", cum);
        }
        open_service_sample(out, "bluegreen_switch_duration_seconds_sum", &svcs[i]);
        bg_buf_printf(out, "} %.6f\n", sw->sum_s);
        open_service_sample(out, "bluegreen_switch_duration_seconds_count", &svcs[i]);
        bg_buf_printf(out, "} %" PRIu64 "\n", cum);
    }
}

void bg_metrics_render_build_info(bg_buf_t *out, const char *version)
{
    family(out, "bluegreen_build_info", "gauge", "Always 1; the labels name this build.");
    bg_buf_puts(out, "bluegreen_build_info{version=\"");
    bg_metrics_escape_label(out, version);
    bg_buf_puts(out, "\"} 1\n");
}

void bg_metrics_render_http2(bg_buf_t *out, const uint64_t h2[4])
{
    static const char *const names[4][2] = {
        {"bluegreen_http2_connections_total", "HTTP/2 client connections accepted."},
        {"bluegreen_http2_streams_total", "HTTP/2 streams (requests) received."},
        {"bluegreen_http2_connection_errors_total",
         "HTTP/2 connections ended by GOAWAY with an error code (floods, protocol errors)."},
        {"bluegreen_http2_stream_resets_total",
         "HTTP/2 streams refused or reset by the proxy (RST_STREAM with an error code)."},
    };

    for (int i = 0; i < 4; i++) {
        family(out, names[i][0], "counter", names[i][1]);
        bg_buf_printf(out, "%s %" PRIu64 "\n", names[i][0], h2[i]);
    }
}

void bg_metrics_render(bg_buf_t *out, const bg_metrics_service_t *services, size_t n,
                       uint64_t client_connections)
{
    render_requests(out, services, n);
    render_histogram(out, services, n);
    render_slot_values(out, services, n);
    render_targets(out, services, n);
    family(out, "bluegreen_last_switch_seconds", "gauge",
           "Time from publishing the last traffic change of the service until every worker "
           "served it (absent before the first).");
    for (size_t i = 0; i < n; i++) {
        if (!services[i].has_switch)
            continue;
        bg_buf_puts(out, "bluegreen_last_switch_seconds{service=\"");
        bg_metrics_escape_label(out, services[i].name);
        bg_buf_printf(out, "\"} %.6f\n", services[i].last_switch_ms / 1000.0);
    }
    render_deploys(out, services, n);
    render_switches(out, services, n);
    family(out, "bluegreen_client_connections", "gauge",
           "Client connections open on the production and test listeners.");
    bg_buf_printf(out, "bluegreen_client_connections %" PRIu64 "\n", client_connections);
}
