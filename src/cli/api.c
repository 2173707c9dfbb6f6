/* The admin API client of the CLI (docs/admin-api.md): one blocking libcurl request per
 * call, over the daemon's Unix socket or TCP with a bearer token.
 *
 * The endpoint comes from --admin, BLUEGREEN_ADMIN, the config file's `admin` (when -c is
 * given or ./bluegreen.yaml exists), else unix:./state/bluegreen.sock. Every failure is
 * printed here, once, and mapped to the exit codes of DESIGN §9: no connection -> 4, an
 * error answer -> its JSON message and 1 (2 for 400 bad_request).
 */
#include "cli/internal.h"

#include <ctype.h>
#include <errno.h>
#include <unistd.h>

#include <curl/curl.h>

#include "base/base.h"

#define DEFAULT_ADMIN "unix:./state/bluegreen.sock"
#define CONNECT_TIMEOUT_MS 5000L
/* A traffic switch returns once every worker confirmed it; allow for a slow one. */
#define REQUEST_TIMEOUT_MS 120000L

int bg_cli_endpoint_parse(const char *spec, bg_cli_endpoint_t *ep, char *why, size_t why_size)
{
    memset(ep, 0, sizeof(*ep));
    if (strncmp(spec, "unix:", 5) == 0) {
        if (spec[5] == '\0') {
            snprintf(why, why_size, "unix: needs a socket path (unix:PATH)");
            return BG_EINVAL;
        }
        ep->unix_path = bg_strdup(spec + 5);
        /* curl needs a URL even on a Unix socket; the host is only the Host header. */
        ep->base_url = bg_strdup("http://localhost");
    } else if (strncmp(spec, "http://", 7) == 0 || strncmp(spec, "https://", 8) == 0) {
        size_t len = strlen(spec);
        const char *host = strstr(spec, "://") + 3;
        if (*host == '\0' || *host == '/') {
            snprintf(why, why_size, "no host in '%s' (http://HOST:PORT)", spec);
            return BG_EINVAL;
        }
        while (len > 0 && spec[len - 1] == '/')
            len--;
        ep->base_url = bg_strndup(spec, len);
    } else {
        snprintf(why, why_size, "'%s' is not unix:PATH or http://HOST:PORT", spec);
        return BG_EINVAL;
    }
    ep->spec = bg_strdup(spec);
    return 0;
}

void bg_cli_endpoint_fini(bg_cli_endpoint_t *ep)
{
    free(ep->spec);
    free(ep->unix_path);
    free(ep->base_url);
    memset(ep, 0, sizeof(*ep));
}

char *bg_cli_service_path(const char *name, const char *suffix)
{
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_puts(&b, "/v1/services/");
    /* RFC 3986 §2.3: only unreserved characters go through unescaped. */
    for (const unsigned char *p = (const unsigned char *)name; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            bg_buf_append(&b, p, 1);
        else
            bg_buf_printf(&b, "%%%02X", *p);
    }
    bg_buf_puts(&b, suffix);
    return bg_buf_steal(&b);
}

/* Picks the endpoint spec and token (see the file comment). *<spec> and *<token> are
 * owned copies (token may be NULL). Returns an exit code (a config error was printed). */
static int resolve_endpoint(bg_cli_t *cli, char **spec, char **token)
{
    bg_config_t *cfg = NULL;

    *spec = NULL;
    *token = cli->token != NULL ? bg_strdup(cli->token) : NULL;
    if (cli->admin != NULL) {
        *spec = bg_strdup(cli->admin);
        return BG_EXIT_OK;
    }
    if (cli->config_path == NULL && access(bg_cli_config_path(cli), F_OK) != 0) {
        *spec = bg_strdup(DEFAULT_ADMIN);
        return BG_EXIT_OK;
    }
    cfg = bg_cli_config_load(cli);
    if (cfg == NULL)
        return BG_EXIT_USAGE;
    if (cfg->admin != NULL)
        *spec = bg_strdup(cfg->admin);
    else
        *spec = bg_asprintf("unix:%s/bluegreen.sock", cfg->state_dir ? cfg->state_dir : "./state");
    if (*token == NULL && cfg->admin_token != NULL)
        *token = bg_strdup(cfg->admin_token);
    bg_config_free(cfg);
    return BG_EXIT_OK;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    bg_buf_append(arg, p, size * n);
    return size * n;
}

/* Prints why the request got no answer. Failing before a connection existed means the
 * daemon is unreachable (4); losing it afterwards is a failed request (1): the change may
 * or may not have happened. */
