/* Compatibility views and multi-service releases (docs/design.md §6): `GET /v1/matrix` (the world
 * the controller knows), `POST /v1/plan` (order a release file so that every intermediate
 * state passes the gate) and `POST /v1/releases` (run that order as deployments one after
 * another, stopping at the first that does not succeed; answered when done: long-poll).
 */
#include "deploy/internal.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

struct dp_release {
    bg_deployer_t *d;
    int64_t id;
    bg_admin_req_t *req;
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    size_t next;
    json_t *steps;
    char actor[64], origin[128];
    json_t *labels; /* the request's labels, given to each deployment; or NULL */
    bool failed;
};

void dp_route_matrix(bg_deployer_t *d, bg_admin_req_t *req)
{
    bg_err_t err;
    bg_compat_world_t *w;

    bg_err_clear(&err);
    w = dp_world(d, &err);
    if (w == NULL) {
        bg_admin_respond_error(req, &err);
        return;
    }
    bg_admin_respond_json(req, 200, bg_compat_matrix_json(w, d->rules));
    bg_compat_world_free(w);
}

/* Parses {"release_file":{"name","yaml","dir"}} and plans it. */
static int plan_body(bg_deployer_t *d, const char *body, size_t len, bg_compat_release_t *rel,
                     bg_compat_plan_t *plan, bg_err_t *err)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    json_t *f = json_object_get(j, "release_file");
    const char *name = json_string_value(json_object_get(f, "name"));
    const char *yaml = json_string_value(json_object_get(f, "yaml"));
    const char *dir = json_string_value(json_object_get(f, "dir"));
    bg_compat_world_t *w = NULL;
    char *path = NULL;
    int rc;

    memset(rel, 0, sizeof(*rel));
    memset(plan, 0, sizeof(*plan));
    if (yaml == NULL) {
        rc = bg_err_set(err, BG_EINVAL, "release_file.yaml must be a string");
        goto out;
    }
    if (name == NULL)
        name = "release.yaml";
    path = dir != NULL && name[0] != '/' ? bg_asprintf("%s/%s", dir, name) : bg_strdup(name);
    if ((rc = bg_compat_release_parse(yaml, strlen(yaml), path, d->cfg, rel, err)) != 0)
        goto out;
    if ((w = dp_world(d, err)) == NULL) {
        rc = err->code ? err->code : BG_EINVAL;
        goto out;
    }
    rc = bg_compat_plan(w, rel, d->rules, plan, err);
out:
    bg_compat_world_free(w);
    free(path);
    json_decref(j);
    return rc;
}

static json_t *plan_answer(const bg_compat_plan_t *plan)
{
    json_t *order = json_array(), *full = bg_compat_plan_to_json(plan), *a;

    for (size_t i = 0; i < plan->n_steps; i++) {
        const bg_compat_plan_step_t *s = &plan->steps[i];
        char *reason = s->from_version != NULL
                           ? bg_asprintf("%s -> %s", s->from_version, s->to_version)
                           : bg_asprintf("new: %s", s->to_version);
        json_array_append_new(order, json_pack("{s:s,s:s,s:s}", "service", s->service, "version",
                                               s->to_version, "reason", reason));
        free(reason);
    }
    a = json_pack("{s:b,s:o}", "ok", plan->ok, "order", order);
    if (!plan->ok)
        json_object_set_new(a, "blocked",
                            json_pack("{s:O,s:s,s:O}", "cycle", json_object_get(full, "cycle"),
                                      "message", plan->explanation ? plan->explanation : "", "hint",
                                      json_object_get(full, "hint")));
    else
        json_object_set_new(a, "blocked", json_null());
    json_object_set_new(a, "plan", full);
    return a;
}

void dp_route_plan(bg_deployer_t *d, bg_admin_req_t *req, const char *body, size_t len)
{
    bg_compat_release_t rel;
    bg_compat_plan_t plan;
    bg_err_t err;

    bg_err_clear(&err);
    if (plan_body(d, body, len, &rel, &plan, &err) != 0)
        bg_admin_respond_error(req, &err);
    else
        bg_admin_respond_json(req, 200, plan_answer(&plan));
    bg_compat_plan_fini(&plan);
    bg_compat_release_fini(&rel);
}

/* ---- releases ---- */

static json_t *live_json(bg_deployer_t *d)
{
    json_t *live = json_object();

    for (size_t i = 0; i < d->n_services; i++) {
        dp_service_t *svc = &d->services[i];
        const dp_slot_t *sl = &svc->slot[svc->live];
        json_object_set_new(live, svc->cfg->name,
                            json_pack("{s:s,s:s,s:I}", "version", sl->revno ? sl->rev.version : "",
                                      "slot", bg_slot_str((bg_slot_t)svc->live), "revision",
                                      (json_int_t)sl->revno));
    }
    return live;
}

