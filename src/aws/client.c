/* The AWS client: endpoints per service, one call = serialise -> credentials -> sign ->
 * send -> parse -> retry or answer. Retries follow the SDKs' "standard" mode: at most 3
 * attempts, exponential backoff with full jitter (random(0,1) * min(base * 2^n, 20 s)),
 * retry on throttling codes, transient codes, HTTP 500/502/503/504 and transport errors,
 * bounded by a retry quota (500 tokens, 5 per retry, 10 per timeout retry, refunded on
 * success). The body is serialised once, so an idempotency token stays the same across
 * attempts; the signature is recomputed on each attempt (fresh X-Amz-Date, fresh creds).
 */
#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "aws/internal.h"
#include "base/base.h"
#include "base/compat.h"

#define QUOTA_MAX 500u
#define RETRY_COST 5u
#define TIMEOUT_COST 10u

const bg_aws_service_t bg_aws_ecs = {"ecs", BG_AWS_JSON, "AmazonEC2ContainerServiceV20141113",
                                     "2014-11-13"};
const bg_aws_service_t bg_aws_elbv2 = {"elasticloadbalancing", BG_AWS_QUERY, NULL, "2015-12-01"};
const bg_aws_service_t bg_aws_cloudwatch = {"monitoring", BG_AWS_QUERY, NULL, "2010-08-01"};
const bg_aws_service_t bg_aws_sts = {"sts", BG_AWS_QUERY, NULL, "2011-06-15"};

typedef struct endpoint {
    char *service_id;
    char *url;    /* scheme://host[:port], no trailing slash; NULL: AWS's */
    char *region; /* NULL: the client's */
    bg_list_t link;
} endpoint_t;

struct bg_aws {
    uv_loop_t *loop;
    bg_aws_http_t *http;
    bg_aws_credsrc_t *creds;
    char *region;
    bg_list_t endpoints;
    bg_list_t calls;
    bg_list_t probes;
    unsigned max_attempts;
    uint64_t base_ms, max_backoff_ms, timeout_ms;
    bg_aws_stats_t stats;
    unsigned timers; /* call timers not yet closed */
    bool shutting, http_closed;
    void (*close_cb)(void *);
    void *close_arg;
};

typedef struct call {
    bg_aws_t *aws;
    const bg_aws_service_t *svc;
    char *op;
    char *body;
    size_t body_len;
    char *url, *host, *region;
    uv_timer_t timer;
    bg_aws_http_req_t *req;
    unsigned attempts;
    unsigned last_cost; /* quota spent on the last retry */
    bool done;
    bg_aws_cb cb;
    void *arg;
    bg_list_t link;
} call_t;

static char *env_or(const char *a, const char *b)
{
    const char *v = getenv(a);
    if ((v == NULL || *v == '\0') && b)
        v = getenv(b);
    return v && *v ? bg_strdup(v) : NULL;
}

static char *profile_region(const char *profile)
{
    char *path = bg_aws_config_path();
    char *section =
        strcmp(profile, "default") == 0 ? bg_strdup("default") : bg_asprintf("profile %s", profile);
    char *r = bg_aws_ini_get(path, section, "region");
    free(section);
    free(path);
    return r;
}

bg_aws_t *bg_aws_new(uv_loop_t *loop, const bg_aws_options_t *opts, bg_err_t *err)
{
    bg_aws_options_t o = opts ? *opts : (bg_aws_options_t){0};
    char *profile = o.profile ? bg_strdup(o.profile) : env_or("AWS_PROFILE", NULL);
    if (profile == NULL)
        profile = bg_strdup("default");
    char *region = o.region ? bg_strdup(o.region) : env_or("AWS_REGION", "AWS_DEFAULT_REGION");
    if (region == NULL)
        region = profile_region(profile);
    if (region == NULL || *region == '\0') {
        bg_err_set(err, BG_EINVAL,
                   "no AWS region: set ecs.region, AWS_REGION or region in profile %s", profile);
        free(profile);
        free(region);
        return NULL;
    }
    bg_aws_t *aws = BG_NEW(bg_aws_t);
    aws->loop = loop;
    aws->http = bg_aws_http_new(loop);
    aws->region = region;
    aws->max_attempts = o.max_attempts ? o.max_attempts : 3;
    aws->base_ms = o.backoff_base_ms ? o.backoff_base_ms : 1000;
    aws->max_backoff_ms = o.max_backoff_ms ? o.max_backoff_ms : 20000;
    aws->timeout_ms = o.timeout_ms ? o.timeout_ms : 30000;
    aws->stats.retry_quota = QUOTA_MAX;
    aws->creds = bg_aws_credsrc_new(
        aws->http, profile, o.refresh_window_ms ? o.refresh_window_ms : 5 * 60 * 1000, &aws->stats);
    free(profile);
    bg_list_init(&aws->endpoints);
    bg_list_init(&aws->calls);
    bg_list_init(&aws->probes);
    return aws;
}