static int report_transport(bg_cli_t *cli, CURL *h, CURLcode cr, const char *errbuf,
                            const bg_cli_endpoint_t *ep)
{
    long os_errno = 0;
    const char *reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr);

    curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &os_errno);
    if (cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
        (cr == CURLE_OPERATION_TIMEDOUT && os_errno != 0)) {
        if (os_errno != 0)
            reason = strerror((int)os_errno);
        bg_cli_fail(cli, BG_EXIT_UNREACHABLE, "cannot reach the daemon at %s: %s", ep->spec,
                    reason);
        fputs("hint: is `bluegreen serve` running? Point --admin or BLUEGREEN_ADMIN at its "
              "admin endpoint.\n",
              cli->err);
        return BG_EXIT_UNREACHABLE;
    }
    return bg_cli_fail(cli, BG_EXIT_FAILED, "no answer from the daemon at %s: %s", ep->spec,
                       reason);
}

/* Prints the error of a non-2xx answer: {"error":{"code","message"}} when the daemon sent
 * one. 400 is the caller's mistake (2); everything else is a failed operation (1). */
static int report_answer(bg_cli_t *cli, long status, const bg_buf_t *body)
{
    int code = status == 400 ? BG_EXIT_USAGE : BG_EXIT_FAILED;
    json_t *doc = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
    const json_t *e = json_object_get(doc, "error");
    const char *msg = bg_cli_jstr(e, "message", NULL);

    if (msg != NULL)
        bg_cli_fail(cli, code, "%s", msg);
    else
        bg_cli_fail(cli, code, "the daemon answered HTTP %ld%s%.200s", status,
                    body->len ? ": " : "", body->len ? body->data : "");
    if (status == 401)
        fputs("hint: pass --token or set BLUEGREEN_TOKEN.\n", cli->err);
    json_decref(doc);
    return code;
}

static struct curl_slist *request_headers(const char *token, bool has_body)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");

    if (has_body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    /* libcurl sends "Expect: 100-continue" for larger bodies; ours are tiny. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (token != NULL) {
        char *auth = bg_asprintf("Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
        free(auth);
    }
    return hdrs;
}

/* One exchange; the answer's status in *<status>, its body in <resp>. */
static CURLcode perform(CURL *h, const bg_cli_endpoint_t *ep, const char *method, const char *url,
                        const char *req, struct curl_slist *hdrs, bg_buf_t *resp, char *errbuf,
                        long *status)
{
    CURLcode cr;

    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (ep->unix_path != NULL)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, ep->unix_path);
    if (req != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, REQUEST_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "bluegreen-cli/" BG_VERSION);
    cr = curl_easy_perform(h);
    if (cr == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    return cr;
}

int bg_cli_api(bg_cli_t *cli, const char *method, const char *path, json_t *body, json_t **out)
{
    bg_cli_endpoint_t ep = {0};
    char *spec = NULL, *token = NULL, *url = NULL, *req = NULL;
    char why[256], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    bg_buf_t resp;
    CURL *h = NULL;
    bool curl_ready = false;
    long status = 0;
    CURLcode cr;
    int rc;

    *out = NULL;
    bg_buf_init(&resp);
    rc = resolve_endpoint(cli, &spec, &token);
    if (rc != BG_EXIT_OK)
        goto out;
    if (bg_cli_endpoint_parse(spec, &ep, why, sizeof(why)) != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "bad admin endpoint: %s", why);
        goto out;
    }
    curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!curl_ready || (h = curl_easy_init()) == NULL) {
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "cannot initialise libcurl");
        goto out;
    }
    url = bg_asprintf("%s%s", ep.base_url, path);
    if (body != NULL)
        req = json_dumps(body, JSON_COMPACT);
    hdrs = request_headers(token, req != NULL);
    cr = perform(h, &ep, method, url, req, hdrs, &resp, errbuf, &status);
    if (cr != CURLE_OK) {
        rc = report_transport(cli, h, cr, errbuf, &ep);
        goto out;
    }
    if (status < 200 || status > 299) {
        rc = report_answer(cli, status, &resp);
        goto out;
    }
    if (resp.len > 0 && (*out = json_loadb(resp.data, resp.len, 0, NULL)) == NULL)
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "the daemon at %s answered with invalid JSON",
                         ep.spec);
out:
    curl_slist_free_all(hdrs);
    if (h != NULL)
        curl_easy_cleanup(h);
    if (curl_ready)
        curl_global_cleanup();
    free(req);
    free(url);
    free(token);
    free(spec);
    bg_cli_endpoint_fini(&ep);
    bg_buf_fini(&resp);
    return rc;
}
