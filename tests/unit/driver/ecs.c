/* The ecs driver (src/driver/ecs.c) driven through its ops against the AWS test double
 * (tests/support/aws_double: every request re-signed with botocore's signer and validated
 * against AWS's models; its tasks are real sample-app processes and its ALB a real
 * forwarding listener). The ALB, target groups, listeners, rules and the cluster are made
 * with the AWS client (src/aws); then the driver's own ops: resolve (what the task
 * definition it registers holds), start (the slot's service on the right target group,
 * the test rule pointed at it), set_weights (read back and probed through the listener),
 * slot_health (target states mapped, per-target list, a target turned unhealthy; with
 * health.format actuator, the Actuator body through the test listener naming "db: DOWN"),
 * scan (the running slot service found by a new driver, reaped to 0 by adopt + stop), and
 * the error path of a failing call (AWS's error code in the instance's error). Every test ends
 * with the double's rejection count at 0 and the driver closed without a leak.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "aws/aws.h"
#include "base/base.h"
#include "config/config.h"
#include "driver/driver.h"
#include "support/support.h"
#include "unit/aws/common.h"

static pid_t double_pid;
static int double_port;
static uv_loop_t loop;
static bg_aws_t *aws;
static char *tmp;

/* The AWS side of one service, made through the client. */
static struct {
    char *lb, *tg[2], *rule, *test_rule;
    int port, test_port;
} alb;

static bool port_file_ready(void *arg)
{
    return access((const char *)arg, F_OK) == 0;
}

