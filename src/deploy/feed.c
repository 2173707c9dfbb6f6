/* The audit trail as the API shows it: `GET /v1/events` (oldest first, after an id) and
 * `GET /v1/events/stream` (Server-Sent Events: the stored events after Last-Event-ID, then
 * every new event as it is written; `: keep-alive` every 15 s). A follower that reads too
 * slowly or leaves is dropped when a write fails. With `stats=1` (the dashboard) the stream
 * also carries the server's `stats` samples (bg_deployer_feed_stats): without an `id:`,
 * so that Last-Event-ID keeps naming the last audit event (docs/internals/dashboard.md).
 */
#include "deploy/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define KEEPALIVE_MS 15000

typedef struct dp_stream {
    bg_list_t link;
    bg_admin_req_t *req;
    char service[64]; /* "" = all */
    bool stats;       /* ?stats=1: also the `stats` samples */
} dp_stream_t;

bool dp_query(const char *query, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);

    for (const char *p = query; p != NULL && *p != '\0';) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=') {
            snprintf(out, size, "%.*s", (int)(len - klen - 1), p + klen + 1);
            return true;
        }
        p = amp ? amp + 1 : NULL;
    }
    return false;
}

json_t *dp_event_json(const bg_store_event_t *ev)
{
    char ts[40];

    return json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)ev->id, "ts",
                     bg_wall_format(ev->ts_ms, ts), "service", ev->service, "deployment",
                     (json_int_t)ev->deployment, "kind", ev->kind, "message", ev->message, "actor",
                     ev->actor, "origin", ev->origin);
}

static int collect(void *arg, const bg_store_event_t *ev)
{
    json_array_append_new(arg, dp_event_json(ev));
    return 0;
}

void dp_feed_route_list(bg_deployer_t *d, bg_admin_req_t *req, const char *query)
{
    char after[24] = "0", svc[64] = "", limit[16] = "1000";
    json_t *arr = json_array();
    bg_err_t err;

    dp_query(query, "after", after, sizeof(after));
    dp_query(query, "service", svc, sizeof(svc));
    dp_query(query, "limit", limit, sizeof(limit));
    bg_err_clear(&err);
    if (bg_store_event_each(d->store, strtoll(after, NULL, 10), svc[0] ? svc : NULL,
                            (unsigned)strtoul(limit, NULL, 10), collect, arr, &err) != 0) {
        json_decref(arr);
        bg_admin_respond_error(req, &err);
        return;
    }
    bg_admin_respond_json(req, 200, json_pack("{s:o}", "events", arr));
}

static bool stream_send(dp_stream_t *s, const bg_store_event_t *ev)
{
    json_t *j = dp_event_json(ev);
    char *data = json_dumps(j, JSON_COMPACT);
    char *msg = bg_asprintf("id: %lld\nevent: %s\ndata: %s\n\n", (long long)ev->id, ev->kind, data);
    bool ok = bg_admin_stream_write(s->req, msg, strlen(msg));

    free(msg);
    free(data);
    json_decref(j);
    return ok;
}

static void stream_drop(dp_stream_t *s)
{
    bg_list_remove(&s->link);
    bg_admin_stream_end(s->req);
    free(s);
}

static int replay(void *arg, const bg_store_event_t *ev)
{
    return stream_send(arg, ev) ? 0 : 1;
}

static void on_keepalive(uv_timer_t *t)
{
    bg_deployer_t *d = t->data;
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &d->streams)
    {
        dp_stream_t *s = BG_CONTAINER_OF(pos, dp_stream_t, link);
        if (!bg_admin_stream_write(s->req, ": keep-alive\n\n", 14))
            stream_drop(s);
    }
    if (bg_list_is_empty(&d->streams))
        uv_timer_stop(t);
}

void dp_feed_route_stream(bg_deployer_t *d, bg_admin_req_t *req, const char *query)
{
    const char *last = bg_admin_req_header(req, "Last-Event-ID");
    dp_stream_t *s = BG_NEW(dp_stream_t);
    char after[24] = "", stats[8] = "";
    /* A browser reconnects after `retry` ms; its default (about 3 s) is slower than we want. */
    static const char retry[] = "retry: 2000\n\n";

    s->req = req;
    dp_query(query, "service", s->service, sizeof(s->service));
    s->stats = dp_query(query, "stats", stats, sizeof(stats)) && strcmp(stats, "0") != 0;
    if (!dp_query(query, "after", after, sizeof(after)) && last != NULL)
        snprintf(after, sizeof(after), "%s", last);
    bg_list_init(&s->link);
    bg_list_insert_tail(&d->streams, &s->link);
    bg_admin_stream_begin(req, 200, "text/event-stream");
    if (!bg_admin_stream_write(req, ": bluegreen events\n\n", 20) ||
        (s->stats && !bg_admin_stream_write(req, retry, sizeof(retry) - 1)) ||
        (after[0] != '\0' &&
         bg_store_event_each(d->store, strtoll(after, NULL, 10), s->service[0] ? s->service : NULL,
                             0, replay, s, NULL) != 0)) {
        stream_drop(s);
        return;
    }
    if (!uv_is_active((uv_handle_t *)&d->keepalive))
        uv_timer_start(&d->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
}

void dp_feed_publish(bg_deployer_t *d, const bg_store_event_t *ev)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &d->streams)
    {
        dp_stream_t *s = BG_CONTAINER_OF(pos, dp_stream_t, link);
        if (s->service[0] != '\0' && strcmp(s->service, ev->service) != 0)
            continue;
        if (!stream_send(s, ev))
            stream_drop(s);
    }
}

bool bg_deployer_feed_wants_stats(bg_deployer_t *d)
{
    bg_list_t *pos;

    bg_list_foreach(pos, &d->streams)
    {
        if (BG_CONTAINER_OF(pos, dp_stream_t, link)->stats)
            return true;
    }
    return false;
}

/* <stats> as one stream sees it: every service, or only the one it follows. */
static char *stats_for(const dp_stream_t *s, json_t *stats, char **all)
{
    json_t *one, *svc;
    char *text;

    if (s->service[0] == '\0') {
        if (*all == NULL)
            *all = json_dumps(stats, JSON_COMPACT);
        return bg_strdup(*all);
    }
    svc = json_object_get(json_object_get(stats, "services"), s->service);
    one = json_deep_copy(stats);
    json_object_set_new(one, "services", svc != NULL ? json_pack("{s:O}", s->service, svc)
                                                     : json_object());
    text = json_dumps(one, JSON_COMPACT);
    json_decref(one);
    return text;
}

void bg_deployer_feed_stats(bg_deployer_t *d, json_t *stats)
{
    bg_list_t *pos, *tmp;
    char *all = NULL;

    bg_list_foreach_safe(pos, tmp, &d->streams)
    {
        dp_stream_t *s = BG_CONTAINER_OF(pos, dp_stream_t, link);
        char *data, *msg;
        bool ok;
        if (!s->stats)
            continue;
        data = stats_for(s, stats, &all);
        msg = bg_asprintf("event: stats\ndata: %s\n\n", data);
        ok = bg_admin_stream_write(s->req, msg, strlen(msg));
        free(msg);
        free(data);
        if (!ok)
            stream_drop(s);
    }
    free(all);
}

void dp_feed_close(bg_deployer_t *d)
{
    bg_list_t *pos, *tmp;

    bg_list_foreach_safe(pos, tmp, &d->streams)
    {
        stream_drop(BG_CONTAINER_OF(pos, dp_stream_t, link));
    }
    uv_timer_stop(&d->keepalive);
}
