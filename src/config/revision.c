/* Revision keys (version, run, image, env, count, port, api, labels, resources), shared by a service
 * in the config file and by revision files (`bluegreen deploy SERVICE -f REVISION.yaml`,
 * docs/design.md §10). A revision is immutable once built: deploy/ stores a copy.
 */
#include "config/internal.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "compat/semver.h"
#include "base/compat.h"

#define VERSION_EXPECT "a semantic version like 1.2.3 (MAJOR.MINOR.PATCH[-pre][+build])"

int cfg_rev_version(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;
    char *v = NULL;
    int rc = cfg_str(ctx, val, VERSION_EXPECT, &v);

    if (rc != 0)
        return rc;
    if (!cfg_semver_ok(v)) {
        rc = cfg_fail(ctx, val, "expected " VERSION_EXPECT ", got \"%.64s\"", v);
        free(v);
        return rc;
    }
    free(rev->version);
    rev->version = v;
    return 0;
}

static int run_command(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;
    char *line = NULL;
    const char *why = NULL;
    size_t n = 0;
    int rc;

    cfg_strv_free(rev->command, SIZE_MAX);
    rev->command = NULL;
    if (val->type == YAML_SEQUENCE_NODE) {
        rc = cfg_str_list(ctx, val, false, &rev->command, &n);
        if (rc == 0 && n == 0)
            rc = cfg_fail(ctx, val,
                          "expected a non-empty command list like [\"./app\", "
                          "\"--port\", \"8080\"]");
        return rc;
    }
    rc = cfg_str(ctx, val, "a command: a list of arguments or a string", &line);
    if (rc != 0)
        return rc;
    rev->command = cfg_split_command(line, &why);
    if (rev->command == NULL)
        rc = cfg_fail(ctx, val, "cannot split command \"%.64s\": %s", line, why);
    free(line);
    return rc;
}

static const cfg_field_t run_fields[] = {{"command", run_command, 0}, {"env", cfg_rev_env, 0}};

int cfg_rev_run(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;
    uint64_t seen = 0;
    char got[96];
    int rc;

    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected a mapping like {command: [\"./app\"]}, got %s",
                        cfg_describe(val, got, sizeof(got)));
    rc = cfg_walk(ctx, val, run_fields, BG_ARRAY_LEN(run_fields), rev, &seen);
    if (rc == 0 && !(seen & 1))
        rc = cfg_fail(ctx, val, "missing key \"command\"");
    return rc;
}

bool cfg_is_task_definition_arn(const char *s)
{
    const char *td = s != NULL ? strstr(s, ":task-definition/") : NULL;
    return td != NULL && strncmp(s, "arn:aws", 7) == 0 && strstr(s, ":ecs:") != NULL &&
           td[17] != '\0' && strchr(td + 17, ':') != NULL && strpbrk(s, " \t\n") == NULL;
}

int cfg_rev_image(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;

    bg_image_ref_t ref;
    const char *why = NULL;
    int rc = cfg_set_str(ctx, val, "an image reference like registry/app:1.2.3", &rev->image);

    /* The ecs driver pins a revision as its task definition (src/driver/ecs.c): stored
     * revisions (and a rollback's) name it in place of the image. */
    if (rc == 0 && cfg_is_task_definition_arn(rev->image))
        return 0;
    if (rc == 0 && !bg_image_ref_parse(rev->image, &ref, &why))
        rc = cfg_fail(ctx, val,
                      "expected an image reference like registry/app:1.2.3 "
                      "([REGISTRY/]NAME[:TAG][@sha256:DIGEST]), got \"%.200s\": %s",
                      rev->image, why);
    return rc;
}

/* resources: {memory: 256Mi, cpus: 0.5} -> the container's limits (docker driver). */
static int res_memory(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;
    int rc = cfg_size(ctx, val, &rev->memory_bytes);

    if (rc == 0 && rev->memory_bytes < 6 * 1024 * 1024)
        rc = cfg_fail(ctx, val, "expected at least 6Mi (the engine's minimum)");
    return rc;
}

static int res_cpus(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;
    char *s = NULL, *end = NULL;
    double v;
    int rc = cfg_str(ctx, val, "a number of CPUs like 0.5", &s);

    if (rc != 0)
        return rc;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= 0.001 && v <= 1024))
        rc = cfg_fail(ctx, val, "expected a number of CPUs like 0.5 (0.001-1024), got \"%.32s\"",
                      s);
    else
        rev->cpu_millis = (uint32_t)(v * 1000 + 0.5);
    free(s);
    return rc;
}

