/* The AWS client against the AWS test double (tests/support/aws_double): every request
 * bluegreen's client sends is re-signed there with botocore's SigV4 signer and validated
 * against AWS's models, so this proves our signing and both protocols' serialisation with
 * AWS's own code, not ours. It builds an ALB, target groups, a listener, a weighted rule, a
 * cluster, a task definition and a service through the client, moves the weights, reads
 * target health and CloudWatch figures, then repeats calls under 30% injected throttling,
 * and ends with the double's rejection count at 0.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "aws/aws.h"
#include "base/base.h"
#include "support/support.h"
#include "unit/aws/common.h"

static pid_t double_pid;
static int double_port;
static uv_loop_t loop;
static bg_aws_t *aws;

static bool port_file_ready(void *arg)
{
    return access((const char *)arg, F_OK) == 0;
}

static void start_double(void)
{
    char *dir = bgt_tmpdir("aws-double");
    char cfg[512], port_file[512], state[512], log[512];
    snprintf(cfg, sizeof(cfg), "%s/config.json", dir);
    snprintf(port_file, sizeof(port_file), "%s/port", dir);
    snprintf(state, sizeof(state), "%s/state", dir);
    snprintf(log, sizeof(log), "%s/double.log", dir);
    FILE *f = fopen(cfg, "w");
    cr_assert(f);
    fprintf(f, "{\"time_scale\": 0.05, \"secrets\": {\"%s\": \"%s\"}}", AWS_TEST_KEY,
            AWS_TEST_SECRET);
    fclose(f);
    const char *argv[] = {"/usr/bin/python3",
                          "tests/support/aws_double/aws_double.py",
                          "--port-file",
                          port_file,
                          "--sample-app",
                          bgt_bin("sample-app"),
                          "--state-dir",
                          state,
                          "--config",
                          cfg,
                          NULL};
    double_pid = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_until(port_file_ready, port_file, 60000), "the double did not start");
    f = fopen(port_file, "r");
    cr_assert(f && fscanf(f, "%d", &double_port) == 1);
    fclose(f);
    free(dir);
}

static void setup(void)
{
    start_double();
    setenv("AWS_ACCESS_KEY_ID", AWS_TEST_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_TEST_SECRET, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    uv_loop_init(&loop);
    bg_err_t err;
    bg_aws_options_t o = {.region = "us-east-1", .backoff_base_ms = 50};
    aws = bg_aws_new(&loop, &o, &err);
    cr_assert(aws, "%s", err.msg);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", double_port);
    const char *ids[] = {"ecs", "elasticloadbalancing", "monitoring", "sts"};
    for (size_t i = 0; i < BG_ARRAY_LEN(ids); i++)
        cr_assert_eq(bg_aws_set_endpoint(aws, ids[i], url, NULL, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
    aws_test_close(&loop, aws);
    bgt_stop(double_pid, 10000);
}

/* GET/POST on the double's own /_double endpoints. */
static json_t *double_get(const char *path)
{
    bgt_resp_t r = {0};
    cr_assert(bgt_http_get(double_port, "127.0.0.1", path, &r, 10000));
    json_t *j = json_loads(r.body, 0, NULL);
    bgt_resp_fini(&r);
    cr_assert(j, "bad JSON from %s", path);
    return j;
}

