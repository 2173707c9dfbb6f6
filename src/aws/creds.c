/* The credential chain, in botocore's order: environment, shared credentials file, shared
 * config file (for the profile), ECS container endpoint, EC2 IMDSv2. The first source that
 * answers wins; temporary credentials are fetched again <refresh_window_ms> before they
 * expire, and the old ones stay in use if that refresh fails while they are still valid.
 * Network sources go through the module's libcurl multi, so the loop never blocks.
 */
#include "aws/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "base/base.h"
#include "base/file.h"
#include "base/compat.h"

#define CONTAINER_HOST "http://169.254.170.2"
#define IMDS_DEFAULT "http://169.254.169.254"
#define META_TIMEOUT_MS 2000

typedef enum step {
    STEP_IDLE = 0,
    STEP_CONTAINER = 1,
    STEP_IMDS_TOKEN = 2,
    STEP_IMDS_ROLE = 3,
    STEP_IMDS_CREDS = 4,
} step_t;

typedef struct waiter {
    bg_aws_creds_cb cb;
    void *arg;
    bg_list_t link;
} waiter_t;

struct bg_aws_credsrc {
    bg_aws_http_t *http;
    char *profile;
    uint64_t window_ms;
    bg_aws_stats_t *stats;
    bg_aws_creds_t creds;
    bool have;
    bool stale; /* rejected as expired by a service */
    bg_list_t waiters;
    step_t step;
    bg_aws_http_req_t *req;
    char *imds_base;
    char *imds_token;
    char *imds_role;
    bg_buf_t tried; /* what the chain looked at, for the error message */
};

static void wipe(char *s)
{
    OPENSSL_cleanse(s, strlen(s));
}

void bg_aws_creds_fini(bg_aws_creds_t *c)
{
    if (c->secret_access_key)
        wipe(c->secret_access_key);
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->session_token);
    c->access_key_id = c->secret_access_key = c->session_token = NULL;
    c->expires_unix = 0;
}

void bg_aws_creds_copy(bg_aws_creds_t *dst, const bg_aws_creds_t *src)
{
    dst->access_key_id = bg_strdup(src->access_key_id);
    dst->secret_access_key = bg_strdup(src->secret_access_key);
    dst->session_token = bg_strdup(src->session_token);
    dst->expires_unix = src->expires_unix;
    memcpy(dst->source, src->source, sizeof(dst->source));
}

static char *home_path(const char *env, const char *rel)
{
    const char *v = getenv(env);
    if (v && *v)
        return bg_strdup(v);
    const char *home = getenv("HOME");
    return home && *home ? bg_asprintf("%s/%s", home, rel) : NULL;
}

char *bg_aws_credentials_path(void)
{
    return home_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials");
}

char *bg_aws_config_path(void)
{
    return home_path("AWS_CONFIG_FILE", ".aws/config");
}

bg_aws_credsrc_t *bg_aws_credsrc_new(bg_aws_http_t *http, const char *profile,
                                     uint64_t refresh_window_ms, bg_aws_stats_t *stats)
{
    bg_aws_credsrc_t *src = BG_NEW(bg_aws_credsrc_t);
    src->http = http;
    src->profile = bg_strdup(profile);
    src->window_ms = refresh_window_ms;
    src->stats = stats;
    bg_list_init(&src->waiters);
    bg_buf_init(&src->tried);
    return src;
}

static bool fresh(const bg_aws_credsrc_t *src)
{
    if (!src->have || src->stale)
        return false;
    if (src->creds.expires_unix == 0)
        return true;
    int64_t now_ms = (int64_t)bg_wall_ms();
    return src->creds.expires_unix * 1000 - now_ms > (int64_t)src->window_ms;
}

static bool still_valid(const bg_aws_credsrc_t *src)
{
    return src->have &&
           (src->creds.expires_unix == 0 || src->creds.expires_unix * 1000 > (int64_t)bg_wall_ms());
}