static const cfg_field_t resources_fields[] = {{"memory", res_memory, 0}, {"cpus", res_cpus, 0}};

int cfg_rev_resources(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, resources_fields, BG_ARRAY_LEN(resources_fields), obj, NULL);
}

int cfg_rev_env(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;

    return cfg_kv_map(ctx, val, &rev->env, &rev->n_env);
}

int cfg_rev_labels(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;

    return cfg_kv_map(ctx, val, &rev->labels, &rev->n_labels);
}

int cfg_rev_count(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 1000, &((bg_revision_config_t *)obj)->count);
}

int cfg_rev_port(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t port = 0;
    int rc = cfg_u32(ctx, val, 1, 65535, &port);

    ((bg_revision_config_t *)obj)->port = (uint16_t)port;
    return rc;
}

/* api.provides.<name>: "1.2.3" | ["1.10.0", "2.0.0"] */
static int provide_entry(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                         void *obj)
{
    bg_api_config_t *api = obj;
    bg_api_provide_t *p;
    int rc;

    if (key[0] == '\0')
        return cfg_fail(ctx, key_node, "expected an API name");
    api->provides = bg_xrealloc(api->provides, (api->n_provides + 1) * sizeof(*p));
    p = &api->provides[api->n_provides++];
    memset(p, 0, sizeof(*p));
    p->api = bg_strdup(key);
    if (val->type == YAML_SEQUENCE_NODE &&
        val->data.sequence.items.top == val->data.sequence.items.start)
        return cfg_fail(ctx, val, "expected at least one version");
    rc = cfg_str_list(ctx, val, true, &p->versions, &p->n_versions);
    if (rc != 0)
        return rc;
    if (p->n_versions == 0)
        return cfg_fail(ctx, val, "expected " VERSION_EXPECT " or a list of them, got nothing");
    for (size_t i = 0; i < p->n_versions; i++) {
        if (!cfg_semver_ok(p->versions[i])) {
            yaml_node_t *at = val;
            size_t saved = ctx->path_len;
            if (val->type == YAML_SEQUENCE_NODE) {
                at = cfg_node(ctx, val->data.sequence.items.start[i]);
                cfg_path_push_index(ctx, i);
            }
            rc = cfg_fail(ctx, at, "expected " VERSION_EXPECT ", got \"%.64s\"", p->versions[i]);
            cfg_path_pop(ctx, saved);
            return rc;
        }
    }
    return 0;
}

static unsigned quote_lead(const yaml_node_t *node)
{
    yaml_scalar_style_t st = node->data.scalar.style;

    return st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE ? 1 : 0;
}

/* api.requires.<name>: "^1.4", checked with the gate's own npm-range parser so that a
 * range the gate could not read is refused here, at its position. */
static int require_entry(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                         void *obj)
{
    bg_api_config_t *api = obj;
    bg_api_require_t *r;

    if (key[0] == '\0')
        return cfg_fail(ctx, key_node, "expected an API name");
    api->requires = bg_xrealloc(api->requires, (api->n_requires + 1) * sizeof(*r));
    r = &api->requires[api->n_requires++];
    memset(r, 0, sizeof(*r));
    r->api = bg_strdup(key);
    int rc = cfg_set_str(ctx, val, "a version range like \"^1.4\"", &r->range);
    if (rc != 0)
        return rc;
    bg_err_t rerr;
    bg_range_t *range = bg_range_parse(r->range, &rerr);
    if (range == NULL) {
        rc = cfg_fail(ctx, val, "%s", rerr.msg);
        /* A one-line scalar maps the range's own column onto the file's (past an opening
         * quote); otherwise the message names the column inside the range. */
        if (ctx->err != NULL && val->start_mark.line == val->end_mark.line && rerr.column > 0)
            ctx->err->column += rerr.column - 1 + quote_lead(val);
        return rc;
    }
    bg_range_free(range);
    return 0;
}

static int api_provides(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_each(ctx, val, provide_entry, obj);
}

static int api_requires(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_each(ctx, val, require_entry, obj);
}

static const cfg_field_t api_fields[] = {{"provides", api_provides, 0},
                                         {"requires", api_requires, 0}};

