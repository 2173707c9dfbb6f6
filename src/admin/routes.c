/* The routes of docs/admin-api.md: authentication, path and method matching, and the
 * syntactic validation of bodies. Only a request that passed all of it reaches an op, so
 * a bad request changes nothing.
 */
#include "admin/internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "base/compat.h"

#define MAX_SEGMENTS 6

typedef struct path {
    bg_str_t seg[MAX_SEGMENTS];
    size_t n;
} path_t;

/* Splits "/v1/services/orders" into segments; the query string is ignored. Returns false
 * for too many or empty segments (a trailing slash is allowed). */
static bool split_path(const char *url, size_t len, path_t *out)
{
    const char *q = memchr(url, '?', len);
    const char *p = url, *end = q != NULL ? q : url + len;

    out->n = 0;
    if (p == end || *p != '/')
        return false;
    p++;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *seg_end = slash != NULL ? slash : end;
        if (seg_end == p) {
            if (slash != NULL && slash + 1 == end)
                break; /* trailing slash */
            return false;
        }
        if (out->n == MAX_SEGMENTS)
            return false;
        out->seg[out->n++] = (bg_str_t){p, (size_t)(seg_end - p)};
        p = slash != NULL ? slash + 1 : end;
    }
    return true;
}

static bool seg_is(const path_t *p, size_t i, const char *lit)
{
    return i < p->n && bg_str_eq(p->seg[i], bg_str(lit));
}

/* 405 with the Allow header when the path exists but the method does not. */
static bool method_ok(admin_conn_t *c, bg_admin_req_t *req, int method, const char *allow)
{
    if (c->method == method)
        return true;
    req->allow = allow;
    bg_admin_respond_errorf(req, UV_ENOTSUP, "method %s not allowed here; allowed: %s",
                            llhttp_method_name((llhttp_method_t)c->method), allow);
    return false;
}

