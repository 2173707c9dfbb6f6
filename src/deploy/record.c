/* The DEPLOYMENT record (docs/admin-api.md): built when a deployment starts, appended to at
 * every phase and switch, refreshed with the live fields when shown, and stored whole in
 * deployments.record_json so that history and restarts see exactly what the API showed.
 * Also revisions <-> JSON (the store's spec_json) and REVISION_REQUEST parsing: both go
 * through bg_revision_parse() (JSON is YAML), so a request is validated exactly as a
 * revision file is.
 */
#include "deploy/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "base/compat.h"

static json_t *ts_json(uint64_t wall_ms)
{
    char ts[40];
    return wall_ms ? json_string(bg_wall_format(wall_ms, ts)) : json_null();
}

static json_t *kv_json(const bg_kv_t *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value));
    return o;
}

static json_t *api_json(const bg_api_config_t *api)
{
    json_t *prov = json_object(), *req = json_object();

    for (size_t i = 0; i < api->n_provides; i++) {
        json_t *v = json_array();
        for (size_t k = 0; k < api->provides[i].n_versions; k++)
            json_array_append_new(v, json_string(api->provides[i].versions[k]));
        json_object_set_new(prov, api->provides[i].api, v);
    }
    for (size_t i = 0; i < api->n_requires; i++)
        json_object_set_new(req, api->requires[i].api, json_string(api->requires[i].range));
    return json_pack("{s:o,s:o}", "provides", prov, "requires", req);
}

static json_t *command_json(char *const *argv)
{
    json_t *a = json_array();
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++)
        json_array_append_new(a, json_string(argv[i]));
    return a;
}

json_t *dp_rev_to_json(const bg_revision_config_t *rev)
{
    json_t *j = json_pack("{s:s,s:i,s:o,s:o,s:o}", "version", rev->version ? rev->version : "0.0.0",
                          "count", (int)rev->count, "env", kv_json(rev->env, rev->n_env), "api",
                          api_json(&rev->api), "labels", kv_json(rev->labels, rev->n_labels));

    if (rev->command != NULL)
        json_object_set_new(j, "run", json_pack("{s:o}", "command", command_json(rev->command)));
    if (rev->image != NULL)
        json_object_set_new(j, "image", json_string(rev->image));
    if (rev->port != 0)
        json_object_set_new(j, "port", json_integer(rev->port));
    if (rev->memory_bytes != 0 || rev->cpu_millis != 0) {
        json_t *r = json_object();
        char cpus[32];
        if (rev->memory_bytes != 0)
            json_object_set_new(r, "memory", json_integer((json_int_t)rev->memory_bytes));
        if (rev->cpu_millis != 0) {
            snprintf(cpus, sizeof(cpus), "%u.%03u", rev->cpu_millis / 1000, rev->cpu_millis % 1000);
            json_object_set_new(r, "cpus", json_string(cpus));
        }
        json_object_set_new(j, "resources", r);
    }
    return j;
}

int dp_rev_add(bg_deployer_t *d, const char *service, const char *version,
               const bg_revision_config_t *rev, int64_t *number, bg_err_t *err)
{
    bg_store_revision_t row = {0};
    json_t *spec = dp_rev_to_json(rev);
    int rc;

    snprintf(row.service, sizeof(row.service), "%s", service);
    snprintf(row.version, sizeof(row.version), "%s", version);
    row.spec_json = json_dumps(spec, JSON_COMPACT);
    json_decref(spec);
    dp_tx(d);
    rc = bg_store_revision_add(d->store, &row, err);
    free(row.spec_json);
    if (rc == 0)
        *number = row.number;
    return rc;
}

int dp_rev_set_spec(bg_deployer_t *d, const char *service, int64_t number,
                    const bg_revision_config_t *rev, bg_err_t *err)
{
    json_t *spec = dp_rev_to_json(rev);
    char *text = json_dumps(spec, JSON_COMPACT);
    int rc;

    json_decref(spec);
    dp_tx(d);
    rc = bg_store_revision_set_spec(d->store, service, number, text, err);
    free(text);
    return rc;
}

int dp_rev_from_json(const json_t *j, const bg_service_config_t *svc, bg_revision_config_t *out,
                     bg_err_t *err)
{
    char *text = json_dumps(j, JSON_COMPACT);
    int rc = bg_revision_parse(text, strlen(text), "revision", svc, out, err);

    if (rc != 0 && err != NULL) {
        /* a position in JSON text made here means nothing to the client: the key says it */
        err->file[0] = '\0';
        err->line = err->column = 0;
    }
    free(text);
    return rc;
}

