/* Traffic strategies (docs/design.md §5) from YAML (`strategy:`) and from the CLI
 * (`--strategy canary:10%:5m`). Only the description is parsed here; deploy/ runs it.
 */
#include "config/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "base/compat.h"

#define STRATEGY_FORMS                                                                             \
    "all-at-once, {canary: {percent, wait}}, {linear: {percent, every}} or "                       \
    "{steps: [5, 25, {pause: true}, 100]}"

void bg_strategy_fini(bg_strategy_t *s)
{
    if (s == NULL)
        return;
    free(s->steps);
    memset(s, 0, sizeof(*s));
}

static int canary_percent(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_percent_u32(ctx, val, 1, 100, &((bg_strategy_t *)obj)->percent);
}

static int canary_wait(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_duration(ctx, val, &((bg_strategy_t *)obj)->wait_ms);
}

static int linear_every(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_duration(ctx, val, &((bg_strategy_t *)obj)->every_ms);
}

static const cfg_field_t canary_fields[] = {{"percent", canary_percent, 0},
                                            {"wait", canary_wait, 0}};
static const cfg_field_t linear_fields[] = {{"percent", canary_percent, 0},
                                            {"every", linear_every, 0}};

/* Both keys of canary/linear are required: a canary without a wait would go straight on
 * to 100%, which is all-at-once under another name. */
static int kind_body(cfg_ctx_t *ctx, yaml_node_t *val, bg_strategy_t *s, const cfg_field_t *fields,
                     const char *example)
{
    uint64_t seen = 0;
    int rc;

    if (cfg_is_null(val) || val->type != YAML_MAPPING_NODE) {
        char got[96];
        return cfg_fail(ctx, val, "expected a mapping like %s, got %s", example,
                        cfg_describe(val, got, sizeof(got)));
    }
    rc = cfg_walk(ctx, val, fields, 2, s, &seen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < 2; i++)
        if (!(seen & (UINT64_C(1) << i)))
            return cfg_fail(ctx, val, "missing key \"%s\" (expected %s)", fields[i].key, example);
    return 0;
}

static int strategy_canary(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_strategy_t *s = obj;

    s->kind = BG_STRATEGY_CANARY;
    return kind_body(ctx, val, s, canary_fields, "{percent: 10, wait: 5m}");
}

static int strategy_linear(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_strategy_t *s = obj;

    s->kind = BG_STRATEGY_LINEAR;
    return kind_body(ctx, val, s, linear_fields, "{percent: 10, every: 1m}");
}

static int step_pause(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_strategy_step_t *st = obj;
    int rc = cfg_bool(ctx, val, &st->pause);

    if (rc == 0 && !st->pause)
        return cfg_fail(ctx, val, "expected pause: true (leave the step out otherwise)");
    return rc;
}

static int step_percent(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_percent_u32(ctx, val, 0, 100, &((bg_strategy_step_t *)obj)->percent);
}

static int step_wait(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_duration(ctx, val, &((bg_strategy_step_t *)obj)->wait_ms);
}

static const cfg_field_t step_fields[] = {
    {"percent", step_percent, 0}, {"wait", step_wait, 0}, {"pause", step_pause, 0}};

/* One item of steps: 25 | "25%" | {percent: 25, wait: 1m} | {pause: true}. */
static int strategy_step(cfg_ctx_t *ctx, yaml_node_t *item, bg_strategy_step_t *st)
{
    uint64_t seen = 0;
    int rc;

    if (item->type == YAML_SCALAR_NODE && !cfg_is_null(item))
        return cfg_percent_u32(ctx, item, 0, 100, &st->percent);
    if (item->type != YAML_MAPPING_NODE) {
        char got[96];
        return cfg_fail(ctx, item,
                        "expected a step: a percentage, {percent: 25, wait: 1m} or "
                        "{pause: true}, got %s",
                        cfg_describe(item, got, sizeof(got)));
    }
    rc = cfg_walk(ctx, item, step_fields, BG_ARRAY_LEN(step_fields), st, &seen);
    if (rc != 0)
        return rc;
    if (st->pause && (seen & 3))
        return cfg_fail(ctx, item, "a pause step takes no percent or wait");
    if (!st->pause && !(seen & 1))
        return cfg_fail(ctx, item, "a step needs percent (or pause: true)");
    return 0;
}