/* Parses the request body as a JSON object; answers 400 and returns NULL otherwise. */
static json_t *body_object(admin_conn_t *c, bg_admin_req_t *req)
{
    json_error_t jerr;
    json_t *j;

    if (c->body.len == 0) {
        bg_admin_respond_errorf(req, BG_EINVAL, "a JSON body is required");
        return NULL;
    }
    j = json_loadb(c->body.data, c->body.len, JSON_REJECT_DUPLICATES, &jerr);
    if (j == NULL) {
        bg_admin_respond_errorf(req, BG_EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
                                jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        bg_admin_respond_errorf(req, BG_EINVAL, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* Rejects keys of <obj> not in the NULL-terminated <known>: a typo must not pass silently. */
static bool only_keys(json_t *obj, const char *const *known, bg_admin_req_t *req)
{
    const char *key;
    json_t *v;

    json_object_foreach(obj, key, v)
    {
        bool found = false;
        for (size_t i = 0; known[i] != NULL && !found; i++)
            found = strcmp(key, known[i]) == 0;
        if (!found) {
            bg_admin_respond_errorf(req, BG_EINVAL, "unknown field '%s'", key);
            return false;
        }
    }
    return true;
}

static bool weight_of(json_t *obj, const char *key, uint32_t *out, bg_admin_req_t *req)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL || !json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > 100) {
        bg_admin_respond_errorf(req, BG_EINVAL, "'%s' must be an integer from 0 to 100", key);
        return false;
    }
    *out = (uint32_t)json_integer_value(v);
    return true;
}

static void route_traffic(bg_admin_t *a, admin_conn_t *c, bg_admin_req_t *req, const char *name)
{
    static const char *const keys[] = {"blue", "green", NULL};
    uint32_t blue, green;
    json_t *j = body_object(c, req);

    if (j == NULL)
        return;
    if (!only_keys(j, keys, req) || !weight_of(j, "blue", &blue, req) ||
        !weight_of(j, "green", &green, req))
        goto out;
    if (blue + green != 100) {
        bg_admin_respond_errorf(req, BG_EINVAL, "weights must sum to 100 (blue=%u green=%u)", blue,
                                green);
        goto out;
    }
    a->ops.traffic(a->ctx, req, name, blue, green);
out:
    json_decref(j);
}

static void route_target_add(bg_admin_t *a, admin_conn_t *c, bg_admin_req_t *req, const char *name)
{
    static const char *const keys[] = {"slot", "address", NULL};
    json_t *j = body_object(c, req);
    const char *slot_s, *addr;
    bg_slot_t slot;

    if (j == NULL)
        return;
    if (!only_keys(j, keys, req))
        goto out;
    slot_s = json_string_value(json_object_get(j, "slot"));
    addr = json_string_value(json_object_get(j, "address"));
    if (slot_s == NULL || !bg_slot_parse(slot_s, &slot)) {
        bg_admin_respond_errorf(req, BG_EINVAL, "'slot' must be \"blue\" or \"green\"");
        goto out;
    }
    if (addr == NULL || *addr == '\0') {
        bg_admin_respond_errorf(req, BG_EINVAL, "'address' must be a string HOST:PORT");
        goto out;
    }
    a->ops.target_add(a->ctx, req, name, slot, addr);
out:
    json_decref(j);
}

static void route_target_remove(bg_admin_t *a, bg_admin_req_t *req, const char *name, bg_str_t id_s)
{
    uint64_t id;

    if (!bg_str_to_u64(id_s, UINT64_MAX, &id) || id == 0) {
        bg_admin_respond_errorf(req, BG_EINVAL, "target id must be a positive integer");
        return;
    }
    a->ops.target_remove(a->ctx, req, name, id);
}

static void route_health(bg_admin_t *a, bg_admin_req_t *req)
{
    bg_admin_respond_json(req, 200,
                          json_pack("{s:s,s:s,s:I,s:I}", "status", "ok", "version", BG_VERSION,
                                    "uptime_ms", (json_int_t)(bg_now_ms() - a->started_ms),
                                    "pid", (json_int_t)getpid()));
}

static void route_metrics(bg_admin_t *a, bg_admin_req_t *req)
{
    bg_buf_t out;
    size_t len;

    bg_buf_init(&out);
    a->ops.metrics(a->ctx, &out);
    len = out.len;
    admin_req_write(req, 200, "text/plain; version=0.0.4; charset=utf-8", bg_buf_steal(&out), len);
}

/* True for the /v1/services/NAME[/...] paths this module serves itself. */
static bool builtin_service_route(const path_t *p)
{
    return p->n == 3 || (p->n == 4 && (seg_is(p, 3, "traffic") || seg_is(p, 3, "targets"))) ||
           (p->n == 5 && seg_is(p, 3, "targets"));
}

/* Everything else goes to ops.other (routes added by other modules), else 404. */
static void route_other(bg_admin_t *a, admin_conn_t *c, bg_admin_req_t *req)
{
    const char *url = c->url.data != NULL ? c->url.data : "";
    const char *q = strchr(url, '?');
    char *path = q != NULL ? bg_strndup(url, (size_t)(q - url)) : bg_strdup(url);
    bg_admin_http_t http = {
        .method = llhttp_method_name((llhttp_method_t)c->method),
        .path = path,
        .query = q != NULL ? q + 1 : "",
        .body = c->body.data != NULL ? c->body.data : "",
        .body_len = c->body.len,
    };

    if (a->ops.other != NULL)
        a->ops.other(a->ctx, req, &http);
    else
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no such endpoint");
    free(path);
}

/* /v1/services/NAME[/...]: segment 2 is the service name. */
static void route_service(bg_admin_t *a, admin_conn_t *c, bg_admin_req_t *req, const path_t *p)
{
    char *name = bg_strndup(p->seg[2].ptr, p->seg[2].len);

    if (p->n == 3) {
        if (method_ok(c, req, HTTP_GET, "GET"))
            a->ops.service(a->ctx, req, name);
    } else if (p->n == 4 && seg_is(p, 3, "traffic")) {
        if (method_ok(c, req, HTTP_PUT, "PUT"))
            route_traffic(a, c, req, name);
    } else if (p->n == 4 && seg_is(p, 3, "targets")) {
        if (method_ok(c, req, HTTP_POST, "POST"))
            route_target_add(a, c, req, name);
    } else if (p->n == 5 && seg_is(p, 3, "targets")) {
        if (method_ok(c, req, HTTP_DELETE, "DELETE"))
            route_target_remove(a, req, name, p->seg[4]);
    } else {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no such endpoint");
    }
    free(name);
}

void admin_dispatch(admin_conn_t *c, bg_admin_req_t *req)
{
    bg_admin_t *a = c->admin;
    const char *url = c->url.data != NULL ? c->url.data : "";
    path_t p;

    /* The dashboard answers its own login; everything else needs credentials. */
    if (!a->metrics_only && admin_dash_path(url, c->url.len)) {
        admin_dash_route(c, req);
        return;
    }
    if (a->dash != NULL ? !admin_dash_auth(c, req) : !admin_auth_ok(a, c->authorization)) {
        if (a->dash == NULL)
            bg_admin_respond_errorf(req, UV_EACCES,
                                    "a valid 'Authorization: Bearer <token>' "
                                    "header is required");
        return;
    }
    if (a->proxy) {
        route_other(a, c, req);
        return;
    }
    if (!split_path(url, c->url.len, &p)) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "no such endpoint");
        return;
    }
    if (p.n == 1 && seg_is(&p, 0, "metrics")) {
        if (method_ok(c, req, HTTP_GET, "GET"))
            route_metrics(a, req);
    } else if (a->metrics_only) {
        bg_admin_respond_errorf(req, BG_ENOTFOUND, "this listener serves only GET /metrics");
    } else if (p.n == 2 && seg_is(&p, 0, "v1") && seg_is(&p, 1, "health")) {
        if (method_ok(c, req, HTTP_GET, "GET"))
            route_health(a, req);
    } else if (p.n == 2 && seg_is(&p, 0, "v1") && seg_is(&p, 1, "services")) {
        if (method_ok(c, req, HTTP_GET, "GET"))
            a->ops.services(a->ctx, req);
    } else if (p.n == 3 && seg_is(&p, 0, "v1") && seg_is(&p, 1, "dashboard") &&
               seg_is(&p, 2, "login-token")) {
        if (method_ok(c, req, HTTP_POST, "POST"))
            admin_dash_route_login_token(a, req);
    } else if (p.n >= 3 && p.n <= 5 && seg_is(&p, 0, "v1") && seg_is(&p, 1, "services") &&
               builtin_service_route(&p)) {
        route_service(a, c, req, &p);
    } else {
        route_other(a, c, req);
    }
}
