/* AWS client core: SigV4 signing, the JSON 1.1 protocol (ECS) and the query protocol with
 * XML responses (ELBv2, CloudWatch, STS), AWS error codes mapped to bg_err_t, the standard
 * retry mode, and the credential chain (environment, shared files with profiles, ECS
 * container endpoint, EC2 IMDSv2) refreshed before expiry.
 *
 * Everything runs on the control loop: HTTP goes through one libcurl multi handle driven
 * by libuv (uv_poll + uv_timer), so no call ever blocks the loop on the network. Reading
 * the shared credentials/config files is small local file I/O done on the control thread
 * (STYLE: file I/O belongs to the control loop). Never used from a worker.
 */
#ifndef BG_AWS_AWS_H
#define BG_AWS_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "base/buf.h"
#include "base/err.h"

/* ---- SigV4 (pure computation; thread: any) ---------------------------------------- */

typedef struct bg_aws_kv {
    const char *name;
    const char *value;
} bg_aws_kv_t;

/* Credentials. Strings owned by the struct (bg_aws_creds_fini frees them). */
typedef struct bg_aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;  /* NULL for long-term keys */
    int64_t expires_unix; /* 0: does not expire */
    char source[32];      /* "env", "profile:NAME", "container", "imds" */
} bg_aws_creds_t;

void bg_aws_creds_fini(bg_aws_creds_t *c);
/* Deep copy of <src> into <dst> (dst is overwritten, not freed first). */
void bg_aws_creds_copy(bg_aws_creds_t *dst, const bg_aws_creds_t *src);

/* One request to sign. Every header in <headers> is signed (the caller chooses them; the
 * client signs host, x-amz-date, content-type, x-amz-target, x-amz-security-token as
 * botocore does). <path> is the raw (unencoded) path, <query> the raw query without '?'
 * (NULL for none). All borrowed. */
typedef struct bg_aws_sigv4_req {
    const char *method;
    const char *path;
    const char *query;
    const bg_aws_kv_t *headers;
    size_t n_headers;
    const void *payload;
    size_t payload_len;
    const char *region;
    const char *service;  /* signing name: "ecs", "elasticloadbalancing", ... */
    const char *amz_date; /* the X-Amz-Date value, "YYYYMMDDTHHMMSSZ" */
} bg_aws_sigv4_req_t;

/* The intermediate texts are kept so tests compare each step with the AWS test suite. */
typedef struct bg_aws_sigv4 {
    bg_buf_t canonical_request;
    bg_buf_t string_to_sign;
    bg_buf_t authorization; /* the Authorization header value */
    char signature[65];
} bg_aws_sigv4_t;

void bg_aws_sigv4_init(bg_aws_sigv4_t *out);
void bg_aws_sigv4_fini(bg_aws_sigv4_t *out);
/* Signs <req> with <creds> into <out> (initialised by the caller). Returns 0, or BG_EINVAL
 * with <err> for a malformed date or missing keys. */
int bg_aws_sigv4_sign(const bg_aws_sigv4_req_t *req, const bg_aws_creds_t *creds,
                      bg_aws_sigv4_t *out, bg_err_t *err);
/* "YYYYMMDDTHHMMSSZ" for <unix_s> into <out> (>= 17 bytes). */
char *bg_aws_amz_date(int64_t unix_s, char *out);

/* ---- Services and the client (thread: control) ------------------------------------ */

typedef enum bg_aws_protocol {
    BG_AWS_JSON = 1,  /* JSON 1.1: POST /, X-Amz-Target, application/x-amz-json-1.1 */
    BG_AWS_QUERY = 2, /* query: POST form Action=..&Version=..; XML response */
} bg_aws_protocol_t;

typedef struct bg_aws_service {
    const char *id; /* endpoint prefix and signing name */
    bg_aws_protocol_t protocol;
    const char *target_prefix; /* JSON: X-Amz-Target prefix */
    const char *api_version;   /* query: Version */
} bg_aws_service_t;