static json_t *call(const bg_aws_service_t *svc, const char *op, json_t *params)
{
    aws_test_result_t r;
    aws_test_call(&loop, aws, svc, op, params, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    return r.body;
}

static char *str_at(json_t *root, const char *list, const char *key)
{
    const char *v =
        json_string_value(json_object_get(json_array_get(json_object_get(root, list), 0), key));
    cr_assert(v, "%s[0].%s missing", list, key);
    return strdup(v);
}

static json_t *forward(int wb, int wg)
{
    return json_pack("[{s:s, s:{s:[{s:s, s:i}, {s:s, s:i}]}}]", "Type", "forward", "ForwardConfig",
                     "TargetGroups", "TargetGroupArn", alb.tg[0], "Weight", wb, "TargetGroupArn",
                     alb.tg[1], "Weight", wg);
}

static char *make_listener(int port, int blue, int green)
{
    json_t *r = call(&bg_aws_elbv2, "CreateListener",
                     json_pack("{s:s, s:s, s:i, s:[{s:s, s:s}]}", "LoadBalancerArn", alb.lb,
                               "Protocol", "HTTP", "Port", port, "DefaultActions", "Type",
                               "forward", "TargetGroupArn", alb.tg[0]));
    char *listener = str_at(r, "Listeners", "ListenerArn"), *rule;
    json_decref(r);
    r = call(&bg_aws_elbv2, "CreateRule",
             json_pack("{s:s, s:i, s:[{s:s, s:{s:[s]}}], s:o}", "ListenerArn", listener, "Priority",
                       10, "Conditions", "Field", "path-pattern", "PathPatternConfig", "Values",
                       "/*", "Actions", forward(blue, green)));
    rule = str_at(r, "Rules", "RuleArn");
    json_decref(r);
    free(listener);
    return rule;
}

static void setup(void)
{
    char cfg[512], port_file[512], state[512], log[512], url[64];
    const char *ids[] = {"ecs", "elasticloadbalancing", "monitoring", "sts"};
    bg_aws_options_t o = {.region = "us-east-1", .backoff_base_ms = 50};
    bg_err_t err;
    FILE *f;

    tmp = bgt_tmpdir("ecs-driver");
    snprintf(cfg, sizeof(cfg), "%s/config.json", tmp);
    snprintf(port_file, sizeof(port_file), "%s/port", tmp);
    snprintf(state, sizeof(state), "%s/state", tmp);
    snprintf(log, sizeof(log), "%s/double.log", tmp);
    f = fopen(cfg, "w");
    cr_assert(f);
    fprintf(f, "{\"time_scale\": 0.05, \"secrets\": {\"%s\": \"%s\"}}", AWS_TEST_KEY,
            AWS_TEST_SECRET);
    fclose(f);
    const char *argv[] = {"/usr/bin/python3", "tests/support/aws_double/aws_double.py",
                          "--port-file",      port_file,
                          "--sample-app",     bgt_bin("sample-app"),
                          "--state-dir",      state,
                          "--config",         cfg,
                          NULL};
    double_pid = bgt_spawn(argv, NULL, log);
    cr_assert(bgt_wait_until(port_file_ready, port_file, 60000), "the double did not start");
    f = fopen(port_file, "r");
    cr_assert(f && fscanf(f, "%d", &double_port) == 1);
    fclose(f);

    setenv("AWS_ACCESS_KEY_ID", AWS_TEST_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_TEST_SECRET, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
    unsetenv("AWS_PROFILE");
    uv_loop_init(&loop);
    aws = bg_aws_new(&loop, &o, &err);
    cr_assert(aws, "%s", err.msg);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", double_port);
    for (size_t i = 0; i < BG_ARRAY_LEN(ids); i++)
        cr_assert_eq(bg_aws_set_endpoint(aws, ids[i], url, NULL, &err), 0, "%s", err.msg);

    json_t *r = call(&bg_aws_elbv2, "CreateLoadBalancer",
                     json_pack("{s:s, s:[s,s]}", "Name", "web", "Subnets", "subnet-1", "subnet-2"));
    alb.lb = str_at(r, "LoadBalancers", "LoadBalancerArn");
    json_decref(r);
    for (int i = 0; i < 2; i++) {
        r = call(&bg_aws_elbv2, "CreateTargetGroup",
                 json_pack("{s:s, s:s, s:i, s:s, s:s, s:s, s:i, s:i}", "Name",
                           i == 0 ? "web-blue" : "web-green", "Protocol", "HTTP", "Port", 8080,
                           "VpcId", "vpc-1", "TargetType", "ip", "HealthCheckPath",
                           "/actuator/health", "HealthCheckIntervalSeconds", 5,
                           "HealthyThresholdCount", 2));
        alb.tg[i] = str_at(r, "TargetGroups", "TargetGroupArn");
        json_decref(r);
        /* 20 s x time_scale 0.05: 1 s of draining */
        json_decref(call(&bg_aws_elbv2, "ModifyTargetGroupAttributes",
                         json_pack("{s:s, s:[{s:s, s:s}]}", "TargetGroupArn", alb.tg[i],
                                   "Attributes", "Key", "deregistration_delay.timeout_seconds",
                                   "Value", "20")));
    }
    alb.port = bgt_free_port();
    alb.test_port = bgt_free_port();
    alb.rule = make_listener(alb.port, 100, 0);
    alb.test_rule = make_listener(alb.test_port, 100, 0);
    json_decref(call(&bg_aws_ecs, "CreateCluster", json_pack("{s:s}", "clusterName", "prod")));
}

static void teardown(void)
{
    bgt_resp_t r = {0};

    /* The suite's promise: the double rejected nothing the driver (or the test) sent. */
    cr_assert(bgt_http_get(double_port, "127.0.0.1", "/_double/rejections", &r, 10000));
    json_t *j = json_loads(r.body, 0, NULL);
    bgt_resp_fini(&r);
    cr_assert(j);
    cr_expect_eq(json_integer_value(json_object_get(j, "count")), 0, "rejections: %s",
                 json_dumps(json_object_get(j, "recent"), 0));
    json_decref(j);
    aws_test_close(&loop, aws);
    bgt_stop(double_pid, 10000);
    free(alb.lb);
    free(alb.tg[0]);
    free(alb.tg[1]);
    free(alb.rule);
    free(alb.test_rule);
    free(tmp);
}

TestSuite(ecs_driver, .init = setup, .fini = teardown, .timeout = 280);

/* ---- the driver under test ---- */

static int collect_found(void *arg, const bg_driver_found_t *f);

static bg_config_t *config_of_health(const char *cluster, const char *health)
{
    char *text = bg_asprintf(
        "listen: 127.0.0.1:0\n"
        "state_dir: %s/state\n"
        "services:\n"
        "  web:\n"
        "    driver: ecs\n"
        "    image: repo/web:1.0.0\n"
        "    version: 1.0.0\n"
        "    port: 8080\n"
        "%s"
        "    ecs:\n"
        "      cluster: %s\n"
        "      region: us-east-1\n"
        "      endpoint_url: http://127.0.0.1:%d\n"
        "      subnets: [subnet-1]\n"
        "      security_groups: [sg-1]\n"
        "      execution_role_arn: arn:aws:iam::123456789012:role/web-exec\n"
        "      listener_rule_arn: %s\n"
        "      test_listener_rule_arn: %s\n"
        "      load_balancer_arn: %s\n"
        "      target_groups: {blue: %s, green: %s}\n"
        "      probe_url: http://127.0.0.1:%d/\n"
        "      test_url: http://127.0.0.1:%d/\n"
        "      log_group: /ecs/web\n",
        tmp, health, cluster, double_port, alb.rule, alb.test_rule, alb.lb, alb.tg[0], alb.tg[1], alb.port,
        alb.test_port);
    bg_err_t err;
    bg_err_clear(&err);
    bg_config_t *cfg = bg_config_parse(text, strlen(text), "ecs-test.yaml", &err);
    cr_assert(cfg, "config: %s", err.msg);
    free(text);
    return cfg;
}

static bg_config_t *config_of(const char *cluster)
{
    return config_of_health(cluster, "");
}

static bg_driver_t *open_driver(const bg_config_t *cfg)
{
    bg_err_t err;
    bg_err_clear(&err);
    bg_driver_t *d = bg_ecs_driver_new(&loop, cfg, NULL, &err);
    cr_assert(d, "%s", err.msg);
    return d;
}

typedef bool (*cond_fn)(void *arg);

/* Runs the loop (the driver's tick keeps it alive) until <cond> or <ms> pass. */
static bool run_until(cond_fn cond, void *arg, uint64_t ms)
{
    uint64_t deadline = bg_now_ms() + ms;
    while (!cond(arg)) {
        if (bg_now_ms() >= deadline)
            return false;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static bool flag_set(void *arg)
{
    return *(bool *)arg;
}

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static void close_driver(bg_driver_t *d)
{
    bool closed = false;
    bg_driver_close(d, on_closed, &closed);
    cr_assert(run_until(flag_set, &closed, 30000), "the driver did not close");
}

typedef struct resolved {
    bool done;
    int status;
    char artifact[256], msg[512];
} resolved_t;

static void on_resolved(void *arg, int status, const char *artifact, const char *msg)
{
    resolved_t *r = arg;
    r->done = true;
    r->status = status;
    snprintf(r->artifact, sizeof(r->artifact), "%s", artifact ? artifact : "");
    snprintf(r->msg, sizeof(r->msg), "%s", msg ? msg : "");
}

typedef struct started {
    bool done;
    int status;
} started_t;

static void on_started(void *arg, bg_instance_t *inst, int status)
{
    started_t *s = arg;
    (void)inst;
    s->done = true;
    s->status = status;
}

typedef struct switched {
    bool done;
    int status;
    char msg[512];
} switched_t;

static void on_switched(void *arg, int status, double ms, const char *msg)
{
    switched_t *s = arg;
    (void)ms;
    s->done = true;
    s->status = status;
    snprintf(s->msg, sizeof(s->msg), "%s", msg ? msg : "");
}

static bg_kv_t env_foo = {"FOO", "bar baz"};

static bg_revision_config_t revision(const char *version, const char *image)
{
    return (bg_revision_config_t){.version = (char *)version,
                                  .image = (char *)image,
                                  .env = &env_foo,
                                  .n_env = 1,
                                  .count = 1,
                                  .port = 8080,
                                  .memory_bytes = 1024ull * 1024 * 1024,
                                  .cpu_millis = 500};
}

static const char *env_value(json_t *container, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(container, "environment"), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return json_string_value(json_object_get(e, "value"));
    }
    return NULL;
}

typedef struct health_wait {
    bg_driver_t *d;
    int slot;
    uint32_t healthy, targets;
    bool want_unhealthy;
    bg_driver_slot_health_t h;
} health_wait_t;

static bool health_is(void *arg)
{
    health_wait_t *w = arg;
    w->d->vt->slot_health(w->d, "web", w->slot, &w->h);
    if (w->want_unhealthy)
        return w->h.targets == w->targets && w->h.healthy == 0 && w->h.n_target == w->targets &&
               strcmp(w->h.target[0].state, "unhealthy") == 0;
    return w->h.healthy == w->healthy && w->h.targets == w->targets;
}

static int64_t rule_weight(const char *rule, int i)
{
    json_t *r = call(&bg_aws_elbv2, "DescribeRules", json_pack("{s:[s]}", "RuleArns", rule));
    json_t *tgs = json_object_get(
        json_object_get(json_array_get(json_object_get(json_array_get(json_object_get(r, "Rules"), 0),
                                                       "Actions"),
                                       0),
                        "ForwardConfig"),
        "TargetGroups");
    int64_t w = -1;
    size_t k;
    json_t *t;
    json_array_foreach(tgs, k, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "TargetGroupArn")), alb.tg[i]) == 0)
            bg_aws_json_int(t, "Weight", &w);
    }
    json_decref(r);
    return w;
}

