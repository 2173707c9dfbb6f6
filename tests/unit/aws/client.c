/* The AWS client against a real local HTTP server (tests/support fake backend, its own
 * thread): JSON 1.1 and query/XML calls, error mapping from JSON __type and XML <Error>,
 * the standard retry mode (throttling, 5xx, transport errors, non-retryable errors,
 * idempotency token kept across attempts), endpoint overrides and closing with calls in
 * flight. Every request the server receives is re-signed with the module's signer from
 * what arrived on the wire, so a header the client sends differently from what it signed
 * is caught.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "aws/aws.h"
#include "base/base.h"
#include "support/support.h"
#include "unit/aws/common.h"

/* ---- a scripted server ---- */

typedef struct script {
    pthread_mutex_t mu;
    const char *responses[8]; /* answer n (the last one repeats) */
    unsigned n_responses;
    unsigned hits;
    char bodies[8][2048];
    char heads[8][4096];
    unsigned bad_signatures;
} script_t;

static char *handler(void *arg, const bgt_backend_req_t *req)
{
    script_t *s = arg;
    pthread_mutex_lock(&s->mu);
    unsigned i = s->hits++;
    if (i < 8) {
        snprintf(s->bodies[i], sizeof(s->bodies[i]), "%.*s", (int)req->body_len, req->body);
        snprintf(s->heads[i], sizeof(s->heads[i]), "%s", req->head);
    }
    if (!aws_test_signature_ok(req->head, req->body, req->body_len))
        s->bad_signatures++;
    const char *r = s->responses[i < s->n_responses ? i : s->n_responses - 1];
    pthread_mutex_unlock(&s->mu);
    return strdup(r);
}

static bgt_backend_t *srv;
static script_t script;
static uv_loop_t loop;
static bg_aws_t *aws;

static void setup(void)
{
    memset(&script, 0, sizeof(script));
    pthread_mutex_init(&script.mu, NULL);
    srv = bgt_backend_start("aws", 0);
    bgt_backend_set_handler(srv, handler, &script);
    setenv("AWS_ACCESS_KEY_ID", AWS_TEST_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", AWS_TEST_SECRET, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    unsetenv("AWS_SESSION_TOKEN");
    uv_loop_init(&loop);
    bg_err_t err;
    bg_aws_options_t o = {.region = "us-east-1", .backoff_base_ms = 20, .timeout_ms = 3000};
    aws = bg_aws_new(&loop, &o, &err);
    cr_assert(aws, "%s", err.msg);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bgt_backend_port(srv));
    cr_assert_eq(bg_aws_set_endpoint(aws, "ecs", url, NULL, &err), 0);
    cr_assert_eq(bg_aws_set_endpoint(aws, "elasticloadbalancing", url, NULL, &err), 0);
    cr_assert_eq(bg_aws_set_endpoint(aws, "monitoring", url, "eu-west-1", &err), 0);
}

static void teardown(void)
{
    if (aws != NULL)
        aws_test_close(&loop, aws);
    bgt_backend_stop(srv);
    cr_expect_eq(script.bad_signatures, 0, "requests whose signature did not match");
}

static void set_responses(unsigned n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        script.responses[i] = va_arg(ap, const char *);
    va_end(ap);
    script.n_responses = n;
}

TestSuite(aws_client, .init = setup, .fini = teardown, .timeout = 30);

Test(aws_client, json_call_sends_target_and_parses_the_answer)
{
    set_responses(1, aws_test_response(200, "application/x-amz-json-1.1",
                                       "{\"services\":[{\"serviceName\":\"web-blue\","
                                       "\"desiredCount\":2}],\"failures\":[]}"));
    json_t *p = json_pack("{s:s, s:[s]}", "cluster", "prod", "services", "web-blue");
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "DescribeServices", p, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_expect_eq(r.attempts, 1);
    int64_t count = 0;
    json_t *svc = json_array_get(json_object_get(r.body, "services"), 0);
    cr_expect(bg_aws_json_int(svc, "desiredCount", &count));
    cr_expect_eq(count, 2);
    cr_expect(strstr(script.heads[0], "X-Amz-Target: AmazonEC2ContainerServiceV20141113."
                                      "DescribeServices") != NULL);
    cr_expect(strstr(script.heads[0], "Content-Type: application/x-amz-json-1.1") != NULL);
    cr_expect(strstr(script.heads[0], "/us-east-1/ecs/aws4_request") != NULL);
    cr_expect_str_eq(script.bodies[0], "{\"cluster\":\"prod\",\"services\":[\"web-blue\"]}");
    json_decref(r.body);
}

