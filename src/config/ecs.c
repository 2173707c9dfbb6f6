/* services.<name>.ecs: where the ecs driver runs a service on AWS (docs/ecs.md): cluster,
 * network, roles, the listener rules it moves traffic on and the target group of each slot.
 * Shapes are checked here (ARNs look like ARNs, URLs like URLs); whether they exist is
 * `check-config`'s business (bg_aws_check).
 */
#include "config/internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/compat.h"

#define ECS(f) offsetof(bg_ecs_config_t, f)

static int ecs_str(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_set_str(ctx, val, "a string", obj);
}

/* An ARN of <service> whose resource starts with <resource> ("listener-rule/"). */
static int ecs_arn(cfg_ctx_t *ctx, yaml_node_t *val, char **out, const char *service,
                   const char *resource)
{
    char want[96];
    int rc = cfg_set_str(ctx, val, "an ARN", out);

    snprintf(want, sizeof(want), "arn:aws:%s:", service);
    if (rc == 0 && (strncmp(*out, "arn:", 4) != 0 || strstr(*out, service) == NULL ||
                    (resource != NULL && strstr(*out, resource) == NULL)))
        return cfg_fail(ctx, val, "expected an ARN like %sREGION:ACCOUNT:%s..., got \"%.80s\"",
                        want, resource != NULL ? resource : "", *out);
    return rc;
}

static int ecs_rule(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return ecs_arn(ctx, val, obj, "elasticloadbalancing", "listener-rule/");
}

static int ecs_tg(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return ecs_arn(ctx, val, obj, "elasticloadbalancing", "targetgroup/");
}

static int ecs_lb(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return ecs_arn(ctx, val, obj, "elasticloadbalancing", "loadbalancer/");
}

static int ecs_role(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return ecs_arn(ctx, val, obj, "iam", "role/");
}

static int ecs_url(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char **out = obj;
    int rc = cfg_set_str(ctx, val, "a URL", out);

    if (rc == 0 && strncmp(*out, "http://", 7) != 0 && strncmp(*out, "https://", 8) != 0)
        return cfg_fail(ctx, val, "expected an http:// or https:// URL, got \"%.80s\"", *out);
    return rc;
}

static int ecs_launch_type(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    char **out = obj;
    int rc = cfg_set_str(ctx, val, "FARGATE, EC2 or EXTERNAL", out);

    if (rc == 0 && strcmp(*out, "FARGATE") != 0 && strcmp(*out, "EC2") != 0 &&
        strcmp(*out, "EXTERNAL") != 0)
        return cfg_fail(ctx, val, "expected one of FARGATE, EC2, EXTERNAL, got \"%.64s\"", *out);
    return rc;
}

static int ecs_subnets(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_ecs_config_t *e = obj;
    cfg_strv_free(e->subnets, e->n_subnets);
    e->subnets = NULL;
    e->n_subnets = 0;
    return cfg_str_list(ctx, val, true, &e->subnets, &e->n_subnets);
}

static int ecs_sgs(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_ecs_config_t *e = obj;
    cfg_strv_free(e->security_groups, e->n_security_groups);
    e->security_groups = NULL;
    e->n_security_groups = 0;
    return cfg_str_list(ctx, val, true, &e->security_groups, &e->n_security_groups);
}

static int ecs_bool(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_bool(ctx, val, obj);
}

static const cfg_field_t tg_fields[] = {
    {"blue", ecs_tg, ECS(target_groups[BG_SLOT_BLUE])},
    {"green", ecs_tg, ECS(target_groups[BG_SLOT_GREEN])},
};

static int ecs_tgs(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_ecs_config_t *e = obj;
    int rc = cfg_walk(ctx, val, tg_fields, BG_ARRAY_LEN(tg_fields), e, NULL);

    if (rc == 0 && (e->target_groups[0] == NULL || e->target_groups[1] == NULL))
        return cfg_fail(ctx, val, "target_groups needs both blue and green (target group ARNs)");
    if (rc == 0 && strcmp(e->target_groups[0], e->target_groups[1]) == 0)
        return cfg_fail(ctx, val, "blue and green need two different target groups");
    return rc;
}

