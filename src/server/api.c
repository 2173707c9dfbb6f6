/* The admin ops on the server's model (docs/admin-api.md): JSON views of services and
 * targets, traffic changes and target registration — each a verified switch — and the
 * metrics view handed to the Prometheus renderer. Validation against the model happens
 * here before anything changes, so a refused call leaves the model untouched.
 */
#include "server/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "metrics/metrics.h"
#include "base/compat.h"

/* The Actuator components of a health answer <body> as {name: status} (what the dashboard
 * shows per target), or null when the body is not an Actuator JSON document with
 * components (a plain status check, a body cut at the first 2 KiB). */
static json_t *components_json(const char *body)
{
    json_t *doc = body[0] == '{' ? json_loads(body, 0, NULL) : NULL;
    json_t *comps = json_object_get(doc, "components"), *out, *v;
    const char *name;

    if (!json_is_object(comps)) {
        json_decref(doc);
        return json_null();
    }
    out = json_object();
    json_object_foreach(comps, name, v)
    {
        const char *status = json_string_value(json_object_get(v, "status"));
        json_object_set_new(out, name, json_string(status != NULL ? status : "UNKNOWN"));
    }
    json_decref(doc);
    return out;
}

static json_t *health_json(bg_server_t *s, const bg_target_t *t)
{
    bg_health_info_t info;
    char ts[40];
    json_t *j, *lb;

    bg_health_info(s->health, t, &info);
    if (!info.watched)
        return json_null();
    j = json_pack("{s:s,s:i,s:o,s:I,s:I}", "reason", info.reason, "last_status", info.last_status,
                  "last_check",
                  info.last_check_ms ? json_string(bg_wall_format(info.last_check_ms, ts))
                                     : json_null(),
                  "consecutive_ok", (json_int_t)info.consecutive_ok, "consecutive_fail",
                  (json_int_t)info.consecutive_fail);
    /* A body is not always UTF-8: json_string() refuses what is not, and then it is left out. */
    lb = json_string(info.last_body);
    json_object_set_new(j, "last_body", lb != NULL ? lb : json_null());
    json_object_set_new(j, "components", components_json(info.last_body));
    return j;
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* What the driver knows of a target the daemon runs; null for static targets. */
static json_t *instance_json(bg_server_t *s, const bg_target_t *t)
{
    srv_instance_t *rec = srv_instance_of(s, t);
    const bg_instance_t *i = rec != NULL ? rec->inst : NULL;

    if (i == NULL)
        return json_null();
    return json_pack("{s:s,s:s,s:s,s:i,s:s}", "version", i->version, "handle", i->handle, "state",
                     bg_instance_state_str(i->state), "restarts", (int)i->restarts, "log",
                     i->log_path);
}

json_t *srv_target_json(bg_server_t *s, const bg_target_t *t)
{
    bg_target_t *m = (bg_target_t *)t; /* atomics are read, never written */
    json_t *j;

    j = json_pack(
        "{s:I,s:s,s:s,s:b,s:b,s:o,s:{s:I,s:I,s:I,s:I,s:I,s:I},s:I}", "id", (json_int_t)t->id,
        "slot", bg_slot_str((bg_slot_t)t->slot), "address", t->addr_str, "healthy",
        bg_target_is_healthy(t), "draining", LOAD(m->draining) != 0, "health", health_json(s, t),
        "requests", "1xx", (json_int_t)LOAD(m->stats.responses[1]), "2xx",
        (json_int_t)LOAD(m->stats.responses[2]), "3xx", (json_int_t)LOAD(m->stats.responses[3]),
        "4xx", (json_int_t)LOAD(m->stats.responses[4]), "5xx",
        (json_int_t)LOAD(m->stats.responses[5]), "failed", (json_int_t)LOAD(m->stats.responses[0]),
        "active", (json_int_t)LOAD(m->stats.active));
    json_object_set_new(j, "instance", instance_json(s, t));
    return j;
}

/* Live slot: the larger weight (blue on a tie); preview: the other when it has targets. */
static int live_slot(const srv_service_t *svc)
{
    return svc->weight[BG_SLOT_GREEN] > svc->weight[BG_SLOT_BLUE] ? BG_SLOT_GREEN : BG_SLOT_BLUE;
}

static json_t *last_switch_json(const srv_service_t *svc)
{
    char ts[40];

    if (svc->last_switch_generation == 0)
        return json_null();
    return json_pack("{s:I,s:f,s:s}", "generation", (json_int_t)svc->last_switch_generation,
                     "switch_ms", svc->last_switch_ms, "at",
                     bg_wall_format(svc->last_switch_wall_ms, ts));
}

/* A routing driver's slot: its targets as the platform describes them (ecs: the target
 * group's DescribeTargetHealth), in the shape of the proxy's targets (no id, no counts:
 * the platform serves them), the platform's state and words as health. */
static size_t routed_targets(bg_driver_t *routes, const char *service, int slot, json_t *arr)
{
    bg_driver_slot_health_t h;

    routes->vt->slot_health(routes, service, slot, &h);
    for (size_t i = 0; i < h.n_target; i++) {
        const bg_driver_slot_target_t *t = &h.target[i];
        bool healthy = strcmp(t->state, "healthy") == 0;
        json_array_append_new(
            arr, json_pack("{s:i,s:s,s:s,s:b,s:b,s:{s:s,s:s,s:i},s:n}", "id", 0, "slot",
                           bg_slot_str((bg_slot_t)slot), "address", t->address, "healthy",
                           healthy && h.healthy > 0, "draining", strcmp(t->state, "draining") == 0,
                           "health", "reason",
                           healthy && h.healthy == 0 && h.detail[0] ? h.detail
                           : t->reason[0]                          ? t->reason
                                                                   : t->state,
                           "state", t->state, "last_status", 0, "instance"));
    }
    return h.n_target;
}

static json_t *service_json(bg_server_t *s, const srv_service_t *svc)
{
    const bg_service_config_t *c = svc->cfg;
    bg_driver_t *routes = srv_driver_of(s, svc);
    int live = live_slot(svc), other = 1 - live;
    json_t *slots = json_object();
    size_t routed[BG_SLOT_COUNT] = {0};

    if (!bg_driver_routes(routes))
        routes = NULL;

    for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
        json_t *arr = json_array();
        for (size_t k = 0; k < svc->slot[sl].n; k++)
            json_array_append_new(arr, srv_target_json(s, svc->slot[sl].targets[k]));
        if (routes != NULL)
            routed[sl] = routed_targets(routes, c->name, sl, arr);
        const char *version = NULL;
        int64_t rev =
            s->deployer ? bg_deployer_slot_revision(s->deployer, c->name, sl, &version) : 0;
        json_object_set_new(slots, bg_slot_str((bg_slot_t)sl),
                            json_pack("{s:o,s:I,s:s?}", "targets", arr, "revision", (json_int_t)rev,
                                      "version", version));
    }
    return json_pack(
        "{s:s,s:s?,s:s,s:s,s:{s:i,s:i},s:s,s:o,s:o,s:{s:s,s:s?,s:s,s:I},s:o}", "name", c->name,
        "host", c->host, "path_prefix", c->path_prefix ? c->path_prefix : "/", "driver",
        bg_driver_kind_str(c->driver), "traffic", "blue", (int)svc->weight[BG_SLOT_BLUE], "green",
        (int)svc->weight[BG_SLOT_GREEN], "live_slot", bg_slot_str((bg_slot_t)live), "preview_slot",
        svc->slot[other].n > 0 || routed[other] > 0 ? json_string(bg_slot_str((bg_slot_t)other))
                                                    : json_null(),
        "slots",
        slots, "health", "type", bg_health_type_str(c->health.type), "path", c->health.path,
        "format", c->health.format == BG_HEALTH_FORMAT_ACTUATOR ? "actuator" : "status",
        "interval_ms", (json_int_t)c->health.interval_ms, "last_switch", last_switch_json(svc));
}