Test(ecs_driver, register_create_switch_and_health_through_the_ops)
{
    bg_config_t *cfg = config_of("prod");
    bg_driver_t *d = open_driver(cfg);
    bg_revision_config_t rev = revision("2.0.0", "repo/web:2.0.0");
    resolved_t res = {0};
    bg_err_t err;

    cr_assert_eq(bg_driver_caps(d), BG_DRIVER_CAP_STARTS | BG_DRIVER_CAP_ROUTES);
    bg_err_clear(&err);
    cr_assert_eq(bg_driver_validate(d, "web", &rev, &err), 0, "%s", err.msg);

    /* resolve: the revision registered as a task definition */
    cr_assert(bg_driver_resolve(d, "web", &rev, NULL, on_resolved, &res));
    cr_assert(!res.done, "answered inside resolve()");
    cr_assert(run_until(flag_set, &res.done, 30000));
    cr_assert_eq(res.status, 0, "%s", res.msg);
    cr_assert(strstr(res.artifact, ":task-definition/web:") != NULL, "%s", res.artifact);
    json_t *r = call(&bg_aws_ecs, "DescribeTaskDefinition",
                     json_pack("{s:s}", "taskDefinition", res.artifact));
    json_t *td = json_object_get(r, "taskDefinition");
    json_t *c = json_array_get(json_object_get(td, "containerDefinitions"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(td, "family")), "web");
    cr_expect_str_eq(json_string_value(json_object_get(td, "networkMode")), "awsvpc");
    cr_expect_str_eq(json_string_value(json_object_get(td, "cpu")), "512");     /* 0.5 cpu */
    cr_expect_str_eq(json_string_value(json_object_get(td, "memory")), "1024"); /* 1 GiB */
    cr_expect_str_eq(json_string_value(json_object_get(td, "executionRoleArn")),
                     "arn:aws:iam::123456789012:role/web-exec");
    cr_expect_str_eq(json_string_value(json_object_get(c, "name")), "web");
    cr_expect_str_eq(json_string_value(json_object_get(c, "image")), "repo/web:2.0.0");
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(c, "portMappings"), 0), "containerPort")),
                 8080);
    cr_expect_str_eq(env_value(c, "FOO"), "bar baz");
    cr_expect_str_eq(env_value(c, "BLUEGREEN_SERVICE"), "web");
    cr_expect_str_eq(env_value(c, "BLUEGREEN_VERSION"), "2.0.0");
    json_t *lc = json_object_get(c, "logConfiguration");
    cr_expect_str_eq(json_string_value(json_object_get(lc, "logDriver")), "awslogs");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(lc, "options"),
                                                       "awslogs-group")),
                     "/ecs/web");
    json_decref(r);

    /* start: the green slot's service on the green target group, at the pinned revision */
    bg_revision_config_t pinned = rev;
    pinned.image = res.artifact;
    bg_instance_spec_t spec = {.service = "web", .slot = BG_SLOT_GREEN, .revision = 2, .index = 0,
                               .rev = &pinned};
    bg_instance_t *inst = NULL;
    started_t st = {0};
    cr_assert_eq(bg_driver_start(d, &spec, on_started, &st, &inst, &err), 0, "%s", err.msg);
    cr_assert_eq(inst->state, BG_INSTANCE_STARTING);
    cr_expect_str_eq(inst->handle, "ecs:prod/web-green#0");
    cr_assert(run_until(flag_set, &st.done, 60000), "start not answered");
    cr_assert_eq(st.status, 0, "%s", inst->error);
    cr_assert_eq(inst->state, BG_INSTANCE_RUNNING);
    r = call(&bg_aws_ecs, "DescribeServices",
             json_pack("{s:s, s:[s]}", "cluster", "prod", "services", "web-green"));
    json_t *svc = json_array_get(json_object_get(r, "services"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(svc, "taskDefinition")), res.artifact);
    cr_expect_eq(json_integer_value(json_object_get(svc, "desiredCount")), 1);
    cr_expect_str_eq(json_string_value(json_object_get(svc, "launchType")), "FARGATE");
    json_t *lb0 = json_array_get(json_object_get(svc, "loadBalancers"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(lb0, "targetGroupArn")), alb.tg[1]);
    cr_expect_str_eq(json_string_value(json_object_get(lb0, "containerName")), "web");
    cr_expect_eq(json_integer_value(json_object_get(lb0, "containerPort")), 8080);
    json_decref(r);
    /* the test rule points at the preview before the instance was reported started */
    cr_expect_eq(rule_weight(alb.test_rule, 0), 0);
    cr_expect_eq(rule_weight(alb.test_rule, 1), 100);
    char test_url[64];
    snprintf(test_url, sizeof(test_url), "http://127.0.0.1:%d/", alb.test_port);
    cr_expect_str_eq(d->vt->test_url(d, "web"), test_url);

    /* slot_health: the target group's states, polled by the driver */
    health_wait_t hw = {.d = d, .slot = BG_SLOT_GREEN, .healthy = 1, .targets = 1};
    cr_assert(run_until(health_is, &hw, 60000), "green never healthy: %u/%u %s", hw.h.healthy,
              hw.h.targets, hw.h.detail);
    cr_assert_eq(hw.h.n_target, 1);
    cr_expect_str_eq(hw.h.target[0].state, "healthy");
    cr_expect(strncmp(hw.h.target[0].address, "127.0.0.1:", 10) == 0, "%s",
              hw.h.target[0].address);
    bg_driver_slot_health_t blue;
    d->vt->slot_health(d, "web", BG_SLOT_BLUE, &blue);
    cr_expect_eq(blue.targets, 0);
    cr_expect_eq(blue.healthy, 0);

    /* set_weights: written, read back, probed until 2.0.0 answers through the listener */
    switched_t sw = {0};
    uint32_t w[2] = {0, 100};
    d->vt->set_weights(d, "web", w, on_switched, &sw);
    cr_assert(!sw.done, "answered inside set_weights()");
    cr_assert(run_until(flag_set, &sw.done, 60000), "switch not answered");
    cr_assert_eq(sw.status, 0, "%s", sw.msg);
    cr_expect_eq(rule_weight(alb.rule, 0), 0);
    cr_expect_eq(rule_weight(alb.rule, 1), 100);
    bgt_resp_t resp = {0};
    cr_assert(bgt_http_get(alb.port, "127.0.0.1", "/", &resp, 10000));
    cr_expect(strstr(resp.body, "\"2.0.0\"") != NULL, "%s", resp.body);
    bgt_resp_fini(&resp);

    /* the task turns unhealthy (its Actuator says DOWN): the target group's words mapped */
    const char *addr = hw.h.target[0].address;
    int task_port = atoi(strchr(addr, ':') + 1);
    const char *fail = "POST /admin/fail-health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n";
    cr_assert(bgt_http_raw(task_port, fail, strlen(fail), &resp, 10000));
    cr_assert_eq(resp.status, 200);
    bgt_resp_fini(&resp);
    health_wait_t down = {.d = d, .slot = BG_SLOT_GREEN, .targets = 1, .want_unhealthy = true};
    cr_assert(run_until(health_is, &down, 60000), "green never unhealthy: %u/%u %s",
              down.h.healthy, down.h.targets, down.h.detail);
    cr_expect(strstr(down.h.detail, "unhealthy") != NULL, "%s", down.h.detail);
    cr_expect(strstr(down.h.target[0].reason, "Target.") != NULL, "%s", down.h.target[0].reason);

    /* given back before the close (which leaves the service running, for re-adoption) */
    bg_instance_free(inst);
    close_driver(d);
    bg_config_free(cfg);
}

