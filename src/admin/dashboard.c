/* The dashboard on an admin TCP listener (docs/internals/dashboard.md): /dashboard/login
 * turns the admin token or a one-time login token into a session cookie, /dashboard/ serves
 * the embedded pages, and admin_dash_auth() lets that cookie stand in for the bearer token
 * on the API — reads with the cookie alone, changes only with the session's CSRF token in
 * X-CSRF-Token, so that another site can neither read the API (SameSite=Strict, no CORS)
 * nor make the browser change anything (it cannot learn the CSRF token).
 */
#include "admin/internal.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/base.h"
#include "dashboard/dashboard.h"
#include "base/compat.h"

#define PREFIX "/dashboard"
#define PREFIX_LEN (sizeof(PREFIX) - 1)
#define SESSION_MAX_AGE_S (BG_DASH_SESSION_IDLE_MS / 1000u)

bool admin_dash_path(const char *url, size_t len)
{
    return len >= PREFIX_LEN && memcmp(url, PREFIX, PREFIX_LEN) == 0 &&
           (len == PREFIX_LEN || url[PREFIX_LEN] == '/' || url[PREFIX_LEN] == '?');
}

static void cookie_name(const bg_admin_t *a, char *out, size_t size)
{
    snprintf(out, size, "bluegreen_session_%d", a->bound_port);
}

/* The session id the request's cookie names, into <sid>; false if none. */
static bool request_sid(const bg_admin_t *a, const bg_admin_req_t *req, char *sid, size_t size)
{
    const char *hdr = bg_admin_req_header(req, "Cookie");
    char name[48];

    cookie_name(a, name, sizeof(name));
    return hdr != NULL && bg_dash_cookie(hdr, name, sid, size);
}

/* True for a request that is authorised by a session; <csrf> gets its CSRF token. */
static bool session_of(bg_admin_t *a, const bg_admin_req_t *req, char *csrf)
{
    char sid[BG_DASH_TOKEN_HEX + 1];

    return a->dash != NULL && request_sid(a, req, sid, sizeof(sid)) &&
           bg_dash_auth_check(a->dash, bg_now_ms(), sid, csrf);
}

static bool is_read(int method)
{
    return method == HTTP_GET || method == HTTP_HEAD;
}

static void unauthorized(bg_admin_req_t *req)
{
    bg_admin_respond_errorf(req, UV_EACCES,
                            "a valid 'Authorization: Bearer <token>' header or dashboard "
                            "session is required");
}

bool admin_dash_auth(admin_conn_t *c, bg_admin_req_t *req)
{
    bg_admin_t *a = c->admin;
    char csrf[BG_DASH_TOKEN_HEX + 1];
    const char *sent;

    if (admin_auth_ok(a, c->authorization))
        return true;
    if (!session_of(a, req, csrf)) {
        unauthorized(req);
        return false;
    }
    if (is_read(c->method))
        return true;
    sent = bg_admin_req_header(req, "X-CSRF-Token");
    if (sent == NULL || !bg_dash_secret_eq(csrf, sent)) {
        bg_admin_respond_errorf(req, UV_EPERM,
                                "a change made with a dashboard session needs its CSRF token "
                                "in 'X-CSRF-Token' (GET /dashboard/session)");
        return false;
    }
    return true;
}

/* Secure only when the browser reached us over TLS (a proxy in front terminates it). */
static bool over_tls(const bg_admin_req_t *req)
{
    const char *proto = bg_admin_req_header(req, "X-Forwarded-Proto");
    return proto != NULL && strcasecmp(proto, "https") == 0;
}

/* The login token of the request: ?token= on GET; on POST a form or JSON body. */
static bool login_token(admin_conn_t *c, char *out, size_t size)
{
    const char *url = c->url.data != NULL ? c->url.data : "";
    const char *q = strchr(url, '?');

    if (c->method == HTTP_GET)
        return q != NULL && bg_dash_form_value(q + 1, strlen(q + 1), "token", out, size);
    if (c->body.len > 0 && c->body.data[0] == '{') {
        json_t *j = json_loadb(c->body.data, c->body.len, 0, NULL);
        const char *t = json_string_value(json_object_get(j, "token"));
        bool ok = t != NULL && strlen(t) < size;
        if (ok)
            snprintf(out, size, "%s", t);
        json_decref(j);
        return ok;
    }
    return c->body.len > 0 && bg_dash_form_value(c->body.data, c->body.len, "token", out, size);
}