/* An API call answered once its routing change is verified. */
typedef struct pending_answer {
    bg_admin_req_t *req;
    int status;   /* HTTP status of the success answer */
    json_t *body; /* success body */
    bool report;  /* add "generation" and "switch_ms" to it */
} pending_answer_t;

static void on_verified(bg_server_t *s, void *arg, int status, uint64_t generation,
                        double switch_ms)
{
    pending_answer_t *pa = arg;

    if (status == BG_ETIMEDOUT) {
        bg_admin_respond_errorf(pa->req, status,
                                "routing generation %llu was published but not every worker "
                                "confirmed it within %u ms; the change stays in effect",
                                (unsigned long long)generation, s->switch_timeout_ms);
    } else if (status != 0) {
        bg_admin_respond_errorf(pa->req, status, "the daemon is shutting down");
    } else {
        if (pa->report) {
            json_object_set_new(pa->body, "generation", json_integer((json_int_t)generation));
            json_object_set_new(pa->body, "switch_ms", json_real(switch_ms));
        }
        bg_admin_respond_json(pa->req, pa->status, pa->body);
        pa->body = NULL;
    }
    json_decref(pa->body);
    free(pa);
}

/* Publishes the model and answers <req> with <body> once every worker serves it. */
static void publish_and_answer(bg_server_t *s, srv_service_t *switched, bg_admin_req_t *req,
                               int status, json_t *body, bool report)
{
    pending_answer_t *pa = BG_NEW(pending_answer_t);
    uint64_t t0 = bg_now_us();
    uint64_t gen = srv_publish(s);

    pa->req = req;
    pa->status = status;
    pa->body = body;
    pa->report = report;
    srv_switch_wait(s, gen, t0, switched, on_verified, pa);
}

