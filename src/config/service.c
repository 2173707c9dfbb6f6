/* services.<name>: route, driver, revision keys, health, strategy, timings, rollback_on,
 * hooks, static targets and traffic (docs/design.md §2, §4, §5, §8, §10). Defaults are the
 * ones written beside the fields in config.h; validation that needs the whole service (driver
 * vs artifact, weights) runs once its mapping is read, with positions of the keys at fault.
 */
#include "config/internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/compat.h"

#define SVC(f) offsetof(bg_service_config_t, f)
#define REV SVC(rev)

static int route_host(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;
    int rc = cfg_set_str(ctx, val, "a host name like orders.local", &svc->host);

    if (rc == 0 && strpbrk(svc->host, " \t/") != NULL)
        return cfg_fail(ctx, val, "expected a host name like orders.local, got \"%.64s\"",
                        svc->host);
    return rc;
}

static int route_prefix(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;
    int rc = cfg_set_str(ctx, val, "a path prefix starting with /", &svc->path_prefix);

    if (rc == 0 && svc->path_prefix[0] != '/')
        return cfg_fail(ctx, val, "expected a path prefix starting with /, got \"%.64s\"",
                        svc->path_prefix);
    return rc;
}

static const cfg_field_t route_fields[] = {{"host", route_host, 0},
                                           {"path_prefix", route_prefix, 0}};

static int svc_route(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, route_fields, BG_ARRAY_LEN(route_fields), obj, NULL);
}

/* health.* */

static int h_type(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char *s = NULL;
    int rc = cfg_str(ctx, val, "http or tcp", &s);

    if (rc != 0)
        return rc;
    if (strcmp(s, "http") == 0)
        ((bg_health_config_t *)obj)->type = BG_HEALTH_HTTP;
    else if (strcmp(s, "tcp") == 0)
        ((bg_health_config_t *)obj)->type = BG_HEALTH_TCP;
    else
        rc = cfg_fail(ctx, val, "expected http or tcp, got \"%.64s\"", s);
    free(s);
    return rc;
}

static int h_format(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char *s = NULL;
    int rc = cfg_str(ctx, val, "actuator or status", &s);

    if (rc != 0)
        return rc;
    if (strcmp(s, "actuator") == 0)
        ((bg_health_config_t *)obj)->format = BG_HEALTH_FORMAT_ACTUATOR;
    else if (strcmp(s, "status") == 0)
        ((bg_health_config_t *)obj)->format = BG_HEALTH_FORMAT_STATUS;
    else
        rc = cfg_fail(ctx, val, "expected actuator or status, got \"%.64s\"", s);
    free(s);
    return rc;
}

static int h_path(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;
    int rc = cfg_set_str(ctx, val, "a path starting with /", &h->path);

    if (rc == 0 && h->path[0] != '/')
        return cfg_fail(ctx, val, "expected a path starting with /, got \"%.64s\"", h->path);
    return rc;
}

static int h_interval(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;
    int rc = cfg_duration(ctx, val, &h->interval_ms);

    if (rc == 0 && h->interval_ms == 0)
        return cfg_fail(ctx, val, "expected a duration above 0");
    return rc;
}

static int h_timeout(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;
    int rc = cfg_duration(ctx, val, &h->timeout_ms);

    if (rc == 0 && h->timeout_ms == 0)
        return cfg_fail(ctx, val, "expected a duration above 0");
    return rc;
}

static int h_healthy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 1000, &((bg_health_config_t *)obj)->healthy_threshold);
}

static int h_unhealthy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 1000, &((bg_health_config_t *)obj)->unhealthy_threshold);
}

/* "200-399" or "204" -> range; false if malformed or outside 100..599. */
static bool status_range(const char *s, size_t len, bg_status_range_t *r)
{
    bg_str_t all = bg_str_trim((bg_str_t){s, len});
    const char *dash = memchr(all.ptr, '-', all.len);
    uint64_t lo, hi;

    if (dash == NULL) {
        if (!bg_str_to_u64(all, 999, &lo))
            return false;
        hi = lo;
    } else {
        bg_str_t a = bg_str_trim((bg_str_t){all.ptr, (size_t)(dash - all.ptr)});
        bg_str_t b = bg_str_trim((bg_str_t){dash + 1, all.len - (size_t)(dash - all.ptr) - 1});
        if (!bg_str_to_u64(a, 999, &lo) || !bg_str_to_u64(b, 999, &hi))
            return false;
    }
    if (lo < 100 || hi > 599 || lo > hi)
        return false;
    r->lo = (uint16_t)lo;
    r->hi = (uint16_t)hi;
    return true;
}

