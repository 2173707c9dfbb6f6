/* ECS operations the ecs driver builds on: a revision as a task definition, a slot's
 * service created or updated to a task definition and count, and a service's status with
 * the stoppedReason of its latest stopped task as evidence. Each is a short chain of
 * bg_aws_call()s carried by a small state object freed when its callback has run.
 */
#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>

#include "aws/internal.h"
#include "base/base.h"
#include "base/compat.h"

static void closed_err(bg_err_t *err, int rc)
{
    bg_err_clear(err);
    bg_err_set(err, rc, "AWS client closed");
}

/* ---- register ---- */

typedef struct reg_op {
    bg_aws_arn_cb cb;
    void *arg;
} reg_op_t;

static void on_registered(void *arg, const bg_aws_result_t *res)
{
    reg_op_t *op = arg;
    const char *arn = json_string_value(
        json_object_get(json_object_get(res->body, "taskDefinition"), "taskDefinitionArn"));
    if (res->status == 0 && arn == NULL) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, BG_EPROTO, "ecs RegisterTaskDefinition: no taskDefinitionArn");
        op->cb(op->arg, BG_EPROTO, NULL, &err);
    } else {
        op->cb(op->arg, res->status, res->status == 0 ? arn : NULL,
               res->status == 0 ? NULL : &res->err);
    }
    free(op);
}

static json_t *container_json(const bg_aws_taskdef_t *td, const char *region)
{
    json_t *env = json_array();
    for (size_t i = 0; i < td->n_env; i++)
        json_array_append_new(
            env, json_pack("{s:s, s:s}", "name", td->env[i].name, "value", td->env[i].value));
    json_t *c = json_pack("{s:s, s:s, s:b, s:[{s:i, s:s}], s:o}", "name", td->container, "image",
                          td->image, "essential", 1, "portMappings", "containerPort", (int)td->port,
                          "protocol", "tcp", "environment", env);
    if (td->log_group)
        json_object_set_new(c, "logConfiguration",
                            json_pack("{s:s, s:{s:s, s:s, s:s}}", "logDriver", "awslogs", "options",
                                      "awslogs-group", td->log_group, "awslogs-region", region,
                                      "awslogs-stream-prefix", td->family));
    return c;
}

int bg_aws_ecs_register(bg_aws_t *aws, const bg_aws_taskdef_t *td, bg_aws_arn_cb cb, void *arg)
{
    if (td->family == NULL || td->container == NULL || td->image == NULL || td->port == 0 ||
        td->port > 65535)
        return BG_EINVAL;
    json_t *p = json_pack("{s:s, s:s, s:[s], s:s, s:s, s:[o]}", "family", td->family, "networkMode",
                          "awsvpc", "requiresCompatibilities", "FARGATE", "cpu",
                          td->cpu ? td->cpu : "256", "memory", td->memory ? td->memory : "512",
                          "containerDefinitions", container_json(td, bg_aws_region(aws, "ecs")));
    if (td->execution_role_arn)
        json_object_set_new(p, "executionRoleArn", json_string(td->execution_role_arn));
    if (td->task_role_arn)
        json_object_set_new(p, "taskRoleArn", json_string(td->task_role_arn));
    reg_op_t *op = BG_NEW(reg_op_t);
    op->cb = cb;
    op->arg = arg;
    int rc = bg_aws_call(aws, &bg_aws_ecs, "RegisterTaskDefinition", p, on_registered, op);
    if (rc != 0)
        free(op);
    return rc;
}

/* ---- apply (create or update a slot's service) ---- */

typedef struct apply_op {
    bg_aws_t *aws;
    json_t *create; /* CreateService params */
    json_t *update; /* UpdateService params */
    bg_aws_arn_cb cb;
    void *arg;
} apply_op_t;

static void apply_done(apply_op_t *op, int status, const char *arn, const bg_err_t *err)
{
    op->cb(op->arg, status, arn, err);
    json_decref(op->create);
    json_decref(op->update);
    free(op);
}

static void on_applied(void *arg, const bg_aws_result_t *res)
{
    apply_op_t *op = arg;
    const char *arn =
        json_string_value(json_object_get(json_object_get(res->body, "service"), "serviceArn"));
    apply_done(op, res->status, res->status == 0 ? arn : NULL, res->status ? &res->err : NULL);
}