Test(ecs_driver, a_failing_call_names_the_aws_error_code)
{
    bg_config_t *cfg = config_of("no-such-cluster");
    bg_driver_t *d = open_driver(cfg);
    bg_revision_config_t rev = revision("2.0.0", "repo/web:2.0.0");
    bg_instance_spec_t spec = {.service = "web", .slot = BG_SLOT_BLUE, .revision = 1, .index = 0,
                               .rev = &rev};
    bg_instance_t *inst = NULL;
    started_t st = {0};
    bg_err_t err;

    bg_err_clear(&err);
    cr_assert_eq(bg_driver_start(d, &spec, on_started, &st, &inst, &err), 0, "%s", err.msg);
    cr_assert(run_until(flag_set, &st.done, 60000), "start not answered");
    cr_expect_eq(st.status, BG_ENOTFOUND, "status %d: %s", st.status, inst->error);
    cr_expect_eq(inst->state, BG_INSTANCE_STOPPED);
    /* "ecs service web-blue: ecs DescribeServices: ClusterNotFoundException: ..." */
    cr_expect(strstr(inst->error, "web-blue") != NULL, "%s", inst->error);
    cr_expect(strstr(inst->error, "ClusterNotFoundException") != NULL, "%s", inst->error);
    bg_instance_free(inst);

    /* a revision without an image is refused before anything is sent */
    bg_revision_config_t none = revision("3.0.0", NULL);
    cr_expect_eq(bg_driver_validate(d, "web", &none, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "image") != NULL, "%s", err.msg);
    close_driver(d);
    bg_config_free(cfg);
}

