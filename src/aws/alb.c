/* ALB operations the ecs driver builds on: a weighted switch on a listener rule that is
 * verified by reading the rule back (ELBv2 is eventually consistent: a describe right after
 * a modify may show the old action), a target group's health summed by state, and its
 * AWS/ApplicationELB figures for the rollback judge. Each operation is a small state
 * object driven by bg_aws_call callbacks; waits between reads are delayed calls, so
 * bg_aws_close() cancels them like any call.
 */
#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/internal.h"
#include "base/base.h"
#include "base/compat.h"

#define VERIFY_EVERY_MS 200

/* ---- weighted switch ---- */

typedef struct switch_op {
    bg_aws_t *aws;
    char *rule, *tg[2];
    unsigned w[2];
    uint64_t started_ms, timeout_ms;
    char seen[64]; /* weights last read, for the timeout message */
    bg_aws_weights_cb cb;
    void *arg;
} switch_op_t;

static void switch_free(switch_op_t *op)
{
    free(op->rule);
    free(op->tg[0]);
    free(op->tg[1]);
    free(op);
}

static void switch_done(switch_op_t *op, int status, const bg_err_t *err)
{
    op->cb(op->arg, status, bg_now_ms() - op->started_ms, err);
    switch_free(op);
}

static json_t *forward_action(const switch_op_t *op)
{
    return json_pack("[{s:s, s:{s:[{s:s, s:i}, {s:s, s:i}], s:{s:b}}}]", "Type", "forward",
                     "ForwardConfig", "TargetGroups", "TargetGroupArn", op->tg[0], "Weight",
                     (int)op->w[0], "TargetGroupArn", op->tg[1], "Weight", (int)op->w[1],
                     "TargetGroupStickinessConfig", "Enabled", 0);
}

/* True if <rule> forwards to exactly our two groups with our weights; notes what it saw. */
static bool rule_matches(switch_op_t *op, const json_t *rule)
{
    json_t *actions = json_object_get(rule, "Actions");
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a)
    {
        const char *type = json_string_value(json_object_get(a, "Type"));
        if (type == NULL || strcmp(type, "forward") != 0)
            continue;
        json_t *tgs = json_object_get(json_object_get(a, "ForwardConfig"), "TargetGroups");
        int64_t got[2] = {-1, -1};
        size_t k;
        json_t *t;
        bool other = false;
        json_array_foreach(tgs, k, t)
        {
            const char *arn = json_string_value(json_object_get(t, "TargetGroupArn"));
            int64_t w = 1;
            bg_aws_json_int(t, "Weight", &w);
            if (arn && strcmp(arn, op->tg[0]) == 0)
                got[0] = w;
            else if (arn && strcmp(arn, op->tg[1]) == 0)
                got[1] = w;
            else if (w > 0)
                other = true;
        }
        snprintf(op->seen, sizeof(op->seen), "%lld/%lld%s", (long long)got[0], (long long)got[1],
                 other ? " (+another group)" : "");
        return !other && got[0] == (int64_t)op->w[0] && got[1] == (int64_t)op->w[1];
    }
    snprintf(op->seen, sizeof(op->seen), "no forward action");
    return false;
}

static void on_read_back(void *arg, const bg_aws_result_t *res);

static int read_back(switch_op_t *op, uint64_t delay_ms)
{
    return bg_aws_call_delayed(op->aws, delay_ms, &bg_aws_elbv2, "DescribeRules",
                               json_pack("{s:[s]}", "RuleArns", op->rule), on_read_back, op);
}

static void on_read_back(void *arg, const bg_aws_result_t *res)
{
    switch_op_t *op = arg;
    if (res->status != 0) {
        switch_done(op, res->status, &res->err);
        return;
    }
    if (rule_matches(op, json_array_get(json_object_get(res->body, "Rules"), 0))) {
        switch_done(op, 0, NULL);
        return;
    }
    if (bg_now_ms() - op->started_ms >= op->timeout_ms) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, BG_ETIMEDOUT,
                   "listener rule %s still reads %s after %llu ms, wanted %u/%u", op->rule,
                   op->seen, (unsigned long long)op->timeout_ms, op->w[0], op->w[1]);
        switch_done(op, BG_ETIMEDOUT, &err);
        return;
    }
    int rc = read_back(op, VERIFY_EVERY_MS);
    if (rc != 0) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, rc, "AWS client closed");
        switch_done(op, rc, &err);
    }
}