extern const bg_aws_service_t bg_aws_ecs;        /* ecs, JSON 1.1, 2014-11-13 */
extern const bg_aws_service_t bg_aws_elbv2;      /* elasticloadbalancing, query, 2015-12-01 */
extern const bg_aws_service_t bg_aws_cloudwatch; /* monitoring, query, 2010-08-01 */
extern const bg_aws_service_t bg_aws_sts;        /* sts, query, 2011-06-15 */

typedef struct bg_aws bg_aws_t;

typedef struct bg_aws_options {
    const char *region;         /* NULL: AWS_REGION, AWS_DEFAULT_REGION, profile's region */
    const char *profile;        /* NULL: AWS_PROFILE, else "default" */
    unsigned max_attempts;      /* 0: 3 (standard retry mode) */
    uint64_t backoff_base_ms;   /* 0: 1000 (the standard mode's base); tests shorten it */
    uint64_t max_backoff_ms;    /* 0: 20000 */
    uint64_t timeout_ms;        /* per attempt; 0: 30000 */
    uint64_t refresh_window_ms; /* refresh credentials this long before expiry; 0: 5 min */
} bg_aws_options_t;

/* A new client on <loop> (borrowed; must outlive bg_aws_close's callback). Reads no
 * credentials yet (the first call resolves them). Returns NULL with <err> on bad options
 * or when no region can be found. Caller closes with bg_aws_close(). */
bg_aws_t *bg_aws_new(uv_loop_t *loop, const bg_aws_options_t *opts, bg_err_t *err);

/* Routes <service_id> ("ecs", "elasticloadbalancing", "monitoring", "sts") to
 * <endpoint_url> (NULL: the regional AWS endpoint) and/or signs it for <region> (NULL: the
 * client's). Copies both. Returns BG_EINVAL for a URL that is not http(s)://host[:port]. */
int bg_aws_set_endpoint(bg_aws_t *aws, const char *service_id, const char *endpoint_url,
                        const char *region, bg_err_t *err);

/* The region calls to <service_id> are signed for. Borrowed from <aws>. */
const char *bg_aws_region(const bg_aws_t *aws, const char *service_id);

/* Outcome of one call, borrowed by the callback for its duration only. */
typedef struct bg_aws_result {
    int status;           /* 0, or a negative code (BG_E*, UV_ECANCELED when closed) */
    long http_status;     /* 0 if no response arrived */
    json_t *body;         /* JSON response, or the query XML's <OpResult> as JSON; NULL on error */
    const char *aws_code; /* AWS error code ("ThrottlingException"), "" if none */
    const char *request_id; /* "" if none */
    unsigned attempts;
    bg_err_t err; /* "ecs DescribeServices: ClusterNotFoundException: ... (HTTP 400)" */
} bg_aws_result_t;

typedef void (*bg_aws_cb)(void *arg, const bg_aws_result_t *res);

/* Calls <op> of <svc> with <params> (a JSON object; takes ownership; NULL = {}). For the
 * query protocol the object is flattened as AWS does (lists -> Name.member.N, objects ->
 * Name.Sub, booleans -> true/false) and the XML answer is converted back to JSON (lists of
 * <member> -> arrays, leaves -> strings, empty elements -> ""). Members the model marks as
 * idempotency tokens (ECS clientToken) are filled with a fresh UUID when absent and kept
 * across retries. <cb> runs exactly once, never from inside this call. Returns 0, or a
 * negative code if the call could not be queued (the callback will not run). */
int bg_aws_call(bg_aws_t *aws, const bg_aws_service_t *svc, const char *op, json_t *params,
                bg_aws_cb cb, void *arg);

/* Cancels every pending call (their callbacks run with UV_ECANCELED), closes the libuv
 * handles and frees <aws>; <cb>(<arg>) runs once everything is released. */
void bg_aws_close(bg_aws_t *aws, void (*cb)(void *arg), void *arg);