/* One scalar of the matcher: "200-399", "200,204", 200. */
static int matcher_scalar(cfg_ctx_t *ctx, yaml_node_t *val, bg_health_config_t *h)
{
    char *s = NULL;
    const char *p;
    int rc = cfg_str(ctx, val, "status codes like 200-399 or 200,204", &s);

    if (rc != 0)
        return rc;
    for (p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (h->n_matcher == BG_MATCHER_MAX) {
            rc = cfg_fail(ctx, val, "at most %d status ranges", BG_MATCHER_MAX);
            break;
        }
        if (!status_range(p, len, &h->matcher[h->n_matcher])) {
            rc = cfg_fail(ctx, val,
                          "expected status codes (100-599) like 200-399 or 200,204, "
                          "got \"%.64s\"",
                          s);
            break;
        }
        h->n_matcher++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    free(s);
    return rc;
}

static int h_matcher(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;
    size_t n;

    h->n_matcher = 0;
    if (val->type != YAML_SEQUENCE_NODE)
        return matcher_scalar(ctx, val, h);
    n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    if (n == 0)
        return cfg_fail(ctx, val, "expected at least one status range");
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_path_push_index(ctx, i);
        int rc = matcher_scalar(ctx, cfg_node(ctx, val->data.sequence.items.start[i]), h);
        if (rc != 0)
            return rc;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

static int passive_failures(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 0, 1000, obj);
}

static const cfg_field_t passive_fields[] = {{"consecutive_failures", passive_failures, 0}};

static int h_passive(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;

    return cfg_walk(ctx, val, passive_fields, 1, &h->passive_failures, NULL);
}

static const cfg_field_t health_fields[] = {
    {"type", h_type, 0},
    {"path", h_path, 0},
    {"format", h_format, 0},
    {"interval", h_interval, 0},
    {"timeout", h_timeout, 0},
    {"healthy_threshold", h_healthy, 0},
    {"unhealthy_threshold", h_unhealthy, 0},
    {"matcher", h_matcher, 0},
    {"passive", h_passive, 0},
};

static int svc_health(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_health_config_t *h = obj;
    int rc = cfg_walk(ctx, val, health_fields, BG_ARRAY_LEN(health_fields), h, NULL);

    if (rc != 0 || h->type != BG_HEALTH_TCP)
        return rc;
    /* a TCP check only connects: HTTP keys would be silently ignored */
    static const char *const http_only[] = {"path", "format", "matcher"};
    for (size_t i = 0; i < BG_ARRAY_LEN(http_only); i++) {
        yaml_node_t *n = cfg_find(ctx, val, http_only[i]);
        if (n != NULL)
            return cfg_fail(ctx, n, "%s is for http checks; this check is type tcp", http_only[i]);
    }
    return 0;
}

/* timings */

static int svc_duration(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_duration(ctx, val, obj);
}

static int svc_bool(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_bool(ctx, val, obj);
}

/* rollback_on.* */

static int rb_error_rate(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_rollback_on_t *rb = obj;
    double pct = 0;
    int rc = cfg_percent(ctx, val, &pct);

    rb->has_error_rate = rc == 0;
    rb->error_rate = pct / 100.0;
    return rc;
}

static int rb_p99(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_duration(ctx, val, &((bg_rollback_on_t *)obj)->p99_ms);
}

static int rb_min_requests(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_u32(ctx, val, 1, 1000000000, &((bg_rollback_on_t *)obj)->min_requests);
}

static int rb_unhealthy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    uint32_t v = 0;
    int rc = cfg_u32(ctx, val, 0, 100000, &v);

    ((bg_rollback_on_t *)obj)->unhealthy_targets = (int32_t)v;
    return rc;
}

static int rb_window(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_rollback_on_t *rb = obj;
    int rc = cfg_duration(ctx, val, &rb->window_ms);

    if (rc == 0 && rb->window_ms < 1000)
        return cfg_fail(ctx, val, "expected a window of at least 1s");
    return rc;
}

static const cfg_field_t rollback_fields[] = {
    {"error_rate", rb_error_rate, 0},
    {"p99", rb_p99, 0},
    {"min_requests", rb_min_requests, 0},
    {"unhealthy_targets", rb_unhealthy, 0},
    {"window", rb_window, 0},
};

static int svc_rollback_on(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, rollback_fields, BG_ARRAY_LEN(rollback_fields), obj, NULL);
}

/* hooks.* */

static int hooks_test(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;

    return cfg_str_list(ctx, val, true, &svc->hooks_test, &svc->n_hooks_test);
}

static int hooks_check(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;

    return cfg_str_list(ctx, val, true, &svc->hooks_check, &svc->n_hooks_check);
}