static endpoint_t *find_endpoint(const bg_aws_t *aws, const char *service_id)
{
    bg_list_t *pos;
    bg_list_foreach(pos, &aws->endpoints)
    {
        endpoint_t *e = BG_CONTAINER_OF(pos, endpoint_t, link);
        if (strcmp(e->service_id, service_id) == 0)
            return e;
    }
    return NULL;
}

/* Checks "http(s)://host[:port][/]" and returns the authority's length. */
static bool valid_url(const char *url, size_t *scheme_len)
{
    size_t s = strncmp(url, "https://", 8) == 0 ? 8 : strncmp(url, "http://", 7) == 0 ? 7 : 0;
    if (s == 0 || url[s] == '\0' || url[s] == '/')
        return false;
    const char *slash = strchr(url + s, '/');
    if (slash && slash[1] != '\0')
        return false;
    for (const char *p = url + s; *p && *p != '/'; p++)
        if (*p == '@' || *p == '?' || *p == '#' || *p == ' ')
            return false;
    *scheme_len = s;
    return true;
}

int bg_aws_set_endpoint(bg_aws_t *aws, const char *service_id, const char *endpoint_url,
                        const char *region, bg_err_t *err)
{
    size_t s;
    if (endpoint_url && !valid_url(endpoint_url, &s))
        return bg_err_set(err, BG_EINVAL,
                          "endpoint_url %s: expected http(s)://host[:port] without a path",
                          endpoint_url);
    endpoint_t *e = find_endpoint(aws, service_id);
    if (e == NULL) {
        e = BG_NEW(endpoint_t);
        e->service_id = bg_strdup(service_id);
        bg_list_insert_tail(&aws->endpoints, &e->link);
    }
    free(e->url);
    free(e->region);
    e->url = NULL;
    if (endpoint_url) {
        e->url = bg_strdup(endpoint_url);
        size_t n = strlen(e->url);
        if (e->url[n - 1] == '/')
            e->url[n - 1] = '\0';
    }
    e->region = bg_strdup(region);
    return 0;
}

const char *bg_aws_region(const bg_aws_t *aws, const char *service_id)
{
    const endpoint_t *e = find_endpoint(aws, service_id);
    return e && e->region ? e->region : aws->region;
}

void bg_aws_stats(const bg_aws_t *aws, bg_aws_stats_t *out)
{
    *out = aws->stats;
}

int bg_aws_creds_get(bg_aws_t *aws, bg_aws_creds_cb cb, void *arg)
{
    return bg_aws_credsrc_get(aws->creds, cb, arg);
}

/* ---- one call ---- */

static void maybe_free(bg_aws_t *aws)
{
    if (!aws->shutting || !aws->http_closed || aws->timers > 0)
        return;
    void (*cb)(void *) = aws->close_cb;
    void *carg = aws->close_arg;
    free(aws);
    if (cb)
        cb(carg);
}

static void on_call_closed(uv_handle_t *h)
{
    call_t *c = h->data;
    bg_aws_t *aws = c->aws;
    free(c->op);
    free(c->body);
    free(c->url);
    free(c->host);
    free(c->region);
    free(c);
    aws->timers--;
    maybe_free(aws);
}

static void complete(call_t *c, bg_aws_result_t *res)
{
    c->done = true;
    res->attempts = c->attempts;
    bg_list_remove(&c->link);
    c->cb(c->arg, res);
    uv_close((uv_handle_t *)&c->timer, on_call_closed);
}