/* Answers every waiter: with the current credentials, or with <err>. */
static void finish(bg_aws_credsrc_t *src, const bg_err_t *err)
{
    src->step = STEP_IDLE;
    bg_list_t list = src->waiters;
    bool empty = bg_list_is_empty(&src->waiters);
    bg_list_init(&src->waiters);
    if (empty)
        return;
    /* Re-home the detached list: its first and last nodes still point at the old head. */
    list.next->prev = &list;
    list.prev->next = &list;
    while (!bg_list_is_empty(&list)) {
        waiter_t *w = BG_CONTAINER_OF(list.next, waiter_t, link);
        bg_list_remove(&w->link);
        if (err == NULL || still_valid(src))
            w->cb(w->arg, &src->creds, NULL);
        else
            w->cb(w->arg, NULL, err);
        free(w);
    }
}

static void set_creds(bg_aws_credsrc_t *src, const char *id, const char *secret, const char *token,
                      int64_t expires, const char *source)
{
    bg_aws_creds_fini(&src->creds);
    src->creds.access_key_id = bg_strdup(id);
    src->creds.secret_access_key = bg_strdup(secret);
    src->creds.session_token = token && *token ? bg_strdup(token) : NULL;
    src->creds.expires_unix = expires;
    snprintf(src->creds.source, sizeof(src->creds.source), "%s", source);
    src->have = true;
    src->stale = false;
}

static bool from_env(bg_aws_credsrc_t *src)
{
    const char *id = getenv("AWS_ACCESS_KEY_ID"), *secret = getenv("AWS_SECRET_ACCESS_KEY");
    bg_buf_puts(&src->tried, "environment");
    if (id == NULL || *id == '\0' || secret == NULL || *secret == '\0')
        return false;
    set_creds(src, id, secret, getenv("AWS_SESSION_TOKEN"), 0, "env");
    return true;
}

/* Keys of <section> in the INI file at <path>; true if both keys were there. */
static bool from_ini(bg_aws_credsrc_t *src, const char *path, const char *section, const char *what)
{
    bg_buf_printf(&src->tried, ", [%s] in %s %s", section, what, path ? path : "(no HOME)");
    char *id = bg_aws_ini_get(path, section, "aws_access_key_id");
    char *secret = bg_aws_ini_get(path, section, "aws_secret_access_key");
    char *token = bg_aws_ini_get(path, section, "aws_session_token");
    bool ok = id && *id && secret && *secret;
    if (ok) {
        char source[32];
        snprintf(source, sizeof(source), "profile:%s", src->profile);
        set_creds(src, id, secret, token, 0, source);
    }
    free(id);
    if (secret)
        wipe(secret);
    free(secret);
    free(token);
    return ok;
}

static bool from_files(bg_aws_credsrc_t *src)
{
    char *cred_path = bg_aws_credentials_path(), *conf_path = bg_aws_config_path();
    char *section = strcmp(src->profile, "default") == 0 ? bg_strdup("default")
                                                         : bg_asprintf("profile %s", src->profile);
    bool ok = from_ini(src, cred_path, src->profile, "credentials file") ||
              from_ini(src, conf_path, section, "config file");
    free(section);
    free(cred_path);
    free(conf_path);
    return ok;
}

static void fail_step(bg_aws_credsrc_t *src, const char *what, const char *detail)
{
    bg_err_t err;
    bg_err_clear(&err);
    bg_err_set(&err, BG_EREFUSED, "no AWS credentials (tried %s); %s%s",
               src->tried.data ? src->tried.data : "", what, detail ? detail : "");
    bg_log(BG_LOG_WARN, "aws", "credentials error=\"%s\"", err.msg);
    finish(src, &err);
}

static void start_imds(bg_aws_credsrc_t *src);
static void on_meta(void *arg, bg_aws_http_req_t *req);

/* Credentials JSON of the container endpoint and of IMDS: AccessKeyId, SecretAccessKey,
 * Token, Expiration (ISO 8601). */