Test(aws_client, query_call_flattens_params_and_reads_xml)
{
    set_responses(
        1, aws_test_response(
               200, "text/xml",
               "<DescribeRulesResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/"
               "2015-12-01/\"><DescribeRulesResult><Rules><member><RuleArn>arn:r1</RuleArn>"
               "<Actions><member><Type>forward</Type><ForwardConfig><TargetGroups>"
               "<member><TargetGroupArn>arn:tg-blue</TargetGroupArn><Weight>90</Weight></member>"
               "<member><TargetGroupArn>arn:tg-green</TargetGroupArn><Weight>10</Weight></member>"
               "</TargetGroups></ForwardConfig></member></Actions><Conditions/></member></Rules>"
               "</DescribeRulesResult><ResponseMetadata><RequestId>rid-7</RequestId>"
               "</ResponseMetadata></DescribeRulesResponse>"));
    json_t *p = json_pack("{s:[s], s:b}", "RuleArns", "arn:aws:x/y", "Flag", 0);
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_elbv2, "DescribeRules", p, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_expect_str_eq(r.request_id, "rid-7");
    json_t *rule = json_array_get(json_object_get(r.body, "Rules"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(rule, "RuleArn")), "arn:r1");
    json_t *tgs = json_object_get(
        json_object_get(json_array_get(json_object_get(rule, "Actions"), 0), "ForwardConfig"),
        "TargetGroups");
    cr_assert_eq(json_array_size(tgs), 2);
    int64_t w = 0;
    cr_expect(bg_aws_json_int(json_array_get(tgs, 1), "Weight", &w));
    cr_expect_eq(w, 10);
    cr_expect_str_eq(json_string_value(json_object_get(rule, "Conditions")), "");
    cr_expect_str_eq(script.bodies[0], "Action=DescribeRules&Version=2015-12-01&"
                                       "RuleArns.member.1=arn%3Aaws%3Ax%2Fy&Flag=false");
    cr_expect(strstr(script.heads[0],
                     "Content-Type: application/x-www-form-urlencoded; charset=utf-8") != NULL);
    json_decref(r.body);
}

