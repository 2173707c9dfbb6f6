/* The admin API client of the CLI (docs/admin-api.md): one blocking libcurl request per
 * call, over the daemon's Unix socket or TCP with a bearer token.
 *
 * The endpoint comes from --admin, BLUEGREEN_ADMIN, the config file's `admin` (when -c is
 * given or ./bluegreen.yaml exists), else unix:./state/bluegreen.sock. Every failure is
 * printed here, once, and mapped to the exit codes of docs/design.md §9: no connection -> 4, an
 * error answer -> its JSON message and 1 (2 for 400 bad_request).
 */
#include "cli/internal.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <string.h>
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

void bg_cli_escape(bg_buf_t *b, const char *s)
{
    /* RFC 3986 §2.3: only unreserved characters go through unescaped. */
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
            bg_buf_append(b, p, 1);
        else
            bg_buf_printf(b, "%%%02X", *p);
    }
}

char *bg_cli_service_path(const char *name, const char *suffix)
{
    bg_buf_t b;

    bg_buf_init(&b);
    bg_buf_puts(&b, "/v1/services/");
    bg_cli_escape(&b, name);
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

int bg_cli_client_init(bg_cli_client_t *c, bg_cli_t *cli)
{
    char *spec = NULL;
    char why[256];
    int rc;

    memset(c, 0, sizeof(*c));
    c->cli = cli;
    rc = resolve_endpoint(cli, &spec, &c->token);
    if (rc != BG_EXIT_OK)
        goto out;
    if (bg_cli_endpoint_parse(spec, &c->ep, why, sizeof(why)) != 0) {
        rc = bg_cli_fail(cli, BG_EXIT_USAGE, "bad admin endpoint: %s", why);
        goto out;
    }
    c->curl_global = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    if (!c->curl_global || (c->curl = curl_easy_init()) == NULL)
        rc = bg_cli_fail(cli, BG_EXIT_FAILED, "cannot initialise libcurl");
out:
    free(spec);
    return rc;
}

void bg_cli_client_fini(bg_cli_client_t *c)
{
    if (c->curl != NULL)
        curl_easy_cleanup(c->curl);
    c->curl = NULL;
    if (c->curl_global)
        curl_global_cleanup();
    c->curl_global = false;
    free(c->token);
    c->token = NULL;
    bg_cli_endpoint_fini(&c->ep);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    bg_buf_append(arg, p, size * n);
    return size * n;
}

/* A header value must not carry control characters (CR/LF would split the request). */
static bool header_safe(const char *v)
{
    for (; *v != '\0'; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

const char *bg_cli_actor(const bg_cli_t *cli)
{
    const struct passwd *pw;
    const char *env = getenv("BLUEGREEN_ACTOR"), *user = getenv("USER");

    if (cli != NULL && cli->actor != NULL && cli->actor[0] != '\0')
        return cli->actor;
    if (env != NULL && env[0] != '\0')
        return env;
    if (user != NULL && user[0] != '\0')
        return user;
    pw = getpwuid(getuid());
    return pw != NULL ? pw->pw_name : NULL;
}

struct curl_slist *bg_cli_client_headers(const bg_cli_client_t *c, const char *accept,
                                         bool has_body)
{
    struct curl_slist *hdrs = curl_slist_append(NULL, accept);
    const char *actor = bg_cli_actor(c->cli);

    if (actor != NULL && header_safe(actor) && strlen(actor) < 256) {
        char *h = bg_asprintf("X-Bluegreen-Actor: %s", actor);
        hdrs = curl_slist_append(hdrs, h);
        free(h);
    }

    if (has_body)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    /* libcurl sends "Expect: 100-continue" for larger bodies; ours are small. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (c->token != NULL) {
        char *auth = bg_asprintf("Authorization: Bearer %s", c->token);
        hdrs = curl_slist_append(hdrs, auth);
        free(auth);
    }
    return hdrs;
}

void bg_cli_client_setup(const bg_cli_client_t *c, void *curl, const char *url)
{
    CURL *h = curl;

    curl_easy_setopt(h, CURLOPT_URL, url);
    if (c->ep.unix_path != NULL)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, c->ep.unix_path);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_USERAGENT, "bluegreen-cli/" BG_VERSION);
}

bool bg_cli_client_transport(bg_cli_client_t *c, void *curl, int code, const char *errbuf)
{
    CURLcode cr = (CURLcode)code;
    long os_errno = 0;
    const char *reason = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cr);

    curl_easy_getinfo((CURL *)curl, CURLINFO_OS_ERRNO, &os_errno);
    /* Failing before a connection existed means the daemon is unreachable; losing it
     * afterwards is a failed request: the change may or may not have happened. */
    c->unreachable = cr == CURLE_COULDNT_CONNECT || cr == CURLE_COULDNT_RESOLVE_HOST ||
                     (cr == CURLE_OPERATION_TIMEDOUT && os_errno != 0);
    if (c->unreachable && os_errno != 0)
        reason = strerror((int)os_errno);
    snprintf(c->error, sizeof(c->error), "%s", reason);
    return c->unreachable;
}

int bg_cli_client_send(bg_cli_client_t *c, const char *method, const char *path, const json_t *body,
                       bg_cli_answer_t *ans)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char *url = NULL, *req = NULL;
    CURL *h = c->curl;
    bg_buf_t resp;
    CURLcode cr;

    memset(ans, 0, sizeof(*ans));
    snprintf(ans->path, sizeof(ans->path), "%s %.*s", method, (int)strcspn(path, "?"), path);
    bg_buf_init(&resp);
    url = bg_asprintf("%s%s", c->ep.base_url, path);
    if (body != NULL)
        req = json_dumps(body, JSON_COMPACT);
    hdrs = bg_cli_client_headers(c, "Accept: application/json", req != NULL);
    curl_easy_reset(h);
    bg_cli_client_setup(c, h, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (req != NULL)
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->no_timeout ? 0L : REQUEST_TIMEOUT_MS);
    cr = curl_easy_perform(h);
    if (cr == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &ans->status);
        bg_buf_append(&resp, "", 0);
        ans->len = resp.len;
        ans->text = bg_buf_steal(&resp);
        if (ans->len > 0)
            ans->json = json_loadb(ans->text, ans->len, 0, NULL);
    } else {
        bg_cli_client_transport(c, h, cr, errbuf);
    }
    curl_slist_free_all(hdrs);
    free(req);
    free(url);
    bg_buf_fini(&resp);
    return cr == CURLE_OK ? 0 : -1;
}

int bg_cli_client_report(bg_cli_client_t *c)
{
    if (!c->unreachable)
        return bg_cli_error_json(c->cli, BG_EXIT_FAILED, "no_answer",
                                 json_pack("{s:s}", "admin", c->ep.spec),
                                 "no answer from the daemon at %s: %s", c->ep.spec, c->error);
    bg_cli_error_json(c->cli, BG_EXIT_UNREACHABLE, "unreachable",
                      json_pack("{s:s}", "admin", c->ep.spec), "cannot reach the daemon at %s: %s",
                      c->ep.spec, c->error);
    if (!c->cli->json)
        fputs("hint: is `bluegreen serve` running? Point --admin or BLUEGREEN_ADMIN at its "
              "admin endpoint.\n",
              c->cli->err);
    return BG_EXIT_UNREACHABLE;
}

const char *bg_cli_answer_message(const bg_cli_answer_t *ans)
{
    return bg_cli_jstr(json_object_get(ans->json, "error"), "message", NULL);
}

bool bg_cli_answer_no_route(const bg_cli_answer_t *ans)
{
    const char *msg = bg_cli_answer_message(ans);

    /* The admin router answers an unknown path with "no such endpoint"; a missing service
     * or deployment has a message naming it. A 404 without our JSON is not our route
     * either. */
    return ans->status == 404 && (msg == NULL || strcmp(msg, "no such endpoint") == 0);
}

/* The stable code of an error answer (docs/cli-errors.md). */
static const char *answer_code(const bg_cli_answer_t *ans)
{
    if (bg_cli_answer_no_route(ans))
        return "not_supported";
    switch (ans->status) {
    case 400:
        return "bad_request";
    case 401:
    case 403:
        return "unauthorized";
    case 404:
        return "not_found";
    case 409:
        return "conflict";
    case 503:
        return "unavailable";
    default:
        return "daemon_error";
    }
}

int bg_cli_answer_report(bg_cli_t *cli, const bg_cli_answer_t *ans)
{
    int code = ans->status == 400 ? BG_EXIT_USAGE : BG_EXIT_FAILED;
    const char *msg = bg_cli_answer_message(ans);
    const json_t *e = json_object_get(ans->json, "error");
    json_t *extra = json_pack("{s:i,s:s?}", "status", (int)ans->status, "daemon_code",
                              bg_cli_jstr(e, "code", NULL));

    /* a daemon error with a position (a revision file's) keeps it */
    for (const char *const *k = (const char *const[]){"file", "line", "column", "key", NULL}; *k;
         k++)
        if (json_object_get(e, *k) != NULL)
            json_object_set(extra, *k, json_object_get(e, *k));
    if (bg_cli_answer_no_route(ans))
        bg_cli_error_json(cli, code, answer_code(ans), extra,
                          "the daemon does not support %s yet (HTTP 404%s%s): it needs a newer "
                          "bluegreen serve",
                          ans->path, msg ? ": " : "", msg ? msg : "");
    else if (msg != NULL)
        bg_cli_error_json(cli, code, answer_code(ans), extra, "%s", msg);
    else
        bg_cli_error_json(cli, code, answer_code(ans), extra,
                          "the daemon answered HTTP %ld%s%.200s", ans->status, ans->len ? ": " : "",
                          ans->len ? ans->text : "");
    if (ans->status == 401 && !cli->json)
        fputs("hint: pass --token or set BLUEGREEN_TOKEN.\n", cli->err);
    return code;
}

void bg_cli_answer_fini(bg_cli_answer_t *ans)
{
    json_decref(ans->json);
    ans->json = NULL;
    free(ans->text);
    ans->text = NULL;
    ans->len = 0;
}

int bg_cli_client_call(bg_cli_client_t *c, const char *method, const char *path, const json_t *body,
                       json_t **out)
{
    bg_cli_answer_t ans;
    int rc = BG_EXIT_OK;

    *out = NULL;
    if (bg_cli_client_send(c, method, path, body, &ans) != 0)
        return bg_cli_client_report(c);
    if (ans.status < 200 || ans.status > 299)
        rc = bg_cli_answer_report(c->cli, &ans);
    else if (ans.len > 0 && ans.json == NULL)
        rc = bg_cli_fail(c->cli, BG_EXIT_FAILED, "the daemon at %s answered with invalid JSON",
                         c->ep.spec);
    else
        *out = json_incref(ans.json);
    bg_cli_answer_fini(&ans);
    return rc;
}

int bg_cli_api(bg_cli_t *cli, const char *method, const char *path, json_t *body, json_t **out)
{
    bg_cli_client_t c;
    int rc = bg_cli_client_init(&c, cli);

    *out = NULL;
    if (rc == BG_EXIT_OK)
        rc = bg_cli_client_call(&c, method, path, body, out);
    bg_cli_client_fini(&c);
    return rc;
}
