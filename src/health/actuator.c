/* Spring Boot Actuator verdicts (docs/design.md §4, tests/data/actuator/README.md "Rules a
 * health checker must follow"): healthy <=> HTTP 2xx and top-level "status" exactly "UP".
 * Only the top-level status decides; components are read only to name the failing ones in
 * the reason ("db: DOWN", nested "broker/us1: DOWN"), never to recompute the status
 * (groups may exclude components: case 05). Pure function, no I/O.
 */
#include "health/health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "base/base.h"
#include "health/internal.h"
#include "base/compat.h"

/* Components nest to any depth; past this we stop naming them (the verdict is unaffected). */
#define ACTUATOR_MAX_DEPTH 16

/* A reason being built into a fixed buffer; silently truncated. */
typedef struct reason_buf {
    char *out;
    size_t size, len;
    unsigned n_items;
} reason_buf_t;

static void reason_add(reason_buf_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void reason_add(reason_buf_t *r, const char *fmt, ...)
{
    if (r->size == 0 || r->len + 1 >= r->size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(r->out + r->len, r->size - r->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    r->len += (size_t)n;
    if (r->len >= r->size)
        r->len = r->size - 1;
}

static const char *status_of(json_t *node)
{
    json_t *st = json_is_object(node) ? json_object_get(node, "status") : NULL;
    return json_is_string(st) ? json_string_value(st) : NULL;
}

/* The child components of <node>: V3 "components"; V2 puts them under "details", where
 * only object entries carrying a "status" string are components (the rest are details
 * such as "database": "H2"). */
static json_t *children_of(json_t *node, bool *v2)
{
    json_t *c = json_object_get(node, "components");
    *v2 = false;
    if (json_is_object(c))
        return c;
    c = json_object_get(node, "details");
    *v2 = true;
    return json_is_object(c) ? c : NULL;
}

static bool is_component(json_t *v)
{
    return status_of(v) != NULL;
}

/* Appends "<prefix>/<name>: <STATUS>" for every failing leaf under <node>. A failing
 * component whose children are all UP (or that has none) is named itself. Returns the
 * number of failing entries named below <node>. */
static unsigned name_failing(json_t *node, const char *prefix, int depth, reason_buf_t *r)
{
    bool v2;
    json_t *kids = children_of(node, &v2);
    if (!kids || depth >= ACTUATOR_MAX_DEPTH)
        return 0;
    unsigned named = 0;
    const char *key;
    json_t *val;
    json_object_foreach(kids, key, val)
    {
        if (!is_component(val))
            continue;
        char path[192];
        if (snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", key) >=
            (int)sizeof(path))
            path[sizeof(path) - 2] = '~'; /* a cut name says it was cut */
        const char *st = status_of(val);
        unsigned below = name_failing(val, path, depth + 1, r);
        named += below;
        if (below == 0 && strcmp(st, "UP") != 0) {
            reason_add(r, "%s%s: %s", r->n_items++ ? ", " : "", path, st);
            named++;
        }
    }
    return named;
}

static bool http_2xx(int status)
{
    return status >= 200 && status <= 299;
}

bg_actuator_verdict_t bg_actuator_judge(int http_status, const char *body, size_t len, char *reason,
                                        size_t reason_size)
{
    reason_buf_t r = {reason, reason_size, 0, 0};
    bg_actuator_verdict_t v = BG_ACTUATOR_INVALID;
    json_t *root = NULL;
    json_error_t jerr;

    if (reason_size > 0)
        reason[0] = '\0';
    if (len == 0) {
        reason_add(&r, "HTTP %d, empty body (not Actuator JSON)", http_status);
        goto out;
    }
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *st = status_of(root);
    if (!st) {
        reason_add(&r, "HTTP %d, not Actuator JSON (%s)", http_status,
                   root ? "no top-level \"status\"" : jerr.text);
        goto out;
    }
    /* Status codes are compared exactly: Spring always emits upper case, so "up" comes
     * from something that is not Actuator and is not trusted. */
    if (strcmp(st, "UP") == 0 && http_2xx(http_status)) {
        v = BG_ACTUATOR_HEALTHY;
        reason_add(&r, "UP");
        goto out;
    }
    v = BG_ACTUATOR_UNHEALTHY;
    reason_add(&r, "%s", st);
    if (strcmp(st, "UP") == 0)
        reason_add(&r, " but HTTP %d", http_status);
    else if (!http_2xx(http_status) && http_status != 503)
        reason_add(&r, ", HTTP %d", http_status);
    size_t mark = r.len;
    reason_add(&r, " (");
    if (name_failing(root, "", 0, &r) > 0) {
        reason_add(&r, ")");
    } else if (r.size > 0) {
        r.len = mark; /* no component to name: drop the " (" */
        r.out[mark] = '\0';
    }
out:
    json_decref(root);
    return v;
}

bool bg_actuator_content_type_ok(const char *ct)
{
    static const char *const types[] = {
        "application/json",
        "application/vnd.spring-boot.actuator.v3+json",
        "application/vnd.spring-boot.actuator.v2+json",
    };
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < BG_ARRAY_LEN(types); i++) {
        if (strlen(types[i]) == n && strncasecmp(ct, types[i], n) == 0)
            return true;
    }
    return false;
}

bool bg_matcher_match(const bg_status_range_t *ranges, size_t n, int status)
{
    if (n == 0)
        return status >= 200 && status <= 399;
    for (size_t i = 0; i < n; i++) {
        if (status >= ranges[i].lo && status <= ranges[i].hi)
            return true;
    }
    return false;
}