Test(aws_client, region_override_per_service_is_signed)
{
    set_responses(1, aws_test_response(200, "text/xml",
                                       "<GetMetricDataResponse><GetMetricDataResult>"
                                       "<MetricDataResults/></GetMetricDataResult>"
                                       "</GetMetricDataResponse>"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_cloudwatch, "GetMetricData", NULL, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_expect(strstr(script.heads[0], "/eu-west-1/monitoring/aws4_request") != NULL);
    cr_expect_str_eq(bg_aws_region(aws, "monitoring"), "eu-west-1");
    cr_expect_str_eq(bg_aws_region(aws, "ecs"), "us-east-1");
    json_decref(r.body);
}

Test(aws_client, json_error_type_is_mapped)
{
    set_responses(1, aws_test_response(400, "application/x-amz-json-1.1",
                                       "{\"__type\":\"com.amazonaws.ecs#ClusterNotFoundException\","
                                       "\"message\":\"Cluster not found.\"}"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "DescribeClusters", NULL, &r);
    cr_expect_eq(r.status, BG_ENOTFOUND);
    cr_expect_str_eq(r.aws_code, "ClusterNotFoundException");
    cr_expect(strstr(r.msg, "ecs DescribeClusters: ClusterNotFoundException: Cluster not found.") !=
                  NULL,
              "%s", r.msg);
    cr_expect(strstr(r.msg, "HTTP 400") != NULL);
    cr_expect_eq(r.attempts, 1, "a client error is not retried");
}

Test(aws_client, xml_error_code_is_mapped)
{
    set_responses(
        1, aws_test_response(400, "text/xml",
                             "<ErrorResponse xmlns=\"http://elasticloadbalancing.amazonaws.com/doc/"
                             "2015-12-01/\"><Error><Type>Sender</Type><Code>ValidationError</Code>"
                             "<Message>1 validation error detected</Message></Error>"
                             "<RequestId>abc-1</RequestId></ErrorResponse>"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_elbv2, "ModifyRule", NULL, &r);
    cr_expect_eq(r.status, BG_EINVAL);
    cr_expect_str_eq(r.aws_code, "ValidationError");
    cr_expect_str_eq(r.request_id, "abc-1");
    cr_expect(strstr(r.msg, "1 validation error detected") != NULL, "%s", r.msg);
    cr_expect_eq(r.attempts, 1);
}

Test(aws_client, access_denied_is_refused)
{
    set_responses(
        1, aws_test_response(403, "text/xml",
                             "<ErrorResponse><Error><Code>AccessDenied</Code><Message>not "
                             "authorized to perform: elasticloadbalancing:ModifyRule</Message>"
                             "</Error></ErrorResponse>"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_elbv2, "ModifyRule", NULL, &r);
    cr_expect_eq(r.status, BG_EREFUSED);
    cr_expect(strstr(r.msg, "elasticloadbalancing:ModifyRule") != NULL);
}

Test(aws_client, throttling_is_retried_then_succeeds)
{
    const char *thr = aws_test_response(400, "application/x-amz-json-1.1",
                                        "{\"__type\":\"ThrottlingException\",\"message\":\"Rate "
                                        "exceeded\"}");
    set_responses(3, thr, thr, aws_test_response(200, "application/x-amz-json-1.1", "{}"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "ListTasks", NULL, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_expect_eq(r.attempts, 3);
    cr_expect_eq(script.hits, 3);
    bg_aws_stats_t st;
    bg_aws_stats(aws, &st);
    cr_expect_eq(st.throttled, 2);
    cr_expect_eq(st.retries, 2);
    cr_expect_eq(st.retry_quota, 500 - 5, "the successful retry refunds its cost");
    json_decref(r.body);
}

Test(aws_client, throttling_gives_up_after_three_attempts)
{
    set_responses(1, aws_test_response(400, "text/xml",
                                       "<ErrorResponse><Error><Code>Throttling</Code>"
                                       "<Message>Rate exceeded</Message></Error></ErrorResponse>"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_elbv2, "DescribeTargetHealth", NULL, &r);
    cr_expect_eq(r.status, BG_EUNAVAIL);
    cr_expect_eq(r.attempts, 3);
    cr_expect_eq(script.hits, 3);
    cr_expect(strstr(r.msg, "3 attempts") != NULL, "%s", r.msg);
}

Test(aws_client, server_errors_are_retried)
{
    set_responses(2, aws_test_response(503, "text/plain", "busy"),
                  aws_test_response(200, "application/x-amz-json-1.1", "{\"ok\":true}"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "DescribeServices", NULL, &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_expect_eq(r.attempts, 2);
    json_decref(r.body);
}

Test(aws_client, idempotency_token_is_filled_and_kept_across_retries)
{
    set_responses(2,
                  aws_test_response(500, "application/x-amz-json-1.1",
                                    "{\"__type\":\"ServerException\",\"message\":\"x\"}"),
                  aws_test_response(200, "application/x-amz-json-1.1", "{\"tasks\":[]}"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "RunTask", json_pack("{s:s}", "taskDefinition", "w:1"),
                  &r);
    cr_assert_eq(r.status, 0, "%s", r.msg);
    cr_assert_eq(script.hits, 2);
    json_t *a = json_loads(script.bodies[0], 0, NULL), *b = json_loads(script.bodies[1], 0, NULL);
    const char *ta = json_string_value(json_object_get(a, "clientToken"));
    cr_assert(ta && strlen(ta) == 36, "clientToken is a UUID");
    cr_expect_str_eq(ta, json_string_value(json_object_get(b, "clientToken")));
    json_decref(a);
    json_decref(b);
    json_decref(r.body);
}

Test(aws_client, transport_errors_are_retried_then_reported)
{
    bg_err_t err;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bgt_free_port());
    cr_assert_eq(bg_aws_set_endpoint(aws, "sts", url, NULL, &err), 0);
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_sts, "GetCallerIdentity", NULL, &r);
    cr_expect_eq(r.status, BG_EUNAVAIL);
    cr_expect_eq(r.attempts, 3);
    cr_expect(strstr(r.msg, "sts GetCallerIdentity") != NULL, "%s", r.msg);
}

Test(aws_client, unreadable_success_is_a_protocol_error)
{
    set_responses(1, aws_test_response(200, "text/xml", "<not-closed>"));
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_elbv2, "DescribeRules", NULL, &r);
    cr_expect_eq(r.status, BG_EPROTO);
    cr_expect_eq(r.attempts, 1);
}

Test(aws_client, bad_endpoint_urls_are_refused)
{
    bg_err_t err;
    cr_expect_eq(bg_aws_set_endpoint(aws, "ecs", "ftp://x", NULL, &err), BG_EINVAL);
    cr_expect_eq(bg_aws_set_endpoint(aws, "ecs", "http://h/path", NULL, &err), BG_EINVAL);
    cr_expect_eq(bg_aws_set_endpoint(aws, "ecs", "http://u@h", NULL, &err), BG_EINVAL);
    cr_expect(strstr(err.msg, "http(s)://host[:port]") != NULL);
    cr_expect_eq(bg_aws_set_endpoint(aws, "ecs", "https://ecs.example:8443/", NULL, &err), 0);
}

static void on_cancelled(void *arg, const bg_aws_result_t *res)
{
    *(int *)arg = res->status;
}

Test(aws_client, close_cancels_calls_in_flight)
{
    /* The server never answers ("" closes without a response only after the client gives
     * up); the client is closed while the call waits. */
    set_responses(1, aws_test_response(200, "application/x-amz-json-1.1", "{}"));
    int status = 1;
    cr_assert_eq(bg_aws_call(aws, &bg_aws_ecs, "ListTasks", NULL, on_cancelled, &status), 0);
    cr_expect_eq(status, 1, "the callback never runs inside bg_aws_call");
    aws_test_close(&loop, aws);
    aws = NULL;
    cr_expect_eq(status, UV_ECANCELED);
}

Test(aws_client, error_code_table)
{
    cr_expect_eq(bg_aws_error_code("ServiceNotFoundException", 400), BG_ENOTFOUND);
    cr_expect_eq(bg_aws_error_code("TargetGroupNotFound", 400), BG_ENOTFOUND);
    cr_expect_eq(bg_aws_error_code("InvalidParameterException", 400), BG_EINVAL);
    cr_expect_eq(bg_aws_error_code("UnrecognizedClientException", 400), BG_EREFUSED);
    cr_expect_eq(bg_aws_error_code("SignatureDoesNotMatch", 403), BG_EREFUSED);
    cr_expect_eq(bg_aws_error_code("ResourceInUse", 400), BG_ECONFLICT);
    cr_expect_eq(bg_aws_error_code("DuplicateTargetGroupName", 400), BG_EEXIST);
    cr_expect_eq(bg_aws_error_code("aws.protocol#ThrottlingException", 400), BG_EUNAVAIL);
    cr_expect_eq(bg_aws_error_code("", 502), BG_EUNAVAIL);
    cr_expect_eq(bg_aws_error_code(NULL, 404), BG_ENOTFOUND);
    cr_expect(bg_aws_is_throttling("RequestLimitExceeded"));
    cr_expect(!bg_aws_is_throttling("ValidationError"));
}

static unsigned hits(void)
{
    pthread_mutex_lock(&script.mu);
    unsigned n = script.hits;
    pthread_mutex_unlock(&script.mu);
    return n;
}

static void on_switch(void *arg, int status, uint64_t verify_ms, const bg_err_t *err)
{
    *(int *)arg = status;
}

Test(aws_client, close_cancels_a_switch_waiting_to_read_back)
{
    set_responses(2,
                  aws_test_response(200, "text/xml",
                                    "<ModifyRuleResponse><ModifyRuleResult><Rules/>"
                                    "</ModifyRuleResult></ModifyRuleResponse>"),
                  aws_test_response(200, "text/xml",
                                    "<DescribeRulesResponse><DescribeRulesResult><Rules><member>"
                                    "<Actions><member><Type>forward</Type><ForwardConfig>"
                                    "<TargetGroups><member><TargetGroupArn>b</TargetGroupArn>"
                                    "<Weight>100</Weight></member></TargetGroups>"
                                    "</ForwardConfig></member></Actions></member></Rules>"
                                    "</DescribeRulesResult></DescribeRulesResponse>"));
    int status = 1;
    cr_assert_eq(bg_aws_alb_set_weights(aws, "rule", "b", 0, "g", 100, 60000, on_switch, &status),
                 0);
    uint64_t deadline = bg_now_ms() + 10000;
    while (hits() < 3 && bg_now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_geq(hits(), 3, "ModifyRule, then reads that do not confirm");
    cr_expect_eq(status, 1, "still verifying");
    aws_test_close(&loop, aws);
    aws = NULL;
    cr_expect_eq(status, UV_ECANCELED);
}