static const cfg_field_t ecs_fields[] = {
    {"cluster", ecs_str, ECS(cluster)},
    {"region", ecs_str, ECS(region)},
    {"endpoint_url", ecs_url, ECS(endpoint_url)},
    {"launch_type", ecs_launch_type, ECS(launch_type)},
    {"subnets", ecs_subnets, 0},
    {"security_groups", ecs_sgs, 0},
    {"assign_public_ip", ecs_bool, ECS(assign_public_ip)},
    {"execution_role_arn", ecs_role, ECS(execution_role_arn)},
    {"task_role_arn", ecs_role, ECS(task_role_arn)},
    {"listener_rule_arn", ecs_rule, ECS(listener_rule_arn)},
    {"test_listener_rule_arn", ecs_rule, ECS(test_listener_rule_arn)},
    {"target_groups", ecs_tgs, 0},
    {"load_balancer_arn", ecs_lb, ECS(load_balancer_arn)},
    {"probe_url", ecs_url, ECS(probe_url)},
    {"test_url", ecs_url, ECS(test_url)},
    {"log_group", ecs_str, ECS(log_group)},
};

int cfg_ecs(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_ecs_config_t *e = obj;
    char got[96];
    int rc;

    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val,
                        "expected a mapping (cluster, listener_rule_arn, target_groups, ...), "
                        "got %s",
                        cfg_describe(val, got, sizeof(got)));
    e->present = true;
    rc = cfg_walk(ctx, val, ecs_fields, BG_ARRAY_LEN(ecs_fields), e, NULL);
    if (rc != 0)
        return rc;
    if (e->cluster == NULL)
        return cfg_fail(ctx, val, "missing cluster (the ECS cluster's name or ARN)");
    if (e->listener_rule_arn == NULL)
        return cfg_fail(ctx, val,
                        "missing listener_rule_arn (the production listener rule whose "
                        "weighted forward moves traffic)");
    if (e->target_groups[0] == NULL)
        return cfg_fail(ctx, val, "missing target_groups: {blue: ARN, green: ARN}");
    if (e->test_listener_rule_arn != NULL &&
        strcmp(e->test_listener_rule_arn, e->listener_rule_arn) == 0)
        return cfg_fail(ctx, cfg_find(ctx, val, "test_listener_rule_arn"),
                        "test_listener_rule_arn must differ from listener_rule_arn");
    return 0;
}

int cfg_ecs_check(cfg_ctx_t *ctx, yaml_node_t *svc_node, const bg_service_config_t *svc)
{
    yaml_node_t *node = cfg_find(ctx, svc_node, "ecs");
    size_t saved;
    int rc;

    if (svc->driver == BG_DRIVER_ECS && !svc->ecs.present)
        return cfg_fail(ctx, svc_node,
                        "the ecs driver needs an ecs: mapping (cluster, listener_rule_arn, "
                        "target_groups: {blue, green}, ...)");
    if (svc->driver != BG_DRIVER_ECS && node != NULL) {
        saved = cfg_path_push_key(ctx, "ecs");
        rc = cfg_fail(ctx, node, "ecs is only for the ecs driver (this service uses %s)",
                      bg_driver_kind_str(svc->driver));
        cfg_path_pop(ctx, saved);
        return rc;
    }
    return 0;
}

void cfg_ecs_fini(bg_ecs_config_t *e)
{
    free(e->cluster);
    free(e->region);
    free(e->endpoint_url);
    free(e->launch_type);
    cfg_strv_free(e->subnets, e->n_subnets);
    cfg_strv_free(e->security_groups, e->n_security_groups);
    free(e->execution_role_arn);
    free(e->task_role_arn);
    free(e->listener_rule_arn);
    free(e->test_listener_rule_arn);
    for (int s = 0; s < BG_SLOT_COUNT; s++)
        free(e->target_groups[s]);
    free(e->load_balancer_arn);
    free(e->probe_url);
    free(e->test_url);
    free(e->log_group);
    memset(e, 0, sizeof(*e));
}