/* Counters for tests and metrics. */
typedef struct bg_aws_stats {
    uint64_t calls, attempts, retries, throttled, credential_fetches;
    unsigned retry_quota;
} bg_aws_stats_t;
void bg_aws_stats(const bg_aws_t *aws, bg_aws_stats_t *out);

/* The AWS error code <aws_code> (with or without a "prefix#" or ":suffix") mapped to one
 * of our codes: auth failures -> BG_EREFUSED, not found -> BG_ENOTFOUND, validation ->
 * BG_EINVAL, conflicts -> BG_ECONFLICT, throttling and service errors -> BG_EUNAVAIL;
 * otherwise by <http_status> (4xx -> BG_EINVAL, 5xx -> BG_EUNAVAIL). Thread: any. */
int bg_aws_error_code(const char *aws_code, long http_status);
/* True if <aws_code> is a throttling code of the standard retry mode. Thread: any. */
bool bg_aws_is_throttling(const char *aws_code);

/* Reads member <key> of <obj> as an integer whether it came as a JSON number (JSON
 * protocol) or as text (query protocol). Returns false if absent or not numeric. */
bool bg_aws_json_int(const json_t *obj, const char *key, int64_t *out);
/* Same for a floating-point value. */
bool bg_aws_json_real(const json_t *obj, const char *key, double *out);

/* ---- Credentials (thread: control) -------------------------------------------------- */

/* Resolves credentials through the chain on <aws> (cached until <refresh_window_ms> before
 * expiry): environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN), the
 * shared credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) and config
 * file (AWS_CONFIG_FILE, ~/.aws/config) for the profile, the ECS container endpoint
 * (AWS_CONTAINER_CREDENTIALS_FULL_URI / _RELATIVE_URI, AWS_CONTAINER_AUTHORIZATION_TOKEN
 * or _TOKEN_FILE), then EC2 IMDSv2 (token PUT then GET; AWS_EC2_METADATA_SERVICE_ENDPOINT,
 * AWS_EC2_METADATA_DISABLED=true to skip). <cb> gets a borrowed creds pointer (NULL on
 * failure with <err> set). */
typedef void (*bg_aws_creds_cb)(void *arg, const bg_aws_creds_t *creds, const bg_err_t *err);
int bg_aws_creds_get(bg_aws_t *aws, bg_aws_creds_cb cb, void *arg);

/* ---- ALB operations the ecs driver builds on (alb.c; thread: control) ------------------ */

/* Sets the forward action of listener rule <rule_arn> to the two target groups with weights
 * <w_blue>/<w_green> (ModifyRule, stickiness off), then reads the rule back (DescribeRules)
 * every 200 ms until it shows exactly those weights -- AWS is eventually consistent -- or
 * <verify_timeout_ms> passes. <cb>(arg, status, verify_ms, err): 0 and the time from the
 * write to the confirming read; BG_ETIMEDOUT naming the weights last read; or the call's
 * error. Strings are copied. */
typedef void (*bg_aws_weights_cb)(void *arg, int status, uint64_t verify_ms, const bg_err_t *err);
int bg_aws_alb_set_weights(bg_aws_t *aws, const char *rule_arn, const char *tg_blue,
                           unsigned w_blue, const char *tg_green, unsigned w_green,
                           uint64_t verify_timeout_ms, bg_aws_weights_cb cb, void *arg);

/* The forward weights of listener rule <rule_arn> to the two target groups as one
 * DescribeRules reads them: <cb>(arg, 0, w_blue, w_green, NULL), a weight -1 when that
 * group is not in the rule's forward action (or it has none); or (arg, code, -1, -1, err).
 * Strings are copied. */
typedef void (*bg_aws_rule_weights_cb)(void *arg, int status, int w_blue, int w_green,
                                       const bg_err_t *err);
int bg_aws_alb_rule_weights(bg_aws_t *aws, const char *rule_arn, const char *tg_blue,
                            const char *tg_green, bg_aws_rule_weights_cb cb, void *arg);

