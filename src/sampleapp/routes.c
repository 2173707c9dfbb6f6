/* sample-app endpoints: Spring Boot Actuator health (V3 JSON, 503 when DOWN or
 * OUT_OF_SERVICE), info, the runtime health toggle, /bytes/N, the WebSocket handshake, and
 * the app JSON for every other path (where --error-rate, --latency and --call apply).
 */
#include "sampleapp/internal.h"

#include <strings.h>

#define JSON "application/json"
#define ACTUATOR_V3 "application/vnd.spring-boot.actuator.v3+json"
#define BYTES_MAX (1ULL << 40)

/* Spring's Status.DEFAULT_ORDER: the first of these among the components wins. */
static const char *const severity[] = {"DOWN", "OUT_OF_SERVICE", "UP"};

typedef struct component {
    const char *name;
    const char *status;
    const char *details; /* JSON object or NULL */
} component_t;

void sa_json_str(bg_buf_t *b, const char *s, size_t len)
{
    bg_buf_append(b, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            char esc[2] = {'\\', (char)ch};
            bg_buf_append(b, esc, 2);
        } else if (ch < 0x20) {
            bg_buf_printf(b, "\\u%04x", ch);
        } else {
            bg_buf_append(b, &s[i], 1);
        }
    }
    bg_buf_append(b, "\"", 1);
}

/* "service","version","slot","pid" members, shared by every app answer. */
static void put_ident(bg_buf_t *b, const sa_app_t *app)
{
    bg_buf_puts(b, "\"service\":");
    sa_json_str(b, app->opts.service, strlen(app->opts.service));
    bg_buf_puts(b, ",\"version\":");
    sa_json_str(b, app->opts.version, strlen(app->opts.version));
    bg_buf_puts(b, ",\"slot\":");
    sa_json_str(b, app->opts.slot, strlen(app->opts.slot));
    bg_buf_printf(b, ",\"pid\":%d", app->pid);
}

static void respond_buf(sa_conn_t *c, int status, const char *ctype, bg_buf_t *b)
{
    sa_conn_respond(c, status, ctype, b->data, b->len);
    bg_buf_fini(b);
}

static void respond_error(sa_conn_t *c, int status, const char *msg)
{
    bg_buf_t b;
    bg_buf_init(&b);
    bg_buf_puts(&b, "{\"error\":");
    sa_json_str(&b, msg, strlen(msg));
    bg_buf_puts(&b, ",");
    put_ident(&b, c->app);
    bg_buf_puts(&b, "}");
    respond_buf(c, status, JSON, &b);
}

static bg_str_t url_path(const sa_conn_t *c)
{
    const char *u = c->url.len ? c->url.data : "/";
    return (bg_str_t){u, strcspn(u, "?#")};
}

static bool path_is(bg_str_t p, const char *s)
{
    return bg_str_eq(p, bg_str(s));
}

/* ---- actuator ---- */

/* Content negotiation as Spring does it: V3 by default and for * / *, plain JSON when the
 * client asks only for application/json. */
static const char *actuator_type(const sa_conn_t *c)
{
    const char *a = c->accept;
    if (a[0] == '\0' || strstr(a, "actuator.v3+json") || strstr(a, "*/*"))
        return ACTUATOR_V3;
    return strstr(a, "application/json") ? JSON : ACTUATOR_V3;
}