static void release_end(dp_release_t *r, const char *result)
{
    bg_deployer_t *d = r->d;

    dp_event(d, "", 0, "release.result", r->actor, r->origin, "release %" PRId64 ": %s", r->id,
             result);
    dp_flush(d, NULL);
    if (r->req != NULL)
        bg_admin_respond_json(r->req, 200,
                              json_pack("{s:I,s:O,s:s,s:o,s:o}", "id", (json_int_t)r->id, "steps",
                                        r->steps, "result", result, "live", live_json(d), "plan",
                                        plan_answer(&r->plan)));
    if (d->release == r)
        d->release = NULL;
    json_decref(r->steps);
    json_decref(r->labels);
    bg_compat_plan_fini(&r->plan);
    bg_compat_release_fini(&r->rel);
    free(r);
}

static void release_next(dp_release_t *r)
{
    const bg_compat_plan_step_t *s;
    dp_deployment_t *dep = NULL;
    json_t *body, *dry = NULL;
    bg_err_t err;

    if (r->next >= r->plan.n_steps) {
        release_end(r, "SUCCEEDED");
        return;
    }
    s = &r->plan.steps[r->next++];
    body = dp_rev_to_json(&r->rel.entries[s->entry].rev);
    if (r->labels != NULL) {
        /* the revision's own labels, then the release's (which win) */
        json_t *l = json_object_get(body, "labels");
        if (!json_is_object(l))
            json_object_set_new(body, "labels", l = json_object());
        json_object_update(l, r->labels);
    }
    bg_err_clear(&err);
    if (dp_deploy_start(r->d, dp_service_find(r->d, s->service), body, r->actor, r->origin, &dep,
                        &dry, &err) != 0) {
        json_array_append_new(r->steps,
                              json_pack("{s:s,s:n,s:s,s:s}", "service", s->service, "deployment",
                                        "result", "FAILED", "reason", err.msg));
        json_decref(body);
        release_end(r, "FAILED");
        return;
    }
    json_decref(body);
    if (dep->result == BG_RESULT_NONE)
        dep->release = r; /* else it ended already and release_step was called below */
    else
        dp_release_note(r, dep);
}

void dp_release_note(dp_release_t *r, dp_deployment_t *dep)
{
    const char *result = bg_deploy_result_str(dep->result);

    json_array_append_new(r->steps, json_pack("{s:s,s:O,s:s}", "service", dep->svc->cfg->name,
                                              "deployment", dp_record_view(dep), "result", result));
    if (dep->result != BG_RESULT_SUCCEEDED) {
        release_end(r, result);
        return;
    }
    release_next(r);
}

void dp_release_step_done(dp_deployment_t *dep)
{
    dp_release_t *r = dep->release;

    dep->release = NULL;
    dp_release_note(r, dep);
}

void dp_route_release(bg_deployer_t *d, bg_admin_req_t *req, const char *body, size_t len,
                      const char *actor, const char *origin, const json_t *labels)
{
    dp_release_t *r;
    bg_err_t err;

    if (d->release != NULL) {
        bg_admin_respond_errorf(req, BG_ECONFLICT, "release %" PRId64 " is running",
                                d->release->id);
        return;
    }
    r = BG_NEW(dp_release_t);
    r->d = d;
    r->id = ++d->release_seq;
    r->steps = json_array();
    snprintf(r->actor, sizeof(r->actor), "%s", actor);
    snprintf(r->origin, sizeof(r->origin), "%s", origin);
    r->labels = labels != NULL ? json_deep_copy(labels) : NULL;
    bg_err_clear(&err);
    if (plan_body(d, body, len, &r->rel, &r->plan, &err) != 0) {
        bg_admin_respond_error(req, &err);
        release_end(r, "FAILED");
        return;
    }
    r->req = req;
    d->release = r;
    dp_event(d, "", 0, "release.start", actor, origin, "release %" PRId64 ": %zu deployments",
             r->id, r->plan.n_steps);
    if (!r->plan.ok) {
        release_end(r, "REFUSED");
        return;
    }
    release_next(r);
}

void dp_release_abandon(bg_deployer_t *d)
{
    if (d->release == NULL)
        return;
    if (d->release->req != NULL)
        bg_admin_respond_errorf(d->release->req, BG_EUNAVAIL, "the daemon is shutting down");
    d->release->req = NULL;
    release_end(d->release, "ABORTED");
}