static void on_modified(void *arg, const bg_aws_result_t *res)
{
    switch_op_t *op = arg;
    if (res->status != 0) {
        switch_done(op, res->status, &res->err);
        return;
    }
    int rc = read_back(op, 0);
    if (rc != 0) {
        bg_err_t err;
        bg_err_clear(&err);
        bg_err_set(&err, rc, "AWS client closed");
        switch_done(op, rc, &err);
    }
}

int bg_aws_alb_set_weights(bg_aws_t *aws, const char *rule_arn, const char *tg_blue,
                           unsigned w_blue, const char *tg_green, unsigned w_green,
                           uint64_t verify_timeout_ms, bg_aws_weights_cb cb, void *arg)
{
    /* ELBv2 forward weights are 0..999. */
    if (rule_arn == NULL || tg_blue == NULL || tg_green == NULL || w_blue > 999 || w_green > 999 ||
        w_blue + w_green == 0)
        return BG_EINVAL;
    switch_op_t *op = BG_NEW(switch_op_t);
    op->aws = aws;
    op->rule = bg_strdup(rule_arn);
    op->tg[0] = bg_strdup(tg_blue);
    op->tg[1] = bg_strdup(tg_green);
    op->w[0] = w_blue;
    op->w[1] = w_green;
    op->timeout_ms = verify_timeout_ms;
    op->started_ms = bg_now_ms();
    op->cb = cb;
    op->arg = arg;
    int rc =
        bg_aws_call(aws, &bg_aws_elbv2, "ModifyRule",
                    json_pack("{s:s, s:o}", "RuleArn", rule_arn, "Actions", forward_action(op)),
                    on_modified, op);
    if (rc != 0)
        switch_free(op);
    return rc;
}

/* ---- reading a rule's weights ---- */

typedef struct weights_op {
    char *tg[2];
    bg_aws_rule_weights_cb cb;
    void *arg;
} weights_op_t;

static void on_rule_read(void *arg, const bg_aws_result_t *res)
{
    weights_op_t *op = arg;
    int64_t got[2] = {-1, -1};
    bool fwd = false;
    size_t i, k;
    json_t *a, *t;

    if (res->status == 0) {
        json_t *rule = json_array_get(json_object_get(res->body, "Rules"), 0);
        json_array_foreach(json_object_get(rule, "Actions"), i, a)
        {
            const char *type = json_string_value(json_object_get(a, "Type"));
            if (fwd || type == NULL || strcmp(type, "forward") != 0)
                continue;
            fwd = true;
            json_array_foreach(json_object_get(json_object_get(a, "ForwardConfig"), "TargetGroups"),
                               k, t)
            {
                const char *tg = json_string_value(json_object_get(t, "TargetGroupArn"));
                int64_t w = 1;
                bg_aws_json_int(t, "Weight", &w);
                for (int s = 0; s < 2; s++)
                    if (tg != NULL && strcmp(tg, op->tg[s]) == 0)
                        got[s] = w;
            }
        }
    }
    op->cb(op->arg, res->status, (int)got[0], (int)got[1], res->status == 0 ? NULL : &res->err);
    free(op->tg[0]);
    free(op->tg[1]);
    free(op);
}

int bg_aws_alb_rule_weights(bg_aws_t *aws, const char *rule_arn, const char *tg_blue,
                            const char *tg_green, bg_aws_rule_weights_cb cb, void *arg)
{
    weights_op_t *op;
    int rc;

    if (rule_arn == NULL || tg_blue == NULL || tg_green == NULL)
        return BG_EINVAL;
    op = BG_NEW(weights_op_t);
    op->tg[0] = bg_strdup(tg_blue);
    op->tg[1] = bg_strdup(tg_green);
    op->cb = cb;
    op->arg = arg;
    rc = bg_aws_call(aws, &bg_aws_elbv2, "DescribeRules", json_pack("{s:[s]}", "RuleArns", rule_arn),
                     on_rule_read, op);
    if (rc != 0) {
        free(op->tg[0]);
        free(op->tg[1]);
        free(op);
    }
    return rc;
}

