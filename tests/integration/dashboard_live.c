/* The dashboard's live data against a real server (docs/internals/dashboard.md "Live
 * data"): GET /v1/stats holds per-slot requests/s, error % and p99 sampled every 2 s from
 * real proxied requests; the event stream a page opens with its session cookie carries
 * `stats` samples (without ids) and the audit events (with ids), and a reconnect with
 * Last-Event-ID replays what was missed.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "dashboard_client.h"
#include "server_fixture.h"

static sfx_t f;

static void start(void)
{
    sfx_start(&f, &(sfx_opts_t){.tcp_admin = true});
}

static json_t *stats_json(const char *cookie)
{
    dc_resp_t r;
    json_t *j;

    cr_assert(dc_call(f.admin_port, "GET", "/v1/stats", cookie, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    j = json_loads(r.body, 0, NULL);
    cr_assert_not_null(j, "%s", r.body);
    dc_resp_fini(&r);
    return j;
}

/* Index of the newest sample of blue with traffic, or -1. */
static int busy_sample(json_t *blue)
{
    json_t *rps = json_object_get(blue, "rps");
    for (int i = (int)json_array_size(rps) - 1; i >= 0; i--) {
        if (json_number_value(json_array_get(rps, (size_t)i)) > 0)
            return i;
    }
    return -1;
}

Test(dashboard_live, stats_hold_rates_errors_and_p99_per_slot, .init = start, .timeout = 120)
{
    char *cookie = dc_login(f.admin_port, SFX_TOKEN);
    uint64_t deadline = bg_now_ms() + 60000;
    json_t *j = NULL, *blue = NULL;
    int status, idx = -1;
    size_t n;

    /* 40 answers, 10 of them 500s, all from blue (it has all the traffic; a 500's body does
     * not name its backend). */
    for (int i = 0; i < 40; i++) {
        int who = sfx_get(&f, i % 4 == 0 ? "/status/500" : "/ok", &status);
        cr_assert_eq(status, i % 4 == 0 ? 500 : 200);
        if (status == 200)
            cr_assert_eq(who, SFX_BLUE);
    }
    /* The requests may straddle two samples: wait until they are all counted. */
    while (bg_now_ms() < deadline) {
        double sum = 0, errs = 0;
        json_decref(j);
        j = stats_json(cookie);
        blue = json_object_get(json_object_get(json_object_get(j, "services"), "orders"), "blue");
        idx = busy_sample(blue);
        for (size_t k = 0; k < json_array_size(json_object_get(blue, "rps")); k++) {
            double rps = json_number_value(json_array_get(json_object_get(blue, "rps"), k));
            double ep = json_number_value(json_array_get(json_object_get(blue, "error_pct"), k));
            sum += rps * 2.0;
            errs += rps * 2.0 * ep / 100.0;
        }
        if (idx >= 0 && sum >= 39.5) {
            cr_assert(fabs(errs - 10.0) < 0.6, "errors counted: %.2f of %.2f", errs, sum);
            break;
        }
        usleep(200 * 1000);
    }
    cr_assert_geq(idx, 0, "no sample with traffic within 60 s");
    cr_assert_eq(json_integer_value(json_object_get(j, "interval_ms")), 2000);
    cr_assert_eq(json_integer_value(json_object_get(j, "capacity")), 300);
    n = json_array_size(json_object_get(j, "t"));
    cr_assert_geq(n, 1);
    cr_assert_eq(json_array_size(json_object_get(blue, "rps")), n);
    cr_assert_eq(json_array_size(json_object_get(blue, "error_pct")), n);
    cr_assert_eq(json_array_size(json_object_get(blue, "p99_ms")), n);
    cr_assert_eq(json_array_size(json_object_get(blue, "versions")), n);
    cr_assert_gt(json_number_value(json_array_get(json_object_get(blue, "p99_ms"), (size_t)idx)),
                 0);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(blue, "versions"), (size_t)idx)),
                     json_string_value(json_object_get(blue, "version")));
    cr_assert_eq(json_integer_value(json_object_get(blue, "weight")), 100);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(blue, "targets"), "total")), 1);
    /* Green saw nothing: no rate, and no error % or p99 to show. */
    {
        json_t *green =
            json_object_get(json_object_get(json_object_get(j, "services"), "orders"), "green");
        cr_assert_eq(json_number_value(json_array_get(json_object_get(green, "rps"), (size_t)idx)), 0);
        cr_assert(json_is_null(json_array_get(json_object_get(green, "error_pct"), (size_t)idx)));
        cr_assert(json_is_null(json_array_get(json_object_get(green, "p99_ms"), (size_t)idx)));
    }
    json_decref(j);
    free(cookie);
    sfx_stop(&f);
}

