/* Admin routes of the controller (docs/admin-api.md "Deployments"): create (or dry-run) a
 * deployment, history, one deployment, rollback/promote/pause/resume/abort, logs; events,
 * matrix, plan and releases are dispatched to feed.c and release.c. The server passes
 * every request it does not serve itself through bg_deployer_route().
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

#define LOG_BYTES_DEFAULT (16 * 1024)
#define LOG_BYTES_MAX (1024 * 1024)

static json_t *dry_run_json(dp_deployment_t *dep, const bg_compat_result_t *res)
{
    json_t *phases = json_array(), *steps = json_array();

    for (int p = BG_PHASE_PRE_SCALE_UP; p <= BG_PHASE_CLEAN_UP; p++)
        json_array_append_new(phases, json_string(bg_deploy_phase_str((bg_deploy_phase_t)p)));
    for (size_t i = 0; i < dep->n_steps; i++)
        json_array_append_new(
            steps, json_pack("{s:i,s:I,s:b}", "percent", (int)dep->steps[i].percent, "wait_ms",
                             (json_int_t)dep->steps[i].wait_ms, "pause", dep->steps[i].pause));
    return json_pack("{s:b,s:o,s:o,s:o,s:s,s:o,s:s,s:O?}", "dry_run", 1, "gate",
                     bg_compat_result_to_json(res), "phases", phases, "steps", steps, "slot",
                     bg_slot_str((bg_slot_t)dep->slot), "revision", dp_rev_to_json(&dep->rev),
                     "service", dep->svc->cfg->name, "api_source", dep->api_source);
}

static json_t *dry_run(bg_deployer_t *d, dp_deployment_t *dep, bg_err_t *err)
{
    bg_compat_world_t *w = dp_world(d, err);
    bg_compat_result_t res;
    uint32_t first = 100;
    json_t *j = NULL;

    if (w == NULL)
        return NULL;
    for (size_t i = 0; i < dep->n_steps; i++) {
        if (!dep->steps[i].pause && dep->steps[i].percent > 0) {
            first = dep->steps[i].percent;
            break;
        }
    }
    bg_compat_result_init(&res);
    if (bg_compat_check_deploy(w, dep->svc->cfg->name, (bg_slot_t)dep->slot, &dep->rev, first,
                               dep->d->rules, &res, err) == 0)
        j = dry_run_json(dep, &res);
    bg_compat_result_fini(&res);
    bg_compat_world_free(w);
    return j;
}

static dp_deployment_t *running_anywhere(bg_deployer_t *d)
{
    for (size_t i = 0; i < d->n_services; i++)
        if (d->services[i].running != NULL)
            return d->services[i].running;
    return NULL;
}

/* Revision row, deployment row, record: all before the first phase acts. */
static int create(bg_deployer_t *d, dp_deployment_t *dep, const json_t *body, const char *actor,
                  const char *origin, bg_err_t *err)
{
    bg_store_deployment_t row = {0};
    int rc;

    rc = dp_rev_add(d, dep->svc->cfg->name, dep->rev.version ? dep->rev.version : "", &dep->rev,
                    &dep->to_rev, err);
    if (rc != 0)
        return rc;
    snprintf(row.service, sizeof(row.service), "%s", dep->svc->cfg->name);
    row.from_revision = dep->from_rev;
    row.to_revision = dep->to_rev;
    row.slot = dep->slot;
    snprintf(row.phase, sizeof(row.phase), "PRE_SCALE_UP");
    row.weight[0] = dep->svc->weight[0];
    row.weight[1] = dep->svc->weight[1];
    snprintf(row.actor, sizeof(row.actor), "%s", actor);
    snprintf(row.origin, sizeof(row.origin), "%s", origin);
    dep->record = dp_record_new(dep, actor, origin, json_object_get(body, "labels"));
    row.record_json = json_dumps(dep->record, JSON_COMPACT);
    rc = bg_store_deployment_create(d->store, &row, err);
    free(row.record_json);
    dep->id = row.id;
    return rc;
}