static int strategy_steps(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_strategy_t *s = obj;
    size_t n;
    char got[96];

    s->kind = BG_STRATEGY_STEPS;
    if (val->type != YAML_SEQUENCE_NODE ||
        val->data.sequence.items.top == val->data.sequence.items.start)
        return cfg_fail(ctx, val,
                        "expected a non-empty list like [5, 25, {pause: true}, 100], "
                        "got %s",
                        cfg_describe(val, got, sizeof(got)));
    n = (size_t)(val->data.sequence.items.top - val->data.sequence.items.start);
    s->steps = bg_xcalloc(n, sizeof(bg_strategy_step_t));
    for (size_t i = 0; i < n; i++) {
        size_t saved = cfg_path_push_index(ctx, i);
        int rc = strategy_step(ctx, cfg_node(ctx, val->data.sequence.items.start[i]), &s->steps[i]);
        if (rc != 0)
            return rc;
        s->n_steps++;
        cfg_path_pop(ctx, saved);
    }
    return 0;
}

static int strategy_all(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bool on = false;
    int rc = cfg_bool(ctx, val, &on);

    if (rc == 0 && !on)
        return cfg_fail(ctx, val, "expected all-at-once: true");
    ((bg_strategy_t *)obj)->kind = BG_STRATEGY_ALL_AT_ONCE;
    return rc;
}

static int strategy_sticky(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    return cfg_bool(ctx, val, &((bg_strategy_t *)obj)->sticky);
}

static const cfg_field_t strategy_fields[] = {
    {"canary", strategy_canary, 0},   {"linear", strategy_linear, 0}, {"steps", strategy_steps, 0},
    {"all-at-once", strategy_all, 0}, {"sticky", strategy_sticky, 0},
};

int cfg_strategy(cfg_ctx_t *ctx, yaml_node_t *val, void *obj)
{
    bg_strategy_t *s = obj;
    uint64_t seen = 0;
    char got[96];
    int rc, kinds = 0;

    bg_strategy_fini(s);
    if (val->type == YAML_SCALAR_NODE && !cfg_is_null(val)) {
        char *name = NULL;
        rc = cfg_str(ctx, val, "a strategy", &name);
        if (rc == 0 && strcmp(name, "all-at-once") != 0)
            rc = cfg_fail(ctx, val, "expected %s, got \"%s\"", STRATEGY_FORMS, name);
        free(name);
        return rc;
    }
    if (val->type != YAML_MAPPING_NODE)
        return cfg_fail(ctx, val, "expected %s, got %s", STRATEGY_FORMS,
                        cfg_describe(val, got, sizeof(got)));
    rc = cfg_walk(ctx, val, strategy_fields, BG_ARRAY_LEN(strategy_fields), s, &seen);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < 4; i++)
        kinds += (seen >> i) & 1;
    if (kinds > 1)
        return cfg_fail(ctx, val, "choose one of canary, linear, steps, all-at-once");
    return 0;
}

#define CLI_FORMS                                                                                  \
    "expected all-at-once, canary:PERCENT:WAIT (e.g. canary:10%%:5m) or "                          \
    "linear:PERCENT:EVERY (e.g. linear:10%%:1m)"

/* "10%:5m" -> percent (1..100, whole) and duration. */
static bool cli_pair(const char *rest, uint32_t *pct, uint32_t *ms)
{
    const char *colon = strchr(rest, ':');
    char p[32];
    double v;
    uint64_t d;
    size_t n;

    if (colon == NULL)
        return false;
    n = (size_t)(colon - rest);
    if (n == 0 || n >= sizeof(p))
        return false;
    memcpy(p, rest, n);
    p[n] = '\0';
    if (!bg_percent_parse(p, &v) || v < 1 || v != (double)(uint32_t)v)
        return false;
    if (!bg_duration_parse(colon + 1, &d) || d > UINT32_MAX)
        return false;
    *pct = (uint32_t)v;
    *ms = (uint32_t)d;
    return true;
}

int bg_strategy_parse_cli(const char *s, bg_strategy_t *out, bg_err_t *err)
{
    bg_strategy_t st = {0};

    bg_err_clear(err);
    if (strcmp(s, "all-at-once") == 0) {
        st.kind = BG_STRATEGY_ALL_AT_ONCE;
    } else if (strncmp(s, "canary:", 7) == 0 && cli_pair(s + 7, &st.percent, &st.wait_ms)) {
        st.kind = BG_STRATEGY_CANARY;
    } else if (strncmp(s, "linear:", 7) == 0 && cli_pair(s + 7, &st.percent, &st.every_ms)) {
        st.kind = BG_STRATEGY_LINEAR;
    } else {
        return bg_err_set(err, BG_EINVAL, "bad strategy \"%s\": " CLI_FORMS, s);
    }
    *out = st;
    return 0;
}