static void fail(call_t *c, int code, const char *fmt, const char *detail)
{
    bg_aws_result_t res = {.status = code, .aws_code = "", .request_id = ""};
    bg_err_set(&res.err, code, "%s %s: %s%s", c->svc->id, c->op, fmt, detail ? detail : "");
    complete(c, &res);
}

static void on_response(void *arg, bg_aws_http_req_t *req);

static void add_header(struct curl_slist **h, const char *name, const char *value)
{
    char *line = bg_asprintf("%s: %s", name, value);
    *h = curl_slist_append(*h, line);
    free(line);
}

static void on_creds(void *arg, const bg_aws_creds_t *creds, const bg_err_t *err)
{
    call_t *c = arg;
    if (c->done)
        return;
    if (creds == NULL) {
        fail(c, err->code, "", err->msg);
        return;
    }
    char amz_date[17];
    bg_aws_amz_date((int64_t)(bg_wall_ms() / 1000), amz_date);
    bool json = c->svc->protocol == BG_AWS_JSON;
    char *target = json ? bg_asprintf("%s.%s", c->svc->target_prefix, c->op) : NULL;
    const char *ctype =
        json ? "application/x-amz-json-1.1" : "application/x-www-form-urlencoded; charset=utf-8";
    bg_aws_kv_t h[5];
    size_t n = 0;
    h[n++] = (bg_aws_kv_t){"Content-Type", ctype};
    h[n++] = (bg_aws_kv_t){"Host", c->host};
    h[n++] = (bg_aws_kv_t){"X-Amz-Date", amz_date};
    if (creds->session_token)
        h[n++] = (bg_aws_kv_t){"X-Amz-Security-Token", creds->session_token};
    if (target)
        h[n++] = (bg_aws_kv_t){"X-Amz-Target", target};
    bg_aws_sigv4_req_t sreq = {
        .method = "POST",
        .path = "/",
        .query = NULL,
        .headers = h,
        .n_headers = n,
        .payload = c->body,
        .payload_len = c->body_len,
        .region = c->region,
        .service = c->svc->id,
        .amz_date = amz_date,
    };
    bg_aws_sigv4_t sig;
    bg_aws_sigv4_init(&sig);
    bg_err_t serr;
    bg_err_clear(&serr);
    if (bg_aws_sigv4_sign(&sreq, creds, &sig, &serr) != 0) {
        bg_aws_sigv4_fini(&sig);
        free(target);
        fail(c, serr.code, "", serr.msg);
        return;
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i < n; i++)
        add_header(&hl, h[i].name, h[i].value);
    add_header(&hl, "Authorization", sig.authorization.data);
    add_header(&hl, "User-Agent", "bluegreen/" BG_VERSION);
    bg_aws_sigv4_fini(&sig);
    free(target);
    c->attempts++;
    c->aws->stats.attempts++;
    c->req = bg_aws_http_start(c->aws->http, "POST", c->url, hl, c->body, c->body_len,
                               c->aws->timeout_ms, on_response, c);
}

static void on_timer(uv_timer_t *t)
{
    call_t *c = t->data;
    bg_aws_credsrc_get(c->aws->creds, on_creds, c);
}

static uint64_t backoff_ms(const bg_aws_t *aws, unsigned attempts)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
        r = (uint32_t)random();
    uint64_t cap = aws->base_ms << (attempts > 20 ? 20 : attempts - 1);
    if (cap > aws->max_backoff_ms)
        cap = aws->max_backoff_ms;
    return (uint64_t)((double)r / 4294967296.0 * (double)cap);
}

static bool transient_code(const char *code)
{
    static const char *const T[] = {"RequestTimeout",          "RequestTimeoutException",
                                    "PriorRequestNotComplete", "InternalError",
                                    "InternalFailure",         "ServiceUnavailable"};
    for (size_t i = 0; i < BG_ARRAY_LEN(T); i++)
        if (strcmp(code, T[i]) == 0)
            return true;
    return false;
}