static void respond_health(sa_conn_t *c, const component_t *comps, size_t n, bool groups)
{
    /* Spring's SimpleStatusAggregator: the most severe component status wins. */
    size_t best = BG_ARRAY_LEN(severity);
    for (size_t i = 0; i < n; i++)
        for (size_t s = 0; s < best; s++)
            if (strcmp(comps[i].status, severity[s]) == 0)
                best = s;
    const char *status = best < BG_ARRAY_LEN(severity) ? severity[best] : "UNKNOWN";
    bg_buf_t b;
    bg_buf_init(&b);
    bg_buf_printf(&b, "{\"status\":\"%s\",\"components\":{", status);
    for (size_t i = 0; i < n; i++) {
        bg_buf_printf(&b, "%s\"%s\":{\"status\":\"%s\"", i ? "," : "", comps[i].name,
                      comps[i].status);
        if (comps[i].details)
            bg_buf_printf(&b, ",\"details\":%s", comps[i].details);
        bg_buf_puts(&b, "}");
    }
    bg_buf_puts(&b, "}");
    if (groups)
        bg_buf_puts(&b, ",\"groups\":[\"liveness\",\"readiness\"]");
    bg_buf_puts(&b, "}");
    /* SimpleHttpCodeStatusMapper: DOWN and OUT_OF_SERVICE are 503, the rest 200. */
    bool bad = strcmp(status, "DOWN") == 0 || strcmp(status, "OUT_OF_SERVICE") == 0;
    respond_buf(c, bad ? 503 : 200, actuator_type(c), &b);
}

static void route_actuator(sa_conn_t *c, bg_str_t path)
{
    sa_app_t *app = c->app;
    const bool down = app->health_down;
    /* Graceful shutdown: live but refusing traffic ("drain me, do not restart me"). */
    const char *ready = app->stopping ? "OUT_OF_SERVICE" : "UP";
    component_t db = {"db", down ? "DOWN" : "UP",
                      down ? "{\"error\":\"health failure injected (--fail-health)\"}"
                           : "{\"database\":\"sample\",\"validationQuery\":\"isValid()\"}"};
    component_t live = {"livenessState", "UP", NULL};
    component_t ping = {"ping", "UP", NULL};
    component_t readiness = {"readinessState", ready, NULL};

    if (c->method != HTTP_GET && c->method != HTTP_HEAD) {
        respond_error(c, 405, "method not allowed");
    } else if (path_is(path, "/actuator/health")) {
        component_t all[] = {db, live, ping, readiness};
        respond_health(c, all, BG_ARRAY_LEN(all), true);
    } else if (path_is(path, "/actuator/health/readiness")) {
        component_t r[] = {db, readiness};
        respond_health(c, r, BG_ARRAY_LEN(r), false);
    } else if (path_is(path, "/actuator/health/liveness")) {
        respond_health(c, &live, 1, false);
    } else if (path_is(path, "/actuator/info")) {
        bg_buf_t b;
        bg_buf_init(&b);
        bg_buf_puts(&b, "{\"build\":{\"name\":");
        sa_json_str(&b, app->opts.service, strlen(app->opts.service));
        bg_buf_puts(&b, ",\"version\":");
        sa_json_str(&b, app->opts.version, strlen(app->opts.version));
        bg_buf_puts(&b, "},");
        put_ident(&b, app);
        bg_buf_puts(&b, "}");
        respond_buf(c, 200, actuator_type(c), &b);
    } else {
        respond_error(c, 404, "no such actuator endpoint");
    }
}

/* ---- admin toggle, bytes, websocket ---- */

static void route_admin(sa_conn_t *c, bool fail)
{
    if (c->method != HTTP_POST) {
        respond_error(c, 405, "use POST");
        return;
    }
    if (c->app->health_down != fail)
        bg_log(BG_LOG_INFO, "sampleapp", "health=%s reason=admin", fail ? "DOWN" : "UP");
    c->app->health_down = fail;
    const char *body = fail ? "{\"health\":\"DOWN\"}" : "{\"health\":\"UP\"}";
    sa_conn_respond(c, 200, JSON, body, strlen(body));
}

static void route_bytes(sa_conn_t *c, bg_str_t path)
{
    bg_str_t n = {path.ptr + 7, path.len - 7};
    uint64_t len = 0;
    if (c->method != HTTP_GET && c->method != HTTP_HEAD)
        respond_error(c, 405, "method not allowed");
    else if (!bg_str_to_u64(n, BYTES_MAX, &len))
        respond_error(c, 400, "expected /bytes/N with N a byte count");
    else if (len == 0)
        sa_conn_respond(c, 200, "application/octet-stream", "", 0);
    else
        sa_conn_respond_bytes(c, len);
}

