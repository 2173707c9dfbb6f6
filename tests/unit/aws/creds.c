/* The credential chain with real files and a real local HTTP server standing in for the
 * ECS container credentials endpoint and for EC2 IMDSv2: order of the sources, profiles,
 * tokens, refresh before expiry, keeping valid credentials when a refresh fails, and the
 * error that names everything that was tried.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <uv.h>

#include "aws/aws.h"
#include "base/base.h"
#include "support/support.h"
#include "unit/aws/common.h"

typedef struct meta {
    pthread_mutex_t mu;
    unsigned hits, token_puts, creds_gets, api_calls;
    int expires_in_s; /* Expiration = now + this */
    bool fail_creds;  /* answer 500 to credential requests */
    bool expire_first; /* answer the first API call ExpiredTokenException */
    char api_keys[4][64]; /* access key of each API call */
    char key[32];     /* AccessKeyId handed out (a counter is appended) */
    char bad[256];    /* first protocol violation seen */
    char last_token[256];
} meta_t;

static meta_t meta;
static bgt_backend_t *srv;
static uv_loop_t loop;
static bg_aws_t *aws;
static char *dir;

static char *answer(int status, const char *ctype, const char *body)
{
    return strdup(aws_test_response(status, ctype, body));
}

static char *creds_json(void)
{
    char exp[32], body[512];
    time_t t = time(NULL) + meta.expires_in_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(exp, sizeof(exp), "%Y-%m-%dT%H:%M:%SZ", &tm);
    meta.creds_gets++;
    snprintf(body, sizeof(body),
             "{\"Code\":\"Success\",\"AccessKeyId\":\"%s%u\",\"SecretAccessKey\":\"S-%s%u\","
             "\"Token\":\"tok-%u\",\"Expiration\":\"%s\"}",
             meta.key, meta.creds_gets, meta.key, meta.creds_gets, meta.creds_gets, exp);
    if (meta.fail_creds)
        return answer(500, "text/plain", "down");
    return answer(200, "application/json", body);
}

static void violation(const char *what)
{
    if (meta.bad[0] == '\0')
        snprintf(meta.bad, sizeof(meta.bad), "%s", what);
}

static char *handler(void *arg, const bgt_backend_req_t *req)
{
    char v[256];
    char *out = NULL;
    pthread_mutex_lock(&meta.mu);
    meta.hits++;
    if (strcmp(req->path, "/creds") == 0) {
        if (!bgt_head_header(req->head, "Authorization", v, sizeof(v)) ||
            strcmp(v, "container-secret") != 0)
            violation("container endpoint without the authorization token");
        out = creds_json();
    } else if (strcmp(req->path, "/latest/api/token") == 0) {
        meta.token_puts++;
        if (strcmp(req->method, "PUT") != 0 ||
            !bgt_head_header(req->head, "X-aws-ec2-metadata-token-ttl-seconds", v, sizeof(v)))
            violation("IMDS token not asked with PUT and a TTL");
        out = answer(200, "text/plain", "imds-token-1");
    } else if (strncmp(req->path, "/latest/meta-data/iam/security-credentials/", 43) == 0) {
        if (!bgt_head_header(req->head, "X-aws-ec2-metadata-token", v, sizeof(v)) ||
            strcmp(v, "imds-token-1") != 0)
            violation("IMDS read without the session token (IMDSv1)");
        out = req->path[43] == '\0' ? answer(200, "text/plain", "app-role\n") : creds_json();
        if (req->path[43] != '\0' && strcmp(req->path + 43, "app-role") != 0)
            violation("IMDS credentials of another role");
    } else {
        char authz[512] = "";
        bgt_head_header(req->head, "Authorization", authz, sizeof(authz));
        const char *cred = strstr(authz, "Credential=");
        if (meta.api_calls < 4 && cred)
            snprintf(meta.api_keys[meta.api_calls], sizeof(meta.api_keys[0]), "%.*s",
                     (int)strcspn(cred + 11, "/"), cred + 11);
        meta.api_calls++;
        bgt_head_header(req->head, "X-Amz-Security-Token", meta.last_token,
                        sizeof(meta.last_token));
        if (!aws_test_signature_ok(req->head, req->body, req->body_len))
            violation("API call with a bad signature");
        if (meta.expire_first && meta.api_calls == 1)
            out = answer(400, "application/x-amz-json-1.1",
                         "{\"__type\":\"ExpiredTokenException\",\"message\":\"The security "
                         "token included in the request is expired\"}");
        else
            out = answer(200, "application/x-amz-json-1.1", "{}");
    }
    pthread_mutex_unlock(&meta.mu);
    return out;
}