void dp_strategy_copy(bg_strategy_t *out, const bg_strategy_t *in)
{
    *out = *in;
    out->steps = NULL;
    if (in->n_steps > 0) {
        out->steps = bg_xcalloc(in->n_steps, sizeof(*in->steps));
        memcpy(out->steps, in->steps, in->n_steps * sizeof(*in->steps));
    }
}

/* The request's revision keys, as a revision document for bg_revision_parse(). */
static int request_doc(const json_t *body, json_t **doc, bg_err_t *err)
{
    static const char *const keys[] = {"version", "run", "image",  "env",      "count",
                                       "port",    "api", "labels", "resources"};
    const char *cmd = json_string_value(json_object_get(body, "cmd"));
    json_t *strategy = json_object_get(body, "strategy");

    *doc = json_object();
    for (size_t i = 0; i < BG_ARRAY_LEN(keys); i++) {
        json_t *v = json_object_get(body, keys[i]);
        if (v != NULL)
            json_object_set(*doc, keys[i], v);
    }
    if (json_is_object(strategy))
        json_object_set(*doc, "strategy", strategy);
    if (cmd != NULL) {
        char **argv = bg_config_split_command(cmd, err);
        if (argv == NULL)
            return err != NULL && err->code ? err->code : BG_EINVAL;
        json_object_set_new(*doc, "run", json_pack("{s:o}", "command", command_json(argv)));
        bg_config_argv_free(argv);
    }
    return 0;
}

static int request_strategy(const json_t *body, const bg_service_config_t *svc,
                            const bg_revision_config_t *rev, bg_strategy_t *out, bg_err_t *err)
{
    const char *cli = json_string_value(json_object_get(body, "strategy"));

    if (cli != NULL) {
        int rc = bg_strategy_parse_cli(cli, out, err);
        if (rc != 0 && err != NULL)
            snprintf(err->key, sizeof(err->key), "strategy");
        return rc;
    }
    dp_strategy_copy(out, rev->strategy != NULL ? rev->strategy : &svc->strategy);
    return 0;
}

int dp_request_parse(const json_t *body, const bg_service_config_t *svc, bg_revision_config_t *rev,
                     bg_strategy_t *strategy, bg_err_t *err)
{
    const json_t *file = json_object_get(body, "revision_file");
    json_t *doc = NULL;
    int rc;

    memset(rev, 0, sizeof(*rev));
    memset(strategy, 0, sizeof(*strategy));
    if (!json_is_object(body))
        return bg_err_set(err, BG_EINVAL, "the body must be a JSON object");
    if (json_is_object(file)) {
        const char *name = json_string_value(json_object_get(file, "name"));
        const char *yaml = json_string_value(json_object_get(file, "yaml"));
        if (yaml == NULL)
            return bg_err_set(err, BG_EINVAL, "revision_file.yaml must be a string");
        rc = bg_revision_parse(yaml, strlen(yaml), name ? name : "revision.yaml", svc, rev, err);
    } else if ((rc = request_doc(body, &doc, err)) == 0) {
        if (json_object_get(doc, "run") == NULL && json_object_get(doc, "image") == NULL)
            rc = bg_err_set(err, BG_EINVAL,
                            "give the artifact: run, cmd, image or "
                            "revision_file");
        else
            rc = dp_rev_from_json(doc, svc, rev, err);
    }
    json_decref(doc);
    if (rc == 0)
        rc = request_strategy(body, svc, rev, strategy, err);
    if (rc != 0) {
        bg_revision_config_fini(rev);
        bg_strategy_fini(strategy);
    }
    return rc;
}

json_t *dp_record_new(dp_deployment_t *dep, const char *actor, const char *origin, json_t *labels)
{
    char desc[256];
    json_t *artifact = json_object();
    json_t *lab = kv_json(dep->rev.labels, dep->rev.n_labels);

    if (json_is_object(labels))
        json_object_update(lab, labels);
    if (dep->rev.command != NULL)
        json_object_set_new(artifact, "command", command_json(dep->rev.command));
    if (dep->rev.image != NULL)
        json_object_set_new(artifact, "image", json_string(dep->rev.image));
    return json_pack(
        "{s:s,s:I,s:I,s:s,s:s,s:s,s:o,s:o,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o,s:o,s:o}", "service",
        dep->svc->cfg->name, "from_revision", (json_int_t)dep->from_rev, "to_revision",
        (json_int_t)dep->to_rev, "version", dep->rev.version ? dep->rev.version : "0.0.0", "slot",
        bg_slot_str((bg_slot_t)dep->slot), "strategy",
        bg_plan_describe(&dep->strategy, desc, sizeof(desc)), "labels", lab, "artifact", artifact,
        "actor", actor ? actor : "", "origin", origin ? origin : "", "api", api_json(&dep->rev.api),
        "phases", json_array(), "switches", json_array(), "evidence", json_null(), "started",
        ts_json(bg_wall_ms()), "ended", json_null(), "gate", json_null(), "api_source",
        dep->api_source != NULL ? json_incref(dep->api_source) : json_null());
}