static void on_described(void *arg, const bg_aws_result_t *res)
{
    apply_op_t *op = arg;
    if (res->status != 0) {
        apply_done(op, res->status, NULL, &res->err);
        return;
    }
    json_t *svc = json_array_get(json_object_get(res->body, "services"), 0);
    const char *status = json_string_value(json_object_get(svc, "status"));
    bool exists = status && strcmp(status, "INACTIVE") != 0;
    const char *op_name = exists ? "UpdateService" : "CreateService";
    json_t *params;
    if (exists) {
        params = op->update;
        op->update = NULL;
    } else {
        params = op->create;
        op->create = NULL;
    }
    int rc = bg_aws_call(op->aws, &bg_aws_ecs, op_name, params, on_applied, op);
    if (rc != 0) {
        bg_err_t err;
        closed_err(&err, rc);
        apply_done(op, rc, NULL, &err);
    }
}

static json_t *strings(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

int bg_aws_ecs_apply(bg_aws_t *aws, const bg_aws_service_spec_t *s, bg_aws_arn_cb cb, void *arg)
{
    if (s->cluster == NULL || s->name == NULL || s->task_definition == NULL ||
        s->target_group_arn == NULL || s->container == NULL || s->port == 0 || s->port > 65535)
        return BG_EINVAL;
    apply_op_t *op = BG_NEW(apply_op_t);
    op->aws = aws;
    op->cb = cb;
    op->arg = arg;
    op->create =
        json_pack("{s:s, s:s, s:s, s:i, s:s, s:[{s:s, s:s, s:i}], s:{s:i, s:i}}", "cluster",
                  s->cluster, "serviceName", s->name, "taskDefinition", s->task_definition,
                  "desiredCount", (int)s->desired, "launchType",
                  s->launch_type ? s->launch_type : "FARGATE", "loadBalancers", "targetGroupArn",
                  s->target_group_arn, "containerName", s->container, "containerPort", (int)s->port,
                  "deploymentConfiguration", "maximumPercent", 200, "minimumHealthyPercent", 100);
    if (s->n_subnets > 0)
        json_object_set_new(op->create, "networkConfiguration",
                            json_pack("{s:{s:o, s:o, s:s}}", "awsvpcConfiguration", "subnets",
                                      strings(s->subnets, s->n_subnets), "securityGroups",
                                      strings(s->security_groups, s->n_security_groups),
                                      "assignPublicIp",
                                      s->assign_public_ip ? "ENABLED" : "DISABLED"));
    op->update = json_pack("{s:s, s:s, s:s, s:i}", "cluster", s->cluster, "service", s->name,
                           "taskDefinition", s->task_definition, "desiredCount", (int)s->desired);
    int rc = bg_aws_call(aws, &bg_aws_ecs, "DescribeServices",
                         json_pack("{s:s, s:[s]}", "cluster", s->cluster, "services", s->name),
                         on_described, op);
    if (rc != 0) {
        json_decref(op->create);
        json_decref(op->update);
        free(op);
    }
    return rc;
}

/* ---- status with stopped-task evidence ---- */

typedef struct status_op {
    bg_aws_t *aws;
    char *cluster, *service;
    bg_aws_service_status_t st;
    bg_aws_service_cb cb;
    void *arg;
} status_op_t;

static void status_done(status_op_t *op, int status, const bg_err_t *err)
{
    op->cb(op->arg, status, status == 0 ? &op->st : NULL, err);
    free(op->cluster);
    free(op->service);
    free(op);
}

static void on_stopped_tasks(void *arg, const bg_aws_result_t *res)
{
    status_op_t *op = arg;
    if (res->status != 0) {
        status_done(op, res->status, &res->err);
        return;
    }
    /* The latest stop wins: by stoppedAt when the service reports it, else list order. */
    double best = -1;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(res->body, "tasks"), i, t)
    {
        const char *reason = json_string_value(json_object_get(t, "stoppedReason"));
        if (reason == NULL)
            continue;
        double at = (double)i;
        json_t *when = json_object_get(t, "stoppedAt");
        if (json_is_number(when))
            at = json_number_value(when);
        if (at >= best) {
            const char *td = json_string_value(json_object_get(t, "taskDefinitionArn"));
            const char *code = json_string_value(json_object_get(t, "stopCode"));
            best = at;
            snprintf(op->st.stopped_reason, sizeof(op->st.stopped_reason), "%s", reason);
            snprintf(op->st.stopped_task_definition, sizeof(op->st.stopped_task_definition),
                     "%s", td ? td : "");
            snprintf(op->st.stop_code, sizeof(op->st.stop_code), "%s", code ? code : "");
        }
    }
    status_done(op, 0, NULL);
}