/* Spends quota and re-arms the timer; false if no retry is allowed. */
static bool retry(call_t *c, unsigned cost)
{
    bg_aws_t *aws = c->aws;
    if (c->attempts >= aws->max_attempts || aws->stats.retry_quota < cost)
        return false;
    aws->stats.retry_quota -= cost;
    aws->stats.retries++;
    c->last_cost = cost;
    uint64_t delay = backoff_ms(aws, c->attempts);
    bg_log(BG_LOG_DEBUG, "aws", "retry service=%s op=%s attempt=%u delay_ms=%llu", c->svc->id,
           c->op, c->attempts + 1, (unsigned long long)delay);
    uv_timer_start(&c->timer, on_timer, delay, 0);
    return true;
}

static void refund(call_t *c)
{
    bg_aws_t *aws = c->aws;
    unsigned add = c->last_cost ? c->last_cost : 1;
    aws->stats.retry_quota =
        aws->stats.retry_quota + add > QUOTA_MAX ? QUOTA_MAX : aws->stats.retry_quota + add;
}

static void parse_success(call_t *c, bg_aws_http_req_t *req, bg_aws_result_t *res, char *rid,
                          size_t rid_size)
{
    const char *data = req->resp.data ? req->resp.data : "";
    if (c->svc->protocol == BG_AWS_JSON) {
        json_error_t jerr;
        res->body = req->resp.len == 0 ? json_object() : json_loadb(data, req->resp.len, 0, &jerr);
        if (!json_is_object(res->body)) {
            json_decref(res->body);
            res->body = NULL;
        }
        bg_aws_http_header(req, "x-amzn-RequestId", rid, rid_size);
    } else {
        char code[8], msg[8];
        if (bg_aws_xml_parse(data, req->resp.len, c->op, &res->body, code, sizeof(code), msg,
                             sizeof(msg), rid, rid_size) != 0) {
            json_decref(res->body);
            res->body = NULL;
        }
    }
}

static void on_response(void *arg, bg_aws_http_req_t *req)
{
    call_t *c = arg;
    c->req = NULL;
    bg_aws_t *aws = c->aws;
    char code[128] = "", msg[BG_ERR_MSG_MAX / 2] = "", rid[128] = "";
    bg_aws_result_t res = {.http_status = req->status, .aws_code = code, .request_id = rid};

    if (req->result != CURLE_OK) {
        bool timeout = req->result == CURLE_OPERATION_TIMEDOUT;
        if (retry(c, timeout ? TIMEOUT_COST : RETRY_COST)) {
            bg_aws_http_req_free(req);
            return;
        }
        res.status = timeout ? BG_ETIMEDOUT : BG_EUNAVAIL;
        bg_err_set(&res.err, res.status, "%s %s: %s (%u attempts)", c->svc->id, c->op,
                   req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result), c->attempts);
        bg_aws_http_req_free(req);
        complete(c, &res);
        return;
    }
    if (req->status >= 200 && req->status < 300) {
        parse_success(c, req, &res, rid, sizeof(rid));
        if (res.body == NULL) {
            res.status = BG_EPROTO;
            bg_err_set(&res.err, BG_EPROTO, "%s %s: unreadable response (HTTP %ld, %zu bytes)",
                       c->svc->id, c->op, req->status, req->resp.len);
        } else {
            refund(c);
        }
        bg_aws_http_req_free(req);
        complete(c, &res);
        json_decref(res.body);
        return;
    }

    /* An error response: JSON __type / x-amzn-ErrorType, or the query XML <Error>. */
    const char *data = req->resp.data ? req->resp.data : "";
    if (c->svc->protocol == BG_AWS_JSON) {
        json_t *b = json_loadb(data, req->resp.len, 0, NULL);
        bg_aws_json_error(b, code, sizeof(code), msg, sizeof(msg));
        json_decref(b);
        if (*code == '\0' && bg_aws_http_header(req, "x-amzn-ErrorType", code, sizeof(code))) {
            char *colon = strchr(code, ':');
            if (colon)
                *colon = '\0';
        }
        bg_aws_http_header(req, "x-amzn-RequestId", rid, sizeof(rid));
    } else {
        json_t *ignored = NULL;
        bg_aws_xml_parse(data, req->resp.len, c->op, &ignored, code, sizeof(code), msg, sizeof(msg),
                         rid, sizeof(rid));
        json_decref(ignored);
    }
    /* Temporary credentials that expired early (revoked session, clock skew): fetch them
     * again and retry, as the SDKs do. */
    bool expired = strcmp(code, "ExpiredToken") == 0 || strcmp(code, "ExpiredTokenException") == 0;
    if (expired && aws->creds != NULL)
        bg_aws_credsrc_invalidate(aws->creds);
    bool throttled = bg_aws_is_throttling(code);
    if (throttled)
        aws->stats.throttled++;
    long st = req->status;
    bool retryable = throttled || expired || transient_code(code) || st == 500 || st == 502 ||
                     st == 503 || st == 504;
    if (retryable && retry(c, RETRY_COST)) {
        bg_aws_http_req_free(req);
        return;
    }
    res.status = bg_aws_error_code(code, st);
    bg_err_set(&res.err, res.status, "%s %s: %s%s%s (HTTP %ld%s%s, %u attempt%s)", c->svc->id,
               c->op, *code ? code : "error", *msg ? ": " : "", msg, st, *rid ? ", request " : "",
               rid, c->attempts, c->attempts == 1 ? "" : "s");
    bg_log(BG_LOG_DEBUG, "aws", "error service=%s op=%s code=%s http=%ld", c->svc->id, c->op, code,
           st);
    bg_aws_http_req_free(req);
    complete(c, &res);
}