int cfg_rev_api(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;

    return cfg_walk(ctx, val, api_fields, BG_ARRAY_LEN(api_fields), &rev->api, NULL);
}

int cfg_rev_check_artifact(cfg_ctx_t *ctx, yaml_node_t *node, const bg_revision_config_t *rev,
                           bg_driver_kind_t driver)
{
    yaml_node_t *run = cfg_find(ctx, node, "run");
    yaml_node_t *image = cfg_find(ctx, node, "image");
    const char *d = bg_driver_kind_str(driver);

    switch (driver) {
    case BG_DRIVER_PROCESS:
        if (rev->command == NULL)
            return cfg_fail(ctx, node, "the process driver needs run.command");
        if (image != NULL)
            return cfg_fail(ctx, image,
                            "image is for the docker and ecs drivers; the process "
                            "driver runs run.command");
        break;
    case BG_DRIVER_DOCKER:
    case BG_DRIVER_ECS:
        if (rev->image == NULL)
            return cfg_fail(ctx, node, "the %s driver needs image", d);
        if (driver == BG_DRIVER_DOCKER && cfg_is_task_definition_arn(rev->image))
            return cfg_fail(ctx, image != NULL ? image : node,
                            "an ECS task definition ARN is an image only for the ecs driver");
        if (run != NULL)
            return cfg_fail(ctx, run, "run is for the process driver; the %s driver runs image", d);
        break;
    case BG_DRIVER_STATIC:
        if (run != NULL || image != NULL)
            return cfg_fail(ctx, run != NULL ? run : image,
                            "the static driver runs nothing: list its targets instead");
        break;
    }
    return 0;
}

void bg_api_config_fini(bg_api_config_t *api)
{
    for (size_t i = 0; i < api->n_provides; i++) {
        free(api->provides[i].api);
        cfg_strv_free(api->provides[i].versions, api->provides[i].n_versions);
    }
    free(api->provides);
    for (size_t i = 0; i < api->n_requires; i++) {
        free(api->requires[i].api);
        free(api->requires[i].range);
    }
    free(api->requires);
    memset(api, 0, sizeof(*api));
}

void bg_revision_config_fini(bg_revision_config_t *rev)
{
    if (rev == NULL)
        return;
    free(rev->version);
    cfg_strv_free(rev->command, SIZE_MAX);
    free(rev->image);
    cfg_kv_free(rev->env, rev->n_env);
    bg_api_config_fini(&rev->api);
    if (rev->strategy != NULL) {
        bg_strategy_fini(rev->strategy);
        free(rev->strategy);
    }
    cfg_kv_free(rev->labels, rev->n_labels);
    memset(rev, 0, sizeof(*rev));
}

void bg_api_config_copy(bg_api_config_t *out, const bg_api_config_t *in)
{
    memset(out, 0, sizeof(*out));
    if (in->n_provides > 0)
        out->provides = bg_xcalloc(in->n_provides, sizeof(bg_api_provide_t));
    for (size_t i = 0; i < in->n_provides; i++) {
        out->provides[i].api = bg_strdup(in->provides[i].api);
        out->provides[i].versions =
            cfg_strv_dup(in->provides[i].versions, in->provides[i].n_versions);
        out->provides[i].n_versions = in->provides[i].n_versions;
    }
    out->n_provides = in->n_provides;
    if (in->n_requires > 0)
    out->requires = bg_xcalloc(in->n_requires, sizeof(bg_api_require_t));
    for (size_t i = 0; i < in->n_requires; i++) {
        out->requires[i].api = bg_strdup(in->requires[i].api);
        out->requires[i].range = bg_strdup(in->requires[i].range);
    }
    out->n_requires = in->n_requires;
}

void bg_revision_config_copy(bg_revision_config_t *out, const bg_revision_config_t *in)
{
    memset(out, 0, sizeof(*out));
    out->version = bg_strdup(in->version);
    out->command = cfg_strv_dup(in->command, SIZE_MAX);
    out->image = bg_strdup(in->image);
    out->env = cfg_kv_dup(in->env, in->n_env);
    out->n_env = out->env != NULL ? in->n_env : 0;
    out->count = in->count;
    out->port = in->port;
    out->memory_bytes = in->memory_bytes;
    out->cpu_millis = in->cpu_millis;
    bg_api_config_copy(&out->api, &in->api);
    if (in->strategy != NULL) {
        out->strategy = BG_NEW(bg_strategy_t);
        *out->strategy = *in->strategy;
        out->strategy->steps = NULL;
        if (in->strategy->n_steps > 0) {
            size_t sz = in->strategy->n_steps * sizeof(bg_strategy_step_t);
            out->strategy->steps = bg_xmalloc(sz);
            memcpy(out->strategy->steps, in->strategy->steps, sz);
        }
    }
    out->labels = cfg_kv_dup(in->labels, in->n_labels);
    out->n_labels = out->labels != NULL ? in->n_labels : 0;
}