static void on_stopped_list(void *arg, const bg_aws_result_t *res)
{
    status_op_t *op = arg;
    if (res->status != 0) {
        status_done(op, res->status, &res->err);
        return;
    }
    json_t *arns = json_object_get(res->body, "taskArns");
    if (json_array_size(arns) == 0) {
        status_done(op, 0, NULL);
        return;
    }
    /* DescribeTasks takes at most 100 tasks. */
    json_t *some = json_array();
    for (size_t i = 0; i < json_array_size(arns) && i < 100; i++)
        json_array_append(some, json_array_get(arns, i));
    int rc = bg_aws_call(op->aws, &bg_aws_ecs, "DescribeTasks",
                         json_pack("{s:s, s:o}", "cluster", op->cluster, "tasks", some),
                         on_stopped_tasks, op);
    if (rc != 0) {
        bg_err_t err;
        closed_err(&err, rc);
        status_done(op, rc, &err);
    }
}

static void on_service(void *arg, const bg_aws_result_t *res)
{
    status_op_t *op = arg;
    if (res->status != 0) {
        status_done(op, res->status, &res->err);
        return;
    }
    json_t *svc = json_array_get(json_object_get(res->body, "services"), 0);
    if (svc == NULL) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, BG_ENOTFOUND, "ecs service %s not found in cluster %s", op->service,
                   op->cluster);
        status_done(op, BG_ENOTFOUND, &err);
        return;
    }
    const char *status = json_string_value(json_object_get(svc, "status"));
    int64_t v = 0;
    op->st.active = status && strcmp(status, "ACTIVE") == 0;
    op->st.desired = bg_aws_json_int(svc, "desiredCount", &v) ? (unsigned)v : 0;
    op->st.running = bg_aws_json_int(svc, "runningCount", &v) ? (unsigned)v : 0;
    op->st.pending = bg_aws_json_int(svc, "pendingCount", &v) ? (unsigned)v : 0;
    snprintf(op->st.task_definition, sizeof(op->st.task_definition), "%s",
             json_string_value(json_object_get(svc, "taskDefinition"))
                 ? json_string_value(json_object_get(svc, "taskDefinition"))
                 : "");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(svc, "deployments"), i, d)
    {
        const char *ds = json_string_value(json_object_get(d, "status"));
        const char *rollout = json_string_value(json_object_get(d, "rolloutState"));
        if (ds && strcmp(ds, "PRIMARY") == 0)
            op->st.steady =
                rollout && strcmp(rollout, "COMPLETED") == 0 && op->st.running == op->st.desired;
    }
    int rc = bg_aws_call(op->aws, &bg_aws_ecs, "ListTasks",
                         json_pack("{s:s, s:s, s:s}", "cluster", op->cluster, "serviceName",
                                   op->service, "desiredStatus", "STOPPED"),
                         on_stopped_list, op);
    if (rc != 0) {
        bg_err_t err;
        closed_err(&err, rc);
        status_done(op, rc, &err);
    }
}

int bg_aws_ecs_status(bg_aws_t *aws, const char *cluster, const char *service, bg_aws_service_cb cb,
                      void *arg)
{
    if (cluster == NULL || service == NULL)
        return BG_EINVAL;
    status_op_t *op = BG_NEW(status_op_t);
    op->aws = aws;
    op->cluster = bg_strdup(cluster);
    op->service = bg_strdup(service);
    op->cb = cb;
    op->arg = arg;
    int rc = bg_aws_call(aws, &bg_aws_ecs, "DescribeServices",
                         json_pack("{s:s, s:[s]}", "cluster", cluster, "services", service),
                         on_service, op);
    if (rc != 0) {
        free(op->cluster);
        free(op->service);
        free(op);
    }
    return rc;
}