/* Fills idempotency tokens the model declares (RunTask) and CreateService's clientToken,
 * which the API documents for the same purpose. */
static void fill_token(const bg_aws_service_t *svc, const char *op, json_t *params)
{
    if (svc != &bg_aws_ecs || (strcmp(op, "RunTask") != 0 && strcmp(op, "CreateService") != 0))
        return;
    if (json_object_get(params, "clientToken") != NULL)
        return;
    char uuid[37];
    bg_aws_uuid(uuid);
    json_object_set_new(params, "clientToken", json_string(uuid));
}

static void resolve_endpoint(call_t *c)
{
    const endpoint_t *e = find_endpoint(c->aws, c->svc->id);
    c->region = bg_strdup(e && e->region ? e->region : c->aws->region);
    if (e && e->url)
        c->url = bg_asprintf("%s/", e->url);
    else
        c->url = bg_asprintf("https://%s.%s.amazonaws.com/", c->svc->id, c->region);
    const char *auth = strstr(c->url, "://") + 3;
    c->host = bg_strndup(auth, strcspn(auth, "/"));
}

int bg_aws_call(bg_aws_t *aws, const bg_aws_service_t *svc, const char *op, json_t *params,
                bg_aws_cb cb, void *arg)
{
    return bg_aws_call_delayed(aws, 0, svc, op, params, cb, arg);
}

int bg_aws_call_delayed(bg_aws_t *aws, uint64_t delay_ms, const bg_aws_service_t *svc,
                        const char *op, json_t *params, bg_aws_cb cb, void *arg)
{
    if (params == NULL)
        params = json_object();
    if (aws->shutting) {
        json_decref(params);
        return UV_ECANCELED;
    }
    if (!json_is_object(params) || op == NULL || *op == '\0') {
        json_decref(params);
        return BG_EINVAL;
    }
    call_t *c = BG_NEW(call_t);
    c->aws = aws;
    c->svc = svc;
    c->op = bg_strdup(op);
    c->cb = cb;
    c->arg = arg;
    fill_token(svc, op, params);
    if (svc->protocol == BG_AWS_JSON) {
        c->body = json_dumps(params, JSON_COMPACT);
    } else {
        bg_buf_t b;
        bg_buf_init(&b);
        bg_buf_printf(&b, "Action=%s&Version=%s", op, svc->api_version);
        bg_aws_query_flatten(&b, params);
        c->body = bg_buf_steal(&b);
    }
    json_decref(params);
    c->body_len = strlen(c->body);
    resolve_endpoint(c);
    uv_timer_init(aws->loop, &c->timer);
    c->timer.data = c;
    aws->timers++;
    bg_list_insert_tail(&aws->calls, &c->link);
    aws->stats.calls++;
    uv_timer_start(&c->timer, on_timer, delay_ms, 0);
    return 0;
}

static void on_http_closed(void *arg)
{
    bg_aws_t *aws = arg;
    aws->http_closed = true;
    maybe_free(aws);
}

/* ---- probes: plain GETs through the same curl multi ---- */