int dp_deploy_start(bg_deployer_t *d, dp_service_t *svc, const json_t *body, const char *actor,
                    const char *origin, dp_deployment_t **out, json_t **dry, bg_err_t *err)
{
    dp_deployment_t *busy = running_anywhere(d), *dep;
    int rc;

    *out = NULL;
    dep = dp_deployment_new(d, svc);
    if ((rc = dp_request_parse(body, svc->cfg, &dep->rev, &dep->strategy, err)) != 0)
        goto fail;
    dep->api_source = dp_request_api(body, svc, &dep->rev);
    /* The driver says what it can run (static: nothing; process: a command; docker: a
     * well-formed image) before anything is stored. */
    if (dp_driver(d, svc) != NULL &&
        (rc = bg_driver_validate(dp_driver(d, svc), svc->cfg->name, &dep->rev, err)) != 0)
        goto fail;
    dep->n_steps = bg_plan_steps(&dep->strategy, dep->steps);
    if (json_is_true(json_object_get(body, "dry_run"))) {
        *dry = dry_run(d, dep, err);
        rc = *dry != NULL ? 0 : (err->code ? err->code : BG_EINVAL);
        goto fail;
    }
    if (busy != NULL) {
        rc = bg_err_set(err, BG_ECONFLICT,
                        "deployment %" PRId64 " of %s is running; deployments run one at a "
                        "time",
                        busy->id, busy->svc->cfg->name);
        goto fail;
    }
    /* Nothing starts unless it can be recorded: a store that lost its file or its disk
     * reserve refuses, and the rows are committed before the first phase acts. */
    if ((rc = bg_store_status(d->store, err)) != 0)
        goto fail;
    if ((rc = create(d, dep, body, actor, origin, err)) != 0 || (rc = dp_flush(d, err)) != 0) {
        if (bg_store_in_tx(d->store))
            bg_store_rollback(d->store);
        goto fail;
    }
    svc->running = dep;
    *out = dep;
    dp_event(d, svc->cfg->name, dep->id, "deploy.start", actor, origin,
             "deployment %" PRId64 ": %s (rev %" PRId64 ") into %s, strategy %s", dep->id,
             dep->rev.version, dep->to_rev, bg_slot_str((bg_slot_t)dep->slot),
             json_string_value(json_object_get(dep->record, "strategy")));
    dp_enter(dep, BG_PHASE_PRE_SCALE_UP);
    dp_flush(d, NULL); /* stored before the API answers */
    return 0;
fail:
    dp_deployment_release(dep);
    return rc;
}

/* "unix:uid=1000 pid=42 ua=bluegreen/0.1.0": the peer as the socket says, the client as it
 * says, and X-Bluegreen-Origin when a CI runner passes one (e.g. a workflow run URL). */
static void origin_of(bg_admin_req_t *req, char *out, size_t size)
{
    const char *ua = bg_admin_req_header(req, "User-Agent");
    const char *fwd = bg_admin_req_header(req, "X-Bluegreen-Origin");
    char peer[96];

    bg_admin_req_peer(req, peer, sizeof(peer));
    snprintf(out, size, "%s%s%s%s%s", peer[0] ? peer : "admin-api", ua ? " ua=" : "", ua ? ua : "",
             fwd ? " from=" : "", fwd ? fwd : "");
}

static const char *actor_of(bg_admin_req_t *req, const json_t *body)
{
    const char *a = json_string_value(json_object_get(body, "actor"));
    const char *h = bg_admin_req_header(req, "X-Bluegreen-Actor");
    return a != NULL ? a : h != NULL ? h : "admin";
}

static void route_deploy(bg_deployer_t *d, bg_admin_req_t *req, dp_service_t *svc,
                         const bg_admin_http_t *http)
{
    json_error_t jerr;
    json_t *body = json_loadb(http->body, http->body_len, 0, &jerr);
    json_t *dry = NULL;
    dp_deployment_t *dep = NULL;
    char origin[128];
    bg_err_t err;

    bg_err_clear(&err);
    if (body == NULL) {
        bg_admin_respond_errorf(req, BG_EINVAL, "body is not JSON: %s", jerr.text);
        return;
    }
    origin_of(req, origin, sizeof(origin));
    if (dp_deploy_start(d, svc, body, actor_of(req, body), origin, &dep, &dry, &err) != 0)
        bg_admin_respond_error(req, &err);
    else if (dry != NULL)
        bg_admin_respond_json(req, 200, dry);
    else
        bg_admin_respond_json(req, 201, json_deep_copy(dp_record_view(dep)));
    json_decref(body);
}

/* ---- reading deployments ---- */