void dp_record_phase(dp_deployment_t *dep)
{
    json_array_append_new(json_object_get(dep->record, "phases"),
                          json_pack("{s:s,s:o,s:{s:i,s:i}}", "phase",
                                    bg_deploy_phase_str(dep->phase), "at", ts_json(bg_wall_ms()),
                                    "traffic", "blue", (int)dep->svc->weight[0], "green",
                                    (int)dep->svc->weight[1]));
    dp_record_store(dep);
}

void dp_record_switch(dp_deployment_t *dep, const uint32_t w[2], double switch_ms)
{
    json_array_append_new(json_object_get(dep->record, "switches"),
                          json_pack("{s:{s:i,s:i},s:f,s:o}", "traffic", "blue", (int)w[0], "green",
                                    (int)w[1], "switch_ms", switch_ms, "at",
                                    ts_json(bg_wall_ms())));
    dp_record_store(dep);
}

static json_t *targets_json(dp_deployment_t *dep)
{
    bg_deploy_slot_status_t st = {0};

    if (dep->svc->slot[dep->slot].revno == dep->to_rev && dep->phase != BG_PHASE_DONE)
        dep->d->host.slot_status(dep->d->host.ctx, dep->svc->cfg->name, dep->slot, &st);
    return json_pack("{s:i,s:i,s:i}", "wanted", (int)dep->rev.count, "running", (int)st.targets,
                     "healthy", (int)st.healthy);
}

/* The strategy's steps as planned (the dashboard shows them beside the current one). */
static json_t *plan_json(const dp_deployment_t *dep)
{
    json_t *a = json_array();
    for (size_t i = 0; i < dep->n_steps; i++)
        json_array_append_new(a, json_pack("{s:i,s:I,s:b}", "percent", (int)dep->steps[i].percent,
                                           "wait_ms", (json_int_t)dep->steps[i].wait_ms, "pause",
                                           dep->steps[i].pause));
    return a;
}

/* When the current wait (a step's or the bake) ends, as wall time; null when the deployment
 * is not waiting out a step or the bake (or is paused: then it waits for resume/promote). */
static json_t *wait_until_json(const dp_deployment_t *dep)
{
    uint64_t now = bg_now_ms();

    if (dep->result != BG_RESULT_NONE || dep->paused || dep->stopping ||
        (dep->phase != BG_PHASE_PRODUCTION_TRAFFIC_SHIFT && dep->phase != BG_PHASE_BAKE) ||
        dep->wait_until_ms <= now)
        return json_null();
    return ts_json(bg_wall_ms() + (dep->wait_until_ms - now));
}

json_t *dp_record_view(dp_deployment_t *dep)
{
    json_t *r = dep->record;
    const uint32_t *w = dep->svc->weight;

    json_object_set_new(r, "id", json_integer(dep->id));
    json_object_set_new(r, "phase", json_string(bg_deploy_phase_str(dep->phase)));
    json_object_set_new(r, "result", json_string(bg_deploy_result_str(dep->result)));
    json_object_set_new(r, "reason", json_string(dep->reason));
    json_object_set_new(r, "paused", json_boolean(dep->paused));
    json_object_set_new(r, "traffic",
                        json_pack("{s:i,s:i}", "blue", (int)w[0], "green", (int)w[1]));
    json_object_set_new(r, "step", json_integer((json_int_t)dep->step));
    json_object_set_new(r, "steps", json_integer((json_int_t)dep->n_steps));
    json_object_set_new(r, "targets", targets_json(dep));
    json_object_set_new(r, "plan", plan_json(dep));
    json_object_set_new(r, "bake_ms", json_integer((json_int_t)dep->svc->cfg->bake_ms));
    json_object_set_new(r, "wait_until", wait_until_json(dep));
    if (dep->result != BG_RESULT_NONE && json_is_null(json_object_get(r, "ended")))
        json_object_set_new(r, "ended", ts_json(bg_wall_ms()));
    json_object_set_new(r, "rollback_available",
                        json_boolean(dep->svc->retiring == dep || dep->svc->running == dep));
    return r;
}

void dp_record_store(dp_deployment_t *dep)
{
    char *rec = json_dumps(dp_record_view(dep), JSON_COMPACT);

    dp_tx(dep->d);
    if (bg_store_deployment_set_record(dep->d->store, dep->id, rec, NULL) != 0)
        bg_log(BG_LOG_WARN, "deploy", "deployment=%lld msg=\"record not stored\"",
               (long long)dep->id);
    free(rec);
}