static int rev_strategy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_revision_config_t *rev = obj;

    if (rev->strategy == NULL)
        rev->strategy = BG_NEW(bg_strategy_t);
    return cfg_strategy(ctx, val, rev->strategy);
}

/* Order matters: bit i of `seen` is revision_fields[i]. */
enum { SEEN_ENV = 1u << 3, SEEN_COUNT = 1u << 4, SEEN_PORT = 1u << 5, SEEN_RESOURCES = 1u << 9 };
static const cfg_field_t revision_fields[] = {
    {"version", cfg_rev_version, 0}, {"run", cfg_rev_run, 0},       {"image", cfg_rev_image, 0},
    {"env", cfg_rev_env, 0},         {"count", cfg_rev_count, 0},   {"port", cfg_rev_port, 0},
    {"api", cfg_rev_api, 0},         {"strategy", rev_strategy, 0}, {"labels", cfg_rev_labels, 0},
    {"resources", cfg_rev_resources, 0},
};

/* Fills what the file left out: count, port and env from <svc>, version "0.0.0". */
static void rev_inherit(bg_revision_config_t *rev, const bg_service_config_t *svc, uint64_t seen)
{
    if (rev->version == NULL)
        rev->version = bg_strdup("0.0.0");
    if (!(seen & SEEN_COUNT))
        rev->count = svc != NULL ? svc->rev.count : 1;
    if (!(seen & SEEN_PORT) && svc != NULL)
        rev->port = svc->rev.port;
    if (!(seen & SEEN_RESOURCES) && svc != NULL) {
        rev->memory_bytes = svc->rev.memory_bytes;
        rev->cpu_millis = svc->rev.cpu_millis;
    }
    /* run.env alone also counts as setting the environment */
    if (!(seen & SEEN_ENV) && rev->n_env == 0 && svc != NULL) {
        rev->env = cfg_kv_dup(svc->rev.env, svc->rev.n_env);
        rev->n_env = rev->env != NULL ? svc->rev.n_env : 0;
    }
}

int bg_revision_parse(const char *text, size_t len, const char *name,
                      const bg_service_config_t *svc, bg_revision_config_t *out, bg_err_t *err)
{
    yaml_document_t doc;
    cfg_ctx_t ctx;
    yaml_node_t *root;
    uint64_t seen = 0;
    char got[96];
    int rc;

    memset(out, 0, sizeof(*out));
    bg_err_clear(err);
    rc = cfg_doc_load(text, len, name, &doc, err);
    if (rc != 0)
        return rc;
    cfg_ctx_init(&ctx, &doc, name, err);
    root = yaml_document_get_root_node(&doc);
    if (root == NULL || root->type != YAML_MAPPING_NODE) {
        rc = cfg_fail(&ctx, root,
                      "expected a revision mapping (version, run or image, ...), "
                      "got %s",
                      cfg_describe(root, got, sizeof(got)));
        goto out;
    }
    rc = cfg_walk(&ctx, root, revision_fields, BG_ARRAY_LEN(revision_fields), out, &seen);
    if (rc != 0)
        goto out;
    rev_inherit(out, svc, seen);
    if (svc != NULL)
        rc = cfg_rev_check_artifact(&ctx, root, out, svc->driver);
    else if (out->command == NULL && out->image == NULL)
        rc = cfg_fail(&ctx, root, "a revision needs run.command or image");
out:
    yaml_document_delete(&doc);
    if (rc != 0)
        bg_revision_config_fini(out);
    return rc;
}

int bg_revision_load(const char *path, const bg_service_config_t *svc, bg_revision_config_t *out,
                     bg_err_t *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    bg_err_clear(err);
    rc = bg_file_read(path, &text, &len, err);
    if (rc != 0)
        return rc;
    rc = bg_revision_parse(text, len, path, svc, out, err);
    free(text);
    return rc;
}