/* Reads events until one named <want> arrives (others are kept count of). */
static bool next_named(dc_sse_t *s, const char *want, char *id, size_t id_size, char **data,
                       int timeout_ms)
{
    uint64_t deadline = bg_now_ms() + (uint64_t)timeout_ms;
    char event[64];

    while (bg_now_ms() < deadline) {
        if (!dc_sse_next(s, (int)(deadline - bg_now_ms()), id, id_size, event, sizeof(event), data))
            return false;
        if (strcmp(event, "stats") == 0)
            cr_assert_str_eq(id, "", "a stats event must not move Last-Event-ID");
        if (strcmp(event, want) == 0)
            return true;
        free(*data);
        *data = NULL;
    }
    return false;
}

static void set_traffic(int blue)
{
    char body[64];
    cresp_t r;

    snprintf(body, sizeof(body), "{\"blue\":%d,\"green\":%d}", blue, 100 - blue);
    cr_assert(sfx_admin(&f, "PUT", "/v1/services/orders/traffic", body, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cresp_fini(&r);
}

Test(dashboard_live, stream_carries_stats_and_events_and_replays_after_reconnect, .init = start,
     .timeout = 120)
{
    char *cookie = dc_login(f.admin_port, SFX_TOKEN);
    char id[64], first_id[64], *data = NULL, *hdrs;
    dc_sse_t s;
    json_t *j;

    cr_assert(dc_sse_open(&s, f.admin_port, "/v1/events/stream?stats=1", cookie));
    /* A stats sample within a few intervals, for the service the page shows. */
    cr_assert(next_named(&s, "stats", id, sizeof(id), &data, 20000), "no stats event in 20 s");
    j = json_loads(data, 0, NULL);
    cr_assert_not_null(j, "%s", data);
    cr_assert_not_null(json_object_get(json_object_get(json_object_get(j, "services"), "orders"),
                                       "green"),
                       "%s", data);
    cr_assert_eq(json_integer_value(json_object_get(j, "interval_ms")), 2000);
    json_decref(j);
    free(data);
    /* A traffic change arrives live with its id. */
    set_traffic(90);
    cr_assert(next_named(&s, "traffic", first_id, sizeof(first_id), &data, 20000));
    cr_assert_neq(first_id[0], '\0');
    cr_assert(strstr(data, "\"kind\":\"traffic\"") != NULL, "%s", data);
    free(data);
    cr_assert(strstr(s.buf, "retry: 2000\n") != NULL, "no retry field:\n%s", s.buf);
    dc_sse_close(&s);

    /* While disconnected: two more changes. */
    set_traffic(80);
    set_traffic(100);
    /* Reconnect as EventSource does: the missed events come first, in order. */
    hdrs = bg_asprintf("%sLast-Event-ID: %s\r\n", cookie, first_id);
    cr_assert(dc_sse_open(&s, f.admin_port, "/v1/events/stream?stats=1", hdrs));
    cr_assert(next_named(&s, "traffic", id, sizeof(id), &data, 20000));
    cr_assert_gt(strtoll(id, NULL, 10), strtoll(first_id, NULL, 10));
    cr_assert(strstr(data, "blue=80") != NULL || strstr(data, "80") != NULL, "%s", data);
    free(data);
    cr_assert(next_named(&s, "traffic", id, sizeof(id), &data, 20000));
    cr_assert(strstr(data, "100") != NULL, "%s", data);
    free(data);
    dc_sse_close(&s);

    /* Without credentials the stream is refused. */
    cr_assert_not(dc_sse_open(&s, f.admin_port, "/v1/events/stream?stats=1", NULL));
    cr_assert(strstr(s.buf, "401") != NULL, "%s", s.buf);
    dc_sse_close(&s);
    free(hdrs);
    free(cookie);
    sfx_stop(&f);
}
