/* Walking a libyaml document: positions, key paths, strict mappings and typed scalars.
 * load.c stamps a start mark on every node, so every error can point at the exact value
 * (or key) that is wrong. libyaml marks are 0-based; we print 1-based.
 * Nothing here logs or keeps state beyond the cfg_ctx_t it is given.
 */
#include "config/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "base/compat.h"

#define DESCRIBE_MAX 96

void cfg_ctx_init(cfg_ctx_t *ctx, yaml_document_t *doc, const char *file, bg_err_t *err)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->doc = doc;
    ctx->file = file;
    ctx->err = err;
}

yaml_node_t *cfg_node(cfg_ctx_t *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

static int fail_va(cfg_ctx_t *ctx, const yaml_node_t *node, unsigned extra_cols, const char *fmt,
                   va_list ap)
{
    char msg[BG_ERR_MSG_MAX];
    unsigned line = 1, col = 1;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (node != NULL) {
        line = (unsigned)node->start_mark.line + 1;
        col = (unsigned)node->start_mark.column + 1;
    }
    return bg_err_set_at(ctx->err, BG_EINVAL, ctx->file, line, col + extra_cols,
                         ctx->path_len > 0 ? ctx->path : NULL, "%s", msg);
}

int cfg_fail(cfg_ctx_t *ctx, const yaml_node_t *node, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fail_va(ctx, node, 0, fmt, ap);
    va_end(ap);
    return rc;
}

int cfg_fail_col(cfg_ctx_t *ctx, const yaml_node_t *node, unsigned extra_cols, const char *fmt, ...)
{
    va_list ap;
    int rc;

    va_start(ap, fmt);
    rc = fail_va(ctx, node, extra_cols, fmt, ap);
    va_end(ap);
    return rc;
}

size_t cfg_path_push_key(cfg_ctx_t *ctx, const char *key)
{
    size_t saved = ctx->path_len;
    int n =
        snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "%s%s", saved > 0 ? "." : "", key);

    if (n > 0)
        ctx->path_len = strnlen(ctx->path, sizeof(ctx->path) - 1);
    return saved;
}

size_t cfg_path_push_index(cfg_ctx_t *ctx, size_t i)
{
    size_t saved = ctx->path_len;
    int n = snprintf(ctx->path + saved, sizeof(ctx->path) - saved, "[%zu]", i);

    if (n > 0)
        ctx->path_len = strnlen(ctx->path, sizeof(ctx->path) - 1);
    return saved;
}

void cfg_path_pop(cfg_ctx_t *ctx, size_t saved)
{
    ctx->path_len = saved;
    ctx->path[saved] = '\0';
}

bool cfg_is_null(const yaml_node_t *node)
{
    const char *v;

    if (node == NULL)
        return true;
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = (const char *)node->data.scalar.value;
    return v == NULL || v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

const char *cfg_describe(const yaml_node_t *node, char *buf, size_t size)
{
    if (cfg_is_null(node))
        snprintf(buf, size, "nothing");
    else if (node->type == YAML_MAPPING_NODE)
        snprintf(buf, size, cfg_map_size(node) ? "a mapping" : "an empty mapping");
    else if (node->type == YAML_SEQUENCE_NODE)
        snprintf(buf, size,
                 node->data.sequence.items.top > node->data.sequence.items.start ? "a list"
                                                                                 : "an empty list");
    else if (node->data.scalar.length > 60)
        snprintf(buf, size, "\"%.57s...\"", (const char *)node->data.scalar.value);
    else
        snprintf(buf, size, "\"%s\"", (const char *)node->data.scalar.value);
    return buf;
}

static const char *key_of(const yaml_node_t *k)
{
    return k != NULL && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
}

/* Checks that <node> is a mapping of unique scalar keys; an error names the offender. */
static int check_map(cfg_ctx_t *ctx, yaml_node_t *node)
{
    char got[DESCRIBE_MAX];

    if (node->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, node, "expected a mapping, got %s",
                        cfg_describe(node, got, sizeof(got)));
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        const char *key = key_of(k);

        if (key == NULL)
            return cfg_fail(ctx, k, "expected a plain key, got %s",
                            cfg_describe(k, got, sizeof(got)));
        for (yaml_node_pair_t *q = node->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *k0 = cfg_node(ctx, q->key);
            if (strcmp(key_of(k0), key) == 0) {
                size_t saved = cfg_path_push_key(ctx, key);
                int rc = cfg_fail(ctx, k, "duplicate key \"%s\" (first at line %u, column %u)", key,
                                  (unsigned)k0->start_mark.line + 1,
                                  (unsigned)k0->start_mark.column + 1);
                cfg_path_pop(ctx, saved);
                return rc;
            }
        }
    }
    return 0;
}