static void double_faults(const char *json)
{
    char raw[512];
    snprintf(raw, sizeof(raw),
             "POST /_double/faults HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             strlen(json), json);
    bgt_resp_t r = {0};
    cr_assert(bgt_http_raw(double_port, raw, strlen(raw), &r, 10000));
    cr_assert_eq(r.status, 200);
    bgt_resp_fini(&r);
}

static json_t *call(const bg_aws_service_t *svc, const char *op, json_t *params)
{
    aws_test_result_t r;
    aws_test_call(&loop, aws, svc, op, params, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    return r.body;
}

static const char *str_at(json_t *root, const char *list, const char *key)
{
    const char *v =
        json_string_value(json_object_get(json_array_get(json_object_get(root, list), 0), key));
    cr_assert(v, "%s[0].%s missing", list, key);
    return v;
}

static json_t *forward(const char *blue, int wb, const char *green, int wg)
{
    return json_pack("[{s:s, s:{s:[{s:s, s:i}, {s:s, s:i}], s:{s:b}}}]", "Type", "forward",
                     "ForwardConfig", "TargetGroups", "TargetGroupArn", blue, "Weight", wb,
                     "TargetGroupArn", green, "Weight", wg, "TargetGroupStickinessConfig",
                     "Enabled", 0);
}

static int64_t weight_of(json_t *rules, size_t i)
{
    json_t *tg = json_array_get(
        json_object_get(
            json_object_get(json_array_get(json_object_get(json_array_get(rules, 0), "Actions"), 0),
                            "ForwardConfig"),
            "TargetGroups"),
        i);
    int64_t w = -1;
    cr_assert(bg_aws_json_int(tg, "Weight", &w));
    return w;
}

TestSuite(aws_double, .init = setup, .fini = teardown, .timeout = 280);

Test(aws_double, client_requests_pass_botocore_signature_and_model_checks)
{
    json_t *r;
    r = call(&bg_aws_sts, "GetCallerIdentity", NULL);
    cr_expect_str_eq(json_string_value(json_object_get(r, "Account")), "123456789012");
    json_decref(r);

    r = call(&bg_aws_elbv2, "CreateLoadBalancer",
             json_pack("{s:s, s:[s,s]}", "Name", "web", "Subnets", "subnet-1", "subnet-2"));
    char *lb = strdup(str_at(r, "LoadBalancers", "LoadBalancerArn"));
    json_decref(r);
    char *tg[2];
    const char *names[2] = {"web-blue", "web-green"};
    for (int i = 0; i < 2; i++) {
        r = call(&bg_aws_elbv2, "CreateTargetGroup",
                 json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "Name", names[i], "Protocol",
                           "HTTP", "Port", 8080, "VpcId", "vpc-1", "TargetType", "ip",
                           "HealthCheckPath", "/actuator/health", "HealthCheckIntervalSeconds", 5,
                           "HealthyThresholdCount", 2));
        tg[i] = strdup(str_at(r, "TargetGroups", "TargetGroupArn"));
        json_decref(r);
    }
    int lport = bgt_free_port();
    r = call(&bg_aws_elbv2, "CreateListener",
             json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}]}", "LoadBalancerArn", lb, "Protocol", "HTTP",
                       "Port", lport, "DefaultActions", "Type", "forward", "TargetGroupArn",
                       tg[0]));
    char *listener = strdup(str_at(r, "Listeners", "ListenerArn"));
    json_decref(r);
    r = call(&bg_aws_elbv2, "CreateRule",
             json_pack("{s:s, s:i, s:[{s:s, s:{s:[s]}}], s:o}", "ListenerArn", listener, "Priority",
                       10, "Conditions", "Field", "path-pattern", "PathPatternConfig", "Values",
                       "/*", "Actions", forward(tg[0], 100, tg[1], 0)));
    char *rule = strdup(str_at(r, "Rules", "RuleArn"));
    json_decref(r);

    /* ECS: cluster, a task definition with nested members, a service with a token. */
    json_decref(call(&bg_aws_ecs, "CreateCluster", json_pack("{s:s}", "clusterName", "prod")));
    r = call(&bg_aws_ecs, "RegisterTaskDefinition",
             json_pack("{s:s, s:s, s:[s], s:s, s:s, s:[{s:s, s:s, s:b, s:[{s:i, s:s}], "
                       "s:[{s:s, s:s}], s:{s:s, s:{s:s, s:s, s:s}}}]}",
                       "family", "web", "networkMode", "awsvpc", "requiresCompatibilities",
                       "FARGATE", "cpu", "256", "memory", "512", "containerDefinitions", "name",
                       "app", "image", "repo/web:1.0.0", "essential", 1, "portMappings",
                       "containerPort", 8080, "protocol", "tcp", "environment", "name",
                       "BLUEGREEN_VERSION", "value", "1.0.0", "logConfiguration", "logDriver",
                       "awslogs", "options", "awslogs-group", "/ecs/web", "awslogs-region",
                       "us-east-1", "awslogs-stream-prefix", "web"));
    json_t *td = json_object_get(r, "taskDefinition");
    cr_expect_str_eq(json_string_value(json_object_get(td, "taskDefinitionArn")),
                     "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1");
    json_decref(r);
    r = call(&bg_aws_ecs, "CreateService",
             json_pack("{s:s, s:s, s:s, s:i, s:s, s:{s:{s:[s], s:[s], s:s}}, s:[{s:s, s:s, s:i}]}",
                       "cluster", "prod", "serviceName", "web-blue", "taskDefinition", "web:1",
                       "desiredCount", 1, "launchType", "FARGATE", "networkConfiguration",
                       "awsvpcConfiguration", "subnets", "subnet-1", "securityGroups", "sg-1",
                       "assignPublicIp", "DISABLED", "loadBalancers", "targetGroupArn", tg[0],
                       "containerName", "app", "containerPort", 8080));
    json_decref(r);

    /* Weights change and read back; target health; metrics with timestamps. */
    json_decref(
        call(&bg_aws_elbv2, "ModifyRule",
             json_pack("{s:s, s:o}", "RuleArn", rule, "Actions", forward(tg[0], 90, tg[1], 10))));
    r = call(&bg_aws_elbv2, "DescribeRules", json_pack("{s:[s]}", "RuleArns", rule));
    json_t *rules = json_object_get(r, "Rules");
    cr_expect_eq(weight_of(rules, 0), 90);
    cr_expect_eq(weight_of(rules, 1), 10);
    json_decref(r);
    json_decref(
        call(&bg_aws_elbv2, "DescribeTargetHealth", json_pack("{s:s}", "TargetGroupArn", tg[0])));
    json_decref(call(&bg_aws_elbv2, "ModifyTargetGroupAttributes",
                     json_pack("{s:s, s:[{s:s, s:s}]}", "TargetGroupArn", tg[0], "Attributes",
                               "Key", "deregistration_delay.timeout_seconds", "Value", "30")));
    char start[32], end[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&(time_t){now - 600}, &tm);
    strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
    gmtime_r(&(time_t){now + 60}, &tm);
    strftime(end, sizeof(end), "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *suffix = strstr(tg[0], "targetgroup/");
    r = call(&bg_aws_cloudwatch, "GetMetricData",
             json_pack("{s:[{s:s, s:{s:{s:s, s:s, s:[{s:s, s:s}]}, s:i, s:s}}], s:s, s:s}",
                       "MetricDataQueries", "Id", "p99", "MetricStat", "Metric", "Namespace",
                       "AWS/ApplicationELB", "MetricName", "TargetResponseTime", "Dimensions",
                       "Name", "TargetGroup", "Value", suffix, "Period", 60, "Stat", "p99",
                       "StartTime", start, "EndTime", end));
    cr_expect_str_eq(str_at(r, "MetricDataResults", "StatusCode"), "Complete");
    json_decref(r);

    /* 30% of calls throttled: the standard retry mode gets a call through unless all three
     * attempts are throttled (2.7% of calls); such a call must fail as throttled after
     * exactly 3 attempts, never otherwise. (Deployments retry at their own level.) */
    double_faults("{\"throttle_share\": 0.3}");
    unsigned ok = 0;
    for (int i = 0; i < 30; i++) {
        aws_test_result_t res;
        aws_test_call(&loop, aws, i % 2 ? &bg_aws_ecs : &bg_aws_elbv2,
                      i % 2 ? "DescribeServices" : "DescribeRules",
                      i % 2 ? json_pack("{s:s, s:[s]}", "cluster", "prod", "services", "web-blue")
                            : json_pack("{s:[s]}", "RuleArns", rule),
                      &res);
        if (res.status == 0) {
            ok++;
        } else {
            cr_expect_eq(res.status, BG_EUNAVAIL, "%s", res.msg);
            cr_expect_eq(res.attempts, 3);
            cr_expect(bg_aws_is_throttling(res.aws_code), "%s", res.aws_code);
        }
        json_decref(res.body);
    }
    double_faults("{\"throttle_share\": 0.0}");
    bg_aws_stats_t st;
    bg_aws_stats(aws, &st);
    cr_expect_gt(st.throttled, 0, "the double throttled some calls");
    cr_expect_geq(ok, 20, "calls through under 30%% throttling: %u/30", ok);
    cr_expect_gt(st.retries, 0);

    json_t *rej = double_get("/_double/rejections");
    cr_expect_eq(json_integer_value(json_object_get(rej, "count")), 0,
                 "requests the double rejected: %s", json_dumps(rej, 0));
    json_decref(rej);
    free(lb);
    free(tg[0]);
    free(tg[1]);
    free(listener);
    free(rule);
}