static bool token_ok(bg_admin_t *a, const char *token)
{
    /* The admin token is checked first and never consumed; a one-time one is. */
    if (a->token != NULL && !a->proxy && bg_dash_secret_eq(a->token, token))
        return true;
    return bg_dash_auth_redeem(a->dash, bg_now_ms(), token);
}

static void route_login(admin_conn_t *c, bg_admin_req_t *req)
{
    bg_admin_t *a = c->admin;
    char token[256], sid[BG_DASH_TOKEN_HEX + 1], csrf[BG_DASH_TOKEN_HEX + 1], name[48];
    int rc;

    if (c->method != HTTP_GET && c->method != HTTP_POST) {
        req->allow = "GET, POST";
        bg_admin_respond_errorf(req, UV_ENOTSUP, "method not allowed here; allowed: GET, POST");
        return;
    }
    if (!login_token(c, token, sizeof(token)) || !token_ok(a, token)) {
        bg_log(BG_LOG_WARN, "admin", "msg=\"dashboard login refused\" port=%d", a->bound_port);
        bg_admin_respond_errorf(req, UV_EACCES,
                                "the login token is missing, wrong, expired or already used");
        goto out;
    }
    if ((rc = bg_dash_auth_open(a->dash, bg_now_ms(), sid, csrf)) != 0) {
        bg_admin_respond_errorf(req, rc, "cannot open a session: %s", bg_strerror(rc));
        goto out;
    }
    cookie_name(a, name, sizeof(name));
    bg_log(BG_LOG_INFO, "admin", "msg=\"dashboard login\" port=%d sessions=%zu", a->bound_port,
           bg_dash_auth_sessions(a->dash));
    req->extra_headers = bg_asprintf("Location: /dashboard/\r\nSet-Cookie: %s=%s; Path=/; "
                                     "HttpOnly; SameSite=Strict; Max-Age=%u%s\r\n",
                                     name, sid, SESSION_MAX_AGE_S, over_tls(req) ? "; Secure" : "");
    admin_req_write(req, 303, "application/json", bg_strdup("{\"login\":true}"), 14);
out:
    explicit_bzero(token, sizeof(token));
}

static void route_session(admin_conn_t *c, bg_admin_req_t *req)
{
    bg_admin_t *a = c->admin;
    char csrf[BG_DASH_TOKEN_HEX + 1], name[48], ts[40];

    if (c->method != HTTP_GET) {
        req->allow = "GET";
        bg_admin_respond_errorf(req, UV_ENOTSUP, "method not allowed here; allowed: GET");
        return;
    }
    if (!session_of(a, req, csrf)) {
        unauthorized(req);
        return;
    }
    cookie_name(a, name, sizeof(name));
    bg_admin_respond_json(
        req, 200,
        json_pack("{s:s,s:s,s:s,s:s,s:s}", "csrf_token", csrf, "cookie", name, "expires",
                  bg_wall_format(bg_wall_ms() + BG_DASH_SESSION_IDLE_MS, ts), "mode",
                  a->proxy ? "proxy" : "serve", "version", BG_VERSION));
}

static void route_logout(admin_conn_t *c, bg_admin_req_t *req)
{
    bg_admin_t *a = c->admin;
    char sid[BG_DASH_TOKEN_HEX + 1], name[48];

    if (c->method != HTTP_POST) {
        req->allow = "POST";
        bg_admin_respond_errorf(req, UV_ENOTSUP, "method not allowed here; allowed: POST");
        return;
    }
    /* Needs the session and its CSRF token: a cross-site form must not sign people out. */
    if (!request_sid(a, req, sid, sizeof(sid)) || !admin_dash_auth(c, req))
        return;
    bg_dash_auth_close(a->dash, sid);
    cookie_name(a, name, sizeof(name));
    req->extra_headers = bg_asprintf(
        "Set-Cookie: %s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n", name);
    bg_admin_respond_json(req, 200, json_pack("{s:b}", "logged_out", 1));
}