static int unknown_key(cfg_ctx_t *ctx, yaml_node_t *k, const cfg_field_t *fields, size_t n_fields)
{
    char valid[BG_ERR_MSG_MAX / 2];
    size_t off = 0;
    size_t saved;
    int rc;

    valid[0] = '\0';
    for (size_t i = 0; i < n_fields && off < sizeof(valid); i++)
        off += (size_t)snprintf(valid + off, sizeof(valid) - off, "%s%s", i ? ", " : "",
                                fields[i].key);
    saved = cfg_path_push_key(ctx, key_of(k));
    rc = cfg_fail(ctx, k, "unknown key \"%s\"; valid keys: %s", key_of(k), valid);
    cfg_path_pop(ctx, saved);
    return rc;
}

int cfg_walk(cfg_ctx_t *ctx, yaml_node_t *node, const cfg_field_t *fields, size_t n_fields,
             void *obj, uint64_t *seen)
{
    int rc;

    if (seen != NULL)
        *seen = 0;
    if (cfg_is_null(node))
        return 0;
    rc = check_map(ctx, node);
    if (rc != 0)
        return rc;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        const char *key = key_of(k);
        size_t i, saved;

        for (i = 0; i < n_fields; i++)
            if (strcmp(fields[i].key, key) == 0)
                break;
        if (i == n_fields)
            return unknown_key(ctx, k, fields, n_fields);
        if (seen != NULL && i < 64)
            *seen |= UINT64_C(1) << i;
        saved = cfg_path_push_key(ctx, key);
        rc = fields[i].fn(ctx, cfg_node(ctx, p->value), (char *)obj + fields[i].offset);
        if (rc != 0)
            return rc;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

int cfg_each(cfg_ctx_t *ctx, yaml_node_t *node, cfg_entry_fn fn, void *obj)
{
    int rc;

    if (cfg_is_null(node))
        return 0;
    rc = check_map(ctx, node);
    if (rc != 0)
        return rc;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = cfg_node(ctx, p->key);
        size_t saved = cfg_path_push_key(ctx, key_of(k));

        rc = fn(ctx, key_of(k), k, cfg_node(ctx, p->value), obj);
        if (rc != 0)
            return rc;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

yaml_node_t *cfg_find(cfg_ctx_t *ctx, yaml_node_t *node, const char *key)
{
    if (node == NULL || node->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        const char *k = key_of(cfg_node(ctx, p->key));
        if (k != NULL && strcmp(k, key) == 0)
            return cfg_node(ctx, p->value);
    }
    return NULL;
}

size_t cfg_map_size(const yaml_node_t *node)
{
    if (node == NULL || node->type != YAML_MAPPING_NODE)
        return 0;
    return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
}

static bool var_char(char c, bool first)
{
    return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (!first && c >= '0' && c <= '9');
}

int cfg_subst(cfg_ctx_t *ctx, const yaml_node_t *node, const char *in, char **out)
{
    bg_buf_t b;
    const char *p = in;
    int rc = 0;

    bg_buf_init(&b);
    bg_buf_append(&b, "", 0);
    while (*p != '\0') {
        const char *end, *val;
        char *name;

        if (p[0] == '$' && p[1] == '$' && p[2] == '{') {
            bg_buf_append(&b, "${", 2);
            p += 3;
            continue;
        }
        if (!(p[0] == '$' && p[1] == '{')) {
            bg_buf_append(&b, p++, 1);
            continue;
        }
        for (end = p + 2; var_char(*end, end == p + 2); end++)
            ;
        if (*end != '}' || end == p + 2) {
            rc = cfg_fail(ctx, node,
                          "bad variable reference in \"%s\": expected ${NAME} with NAME of "
                          "letters, digits and _ (write $${ for a literal ${)",
                          in);
            goto out;
        }
        name = bg_strndup(p + 2, (size_t)(end - p - 2));
        val = getenv(name);
        if (val == NULL) {
            rc = cfg_fail(ctx, node, "environment variable %s is not set (used as ${%s})", name,
                          name);
            free(name);
            goto out;
        }
        free(name);
        bg_buf_puts(&b, val);
        p = end + 1;
    }
    *out = bg_buf_steal(&b);
out:
    bg_buf_fini(&b);
    return rc;
}

int cfg_str(cfg_ctx_t *ctx, yaml_node_t *node, const char *what, char **out)
{
    char got[DESCRIBE_MAX];

    if (node->type != YAML_SCALAR_NODE || cfg_is_null(node))
        return cfg_fail(ctx, node, "expected %s, got %s", what,
                        cfg_describe(node, got, sizeof(got)));
    return cfg_subst(ctx, node, (const char *)node->data.scalar.value, out);
}

int cfg_set_str(cfg_ctx_t *ctx, yaml_node_t *node, const char *what, char **out)
{
    char *s = NULL;
    int rc = cfg_str(ctx, node, what, &s);

    if (rc != 0)
        return rc;
    BG_ASSERT(s != NULL); /* cfg_str() sets it when it returns 0 */
    if (s[0] == '\0') {
        free(s);
        return cfg_fail(ctx, node, "expected %s, got an empty string", what);
    }
    free(*out);
    *out = s;
    return 0;
}

/* Reads a scalar, runs <parse> on it and reports "expected <what>, got ..." on failure. */
static int typed(cfg_ctx_t *ctx, yaml_node_t *node, const char *what,
                 bool (*parse)(const char *s, void *out), void *out)
{
    char *s = NULL;
    int rc = cfg_str(ctx, node, what, &s);

    BG_ASSERT(rc != 0 || s != NULL); /* cfg_str() sets it when it returns 0 */
    if (rc == 0 && !parse(s, out)) {
        char shown[DESCRIBE_MAX];
        snprintf(shown, sizeof(shown), "%s", s);
        rc = cfg_fail(ctx, node, "expected %s, got \"%s\"", what, shown);
    }
    free(s);
    return rc;
}

static bool parse_u64(const char *s, void *out)
{
    return bg_str_to_u64(bg_str(s), UINT64_MAX, out);
}

int cfg_u32(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t min, uint32_t max, uint32_t *out)
{
    char what[64];
    uint64_t v = 0;
    int rc;

    snprintf(what, sizeof(what), "a whole number from %u to %u", min, max);
    rc = typed(ctx, node, what, parse_u64, &v);
    if (rc != 0)
        return rc;
    if (v < min || v > max)
        return cfg_fail(ctx, node, "expected %s, got %llu", what, (unsigned long long)v);
    *out = (uint32_t)v;
    return 0;
}

static bool parse_bool(const char *s, void *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes", "on"};
    static const char *const no[] = {"false", "False", "FALSE", "no", "No", "off"};

    for (size_t i = 0; i < BG_ARRAY_LEN(yes); i++) {
        if (strcmp(s, yes[i]) == 0) {
            *(bool *)out = true;
            return true;
        }
        if (strcmp(s, no[i]) == 0) {
            *(bool *)out = false;
            return true;
        }
    }
    return false;
}

int cfg_bool(cfg_ctx_t *ctx, yaml_node_t *node, bool *out)
{
    return typed(ctx, node, "true or false", parse_bool, out);
}

static bool parse_duration(const char *s, void *out)
{
    return bg_duration_parse(s, out);
}

int cfg_duration(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t *ms)
{
    uint64_t v = 0;
    int rc = typed(ctx, node, "a duration like 500ms, 30s, 5m", parse_duration, &v);

    if (rc != 0)
        return rc;
    if (v > UINT32_MAX)
        return cfg_fail(ctx, node, "duration too long (at most 49 days)");
    *ms = (uint32_t)v;
    return 0;
}

static bool parse_percent(const char *s, void *out)
{
    return bg_percent_parse(s, out);
}

int cfg_percent(cfg_ctx_t *ctx, yaml_node_t *node, double *pct)
{
    return typed(ctx, node, "a percentage from 0% to 100% like 10%", parse_percent, pct);
}

int cfg_percent_u32(cfg_ctx_t *ctx, yaml_node_t *node, uint32_t min, uint32_t max, uint32_t *out)
{
    double v = 0;
    int rc = cfg_percent(ctx, node, &v);

    if (rc != 0)
        return rc;
    if (v != (double)(uint32_t)v || v < min || v > max)
        return cfg_fail(ctx, node, "expected a whole percentage from %u%% to %u%%, got %g%%", min,
                        max, v);
    *out = (uint32_t)v;
    return 0;
}

static bool parse_size(const char *s, void *out)
{
    return bg_size_parse(s, out);
}

int cfg_size(cfg_ctx_t *ctx, yaml_node_t *node, uint64_t *bytes)
{
    return typed(ctx, node, "a size like 512, 16k, 1MiB", parse_size, bytes);
}

int cfg_str_list(cfg_ctx_t *ctx, yaml_node_t *node, bool one_ok, char ***out, size_t *n)
{
    char got[DESCRIBE_MAX];
    size_t cap;

    if (one_ok && node->type == YAML_SCALAR_NODE && !cfg_is_null(node)) {
        *out = bg_xcalloc(1, sizeof(char *));
        *n = 1;
        return cfg_set_str(ctx, node, "a non-empty string", &(*out)[0]);
    }
    if (cfg_is_null(node))
        return 0;
    if (node->type != YAML_SEQUENCE_NODE)
        return cfg_fail(ctx, node, "expected a list of strings, got %s",
                        cfg_describe(node, got, sizeof(got)));
    cap = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    *out = bg_xcalloc(cap + 1, sizeof(char *));
    for (size_t i = 0; i < cap; i++) {
        size_t saved = cfg_path_push_index(ctx, i);
        int rc = cfg_set_str(ctx, cfg_node(ctx, node->data.sequence.items.start[i]),
                             "a non-empty string", &(*out)[i]);
        if (rc != 0)
            return rc;
        (*n)++;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

typedef struct kv_acc {
    bg_kv_t **kv;
    size_t *n;
} kv_acc_t;

static int kv_entry(cfg_ctx_t *ctx, const char *key, yaml_node_t *key_node, yaml_node_t *val,
                    void *obj)
{
    kv_acc_t *acc = obj;
    bg_kv_t *kv;

    for (size_t i = 0; i < *acc->n; i++)
        if (strcmp((*acc->kv)[i].key, key) == 0)
            return cfg_fail(ctx, key_node, "\"%s\" is set twice", key);
    if (key[0] == '\0')
        return cfg_fail(ctx, key_node, "expected a non-empty name");
    *acc->kv = bg_xrealloc(*acc->kv, (*acc->n + 1) * sizeof(bg_kv_t));
    kv = &(*acc->kv)[*acc->n];
    kv->key = bg_strdup(key);
    kv->value = NULL;
    (*acc->n)++;
    return cfg_str(ctx, val, "a string value", &kv->value);
}

int cfg_kv_map(cfg_ctx_t *ctx, yaml_node_t *node, bg_kv_t **out, size_t *n)
{
    kv_acc_t acc = {out, n};

    return cfg_each(ctx, node, kv_entry, &acc);
}
