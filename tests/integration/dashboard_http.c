/* The dashboard on the admin TCP listener of a real server (docs/internals/dashboard.md),
 * over real loopback sockets: nothing without credentials, login by the admin token or a
 * one-time token, a strict session cookie, reads by cookie, changes only with the CSRF
 * token, the embedded pages byte for byte with their types, ETags and security headers.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "base/base.h"
#include "dashboard/dashboard.h"
#include "dashboard_client.h"
#include "server_fixture.h"

static sfx_t f;

static void expect_security_headers(const dc_resp_t *r)
{
    const char *csp = dc_header(r->head, "Content-Security-Policy");
    cr_assert_not_null(csp, "no CSP in\n%s", r->head);
    cr_assert(strstr(csp, "default-src 'self'") != NULL, "%s", csp);
    cr_assert(strstr(csp, "frame-ancestors 'none'") != NULL, "%s", csp);
    cr_assert(strstr(csp, "object-src 'none'") != NULL, "%s", csp);
    cr_assert(strstr(csp, "unsafe-inline") == NULL && strstr(csp, "unsafe-eval") == NULL, "%s", csp);
    cr_assert_str_eq(dc_header(r->head, "X-Content-Type-Options"), "nosniff");
    cr_assert_str_eq(dc_header(r->head, "Referrer-Policy"), "no-referrer");
}

static void expect_error(const dc_resp_t *r, int status, const char *code)
{
    json_t *j = json_loads(r->body, 0, NULL);
    cr_assert_eq(r->status, status, "status %d, want %d: %s", r->status, status, r->body);
    cr_assert_not_null(j, "not JSON: %s", r->body);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "error"), "code")), code,
                     "%s", r->body);
    json_decref(j);
}

static char *login(const char *token)
{
    return dc_login(f.admin_port, token);
}

static char *csrf_of(const char *cookie)
{
    return dc_csrf(f.admin_port, cookie, "serve");
}

static int green_weight(void)
{
    json_t *svc = sfx_service_json(&f);
    int w = (int)json_integer_value(json_object_get(json_object_get(svc, "traffic"), "green"));
    json_decref(svc);
    return w;
}

static void start(void)
{
    sfx_start(&f, &(sfx_opts_t){.tcp_admin = true});
}

Test(dashboard_http, nothing_without_credentials, .init = start, .fini = NULL, .timeout = 60)
{
    static const char *const paths[] = {"/dashboard/", "/dashboard/index.html",
                                        "/dashboard/session", "/dashboard/service/orders",
                                        "/v1/services", "/metrics"};
    dc_resp_t r;

    for (size_t i = 0; i < BG_ARRAY_LEN(paths); i++) {
        cr_assert(dc_call(f.admin_port, "GET", paths[i], NULL, NULL, &r));
        expect_error(&r, 401, "unauthorized");
        expect_security_headers(&r);
        cr_assert_null(strstr(r.body, "<html"), "%s leaks the page", paths[i]);
        cr_assert_null(strstr(r.body, "orders"), "%s leaks data: %s", paths[i], r.body);
        dc_resp_fini(&r);
    }
    /* A made-up session cookie and a wrong bearer token are no better. */
    cr_assert(dc_call(f.admin_port, "GET", "/v1/services",
                        "Cookie: bluegreen_session_1=0000000000000000000000000000000000000000000"
                        "000000000000000000000\r\n",
                        NULL, &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "PUT", "/v1/services/orders/traffic",
                        "Authorization: Bearer wrong\r\n", "{\"blue\":0,\"green\":100}", &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    cr_assert_eq(green_weight(), 0, "a refused request changed the traffic");
    sfx_stop(&f);
}

Test(dashboard_http, login_by_admin_token_sets_a_strict_cookie, .init = start, .timeout = 60)
{
    char *target = bg_asprintf("/dashboard/login?token=%s", SFX_TOKEN);
    char name[64];
    dc_resp_t r;
    const char *sc;

    cr_assert(dc_call(f.admin_port, "GET", target, NULL, NULL, &r));
    cr_assert_eq(r.status, 303, "%d %s", r.status, r.body);
    expect_security_headers(&r);
    sc = dc_header(r.head, "Set-Cookie");
    cr_assert_not_null(sc, "%s", r.head);
    snprintf(name, sizeof(name), "bluegreen_session_%d=", f.admin_port);
    cr_assert(strncmp(sc, name, strlen(name)) == 0, "%s", sc);
    cr_assert_eq(strcspn(sc, ";"), strlen(name) + BG_DASH_TOKEN_HEX, "%s", sc);
    cr_assert(strstr(sc, "; HttpOnly") != NULL, "%s", sc);
    cr_assert(strstr(sc, "; SameSite=Strict") != NULL, "%s", sc);
    cr_assert(strstr(sc, "; Path=/") != NULL, "%s", sc);
    cr_assert(strstr(sc, "Secure") == NULL, "plain HTTP: no Secure: %s", sc);
    dc_resp_fini(&r);
    /* Over TLS (a terminating proxy says so), the cookie is Secure. */
    cr_assert(dc_call(f.admin_port, "GET", target, "X-Forwarded-Proto: https\r\n", NULL, &r));
    cr_assert_eq(r.status, 303);
    cr_assert(strstr(dc_header(r.head, "Set-Cookie"), "; Secure") != NULL, "%s", r.head);
    dc_resp_fini(&r);
    /* POST with a form body works as well; a wrong token sets no cookie. */
    cr_assert(dc_call(f.admin_port, "POST", "/dashboard/login",
                        "Content-Type: application/x-www-form-urlencoded\r\n",
                        "token=" SFX_TOKEN, &r));
    cr_assert_eq(r.status, 303, "%s", r.body);
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/login?token=integration-tokem", NULL,
                        NULL, &r));
    expect_error(&r, 401, "unauthorized");
    cr_assert_null(dc_header(r.head, "Set-Cookie"));
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "POST", "/dashboard/login", NULL, "{\"token\":\"nope\"}", &r));
    expect_error(&r, 401, "unauthorized");
    cr_assert_null(dc_header(r.head, "Set-Cookie"));
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/login", NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    free(target);
    sfx_stop(&f);
}