static bool take_json_creds(bg_aws_credsrc_t *src, const char *body, const char *source)
{
    json_t *j = json_loads(body ? body : "", 0, NULL);
    const char *id = json_string_value(json_object_get(j, "AccessKeyId"));
    const char *secret = json_string_value(json_object_get(j, "SecretAccessKey"));
    const char *token = json_string_value(json_object_get(j, "Token"));
    const char *exp = json_string_value(json_object_get(j, "Expiration"));
    int64_t expires = 0;
    bool ok = id && secret && (exp == NULL || bg_aws_parse_time(exp, &expires));
    if (ok)
        set_creds(src, id, secret, token, expires, source);
    json_decref(j);
    return ok;
}

static bool loopback_or_ecs(const char *uri)
{
    static const char *const OK[] = {
        "http://127.",          "http://localhost:",     "http://localhost/", "http://[::1]",
        "http://169.254.170.2", "http://169.254.170.23", "https://"};
    for (size_t i = 0; i < BG_ARRAY_LEN(OK); i++)
        if (strncmp(uri, OK[i], strlen(OK[i])) == 0)
            return true;
    return false;
}

static bool start_container(bg_aws_credsrc_t *src)
{
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    bg_buf_puts(&src->tried, ", container endpoint");
    if ((full == NULL || *full == '\0') && (rel == NULL || *rel == '\0'))
        return false;
    char *url = rel && *rel ? bg_asprintf("%s%s", CONTAINER_HOST, rel) : bg_strdup(full);
    if (!loopback_or_ecs(url)) {
        fail_step(src,
                  "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/ECS "
                  "address: ",
                  url);
        free(url);
        return true;
    }
    struct curl_slist *h = NULL;
    char *token = NULL;
    const char *token_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    size_t len;
    if (token_file && *token_file && bg_file_read(token_file, &token, &len, NULL) == 0) {
        bg_str_t t = bg_str_trim(bg_str(token));
        char *line = bg_asprintf("Authorization: %.*s", (int)t.len, t.ptr);
        h = curl_slist_append(h, line);
        free(line);
    } else if (getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN")) {
        char *line = bg_asprintf("Authorization: %s", getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN"));
        h = curl_slist_append(h, line);
        free(line);
    }
    free(token);
    src->step = STEP_CONTAINER;
    src->stats->credential_fetches++;
    src->req = bg_aws_http_start(src->http, "GET", url, h, NULL, 0, META_TIMEOUT_MS, on_meta, src);
    free(url);
    return true;
}

static void imds_request(bg_aws_credsrc_t *src, step_t step, const char *method, const char *path)
{
    struct curl_slist *h = NULL;
    char *line;
    if (step == STEP_IMDS_TOKEN)
        line = bg_strdup("X-aws-ec2-metadata-token-ttl-seconds: 21600");
    else
        line = bg_asprintf("X-aws-ec2-metadata-token: %s", src->imds_token);
    h = curl_slist_append(h, line);
    free(line);
    char *url = bg_asprintf("%s%s", src->imds_base, path);
    src->step = step;
    src->req = bg_aws_http_start(src->http, method, url, h, NULL, 0, META_TIMEOUT_MS, on_meta, src);
    free(url);
}

static void start_imds(bg_aws_credsrc_t *src)
{
    const char *off = getenv("AWS_EC2_METADATA_DISABLED");
    bg_buf_puts(&src->tried, ", EC2 IMDSv2");
    if (off && strcasecmp(off, "true") == 0) {
        fail_step(src, "IMDS disabled by AWS_EC2_METADATA_DISABLED", NULL);
        return;
    }
    const char *ep = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    free(src->imds_base);
    src->imds_base = bg_strdup(ep && *ep ? ep : IMDS_DEFAULT);
    size_t n = strlen(src->imds_base);
    if (n > 0 && src->imds_base[n - 1] == '/')
        src->imds_base[n - 1] = '\0';
    src->stats->credential_fetches++;
    imds_request(src, STEP_IMDS_TOKEN, "PUT", "/latest/api/token");
}

static void on_meta(void *arg, bg_aws_http_req_t *req)
{
    bg_aws_credsrc_t *src = arg;
    src->req = NULL;
    char detail[CURL_ERROR_SIZE + 64] = "";
    bool ok = req->result == CURLE_OK && req->status == 200;
    if (req->result != CURLE_OK)
        snprintf(detail, sizeof(detail), "%s",
                 req->errbuf[0] ? req->errbuf : curl_easy_strerror(req->result));
    else if (!ok)
        snprintf(detail, sizeof(detail), "HTTP %ld", req->status);
    const char *body = req->resp.data ? req->resp.data : "";
    step_t step = src->step;
    if (step == STEP_CONTAINER) {
        if (ok && take_json_creds(src, body, "container"))
            finish(src, NULL);
        else
            fail_step(src, "container endpoint: ", ok ? "unreadable credentials JSON" : detail);
    } else if (step == STEP_IMDS_TOKEN) {
        if (ok && *body) {
            free(src->imds_token);
            src->imds_token = bg_strdup(body);
            imds_request(src, STEP_IMDS_ROLE, "GET", "/latest/meta-data/iam/security-credentials/");
        } else {
            fail_step(src, "IMDS token: ", ok ? "empty token" : detail);
        }
    } else if (step == STEP_IMDS_ROLE) {
        bg_str_t role = bg_str_trim(bg_str(body));
        const char *nl = memchr(role.ptr, '\n', role.len);
        if (nl)
            role.len = (size_t)(nl - role.ptr);
        if (ok && role.len > 0) {
            free(src->imds_role);
            src->imds_role = bg_strndup(role.ptr, role.len);
            char *path =
                bg_asprintf("/latest/meta-data/iam/security-credentials/%s", src->imds_role);
            imds_request(src, STEP_IMDS_CREDS, "GET", path);
            free(path);
        } else {
            fail_step(src, "IMDS role: ", ok ? "no instance role" : detail);
        }
    } else if (step == STEP_IMDS_CREDS) {
        if (ok && take_json_creds(src, body, "imds"))
            finish(src, NULL);
        else
            fail_step(src, "IMDS credentials: ", ok ? "unreadable credentials JSON" : detail);
    }
    bg_aws_http_req_free(req);
}

/* Runs the chain from the top; network sources finish later in on_meta. */
static void resolve(bg_aws_credsrc_t *src)
{
    bg_buf_reset(&src->tried);
    if (from_env(src) || from_files(src)) {
        finish(src, NULL);
        return;
    }
    if (start_container(src))
        return;
    start_imds(src);
}

int bg_aws_credsrc_get(bg_aws_credsrc_t *src, bg_aws_creds_cb cb, void *arg)
{
    if (fresh(src)) {
        cb(arg, &src->creds, NULL);
        return 0;
    }
    waiter_t *w = BG_NEW(waiter_t);
    w->cb = cb;
    w->arg = arg;
    bg_list_insert_tail(&src->waiters, &w->link);
    if (src->step == STEP_IDLE)
        resolve(src);
    return 0;
}

void bg_aws_credsrc_invalidate(bg_aws_credsrc_t *src)
{
    src->stale = src->have;
}

void bg_aws_credsrc_free(bg_aws_credsrc_t *src)
{
    if (src == NULL)
        return;
    bg_aws_http_req_free(src->req);
    src->req = NULL;
    src->have = false;
    bg_err_t err;
    bg_err_clear(&err);
    bg_err_set(&err, UV_ECANCELED, "AWS client closed");
    finish(src, &err);
    bg_aws_creds_fini(&src->creds);
    bg_buf_fini(&src->tried);
    free(src->profile);
    free(src->imds_base);
    free(src->imds_token);
    free(src->imds_role);
    free(src);
}