/* ---- target health ---- */

typedef struct health_op {
    bg_aws_health_cb cb;
    void *arg;
} health_op_t;

static void on_health(void *arg, const bg_aws_result_t *res)
{
    health_op_t *op = arg;
    bg_aws_tg_health_t h = {0};
    if (res->status == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(json_object_get(res->body, "TargetHealthDescriptions"), i, d)
        {
            json_t *th = json_object_get(d, "TargetHealth");
            const char *state = json_string_value(json_object_get(th, "State"));
            state = state ? state : "";
            if (strcmp(state, "healthy") == 0)
                h.healthy++;
            else if (strcmp(state, "unhealthy") == 0)
                h.unhealthy++;
            else if (strcmp(state, "initial") == 0)
                h.initial++;
            else if (strcmp(state, "draining") == 0)
                h.draining++;
            else
                h.other++;
            json_t *t = json_object_get(d, "Target");
            const char *id = json_string_value(json_object_get(t, "Id"));
            const char *reason = json_string_value(json_object_get(th, "Reason"));
            const char *desc = json_string_value(json_object_get(th, "Description"));
            int64_t port = 0;
            bg_aws_json_int(t, "Port", &port);
            if (strcmp(state, "healthy") != 0 && h.detail[0] == '\0')
                snprintf(h.detail, sizeof(h.detail), "%s:%lld %s %s: %s", id ? id : "?",
                         (long long)port, state, reason ? reason : "-", desc ? desc : "-");
            if (h.n_targets < BG_AWS_TG_TARGETS_MAX) {
                bg_aws_target_t *o = &h.targets[h.n_targets++];
                snprintf(o->id, sizeof(o->id), "%s", id ? id : "?");
                o->port = port > 0 && port < 65536 ? (unsigned)port : 0;
                snprintf(o->state, sizeof(o->state), "%s", state);
                snprintf(o->reason, sizeof(o->reason), "%s", reason ? reason : "");
                snprintf(o->description, sizeof(o->description), "%s", desc ? desc : "");
            }
        }
    }
    op->cb(op->arg, res->status, res->status == 0 ? &h : NULL, res->status == 0 ? NULL : &res->err);
    free(op);
}

int bg_aws_alb_target_health(bg_aws_t *aws, const char *tg_arn, bg_aws_health_cb cb, void *arg)
{
    if (tg_arn == NULL)
        return BG_EINVAL;
    health_op_t *op = BG_NEW(health_op_t);
    op->cb = cb;
    op->arg = arg;
    int rc = bg_aws_call(aws, &bg_aws_elbv2, "DescribeTargetHealth",
                         json_pack("{s:s}", "TargetGroupArn", tg_arn), on_health, op);
    if (rc != 0)
        free(op);
    return rc;
}

/* ---- metrics ---- */

typedef struct metrics_op {
    bg_aws_metrics_cb cb;
    void *arg;
} metrics_op_t;

/* "arn:aws:elasticloadbalancing:r:a:targetgroup/n/id" -> "targetgroup/n/id" (the
 * dimension value CloudWatch uses); same for "loadbalancer/app/n/id" -> "app/n/id". */
static const char *arn_resource(const char *arn, const char *kind)
{
    const char *p = strstr(arn, kind);
    if (p == NULL)
        return NULL;
    return strcmp(kind, "loadbalancer/") == 0 ? p + strlen(kind) : p;
}