bool sa_route_upgrade(sa_conn_t *c)
{
    char accept[64];
    if (!path_is(url_path(c), "/ws") || c->method != HTTP_GET ||
        strcasecmp(c->ws_upgrade, "websocket") != 0 || c->ws_key[0] == '\0')
        return false;
    sa_ws_accept(c->ws_key, accept, sizeof(accept));
    char *resp = bg_asprintf("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                             accept);
    sa_conn_write_raw(c, resp, strlen(resp));
    free(resp);
    /* From here on the bytes are the client's: echo them (RFC 6455 framing is not ours). */
    c->tunnel = true;
    c->busy = false;
    c->in_request = false;
    return true;
}

/* ---- the app endpoint ---- */

void sa_route_app_finish(sa_conn_t *c)
{
    sa_app_t *app = c->app;
    bg_str_t path = url_path(c);
    bg_buf_t b;
    int status = 200;
    bg_buf_init(&b);
    bg_buf_puts(&b, "{");
    if (c->app_error) {
        status = 500;
        bg_buf_puts(&b, "\"error\":\"error injected (--error-rate)\",");
    } else if (c->call_failed_url) {
        status = 502;
        bg_buf_puts(&b, "\"error\":\"dependency call failed\",\"dependency\":");
        sa_json_str(&b, c->call_failed_url, strlen(c->call_failed_url));
        if (c->call_status > 0)
            bg_buf_printf(&b, ",\"dependency_status\":%d,", c->call_status);
        else
            bg_buf_printf(&b, ",\"dependency_error\":\"%s\",", uv_err_name(c->call_status));
    }
    put_ident(&b, app);
    bg_buf_puts(&b, ",\"method\":");
    const char *m = llhttp_method_name((llhttp_method_t)c->method);
    sa_json_str(&b, m, strlen(m));
    bg_buf_puts(&b, ",\"path\":");
    sa_json_str(&b, path.ptr, path.len);
    if (c->method == HTTP_POST || c->method == HTTP_PUT || c->method == HTTP_PATCH)
        bg_buf_printf(&b, ",\"received_bytes\":%llu", (unsigned long long)c->received_bytes);
    if (status == 200 && app->opts.ndeps > 0)
        bg_buf_printf(&b, ",\"calls\":%zu", app->opts.ndeps);
    bg_buf_puts(&b, "}");
    respond_buf(c, status, JSON, &b);
}

static void after_latency(sa_conn_t *c)
{
    if (!c->app_error && c->app->opts.ndeps > 0)
        sa_call_start_all(c);
    else
        sa_route_app_finish(c);
}

static void on_latency(uv_timer_t *t)
{
    after_latency(t->data);
}

static void route_app(sa_conn_t *c)
{
    sa_app_t *app = c->app;
    /* An accumulator instead of a coin: exactly that share fails, in every window. */
    if (app->opts.error_rate > 0) {
        app->error_acc += app->opts.error_rate;
        if (app->error_acc >= 1.0 - 1e-9) {
            app->error_acc -= 1.0;
            c->app_error = true;
        }
    }
    if (app->opts.latency_ms > 0)
        uv_timer_start(&c->timer, on_latency, app->opts.latency_ms, 0);
    else
        after_latency(c);
}

void sa_route(sa_conn_t *c)
{
    bg_str_t path = url_path(c);
    if (path.len >= 9 && memcmp(path.ptr, "/actuator", 9) == 0)
        route_actuator(c, path);
    else if (path_is(path, "/admin/fail-health"))
        route_admin(c, true);
    else if (path_is(path, "/admin/recover"))
        route_admin(c, false);
    else if (path.len > 7 && memcmp(path.ptr, "/bytes/", 7) == 0)
        route_bytes(c, path);
    else if (path_is(path, "/ws"))
        respond_error(c, 426, "expected a WebSocket upgrade");
    else
        route_app(c);
}