typedef struct probe {
    bg_list_t link;
    bg_aws_http_req_t *req;
    bg_aws_probe_cb cb;     /* bg_aws_probe() */
    bg_aws_fetch_cb fetch;  /* or bg_aws_fetch() */
    void *arg;
} probe_t;

/* Answers <p> (unlinked by the caller) with <req>'s outcome, or a cancellation (NULL). */
static void probe_answer(probe_t *p, const bg_aws_http_req_t *req)
{
    char ct[128] = "";
    bg_aws_fetched_t f = {.error = "cancelled (the AWS client closed)", .content_type = "",
                          .body = ""};

    if (req != NULL) {
        f.status = req->result == CURLE_OK ? req->status : 0;
        f.body = req->resp.data ? req->resp.data : "";
        f.len = req->resp.len;
        f.error = req->result == CURLE_OK ? "" : req->errbuf[0] ? req->errbuf
                                                                : curl_easy_strerror(req->result);
        if (bg_aws_http_header(req, "Content-Type", ct, sizeof(ct)))
            f.content_type = ct;
    }
    if (p->fetch != NULL)
        p->fetch(p->arg, &f);
    else
        p->cb(p->arg, f.status, f.body, f.len);
}

static void on_probe(void *arg, bg_aws_http_req_t *req)
{
    probe_t *p = arg;

    bg_list_remove(&p->link);
    probe_answer(p, req);
    bg_aws_http_req_free(req);
    free(p);
}

int bg_aws_fetch(bg_aws_t *aws, const char *url, const char *accept, uint64_t timeout_ms,
                 bg_aws_fetch_cb cb, void *arg)
{
    struct curl_slist *h = NULL;
    probe_t *p;

    if (aws->shutting)
        return UV_ECANCELED;
    if (accept != NULL) {
        char *line = bg_asprintf("Accept: %s", accept);
        h = curl_slist_append(NULL, line);
        free(line);
    }
    p = BG_NEW(probe_t);
    p->fetch = cb;
    p->arg = arg;
    bg_list_insert_tail(&aws->probes, &p->link);
    p->req = bg_aws_http_start(aws->http, "GET", url, h, NULL, 0, timeout_ms, on_probe, p);
    if (p->req == NULL) {
        bg_list_remove(&p->link);
        free(p);
        return BG_EINVAL;
    }
    return 0;
}

int bg_aws_probe(bg_aws_t *aws, const char *url, uint64_t timeout_ms, bg_aws_probe_cb cb,
                 void *arg)
{
    probe_t *p;

    if (aws->shutting)
        return UV_ECANCELED;
    p = BG_NEW(probe_t);
    p->cb = cb;
    p->arg = arg;
    bg_list_insert_tail(&aws->probes, &p->link);
    p->req = bg_aws_http_start(aws->http, "GET", url, NULL, NULL, 0, timeout_ms, on_probe, p);
    if (p->req == NULL) {
        bg_list_remove(&p->link);
        free(p);
        return BG_EINVAL;
    }
    return 0;
}

void bg_aws_close(bg_aws_t *aws, void (*cb)(void *arg), void *arg)
{
    aws->close_cb = cb;
    aws->close_arg = arg;
    aws->shutting = true;
    while (!bg_list_is_empty(&aws->calls)) {
        call_t *c = BG_CONTAINER_OF(aws->calls.next, call_t, link);
        bg_aws_http_req_free(c->req);
        c->req = NULL;
        uv_timer_stop(&c->timer);
        fail(c, UV_ECANCELED, "AWS client closed", NULL);
    }
    while (!bg_list_is_empty(&aws->probes)) {
        probe_t *p = BG_CONTAINER_OF(aws->probes.next, probe_t, link);
        bg_list_remove(&p->link);
        bg_aws_http_req_free(p->req);
        probe_answer(p, NULL);
        free(p);
    }
    bg_aws_credsrc_free(aws->creds);
    aws->creds = NULL;
    while (!bg_list_is_empty(&aws->endpoints)) {
        endpoint_t *e = BG_CONTAINER_OF(aws->endpoints.next, endpoint_t, link);
        bg_list_remove(&e->link);
        free(e->service_id);
        free(e->url);
        free(e->region);
        free(e);
    }
    free(aws->region);
    aws->region = NULL;
    bg_aws_http_close(aws->http, on_http_closed, aws);
}