static void on_routed_answer(void *arg, int status, double switch_ms, const char *msg)
{
    pending_answer_t *pa = arg;

    if (status != 0) {
        bg_admin_respond_errorf(pa->req, status,
                                "the split is stored and written to the load balancer, but not "
                                "verified: %s",
                                msg);
    } else {
        json_object_set_new(pa->body, "switch_ms", json_real(switch_ms));
        bg_admin_respond_json(pa->req, pa->status, pa->body);
        pa->body = NULL;
    }
    json_decref(pa->body);
    free(pa);
}

static srv_service_t *find_or_404(bg_server_t *s, bg_admin_req_t *req, const char *name)
{
    srv_service_t *svc = srv_service_find(s, name);
    if (svc == NULL)
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' not found", name);
    return svc;
}

static bool refuse_when_stopping(bg_server_t *s, bg_admin_req_t *req)
{
    if (!s->shutting_down && !s->handing_over)
        return false;
    bg_admin_respond_errorf(req, BG_EUNAVAIL, "the daemon is %s",
                            s->handing_over ? "handing over to a new process" : "shutting down");
    return true;
}

static void op_services(void *ctx, bg_admin_req_t *req)
{
    bg_server_t *s = ctx;
    json_t *arr = json_array();

    for (size_t i = 0; i < s->n_services; i++)
        json_array_append_new(arr, service_json(s, &s->services[i]));
    bg_admin_respond_json(req, 200, json_pack("{s:o}", "services", arr));
}

static void op_service(void *ctx, bg_admin_req_t *req, const char *name)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = find_or_404(s, req, name);

    if (svc != NULL)
        bg_admin_respond_json(req, 200, service_json(s, svc));
}