/* One registered target as DescribeTargetHealth describes it. */
#define BG_AWS_TG_TARGETS_MAX 16
typedef struct bg_aws_target {
    char id[64];          /* IP address or instance id */
    unsigned port;        /* 0 if not given */
    char state[24];       /* initial, healthy, unhealthy, draining, unused, ... */
    char reason[64];      /* "Target.FailedHealthChecks", "" when healthy */
    char description[160];
} bg_aws_target_t;

/* Target health of one target group, summed by state (DescribeTargetHealth). <detail> holds
 * the first non-healthy target's "ip:port state reason: description"; <targets> the first
 * BG_AWS_TG_TARGETS_MAX targets one by one (<n_targets>). */
typedef struct bg_aws_tg_health {
    unsigned healthy, unhealthy, initial, draining, other;
    char detail[256];
    bg_aws_target_t targets[BG_AWS_TG_TARGETS_MAX];
    size_t n_targets;
} bg_aws_tg_health_t;
typedef void (*bg_aws_health_cb)(void *arg, int status, const bg_aws_tg_health_t *h,
                                 const bg_err_t *err);
int bg_aws_alb_target_health(bg_aws_t *aws, const char *tg_arn, bg_aws_health_cb cb, void *arg);

/* AWS/ApplicationELB figures of one target group over the last <window_s> seconds
 * (GetMetricData, period <window_s> rounded up to a minute): RequestCount and
 * HTTPCode_Target_5XX_Count sums, TargetResponseTime p99 (seconds; have_p99 false when no
 * request was measured). <lb_arn> (may be NULL) adds the LoadBalancer dimension, which
 * CloudWatch publishes target-group metrics with. */
typedef struct bg_aws_tg_metrics {
    double requests, target_5xx, p99_s;
    bool have_p99;
} bg_aws_tg_metrics_t;
typedef void (*bg_aws_metrics_cb)(void *arg, int status, const bg_aws_tg_metrics_t *m,
                                  const bg_err_t *err);
int bg_aws_alb_metrics(bg_aws_t *aws, const char *tg_arn, const char *lb_arn, unsigned window_s,
                       bg_aws_metrics_cb cb, void *arg);

/* The same figures over exactly [<from_s>, <to_s>) (Unix seconds; one period covering the
 * range, rounded up to a minute): consecutive ranges add up, so a caller can keep
 * cumulative counters. */
int bg_aws_alb_metrics_range(bg_aws_t *aws, const char *tg_arn, const char *lb_arn,
                             int64_t from_s, int64_t to_s, bg_aws_metrics_cb cb, void *arg);

/* ---- ECS operations the ecs driver builds on (ecs.c; thread: control) ------------------ */

/* One revision as an ECS task definition (Fargate-style awsvpc, one container). Borrowed. */
typedef struct bg_aws_taskdef {
    const char *family;
    const char *container;    /* container name */
    const char *image;        /* by digest where known */
    const char *cpu, *memory; /* "256", "512" */
    unsigned port;            /* container port */
    const bg_aws_kv_t *env;
    size_t n_env;
    const char *execution_role_arn, *task_role_arn; /* NULL: none */
    const char *log_group; /* NULL: no log configuration; else awslogs to this group */
} bg_aws_taskdef_t;

/* <cb>(arg, 0, arn, NULL) or (arg, code, NULL, err). <arn> borrowed for the call. */
typedef void (*bg_aws_arn_cb)(void *arg, int status, const char *arn, const bg_err_t *err);

/* RegisterTaskDefinition for <td>; answers the new revision's ARN. */
int bg_aws_ecs_register(bg_aws_t *aws, const bg_aws_taskdef_t *td, bg_aws_arn_cb cb, void *arg);

/* One slot's ECS service. Borrowed. */
typedef struct bg_aws_service_spec {
    const char *cluster, *name;
    const char *task_definition; /* ARN or family:revision */
    unsigned desired;
    const char *target_group_arn, *container;
    unsigned port;
    const char *launch_type; /* NULL: FARGATE */
    const char *const *subnets;
    size_t n_subnets;
    const char *const *security_groups;
    size_t n_security_groups;
    bool assign_public_ip;
} bg_aws_service_spec_t;