/* ---- the ALB operations of alb.c on the double ---- */

typedef struct env {
    char *lb, *tg[2], *listener, *rule;
    int lport;
} env_t;

static char *create_tg(const char *name)
{
    json_t *r = call(&bg_aws_elbv2, "CreateTargetGroup",
                     json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "Name", name, "Protocol",
                               "HTTP", "Port", 8080, "VpcId", "vpc-1", "TargetType", "ip",
                               "HealthCheckPath", "/actuator/health", "HealthCheckIntervalSeconds",
                               5, "HealthyThresholdCount", 2));
    char *arn = strdup(str_at(r, "TargetGroups", "TargetGroupArn"));
    json_decref(r);
    return arn;
}

static void create_service(const char *name, const char *version, const char *args, const char *tg,
                           int count)
{
    char image[64];
    snprintf(image, sizeof(image), "repo/web:%s", version);
    json_t *r = call(&bg_aws_ecs, "RegisterTaskDefinition",
                     json_pack("{s:s, s:s, s:[s], s:s, s:s, s:[{s:s, s:s, s:[{s:i}], "
                               "s:[{s:s, s:s}, {s:s, s:s}]}]}",
                               "family", "web", "networkMode", "awsvpc", "requiresCompatibilities",
                               "FARGATE", "cpu", "256", "memory", "512", "containerDefinitions",
                               "name", "app", "image", image, "portMappings", "containerPort", 8080,
                               "environment", "name", "BLUEGREEN_VERSION", "value", version, "name",
                               "SAMPLE_APP_ARGS", "value", args));
    char *td = strdup(json_string_value(
        json_object_get(json_object_get(r, "taskDefinition"), "taskDefinitionArn")));
    json_decref(r);
    json_decref(call(&bg_aws_ecs, "CreateService",
                     json_pack("{s:s, s:s, s:s, s:i, s:[{s:s, s:s, s:i}]}", "cluster", "prod",
                               "serviceName", name, "taskDefinition", td, "desiredCount", count,
                               "loadBalancers", "targetGroupArn", tg, "containerName", "app",
                               "containerPort", 8080)));
    free(td);
}