/* True when the path's last segment has no '.': a client-side route, answered index.html. */
static bool is_page_route(const char *rel)
{
    const char *slash = strrchr(rel, '/');
    return strchr(slash != NULL ? slash + 1 : rel, '.') == NULL;
}

static void route_asset(admin_conn_t *c, bg_admin_req_t *req, const char *rel)
{
    const bg_dash_asset_t *asset;
    const char *inm;

    if (c->method != HTTP_GET) {
        req->allow = "GET";
        bg_admin_respond_errorf(req, UV_ENOTSUP, "method not allowed here; allowed: GET");
        return;
    }
    if (!admin_dash_auth(c, req))
        return;
    asset = bg_dash_asset_find(*rel == '\0' ? "index.html" : rel);
    if (asset == NULL && strstr(rel, "..") == NULL && is_page_route(rel))
        asset = bg_dash_asset_find("index.html");
    if (asset == NULL) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no dashboard file '%s'", rel);
        return;
    }
    req->extra_headers = bg_asprintf("ETag: %s\r\n", asset->etag);
    req->cache_control = "no-cache, private";
    inm = bg_admin_req_header(req, "If-None-Match");
    if (inm != NULL && strstr(inm, asset->etag) != NULL) {
        admin_req_write(req, 304, NULL, NULL, 0);
        return;
    }
    admin_req_write(req, 200, bg_dash_content_type(asset->path),
                    bg_strndup((const char *)asset->data, asset->len), asset->len);
}

void admin_dash_route(admin_conn_t *c, bg_admin_req_t *req)
{
    const char *url = c->url.data != NULL ? c->url.data : "";
    size_t len = strcspn(url, "?");
    char *path = bg_strndup(url, len);
    const char *rel = path + PREFIX_LEN;

    if (c->admin->dash == NULL) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND,
                                "the dashboard is served on a TCP admin listener (admin: "
                                "http://HOST:PORT) or by `bluegreen dashboard`");
    } else if (*rel == '\0') {
        req->extra_headers = bg_strdup("Location: /dashboard/\r\n");
        admin_req_write(req, 301, "application/json", bg_strdup("{}"), 2);
    } else if (strcmp(rel, "/login") == 0) {
        route_login(c, req);
    } else if (strcmp(rel, "/session") == 0) {
        route_session(c, req);
    } else if (strcmp(rel, "/logout") == 0) {
        route_logout(c, req);
    } else {
        route_asset(c, req, rel + 1);
    }
    free(path);
}

int bg_admin_login_token(bg_admin_t *a, char *out, size_t size, uint64_t *expires_wall_ms)
{
    uint64_t now = bg_now_ms(), expires = 0;
    int rc;

    if (a->dash == NULL)
        return BG_EINVAL;
    rc = bg_dash_auth_mint(a->dash, now, 0, out, size, &expires);
    if (rc == 0 && expires_wall_ms != NULL)
        *expires_wall_ms = bg_wall_ms() + (expires - now);
    return rc;
}

void admin_dash_route_login_token(bg_admin_t *a, bg_admin_req_t *req)
{
    char token[BG_DASH_TOKEN_HEX + 1], ts[40];
    uint64_t expires = 0;
    int rc = bg_admin_login_token(a, token, sizeof(token), &expires);
    char *path;

    if (rc == BG_EINVAL) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "login tokens exist only on a TCP admin listener");
        return;
    }
    if (rc != 0) {
        bg_admin_respond_errorf(req, rc, "cannot make a login token: %s", bg_strerror(rc));
        return;
    }
    path = bg_asprintf("/dashboard/login?token=%s", token);
    bg_admin_respond_json(req, 200,
                          json_pack("{s:s,s:s,s:s}", "token", token, "expires",
                                    bg_wall_format(expires, ts), "path", path));
    free(path);
    explicit_bzero(token, sizeof(token));
}