static void op_traffic(void *ctx, bg_admin_req_t *req, const char *name, uint32_t blue,
                       uint32_t green)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = find_or_404(s, req, name);

    bg_driver_t *drv;

    if (svc == NULL || refuse_when_stopping(s, req))
        return;
    drv = srv_driver_of(s, svc);
    for (int sl = 0; sl < BG_SLOT_COUNT && !bg_driver_routes(drv); sl++) {
        if ((sl == BG_SLOT_BLUE ? blue : green) > 0 && svc->slot[sl].n == 0) {
            bg_admin_respond_errorf(req, BG_ECONFLICT,
                                    "slot %s of %s has no targets: it "
                                    "cannot take traffic",
                                    bg_slot_str((bg_slot_t)sl), name);
            return;
        }
    }
    if (s->deployer != NULL) {
        /* Refused while a deployment of <name> runs; stored before it takes effect. */
        uint32_t w[2] = {blue, green};
        const char *ua = bg_admin_req_header(req, "User-Agent");
        char peer[96], origin[160];
        bg_err_t err;
        bg_err_clear(&err);
        bg_admin_req_peer(req, peer, sizeof(peer));
        snprintf(origin, sizeof(origin), "%s%s%s", peer[0] ? peer : "admin-api", ua ? " ua=" : "",
                 ua ? ua : "");
        if (bg_deployer_traffic_changed(s->deployer, name, w,
                                        bg_admin_req_header(req, "X-Bluegreen-Actor"), origin,
                                        &err) != 0) {
            bg_admin_respond_error(req, &err);
            return;
        }
    }
    bg_log(BG_LOG_INFO, "route",
           "msg=\"traffic change\" service=%s blue=%u green=%u "
           "was_blue=%u was_green=%u",
           name, blue, green, svc->weight[BG_SLOT_BLUE], svc->weight[BG_SLOT_GREEN]);
    svc->weight[BG_SLOT_BLUE] = blue;
    svc->weight[BG_SLOT_GREEN] = green;
    if (bg_driver_routes(drv)) {
        /* The platform routes this service: answered once its driver verified the split. */
        uint32_t w[2] = {blue, green};
        pending_answer_t *pa = BG_NEW(pending_answer_t);
        srv_publish(s);
        pa->req = req;
        pa->status = 200;
        pa->body = json_pack("{s:s,s:{s:i,s:i}}", "service", name, "traffic", "blue", (int)blue,
                             "green", (int)green);
        pa->report = true;
        drv->vt->set_weights(drv, name, w, on_routed_answer, pa);
        return;
    }
    publish_and_answer(s, svc, req, 200,
                       json_pack("{s:s,s:{s:i,s:i}}", "service", name, "traffic", "blue", (int)blue,
                                 "green", (int)green),
                       true);
}

static void op_target_add(void *ctx, bg_admin_req_t *req, const char *name, bg_slot_t slot,
                          const char *address)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = find_or_404(s, req, name);
    bg_target_t *t;
    bg_err_t err;
    int rc;

    if (svc == NULL || refuse_when_stopping(s, req))
        return;
    if (srv_service_find_addr(svc, slot, address) != NULL) {
        bg_admin_respond_errorf(req, BG_EEXIST, "%s is already a target of %s/%s", address, name,
                                bg_slot_str(slot));
        return;
    }
    bg_err_clear(&err);
    /* Registered targets start unhealthy: traffic only after healthy_threshold passes. */
    t = bg_target_new(name, slot, address, false, &err);
    if (t == NULL) {
        if (err.code == 0)
            err.code = BG_EINVAL;
        bg_admin_respond_error(req, &err);
        return;
    }
    rc = bg_health_watch(s->health, t, &svc->cfg->health);
    if (rc != 0) {
        bg_admin_respond_errorf(req, rc, "cannot health-check %s: %s", address, bg_strerror(rc));
        bg_target_unref(t);
        return;
    }
    srv_slot_add(svc, slot, t);
    bg_log(BG_LOG_INFO, "route", "msg=\"target registered\" service=%s slot=%s target=%s id=%llu",
           name, bg_slot_str(slot), t->addr_str, (unsigned long long)t->id);
    publish_and_answer(s, NULL, req, 201, srv_target_json(s, t), false);
}