static json_t *query(const char *id, const char *metric, const char *stat, const char *tg,
                     const char *lb, unsigned period)
{
    json_t *dims = json_pack("[{s:s, s:s}]", "Name", "TargetGroup", "Value", tg);
    if (lb)
        json_array_append_new(dims, json_pack("{s:s, s:s}", "Name", "LoadBalancer", "Value", lb));
    return json_pack("{s:s, s:{s:{s:s, s:s, s:o}, s:i, s:s}}", "Id", id, "MetricStat", "Metric",
                     "Namespace", "AWS/ApplicationELB", "MetricName", metric, "Dimensions", dims,
                     "Period", (int)period, "Stat", stat);
}

static void on_metrics(void *arg, const bg_aws_result_t *res)
{
    metrics_op_t *op = arg;
    bg_aws_tg_metrics_t m = {0};
    if (res->status == 0) {
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(res->body, "MetricDataResults"), i, r)
        {
            const char *id = json_string_value(json_object_get(r, "Id"));
            json_t *values = json_object_get(r, "Values");
            size_t k;
            json_t *v;
            double sum = 0, max = 0;
            bool any = false;
            json_array_foreach(values, k, v)
            {
                double x = json_is_number(v)
                               ? json_number_value(v)
                               : strtod(json_string_value(v) ? json_string_value(v) : "0", NULL);
                sum += x;
                max = any && max > x ? max : x;
                any = true;
            }
            if (id && strcmp(id, "requests") == 0)
                m.requests = sum;
            else if (id && strcmp(id, "errors") == 0)
                m.target_5xx = sum;
            else if (id && strcmp(id, "p99") == 0 && any) {
                m.p99_s = max; /* the worst period's p99 */
                m.have_p99 = true;
            }
        }
    }
    op->cb(op->arg, res->status, res->status == 0 ? &m : NULL, res->status == 0 ? NULL : &res->err);
    free(op);
}

static void iso(time_t t, char out[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int metrics_call(bg_aws_t *aws, const char *tg_arn, const char *lb_arn, time_t from,
                        time_t to, unsigned period, bg_aws_metrics_cb cb, void *arg)
{
    const char *tg = tg_arn ? arn_resource(tg_arn, "targetgroup/") : NULL;
    const char *lb = lb_arn ? arn_resource(lb_arn, "loadbalancer/") : NULL;
    if (tg == NULL || period == 0 || to <= from || (lb_arn && lb == NULL))
        return BG_EINVAL;
    char start[32], end[32];
    iso(from, start);
    iso(to, end);
    json_t *q = json_array();
    json_array_append_new(q, query("requests", "RequestCount", "Sum", tg, lb, period));
    json_array_append_new(q, query("errors", "HTTPCode_Target_5XX_Count", "Sum", tg, lb, period));
    json_array_append_new(q, query("p99", "TargetResponseTime", "p99", tg, lb, period));
    metrics_op_t *op = BG_NEW(metrics_op_t);
    op->cb = cb;
    op->arg = arg;
    int rc = bg_aws_call(
        aws, &bg_aws_cloudwatch, "GetMetricData",
        json_pack("{s:o, s:s, s:s}", "MetricDataQueries", q, "StartTime", start, "EndTime", end),
        on_metrics, op);
    if (rc != 0)
        free(op);
    return rc;
}

int bg_aws_alb_metrics(bg_aws_t *aws, const char *tg_arn, const char *lb_arn, unsigned window_s,
                       bg_aws_metrics_cb cb, void *arg)
{
    if (window_s == 0)
        return BG_EINVAL;
    unsigned period = (window_s + 59) / 60 * 60;
    time_t now = time(NULL);
    return metrics_call(aws, tg_arn, lb_arn, now - (time_t)period, now + 1, period, cb, arg);
}

int bg_aws_alb_metrics_range(bg_aws_t *aws, const char *tg_arn, const char *lb_arn,
                             int64_t from_s, int64_t to_s, bg_aws_metrics_cb cb, void *arg)
{
    if (to_s <= from_s)
        return BG_EINVAL;
    unsigned period = (unsigned)((to_s - from_s + 59) / 60 * 60);
    return metrics_call(aws, tg_arn, lb_arn, (time_t)from_s, (time_t)to_s, period, cb, arg);
}