typedef struct found_list {
    bg_driver_found_t v[8];
    size_t n;
} found_list_t;

static int collect_found(void *arg, const bg_driver_found_t *f)
{
    found_list_t *l = arg;
    cr_assert(l->n < BG_ARRAY_LEN(l->v));
    l->v[l->n++] = *f;
    return 0;
}

typedef struct detail_wait {
    bg_driver_t *d;
    const char *want;
    bg_driver_slot_health_t h;
} detail_wait_t;

static bool detail_has(void *arg)
{
    detail_wait_t *w = arg;
    w->d->vt->slot_health(w->d, "web", BG_SLOT_GREEN, &w->h);
    return strstr(w->h.detail, w->want) != NULL;
}

Test(ecs_driver, actuator_through_the_test_listener_and_the_boot_scan)
{
    bg_config_t *cfg = config_of_health("prod", "    health: {format: actuator, interval: 200ms}\n");
    bg_driver_t *d = open_driver(cfg);
    bg_revision_config_t rev = revision("2.0.0", "repo/web:2.0.0");
    bg_instance_spec_t spec = {.service = "web", .slot = BG_SLOT_GREEN, .revision = 2, .index = 0,
                               .rev = &rev};
    bg_instance_t *inst = NULL;
    started_t st = {0};
    found_list_t found = {0};
    bg_err_t err;

    /* nothing runs yet: the scan finds nothing */
    cr_assert_eq(bg_driver_scan(d, collect_found, &found), 0);
    cr_expect_eq(found.n, 0);

    bg_err_clear(&err);
    cr_assert_eq(bg_driver_start(d, &spec, on_started, &st, &inst, &err), 0, "%s", err.msg);
    cr_assert(run_until(flag_set, &st.done, 60000), "start not answered");
    cr_assert_eq(st.status, 0, "%s", inst->error);
    /* healthy once the target group is and the Actuator body through the test listener is UP */
    health_wait_t hw = {.d = d, .slot = BG_SLOT_GREEN, .healthy = 1, .targets = 1};
    cr_assert(run_until(health_is, &hw, 60000), "green never healthy: %u/%u %s", hw.h.healthy,
              hw.h.targets, hw.h.detail);

    /* the task's Actuator says DOWN: the slot's detail names the component */
    bgt_resp_t resp = {0};
    int task_port = atoi(strchr(hw.h.target[0].address, ':') + 1);
    const char *fail = "POST /admin/fail-health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                       "Connection: close\r\n\r\n";
    cr_assert(bgt_http_raw(task_port, fail, strlen(fail), &resp, 10000));
    bgt_resp_fini(&resp);
    detail_wait_t dw = {.d = d, .want = "actuator through the test listener: DOWN (db: DOWN)"};
    cr_assert(run_until(detail_has, &dw, 30000), "detail: %s", dw.h.detail);
    cr_expect_eq(dw.h.healthy, 0);
    bg_buf_t logs;
    bg_buf_init(&logs);
    cr_assert_eq(bg_driver_logs(d, inst, 4096, &logs), 0);
    cr_expect(logs.data != NULL &&
                  strstr(logs.data, "actuator through the test listener: DOWN (db: DOWN) (not "
                                    "healthy)") != NULL,
              "%s", logs.data ? logs.data : "");
    bg_buf_fini(&logs);

    /* the service keeps running after the driver closes; a new driver's scan reports its
     * task with the handle start() gave it, and nothing of blue (never created) */
    bg_instance_free(inst);
    close_driver(d);
    d = open_driver(cfg);
    cr_assert_eq(bg_driver_scan(d, collect_found, &found), 0);
    cr_assert_eq(found.n, 1);
    cr_expect_str_eq(found.v[0].handle, "ecs:prod/web-green#0");
    cr_expect_str_eq(found.v[0].service, "web");
    cr_expect_eq(found.v[0].slot, BG_SLOT_GREEN);
    cr_expect_eq(found.v[0].driver, d);
    cr_expect_str_eq(found.v[0].store_id, "");
    /* reaped as the recovery does it: adopted, then stopped -> the service scaled to 0 */
    bg_revision_config_t none = {0};
    bg_instance_spec_t rs = {.service = "web", .slot = BG_SLOT_GREEN, .rev = &none};
    bg_instance_t *orphan = NULL;
    cr_assert_eq(bg_driver_adopt(d, &rs, found.v[0].address, found.v[0].handle, &orphan, &err), 0,
                 "%s", err.msg);
    started_t stopped = {0};
    bg_driver_stop(d, orphan, on_started, &stopped);
    cr_assert(run_until(flag_set, &stopped.done, 60000), "the orphan never stopped");
    json_t *r = call(&bg_aws_ecs, "DescribeServices",
                     json_pack("{s:s, s:[s]}", "cluster", "prod", "services", "web-green"));
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(r, "services"), 0), "desiredCount")),
                 0);
    cr_expect_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(r, "services"), 0), "runningCount")),
                 0);
    json_decref(r);
    bg_instance_free(orphan);
    close_driver(d);
    bg_config_free(cfg);
}