Test(dashboard_http, one_time_token_works_once, .init = start, .timeout = 60)
{
    cresp_t cr;
    json_t *j;
    char *token, *target;
    dc_resp_t r;

    cr_assert(sfx_admin(&f, "POST", "/v1/dashboard/login-token", NULL, &cr));
    cr_assert_eq(cr.status, 200, "%s", cr.body);
    j = json_loads(cr.body, 0, NULL);
    token = bg_strdup(json_string_value(json_object_get(j, "token")));
    cr_assert_eq(strlen(token), BG_DASH_TOKEN_HEX);
    target = bg_asprintf("/dashboard/login?token=%s", token);
    cr_assert_str_eq(json_string_value(json_object_get(j, "path")), target);
    json_decref(j);
    cresp_fini(&cr);

    cr_assert(dc_call(f.admin_port, "GET", target, NULL, NULL, &r));
    cr_assert_eq(r.status, 303, "%s", r.body);
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", target, NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    /* Without credentials no login token is made. */
    cr_assert(dc_call(f.admin_port, "POST", "/v1/dashboard/login-token", NULL, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    free(target);
    free(token);
    sfx_stop(&f);
}

Test(dashboard_http, session_reads_and_changes_only_with_csrf, .init = start, .timeout = 90)
{
    char *cookie = login(SFX_TOKEN), *csrf = csrf_of(cookie), *hdrs;
    dc_resp_t r;

    cr_assert(dc_call(f.admin_port, "GET", "/v1/services", cookie, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(r.body, "\"orders\"") != NULL);
    expect_security_headers(&r);
    dc_resp_fini(&r);
    /* A change by cookie alone, or with a wrong CSRF token, is refused and changes nothing. */
    cr_assert(dc_call(f.admin_port, "PUT", "/v1/services/orders/traffic", cookie,
                        "{\"blue\":0,\"green\":100}", &r));
    expect_error(&r, 403, "forbidden");
    dc_resp_fini(&r);
    hdrs = bg_asprintf("%sX-CSRF-Token: %.63s0\r\n", cookie, csrf[63] == '0' ? "1" : csrf);
    cr_assert(dc_call(f.admin_port, "PUT", "/v1/services/orders/traffic", hdrs,
                        "{\"blue\":0,\"green\":100}", &r));
    expect_error(&r, 403, "forbidden");
    dc_resp_fini(&r);
    free(hdrs);
    cr_assert_eq(green_weight(), 0);
    /* With it, the change is made. */
    hdrs = bg_asprintf("%sX-CSRF-Token: %s\r\n", cookie, csrf);
    cr_assert(dc_call(f.admin_port, "PUT", "/v1/services/orders/traffic", hdrs,
                        "{\"blue\":0,\"green\":100}", &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    dc_resp_fini(&r);
    cr_assert_eq(green_weight(), 100);
    /* Logout needs the CSRF token too, then the cookie is worthless. */
    cr_assert(dc_call(f.admin_port, "POST", "/dashboard/logout", cookie, NULL, &r));
    expect_error(&r, 403, "forbidden");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "POST", "/dashboard/logout", hdrs, NULL, &r));
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(strstr(dc_header(r.head, "Set-Cookie"), "Max-Age=0") != NULL, "%s", r.head);
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/v1/services", cookie, NULL, &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "PUT", "/v1/services/orders/traffic", hdrs,
                        "{\"blue\":100,\"green\":0}", &r));
    expect_error(&r, 401, "unauthorized");
    dc_resp_fini(&r);
    cr_assert_eq(green_weight(), 100);
    free(hdrs);
    free(csrf);
    free(cookie);
    sfx_stop(&f);
}

/* The source file <rel> under src/dashboard/assets/ (owned), or NULL. */
static char *read_source(const char *rel, size_t *len)
{
    char *path = bg_asprintf("src/dashboard/assets/%s", rel);
    FILE *fp = fopen(path, "rb");
    bg_buf_t b;
    char buf[8192];
    size_t n;

    free(path);
    if (fp == NULL)
        return NULL;
    bg_buf_init(&b);
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        bg_buf_append(&b, buf, n);
    fclose(fp);
    *len = b.len;
    bg_buf_append(&b, "", 1);
    return bg_buf_steal(&b);
}

Test(dashboard_http, every_asset_is_served_as_in_the_tree, .init = start, .timeout = 120)
{
    char *cookie = login(SFX_TOKEN);
    dc_resp_t r;

    cr_assert_gt(bg_dash_asset_count(), 0);
    cr_assert_not_null(bg_dash_asset_find("index.html"), "index.html is not embedded");
    for (size_t i = 0; i < bg_dash_asset_count(); i++) {
        const bg_dash_asset_t *a = bg_dash_asset_at(i);
        char *target = bg_asprintf("/dashboard/%s", a->path), *inm;
        size_t src_len = 0;
        char *src = read_source(a->path, &src_len);
        char etag[128];

        cr_assert_not_null(src, "embedded %s is not in src/dashboard/assets/", a->path);
        cr_assert(dc_call(f.admin_port, "GET", target, cookie, NULL, &r));
        cr_assert_eq(r.status, 200, "%s: %d %s", a->path, r.status, r.body);
        cr_assert_eq(r.body_len, src_len, "%s: %zu bytes served, %zu in the tree", a->path,
                     r.body_len, src_len);
        cr_assert(memcmp(r.body, src, src_len) == 0, "%s differs from the tree", a->path);
        cr_assert_str_eq(dc_header(r.head, "Content-Type"), bg_dash_content_type(a->path));
        cr_assert_str_eq(dc_header(r.head, "Cache-Control"), "no-cache, private");
        snprintf(etag, sizeof(etag), "%s", dc_header(r.head, "ETag"));
        cr_assert_str_eq(etag, a->etag);
        expect_security_headers(&r);
        dc_resp_fini(&r);
        /* Revalidation: the same ETag answers 304 with no body. */
        inm = bg_asprintf("%sIf-None-Match: %s\r\n", cookie, etag);
        cr_assert(dc_call(f.admin_port, "GET", target, inm, NULL, &r));
        cr_assert_eq(r.status, 304, "%s: %d", a->path, r.status);
        cr_assert_eq(r.body_len, 0);
        dc_resp_fini(&r);
        free(inm);
        free(src);
        free(target);
    }
    /* index.html at the root and for client-side routes; 404 for a missing file. */
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/", cookie, NULL, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(dc_header(r.head, "Content-Type"), "text/html; charset=utf-8");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/services/orders", cookie, NULL, &r));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(dc_header(r.head, "ETag"), bg_dash_asset_find("index.html")->etag);
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/missing.js", cookie, NULL, &r));
    expect_error(&r, 404, "not_found");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/../v1/services", cookie, NULL, &r));
    cr_assert_neq(r.status, 200);
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "DELETE", "/dashboard/index.html", cookie, NULL, &r));
    expect_error(&r, 405, "method_not_allowed");
    dc_resp_fini(&r);
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard", cookie, NULL, &r));
    cr_assert_eq(r.status, 301);
    cr_assert_str_eq(dc_header(r.head, "Location"), "/dashboard/");
    dc_resp_fini(&r);
    /* The bearer token opens the pages too (curl, scripts). */
    cr_assert(dc_call(f.admin_port, "GET", "/dashboard/", "Authorization: Bearer " SFX_TOKEN "\r\n",
                        NULL, &r));
    cr_assert_eq(r.status, 200);
    dc_resp_fini(&r);
    free(cookie);
    sfx_stop(&f);
}

Test(dashboard_http, unix_socket_serves_no_dashboard, .timeout = 60)
{
    cresp_t r;

    sfx_start(&f, NULL);
    cr_assert(sfx_admin(&f, "GET", "/dashboard/", NULL, &r));
    cr_assert_eq(r.status, 404, "%s", r.body);
    cr_assert(strstr(r.body, "bluegreen dashboard") != NULL, "%s", r.body);
    cresp_fini(&r);
    cr_assert(sfx_admin(&f, "POST", "/v1/dashboard/login-token", NULL, &r));
    cr_assert_eq(r.status, 404, "%s", r.body);
    cresp_fini(&r);
    sfx_stop(&f);
}