static void op_target_remove(void *ctx, bg_admin_req_t *req, const char *name, uint64_t id)
{
    bg_server_t *s = ctx;
    srv_service_t *svc = find_or_404(s, req, name);
    bg_target_t *t;
    json_t *body;

    if (svc == NULL || refuse_when_stopping(s, req))
        return;
    t = srv_service_take(svc, id);
    if (t == NULL) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' has no target %llu", name,
                                (unsigned long long)id);
        return;
    }
    /* Workers stop picking it at once; requests in flight on it finish (drain). */
    atomic_store_explicit(&t->draining, 1, memory_order_relaxed);
    body = json_pack("{s:o}", "deregistered", srv_target_json(s, t));
    bg_health_unwatch(s->health, t);
    bg_log(BG_LOG_INFO, "route", "msg=\"target deregistered\" service=%s slot=%s target=%s id=%llu",
           name, bg_slot_str((bg_slot_t)t->slot), t->addr_str, (unsigned long long)id);
    publish_and_answer(s, NULL, req, 200, body, false);
    bg_target_unref(t); /* older snapshots keep it alive while workers still use them */
}

void srv_metrics_slot_revision(srv_service_t *svc, int slot, int64_t revno, const char *version)
{
    bg_traffic_stats_t *base;
    const bg_traffic_stats_t *live;

    if (svc == NULL || slot < 0 || slot >= BG_SLOT_COUNT || revno == svc->metrics_rev[slot])
        return;
    base = &svc->metrics_base[slot];
    live = &svc->stats->slot[slot];
    /* The first revision seen owns everything counted so far (nothing ran before it). */
    if (svc->metrics_rev[slot] != 0) {
        for (int c = 0; c < 6; c++)
            atomic_store(&base->responses[c], LOAD(live->responses[c]));
        for (size_t b = 0; b < BG_LATENCY_BUCKETS; b++)
            atomic_store(&base->latency_bucket[b], LOAD(live->latency_bucket[b]));
        atomic_store(&base->bytes_in, LOAD(live->bytes_in));
        atomic_store(&base->bytes_out, LOAD(live->bytes_out));
        atomic_store(&base->latency_us_sum, LOAD(live->latency_us_sum));
    }
    svc->metrics_rev[slot] = revno;
    snprintf(svc->metrics_version[slot], sizeof(svc->metrics_version[slot]), "%s",
             version != NULL ? version : "");
}

static void op_metrics(void *ctx, bg_buf_t *out)
{
    bg_server_t *s = ctx;
    bg_metrics_service_t *view = bg_xcalloc(s->n_services ? s->n_services : 1, sizeof(*view));

    for (size_t i = 0; i < s->n_services; i++) {
        srv_service_t *svc = &s->services[i];
        view[i].name = svc->cfg->name;
        view[i].stats = svc->stats;
        view[i].has_switch = svc->last_switch_generation != 0;
        view[i].last_switch_ms = svc->last_switch_ms;
        view[i].switches = &svc->switches;
        view[i].deploys = s->deployer ? bg_deployer_counts(s->deployer, svc->cfg->name) : NULL;
        for (int sl = 0; sl < BG_SLOT_COUNT; sl++) {
            const char *version = NULL;
            int64_t revno =
                s->deployer ? bg_deployer_slot_revision(s->deployer, svc->cfg->name, sl, &version)
                            : 0;
            /* revno 0: the slot is empty now (a failed revision was stopped). */
            srv_metrics_slot_revision(svc, sl, revno, version);
            view[i].slot[sl] = (bg_metrics_slot_t){
                svc->weight[sl], svc->slot[sl].targets, svc->slot[sl].n,
                svc->metrics_version[sl], &svc->metrics_base[sl]};
        }
    }
    bg_metrics_render(out, view, s->n_services,
                      s->proxy_running ? bg_proxy_client_connections(s->proxy) : 0);
    bg_metrics_render_build_info(out, BG_VERSION);
    srv_tls_metrics(s, out);
    if (s->proxy_running) {
        uint64_t h2[4];
        bg_proxy_h2_counts(s->proxy, h2);
        bg_metrics_render_http2(out, h2);
    }
    free(view);
}