static dp_deployment_t *in_memory(bg_deployer_t *d, int64_t id)
{
    for (size_t i = 0; i < d->n_services; i++) {
        dp_service_t *svc = &d->services[i];
        if (svc->running != NULL && svc->running->id == id)
            return svc->running;
        if (svc->retiring != NULL && svc->retiring->id == id)
            return svc->retiring;
    }
    return NULL;
}

static json_t *stored_json(const bg_store_deployment_t *row)
{
    json_t *j = json_loads(row->record_json ? row->record_json : "{}", 0, NULL);

    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_object_set_new(j, "id", json_integer(row->id));
    json_object_set_new(j, "service", json_string(row->service));
    json_object_set_new(j, "phase", json_string(row->phase));
    json_object_set_new(j, "result", json_string(row->result));
    json_object_set_new(j, "reason", json_string(row->reason));
    json_object_set_new(
        j, "traffic",
        json_pack("{s:i,s:i}", "blue", (int)row->weight[0], "green", (int)row->weight[1]));
    return j;
}

json_t *dp_deployment_json(bg_deployer_t *d, int64_t id)
{
    dp_deployment_t *dep = in_memory(d, id);
    bg_store_deployment_t row;
    json_t *j;

    if (dep != NULL)
        j = json_deep_copy(dp_record_view(dep));
    else if (bg_store_deployment_get(d->store, id, &row, NULL) == 0) {
        j = stored_json(&row);
        bg_store_deployment_fini(&row);
    } else {
        return NULL;
    }
    dp_result_overlay(d, id, j);
    return j;
}

typedef struct history {
    bg_deployer_t *d;
    json_t *arr;
} history_t;

static int history_row(void *arg, const bg_store_deployment_t *row)
{
    history_t *h = arg;
    dp_deployment_t *dep = in_memory(h->d, row->id);

    json_t *j = dep != NULL ? json_deep_copy(dp_record_view(dep)) : stored_json(row);

    dp_result_overlay(h->d, row->id, j);
    json_array_append_new(h->arr, j);
    return 0;
}

static void route_history(bg_deployer_t *d, bg_admin_req_t *req, dp_service_t *svc,
                          const char *query)
{
    char lim[16] = "20";
    history_t h = {d, json_array()};

    dp_query(query, "limit", lim, sizeof(lim));
    bg_store_deployment_list(d->store, svc->cfg->name, (unsigned)strtoul(lim, NULL, 10),
                             history_row, &h, NULL);
    bg_admin_respond_json(req, 200, json_pack("{s:o}", "deployments", h.arr));
}

static void route_get(bg_deployer_t *d, bg_admin_req_t *req, const char *id_str)
{
    char *end;
    long long id = strtoll(id_str, &end, 10);
    json_t *j = *end == '\0' && id > 0 ? dp_deployment_json(d, id) : NULL;

    if (j == NULL)
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "deployment '%s' not found", id_str);
    else
        bg_admin_respond_json(req, 200, j);
}

/* ---- actions and logs ---- */

static void route_action(bg_deployer_t *d, bg_admin_req_t *req, dp_service_t *svc,
                         const char *action, const bg_admin_http_t *http)
{
    json_t *body = json_loadb(http->body, http->body_len, 0, NULL);
    const char *actor = actor_of(req, body);
    dp_deployment_t *dep = svc->running;
    char origin[128];
    bg_err_t err;
    int rc;

    bg_err_clear(&err);
    origin_of(req, origin, sizeof(origin));
    if (strcmp(action, "rollback") == 0) {
        json_t *broken = NULL, *e;
        rc = dp_manual_rollback(d, svc, json_is_true(json_object_get(body, "force")), actor, origin,
                                req, &broken, &err);
        if (rc != 0 && broken != NULL) {
            /* The gate's refusal: the CLI asks for --force and names the consumers. */
            e = bg_admin_error_json(rc, err.msg);
            json_object_set_new(json_object_get(e, "error"), "gate", json_true());
            json_object_set_new(json_object_get(e, "error"), "broken", broken);
            bg_admin_respond_json(req, 409, e);
        } else if (rc != 0) {
            bg_admin_respond_error(req, &err);
        }
    } else if (dp_manual(d, svc, action, actor, origin, &err) != 0) {
        bg_admin_respond_error(req, &err);
    } else {
        dp_flush(d, NULL);
        bg_admin_respond_json(req, 200, json_deep_copy(dp_record_view(dep)));
    }
    json_decref(body);
}