/* Makes service <spec->name> run <spec->task_definition> at <spec->desired> tasks:
 * DescribeServices, then CreateService (with a clientToken, attached to the target group)
 * when it is missing or INACTIVE, else UpdateService. Answers the service ARN. */
int bg_aws_ecs_apply(bg_aws_t *aws, const bg_aws_service_spec_t *spec, bg_aws_arn_cb cb, void *arg);

/* What a service is doing: counts, whether the primary deployment has all its tasks
 * running, and the stoppedReason of its most recent stopped task (evidence for the
 * deployment record; "" if none). */
typedef struct bg_aws_service_status {
    bool active;
    unsigned desired, running, pending;
    bool steady; /* primary rollout COMPLETED and running == desired */
    char task_definition[256];
    char stopped_reason[512];
    char stopped_task_definition[256]; /* of that stopped task ("" if none) */
    char stop_code[64];                /* its stopCode ("TaskFailedToStart", ...; "" if none) */
} bg_aws_service_status_t;
typedef void (*bg_aws_service_cb)(void *arg, int status, const bg_aws_service_status_t *st,
                                  const bg_err_t *err);
int bg_aws_ecs_status(bg_aws_t *aws, const char *cluster, const char *service, bg_aws_service_cb cb,
                      void *arg);

/* ---- Probing a URL (client.c; thread: control) ---------------------------------------- */

/* GET <url> (unsigned: an ALB listener, not an AWS API), bounded by <timeout_ms>.
 * <cb>(arg, http_status, body, len): http_status 0 when no response came. Body borrowed
 * for the call. Cancelled by bg_aws_close (http_status 0). */
typedef void (*bg_aws_probe_cb)(void *arg, long http_status, const char *body, size_t len);
int bg_aws_probe(bg_aws_t *aws, const char *url, uint64_t timeout_ms, bg_aws_probe_cb cb,
                 void *arg);

/* The same GET with an Accept header (<accept> may be NULL) and the answer's Content-Type:
 * what the ecs driver reads an Actuator body through the test listener with. Everything in
 * <f> is borrowed for the call; f->status 0 and f->error set when no response came
 * (transport error, timeout, or bg_aws_close: "cancelled ..."). */
typedef struct bg_aws_fetched {
    long status;
    const char *content_type; /* "" if none */
    const char *body;
    size_t len;
    const char *error; /* "" when a response came */
} bg_aws_fetched_t;
typedef void (*bg_aws_fetch_cb)(void *arg, const bg_aws_fetched_t *f);
int bg_aws_fetch(bg_aws_t *aws, const char *url, const char *accept, uint64_t timeout_ms,
                 bg_aws_fetch_cb cb, void *arg);

/* ---- Access check for `check-config` (check.c; thread: control) ----------------------- */

/* What an ecs config points at. Borrowed for the call. */
typedef struct bg_aws_check_spec {
    const char *cluster;
    const char *const *rule_arns;
    size_t n_rules;
    const char *const *target_group_arns;
    size_t n_target_groups;
} bg_aws_check_spec_t;

/* Calls sts:GetCallerIdentity, then describes the cluster, each listener rule and each
 * target group, one call each, and reports a line per item ("identity: ARN",
 * "cluster prod: ACTIVE", "rule ARN: missing", ...). <cb>(arg, status, report, err):
 * 0 if everything exists, BG_ENOTFOUND if something is missing (the report names it), or
 * the first call error that is not "not found" (credentials, access denied: the report so
 * far plus <err>). <report> is borrowed for the call. */
typedef void (*bg_aws_check_cb)(void *arg, int status, const char *report, const bg_err_t *err);
int bg_aws_check(bg_aws_t *aws, const bg_aws_check_spec_t *spec, bg_aws_check_cb cb, void *arg);

#endif