static int hooks_timeout(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;
    int rc = cfg_duration(ctx, val, &svc->hooks_timeout_ms);

    if (rc == 0 && svc->hooks_timeout_ms == 0)
        return cfg_fail(ctx, val, "expected a duration above 0 such as 30s or 5m, got 0");
    return rc;
}

static const cfg_field_t hooks_fields[] = {
    {"test", hooks_test, 0}, {"check", hooks_check, 0}, {"timeout", hooks_timeout, 0}};

static int svc_hooks(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, hooks_fields, BG_ARRAY_LEN(hooks_fields), obj, NULL);
}

/* targets.{blue,green}: ["127.0.0.1:9001", ...] */

static int targets_slot(cfg_ctx_t *ctx, yaml_node_t *val, bg_service_config_t *svc, bg_slot_t slot)
{
    int rc = cfg_str_list(ctx, val, false, &svc->targets[slot], &svc->n_targets[slot]);

    for (size_t i = 0; rc == 0 && i < svc->n_targets[slot]; i++) {
        if (!cfg_addr_ok(svc->targets[slot][i], false)) {
            size_t saved = cfg_path_push_index(ctx, i);
            rc = cfg_fail(ctx, cfg_node(ctx, val->data.sequence.items.start[i]),
                          "expected an address host:port like 127.0.0.1:9001, got \"%.64s\"",
                          svc->targets[slot][i]);
            cfg_path_pop(ctx, saved);
        }
    }
    return rc;
}

static int targets_blue(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return targets_slot(ctx, val, obj, BG_SLOT_BLUE);
}

static int targets_green(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return targets_slot(ctx, val, obj, BG_SLOT_GREEN);
}

static const cfg_field_t targets_fields[] = {{"blue", targets_blue, 0},
                                             {"green", targets_green, 0}};

static int svc_targets(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_walk(ctx, val, targets_fields, BG_ARRAY_LEN(targets_fields), obj, NULL);
}

/* traffic: {blue: 100, green: 0}; a slot left out gets 0; the sum must be 100. */

static int traffic_weight(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_percent_u32(ctx, val, 0, 100, obj);
}

static const cfg_field_t traffic_fields[] = {
    {"blue", traffic_weight, offsetof(bg_service_config_t, traffic[BG_SLOT_BLUE])},
    {"green", traffic_weight, offsetof(bg_service_config_t, traffic[BG_SLOT_GREEN])},
};

static int svc_traffic(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_service_config_t *svc = obj;
    int rc;

    svc->traffic[BG_SLOT_BLUE] = svc->traffic[BG_SLOT_GREEN] = 0;
    rc = cfg_walk(ctx, val, traffic_fields, BG_ARRAY_LEN(traffic_fields), svc, NULL);
    if (rc != 0)
        return rc;
    if (svc->traffic[BG_SLOT_BLUE] + svc->traffic[BG_SLOT_GREEN] != 100)
        return cfg_fail(ctx, val, "weights must sum to 100, got blue %u + green %u = %u",
                        svc->traffic[BG_SLOT_BLUE], svc->traffic[BG_SLOT_GREEN],
                        svc->traffic[BG_SLOT_BLUE] + svc->traffic[BG_SLOT_GREEN]);
    svc->has_traffic = true;
    return 0;
}

static const cfg_field_t service_fields[] = {
    {"route", svc_route, 0},
    {"driver", cfg_driver, SVC(driver)},
    {"version", cfg_rev_version, REV},
    {"count", cfg_rev_count, REV},
    {"run", cfg_rev_run, REV},
    {"image", cfg_rev_image, REV},
    {"env", cfg_rev_env, REV},
    {"port", cfg_rev_port, REV},
    {"resources", cfg_rev_resources, REV},
    {"health", svc_health, SVC(health)},
    {"strategy", cfg_strategy, SVC(strategy)},
    {"bake", svc_duration, SVC(bake_ms)},
    {"termination_wait", svc_duration, SVC(termination_wait_ms)},
    {"drain", svc_duration, SVC(drain_ms)},
    {"stop_timeout", svc_duration, SVC(stop_timeout_ms)},
    {"startup_timeout", svc_duration, SVC(startup_timeout_ms)},
    {"rollback_on", svc_rollback_on, SVC(rollback_on)},
    {"api", cfg_rev_api, REV},
    {"hooks", svc_hooks, 0},
    {"targets", svc_targets, 0},
    {"traffic", svc_traffic, 0},
    {"keep_failed", svc_bool, SVC(keep_failed)},
    {"labels", cfg_rev_labels, REV},
    {"ecs", cfg_ecs, SVC(ecs)},
};