static void clear_env(void)
{
    static const char *const VARS[] = {"AWS_ACCESS_KEY_ID",
                                       "AWS_SECRET_ACCESS_KEY",
                                       "AWS_SESSION_TOKEN",
                                       "AWS_PROFILE",
                                       "AWS_REGION",
                                       "AWS_DEFAULT_REGION",
                                       "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN",
                                       "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                                       "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                                       "AWS_EC2_METADATA_DISABLED",
                                       "AWS_SHARED_CREDENTIALS_FILE",
                                       "AWS_CONFIG_FILE"};
    for (size_t i = 0; i < BG_ARRAY_LEN(VARS); i++)
        unsetenv(VARS[i]);
}

static void setup(void)
{
    memset(&meta, 0, sizeof(meta));
    pthread_mutex_init(&meta.mu, NULL);
    meta.expires_in_s = 3600;
    snprintf(meta.key, sizeof(meta.key), "ASIATEMP");
    srv = bgt_backend_start("meta", 0);
    bgt_backend_set_handler(srv, handler, NULL);
    clear_env();
    dir = bgt_tmpdir("aws-creds");
    setenv("HOME", dir, 1); /* no ~/.aws of the machine's user leaks in */
    uv_loop_init(&loop);
}

static void teardown(void)
{
    if (aws != NULL)
        aws_test_close(&loop, aws);
    aws = NULL;
    bgt_backend_stop(srv);
    free(dir);
    cr_expect_str_eq(meta.bad, "", "protocol violation: %s", meta.bad);
}

TestSuite(aws_creds, .init = setup, .fini = teardown, .timeout = 30);

static void write_file(const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

static char *path_of(const char *name)
{
    return bg_asprintf("%s/%s", dir, name);
}

typedef struct got {
    bool done;
    char key[64], source[32], token[64], err[512];
    int64_t expires;
} got_t;

static void on_creds(void *arg, const bg_aws_creds_t *c, const bg_err_t *err)
{
    got_t *g = arg;
    g->done = true;
    if (c) {
        snprintf(g->key, sizeof(g->key), "%s", c->access_key_id);
        snprintf(g->source, sizeof(g->source), "%s", c->source);
        snprintf(g->token, sizeof(g->token), "%s", c->session_token ? c->session_token : "");
        g->expires = c->expires_unix;
    } else {
        snprintf(g->err, sizeof(g->err), "%s", err->msg);
    }
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

static void get(got_t *g)
{
    memset(g, 0, sizeof(*g));
    cr_assert_eq(bg_aws_creds_get(aws, on_creds, g), 0);
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, 10000, 0);
    while (!g->done && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    cr_assert(g->done, "no answer from the credential chain");
}

static void new_client(const char *region)
{
    bg_err_t err;
    bg_aws_options_t o = {.region = region, .backoff_base_ms = 10};
    aws = bg_aws_new(&loop, &o, &err);
    cr_assert(aws, "%s", err.msg);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bgt_backend_port(srv));
    cr_assert_eq(bg_aws_set_endpoint(aws, "ecs", url, NULL, &err), 0);
}

static void setenv_url(const char *var, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", bgt_backend_port(srv), path);
    setenv(var, url, 1);
}

Test(aws_creds, environment_comes_first)
{
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S-AKIDENV", 1);
    setenv("AWS_SESSION_TOKEN", "env-token", 1);
    write_file("credentials", "[default]\naws_access_key_id = AKIDFILE\n"
                              "aws_secret_access_key = S-AKIDFILE\n");
    char *p = path_of("credentials");
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    free(p);
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "AKIDENV");
    cr_expect_str_eq(g.source, "env");
    cr_expect_str_eq(g.token, "env-token");
    cr_expect_eq(meta.hits, 0);
}

Test(aws_creds, shared_credentials_file_with_profile)
{
    write_file("credentials", "# comment\n[default]\naws_access_key_id = AKIDDEFAULT\n"
                              "aws_secret_access_key = S-AKIDDEFAULT\n\n[dev]\r\n"
                              "aws_access_key_id=AKIDDEV\r\naws_secret_access_key = S-AKIDDEV\r\n"
                              "aws_session_token = dev-token\r\n");
    char *p = path_of("credentials");
    setenv("AWS_SHARED_CREDENTIALS_FILE", p, 1);
    free(p);
    setenv("AWS_PROFILE", "dev", 1);
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "AKIDDEV");
    cr_expect_str_eq(g.source, "profile:dev");
    cr_expect_str_eq(g.token, "dev-token");
    /* A signed call with the profile's keys and token. */
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "ListClusters", NULL, &r);
    cr_expect_eq(r.status, 0, "%s", r.msg);
    cr_expect_str_eq(meta.last_token, "dev-token");
    json_decref(r.body);
}

