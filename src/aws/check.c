/* The access check behind `bluegreen check-config` for an ecs config: who the credentials
 * are (sts:GetCallerIdentity), then whether the cluster, the listener rules and the target
 * groups the config names exist, one describe call each so a missing one is named. The
 * steps run one after another on the client; a "not found" answer is a finding, any other
 * error (credentials, access denied, network) ends the check.
 */
#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>

#include "aws/internal.h"
#include "base/base.h"
#include "base/compat.h"

typedef enum step_kind {
    STEP_IDENTITY = 0,
    STEP_CLUSTER = 1,
    STEP_RULE = 2,
    STEP_TARGET_GROUP = 3,
} step_kind_t;

typedef struct step {
    step_kind_t kind;
    char *name;
} step_t;

typedef struct check_op {
    bg_aws_t *aws;
    step_t *steps;
    size_t n, next;
    bool missing;
    bg_buf_t report;
    bg_aws_check_cb cb;
    void *arg;
} check_op_t;

static void check_free(check_op_t *op)
{
    for (size_t i = 0; i < op->n; i++)
        free(op->steps[i].name);
    free(op->steps);
    bg_buf_fini(&op->report);
    free(op);
}

static void check_done(check_op_t *op, int status, const bg_err_t *err)
{
    op->cb(op->arg, status, op->report.data ? op->report.data : "", err);
    check_free(op);
}

static void run_step(check_op_t *op);

static const char *text(const json_t *obj, const char *key)
{
    const char *v = json_string_value(json_object_get(obj, key));
    return v ? v : "?";
}

static void note_found(check_op_t *op, const step_t *s, const json_t *body)
{
    switch (s->kind) {
    case STEP_IDENTITY:
        bg_buf_printf(&op->report, "identity: %s (account %s)\n", text(body, "Arn"),
                      text(body, "Account"));
        break;
    case STEP_CLUSTER: {
        json_t *c = json_array_get(json_object_get(body, "clusters"), 0);
        const char *st = json_string_value(json_object_get(c, "status"));
        if (c == NULL || st == NULL || strcmp(st, "ACTIVE") != 0) {
            op->missing = true;
            bg_buf_printf(&op->report, "cluster %s: %s\n", s->name, st ? st : "missing");
        } else {
            bg_buf_printf(&op->report, "cluster %s: ACTIVE\n", s->name);
        }
        break;
    }
    case STEP_RULE:
        bg_buf_printf(&op->report, "listener rule %s: found\n", s->name);
        break;
    case STEP_TARGET_GROUP:
        bg_buf_printf(&op->report, "target group %s: found\n", s->name);
        break;
    }
}

static void on_step(void *arg, const bg_aws_result_t *res)
{
    check_op_t *op = arg;
    const step_t *s = &op->steps[op->next++];
    if (res->status == BG_ENOTFOUND) {
        op->missing = true;
        bg_buf_printf(&op->report, "%s %s: missing (%s)\n",
                      s->kind == STEP_RULE ? "listener rule" : "target group", s->name,
                      res->aws_code);
    } else if (res->status != 0) {
        bg_buf_printf(&op->report, "error: %s\n", res->err.msg);
        check_done(op, res->status, &res->err);
        return;
    } else {
        note_found(op, s, res->body);
    }
    run_step(op);
}

static void run_step(check_op_t *op)
{
    if (op->next == op->n) {
        bg_err_t err;
        bg_err_clear(&err);
        if (op->missing)
            bg_err_set(&err, BG_ENOTFOUND, "AWS resources named in the config are missing");
        check_done(op, op->missing ? BG_ENOTFOUND : 0, op->missing ? &err : NULL);
        return;
    }
    const step_t *s = &op->steps[op->next];
    const bg_aws_service_t *svc = &bg_aws_elbv2;
    const char *name = NULL;
    json_t *p = NULL;
    switch (s->kind) {
    case STEP_IDENTITY:
        svc = &bg_aws_sts;
        name = "GetCallerIdentity";
        break;
    case STEP_CLUSTER:
        svc = &bg_aws_ecs;
        name = "DescribeClusters";
        p = json_pack("{s:[s]}", "clusters", s->name);
        break;
    case STEP_RULE:
        name = "DescribeRules";
        p = json_pack("{s:[s]}", "RuleArns", s->name);
        break;
    case STEP_TARGET_GROUP:
        name = "DescribeTargetGroups";
        p = json_pack("{s:[s]}", "TargetGroupArns", s->name);
        break;
    }
    int rc = bg_aws_call(op->aws, svc, name, p, on_step, op);
    if (rc != 0) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, rc, "AWS client closed");
        check_done(op, rc, &err);
    }
}

int bg_aws_check(bg_aws_t *aws, const bg_aws_check_spec_t *spec, bg_aws_check_cb cb, void *arg)
{
    if (spec->cluster == NULL)
        return BG_EINVAL;
    check_op_t *op = BG_NEW(check_op_t);
    op->aws = aws;
    op->cb = cb;
    op->arg = arg;
    bg_buf_init(&op->report);
    op->steps = bg_xcalloc(2 + spec->n_rules + spec->n_target_groups, sizeof(*op->steps));
    op->steps[op->n++] = (step_t){STEP_IDENTITY, NULL};
    op->steps[op->n++] = (step_t){STEP_CLUSTER, bg_strdup(spec->cluster)};
    for (size_t i = 0; i < spec->n_rules; i++)
        op->steps[op->n++] = (step_t){STEP_RULE, bg_strdup(spec->rule_arns[i])};
    for (size_t i = 0; i < spec->n_target_groups; i++)
        op->steps[op->n++] = (step_t){STEP_TARGET_GROUP, bg_strdup(spec->target_group_arns[i])};
    run_step(op);
    return 0;
}