static void service_defaults(bg_service_config_t *svc, bg_driver_kind_t driver)
{
    svc->driver = driver;
    svc->rev.count = 1;
    svc->health.type = BG_HEALTH_HTTP;
    svc->health.format = BG_HEALTH_FORMAT_STATUS;
    svc->health.interval_ms = 5000;
    svc->health.timeout_ms = 2000;
    svc->health.healthy_threshold = 2;
    svc->health.unhealthy_threshold = 2;
    svc->health.passive_failures = 5;
    svc->strategy.kind = BG_STRATEGY_ALL_AT_ONCE;
    svc->termination_wait_ms = 300000;
    svc->drain_ms = 30000;
    svc->stop_timeout_ms = 10000;
    svc->hooks_timeout_ms = 300000;
    svc->startup_timeout_ms = 30000;
    svc->rollback_on.min_requests = 20;
    svc->rollback_on.unhealthy_targets = -1;
    svc->rollback_on.window_ms = 30000;
    svc->traffic[BG_SLOT_BLUE] = 100;
}

/* Whole-service rules: artifact vs driver, static targets. */
static int service_check(cfg_ctx_t *ctx, yaml_node_t *val, bg_service_config_t *svc)
{
    yaml_node_t *targets = cfg_find(ctx, val, "targets");

    if (svc->driver == BG_DRIVER_STATIC) {
        if (svc->n_targets[BG_SLOT_BLUE] + svc->n_targets[BG_SLOT_GREEN] == 0)
            return cfg_fail(ctx, targets != NULL ? targets : val,
                            "the static driver needs targets, e.g. targets: {blue: "
                            "[\"127.0.0.1:9001\"], green: [\"127.0.0.1:9002\"]}");
    } else if (targets != NULL) {
        return cfg_fail(ctx, targets,
                        "targets are only for the static driver (this service "
                        "uses %s)",
                        bg_driver_kind_str(svc->driver));
    }
    if (cfg_ecs_check(ctx, val, svc) != 0)
        return BG_EINVAL;
    return cfg_rev_check_artifact(ctx, val, &svc->rev, svc->driver);
}

int cfg_service(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                bg_driver_kind_t driver, bg_service_config_t *svc)
{
    char got[96];
    int rc;

    svc->name = bg_strdup(key);
    service_defaults(svc, driver);
    if (!cfg_service_name_ok(key))
        return cfg_fail(ctx, key_node,
                        "bad service name \"%.64s\": expected lowercase letters, "
                        "digits, - and _ (starting with a letter or digit, at "
                        "most 63)",
                        key);
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected a service mapping (route, run, health, ...), got %s",
                        cfg_describe(val, got, sizeof(got)));
    rc = cfg_walk(ctx, val, service_fields, BG_ARRAY_LEN(service_fields), svc, NULL);
    if (rc != 0)
        return rc;
    if (svc->path_prefix == NULL)
        svc->path_prefix = bg_strdup("/");
    if (svc->rev.version == NULL)
        svc->rev.version = bg_strdup("0.0.0");
    if (svc->health.n_matcher == 0) {
        svc->health.matcher[0] = (bg_status_range_t){200, 399};
        svc->health.n_matcher = 1;
    }
    return service_check(ctx, val, svc);
}

static bool host_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return bg_str_case_eq(bg_str(a), bg_str(b));
}

int cfg_service_check_routes(cfg_ctx_t *ctx, yaml_node_t *val, const bg_config_t *cfg, size_t idx)
{
    const bg_service_config_t *svc = &cfg->services[idx];

    for (size_t i = 0; i < idx; i++) {
        const bg_service_config_t *o = &cfg->services[i];
        yaml_node_t *route = cfg_find(ctx, val, "route");
        size_t saved;
        int rc;

        if (!host_eq(o->host, svc->host) || strcmp(o->path_prefix, svc->path_prefix) != 0)
            continue;
        saved = cfg_path_push_key(ctx, "route");
        rc = cfg_fail(ctx, route != NULL ? route : val,
                      "route conflict: services %s and %s both route host %s path_prefix %s",
                      o->name, svc->name, svc->host ? svc->host : "(any)", svc->path_prefix);
        cfg_path_pop(ctx, saved);
        return rc;
    }
    return 0;
}

void cfg_service_fini(bg_service_config_t *svc)
{
    free(svc->name);
    free(svc->host);
    free(svc->path_prefix);
    bg_revision_config_fini(&svc->rev);
    free(svc->health.path);
    bg_strategy_fini(&svc->strategy);
    cfg_strv_free(svc->hooks_test, svc->n_hooks_test);
    cfg_strv_free(svc->hooks_check, svc->n_hooks_check);
    for (int s = 0; s < BG_SLOT_COUNT; s++)
        cfg_strv_free(svc->targets[s], svc->n_targets[s]);
    cfg_ecs_fini(&svc->ecs);
    memset(svc, 0, sizeof(*svc));
}