Test(aws_creds, default_home_files_and_config_profile_region)
{
    /* ~/.aws/config (HOME is the test dir) with keys and region in [profile ops]. */
    char *aws_dir = path_of(".aws");
    cr_assert_eq(mkdir(aws_dir, 0700), 0);
    free(aws_dir);
    write_file(".aws/config",
               "[default]\nregion = us-west-2\n[profile ops]\nregion = eu-central-1\n"
               "aws_access_key_id = AKIDOPS\naws_secret_access_key = S-AKIDOPS\n"
               "s3 =\n  max_concurrent_requests = 4\n");
    setenv("AWS_PROFILE", "ops", 1);
    new_client(NULL);
    cr_expect_str_eq(bg_aws_region(aws, "ecs"), "eu-central-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "AKIDOPS");
}

Test(aws_creds, no_region_anywhere_is_an_error)
{
    bg_err_t err;
    bg_aws_options_t o = {0};
    cr_expect_null(bg_aws_new(&loop, &o, &err));
    cr_expect(strstr(err.msg, "no AWS region") != NULL, "%s", err.msg);
    uv_loop_close(&loop);
}

Test(aws_creds, container_endpoint_with_token_and_refresh_before_expiry)
{
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret", 1);
    meta.expires_in_s = 120; /* inside the 5 minute refresh window */
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP1");
    cr_expect_str_eq(g.source, "container");
    cr_expect_str_eq(g.token, "tok-1");
    cr_expect_gt(g.expires, (int64_t)time(NULL) + 60);
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP2", "credentials close to expiry are fetched again");
    meta.expires_in_s = 3600;
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP3");
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP3", "fresh credentials are cached");
    cr_expect_eq(meta.creds_gets, 3);
}

Test(aws_creds, container_token_file)
{
    write_file("token", "container-secret\n");
    char *p = path_of("token");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", p, 1);
    free(p);
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/creds");
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.source, "container");
}

Test(aws_creds, container_full_uri_must_be_loopback_or_https)
{
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds", 1);
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "");
    cr_expect(strstr(g.err, "loopback") != NULL, "%s", g.err);
}

Test(aws_creds, failed_refresh_keeps_credentials_that_are_still_valid)
{
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret", 1);
    meta.expires_in_s = 120;
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP1");
    meta.fail_creds = true;
    get(&g);
    cr_expect_str_eq(g.key, "ASIATEMP1", "still valid for 2 minutes: kept");
    cr_expect_str_eq(g.err, "");
}

Test(aws_creds, imdsv2_token_role_and_credentials)
{
    setenv_url("AWS_EC2_METADATA_SERVICE_ENDPOINT", "/");
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect_str_eq(g.source, "imds");
    cr_expect_str_eq(g.key, "ASIATEMP1");
    cr_expect_eq(meta.token_puts, 1);
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "ListClusters", NULL, &r);
    cr_expect_eq(r.status, 0, "%s", r.msg);
    cr_expect_str_eq(meta.last_token, "tok-1", "temporary credentials send their token");
    json_decref(r.body);
}

Test(aws_creds, nothing_found_names_every_source)
{
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    new_client("us-east-1");
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "ListClusters", NULL, &r);
    cr_expect_eq(r.status, BG_EREFUSED);
    cr_expect(strstr(r.msg, "no AWS credentials") != NULL, "%s", r.msg);
    cr_expect(strstr(r.msg, "environment") && strstr(r.msg, "[default] in credentials file") &&
                  strstr(r.msg, "container endpoint") && strstr(r.msg, "IMDS"),
              "%s", r.msg);
    cr_expect_eq(meta.api_calls, 0, "nothing unsigned is sent");
}

Test(aws_creds, imds_unreachable_fails_fast)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", bgt_free_port());
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", url, 1);
    new_client("us-east-1");
    got_t g;
    get(&g);
    cr_expect(strstr(g.err, "IMDS token") != NULL, "%s", g.err);
}

Test(aws_creds, expired_token_answer_refetches_and_retries)
{
    setenv_url("AWS_CONTAINER_CREDENTIALS_FULL_URI", "/creds");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-secret", 1);
    meta.expire_first = true;
    new_client("us-east-1");
    aws_test_result_t r;
    aws_test_call(&loop, aws, &bg_aws_ecs, "ListClusters", NULL, &r);
    cr_expect_eq(r.status, 0, "%s", r.msg);
    cr_expect_eq(r.attempts, 2);
    cr_expect_eq(meta.creds_gets, 2, "credentials fetched again after ExpiredTokenException");
    cr_expect_str_eq(meta.api_keys[0], "ASIATEMP1");
    cr_expect_str_eq(meta.api_keys[1], "ASIATEMP2");
    json_decref(r.body);
}