static void env_init(env_t *e)
{
    json_t *r = call(&bg_aws_elbv2, "CreateLoadBalancer",
                     json_pack("{s:s, s:[s,s]}", "Name", "web", "Subnets", "subnet-1", "subnet-2"));
    e->lb = strdup(str_at(r, "LoadBalancers", "LoadBalancerArn"));
    json_decref(r);
    e->tg[0] = create_tg("web-blue");
    e->tg[1] = create_tg("web-green");
    e->lport = bgt_free_port();
    r = call(&bg_aws_elbv2, "CreateListener",
             json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}]}", "LoadBalancerArn", e->lb, "Protocol",
                       "HTTP", "Port", e->lport, "DefaultActions", "Type", "forward",
                       "TargetGroupArn", e->tg[0]));
    e->listener = strdup(str_at(r, "Listeners", "ListenerArn"));
    json_decref(r);
    r = call(&bg_aws_elbv2, "CreateRule",
             json_pack("{s:s, s:i, s:[{s:s, s:{s:[s]}}], s:o}", "ListenerArn", e->listener,
                       "Priority", 10, "Conditions", "Field", "path-pattern", "PathPatternConfig",
                       "Values", "/*", "Actions", forward(e->tg[0], 100, e->tg[1], 0)));
    e->rule = strdup(str_at(r, "Rules", "RuleArn"));
    json_decref(r);
    json_decref(call(&bg_aws_ecs, "CreateCluster", json_pack("{s:s}", "clusterName", "prod")));
}