static void route_logs(bg_deployer_t *d, bg_admin_req_t *req, dp_service_t *svc, const char *query)
{
    char which[16] = "live", bytes_s[24] = "";
    unsigned long bytes = LOG_BYTES_DEFAULT;
    int slot;
    bg_buf_t out;

    dp_query(query, "slot", which, sizeof(which));
    if (dp_query(query, "bytes", bytes_s, sizeof(bytes_s)))
        bytes = strtoul(bytes_s, NULL, 10);
    if (bytes == 0 || bytes > LOG_BYTES_MAX)
        bytes = LOG_BYTES_DEFAULT;
    if (strcmp(which, "live") == 0 || strcmp(which, "preview") == 0) {
        slot = strcmp(which, "live") == 0 ? svc->live : 1 - svc->live;
    } else if (!bg_slot_parse(which, (bg_slot_t *)&slot)) {
        bg_admin_respond_errorf(req, BG_EINVAL, "slot must be live, preview, blue or green");
        return;
    }
    bg_buf_init(&out);
    d->host.logs(d->host.ctx, svc->cfg->name, slot, bytes, &out);
    bg_admin_respond_text(req, 200, "text/plain; charset=utf-8", out.data ? out.data : "", out.len);
    bg_buf_fini(&out);
}

/* /v1/services/NAME/<rest> */
static bool route_service(bg_deployer_t *d, bg_admin_req_t *req, const bg_admin_http_t *http,
                          const char *name_rest)
{
    static const char *const actions[] = {"rollback", "promote", "pause", "resume", "abort"};
    const char *slash = strchr(name_rest, '/');
    char name[64];
    dp_service_t *svc;
    const char *rest;
    bool get = strcmp(http->method, "GET") == 0, post = strcmp(http->method, "POST") == 0;

    if (slash == NULL || (size_t)(slash - name_rest) >= sizeof(name))
        return false;
    snprintf(name, sizeof(name), "%.*s", (int)(slash - name_rest), name_rest);
    rest = slash + 1;
    if (strcmp(rest, "deployments") != 0 && strcmp(rest, "logs") != 0) {
        bool known = false;
        for (size_t i = 0; i < BG_ARRAY_LEN(actions); i++)
            known = known || strcmp(rest, actions[i]) == 0;
        if (!known)
            return false;
    }
    if ((svc = dp_service_find(d, name)) == NULL) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "service '%s' not found", name);
    } else if (strcmp(rest, "deployments") == 0 && post) {
        route_deploy(d, req, svc, http);
    } else if (strcmp(rest, "deployments") == 0 && get) {
        route_history(d, req, svc, http->query);
    } else if (strcmp(rest, "logs") == 0 && get) {
        route_logs(d, req, svc, http->query);
    } else if (post && strcmp(rest, "deployments") != 0 && strcmp(rest, "logs") != 0) {
        route_action(d, req, svc, rest, http);
    } else {
        bg_admin_respond_errorf(req, BG_EINVAL, "%s is not allowed on %s", http->method,
                                http->path);
    }
    return true;
}

bool bg_deployer_route(bg_deployer_t *d, bg_admin_req_t *req, const bg_admin_http_t *http)
{
    const char *p = http->path;
    bool get = strcmp(http->method, "GET") == 0, post = strcmp(http->method, "POST") == 0;
    char origin[128];

    if (strncmp(p, "/v1/services/", 13) == 0)
        return route_service(d, req, http, p + 13);
    if (strncmp(p, "/v1/deployments/", 16) == 0 && get)
        route_get(d, req, p + 16);
    else if (strcmp(p, "/v1/events") == 0 && get)
        dp_feed_route_list(d, req, http->query);
    else if (strcmp(p, "/v1/events/stream") == 0 && get)
        dp_feed_route_stream(d, req, http->query);
    else if (strcmp(p, "/v1/matrix") == 0 && get)
        dp_route_matrix(d, req);
    else if (strcmp(p, "/v1/plan") == 0 && post)
        dp_route_plan(d, req, http->body, http->body_len);
    else if (strcmp(p, "/v1/releases") == 0 && post) {
        /* The release's actor and labels go with each of its deployments. */
        json_t *body = json_loadb(http->body, http->body_len, 0, NULL);
        json_t *labels = json_object_get(body, "labels");
        origin_of(req, origin, sizeof(origin));
        dp_route_release(d, req, http->body, http->body_len, actor_of(req, body), origin,
                         json_is_object(labels) ? labels : NULL);
        json_decref(body);
    } else
        return false;
    return true;
}