/* POST /v1/shutdown {"stop_targets":bool}: without stop_targets as SIGTERM (answered at
 * once; the instances keep running for the next daemon); with it, answered once every
 * instance was drained, stopped and marked stopped in the store, then the daemon exits. */
static void op_shutdown(bg_server_t *s, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    json_t *body = http->body_len > 0 ? json_loadb(http->body, http->body_len, 0, NULL) : NULL;
    json_t *st = json_object_get(body, "stop_targets");
    const char *actor = json_string_value(json_object_get(body, "actor"));
    const char *ua = bg_admin_req_header(req, "User-Agent");
    char peer[96];

    if (http->body_len > 0 && (!json_is_object(body) || (st != NULL && !json_is_boolean(st)))) {
        bg_admin_respond_errorf(req, BG_EINVAL, "body must be {\"stop_targets\": true|false}");
        json_decref(body);
        return;
    }
    if (actor == NULL)
        actor = bg_admin_req_header(req, "X-Bluegreen-Actor");
    snprintf(s->shutdown_actor, sizeof(s->shutdown_actor), "%s", actor ? actor : "admin");
    bg_admin_req_peer(req, peer, sizeof(peer));
    snprintf(s->shutdown_origin, sizeof(s->shutdown_origin), "%s%s%s", peer[0] ? peer : "admin-api",
             ua ? " ua=" : "", ua ? ua : "");
    srv_shutdown(s, json_is_true(st) ? "POST /v1/shutdown (stop targets)" : "POST /v1/shutdown",
                 json_is_true(st), req);
    json_decref(body);
}

/* Deployments, events, logs, matrix, plan and releases belong to the controller. */
static void op_other(void *ctx, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    bg_server_t *s = ctx;

    if (refuse_when_stopping(s, req))
        return;
    if (strcmp(http->path, "/v1/reload") == 0 || strcmp(http->path, "/v1/takeover") == 0) {
        if (strcmp(http->method, "POST") != 0)
            bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method,
                                    http->path);
        else if (http->path[4] == 'r')
            srv_reload(s, "POST /v1/reload", req);
        else
            srv_op_takeover(s, req);
        return;
    }
    if (strcmp(http->path, "/v1/shutdown") == 0) {
        if (strcmp(http->method, "POST") == 0)
            op_shutdown(s, req, http);
        else
            bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method,
                                    http->path);
        return;
    }
    if (strncmp(http->path, "/v1/tls", 7) == 0 && (http->path[7] == '\0' || http->path[7] == '/')) {
        srv_op_tls(s, req, http);
        return;
    }
    if (strcmp(http->path, "/v1/logs/reopen") == 0) {
        if (strcmp(http->method, "POST") == 0)
            srv_reopen_logs(s, req);
        else
            bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method,
                                    http->path);
        return;
    }
    if (strcmp(http->path, "/v1/stats") == 0) {
        if (strcmp(http->method, "GET") == 0)
            srv_live_route(s, req);
        else
            bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method,
                                    http->path);
        return;
    }
    if (s->deployer != NULL && bg_deployer_route(s->deployer, req, http))
        return;
    bg_admin_respond_errorf(req, BG_ENOTFOUND, "no route for %s %s", http->method, http->path);
}

const bg_admin_ops_t srv_admin_ops = {
    .other = op_other,
    .services = op_services,
    .service = op_service,
    .traffic = op_traffic,
    .target_add = op_target_add,
    .target_remove = op_target_remove,
    .metrics = op_metrics,
};