static void env_fini(env_t *e)
{
    free(e->lb);
    free(e->tg[0]);
    free(e->tg[1]);
    free(e->listener);
    free(e->rule);
}

typedef struct op_result {
    bool done;
    int status;
    uint64_t verify_ms;
    bg_aws_tg_health_t health;
    bg_aws_tg_metrics_t metrics;
    char msg[512];
} op_result_t;

static void on_weights(void *arg, int status, uint64_t verify_ms, const bg_err_t *err)
{
    op_result_t *r = arg;
    r->done = true;
    r->status = status;
    r->verify_ms = verify_ms;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void on_health_cb(void *arg, int status, const bg_aws_tg_health_t *h, const bg_err_t *err)
{
    op_result_t *r = arg;
    r->done = true;
    r->status = status;
    if (h)
        r->health = *h;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void on_metrics_cb(void *arg, int status, const bg_aws_tg_metrics_t *m, const bg_err_t *err)
{
    op_result_t *r = arg;
    r->done = true;
    r->status = status;
    if (m)
        r->metrics = *m;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void run_op(op_result_t *r)
{
    uint64_t deadline = bg_now_ms() + 30000;
    while (!r->done && bg_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(r->done, "operation did not finish");
}

static bg_aws_tg_health_t health_of(const char *tg)
{
    op_result_t r = {0};
    cr_assert_eq(bg_aws_alb_target_health(aws, tg, on_health_cb, &r), 0);
    run_op(&r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    return r.health;
}

static void wait_healthy(const char *tg, unsigned n)
{
    uint64_t deadline = bg_now_ms() + 60000;
    bg_aws_tg_health_t h;
    do {
        h = health_of(tg);
        if (h.healthy == n)
            return;
        /* A short pause on the loop (no handle of ours: a delayed STS call). */
        aws_test_result_t r;
        aws_test_call(&loop, aws, &bg_aws_sts, "GetCallerIdentity", NULL, &r);
        json_decref(r.body);
    } while (bg_now_ms() < deadline);
    cr_assert_fail("target group never had %u healthy targets (last: %u healthy, %s)", n, h.healthy,
                   h.detail);
}

Test(aws_double, alb_switch_is_verified_health_and_metrics_are_read)
{
    env_t e;
    env_init(&e);
    create_service("web-blue", "1.0.0", "", e.tg[0], 2);
    create_service("web-green", "2.0.0", "--error-rate 1", e.tg[1], 1);
    wait_healthy(e.tg[0], 2);
    wait_healthy(e.tg[1], 1);

    /* Describe lags 800 ms behind writes: the switch is confirmed only once the rule reads
     * back with the new weights. */
    double_faults("{\"consistency_lag_ms\": 800}");
    op_result_t r = {0};
    cr_assert_eq(
        bg_aws_alb_set_weights(aws, e.rule, e.tg[0], 0, e.tg[1], 100, 10000, on_weights, &r), 0);
    run_op(&r);
    cr_expect_eq(r.status, 0, "%s", r.msg);
    cr_expect_geq(r.verify_ms, 800, "confirmed before the lag passed: %llu ms",
                  (unsigned long long)r.verify_ms);

    /* Traffic through the ALB listener now reaches green, which answers 500. */
    for (int i = 0; i < 20; i++) {
        bgt_resp_t resp = {0};
        cr_assert(bgt_http_get(e.lport, "web", "/", &resp, 10000));
        cr_expect_eq(resp.status, 500);
        bgt_resp_fini(&resp);
    }
    op_result_t m = {0};
    cr_assert_eq(bg_aws_alb_metrics(aws, e.tg[1], e.lb, 60, on_metrics_cb, &m), 0);
    run_op(&m);
    cr_assert_eq(m.status, 0, "%s", m.msg);
    cr_expect_geq(m.metrics.requests, 20);
    cr_expect_geq(m.metrics.target_5xx, 20);
    cr_expect(m.metrics.have_p99);
    cr_expect_gt(m.metrics.p99_s, 0);
    op_result_t mb = {0};
    cr_assert_eq(bg_aws_alb_metrics(aws, e.tg[0], NULL, 60, on_metrics_cb, &mb), 0);
    run_op(&mb);
    cr_expect_eq(mb.metrics.target_5xx, 0);

    /* A read-back that cannot confirm in time is an error naming what it read. */
    double_faults("{\"consistency_lag_ms\": 5000}");
    op_result_t t = {0};
    cr_assert_eq(bg_aws_alb_set_weights(aws, e.rule, e.tg[0], 40, e.tg[1], 60, 300, on_weights, &t),
                 0);
    run_op(&t);
    cr_expect_eq(t.status, BG_ETIMEDOUT);
    cr_expect(strstr(t.msg, "still reads") && strstr(t.msg, "wanted 40/60"), "%s", t.msg);
    double_faults("{\"consistency_lag_ms\": 0}");

    cr_expect_eq(
        bg_aws_alb_set_weights(aws, e.rule, e.tg[0], 1000, e.tg[1], 0, 100, on_weights, &t),
        BG_EINVAL);
    cr_expect_eq(bg_aws_alb_set_weights(aws, e.rule, e.tg[0], 0, e.tg[1], 0, 100, on_weights, &t),
                 BG_EINVAL);
    bg_aws_tg_health_t h = health_of(e.tg[1]);
    cr_expect_eq(h.healthy, 1);

    json_t *rej = double_get("/_double/rejections");
    cr_expect_eq(json_integer_value(json_object_get(rej, "count")), 0);
    json_decref(rej);
    env_fini(&e);
}

/* ---- the ECS operations of ecs.c on the double ---- */

typedef struct ecs_result {
    bool done;
    int status;
    char arn[256];
    bg_aws_service_status_t st;
    char msg[512];
} ecs_result_t;

static void on_arn(void *arg, int status, const char *arn, const bg_err_t *err)
{
    ecs_result_t *r = arg;
    r->done = true;
    r->status = status;
    snprintf(r->arn, sizeof(r->arn), "%s", arn ? arn : "");
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void on_status(void *arg, int status, const bg_aws_service_status_t *st, const bg_err_t *err)
{
    ecs_result_t *r = arg;
    r->done = true;
    r->status = status;
    if (st)
        r->st = *st;
    snprintf(r->msg, sizeof(r->msg), "%s", err ? err->msg : "");
}

static void run_ecs(ecs_result_t *r)
{
    uint64_t deadline = bg_now_ms() + 30000;
    while (!r->done && bg_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(r->done, "operation did not finish");
    cr_assert_eq(r->status, 0, "%s", r->msg);
}

static void register_rev(const char *image, const char *version, char *arn, size_t size)
{
    bg_aws_kv_t env[] = {{"BLUEGREEN_VERSION", version}};
    bg_aws_taskdef_t td = {.family = "web",
                           .container = "app",
                           .image = image,
                           .port = 8080,
                           .env = env,
                           .n_env = 1,
                           .log_group = "/ecs/web",
                           .execution_role_arn = "arn:aws:iam::123456789012:role/exec"};
    ecs_result_t r = {0};
    cr_assert_eq(bg_aws_ecs_register(aws, &td, on_arn, &r), 0);
    run_ecs(&r);
    snprintf(arn, size, "%s", r.arn);
}

static void apply(const char *name, const char *td, const char *tg, unsigned n)
{
    const char *subnets[] = {"subnet-1"}, *sgs[] = {"sg-1"};
    bg_aws_service_spec_t s = {.cluster = "prod",
                               .name = name,
                               .task_definition = td,
                               .desired = n,
                               .target_group_arn = tg,
                               .container = "app",
                               .port = 8080,
                               .subnets = subnets,
                               .n_subnets = 1,
                               .security_groups = sgs,
                               .n_security_groups = 1};
    ecs_result_t r = {0};
    cr_assert_eq(bg_aws_ecs_apply(aws, &s, on_arn, &r), 0);
    run_ecs(&r);
    char want[128];
    snprintf(want, sizeof(want), "service/prod/%s", name);
    cr_expect(strstr(r.arn, want) != NULL, "%s", r.arn);
}

static bg_aws_service_status_t status_of(const char *name)
{
    ecs_result_t r = {0};
    cr_assert_eq(bg_aws_ecs_status(aws, "prod", name, on_status, &r), 0);
    run_ecs(&r);
    return r.st;
}

static bg_aws_service_status_t wait_status(const char *name, const char *td, bool want_reason)
{
    uint64_t deadline = bg_now_ms() + 60000;
    bg_aws_service_status_t st;
    do {
        st = status_of(name);
        if (want_reason ? st.stopped_reason[0] != '\0'
                        : (st.steady && strcmp(st.task_definition, td) == 0))
            return st;
        aws_test_result_t r; /* pace the polling with one more round trip */
        aws_test_call(&loop, aws, &bg_aws_sts, "GetCallerIdentity", NULL, &r);
        json_decref(r.body);
    } while (bg_now_ms() < deadline);
    cr_assert_fail("service %s never reached the wanted state (running %u/%u, td %s)", name,
                   st.running, st.desired, st.task_definition);
    return st;
}

Test(aws_double, ecs_register_apply_status_and_stopped_reason)
{
    env_t e;
    env_init(&e);
    char v1[256], v2[256], v3[256];
    register_rev("repo/web:1.0.0", "1.0.0", v1, sizeof(v1));
    cr_expect(strstr(v1, ":task-definition/web:1") != NULL, "%s", v1);
    apply("web-blue", v1, e.tg[0], 1); /* created */
    bg_aws_service_status_t st = wait_status("web-blue", v1, false);
    cr_expect(st.active);
    cr_expect_eq(st.running, 1);
    cr_expect_str_eq(st.stopped_reason, "");

    register_rev("repo/web:2.0.0", "2.0.0", v2, sizeof(v2));
    apply("web-blue", v2, e.tg[0], 2); /* updated: new revision, two tasks */
    st = wait_status("web-blue", v2, false);
    cr_expect_eq(st.running, 2);
    wait_healthy(e.tg[0], 2);
    bgt_resp_t resp = {0};
    cr_assert(bgt_http_get(e.lport, "web", "/", &resp, 10000));
    cr_expect(strstr(resp.body, "\"version\":\"2.0.0\"") != NULL, "%s", resp.body);
    bgt_resp_fini(&resp);

    double_faults("{\"cannot_pull\": [\"broken\"]}");
    register_rev("repo/broken:3.0.0", "3.0.0", v3, sizeof(v3));
    apply("web-green", v3, e.tg[1], 1);
    st = wait_status("web-green", v3, true);
    cr_expect(strncmp(st.stopped_reason, "CannotPullContainerError", 24) == 0, "%s",
              st.stopped_reason);
    cr_expect_eq(st.running, 0);

    json_t *rej = double_get("/_double/rejections");
    cr_expect_eq(json_integer_value(json_object_get(rej, "count")), 0);
    json_decref(rej);
    env_fini(&e);
}

/* ---- the access check of check.c on the double ---- */

typedef struct check_result {
    bool done;
    int status;
    char report[2048];
} check_result_t;

static void on_check(void *arg, int status, const char *report, const bg_err_t *err)
{
    check_result_t *r = arg;
    r->done = true;
    r->status = status;
    snprintf(r->report, sizeof(r->report), "%s", report);
}

static void run_check(const bg_aws_check_spec_t *spec, check_result_t *r)
{
    memset(r, 0, sizeof(*r));
    cr_assert_eq(bg_aws_check(aws, spec, on_check, r), 0);
    uint64_t deadline = bg_now_ms() + 30000;
    while (!r->done && bg_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(r->done);
}

Test(aws_double, access_check_names_what_is_missing)
{
    env_t e;
    env_init(&e);
    const char *rules[] = {e.rule};
    const char *tgs[] = {e.tg[0], e.tg[1]};
    bg_aws_check_spec_t spec = {.cluster = "prod",
                                .rule_arns = rules,
                                .n_rules = 1,
                                .target_group_arns = tgs,
                                .n_target_groups = 2};
    check_result_t r;
    run_check(&spec, &r);
    cr_expect_eq(r.status, 0, "%s", r.report);
    cr_expect(strstr(r.report, "identity: arn:aws:iam::123456789012:user/") != NULL, "%s",
              r.report);
    cr_expect(strstr(r.report, "cluster prod: ACTIVE") != NULL, "%s", r.report);

    const char *gone_rule[] = {"arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                               "listener-rule/app/web/0123456789abcdef/0123456789abcdef/"
                               "0123456789abcdef"};
    const char *gone_tg[] = {e.tg[0], "arn:aws:elasticloadbalancing:us-east-1:123456789012:"
                                      "targetgroup/web-red/0123456789abcdef"};
    bg_aws_check_spec_t bad = {.cluster = "staging",
                               .rule_arns = gone_rule,
                               .n_rules = 1,
                               .target_group_arns = gone_tg,
                               .n_target_groups = 2};
    run_check(&bad, &r);
    cr_expect_eq(r.status, BG_ENOTFOUND);
    cr_expect(strstr(r.report, "cluster staging: missing") != NULL, "%s", r.report);
    cr_expect(strstr(r.report, "0123456789abcdef: missing (RuleNotFound)") != NULL, "%s", r.report);
    cr_expect(strstr(r.report, "web-red/0123456789abcdef: missing (TargetGroupNotFound)") != NULL,
              "%s", r.report);

    /* Credentials the account does not know: the check stops at the identity. (This
     * request is refused on purpose, so this test does not assert a zero rejection count.) */
    setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN", 1);
    aws_test_close(&loop, aws);
    uv_loop_init(&loop);
    bg_err_t err;
    bg_aws_options_t o = {.region = "us-east-1", .backoff_base_ms = 50};
    aws = bg_aws_new(&loop, &o, &err);
    cr_assert(aws);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", double_port);
    cr_assert_eq(bg_aws_set_endpoint(aws, "sts", url, NULL, &err), 0);
    run_check(&spec, &r);
    cr_expect_eq(r.status, BG_EREFUSED, "%s", r.report);
    cr_expect(strstr(r.report, "InvalidClientTokenId") != NULL, "%s", r.report);
    env_fini(&e);
}
